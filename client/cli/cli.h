/*
 * cli.h - what the files of kc share: the options, the connection, the
 * exit codes, output formatting and each command group's entry point.
 * Not installed; kc uses only libkcclient's public API.
 *
 *   kc.c         the entry point: options and dispatch
 *   conn.c       the workspace to talk to: flags, environment, config file
 *   format.c     tables, times and JSON on stdout
 *   tasks.c      kc task ...
 *   workspace.c  kc metrics, status, token, workspaces
 *   connect.c    kc connect (kubectl exec + port-forward)
 */
#ifndef KC_CLI_H
#define KC_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "client/cli/config.h"
#include "kc/client.h"

/* Exit codes (kc.1, EXIT STATUS). */
enum {
	EX_OK = 0,
	EX_USAGE = 1,
	EX_NOTFOUND = 2,
	EX_AUTH = 3,
	EX_UNAVAILABLE = 4,
	EX_REJECTED = 5,
	EX_FAILURE = 6,
	EX_TASK_ERROR = 10,
	EX_TASK_KILLED = 11,
	EX_WAIT_TIMEOUT = 12,
};

struct cli_opts {
	const char *url, *token, *workspace, *config, *output, *ca_file;
	int request_timeout;
	/* command options */
	const char *workdir, *agent, *status, *page_token, *ns, *service, *target, *container, *token_container,
	    *tmux_socket;
	int limit, tail, remote_port;
	double wait_timeout;
	bool follow, quiet, exec, server, detach, json;
	/* positional arguments after the command words */
	char **args;
	int n_args;
};

/* "kc", the prefix of every message on stderr. */
extern const char cli_prog[];

/* Prints "kc: <fmt with arg>" and the pointer to --help; exits EX_USAGE. */
void cli_die_usage(const char *fmt, const char *arg)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

/* Prints "kc: <what>: <server's message or the code's text>" and returns
 * the exit code for err. */
int cli_fail(kc_client *c, int err, const char *what);

/* ---- conn.c ---- */

struct cli_conn {
	char *url;
	char *token;
	char *ca_file;
	const struct kcc_workspace *ws; /* from the config, when one was used */
	struct kcc_config *cfg;
};

/* The config file's path: --config, $KC_CONFIG, or the XDG default (caller
 * frees; NULL when out of memory). */
char *cli_config_path(const struct cli_opts *o);

/* Loads the config file; on error says why and exits EX_USAGE. */
struct kcc_config *cli_load_config(const char *path);

/* Resolves the workspace (flags, then the environment, then the config
 * file) into *cn and opens a client to it; exits EX_USAGE when none is
 * given or the URL is bad. */
kc_client *cli_connect_client(const struct cli_opts *o, struct cli_conn *cn);
void cli_conn_clear(struct cli_conn *cn);

/* ---- format.c ---- */

/* The time now, in Unix seconds. */
double cli_now(void);
/* "12s ago", "5m ago", "3h ago", "2d ago"; "-" for 0. Returns buf. */
const char *cli_ago(double t, char *buf, size_t len);
/* "42s", "3m07s", "2h05m". Returns buf. */
const char *cli_duration(double d, char *buf, size_t len);
/* The first line of s, at most `max` bytes, "…" when cut. */
void cli_one_line(const char *s, size_t max, char *out, size_t outlen);
/* "running (working)", "completed". Returns buf. */
const char *cli_status_text(kc_task_status s, kc_task_activity a, char *buf, size_t len);
/* Prints s (the library's JSON) and frees it with kc_free. */
void cli_print_json_and_free(char *s);
/* Prints a small JSON object made here and frees it. */
void cli_print_obj(json_t *j);
/* A task as a table, or with --output json as the REST API's object. */
int cli_print_task(const struct cli_opts *o, const kc_task *t);
/* The REST answer to a kill. */
void cli_print_killed(const char *id, double killed_at);

/* ---- the command groups ---- */

/* `kc task <sub>` (tasks.c); `sub` is one the entry point knows. */
int cli_task_command(const char *sub, const struct cli_opts *o, kc_client *c, const struct cli_conn *cn);
/* `kc metrics`, `kc status`, `kc token` (workspace.c). */
int cli_workspace_command(const char *cmd, const struct cli_opts *o, kc_client *c, const struct cli_conn *cn);
/* `kc workspaces` (workspace.c): the config file only, no connection. */
int cli_cmd_workspaces(const struct cli_opts *o);
/* `kc connect` (connect.c). */
int cli_cmd_connect(const struct cli_opts *o);

#endif /* KC_CLI_H */
