/* transcode_test.c - the JSON mapping against the real API descriptors,
 * including every place the REST contract bends proto3's JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"
#include "transcode/transcode.h"

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
	assert_string_equal(
	    s, "{\"task_id\":\"1732665600-9f3a1c2b\",\"session_id\":\"\",\"prompt\":\"say \\\"hi\\\"\\n\\u0001\","
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
	assert_string_equal(
	    s, "{\"type\":\"warning\",\"resource\":\"cpu\",\"message\":\"\",\"value\":75,\"threshold\":0}");
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

/* A field the path bound cannot come again from the query or the body, in
 * any spelling; other fields still can. */
static void test_path_bound_fields(void **state)
{
	Kc__V1__GetTaskOutputRequest *r = (void *)kc_message_new(&kc__v1__get_task_output_request__descriptor);
	Kc__V1__SendMessageRequest *m = (void *)kc_message_new(&kc__v1__send_message_request__descriptor);
	const char *const bound[] = {"task_id"};
	char err[256] = "";
	const char *q;
	const char *j;

	(void)state;
	assert_int_equal(kc_message_set_text(&r->base, "task_id", "1-ab", err, sizeof(err)), 0);
	q = "tail=3";
	assert_int_equal(kc_message_set_query2(&r->base, q, strlen(q), bound, 1, err, sizeof(err)), 0);
	q = "tail=3&task_id=2-cd";
	assert_int_equal(kc_message_set_query2(&r->base, q, strlen(q), bound, 1, err, sizeof(err)), KC_ERR_INVALID);
	assert_string_equal(err, "field \"task_id\" is set by the path; it cannot also be in the query");
	q = "taskId=2-cd";
	assert_int_equal(kc_message_set_query2(&r->base, q, strlen(q), bound, 1, err, sizeof(err)), KC_ERR_INVALID);
	q = "task%5fid=2-cd";
	assert_int_equal(kc_message_set_query2(&r->base, q, strlen(q), bound, 1, err, sizeof(err)), KC_ERR_INVALID);
	assert_string_equal(r->task_id, "1-ab");

	assert_int_equal(kc_message_set_text(&m->base, "task_id", "1-ab", err, sizeof(err)), 0);
	j = "{\"prompt\":\"hi\"}";
	assert_int_equal(kc_json_to_message2(&m->base, j, strlen(j), "*", 0, bound, 1, err, sizeof(err)), 0);
	j = "{\"prompt\":\"hi\",\"task_id\":\"2-cd\"}";
	assert_int_equal(kc_json_to_message2(&m->base, j, strlen(j), "*", 0, bound, 1, err, sizeof(err)),
	                 KC_ERR_INVALID);
	assert_string_equal(err, "field \"task_id\" is set by the path; it cannot also be in the body");
	j = "{\"taskId\":\"\"}";
	assert_int_equal(kc_json_to_message2(&m->base, j, strlen(j), "*", 0, bound, 1, err, sizeof(err)),
	                 KC_ERR_INVALID);
	assert_string_equal(m->task_id, "1-ab");
	/* Without bindings the old entry points behave as before. */
	j = "{\"task_id\":\"3-ef\"}";
	assert_int_equal(kc_json_to_message(&m->base, j, strlen(j), "*", err, sizeof(err)), 0);
	assert_string_equal(m->task_id, "3-ef");
	kc_message_free(&r->base);
	kc_message_free(&m->base);
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

/* The writer scans 8 bytes at a time: an escape, a control, a quote or a
 * multi-byte character must be caught at every offset inside a word, and
 * ill-formed UTF-8 repaired wherever it starts. Checked against a plain
 * byte-at-a-time reference. */
/* The client's flags, one at a time, against the gateway's defaults. */
static void test_client_flags(void **state)
{
	const ProtobufCMessageDescriptor *td = &kc__v1__task__descriptor;
	const char *newer = "{\"task_id\":\"a\",\"added_later\":{\"x\":[1]}}";
	ProtobufCMessage *m = NULL;
	Kc__V1__Task *t;
	char err[256] = "";
	char *s = NULL;

	(void)state;
	/* Unknown members: refused by default, skipped when asked. */
	assert_int_equal(kc_json_to_new_message(td, newer, strlen(newer), 0, &m, err, sizeof(err)), KC_ERR_INVALID);
	assert_null(m);
	assert_int_equal(kc_json_to_new_message(td, newer, strlen(newer), KC_JSON_IGNORE_UNKNOWN, &m, err, sizeof(err)),
	                 0);
	assert_string_equal(((Kc__V1__Task *)m)->task_id, "a");
	kc_message_free(m);
	m = NULL;

	/* Enums: exact names by default; any case, "" and unknown numbers when
	 * lenient. */
	expect_invalid(td, "{\"status\":\"Running\"}", "unknown value");
	expect_invalid(td, "{\"status\":162}", "status");
	const char *lenient = "{\"status\":\"Running\",\"status_detail\":\"\"}";
	assert_int_equal(
	    kc_json_to_new_message(td, lenient, strlen(lenient), KC_JSON_LENIENT_ENUMS, &m, err, sizeof(err)), 0);
	t = (Kc__V1__Task *)m;
	assert_int_equal(t->status, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_int_equal(t->status_detail, 0);
	kc_message_free(m);
	m = NULL;
	const char *num = "{\"status\":\"162\",\"status_detail\":3.0}";
	assert_int_equal(kc_json_to_new_message(td, num, strlen(num), KC_JSON_LENIENT_ENUMS, &m, err, sizeof(err)), 0);
	t = (Kc__V1__Task *)m;
	assert_int_equal(t->status, 162);
	assert_int_equal(t->status_detail, 3);

	/* Writing: zero enums out, doubles with a point, unknown enum numbers
	 * as numbers. */
	t->status_detail = 0;
	t->created_at = 4096;
	assert_int_equal(kc_message_to_json_text(m, KC_JSON_OMIT_ZERO_ENUMS | KC_JSON_REAL_POINT, &s), 0);
	assert_non_null(strstr(s, "\"status\":162,"));
	assert_null(strstr(s, "status_detail"));
	assert_non_null(strstr(s, "\"created_at\":4096.0,"));
	free(s);
	assert_int_equal(kc_message_to_json_text(m, 0, &s), 0);
	assert_non_null(strstr(s, "\"status_detail\":\"unspecified\""));
	assert_non_null(strstr(s, "\"created_at\":4096,"));
	free(s);
	kc_message_free(m);
}

static void ref_escape(kc_buf *b, const char *s, size_t len)
{
	size_t i;

	kc_buf_putc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			kc_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			kc_buf_puts(b, "\\n");
		else if (c == '\t')
			kc_buf_puts(b, "\\t");
		else if (c < 0x20)
			kc_buf_printf(b, "\\u%04x", c);
		else
			kc_buf_putc(b, (char)c);
	}
	kc_buf_putc(b, '"');
}

static void test_string_escapes_every_position(void **state)
{
	static const char *const specials[] = {"\"", "\\", "\n", "\t", "\x01", "\x1f", "\xc3\xa9", "\xe2\x82\xac"};
	char text[64];
	size_t pos;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
		for (pos = 0; pos < 24; pos++) {
			kc_buf got;
			kc_buf want;
			size_t n;

			memset(text, 'a', pos);
			n = pos;
			memcpy(text + n, specials[k], strlen(specials[k]));
			n += strlen(specials[k]);
			memset(text + n, 'z', 17);
			n += 17;
			kc_buf_init(&got, 0);
			kc_buf_init(&want, 0);
			assert_int_equal(kc_json_put_string(&got, text, n), 0);
			ref_escape(&want, text, n);
			assert_int_equal(got.len, want.len);
			assert_memory_equal(got.data, want.data, want.len);
			kc_buf_release(&got);
			kc_buf_release(&want);
		}
	}
	/* A stray continuation byte after 11 ASCII bytes becomes U+FFFD. */
	{
		kc_buf got;

		kc_buf_init(&got, 0);
		assert_int_equal(kc_json_put_string(&got, "hello world\x80 and more text", 26), 0);
		assert_string_equal(got.data, "\"hello world\xef\xbf\xbd and more text\"");
		kc_buf_release(&got);
	}
}

/* Long on purpose (~85 lines): one table of doubles and their shortest
 * JSON text, then one loop that checks each reads back exactly. */
static void test_doubles(void **state)
{
	const struct {
		double v;
		const char *want;
	} cases[] = {
	    {1732665600.25, "1732665600.25"},
	    {0.5, "0.5"},
	    {0.001, "0.001"},
	    {-2.5, "-2.5"},
	    {75, "75"},
	    {0.1, "0.1"},
	    {1e-7, "1e-07"},
	    {1732665600.123456, "1732665600.123456"},
	    {-0.05, "-0.05"},
	    {1e300, "1e+300"},
	    {0, "0"},
	    {1795743413.3929946, "1795743413.3929946"},
	    {1795743413.5, "1795743413.5"},
	    {4503599627370496.0, "4503599627370496"},
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
	/* Many values: every rendering reads back exactly and has no more
	 * significant digits than the shortest printf %.Ng that does. */
	srand(7);
	for (i = 0; i < 200000; i++) {
		kc_buf b;
		char ref[40];
		double v;
		int prec;
		size_t sig_got = 0;
		size_t sig_ref = 0;
		const char *c;
		bool lead;

		switch (i % 4) {
		case 0:
			v = 1.7e9 + (double)rand() / RAND_MAX * 2e8;
			break;
		case 1:
			v = (double)rand() / RAND_MAX * 100;
			break;
		case 2:
			v = (double)rand() * (double)rand() / 1e6;
			break;
		default:
			v = ((double)rand() + 1) / 1e9;
			break;
		}
		if (i % 7 == 0)
			v = -v;
		f.sent_at = v;
		kc_buf_init(&b, 0);
		assert_int_equal(kc_message_to_json(&f.base, "sent_at", &b), 0);
		if (strtod(b.data, NULL) != v)
			fail_msg("%.17g rendered as %s, which reads back as %.17g", v, b.data, strtod(b.data, NULL));
		for (prec = 1; prec <= 17; prec++) {
			snprintf(ref, sizeof(ref), "%.*g", prec, v);
			if (strtod(ref, NULL) == v)
				break;
		}
		for (lead = true, c = b.data; *c && *c != 'e'; c++)
			if (*c >= '0' && *c <= '9' && !(lead && *c == '0'))
				sig_got++, lead = false;
		/* Trailing zeros of an integer are not significant. */
		for (c = b.data + b.len; c > b.data && c[-1] == '0' && !strchr(b.data, '.'); c--)
			sig_got--;
		sig_ref = (size_t)prec;
		if (sig_got > sig_ref)
			fail_msg("%.17g rendered as %s, longer than %s", v, b.data, ref);
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
	    cmocka_unit_test(test_path_bound_fields),
	    cmocka_unit_test(test_oneof_and_int64),
	    cmocka_unit_test(test_response_field_and_invalid_utf8_out),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_client_flags),
	    cmocka_unit_test(test_string_escapes_every_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
