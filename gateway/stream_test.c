/*
 * stream_test.c - server-streaming calls through the request layer
 * (handler.c, request.c, stream.c) against the stub kc-server, with a
 * recording exchange: SSE and NDJSON framing to the end of a stream, an
 * error before the first message, messages that do not render (before
 * and after the stream started), and the three ways a stream is cut
 * short (a write the connection refuses, a client that leaves, the drain),
 * each of which must cancel kc-server's call and end the request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/gw.h"
#include "gateway/gw_test_support.h"

static const char *stub_binary;

#define TASK "1732665600-9f3a1c2b"

typedef kc_test_gw_fixture fixture;

static const char *const sse[] = {"authorization", "Bearer good", "accept", "text/event-stream", NULL};
static const char *const plain[] = {"authorization", "Bearer good", NULL};

static int setup(void **state)
{
	*state = kc_test_gw_fixture_new(stub_binary);
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	/* Every request ended; no stream is counted open. */
	assert_null(f->gw.requests);
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_open_streams"), 0);
	kc_test_gw_fixture_free(f);
	return 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static bool saw_cancel(void *arg)
{
	return kc_test_stub_saw_cancel(arg);
}

static void sse_frames_each_message_then_ends(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/" TASK "/watch", sse);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	kc_test_ex_text(&t);
	assert_int_equal(t.n_start, 1);
	assert_int_equal(t.n_end, 1);
	assert_int_equal(t.n_respond, 0);
	assert_int_equal(t.status, 200);
	assert_string_equal(t.content_type, "text/event-stream");
	/* The stub's three events, each one `data: {...}` and a blank line. */
	assert_int_equal(count(t.body.data, "data: {"), 3);
	assert_int_equal(count(t.body.data, "}\n\n"), 3);
	assert_non_null(strstr(t.body.data, "working...\\n"));
	kc_test_ex_release(&t);
}

static void ndjson_is_one_line_per_message(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/" TASK "/watch", plain);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	kc_test_ex_text(&t);
	assert_string_equal(t.content_type, "application/x-ndjson");
	assert_int_equal(count(t.body.data, "}\n"), 3);
	assert_int_equal(count(t.body.data, "data:"), 0);
	assert_int_equal(t.n_end, 1);
	kc_test_ex_release(&t);
}

static void an_error_before_the_first_message_is_a_json_error(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/missing/watch", sse);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	kc_test_ex_text(&t);
	assert_int_equal(t.n_start, 0);
	assert_int_equal(t.n_respond, 1);
	assert_int_equal(t.status, 404);
	assert_string_equal(t.body.data, "{\"error\":\"task not found\"}");
	kc_test_ex_release(&t);
}

static void a_first_message_that_does_not_render_is_a_502(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/badfirst/watch", sse);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	kc_test_ex_text(&t);
	/* As a unary answer that does not render: 502, counted, call gone. */
	assert_int_equal(t.n_start, 0);
	assert_int_equal(t.status, 502);
	assert_string_equal(t.body.data, "{\"error\":\"bad answer from kc-server\"}");
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_upstream_errors_total"), 1);
	assert_true(kc_test_loop_until(f->base, saw_cancel, &f->stub, 10000));
	kc_test_ex_release(&t);
}

static void a_later_message_that_does_not_render_ends_with_an_error_event(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/badlater/watch", sse);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	kc_test_ex_text(&t);
	assert_int_equal(t.n_start, 1);
	assert_int_equal(t.n_end, 1);
	/* The good event, then the error as an SSE `error` event. */
	assert_int_equal(count(t.body.data, "data: {"), 2);
	assert_non_null(strstr(t.body.data, "event: error\ndata: {\"error\":\"bad answer from kc-server\"}\n\n"));
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_upstream_errors_total"), 1);
	assert_true(kc_test_loop_until(f->base, saw_cancel, &f->stub, 10000));
	kc_test_ex_release(&t);
}

static void a_refused_write_ends_the_stream_and_its_call(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/forever/watch", sse);
	t.fail_write_at = 1;
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, &t, 10000));
	assert_int_equal(t.n_start, 1);
	assert_int_equal(t.n_end, 1);
	/* Not one write more after the refused one. */
	assert_int_equal(t.n_write, 1);
	assert_true(kc_test_loop_until(f->base, saw_cancel, &f->stub, 10000));
	kc_test_ex_release(&t);
}

static void a_client_that_leaves_cancels_the_call(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/forever/watch", sse);
	kc_gw_handle(&f->gw, &t.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_wrote, &t, 10000));
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_open_streams"), 1);
	kc_gw_abort(&f->gw, &t.ex);
	assert_null(t.ex.app);
	assert_true(kc_test_loop_until(f->base, saw_cancel, &f->stub, 10000));
	/* Nothing is sent to an exchange that is gone. */
	assert_int_equal(t.n_end, 0);
	kc_test_ex_release(&t);
}

static void the_drain_ends_open_streams_cleanly(void **state)
{
	fixture *f = *state;
	kc_test_ex t;
	kc_test_ex u;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/forever/watch", sse);
	kc_test_ex_init(&u, "GET", "/api/claude/tasks/forever/watch", plain);
	kc_gw_handle(&f->gw, &t.ex);
	kc_gw_handle(&f->gw, &u.ex);
	assert_true(kc_test_loop_until(f->base, kc_test_ex_wrote, &t, 10000));
	assert_true(kc_test_loop_until(f->base, kc_test_ex_wrote, &u, 10000));
	kc_gw_drain_requests(&f->gw);
	assert_int_equal(t.n_end, 1);
	assert_int_equal(u.n_end, 1);
	assert_null(f->gw.requests);
	assert_true(kc_test_loop_until(f->base, saw_cancel, &f->stub, 10000));
	kc_test_ex_release(&t);
	kc_test_ex_release(&u);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(sse_frames_each_message_then_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(ndjson_is_one_line_per_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(an_error_before_the_first_message_is_a_json_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_first_message_that_does_not_render_is_a_502, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_later_message_that_does_not_render_ends_with_an_error_event, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_refused_write_ends_the_stream_and_its_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_client_that_leaves_cancels_the_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(the_drain_ends_open_streams_cleanly, setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: stream_test STUB_SERVER\n");
		return 2;
	}
	stub_binary = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
