/*
 * upstream_test.c - kc_upstream against a real gRPC server (the stub
 * kc-server, tests/gateway/stub_server) on a unix socket: a unary answer
 * and its status, an error status, a stream cancelled by the caller, a
 * call that finds no server, one that waits for the server to come up,
 * callbacks never inside kc_upcall_start, and the flush counter.
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
#include "gateway/grpc_client.h"
#include "gateway/gw_test_support.h"
#include "gateway/upstream.h"
#include "kc/v1/task.pb-c.h"

static const char *stub_binary;

typedef struct fixture {
	struct event_base *base;
	kc_test_stub stub;
	kc_upstream *up;
} fixture;

/* What one call's callbacks saw. */
typedef struct seen {
	int messages;
	bool done;
	int status;
	char message[128];
	char task_id[64];
	kc_upcall *call;
	/* Cancel the call from inside its first message. */
	bool cancel_on_message;
} seen;

static void on_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	seen *s = ud;
	Kc__V1__Task *t = kc__v1__task__unpack(NULL, len, data);

	s->messages++;
	if (t) {
		snprintf(s->task_id, sizeof(s->task_id), "%s", t->task_id);
		kc__v1__task__free_unpacked(t, NULL);
	}
	if (s->cancel_on_message) {
		kc_upcall_cancel(call);
		s->call = NULL;
		s->done = true;
	}
}

static void on_done(kc_upcall *call, int status, const char *message, void *ud)
{
	seen *s = ud;

	(void)call;
	s->done = true;
	s->call = NULL;
	s->status = status;
	snprintf(s->message, sizeof(s->message), "%s", message);
}

static const kc_upcall_callbacks cb = {on_message, on_done};

static bool seen_done(void *arg)
{
	return ((seen *)arg)->done;
}

static int setup_running(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	f->base = event_base_new();
	kc_test_stub_prepare(&f->stub);
	kc_test_stub_start(&f->stub, stub_binary);
	assert_int_equal(kc_upstream_new(&f->up, f->base, f->stub.target), 0);
	*state = f;
	return 0;
}

/* No server yet: the socket's path is named but nothing listens. */
static int setup_absent(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	f->base = event_base_new();
	kc_test_stub_prepare(&f->stub);
	assert_int_equal(kc_upstream_new(&f->up, f->base, f->stub.target), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	kc_upstream_free(f->up);
	kc_test_stub_stop(&f->stub);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* A packed request naming task `id` (GetTaskRequest and WatchTaskRequest
 * both have task_id as field 1). */
static size_t pack_task_request(const char *id, uint8_t *buf)
{
	Kc__V1__GetTaskRequest req = KC__V1__GET_TASK_REQUEST__INIT;

	req.task_id = (char *)id;
	return kc__v1__get_task_request__pack(&req, buf);
}

static const kc_header good_md[] = {{"authorization", "Bearer good"}, {"x-request-id", "upstream-test"}};

static int start(fixture *f, const char *method, const char *id, const kc_upcall_opts *opts, seen *s)
{
	uint8_t buf[128];
	size_t n = pack_task_request(id, buf);

	return kc_upcall_start(f->up, method, good_md, 2, buf, n, opts, &cb, s, &s->call);
}

static void unary_answer_and_ok(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 2000};
	uint64_t flushes = kc_upstream_flushes(f->up);

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "1732665600-9f3a1c2b", &opts, &s), 0);
	/* Nothing is reported from inside the start. */
	assert_false(s.done);
	assert_int_equal(s.messages, 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 10000));
	assert_int_equal(s.status, KC_GRPC_OK);
	assert_int_equal(s.messages, 1);
	assert_string_equal(s.task_id, "1732665600-9f3a1c2b");
	/* The call's bytes left for the server. */
	assert_true(kc_upstream_flushes(f->up) > flushes);
}

static void error_status_and_message(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 2000};

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "missing", &opts, &s), 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 10000));
	assert_int_equal(s.status, KC_GRPC_NOT_FOUND);
	assert_string_equal(s.message, "task not found");
	assert_int_equal(s.messages, 0);
}

static void unauthenticated_without_credentials(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 2000};
	uint8_t buf[128];
	size_t n = pack_task_request("x", buf);
	kc_header md = {"x-request-id", "no-credentials"};

	assert_int_equal(kc_upcall_start(f->up, "/kc.v1.TaskService/GetTask", &md, 1, buf, n, &opts, &cb, &s, &s.call),
	                 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 10000));
	assert_int_equal(s.status, KC_GRPC_UNAUTHENTICATED);
}

static bool stub_saw_cancel(void *arg)
{
	return kc_test_stub_saw_cancel(arg);
}

static void stream_cancelled_by_caller(void **state)
{
	fixture *f = *state;
	seen s = {.cancel_on_message = true};
	kc_upcall_opts opts = {.wait_ms = 2000, .idempotent = true};

	assert_int_equal(start(f, "/kc.v1.TaskService/WatchTask", "forever", &opts, &s), 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 10000));
	assert_int_equal(s.messages, 1);
	/* The cancel reached kc-server (RST_STREAM), and no callback came
	 * after it. */
	assert_true(kc_test_loop_until(f->base, stub_saw_cancel, &f->stub, 10000));
	assert_int_equal(s.messages, 1);
}

static void stream_runs_to_its_end(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.wait_ms = 2000, .idempotent = true};

	assert_int_equal(start(f, "/kc.v1.TaskService/WatchTask", "1732665600-9f3a1c2b", &opts, &s), 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 10000));
	/* The stub's three events (output, task, completed task), then OK. */
	assert_int_equal(s.messages, 3);
	assert_int_equal(s.status, KC_GRPC_OK);
}

static void no_server_fails_unavailable(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 0};

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "x", &opts, &s), 0);
	assert_false(s.done);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 5000));
	assert_int_equal(s.status, KC_GRPC_UNAVAILABLE);
}

static void waits_for_the_server_within_budget(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 20000, .wait_ms = 15000};

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "later", &opts, &s), 0);
	kc_test_loop_for(f->base, 300);
	assert_false(s.done);
	kc_test_stub_start(&f->stub, stub_binary);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 15000));
	assert_int_equal(s.status, KC_GRPC_OK);
	assert_string_equal(s.task_id, "later");
}

static void wait_budget_runs_out(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 200};

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "x", &opts, &s), 0);
	assert_true(kc_test_loop_until(f->base, seen_done, &s, 5000));
	assert_int_equal(s.status, KC_GRPC_UNAVAILABLE);
}

static void cancel_before_any_answer(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000, .wait_ms = 2000};

	assert_int_equal(start(f, "/kc.v1.TaskService/GetTask", "x", &opts, &s), 0);
	kc_upcall_cancel(s.call);
	kc_test_loop_for(f->base, 200);
	/* No callback after a cancel. */
	assert_false(s.done);
	assert_int_equal(s.messages, 0);
}

static void too_much_metadata_is_refused(void **state)
{
	fixture *f = *state;
	seen s = {0};
	kc_upcall_opts opts = {.timeout_ms = 5000};
	kc_header md[9];
	size_t i;

	for (i = 0; i < 9; i++)
		md[i] = (kc_header){"x-extra", "v"};
	assert_int_equal(kc_upcall_start(f->up, "/kc.v1.TaskService/GetTask", md, 9, "", 0, &opts, &cb, &s, &s.call),
	                 KC_ERR_INVALID);
	kc_test_loop_for(f->base, 50);
	assert_false(s.done);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(unary_answer_and_ok, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(error_status_and_message, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(unauthenticated_without_credentials, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(stream_cancelled_by_caller, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(stream_runs_to_its_end, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(cancel_before_any_answer, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(too_much_metadata_is_refused, setup_running, teardown),
	    cmocka_unit_test_setup_teardown(no_server_fails_unavailable, setup_absent, teardown),
	    cmocka_unit_test_setup_teardown(waits_for_the_server_within_budget, setup_absent, teardown),
	    cmocka_unit_test_setup_teardown(wait_budget_runs_out, setup_absent, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: upstream_test STUB_SERVER\n");
		return 2;
	}
	stub_binary = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
