/*
 * The public API: argument checks and the conversion of
 * protobuf-c messages into the documented result structs. Results keep the
 * message they came from ("boxes"): their strings point into it, and the
 * *_to_json functions encode it, so the JSON is the REST API's whatever the
 * transport.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/internal.h"
#include "client/lib/json_pb.h"
#include "google/api/httpbody.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"
#include "transcode/transcode.h"

/* ---- errors -------------------------------------------------------------- */

int kci_set_error(kc_client *c, int err, const char *fmt, ...)
{
	if (!fmt) {
		c->last_error[0] = '\0';
		return err;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
	return err;
}

int kci_error_from_http(long status)
{
	switch (status) {
	case 400:
	case 422:
		return KC_ERR_INVALID;
	case 401:
		return KC_ERR_UNAUTHENTICATED;
	case 403:
		return KC_ERR_PERMISSION;
	case 404:
		return KC_ERR_NOT_FOUND;
	case 405:
		return KC_ERR_METHOD;
	case 409:
		return KC_ERR_PRECONDITION;
	case 413:
		return KC_ERR_TOO_LARGE;
	case 429:
		return KC_ERR_LIMIT;
	case 499:
		return KC_ERR_CANCELLED;
	case 501:
		return KC_ERR_UNSUPPORTED;
	case 502:
	case 503:
		return KC_ERR_UNAVAILABLE;
	case 504:
		return KC_ERR_TIMEOUT;
	default:
		return status >= 500 ? KC_ERR_INTERNAL : KC_ERR_PROTOCOL;
	}
}

void kc_free(void *ptr)
{
	free(ptr);
}

/* ---- the client ------------------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int kc_client_new(kc_client **out, const char *url, const char *token)
{
	if (!out || !url)
		return KC_ERR_INVALID;
	kc_client *c = calloc(1, sizeof *c);
	if (!c)
		return KC_ERR_NOMEM;
	int rc = KC_ERR_NOMEM;
	c->timeout_ms = 30000;
	atomic_init(&c->cancelled, 0);
	c->url = strdup(url);
	c->token = strdup(token ? token : "");
	if (!c->url || !c->token)
		goto fail;
	if (starts(url, "grpc://") || starts(url, "grpcs://")) {
		c->tr = &kci_grpc_transport;
		c->tls = starts(url, "grpcs://");
		const char *hp = url + (c->tls ? 8 : 7);
		c->target = strndup(hp, strcspn(hp, "/"));
	} else if (starts(url, "unix:")) {
		c->tr = &kci_grpc_transport;
		c->target = strdup(url);
	} else if (starts(url, "http://") || starts(url, "https://")) {
		c->tr = &kci_rest_transport;
		c->tls = starts(url, "https://");
		const char *host = url + (c->tls ? 8 : 7);
		if (host[0] == '\0' || host[0] == '/' || host[0] == ':' || strpbrk(host, " \t\r\n?#")) {
			rc = KC_ERR_INVALID;
			goto fail;
		}
		c->target = strdup(url);
		if (c->target) {
			size_t n = strlen(c->target);
			while (n > 8 && c->target[n - 1] == '/')
				c->target[--n] = '\0';
		}
	} else {
		rc = KC_ERR_INVALID;
		goto fail;
	}
	if (!c->target)
		goto fail;
	if (c->target[0] == '\0' || strcmp(c->target, "unix:") == 0) {
		rc = KC_ERR_INVALID;
		goto fail;
	}
	rc = c->tr->open(c);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	free(c->target);
	free(c->token);
	free(c->url);
	free(c);
	return rc;
}

void kc_client_free(kc_client *c)
{
	if (!c)
		return;
	c->tr->close(c);
	free(c->ca_file);
	free(c->target);
	free(c->token);
	free(c->url);
	free(c);
}

void kc_client_set_timeout(kc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
}

int kc_client_set_ca_file(kc_client *c, const char *path)
{
	char *p = path ? strdup(path) : NULL;
	if (path && !p)
		return KC_ERR_NOMEM;
	free(c->ca_file);
	c->ca_file = p;
	if (c->tr == &kci_grpc_transport && c->tls) {
		/* The channel's credentials are fixed when it is made. */
		c->tr->close(c);
		return c->tr->open(c);
	}
	return 0;
}

void kc_client_cancel(kc_client *c)
{
	atomic_store(&c->cancelled, 1);
}

const char *kc_client_last_error(const kc_client *c)
{
	return c->last_error;
}

const char *kc_client_transport(const kc_client *c)
{
	return c->tr->name;
}

const char *kc_client_token(const kc_client *c)
{
	return c->token;
}

/* Every call starts here: clears the last error and a cancel that came
 * between calls. */
static void begin(kc_client *c)
{
	c->last_error[0] = '\0';
	atomic_store(&c->cancelled, 0);
}

static int unary(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	begin(c);
	int rc = c->tr->unary(c, rpc, req, resp);
	if (rc && !c->last_error[0])
		kci_set_error(c, rc, "%s", kc_strerror(rc));
	return rc;
}

static int need_id(kc_client *c, const char *id)
{
	if (!c)
		return KC_ERR_INVALID;
	if (!id || !id[0]) {
		begin(c);
		return kci_set_error(c, KC_ERR_INVALID, "a task id is required");
	}
	return 0;
}

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

static double dv(const Google__Protobuf__DoubleValue *v)
{
	return v ? v->value : 0;
}

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
	t->finished_at = dv(m->finished_at);
	t->killed_at = dv(m->killed_at);
	t->tmux_session = m->tmux_session;
	t->error = m->error ? m->error->value : NULL;
	t->followups = *fu;
	t->n_followups = m->n_followups;
	t->recent_output = m->recent_output;
	t->status_detail = (kc_task_activity)m->status_detail;
	t->agent = m->agent;
	t->prompt_delivered_at = dv(m->prompt_delivered_at);
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

static int dump(const ProtobufCMessage *msg, char **out)
{
	char *s = kci_pb_to_json_text(msg);
	if (!s)
		return KC_ERR_NOMEM;
	*out = s;
	return 0;
}

int kc_task_to_json(const kc_task *task, char **out)
{
	if (!task || !out)
		return KC_ERR_INVALID;
	const struct task_box *b = (const struct task_box *)task;
	return dump(&b->msg->base, out);
}

static int task_call(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, kc_task **out)
{
	ProtobufCMessage *m = NULL;
	int rc = unary(c, rpc, req, &m);
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
	int rc = need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__GetTaskRequest req = KC__V1__GET_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	return task_call(c, &kci_rpc_get_task, &req.base, out);
}

int kc_task_send(kc_client *c, const char *task_id, const char *prompt, kc_task **out)
{
	int rc = need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__SendMessageRequest req = KC__V1__SEND_MESSAGE_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.prompt = (char *)(prompt ? prompt : "");
	return task_call(c, &kci_rpc_send_message, &req.base, out);
}

int kc_task_kill(kc_client *c, const char *task_id, double *killed_at)
{
	int rc = need_id(c, task_id);
	if (rc)
		return rc;
	Kc__V1__KillTaskRequest req = KC__V1__KILL_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	ProtobufCMessage *m = NULL;
	rc = unary(c, &kci_rpc_kill_task, &req.base, &m);
	if (rc)
		return rc;
	if (killed_at)
		*killed_at = ((Kc__V1__KillTaskResponse *)m)->killed_at;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int kc_task_prepare_terminal(kc_client *c, const char *task_id, char **session)
{
	int rc = need_id(c, task_id);
	if (rc)
		return rc;
	Kc__V1__PrepareTerminalRequest req = KC__V1__PREPARE_TERMINAL_REQUEST__INIT;
	req.task_id = (char *)task_id;
	ProtobufCMessage *m = NULL;
	rc = unary(c, &kci_rpc_prepare_terminal, &req.base, &m);
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
	int rc = need_id(c, task_id);
	if (rc || !out)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__GetTaskOutputRequest req = KC__V1__GET_TASK_OUTPUT_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.tail = tail > 0 ? tail : 0;
	ProtobufCMessage *m = NULL;
	rc = unary(c, &kci_rpc_get_task_output, &req.base, &m);
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
	int rc = unary(c, &kci_rpc_list_tasks, &req.base, &m);
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
		b->rows[i].finished_at = dv(s->finished_at);
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
	return dump(&b->msg->base, out);
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
	int rc = need_id(c, task_id);
	if (rc || !cb)
		return rc ? rc : KC_ERR_INVALID;
	Kc__V1__WatchTaskRequest req = KC__V1__WATCH_TASK_REQUEST__INIT;
	req.task_id = (char *)task_id;
	req.include_output = include_output;
	struct watch_ctx w = {cb, user_data, 0};
	begin(c);
	rc = c->tr->stream(c, &kci_rpc_watch_task, &req.base, on_task_event, &w);
	if (rc == 0)
		rc = w.rc;
	if (rc && !c->last_error[0])
		kci_set_error(c, rc, "%s", kc_strerror(rc));
	return rc;
}

/* ---- metrics ----------------------------------------------------------------- */

struct metrics_box {
	kc_metrics pub;
	kc_alert *alerts;
	Kc__V1__Metrics *msg;
};

int kc_metrics_get(kc_client *c, kc_metrics **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__GetMetricsRequest req = KC__V1__GET_METRICS_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = unary(c, &kci_rpc_get_metrics, &req.base, &m);
	if (rc)
		return rc;
	Kc__V1__Metrics *r = (Kc__V1__Metrics *)m;
	struct metrics_box *b = calloc(1, sizeof *b);
	if (b && r->n_alerts)
		b->alerts = calloc(r->n_alerts, sizeof *b->alerts);
	if (!b || (r->n_alerts && !b->alerts)) {
		free(b);
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	kc_metrics *p = &b->pub;
	if (r->cpu) {
		p->cpu_usage_percent = r->cpu->usage_percent;
		p->cpu_cores = r->cpu->cores;
		p->cpu_limit_cores = dv(r->cpu->limit_cores);
	}
	if (r->memory) {
		p->memory_total_mb = r->memory->total_mb;
		p->memory_used_mb = r->memory->used_mb;
		p->memory_available_mb = r->memory->available_mb;
		p->memory_percent = r->memory->percent;
		p->memory_container = r->memory->container;
	}
	p->disk_path = "";
	if (r->disk) {
		p->disk_total_gb = r->disk->total_gb;
		p->disk_used_gb = r->disk->used_gb;
		p->disk_available_gb = r->disk->available_gb;
		p->disk_percent = r->disk->percent;
		p->disk_path = r->disk->path;
	}
	for (size_t i = 0; i < r->n_alerts; i++) {
		const Kc__V1__Alert *a = r->alerts[i];
		b->alerts[i].type = a->type == KC__V1__ALERT_TYPE__ALERT_TYPE_CRITICAL ? "critical" : "warning";
		b->alerts[i].resource = a->resource;
		b->alerts[i].message = a->message;
		b->alerts[i].value = a->value;
		b->alerts[i].threshold = a->threshold;
	}
	p->alerts = b->alerts;
	p->n_alerts = r->n_alerts;
	p->timestamp = r->timestamp;
	b->msg = r;
	*out = p;
	return 0;
}

void kc_metrics_free(kc_metrics *metrics)
{
	if (!metrics)
		return;
	struct metrics_box *b = (struct metrics_box *)metrics;
	free(b->alerts);
	protobuf_c_message_free_unpacked(&b->msg->base, NULL);
	free(b);
}

int kc_metrics_to_json(const kc_metrics *metrics, char **out)
{
	if (!metrics || !out)
		return KC_ERR_INVALID;
	return dump(&((const struct metrics_box *)metrics)->msg->base, out);
}

/* ---- workspace status -------------------------------------------------------- */

struct status_box {
	kc_workspace_status pub;
	kc_service_health *services;
	Kc__V1__Health *health;
	Kc__V1__GitHubStatus *github;
	char github_error[512];
};

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const kc_service_health *)a)->name, ((const kc_service_health *)b)->name);
}

int kc_workspace_status_get(kc_client *c, kc_workspace_status **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__GetHealthRequest hreq = KC__V1__GET_HEALTH_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = unary(c, &kci_rpc_get_health, &hreq.base, &m);
	if (rc)
		return rc;
	Kc__V1__Health *h = (Kc__V1__Health *)m;
	struct status_box *b = calloc(1, sizeof *b);
	if (b && h->n_services)
		b->services = calloc(h->n_services, sizeof *b->services);
	if (!b || (h->n_services && !b->services)) {
		free(b);
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	b->health = h;
	kc_workspace_status *p = &b->pub;
	p->health = h->status == KC__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY ? "healthy" : "degraded";
	for (size_t i = 0; i < h->n_services; i++) {
		const Kc__V1__Health__ServicesEntry *e = h->services[i];
		kc_service_health *s = &b->services[i];
		s->name = e->key;
		s->status = (e->value && e->value->status == KC__V1__SERVICE_STATE__SERVICE_STATE_UP) ? "up" : "down";
		if (e->value) {
			s->port = e->value->port;
			s->latency_ms = dv(e->value->latency_ms);
			s->checked_at = e->value->checked_at;
		}
	}
	qsort(b->services, h->n_services, sizeof *b->services, cmp_service);
	p->services = b->services;
	p->n_services = h->n_services;
	p->timestamp = h->timestamp;

	Kc__V1__GetGitHubStatusRequest greq = KC__V1__GET_GIT_HUB_STATUS_REQUEST__INIT;
	m = NULL;
	p->ssh_key_type = p->ssh_key_fingerprint = p->ssh_public_key = p->gh_username = "";
	p->git_user_name = p->git_user_email = "";
	if (unary(c, &kci_rpc_get_git_hub_status, &greq.base, &m) == 0) {
		Kc__V1__GitHubStatus *g = (Kc__V1__GitHubStatus *)m;
		b->github = g;
		if (g->ssh) {
			p->ssh_configured = g->ssh->configured;
			p->ssh_key_type = g->ssh->key_type;
			p->ssh_key_fingerprint = g->ssh->key_fingerprint;
			p->ssh_public_key = g->ssh->public_key;
		}
		if (g->gh_cli) {
			p->gh_installed = g->gh_cli->installed;
			p->gh_authenticated = g->gh_cli->authenticated;
			p->gh_username = g->gh_cli->username;
		}
		if (g->git_config) {
			p->git_user_name = g->git_config->user_name;
			p->git_user_email = g->git_config->user_email;
		}
		if (g->github_app) {
			p->github_app_configured = g->github_app->configured;
			p->github_app_token_valid = g->github_app->token_valid;
		}
	} else {
		snprintf(b->github_error, sizeof b->github_error, "%s", c->last_error);
		p->github_error = b->github_error;
		c->last_error[0] = '\0';
	}
	*out = p;
	return 0;
}

void kc_workspace_status_free(kc_workspace_status *status)
{
	if (!status)
		return;
	struct status_box *b = (struct status_box *)status;
	free(b->services);
	protobuf_c_message_free_unpacked(&b->health->base, NULL);
	if (b->github)
		protobuf_c_message_free_unpacked(&b->github->base, NULL);
	free(b);
}

int kc_workspace_status_to_json(const kc_workspace_status *status, char **out)
{
	if (!status || !out)
		return KC_ERR_INVALID;
	const struct status_box *b = (const struct status_box *)status;
	kc_buf j;
	kc_buf_init(&j, 0);
	kc_buf_puts(&j, "{\"health\":");
	kc_message_to_json_ex(&b->health->base, NULL, KC_JSON_CLIENT, &j);
	if (b->github) {
		kc_buf_puts(&j, ",\"github\":");
		kc_message_to_json_ex(&b->github->base, NULL, KC_JSON_CLIENT, &j);
	} else {
		kc_buf_puts(&j, ",\"github_error\":");
		kc_json_put_string(&j, b->github_error, strlen(b->github_error));
	}
	kc_buf_putc(&j, '}');
	char *s = kc_buf_steal(&j, NULL);
	if (!s)
		return KC_ERR_NOMEM;
	*out = s;
	return 0;
}

/* ---- token ------------------------------------------------------------------- */

int kc_token_get(kc_client *c, char **token)
{
	if (!c || !token)
		return KC_ERR_INVALID;
	Kc__V1__GetApiTokenRequest req = KC__V1__GET_API_TOKEN_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = unary(c, &kci_rpc_get_api_token, &req.base, &m);
	if (rc)
		return rc;
	char *s = strdup(((Kc__V1__ApiToken *)m)->token);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!s)
		return KC_ERR_NOMEM;
	*token = s;
	return 0;
}
