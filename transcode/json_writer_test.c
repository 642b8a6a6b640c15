/* json_writer_test.c - the JSON writer on its own (json_writer.c and the
 * integer writers of transcode_internal.h): string escaping of every byte
 * that needs it at every position of the word-at-a-time scan, UTF-8
 * repair, integer edges, shortest doubles that read back exactly, base64. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"
#include "transcode/transcode.h"
#include "transcode/transcode_internal.h"

/* The buffer's text, NUL-terminated; the caller frees. */
static char *take(kc_buf *b)
{
	char *s;

	assert_int_equal(b->err, 0);
	s = kc_buf_steal(b, NULL);
	assert_non_null(s);
	return s;
}

static char *string_json(const char *s, size_t len)
{
	kc_buf b;

	kc_buf_init(&b, 0);
	assert_int_equal(kc_json_put_string(&b, s, len), 0);
	return take(&b);
}

/* The escape JSON wants for byte c, or NULL when c is written as is. */
static const char *escape_of(unsigned char c, char *tmp)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\t':
		return "\\t";
	case '\n':
		return "\\n";
	case '\f':
		return "\\f";
	case '\r':
		return "\\r";
	}
	if (c < 0x20) {
		snprintf(tmp, 8, "\\u%04x", c);
		return tmp;
	}
	return NULL;
}

static void test_every_ascii_byte_alone(void **state)
{
	unsigned c;

	(void)state;
	for (c = 0; c < 0x80; c++) {
		char in = (char)c;
		char tmp[8];
		char want[16];
		const char *esc = escape_of((unsigned char)c, tmp);
		char *got = string_json(&in, 1);

		if (esc)
			snprintf(want, sizeof(want), "\"%s\"", esc);
		else
			snprintf(want, sizeof(want), "\"%c\"", (char)c);
		assert_string_equal(got, want);
		free(got);
	}
}

/* Each byte that needs an escape, at every offset of a 40-byte text, so it
 * falls in every lane of the 8-byte scan and in the tail after it. */
static void test_escapes_in_every_lane(void **state)
{
	unsigned c;
	size_t at;

	(void)state;
	for (c = 0; c < 0x80; c++) {
		char tmp[8];
		const char *esc = escape_of((unsigned char)c, tmp);

		if (!esc)
			continue;
		for (at = 0; at < 40; at++) {
			char in[40];
			char want[64];
			char *got;

			memset(in, 'a', sizeof(in));
			in[at] = (char)c;
			snprintf(want, sizeof(want), "\"%.*s%s%.*s\"", (int)at, in, esc, (int)(sizeof(in) - at - 1),
			         in + at + 1);
			got = string_json(in, sizeof(in));
			assert_string_equal(got, want);
			free(got);
		}
	}
}

static void test_utf8_kept_and_repaired(void **state)
{
	static const char ok[] = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 and \"quotes\" after";
	static const char bad[] = "abcdefgh\xff tail\n";
	static const char overlong[] = "\xc0\xaf";
	static const char surrogate[] = "x\xed\xa0\x80y";
	char *got;

	(void)state;
	got = string_json(ok, sizeof(ok) - 1);
	assert_string_equal(got, "\"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 and \\\"quotes\\\" after\"");
	free(got);

	/* An ill-formed byte becomes U+FFFD; escapes after it still apply. */
	got = string_json(bad, sizeof(bad) - 1);
	assert_string_equal(got, "\"abcdefgh\xef\xbf\xbd tail\\n\"");
	assert_true(kc_utf8_valid(got, strlen(got)));
	free(got);

	got = string_json(overlong, sizeof(overlong) - 1);
	assert_true(kc_utf8_valid(got, strlen(got)));
	assert_null(strstr(got, "\xc0"));
	free(got);

	got = string_json(surrogate, sizeof(surrogate) - 1);
	assert_true(kc_utf8_valid(got, strlen(got)));
	assert_null(strstr(got, "\xed\xa0\x80"));
	free(got);
}

static void check_i64(int64_t v, const char *want)
{
	kc_buf b;
	char *got;

	kc_buf_init(&b, 0);
	kc_tc_put_i64(&b, v);
	got = take(&b);
	assert_string_equal(got, want);
	free(got);
}

static void check_u64(uint64_t v, const char *want)
{
	char text[24];
	size_t n = kc_tc_put_u64(text, v);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(text, want, n);
}

static void test_integer_edges(void **state)
{
	uint64_t p = 1;
	int i;

	(void)state;
	check_i64(0, "0");
	check_i64(-1, "-1");
	check_i64(9, "9");
	check_i64(10, "10");
	check_i64(99, "99");
	check_i64(100, "100");
	check_i64(-100, "-100");
	check_i64(INT32_MIN, "-2147483648");
	check_i64(INT32_MAX, "2147483647");
	check_i64(INT64_MAX, "9223372036854775807");
	check_i64(INT64_MIN, "-9223372036854775808");
	check_u64(0, "0");
	check_u64(UINT64_MAX, "18446744073709551615");
	/* Every power of ten and its neighbours, up to 10^19. */
	for (i = 0; i < 20; i++) {
		char want[32];

		snprintf(want, sizeof(want), "%llu", (unsigned long long)p);
		check_u64(p, want);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)(p - 1));
		check_u64(p - 1, want);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)(p + 1));
		check_u64(p + 1, want);
		p *= 10;
	}
}

static char *double_json(double d, bool is_float, unsigned flags)
{
	kc_buf b;

	kc_buf_init(&b, 0);
	kc_tc_put_double(&b, d, is_float, flags);
	return take(&b);
}

static void check_double(double d, const char *want)
{
	char *got = double_json(d, false, 0);

	assert_string_equal(got, want);
	free(got);
}

/* d is written so that it reads back as itself. */
static void check_round_trip(double d)
{
	char *got = double_json(d, false, 0);

	assert_true(strtod(got, NULL) == d);
	free(got);
}

static void test_doubles(void **state)
{
	static const double values[] = {1.5,
	                                0.1,
	                                0.2,
	                                0.3,
	                                1e-3,
	                                123456.789,
	                                1795743413.3929946,
	                                9007199254740991.0,
	                                4503599627370496.5,
	                                1e-300,
	                                5e-324,
	                                1.7976931348623157e308,
	                                2.2250738585072014e-308,
	                                1e21,
	                                1e22,
	                                123e-20,
	                                0.000999,
	                                99.99};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	(void)state;
	check_double(1.5, "1.5");
	check_double(0.1, "0.1");
	check_double(-2.0, "-2");
	check_double(0.0, "0");
	check_double(-0.0, "-0");
	check_double(1795743413.3929946, "1795743413.3929946");
	check_double(NAN, "\"NaN\"");
	check_double(INFINITY, "\"Infinity\"");
	check_double(-INFINITY, "\"-Infinity\"");
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		check_round_trip(values[i]);
		check_round_trip(-values[i]);
	}
	/* Random finite bit patterns (xorshift, fixed seed), and random
	 * microsecond timestamps, the values the fast path exists for. */
	for (i = 0; i < 20000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d) && d != 0)
			check_round_trip(d);
		check_round_trip(1.7e9 + (double)(x % 100000000000000ull) / 1e6);
	}
}

static void test_floats_and_client_form(void **state)
{
	static const float floats[] = {0.1f, 1.5f, 3.4028234663852886e38f, 1e-38f, 16777217.0f, 0.3f};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		got = double_json(floats[i], true, 0);
		assert_true((float)strtod(got, NULL) == floats[i]);
		free(got);
	}
	got = double_json(0.1f, true, 0);
	assert_string_equal(got, "0.1");
	free(got);

	/* KC_JSON_REAL_POINT: integral values stay reals, non-finite is null. */
	got = double_json(1.0, false, KC_JSON_REAL_POINT);
	assert_string_equal(got, "1.0");
	free(got);
	got = double_json(0.1, false, KC_JSON_REAL_POINT);
	assert_string_equal(got, "0.1");
	free(got);
	got = double_json(1e300, false, KC_JSON_REAL_POINT);
	assert_true(strtod(got, NULL) == 1e300);
	free(got);
	got = double_json(NAN, false, KC_JSON_REAL_POINT);
	assert_string_equal(got, "null");
	free(got);
	got = double_json(-INFINITY, false, KC_JSON_REAL_POINT);
	assert_string_equal(got, "null");
	free(got);
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"", "\"\""},
	    {"f", "\"Zg==\""},
	    {"fo", "\"Zm8=\""},
	    {"foo", "\"Zm9v\""},
	    {"foob", "\"Zm9vYg==\""},
	    {"fooba", "\"Zm9vYmE=\""},
	    {"foobar", "\"Zm9vYmFy\""},
	};
	static const uint8_t high[] = {0xfb, 0xff, 0xfe};
	size_t i;
	kc_buf b;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kc_buf_init(&b, 0);
		kc_tc_b64_put(&b, (const uint8_t *)cases[i].in, strlen(cases[i].in));
		got = take(&b);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	/* Standard alphabet out ('+' and '/'), never the URL-safe one. */
	kc_buf_init(&b, 0);
	kc_tc_b64_put(&b, high, sizeof(high));
	got = take(&b);
	assert_string_equal(got, "\"+//+\"");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_ascii_byte_alone),
	    cmocka_unit_test(test_escapes_in_every_lane),
	    cmocka_unit_test(test_utf8_kept_and_repaired),
	    cmocka_unit_test(test_integer_edges),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_floats_and_client_form),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
