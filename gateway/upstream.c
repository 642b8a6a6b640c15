/*
 * upstream.c - see upstream.h. The sockets, timers and reconnects around
 * the gRPC-over-HTTP/2 core (grpc_client.h), all on the loop thread.
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
#include "gateway/upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/grpc_client.h"

#define MAX_MD 8
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define READ_CHUNK (64u << 10)

typedef struct conn conn;

struct kc_upcall {
	kc_upstream *u;
	kc_upcall *prev;
	kc_upcall *next;
	kc_upcall_callbacks cb;
	void *ud;
	conn *c;
	kc_gc_stream *st;
	struct event *timer;
	bool paused;
	/* Resumed by the caller: delivery restarts from the work event, so a
	 * callback never runs inside the caller's own call. */
	bool resume;
	/* Waiting for a connection: c->pending (dialling) or u->waiting (none,
	 * within the wait budget). */
	kc_upcall *pnext;
	bool waiting;
	int64_t wait_ms;
	struct event *wait_timer;
	/* Sent again once after kc-server refused it (or dropped it, for an
	 * idempotent call); a message delivered rules that out. */
	bool retried;
	bool idempotent;
	bool delivered;
	/* The call's own copies (below). */
	const char *method;
	kc_header md[MAX_MD];
	size_t n_md;
	uint8_t *req;
	size_t len;
	int64_t timeout_ms;
	/* Failed before it reached a connection; reported by the work event. */
	bool failed;
	kc_upcall *fnext;
	char copy[]; /* method, metadata and request of a pending call */
};

struct conn {
	kc_upstream *u;
	conn *next; /* draining connections */
	int fd;
	struct event *rev;
	struct event *wev;
	kc_gc *gc;
	bool connected;
	bool dead;
	/* kc-server dropped a read here without answering it: it is going
	 * away, so new calls take a new connection (as after GOAWAY). */
	bool retired;
	kc_upcall *pending;
	kc_upcall *pending_tail;
	uint8_t *wbuf;
	size_t wlen;
	size_t woff;
	size_t wcap;
};

struct kc_upstream {
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char authority[128];
	conn *cur;
	conn *draining;
	kc_upcall *calls;
	kc_upcall *failed;
	/* Calls marked `resume`, so the work event scans only when needed. */
	size_t n_resume;
	/* Calls waiting for kc-server to come back (pnext), oldest first. */
	kc_upcall *waiting;
	kc_upcall *waiting_tail;
	struct event *work;
	struct event *retry;
	int backoff_ms;
	uint8_t *rbuf;
	/* Set while the work event is queued. */
	bool work_queued;
	bool freeing;
	/* Times bytes were taken from a session to go out: see
	 * kc_upstream_flushes. */
	uint64_t flushes;
};

static void conn_close(conn *c, const char *why);
static void dial(kc_upstream *u);

static void schedule(kc_upstream *u)
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
		schedule(u);
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

/* ---- output ---- */

/* Gathers what the session has to send and writes it; what the socket
 * does not take waits for EV_WRITE. Returns false when c was closed. */
static bool conn_flush(conn *c)
{
	const uint8_t *p;
	long n;
	ssize_t w;

	if (!c->connected || c->dead)
		return true;
	while ((n = kc_gc_send(c->gc, &p)) > 0) {
		if (c->wcap - c->wlen < (size_t)n) {
			size_t cap = c->wcap ? c->wcap : 16384;
			uint8_t *q;

			if (c->woff) {
				memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
				c->wlen -= c->woff;
				c->woff = 0;
			}
			while (cap - c->wlen < (size_t)n)
				cap *= 2;
			q = cap == c->wcap ? c->wbuf : realloc(c->wbuf, cap);
			if (!q) {
				conn_close(c, "out of memory");
				return false;
			}
			c->wbuf = q;
			c->wcap = cap;
		}
		memcpy(c->wbuf + c->wlen, p, (size_t)n);
		c->wlen += (size_t)n;
		c->u->flushes++;
	}
	if (n < 0) {
		conn_close(c, "HTTP/2 error towards kc-server");
		return false;
	}
	while (c->woff < c->wlen) {
		w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return true;
		}
		if (w <= 0) {
			conn_close(c, "write to kc-server failed");
			return false;
		}
		c->woff += (size_t)w;
	}
	c->woff = c->wlen = 0;
	return true;
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

static bool wait_for_server(kc_upcall *call);

static void gc_on_done(void *callp, int status, const char *message, bool refused, void *ud)
{
	kc_upcall *call = callp;

	(void)ud;
	call->st = NULL;
	/* kc-server never saw it, or it is a read kc-server dropped without
	 * an answer (1 CANCELLED, 14 UNAVAILABLE: a shutdown, a lost
	 * connection): once more, on the next connection. */
	if (!call->retried && !call->delivered &&
	    (refused || (call->idempotent && (status == 1 || status == 14)))) {
		call->retried = true;
		/* Not back onto the connection that dropped it: during a
		 * kc-server shutdown the retry would race the GOAWAY there and
		 * be dropped again (seen as a 499 under load). */
		if (!refused && call->c)
			call->c->retired = true;
		if (wait_for_server(call))
			return;
	}
	call->cb.on_done(call, status, message, call->ud);
	call_free(call);
}

static const kc_gc_callbacks gc_cb = {gc_on_message, gc_on_done};

/* ---- starting calls ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	kc_upcall *call = arg;

	(void)fd;
	(void)what;
	/* The server enforces grpc-timeout too; this covers a connection
	 * that stopped answering. */
	detach(call);
	call->cb.on_done(call, 4 /* DEADLINE_EXCEEDED */, "Deadline Exceeded", call->ud);
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

static void fail_later(kc_upcall *call)
{
	kc_upstream *u = call->u;

	call->failed = true;
	call->fnext = u->failed;
	u->failed = call;
	schedule(u);
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
	call->cb.on_done(call, 14 /* UNAVAILABLE */, "kc-server is not reachable", call->ud);
	call_free(call);
}

/* Parks a call until a connection is up, within the budget it was started
 * with (counted from its first wait). False when it has none left; the
 * caller then fails it. Never calls back: the work event dials. */
static bool wait_for_server(kc_upcall *call)
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
	schedule(u);
	return true;
}

/* Sends a queue of calls (a connection's pending calls, or those waiting
 * for one) on c, oldest first; a call that cannot be sent fails. */
static void submit_queue(conn *c, kc_upcall **head, kc_upcall **tail)
{
	while (*head) {
		kc_upcall *call = *head;

		*head = call->pnext;
		call->pnext = NULL;
		call->waiting = false;
		if (submit(c, call)) {
			call->c = NULL;
			fail_later(call);
		}
	}
	*tail = NULL;
}

/* ---- connections ---- */

static void conn_free(conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->fd >= 0)
		close(c->fd);
	kc_gc_free(c->gc);
	free(c->wbuf);
	free(c);
}

static void arm_retry(kc_upstream *u)
{
	struct timeval tv;

	if (u->freeing || evtimer_pending(u->retry, NULL))
		return;
	tv.tv_sec = u->backoff_ms / 1000;
	tv.tv_usec = (u->backoff_ms % 1000) * 1000;
	evtimer_add(u->retry, &tv);
	u->backoff_ms = u->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : u->backoff_ms * 2;
}

/* The connection is gone: its calls end with UNAVAILABLE (those still
 * waiting for it through the work event, as they were started inside a
 * caller's call). */
static void conn_close(conn *c, const char *why)
{
	kc_upstream *u = c->u;
	char msg[160];
	conn **pp;

	if (c->dead)
		return;
	c->dead = true;
	snprintf(msg, sizeof(msg), "kc-server connection: %s", why);
	if (u->cur == c) {
		u->cur = NULL;
		/* Only a connection that was up is news; failed dials while
		 * kc-server is down would repeat every second. */
		if (!u->freeing && c->connected)
			kc_log(KC_LOG_WARN, "upstream connection lost", "error", why, NULL);
		arm_retry(u);
	}
	for (pp = &u->draining; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	while (c->pending) {
		kc_upcall *call = c->pending;

		c->pending = call->pnext;
		call->c = NULL;
		if (!wait_for_server(call))
			fail_later(call);
	}
	c->pending_tail = NULL;
	event_del(c->rev);
	event_del(c->wev);
	kc_gc_fail(c->gc, 14 /* UNAVAILABLE */, msg);
	conn_free(c);
}

/* A connection whose session takes no new calls (GOAWAY, or retired)
 * leaves u->cur and stays until its calls are done. */
static void conn_check(conn *c)
{
	kc_upstream *u = c->u;

	if (c->dead || !c->connected)
		return;
	if (u->cur == c && (c->retired || !kc_gc_usable(c->gc))) {
		u->cur = NULL;
		c->next = u->draining;
		u->draining = c;
	}
	if (u->cur != c && kc_gc_open_calls(c->gc) == 0)
		conn_close(c, "drained");
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;
	kc_upstream *u = c->u;
	ssize_t n;
	int i;

	(void)what;
	/* A few reads per wake-up: a burst of answers is read at once
	 * without starving the HTTP side. */
	for (i = 0; i < 4; i++) {
		n = recv(fd, u->rbuf, READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(c, n == 0 ? "closed by kc-server" : "read failed");
			return;
		}
		if (kc_gc_recv(c->gc, u->rbuf, (size_t)n)) {
			/* Let the session's GOAWAY out before closing. */
			conn_flush(c);
			if (!c->dead)
				conn_close(c, "HTTP/2 protocol error from kc-server");
			return;
		}
		if ((size_t)n < READ_CHUNK)
			break;
	}
	if (conn_flush(c))
		conn_check(c);
}

static void on_connected(conn *c)
{
	kc_upstream *u = c->u;

	c->connected = true;
	u->backoff_ms = BACKOFF_MIN_MS;
	event_add(c->rev, NULL);
	submit_queue(c, &c->pending, &c->pending_tail);
	submit_queue(c, &u->waiting, &u->waiting_tail);
	/* Written from the work event: dial() may run inside a caller's
	 * kc_upcall_start, where a failing write must not call back. */
	schedule(u);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	(void)what;
	if (!c->connected) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			conn_close(c, strerror(err ? err : errno));
			return;
		}
		on_connected(c);
		return;
	}
	if (conn_flush(c))
		conn_check(c);
}

/* Opens a connection as u->cur. A connect that fails at once closes it
 * again (its pending calls fail through the work event). */
static void dial(kc_upstream *u)
{
	conn *c;

	if (u->cur || u->freeing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->u = u;
	c->fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || kc_gc_new(&c->gc, u->authority, &gc_cb, c)) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		arm_retry(u);
		return;
	}
	c->rev = event_new(u->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(u->base, c->fd, EV_WRITE, on_write, c);
	u->cur = c;
	if (!c->rev || !c->wev) {
		conn_close(c, "out of memory");
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&u->addr, u->addr_len) == 0) {
		on_connected(c);
		return;
	}
	if (errno == EINPROGRESS || errno == EAGAIN) {
		event_add(c->wev, NULL);
		return;
	}
	{
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		conn_close(c, why);
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	kc_upstream *u = arg;

	(void)fd;
	(void)what;
	dial(u);
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
		call->cb.on_done(call, 14 /* UNAVAILABLE */, "kc-server is not reachable", call->ud);
		call_free(call);
	}
	if (u->waiting) {
		/* Not on a connection that got GOAWAY: a new one. */
		if (u->cur && u->cur->connected)
			conn_check(u->cur);
		if (!u->cur)
			dial(u); /* connected at once: on_connected sent them */
		else if (u->cur->connected)
			submit_queue(u->cur, &u->waiting, &u->waiting_tail);
	}
	if (u->cur && conn_flush(u->cur))
		conn_check(u->cur);
	for (c = u->draining; c; c = next) {
		next = c->next;
		if (conn_flush(c))
			conn_check(c);
	}
}

/* ---- API ---- */

static int parse_target(kc_upstream *u, const char *target)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&u->addr;
	const char *path;

	memset(&u->addr, 0, sizeof(u->addr));
	if (strncmp(target, "unix://", 7) == 0)
		path = target + 7;
	else if (strncmp(target, "unix:", 5) == 0)
		path = target + 5;
	else {
		/* host:port with a numeric address (gRPC's "ipv4:" / "ipv6:"
		 * prefixes accepted). */
		int len = (int)sizeof(u->addr);
		const char *t = target;

		if (strncmp(t, "ipv4:", 5) == 0 || strncmp(t, "ipv6:", 5) == 0)
			t += 5;
		if (evutil_parse_sockaddr_port(t, (struct sockaddr *)&u->addr, &len))
			return KC_ERR_INVALID;
		u->addr_len = (socklen_t)len;
		snprintf(u->authority, sizeof(u->authority), "%s", t);
		return 0;
	}
	if (!*path || strlen(path) >= sizeof(sun->sun_path))
		return KC_ERR_INVALID;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	u->addr_len = (socklen_t)sizeof(*sun);
	/* What gRPC core sends for a unix target. */
	snprintf(u->authority, sizeof(u->authority), "localhost");
	return 0;
}

int kc_upstream_new(kc_upstream **out, struct event_base *base, const char *target)
{
	kc_upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return KC_ERR_NOMEM;
	u->base = base;
	u->backoff_ms = BACKOFF_MIN_MS;
	if (parse_target(u, target)) {
		free(u);
		return KC_ERR_IO;
	}
	u->rbuf = malloc(READ_CHUNK);
	u->work = event_new(base, -1, 0, on_work, u);
	u->retry = evtimer_new(base, on_retry, u);
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
	dial(u);
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
		conn_close(u->cur, "shutting down");
	while (u->draining)
		conn_close(u->draining, "shutting down");
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
		conn_check(u->cur);
	if (!u->cur)
		dial(u);
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
	} else if (!wait_for_server(call)) {
		fail_later(call);
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
	schedule(u);
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
		schedule(call->u);
	}
}

uint64_t kc_upstream_flushes(const kc_upstream *u)
{
	return u->flushes;
}
