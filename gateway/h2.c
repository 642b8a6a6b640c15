/*
 * h2.c - see h2.h. nghttp2 parses, keeps the streams, HPACK and the
 * windows; this file turns streams into exchanges and answers into frames.
 *
 * nghttp2 must not serialize from inside its own callbacks, so while
 * kc_h2_recv runs, answers given by the handler (synchronously, inside
 * on_request) are only submitted; the frames are produced when mem_recv
 * has returned.
 */
#include "gateway/h2.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "common/kc_error.h"

/* Produce frames while the connection's unsent output is below this. */
#define H2_OUTPUT_HIGH_WATER (1u << 20)
/* Response headers per answer, pseudo and content-length included. */
#define H2_MAX_RESPONSE_HEADERS 32
/* Bytes counted per header beside name and value, as in HPACK (RFC 7541 §4.1). */
#define H2_HEADER_OVERHEAD 32
/* What the glue may hold when the caller sets no max_buffered_bytes. */
#define H2_DEFAULT_MAX_BUFFERED (8u << 20)

typedef struct h2_stream {
	kc_exchange ex;
	kc_h2 *h;
	int32_t id;
	struct h2_stream *prev;
	struct h2_stream *next;
	size_t header_bytes;
	/* The answer's body not yet taken by nghttp2: out.data[out_off..len). */
	kc_buf out;
	size_t out_off;
	/* :authority was seen (it becomes the host header). */
	bool authority;
	/* :path until the header block ends (pseudo headers come in any order). */
	char *path;
	size_t path_len;
	/* Header error seen while the block was arriving; answered at its end. */
	int error_status;
	const char *error_message;
	bool dispatched;
	bool started;
	bool ended;
	/* nghttp2 was told to wait for data (NGHTTP2_ERR_DEFERRED). */
	bool deferred;
	/* An answer was given by the front itself: ignore the rest. */
	bool answered;
} h2_stream;

struct kc_h2 {
	nghttp2_session *s;
	kc_h2_limits lim;
	kc_h2_callbacks cb;
	void *ud;
	h2_stream *streams;
	size_t n_dispatched;
	size_t n_undispatched;
	bool in_recv;
	bool in_pump;
	bool broken;
	bool dead;
	/* A stream's answer passed max_buffered_bytes: the session ends. */
	bool overflow;
	/* Request body bytes and answer bytes the streams hold. */
	size_t held_in;
	size_t held_out;
	/* A stream closed inside kc_h2_recv: wake once it returns. */
	bool wake_pending;
};

static const kc_exchange_ops h2_ops;

static void pump(kc_h2 *h);

static size_t held(const kc_h2 *h)
{
	return h->held_in + h->held_out;
}

/* ---- streams ---- */

static h2_stream *stream_new(kc_h2 *h, int32_t id)
{
	h2_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->ex.ops = &h2_ops;
	st->ex.conn_data = h->ud;
	st->ex.req.protocol = "HTTP/2";
	st->h = h;
	st->id = id;
	kc_buf_init(&st->ex.req.body, h->lim.max_body_bytes);
	kc_buf_init(&st->out, 0);
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	h->n_undispatched++;
	return st;
}

static void stream_free(h2_stream *st)
{
	kc_h2 *h = st->h;

	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (st->dispatched)
		h->n_dispatched--;
	else
		h->n_undispatched--;
	h->held_in -= st->ex.req.body.len;
	h->held_out -= st->out.len - st->out_off;
	kc_http_request_release(&st->ex.req);
	kc_buf_release(&st->out);
	free(st->path);
	free(st);
}

/* ---- answers ---- */

/* The answer's bytes go out without a copy into nghttp2's frame buffer:
 * read_body only says how many (NO_COPY), send_data hands the frame
 * header and the bytes straight to `send`. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
	h2_stream *st = src->ptr;
	size_t avail = st->out.len - st->out_off;
	size_t n = avail < length ? avail : length;

	(void)s;
	(void)id;
	(void)buf;
	(void)ud;
	if (st->ended && n == avail)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	else if (!n) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	return (ssize_t)n;
}

static int send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud)
{
	kc_h2 *h = ud;
	h2_stream *st = src->ptr;

	(void)s;
	(void)frame; /* never padded: no padding callback is set */
	if (h->cb.send(framehd, 9, h->ud) || (length && h->cb.send(st->out.data + st->out_off, length, h->ud)))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->out_off += length;
	h->held_out -= length;
	if (st->out_off == st->out.len) {
		/* Keep the allocation for the next write of a stream. */
		st->out.len = 0;
		st->out_off = 0;
	}
	return 0;
}

/* Response headers in HTTP/2's lower case. Names are copied into `names`. */
static size_t build_nv(nghttp2_nv *nv, char (*names)[64], char *status, int code, const kc_header *hdrs, size_t n,
                       const char *clen)
{
	size_t k = 0;
	size_t i;
	size_t j;

	code = code < 100 || code > 999 ? 500 : code;
	status[0] = (char)('0' + code / 100);
	status[1] = (char)('0' + code / 10 % 10);
	status[2] = (char)('0' + code % 10);
	status[3] = '\0';
	nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (i = 0; i < n && k < H2_MAX_RESPONSE_HEADERS - 1; i++) {
		size_t nlen = strlen(hdrs[i].name);

		if (nlen >= 64)
			continue;
		for (j = 0; j < nlen; j++)
			names[k][j] = (char)tolower((unsigned char)hdrs[i].name[j]);
		names[k][nlen] = '\0';
		nv[k] = (nghttp2_nv){(uint8_t *)names[k], (uint8_t *)hdrs[i].value, nlen, strlen(hdrs[i].value),
		                     NGHTTP2_NV_FLAG_NONE};
		k++;
	}
	if (clen)
		nv[k++] =
		    (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen), NGHTTP2_NV_FLAG_NONE};
	return k;
}

static int submit(h2_stream *st, int status, const kc_header *hdrs, size_t n, const char *clen, bool with_body)
{
	nghttp2_nv nv[H2_MAX_RESPONSE_HEADERS];
	char names[H2_MAX_RESPONSE_HEADERS][64];
	char code[4];
	nghttp2_data_provider prd;
	size_t k = build_nv(nv, names, code, status, hdrs, n, clen);
	int rc;

	prd.source.ptr = st;
	prd.read_callback = read_body;
	rc = nghttp2_submit_response(st->h->s, st->id, nv, k, with_body ? &prd : NULL);
	return rc ? KC_ERR_PROTOCOL : 0;
}

static void after_answer(kc_h2 *h)
{
	if (!h->in_recv)
		pump(h);
}

static void answer_error(h2_stream *st, int status, const char *message);

static int respond(h2_stream *st, int status, const kc_header *hdrs, size_t n, const void *body, size_t len)
{
	bool with_body = len && !st->ex.req.head && status != 304 && status != 204;
	char clen[24];
	int rc;

	if (st->started || st->ended)
		return KC_ERR_INTERNAL;
	st->started = true;
	st->ended = true;
	if (with_body && kc_buf_append(&st->out, body, len)) {
		/* No answer without its body: the stream is reset instead of
		 * left open with nothing to come. */
		nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		after_answer(st->h);
		return KC_ERR_NOMEM;
	}
	if (with_body)
		st->h->held_out += len;
	snprintf(clen, sizeof(clen), "%zu", len);
	rc = submit(st, status, hdrs, n, status == 304 || status == 204 ? NULL : clen, with_body);
	after_answer(st->h);
	return rc;
}

/* Past the connection's budget an answer is replaced by a 503 (the client
 * may ask again once it has read what it was sent); one answer alone may
 * pass it, since it exists already and nothing else is held. */
static int op_respond(kc_exchange *ex, int status, const kc_header *hdrs, size_t n, const void *body, size_t len)
{
	h2_stream *st = (h2_stream *)ex;
	kc_h2 *h = st->h;

	if (st->started || st->ended)
		return KC_ERR_INTERNAL;
	if (!ex->req.head && held(h) && held(h) + len > h->lim.max_buffered_bytes) {
		answer_error(st, 503, "connection buffer full");
		return KC_ERR_TOO_LARGE;
	}
	return respond(st, status, hdrs, n, body, len);
}

/* HTTP/2 frames the body itself (DATA frames as flow control allows), so
 * it keeps a copy per stream as for any answer. */
static int op_respond_shared(kc_exchange *ex, int status, const kc_header *hdrs, size_t n, kc_shared_body *body)
{
	return op_respond(ex, status, hdrs, n, kc_shared_body_data(body), kc_shared_body_len(body));
}

static int op_start(kc_exchange *ex, int status, const kc_header *hdrs, size_t n)
{
	h2_stream *st = (h2_stream *)ex;
	int rc;

	if (st->started || st->ended)
		return KC_ERR_INTERNAL;
	st->started = true;
	rc = submit(st, status, hdrs, n, NULL, !ex->req.head);
	if (ex->req.head)
		st->ended = true;
	after_answer(st->h);
	return rc;
}

static void resume(h2_stream *st)
{
	if (st->deferred) {
		st->deferred = false;
		nghttp2_session_resume_data(st->h->s, st->id);
	}
	after_answer(st->h);
}

static int op_write(kc_exchange *ex, const void *data, size_t len)
{
	h2_stream *st = (h2_stream *)ex;
	kc_h2 *h = st->h;
	int rc;

	if (!st->started)
		return KC_ERR_INTERNAL;
	if (!len || ex->req.head)
		return 0;
	if (st->ended)
		return KC_ERR_INTERNAL;
	if (h->overflow)
		return KC_ERR_TOO_LARGE;
	if (held(h) + len > h->lim.max_buffered_bytes) {
		/* A stream whose client does not read while others fill the
		 * budget: the session ends (GOAWAY ENHANCE_YOUR_CALM). Not a
		 * reset of this stream alone: its close would reach the handler
		 * (on_abort) from inside its own write. The connection layer
		 * closes once woken. */
		h->overflow = true;
		nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
		h->wake_pending = true;
		after_answer(h);
		return KC_ERR_TOO_LARGE;
	}
	rc = kc_buf_append(&st->out, data, len);
	if (rc)
		return rc;
	h->held_out += len;
	resume(st);
	return 0;
}

static int op_end(kc_exchange *ex)
{
	h2_stream *st = (h2_stream *)ex;

	if (!st->started)
		return KC_ERR_INTERNAL;
	if (ex->req.head && st->ended)
		return 0;
	if (st->ended)
		return KC_ERR_INTERNAL;
	st->ended = true;
	resume(st);
	return 0;
}

static size_t op_backlog(kc_exchange *ex)
{
	h2_stream *st = (h2_stream *)ex;
	size_t conn = st->h->cb.backlog ? st->h->cb.backlog(st->h->ud) : 0;

	return st->out.len - st->out_off + conn;
}

static const kc_exchange_ops h2_ops = {
    .respond = op_respond,
    .respond_shared = op_respond_shared,
    .start = op_start,
    .write = op_write,
    .end = op_end,
    .backlog = op_backlog,
};

/* An answer made by the front (a request it refuses): JSON, like every error. */
static void answer_error(h2_stream *st, int status, const char *message)
{
	static const kc_header hdrs[] = {
	    {"content-type", "application/json"},
	    {"cache-control", "no-store"},
	    {"x-content-type-options", "nosniff"},
	};
	kc_buf body;

	if (st->started)
		return;
	st->answered = true;
	if (!st->dispatched) {
		st->dispatched = true;
		st->h->n_undispatched--;
		st->h->n_dispatched++;
	}
	kc_buf_init(&body, 0);
	kc_http_error_body(&body, message);
	/* The stream is answered, or reset when even that fails (respond):
	 * nothing is left to do with an error here. */
	(void)respond(st, status, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), body.err ? "{}" : body.data,
	              body.err ? 2 : body.len);
	kc_buf_release(&body);
}

/* ---- requests ---- */

static void dispatch(h2_stream *st)
{
	kc_h2 *h = st->h;
	kc_http_request *req = &st->ex.req;
	static const char *const single[] = {"host", "authorization", "x-auth-request-user", "x-auth-request-email",
	                                     "content-type"};
	size_t i;

	if (st->dispatched || st->answered)
		return;
	st->dispatched = true;
	h->n_undispatched--;
	h->n_dispatched++;
	if (!req->method || !req->target || !req->path_len || req->path[0] != '/') {
		answer_error(st, 400, "malformed request target");
		return;
	}
	/* As on HTTP/1: a header that decides identity or routing must not be
	 * ambiguous. */
	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		if (kc_http_header_count(req, single[i]) > 1) {
			answer_error(st, 400, "duplicate header");
			return;
		}
	}
	h->cb.on_request(&st->ex, h->ud);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	kc_h2 *h = ud;
	h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = stream_new(h, frame->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
	return 0;
}

static void header_error(h2_stream *st, int status, const char *message)
{
	if (!st->error_status) {
		st->error_status = status;
		st->error_message = message;
	}
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	kc_http_request *req;
	int rc;

	(void)flags;
	(void)ud;
	if (!st || st->dispatched || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	/* Trailers (a second HEADERS block) are ignored, as HTTP/1 ones are. */
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	req = &st->ex.req;
	st->header_bytes += namelen + valuelen + H2_HEADER_OVERHEAD;
	if (st->header_bytes > st->h->lim.max_header_bytes) {
		header_error(st, 431, "request headers too large");
		return 0;
	}
	if (st->error_status)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		char *m = strndup((const char *)value, valuelen);

		if (!m)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		free(req->method);
		req->method = m;
		req->head = strcmp(m, "HEAD") == 0;
		return 0;
	}
	if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		if (st->path) {
			header_error(st, 400, "duplicate :path");
			return 0;
		}
		st->path = strndup((const char *)value, valuelen);
		if (!st->path)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		st->path_len = valuelen;
		return 0;
	}
	if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
		name = (const uint8_t *)"host";
		namelen = 4;
		st->authority = true;
	} else if (namelen && name[0] == ':') {
		return 0; /* :scheme, :protocol: nothing the handler uses */
	} else if (namelen == 4 && memcmp(name, "host", 4) == 0 && st->authority) {
		/* Host beside :authority is allowed when they agree (RFC 9113
		 * §8.3.1); the pseudo header came first and is kept. */
		const char *a = kc_http_header(req, "host");

		if (!a || strlen(a) != valuelen || memcmp(a, value, valuelen) != 0)
			header_error(st, 400, "host and :authority differ");
		return 0;
	}
	rc = kc_http_request_add_header(req, (const char *)name, namelen, (const char *)value, valuelen);
	if (rc == KC_ERR_NOMEM)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (rc == KC_ERR_TOO_LARGE)
		header_error(st, 431, "too many request headers");
	else if (rc)
		header_error(st, 400, "malformed header");
	return 0;
}

/* The request line from the pseudo headers, once the block is in. */
static void set_line(h2_stream *st)
{
	kc_http_request *req = &st->ex.req;
	char *m = req->method;
	int rc;

	if (!m || !st->path) {
		header_error(st, 400, "malformed request");
		return;
	}
	req->method = NULL;
	rc = kc_http_request_set_line(req, m, strlen(m), st->path, st->path_len);
	free(m);
	if (rc)
		header_error(st, rc == KC_ERR_NOMEM ? 500 : 400, "malformed request target");
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	h2_stream *st;
	const char *cl;

	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (!st || st->dispatched || st->answered)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		set_line(st);
		if (st->error_status) {
			answer_error(st, st->error_status, st->error_message);
			return 0;
		}
		cl = kc_http_header(&st->ex.req, "content-length");
		if (cl && strtoull(cl, NULL, 10) > st->h->lim.max_body_bytes) {
			answer_error(st, 413, "request body too large");
			return 0;
		}
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		dispatch(st);
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
	int rc;

	(void)flags;
	(void)ud;
	if (!st || st->dispatched || st->answered)
		return 0;
	if (held(st->h) + len > st->h->lim.max_buffered_bytes) {
		answer_error(st, 503, "connection buffer full");
		return 0;
	}
	rc = kc_buf_append(&st->ex.req.body, data, len);
	if (rc == KC_ERR_TOO_LARGE)
		answer_error(st, 413, "request body too large");
	else if (rc)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	else
		st->h->held_in += len;
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
	kc_h2 *h = ud;
	h2_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)error_code;
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	if (st->dispatched && !st->ended && !st->answered && h->cb.on_abort)
		h->cb.on_abort(&st->ex, h->ud);
	stream_free(st);
	h->wake_pending = true;
	return 0;
}

/* ---- the session ---- */

int kc_h2_new(kc_h2 **out, const kc_h2_limits *limits, const kc_h2_callbacks *cb, void *user_data)
{
	kc_h2 *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[2];
	int rc = KC_ERR_NOMEM;

	if (!h)
		return KC_ERR_NOMEM;
	h->lim = *limits;
	if (!h->lim.max_concurrent_streams)
		h->lim.max_concurrent_streams = 100;
	if (!h->lim.max_buffered_bytes)
		h->lim.max_buffered_bytes = H2_DEFAULT_MAX_BUFFERED;
	h->cb = *cb;
	h->ud = user_data;
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt))
		goto out;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
	/* Streams past the limit are refused even before our SETTINGS are
	 * acknowledged (nghttp2 otherwise counts from the default). */
	nghttp2_option_set_max_reserved_remote_streams(opt, 0);
	/* No dynamic table for the answers' headers: request ids and lengths
	 * change with every answer, so indexing them only churned the table,
	 * and its hash-chain search was a tenth of the HTTP/2 path's time.
	 * Names still come from the static table. */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 0);
	if (nghttp2_session_server_new2(&h->s, cbs, h, opt))
		goto out;
	iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->lim.max_concurrent_streams};
	iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->lim.max_header_bytes};
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 2)) {
		nghttp2_session_del(h->s);
		goto out;
	}
	rc = 0;
	*out = h;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rc)
		free(h);
	return rc;
}

void kc_h2_free(kc_h2 *h)
{
	if (!h)
		return;
	h->dead = true;
	while (h->streams) {
		h2_stream *st = h->streams;

		if (st->dispatched && !st->ended && !st->answered && h->cb.on_abort)
			h->cb.on_abort(&st->ex, h->ud);
		stream_free(st);
	}
	/* nghttp2_session_del calls no callbacks. */
	nghttp2_session_del(h->s);
	free(h);
}

static void pump(kc_h2 *h)
{
	if (h->in_recv || h->in_pump || h->dead || h->broken)
		return;
	h->in_pump = true;
	for (;;) {
		const uint8_t *p;
		ssize_t n;

		if (h->cb.backlog && h->cb.backlog(h->ud) > H2_OUTPUT_HIGH_WATER)
			break;
		n = nghttp2_session_mem_send(h->s, &p);
		if (n < 0) {
			h->broken = true;
			break;
		}
		if (n == 0)
			break;
		if (h->cb.send(p, (size_t)n, h->ud)) {
			h->broken = true;
			break;
		}
	}
	h->in_pump = false;
	if (h->wake_pending && h->cb.wake) {
		h->wake_pending = false;
		h->cb.wake(h->ud);
	}
}

int kc_h2_recv(kc_h2 *h, const uint8_t *data, size_t len)
{
	ssize_t n;

	if (h->broken)
		return KC_ERR_PROTOCOL;
	h->in_recv = true;
	n = nghttp2_session_mem_recv(h->s, data, len);
	h->in_recv = false;
	/* Whatever was queued (SETTINGS ACK, answers, a GOAWAY) goes out even
	 * after an error, so the peer learns why. */
	pump(h);
	if (n < 0) {
		h->broken = true;
		return KC_ERR_PROTOCOL;
	}
	return 0;
}

void kc_h2_flush(kc_h2 *h)
{
	pump(h);
}

bool kc_h2_want_close(const kc_h2 *h)
{
	return h->broken || (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s));
}

bool kc_h2_in_request(const kc_h2 *h)
{
	return h->n_undispatched > 0;
}

size_t kc_h2_pending(const kc_h2 *h)
{
	return h->n_dispatched;
}

size_t kc_h2_buffered(const kc_h2 *h)
{
	return held(h);
}

size_t kc_h2_unsent(const kc_h2 *h)
{
	return h->held_out;
}

void kc_h2_shutdown(kc_h2 *h)
{
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
	                      NULL, 0);
	pump(h);
}

void kc_h2_fail(kc_h2 *h)
{
	nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
	pump(h);
}
