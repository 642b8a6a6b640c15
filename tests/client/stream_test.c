/* The watch framing parser: SSE and NDJSON, split anywhere, capped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/lib/stream.h"
#include "kc/error.h"

struct got {
	char items[8][128];
	int n;
	int stop_after;
};

static int collect(const char *p, size_t len, void *ud)
{
	struct got *g = ud;
	assert_int_equal(strlen(p), len);
	if (g->n < 8)
		snprintf(g->items[g->n], sizeof g->items[0], "%s", p);
	g->n++;
	return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

/* Feeds `in` one byte at a time and all at once; both give the same. */
static struct got run(bool sse, const char *in, size_t cap, int *rc_out)
{
	struct got g1 = {0}, g2 = {0};
	kci_stream *s = NULL;
	assert_int_equal(kci_stream_new(&s, sse, cap, collect, &g1), 0);
	int rc1 = 0;
	for (size_t i = 0; in[i] && rc1 == 0; i++)
		rc1 = kci_stream_feed(s, in + i, 1);
	if (rc1 == 0)
		rc1 = kci_stream_finish(s);
	kci_stream_free(s);
	assert_int_equal(kci_stream_new(&s, sse, cap, collect, &g2), 0);
	int rc2 = kci_stream_feed(s, in, strlen(in));
	if (rc2 == 0)
		rc2 = kci_stream_finish(s);
	kci_stream_free(s);
	assert_int_equal(rc1, rc2);
	assert_int_equal(g1.n, g2.n);
	for (int i = 0; i < g1.n && i < 8; i++)
		assert_string_equal(g1.items[i], g2.items[i]);
	*rc_out = rc1;
	return g1;
}

static void test_sse(void **state)
{
	(void)state;
	int rc;
	struct got g = run(true,
	                   ": heartbeat\n\n"
	                   "data: {\"a\":1}\n\n"
	                   "event: task\r\nid: 7\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\n"
	                   "data:nospace\n\n"
	                   "retry: 10\n\n"
	                   "data: unfinished",
	                   1024, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.items[0], "{\"a\":1}");
	assert_string_equal(g.items[1], "{\"b\":\n2}");
	assert_string_equal(g.items[2], "nospace");
}

static void test_ndjson(void **state)
{
	(void)state;
	int rc;
	struct got g = run(false, "{\"a\":1}\n\n  \n{\"b\":2}\r\n{\"c\":3}", 1024, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.items[0], "{\"a\":1}");
	assert_string_equal(g.items[1], "{\"b\":2}");
	assert_string_equal(g.items[2], "{\"c\":3}");
}

static void test_caps(void **state)
{
	(void)state;
	int rc;
	struct got g = run(false, "0123456789abcdef\n", 8, &rc);
	assert_int_equal(rc, KC_ERR_TOO_LARGE);
	assert_int_equal(g.n, 0);
	/* an event grown from many short data lines is capped too */
	g = run(true, "data: 1234\ndata: 1234\ndata: 1234\n\n", 12, &rc);
	assert_int_equal(rc, KC_ERR_TOO_LARGE);
	/* once failed, it stays failed */
	kci_stream *s = NULL;
	struct got g2 = {0};
	assert_int_equal(kci_stream_new(&s, false, 4, collect, &g2), 0);
	assert_int_equal(kci_stream_feed(s, "123456\n", 7), KC_ERR_TOO_LARGE);
	assert_int_equal(kci_stream_feed(s, "1\n", 2), KC_ERR_TOO_LARGE);
	kci_stream_free(s);
	kci_stream_free(NULL);
}

static void test_callback_stops(void **state)
{
	(void)state;
	kci_stream *s = NULL;
	struct got g = {.stop_after = 1};
	assert_int_equal(kci_stream_new(&s, false, 64, collect, &g), 0);
	assert_int_equal(kci_stream_feed(s, "a\nb\nc\n", 6), 7);
	assert_int_equal(g.n, 1);
	kci_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sse),
	    cmocka_unit_test(test_ndjson),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
