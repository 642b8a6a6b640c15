/*
 * grpc_client.c - see grpc_client.h. nghttp2 keeps the HTTP/2 state
 * (HPACK, windows, stream states, SETTINGS); this file adds gRPC's
 * framing and status rules on top, per stream.
 */
#include "gateway/grpc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/kc_error.h"
#include "common/percent.h"

#define MAX_MD 8
/* The connection window: bytes are handed on (or parked by a paused
 * stream, at most its own window) as they arrive, so this only needs to
 * keep the pipe full for several large answers at once. */
#define CONN_WINDOW (16u << 20)

struct kc_gc_stream {
	kc_gc *g;
	kc_gc_stream *prev;
	kc_gc_stream *next;
	int32_t id;
	/* The caller's call; NULL once cancelled or ended. */
	void *call;
	/* The request: 5-byte prefix + message, sent by the data source. */
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	/* Received bytes not yet handed on (a partial message, or messages
	 * held while paused). */
	uint8_t *rx;
	size_t rx_len;
	size_t rx_cap;
	/* Bytes received while paused whose window is still closed. */
	size_t unconsumed;
	int http_status;
	int grpc_status; /* -1 until a grpc-status header */
	char *grpc_message;
	bool headers_seen;
	bool paused;
	bool delivering;
	/* nghttp2 closed the stream while messages were held: the status is
	 * reported after the last of them. */
	bool closed;
	int close_status;
	bool close_refused;
	char close_message[96];
};

struct kc_gc {
	nghttp2_session *s;
	kc_gc_callbacks cb;
	void *ud;
	char authority[128];
	kc_gc_stream *streams;
	size_t n_open;
	bool failed;
};

static void stream_unlink(kc_gc_stream *st)
{
	kc_gc *g = st->g;

	if (st->prev)
		st->prev->next = st->next;
	else if (g->streams == st)
		g->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->prev = st->next = NULL;
}

static void stream_free(kc_gc_stream *st)
{
	stream_unlink(st);
	st->g->n_open--;
	free(st->out);
	free(st->rx);
	free(st->grpc_message);
	free(st);
}

/* Reports the end of the call once; the stream stays for nghttp2. */
static void stream_end(kc_gc_stream *st, int status, const char *message, bool refused)
{
	void *call = st->call;

	if (!call)
		return;
	st->call = NULL;
	st->g->cb.on_done(call, status, message ? message : "", refused, st->g->ud);
}

/* Ends the call with an error of ours and resets the stream. */
static void stream_abort(kc_gc_stream *st, int status, const char *message)
{
	stream_end(st, status, message, false);
	if (st->id > 0 && !st->closed)
		nghttp2_submit_rst_stream(st->g->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands on the complete messages at the start of p[0..n) while the call
 * wants them; returns the bytes used. */
static size_t deliver(kc_gc_stream *st, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (st->call && !st->paused && n - off >= 5) {
		uint32_t len = be32(p + off + 1);

		if (p[off] != 0) {
			/* We advertise no grpc-accept-encoding, so a compressed
			 * message is the server's error. */
			stream_abort(st, KC_GRPC_INTERNAL, "compressed message without negotiated encoding");
			break;
		}
		if (len > KC_GC_MAX_MESSAGE) {
			stream_abort(st, KC_GRPC_RESOURCE_EXHAUSTED, "message larger than the gateway accepts");
			break;
		}
		if (n - off - 5 < len)
			break;
		st->g->cb.on_message(st->call, p + off + 5, len, st->g->ud);
		off += 5 + (size_t)len;
	}
	return off;
}

static int rx_append(kc_gc_stream *st, const uint8_t *p, size_t n)
{
	if (st->rx_cap - st->rx_len < n) {
		size_t cap = st->rx_cap ? st->rx_cap : 4096;
		uint8_t *q;

		while (cap - st->rx_len < n)
			cap *= 2;
		q = realloc(st->rx, cap);
		if (!q)
			return KC_ERR_NOMEM;
		st->rx = q;
		st->rx_cap = cap;
	}
	memcpy(st->rx + st->rx_len, p, n);
	st->rx_len += n;
	return 0;
}

/* Delivers what is buffered; drops the used bytes. */
static void deliver_buffered(kc_gc_stream *st)
{
	size_t used;

	if (!st->rx_len)
		return;
	st->delivering = true;
	used = deliver(st, st->rx, st->rx_len);
	st->delivering = false;
	if (used) {
		memmove(st->rx, st->rx + used, st->rx_len - used);
		st->rx_len -= used;
	}
}

static bool held_messages(const kc_gc_stream *st)
{
	return st->rx_len >= 5 && st->rx_len - 5 >= be32(st->rx + 1);
}

/* ---- nghttp2 callbacks ---- */

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	kc_gc_stream *st = nghttp2_session_get_stream_user_data(s, id);
	size_t used = 0;

	(void)flags;
	(void)ud;
	nghttp2_session_consume_connection(s, len);
	if (!st || !st->call) {
		nghttp2_session_consume_stream(s, id, len);
		return 0;
	}
	if (st->paused)
		st->unconsumed += len;
	else
		nghttp2_session_consume_stream(s, id, len);
	st->delivering = true;
	/* The common case (nothing buffered): messages straight from the
	 * frame, only a trailing partial one is copied. */
	if (!st->rx_len)
		used = deliver(st, data, len);
	st->delivering = false;
	if (st->call && used < len) {
		if (rx_append(st, data + used, len - used)) {
			stream_abort(st, KC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return 0;
		}
		if (used == 0)
			deliver_buffered(st);
	}
	return 0;
}

/* grpc-message is percent-encoded; a bad escape is kept as it is. */
static char *percent_decode(const uint8_t *v, size_t n)
{
	char *out = malloc(n + 1);
	size_t i;
	size_t o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (v[i] == '%' && i + 2 < n && kc_hex_digit((char)v[i + 1]) >= 0 &&
		    kc_hex_digit((char)v[i + 2]) >= 0) {
			out[o++] = (char)(kc_hex_digit((char)v[i + 1]) << 4 | kc_hex_digit((char)v[i + 2]));
			i += 2;
		} else {
			out[o++] = (char)v[i];
		}
	}
	out[o] = '\0';
	return out;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	kc_gc_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);

	(void)flags;
	(void)ud;
	if (!st || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st->headers_seen = true;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		int v = 0;
		size_t i;

		for (i = 0; i < valuelen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++)
			v = v * 10 + (value[i] - '0');
		st->http_status = v;
	} else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		int v = 0;
		size_t i;

		for (i = 0; i < valuelen && i < 4 && value[i] >= '0' && value[i] <= '9'; i++)
			v = v * 10 + (value[i] - '0');
		/* Not a number: UNKNOWN, as gRPC reads it. */
		st->grpc_status = i == valuelen && valuelen > 0 ? v : KC_GRPC_UNKNOWN;
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		free(st->grpc_message);
		st->grpc_message = percent_decode(value, valuelen);
	}
	return 0;
}

/* gRPC's mapping of an HTTP status without grpc-status. */
static int status_from_http(int http)
{
	switch (http) {
	case 400:
		return KC_GRPC_INTERNAL;
	case 401:
		return KC_GRPC_UNAUTHENTICATED;
	case 403:
		return KC_GRPC_PERMISSION_DENIED;
	case 404:
		return KC_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return KC_GRPC_UNAVAILABLE;
	default:
		return KC_GRPC_UNKNOWN;
	}
}

static void close_status(kc_gc_stream *st, uint32_t error_code)
{
	st->close_refused = false;
	st->close_message[0] = '\0';
	if (error_code == NGHTTP2_NO_ERROR && st->grpc_status >= 0) {
		st->close_status = st->grpc_status;
		return;
	}
	if (error_code == NGHTTP2_NO_ERROR && st->http_status && st->http_status != 200) {
		st->close_status = status_from_http(st->http_status);
		snprintf(st->close_message, sizeof(st->close_message), "HTTP status %d from kc-server",
		         st->http_status);
	} else if (error_code == NGHTTP2_NO_ERROR) {
		st->close_status = KC_GRPC_INTERNAL;
		snprintf(st->close_message, sizeof(st->close_message), "kc-server ended the stream without a status");
	} else if (error_code == NGHTTP2_REFUSED_STREAM) {
		st->close_status = KC_GRPC_UNAVAILABLE;
		st->close_refused = !st->headers_seen;
		snprintf(st->close_message, sizeof(st->close_message), "stream refused by kc-server");
	} else if (error_code == NGHTTP2_CANCEL) {
		st->close_status = KC_GRPC_CANCELLED;
		snprintf(st->close_message, sizeof(st->close_message), "stream cancelled by kc-server");
	} else {
		st->close_status = KC_GRPC_INTERNAL;
		snprintf(st->close_message, sizeof(st->close_message), "stream reset by kc-server (HTTP/2 error %u)",
		         error_code);
	}
}

static void finish_closed(kc_gc_stream *st)
{
	const char *msg = st->close_message[0] ? st->close_message : st->grpc_message;

	/* A partial message left over: the answer was cut short. */
	if (st->close_status == KC_GRPC_OK && st->rx_len)
		stream_end(st, KC_GRPC_INTERNAL, "kc-server ended the stream inside a message", false);
	else
		stream_end(st, st->close_status, msg, st->close_refused);
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	kc_gc_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)ud;
	if (!st)
		return 0;
	st->closed = true;
	close_status(st, error_code);
	if (st->call && st->paused && held_messages(st))
		return 0; /* reported once the held messages went (kc_gc_pause) */
	finish_closed(st);
	stream_free(st);
	return 0;
}

/* A request nghttp2 did not send (its stream was cancelled while queued
 * behind the server's stream cap, or the session is going away): no
 * stream was opened, so on_stream_close will not come. */
static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *frame, int lib_error_code, void *ud)
{
	kc_gc *g = ud;
	kc_gc_stream *st;

	(void)s;
	(void)lib_error_code;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	for (st = g->streams; st; st = st->next)
		if (st->id == frame->hd.stream_id)
			break;
	if (!st || nghttp2_session_find_stream(g->s, st->id))
		return 0;
	stream_end(st, KC_GRPC_UNAVAILABLE, "the request could not be sent to kc-server", true);
	stream_free(st);
	return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *ud)
{
	kc_gc_stream *st = source->ptr;
	size_t n = st->out_len - st->out_off;

	(void)s;
	(void)id;
	(void)ud;
	if (n > length)
		n = length;
	memcpy(buf, st->out + st->out_off, n);
	st->out_off += n;
	if (st->out_off == st->out_len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		free(st->out);
		st->out = NULL;
	}
	return (ssize_t)n;
}

/* ---- API ---- */

int kc_gc_new(kc_gc **out, const char *authority, const kc_gc_callbacks *cb, void *user_data)
{
	kc_gc *g = calloc(1, sizeof(*g));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[3] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, KC_GC_STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64u << 10},
	};
	int rc = KC_ERR_NOMEM;

	if (!g)
		return KC_ERR_NOMEM;
	g->cb = *cb;
	g->ud = user_data;
	snprintf(g->authority, sizeof(g->authority), "%s", authority && *authority ? authority : "localhost");
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt))
		goto out;
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	/* Windows are reopened by hand (see the header: pausing). */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* Until the server's SETTINGS arrive, assume a modest stream cap
	 * rather than nghttp2's unlimited default. */
	nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
	if (nghttp2_session_client_new2(&g->s, cbs, g, opt))
		goto out;
	if (nghttp2_submit_settings(g->s, NGHTTP2_FLAG_NONE, iv, 3) ||
	    nghttp2_session_set_local_window_size(g->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW))
		goto out;
	rc = 0;
out:
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	if (rc) {
		if (g->s)
			nghttp2_session_del(g->s);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void kc_gc_free(kc_gc *g)
{
	if (!g)
		return;
	/* nghttp2_session_del calls no callbacks. */
	nghttp2_session_del(g->s);
	while (g->streams)
		stream_free(g->streams);
	free(g);
}

/* gRPC's rule for metadata values (not -bin keys): printable ASCII. */
static bool md_ok(const char *name, const char *value)
{
	const char *p;

	if (!*name)
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	for (p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
	return true;
}

#define NV(n, v, vl) ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME})

int kc_gc_call(kc_gc *g, const char *method, const kc_header *md, size_t n_md, const void *req, size_t len,
               int64_t timeout_ms, void *call, kc_gc_stream **out)
{
	nghttp2_nv nv[8 + MAX_MD];
	nghttp2_data_provider prd;
	kc_gc_stream *st;
	char timeout[24];
	size_t n = 0;
	size_t i;
	int32_t id;

	if (n_md > MAX_MD || len > KC_GC_MAX_MESSAGE)
		return KC_ERR_INVALID;
	for (i = 0; i < n_md; i++)
		if (!md_ok(md[i].name, md[i].value))
			return KC_ERR_INVALID;
	if (!kc_gc_usable(g))
		return KC_ERR_UNAVAILABLE;
	st = calloc(1, sizeof(*st));
	if (!st)
		return KC_ERR_NOMEM;
	st->out = malloc(5 + len);
	if (!st->out) {
		free(st);
		return KC_ERR_NOMEM;
	}
	st->out[0] = 0;
	st->out[1] = (uint8_t)(len >> 24);
	st->out[2] = (uint8_t)(len >> 16);
	st->out[3] = (uint8_t)(len >> 8);
	st->out[4] = (uint8_t)len;
	if (len)
		memcpy(st->out + 5, req, len);
	st->out_len = 5 + len;
	st->g = g;
	st->call = call;
	st->grpc_status = -1;

	nv[n++] = NV(":method", "POST", 4);
	nv[n++] = NV(":scheme", "http", 4);
	nv[n++] = NV(":path", method, strlen(method));
	nv[n++] = NV(":authority", g->authority, strlen(g->authority));
	nv[n++] = NV("content-type", "application/grpc", 16);
	nv[n++] = NV("te", "trailers", 8);
	if (timeout_ms > 0) {
		/* At most 8 digits (gRPC's wire rule): seconds past that. */
		if (timeout_ms <= 99999999)
			snprintf(timeout, sizeof(timeout), "%lldm", (long long)timeout_ms);
		else
			snprintf(timeout, sizeof(timeout), "%lldS", (long long)(timeout_ms / 1000));
		nv[n++] = NV("grpc-timeout", timeout, strlen(timeout));
	}
	for (i = 0; i < n_md; i++)
		nv[n++] = (nghttp2_nv){(uint8_t *)md[i].name, (uint8_t *)md[i].value, strlen(md[i].name),
		                       strlen(md[i].value), NGHTTP2_NV_FLAG_NONE};
	prd.source.ptr = st;
	prd.read_callback = read_request;
	/* nghttp2 copies the header block now; the body is read when sent. */
	id = nghttp2_submit_request(g->s, NULL, nv, n, &prd, st);
	if (id < 0) {
		free(st->out);
		free(st);
		return id == NGHTTP2_ERR_NOMEM ? KC_ERR_NOMEM : KC_ERR_UNAVAILABLE;
	}
	st->id = id;
	st->next = g->streams;
	if (g->streams)
		g->streams->prev = st;
	g->streams = st;
	g->n_open++;
	*out = st;
	return 0;
}

void kc_gc_cancel(kc_gc *g, kc_gc_stream *st)
{
	if (!st || !st->call)
		return;
	st->call = NULL;
	if (st->closed) {
		/* Held after nghttp2 closed it: nothing left on the wire. */
		if (!st->delivering)
			stream_free(st);
		return;
	}
	nghttp2_submit_rst_stream(g->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
}

void kc_gc_pause(kc_gc *g, kc_gc_stream *st, bool paused)
{
	if (!st || !st->call || st->paused == paused)
		return;
	st->paused = paused;
	if (paused)
		return;
	if (st->unconsumed && !st->closed)
		nghttp2_session_consume_stream(g->s, st->id, st->unconsumed);
	st->unconsumed = 0;
	deliver_buffered(st);
	if (st->closed && (!st->call || !st->paused || !held_messages(st))) {
		finish_closed(st);
		stream_free(st);
	}
}

int kc_gc_recv(kc_gc *g, const uint8_t *data, size_t len)
{
	ssize_t n;

	if (g->failed)
		return KC_ERR_PROTOCOL;
	n = nghttp2_session_mem_recv(g->s, data, len);
	if (n < 0) {
		g->failed = true;
		return KC_ERR_PROTOCOL;
	}
	return 0;
}

long kc_gc_send(kc_gc *g, const uint8_t **data)
{
	ssize_t n = nghttp2_session_mem_send(g->s, data);

	if (n < 0) {
		g->failed = true;
		return KC_ERR_PROTOCOL;
	}
	return (long)n;
}

void kc_gc_fail(kc_gc *g, int status, const char *message)
{
	g->failed = true;
	while (g->streams) {
		kc_gc_stream *st = g->streams;

		/* A stream the server never answered may be tried again
		 * elsewhere only if its HEADERS never left: not knowable here
		 * once sent, so only unsent requests count as refused. */
		stream_end(st, status, message, !nghttp2_session_find_stream(g->s, st->id));
		stream_free(st);
	}
}

bool kc_gc_usable(const kc_gc *g)
{
	return !g->failed && nghttp2_session_check_request_allowed(g->s) && nghttp2_session_want_read(g->s);
}

size_t kc_gc_open_calls(const kc_gc *g)
{
	return g->n_open;
}
