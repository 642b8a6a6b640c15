/*
 * upstream.c - see upstream.h. The calls around the gRPC-over-HTTP/2 core
 * (grpc_client.h): starting, waiting for kc-server, retrying, deadlines,
 * the work event and the API; the connection itself (sockets, dial,
 * backoff) is upstream_conn.c's. All on the loop thread.
 *
 * One connection carries every call (HTTP/2 multiplexes them; the
 * server's stream cap is kept by nghttp2). Output is gathered into one
 * buffer and written once per loop iteration (the "work" event), so the
 * calls that 64 connections start in one iteration leave in one write.
 * A connection that got GOAWAY keeps its running calls while a new one
 * takes the new calls. A lost connection fails its calls with UNAVAILABLE
 * and is redialled in the background with backoff (100 ms doubling to
 * 1 s); a call that finds no connection dials at once, so the first call
 * after kc-server is back does not wait for the timer.
 *
 * Restarts of kc-server are hidden from clients: a call started with a
 * wait budget (kc_upcall_start's wait_ms) that finds kc-server away waits
 * for the next connection up to that budget instead of failing, and a call
 * kc-server refused before seeing it (GOAWAY past it, REFUSED_STREAM, or a
 * connection that closed with the request still unsent) is sent again
 * once, the same way; so is a read kc-server dropped unanswered
 * (CANCELLED or UNAVAILABLE: it is shutting down), and never onto the
 * connection that dropped it, which takes no new calls from then on. A
 * write kc-server may have seen is never repeated.
 * Every call keeps a copy of its method, metadata and request for this.
 */
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "gateway/upstream_internal.h"

void kc_up_schedule(kc_upstream *u)
{
	if (!u->work_queued && !u->freeing) {
		u->work_queued = true;
		event_active(u->work, EV_WRITE, 0);
	}
}

static void call_free(kc_upcall *call)
{
	kc_upstream *u = call->u;

	if (call->prev)
		call->prev->next = call->next;
	else
		u->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	if (call->resume)
		u->n_resume--;
	if (call->timer)
		event_free(call->timer);
	if (call->wait_timer)
		event_free(call->wait_timer);
	free(call);
}

/* Takes call out of a queue linked by pnext (a connection's pending
 * calls, or the calls waiting for one). */
static void queue_remove(kc_upcall **head, kc_upcall **tail, kc_upcall *call)
{
	kc_upcall **pp;

	for (pp = head; *pp; pp = &(*pp)->pnext)
		if (*pp == call) {
			*pp = call->pnext;
			break;
		}
	*tail = NULL;
	for (kc_upcall *p = *head; p; p = p->pnext)
		*tail = p;
	call->pnext = NULL;
}

/* Takes call out of u->waiting. */
static void unwait(kc_upcall *call)
{
	if (!call->waiting)
		return;
	queue_remove(&call->u->waiting, &call->u->waiting_tail, call);
	call->waiting = false;
}

/* Takes a call off whatever it waits in: its stream (reset), the wait for
 * a connection, the failed list or its connection's pending queue. */
static void detach(kc_upcall *call)
{
	kc_upstream *u = call->u;
	kc_upcall **pp;

	if (call->st) {
		kc_gc_cancel(call->c->gc, call->st);
		call->st = NULL;
		kc_up_schedule(u);
	} else if (call->waiting) {
		unwait(call);
	} else if (call->failed) {
		for (pp = &u->failed; *pp; pp = &(*pp)->fnext)
			if (*pp == call) {
				*pp = call->fnext;
				break;
			}
	} else if (call->c) {
		queue_remove(&call->c->pending, &call->c->pending_tail, call);
	}
}

/* ---- callbacks from the core ---- */

static void gc_on_message(void *callp, const uint8_t *data, size_t len, void *ud)
{
	kc_upcall *call = callp;

	(void)ud;
	call->delivered = true;
	/* The caller may cancel (and so free) the call inside. */
	call->cb.on_message(call, data, len, call->ud);
}

static void gc_on_done(void *callp, int status, const char *message, bool refused, void *ud)
{
	kc_upcall *call = callp;

	(void)ud;
	call->st = NULL;
	/* kc-server never saw it, or it is a read kc-server dropped without
	 * an answer (CANCELLED, UNAVAILABLE: a shutdown, a lost
	 * connection): once more, on the next connection. */
	if (!call->retried && !call->delivered &&
	    (refused || (call->idempotent && (status == KC_GRPC_CANCELLED || status == KC_GRPC_UNAVAILABLE)))) {
		call->retried = true;
		/* Not back onto the connection that dropped it: during a
		 * kc-server shutdown the retry would race the GOAWAY there and
		 * be dropped again (seen as a 499 under load). */
		if (!refused && call->c)
			call->c->retired = true;
		if (kc_up_wait_for_server(call))
			return;
	}
	call->cb.on_done(call, status, message, call->ud);
	call_free(call);
}

const kc_gc_callbacks kc_up_gc_callbacks = {gc_on_message, gc_on_done};

/* ---- starting calls ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	kc_upcall *call = arg;

	(void)fd;
	(void)what;
	/* The server enforces grpc-timeout too; this covers a connection
	 * that stopped answering. */
	detach(call);
	call->cb.on_done(call, KC_GRPC_DEADLINE_EXCEEDED, "Deadline Exceeded", call->ud);
	call_free(call);
}

/* Opens the call's stream on c, from the call's own copies. */
static int submit(conn *c, kc_upcall *call)
{
	int rc = kc_gc_call(c->gc, call->method, call->md, call->n_md, call->req, call->len, call->timeout_ms, call,
	                    &call->st);

	if (rc == 0) {
		call->c = c;
		if (call->paused)
			kc_gc_pause(c->gc, call->st, true);
	}
	return rc;
}

void kc_up_fail_later(kc_upcall *call)
{
	kc_upstream *u = call->u;

	call->failed = true;
	call->fnext = u->failed;
	u->failed = call;
	kc_up_schedule(u);
}

/* The wait budget is over: a call still waiting fails. */
static void on_wait_over(evutil_socket_t fd, short what, void *arg)
{
	kc_upcall *call = arg;

	(void)fd;
	(void)what;
	if (!call->waiting)
		return;
	unwait(call);
	call->cb.on_done(call, KC_GRPC_UNAVAILABLE, "kc-server is not reachable", call->ud);
	call_free(call);
}

/* Parks a call until a connection is up, within the budget it was started
 * with (counted from its first wait). False when it has none left; the
 * caller then fails it. Never calls back: the work event dials. */
bool kc_up_wait_for_server(kc_upcall *call)
{
	kc_upstream *u = call->u;

	if (call->wait_ms <= 0 || u->freeing)
		return false;
	if (!call->wait_timer) {
		struct timeval tv = {(time_t)(call->wait_ms / 1000), (suseconds_t)(call->wait_ms % 1000) * 1000};

		call->wait_timer = evtimer_new(u->base, on_wait_over, call);
		if (!call->wait_timer)
			return false;
		evtimer_add(call->wait_timer, &tv);
	} else if (!evtimer_pending(call->wait_timer, NULL)) {
		return false;
	}
	call->c = NULL;
	call->st = NULL;
	call->pnext = NULL;
	call->waiting = true;
	if (u->waiting_tail)
		u->waiting_tail->pnext = call;
	else
		u->waiting = call;
	u->waiting_tail = call;
	kc_up_schedule(u);
	return true;
}

/* Sends a queue of calls (a connection's pending calls, or those waiting
 * for one) on c, oldest first; a call that cannot be sent fails. */
void kc_up_submit_queue(conn *c, kc_upcall **head, kc_upcall **tail)
{
	while (*head) {
		kc_upcall *call = *head;

		*head = call->pnext;
		call->pnext = NULL;
		call->waiting = false;
		if (submit(c, call)) {
			call->c = NULL;
			kc_up_fail_later(call);
		}
	}
	*tail = NULL;
}

static void on_work(evutil_socket_t fd, short what, void *arg)
{
	kc_upstream *u = arg;
	kc_upcall *call;
	conn *c;
	conn *next;

	(void)fd;
	(void)what;
	u->work_queued = false;
	/* Resumed streams first: their window updates go out below. */
	for (call = u->n_resume ? u->calls : NULL; call;) {
		kc_upcall *nx = call->next;

		if (call->resume) {
			call->resume = false;
			u->n_resume--;
			if (call->st)
				kc_gc_pause(call->c->gc, call->st, false);
			/* call may be gone now: only nx is used. */
		}
		call = nx;
	}
	while (u->failed) {
		call = u->failed;
		u->failed = call->fnext;
		call->cb.on_done(call, KC_GRPC_UNAVAILABLE, "kc-server is not reachable", call->ud);
		call_free(call);
	}
	if (u->waiting) {
		/* Not on a connection that got GOAWAY: a new one. */
		if (u->cur && u->cur->connected)
			kc_up_conn_check(u->cur);
		if (!u->cur)
			kc_up_dial(u); /* connected at once: on_connected sent them */
		else if (u->cur->connected)
			kc_up_submit_queue(u->cur, &u->waiting, &u->waiting_tail);
	}
	if (u->cur && kc_up_conn_flush(u->cur))
		kc_up_conn_check(u->cur);
	for (c = u->draining; c; c = next) {
		next = c->next;
		if (kc_up_conn_flush(c))
			kc_up_conn_check(c);
	}
}

/* ---- API ---- */

int kc_upstream_new(kc_upstream **out, struct event_base *base, const char *target)
{
	kc_upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return KC_ERR_NOMEM;
	u->base = base;
	u->backoff_ms = BACKOFF_MIN_MS;
	if (kc_up_parse_target(u, target)) {
		free(u);
		return KC_ERR_IO;
	}
	u->rbuf = malloc(READ_CHUNK);
	u->work = event_new(base, -1, 0, on_work, u);
	u->retry = evtimer_new(base, kc_up_on_retry, u);
	if (!u->rbuf || !u->work || !u->retry) {
		if (u->work)
			event_free(u->work);
		if (u->retry)
			event_free(u->retry);
		free(u->rbuf);
		free(u);
		return KC_ERR_NOMEM;
	}
	/* Dial now so the first request finds the connection ready; if
	 * kc-server is not up yet, the retry timer keeps trying. */
	kc_up_dial(u);
	*out = u;
	return 0;
}

void kc_upstream_free(kc_upstream *u)
{
	if (!u)
		return;
	u->freeing = true;
	/* Calls still running end without callbacks, as before. */
	while (u->calls) {
		kc_upcall *call = u->calls;

		detach(call);
		call_free(call);
	}
	if (u->cur)
		kc_up_conn_close(u->cur, "shutting down");
	while (u->draining)
		kc_up_conn_close(u->draining, "shutting down");
	event_free(u->work);
	event_free(u->retry);
	free(u->rbuf);
	free(u);
}

int kc_upcall_start(kc_upstream *u, const char *method, const kc_header *md, size_t n_md, const void *req, size_t len,
                    const kc_upcall_opts *opts, const kc_upcall_callbacks *cb, void *user_data, kc_upcall **out)
{
	int64_t timeout_ms = opts->timeout_ms;
	kc_upcall *call;
	size_t need = strlen(method) + 1 + len;
	size_t i;
	char *p;
	int rc;

	if (n_md > MAX_MD)
		return KC_ERR_INVALID;
	/* The call keeps its own copies: it may wait for a connection, or be
	 * sent again after kc-server refused it. */
	for (i = 0; i < n_md; i++)
		need += strlen(md[i].name) + strlen(md[i].value) + 2;
	call = calloc(1, sizeof(*call) + need);
	if (!call)
		return KC_ERR_NOMEM;
	call->u = u;
	p = call->copy;
	call->method = strcpy(p, method);
	p += strlen(method) + 1;
	for (i = 0; i < n_md; i++) {
		call->md[i].name = strcpy(p, md[i].name);
		p += strlen(md[i].name) + 1;
		call->md[i].value = strcpy(p, md[i].value);
		p += strlen(md[i].value) + 1;
	}
	call->n_md = n_md;
	call->req = (uint8_t *)p;
	if (len)
		memcpy(p, req, len);
	call->len = len;
	call->timeout_ms = timeout_ms;
	call->wait_ms = opts->wait_ms;
	call->idempotent = opts->idempotent;

	/* A connection that got GOAWAY moves aside; a new one takes over. */
	if (u->cur && u->cur->connected)
		kc_up_conn_check(u->cur);
	if (!u->cur)
		kc_up_dial(u);
	if (u->cur && u->cur->connected) {
		rc = submit(u->cur, call);
		if (rc) {
			free(call);
			return rc == KC_ERR_UNAVAILABLE ? KC_ERR_INTERNAL : rc;
		}
	} else if (u->cur) {
		/* Dialling: sent when the connection is up. */
		call->c = u->cur;
		if (u->cur->pending_tail)
			u->cur->pending_tail->pnext = call;
		else
			u->cur->pending = call;
		u->cur->pending_tail = call;
	} else if (!kc_up_wait_for_server(call)) {
		kc_up_fail_later(call);
	}
	call->cb = *cb;
	call->ud = user_data;
	call->next = u->calls;
	if (u->calls)
		u->calls->prev = call;
	u->calls = call;
	if (timeout_ms > 0) {
		struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};

		call->timer = evtimer_new(u->base, on_deadline, call);
		if (call->timer)
			evtimer_add(call->timer, &tv);
	}
	kc_up_schedule(u);
	*out = call;
	return 0;
}

void kc_upcall_cancel(kc_upcall *call)
{
	if (!call)
		return;
	detach(call);
	call_free(call);
}

void kc_upcall_pause(kc_upcall *call, bool paused)
{
	call->paused = paused;
	if (!call->st)
		return;
	if (paused) {
		if (call->resume)
			call->u->n_resume--;
		call->resume = false;
		kc_gc_pause(call->c->gc, call->st, true);
	} else if (!call->resume) {
		call->resume = true;
		call->u->n_resume++;
		kc_up_schedule(call->u);
	}
}

uint64_t kc_upstream_flushes(const kc_upstream *u)
{
	return u->flushes;
}
