#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"

#define VALID(lit) assert_true(kc_utf8_valid(lit, sizeof lit - 1))
#define INVALID(lit) assert_false(kc_utf8_valid(lit, sizeof lit - 1))

static void test_valid_and_invalid(void **state)
{
	(void)state;
	VALID("");
	VALID("plain ascii");
	VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	VALID("\xf4\x8f\xbf\xbf");   /* U+10FFFF */
	INVALID("\xc0\xaf");         /* overlong '/' */
	INVALID("\xe0\x80\xaf");     /* overlong */
	INVALID("\xed\xa0\x80");     /* surrogate */
	INVALID("\xf4\x90\x80\x80"); /* above U+10FFFF */
	INVALID("\xc3");             /* truncated */
	INVALID("\x80");             /* lone continuation */
	INVALID("\xff");
}

static void test_sanitize_replaces_bad_bytes_and_nul(void **state)
{
	(void)state;
	static const char in[] = "ok\xff\xc3\xa9\0end\xe2\x82";
	size_t len = 0;
	char *out = kc_utf8_sanitize(in, sizeof in - 1, &len);
	assert_non_null(out);
	assert_string_equal(out, "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd"
	                         "end\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(len, strlen(out));
	assert_true(kc_utf8_valid(out, len));
	free(out);
}

/* A stream chunk cut inside a sequence holds the start back for the next
 * chunk instead of replacing it. */
static void test_chunk_holds_partial_sequence(void **state)
{
	(void)state;
	size_t held = 99;
	char *s = kc_utf8_sanitize_chunk("a\xff"
	                                 "b",
	                                 3, false, &held);
	assert_string_equal(s, "a\xef\xbf\xbd"
	                       "b");
	assert_int_equal(held, 0);
	free(s);
	s = kc_utf8_sanitize_chunk("ok\xe2\x82", 4, true, &held);
	assert_string_equal(s, "ok");
	assert_int_equal(held, 2);
	free(s);
	s = kc_utf8_sanitize_chunk("ok\xe2\x82", 4, false, &held);
	assert_string_equal(s, "ok\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(held, 0);
	free(s);
	/* An impossible start is replaced even at the end. */
	s = kc_utf8_sanitize_chunk("x\xe0\x80", 3, true, &held);
	assert_string_equal(s, "x\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(held, 0);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_and_invalid),
	    cmocka_unit_test(test_sanitize_replaces_bad_bytes_and_nul),
	    cmocka_unit_test(test_chunk_holds_partial_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
