/*
 * unary_test.c - unary API calls through the request layer (handler.c,
 * request.c, unary.c) against the stub kc-server on a unix socket, with a
 * recording exchange in place of a connection: answers and their
 * statuses, errors as {"error": ...}, identical reads sharing one call,
 * clients that leave before the answer, an answer the connection refuses,
 * and kc-server away.
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

static const char *const good[] = {"authorization", "Bearer good", NULL};
static const char *const other[] = {"authorization", "Bearer other", NULL};

static int setup_with(void **state, bool running)
{
	fixture *f = kc_test_gw_fixture_new(running ? stub_binary : NULL);

	f->gw.cfg.upstream_wait_ms = 0;
	*state = f;
	return 0;
}

static int setup_running(void **state)
{
	return setup_with(state, true);
}

static int setup_absent(void **state)
{
	return setup_with(state, false);
}

static int teardown(void **state)
{
	fixture *f = *state;

	/* Every request ended, every batch closed. */
	assert_null(f->gw.requests);
	assert_null(f->gw.open_batches);
	kc_test_gw_fixture_free(f);
	return 0;
}

static void run(fixture *f, kc_test_ex *t)
{
	assert_true(kc_test_loop_until(f->base, kc_test_ex_done, t, 10000));
	kc_test_ex_text(t);
}

static void get_answers_200_with_json(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/" TASK, good);
	kc_gw_handle(&f->gw, &t.ex);
	run(f, &t);
	assert_int_equal(t.n_respond, 1);
	assert_int_equal(t.status, 200);
	assert_string_equal(t.content_type, "application/json");
	assert_non_null(strstr(t.body.data, "\"task_id\":\"" TASK "\""));
	assert_null(t.ex.app);
	kc_test_ex_release(&t);
}

static void create_answers_201(void **state)
{
	fixture *f = *state;
	const char *const hdrs[] = {"authorization", "Bearer good", "content-type", "application/json", NULL};
	kc_test_ex t;

	kc_test_ex_init(&t, "POST", "/api/claude/tasks", hdrs);
	kc_buf_puts(&t.ex.req.body, "{\"prompt\":\"write tests\"}");
	kc_gw_handle(&f->gw, &t.ex);
	run(f, &t);
	assert_int_equal(t.status, 201);
	assert_non_null(strstr(t.body.data, "\"prompt\":\"write tests\""));
	kc_test_ex_release(&t);
}

static void grpc_errors_become_json_errors(void **state)
{
	fixture *f = *state;
	kc_test_ex t;
	kc_test_ex u;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/missing", good);
	kc_gw_handle(&f->gw, &t.ex);
	run(f, &t);
	assert_int_equal(t.status, 404);
	assert_string_equal(t.body.data, "{\"error\":\"task not found\"}");
	kc_test_ex_release(&t);

	kc_test_ex_init(&u, "GET", "/api/claude/tasks/" TASK, NULL);
	kc_gw_handle(&f->gw, &u.ex);
	run(f, &u);
	assert_int_equal(u.status, 401);
	assert_string_equal(u.body.data, "{\"error\":\"missing or invalid credentials\"}");
	kc_test_ex_release(&u);
}

static void http_body_keeps_its_bytes_and_type(void **state)
{
	fixture *f = *state;
	kc_test_ex t;

	kc_test_ex_init(&t, "GET", "/api/claude/tasks/" TASK "/output?tail=7", good);
	kc_gw_handle(&f->gw, &t.ex);
	run(f, &t);
	assert_int_equal(t.status, 200);
	assert_string_equal(t.content_type, "text/plain; charset=utf-8");
	assert_string_equal(t.body.data, "tail=7\nline two\n");
	kc_test_ex_release(&t);
}

static void identical_reads_share_one_call(void **state)
{
	fixture *f = *state;
	kc_test_ex a;
	kc_test_ex b;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	kc_test_ex_init(&b, "GET", "/api/claude/tasks/" TASK, good);
	/* Both arrive in one pass of the loop: the second joins the first. */
	kc_gw_handle(&f->gw, &a.ex);
	kc_gw_handle(&f->gw, &b.ex);
	run(f, &a);
	run(f, &b);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 200);
	assert_string_equal(a.body.data, b.body.data);
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_shared_answers_total"), 1);
	kc_test_ex_release(&a);
	kc_test_ex_release(&b);
}

static void other_credentials_do_not_share(void **state)
{
	fixture *f = *state;
	kc_test_ex a;
	kc_test_ex b;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	kc_test_ex_init(&b, "GET", "/api/claude/tasks/" TASK, other);
	kc_gw_handle(&f->gw, &a.ex);
	kc_gw_handle(&f->gw, &b.ex);
	run(f, &a);
	run(f, &b);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 401);
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_shared_answers_total"), 0);
	kc_test_ex_release(&a);
	kc_test_ex_release(&b);
}

static void a_waiter_that_leaves_does_not_stop_the_others(void **state)
{
	fixture *f = *state;
	kc_test_ex a;
	kc_test_ex b;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	kc_test_ex_init(&b, "GET", "/api/claude/tasks/" TASK, good);
	kc_gw_handle(&f->gw, &a.ex);
	kc_gw_handle(&f->gw, &b.ex);
	kc_gw_abort(&f->gw, &a.ex);
	assert_null(a.ex.app);
	run(f, &b);
	assert_int_equal(b.status, 200);
	assert_int_equal(a.n_respond, 0);
	kc_test_ex_release(&a);
	kc_test_ex_release(&b);
}

static void the_last_waiter_leaving_cancels_the_call(void **state)
{
	fixture *f = *state;
	kc_test_ex a;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	kc_gw_handle(&f->gw, &a.ex);
	assert_non_null(f->gw.requests);
	kc_gw_abort(&f->gw, &a.ex);
	assert_null(f->gw.requests);
	/* The batch is gone with its call: nothing arrives later. */
	kc_test_loop_for(f->base, 300);
	assert_int_equal(a.n_respond, 0);
	kc_test_ex_release(&a);
}

static void an_answer_the_connection_refuses_still_ends_the_request(void **state)
{
	fixture *f = *state;
	kc_test_ex a;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	a.respond_rc = KC_ERR_TOO_LARGE;
	kc_gw_handle(&f->gw, &a.ex);
	run(f, &a);
	assert_int_equal(a.n_respond, 1);
	assert_null(a.ex.app);
	assert_null(f->gw.requests);
	kc_test_ex_release(&a);
}

static void kc_server_away_is_503(void **state)
{
	fixture *f = *state;
	kc_test_ex a;

	kc_test_ex_init(&a, "GET", "/api/claude/tasks/" TASK, good);
	kc_gw_handle(&f->gw, &a.ex);
	run(f, &a);
	assert_int_equal(a.status, 503);
	assert_non_null(strstr(a.body.data, "{\"error\":"));
	assert_int_equal(kc_test_metric(&f->gw, "kc_gateway_upstream_errors_total"), 1);
	kc_test_ex_release(&a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(get_answers_200_with_json, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(create_answers_201, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(grpc_errors_become_json_errors, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(http_body_keeps_its_bytes_and_type, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(identical_reads_share_one_call, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(other_credentials_do_not_share, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(a_waiter_that_leaves_does_not_stop_the_others, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(the_last_waiter_leaving_cancels_the_call, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(an_answer_the_connection_refuses_still_ends_the_request, setup_running,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(kc_server_away_is_503, setup_absent, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: unary_test STUB_SERVER\n");
		return 2;
	}
	stub_binary = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
