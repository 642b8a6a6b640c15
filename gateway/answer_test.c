/*
 * answer_test.c - kc-server's answers as the gateway sends them: a message
 * as JSON (whole, or the one field a route answers with), bytes that are
 * not the message, the output cap, HttpBody's bytes and content type, and
 * the health check's verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/answer.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/task.pb-c.h"

static size_t packed_task(uint8_t *buf)
{
	Kc__V1__Task t = KC__V1__TASK__INIT;

	t.task_id = "1732665600-9f3a1c2b";
	t.prompt = "say \"hi\"";
	t.status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	return kc__v1__task__pack(&t, buf);
}

static void as_string(kc_buf *b)
{
	kc_buf_putc(b, '\0');
	b->len--;
}

static void message_as_json(void **state)
{
	uint8_t buf[256];
	size_t n = packed_task(buf);
	kc_buf b;

	(void)state;
	kc_buf_init(&b, 0);
	assert_int_equal(kc_gw_answer_json(&kc__v1__task__descriptor, "", buf, n, &b), 0);
	as_string(&b);
	assert_int_equal(b.data[0], '{');
	assert_non_null(strstr(b.data, "\"task_id\":\"1732665600-9f3a1c2b\""));
	/* Escaped, and the enum by its name. */
	assert_non_null(strstr(b.data, "\"prompt\":\"say \\\"hi\\\"\""));
	assert_non_null(strstr(b.data, "\"status\":\"running\""));
	kc_buf_release(&b);
}

static void one_field_of_the_message(void **state)
{
	uint8_t buf[256];
	size_t n = packed_task(buf);
	kc_buf b;

	(void)state;
	kc_buf_init(&b, 0);
	assert_int_equal(kc_gw_answer_json(&kc__v1__task__descriptor, "task_id", buf, n, &b), 0);
	as_string(&b);
	assert_string_equal(b.data, "\"1732665600-9f3a1c2b\"");
	kc_buf_release(&b);
}

static void bytes_that_are_not_the_message(void **state)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	kc_buf b;

	(void)state;
	kc_buf_init(&b, 0);
	assert_int_equal(kc_gw_answer_json(&kc__v1__task__descriptor, "", junk, sizeof(junk), &b), KC_ERR_PROTOCOL);
	kc_buf_release(&b);
}

static void past_the_cap_is_too_large(void **state)
{
	uint8_t buf[256];
	size_t n = packed_task(buf);
	kc_buf b;

	(void)state;
	kc_buf_init(&b, 16);
	assert_int_equal(kc_gw_answer_json(&kc__v1__task__descriptor, "", buf, n, &b), KC_ERR_TOO_LARGE);
	kc_buf_release(&b);
}

static void http_body_bytes_and_type(void **state)
{
	Google__Api__HttpBody hb = GOOGLE__API__HTTP_BODY__INIT;
	uint8_t buf[128];
	size_t n;
	kc_buf b;
	char *ct = (char *)"unset";

	(void)state;
	hb.content_type = "text/plain; charset=utf-8";
	hb.data.data = (uint8_t *)"line\0two";
	hb.data.len = 8;
	n = google__api__http_body__pack(&hb, buf);
	kc_buf_init(&b, 0);
	assert_int_equal(kc_gw_answer_http_body(buf, n, &b, &ct), 0);
	assert_string_equal(ct, "text/plain; charset=utf-8");
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "line\0two", 8);
	free(ct);
	kc_buf_release(&b);

	/* No content type: NULL, the caller picks its default. */
	hb.content_type = "";
	n = google__api__http_body__pack(&hb, buf);
	kc_buf_init(&b, 0);
	ct = (char *)"unset";
	assert_int_equal(kc_gw_answer_http_body(buf, n, &b, &ct), 0);
	assert_null(ct);
	kc_buf_release(&b);
}

static void http_body_past_the_cap(void **state)
{
	Google__Api__HttpBody hb = GOOGLE__API__HTTP_BODY__INIT;
	uint8_t buf[128];
	size_t n;
	kc_buf b;
	char *ct = NULL;

	(void)state;
	hb.content_type = "text/plain";
	hb.data.data = (uint8_t *)"0123456789abcdef0123456789";
	hb.data.len = 26;
	n = google__api__http_body__pack(&hb, buf);
	kc_buf_init(&b, 8);
	assert_int_equal(kc_gw_answer_http_body(buf, n, &b, &ct), KC_ERR_TOO_LARGE);
	assert_null(ct);
	kc_buf_release(&b);
}

static void health_verdicts(void **state)
{
	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	static const uint8_t junk[] = {0x08};
	uint8_t buf[16];
	size_t n;
	bool serving = false;

	(void)state;
	h.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	n = grpc__health__v1__health_check_response__pack(&h, buf);
	assert_int_equal(kc_gw_answer_health(buf, n, &serving), 0);
	assert_true(serving);
	h.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	n = grpc__health__v1__health_check_response__pack(&h, buf);
	assert_int_equal(kc_gw_answer_health(buf, n, &serving), 0);
	assert_false(serving);
	/* An empty answer is UNKNOWN: not serving. */
	serving = true;
	assert_int_equal(kc_gw_answer_health(buf, 0, &serving), 0);
	assert_false(serving);
	assert_int_equal(kc_gw_answer_health(junk, sizeof(junk), &serving), KC_ERR_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(message_as_json),
	    cmocka_unit_test(one_field_of_the_message),
	    cmocka_unit_test(bytes_that_are_not_the_message),
	    cmocka_unit_test(past_the_cap_is_too_large),
	    cmocka_unit_test(http_body_bytes_and_type),
	    cmocka_unit_test(http_body_past_the_cap),
	    cmocka_unit_test(health_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
