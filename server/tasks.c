/*
 * tasks.c - see tasks.h. The request API and the manager's lifecycle;
 * tasks_int.h says how the task manager's files divide the work, and holds
 * the threads-and-locks contract.
 */
#include "server/tasks_int.h"

/* ---- helpers ------------------------------------------------------------- */

/* An id that is not of the form of a task id ("../x", "", too long) is a
 * task that does not exist, like an unknown one: NOT_FOUND (REST 404), as
 * the seed answered. It is checked before anything else is done with it,
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

/* Ends a running task; call with mu held. Persisting is the caller's. */
void kc_task_unwatch_log(kc_tasks *m, struct entry *e)
{
	if (e->wd > 0 && m->ino_fd >= 0)
		inotify_rm_watch(m->ino_fd, e->wd);
	e->wd = 0;
	e->dirty = false;
}

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

static bool any_queued(const kc_task *t)
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
static void cut_prompt(struct entry *e)
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
	if (kc_read_file(path, 128u * 1024 * 1024, &buf, &len) == 0 && kc_task_from_json(buf, len, &t) == 0) {
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

static bool blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
			return false;
	return true;
}

/* A prompt or follow-up: present, not blank, free of control bytes but
 * tab, CR and LF (kc_input_check_text says why), valid UTF-8 and within
 * the configured size. protobuf-c does not check strings; every other gRPC
 * client refuses a message with invalid UTF-8, so such a prompt would make
 * the task unreadable for them. */
static int check_prompt(const char *prompt, long max_bytes, char *err, size_t errlen)
{
	int rc;
	if (!prompt || blank(prompt)) {
		snprintf(err, errlen, "prompt is required");
		return KC_ERR_INVALID;
	}
	if ((rc = kc_input_check_text("prompt", prompt, strlen(prompt), err, errlen)) != 0)
		return rc;
	if (!kc_utf8_valid(prompt, strlen(prompt))) {
		snprintf(err, errlen, "prompt is not valid UTF-8");
		return KC_ERR_INVALID;
	}
	if ((long)strlen(prompt) > max_bytes) {
		snprintf(err, errlen, "prompt is larger than %ld bytes", max_bytes);
		return KC_ERR_TOO_LARGE;
	}
	return 0;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[16];
	if (nbytes > sizeof b)
		nbytes = sizeof b;
	if (kc_random_bytes(b, nbytes) != 0)
		for (size_t i = 0; i < nbytes; i++)
			b[i] = (unsigned char)rand();
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void uuid4(char out[37])
{
	unsigned char b[16];
	if (kc_random_bytes(b, 16) != 0)
		for (size_t i = 0; i < 16; i++)
			b[i] = (unsigned char)rand();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- lifecycle ----------------------------------------------------------- */

struct load_ctx {
	kc_tasks *m;
	int rc;
};

static void load_one(kc_task *t, void *ud)
{
	struct load_ctx *c = ud;
	struct entry *e;
	if (c->rc != 0 || (e = calloc(1, sizeof *e)) == NULL || kc_task_grow(c->m) != 0) {
		c->rc = KC_ERR_NOMEM;
		kc_task_release(t);
		return;
	}
	e->t = *t;
	e->id_len = (uint8_t)strlen(e->t.task_id);
	e->agent_idx = kc_task_agent_index(c->m->cfg, e->t.agent);
	e->version = 1;
	cut_prompt(e);
	e->has_queued = e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && any_queued(&e->t);
	/* Appended unsorted; sorted once after loading. */
	c->m->by_time[c->m->n++] = e;
	{
		size_t b = kc_task_hash_id(e->t.task_id) % c->m->nbuckets;
		e->hnext = c->m->buckets[b];
		c->m->buckets[b] = e;
	}
	c->m->n_status[kc_task_status_slot(e->t.status)]++;
}


int kc_tasks_new(const kc_config *cfg, kc_tasks **out, char *err, size_t errlen)
{
	kc_tasks *m = calloc(1, sizeof *m);
	struct load_ctx c = {m, 0};
	int rc;

	if (!m)
		return KC_ERR_NOMEM;
	m->cfg = cfg;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->wmu, NULL);
	m->next_wid = 1;
	m->ino_fd = -1;
	if ((m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		kc_tasks_free(m);
		return KC_ERR_IO;
	}
	if ((m->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		kc_log(KC_LOG_WARN, "inotify unavailable; prompts are delivered by polling", "error", strerror(errno),
		       NULL);
	for (size_t i = 0; i < cfg->n_agents; i++) {
		int r = regcomp(&m->regexes[i], cfg->agents[i].ready_pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
		if (r != 0) {
			snprintf(err, errlen, "agents.list[%zu].ready_pattern: not a valid extended regex", i);
			kc_tasks_free(m);
			return KC_ERR_INVALID;
		}
		m->regex_ok[i] = true;
	}
	if ((rc = kc_task_grow(m)) != 0) {
		kc_tasks_free(m);
		return rc;
	}
	if ((rc = kc_store_load(cfg->tasks_dir, load_one, &c)) != 0 || (rc = c.rc) != 0) {
		snprintf(err, errlen, "cannot load tasks from '%s': %s", cfg->tasks_dir, kc_strerror(rc));
		kc_tasks_free(m);
		return rc;
	}
	qsort(m->by_time, m->n, sizeof *m->by_time, kc_task_cmp_entry_p);
	/* Loading interleaved the index's strings with every task.json's
	 * parse tree; return the pages the freed trees left behind. */
	malloc_trim(0);
	/* The tmux socket's directory, private to the workspace user. */
	if (cfg->tmux_socket && *cfg->tmux_socket) {
		char dir[4096];
		char *slash;
		snprintf(dir, sizeof dir, "%s", cfg->tmux_socket);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				kc_log(KC_LOG_WARN, "cannot create tmux socket directory", "path", dir, NULL);
		}
	}
	kc_task_reconcile(m, true);
	*out = m;
	return 0;
}

size_t kc_tasks_count(kc_tasks *m)
{
	size_t n;
	pthread_mutex_lock(&m->mu);
	n = m->n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

int kc_tasks_start(kc_tasks *m)
{
	if (pthread_create(&m->thread, NULL, kc_task_supervisor, m) != 0)
		return KC_ERR_IO;
	m->thread_started = true;
	return 0;
}

void kc_tasks_free(kc_tasks *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_mutex_unlock(&m->mu);
		kc_task_wake(m);
		pthread_join(m->thread, NULL);
	}
	pthread_mutex_lock(&m->wmu);
	while (m->watchers) {
		struct watcher *w = m->watchers;
		m->watchers = w->next;
		w->sink(w->ud, NULL, true);
		free(w);
	}
	pthread_mutex_unlock(&m->wmu);
	for (size_t i = 0; i < m->n; i++) {
		kc_task_release(&m->by_time[i]->t);
		free(m->by_time[i]);
	}
	for (size_t i = 0; i < KC_MAX_AGENTS; i++)
		if (m->regex_ok[i])
			regfree(&m->regexes[i]);
	free(m->by_time);
	free(m->buckets);
	if (m->ino_fd >= 0)
		close(m->ino_fd);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->wmu);
	free(m);
}

/* ---- requests ------------------------------------------------------------ */

/* CreateTask's first step: the request's fields checked, the agent
 * chosen (`*agent` the default when empty) and the workdir resolved into
 * `resolved`. Nothing is reserved or written yet. */
static int create_validate(const kc_config *cfg, const char *prompt, const char *workdir, const char **agent,
			   const kc_agent_config **a, char resolved[PATH_MAX], char *err, size_t errlen)
{
	char wd[PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = check_prompt(prompt, cfg->max_prompt_bytes, err, errlen)) != 0)
		return rc;
	if (!*agent || !**agent)
		*agent = cfg->default_agent;
	if (!(*a = kc_config_agent(cfg, *agent))) {
		snprintf(err, errlen, "unknown agent");
		return KC_ERR_INVALID;
	}
	/* The workdir as sent, then as resolved (a symlink may lead
	 * elsewhere): the resolved path is what tmux and the agent get. */
	if (workdir && (rc = kc_input_check_path("workdir", workdir, err, errlen)) != 0)
		return rc;
	if (!workdir || !*workdir)
		snprintf(wd, sizeof wd, "%s", cfg->home);
	else if (workdir[0] == '/')
		snprintf(wd, sizeof wd, "%s", workdir);
	else
		snprintf(wd, sizeof wd, "%s/%s", cfg->home, workdir);
	if (!realpath(wd, resolved) || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "workdir does not exist or is not a directory");
		return KC_ERR_INVALID;
	}
	if (!kc_utf8_valid(resolved, strlen(resolved))) {
		snprintf(err, errlen, "workdir is not valid UTF-8");
		return KC_ERR_INVALID;
	}
	if (kc_input_check_path("workdir", resolved, err, errlen) != 0) {
		snprintf(err, errlen, "workdir: resolves to a path with a control byte or a trailing ';'");
		return KC_ERR_INVALID;
	}
	return 0;
}

int kc_tasks_create(kc_tasks *m, const char *prompt, const char *workdir, const char *agent, Kc__V1__Task **out,
		    char *err, size_t errlen)
{
	const kc_config *cfg = m->cfg;
	const kc_agent_config *a;
	char resolved[PATH_MAX];
	struct entry *e = NULL;
	kc_task *t;
	int rc;

	if ((rc = create_validate(cfg, prompt, workdir, &agent, &a, resolved, err, errlen)) != 0)
		return rc;
	if ((rc = kc_task_host_check(m, err, errlen)) != 0)
		return rc;

	pthread_mutex_lock(&m->mu);
	if (kc_task_n_running(m) + m->reserved >= (size_t)cfg->max_running_tasks) {
		pthread_mutex_unlock(&m->mu);
		snprintf(err, errlen, "too many running tasks (the limit is %ld)", cfg->max_running_tasks);
		return KC_ERR_LIMIT;
	}
	m->reserved++;
	pthread_mutex_unlock(&m->mu);

	if (!(e = calloc(1, sizeof *e))) {
		rc = KC_ERR_NOMEM;
		goto fail;
	}
	t = &e->t;
	e->agent_idx = kc_task_agent_index(cfg, a->name);
	t->prompt = strdup(prompt);
	t->workdir = strdup(resolved);
	t->agent = strdup(a->name);
	if (!t->prompt || !t->workdir || !t->agent) {
		rc = KC_ERR_NOMEM;
		goto fail;
	}
	t->status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	t->activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_STARTING;
	uuid4(t->session_id);
	for (int tries = 0;; tries++) {
		char hex[9];
		t->created_at = kc_task_now_s();
		random_hex(hex, 4);
		snprintf(t->task_id, sizeof t->task_id, "%lld-%s", (long long)t->created_at, hex);
		rc = kc_store_create(cfg->tasks_dir, t);
		if (rc != KC_ERR_EXISTS || tries > 8)
			break;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot save the task");
		kc_log(KC_LOG_ERROR, "cannot save task", "task_id", t->task_id, "error", kc_strerror(rc), NULL);
		rc = KC_ERR_IO;
		goto fail;
	}
	e->start_ms = kc_task_mono_ms();
	e->starting = true;
	e->version = 1;
	/* Before the session exists, so no byte of the agent's is missed. */
	kc_task_watch_log(m, e);
	if ((rc = kc_task_start_session(m, t, a)) != 0) {
		t->status = KC__V1__TASK_STATUS__TASK_STATUS_ERROR;
		t->error = strdup("could not start the agent's tmux session");
		t->finished_at = kc_task_now_s();
		t->activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
		e->starting = false;
		kc_task_unwatch_log(m, e);
		kc_log(KC_LOG_ERROR, "tmux new-session failed", "task_id", t->task_id, "error", kc_strerror(rc), NULL);
		kc_store_save(cfg->tasks_dir, t);
	}
	pthread_mutex_lock(&m->mu);
	m->reserved--;
	if (kc_task_grow(m) != 0) {
		kc_task_unwatch_log(m, e);
		pthread_mutex_unlock(&m->mu);
		kc_task_kill_session(m, t->task_id);
		kc_task_release(t);
		free(e);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	kc_task_insert(m, e, m->n == 0 || kc_task_cmp_entry(m->by_time[m->n - 1], e) < 0);
	*out = kc_task_task_pb(e);
	cut_prompt(e);
	pthread_mutex_unlock(&m->mu);
	kc_task_wake(m);
	kc_log(KC_LOG_INFO, "task created", "task_id", t->task_id, "agent", a->name, "workdir", t->workdir, NULL);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	return 0;
fail:
	pthread_mutex_lock(&m->mu);
	m->reserved--;
	pthread_mutex_unlock(&m->mu);
	if (e) {
		kc_task_release(&e->t);
		free(e);
	}
	if (rc == KC_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static const char *last_lines(char *s, size_t *len, long lines)
{
	size_t n = *len;
	size_t i;
	long seen = 0;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	s[n] = '\0';
	if (lines <= 0) {
		*len = n;
		return s;
	}
	for (i = n; i > 0; i--) {
		if (s[i - 1] == '\n' && ++seen == lines)
			break;
	}
	*len = n - i;
	return s + i;
}

int kc_tasks_get(kc_tasks *m, const char *id, Kc__V1__Task **out, char *err, size_t errlen)
{
	struct entry *e;
	bool running;
	char *pane = NULL;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, &e, err, errlen);
	running = rc == 0 && e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (running)
		pane = kc_task_capture(m, id, "-50", &len);
	*out = kc_task_task_pb_full(m, e);
	if (!*out) {
		free(pane);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	if (pane) {
		const char *tail = last_lines(pane, &len, 50);
		char *clean = kc_utf8_sanitize_chunk(tail, len, false, NULL);
		if (clean) {
			free((*out)->recent_output);
			(*out)->recent_output = clean;
		}
		free(pane);
	}
	return 0;
}

int kc_tasks_output(kc_tasks *m, const char *id, int32_t tail, char **out, size_t *len, char *err, size_t errlen)
{
	struct entry *e;
	bool running;
	char *buf = NULL;
	size_t n = 0;
	int rc;

	if (tail < 0) {
		snprintf(err, errlen, "tail must not be negative");
		return KC_ERR_INVALID;
	}
	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, &e, err, errlen);
	running = rc == 0 && e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (running)
		buf = kc_task_capture(m, id, "-", &n);
	if (!buf) {
		/* Ended (or the pane vanished just now): the saved log, at most
		 * its last OUTPUT_CAP bytes. */
		char path[4200];
		int fd;
		struct stat st;
		snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, id);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0) {
			off_t from = st.st_size > (off_t)OUTPUT_CAP ? st.st_size - (off_t)OUTPUT_CAP : 0;
			size_t want = (size_t)(st.st_size - from);
			if ((buf = malloc(want + 1)) != NULL) {
				ssize_t r = pread(fd, buf, want, from);
				n = r > 0 ? (size_t)r : 0;
				buf[n] = '\0';
			}
		}
		if (fd >= 0)
			close(fd);
		if (!buf && (buf = strdup("")) == NULL)
			return KC_ERR_NOMEM;
	}
	if (tail > 0) {
		const char *t = last_lines(buf, &n, tail);
		memmove(buf, t, n);
		buf[n] = '\0';
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Appends a followup; call with mu held. sent_at 0 means queued. */
static int add_followup(struct entry *e, const char *prompt, double sent_at)
{
	kc_followup *nf = realloc(e->t.followups, (e->t.n_followups + 1) * sizeof *nf);
	if (!nf)
		return KC_ERR_NOMEM;
	e->t.followups = nf;
	if (!(nf[e->t.n_followups].prompt = strdup(prompt)))
		return KC_ERR_NOMEM;
	nf[e->t.n_followups].sent_at = sent_at;
	e->t.n_followups++;
	e->version++;
	return 0;
}

int kc_tasks_send(kc_tasks *m, const char *id, const char *prompt, Kc__V1__Task **out, char *err, size_t errlen)
{
	struct entry *e;
	int rc;
	bool queued = false;

	if ((rc = check_prompt(prompt, m->cfg->max_prompt_bytes, err, errlen)) != 0)
		return rc;
	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, &e, err, errlen);
	if (rc == 0 && e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING) {
		snprintf(err, errlen, "Session is no longer running");
		rc = KC_ERR_PRECONDITION;
	}
	/* Before the prompt was delivered (or while earlier queued messages
	 * still wait) the message joins the queue, so the agent gets the
	 * prompt first and the messages in the order they were sent. */
	if (rc == 0 && (e->starting || e->has_queued)) {
		size_t waiting = 0;
		for (size_t i = 0; i < e->t.n_followups; i++)
			waiting += e->t.followups[i].sent_at <= 0;
		if (waiting >= QUEUED_MAX) {
			snprintf(err, errlen, "too many messages wait for the agent to become ready (the limit is %d)",
				 QUEUED_MAX);
			rc = KC_ERR_LIMIT;
		} else if ((rc = add_followup(e, prompt, 0)) == 0) {
			e->has_queued = true;
			queued = true;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == KC_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc != 0)
		return rc;
	if (queued) {
		kc_task_persist(m, e);
		kc_task_wake(m);
		kc_log(KC_LOG_INFO, "follow-up queued until the prompt is delivered", "task_id", id, NULL);
	} else {
		if ((rc = kc_task_paste(m, id, prompt, strlen(prompt))) != 0) {
			/* The session went away between the check and the paste. */
			snprintf(err, errlen, "Session is no longer running");
			return KC_ERR_PRECONDITION;
		}
		pthread_mutex_lock(&m->mu);
		add_followup(e, prompt, kc_task_now_s());
		e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		e->last_change_ms = kc_task_mono_ms();
		pthread_mutex_unlock(&m->mu);
		kc_task_persist(m, e);
		kc_log(KC_LOG_INFO, "follow-up sent", "task_id", id, NULL);
	}
	*out = kc_task_task_pb_full(m, e);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	return 0;
}

int kc_tasks_kill(kc_tasks *m, const char *id, Kc__V1__KillTaskResponse **out, char *err, size_t errlen)
{
	struct entry *e;
	Kc__V1__KillTaskResponse *r;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, &e, err, errlen);
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (!(r = malloc(sizeof *r)))
		return KC_ERR_NOMEM;
	kc_task_kill_session(m, id);
	pthread_mutex_lock(&m->mu);
	kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_KILLED, NULL);
	kc__v1__kill_task_response__init(r);
	r->task_id = strdup(id);
	r->status = KC__V1__TASK_STATUS__TASK_STATUS_KILLED;
	r->killed_at = e->t.killed_at;
	pthread_mutex_unlock(&m->mu);
	kc_task_persist(m, e);
	kc_log(KC_LOG_INFO, "task killed", "task_id", id, NULL);
	if (!r->task_id) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return KC_ERR_NOMEM;
	}
	*out = r;
	return 0;
}

int kc_tasks_prepare_terminal(kc_tasks *m, const char *id, Kc__V1__PrepareTerminalResponse **out, char *err,
			      size_t errlen)
{
	struct entry *e;
	Kc__V1__PrepareTerminalResponse *r;
	char name[64], line[80];
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = kc_task_lookup(m, id, &e, err, errlen);
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	kc_task_session_name(id, name, sizeof name, false);
	snprintf(line, sizeof line, "%s\n", name);
	if ((rc = kc_write_file_atomic(m->cfg->terminal_marker, line, strlen(line), 0600)) != 0) {
		snprintf(err, errlen, "cannot write the terminal marker");
		kc_log(KC_LOG_ERROR, "cannot write terminal marker", "path", m->cfg->terminal_marker, NULL);
		return rc;
	}
	if (!(r = malloc(sizeof *r)))
		return KC_ERR_NOMEM;
	kc__v1__prepare_terminal_response__init(r);
	r->ok = true;
	if (!(r->session = strdup(name))) {
		free(r);
		return KC_ERR_NOMEM;
	}
	*out = r;
	return 0;
}
