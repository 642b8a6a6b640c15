/* The HTTP/2 front on bytes: a real nghttp2 client session talks to it
 * through memory, no sockets. Requests, bodies, answers whole and
 * streamed, flow control (a client that does not open its window), the
 * limits, a reset by the client, the drain, the byte budget, and that an
 * HTTP/1.1 `Upgrade: h2c` request is no way in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "gateway/h2.h"

#define MAX_EX 8

/* ---- the server side: the handler the test plays ---- */

typedef enum { ANSWER_NOW, ANSWER_LATER, STREAM } mode;

typedef struct side {
	kc_h2 *h2;
	mode mode;
	kc_exchange *ex[MAX_EX];
	size_t n_ex;
	int aborts;
	/* Server -> client bytes not yet given to the client. */
	uint8_t *wire;
	size_t wire_len;
	/* The client's session and what it saw. */
	nghttp2_session *client;
	int status[16];
	char body[16][4096];
	size_t body_len[16];
	bool closed[16];
	uint32_t close_code[16];
	bool goaway;
} side;

static side S;

static int on_send(const void *data, size_t len, void *ud)
{
	(void)ud;
	S.wire = realloc(S.wire, S.wire_len + len);
	memcpy(S.wire + S.wire_len, data, len);
	S.wire_len += len;
	return 0;
}

static void on_request(kc_exchange *ex, void *ud)
{
	static const kc_header h[] = {{"Content-Type", "text/plain"}};

	(void)ud;
	if (S.n_ex < MAX_EX)
		S.ex[S.n_ex++] = ex;
	if (S.mode == ANSWER_NOW) {
		char text[256];
		int n = snprintf(text, sizeof(text), "%s %.*s %zu", ex->req.method, (int)ex->req.path_len, ex->req.path,
		                 ex->req.body.len);

		assert_int_equal(ex->ops->respond(ex, 200, h, 1, text, (size_t)n), 0);
	} else if (S.mode == STREAM) {
		assert_int_equal(ex->ops->start(ex, 200, h, 1), 0);
	}
}

static void on_abort(kc_exchange *ex, void *ud)
{
	size_t i;

	(void)ud;
	S.aborts++;
	for (i = 0; i < S.n_ex; i++)
		if (S.ex[i] == ex)
			S.ex[i] = NULL;
}

/* ---- the client side ---- */

static int c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen, const uint8_t *value,
                    size_t vlen, uint8_t flags, void *ud)
{
	(void)s;
	(void)flags;
	(void)ud;
	(void)vlen;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0 && f->hd.stream_id < 32)
		S.status[f->hd.stream_id / 2] = atoi((const char *)value);
	return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	size_t k = (size_t)id / 2;

	(void)s;
	(void)flags;
	(void)ud;
	if (k < 16 && S.body_len[k] + len < sizeof(S.body[k])) {
		memcpy(S.body[k] + S.body_len[k], data, len);
		S.body_len[k] += len;
	}
	return 0;
}

static int c_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)s;
	(void)ud;
	if (id < 32) {
		S.closed[id / 2] = true;
		S.close_code[id / 2] = code;
	}
	return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	(void)ud;
	if (f->hd.type == NGHTTP2_GOAWAY)
		S.goaway = true;
	return 0;
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(void)
{
	int rounds;

	for (rounds = 0; rounds < 100; rounds++) {
		const uint8_t *p;
		ssize_t n;
		bool moved = false;

		while ((n = nghttp2_session_mem_send(S.client, &p)) > 0) {
			assert_int_equal(kc_h2_recv(S.h2, p, (size_t)n), 0);
			moved = true;
		}
		kc_h2_flush(S.h2);
		if (S.wire_len) {
			size_t len = S.wire_len;
			uint8_t *w = S.wire;

			S.wire = NULL;
			S.wire_len = 0;
			assert_int_equal(nghttp2_session_mem_recv(S.client, w, len), (ssize_t)len);
			free(w);
			moved = true;
		}
		if (!moved)
			return;
	}
	fail_msg("the sessions kept talking");
}

/* The glue's byte budget for the next setup_with (0: its default). */
static size_t budget;

static void setup_with(uint32_t client_window, bool send_preface)
{
	nghttp2_session_callbacks *cb;
	kc_h2_limits lim = {.max_header_bytes = 4096,
	                    .max_body_bytes = 1000,
	                    .max_concurrent_streams = 4,
	                    .max_buffered_bytes = budget};
	kc_h2_callbacks hcb = {.on_request = on_request, .on_abort = on_abort, .send = on_send};
	nghttp2_settings_entry iv[1] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, client_window}};

	memset(&S, 0, sizeof(S));
	assert_int_equal(kc_h2_new(&S.h2, &lim, &hcb, NULL), 0);
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
	{
		nghttp2_option *opt;

		/* Windows open only when a test says so. */
		nghttp2_option_new(&opt);
		nghttp2_option_set_no_auto_window_update(opt, 1);
		assert_int_equal(nghttp2_session_client_new2(&S.client, cb, NULL, opt), 0);
		nghttp2_option_del(opt);
	}
	nghttp2_session_callbacks_del(cb);
	(void)send_preface;
	nghttp2_submit_settings(S.client, NGHTTP2_FLAG_NONE, iv, 1);
}

static void teardown(void)
{
	kc_h2_free(S.h2);
	nghttp2_session_del(S.client);
	free(S.wire);
}

static int32_t request(const char *method, const char *path, const char *body, const nghttp2_nv *extra, size_t n_extra);

typedef struct req_src {
	const char *body;
	size_t off;
} req_src;

static req_src srcs[16];
static size_t n_srcs;

static ssize_t read_req(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
	req_src *r = src->ptr;
	size_t left = strlen(r->body) - r->off;
	size_t n = left < len ? left : len;

	(void)s;
	(void)id;
	(void)ud;
	memcpy(buf, r->body + r->off, n);
	r->off += n;
	if (r->off == strlen(r->body))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v)                                                                                                       \
	{                                                                                                              \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE                         \
	}

static int32_t request(const char *method, const char *path, const char *body, const nghttp2_nv *extra, size_t n_extra)
{
	nghttp2_nv nv[16] = {NV(":method", method), NV(":scheme", "http"), NV(":authority", "x"), NV(":path", path)};
	nghttp2_data_provider prd = {.read_callback = read_req};
	size_t n = 4;
	size_t i;

	for (i = 0; i < n_extra; i++)
		nv[n++] = extra[i];
	srcs[n_srcs % 16] = (req_src){body, 0};
	prd.source.ptr = &srcs[n_srcs++ % 16];
	return nghttp2_submit_request(S.client, NULL, nv, n, body ? &prd : NULL, NULL);
}

/* ---- tests ---- */

static void test_requests_are_answered(void **state)
{
	int32_t a;
	int32_t b;

	(void)state;
	setup_with(65535, true);
	S.mode = ANSWER_NOW;
	a = request("GET", "/api/claude/tasks?tail=5", NULL, NULL, 0);
	b = request("POST", "/api/claude/tasks", "{\"prompt\":\"hi\"}", NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 2);
	assert_int_equal(S.status[a / 2], 200);
	assert_int_equal(S.status[b / 2], 200);
	assert_memory_equal(S.body[a / 2], "GET /api/claude/tasks 0", 23);
	assert_memory_equal(S.body[b / 2], "POST /api/claude/tasks 15", 25);
	assert_true(S.closed[a / 2] && S.closed[b / 2]);
	assert_int_equal(kc_h2_pending(S.h2), 0);
	assert_false(kc_h2_in_request(S.h2));
	teardown();
}

static void test_request_fields(void **state)
{
	nghttp2_nv extra[] = {NV("authorization", "Bearer t"), NV("x-auth-request-user", "alice"), NV("host", "x")};

	(void)state;
	setup_with(65535, true);
	S.mode = ANSWER_LATER;
	request("GET", "/x?y=1", NULL, extra, 3);
	pump();
	assert_int_equal(S.n_ex, 1);
	assert_string_equal(S.ex[0]->req.method, "GET");
	assert_int_equal(S.ex[0]->req.query_len, 3);
	assert_string_equal(S.ex[0]->req.protocol, "HTTP/2");
	assert_string_equal(kc_http_header(&S.ex[0]->req, "host"), "x");
	assert_string_equal(kc_http_header(&S.ex[0]->req, "authorization"), "Bearer t");
	assert_int_equal(kc_http_header_count(&S.ex[0]->req, "host"), 1);
	assert_int_equal(kc_h2_pending(S.h2), 1);
	/* Answered later, outside kc_h2_recv. */
	assert_int_equal(S.ex[0]->ops->respond(S.ex[0], 204, NULL, 0, NULL, 0), 0);
	pump();
	assert_int_equal(S.status[0], 204);
	assert_int_equal(kc_h2_pending(S.h2), 0);
	teardown();
}

static void test_limits(void **state)
{
	char big[1200];
	char hv[5000];
	nghttp2_nv huge[1];
	nghttp2_nv dup[] = {NV("authorization", "a"), NV("authorization", "b")};
	nghttp2_nv other_host[] = {NV("host", "elsewhere")};
	int32_t a;
	int32_t b;
	int32_t c;
	int32_t d;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(hv, 'b', sizeof(hv) - 1);
	hv[sizeof(hv) - 1] = '\0';
	huge[0] = (nghttp2_nv)NV("x-big", hv);
	setup_with(65535, true);
	S.mode = ANSWER_NOW;
	a = request("POST", "/a", big, NULL, 0);
	b = request("GET", "/b", NULL, huge, 1);
	c = request("GET", "/c", NULL, dup, 2);
	d = request("GET", "/d", NULL, other_host, 1);
	pump();
	assert_int_equal(S.status[d / 2], 400);
	assert_int_equal(S.status[a / 2], 413);
	assert_non_null(strstr(S.body[a / 2], "request body too large"));
	assert_int_equal(S.status[b / 2], 431);
	assert_int_equal(S.status[c / 2], 400);
	/* None reached the handler. */
	assert_int_equal(S.n_ex, 0);
	teardown();
}

static void test_stream_and_flow_control(void **state)
{
	char chunk[1000];
	int i;

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	/* The client opens only 100 bytes of window per stream. */
	setup_with(100, true);
	S.mode = STREAM;
	request("GET", "/watch", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	assert_int_equal(S.status[0], 200);
	for (i = 0; i < 3; i++)
		assert_int_equal(S.ex[0]->ops->write(S.ex[0], chunk, sizeof(chunk)), 0);
	pump();
	/* Only the window went out; the rest waits, visible as backlog. */
	assert_int_equal(S.body_len[0], 100);
	assert_int_equal(S.ex[0]->ops->backlog(S.ex[0]), 2900);
	/* The client opens its window: the rest flows. */
	nghttp2_submit_window_update(S.client, NGHTTP2_FLAG_NONE, 1, 5000);
	pump();
	assert_int_equal(S.body_len[0], 3000);
	assert_int_equal(S.ex[0]->ops->backlog(S.ex[0]), 0);
	assert_false(S.closed[0]);
	assert_int_equal(S.ex[0]->ops->end(S.ex[0]), 0);
	pump();
	assert_true(S.closed[0]);
	assert_int_equal(S.aborts, 0);
	teardown();
}

static void test_reset_aborts(void **state)
{
	(void)state;
	setup_with(65535, true);
	S.mode = STREAM;
	request("GET", "/watch", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	nghttp2_submit_rst_stream(S.client, NGHTTP2_FLAG_NONE, 1, NGHTTP2_CANCEL);
	pump();
	assert_int_equal(S.aborts, 1);
	assert_null(S.ex[0]);
	assert_int_equal(kc_h2_pending(S.h2), 0);
	teardown();
}

static void test_free_aborts_open_streams(void **state)
{
	(void)state;
	setup_with(65535, true);
	S.mode = ANSWER_LATER;
	request("GET", "/slow", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	kc_h2_free(S.h2);
	S.h2 = NULL;
	assert_int_equal(S.aborts, 1);
	teardown();
}

static void test_shutdown_lets_streams_finish(void **state)
{
	(void)state;
	setup_with(65535, true);
	S.mode = ANSWER_LATER;
	request("GET", "/slow", NULL, NULL, 0);
	pump();
	kc_h2_shutdown(S.h2);
	pump();
	assert_true(S.goaway);
	assert_false(kc_h2_want_close(S.h2));
	S.ex[0]->ops->respond(S.ex[0], 200, NULL, 0, "ok", 2);
	pump();
	assert_int_equal(S.status[0], 200);
	assert_true(kc_h2_want_close(S.h2));
	teardown();
}

/* There is no h2c upgrade: an HTTP/1.1 request asking for one is not an
 * HTTP/2 preface, and the session ends without dispatching anything. */
static void test_no_upgrade(void **state)
{
	static const uint8_t up[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	                            "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";

	(void)state;
	setup_with(65535, false);
	S.mode = ANSWER_NOW;
	assert_int_not_equal(kc_h2_recv(S.h2, up, sizeof(up) - 1), 0);
	assert_true(kc_h2_want_close(S.h2));
	assert_int_equal(S.n_ex, 0);
	teardown();
}

/* A client that opens no window: answers stay with the glue, counted as
 * unsent; past the budget a further answer becomes a 503. */
static void test_budget_refuses_answers(void **state)
{
	char a[1500];
	char b[1000];

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	budget = 2000;
	setup_with(0, true);
	budget = 0;
	S.mode = ANSWER_LATER;
	request("GET", "/1", NULL, NULL, 0);
	request("GET", "/2", NULL, NULL, 0);
	request("GET", "/3", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 3);
	assert_int_equal(S.ex[0]->ops->respond(S.ex[0], 200, NULL, 0, a, sizeof(a)), 0);
	pump();
	assert_int_equal(S.status[0], 200);
	assert_int_equal(S.body_len[0], 0);
	assert_int_equal(kc_h2_unsent(S.h2), sizeof(a));
	assert_int_not_equal(S.ex[1]->ops->respond(S.ex[1], 200, NULL, 0, b, sizeof(b)), 0);
	/* Small enough to fit beside the first. */
	assert_int_equal(S.ex[2]->ops->respond(S.ex[2], 200, NULL, 0, "c", 1), 0);
	pump();
	assert_int_equal(S.status[1], 503);
	assert_int_equal(S.status[2], 200);
	assert_true(kc_h2_buffered(S.h2) <= 2000);
	/* The window opens: everything leaves, and nothing is held. */
	nghttp2_submit_window_update(S.client, NGHTTP2_FLAG_NONE, 0, 100000);
	nghttp2_submit_window_update(S.client, NGHTTP2_FLAG_NONE, 1, 100000);
	nghttp2_submit_window_update(S.client, NGHTTP2_FLAG_NONE, 3, 100000);
	nghttp2_submit_window_update(S.client, NGHTTP2_FLAG_NONE, 5, 100000);
	pump();
	assert_int_equal(S.body_len[0], sizeof(a));
	assert_non_null(strstr(S.body[1], "connection buffer full"));
	assert_int_equal(S.body_len[2], 1);
	assert_int_equal(kc_h2_buffered(S.h2), 0);
	assert_int_equal(S.aborts, 0);
	teardown();
}

/* A streamed answer that would pass the budget ends the session with
 * GOAWAY(ENHANCE_YOUR_CALM); the stream is aborted only when the glue is
 * freed, never from inside the handler's write. */
static void test_budget_ends_session_for_streams(void **state)
{
	char chunk[1500];

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	budget = 2000;
	setup_with(0, true);
	budget = 0;
	S.mode = STREAM;
	request("GET", "/watch", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	assert_int_equal(S.ex[0]->ops->write(S.ex[0], chunk, sizeof(chunk)), 0);
	assert_int_not_equal(S.ex[0]->ops->write(S.ex[0], chunk, sizeof(chunk)), 0);
	assert_int_equal(S.aborts, 0);
	pump();
	assert_true(S.goaway);
	assert_true(kc_h2_want_close(S.h2));
	assert_true(kc_h2_unsent(S.h2) <= 2000);
	teardown();
	assert_int_equal(S.aborts, 1);
}

/* Request bodies count too: a body that would pass the budget is a 503. */
static void test_budget_refuses_bodies(void **state)
{
	char body[901];

	(void)state;
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	budget = 1500;
	setup_with(65535, true);
	budget = 0;
	S.mode = ANSWER_LATER;
	request("POST", "/1", body, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	assert_int_equal(kc_h2_buffered(S.h2), 900);
	request("POST", "/2", body, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 1);
	assert_int_equal(S.status[1], 503);
	assert_int_equal(kc_h2_buffered(S.h2), 900);
	teardown();
}

static void test_concurrent_streams_are_capped(void **state)
{
	int i;
	int refused = 0;

	(void)state;
	setup_with(65535, true);
	S.mode = ANSWER_LATER;
	/* The limit is 4; the client has not seen our SETTINGS yet and opens 6. */
	for (i = 0; i < 6; i++)
		request("GET", "/held", NULL, NULL, 0);
	pump();
	assert_int_equal(S.n_ex, 4);
	for (i = 0; i < 6; i++)
		if (S.closed[(1 + 2 * i) / 2] && S.close_code[(1 + 2 * i) / 2] == NGHTTP2_REFUSED_STREAM)
			refused++;
	assert_int_equal(refused, 2);
	assert_int_equal(kc_h2_pending(S.h2), 4);
	teardown();
	assert_int_equal(S.aborts, 4);
}

static void test_garbage_is_fatal(void **state)
{
	static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";

	(void)state;
	setup_with(65535, false);
	assert_int_not_equal(kc_h2_recv(S.h2, junk, sizeof(junk) - 1), 0);
	assert_true(kc_h2_want_close(S.h2));
	teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests_are_answered),
	    cmocka_unit_test(test_request_fields),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_stream_and_flow_control),
	    cmocka_unit_test(test_reset_aborts),
	    cmocka_unit_test(test_free_aborts_open_streams),
	    cmocka_unit_test(test_shutdown_lets_streams_finish),
	    cmocka_unit_test(test_no_upgrade),
	    cmocka_unit_test(test_budget_refuses_answers),
	    cmocka_unit_test(test_budget_ends_session_for_streams),
	    cmocka_unit_test(test_budget_refuses_bodies),
	    cmocka_unit_test(test_concurrent_streams_are_capped),
	    cmocka_unit_test(test_garbage_is_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
