/*
 * A gRPC client in C (gRPC core's client API + protobuf-c) against the real
 * kc-server: health, auth, a created task, and error codes with their
 * messages, over the unix socket.
 *
 *   c_core_client_test <path to kc-server> <path to fake_agent.py>
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "tests/support/fs.h"

static char dir[64], sock[128], tmux_sock[128], token[128];
static const char *server_bin, *fake_agent;
static pid_t server_pid;
static grpc_channel *channel;
static grpc_completion_queue *cq;

struct reply {
	grpc_status_code status;
	char details[256];
	ProtobufCMessage *msg;
};

/* One unary call; `tok` NULL sends no authorization. */
static void call(const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *out_desc,
                 const char *tok, struct reply *r)
{
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));
	grpc_call *c = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	                                        grpc_slice_from_static_string(method), NULL, deadline, NULL);
	size_t len = protobuf_c_message_get_packed_size(req);
	grpc_slice body = grpc_slice_malloc(len);
	grpc_byte_buffer *send = NULL, *recv = NULL;
	grpc_metadata md[1];
	grpc_metadata_array initial, trailing;
	grpc_slice details;
	grpc_op ops[6];
	char auth[200];
	grpc_event ev;

	memset(r, 0, sizeof *r);
	protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(body));
	send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	memset(ops, 0, sizeof ops);
	memset(md, 0, sizeof md);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (tok) {
		snprintf(auth, sizeof auth, "Bearer %s", tok);
		md[0].key = grpc_slice_from_static_string("authorization");
		md[0].value = grpc_slice_from_copied_string(auth);
		ops[0].data.send_initial_metadata.count = 1;
		ops[0].data.send_initial_metadata.metadata = md;
	}
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &r->status;
	ops[5].data.recv_status_on_client.status_details = &details;
	assert_int_equal(grpc_call_start_batch(c, ops, 6, (void *)1, NULL), GRPC_CALL_OK);
	ev = grpc_completion_queue_pluck(cq, (void *)1, deadline, NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	snprintf(r->details, sizeof r->details, "%.*s", (int)GRPC_SLICE_LENGTH(details),
	         (const char *)GRPC_SLICE_START_PTR(details));
	if (recv) {
		grpc_byte_buffer_reader rd;
		grpc_slice all;
		assert_true(grpc_byte_buffer_reader_init(&rd, recv));
		all = grpc_byte_buffer_reader_readall(&rd);
		r->msg = protobuf_c_message_unpack(out_desc, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
		grpc_slice_unref(all);
		grpc_byte_buffer_reader_destroy(&rd);
		grpc_byte_buffer_destroy(recv);
	}
	if (tok)
		grpc_slice_unref(md[0].value);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_byte_buffer_destroy(send);
	grpc_call_unref(c);
}

static void reply_free(struct reply *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
}

static int setup(void **state)
{
	char cfg[160], tokpath[200];
	FILE *f;
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kcc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/kc.sock", dir);
	snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux", dir);
	snprintf(cfg, sizeof cfg, "%s/kc.yaml", dir);
	f = fopen(cfg, "w");
	fprintf(f,
	        "home: %s\nserver:\n  socket: %s\n  tmux_socket: %s\nagents:\n  default: fake\n  list:\n"
	        "    - name: fake\n      command: [\"/usr/bin/python3\", \"%s\"]\n      ready_pattern: \"^>\"\n",
	        dir, sock, tmux_sock, fake_agent);
	fclose(f);
	server_pid = fork();
	if (server_pid == 0) {
		execl(server_bin, server_bin, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	snprintf(tokpath, sizeof tokpath, "%s/.claude-tasks/.api-token", dir);
	for (int i = 0; i < 600; i++) {
		struct stat st;
		if (stat(sock, &st) == 0 && stat(tokpath, &st) == 0 && st.st_size > 0)
			break;
		usleep(50000);
	}
	f = fopen(tokpath, "r");
	assert_non_null(f);
	assert_non_null(fgets(token, sizeof token, f));
	fclose(f);
	token[strcspn(token, "\n")] = '\0';
	grpc_init();
	{
		char target[160];
		grpc_channel_credentials *cr = grpc_insecure_credentials_create();
		snprintf(target, sizeof target, "unix:%s", sock);
		channel = grpc_channel_create(target, cr, NULL);
		grpc_channel_credentials_release(cr);
	}
	cq = grpc_completion_queue_create_for_pluck(NULL);
	return 0;
}

static int teardown(void **state)
{
	int status = 0;
	(void)state;
	grpc_channel_destroy(channel);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &status, 0);
	/* tmux has no server when no task is alive: its failure is fine. */
	char *kill_tmux[] = {"tmux", "-S", tmux_sock, "kill-server", NULL};
	(void)kc_test_run(kill_tmux);
	kc_test_rmtree(dir);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static void test_health_and_auth(void **state)
{
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Kc__V1__ListTasksRequest lreq = KC__V1__LIST_TASKS_REQUEST__INIT;
	struct reply r;
	(void)state;
	/* The server may still be binding: retry health for a while. */
	for (int i = 0; i < 100; i++) {
		call("/grpc.health.v1.Health/Check", &hreq.base, &grpc__health__v1__health_check_response__descriptor,
		     NULL, &r);
		if (r.status == GRPC_STATUS_OK)
			break;
		reply_free(&r);
		usleep(100000);
	}
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)r.msg)->status,
	                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	reply_free(&r);

	call("/kc.v1.TaskService/ListTasks", &lreq.base, &kc__v1__list_tasks_response__descriptor, NULL, &r);
	assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
	reply_free(&r);
	call("/kc.v1.TaskService/ListTasks", &lreq.base, &kc__v1__list_tasks_response__descriptor, "nope", &r);
	assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
	reply_free(&r);
	call("/kc.v1.TaskService/ListTasks", &lreq.base, &kc__v1__list_tasks_response__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_non_null(r.msg);
	assert_int_equal(((Kc__V1__ListTasksResponse *)r.msg)->total_size, 0);
	reply_free(&r);
	call("/kc.v1.TaskService/NoSuchMethod", &lreq.base, &kc__v1__list_tasks_response__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_UNIMPLEMENTED);
	reply_free(&r);
}

static void test_tasks(void **state)
{
	Kc__V1__CreateTaskRequest creq = KC__V1__CREATE_TASK_REQUEST__INIT;
	Kc__V1__GetTaskRequest greq = KC__V1__GET_TASK_REQUEST__INIT;
	Kc__V1__KillTaskRequest kreq = KC__V1__KILL_TASK_REQUEST__INIT;
	Kc__V1__Task *t;
	struct reply r;
	char id[64];
	(void)state;
	creq.prompt = "  \n ";
	call("/kc.v1.TaskService/CreateTask", &creq.base, &kc__v1__task__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_string_equal(r.details, "prompt is required");
	reply_free(&r);

	/* A malformed id is a task that does not exist. */
	greq.task_id = "../x";
	call("/kc.v1.TaskService/GetTask", &greq.base, &kc__v1__task__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
	assert_string_equal(r.details, "task not found");
	reply_free(&r);
	greq.task_id = "1700000000-00000000";
	call("/kc.v1.TaskService/GetTask", &greq.base, &kc__v1__task__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
	assert_string_equal(r.details, "task not found");
	reply_free(&r);

	creq.prompt = "from C";
	call("/kc.v1.TaskService/CreateTask", &creq.base, &kc__v1__task__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	t = (Kc__V1__Task *)r.msg;
	assert_int_equal(t->status, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_string_equal(t->prompt, "from C");
	snprintf(id, sizeof id, "%s", t->task_id);
	reply_free(&r);

	kreq.task_id = id;
	call("/kc.v1.TaskService/KillTask", &kreq.base, &kc__v1__kill_task_response__descriptor, token, &r);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_int_equal(((Kc__V1__KillTaskResponse *)r.msg)->status, KC__V1__TASK_STATUS__TASK_STATUS_KILLED);
	reply_free(&r);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_and_auth),
	    cmocka_unit_test(test_tasks),
	};
	if (argc < 3) {
		fprintf(stderr, "usage: c_core_client_test KC_SERVER FAKE_AGENT\n");
		return 2;
	}
	server_bin = argv[1];
	fake_agent = argv[2];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
