/*
 * task_supervisor.c - the supervisor thread: reconciliation with tmux, prompt
 * delivery (inotify on starting tasks' output.log), queued messages and
 * activity. tasks_int.h has the threads and locks.
 */
#include "server/tasks_int.h"

/* ---- supervisor ---------------------------------------------------------- */

/* What became of a running task whose session is gone. */
enum gone_how { GONE_COMPLETED, GONE_NOT_READY, GONE_STOPPED_BEFORE_READY, GONE_LOST };

struct gone {
	struct entry *e;
	enum gone_how how;
	char id[KC_TASK_ID_MAX];
};

#define LOST_ERROR                                                                                             \
	"the agent host restarted or stopped (its tmux server went away): the session is lost; its output is kept"
#define NOT_READY_ERROR "the agent exited before it became ready"
/* How much of a failed agent's output its error quotes. */
#define TAIL_BYTES 4096
#define TAIL_LINES 4
#define TAIL_KEEP 400

/* Where the escape sequence starting at b[i] (ESC) ends: the index of its
 * last byte: CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \\),
 * else ESC, intermediates, a final byte. */
static size_t escape_end(const char *b, size_t i, size_t n)
{
	if (i + 1 < n && b[i + 1] == '[') {
		for (i += 2; i < n && !(b[i] >= 0x40 && b[i] <= 0x7e); i++)
			;
		return i;
	}
	if (i + 1 < n && b[i + 1] == ']') {
		for (i += 2; i < n && b[i] != '\a' && !(b[i] == 0x1b && i + 1 < n && b[i + 1] == '\\'); i++)
			;
		return i < n && b[i] == 0x1b ? i + 1 : i;
	}
	/* ESC, intermediate bytes (ESC ( B ...), a final byte. */
	for (i++; i + 1 < n && b[i] >= 0x20 && b[i] <= 0x2f; i++)
		;
	return i;
}

/* The last TAIL_LINES non-empty lines of the task's output.log, escape
 * sequences and control bytes dropped, valid UTF-8, at most TAIL_KEEP
 * bytes; NULL when there is nothing to quote. Read without `mu`. */
static char *output_tail(const kc_tasks *m, const char *id)
{
	char path[4200], buf[TAIL_BYTES + 1], clean[TAIL_BYTES + 1];
	size_t n = 0, c = 0, lines = 0, from;
	ssize_t got;
	struct stat st;
	int fd;
	snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size > TAIL_BYTES)
		lseek(fd, st.st_size - TAIL_BYTES, SEEK_SET);
	while (n < TAIL_BYTES && (got = read(fd, buf + n, TAIL_BYTES - n)) > 0)
		n += (size_t)got;
	close(fd);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == 0x1b)
			i = escape_end(buf, i, n);
		else if (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
			if (ch != '\n' || (c > 0 && clean[c - 1] != '\n'))
				clean[c++] = ch == '\t' ? ' ' : (char)ch;
		}
	}
	while (c > 0 && (clean[c - 1] == '\n' || clean[c - 1] == ' '))
		c--;
	for (from = c; from > 0; from--)
		if (clean[from - 1] == '\n' && (++lines == TAIL_LINES || c - from >= TAIL_KEEP))
			break;
	if (c - from > TAIL_KEEP)
		from = c - TAIL_KEEP;
	return c > from ? kc_utf8_sanitize(clean + from, c - from, NULL) : NULL;
}

/* The answer's last line, KC_HOST_LINE "<pid> <start_time>", cut off
 * `out` and copied (without the prefix) into host_id. */
static void take_host_id(char *out, char host_id[48])
{
	char *line = NULL;
	host_id[0] = '\0';
	/* The last match at a line's start: a session someone named
	 * "kc-host ..." comes before it. */
	for (char *p = out ? strstr(out, KC_HOST_LINE) : NULL; p; p = strstr(p + 1, KC_HOST_LINE))
		if (p == out || p[-1] == '\n')
			line = p;
	if (!line)
		return;
	*line = '\0';
	line += strlen(KC_HOST_LINE);
	line[strcspn(line, "\n")] = '\0';
	snprintf(host_id, 48, "%s", line);
}

/* Marks the tasks whose session is in `names` (one per line) alive.
 * Under `mu`. Returns how many. */
static size_t mark_alive(kc_tasks *m, char *names, bool *alive)
{
	char *line, *save = NULL;
	size_t live = 0;
	for (line = names ? strtok_r(names, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		struct entry *e;
		if (strncmp(line, "claude-", 7) != 0 || !kc_task_id_valid(line + 7))
			continue;
		if ((e = kc_task_find(m, line + 7)) != NULL) {
			alive[kc_task_position(m, e)] = true;
			live++;
		}
	}
	return live;
}

/* What became of running task `e`, whose session is gone. */
static enum gone_how gone_how(const struct entry *e, bool at_start, bool host_lost)
{
	/* External host gone or replaced: the session went with it, whatever
	 * the agent was doing. */
	if (host_lost)
		return GONE_LOST;
	/* At start, `starting` is not known yet: a task whose prompt was never
	 * delivered had not got its agent ready when the previous kc-server
	 * stopped, and the session went with it (a pod restart takes tmux
	 * along). That is a failure, not a completion. Only tasks kc-server
	 * wrote (they name their agent) record the delivery; the seed's never
	 * did, and theirs keep the old rule. */
	if (at_start && e->t.agent && e->t.prompt_delivered_at <= 0)
		return GONE_STOPPED_BEFORE_READY;
	return e->starting ? GONE_NOT_READY : GONE_COMPLETED;
}

/* Re-adopted sessions (`alive`): their prompt was delivered before the
 * restart, or they are still waiting for it. Under `mu`. */
static void readopt(kc_tasks *m, const bool *alive)
{
	for (size_t i = 0; i < m->n; i++) {
		struct entry *e = m->by_time[i];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || !alive[i])
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

/* Ends the gone tasks (their error read from output.log without `mu`
 * when the agent never got ready), then saves them. */
static void end_gone(kc_tasks *m, struct gone *gone, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *tail = gone[i].how == GONE_NOT_READY ? output_tail(m, gone[i].id) : NULL;
		char *why = NULL;
		const char *error = NULL;
		if (gone[i].how == GONE_NOT_READY) {
			size_t len = sizeof NOT_READY_ERROR ": " + (tail ? strlen(tail) : 0);
			if (tail && (why = malloc(len)) != NULL)
				snprintf(why, len, "%s: %s", NOT_READY_ERROR, tail);
			error = why ? why : NOT_READY_ERROR;
		} else if (gone[i].how == GONE_LOST) {
			error = LOST_ERROR;
		} else if (gone[i].how == GONE_STOPPED_BEFORE_READY) {
			error = STOPPED_BEFORE_READY;
		}
		pthread_mutex_lock(&m->mu);
		if (gone[i].e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			kc_task_finish(m, gone[i].e,
				       error ? KC__V1__TASK_STATUS__TASK_STATUS_ERROR
					     : KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED,
				       error);
		pthread_mutex_unlock(&m->mu);
		kc_log(KC_LOG_INFO, "task ended", "task_id", gone[i].id, "status",
		       kc_task_status_name(gone[i].e->t.status), "error", error ? error : "", NULL);
		free(tail);
		free(why);
		kc_task_persist(m, gone[i].e);
	}
}

/* One `tmux list-sessions` for every task: running tasks whose session is
 * gone have completed, failed (the agent never became ready), or were lost
 * with an external agent host that stopped or restarted. */
void kc_task_reconcile(kc_tasks *m, bool at_start)
{
	kc_spawn_result r;
	long long started = kc_task_mono_ms();
	struct gone *gone = NULL;
	size_t n_gone = 0, live = 0;
	char host_id[48];
	bool host_lost;

	if (kc_task_list_sessions(m, &r) != 0) {
		/* tmux could not be run: know nothing, change nothing. */
		kc_spawn_result_release(&r);
		return;
	}
	/* A non-zero exit is "no server running": no sessions. Unless the
	 * socket still answers (tmux failed otherwise): then, as above. */
	char why[160];
	if (r.status != 0 && m->cfg->tmux_external && kc_task_host_check(m, why, sizeof why) == 0) {
		kc_spawn_result_release(&r);
		return;
	}
	take_host_id(r.status == 0 ? r.out : NULL, host_id);
	pthread_mutex_lock(&m->mu);
	host_lost = m->cfg->tmux_external && (!host_id[0] || (m->host_id[0] && strcmp(m->host_id, host_id) != 0));
	if (host_id[0] && strcmp(m->host_id, host_id) != 0) {
		if (m->host_id[0] || at_start)
			kc_log(KC_LOG_INFO, "tmux server", "id", host_id, "previous", m->host_id, NULL);
		snprintf(m->host_id, sizeof m->host_id, "%s", host_id);
	}
	bool *alive = m->n ? calloc(m->n, sizeof *alive) : NULL;
	size_t cap_gone = kc_task_n_running(m);
	if ((m->n && !alive) || (cap_gone && !(gone = calloc(cap_gone, sizeof *gone)))) {
		pthread_mutex_unlock(&m->mu);
		free(alive);
		kc_spawn_result_release(&r);
		return;
	}
	live = alive ? mark_alive(m, r.status == 0 ? r.out : NULL, alive) : 0;
	for (size_t i = 0; i < m->n && n_gone < cap_gone; i++) {
		struct entry *e = m->by_time[i];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || alive[i])
			continue;
		/* Created after the list was taken: not known yet. */
		if (!at_start && e->start_ms >= started)
			continue;
		gone[n_gone] = (struct gone){.e = e, .how = gone_how(e, at_start, host_lost)};
		snprintf(gone[n_gone].id, sizeof gone[n_gone].id, "%s", e->t.task_id);
		n_gone++;
	}
	if (at_start && alive)
		readopt(m, alive);
	/* Nothing left on this server: forget it, so that a host restarted
	 * while idle does not count as lost against the next new task. */
	if (kc_task_n_running(m) <= n_gone)
		m->host_id[0] = '\0';
	pthread_mutex_unlock(&m->mu);
	free(alive);
	kc_spawn_result_release(&r);
	end_gone(m, gone, n_gone);
	free(gone);
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

/* The starting tasks due a look (ready timeout, fresh output, the
 * periodic one), at most `cap`, newest first; *next: the milliseconds
 * until a task that wrote too recently may be captured again, or -1. */
static size_t collect_starting(kc_tasks *m, struct todo *todo, size_t cap, long *next)
{
	size_t n = 0;
	long long now = kc_task_mono_ms();
	pthread_mutex_lock(&m->mu);
	/* Newest tasks are at the end; starting ones are among the newest
	 * running, so scan backwards and stop after `running` hits. */
	for (size_t i = m->n, seen = 0; i > 0 && seen < kc_task_n_running(m) && n < cap; i--) {
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
			if (e->dirty && (*next < 0 || RECHECK_MS - since < *next))
				*next = RECHECK_MS - since;
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
	return n;
}

/* Ends a task whose agent did not become ready in time. */
static void fail_not_ready(kc_tasks *m, const struct todo *td)
{
	char why[128];
	snprintf(why, sizeof why, "the agent did not become ready within %ld ms", td->timeout_ms);
	kc_task_kill_session(m, td->id);
	pthread_mutex_lock(&m->mu);
	if (td->e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && td->e->starting)
		kc_task_finish(m, td->e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, why);
	pthread_mutex_unlock(&m->mu);
	kc_log(KC_LOG_WARN, "agent never became ready", "task_id", td->id, NULL);
}

/* Captures the task's pane and, when it shows the ready pattern, pastes
 * the prompt. Returns whether it looked ready (the task changed: save it);
 * *delivered when the prompt went in. */
static bool try_deliver(kc_tasks *m, const struct todo *td, bool *delivered)
{
	struct entry *e = td->e;
	char waited[24], took[48], *text = NULL;
	size_t text_len = 0;
	long long t0 = kc_task_mono_ms(), t1, t2;
	char *pane = kc_task_capture(m, td->id, NULL, NULL);
	bool ready;
	t1 = kc_task_mono_ms();
	ready = kc_task_pane_ready(m, td->agent_idx, pane);
	free(pane);
	if (!ready)
		return false;
	int rc = read_prompt(m, td->id, &text, &text_len);
	if (rc == 0)
		rc = kc_task_paste(m, td->id, text, text_len);
	free(text);
	t2 = kc_task_mono_ms();
	/* Where delivery time goes: from the output that showed the prompt to
	 * this pass (or -1: found by a periodic look), the capture, the paste. */
	snprintf(waited, sizeof waited, "%lld", td->output_ms ? t0 - td->output_ms : -1);
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
	/* rc: the prompt.txt could not be read (KC_ERR_NOT_FOUND, KC_ERR_IO...),
	 * held a control byte (KC_ERR_INVALID: stored before prompts were
	 * checked) or tmux failed. */
	kc_log(rc == 0 ? KC_LOG_INFO : KC_LOG_ERROR, rc == 0 ? "prompt delivered" : "prompt delivery failed",
	       "task_id", td->id, "output_to_pass_ms", waited, "capture_paste_ms", took, "error",
	       rc == 0 ? "" : kc_strerror(rc), NULL);
	*delivered = rc == 0;
	return true;
}

/* Delivers prompts to starting tasks whose pane shows the ready pattern,
 * and fails those past their ready timeout. Returns the milliseconds until
 * a task that is due a re-check may be captured again, or -1. */
static long check_starting(kc_tasks *m)
{
	struct todo todo[64];
	long next = -1;
	size_t n = collect_starting(m, todo, 64, &next);
	/* Pastes first, for every task that is ready; then the messages that
	 * wait behind each prompt; saving (two fsyncs each) last, so that one
	 * task's save never delays another task's prompt. */
	bool save[64] = {false}, delivered[64] = {false};
	for (size_t i = 0; i < n; i++) {
		if (todo[i].timed_out) {
			fail_not_ready(m, &todo[i]);
			save[i] = true;
		} else {
			save[i] = try_deliver(m, &todo[i], &delivered[i]);
		}
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
