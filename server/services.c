/* services.c - see services.h. */
#include "server/services.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

#define APP(a) ((kc_app *)(a))

/* ---- TaskService --------------------------------------------------------- */

static int create_task(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       char *err, size_t errlen)
{
	const Kc__V1__CreateTaskRequest *r = (const Kc__V1__CreateTaskRequest *)req;
	(void)ctx;
	return kc_tasks_create(APP(app)->tasks, r->prompt, r->workdir, r->agent, (Kc__V1__Task **)resp, err, errlen);
}

static uint8_t *answer_alloc(void *ans, size_t len)
{
	return kc_rpc_answer_alloc(ans, len);
}

/* Raw: the task index writes the packed answer itself (task_list.c says why). */
static int list_tasks(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_answer *ans, char *err,
                      size_t errlen)
{
	const Kc__V1__ListTasksRequest *r = (const Kc__V1__ListTasksRequest *)req;
	(void)ctx;
	return kc_tasks_list_packed(APP(app)->tasks, r->page_size, r->page_token, r->status, answer_alloc, ans, err,
	                            errlen);
}

static int get_task(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp, char *err,
                    size_t errlen)
{
	(void)ctx;
	return kc_tasks_get(APP(app)->tasks, ((const Kc__V1__GetTaskRequest *)req)->task_id, (Kc__V1__Task **)resp, err,
	                    errlen);
}

static int get_output(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp, char *err,
                      size_t errlen)
{
	const Kc__V1__GetTaskOutputRequest *r = (const Kc__V1__GetTaskOutputRequest *)req;
	Google__Api__HttpBody *b;
	char *out = NULL;
	size_t len = 0;
	int rc;
	(void)ctx;
	if ((rc = kc_tasks_output(APP(app)->tasks, r->task_id, r->tail, &out, &len, err, errlen)) != 0)
		return rc;
	if (!(b = malloc(sizeof *b))) {
		free(out);
		return KC_ERR_NOMEM;
	}
	google__api__http_body__init(b);
	b->content_type = strdup("text/plain; charset=utf-8");
	b->data.data = (uint8_t *)out;
	b->data.len = len;
	*resp = &b->base;
	return b->content_type ? 0 : KC_ERR_NOMEM;
}

static int send_message(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        char *err, size_t errlen)
{
	const Kc__V1__SendMessageRequest *r = (const Kc__V1__SendMessageRequest *)req;
	(void)ctx;
	return kc_tasks_send(APP(app)->tasks, r->task_id, r->prompt, (Kc__V1__Task **)resp, err, errlen);
}

static int kill_task(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp, char *err,
                     size_t errlen)
{
	(void)ctx;
	return kc_tasks_kill(APP(app)->tasks, ((const Kc__V1__KillTaskRequest *)req)->task_id,
	                     (Kc__V1__KillTaskResponse **)resp, err, errlen);
}

static int prepare_terminal(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                            char *err, size_t errlen)
{
	(void)ctx;
	return kc_tasks_prepare_terminal(APP(app)->tasks, ((const Kc__V1__PrepareTerminalRequest *)req)->task_id,
	                                 (Kc__V1__PrepareTerminalResponse **)resp, err, errlen);
}

static void task_sink(void *ud, const Kc__V1__TaskEvent *ev, bool last)
{
	kc_rpc_stream_send(ud, ev ? &ev->base : NULL, last);
}

static size_t task_backlog(void *ud)
{
	return kc_rpc_stream_backlog(ud);
}

static bool task_detach(void *app, int64_t id)
{
	return kc_tasks_unwatch(APP(app)->tasks, id);
}

static int watch_task(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_stream *st, char *err,
                      size_t errlen)
{
	const Kc__V1__WatchTaskRequest *r = (const Kc__V1__WatchTaskRequest *)req;
	int64_t id;
	(void)ctx;
	/* The detach hook must be in place before the first event can end the
	 * stream, so register it with a placeholder id under the watch. */
	id = kc_tasks_watch2(APP(app)->tasks, r->task_id, r->include_output, task_sink, task_backlog, st, err, errlen);
	if (id < 0)
		return (int)id;
	kc_rpc_stream_set_detach(st, task_detach, app, id);
	return 0;
}

/* ---- MetricsService ------------------------------------------------------ */

static int get_metrics(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       char *err, size_t errlen)
{
	Kc__V1__Metrics *m = kc_metrics_latest(APP(app)->metrics);
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	if (!m)
		return KC_ERR_NOMEM;
	*resp = &m->base;
	return 0;
}

static void metrics_sink(void *ud, const Kc__V1__Metrics *m, bool last)
{
	kc_rpc_stream_send(ud, m ? &m->base : NULL, last);
}

static bool metrics_detach(void *app, int64_t id)
{
	return kc_metrics_unwatch(APP(app)->metrics, id);
}

static int watch_metrics(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_stream *st, char *err,
                         size_t errlen)
{
	const Kc__V1__WatchMetricsRequest *r = (const Kc__V1__WatchMetricsRequest *)req;
	int64_t id;
	(void)ctx;
	if (r->interval_ms < 0) {
		snprintf(err, errlen, "interval_ms must not be negative");
		return KC_ERR_INVALID;
	}
	id = kc_metrics_watch(APP(app)->metrics, r->interval_ms, metrics_sink, st);
	if (id < 0)
		return (int)id;
	kc_rpc_stream_set_detach(st, metrics_detach, app, id);
	return 0;
}

/* ---- WorkspaceService ---------------------------------------------------- */

static int get_health(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp, char *err,
                      size_t errlen)
{
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	return kc_workspace_health(APP(app)->ws, (Kc__V1__Health **)resp);
}

static int get_service_health(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              char *err, size_t errlen)
{
	(void)ctx;
	return kc_workspace_service_health(APP(app)->ws, ((const Kc__V1__GetServiceHealthRequest *)req)->service,
	                                   (Kc__V1__ServiceHealth **)resp, err, errlen);
}

static int github_status(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         char *err, size_t errlen)
{
	Kc__V1__GitHubStatus *s;
	int rc;
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	if ((rc = kc_workspace_github_status(APP(app)->ws, &s)) != 0)
		return rc;
	s->github_app = kc_ghapp_status(APP(app)->ghapp, APP(app)->cfg);
	*resp = &s->base;
	return 0;
}

static int get_git_config(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          char *err, size_t errlen)
{
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	return kc_workspace_git_config(APP(app)->ws, (Kc__V1__GitConfig **)resp);
}

static int set_git_config(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          char *err, size_t errlen)
{
	const Kc__V1__SetGitConfigRequest *r = (const Kc__V1__SetGitConfigRequest *)req;
	(void)ctx;
	return kc_workspace_set_git_config(APP(app)->ws, r->name, r->email, (Kc__V1__GitConfig **)resp, err, errlen);
}

static int generate_ssh_key(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                            char *err, size_t errlen)
{
	(void)ctx;
	return kc_workspace_generate_ssh_key(APP(app)->ws, ((const Kc__V1__GenerateSshKeyRequest *)req)->email,
	                                     (Kc__V1__SshKeyStatus **)resp, err, errlen);
}

static int gh_login(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp, char *err,
                    size_t errlen)
{
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	return kc_workspace_gh_login(APP(app)->ws, (Kc__V1__GhLoginInstructions **)resp);
}

/*
 * CompleteGhAuth answers after a fresh `gh api user`, a network call of up
 * to 15 s, which must not hold one of the few rpc workers. It is registered
 * as a stream handler: the call is parked with the workspace's gh prober,
 * whose thread sends the one answer with OK (on the wire exactly a unary
 * reply). A client that leaves, or a drain, withdraws it.
 */
static void gh_done(void *ud, const Kc__V1__GhCliStatus *s)
{
	kc_rpc_stream_send(ud, &s->base, true);
}

static bool gh_detach(void *app, int64_t id)
{
	return kc_workspace_gh_cancel(APP(app)->ws, id);
}

static int gh_complete(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_stream *st, char *err,
                       size_t errlen)
{
	int64_t id;
	(void)ctx;
	(void)req;
	id = kc_workspace_gh_check(APP(app)->ws, gh_done, st);
	if (id < 0) {
		snprintf(err, errlen, "too many gh checks are waiting; try again shortly");
		return (int)id;
	}
	/* Set after registering: if the answer came first, the stream has
	 * ended and the hook is never called (rpc.h). */
	kc_rpc_stream_set_detach(st, gh_detach, app, id);
	return 0;
}

static int token_reply(char *tok, ProtobufCMessage **resp)
{
	Kc__V1__ApiToken *t = malloc(sizeof *t);
	if (!t)
		return KC_ERR_NOMEM;
	kc__v1__api_token__init(t);
	if (!(t->token = strdup(tok))) {
		free(t);
		return KC_ERR_NOMEM;
	}
	*resp = &t->base;
	return 0;
}

static int get_api_token(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         char *err, size_t errlen)
{
	char tok[128];
	(void)ctx;
	(void)req;
	(void)err;
	(void)errlen;
	kc_token_get(APP(app)->token, tok, sizeof tok);
	return token_reply(tok, resp);
}

static int regenerate_api_token(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                                char *err, size_t errlen)
{
	char tok[128];
	int rc;
	(void)req;
	if ((rc = kc_token_regenerate(APP(app)->token, tok, sizeof tok)) != 0) {
		snprintf(err, errlen, "cannot write the new token");
		return rc;
	}
	kc_log(KC_LOG_INFO, "api token regenerated", "user", ctx->oauth_user, NULL);
	return token_reply(tok, resp);
}

/* ---- grpc.health.v1 ------------------------------------------------------ */

static bool known_service(const char *name)
{
	static const char *const names[] = {"", "kc.v1.TaskService", "kc.v1.MetricsService", "kc.v1.WorkspaceService",
	                                    NULL};
	for (size_t i = 0; names[i]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static int health_check(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        char *err, size_t errlen)
{
	const Grpc__Health__V1__HealthCheckRequest *r = (const Grpc__Health__V1__HealthCheckRequest *)req;
	Grpc__Health__V1__HealthCheckResponse *h;
	(void)app;
	(void)ctx;
	if (!known_service(r->service)) {
		snprintf(err, errlen, "unknown service");
		return KC_ERR_NOT_FOUND;
	}
	if (!(h = malloc(sizeof *h)))
		return KC_ERR_NOMEM;
	grpc__health__v1__health_check_response__init(h);
	h->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	*resp = &h->base;
	return 0;
}

/* Watch: SERVING (or SERVICE_UNKNOWN) now; the status never changes while
 * the process lives, so the stream then stays open until the client leaves
 * or the server drains. Anyone may open one, credentials or not, and each
 * holds a call until the client leaves; the ones without credentials are
 * counted, and past limits.max_health_watches (over both listeners) a new
 * one answers RESOURCE_EXHAUSTED. A stream that was counted is uncounted
 * by its detach, which the rpc layer calls exactly once, when the client
 * leaves or the server drains. */
static bool health_detach(void *app, int64_t id)
{
	(void)app;
	(void)id;
	return true;
}

static bool health_detach_counted(void *app, int64_t id)
{
	(void)id;
	atomic_fetch_sub(&APP(app)->health_watches, 1);
	return true;
}

static int health_watch(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_stream *st, char *err,
                        size_t errlen)
{
	const Grpc__Health__V1__HealthCheckRequest *r = (const Grpc__Health__V1__HealthCheckRequest *)req;
	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	bool counted = !ctx->bearer && !ctx->oauth_user;
	h.status = known_service(r->service) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
	                                     : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	if (counted && atomic_fetch_add(&APP(app)->health_watches, 1) >= APP(app)->cfg->max_health_watches) {
		atomic_fetch_sub(&APP(app)->health_watches, 1);
		snprintf(err, errlen, "too many health watches without credentials (at most %ld)",
		         APP(app)->cfg->max_health_watches);
		return KC_ERR_LIMIT;
	}
	kc_rpc_stream_set_detach(st, counted ? health_detach_counted : health_detach, app, 0);
	kc_rpc_stream_send(st, &h.base, false);
	return 0;
}

/* ---- registration -------------------------------------------------------- */

int kc_services_register(kc_rpc_server *s, kc_app *app)
{
	const ProtobufCServiceDescriptor *ts = &kc__v1__task_service__descriptor;
	const ProtobufCServiceDescriptor *ms = &kc__v1__metrics_service__descriptor;
	const ProtobufCServiceDescriptor *ws = &kc__v1__workspace_service__descriptor;
	const ProtobufCServiceDescriptor *hs = &grpc__health__v1__health__descriptor;
	static const struct {
		int svc;
		const char *name;
		kc_unary_fn fn;
		kc_auth_mode auth;
	} unary[] = {
	    {0, "CreateTask", create_task, KC_AUTH_ANY},
	    {0, "GetTask", get_task, KC_AUTH_ANY},
	    {0, "GetTaskOutput", get_output, KC_AUTH_ANY},
	    {0, "SendMessage", send_message, KC_AUTH_ANY},
	    {0, "KillTask", kill_task, KC_AUTH_ANY},
	    {0, "PrepareTerminal", prepare_terminal, KC_AUTH_ANY},
	    {1, "GetMetrics", get_metrics, KC_AUTH_ANY},
	    {2, "GetHealth", get_health, KC_AUTH_NONE},
	    {2, "GetServiceHealth", get_service_health, KC_AUTH_NONE},
	    {2, "GetGitHubStatus", github_status, KC_AUTH_ANY},
	    {2, "GetGitConfig", get_git_config, KC_AUTH_ANY},
	    {2, "SetGitConfig", set_git_config, KC_AUTH_ANY},
	    {2, "GenerateSshKey", generate_ssh_key, KC_AUTH_ANY},
	    {2, "GetGhLoginInstructions", gh_login, KC_AUTH_ANY},
	    {2, "GetApiToken", get_api_token, KC_AUTH_OAUTH_ONLY},
	    {2, "RegenerateApiToken", regenerate_api_token, KC_AUTH_OAUTH_ONLY},
	    {3, "Check", health_check, KC_AUTH_NONE},
	};
	const ProtobufCServiceDescriptor *svcs[] = {ts, ms, ws, hs};
	int rc;
	for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
		if ((rc = kc_rpc_register_unary(s, svcs[unary[i].svc], unary[i].name, unary[i].fn, app,
		                                unary[i].auth)) != 0)
			return rc;
	if ((rc = kc_rpc_register_unary_raw(s, ts, "ListTasks", list_tasks, app, KC_AUTH_ANY)) != 0 ||
	    (rc = kc_rpc_register_stream(s, ts, "WatchTask", watch_task, app, KC_AUTH_ANY)) != 0 ||
	    (rc = kc_rpc_register_stream(s, ms, "WatchMetrics", watch_metrics, app, KC_AUTH_ANY)) != 0 ||
	    (rc = kc_rpc_register_stream(s, hs, "Watch", health_watch, app, KC_AUTH_NONE)) != 0 ||
	    (rc = kc_rpc_register_stream(s, ws, "CompleteGhAuth", gh_complete, app, KC_AUTH_ANY)) != 0)
		return rc;
	return 0;
}
