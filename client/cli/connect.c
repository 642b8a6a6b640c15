/*
 * connect.c - kc connect: reach a user's workspace in the cluster through
 * kubectl (exec for the token, port-forward for the API) and save it in the
 * config file as the current workspace.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cli/cli.h"

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
		fprintf(stderr, "%s: cannot run %s: %s\n", cli_prog, argv[0], strerror(errno));
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

/* What kc connect works with: its options, else the workspace chart's
 * names (Service and Deployment <user>-workspace, the token in kc-server's
 * container, tmux with the agents' socket in the terminal container). */
struct plan {
	const char *user, *ns, *container, *token_container, *tmux_socket;
	char svc[256], target[256], pfwd[64];
};

static void make_plan(const struct cli_opts *o, struct plan *p)
{
	p->user = o->args[1];
	p->ns = o->ns ? o->ns : "coder";
	p->container = o->container ? o->container : "terminal";
	p->token_container = o->token_container ? o->token_container : "kc-server";
	p->tmux_socket = o->tmux_socket ? o->tmux_socket : "/tmp/kc-tmux/default";
	if (o->service)
		snprintf(p->svc, sizeof p->svc, "%s", o->service);
	else
		snprintf(p->svc, sizeof p->svc, "svc/%s-workspace", p->user);
	if (o->target)
		snprintf(p->target, sizeof p->target, "%s", o->target);
	else
		snprintf(p->target, sizeof p->target, "deploy/%s-workspace", p->user);
	snprintf(p->pfwd, sizeof p->pfwd, ":%d", o->remote_port ? o->remote_port : 6080);
}

/* Step 1: the token, read inside the pod with kubectl exec (caller frees);
 * NULL after saying why. */
static char *read_pod_token(struct plan *p)
{
	char *exec_argv[] = {"kubectl",
	                     "exec",
	                     "-n",
	                     (char *)p->ns,
	                     p->target,
	                     "-c",
	                     (char *)p->token_container,
	                     "--",
	                     "cat",
	                     "/home/coder/.claude-tasks/.api-token",
	                     NULL};
	int status = 0;
	char *token = run_capture(exec_argv, &status);
	if (!token || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: connect %s: kubectl exec could not read the token\n", cli_prog, p->user);
		free(token);
		return NULL;
	}
	size_t tl = strlen(token);
	while (tl && (token[tl - 1] == '\n' || token[tl - 1] == '\r' || token[tl - 1] == ' '))
		token[--tl] = '\0';
	if (!tl) {
		fprintf(stderr, "%s: connect %s: the workspace has no API token yet\n", cli_prog, p->user);
		free(token);
		return NULL;
	}
	return token;
}

/* The port-forward's log, beside the config file. */
static void log_path_for(const char *cfg_path, const char *user, char *out, size_t len)
{
	snprintf(out, len, "%s", cfg_path);
	char *slash = strrchr(out, '/');
	if (slash)
		slash[1] = '\0';
	else
		out[0] = '\0';
	size_t ll = strlen(out);
	snprintf(out + ll, len - ll, "port-forward-%s.log", user);
}

/* Makes the directories above `path` (0700), as mkdir -p would. */
static void make_parent_dirs(const char *path)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", path);
	char *d = strrchr(dir, '/');
	if (!d)
		return;
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

/* Step 2: kubectl port-forward in its own session, its output in a log
 * file so it can outlive us. Its pid, or -1 (after saying why when the
 * log cannot be made). */
static pid_t start_port_forward(struct plan *p, const char *log_path)
{
	make_parent_dirs(log_path);
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, log_path, strerror(errno));
		return -1;
	}
	char *pf_argv[] = {"kubectl", "port-forward", "-n", (char *)p->ns, p->svc, p->pfwd, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
		setsid();
		execvp(pf_argv[0], pf_argv);
		_exit(127);
	}
	close(logfd);
	return pid;
}

/* The local port of "Forwarding from 127.0.0.1:PORT -> REMOTE" in the log,
 * or 0 while there is none. */
static int forwarded_port(const char *log_path)
{
	static const char marker[] = "Forwarding from 127.0.0.1:";
	int port = 0;
	FILE *f = fopen(log_path, "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		const char *m = strstr(line, marker);
		if (m) {
			port = atoi(m + strlen(marker));
			break;
		}
	}
	if (f)
		fclose(f);
	return port;
}

/* Waits up to 30 s for the port-forward to listen: its local port, or 0
 * after saying why (and stopping it when it is still running). */
static int wait_for_forward(const struct plan *p, pid_t pid, const char *log_path)
{
	double deadline = cli_now() + 30;
	while (cli_now() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "%s: connect %s: kubectl port-forward exited (see %s)\n", cli_prog, p->user,
			        log_path);
			return 0;
		}
		int port = forwarded_port(log_path);
		if (port)
			return port;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "%s: connect %s: kubectl port-forward did not start in 30s (see %s)\n", cli_prog, p->user,
	        log_path);
	return 0;
}

/* Step 3: the workspace, saved in the config file and made current. */
static int save_workspace(struct plan *p, struct kcc_config *cfg, const char *cfg_path, char *url, char *token)
{
	struct kcc_workspace ws = {.name = (char *)p->user,
	                           .url = url,
	                           .token = token,
	                           .namespace = (char *)p->ns,
	                           .target = p->target,
	                           .container = (char *)p->container,
	                           .tmux_socket = (char *)p->tmux_socket};
	int rc = kcc_config_put(cfg, &ws, true);
	if (rc == 0)
		rc = kcc_config_save(cfg, cfg_path);
	if (rc)
		fprintf(stderr, "%s: %s: cannot save: %s\n", cli_prog, cfg_path, kc_strerror(rc));
	return rc;
}

/* Step 4 without --detach: waits on the port-forward until it ends (an
 * error) or we are interrupted (it is stopped, and that is success). */
static int forward_until_interrupted(const char *user, pid_t pid)
{
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
	fprintf(stderr, "%s: connect %s: kubectl port-forward ended\n", cli_prog, user);
	return EX_UNAVAILABLE;
}

int cli_cmd_connect(const struct cli_opts *o)
{
	if (o->n_args < 2)
		cli_die_usage("connect: %s", "a user name is required");
	struct plan p;
	make_plan(o, &p);
	char *token = read_pod_token(&p);
	if (!token)
		return EX_UNAVAILABLE;
	char *cfg_path = cli_config_path(o);
	if (!cfg_path) {
		free(token);
		return EX_FAILURE;
	}
	char log_path[1024];
	log_path_for(cfg_path, p.user, log_path, sizeof log_path);
	struct kcc_config *cfg = cli_load_config(cfg_path);
	int ex = EX_FAILURE, port = 0;
	char url[64];
	pid_t pid = start_port_forward(&p, log_path);
	if (pid < 0)
		goto out;
	port = wait_for_forward(&p, pid, log_path);
	if (!port) {
		ex = EX_UNAVAILABLE;
		goto out;
	}
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	if (save_workspace(&p, cfg, cfg_path, url, token) != 0) {
		kill(pid, SIGTERM);
		goto out;
	}
	printf("connected to %s at %s (workspace \"%s\" in %s)\n", p.user, url, p.user, cfg_path);
	ex = EX_OK;
out:
	kcc_config_free(cfg);
	free(token);
	free(cfg_path);
	if (ex != EX_OK)
		return ex;
	if (o->detach) {
		printf("kubectl port-forward runs as pid %d; stop it with: kill %d\n", (int)pid, (int)pid);
		return EX_OK;
	}
	return forward_until_interrupted(p.user, pid);
}
