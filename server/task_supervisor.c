/*
 * task_supervisor.c - the supervisor thread: reconciliation with tmux, prompt
 * delivery (inotify on starting tasks' output.log), queued messages and
 * activity. tasks_int.h has the threads and locks.
 */
#include "server/tasks_int.h"

/* ---- supervisor ---------------------------------------------------------- */

/* One `tmux list-sessions` for every task: running tasks whose session is
 * gone have completed (or failed, when the agent never became ready). */
void kc_task_reconcile(kc_tasks *m, bool at_start)
{
	static const char *const args[] = {"list-sessions", "-F", "#{session_name}", NULL};
	kc_spawn_result r;
	long long started = kc_task_mono_ms();
	struct entry **changed = NULL;
	size_t n_changed = 0, live = 0;
	char *line, *save = NULL;

	if (kc_task_tmux(m, args, NULL, 0, 4u * 1024 * 1024, &r) != 0) {
		/* tmux could not be run: know nothing, change nothing. */
		kc_spawn_result_release(&r);
		return;
	}
	/* A non-zero exit with no output is "no server running": no sessions. */
	pthread_mutex_lock(&m->mu);
	bool *alive = m->n ? calloc(m->n, sizeof *alive) : NULL;
	if (m->n && !alive) {
		pthread_mutex_unlock(&m->mu);
		kc_spawn_result_release(&r);
		return;
	}
	for (line = r.status == 0 && r.out ? strtok_r(r.out, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct entry *e;
		if (strncmp(line, "claude-", 7) != 0 || !kc_task_id_valid(line + 7))
			continue;
		if ((e = kc_task_find(m, line + 7)) != NULL) {
			alive[kc_task_position(m, e)] = true;
			live++;
		}
	}
	size_t cap_changed = kc_task_n_running(m);
	if (cap_changed)
		changed = calloc(cap_changed, sizeof *changed);
	for (size_t i = 0; i < m->n && changed; i++) {
		struct entry *e = m->by_time[i];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || alive[i])
			continue;
		/* Created after the list was taken: not known yet. */
		if (!at_start && e->start_ms >= started)
			continue;
		/* At start, `starting` is not known yet: a task whose prompt was
		 * never delivered had not got its agent ready when the previous
		 * kc-server stopped, and the session went with it (a pod restart
		 * takes tmux along). That is a failure, not a completion. Only
		 * tasks kc-server wrote (they name their agent) record the
		 * delivery; the seed's never did, and theirs keep the old rule. */
		if (at_start && e->t.agent && e->t.prompt_delivered_at <= 0)
			kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, STOPPED_BEFORE_READY);
		else if (e->starting)
			kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, "the agent exited before it became ready");
		else
			kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, NULL);
		if (n_changed < cap_changed)
			changed[n_changed++] = e;
	}
	if (at_start) {
		/* Re-adopted sessions: their prompt was delivered before the
		 * restart, or they are still waiting for it. */
		for (size_t i = 0; i < m->n; i++) {
			struct entry *e = m->by_time[i];
			if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
				continue;
			e->starting = e->t.prompt_delivered_at <= 0;
			if (e->starting)
				kc_task_watch_log(m, e);
			e->start_ms = kc_task_mono_ms();
			e->last_change_ms = kc_task_mono_ms();
			e->t.activity = e->starting ? KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_STARTING
						    : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		}
	}
	pthread_mutex_unlock(&m->mu);
	free(alive);
	kc_spawn_result_release(&r);
	for (size_t i = 0; i < n_changed; i++) {
		kc_log(KC_LOG_INFO, "task ended", "task_id", changed[i]->t.task_id, "status",
		       kc_task_status_name(changed[i]->t.status), NULL);
		kc_task_persist(m, changed[i]);
	}
	free(changed);
	if (at_start) {
		char nbuf[32], lbuf[32];
		snprintf(nbuf, sizeof nbuf, "%zu", m->n);
		snprintf(lbuf, sizeof lbuf, "%zu", live);
		kc_log(KC_LOG_INFO, "tasks loaded", "tasks", nbuf, "live_sessions", lbuf, NULL);
	}
}

struct todo {
	struct entry *e;
	char id[KC_TASK_ID_MAX];
	int agent_idx;
	bool timed_out;
	long timeout_ms;
	long long output_ms; /* when the output that made it due arrived, or 0 */
};

/* Marks the starting tasks whose output.log grew. */
static void drain_inotify(kc_tasks *m)
{
	/* Aligned for struct inotify_event, as inotify(7) asks. */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;
	while ((len = read(m->ino_fd, buf, sizeof buf)) > 0) {
		pthread_mutex_lock(&m->mu);
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (!(ev->mask & IN_MODIFY))
				continue;
			/* Starting tasks are among the newest running ones. */
			for (size_t i = m->n, seen = 0; i > 0 && seen < kc_task_n_running(m); i--) {
				struct entry *e = m->by_time[i - 1];
				if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
					continue;
				seen++;
				if (e->wd == ev->wd) {
					if (!e->dirty)
						e->dirty_ms = kc_task_mono_ms();
					e->dirty = true;
					break;
				}
			}
		}
		pthread_mutex_unlock(&m->mu);
	}
}

/* Pastes the messages queued while the prompt was not yet delivered, one
 * at a time and in order. Stops at the first failure (the session is going
 * away; reconciliation ends the task and the rest stay unsent). */
static void flush_queued(kc_tasks *m, struct entry *e)
{
	char id[KC_TASK_ID_MAX];
	for (;;) {
		size_t i;
		char *text = NULL;
		int rc;
		pthread_mutex_lock(&m->mu);
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || e->starting || !e->has_queued) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		for (i = 0; i < e->t.n_followups && e->t.followups[i].sent_at > 0; i++)
			;
		if (i == e->t.n_followups) {
			e->has_queued = false;
			pthread_mutex_unlock(&m->mu);
			return;
		}
		snprintf(id, sizeof id, "%s", e->t.task_id);
		text = strdup(e->t.followups[i].prompt);
		pthread_mutex_unlock(&m->mu);
		if (!text)
			return;
		rc = kc_task_paste(m, id, text, strlen(text));
		free(text);
		if (rc != 0) {
			kc_log(KC_LOG_WARN, "queued message not delivered", "task_id", id, "error", kc_strerror(rc),
			       NULL);
			return;
		}
		pthread_mutex_lock(&m->mu);
		e->t.followups[i].sent_at = kc_task_now_s();
		e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		e->last_change_ms = kc_task_mono_ms();
		e->version++;
		pthread_mutex_unlock(&m->mu);
		kc_log(KC_LOG_INFO, "queued message delivered", "task_id", id, NULL);
		kc_task_persist(m, e);
	}
}

/* The task's whole prompt, from its prompt.txt (the index keeps only its
 * head). Read here and pasted through tmux's standard input: the file's
 * path is never a tmux argument (see the comment above tmux_run). */
static int read_prompt(const kc_tasks *m, const char *id, char **out, size_t *len)
{
	size_t plen = strlen(m->cfg->tasks_dir) + strlen(id) + sizeof "//prompt.txt";
	char *path = malloc(plen);
	int rc;
	if (!path)
		return KC_ERR_NOMEM;
	snprintf(path, plen, "%s/%s/prompt.txt", m->cfg->tasks_dir, id);
	rc = kc_file_read(path, PROMPT_FILE_MAX, out, len);
	free(path);
	return rc;
}

/* Delivers prompts to starting tasks whose pane shows the ready pattern,
 * and fails those past their ready timeout. Returns the milliseconds until
 * a task that is due a re-check may be captured again, or -1. */
static long check_starting(kc_tasks *m)
{
	struct todo todo[64];
	size_t n = 0;
	long long now = kc_task_mono_ms();
	long next = -1;

	pthread_mutex_lock(&m->mu);
	/* Newest tasks are at the end; starting ones are among the newest
	 * running, so scan backwards and stop after `running` hits. */
	for (size_t i = m->n, seen = 0; i > 0 && seen < kc_task_n_running(m) && n < 64; i--) {
		struct entry *e = m->by_time[i - 1];
		long timeout, since = (long)(now - e->ready_checked_ms);
		bool timed_out, due;
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (!e->starting)
			continue;
		timeout = e->agent_idx >= 0 ? m->cfg->agents[e->agent_idx].ready_timeout_ms : 60000;
		timed_out = now - e->start_ms > timeout;
		due = timed_out || since >= (e->wd > 0 ? FALLBACK_MS : POLL_MS) ||
		      (e->dirty && since >= RECHECK_MS);
		if (!due) {
			if (e->dirty && (next < 0 || RECHECK_MS - since < next))
				next = RECHECK_MS - since;
			continue;
		}
		todo[n] = (struct todo){.e = e, .agent_idx = e->agent_idx, .timeout_ms = timeout,
					.timed_out = timed_out, .output_ms = e->dirty ? e->dirty_ms : 0};
		/* Output from now on marks it dirty again. */
		e->dirty = false;
		e->ready_checked_ms = now;
		snprintf(todo[n].id, sizeof todo[n].id, "%s", e->t.task_id);
		n++;
	}
	pthread_mutex_unlock(&m->mu);

	/* Pastes first, for every task that is ready; then the messages that
	 * wait behind each prompt; saving (two fsyncs each) last, so that one
	 * task's save never delays another task's prompt. */
	bool save[64] = {false}, delivered[64] = {false};
	for (size_t i = 0; i < n; i++) {
		struct entry *e = todo[i].e;
		char *pane, *text = NULL;
		size_t text_len = 0;
		if (todo[i].timed_out) {
			char why[128];
			snprintf(why, sizeof why, "the agent did not become ready within %ld ms", todo[i].timeout_ms);
			kc_task_kill_session(m, todo[i].id);
			pthread_mutex_lock(&m->mu);
			if (e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && e->starting)
				kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, why);
			pthread_mutex_unlock(&m->mu);
			kc_log(KC_LOG_WARN, "agent never became ready", "task_id", todo[i].id, NULL);
			save[i] = true;
			continue;
		}
		long long t0 = kc_task_mono_ms(), t1, t2;
		pane = kc_task_capture(m, todo[i].id, NULL, NULL);
		t1 = kc_task_mono_ms();
		if (kc_task_pane_ready(m, todo[i].agent_idx, pane)) {
			char waited[24], took[48];
			int rc = read_prompt(m, todo[i].id, &text, &text_len);
			if (rc == 0)
				rc = kc_task_paste(m, todo[i].id, text, text_len);
			free(text);
			text = NULL;
			t2 = kc_task_mono_ms();
			/* Where delivery time goes: from the output that showed the
			 * prompt to this pass (or -1: found by a periodic look), the
			 * capture, the paste. */
			snprintf(waited, sizeof waited, "%lld", todo[i].output_ms ? t0 - todo[i].output_ms : -1);
			snprintf(took, sizeof took, "%lld/%lld", t1 - t0, t2 - t1);
			pthread_mutex_lock(&m->mu);
			if (e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && e->starting) {
				e->starting = false;
				kc_task_unwatch_log(m, e);
				if (rc == 0) {
					e->t.prompt_delivered_at = kc_task_now_s();
					e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
					e->last_change_ms = kc_task_mono_ms();
				} else {
					kc_task_finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR,
					       "the prompt could not be delivered to the agent");
				}
				e->version++;
			}
			pthread_mutex_unlock(&m->mu);
			/* rc: the prompt.txt could not be read (KC_ERR_NOT_FOUND,
			 * KC_ERR_IO...), held a control byte (KC_ERR_INVALID: stored
			 * before prompts were checked) or tmux failed. */
			kc_log(rc == 0 ? KC_LOG_INFO : KC_LOG_ERROR,
			       rc == 0 ? "prompt delivered" : "prompt delivery failed", "task_id", todo[i].id,
			       "output_to_pass_ms", waited, "capture_paste_ms", took, "error",
			       rc == 0 ? "" : kc_strerror(rc), NULL);
			save[i] = true;
			delivered[i] = rc == 0;
		}
		free(pane);
	}
	/* Messages sent meanwhile follow right behind their prompt. */
	for (size_t i = 0; i < n; i++)
		if (delivered[i])
			flush_queued(m, todo[i].e);
	for (size_t i = 0; i < n; i++)
		if (save[i])
			kc_task_persist(m, todo[i].e);
	return next;
}

/* flush_queued for every running task with queued messages (those whose
 * prompt was delivered before a restart, or whose first try failed). */
static void check_queued(kc_tasks *m)
{
	struct entry *todo[64];
	size_t n = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = m->n, seen = 0; i > 0 && seen < kc_task_n_running(m) && n < 64; i--) {
		struct entry *e = m->by_time[i - 1];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (e->has_queued && !e->starting)
			todo[n++] = e;
	}
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n; i++)
		flush_queued(m, todo[i]);
}

/* working vs waiting_for_input, from output.log's growth and, once a pane
 * has gone quiet, its content. */
static void check_activity(kc_tasks *m)
{
	struct todo todo[64];
	size_t n = 0;
	long long now = kc_task_mono_ms();

	pthread_mutex_lock(&m->mu);
	for (size_t i = m->n, seen = 0; i > 0 && seen < kc_task_n_running(m); i--) {
		struct entry *e = m->by_time[i - 1];
		char path[4200];
		struct stat st;
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (e->starting)
			continue;
		snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, e->t.task_id);
		if (stat(path, &st) == 0 && (long long)st.st_size != e->log_size) {
			e->log_size = (long long)st.st_size;
			e->last_change_ms = now;
			if (e->t.activity != KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING) {
				e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
				e->version++;
			}
			continue;
		}
		if (e->t.activity == KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT ||
		    now - e->last_change_ms < QUIET_MS || now - e->quiet_checked_ms < 1000 || n >= 64)
			continue;
		e->quiet_checked_ms = now;
		todo[n] = (struct todo){.e = e, .agent_idx = e->agent_idx};
		snprintf(todo[n].id, sizeof todo[n].id, "%s", e->t.task_id);
		n++;
	}
	pthread_mutex_unlock(&m->mu);

	for (size_t i = 0; i < n; i++) {
		char *pane = kc_task_capture(m, todo[i].id, NULL, NULL);
		bool ready = kc_task_pane_ready(m, todo[i].agent_idx, pane);
		free(pane);
		pthread_mutex_lock(&m->mu);
		if (ready && todo[i].e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING &&
		    kc_task_mono_ms() - todo[i].e->last_change_ms >= QUIET_MS &&
		    todo[i].e->t.activity != KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT) {
			todo[i].e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT;
			todo[i].e->version++;
		}
		pthread_mutex_unlock(&m->mu);
	}
}

void *kc_task_supervisor(void *arg)
{
	kc_tasks *m = arg;
	long long last_tick = 0, last_reconcile = kc_task_mono_ms();
	int timeout = 0;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = m->wake_fd, .events = POLLIN}, {.fd = m->ino_fd, .events = POLLIN}};
		bool poked = false, busy;
		long long now;
		long next;
		if (poll(pfd, m->ino_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			pfd[0].revents = pfd[1].revents = 0;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			poked = read(m->wake_fd, &v, sizeof v) > 0;
		}
		if (m->ino_fd >= 0 && (pfd[1].revents & POLLIN))
			drain_inotify(m);
		pthread_mutex_lock(&m->mu);
		if (m->stop) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		pthread_mutex_unlock(&m->mu);

		next = check_starting(m);
		now = kc_task_mono_ms();
		if (poked || now - last_tick >= POLL_MS) {
			last_tick = now;
			check_queued(m);
			check_activity(m);
			pthread_mutex_lock(&m->mu);
			busy = kc_task_n_running(m) > 0;
			pthread_mutex_unlock(&m->mu);
			/* Nothing running: no session to reconcile. */
			if (busy && now - last_reconcile >= RECONCILE_MS) {
				kc_task_reconcile(m, false);
				last_reconcile = kc_task_mono_ms();
			}
			kc_task_check_watchers(m);
		}
		pthread_mutex_lock(&m->mu);
		busy = kc_task_n_running(m) > 0;
		pthread_mutex_unlock(&m->mu);
		pthread_mutex_lock(&m->wmu);
		busy = busy || m->watchers;
		pthread_mutex_unlock(&m->wmu);
		/* Idle (nothing running, nobody watching): sleep until poked. */
		now = kc_task_mono_ms();
		timeout = busy ? (int)(POLL_MS - (now - last_tick)) : -1;
		if (busy && timeout < 0)
			timeout = 0;
		if (next >= 0 && (timeout < 0 || next < timeout))
			timeout = (int)next;
	}
	return NULL;
}
