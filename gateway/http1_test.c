/* http1_test.c - the HTTP/1 front on byte strings: framing, pipelining in
 * order, caps, smuggling (Transfer-Encoding, line endings, trailers),
 * upgrade requests answered as plain HTTP/1.1, the byte budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/http1.h"

typedef struct fixture {
	kc_buf out;
	kc_exchange *held[8];
	size_t n_held;
	size_t n_requests;
	size_t n_aborts;
	/* Answer at once (true) or hold for the test to answer. */
	bool immediate;
	char last_body[256];
	/* A send holding these bytes fails (the socket's output refused it). */
	const char *fail_on;
} fixture;

static int fx_send(const void *d, size_t n, void *ud)
{
	fixture *f = ud;

	if (f->fail_on && memmem(d, n, f->fail_on, strlen(f->fail_on)))
		return KC_ERR_NOMEM;
	return kc_buf_append(&f->out, d, n);
}

static void fx_request(kc_exchange *ex, void *ud)
{
	fixture *f = ud;
	static const kc_header h[] = {{"Content-Type", "text/plain"}};

	f->n_requests++;
	snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)ex->req.body.len,
	         ex->req.body.data ? ex->req.body.data : "");
	if (f->immediate)
		ex->ops->respond(ex, 200, h, 1, ex->req.target, strlen(ex->req.target));
	else
		f->held[f->n_held++] = ex;
}

static void fx_abort(kc_exchange *ex, void *ud)
{
	(void)ex;
	((fixture *)ud)->n_aborts++;
}

/* The front's byte budget for the next mk() (0: its default). */
static size_t budget;

static kc_h1 *mk(fixture *f, bool immediate, size_t pipeline)
{
	kc_h1_limits lim = {
	    .max_header_bytes = 1024, .max_body_bytes = 64, .max_pipeline = pipeline, .max_buffered_bytes = budget};
	kc_h1_callbacks cb = {.on_request = fx_request, .on_abort = fx_abort, .send = fx_send};
	kc_h1 *h = NULL;

	memset(f, 0, sizeof(*f));
	f->immediate = immediate;
	kc_buf_init(&f->out, 0);
	assert_int_equal(kc_h1_new(&h, &lim, &cb, f), 0);
	return h;
}

static size_t feed(kc_h1 *h, const char *s)
{
	return kc_h1_recv(h, (const uint8_t *)s, strlen(s));
}

static void done(kc_h1 *h, fixture *f)
{
	kc_h1_free(h);
	kc_buf_release(&f->out);
}

static void test_simple_keepalive(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, true, 8);
	const char *req = "GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	assert_int_equal(feed(h, req), strlen(req));
	assert_int_equal(f.n_requests, 1);
	assert_non_null(strstr(f.out.data, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(f.out.data, "Content-Length: 6\r\n"));
	assert_null(strstr(f.out.data, "Connection: close"));
	assert_non_null(strstr(f.out.data, "\r\n\r\n/a?x=1"));
	assert_false(kc_h1_want_close(h));
	done(h, &f);
}

static void test_pipeline_in_order(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);
	const char *reqs = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
	char *one;
	char *two;

	(void)state;
	assert_int_equal(feed(h, reqs), strlen(reqs));
	assert_int_equal(f.n_held, 2);
	/* The second answer is ready first but must wait. */
	f.held[1]->ops->respond(f.held[1], 200, NULL, 0, "two", 3);
	assert_int_equal(f.out.len, 0);
	f.held[0]->ops->respond(f.held[0], 200, NULL, 0, "one", 3);
	one = strstr(f.out.data, "one");
	two = strstr(f.out.data, "two");
	assert_non_null(one);
	assert_non_null(two);
	assert_true(one < two);
	assert_int_equal(kc_h1_pending(h), 0);
	done(h, &f);
}

static void test_pipeline_cap_pauses(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 1);
	const char *reqs = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
	size_t n;

	(void)state;
	n = feed(h, reqs);
	assert_int_equal(f.n_held, 1);
	assert_true(n < strlen(reqs));
	assert_int_equal(kc_h1_recv(h, (const uint8_t *)reqs + n, strlen(reqs) - n), 0);
	f.held[0]->ops->respond(f.held[0], 204, NULL, 0, NULL, 0);
	assert_int_equal(kc_h1_recv(h, (const uint8_t *)reqs + n, strlen(reqs) - n), strlen(reqs) - n);
	assert_int_equal(f.n_held, 2);
	f.held[1]->ops->respond(f.held[1], 204, NULL, 0, NULL, 0);
	done(h, &f);
}

static void test_chunked_body_and_stream(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);
	const char *req = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

	(void)state;
	assert_int_equal(feed(h, req), strlen(req));
	assert_string_equal(f.last_body, "abcde");
	f.held[0]->ops->start(f.held[0], 200, NULL, 0);
	f.held[0]->ops->write(f.held[0], "hello", 5);
	f.held[0]->ops->end(f.held[0]);
	assert_non_null(strstr(f.out.data, "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
	done(h, &f);
}

static void expect_error(const char *req, const char *status)
{
	fixture f;
	kc_h1 *h = mk(&f, true, 8);

	feed(h, req);
	assert_non_null(f.out.data);
	if (!strstr(f.out.data, status))
		fail_msg("got %s, want %s", f.out.data, status);
	assert_non_null(strstr(f.out.data, "Connection: close"));
	assert_non_null(strstr(f.out.data, "{\"error\":"));
	assert_true(kc_h1_want_close(h));
	/* Nothing after a framing error is read. */
	assert_int_equal(feed(h, "GET / HTTP/1.1\r\n\r\n"), 0);
	done(h, &f);
}

static void test_hostile(void **state)
{
	char big[2048];

	(void)state;
	expect_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", " 400 ");
	expect_error("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", " 413 ");
	expect_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", " 400 ");
	expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n"
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n",
	             " 413 ");
	expect_error("GARBAGE\r\n\r\n", " 400 ");
	expect_error("GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", " 400 ");
	expect_error("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", " 400 ");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	big[sizeof(big) - 1] = '\0';
	expect_error(big, " 431 ");
}

static void test_close_and_http10(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, true, 8);

	(void)state;
	feed(h, "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(f.out.data, "Connection: close"));
	assert_true(kc_h1_want_close(h));
	done(h, &f);
	h = mk(&f, true, 8);
	feed(h, "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
	assert_int_equal(f.n_requests, 1);
	assert_true(kc_h1_want_close(h));
	done(h, &f);
}

static void test_abort_on_free(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);

	(void)state;
	feed(h, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
	f.held[1]->ops->respond(f.held[1], 200, NULL, 0, "x", 1);
	kc_h1_free(h);
	/* Only the unanswered one is aborted. */
	assert_int_equal(f.n_aborts, 1);
	kc_buf_release(&f.out);
}

/* h2c (and any other upgrade) is never switched to: the request is
 * answered as plain HTTP/1.1, whatever the spelling of its headers. With
 * `Connection: upgrade` the connection closes after the answer (the parser
 * reads no further), without it the connection stays HTTP/1.1. */
static void test_upgrade_answered_as_http1(void **state)
{
	static const struct {
		const char *req;
		bool closes;
	} cases[] = {
	    {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
	     "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
	     true},
	    {"GET /health HTTP/1.1\r\nhost: x\r\nCONNECTION: upgrade\r\nUPGRADE: H2C\r\nhttp2-settings: "
	     "AAMAAABkAAQAAP__\r\n\r\n",
	     true},
	    {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", true},
	    {"GET /health HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", false},
	    {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nUpgrade: "
	     "h2c\r\n"
	     "HTTP2-Settings: AAMAAABkAAQAAP__\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
	     true},
	    {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	     true},
	    {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n", true},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture f;
		kc_h1 *h = mk(&f, true, 8);

		feed(h, cases[i].req);
		if (f.n_requests != 1 || !f.out.data || strncmp(f.out.data, "HTTP/1.1 200 OK\r\n", 17) != 0 ||
		    strstr(f.out.data, "101") || strstr(f.out.data, "Upgrade"))
			fail_msg("case %zu: got %s", i, f.out.data ? f.out.data : "(nothing)");
		assert_non_null(strstr(f.out.data, "\r\n\r\n/health"));
		assert_int_equal(kc_h1_want_close(h), cases[i].closes);
		if (cases[i].closes)
			assert_non_null(strstr(f.out.data, "Connection: close\r\n"));
		else
			assert_int_equal(feed(h, "GET /2 HTTP/1.1\r\n\r\n"), 19);
		done(h, &f);
	}
}

/* Transfer-Encoding is one header saying exactly `chunked`; anything else
 * that could frame the body differently for a proxy in front is a 400. */
static void test_transfer_encoding_strict(void **state)
{
	static const char *const bad[] = {
	    "Transfer-Encoding: identity, chunked\r\n",
	    "Transfer-Encoding: chunked, chunked\r\n",
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
	    "Transfer-Encoding: chunked\r\ntransfer-encoding: identity\r\n",
	    "Transfer-Encoding: gzip\r\n",
	    "Transfer-Encoding: gzip, chunked\r\n",
	    "Transfer-Encoding: chunked;q=1\r\n",
	    "Transfer-Encoding: chunked,\r\n",
	    "Transfer-Encoding: ,chunked\r\n",
	    "Transfer-Encoding: \"chunked\"\r\n",
	    "Transfer-Encoding: xchunked\r\n",
	    "Transfer-Encoding: chunked \r\n",
	    "Transfer-Encoding: chunked\t\r\n",
	    "Transfer-Encoding:\r\n",
	    "Transfer-Encoding : chunked\r\n",
	    "Transfer-Encoding\t: chunked\r\n",
	    " Transfer-Encoding: chunked\r\n",
	    "X: y\r\n Transfer-Encoding: chunked\r\n",
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
	};
	static const char *const good[] = {
	    "Transfer-Encoding: chunked\r\n",
	    "transfer-encoding: CHUNKED\r\n",
	    "Transfer-Encoding:   Chunked\r\n",
	};
	char req[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: x\r\n%s\r\n5\r\nhello\r\n0\r\n\r\n", bad[i]);
		expect_error(req, " 400 ");
	}
	/* HTTP/1.0 has no chunked coding. */
	expect_error("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", " 400 ");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		fixture f;
		kc_h1 *h = mk(&f, false, 8);

		snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: x\r\n%s\r\n5\r\nhello\r\n0\r\n\r\n", good[i]);
		assert_int_equal(feed(h, req), strlen(req));
		assert_int_equal(f.n_held, 1);
		assert_string_equal(f.last_body, "hello");
		done(h, &f);
	}
}

/* CRLF only: a bare LF or CR anywhere outside a body, or a folded header
 * line, is a 400 and the connection closes. */
static void test_line_endings_strict(void **state)
{
	static const char *const bad[] = {
	    "GET / HTTP/1.1\nHost: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: x\n\r\n",
	    "GET / HTTP/1.1\r\nHost: x\r\n\n",
	    "GET / HTTP/1.1\nHost: x\n\n",
	    "GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",
	    "GET / HTTP/1.1\rHost: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: x\rX-Y: z\r\n\r\n",
	    "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
	    "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n",
	    "\nGET / HTTP/1.1\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n",
	    /* The second of two pipelined requests. */
	    "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\nHost: x\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fixture f;
		kc_h1 *h = mk(&f, true, 8);

		feed(h, bad[i]);
		if (!f.out.data || !strstr(f.out.data, " 400 ") || !strstr(f.out.data, "malformed"))
			fail_msg("case %zu: got %s", i, f.out.data ? f.out.data : "(nothing)");
		assert_true(kc_h1_want_close(h));
		/* The request with the bad line never reached the handler. */
		assert_int_equal(f.n_requests, i == sizeof(bad) / sizeof(bad[0]) - 1 ? 1 : 0);
		done(h, &f);
	}
	/* The first of two pipelined requests is answered later: the 400 for
	 * the second waits behind it, then the connection closes. */
	{
		fixture f;
		kc_h1 *h = mk(&f, false, 8);

		feed(h, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\nHost: x\r\n\r\n");
		assert_int_equal(f.n_held, 1);
		assert_int_equal(f.out.len, 0);
		assert_false(kc_h1_want_close(h));
		f.held[0]->ops->respond(f.held[0], 200, NULL, 0, "one", 3);
		assert_non_null(strstr(f.out.data, "\r\n\r\none"));
		assert_non_null(strstr(f.out.data, " 400 "));
		assert_true(kc_h1_want_close(h));
		done(h, &f);
	}
	/* A body may hold any byte; split input is checked across the pieces. */
	{
		fixture f;
		kc_h1 *h = mk(&f, false, 8);
		const char *req = "POST /x HTTP/1.1\r\nContent-Length: 6\r\n\r\na\nb\r\rc";
		size_t k;

		for (k = 0; k < strlen(req); k++)
			assert_int_equal(kc_h1_recv(h, (const uint8_t *)req + k, 1), 1);
		assert_int_equal(f.n_held, 1);
		assert_string_equal(f.last_body, "a\nb\r\rc");
		done(h, &f);
	}
	{
		fixture f;
		kc_h1 *h = mk(&f, true, 8);

		feed(h, "GET / HTTP/1.1\r");
		assert_int_equal(f.n_requests, 0);
		feed(h, "\nHost: x\r");
		feed(h, "X");
		assert_non_null(strstr(f.out.data, " 400 "));
		done(h, &f);
	}
}

/* Trailer fields of a chunked body never become request headers. */
static void test_trailers_dropped(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);
	const char *req = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
	                  "Authorization: Bearer stolen\r\nX-Auth-Request-User: mallory\r\nHost: evil\r\n"
	                  "X-Auth-Request-Email: m@x\r\n\r\n"
	                  "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t i;

	(void)state;
	assert_int_equal(feed(h, req), strlen(req));
	assert_int_equal(f.n_held, 2);
	assert_string_equal(f.held[0]->req.body.data, "hello");
	for (i = 0; i < 2; i++) {
		assert_null(kc_http_header(&f.held[i]->req, "authorization"));
		assert_null(kc_http_header(&f.held[i]->req, "x-auth-request-user"));
		assert_null(kc_http_header(&f.held[i]->req, "x-auth-request-email"));
		assert_string_equal(kc_http_header(&f.held[i]->req, "host"), "x");
		assert_int_equal(kc_http_header_count(&f.held[i]->req, "host"), 1);
	}
	assert_string_equal(f.held[1]->req.target, "/next");
	done(h, &f);
	/* Trailers count against the header cap. */
	{
		char big[1400];
		char req2[1600];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		snprintf(req2, sizeof(req2),
		         "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: %s\r\n\r\n", big);
		expect_error(req2, " 431 ");
	}
}

static void test_expect_continue(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, true, 8);
	const char *req = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";

	(void)state;
	assert_int_equal(feed(h, req), strlen(req));
	assert_int_equal(strncmp(f.out.data, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42), 0);
	done(h, &f);
	/* Not for a head with a bad line ending. */
	h = mk(&f, true, 8);
	feed(h, "POST /x HTTP/1.1\r\nExpect: 100-continue\nContent-Length: 2\r\n\r\nhi");
	assert_null(strstr(f.out.data, "100 Continue"));
	assert_non_null(strstr(f.out.data, " 400 "));
	done(h, &f);
}

/* An answer queued behind an earlier one past the budget is never sent:
 * the earlier answers go out whole, then the connection closes. */
static void test_budget_cuts_queued_answer(void **state)
{
	fixture f;
	kc_h1 *h;
	char big[300];

	(void)state;
	memset(big, 'q', sizeof(big));
	budget = 256;
	h = mk(&f, false, 8);
	budget = 0;
	feed(h, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
	assert_int_equal(f.n_held, 3);
	assert_int_not_equal(f.held[1]->ops->respond(f.held[1], 200, NULL, 0, big, sizeof(big)), 0);
	assert_int_equal(kc_h1_buffered(h), 0);
	assert_int_equal(f.held[2]->ops->respond(f.held[2], 200, NULL, 0, "three", 5), 0);
	assert_true(kc_h1_buffered(h) > 0);
	assert_int_equal(f.out.len, 0);
	assert_int_equal(f.held[0]->ops->respond(f.held[0], 200, NULL, 0, "one", 3), 0);
	assert_non_null(strstr(f.out.data, "\r\n\r\none"));
	assert_null(strstr(f.out.data, "qqq"));
	assert_null(strstr(f.out.data, "three"));
	assert_true(kc_h1_want_close(h));
	done(h, &f);
}

/* A held answer that cannot be flushed cuts the connection there: the
 * client never reads a later answer in its place. */
static void test_failed_flush_cuts(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);

	(void)state;
	feed(h, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
	assert_int_equal(f.n_held, 3);
	assert_int_equal(f.held[1]->ops->respond(f.held[1], 200, NULL, 0, "two", 3), 0);
	assert_int_equal(f.held[2]->ops->respond(f.held[2], 200, NULL, 0, "three", 5), 0);
	f.fail_on = "two";
	assert_int_equal(f.held[0]->ops->respond(f.held[0], 200, NULL, 0, "one", 3), 0);
	assert_non_null(strstr(f.out.data, "\r\n\r\none"));
	assert_null(strstr(f.out.data, "three"));
	assert_true(kc_h1_want_close(h));
	done(h, &f);
}

/* Request bodies count while their exchange lives. */
static void test_budget_counts_bodies(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, false, 8);

	(void)state;
	feed(h, "POST /1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
	assert_int_equal(kc_h1_buffered(h), 10);
	feed(h, "POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
	assert_int_equal(kc_h1_buffered(h), 13);
	f.held[0]->ops->respond(f.held[0], 204, NULL, 0, NULL, 0);
	assert_int_equal(kc_h1_buffered(h), 3);
	done(h, &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_keepalive),
	    cmocka_unit_test(test_pipeline_in_order),
	    cmocka_unit_test(test_pipeline_cap_pauses),
	    cmocka_unit_test(test_chunked_body_and_stream),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_close_and_http10),
	    cmocka_unit_test(test_abort_on_free),
	    cmocka_unit_test(test_upgrade_answered_as_http1),
	    cmocka_unit_test(test_transfer_encoding_strict),
	    cmocka_unit_test(test_line_endings_strict),
	    cmocka_unit_test(test_trailers_dropped),
	    cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_budget_cuts_queued_answer),
	    cmocka_unit_test(test_budget_counts_bodies),
	    cmocka_unit_test(test_failed_flush_cuts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
