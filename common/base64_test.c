#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/kc_error.h"

/* RFC 4648 §10's vectors, in both alphabets. */
static const struct {
	const char *in, *std, *url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    {"\xfb\xff", "+/8=", "-_8"},
};

static void test_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char out[KC_BASE64_SIZE(8)];
		const unsigned char *in = (const unsigned char *)vectors[i].in;
		size_t n = kc_base64_encode(in, strlen(vectors[i].in), out, KC_BASE64_STD);
		assert_string_equal(out, vectors[i].std);
		assert_int_equal(n, strlen(vectors[i].std));
		n = kc_base64_encode(in, strlen(vectors[i].in), out, KC_BASE64_URL);
		assert_string_equal(out, vectors[i].url);
		assert_int_equal(n, strlen(vectors[i].url));
	}
	assert_int_equal(KC_BASE64_SIZE(36), 49);
}

static void test_decode_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		const char *forms[] = {vectors[i].std, vectors[i].url};
		for (size_t f = 0; f < 2; f++) {
			unsigned char out[KC_BASE64_DECODED_MAX(12)];
			size_t n = 99;
			assert_int_equal(kc_base64_decode(forms[f], strlen(forms[f]), out, &n), 0);
			assert_int_equal(n, strlen(vectors[i].in));
			assert_memory_equal(out, vectors[i].in, n);
		}
	}
}

static void test_decode_rejects(void **state)
{
	(void)state;
	static const char *bad[] = {"Z", "Zm9vY", "Zm9v!", "Zg=a", "Z===", "Zm 9v", "Zm9v\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned char out[16];
		size_t n = 0;
		assert_int_equal(kc_base64_decode(bad[i], strlen(bad[i]), out, &n), KC_ERR_INVALID);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_decode_round_trip),
	    cmocka_unit_test(test_decode_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
