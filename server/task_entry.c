/*
 * task_entry.c - what requests and the supervisor do to one index entry:
 * look it up, end it, watch its output.log, keep only its prompt's head in
 * the index (and read the whole prompt back), save it.
 */
#include "server/tasks_int.h"

/* Call with mu held. An id that is not of the form of a task id ("../x",
 * "", too long) is a task that does not exist, like an unknown one:
 * NOT_FOUND (REST 404), as the seed answered. It is checked before anything else is done with it,
 * and an id never reaches the file system without being in the index. */
int kc_task_lookup(kc_tasks *m, const char *id, struct entry **out, char *err, size_t errlen)
{
	*out = id && kc_task_id_valid(id) ? kc_task_find(m, id) : NULL;
	if (!*out) {
		snprintf(err, errlen, "task not found");
		return KC_ERR_NOT_FOUND;
	}
	return 0;
}

/* A request's id to its entry: kc_task_lookup() with mu taken and
 * released, for a request that works on the entry unlocked afterwards
 * (entries are never removed). `running`, when not NULL, is whether the
 * task ran at that moment. */
int kc_task_resolve(kc_tasks *m, const char *id, struct entry **out, bool *running, char *err, size_t errlen)
{
	int rc;
	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, out, err, errlen);
	if (running)
		*running = rc == 0 && (*out)->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* Stops watching the task's output.log; call with mu held, or on an entry
 * no other thread sees. */
void kc_task_unwatch_log(kc_tasks *m, struct entry *e)
{
	if (e->wd > 0 && m->ino_fd >= 0)
		inotify_rm_watch(m->ino_fd, e->wd);
	e->wd = 0;
	e->dirty = false;
}

/* Ends a running task; call with mu held. Persisting is the caller's. */
void kc_task_finish(kc_tasks *m, struct entry *e, Kc__V1__TaskStatus status, const char *error)
{
	double now = kc_task_now_s();
	kc_task_unwatch_log(m, e);
	if (m->n_status[kc_task_status_slot(e->t.status)] > 0)
		m->n_status[kc_task_status_slot(e->t.status)]--;
	m->n_status[kc_task_status_slot(status)]++;
	e->t.status = status;
	e->starting = false;
	e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
	if (e->t.finished_at <= 0)
		e->t.finished_at = now;
	if (status == KC__V1__TASK_STATUS__TASK_STATUS_KILLED)
		e->t.killed_at = now;
	if (error) {
		free(e->t.error);
		e->t.error = strdup(error);
	}
	e->version++;
}

/* Pokes the supervisor out of poll(2). */
void kc_task_wake(kc_tasks *m)
{
	uint64_t one = 1;
	ssize_t r = write(m->wake_fd, &one, sizeof one);
	(void)r; /* EAGAIN: the counter is already non-zero, it will wake */
}

/* Watches the task's output.log (creating it empty when missing, so the
 * watch exists before the agent's first byte). Without inotify, or when
 * this fails, the task is polled instead. Call without mu on an entry the
 * supervisor cannot see yet, or with mu held. */
void kc_task_watch_log(kc_tasks *m, struct entry *e)
{
	char path[4200];
	int fd;
	if (m->ino_fd < 0)
		return;
	snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, e->t.task_id);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	e->wd = inotify_add_watch(m->ino_fd, path, IN_MODIFY);
	if (e->wd < 0) {
		kc_log(KC_LOG_WARN, "cannot watch output.log; polling instead", "task_id", e->t.task_id, "error",
		       strerror(errno), NULL);
		e->wd = 0;
	}
	e->dirty = true;
}

bool kc_task_any_queued(const kc_task *t)
{
	for (size_t i = 0; i < t->n_followups; i++)
		if (t->followups[i].sent_at <= 0)
			return true;
	return false;
}

/* Bytes in the first PROMPT_HEAD_CHARS code points of s. */
static size_t prompt_head_len(const char *s)
{
	size_t n = 0;
	for (size_t chars = 0; s[n] && chars < PROMPT_HEAD_CHARS; chars++) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;
	}
	return n;
}

/* Keeps only the prompt's head in the index, so the index's prompt is
 * exactly what ListTasks shows; call with mu held, or on an entry no other
 * thread sees. */
void kc_task_cut_prompt(struct entry *e)
{
	size_t n = prompt_head_len(e->t.prompt);
	char *head;
	e->prompt_len = (uint32_t)n;
	if (e->t.prompt[n] == '\0')
		return;
	if ((head = malloc(n + 1)) != NULL) {
		memcpy(head, e->t.prompt, n);
		head[n] = '\0';
		free(e->t.prompt);
		e->t.prompt = head;
	} else {
		e->t.prompt[n] = '\0'; /* the tail's bytes stay allocated */
	}
	e->prompt_cut = true;
}

/* The whole prompt of a task whose index entry holds only its head, from
 * its task.json (the record it was loaded from and every save writes in
 * full). NULL when it cannot be read. */
static char *read_full_prompt(kc_tasks *m, const char *id)
{
	char path[4200], *buf = NULL, *full = NULL;
	size_t len = 0;
	kc_task t;
	snprintf(path, sizeof path, "%s/%s/task.json", m->cfg->tasks_dir, id);
	if (kc_file_read(path, KC_TASK_JSON_MAX, &buf, &len) == 0 && kc_task_from_json(buf, len, &t) == 0) {
		full = t.prompt;
		t.prompt = NULL;
		kc_task_release(&t);
	}
	free(buf);
	if (!full)
		kc_log(KC_LOG_ERROR, "cannot read the task's prompt", "task_id", id, NULL);
	return full;
}

/* task_pb with the whole prompt. Takes mu; reads task.json (without mu)
 * when the index holds only the prompt's head. */
Kc__V1__Task *kc_task_task_pb_full(kc_tasks *m, struct entry *e)
{
	Kc__V1__Task *p;
	bool cut;
	char id[KC_TASK_ID_MAX];
	pthread_mutex_lock(&m->mu);
	p = kc_task_task_pb(e);
	cut = e->prompt_cut;
	snprintf(id, sizeof id, "%s", e->t.task_id);
	pthread_mutex_unlock(&m->mu);
	if (p && cut) {
		char *full = read_full_prompt(m, id);
		if (full) {
			free(p->prompt);
			p->prompt = full;
		}
	}
	return p;
}

/* Saves a copy of the entry's task; call WITHOUT mu. */
void kc_task_persist(kc_tasks *m, struct entry *e)
{
	kc_task copy;
	int rc;
	bool cut;
	pthread_mutex_lock(&m->mu);
	rc = kc_task_copy(&copy, &e->t);
	cut = e->prompt_cut;
	pthread_mutex_unlock(&m->mu);
	if (rc == 0 && cut) {
		/* Never write the head alone over the whole prompt. */
		char *full = read_full_prompt(m, copy.task_id);
		if (full) {
			free(copy.prompt);
			copy.prompt = full;
		} else {
			kc_task_release(&copy);
			rc = KC_ERR_IO;
		}
	}
	if (rc == 0) {
		rc = kc_store_save(m->cfg->tasks_dir, &copy);
		kc_task_release(&copy);
	}
	if (rc != 0)
		kc_log(KC_LOG_ERROR, "cannot save task", "task_id", e->t.task_id, "error", kc_strerror(rc), NULL);
}
