/*
 * stub_server - a tiny kc-server stand-in written with gRPC core, so the
 * gateway's HTTP side can be tested through real sockets before (and
 * independently of) the real server.
 *
 *   stub_server unix:/path/to.sock [cancel-marker-file]
 *
 * It enforces the same auth rule as kc-server (a bearer "good", or an OAuth
 * identity in x-kc-oauth-user) and echoes what it received so tests can see
 * what the gateway forwarded: a created task's `agent` is the OAuth user the
 * gateway passed up and its `workdir` the x-request-id. Task "missing" is
 * NOT_FOUND; WatchTask on "forever" streams one event and stays open until
 * the caller cancels, then touches the marker file; on "badfirst" the same
 * with bytes that are no TaskEvent instead of the event, on "badlater" a
 * good event, then such bytes, then the same wait. STUB_TASKS sets how
 * many tasks ListTasks returns (default 3).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

enum stage { NEW, READ, SENDING, CLOSED_WAIT, DONE };

typedef struct call {
	enum stage stage;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *in;
	int cancelled;
	/* Streaming: messages left to send. */
	int stream_left;
	bool forever;
	/* Forever streams: wait for the cancel once stream_left is down to
	 * hold_at; send junk instead of the event when it is bad_at. */
	int hold_at;
	int bad_at;
	bool sent_md;
	int pending;
} call;

static grpc_server *server;
static grpc_completion_queue *cq;
static const char *marker;

static void new_call(void);

static char *md_get(call *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->md.count; i++)
		if (grpc_slice_str_cmp(c->md.metadata[i].key, key) == 0)
			return grpc_slice_to_c_string(c->md.metadata[i].value);
	return NULL;
}

static bool method_is(call *c, const char *m)
{
	return grpc_slice_str_cmp(c->details.method, m) == 0;
}

static void batch(call *c, grpc_op *ops, size_t n)
{
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "stub: start_batch failed\n");
		exit(1);
	}
	c->pending++;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	grpc_slice s;
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, buf);
	s = grpc_slice_from_copied_buffer((const char *)buf, n);
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	free(buf);
	return bb;
}

static grpc_slice status_details;

/* Unary answer (m may be NULL for an error). */
static void reply(call *c, const ProtobufCMessage *m, grpc_status_code st, const char *msg)
{
	grpc_op ops[4];
	size_t n = 0;
	grpc_byte_buffer *bb = m ? pack(m) : NULL;

	memset(ops, 0, sizeof(ops));
	if (!c->sent_md)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	c->sent_md = true;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	status_details = grpc_slice_from_copied_string(msg ? msg : "");
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = st;
	ops[n++].data.send_status_from_server.status_details = &status_details;
	ops[n++].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n - 1].data.recv_close_on_server.cancelled = &c->cancelled;
	c->stage = DONE;
	batch(c, ops, n);
	if (bb)
		grpc_byte_buffer_destroy(bb);
	grpc_slice_unref(status_details);
}

static ProtobufCMessage *unpack(call *c, const ProtobufCMessageDescriptor *d)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	ProtobufCMessage *m;

	if (!c->in)
		return NULL;
	grpc_byte_buffer_reader_init(&r, c->in);
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

static bool authed(call *c)
{
	char *a = md_get(c, "authorization");
	char *u = md_get(c, "x-kc-oauth-user");
	bool ok = (a && strcmp(a, "Bearer good") == 0) || u;

	gpr_free(a);
	gpr_free(u);
	return ok;
}

static void fill_task(Kc__V1__Task *t, const char *id)
{
	kc__v1__task__init(t);
	t->task_id = (char *)id;
	t->session_id = "3b241101-e2bb-4255-8caf-4136c566a962";
	t->prompt = "hello";
	t->workdir = "/home/coder";
	t->status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	t->created_at = 1732665600.5;
	t->tmux_session = "claude-1732665600-9f3a1c2b";
}

static void send_stream_message(call *c)
{
	Kc__V1__TaskEvent ev = KC__V1__TASK_EVENT__INIT;
	Kc__V1__Task t;
	Kc__V1__OutputChunk out = KC__V1__OUTPUT_CHUNK__INIT;
	grpc_op ops[2];
	size_t n = 0;
	grpc_byte_buffer *bb;

	fill_task(&t, "1732665600-9f3a1c2b");
	if (c->stream_left == c->bad_at) {
		/* Field 31 with wire type 7: no protobuf message at all. */
		static const char junk[] = {(char)0xff, (char)0xff, (char)0xff, (char)0xff, 0x0f};
		grpc_slice js = grpc_slice_from_copied_buffer(junk, sizeof(junk));

		bb = grpc_raw_byte_buffer_create(&js, 1);
		grpc_slice_unref(js);
		goto send;
	}
	if (c->stream_left == 2) {
		out.text = "working...\n";
		ev.event_case = KC__V1__TASK_EVENT__EVENT_OUTPUT;
		ev.output = &out;
	} else {
		if (c->stream_left == 1)
			t.status = KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED;
		ev.event_case = KC__V1__TASK_EVENT__EVENT_TASK;
		ev.task = &t;
	}
	bb = pack(&ev.base);
send:
	memset(ops, 0, sizeof(ops));
	if (!c->sent_md)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	c->sent_md = true;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	c->stage = SENDING;
	c->stream_left--;
	batch(c, ops, n);
	grpc_byte_buffer_destroy(bb);
}

static void on_health_check(call *c)
{
	Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	reply(c, &r.base, GRPC_STATUS_OK, NULL);
}

static void on_get_health(call *c)
{
	Kc__V1__Health h = KC__V1__HEALTH__INIT;
	Kc__V1__Health__ServicesEntry e = KC__V1__HEALTH__SERVICES_ENTRY__INIT;
	Kc__V1__Health__ServicesEntry *ep = &e;
	Kc__V1__ServiceHealth s = KC__V1__SERVICE_HEALTH__INIT;

	s.status = KC__V1__SERVICE_STATE__SERVICE_STATE_UP;
	s.port = 8080;
	e.key = "vscode";
	e.value = &s;
	h.status = KC__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY;
	h.n_services = 1;
	h.services = &ep;
	h.timestamp = 1;
	reply(c, &h.base, GRPC_STATUS_OK, NULL);
}

static void on_get_metrics(call *c)
{
	Kc__V1__Metrics m = KC__V1__METRICS__INIT;
	Kc__V1__CpuMetrics cpu = KC__V1__CPU_METRICS__INIT;
	Kc__V1__MemoryMetrics mem = KC__V1__MEMORY_METRICS__INIT;
	Kc__V1__DiskMetrics disk = KC__V1__DISK_METRICS__INIT;

	cpu.usage_percent = 12.5;
	cpu.cores = 2;
	mem.total_mb = 24000;
	mem.used_mb = 1200;
	mem.available_mb = 22800;
	mem.percent = 5;
	disk.path = "/home/coder";
	m.cpu = &cpu;
	m.memory = &mem;
	m.disk = &disk;
	m.timestamp = 1732665600;
	reply(c, &m.base, GRPC_STATUS_OK, NULL);
}

static void on_list_tasks(call *c)
{
	Kc__V1__ListTasksResponse r = KC__V1__LIST_TASKS_RESPONSE__INIT;
	int n = getenv("STUB_TASKS") ? atoi(getenv("STUB_TASKS")) : 3;
	Kc__V1__TaskSummary *rows = calloc((size_t)n + 1, sizeof(*rows));
	Kc__V1__TaskSummary **ptrs = calloc((size_t)n + 1, sizeof(*ptrs));
	char(*ids)[32] = calloc((size_t)n + 1, 32);
	int i;

	for (i = 0; i < n; i++) {
		kc__v1__task_summary__init(&rows[i]);
		snprintf(ids[i], 32, "%d-%08x", 1732665600 + i, (unsigned)i * 2654435761u);
		rows[i].task_id = ids[i];
		rows[i].prompt = "Refactor the billing module so that invoices are generated in one pass and "
		                 "add tests for the rounding rules that finance asked about";
		rows[i].status =
		    i % 10 ? KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED : KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
		rows[i].created_at = 1732665600.25 + i;
		ptrs[i] = &rows[i];
	}
	r.n_tasks = (size_t)n;
	r.tasks = ptrs;
	r.total_size = n;
	reply(c, &r.base, GRPC_STATUS_OK, NULL);
	free(rows);
	free(ptrs);
	free(ids);
}

static void on_create_task(call *c)
{
	Kc__V1__CreateTaskRequest *in = (void *)unpack(c, &kc__v1__create_task_request__descriptor);
	Kc__V1__Task t;
	char *user = md_get(c, "x-kc-oauth-user");
	char *rid = md_get(c, "x-request-id");

	if (!in || !*in->prompt) {
		reply(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "prompt is required");
	} else {
		fill_task(&t, "1732665600-9f3a1c2b");
		t.prompt = in->prompt;
		t.agent = user ? user : "";
		t.workdir = rid ? rid : "";
		reply(c, &t.base, GRPC_STATUS_OK, NULL);
	}
	gpr_free(user);
	gpr_free(rid);
	if (in)
		protobuf_c_message_free_unpacked(&in->base, NULL);
}

static void on_get_task(call *c)
{
	Kc__V1__GetTaskRequest *in = (void *)unpack(c, &kc__v1__get_task_request__descriptor);
	Kc__V1__Task t;

	if (!in || strcmp(in->task_id, "missing") == 0) {
		reply(c, NULL, GRPC_STATUS_NOT_FOUND, "task not found");
	} else {
		fill_task(&t, in->task_id);
		reply(c, &t.base, GRPC_STATUS_OK, NULL);
	}
	if (in)
		protobuf_c_message_free_unpacked(&in->base, NULL);
}

static void on_get_task_output(call *c)
{
	Kc__V1__GetTaskOutputRequest *in = (void *)unpack(c, &kc__v1__get_task_output_request__descriptor);
	Google__Api__HttpBody b = GOOGLE__API__HTTP_BODY__INIT;
	char text[64];

	snprintf(text, sizeof(text), "tail=%d\nline two\n", in ? in->tail : -1);
	b.content_type = "text/plain; charset=utf-8";
	b.data.data = (uint8_t *)text;
	b.data.len = strlen(text);
	reply(c, &b.base, GRPC_STATUS_OK, NULL);
	if (in)
		protobuf_c_message_free_unpacked(&in->base, NULL);
}

static void on_watch_task(call *c)
{
	Kc__V1__WatchTaskRequest *in = (void *)unpack(c, &kc__v1__watch_task_request__descriptor);

	if (!in || strcmp(in->task_id, "missing") == 0) {
		reply(c, NULL, GRPC_STATUS_NOT_FOUND, "task not found");
	} else {
		c->forever = strcmp(in->task_id, "forever") == 0 || strcmp(in->task_id, "badfirst") == 0 ||
		             strcmp(in->task_id, "badlater") == 0;
		c->hold_at = strcmp(in->task_id, "badlater") == 0 ? 1 : 2;
		c->bad_at = strcmp(in->task_id, "badfirst") == 0 ? 3 : strcmp(in->task_id, "badlater") == 0 ? 2 : -1;
		c->stream_left = 3;
		send_stream_message(c);
	}
	if (in)
		protobuf_c_message_free_unpacked(&in->base, NULL);
}

static void on_get_api_token(call *c)
{
	Kc__V1__ApiToken t = KC__V1__API_TOKEN__INIT;
	char *u = md_get(c, "x-kc-oauth-user");

	t.token = "good";
	if (u)
		reply(c, &t.base, GRPC_STATUS_OK, NULL);
	else
		reply(c, NULL, GRPC_STATUS_PERMISSION_DENIED, "the token is only given to an OAuth identity");
	gpr_free(u);
}

/* What the stub answers, by method; `open` ones need no credentials. */
static const struct {
	const char *method;
	bool open;
	void (*answer)(call *c);
} handlers[] = {
    {"/grpc.health.v1.Health/Check", true, on_health_check},
    {"/kc.v1.WorkspaceService/GetHealth", true, on_get_health},
    {"/kc.v1.MetricsService/GetMetrics", false, on_get_metrics},
    {"/kc.v1.TaskService/ListTasks", false, on_list_tasks},
    {"/kc.v1.TaskService/CreateTask", false, on_create_task},
    {"/kc.v1.TaskService/GetTask", false, on_get_task},
    {"/kc.v1.TaskService/GetTaskOutput", false, on_get_task_output},
    {"/kc.v1.TaskService/WatchTask", false, on_watch_task},
    {"/kc.v1.WorkspaceService/GetApiToken", false, on_get_api_token},
};

static void dispatch(call *c)
{
	for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
		if (!method_is(c, handlers[i].method))
			continue;
		if (!handlers[i].open && !authed(c))
			reply(c, NULL, GRPC_STATUS_UNAUTHENTICATED, "missing or invalid credentials");
		else
			handlers[i].answer(c);
		return;
	}
	if (!authed(c))
		reply(c, NULL, GRPC_STATUS_UNAUTHENTICATED, "missing or invalid credentials");
	else
		reply(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "not in the stub");
}

static void call_free(call *c)
{
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->in)
		grpc_byte_buffer_destroy(c->in);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

static void step(call *c, int ok)
{
	grpc_op op;

	c->pending--;
	switch (c->stage) {
	case NEW:
		new_call();
		if (!ok) {
			call_free(c);
			return;
		}
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &c->in;
		c->stage = READ;
		batch(c, &op, 1);
		return;
	case READ:
		dispatch(c);
		break;
	case SENDING:
		if (!ok) {
			c->stage = DONE;
			break;
		}
		if (c->forever && c->stream_left <= c->hold_at) {
			/* Stay open until the caller goes away. */
			memset(&op, 0, sizeof(op));
			op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
			op.data.recv_close_on_server.cancelled = &c->cancelled;
			c->stage = CLOSED_WAIT;
			batch(c, &op, 1);
			return;
		}
		if (c->stream_left > 0) {
			send_stream_message(c);
			return;
		}
		reply(c, NULL, GRPC_STATUS_OK, NULL);
		break;
	case CLOSED_WAIT:
		if (marker) {
			FILE *f = fopen(marker, "w");

			if (f)
				fclose(f);
		}
		c->stage = DONE;
		break;
	case DONE:
		break;
	}
	if (c->stage == DONE && c->pending == 0)
		call_free(c);
}

static void new_call(void)
{
	call *c = calloc(1, sizeof(*c));

	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	c->stage = NEW;
	c->pending = 1;
	if (grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, c) != GRPC_CALL_OK) {
		fprintf(stderr, "stub: request_call failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	grpc_server_credentials *creds;

	if (argc < 2) {
		fprintf(stderr, "usage: stub_server unix:/path [marker]\n");
		return 2;
	}
	marker = argc > 2 ? argv[2] : NULL;
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	creds = grpc_insecure_server_credentials_create();
	if (!grpc_server_add_http2_port(server, argv[1], creds)) {
		fprintf(stderr, "stub: cannot listen on %s\n", argv[1]);
		return 1;
	}
	grpc_server_credentials_release(creds);
	grpc_server_start(server);
	new_call();
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type == GRPC_OP_COMPLETE)
			step(ev.tag, ev.success);
	}
}
