/*
 * kc - the kube-coder command line, on libkcclient's public API only.
 *
 * Every command, option, exit code and the config file are described in
 * kc.1 and `kc --help`; keep the three in step.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static const char usage_text[] =
    "usage: kc [global options] <command> [arguments]\n"
    "\n"
    "Drive a kube-coder workspace's coding-agent tasks.\n"
    "\n"
    "Commands:\n"
    "  task create [--workdir DIR] [--agent NAME] [-q] PROMPT...\n"
    "                              start an agent on PROMPT (\"-\" reads stdin); -q prints only the id\n"
    "  task ls [--status S] [--limit N] [--page-token T]\n"
    "                              list tasks, newest first\n"
    "  task get ID                 show one task and its recent output\n"
    "  task logs ID [-f] [--tail N]\n"
    "                              print the task's output; -f streams it until the task ends\n"
    "  task send ID MESSAGE...     send a follow-up message to a running task\n"
    "  task kill ID                kill the task's session\n"
    "  task attach ID [--exec]     prepare the web terminal and print (or run) the command that\n"
    "                              attaches to the task's tmux session\n"
    "  task wait ID [--timeout SEC] [-q]\n"
    "                              follow the task until it ends; the exit code says how it ended\n"
    "  metrics                     the workspace's CPU, memory, disk and alerts\n"
    "  status                      service health and GitHub set-up\n"
    "  token [--server]            print the API token in use (--server: ask the server, OAuth only)\n"
    "  connect USER [--namespace NS] [--service SVC] [--target T] [--container C]\n"
    "          [--token-container C] [--tmux-socket PATH] [--remote-port P] [--detach]\n"
    "                              reach USER's workspace through kubectl port-forward, read its\n"
    "                              token with kubectl exec and save it as workspace USER\n"
    "  workspaces                  list the workspaces in the config file\n"
    "\n"
    "Global options:\n"
    "  --url URL          grpc://host:port, grpcs://host:port, unix:/path, http(s)://host (env KC_URL)\n"
    "  --token TOKEN      bearer token (env KC_TOKEN)\n"
    "  -w, --workspace N  a workspace from the config file (env KC_WORKSPACE; default: current)\n"
    "  --config FILE      config file (env KC_CONFIG; default ~/.config/kube-coder/config.yaml)\n"
    "  -o, --output FMT   table (default) or json: the REST API's JSON objects\n"
    "  --ca-file FILE     CA certificates for https:// and grpcs://\n"
    "  --request-timeout SEC  limit for one call (default 30)\n"
    "  -h, --help         this help;  --version  the version\n"
    "\n"
    "Exit status: 0 ok, 1 usage or configuration error, 2 not found, 3 unauthenticated or\n"
    "not allowed, 4 workspace unreachable or timed out, 5 request refused (bad input, session\n"
    "ended, limit reached), 6 other failure. task wait: 0 completed, 10 error, 11 killed,\n"
    "12 --timeout passed. See kc(1).\n";

struct opts {
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

static const char *prog = "kc";

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'kc --help'.\n");
	exit(EX_USAGE);
}

static int exit_for(int err)
{
	switch (err) {
	case KC_OK:
		return EX_OK;
	case KC_ERR_NOT_FOUND:
		return EX_NOTFOUND;
	case KC_ERR_UNAUTHENTICATED:
	case KC_ERR_PERMISSION:
		return EX_AUTH;
	case KC_ERR_UNAVAILABLE:
	case KC_ERR_TIMEOUT:
		return EX_UNAVAILABLE;
	case KC_ERR_INVALID:
	case KC_ERR_PRECONDITION:
	case KC_ERR_LIMIT:
	case KC_ERR_TOO_LARGE:
	case KC_ERR_EXISTS:
	case KC_ERR_METHOD:
		return EX_REJECTED;
	default:
		return EX_FAILURE;
	}
}

/* Prints "kc: <what>: <server's message or the code's text>" and returns
 * the exit code for err. */
static int fail(kc_client *c, int err, const char *what)
{
	const char *msg = c ? kc_client_last_error(c) : "";
	if (!msg[0] || strcmp(msg, kc_strerror(err)) == 0)
		fprintf(stderr, "%s: %s: %s\n", prog, what, kc_strerror(err));
	else
		fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, msg, kc_strerror(err));
	return exit_for(err);
}

/* ---- option parsing ------------------------------------------------------ */

static int parse_int(const char *name, const char *s, int min, int max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die_usage("%s: expected a number", name);
	return (int)v;
}

/* Takes options from anywhere on the line (up to "--"); the rest are
 * positional. Every option is known to every command; each command uses
 * those it documents. */
static void parse_args(int argc, char **argv, struct opts *o)
{
	o->args = calloc((size_t)argc + 1, sizeof *o->args);
	if (!o->args)
		exit(EX_FAILURE);
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
			o->args[o->n_args++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		/* --name=value */
		char name[64];
		const char *val = NULL;
		const char *eq = strchr(a, '=');
		if (a[1] == '-' && eq && (size_t)(eq - a) < sizeof name) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			val = eq + 1;
		} else {
			snprintf(name, sizeof name, "%s", a);
		}
#define IS(s) (strcmp(name, s) == 0)
#define VALUE() (val ? val : (i + 1 < argc ? argv[++i] : (die_usage("%s needs a value", name), "")))
		if (IS("-h") || IS("--help")) {
			fputs(usage_text, stdout);
			exit(EX_OK);
		} else if (IS("--version")) {
			printf("kc %s\n", KC_CLIENT_VERSION);
			exit(EX_OK);
		} else if (IS("--url")) {
			o->url = VALUE();
		} else if (IS("--token")) {
			o->token = VALUE();
		} else if (IS("-w") || IS("--workspace")) {
			o->workspace = VALUE();
		} else if (IS("--config")) {
			o->config = VALUE();
		} else if (IS("-o") || IS("--output")) {
			o->output = VALUE();
		} else if (IS("--ca-file")) {
			o->ca_file = VALUE();
		} else if (IS("--request-timeout")) {
			o->request_timeout = parse_int(name, VALUE(), 0, 86400);
		} else if (IS("--workdir")) {
			o->workdir = VALUE();
		} else if (IS("--agent")) {
			o->agent = VALUE();
		} else if (IS("--status")) {
			o->status = VALUE();
		} else if (IS("--limit")) {
			o->limit = parse_int(name, VALUE(), 0, 1000);
		} else if (IS("--page-token")) {
			o->page_token = VALUE();
		} else if (IS("--tail") || IS("-n")) {
			o->tail = parse_int(name, VALUE(), 0, 1000000);
		} else if (IS("-f") || IS("--follow")) {
			o->follow = true;
		} else if (IS("-q") || IS("--quiet")) {
			o->quiet = true;
		} else if (IS("--exec")) {
			o->exec = true;
		} else if (IS("--server")) {
			o->server = true;
		} else if (IS("--detach") || IS("-d")) {
			o->detach = true;
		} else if (IS("--timeout")) {
			o->wait_timeout = parse_int(name, VALUE(), 0, 10000000);
		} else if (IS("--namespace")) {
			o->ns = VALUE();
		} else if (IS("--service")) {
			o->service = VALUE();
		} else if (IS("--target")) {
			o->target = VALUE();
		} else if (IS("--container")) {
			o->container = VALUE();
		} else if (IS("--token-container")) {
			o->token_container = VALUE();
		} else if (IS("--tmux-socket")) {
			o->tmux_socket = VALUE();
		} else if (IS("--remote-port")) {
			o->remote_port = parse_int(name, VALUE(), 1, 65535);
		} else {
			die_usage("unknown option %s", a);
		}
#undef IS
#undef VALUE
	}
	if (o->output) {
		if (strcmp(o->output, "json") == 0)
			o->json = true;
		else if (strcmp(o->output, "table") != 0)
			die_usage("--output: expected table or json, not \"%s\"", o->output);
	}
}

/* ---- the connection ---------------------------------------------------------- */

static char *config_path(const struct opts *o)
{
	const char *p = o->config ? o->config : getenv("KC_CONFIG");
	char *out = NULL;
	if (p && p[0])
		return strdup(p);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0]) {
		if (asprintf(&out, "%s/kube-coder/config.yaml", xdg) < 0)
			return NULL;
	} else {
		if (asprintf(&out, "%s/.config/kube-coder/config.yaml", home ? home : ".") < 0)
			return NULL;
	}
	return out;
}

static struct kcc_config *load_config(const char *path)
{
	struct kcc_config *cfg = NULL;
	char err[300] = "";
	int rc = kcc_config_load(path, &cfg, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, err[0] ? err : kc_strerror(rc));
		exit(EX_USAGE);
	}
	return cfg;
}

/* "~/x" -> "$HOME/x" (caller frees). */
static char *expand_home(const char *p)
{
	char *out = NULL;
	if (p[0] == '~' && p[1] == '/') {
		const char *home = getenv("HOME");
		if (asprintf(&out, "%s%s", home ? home : "", p + 1) < 0)
			return NULL;
		return out;
	}
	return strdup(p);
}

static char *read_token_file(const char *path)
{
	char *p = expand_home(path);
	FILE *f = p ? fopen(p, "r") : NULL;
	char buf[4096];
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	} else {
		fprintf(stderr, "%s: token_file %s: %s\n", prog, p ? p : path, strerror(errno));
		free(p);
		exit(EX_USAGE);
	}
	free(p);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return strdup(buf);
}

struct conn {
	char *url;
	char *token;
	char *ca_file;
	const struct kcc_workspace *ws; /* from the config, when one was used */
	struct kcc_config *cfg;
};

/* Flags, then the environment, then the config file's workspace. */
static void resolve(const struct opts *o, struct conn *cn)
{
	char *path = config_path(o);
	cn->cfg = load_config(path ? path : "config.yaml");
	free(path);
	const char *name = o->workspace ? o->workspace : getenv("KC_WORKSPACE");
	if (name && name[0]) {
		cn->ws = kcc_config_find(cn->cfg, name);
		if (!cn->ws) {
			fprintf(stderr, "%s: workspace \"%s\": not in the config file\n", prog, name);
			exit(EX_USAGE);
		}
	} else if (cn->cfg->current) {
		cn->ws = kcc_config_find(cn->cfg, cn->cfg->current);
	}
	const char *url = o->url ? o->url : getenv("KC_URL");
	if ((!url || !url[0]) && cn->ws)
		url = cn->ws->url;
	if (!url || !url[0]) {
		fprintf(stderr, "%s: no workspace: give --url, set KC_URL, or add one with kc connect\n", prog);
		exit(EX_USAGE);
	}
	cn->url = strdup(url);
	const char *tok = o->token ? o->token : getenv("KC_TOKEN");
	if (tok && tok[0])
		cn->token = strdup(tok);
	else if (cn->ws && cn->ws->token)
		cn->token = strdup(cn->ws->token);
	else if (cn->ws && cn->ws->token_file)
		cn->token = read_token_file(cn->ws->token_file);
	else
		cn->token = strdup("");
	const char *ca = o->ca_file ? o->ca_file : (cn->ws ? cn->ws->ca_file : NULL);
	cn->ca_file = ca ? expand_home(ca) : NULL;
}

static void conn_clear(struct conn *cn)
{
	free(cn->url);
	free(cn->token);
	free(cn->ca_file);
	kcc_config_free(cn->cfg);
}

static kc_client *connect_client(const struct opts *o, struct conn *cn)
{
	resolve(o, cn);
	kc_client *c = NULL;
	int rc = kc_client_new(&c, cn->url, cn->token);
	if (rc) {
		fprintf(stderr, "%s: %s: %s (expected grpc://, grpcs://, unix:, http:// or https://)\n", prog, cn->url,
		        kc_strerror(rc));
		exit(EX_USAGE);
	}
	if (o->request_timeout)
		kc_client_set_timeout(c, o->request_timeout * 1000);
	if (cn->ca_file && kc_client_set_ca_file(c, cn->ca_file) != 0) {
		fprintf(stderr, "%s: --ca-file %s: %s\n", prog, cn->ca_file, kc_client_last_error(c));
		exit(EX_USAGE);
	}
	return c;
}

/* ---- formatting ------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "12s ago", "5m ago", "3h ago", "2d ago"; "-" for 0. */
static const char *ago(double t, char *buf, size_t len)
{
	if (t <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	double d = now_s() - t;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, len, "%ds ago", (int)d);
	else if (d < 3600)
		snprintf(buf, len, "%dm ago", (int)(d / 60));
	else if (d < 86400)
		snprintf(buf, len, "%dh ago", (int)(d / 3600));
	else
		snprintf(buf, len, "%dd ago", (int)(d / 86400));
	return buf;
}

static const char *duration(double d, char *buf, size_t len)
{
	int s = d > 0 ? (int)d : 0;
	if (s < 60)
		snprintf(buf, len, "%ds", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", s / 60, s % 60);
	else
		snprintf(buf, len, "%dh%02dm", s / 3600, (s % 3600) / 60);
	return buf;
}

/* The first line of s, at most `max` bytes, "…" when cut. */
static void one_line(const char *s, size_t max, char *out, size_t outlen)
{
	size_t n = strcspn(s, "\r\n");
	bool cut = s[n] != '\0';
	if (n > max) {
		n = max;
		/* do not split a UTF-8 sequence */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	if (n + 4 > outlen)
		n = outlen - 4;
	memcpy(out, s, n);
	out[n] = '\0';
	if (cut)
		strcat(out, "\xe2\x80\xa6");
}

static const char *status_text(kc_task_status s, kc_task_activity a, char *buf, size_t len)
{
	if (s == KC_TASK_STATUS_RUNNING && a != KC_TASK_ACTIVITY_UNSPECIFIED)
		snprintf(buf, len, "%s (%s)", kc_task_status_name(s), kc_task_activity_name(a));
	else
		snprintf(buf, len, "%s", kc_task_status_name(s));
	return buf;
}

static void print_json_and_free(char *s)
{
	puts(s);
	kc_free(s);
}

/* Prints a small JSON object made here and frees it. */
static void print_obj(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(j);
}

static int print_task(const struct opts *o, const kc_task *t)
{
	if (o->json) {
		char *s = NULL;
		int rc = kc_task_to_json(t, &s);
		if (rc)
			return rc;
		print_json_and_free(s);
		return 0;
	}
	char b1[64], b2[64];
	char st[64];
	printf("task_id:       %s\n", t->task_id);
	printf("status:        %s\n", status_text(t->status, t->status_detail, st, sizeof st));
	if (t->error)
		printf("error:         %s\n", t->error);
	printf("agent:         %s\n", t->agent);
	printf("created:       %s\n", ago(t->created_at, b1, sizeof b1));
	if (t->finished_at > 0)
		printf("finished:      %s (ran %s)\n", ago(t->finished_at, b1, sizeof b1),
		       duration(t->finished_at - t->created_at, b2, sizeof b2));
	if (t->killed_at > 0)
		printf("killed:        %s\n", ago(t->killed_at, b1, sizeof b1));
	printf("workdir:       %s\n", t->workdir);
	printf("tmux_session:  %s\n", t->tmux_session);
	printf("session_id:    %s\n", t->session_id);
	printf("prompt:        %s\n", t->prompt);
	for (size_t i = 0; i < t->n_followups; i++)
		printf("followup:      %s (%s)\n", t->followups[i].prompt, ago(t->followups[i].sent_at, b1, sizeof b1));
	if (t->recent_output && t->recent_output[0]) {
		printf("recent output:\n");
		fputs(t->recent_output, stdout);
		if (t->recent_output[strlen(t->recent_output) - 1] != '\n')
			putchar('\n');
	}
	return 0;
}

/* {"task_id":...,"status":"killed","killed_at":...}, the REST answer to a
 * kill, with the time in its shortest round-trip form as the library
 * prints timestamps. */
static void print_killed(const char *id, double killed_at)
{
	json_t *js = json_string(id);
	char *ids = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	json_decref(js);
	char num[64];
	for (int p = 15; p <= 17; p++) {
		snprintf(num, sizeof num, "%.*g", p, killed_at);
		if (strtod(num, NULL) == killed_at)
			break;
	}
	if (!strpbrk(num, ".eE"))
		strcat(num, ".0");
	printf("{\"task_id\":%s,\"status\":\"killed\",\"killed_at\":%s}\n", ids ? ids : "\"\"", num);
	free(ids);
}

/* ---- task commands ------------------------------------------------------------- */

static char *join_args(char **args, int n)
{
	size_t len = 1;
	for (int i = 0; i < n; i++)
		len += strlen(args[i]) + 1;
	char *s = calloc(1, len);
	if (!s)
		exit(EX_FAILURE);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, args[i]);
	}
	return s;
}

static char *read_stdin(void)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	while (s) {
		size_t n = fread(s + len, 1, cap - len - 1, stdin);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *ns = realloc(s, cap * 2);
			if (!ns) {
				free(s);
				return NULL;
			}
			s = ns;
			cap *= 2;
		}
	}
	if (s)
		s[len] = '\0';
	return s;
}

/* The message text: the arguments from `first`, or stdin for "-". */
static char *message_from(const struct opts *o, int first, const char *what)
{
	if (o->n_args <= first)
		die_usage("%s is required", what);
	if (o->n_args == first + 1 && strcmp(o->args[first], "-") == 0) {
		char *s = read_stdin();
		if (!s)
			exit(EX_FAILURE);
		return s;
	}
	return join_args(o->args + first, o->n_args - first);
}

static const char *need_task_id(const struct opts *o)
{
	if (o->n_args < 3)
		die_usage("task %s: a task id is required", o->args[1]);
	return o->args[2];
}

static int cmd_create(const struct opts *o, kc_client *c)
{
	char *prompt = message_from(o, 2, "a prompt");
	kc_task *t = NULL;
	int rc = kc_task_create(c, prompt, o->workdir, o->agent, &t);
	free(prompt);
	if (rc)
		return fail(c, rc, "create task");
	if (o->quiet && !o->json)
		puts(t->task_id);
	else
		print_task(o, t);
	kc_task_free(t);
	return EX_OK;
}

static int cmd_ls(const struct opts *o, kc_client *c)
{
	kc_task_status st = KC_TASK_STATUS_UNSPECIFIED;
	if (o->status && o->status[0] && strcmp(o->status, "all") != 0 && kc_task_status_parse(o->status, &st))
		die_usage("--status: expected running, completed, error or killed, not \"%s\"", o->status);
	kc_task_list *l = NULL;
	int rc = kc_task_list_get(c, o->limit, o->page_token, st, &l);
	if (rc)
		return fail(c, rc, "list tasks");
	if (o->json) {
		char *s = NULL;
		rc = kc_task_list_to_json(l, &s);
		if (rc == 0)
			print_json_and_free(s);
	} else if (o->quiet) {
		for (size_t i = 0; i < l->n_tasks; i++)
			puts(l->tasks[i].task_id);
	} else {
		printf("%-20s  %-29s  %-8s  %s\n", "ID", "STATUS", "AGE", "PROMPT");
		for (size_t i = 0; i < l->n_tasks; i++) {
			const kc_task_summary *t = &l->tasks[i];
			char st_buf[64], age[32], pr[128];
			one_line(t->prompt, 60, pr, sizeof pr);
			printf("%-20s  %-29s  %-8s  %s\n", t->task_id,
			       status_text(t->status, t->status_detail, st_buf, sizeof st_buf),
			       ago(t->created_at, age, sizeof age), pr);
		}
		if (l->next_page_token[0])
			printf("(%zu of %d shown; next page: --page-token %s)\n", l->n_tasks, l->total_size,
			       l->next_page_token);
		else if (l->n_tasks == 0)
			printf("(no tasks)\n");
	}
	kc_task_list_free(l);
	return rc ? fail(c, rc, "list tasks") : EX_OK;
}

static int cmd_get(const struct opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	kc_task *t = NULL;
	int rc = kc_task_get(c, id, &t);
	if (rc) {
		char what[300];
		snprintf(what, sizeof what, "task %s", id);
		return fail(c, rc, what);
	}
	print_task(o, t);
	kc_task_free(t);
	return EX_OK;
}

static int task_fail(kc_client *c, int rc, const char *verb, const char *id)
{
	char what[300];
	snprintf(what, sizeof what, "%s task %s", verb, id);
	return fail(c, rc, what);
}

struct follow {
	int64_t printed_to; /* output bytes already written */
	kc_task_status status;
	kc_task_activity activity;
	bool quiet, progress, seen_task;
	double created_at;
	const char *id;
	int tail;        /* -f --tail N: the history starts with its last N lines */
	bool seen_output;
};

/* The start of the last `n` lines of text[0..len). */
static size_t tail_start(const char *text, size_t len, int n)
{
	size_t i = len;
	if (i && text[i - 1] == '\n')
		i--; /* a final newline ends the last line, it does not start one */
	while (i > 0) {
		if (text[i - 1] == '\n' && --n == 0)
			return i;
		i--;
	}
	return 0;
}

static int on_follow(const kc_event *ev, void *ud)
{
	struct follow *f = ud;
	if (ev->type == KC_EVENT_OUTPUT) {
		/* Output already shown (a replay after reconnect) is skipped. */
		int64_t end = ev->offset + (int64_t)ev->len;
		if (end <= f->printed_to)
			return 0;
		size_t skip = ev->offset < f->printed_to ? (size_t)(f->printed_to - ev->offset) : 0;
		/* The first chunk is the output so far (the stream replays from
		 * offset 0); with --tail only its last lines are shown. */
		if (!f->seen_output && f->tail > 0)
			skip = tail_start(ev->text, ev->len, f->tail);
		f->seen_output = true;
		fwrite(ev->text + skip, 1, ev->len - skip, stdout);
		fflush(stdout);
		f->printed_to = end;
		return 0;
	}
	const kc_task *t = ev->task;
	f->created_at = t->created_at;
	if (f->progress && !f->quiet && (!f->seen_task || t->status != f->status || t->status_detail != f->activity)) {
		char st[64], d[32];
		double end = t->finished_at > 0 ? t->finished_at : now_s();
		fprintf(stderr, "%s: %s after %s\n", t->task_id,
		        status_text(t->status, t->status_detail, st, sizeof st),
		        duration(end - t->created_at, d, sizeof d));
	}
	f->seen_task = true;
	f->status = t->status;
	f->activity = t->status_detail;
	/* The stream ends after the event that shows the task finished; stop
	 * there too in case the server keeps it open. */
	return t->status != KC_TASK_STATUS_RUNNING && t->status != KC_TASK_STATUS_UNSPECIFIED;
}

static bool is_final(kc_task_status s)
{
	return s == KC_TASK_STATUS_COMPLETED || s == KC_TASK_STATUS_ERROR || s == KC_TASK_STATUS_KILLED;
}

/* Watches until the task ends. A stream that breaks after it started (the
 * workspace restarted, a proxy timed the connection out) is opened again,
 * a few times, a second apart; output already printed is not repeated
 * (on_follow keeps the offset). */
static int follow(kc_client *c, const char *id, bool output, struct follow *f)
{
	int rc = 0;
	for (int attempt = 0; attempt < 6; attempt++) {
		bool had_task = f->seen_task;
		rc = kc_task_watch(c, id, output, on_follow, f);
		if (rc == 0 && is_final(f->status))
			return 0;
		bool broke = rc == 0 || ((rc == KC_ERR_UNAVAILABLE || rc == KC_ERR_PROTOCOL) && f->seen_task);
		if (!broke || rc == KC_ERR_CANCELLED)
			return rc;
		if (!f->quiet)
			fprintf(stderr, "%s: watch of %s ended early%s; reconnecting\n", prog, id,
				had_task ? "" : " (before its first event)");
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	return rc ? rc : KC_ERR_UNAVAILABLE;
}

static int cmd_logs(const struct opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	if (!o->follow) {
		char *out = NULL;
		size_t len = 0;
		int rc = kc_task_output(c, id, o->tail, &out, &len);
		if (rc)
			return task_fail(c, rc, "output of", id);
		fwrite(out, 1, len, stdout);
		/* A tail can end mid-line; keep the shell's prompt on its own line
		 * without changing what a pipe receives. */
		if (len && out[len - 1] != '\n' && isatty(STDOUT_FILENO))
			putchar('\n');
		kc_free(out);
		return EX_OK;
	}
	struct follow f = {.id = id, .tail = o->tail};
	int rc = follow(c, id, true, &f);
	if (rc)
		return task_fail(c, rc, "follow", id);
	return EX_OK;
}

static int cmd_send(const struct opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	char *msg = message_from(o, 3, "a message");
	kc_task *t = NULL;
	int rc = kc_task_send(c, id, msg, &t);
	free(msg);
	if (rc)
		return task_fail(c, rc, "send to", id);
	if (o->json)
		print_task(o, t);
	else if (!o->quiet)
		printf("sent to %s (%zu follow-up%s)\n", t->task_id, t->n_followups, t->n_followups == 1 ? "" : "s");
	kc_task_free(t);
	return EX_OK;
}

static int cmd_kill(const struct opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	double killed_at = 0;
	int rc = kc_task_kill(c, id, &killed_at);
	if (rc)
		return task_fail(c, rc, "kill", id);
	if (o->json)
		print_killed(id, killed_at);
	else if (!o->quiet)
		printf("killed %s\n", id);
	return EX_OK;
}

static int cmd_attach(const struct opts *o, kc_client *c, const struct conn *cn)
{
	const char *id = need_task_id(o);
	char *session = NULL;
	int rc = kc_task_prepare_terminal(c, id, &session);
	if (rc)
		return task_fail(c, rc, "attach to", id);
	/* With kubectl details (kc connect), the command runs tmux in the pod;
	 * otherwise tmux on this machine (a local workspace). */
	const struct kcc_workspace *ws = cn->ws;
	const char *argv[16];
	int n = 0;
	if (ws && ws->target) {
		argv[n++] = "kubectl";
		argv[n++] = "exec";
		argv[n++] = "-it";
		argv[n++] = "-n";
		argv[n++] = ws->namespace ? ws->namespace : "coder";
		argv[n++] = ws->target;
		argv[n++] = "-c";
		argv[n++] = ws->container ? ws->container : "terminal";
		argv[n++] = "--";
	}
	argv[n++] = "tmux";
	if (ws && ws->tmux_socket) {
		argv[n++] = "-S";
		argv[n++] = ws->tmux_socket;
	}
	argv[n++] = "attach-session";
	argv[n++] = "-t";
	argv[n++] = session;
	argv[n] = NULL;
	bool web = strncmp(cn->url, "http", 4) == 0;
	if (o->exec) {
		fflush(stdout);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
		free(session);
		return EX_FAILURE;
	}
	if (o->json) {
		json_t *cmdv = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(cmdv, json_string(argv[i]));
		json_t *j = json_pack("{s:s,s:s,s:o}", "task_id", id, "session", session, "command", cmdv);
		if (j && web) {
			char *u = NULL;
			if (asprintf(&u, "%s/oauth/terminal", cn->url) >= 0) {
				json_object_set_new(j, "terminal_url", json_string(u));
				free(u);
			}
		}
		print_obj(j);
	} else {
		printf("session %s is prepared", session);
		if (web)
			printf(": the workspace terminal (%s/oauth/terminal) opens it next", cn->url);
		printf(".\nTo attach from a shell, run:\n  ");
		for (int i = 0; i < n; i++)
			printf("%s%s", i ? " " : "", argv[i]);
		printf("\nDetach again with Ctrl-b d; the agent keeps running.\n");
	}
	free(session);
	return EX_OK;
}

/* Cancels the client when --timeout passes. */
struct timer {
	kc_client *c;
	double seconds;
	atomic_int fired;
	atomic_int done;
};

static void *timer_main(void *arg)
{
	struct timer *t = arg;
	double end = now_s() + t->seconds;
	while (!atomic_load(&t->done)) {
		if (now_s() >= end) {
			atomic_store(&t->fired, 1);
			kc_client_cancel(t->c);
			break;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int cmd_wait(const struct opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	struct follow f = {.id = id, .progress = true, .quiet = o->quiet};
	struct timer tm = {.c = c, .seconds = o->wait_timeout};
	atomic_init(&tm.fired, 0);
	atomic_init(&tm.done, 0);
	pthread_t th;
	bool timed = o->wait_timeout > 0 && pthread_create(&th, NULL, timer_main, &tm) == 0;
	int rc = follow(c, id, false, &f);
	if (timed) {
		atomic_store(&tm.done, 1);
		pthread_join(th, NULL);
	}
	if (rc == KC_ERR_CANCELLED && atomic_load(&tm.fired)) {
		fprintf(stderr, "%s: wait for task %s: still %s after %gs\n", prog, id, kc_task_status_name(f.status),
		        o->wait_timeout);
		return EX_WAIT_TIMEOUT;
	}
	if (rc)
		return task_fail(c, rc, "wait for", id);
	kc_task *t = NULL;
	/* The final state, in full, for the answer. */
	rc = kc_task_get(c, id, &t);
	if (rc)
		return task_fail(c, rc, "get", id);
	if (o->json)
		print_task(o, t);
	else if (!o->quiet)
		printf("%s %s%s%s\n", t->task_id, kc_task_status_name(t->status), t->error ? ": " : "",
		       t->error ? t->error : "");
	kc_task_status st = t->status;
	kc_task_free(t);
	switch (st) {
	case KC_TASK_STATUS_COMPLETED:
		return EX_OK;
	case KC_TASK_STATUS_ERROR:
		return EX_TASK_ERROR;
	case KC_TASK_STATUS_KILLED:
		return EX_TASK_KILLED;
	default:
		fprintf(stderr, "%s: wait for task %s: the stream ended while it is %s\n", prog, id,
		        kc_task_status_name(st));
		return EX_FAILURE;
	}
}

/* ---- workspace commands -------------------------------------------------------- */

static int cmd_metrics(const struct opts *o, kc_client *c)
{
	kc_metrics *m = NULL;
	int rc = kc_metrics_get(c, &m);
	if (rc)
		return fail(c, rc, "metrics");
	if (o->json) {
		char *s = NULL;
		rc = kc_metrics_to_json(m, &s);
		if (rc == 0)
			print_json_and_free(s);
	} else {
		char b[32];
		printf("cpu      %.1f%% of %d core%s", m->cpu_usage_percent, m->cpu_cores,
		       m->cpu_cores == 1 ? "" : "s");
		if (m->cpu_limit_cores > 0)
			printf(" (limit %.2f)", m->cpu_limit_cores);
		printf("\nmemory   %.0f / %.0f MiB (%.1f%%)%s\n", m->memory_used_mb, m->memory_total_mb,
		       m->memory_percent, m->memory_container ? " container" : "");
		printf("disk     %.1f / %.1f GiB (%.1f%%) %s\n", m->disk_used_gb, m->disk_total_gb, m->disk_percent,
		       m->disk_path);
		if (m->n_alerts == 0)
			printf("alerts   none\n");
		for (size_t i = 0; i < m->n_alerts; i++)
			printf("alert    %s %s: %s\n", m->alerts[i].type, m->alerts[i].resource, m->alerts[i].message);
		printf("sampled  %s\n", ago(m->timestamp, b, sizeof b));
	}
	kc_metrics_free(m);
	return rc ? fail(c, rc, "metrics") : EX_OK;
}

static int cmd_status(const struct opts *o, kc_client *c, const struct conn *cn)
{
	kc_workspace_status *s = NULL;
	int rc = kc_workspace_status_get(c, &s);
	if (rc)
		return fail(c, rc, "status");
	if (o->json) {
		char *j = NULL;
		rc = kc_workspace_status_to_json(s, &j);
		if (rc == 0)
			print_json_and_free(j);
	} else {
		printf("workspace  %s (%s, %s)\n", cn->url, kc_client_transport(c), s->health);
		printf("%-10s %-5s %-6s %s\n", "SERVICE", "STATE", "PORT", "LATENCY");
		for (size_t i = 0; i < s->n_services; i++) {
			const kc_service_health *h = &s->services[i];
			printf("%-10s %-5s %-6d ", h->name, h->status, h->port);
			if (h->latency_ms > 0)
				printf("%.1f ms\n", h->latency_ms);
			else
				printf("-\n");
		}
		if (s->github_error) {
			printf("github     unknown: %s\n", s->github_error);
		} else {
			printf("ssh key    %s\n", s->ssh_configured ? s->ssh_key_fingerprint : "none");
			printf("gh cli     %s%s%s\n",
			       !s->gh_installed      ? "not installed"
			       : s->gh_authenticated ? "logged in as "
			                             : "not logged in",
			       s->gh_authenticated ? s->gh_username : "", "");
			printf("git        %s <%s>\n", s->git_user_name[0] ? s->git_user_name : "(no name)",
			       s->git_user_email[0] ? s->git_user_email : "no email");
			printf("github app %s\n", !s->github_app_configured   ? "not configured"
			                          : s->github_app_token_valid ? "token valid"
			                                                      : "token invalid");
		}
	}
	kc_workspace_status_free(s);
	return rc ? fail(c, rc, "status") : EX_OK;
}

static int cmd_token(const struct opts *o, kc_client *c)
{
	if (!o->server) {
		const char *t = kc_client_token(c);
		if (!t[0]) {
			fprintf(stderr, "%s: token: no token configured\n", prog);
			return EX_USAGE;
		}
		if (o->json)
			print_obj(json_pack("{s:s}", "token", t));
		else
			puts(t);
		return EX_OK;
	}
	char *tok = NULL;
	int rc = kc_token_get(c, &tok);
	if (rc)
		return fail(c, rc, "token");
	if (o->json)
		print_obj(json_pack("{s:s}", "token", tok));
	else
		puts(tok);
	kc_free(tok);
	return EX_OK;
}

static int cmd_workspaces(const struct opts *o)
{
	char *path = config_path(o);
	struct kcc_config *cfg = load_config(path ? path : "config.yaml");
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < cfg->n_ws; i++)
			json_array_append_new(arr,
			                      json_pack("{s:s,s:s}", "name", cfg->ws[i].name, "url", cfg->ws[i].url));
		print_obj(json_pack("{s:s?,s:o}", "current", cfg->current, "workspaces", arr));
		kcc_config_free(cfg);
		free(path);
		return EX_OK;
	}
	printf("%-1s %-16s %s\n", "", "NAME", "URL");
	for (size_t i = 0; i < cfg->n_ws; i++)
		printf("%-1s %-16s %s\n", cfg->current && strcmp(cfg->current, cfg->ws[i].name) == 0 ? "*" : "",
		       cfg->ws[i].name, cfg->ws[i].url);
	if (cfg->n_ws == 0)
		printf("(none in %s)\n", path);
	kcc_config_free(cfg);
	free(path);
	return EX_OK;
}

/* ---- kc connect ------------------------------------------------------------ */

/* Runs argv (never through a shell), returns its stdout (caller frees) and
 * exit status in *status. stderr passes through. */
static char *run_capture(char *const argv[], int *status)
{
	int p[2];
	if (pipe(p) != 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	for (;;) {
		if (!out)
			break;
		if (len + 1 >= cap) {
			if (cap >= (1u << 20))
				break;
			char *no = realloc(out, cap * 2);
			if (!no)
				break;
			out = no;
			cap *= 2;
		}
		ssize_t n = read(p[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (out)
		out[len] = '\0';
	return out;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static int cmd_connect(const struct opts *o)
{
	if (o->n_args < 2)
		die_usage("connect: %s", "a user name is required");
	const char *user = o->args[1];
	char svc[256], target[256], pfwd[64], log_path[1024];
	/* The workspace chart's names: Service and Deployment <user>-workspace,
	 * the token in kc-server's container, tmux (with the agents' socket)
	 * in the terminal container. */
	const char *ns = o->ns ? o->ns : "coder";
	const char *container = o->container ? o->container : "terminal";
	const char *token_container = o->token_container ? o->token_container : "kc-server";
	snprintf(svc, sizeof svc, "%s", o->service ? o->service : "");
	if (!o->service)
		snprintf(svc, sizeof svc, "svc/%s-workspace", user);
	snprintf(target, sizeof target, "%s", o->target ? o->target : "");
	if (!o->target)
		snprintf(target, sizeof target, "deploy/%s-workspace", user);
	snprintf(pfwd, sizeof pfwd, ":%d", o->remote_port ? o->remote_port : 6080);

	/* 1. The token, read inside the pod. */
	char *exec_argv[] = {"kubectl",
	                     "exec",
	                     "-n",
	                     (char *)ns,
	                     target,
	                     "-c",
	                     (char *)token_container,
	                     "--",
	                     "cat",
	                     "/home/coder/.claude-tasks/.api-token",
	                     NULL};
	int status = 0;
	char *token = run_capture(exec_argv, &status);
	if (!token || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: connect %s: kubectl exec could not read the token\n", prog, user);
		free(token);
		return EX_UNAVAILABLE;
	}
	size_t tl = strlen(token);
	while (tl && (token[tl - 1] == '\n' || token[tl - 1] == '\r' || token[tl - 1] == ' '))
		token[--tl] = '\0';
	if (!tl) {
		fprintf(stderr, "%s: connect %s: the workspace has no API token yet\n", prog, user);
		free(token);
		return EX_UNAVAILABLE;
	}

	/* 2. The port-forward, its output in a log file so it can outlive us. */
	char *cfg_path = config_path(o);
	if (!cfg_path) {
		free(token);
		return EX_FAILURE;
	}
	snprintf(log_path, sizeof log_path, "%s", cfg_path);
	char *slash = strrchr(log_path, '/');
	if (slash)
		slash[1] = '\0';
	else
		log_path[0] = '\0';
	size_t ll = strlen(log_path);
	snprintf(log_path + ll, sizeof log_path - ll, "port-forward-%s.log", user);
	struct kcc_config *cfg = load_config(cfg_path);
	{
		/* make the directory (0700) before the log goes in it */
		char dir[1024];
		snprintf(dir, sizeof dir, "%s", log_path);
		char *d = strrchr(dir, '/');
		if (d) {
			*d = '\0';
			for (char *s = dir + 1; *s; s++) {
				if (*s == '/') {
					*s = '\0';
					mkdir(dir, 0700);
					*s = '/';
				}
			}
			mkdir(dir, 0700);
		}
	}
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, log_path, strerror(errno));
		free(token);
		free(cfg_path);
		kcc_config_free(cfg);
		return EX_FAILURE;
	}
	char *pf_argv[] = {"kubectl", "port-forward", "-n", (char *)ns, svc, pfwd, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
		setsid();
		execvp(pf_argv[0], pf_argv);
		_exit(127);
	}
	close(logfd);
	if (pid < 0) {
		free(token);
		free(cfg_path);
		kcc_config_free(cfg);
		return EX_FAILURE;
	}
	/* Wait for "Forwarding from 127.0.0.1:PORT -> REMOTE". */
	int port = 0;
	double deadline = now_s() + 30;
	while (!port && now_s() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "%s: connect %s: kubectl port-forward exited (see %s)\n", prog, user, log_path);
			free(token);
			free(cfg_path);
			kcc_config_free(cfg);
			return EX_UNAVAILABLE;
		}
		FILE *f = fopen(log_path, "r");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			const char *p = strstr(line, "Forwarding from 127.0.0.1:");
			if (p) {
				port = atoi(p + strlen("Forwarding from 127.0.0.1:"));
				break;
			}
		}
		if (f)
			fclose(f);
		if (!port) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (!port) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		fprintf(stderr, "%s: connect %s: kubectl port-forward did not start in 30s (see %s)\n", prog, user,
		        log_path);
		free(token);
		free(cfg_path);
		kcc_config_free(cfg);
		return EX_UNAVAILABLE;
	}

	/* 3. The workspace, saved and made current. */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	struct kcc_workspace ws = {.name = (char *)user,
	                           .url = url,
	                           .token = token,
	                           .namespace = (char *)ns,
	                           .target = target,
	                           .container = (char *)container,
	                           .tmux_socket = (char *)(o->tmux_socket ? o->tmux_socket : "/tmp/kc-tmux/default")};
	int rc = kcc_config_put(cfg, &ws, true);
	if (rc == 0)
		rc = kcc_config_save(cfg, cfg_path);
	kcc_config_free(cfg);
	free(token);
	if (rc) {
		fprintf(stderr, "%s: %s: cannot save: %s\n", prog, cfg_path, kc_strerror(rc));
		free(cfg_path);
		kill(pid, SIGTERM);
		return EX_FAILURE;
	}
	printf("connected to %s at %s (workspace \"%s\" in %s)\n", user, url, user, cfg_path);
	free(cfg_path);
	if (o->detach) {
		printf("kubectl port-forward runs as pid %d; stop it with: kill %d\n", (int)pid, (int)pid);
		return EX_OK;
	}
	printf("forwarding until interrupted (Ctrl-C)\n");
	fflush(stdout);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, 0);
		if (w == pid)
			break;
		if (w < 0 && errno == EINTR && got_signal) {
			kill(pid, SIGTERM);
			waitpid(pid, &st, 0);
			return EX_OK;
		}
	}
	fprintf(stderr, "%s: connect %s: kubectl port-forward ended\n", prog, user);
	return EX_UNAVAILABLE;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct opts o;
	memset(&o, 0, sizeof o);
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv, &o);
	if (o.n_args == 0) {
		fputs(usage_text, stderr);
		free(o.args);
		return EX_USAGE;
	}
	const char *cmd = o.args[0];
	int ex;
	if (strcmp(cmd, "connect") == 0) {
		ex = cmd_connect(&o);
		free(o.args);
		return ex;
	}
	if (strcmp(cmd, "workspaces") == 0) {
		ex = cmd_workspaces(&o);
		free(o.args);
		return ex;
	}
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		free(o.args);
		return EX_OK;
	}
	bool known = strcmp(cmd, "metrics") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "token") == 0;
	const char *sub = NULL;
	if (strcmp(cmd, "task") == 0 || strcmp(cmd, "tasks") == 0) {
		if (o.n_args < 2)
			die_usage("task: %s",
			          "a subcommand is required (create, ls, get, logs, send, kill, attach, wait)");
		sub = o.args[1];
		const char *subs[] = {"create", "ls", "list", "get", "logs", "send", "kill", "attach", "wait"};
		for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
			known = known || strcmp(sub, subs[i]) == 0;
		if (!known)
			die_usage("task: unknown subcommand \"%s\"", sub);
	} else if (!known) {
		die_usage("unknown command \"%s\"", cmd);
	}

	struct conn cn;
	memset(&cn, 0, sizeof cn);
	kc_client *c = connect_client(&o, &cn);
	if (!sub) {
		if (strcmp(cmd, "metrics") == 0)
			ex = cmd_metrics(&o, c);
		else if (strcmp(cmd, "status") == 0)
			ex = cmd_status(&o, c, &cn);
		else
			ex = cmd_token(&o, c);
	} else if (strcmp(sub, "create") == 0) {
		ex = cmd_create(&o, c);
	} else if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) {
		ex = cmd_ls(&o, c);
	} else if (strcmp(sub, "get") == 0) {
		ex = cmd_get(&o, c);
	} else if (strcmp(sub, "logs") == 0) {
		ex = cmd_logs(&o, c);
	} else if (strcmp(sub, "send") == 0) {
		ex = cmd_send(&o, c);
	} else if (strcmp(sub, "kill") == 0) {
		ex = cmd_kill(&o, c);
	} else if (strcmp(sub, "attach") == 0) {
		ex = cmd_attach(&o, c, &cn);
	} else {
		ex = cmd_wait(&o, c);
	}
	kc_client_free(c);
	conn_clear(&cn);
	free(o.args);
	return ex;
}
