/*
 * task_watch.c - watchers: WatchTask's registrations, and the supervisor's
 * pass that sends each watcher its task's new versions and log bytes.
 */
#include "server/tasks_int.h"

/* Sends the watcher the log from its offset on. `ended`: the task is over,
 * so a partial UTF-8 sequence at the very end is final (replaced, not held
 * back). Returns true when everything up to the end of the log was sent,
 * false when the reader's backlog or the per-tick budget stopped it. */
static bool emit_output(kc_tasks *m, struct watcher *w, bool ended)
{
	char path[4200];
	bool at_end = false;
	int fd;
	snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, w->e->t.task_id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return true; /* no log: nothing to send */
	for (int rounds = 0; rounds < CHUNKS_PER_TICK; rounds++) {
		char buf[CHUNK_MAX];
		ssize_t r;
		size_t held = 0;
		char *text;
		if (w->backlog && w->backlog(w->ud) >= WATCH_BACKLOG_MAX)
			break;
		r = pread(fd, buf, sizeof buf, (off_t)w->offset);
		if (r <= 0) {
			at_end = true;
			break;
		}
		text = kc_utf8_sanitize_chunk(buf, (size_t)r, r == (ssize_t)sizeof buf || !ended, &held);
		if (!text)
			break;
		if ((size_t)r > held) {
			Kc__V1__TaskEvent ev = KC__V1__TASK_EVENT__INIT;
			Kc__V1__OutputChunk chunk = KC__V1__OUTPUT_CHUNK__INIT;
			chunk.text = text;
			chunk.offset = w->offset;
			ev.event_case = KC__V1__TASK_EVENT__EVENT_OUTPUT;
			ev.output = &chunk;
			w->sink(w->ud, &ev, false);
		}
		free(text);
		w->offset += (long long)((size_t)r - held);
		if ((size_t)r - held == 0) {
			/* Only the start of a character so far. */
			at_end = true;
			break;
		}
	}
	close(fd);
	return at_end;
}

/* Feeds every watcher: the task as it is first, then each new version of
 * it and its new output, and after the last byte of an ended task's log
 * the final task event. A task that had already ended when the watch began
 * gets only that one task event, after its output: clients stop at the
 * first event that shows the task finished (kc logs -f does). */
void kc_task_check_watchers(kc_tasks *m)
{
	struct watcher **pw;
	pthread_mutex_lock(&m->wmu);
	for (pw = &m->watchers; *pw;) {
		struct watcher *w = *pw;
		Kc__V1__TaskEvent ev = KC__V1__TASK_EVENT__INIT;
		Kc__V1__Task *t;
		bool ended, changed;
		pthread_mutex_lock(&m->mu);
		changed = !w->sent_first || w->seen_version != w->e->version;
		w->seen_version = w->e->version;
		ended = w->e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
		pthread_mutex_unlock(&m->mu);
		ev.event_case = KC__V1__TASK_EVENT__EVENT_TASK;
		/* A change after this point is seen (and sent) next time. An
		 * ended task's changes go out with its final event. */
		if (changed && !ended) {
			if ((t = kc_task_task_pb_full(m, w->e)) != NULL) {
				ev.task = t;
				w->sink(w->ud, &ev, false);
				protobuf_c_message_free_unpacked(&t->base, NULL);
			}
			w->sent_first = true;
		}
		if (w->include_output && (w->sent_first || ended) && !emit_output(m, w, ended) && ended) {
			/* The rest of the log first (the reader is behind). */
			pw = &w->next;
			continue;
		}
		if (!ended) {
			pw = &w->next;
			continue;
		}
		if ((t = kc_task_task_pb_full(m, w->e)) != NULL) {
			ev.task = t;
			w->sink(w->ud, &ev, true);
			protobuf_c_message_free_unpacked(&t->base, NULL);
		} else {
			w->sink(w->ud, NULL, true);
		}
		*pw = w->next;
		free(w);
	}
	pthread_mutex_unlock(&m->wmu);
}

int64_t kc_tasks_watch2(kc_tasks *m, const char *id, bool include_output, kc_task_sink sink, kc_task_backlog backlog,
                        void *ud, char *err, size_t errlen)
{
	struct entry *e;
	struct watcher *w;
	int rc;

	rc = kc_task_resolve(m, id, &e, NULL, err, errlen);
	if (rc != 0)
		return rc;
	if (!(w = calloc(1, sizeof *w)))
		return KC_ERR_NOMEM;
	w->e = e;
	w->include_output = include_output;
	w->sink = sink;
	w->backlog = backlog;
	w->ud = ud;
	pthread_mutex_lock(&m->wmu);
	/* Keep the id: once wmu is released the supervisor may end the
	 * watch (the task may already be over) and free w. */
	int64_t watch_id = w->id = m->next_wid++;
	w->next = m->watchers;
	m->watchers = w;
	pthread_mutex_unlock(&m->wmu);
	kc_task_wake(m);
	return watch_id;
}

bool kc_tasks_unwatch(kc_tasks *m, int64_t watch_id)
{
	struct watcher **pw;
	bool found = false;
	pthread_mutex_lock(&m->wmu);
	for (pw = &m->watchers; *pw; pw = &(*pw)->next) {
		if ((*pw)->id == watch_id) {
			struct watcher *w = *pw;
			*pw = w->next;
			free(w);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&m->wmu);
	return found;
}
