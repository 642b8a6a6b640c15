/*
 * Every allocation of the JSON codec and the stream parser fails in turn
 * (the linker routes their malloc, calloc, realloc and strdup through the
 * wrappers below): each call must then return KC_ERR_NOMEM or succeed,
 * never crash, and leak nothing (LeakSanitizer checks at exit under
 * --config=asan). Allocations inside jansson and libc are not failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/lib/json_pb.h"
#include "client/lib/stream.h"
#include "kc/error.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

/* -1: never fail; otherwise the number of allocations still allowed. */
static long budget = -1;
static long failed;

static int allow(void)
{
	if (budget < 0)
		return 1;
	if (budget == 0) {
		failed++;
		return 0;
	}
	budget--;
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return allow() ? __real_malloc(n) : NULL;
}

void *__wrap_calloc(size_t n, size_t m)
{
	return allow() ? __real_calloc(n, m) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
	return allow() ? __real_realloc(p, n) : NULL;
}

char *__wrap_strdup(const char *s)
{
	return allow() ? __real_strdup(s) : NULL;
}

static const char *inputs[][2] = {
    {"task", "{\"task_id\":\"1-a\",\"prompt\":\"p\",\"status\":\"running\",\"error\":\"e\",\"finished_at\":2,"
             "\"followups\":[{\"prompt\":\"a\",\"sent_at\":1},{\"prompt\":\"b\",\"sent_at\":2}]}"},
    {"list", "{\"tasks\":[{\"task_id\":\"1-a\",\"finished_at\":1},{\"task_id\":\"2-b\"}],\"next_page_token\":\"x\"}"},
    {"health", "{\"status\":\"healthy\",\"services\":{\"a\":{\"status\":\"up\",\"latency_ms\":1},\"b\":{\"port\":2}}}"},
    {"event", "{\"output\":{\"text\":\"hello\",\"offset\":\"3\"}}"},
};

static const ProtobufCMessageDescriptor *desc_for(const char *name)
{
	if (strcmp(name, "task") == 0)
		return &kc__v1__task__descriptor;
	if (strcmp(name, "list") == 0)
		return &kc__v1__list_tasks_response__descriptor;
	if (strcmp(name, "health") == 0)
		return &kc__v1__health__descriptor;
	return &kc__v1__task_event__descriptor;
}

static void test_codec_every_allocation_fails(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		const ProtobufCMessageDescriptor *d = desc_for(inputs[i][0]);
		const char *in = inputs[i][1];
		for (long n = 0;; n++) {
			budget = n;
			failed = 0;
			ProtobufCMessage *m = NULL;
			int rc = kci_json_buf_to_pb(in, strlen(in), d, &m, NULL, 0);
			char *s = NULL;
			if (rc == 0) {
				s = kci_pb_to_json_text(m);
				protobuf_c_message_free_unpacked(m, NULL);
			} else {
				assert_int_equal(rc, KC_ERR_NOMEM);
				assert_null(m);
			}
			long f = failed;
			budget = -1;
			free(s);
			if (f == 0) {
				assert_int_equal(rc, 0);
				/* The wrappers were reached: at least one run failed. */
				assert_true(n > 0);
				break; /* every allocation was allowed: done */
			}
			assert_true(n < 10000);
		}
	}
}

static int count(const char *p, size_t len, void *ud)
{
	(void)p, (void)len;
	(*(int *)ud)++;
	return 0;
}

static void test_stream_new_fails_cleanly(void **state)
{
	(void)state;
	for (long n = 0; n < 4; n++) {
		budget = n;
		failed = 0;
		kci_stream *s = (kci_stream *)0x1;
		int hits = 0;
		int rc = kci_stream_new(&s, true, 64, count, &hits);
		long f = failed;
		budget = -1;
		if (f) {
			assert_int_equal(rc, KC_ERR_NOMEM);
			assert_ptr_equal(s, (kci_stream *)0x1);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(kci_stream_feed(s, "data: x\n\n", 9), 0);
			assert_int_equal(hits, 1);
			kci_stream_free(s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec_every_allocation_fails),
	    cmocka_unit_test(test_stream_new_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
