/*
 * server.c - client connections: one kc_gw_conn per accepted socket, the
 * protocol it speaks, timeouts, the byte budget and the drain of each.
 * Protocol work is in http1.c and h2.c; this file only moves bytes
 * between bufferevents and them. The listeners, TLS setup and signals are
 * listen.c's.
 *
 * A connection remembers which listener accepted it; the handler reads
 * identity headers only on the identity listener's (handler.c).
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/h2.h"
#include "gateway/http1.h"
#include "gateway/server.h"

/* Answers a connection may have pending (pipelined requests). */
#define MAX_PIPELINE 16
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
	case PROTO_H1:
		return kc_h1_want_close(c->h1);
	case PROTO_H2:
		return kc_h2_want_close(c->h2);
	default:
		return false;
	}
}

static bool conn_in_request(const kc_gw_conn *c)
{
	switch (c->proto) {
	case PROTO_H1:
		return kc_h1_in_request(c->h1);
	case PROTO_H2:
		return kc_h2_in_request(c->h2);
	default:
		return false;
	}
}

static size_t conn_pending(const kc_gw_conn *c)
{
	switch (c->proto) {
	case PROTO_H1:
		return kc_h1_pending(c->h1);
	case PROTO_H2:
		return kc_h2_pending(c->h2);
	default:
		return 0;
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
	size_t n =
	    evbuffer_get_length(bufferevent_get_input(c->bev)) + evbuffer_get_length(bufferevent_get_output(c->bev));

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

int kc_gw_conn_accept(kc_gw *gw, evutil_socket_t fd, int family, bool oauth)
{
	kc_gw_conn *c;
	int one = 1;
	/* The identity listener is pod-local plaintext; TLS is the public
	 * port's. */
	void *ssl_ctx = oauth ? NULL : gw->ssl_ctx;

	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return KC_ERR_NOMEM;
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
		return KC_ERR_NOMEM;
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
	return 0;
}

void kc_gw_conns_drain(kc_gw *gw)
{
	kc_gw_conn *c;
	kc_gw_conn *next;

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
}

void kc_gw_conns_close(kc_gw *gw)
{
	while (gw->conns)
		conn_free(gw->conns);
}

bool kc_gw_conn_trusts_identity(const kc_gw_conn *c)
{
	return c && c->oauth;
}
