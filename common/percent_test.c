#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/percent.h"

static long dec(const char *s, bool plus, char *out)
{
	return kc_percent_decode(s, strlen(s), out, plus);
}

static void test_decodes(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(dec("a%2Fb%2fc", false, out), 5);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(dec("caf%C3%A9+x", false, out), 7);
	assert_string_equal(out, "caf\xc3\xa9+x");
	assert_int_equal(dec("a+b%2B", true, out), 4);
	assert_string_equal(out, "a b+");
	assert_int_equal(dec("", false, out), 0);
	assert_string_equal(out, "");
}

static void test_refuses(void **state)
{
	(void)state;
	char out[64];
	static const char *const bad[] = {"%", "%4", "a%zz", "%g0", "a%00b", "%0"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dec(bad[i], false, out), -1);
	/* A raw NUL inside the length is refused too. */
	assert_int_equal(kc_percent_decode("a\0b", 3, out, false), -1);
	assert_int_equal(kc_hex_digit('F'), 15);
	assert_int_equal(kc_hex_digit('g'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decodes),
	    cmocka_unit_test(test_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
