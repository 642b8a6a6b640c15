#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"

static void test_every_code_has_text_and_mappings(void **state)
{
	(void)state;
	for (int e = KC_OK; e >= KC_ERR_INTERNAL; e--) {
		assert_string_not_equal(kc_strerror(e), "unknown error");
		assert_int_equal(strncmp(kc_error_name(e), "KC_", 3), 0);
		int http = kc_error_to_http_status(e);
		assert_true(http >= 200 && http < 600);
	}
	assert_string_equal(kc_strerror(-1000), "unknown error");
	assert_string_equal(kc_strerror(5), "unknown error");
}

/* The codes the REST contract and the server issue name. */
static void test_contract_mappings(void **state)
{
	(void)state;
	assert_int_equal(kc_error_to_http_status(KC_ERR_INVALID), 400);
	assert_int_equal(kc_error_to_http_status(KC_ERR_UNAUTHENTICATED), 401);
	assert_int_equal(kc_error_to_http_status(KC_ERR_NOT_FOUND), 404);
	assert_int_equal(kc_error_to_http_status(KC_ERR_TOO_LARGE), 413);
	assert_int_equal(kc_error_to_http_status(KC_ERR_INTERNAL), 500);
	assert_int_equal(kc_error_to_grpc_status(KC_ERR_INVALID), 3);
	assert_int_equal(kc_error_to_grpc_status(KC_ERR_NOT_FOUND), 5);
	assert_int_equal(kc_error_to_grpc_status(KC_ERR_PRECONDITION), 9);
	assert_int_equal(kc_error_to_grpc_status(KC_ERR_LIMIT), 8);
	assert_int_equal(kc_error_to_grpc_status(KC_ERR_UNAUTHENTICATED), 16);
}

/* gRPC status -> kc_error -> gRPC status is the identity for the codes the
 * server sends, so the gateway's HTTP answer follows the server's intent. */
static void test_grpc_round_trip(void **state)
{
	(void)state;
	static const int sent[] = {0, 1, 3, 4, 5, 6, 7, 8, 9, 12, 14, 16};
	for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++)
		assert_int_equal(kc_error_to_grpc_status(kc_error_from_grpc_status(sent[i])), sent[i]);
	assert_int_equal(kc_error_from_grpc_status(13), KC_ERR_INTERNAL);
	assert_int_equal(kc_error_from_grpc_status(999), KC_ERR_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_code_has_text_and_mappings),
	    cmocka_unit_test(test_contract_mappings),
	    cmocka_unit_test(test_grpc_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
