/*
 * kc/client.h - libkcclient: drive a kube-coder workspace's task API.
 *
 * One API over two transports, chosen by the URL given to kc_client_new():
 *
 *   grpc://host:port      gRPC (HTTP/2, no TLS), gRPC core
 *   grpcs://host:port     gRPC over TLS
 *   unix:/path/to/socket  gRPC over a unix socket (kc-server's own socket)
 *   http://host[:port]    REST/JSON through kc-gateway, libcurl (h2c not tried)
 *   https://host[:port]   REST/JSON over TLS; HTTP/2 when the server offers it
 *
 * Every call answers the same over both: the same structs, the same error
 * codes. A REST URL may carry a path prefix (https://host/oauth) that is put
 * before every route.
 *
 * Conventions (those of curl, libuv and nghttp2):
 *  - Every fallible function returns 0 (KC_OK) or a negative kc_error code
 *    from <kc/error.h>; kc_strerror() names it. On failure no *out is
 *    written.
 *  - Objects the library returns are owned by the caller and freed with
 *    their own kc_*_free(); every kc_*_free(NULL) is a no-op.
 *  - Strings inside a returned object live as long as the object.
 *  - Result structs are allocated only by the library; fields are only ever
 *    appended, never reordered, so a program built against an older header
 *    keeps working with a newer library.
 *  - Absent optional timestamps are 0; absent optional strings are NULL.
 *    Timestamps are float Unix seconds.
 *
 * Thread-safety: a kc_client is not thread-safe; use one per thread or
 * serialise its calls. Different clients may be used at the same time from
 * different threads. kc_client_cancel() is the exception: it may be called
 * from any thread (not from a signal handler) while another thread is inside
 * a call on the same client, to end that call (most useful for a watch).
 * Objects returned by the library are plain data, safe to read from any
 * thread.
 */
#ifndef KC_CLIENT_H
#define KC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KC_CLIENT_VERSION "0.1.0"

/* ---- the connection ------------------------------------------------------ */

typedef struct kc_client kc_client;

/* Makes a client for `url` (see the table above), sending `token` as
 * `Authorization: Bearer <token>` on every call (NULL or "" sends none).
 * Connects lazily: a server that is down is reported by the first call as
 * KC_ERR_UNAVAILABLE. KC_ERR_INVALID for a URL of no known scheme.
 * Copies both strings. */
int kc_client_new(kc_client **out, const char *url, const char *token);

/* Ends every connection and frees the client. NULL is a no-op. */
void kc_client_free(kc_client *client);

/* The longest a unary call may take, in milliseconds (default 30000; 0 for
 * no limit). Watches are not limited. */
void kc_client_set_timeout(kc_client *client, int timeout_ms);

/* PEM file of CA certificates for https:// and grpcs:// (default: the
 * system's). Copies the path. Returns KC_ERR_NOMEM or 0. */
int kc_client_set_ca_file(kc_client *client, const char *path);

/* Ends the call in progress on `client` (if any) from another thread; it
 * returns KC_ERR_CANCELLED, within about 100 ms over gRPC and a second over
 * REST (libcurl's progress tick). A cancel that arrives before a call
 * starts is dropped: each call starts uncancelled. */
void kc_client_cancel(kc_client *client);

/* The server's (or the transport's) message for the last failed call on
 * this client, such as "Session is no longer running"; "" after a success.
 * Valid until the next call on the client. Never NULL. */
const char *kc_client_last_error(const kc_client *client);

/* "grpc" or "rest". */
const char *kc_client_transport(const kc_client *client);

/* ---- tasks --------------------------------------------------------------- */

typedef enum kc_task_status {
	KC_TASK_STATUS_UNSPECIFIED = 0, /* as a filter: any status */
	KC_TASK_STATUS_RUNNING = 1,
	KC_TASK_STATUS_COMPLETED = 2,
	KC_TASK_STATUS_ERROR = 3,
	KC_TASK_STATUS_KILLED = 4,
} kc_task_status;

typedef enum kc_task_activity {
	KC_TASK_ACTIVITY_UNSPECIFIED = 0,
	KC_TASK_ACTIVITY_STARTING = 1,
	KC_TASK_ACTIVITY_WORKING = 2,
	KC_TASK_ACTIVITY_WAITING_FOR_INPUT = 3,
} kc_task_activity;

/* "running", "completed", "error", "killed" ("" for unspecified): the
 * REST API's spelling. */
const char *kc_task_status_name(kc_task_status status);
/* "starting", "working", "waiting_for_input" ("" for unspecified). */
const char *kc_task_activity_name(kc_task_activity activity);
/* The status named `name` (as above); KC_ERR_INVALID for another name. */
int kc_task_status_parse(const char *name, kc_task_status *out);

typedef struct kc_followup {
	const char *prompt;
	double sent_at;
} kc_followup;

/* A task, as the REST API's task object. */
typedef struct kc_task {
	const char *task_id;    /* `<unix seconds>-<8 hex>` */
	const char *session_id; /* UUID v4 given to the agent */
	const char *prompt;     /* in full */
	const char *workdir;    /* absolute */
	kc_task_status status;
	double created_at;
	double finished_at;       /* 0 while running */
	double killed_at;         /* 0 unless killed */
	const char *tmux_session; /* `claude-<task_id>` */
	const char *error;        /* why it failed; NULL unless status is error */
	const kc_followup *followups;
	size_t n_followups;
	const char *recent_output; /* last 50 pane lines (kc_task_get only), "" when none */
	kc_task_activity status_detail;
	const char *agent;          /* such as "claude" */
	double prompt_delivered_at; /* 0 until delivered */
} kc_task;

void kc_task_free(kc_task *task);

/* The task as the REST API's JSON object (one line, no newline), in a
 * malloc'ed string the caller frees. It encodes the task as the server
 * sent it: changes a program makes to the struct's fields are not seen. */
int kc_task_to_json(const kc_task *task, char **out);

/* Starts an agent on `prompt` (required, not blank). `workdir` and `agent`
 * may be NULL for the server's defaults. */
int kc_task_create(kc_client *client, const char *prompt, const char *workdir, const char *agent, kc_task **out);

/* One task with its recent output. KC_ERR_NOT_FOUND for an unknown id. */
int kc_task_get(kc_client *client, const char *task_id, kc_task **out);

/* Sends a follow-up message; the task as it is after. KC_ERR_PRECONDITION
 * when the session ended (last error "Session is no longer running"). */
int kc_task_send(kc_client *client, const char *task_id, const char *prompt, kc_task **out);

/* Kills the task's session. *killed_at (may be NULL) gets the kill time. */
int kc_task_kill(kc_client *client, const char *task_id, double *killed_at);

/* Marks the task's session as the one the web terminal attaches to next;
 * *session (may be NULL; caller frees) gets its tmux session name. */
int kc_task_prepare_terminal(kc_client *client, const char *task_id, char **session);

/* The task's terminal output (the live pane while it runs, the saved log
 * after), only the last `tail` lines when tail > 0. *out gets a malloc'ed
 * NUL-terminated buffer of *len bytes (len may be NULL). */
int kc_task_output(kc_client *client, const char *task_id, int tail, char **out, size_t *len);

/* One row of a task list. */
typedef struct kc_task_summary {
	const char *task_id;
	const char *prompt; /* the first 120 characters */
	kc_task_status status;
	double created_at;
	kc_task_activity status_detail;
	double finished_at; /* 0 while running */
} kc_task_summary;

typedef struct kc_task_list {
	const kc_task_summary *tasks; /* newest first */
	size_t n_tasks;
	const char *next_page_token; /* "" on the last page */
	int total_size;              /* tasks matching the filter in all pages */
} kc_task_list;

void kc_task_list_free(kc_task_list *list);

/* The list as the REST API's JSON ({"tasks":[...],...}); caller frees. */
int kc_task_list_to_json(const kc_task_list *list, char **out);

/* Lists tasks, newest first. page_size 0 lists all; page_token NULL or ""
 * for the first page; status KC_TASK_STATUS_UNSPECIFIED for any. */
int kc_task_list_get(kc_client *client, int page_size, const char *page_token, kc_task_status status,
                     kc_task_list **out);

/* ---- watching a task ------------------------------------------------------ */

typedef enum kc_event_type {
	KC_EVENT_TASK = 1,   /* `task` is the task after a change */
	KC_EVENT_OUTPUT = 2, /* `text`/`len` is new terminal output at `offset` */
} kc_event_type;

typedef struct kc_event {
	kc_event_type type;
	const kc_task *task; /* KC_EVENT_TASK; borrowed: valid during the callback */
	const char *text;    /* KC_EVENT_OUTPUT; borrowed, NUL-terminated */
	size_t len;
	int64_t offset; /* byte offset of text in the task's full output */
} kc_event;

/* Return 0 to go on, anything else to end the watch (kc_task_watch then
 * returns 0). `user_data` is the pointer given to kc_task_watch. */
typedef int (*kc_watch_cb)(const kc_event *event, void *user_data);

/* Streams the task's events to `cb` on the calling thread: first the task
 * as it is, then every change (and, with include_output, its output) until
 * the task ends (returns 0), the callback asks to stop (0), the client is
 * cancelled (KC_ERR_CANCELLED) or the connection fails. A server stream,
 * never polling. If the call fails before the stream starts, `cb` is never
 * called. */
int kc_task_watch(kc_client *client, const char *task_id, bool include_output, kc_watch_cb cb, void *user_data);

/* ---- metrics ------------------------------------------------------------- */

typedef struct kc_alert {
	const char *type;     /* "warning" or "critical" */
	const char *resource; /* "cpu", "memory" or "disk" */
	const char *message;
	double value;
	double threshold;
} kc_alert;

typedef struct kc_metrics {
	double cpu_usage_percent;
	int cpu_cores;
	double cpu_limit_cores; /* 0 when unlimited */
	double memory_total_mb, memory_used_mb, memory_available_mb, memory_percent;
	bool memory_container; /* figures are the container's cgroup's */
	double disk_total_gb, disk_used_gb, disk_available_gb, disk_percent;
	const char *disk_path;
	const kc_alert *alerts;
	size_t n_alerts;
	double timestamp;
} kc_metrics;

void kc_metrics_free(kc_metrics *metrics);
/* The REST API's JSON for the sample; caller frees. */
int kc_metrics_to_json(const kc_metrics *metrics, char **out);
/* The latest sample of the workspace's CPU, memory and disk. */
int kc_metrics_get(kc_client *client, kc_metrics **out);

/* ---- workspace status ---------------------------------------------------- */

typedef struct kc_service_health {
	const char *name;   /* such as "vscode" */
	const char *status; /* "up" or "down" */
	int port;
	double latency_ms; /* 0 when the probe failed */
	double checked_at;
} kc_service_health;

typedef struct kc_workspace_status {
	const char *health; /* "healthy" or "degraded" */
	const kc_service_health *services;
	size_t n_services;
	double timestamp;
	/* GitHub set-up; all false/"" when the GitHub status could not be read
	 * (github_error then says why). */
	bool ssh_configured;
	const char *ssh_key_type, *ssh_key_fingerprint, *ssh_public_key;
	bool gh_installed, gh_authenticated;
	const char *gh_username;
	const char *git_user_name, *git_user_email;
	bool github_app_configured, github_app_token_valid;
	const char *github_error; /* NULL when read */
} kc_workspace_status;

void kc_workspace_status_free(kc_workspace_status *status);
/* {"health":{...GET /health...},"github":{...GET /api/github/status...}};
 * caller frees. */
int kc_workspace_status_to_json(const kc_workspace_status *status, char **out);
/* The health of the workspace's services and its GitHub set-up. Fails only
 * when health cannot be read. */
int kc_workspace_status_get(kc_client *client, kc_workspace_status **out);

/* ---- the API token ------------------------------------------------------- */

/* Asks the server for the workspace's API token (caller frees *token). The
 * server gives it only to an OAuth identity, so with a bearer token this
 * answers KC_ERR_PERMISSION; it exists for clients behind the proxy. */
int kc_token_get(kc_client *client, char **token);

/* The token this client sends (borrowed), "" when none. */
const char *kc_client_token(const kc_client *client);

/* Frees a string the library returned. NULL is a no-op. */
void kc_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* KC_CLIENT_H */
