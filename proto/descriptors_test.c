/* The generated protobuf-c code loads and describes the API we declared:
 * every service and rpc is present with the right message types, messages
 * survive a pack/unpack round trip, and the well-known wrappers work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

static const ProtobufCMethodDescriptor *method_named(const ProtobufCServiceDescriptor *svc, const char *name)
{
	const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(svc, name);
	assert_non_null(m);
	return m;
}

static void test_task_service_shape(void **state)
{
	(void)state;
	const ProtobufCServiceDescriptor *svc = &kc__v1__task_service__descriptor;
	assert_string_equal(svc->name, "kc.v1.TaskService");
	assert_int_equal(svc->n_methods, 8);
	assert_ptr_equal(method_named(svc, "CreateTask")->input, &kc__v1__create_task_request__descriptor);
	assert_ptr_equal(method_named(svc, "CreateTask")->output, &kc__v1__task__descriptor);
	assert_ptr_equal(method_named(svc, "ListTasks")->output, &kc__v1__list_tasks_response__descriptor);
	assert_string_equal(method_named(svc, "GetTaskOutput")->output->name, "google.api.HttpBody");
	assert_ptr_equal(method_named(svc, "WatchTask")->output, &kc__v1__task_event__descriptor);
	assert_ptr_equal(method_named(svc, "KillTask")->output, &kc__v1__kill_task_response__descriptor);
}

static void test_other_services_shape(void **state)
{
	(void)state;
	assert_string_equal(kc__v1__metrics_service__descriptor.name, "kc.v1.MetricsService");
	assert_int_equal(kc__v1__metrics_service__descriptor.n_methods, 2);
	assert_string_equal(kc__v1__workspace_service__descriptor.name, "kc.v1.WorkspaceService");
	assert_int_equal(kc__v1__workspace_service__descriptor.n_methods, 10);
	assert_string_equal(grpc__health__v1__health__descriptor.name, "grpc.health.v1.Health");
	method_named(&grpc__health__v1__health__descriptor, "Check");
	method_named(&grpc__health__v1__health__descriptor, "Watch");
}

/* The REST contract's field names are the proto field names. */
static void test_task_field_names_match_contract(void **state)
{
	(void)state;
	static const char *const names[] = {"task_id",      "session_id", "prompt",      "workdir",
	                                    "status",       "created_at", "finished_at", "killed_at",
	                                    "tmux_session", "error",      "followups",   "recent_output"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_non_null(protobuf_c_message_descriptor_get_field_by_name(&kc__v1__task__descriptor, names[i]));
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value_by_name(&kc__v1__task_status__descriptor, "TASK_STATUS_KILLED");
	assert_non_null(v);
	assert_int_equal(v->value, 4);
}

static void test_task_round_trip(void **state)
{
	(void)state;
	Kc__V1__Task task = KC__V1__TASK__INIT;
	Google__Protobuf__DoubleValue finished = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
	Kc__V1__Followup f = KC__V1__FOLLOWUP__INIT;
	Kc__V1__Followup *fs[] = {&f};
	task.task_id = "1732665600-9f3a1c2b";
	task.prompt = "write tests";
	task.status = KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED;
	task.created_at = 1732665600.25;
	finished.value = 1732665700.5;
	task.finished_at = &finished;
	f.prompt = "and docs";
	f.sent_at = 1732665650.0;
	task.n_followups = 1;
	task.followups = fs;

	size_t len = kc__v1__task__get_packed_size(&task);
	uint8_t buf[256];
	assert_true(len <= sizeof buf);
	assert_int_equal(kc__v1__task__pack(&task, buf), len);

	Kc__V1__Task *back = kc__v1__task__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_string_equal(back->task_id, task.task_id);
	assert_string_equal(back->prompt, "write tests");
	assert_int_equal(back->status, KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED);
	assert_non_null(back->finished_at);
	assert_true(back->finished_at->value == 1732665700.5);
	assert_null(back->killed_at);
	assert_int_equal(back->n_followups, 1);
	assert_string_equal(back->followups[0]->prompt, "and docs");
	kc__v1__task__free_unpacked(back, NULL);
}

static void test_garbage_is_refused(void **state)
{
	(void)state;
	/* Field 1 (string) claiming 100 bytes with 2 present. */
	static const uint8_t bad[] = {0x0a, 0x64, 'a', 'b'};
	assert_null(kc__v1__task__unpack(NULL, sizeof bad, bad));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_task_service_shape),
	    cmocka_unit_test(test_other_services_shape),
	    cmocka_unit_test(test_task_field_names_match_contract),
	    cmocka_unit_test(test_task_round_trip),
	    cmocka_unit_test(test_garbage_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
