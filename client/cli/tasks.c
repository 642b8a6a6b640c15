/*
 * tasks.c - kc task create, ls, get, logs, send, kill, attach, wait.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli/cli.h"

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
static char *message_from(const struct cli_opts *o, int first, const char *what)
{
	if (o->n_args <= first)
		cli_die_usage("%s is required", what);
	if (o->n_args == first + 1 && strcmp(o->args[first], "-") == 0) {
		char *s = read_stdin();
		if (!s)
			exit(EX_FAILURE);
		return s;
	}
	return join_args(o->args + first, o->n_args - first);
}

static const char *need_task_id(const struct cli_opts *o)
{
	if (o->n_args < 3)
		cli_die_usage("task %s: a task id is required", o->args[1]);
	return o->args[2];
}

static int cmd_create(const struct cli_opts *o, kc_client *c)
{
	char *prompt = message_from(o, 2, "a prompt");
	kc_task *t = NULL;
	int rc = kc_task_create(c, prompt, o->workdir, o->agent, &t);
	free(prompt);
	if (rc)
		return cli_fail(c, rc, "create task");
	if (o->quiet && !o->json)
		puts(t->task_id);
	else
		cli_print_task(o, t);
	kc_task_free(t);
	return EX_OK;
}

static int cmd_ls(const struct cli_opts *o, kc_client *c)
{
	kc_task_status st = KC_TASK_STATUS_UNSPECIFIED;
	if (o->status && o->status[0] && strcmp(o->status, "all") != 0 && kc_task_status_parse(o->status, &st))
		cli_die_usage("--status: expected running, completed, error or killed, not \"%s\"", o->status);
	kc_task_list *l = NULL;
	int rc = kc_task_list_get(c, o->limit, o->page_token, st, &l);
	if (rc)
		return cli_fail(c, rc, "list tasks");
	if (o->json) {
		char *s = NULL;
		rc = kc_task_list_to_json(l, &s);
		if (rc == 0)
			cli_print_json_and_free(s);
	} else if (o->quiet) {
		for (size_t i = 0; i < l->n_tasks; i++)
			puts(l->tasks[i].task_id);
	} else {
		printf("%-20s  %-29s  %-8s  %s\n", "ID", "STATUS", "AGE", "PROMPT");
		for (size_t i = 0; i < l->n_tasks; i++) {
			const kc_task_summary *t = &l->tasks[i];
			char st_buf[64], age[32], pr[128];
			cli_one_line(t->prompt, 60, pr, sizeof pr);
			printf("%-20s  %-29s  %-8s  %s\n", t->task_id,
			       cli_status_text(t->status, t->status_detail, st_buf, sizeof st_buf),
			       cli_ago(t->created_at, age, sizeof age), pr);
		}
		if (l->next_page_token[0])
			printf("(%zu of %d shown; next page: --page-token %s)\n", l->n_tasks, l->total_size,
			       l->next_page_token);
		else if (l->n_tasks == 0)
			printf("(no tasks)\n");
	}
	kc_task_list_free(l);
	return rc ? cli_fail(c, rc, "list tasks") : EX_OK;
}

static int cmd_get(const struct cli_opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	kc_task *t = NULL;
	int rc = kc_task_get(c, id, &t);
	if (rc) {
		char what[300];
		snprintf(what, sizeof what, "task %s", id);
		return cli_fail(c, rc, what);
	}
	cli_print_task(o, t);
	kc_task_free(t);
	return EX_OK;
}

static int task_fail(kc_client *c, int rc, const char *verb, const char *id)
{
	char what[300];
	snprintf(what, sizeof what, "%s task %s", verb, id);
	return cli_fail(c, rc, what);
}

struct follow {
	int64_t printed_to; /* output bytes already written */
	kc_task_status status;
	kc_task_activity activity;
	bool quiet, progress, seen_task;
	double created_at;
	const char *id;
	int tail; /* -f --tail N: the history starts with its last N lines */
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
		double end = t->finished_at > 0 ? t->finished_at : cli_now();
		fprintf(stderr, "%s: %s after %s\n", t->task_id,
		        cli_status_text(t->status, t->status_detail, st, sizeof st),
		        cli_duration(end - t->created_at, d, sizeof d));
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
			fprintf(stderr, "%s: watch of %s ended early%s; reconnecting\n", cli_prog, id,
			        had_task ? "" : " (before its first event)");
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	return rc ? rc : KC_ERR_UNAVAILABLE;
}

static int cmd_logs(const struct cli_opts *o, kc_client *c)
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

static int cmd_send(const struct cli_opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	char *msg = message_from(o, 3, "a message");
	kc_task *t = NULL;
	int rc = kc_task_send(c, id, msg, &t);
	free(msg);
	if (rc)
		return task_fail(c, rc, "send to", id);
	if (o->json)
		cli_print_task(o, t);
	else if (!o->quiet)
		printf("sent to %s (%zu follow-up%s)\n", t->task_id, t->n_followups, t->n_followups == 1 ? "" : "s");
	kc_task_free(t);
	return EX_OK;
}

static int cmd_kill(const struct cli_opts *o, kc_client *c)
{
	const char *id = need_task_id(o);
	double killed_at = 0;
	int rc = kc_task_kill(c, id, &killed_at);
	if (rc)
		return task_fail(c, rc, "kill", id);
	if (o->json)
		cli_print_killed(id, killed_at);
	else if (!o->quiet)
		printf("killed %s\n", id);
	return EX_OK;
}

/* The command that attaches to tmux session `session`: with kubectl
 * details (kc connect), tmux in the pod; otherwise tmux on this machine (a
 * local workspace). Returns the number of words; argv ends with NULL. */
static int attach_command(const struct kcc_workspace *ws, const char *session, const char *argv[16])
{
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
	return n;
}

/* Says how to attach: the command, and for a web workspace the terminal
 * that opens the session next. */
static void print_attach(const struct cli_opts *o, const struct cli_conn *cn, const char *id, const char *session,
                         const char *const *argv, int n)
{
	bool web = strncmp(cn->url, "http", 4) == 0;
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
		cli_print_obj(j);
		return;
	}
	printf("session %s is prepared", session);
	if (web)
		printf(": the workspace terminal (%s/oauth/terminal) opens it next", cn->url);
	printf(".\nTo attach from a shell, run:\n  ");
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", argv[i]);
	printf("\nDetach again with Ctrl-b d; the agent keeps running.\n");
}

static int cmd_attach(const struct cli_opts *o, kc_client *c, const struct cli_conn *cn)
{
	const char *id = need_task_id(o);
	char *session = NULL;
	int rc = kc_task_prepare_terminal(c, id, &session);
	if (rc)
		return task_fail(c, rc, "attach to", id);
	const char *argv[16];
	int n = attach_command(cn->ws, session, argv);
	if (o->exec) {
		fflush(stdout);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", cli_prog, argv[0], strerror(errno));
		free(session);
		return EX_FAILURE;
	}
	print_attach(o, cn, id, session, argv, n);
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
	double end = cli_now() + t->seconds;
	while (!atomic_load(&t->done)) {
		if (cli_now() >= end) {
			atomic_store(&t->fired, 1);
			kc_client_cancel(t->c);
			break;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int cmd_wait(const struct cli_opts *o, kc_client *c)
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
		fprintf(stderr, "%s: wait for task %s: still %s after %gs\n", cli_prog, id,
		        kc_task_status_name(f.status), o->wait_timeout);
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
		cli_print_task(o, t);
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
		fprintf(stderr, "%s: wait for task %s: the stream ended while it is %s\n", cli_prog, id,
		        kc_task_status_name(st));
		return EX_FAILURE;
	}
}

int cli_task_command(const char *sub, const struct cli_opts *o, kc_client *c, const struct cli_conn *cn)
{
	if (strcmp(sub, "create") == 0)
		return cmd_create(o, c);
	if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
		return cmd_ls(o, c);
	if (strcmp(sub, "get") == 0)
		return cmd_get(o, c);
	if (strcmp(sub, "logs") == 0)
		return cmd_logs(o, c);
	if (strcmp(sub, "send") == 0)
		return cmd_send(o, c);
	if (strcmp(sub, "kill") == 0)
		return cmd_kill(o, c);
	if (strcmp(sub, "attach") == 0)
		return cmd_attach(o, c, cn);
	return cmd_wait(o, c);
}
