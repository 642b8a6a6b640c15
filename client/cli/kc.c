/*
 * kc - the kube-coder command line, on libkcclient's public API only. This
 * file is the entry point: it parses the options and hands the command to
 * its group (see cli.h for the files).
 *
 * Every command, option, exit code and the config file are described in
 * kc.1 and `kc --help`; keep the three in step.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

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

const char cli_prog[] = "kc";

void cli_die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", cli_prog);
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
int cli_fail(kc_client *c, int err, const char *what)
{
	const char *msg = c ? kc_client_last_error(c) : "";
	if (!msg[0] || strcmp(msg, kc_strerror(err)) == 0)
		fprintf(stderr, "%s: %s: %s\n", cli_prog, what, kc_strerror(err));
	else
		fprintf(stderr, "%s: %s: %s (%s)\n", cli_prog, what, msg, kc_strerror(err));
	return exit_for(err);
}

/* ---- option parsing ------------------------------------------------------ */

static int parse_int(const char *name, const char *s, int min, int max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		cli_die_usage("%s: expected a number", name);
	return (int)v;
}

/* The option being read: its name, and its value when given as
 * --name=value; `i` is its index in argv. */
struct cursor {
	int argc;
	char **argv;
	int i;
	char name[64];
	const char *val;
};

/* The option's value: after '=' in the same word, else the next word. */
static const char *value(struct cursor *cur)
{
	if (cur->val)
		return cur->val;
	if (cur->i + 1 < cur->argc)
		return cur->argv[++cur->i];
	cli_die_usage("%s needs a value", cur->name);
}

#define IS(s) (strcmp(cur->name, s) == 0)

/* The global options (kc --help); false when `cur` is none of them. */
static bool global_option(struct cursor *cur, struct cli_opts *o)
{
	if (IS("-h") || IS("--help")) {
		fputs(usage_text, stdout);
		exit(EX_OK);
	} else if (IS("--version")) {
		printf("kc %s\n", KC_CLIENT_VERSION);
		exit(EX_OK);
	} else if (IS("--url")) {
		o->url = value(cur);
	} else if (IS("--token")) {
		o->token = value(cur);
	} else if (IS("-w") || IS("--workspace")) {
		o->workspace = value(cur);
	} else if (IS("--config")) {
		o->config = value(cur);
	} else if (IS("-o") || IS("--output")) {
		o->output = value(cur);
	} else if (IS("--ca-file")) {
		o->ca_file = value(cur);
	} else if (IS("--request-timeout")) {
		o->request_timeout = parse_int(cur->name, value(cur), 0, 86400);
	} else {
		return false;
	}
	return true;
}

/* The options of the commands; false when `cur` is none of them. */
static bool command_option(struct cursor *cur, struct cli_opts *o)
{
	if (IS("--workdir")) {
		o->workdir = value(cur);
	} else if (IS("--agent")) {
		o->agent = value(cur);
	} else if (IS("--status")) {
		o->status = value(cur);
	} else if (IS("--limit")) {
		o->limit = parse_int(cur->name, value(cur), 0, 1000);
	} else if (IS("--page-token")) {
		o->page_token = value(cur);
	} else if (IS("--tail") || IS("-n")) {
		o->tail = parse_int(cur->name, value(cur), 0, 1000000);
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
		o->wait_timeout = parse_int(cur->name, value(cur), 0, 10000000);
	} else {
		return false;
	}
	return true;
}

/* The options of kc connect; false when `cur` is none of them. */
static bool connect_option(struct cursor *cur, struct cli_opts *o)
{
	if (IS("--namespace")) {
		o->ns = value(cur);
	} else if (IS("--service")) {
		o->service = value(cur);
	} else if (IS("--target")) {
		o->target = value(cur);
	} else if (IS("--container")) {
		o->container = value(cur);
	} else if (IS("--token-container")) {
		o->token_container = value(cur);
	} else if (IS("--tmux-socket")) {
		o->tmux_socket = value(cur);
	} else if (IS("--remote-port")) {
		o->remote_port = parse_int(cur->name, value(cur), 1, 65535);
	} else {
		return false;
	}
	return true;
}

#undef IS

/* Takes options from anywhere on the line (up to "--"); the rest are
 * positional. Every option is known to every command; each command uses
 * those it documents. */
static void parse_args(int argc, char **argv, struct cli_opts *o)
{
	o->args = calloc((size_t)argc + 1, sizeof *o->args);
	if (!o->args)
		exit(EX_FAILURE);
	bool dashdash = false;
	struct cursor cur = {.argc = argc, .argv = argv};
	for (cur.i = 1; cur.i < argc; cur.i++) {
		char *a = argv[cur.i];
		if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
			o->args[o->n_args++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		/* --name=value */
		const char *eq = strchr(a, '=');
		cur.val = NULL;
		if (a[1] == '-' && eq && (size_t)(eq - a) < sizeof cur.name) {
			memcpy(cur.name, a, (size_t)(eq - a));
			cur.name[eq - a] = '\0';
			cur.val = eq + 1;
		} else {
			snprintf(cur.name, sizeof cur.name, "%s", a);
		}
		if (!global_option(&cur, o) && !command_option(&cur, o) && !connect_option(&cur, o))
			cli_die_usage("unknown option %s", a);
	}
	if (o->output) {
		if (strcmp(o->output, "json") == 0)
			o->json = true;
		else if (strcmp(o->output, "table") != 0)
			cli_die_usage("--output: expected table or json, not \"%s\"", o->output);
	}
}

/* ---- main ------------------------------------------------------------------ */

/* Checks the command words of a command that needs a workspace: returns
 * the task subcommand, or NULL for metrics, status and token. Exits
 * EX_USAGE on an unknown one. */
static const char *check_command(const struct cli_opts *o)
{
	static const char *const subs[] = {"create", "ls", "list", "get", "logs", "send", "kill", "attach", "wait"};
	const char *cmd = o->args[0];
	if (strcmp(cmd, "metrics") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "token") == 0)
		return NULL;
	if (strcmp(cmd, "task") != 0 && strcmp(cmd, "tasks") != 0)
		cli_die_usage("unknown command \"%s\"", cmd);
	if (o->n_args < 2)
		cli_die_usage("task: %s", "a subcommand is required (create, ls, get, logs, send, kill, attach, wait)");
	const char *sub = o->args[1];
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(sub, subs[i]) == 0)
			return sub;
	cli_die_usage("task: unknown subcommand \"%s\"", sub);
}

static int run(const struct cli_opts *o)
{
	const char *cmd = o->args[0];
	if (strcmp(cmd, "connect") == 0)
		return cli_cmd_connect(o);
	if (strcmp(cmd, "workspaces") == 0)
		return cli_cmd_workspaces(o);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return EX_OK;
	}
	const char *sub = check_command(o);
	struct cli_conn cn;
	memset(&cn, 0, sizeof cn);
	kc_client *c = cli_connect_client(o, &cn);
	int ex = sub ? cli_task_command(sub, o, c, &cn) : cli_workspace_command(cmd, o, c, &cn);
	kc_client_free(c);
	cli_conn_clear(&cn);
	return ex;
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	memset(&o, 0, sizeof o);
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv, &o);
	if (o.n_args == 0) {
		fputs(usage_text, stderr);
		free(o.args);
		return EX_USAGE;
	}
	int ex = run(&o);
	free(o.args);
	return ex;
}
