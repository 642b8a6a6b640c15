/* http1_test.c - the HTTP/1 front on byte strings: framing, pipelining in
 * order, caps, smuggling, upgrade. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
} fixture;

static int fx_send(const void *d, size_t n, void *ud)
{
	fixture *f = ud;

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

static kc_h1 *mk(fixture *f, bool immediate, size_t pipeline)
{
	kc_h1_limits lim = {.max_header_bytes = 1024, .max_body_bytes = 64, .max_pipeline = pipeline};
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

static void test_upgrade_h2c(void **state)
{
	fixture f;
	kc_h1 *h = mk(&f, true, 8);
	kc_http_request req;
	uint8_t settings[64];
	size_t slen = sizeof(settings);

	(void)state;
	feed(h, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
	        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
	assert_int_equal(f.n_requests, 0);
	assert_true(kc_h1_take_upgrade(h, &req, settings, &slen));
	assert_int_equal(slen, 12);
	assert_string_equal(req.target, "/health");
	assert_non_null(strstr(f.out.data, "101 Switching Protocols"));
	kc_http_request_release(&req);
	done(h, &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_keepalive), cmocka_unit_test(test_pipeline_in_order),
		cmocka_unit_test(test_pipeline_cap_pauses), cmocka_unit_test(test_chunked_body_and_stream),
		cmocka_unit_test(test_hostile), cmocka_unit_test(test_close_and_http10),
		cmocka_unit_test(test_abort_on_free), cmocka_unit_test(test_upgrade_h2c),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
