/* grpc_client against an nghttp2 server session in memory: the request's
 * headers and framing, answers with messages split across DATA frames,
 * trailers-only errors, an HTTP error without grpc-status, cancel as
 * RST_STREAM(CANCEL), pause holding messages and the status back,
 * metadata that cannot be sent, GOAWAY refusing a later stream while an
 * earlier one finishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "common/kc_error.h"
#include "gateway/grpc_client.h"

/* ---- the server side ---- */

enum answer { ANSWER_OK, ANSWER_TRAILERS_ONLY, ANSWER_HTTP_503, ANSWER_THREE, ANSWER_NONE };

static struct {
	nghttp2_session *s;
	enum answer answer;
	char headers[2048];
	uint8_t body[256];
	size_t body_len;
	uint32_t rst_code;
	bool rst_seen;
	/* Response DATA: three messages "a", "bb", "ccc" or one of 40 bytes. */
	uint8_t out[256];
	size_t out_len;
	size_t out_off;
} srv;

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
	/* Small reads: messages cross DATA frames. */
	size_t n = srv.out_len - srv.out_off;
	static const nghttp2_nv trailers[] = {
	    {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
	};

	(void)src;
	(void)ud;
	if (n > 7)
		n = 7;
	if (n > length)
		n = length;
	memcpy(buf, srv.out + srv.out_off, n);
	srv.out_off += n;
	if (srv.out_off == srv.out_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(s, id, trailers, 1);
	}
	return (ssize_t)n;
}

static void put_message(const char *m)
{
	size_t n = strlen(m);

	srv.out[srv.out_len++] = 0;
	srv.out[srv.out_len++] = 0;
	srv.out[srv.out_len++] = 0;
	srv.out[srv.out_len++] = 0;
	srv.out[srv.out_len++] = (uint8_t)n;
	memcpy(srv.out + srv.out_len, m, n);
	srv.out_len += n;
}

#define NV(n, v)                                                                                                       \
	{                                                                                                              \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE                     \
	}

static void respond(int32_t id)
{
	static const nghttp2_nv ok[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
	static const nghttp2_nv only[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
	                                  NV("grpc-status", "5"), NV("grpc-message", "task%20not%20found")};
	static const nghttp2_nv unavailable[] = {NV(":status", "503"), NV("content-type", "text/plain")};
	nghttp2_data_provider prd = {.read_callback = srv_read};

	switch (srv.answer) {
	case ANSWER_OK:
		put_message("0123456789abcdefghij");
		nghttp2_submit_response(srv.s, id, ok, 2, &prd);
		break;
	case ANSWER_THREE:
		put_message("a");
		put_message("bb");
		put_message("ccc");
		nghttp2_submit_response(srv.s, id, ok, 2, &prd);
		break;
	case ANSWER_TRAILERS_ONLY:
		nghttp2_submit_response(srv.s, id, only, 4, NULL);
		break;
	case ANSWER_HTTP_503:
		nghttp2_submit_response(srv.s, id, unavailable, 2, NULL);
		break;
	case ANSWER_NONE:
		break;
	}
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl, const uint8_t *value,
                      size_t vl, uint8_t flags, void *ud)
{
	size_t len = strlen(srv.headers);

	(void)s;
	(void)f;
	(void)flags;
	(void)ud;
	snprintf(srv.headers + len, sizeof(srv.headers) - len, "%.*s: %.*s\n", (int)nl, name, (int)vl, value);
	return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n, void *ud)
{
	(void)s;
	(void)flags;
	(void)id;
	(void)ud;
	if (srv.body_len + n <= sizeof(srv.body)) {
		memcpy(srv.body + srv.body_len, d, n);
		srv.body_len += n;
	}
	return 0;
}

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	(void)ud;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		srv.rst_seen = true;
		srv.rst_code = f->rst_stream.error_code;
	}
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		respond(f->hd.stream_id);
	return 0;
}

/* ---- the client side ---- */

static kc_gc *gc;
static char got[256];
static int n_messages;
static int done_status = -1;
static char done_message[128];
static int n_done;
static bool last_refused;
static kc_gc_stream *pause_me;

static void on_message(void *call, const uint8_t *d, size_t n, void *ud)
{
	size_t len = strlen(got);

	(void)call;
	(void)ud;
	snprintf(got + len, sizeof(got) - len, "%.*s|", (int)n, (const char *)d);
	n_messages++;
	if (pause_me)
		kc_gc_pause(gc, pause_me, true);
}

static void on_done(void *call, int status, const char *message, bool refused, void *ud)
{
	(void)call;
	(void)ud;
	last_refused = refused;
	done_status = status;
	snprintf(done_message, sizeof(done_message), "%s", message);
	n_done++;
}

static const kc_gc_callbacks cb = {on_message, on_done};

/* Moves bytes both ways until neither side has more. */
static void pump(void)
{
	bool moved = true;

	while (moved) {
		const uint8_t *p;
		long n;
		ssize_t m;

		moved = false;
		while ((n = kc_gc_send(gc, &p)) > 0) {
			assert_true(nghttp2_session_mem_recv(srv.s, p, (size_t)n) == n);
			moved = true;
		}
		while ((m = nghttp2_session_mem_send(srv.s, &p)) > 0) {
			assert_int_equal(kc_gc_recv(gc, p, (size_t)m), 0);
			moved = true;
		}
	}
}

static int setup(void **state)
{
	nghttp2_session_callbacks *cbs;

	(void)state;
	memset(&srv, 0, sizeof(srv));
	memset(got, 0, sizeof(got));
	n_messages = n_done = 0;
	done_status = -1;
	done_message[0] = '\0';
	pause_me = NULL;
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_on_header_callback(cbs, srv_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_frame);
	assert_int_equal(nghttp2_session_server_new(&srv.s, cbs, NULL), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(srv.s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	assert_int_equal(kc_gc_new(&gc, "localhost", &cb, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kc_gc_free(gc);
	nghttp2_session_del(srv.s);
	return 0;
}

static const kc_header md[] = {{"authorization", "Bearer tok"}, {"x-request-id", "r-1"}};

static void test_unary(void **state)
{
	kc_gc_stream *st;
	static const uint8_t want_body[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};

	(void)state;
	srv.answer = ANSWER_OK;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/ListTasks", md, 2, "abc", 3, 5000, &st, &st), 0);
	pump();
	assert_non_null(strstr(srv.headers, ":method: POST\n"));
	assert_non_null(strstr(srv.headers, ":scheme: http\n"));
	assert_non_null(strstr(srv.headers, ":path: /kc.v1.TaskService/ListTasks\n"));
	assert_non_null(strstr(srv.headers, ":authority: localhost\n"));
	assert_non_null(strstr(srv.headers, "content-type: application/grpc\n"));
	assert_non_null(strstr(srv.headers, "te: trailers\n"));
	assert_non_null(strstr(srv.headers, "grpc-timeout: 5000m\n"));
	assert_non_null(strstr(srv.headers, "authorization: Bearer tok\n"));
	assert_non_null(strstr(srv.headers, "x-request-id: r-1\n"));
	assert_int_equal(srv.body_len, sizeof(want_body));
	assert_memory_equal(srv.body, want_body, sizeof(want_body));
	assert_string_equal(got, "0123456789abcdefghij|");
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, 0);
	assert_int_equal(kc_gc_open_calls(gc), 0);
}

static void test_trailers_only(void **state)
{
	kc_gc_stream *st;

	(void)state;
	srv.answer = ANSWER_TRAILERS_ONLY;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/GetTask", md, 2, "", 0, 0, &st, &st), 0);
	pump();
	assert_null(strstr(srv.headers, "grpc-timeout"));
	assert_int_equal(n_messages, 0);
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, 5);
	assert_string_equal(done_message, "task not found");
}

static void test_http_error(void **state)
{
	kc_gc_stream *st;

	(void)state;
	srv.answer = ANSWER_HTTP_503;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/GetTask", md, 2, "", 0, 0, &st, &st), 0);
	pump();
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, KC_GRPC_UNAVAILABLE);
}

static void test_cancel(void **state)
{
	kc_gc_stream *st;

	(void)state;
	srv.answer = ANSWER_NONE;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/WatchTask", md, 2, "", 0, 0, &st, &st), 0);
	pump();
	kc_gc_cancel(gc, st);
	pump();
	assert_true(srv.rst_seen);
	assert_int_equal(srv.rst_code, NGHTTP2_CANCEL);
	assert_int_equal(n_done, 0);
	assert_int_equal(kc_gc_open_calls(gc), 0);
}

static void test_pause(void **state)
{
	kc_gc_stream *st;

	(void)state;
	srv.answer = ANSWER_THREE;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/WatchTask", md, 2, "", 0, 0, &st, &st), 0);
	pause_me = st;
	pump();
	/* Paused after the first message: the rest and the status wait. */
	assert_string_equal(got, "a|");
	assert_int_equal(n_done, 0);
	pause_me = NULL;
	kc_gc_pause(gc, st, false);
	pump();
	assert_string_equal(got, "a|bb|ccc|");
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, 0);
	assert_int_equal(kc_gc_open_calls(gc), 0);
}

static void test_bad_metadata(void **state)
{
	static const kc_header bad_value[] = {{"authorization", "Bearer \xc3\xa9"}};
	static const kc_header bad_name[] = {{"Authorization", "x"}};
	kc_gc_stream *st;

	(void)state;
	assert_int_equal(kc_gc_call(gc, "/a/b", bad_value, 1, "", 0, 0, &st, &st), KC_ERR_INVALID);
	assert_int_equal(kc_gc_call(gc, "/a/b", bad_name, 1, "", 0, 0, &st, &st), KC_ERR_INVALID);
	assert_int_equal(kc_gc_open_calls(gc), 0);
}

static void test_fail(void **state)
{
	kc_gc_stream *st;

	(void)state;
	srv.answer = ANSWER_NONE;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/WatchTask", md, 2, "", 0, 0, &st, &st), 0);
	pump();
	kc_gc_fail(gc, KC_GRPC_UNAVAILABLE, "connection lost");
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, KC_GRPC_UNAVAILABLE);
	assert_string_equal(done_message, "connection lost");
	assert_false(kc_gc_usable(gc));
}

static void test_goaway(void **state)
{
	kc_gc_stream *a;
	kc_gc_stream *b;

	(void)state;
	srv.answer = ANSWER_NONE;
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/ListTasks", md, 2, "", 0, 0, &a, &a), 0);
	assert_int_equal(kc_gc_call(gc, "/kc.v1.TaskService/ListTasks", md, 2, "", 0, 0, &b, &b), 0);
	pump();
	assert_int_equal(nghttp2_submit_goaway(srv.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0), 0);
	pump();
	/* Stream 3 was past the server's last stream: refused, not run. */
	assert_false(kc_gc_usable(gc));
	assert_int_equal(n_done, 1);
	assert_int_equal(done_status, KC_GRPC_UNAVAILABLE);
	assert_true(last_refused);
	/* Stream 1 still gets its answer. */
	srv.answer = ANSWER_OK;
	respond(1);
	pump();
	assert_int_equal(n_done, 2);
	assert_int_equal(done_status, 0);
	assert_string_equal(got, "0123456789abcdefghij|");
	assert_int_equal(kc_gc_open_calls(gc), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trailers_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_metadata, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_goaway, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
