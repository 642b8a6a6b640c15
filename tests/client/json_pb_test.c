/* The shared JSON codec, as libkcclient uses it, against the REST contract's shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/lib/json_pb.h"
#include "kc/error.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

static ProtobufCMessage *decode(const char *json, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = NULL;
	char err[200] = "";
	int rc = kci_json_buf_to_pb(json, strlen(json), d, &m, err, sizeof err);
	if (rc)
		fail_msg("decode failed: %s", err);
	return m;
}

static char *encode(const ProtobufCMessage *m)
{
	char *s = kci_pb_to_json_text(m);
	assert_non_null(s);
	return s;
}

static const char task_json[] =
    "{\"task_id\":\"1732665600-9f3a1c2b\",\"session_id\":\"0b6e\",\"prompt\":\"hi "
    "\xc3\xa9\",\"workdir\":\"/home/coder\","
    "\"status\":\"killed\",\"created_at\":1732665600.25,\"finished_at\":1732665700.5,\"killed_at\":1732665700.5,"
    "\"tmux_session\":\"claude-1732665600-9f3a1c2b\",\"followups\":[{\"prompt\":\"more\",\"sent_at\":1732665650.0}],"
    "\"recent_output\":\"\",\"agent\":\"claude\"}";

static void test_task_round_trip(void **state)
{
	(void)state;
	Kc__V1__Task *t = (Kc__V1__Task *)decode(task_json, &kc__v1__task__descriptor);
	assert_string_equal(t->task_id, "1732665600-9f3a1c2b");
	assert_int_equal(t->status, KC__V1__TASK_STATUS__TASK_STATUS_KILLED);
	assert_non_null(t->finished_at);
	assert_true(t->finished_at->value == 1732665700.5);
	assert_null(t->error);
	assert_null(t->prompt_delivered_at);
	assert_int_equal(t->n_followups, 1);
	assert_string_equal(t->followups[0]->prompt, "more");
	char *s = encode(&t->base);
	assert_string_equal(s, task_json);
	free(s);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void test_enums_and_lenience(void **state)
{
	(void)state;
	Kc__V1__Task *t = (Kc__V1__Task *)decode(
	    "{\"status\":\"RUNNING\",\"status_detail\":\"waiting_for_input\",\"unknown\":{\"x\":[1,2]},"
	    "\"error\":null,\"prompt_delivered_at\":17}",
	    &kc__v1__task__descriptor);
	assert_int_equal(t->status, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_int_equal(t->status_detail, KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT);
	assert_null(t->error);
	assert_true(t->prompt_delivered_at->value == 17.0);
	char *s = encode(&t->base);
	assert_non_null(strstr(s, "\"status_detail\":\"waiting_for_input\""));
	assert_non_null(strstr(s, "\"prompt_delivered_at\":17.0"));
	free(s);
	protobuf_c_message_free_unpacked(&t->base, NULL);

	/* an enum value this build does not know stays a number */
	t = (Kc__V1__Task *)decode("{\"status\":162}", &kc__v1__task__descriptor);
	assert_int_equal(t->status, 162);
	s = encode(&t->base);
	assert_non_null(strstr(s, "\"status\":162"));
	free(s);
	protobuf_c_message_free_unpacked(&t->base, NULL);

	/* enum by number; int64 as a string */
	Kc__V1__TaskEvent *e = (Kc__V1__TaskEvent *)decode("{\"output\":{\"text\":\"x\",\"offset\":\"12\"}}",
	                                                   &kc__v1__task_event__descriptor);
	assert_int_equal(e->event_case, KC__V1__TASK_EVENT__EVENT_OUTPUT);
	assert_int_equal(e->output->offset, 12);
	s = encode(&e->base);
	assert_string_equal(s, "{\"output\":{\"text\":\"x\",\"offset\":12}}");
	free(s);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_maps(void **state)
{
	(void)state;
	Kc__V1__Health *h = (Kc__V1__Health *)decode(
	    "{\"status\":\"degraded\",\"services\":{\"vscode\":{\"status\":\"up\",\"port\":8080,\"latency_ms\":0.5},"
	    "\"browser\":{\"status\":\"down\",\"port\":6081}},\"timestamp\":1.5}",
	    &kc__v1__health__descriptor);
	assert_int_equal(h->n_services, 2);
	assert_string_equal(h->services[0]->key, "vscode");
	assert_int_equal(h->services[0]->value->port, 8080);
	assert_int_equal(h->services[1]->value->status, KC__V1__SERVICE_STATE__SERVICE_STATE_DOWN);
	char *s = encode(&h->base);
	assert_string_equal(s, "{\"status\":\"degraded\",\"services\":{\"vscode\":{\"status\":\"up\",\"port\":8080,"
	                       "\"latency_ms\":0.5,\"checked_at\":0.0},\"browser\":{\"status\":\"down\",\"port\":6081,"
	                       "\"checked_at\":0.0}},\"timestamp\":1.5}");
	free(s);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_refusals(void **state)
{
	(void)state;
	const char *bad[] = {
	    "[]",
	    "{\"status\":\"sideways\"}",
	    "{\"created_at\":\"yesterday\"}",
	    "{\"followups\":{}}",
	    "{\"followups\":[{\"prompt\":5}]}",
	    "{\"task_id\":1}",
	    "{",
	    "{\"a\":1,\"a\":2}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ProtobufCMessage *m = (ProtobufCMessage *)0x1;
		char err[200] = "";
		assert_int_equal(
		    kci_json_buf_to_pb(bad[i], strlen(bad[i]), &kc__v1__task__descriptor, &m, err, sizeof err),
		    KC_ERR_PROTOCOL);
		assert_ptr_equal(m, (ProtobufCMessage *)0x1);
		assert_true(err[0] != '\0');
	}
	/* a oneof with both members */
	ProtobufCMessage *m = NULL;
	const char *two = "{\"task\":{},\"output\":{}}";
	assert_int_equal(kci_json_buf_to_pb(two, strlen(two), &kc__v1__task_event__descriptor, &m, NULL, 0),
	                 KC_ERR_PROTOCOL);
	/* 32-bit overflow */
	const char *big = "{\"total_size\":4294967296}";
	assert_int_equal(kci_json_buf_to_pb(big, strlen(big), &kc__v1__list_tasks_response__descriptor, &m, NULL, 0),
	                 KC_ERR_PROTOCOL);
}

static void test_shortest_doubles(void **state)
{
	(void)state;
	Kc__V1__Metrics *m = (Kc__V1__Metrics *)decode("{\"memory\":{\"percent\":95.2,\"total_mb\":4096},"
	                                               "\"timestamp\":1795742089.7040794}",
	                                               &kc__v1__metrics__descriptor);
	char *s = encode(&m->base);
	assert_non_null(strstr(s, "\"percent\":95.2,"));
	assert_non_null(strstr(s, "\"total_mb\":4096.0"));
	assert_non_null(strstr(s, "\"timestamp\":1795742089.7040794"));
	free(s);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_task_round_trip),
	    cmocka_unit_test(test_enums_and_lenience),
	    cmocka_unit_test(test_maps),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_shortest_doubles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
