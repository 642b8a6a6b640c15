/* transcode_test.c - the JSON mapping against the real API descriptors,
 * including every place the REST contract bends proto3's JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/transcode.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

static char *to_json(const ProtobufCMessage *m)
{
	kc_buf b;
	char *s;

	kc_buf_init(&b, 0);
	assert_int_equal(kc_message_to_json(m, NULL, &b), 0);
	s = kc_buf_steal(&b, NULL);
	assert_non_null(s);
	return s;
}

static int parse(ProtobufCMessage *m, const char *json, char *err)
{
	return kc_json_to_message(m, json, strlen(json), "*", err, 256);
}

static void test_create_request(void **state)
{
	Kc__V1__CreateTaskRequest *r = (void *)kc_message_new(&kc__v1__create_task_request__descriptor);
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&r->base, "{\"prompt\":\"fix it\\n\",\"workdir\":\"/tmp\"}", err), 0);
	assert_string_equal(r->prompt, "fix it\n");
	assert_string_equal(r->workdir, "/tmp");
	assert_string_equal(r->agent, "");
	kc_message_free(&r->base);
}

static void expect_invalid(const ProtobufCMessageDescriptor *d, const char *json, const char *want)
{
	ProtobufCMessage *m = kc_message_new(d);
	char err[256] = "";

	assert_int_equal(kc_json_to_message(m, json, strlen(json), "*", err, sizeof(err)), KC_ERR_INVALID);
	if (!strstr(err, want))
		fail_msg("error %s does not mention %s", err, want);
	kc_message_free(m);
}

static void test_bad_input(void **state)
{
	const ProtobufCMessageDescriptor *c = &kc__v1__create_task_request__descriptor;

	(void)state;
	expect_invalid(c, "{\"prompt\": 5}", "field \"prompt\": expected a string");
	expect_invalid(c, "{\"prompt\": [\"a\"]}", "expected a string");
	expect_invalid(c, "{\"prompt\": \"a\", \"bogus\": 1}", "unknown field \"bogus\"");
	expect_invalid(c, "{\"prompt\": \"a\", \"prompt\": \"b\"}", "invalid JSON");
	expect_invalid(c, "{\"prompt\": \"a\"", "invalid JSON");
	expect_invalid(c, "[1]", "expected an object");
	expect_invalid(c, "", "invalid JSON");
	expect_invalid(c, "{\"prompt\": \"\xff\xfe\"}", "UTF-8");
	expect_invalid(c, "{\"prompt\": \"a\\u0000b\"}", "invalid JSON");
	expect_invalid(&kc__v1__list_tasks_request__descriptor, "{\"page_size\": 1.5}", "32-bit integer");
	expect_invalid(&kc__v1__list_tasks_request__descriptor, "{\"page_size\": 3000000000}", "out of range");
	expect_invalid(&kc__v1__list_tasks_request__descriptor, "{\"status\": \"sleeping\"}", "unknown value");
	expect_invalid(&kc__v1__task__descriptor, "{\"followups\": {}}", "expected an array");
	expect_invalid(&kc__v1__task__descriptor, "{\"finished_at\": \"soon\"}", "expected a number");
	expect_invalid(&kc__v1__task_event__descriptor, "{\"task\": {}, \"output\": {}}", "oneof");
}

static void test_enums_in(void **state)
{
	Kc__V1__ListTasksRequest *r;
	char err[256];
	const char *forms[] = {"{\"status\":\"running\"}", "{\"status\":\"TASK_STATUS_RUNNING\"}", "{\"status\":1}"};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		r = (void *)kc_message_new(&kc__v1__list_tasks_request__descriptor);
		assert_int_equal(parse(&r->base, forms[i], err), 0);
		assert_int_equal(r->status, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
		kc_message_free(&r->base);
	}
}

static void test_task_out(void **state)
{
	Kc__V1__Task t = KC__V1__TASK__INIT;
	Google__Protobuf__DoubleValue fin = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
	char *s;

	(void)state;
	t.task_id = "1732665600-9f3a1c2b";
	t.prompt = "say \"hi\"\n\x01";
	t.status = KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED;
	t.created_at = 1732665600.25;
	fin.value = 1732665601.5;
	t.finished_at = &fin;
	s = to_json(&t.base);
	assert_string_equal(s, "{\"task_id\":\"1732665600-9f3a1c2b\",\"session_id\":\"\",\"prompt\":\"say \\\"hi\\\"\\n\\u0001\","
	                       "\"workdir\":\"\",\"status\":\"completed\",\"created_at\":1732665600.25,"
	                       "\"finished_at\":1732665601.5,\"tmux_session\":\"\",\"followups\":[],\"recent_output\":\"\","
	                       "\"status_detail\":\"unspecified\",\"agent\":\"\"}");
	free(s);
}

static void test_nested_enum_and_alerts(void **state)
{
	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	Kc__V1__Alert a = KC__V1__ALERT__INIT;
	char *s;

	(void)state;
	h.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	s = to_json(&h.base);
	assert_string_equal(s, "{\"status\":\"serving\"}");
	free(s);
	a.type = KC__V1__ALERT_TYPE__ALERT_TYPE_WARNING;
	a.resource = "cpu";
	a.value = 75;
	s = to_json(&a.base);
	assert_string_equal(s, "{\"type\":\"warning\",\"resource\":\"cpu\",\"message\":\"\",\"value\":75,\"threshold\":0}");
	free(s);
}

static void test_map_roundtrip(void **state)
{
	const char *in = "{\"status\":\"healthy\",\"services\":{\"vscode\":{\"status\":\"up\",\"port\":8080,"
	                 "\"latency_ms\":0.5,\"checked_at\":0}},\"timestamp\":2}";
	ProtobufCMessage *m = kc_message_new(&kc__v1__health__descriptor);
	Kc__V1__Health *h = (void *)m;
	char err[256] = "";
	char *s;

	(void)state;
	assert_int_equal(parse(m, in, err), 0);
	assert_int_equal(h->n_services, 1);
	assert_string_equal(h->services[0]->key, "vscode");
	assert_int_equal(h->services[0]->value->port, 8080);
	s = to_json(m);
	assert_string_equal(s, in);
	free(s);
	kc_message_free(m);
}

static void test_text_and_query(void **state)
{
	Kc__V1__GetTaskOutputRequest *r = (void *)kc_message_new(&kc__v1__get_task_output_request__descriptor);
	Kc__V1__ListTasksRequest *l = (void *)kc_message_new(&kc__v1__list_tasks_request__descriptor);
	char err[256] = "";
	const char *q;

	(void)state;
	assert_int_equal(kc_message_set_text(&r->base, "task_id", "1-ab", err, sizeof(err)), 0);
	q = "tail=20";
	assert_int_equal(kc_message_set_query(&r->base, q, strlen(q), err, sizeof(err)), 0);
	assert_string_equal(r->task_id, "1-ab");
	assert_int_equal(r->tail, 20);
	q = "tail=x";
	assert_int_equal(kc_message_set_query(&r->base, q, strlen(q), err, sizeof(err)), KC_ERR_INVALID);
	assert_non_null(strstr(err, "tail"));
	q = "nope=1";
	assert_int_equal(kc_message_set_query(&r->base, q, strlen(q), err, sizeof(err)), KC_ERR_INVALID);
	assert_non_null(strstr(err, "unknown parameter"));
	q = "tail=%zz";
	assert_int_equal(kc_message_set_query(&r->base, q, strlen(q), err, sizeof(err)), KC_ERR_INVALID);
	q = "status=killed&page_size=%31%30&page_token=a+b";
	assert_int_equal(kc_message_set_query(&l->base, q, strlen(q), err, sizeof(err)), 0);
	assert_int_equal(l->status, KC__V1__TASK_STATUS__TASK_STATUS_KILLED);
	assert_int_equal(l->page_size, 10);
	assert_string_equal(l->page_token, "a b");
	kc_message_free(&r->base);
	kc_message_free(&l->base);
}

static void test_oneof_and_int64(void **state)
{
	ProtobufCMessage *m = kc_message_new(&kc__v1__task_event__descriptor);
	const char *in = "{\"output\":{\"text\":\"hi\",\"offset\":\"12345678901\"}}";
	char err[256] = "";
	char *s;

	(void)state;
	assert_int_equal(parse(m, in, err), 0);
	s = to_json(m);
	assert_string_equal(s, "{\"output\":{\"text\":\"hi\",\"offset\":12345678901}}");
	free(s);
	kc_message_free(m);
}

static void test_response_field_and_invalid_utf8_out(void **state)
{
	Kc__V1__ApiToken t = KC__V1__API_TOKEN__INIT;
	kc_buf b;

	(void)state;
	t.token = "ab\xff";
	kc_buf_init(&b, 0);
	assert_int_equal(kc_message_to_json(&t.base, "token", &b), 0);
	assert_string_equal(b.data, "\"ab\xef\xbf\xbd\"");
	kc_buf_release(&b);
	kc_buf_init(&b, 4);
	assert_int_equal(kc_message_to_json(&t.base, NULL, &b), KC_ERR_TOO_LARGE);
	kc_buf_release(&b);
}

static void test_doubles(void **state)
{
	const struct {
		double v;
		const char *want;
	} cases[] = {
		{1732665600.25, "1732665600.25"}, {0.5, "0.5"},     {0.001, "0.001"}, {-2.5, "-2.5"},
		{75, "75"},                       {0.1, "0.1"},     {1e-7, "1e-07"},  {1732665600.123456, "1732665600.123456"},
		{-0.05, "-0.05"},                 {1e300, "1e+300"}, {0, "0"},
	};
	Kc__V1__Followup f = KC__V1__FOLLOWUP__INIT;
	size_t i;

	(void)state;
	f.prompt = "";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kc_buf b;

		f.sent_at = cases[i].v;
		kc_buf_init(&b, 0);
		assert_int_equal(kc_message_to_json(&f.base, "sent_at", &b), 0);
		if (strcmp(b.data, cases[i].want) != 0 || strtod(b.data, NULL) != cases[i].v)
			fail_msg("%.17g rendered as %s, want %s", cases[i].v, b.data, cases[i].want);
		kc_buf_release(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_request),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_enums_in),
		cmocka_unit_test(test_task_out),
		cmocka_unit_test(test_nested_enum_and_alerts),
		cmocka_unit_test(test_map_roundtrip),
		cmocka_unit_test(test_text_and_query),
		cmocka_unit_test(test_oneof_and_int64),
		cmocka_unit_test(test_response_field_and_invalid_utf8_out),
		cmocka_unit_test(test_doubles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
