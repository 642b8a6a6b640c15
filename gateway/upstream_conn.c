/*
 * upstream_conn.c - the connection to kc-server under the calls of
 * upstream.c: dial (unix socket or numeric TCP), batched writes, reads into
 * the session, GOAWAY and retirement, close and redial with backoff
 * (100 ms doubling to 1 s). See upstream.c for what happens to calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/upstream_internal.h"

/* ---- output ---- */

/* Gathers what the session has to send and writes it; what the socket
 * does not take waits for EV_WRITE. Returns false when c was closed. */
bool kc_up_conn_flush(conn *c)
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
				kc_up_conn_close(c, "out of memory");
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
		kc_up_conn_close(c, "HTTP/2 error towards kc-server");
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
			kc_up_conn_close(c, "write to kc-server failed");
			return false;
		}
		c->woff += (size_t)w;
	}
	c->woff = c->wlen = 0;
	return true;
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
void kc_up_conn_close(conn *c, const char *why)
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
		if (!kc_up_wait_for_server(call))
			kc_up_fail_later(call);
	}
	c->pending_tail = NULL;
	event_del(c->rev);
	event_del(c->wev);
	kc_gc_fail(c->gc, KC_GRPC_UNAVAILABLE, msg);
	conn_free(c);
}

/* A connection whose session takes no new calls (GOAWAY, or retired)
 * leaves u->cur and stays until its calls are done. */
void kc_up_conn_check(conn *c)
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
		kc_up_conn_close(c, "drained");
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
			kc_up_conn_close(c, n == 0 ? "closed by kc-server" : "read failed");
			return;
		}
		if (kc_gc_recv(c->gc, u->rbuf, (size_t)n)) {
			/* Let the session's GOAWAY out before closing. */
			kc_up_conn_flush(c);
			if (!c->dead)
				kc_up_conn_close(c, "HTTP/2 protocol error from kc-server");
			return;
		}
		if ((size_t)n < READ_CHUNK)
			break;
	}
	if (kc_up_conn_flush(c))
		kc_up_conn_check(c);
}

static void on_connected(conn *c)
{
	kc_upstream *u = c->u;

	c->connected = true;
	u->backoff_ms = BACKOFF_MIN_MS;
	event_add(c->rev, NULL);
	kc_up_submit_queue(c, &c->pending, &c->pending_tail);
	kc_up_submit_queue(c, &u->waiting, &u->waiting_tail);
	/* Written from the work event: kc_up_dial() may run inside a caller's
	 * kc_upcall_start, where a failing write must not call back. */
	kc_up_schedule(u);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	(void)what;
	if (!c->connected) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			kc_up_conn_close(c, strerror(err ? err : errno));
			return;
		}
		on_connected(c);
		return;
	}
	if (kc_up_conn_flush(c))
		kc_up_conn_check(c);
}

/* Opens a connection as u->cur. A connect that fails at once closes it
 * again (its pending calls fail through the work event). */
void kc_up_dial(kc_upstream *u)
{
	conn *c;

	if (u->cur || u->freeing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->u = u;
	c->fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || kc_gc_new(&c->gc, u->authority, &kc_up_gc_callbacks, c)) {
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
		kc_up_conn_close(c, "out of memory");
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
		kc_up_conn_close(c, why);
	}
}

void kc_up_on_retry(evutil_socket_t fd, short what, void *arg)
{
	kc_upstream *u = arg;

	(void)fd;
	(void)what;
	kc_up_dial(u);
}

int kc_up_parse_target(kc_upstream *u, const char *target)
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
