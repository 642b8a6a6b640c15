/*
 * http1.c - see http1.h. http_parser does the parsing; this file keeps the
 * caps, the pipeline FIFO and the answer framing.
 */
#include "gateway/http1.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "common/kc_error.h"

/* What the front may hold when the caller sets no max_buffered_bytes. */
#define DEFAULT_MAX_BUFFERED (8u << 20)

typedef struct h1_ex {
	kc_exchange ex;
	kc_h1 *h;
	struct h1_ex *next;
	kc_buf out;
	bool started;
	bool ended;
	bool chunked;
	/* Close-delimited body: a streamed answer to an HTTP/1.0 peer. */
	bool close_delimited;
	bool keep_alive;
	bool http10;
	/* Made by the front itself (an error answer), not given to the handler. */
	bool internal;
	/* Its answer did not fit in the connection's budget while it waited
	 * behind earlier ones: nothing of it is sent, and the connection ends
	 * when it reaches the head. */
	bool overflow;
	/* http_parser's verdicts, taken when the message completed. */
	bool upgrade;
} h1_ex;

struct kc_h1 {
	http_parser parser;
	kc_h1_limits lim;
	kc_h1_callbacks cb;
	void *ud;
	h1_ex *head;
	h1_ex *tail;
	size_t n_pending;
	/* The request being parsed. */
	h1_ex *cur;
	/* Parsed and its framing checked, not yet handed to the handler. */
	h1_ex *ready;
	/* The request's header block has ended: header callbacks that follow
	 * are chunked trailers, which are never kept. */
	bool headers_done;
	/* An `Expect: 100-continue` waits for the framing check. */
	bool want_continue;
	/* Framing check (see check_framing): the first input byte not yet
	 * checked, and the last framing byte seen (0 after a body). */
	const char *scan;
	char fr_last;
	bool bad_framing;
	/* Body and answer bytes the exchanges hold (request bodies, answers
	 * queued behind earlier ones). */
	size_t held;
	kc_buf url;
	kc_buf hname;
	kc_buf hval;
	bool in_value;
	size_t header_bytes;
	/* No more input is read: Connection: close, an error, a shutdown. */
	bool closing;
	bool in_recv;
	/* A callback asked to stop with this answer (431, 413, 400). */
	int error_status;
	const char *error_message;
	bool dead;
	/* An answer overflowed: the connection closes at it. */
	bool cut;
	/* kc_h1_shutdown: pending answers announce the close. */
	bool shutdown;
};

static const kc_exchange_ops h1_ops;

static void ex_free(h1_ex *e)
{
	e->h->held -= e->ex.req.body.len + e->out.len;
	kc_http_request_release(&e->ex.req);
	kc_buf_release(&e->out);
	free(e);
}

static const char *http_date(void)
{
	static __thread char buf[40];
	static __thread time_t last;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return buf;
}

/* Sends `e`'s bytes now when it is at the head, or keeps them. */
static int ex_emit(h1_ex *e, const void *data, size_t len)
{
	kc_h1 *h = e->h;

	int rc;

	if (!len)
		return 0;
	if (e->overflow || h->cut)
		return KC_ERR_TOO_LARGE;
	if (e == h->head && !h->dead)
		return h->cb.send(data, len, h->ud);
	/* Waiting behind earlier answers: held against the connection's
	 * budget. Past it the answer is dropped whole; it must not reach the
	 * client cut short, so the connection ends where it would begin. */
	if (h->held + len > h->lim.max_buffered_bytes) {
		h->held -= e->out.len;
		kc_buf_release(&e->out);
		e->overflow = true;
		return KC_ERR_TOO_LARGE;
	}
	rc = kc_buf_append(&e->out, data, len);
	if (!rc)
		h->held += len;
	return rc;
}

/* Pops ended exchanges off the head and flushes the new head's backlog. */
static void advance(kc_h1 *h)
{
	bool popped = false;

	while (h->head && h->head->ended && !h->cut) {
		h1_ex *e = h->head;

		h->head = e->next;
		if (!h->head)
			h->tail = NULL;
		h->n_pending--;
		if (!e->keep_alive)
			h->closing = true;
		ex_free(e);
		popped = true;
		if (h->head && h->head->overflow) {
			/* Everything before it went out whole; it and what follows
			 * are never sent, and the connection closes. */
			h->cut = true;
			h->closing = true;
			break;
		}
		if (h->head && h->head->out.len && !h->dead) {
			int rc = h->cb.send(h->head->out.data, h->head->out.len, h->ud);

			h->held -= h->head->out.len;
			kc_buf_release(&h->head->out);
			if (rc) {
				/* Its answer did not go out whole: nothing after it
				 * may, and the connection closes where it stands. */
				h->cut = true;
				h->closing = true;
				break;
			}
		}
	}
	if (popped && !h->in_recv && h->cb.wake)
		h->cb.wake(h->ud);
}

static int write_head(h1_ex *e, int status, const kc_header *hdrs, size_t n, long long content_length)
{
	kc_buf b;
	size_t i;
	int rc;

	kc_buf_init(&b, 0);
	/* Plain appends: printf per header line showed in the profile of a
	 * busy list. */
	kc_buf_reserve(&b, 512);
	kc_buf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, kc_http_reason(status), http_date());
	for (i = 0; i < n; i++) {
		kc_buf_add(&b, hdrs[i].name, strlen(hdrs[i].name));
		kc_buf_add(&b, ": ", 2);
		kc_buf_add(&b, hdrs[i].value, strlen(hdrs[i].value));
		kc_buf_add(&b, "\r\n", 2);
	}
	if (content_length >= 0) {
		if (status != 304 && status != 204)
			kc_buf_printf(&b, "Content-Length: %lld\r\n", content_length);
	} else if (e->chunked) {
		kc_buf_puts(&b, "Transfer-Encoding: chunked\r\n");
	}
	if (!e->keep_alive || e->h->shutdown)
		kc_buf_puts(&b, "Connection: close\r\n");
	else if (e->http10)
		kc_buf_puts(&b, "Connection: keep-alive\r\n");
	kc_buf_puts(&b, "\r\n");
	rc = b.err ? b.err : ex_emit(e, b.data, b.len);
	kc_buf_release(&b);
	return rc;
}

/* The whole answer: body[0..len), which `shared` holds when given. */
static int respond(h1_ex *e, int status, const kc_header *hdrs, size_t n, const void *body, size_t len,
                   kc_shared_body *shared)
{
	kc_h1 *h = e->h;
	int rc;

	if (e->started || e->ended)
		return KC_ERR_INTERNAL;
	e->started = true;
	rc = write_head(e, status, hdrs, n, (long long)len);
	if (!rc && !e->ex.req.head && status != 304 && status != 204) {
		/* Only an answer that goes out now can go by reference; one
		 * queued behind a pipelined request is copied like any other. */
		if (shared && len && e == h->head && !h->dead && h->cb.send_shared)
			rc = h->cb.send_shared(shared, h->ud);
		else
			rc = ex_emit(e, body, len);
	}
	e->ended = true;
	advance(h);
	return rc;
}

static int op_respond(kc_exchange *ex, int status, const kc_header *hdrs, size_t n, const void *body, size_t len)
{
	return respond((h1_ex *)ex, status, hdrs, n, body, len, NULL);
}

static int op_respond_shared(kc_exchange *ex, int status, const kc_header *hdrs, size_t n, kc_shared_body *body)
{
	return respond((h1_ex *)ex, status, hdrs, n, kc_shared_body_data(body), kc_shared_body_len(body), body);
}

static int op_start(kc_exchange *ex, int status, const kc_header *hdrs, size_t n)
{
	h1_ex *e = (h1_ex *)ex;

	if (e->started || e->ended)
		return KC_ERR_INTERNAL;
	e->started = true;
	if (e->http10) {
		/* HTTP/1.0 has no chunked coding: the body ends with the connection. */
		e->close_delimited = true;
		e->keep_alive = false;
	} else {
		e->chunked = true;
	}
	return write_head(e, status, hdrs, n, -1);
}

static int op_write(kc_exchange *ex, const void *data, size_t len)
{
	h1_ex *e = (h1_ex *)ex;
	char size[24];
	int rc;

	if (!e->started || e->ended)
		return KC_ERR_INTERNAL;
	if (!len || ex->req.head)
		return 0;
	if (!e->chunked)
		return ex_emit(e, data, len);
	snprintf(size, sizeof(size), "%zx\r\n", len);
	rc = ex_emit(e, size, strlen(size));
	if (!rc)
		rc = ex_emit(e, data, len);
	if (!rc)
		rc = ex_emit(e, "\r\n", 2);
	return rc;
}

static int op_end(kc_exchange *ex)
{
	h1_ex *e = (h1_ex *)ex;
	int rc = 0;

	if (!e->started || e->ended)
		return KC_ERR_INTERNAL;
	if (e->chunked && !ex->req.head)
		rc = ex_emit(e, "0\r\n\r\n", 5);
	e->ended = true;
	advance(e->h);
	return rc;
}

static size_t op_backlog(kc_exchange *ex)
{
	h1_ex *e = (h1_ex *)ex;

	if (e != e->h->head)
		return e->out.len;
	return e->h->cb.backlog ? e->h->cb.backlog(e->h->ud) : 0;
}

static const kc_exchange_ops h1_ops = {
    .respond = op_respond,
    .respond_shared = op_respond_shared,
    .start = op_start,
    .write = op_write,
    .end = op_end,
    .backlog = op_backlog,
};

static h1_ex *ex_new(kc_h1 *h)
{
	h1_ex *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->ex.ops = &h1_ops;
	e->ex.conn_data = h->ud;
	e->h = h;
	e->keep_alive = true;
	kc_buf_init(&e->ex.req.body, h->lim.max_body_bytes);
	kc_buf_init(&e->out, 0);
	return e;
}

static void enqueue(kc_h1 *h, h1_ex *e)
{
	if (h->tail)
		h->tail->next = e;
	else
		h->head = e;
	h->tail = e;
	h->n_pending++;
}

/* Queues a JSON error answer and stops reading. */
static void fail_request(kc_h1 *h, int status, const char *message)
{
	h1_ex *e = ex_new(h);
	kc_buf body;
	static const kc_header hdrs[] = {
	    {"Content-Type", "application/json"},
	    {"Cache-Control", "no-store"},
	    {"X-Content-Type-Options", "nosniff"},
	};

	h->closing = true;
	if (!e)
		return;
	e->internal = true;
	e->keep_alive = false;
	kc_buf_init(&body, 4096);
	kc_http_error_body(&body, message);
	enqueue(h, e);
	/* The connection closes after this answer whatever happens: a failed
	 * write (out of memory) leaves nothing else to do. */
	(void)op_respond(&e->ex, status, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), body.err ? "{}" : body.data,
	                 body.err ? 2 : body.len);
	kc_buf_release(&body);
}

void kc_h1_fail(kc_h1 *h, int status, const char *message)
{
	if (h->closing)
		return;
	if (h->cur) {
		ex_free(h->cur);
		h->cur = NULL;
	}
	fail_request(h, status, message);
}

/* ---- http_parser callbacks ---- */

static int cb_error(kc_h1 *h, int status, const char *message)
{
	h->error_status = status;
	h->error_message = message;
	/* Not 1: from on_headers_complete that means "no body". */
	return -1;
}

static int count_header_bytes(kc_h1 *h, size_t len)
{
	h->header_bytes += len;
	if (h->header_bytes > h->lim.max_header_bytes)
		return cb_error(h, 431, "request headers too large");
	return 0;
}

/*
 * Line endings. http_parser, even built strict, ends a line at a bare LF
 * and takes a space-led line as the continuation of the header before
 * (obs-fold). A proxy in front may read such bytes differently (a bare LF
 * inside what it saw as one header line, a folded Transfer-Encoding), so
 * the same bytes would frame two different requests: the gateway accepts
 * CRLF only. Every input byte outside a body is checked as it is consumed
 * (bodies are excised: they may hold any byte): a CR must be followed by
 * LF, an LF preceded by CR, and no line may begin with a space or tab.
 */
static void check_framing(kc_h1 *h, const char *end)
{
	const char *q;
	char last = h->fr_last;

	for (q = h->scan; q < end && !h->bad_framing; q++) {
		char ch = *q;

		if ((last == '\r' && ch != '\n') || (ch == '\n' && last != '\r') ||
		    (last == '\n' && (ch == ' ' || ch == '\t')))
			h->bad_framing = true;
		last = ch;
	}
	h->fr_last = last;
	h->scan = end;
}

/* A field name is a token (RFC 9110 §5.1): no white space before the
 * colon, which http_parser lets through ("Transfer-Encoding : chunked" is
 * chunked to it, and to a proxy perhaps just an unknown header). */
static bool is_token(const char *s, size_t len)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      (ch && strchr(extra, ch))))
			return false;
	}
	return true;
}

static int on_message_begin(http_parser *p)
{
	kc_h1 *h = p->data;

	h->cur = ex_new(h);
	if (!h->cur)
		return cb_error(h, 500, "out of memory");
	h->header_bytes = 0;
	h->in_value = false;
	h->headers_done = false;
	kc_buf_release(&h->url);
	kc_buf_release(&h->hname);
	kc_buf_release(&h->hval);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	kc_h1 *h = p->data;

	if (count_header_bytes(h, len))
		return -1;
	return kc_buf_append(&h->url, at, len) ? cb_error(h, 500, "out of memory") : 0;
}

static int flush_header(kc_h1 *h)
{
	int rc;

	if (!h->in_value)
		return 0;
	if (!is_token(h->hname.data, h->hname.len))
		return cb_error(h, 400, "malformed header name");
	/* The value as sent, before white space is trimmed: `chunked` and
	 * nothing else (see on_headers_complete). */
	if (h->hname.len == 17 && strncasecmp(h->hname.data, "transfer-encoding", 17) == 0 &&
	    !(h->hval.len == 7 && strncasecmp(h->hval.data, "chunked", 7) == 0))
		return cb_error(h, 400, "unsupported Transfer-Encoding");
	rc = kc_http_request_add_header(&h->cur->ex.req, h->hname.data, h->hname.len, h->hval.data ? h->hval.data : "",
	                                h->hval.len);
	kc_buf_release(&h->hname);
	kc_buf_release(&h->hval);
	h->in_value = false;
	if (rc == KC_ERR_TOO_LARGE)
		return cb_error(h, 431, "too many request headers");
	if (rc)
		return cb_error(h, 400, "malformed header");
	return 0;
}

/* After the header block, http_parser reports a chunked body's trailer
 * fields through the same callbacks. They are counted against the header
 * cap and dropped: a trailer never becomes a request header (an
 * `Authorization` or identity header there would otherwise reach the
 * handler unseen by any proxy that judged the request by its head). */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	kc_h1 *h = p->data;

	if (count_header_bytes(h, len))
		return -1;
	if (h->headers_done)
		return 0;
	if (flush_header(h))
		return -1;
	return kc_buf_append(&h->hname, at, len) ? cb_error(h, 500, "out of memory") : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	kc_h1 *h = p->data;

	if (count_header_bytes(h, len))
		return -1;
	if (h->headers_done)
		return 0;
	h->in_value = true;
	return kc_buf_append(&h->hval, at, len) ? cb_error(h, 500, "out of memory") : 0;
}

static int on_headers_complete(http_parser *p)
{
	kc_h1 *h = p->data;
	kc_http_request *req = &h->cur->ex.req;
	const char *method = http_method_str((enum http_method)p->method);
	static const char *const single[] = {"host", "authorization", "x-auth-request-user", "x-auth-request-email",
	                                     "content-type"};
	const char *expect;
	const char *te;
	size_t i;

	h->in_value = h->in_value || h->hname.len;
	if (flush_header(h))
		return -1;
	h->headers_done = true;
	if (!h->url.len)
		return cb_error(h, 400, "empty request target");
	if (kc_http_request_set_line(req, method, strlen(method), h->url.data, h->url.len))
		return cb_error(h, 400, "malformed request target");
	req->protocol = p->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
	h->cur->http10 = p->http_major == 1 && p->http_minor == 0;
	/* A header that decides identity or routing must not be ambiguous:
	 * two proxies could each read a different copy. */
	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (kc_http_header_count(req, single[i]) > 1)
			return cb_error(h, 400, "duplicate header");
	/* Framing is decided by one header with one meaning: exactly one
	 * Transfer-Encoding, exactly `chunked` (http_parser takes any list
	 * that ends in chunked, and repeated headers), and none in HTTP/1.0,
	 * which has no chunked coding. Content-Length beside it, or twice, is
	 * refused by http_parser. */
	te = kc_http_header(req, "transfer-encoding");
	if (te && (kc_http_header_count(req, "transfer-encoding") != 1 || h->cur->http10))
		return cb_error(h, 400, "unsupported Transfer-Encoding");
	if (p->content_length != ULLONG_MAX && p->content_length > h->lim.max_body_bytes && !(p->flags & F_CHUNKED))
		return cb_error(h, 413, "request body too large");
	expect = kc_http_header(req, "expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0)
			return cb_error(h, 400, "unsupported Expect");
		/* Answered once the head's framing is checked (kc_h1_recv). */
		h->want_continue = true;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	kc_h1 *h = p->data;
	int rc;

	check_framing(h, at);
	if (h->bad_framing || h->fr_last == '\r')
		return cb_error(h, 400, "malformed line ending");
	h->scan = at + len;
	h->fr_last = 0;
	rc = kc_buf_append(&h->cur->ex.req.body, at, len);
	if (rc == KC_ERR_TOO_LARGE)
		return cb_error(h, 413, "request body too large");
	if (rc)
		return cb_error(h, 500, "out of memory");
	h->held += len;
	return 0;
}

/* The request is handed over only once kc_h1_recv has checked its framing
 * to the last byte, so the parser stops here. */
static int on_message_complete(http_parser *p)
{
	kc_h1 *h = p->data;
	h1_ex *e = h->cur;

	h->cur = NULL;
	e->keep_alive = http_should_keep_alive(p) != 0;
	e->upgrade = p->upgrade != 0;
	h->ready = e;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int kc_h1_new(kc_h1 **out, const kc_h1_limits *limits, const kc_h1_callbacks *cb, void *user_data)
{
	kc_h1 *h = calloc(1, sizeof(*h));

	if (!h)
		return KC_ERR_NOMEM;
	h->lim = *limits;
	if (!h->lim.max_pipeline)
		h->lim.max_pipeline = 1;
	if (!h->lim.max_buffered_bytes)
		h->lim.max_buffered_bytes = DEFAULT_MAX_BUFFERED;
	h->cb = *cb;
	h->ud = user_data;
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	kc_buf_init(&h->url, 0);
	kc_buf_init(&h->hname, 0);
	kc_buf_init(&h->hval, 0);
	*out = h;
	return 0;
}

void kc_h1_free(kc_h1 *h)
{
	h1_ex *e;

	if (!h)
		return;
	h->dead = true;
	while ((e = h->head)) {
		h->head = e->next;
		if (!e->ended && !e->internal && h->cb.on_abort)
			h->cb.on_abort(&e->ex, h->ud);
		ex_free(e);
	}
	if (h->cur)
		ex_free(h->cur);
	if (h->ready)
		ex_free(h->ready);
	kc_buf_release(&h->url);
	kc_buf_release(&h->hname);
	kc_buf_release(&h->hval);
	free(h);
}

/* The request in progress failed to parse: answer why and stop reading. */
static void parse_failed(kc_h1 *h, enum http_errno err)
{
	if (h->cur) {
		ex_free(h->cur);
		h->cur = NULL;
	}
	if (h->ready) {
		ex_free(h->ready);
		h->ready = NULL;
	}
	if (h->closing)
		return;
	if (h->bad_framing)
		fail_request(h, 400, "malformed line ending");
	else if (h->error_status)
		fail_request(h, h->error_status, h->error_message);
	else if (err == HPE_HEADER_OVERFLOW)
		fail_request(h, 431, "request headers too large");
	else
		fail_request(h, 400, "malformed request");
}

/* Hands the request whose framing has been checked to the handler. */
static void dispatch_ready(kc_h1 *h)
{
	h1_ex *e = h->ready;

	h->ready = NULL;
	/* Another protocol was asked for (h2c, WebSocket...): none is spoken
	 * here, so the request is answered as plain HTTP/1.1 and the
	 * connection closes after it, since http_parser does not read on
	 * after an upgrade request. */
	if (e->upgrade)
		e->keep_alive = false;
	if (!e->keep_alive)
		h->closing = true;
	enqueue(h, e);
	h->cb.on_request(&e->ex, h->ud);
}

size_t kc_h1_recv(kc_h1 *h, const uint8_t *data, size_t len)
{
	const char *in = (const char *)data;
	size_t done = 0;

	if (h->closing || h->n_pending >= h->lim.max_pipeline || !len)
		return 0;
	h->in_recv = true;
	while (done < len && !h->closing && h->n_pending < h->lim.max_pipeline) {
		enum http_errno err;
		size_t n;

		h->scan = in + done;
		http_parser_pause(&h->parser, 0);
		n = http_parser_execute(&h->parser, &settings, in + done, len - done);
		err = HTTP_PARSER_ERRNO(&h->parser);
		check_framing(h, in + done + n);
		done += n;
		if (h->bad_framing || (err != HPE_OK && err != HPE_PAUSED)) {
			parse_failed(h, err);
			break;
		}
		if (h->want_continue) {
			h->want_continue = false;
			/* Only when nothing is queued ahead, or the 100 would land
			 * in the middle of an earlier answer. */
			if (!h->head)
				/* Best effort: a client that misses it sends the
				 * body after its own wait (RFC 9110 10.1.1). */
				(void)h->cb.send("HTTP/1.1 100 Continue\r\n\r\n", 25, h->ud);
		} else if (h->ready) {
			dispatch_ready(h);
		} else {
			break;
		}
	}
	h->in_recv = false;
	/* A pipelined request that finished in the handler may have ended the
	 * head: advance() skipped wake while we were inside. */
	return h->closing ? len : done;
}

bool kc_h1_want_close(const kc_h1 *h)
{
	return h->closing && (!h->head || h->cut);
}

size_t kc_h1_buffered(const kc_h1 *h)
{
	return h->held;
}

bool kc_h1_in_request(const kc_h1 *h)
{
	return h->cur != NULL;
}

size_t kc_h1_pending(const kc_h1 *h)
{
	return h->n_pending;
}

void kc_h1_shutdown(kc_h1 *h)
{
	h->closing = true;
	h->shutdown = true;
	if (h->cur) {
		ex_free(h->cur);
		h->cur = NULL;
	}
}
