#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/kc_error.h"
#include "common/log.h"

/* Logs through a pipe and parses what came out. */
static json_t *log_line(void (*emit)(void))
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	kc_log_set_fd(fds[1]);
	emit();
	kc_log_set_fd(2);
	close(fds[1]);
	static char buf[8192];
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	close(fds[0]);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', (size_t)n - 1)); /* one line */
	json_error_t jerr;
	json_t *j = json_loads(buf, 0, &jerr);
	if (!j)
		fail_msg("not JSON (%s): %s", jerr.text, buf);
	return j;
}

static void emit_plain(void)
{
	kc_log(KC_LOG_WARN, "task \"x\" failed\n", "task_id", "1-abc", "skipped", NULL, "err", "tab\there", NULL);
}

static void test_line_is_json_with_fields(void **state)
{
	(void)state;
	kc_log_set_component("kc-test");
	json_t *j = log_line(emit_plain);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(j, "component")), "kc-test");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "task \"x\" failed\n");
	assert_string_equal(json_string_value(json_object_get(j, "task_id")), "1-abc");
	assert_string_equal(json_string_value(json_object_get(j, "err")), "tab\there");
	assert_null(json_object_get(j, "skipped"));
	assert_non_null(json_object_get(j, "ts"));
	json_decref(j);
}

static void emit_debug(void)
{
	kc_log(KC_LOG_DEBUG, "hidden", NULL);
}

static void test_level_filter(void **state)
{
	(void)state;
	kc_log_level lvl;
	assert_int_equal(kc_log_level_parse("loud", &lvl), KC_ERR_INVALID);
	assert_int_equal(kc_log_level_parse("info", &lvl), 0);
	kc_log_set_level(lvl);
	assert_null(log_line(emit_debug));
}

static void emit_huge(void)
{
	static char big[10000];
	memset(big, '"', sizeof big - 1);
	kc_log(KC_LOG_ERROR, "huge", "a", big, "b", "after", NULL);
}

/* A line longer than the buffer is cut but stays one valid JSON object. */
static void test_huge_line_stays_json(void **state)
{
	(void)state;
	json_t *j = log_line(emit_huge);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "huge");
	assert_true(strlen(json_string_value(json_object_get(j, "a"))) > 1000);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_is_json_with_fields),
	    cmocka_unit_test(test_level_filter),
	    cmocka_unit_test(test_huge_line_stays_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
