/* kc_task_id_valid: the ids kc-server makes, and what must never pass for
 * one (it becomes a directory name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/task_id.h"

static void test_ids(void **state)
{
	(void)state;
	assert_true(kc_task_id_valid("1732665600-9f3a1c2b"));
	assert_true(kc_task_id_valid("1-00000000"));
	assert_false(kc_task_id_valid("../x"));
	assert_false(kc_task_id_valid("1732665600-9F3A1C2B"));
	assert_false(kc_task_id_valid("1732665600-9f3a1c2"));
	assert_false(kc_task_id_valid("1732665600-9f3a1c2bb"));
	assert_false(kc_task_id_valid("-9f3a1c2b"));
	assert_false(kc_task_id_valid(""));
	assert_false(kc_task_id_valid(NULL));
}

/* 20 digits fit KC_TASK_ID_MAX with the NUL; 21 are refused. */
static void test_digits_bound(void **state)
{
	(void)state;
	assert_true(kc_task_id_valid("12345678901234567890-00000000"));
	assert_false(kc_task_id_valid("123456789012345678901-00000000"));
}

/* Path segments: the bytes given, not up to a NUL. */
static void test_segments(void **state)
{
	(void)state;
	const char path[] = "1732665600-9f3a1c2b/output";
	assert_true(kc_task_id_valid_n(path, 19));
	assert_false(kc_task_id_valid_n(path, 20));
	assert_false(kc_task_id_valid_n(path, 18));
	assert_false(kc_task_id_valid_n("1732665600-9f3a\0c2b", 19));
	assert_false(kc_task_id_valid_n("..%2F..%2Fetc", 13));
	assert_false(kc_task_id_valid_n("", 0));
	assert_false(kc_task_id_valid_n(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_digits_bound),
	    cmocka_unit_test(test_segments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
