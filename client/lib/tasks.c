/*
 * The task calls: create, get, send, kill, prepare-terminal, output, list
 * and watch, and the conversion of their protobuf-c messages into the
 * documented result structs. Results keep the message they came from
 * ("boxes"): their strings point into it, and the *_to_json functions
 * encode it, so the JSON is the REST API's whatever the transport.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/internal.h"
#include "google/api/httpbody.pb-c.h"
#include "kc/v1/task.pb-c.h"

/* ---- names ---------------------------------------------------------------- */

const char *kc_task_status_name(kc_task_status s)
{
	switch (s) {
	case KC_TASK_STATUS_RUNNING:
		return "running";
	case KC_TASK_STATUS_COMPLETED:
		return "completed";
	case KC_TASK_STATUS_ERROR:
		return "error";
	case KC_TASK_STATUS_KILLED:
		return "killed";
	default:
		return "";
	}
}

const char *kc_task_activity_name(kc_task_activity a)
{
	switch (a) {
	case KC_TASK_ACTIVITY_STARTING:
		return "starting";
	case KC_TASK_ACTIVITY_WORKING:
		return "working";
	case KC_TASK_ACTIVITY_WAITING_FOR_INPUT:
		return "waiting_for_input";
	default:
		return "";
	}
}

int kc_task_status_parse(const char *name, kc_task_status *out)
{
	for (int s = KC_TASK_STATUS_RUNNING; s <= KC_TASK_STATUS_KILLED; s++) {
		if (name && strcmp(name, kc_task_status_name((kc_task_status)s)) == 0) {
			*out = (kc_task_status)s;
			return 0;
		}
	}
	return KC_ERR_INVALID;
}

/* ---- tasks ------------------------------------------------------------------- */

struct task_box {
	kc_task pub; /* first: a kc_task * is a struct task_box * */
	kc_followup *followups;
	Kc__V1__Task *msg;
};

/* Fills `t` from `m`; t's strings point into m. Allocates the followups
 * array (*fu, caller frees). */
static int fill_task(kc_task *t, const Kc__V1__Task *m, kc_followup **fu)
{
	memset(t, 0, sizeof *t);
	*fu = NULL;
	if (m->n_followups) {
		*fu = calloc(m->n_followups, sizeof **fu);
		if (!*fu)
			return KC_ERR_NOMEM;
		for (size_t i = 0; i < m->n_followups; i++) {
			(*fu)[i].prompt = m->followups[i]->prompt;
			(*fu)[i].sent_at = m->followups[i]->sent_at;
		}
	}
	t->task_id = m->task_id;
	t->session_id = m->session_id;
	t->prompt = m->prompt;
	t->workdir = m->workdir;
	t->status = (kc_task_status)m->status;
	t->created_at = m->created_at;
	t->finished_at = kci_double_value(m->finished_at);
	t->killed_at = kci_double_value(m->killed_at);
	t->tmux_session = m->tmux_session;
	t->error = m->error ? m->error->value : NULL;
	t->followups = *fu;
	t->n_followups = m->n_followups;
	t->recent_output = m->recent_output;
	t->status_detail = (kc_task_activity)m->status_detail;
	t->agent = m->agent;
	t->prompt_delivered_at = kci_double_value(m->prompt_delivered_at);
	return 0;
}

/* Wraps `m` (taken over, also on failure) as a kc_task. */
static int box_task(Kc__V1__Task *m, kc_task **out)
{
	struct task_box *b = calloc(1, sizeof *b);
	if (!b || fill_task(&b->pub, m, &b->followups)) {
		free(b);
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return KC_ERR_NOMEM;
	}
	b->msg = m;
	*out = &b->pub;
	return 0;
}

void kc_task_free(kc_task *task)
{
	if (!task)
		return;
	struct task_box *b = (struct task_box *)task;
	free(b->followups);
	protobuf_c_message_free_unpacked(&b->msg->base, NULL);
	free(b);
}

int kc_task_to_json(const kc_task *task, char **out)
{
	if (!task || !out)
		return KC_ERR_INVALID;
	const struct task_box *b = (const struct task_box *)task;
	return kci_dump(&b->msg->base, out);
}

static int task_call(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, kc_task **out)
{
	ProtobufCMessage *m = NULL;
	int rc = kci_unary(c, rpc, req, &m);
	if (rc)
		return rc;
	kc_task *t;
	rc = box_task((Kc__V1__Task *)m, &t);
	if (rc == 0)
		*out = t;
	return rc;
}

int kc_task_create(kc_client *c, const char *prompt, const char *workdir, const char *agent, kc_task **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__CreateTaskRequest req = KC__V1__CREATE_TASK_REQUEST__INIT;
	req.prompt = (char *)(prompt ? prompt : "");
	req.workdir = (char *)(workdir ? workdir : "");
	req.agent = (char *)(agent ? agent : "");
	return task_call(c, &kci_rpc_create_task, &req.base, out);
}

int kc_task_get(kc_client *c, const char *task_id, kc_task **out)
{
	int rc = kci_need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__GetTaskRequest req = KC__V1__GET_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	return task_call(c, &kci_rpc_get_task, &req.base, out);
}

int kc_task_send(kc_client *c, const char *task_id, const char *prompt, kc_task **out)
{
	int rc = kci_need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__SendMessageRequest req = KC__V1__SEND_MESSAGE_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.prompt = (char *)(prompt ? prompt : "");
	return task_call(c, &kci_rpc_send_message, &req.base, out);
}

int kc_task_kill(kc_client *c, const char *task_id, double *killed_at)
{
	int rc = kci_need_id(c, task_id);
	if (rc)
		return rc;
	Kc__V1__KillTaskRequest req = KC__V1__KILL_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	ProtobufCMessage *m = NULL;
	rc = kci_unary(c, &kci_rpc_kill_task, &req.base, &m);
	if (rc)
		return rc;
	if (killed_at)
		*killed_at = ((Kc__V1__KillTaskResponse *)m)->killed_at;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int kc_task_prepare_terminal(kc_client *c, const char *task_id, char **session)
{
	int rc = kci_need_id(c, task_id);
	if (rc)
		return rc;
	Kc__V1__PrepareTerminalRequest req = KC__V1__PREPARE_TERMINAL_REQUEST__INIT;
	req.task_id = (char *)task_id;
	ProtobufCMessage *m = NULL;
	rc = kci_unary(c, &kci_rpc_prepare_terminal, &req.base, &m);
	if (rc)
		return rc;
	if (session) {
		char *s = strdup(((Kc__V1__PrepareTerminalResponse *)m)->session);
		if (!s)
			rc = KC_ERR_NOMEM;
		else
			*session = s;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int kc_task_output(kc_client *c, const char *task_id, int tail, char **out, size_t *len)
{
	int rc = kci_need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__GetTaskOutputRequest req = KC__V1__GET_TASK_OUTPUT_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.tail = tail > 0 ? tail : 0;
	ProtobufCMessage *m = NULL;
	rc = kci_unary(c, &kci_rpc_get_task_output, &req.base, &m);
	if (rc)
		return rc;
	Google__Api__HttpBody *hb = (Google__Api__HttpBody *)m;
	char *s = malloc(hb->data.len + 1);
	if (!s) {
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	if (hb->data.len)
		memcpy(s, hb->data.data, hb->data.len);
	s[hb->data.len] = '\0';
	if (len)
		*len = hb->data.len;
	*out = s;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

struct list_box {
	kc_task_list pub;
	kc_task_summary *rows;
	Kc__V1__ListTasksResponse *msg;
};

int kc_task_list_get(kc_client *c, int page_size, const char *page_token, kc_task_status status, kc_task_list **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__ListTasksRequest req = KC__V1__LIST_TASKS_REQUEST__INIT;
	req.page_size = page_size > 0 ? page_size : 0;
	req.page_token = (char *)(page_token ? page_token : "");
	req.status = (Kc__V1__TaskStatus)status;
	ProtobufCMessage *m = NULL;
	int rc = kci_unary(c, &kci_rpc_list_tasks, &req.base, &m);
	if (rc)
		return rc;
	Kc__V1__ListTasksResponse *r = (Kc__V1__ListTasksResponse *)m;
	struct list_box *b = calloc(1, sizeof *b);
	if (b && r->n_tasks)
		b->rows = calloc(r->n_tasks, sizeof *b->rows);
	if (!b || (r->n_tasks && !b->rows)) {
		free(b);
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	for (size_t i = 0; i < r->n_tasks; i++) {
		const Kc__V1__TaskSummary *s = r->tasks[i];
		b->rows[i].task_id = s->task_id;
		b->rows[i].prompt = s->prompt;
		b->rows[i].status = (kc_task_status)s->status;
		b->rows[i].created_at = s->created_at;
		b->rows[i].status_detail = (kc_task_activity)s->status_detail;
		b->rows[i].finished_at = kci_double_value(s->finished_at);
	}
	b->msg = r;
	b->pub.tasks = b->rows;
	b->pub.n_tasks = r->n_tasks;
	b->pub.next_page_token = r->next_page_token;
	b->pub.total_size = r->total_size;
	*out = &b->pub;
	return 0;
}

void kc_task_list_free(kc_task_list *list)
{
	if (!list)
		return;
	struct list_box *b = (struct list_box *)list;
	free(b->rows);
	protobuf_c_message_free_unpacked(&b->msg->base, NULL);
	free(b);
}

int kc_task_list_to_json(const kc_task_list *list, char **out)
{
	if (!list || !out)
		return KC_ERR_INVALID;
	const struct list_box *b = (const struct list_box *)list;
	return kci_dump(&b->msg->base, out);
}

/* ---- watch ---------------------------------------------------------------- */

struct watch_ctx {
	kc_watch_cb cb;
	void *user_data;
	int rc;
};

static int on_task_event(const ProtobufCMessage *msg, void *ud)
{
	struct watch_ctx *w = ud;
	const Kc__V1__TaskEvent *e = (const Kc__V1__TaskEvent *)msg;
	kc_event ev = {0};
	struct task_box b = {0};
	if (e->event_case == KC__V1__TASK_EVENT__EVENT_TASK && e->task) {
		if (fill_task(&b.pub, e->task, &b.followups)) {
			w->rc = KC_ERR_NOMEM;
			return 1;
		}
		b.msg = e->task;
		ev.type = KC_EVENT_TASK;
		ev.task = &b.pub;
	} else if (e->event_case == KC__V1__TASK_EVENT__EVENT_OUTPUT && e->output) {
		ev.type = KC_EVENT_OUTPUT;
		ev.text = e->output->text;
		ev.len = strlen(e->output->text);
		ev.offset = e->output->offset;
	} else {
		return 0; /* an event of a kind this library does not know */
	}
	int stop = w->cb(&ev, w->user_data);
	free(b.followups);
	return stop;
}

int kc_task_watch(kc_client *c, const char *task_id, bool include_output, kc_watch_cb cb, void *user_data)
{
	int rc = kci_need_id(c, task_id);
	if (rc || !cb)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__WatchTaskRequest req = KC__V1__WATCH_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.include_output = include_output;
	struct watch_ctx w = {cb, user_data, 0};
	kci_begin(c);
	rc = c->tr->stream(c, &kci_rpc_watch_task, &req.base, on_task_event, &w);
	if (rc == 0)
		rc = w.rc;
	if (rc && !c->last_error[0])
		kci_set_error(c, rc, "%s", kc_strerror(rc));
	return rc;
}
