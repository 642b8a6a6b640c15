/*
 * server.c - sockets: the listeners, one kc_gw_conn per client connection,
 * timeouts, the connection cap and the graceful drain. Protocol work is in
 * http1.c; this file only moves bytes between bufferevents and it.
 *
 * Listeners: the public one (gateway.listen: what the ingress and `make
 * run` expose; bearer only) and, when gateway.oauth_listen is set, the
 * identity listener that only the auth proxy reaches (a 0600 unix socket,
 * or a loopback port). A connection remembers which one accepted it; the
 * handler reads identity headers only on the second (handler.c). Both
 * share every limit and the connection cap.
 *
 * Timeouts: a connection with no request in flight is closed after
 * idle_timeout_ms; a request must arrive whole within request_timeout_ms
 * of its first byte (slowloris: trickling bytes does not extend it), or it
 * is answered 408 and the connection closed. While an answer is pending
 * the upstream deadline applies instead.
 *
 * Answers that do not drain: bytes queued for a client (the socket's
 * output, and an HTTP/2 answer waiting for the peer's window) must make
 * progress, bytes actually leaving the socket, within write_timeout_ms, or
 * the connection is closed. So a client that never reads, or advertises a
 * zero HTTP/2 window and never opens it, holds nothing for long; a slow
 * reader of a stream is fine as long as bytes move.
 *
 * Memory: each connection has a budget (max_connection_bytes) for what it
 * makes the gateway hold: unparsed input, request bodies, answers queued
 * in the protocol layer and in the socket's output. An HTTP/1.1 connection
 * past it is not read until answers drain; the HTTP/2 glue refuses new
 * work past it itself (h2.h), since it must keep reading WINDOW_UPDATEs.
 *
 * Protocols: on the plaintext port a connection that opens with HTTP/2's
 * client preface is HTTP/2 (h2c with prior knowledge); anything else is
 * HTTP/1.1, and stays so: `Upgrade: h2c` is not honoured (a proxy that
 * forwards Upgrade would carry a tunnel past its own rules). With
 * gateway.tls_cert/tls_key the port speaks TLS only, and ALPN picks `h2`
 * or `http/1.1` (the server's preference: h2); without ALPN the preface
 * decides as on the plaintext port. Both fronts (http1.c, h2.c) are
 * protocol cores without I/O behind the same callbacks below.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/h2.h"
#include "gateway/http1.h"

/* Answers a connection may have pending (pipelined requests). */
#define MAX_PIPELINE 16
/* How long a drain waits for running requests before it stops anyway. */
#define DRAIN_MS 10000
/* Unparsed input read ahead per connection (libevent stops reading there;
 * what is parsed moves into the budgeted request bodies). */
#define READ_AHEAD (256u << 10)

enum conn_proto { PROTO_UNKNOWN, PROTO_H1, PROTO_H2 };

struct kc_gw_conn {
	kc_gw *gw;
	kc_gw_conn *prev;
	kc_gw_conn *next;
	struct bufferevent *bev;
	enum conn_proto proto;
	bool tls;
	/* Accepted on the identity listener (gateway.oauth_listen). */
	bool oauth;
	kc_h1 *h1;
	kc_h2 *h2;
	struct event *timer;
	struct event *wake;
	/* Write progress: armed while answers are queued or pending; the last
	 * moment bytes left the socket or nothing was queued. */
	struct event *wtimer;
	int64_t progress_ms;
	struct evbuffer_cb_entry *out_cb;
	/* Monotonic ms when the current partial request began; 0 if none. */
	int64_t request_started;
	bool closing;
	bool in_feed;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the protocol in use, behind one set of questions ---- */

static bool conn_want_close(const kc_gw_conn *c)
{
	switch (c->proto) {
	case PROTO_H1: return kc_h1_want_close(c->h1);
	case PROTO_H2: return kc_h2_want_close(c->h2);
	default: return false;
	}
}

static bool conn_in_request(const kc_gw_conn *c)
{
	switch (c->proto) {
	case PROTO_H1: return kc_h1_in_request(c->h1);
	case PROTO_H2: return kc_h2_in_request(c->h2);
	default: return false;
	}
}

static size_t conn_pending(const kc_gw_conn *c)
{
	switch (c->proto) {
	case PROTO_H1: return kc_h1_pending(c->h1);
	case PROTO_H2: return kc_h2_pending(c->h2);
	default: return 0;
	}
}

/* Answer bytes queued for the client and not yet on the wire. */
static size_t conn_queued(const kc_gw_conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (c->proto == PROTO_H2)
		n += kc_h2_unsent(c->h2);
	return n;
}

/* What the connection makes the gateway hold (its budget). */
static size_t conn_bytes(const kc_gw_conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_input(c->bev)) +
	           evbuffer_get_length(bufferevent_get_output(c->bev));

	if (c->proto == PROTO_H1)
		n += kc_h1_buffered(c->h1);
	else if (c->proto == PROTO_H2)
		n += kc_h2_buffered(c->h2);
	return n;
}

static void conn_free(kc_gw_conn *c)
{
	kc_gw *gw = c->gw;

	if (c->prev)
		c->prev->next = c->next;
	else
		gw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	gw->n_conns--;
	kc_gw_metrics_connections(gw->metrics, -1);
	/* No more output accounting: the fronts are freed below. */
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	/* Aborts pending exchanges: the handler cancels their upstream calls. */
	kc_h1_free(c->h1);
	c->h1 = NULL;
	kc_h2_free(c->h2);
	c->h2 = NULL;
	if (c->timer)
		event_free(c->timer);
	if (c->wake)
		event_free(c->wake);
	if (c->wtimer)
		event_free(c->wtimer);
	bufferevent_free(c->bev);
	free(c);
	if (gw->draining && !gw->conns)
		event_base_loopexit(gw->base, NULL);
}

static void arm_timer(kc_gw_conn *c)
{
	kc_gw *gw = c->gw;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int64_t deadline;
	int64_t wait;
	struct timeval tv;

	if (conn_in_request(c) || evbuffer_get_length(in) || c->proto == PROTO_UNKNOWN) {
		if (!c->request_started)
			c->request_started = now_ms();
		deadline = c->request_started + gw->cfg.request_timeout_ms;
	} else if (conn_pending(c)) {
		c->request_started = 0;
		event_del(c->timer);
		return;
	} else {
		c->request_started = 0;
		deadline = now_ms() + gw->cfg.idle_timeout_ms;
	}
	wait = deadline - now_ms();
	if (wait < 0)
		wait = 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	event_add(c->timer, &tv);
}

/* Closes when the front is done and every byte is out. True if freed. */
static bool maybe_close(kc_gw_conn *c)
{
	if (!conn_want_close(c))
		return false;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_free(c);
		return true;
	}
	/* Stop reading; the write callback closes once the output drained. */
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	return false;
}

static void conn_request(kc_exchange *ex, void *ud)
{
	kc_gw_conn *c = ud;

	kc_gw_handle(c->gw, ex);
}

static void conn_abort(kc_exchange *ex, void *ud)
{
	kc_gw_conn *c = ud;

	kc_gw_abort(c->gw, ex);
}

static int conn_send(const void *data, size_t len, void *ud)
{
	kc_gw_conn *c = ud;

	return bufferevent_write(c->bev, data, len) ? KC_ERR_NOMEM : 0;
}

static void release_shared(const void *data, size_t len, void *extra)
{
	(void)data;
	(void)len;
	kc_shared_body_unref(extra);
}

/* The body joins the output by reference: 64 clients of one list answer
 * cost one rendering and no copies (a copy each was a 28 KB malloc, memcpy
 * and page faults per request). */
static int conn_send_shared(kc_shared_body *body, void *ud)
{
	kc_gw_conn *c = ud;

	kc_shared_body_ref(body);
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), kc_shared_body_data(body), kc_shared_body_len(body),
	                           release_shared, body)) {
		kc_shared_body_unref(body);
		return KC_ERR_NOMEM;
	}
	return 0;
}

static void conn_wake(void *ud)
{
	kc_gw_conn *c = ud;

	/* Deferred: the caller is inside the handler, which is inside a
	 * callback of ours or of the upstream. */
	event_active(c->wake, EV_TIMEOUT, 0);
}

static size_t conn_backlog(void *ud)
{
	kc_gw_conn *c = ud;

	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static int start_h1(kc_gw_conn *c)
{
	kc_h1_limits lim;
	kc_h1_callbacks cb = {conn_request, conn_abort, conn_send, conn_send_shared, conn_wake, conn_backlog};

	lim.max_header_bytes = c->gw->cfg.max_header_bytes;
	lim.max_body_bytes = c->gw->cfg.max_body_bytes;
	lim.max_pipeline = MAX_PIPELINE;
	lim.max_buffered_bytes = c->gw->cfg.max_connection_bytes;
	if (kc_h1_new(&c->h1, &lim, &cb, c))
		return KC_ERR_NOMEM;
	c->proto = PROTO_H1;
	return 0;
}

static int start_h2(kc_gw_conn *c)
{
	kc_h2_limits lim;
	kc_h2_callbacks cb = {conn_request, conn_abort, conn_send, conn_wake, conn_backlog};

	lim.max_header_bytes = c->gw->cfg.max_header_bytes;
	lim.max_body_bytes = c->gw->cfg.max_body_bytes;
	lim.max_concurrent_streams = (uint32_t)c->gw->cfg.max_streams;
	lim.max_buffered_bytes = c->gw->cfg.max_connection_bytes;
	if (kc_h2_new(&c->h2, &lim, &cb, c))
		return KC_ERR_NOMEM;
	c->proto = PROTO_H2;
	return 0;
}

/* Picks the protocol from ALPN or the first bytes. False: not yet known. */
static bool choose_protocol(kc_gw_conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);
	size_t n = len < KC_H2_PREFACE_LEN ? len : KC_H2_PREFACE_LEN;
	const uint8_t *p;
	int rc;

	if (c->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		const unsigned char *alpn = NULL;
		unsigned int alen = 0;

		SSL_get0_alpn_selected(ssl, &alpn, &alen);
		if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
			rc = start_h2(c);
			goto out;
		}
		if (alen) {
			rc = start_h1(c);
			goto out;
		}
	}
	if (!n)
		return false;
	p = evbuffer_pullup(in, (ev_ssize_t)n);
	if (memcmp(p, KC_H2_PREFACE, n) != 0)
		rc = start_h1(c);
	else if (n == KC_H2_PREFACE_LEN)
		rc = start_h2(c);
	else
		return false;
out:
	if (rc) {
		c->closing = true;
		return false;
	}
	return true;
}

/* Back-pressure: an HTTP/1.1 peer past its byte budget (answers it does
 * not read, bodies of requests still pending) is not read until that
 * drains; but only while something will drain, or a request whose body
 * alone passes the budget would never complete (max_body_bytes bounds
 * that one). HTTP/2 keeps reading (WINDOW_UPDATEs arrive that way); h2.c
 * refuses new work past the budget instead. */
static bool over_budget(const kc_gw_conn *c)
{
	if (conn_bytes(c) <= (size_t)c->gw->cfg.max_connection_bytes)
		return false;
	return conn_pending(c) || evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void update_reading(kc_gw_conn *c)
{
	bool on = bufferevent_get_enabled(c->bev) & EV_READ;

	if (c->closing || c->gw->draining)
		return;
	if (c->proto == PROTO_H1 && over_budget(c)) {
		if (on)
			bufferevent_disable(c->bev, EV_READ);
	} else if (!on) {
		bufferevent_enable(c->bev, EV_READ);
	}
}

/* ---- write progress ---- */

/* The write-progress check runs every quarter of write_timeout_ms while
 * answers are pending or queued; a connection is closed once its queue
 * has been non-empty with no byte leaving for write_timeout_ms plus one
 * check (so never earlier than write_timeout_ms, whatever moment between
 * two checks the queue began). */
static int64_t write_tick(const kc_gw_conn *c)
{
	int64_t t = c->gw->cfg.write_timeout_ms / 4;

	return t > 0 ? t : 1;
}

static void add_ms(struct event *ev, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(ev, &tv);
}

/* Starts the check when something may come to be queued. */
static void watch_writes(kc_gw_conn *c)
{
	if (event_pending(c->wtimer, EV_TIMEOUT, NULL))
		return;
	if (!conn_pending(c) && !conn_queued(c))
		return;
	c->progress_ms = now_ms();
	add_ms(c->wtimer, write_tick(c));
}

static void on_write_check(evutil_socket_t fd, short what, void *arg)
{
	kc_gw_conn *c = arg;
	int64_t now = now_ms();
	size_t queued = conn_queued(c);
	char n[32];

	(void)fd;
	(void)what;
	if (!queued) {
		c->progress_ms = now;
	} else if (now - c->progress_ms >= c->gw->cfg.write_timeout_ms + write_tick(c)) {
		snprintf(n, sizeof(n), "%zu", queued);
		kc_log(KC_LOG_INFO, "closing a connection whose answers do not drain", "queued_bytes", n, NULL);
		conn_free(c);
		return;
	}
	if (queued || conn_pending(c))
		add_ms(c->wtimer, write_tick(c));
}

/* The socket's output: bytes leaving are progress; bytes added to an empty
 * queue start a new wait. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	kc_gw_conn *c = arg;

	(void)buf;
	if (info->n_deleted || (info->n_added && !info->orig_size && !(c->proto == PROTO_H2 && kc_h2_unsent(c->h2))))
		c->progress_ms = now_ms();
	if (info->n_added)
		watch_writes(c);
}

static void feed(kc_gw_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->in_feed)
		return;
	c->in_feed = true;
	if (c->proto == PROTO_UNKNOWN && !choose_protocol(c, in)) {
		c->in_feed = false;
		if (c->closing) {
			conn_free(c);
			return;
		}
		arm_timer(c);
		return;
	}
	while (evbuffer_get_length(in) && !conn_want_close(c)) {
		size_t len;
		const uint8_t *data;
		size_t n;

		/* HTTP/1.1 past its budget is read again once answers drain
		 * (update_reading); the input stays where it is meanwhile. */
		if (c->proto == PROTO_H1 && over_budget(c))
			break;
		len = evbuffer_get_length(in);
		data = evbuffer_pullup(in, -1);
		if (c->proto == PROTO_H2) {
			if (kc_h2_recv(c->h2, data, len))
				kc_h2_fail(c->h2);
			n = len;
		} else {
			n = kc_h1_recv(c->h1, data, len);
		}
		evbuffer_drain(in, n);
		if (c->request_started && !conn_in_request(c))
			c->request_started = 0;
		if (n == 0 && c->proto == PROTO_H1)
			break;
	}
	c->in_feed = false;
	if (maybe_close(c))
		return;
	update_reading(c);
	watch_writes(c);
	arm_timer(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	feed(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	kc_gw_conn *c = arg;

	(void)bev;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
		return;
	}
	if (c->proto == PROTO_H2) {
		kc_h2_flush(c->h2);
		maybe_close(c);
		return;
	}
	/* The output drained: input held back by the budget (pipelined
	 * requests already read) is fed now, and reading resumes. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		feed(c);
	else
		update_reading(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	kc_gw_conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	kc_gw_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->proto == PROTO_UNKNOWN) {
		conn_free(c);
		return;
	}
	if (c->request_started) {
		kc_log(KC_LOG_INFO, "request timed out before it was complete", NULL);
		if (c->proto == PROTO_H1)
			kc_h1_fail(c->h1, 408, "request timeout");
		else
			kc_h2_fail(c->h2);
		maybe_close(c);
		return;
	}
	if (!conn_pending(c))
		conn_free(c);
}

static void on_wake_event(evutil_socket_t fd, short what, void *arg)
{
	kc_gw_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->gw->draining && !conn_pending(c) && c->proto != PROTO_H2) {
		conn_free(c);
		return;
	}
	/* The HTTP/2 glue asks for a wake after it ended its session (an
	 * answer past the budget): flush its GOAWAY and close. */
	if (c->proto == PROTO_H2) {
		kc_h2_flush(c->h2);
		if (maybe_close(c))
			return;
	}
	feed(c);
}

/* Past max_connections (or while draining): a well-formed 503 written
 * straight to the socket, best effort (never waits: the answer fits any
 * socket buffer), then the connection closes. Not on a TLS listener,
 * which would need a handshake first. */
static void refuse(kc_gw *gw, evutil_socket_t fd, bool tls)
{
	const char *body = gw->draining ? "{\"error\":\"the gateway is shutting down\"}\n"
	                                : "{\"error\":\"too many connections\"}\n";
	char answer[256];
	int n = snprintf(answer, sizeof(answer),
	                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                 strlen(body), body);

	if (!tls && n > 0 && (size_t)n < sizeof(answer) &&
	    send(fd, answer, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		(void)0;
	evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	kc_gw *gw = arg;
	kc_gw_conn *c;
	int one = 1;
	/* The identity listener is pod-local plaintext; TLS is the public
	 * port's. */
	bool oauth = l == gw->oauth_listener;
	void *ssl_ctx = oauth ? NULL : gw->ssl_ctx;

	(void)salen;
	if (gw->n_conns >= gw->cfg.max_connections || gw->draining) {
		refuse(gw, fd, ssl_ctx != NULL);
		return;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->gw = gw;
	c->oauth = oauth;
	if (ssl_ctx) {
		SSL *ssl = SSL_new(ssl_ctx);

		c->tls = true;
		if (ssl)
			c->bev = bufferevent_openssl_socket_new(gw->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
			                                        BEV_OPT_CLOSE_ON_FREE);
		if (ssl && !c->bev)
			SSL_free(ssl);
	} else {
		c->bev = bufferevent_socket_new(gw->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	c->timer = evtimer_new(gw->base, on_timer, c);
	c->wake = event_new(gw->base, -1, 0, on_wake_event, c);
	c->wtimer = evtimer_new(gw->base, on_write_check, c);
	if (c->bev)
		c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), on_output, c);
	if (!c->bev || !c->timer || !c->wake || !c->wtimer || !c->out_cb) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		if (c->wake)
			event_free(c->wake);
		if (c->wtimer)
			event_free(c->wtimer);
		free(c);
		return;
	}
	c->next = gw->conns;
	if (gw->conns)
		gw->conns->prev = c;
	gw->conns = c;
	gw->n_conns++;
	kc_gw_metrics_connections(gw->metrics, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_AHEAD);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	arm_timer(c);
}

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	kc_gw *gw = arg;

	(void)fd;
	(void)what;
	kc_log(KC_LOG_WARN, "drain timed out; closing the remaining connections", NULL);
	event_base_loopexit(gw->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	kc_gw *gw = arg;
	kc_gw_conn *c;
	kc_gw_conn *next;
	struct timeval tv = {DRAIN_MS / 1000, 0};

	(void)what;
	if (gw->draining) {
		/* A second signal: stop now. */
		event_base_loopexit(gw->base, NULL);
		return;
	}
	kc_log(KC_LOG_INFO, "draining", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	gw->draining = true;
	evconnlistener_disable(gw->listener);
	if (gw->oauth_listener)
		evconnlistener_disable(gw->oauth_listener);
	/* Streams never end by themselves: end them cleanly now. */
	kc_gw_drain_requests(gw);
	for (c = gw->conns; c; c = next) {
		next = c->next;
		if (c->proto == PROTO_H1)
			kc_h1_shutdown(c->h1);
		else if (c->proto == PROTO_H2)
			kc_h2_shutdown(c->h2);
		if (c->proto == PROTO_UNKNOWN || (c->proto == PROTO_H1 && !kc_h1_pending(c->h1)))
			conn_free(c);
		else if (c->proto == PROTO_H2)
			maybe_close(c);
	}
	if (!gw->conns) {
		event_base_loopexit(gw->base, NULL);
		return;
	}
	gw->drain_timer = evtimer_new(gw->base, drain_timeout, gw);
	if (gw->drain_timer)
		event_add(gw->drain_timer, &tv);
}

/* ALPN: h2 first, then http/1.1; a client offering neither goes on
 * without ALPN (the preface decides). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int tls_setup(kc_gw *gw)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	if (!ctx)
		return KC_ERR_NOMEM;
	/* HTTP/2 over TLS needs TLS 1.2 or later (RFC 9113 §9.2). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* TLS 1.2 suites HTTP/2 allows (RFC 9113 §9.2.2: ephemeral key
	 * exchange, AEAD); TLS 1.3's own suites are all fine. */
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	if (SSL_CTX_use_certificate_chain_file(ctx, gw->cfg.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, gw->cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		kc_log(KC_LOG_ERROR, "cannot load the TLS certificate or key", "cert", gw->cfg.tls_cert, "key",
		       gw->cfg.tls_key, "error", why, NULL);
		SSL_CTX_free(ctx);
		return KC_ERR_INVALID;
	}
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	gw->ssl_ctx = ctx;
	return 0;
}

/* "host:port" (or "[v6]:port", "localhost:port") as a socket address. */
static int listen_addr(const char *listen, struct sockaddr_storage *ss, int *sslen)
{
	char host[256];
	int port;

	if (kc_gw_parse_listen(listen, host, sizeof(host), &port))
		return KC_ERR_INVALID;
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return KC_ERR_INVALID;
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return KC_ERR_INVALID;
		*sslen = sizeof(*s4);
	}
	return 0;
}

/*
 * The identity listener on a unix socket: its directory is made 0700 when
 * missing (an existing one, such as a pod's emptyDir shared with the
 * proxy's container only, is left as it is), and the socket is 0600 from
 * the moment it exists (bound under umask 0177), so only this uid can
 * connect. A socket file left by a gateway that died is replaced; one a
 * live gateway still answers on is not (two gateways never share it).
 */
static int listen_unix(kc_gw *gw, const char *path)
{
	struct sockaddr_un sun;
	char dir[sizeof(sun.sun_path)];
	char *slash;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) || strlen(path) >= sizeof(gw->oauth_socket))
		return KC_ERR_INVALID;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			kc_log(KC_LOG_ERROR, "cannot make the oauth socket's directory", "dir", dir, "error",
			       strerror(errno), NULL);
			return KC_ERR_IO;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kc_log(KC_LOG_ERROR, "oauth_listen names a file that is not a socket", "path", path, NULL);
			return KC_ERR_INVALID;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			kc_log(KC_LOG_ERROR, "another process listens on the oauth socket", "path", path, NULL);
			return KC_ERR_IO;
		}
		if (fd >= 0)
			close(fd);
		unlink(path);
	}
	old = umask(0177);
	gw->oauth_listener =
	    evconnlistener_new_bind(gw->base, on_accept, gw, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
	                            (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!gw->oauth_listener) {
		kc_log(KC_LOG_ERROR, "cannot listen on the oauth socket", "path", path, "error", strerror(errno), NULL);
		return KC_ERR_IO;
	}
	snprintf(gw->oauth_socket, sizeof(gw->oauth_socket), "%s", path);
	/* Not loosened by a umask that was stricter, nor by one that was not. */
	chmod(path, 0600);
	return 0;
}

static int listen_oauth(kc_gw *gw)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	if (!gw->cfg.oauth_listen[0])
		return 0;
	if (strncmp(gw->cfg.oauth_listen, "unix:", 5) == 0)
		return listen_unix(gw, gw->cfg.oauth_listen + 5);
	if (listen_addr(gw->cfg.oauth_listen, &ss, &sslen))
		return KC_ERR_INVALID;
	gw->oauth_listener = evconnlistener_new_bind(gw->base, on_accept, gw,
	                                             LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                             128, (struct sockaddr *)&ss, sslen);
	if (!gw->oauth_listener) {
		kc_log(KC_LOG_ERROR, "cannot listen on oauth_listen", "listen", gw->cfg.oauth_listen, "error",
		       strerror(errno), NULL);
		return KC_ERR_IO;
	}
	return 0;
}

int kc_gw_start(kc_gw *gw)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	if (listen_addr(gw->cfg.listen, &ss, &sslen))
		return KC_ERR_INVALID;
	if (gw->cfg.tls_cert[0] && tls_setup(gw))
		return KC_ERR_INVALID;
	gw->listener = evconnlistener_new_bind(gw->base, on_accept, gw,
	                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	                                       (struct sockaddr *)&ss, sslen);
	if (!gw->listener)
		return KC_ERR_IO;
	if (listen_oauth(gw))
		return KC_ERR_IO;
	gw->sig_term = evsignal_new(gw->base, SIGTERM, on_signal, gw);
	gw->sig_int = evsignal_new(gw->base, SIGINT, on_signal, gw);
	if (gw->sig_term)
		event_add(gw->sig_term, NULL);
	if (gw->sig_int)
		event_add(gw->sig_int, NULL);
	return 0;
}

void kc_gw_stop(kc_gw *gw)
{
	while (gw->conns)
		conn_free(gw->conns);
	if (gw->listener)
		evconnlistener_free(gw->listener);
	if (gw->oauth_listener)
		evconnlistener_free(gw->oauth_listener);
	gw->oauth_listener = NULL;
	if (gw->oauth_socket[0])
		unlink(gw->oauth_socket);
	gw->oauth_socket[0] = '\0';
	if (gw->drain_timer)
		event_free(gw->drain_timer);
	if (gw->sig_term)
		event_free(gw->sig_term);
	if (gw->sig_int)
		event_free(gw->sig_int);
	if (gw->ssl_ctx)
		SSL_CTX_free(gw->ssl_ctx);
	gw->ssl_ctx = NULL;
}

int kc_gw_bound_port(const kc_gw *gw)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evconnlistener_get_fd(gw->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int kc_gw_oauth_bound_port(const kc_gw *gw)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!gw->oauth_listener || gw->oauth_socket[0])
		return 0;
	if (getsockname(evconnlistener_get_fd(gw->oauth_listener), (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

bool kc_gw_conn_trusts_identity(const kc_gw_conn *c)
{
	return c && c->oauth;
}
