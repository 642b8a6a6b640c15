/* spawn.c - see spawn.h. */
#include "server/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child's ends of our pipes: its stdin (-1 when it reads /dev/null or
 * all input was written) and its stdout. */
struct child {
	pid_t pid;
	int in_fd;
	int out_fd;
};

/* Starts argv with stdin from a pipe (opts->input) or /dev/null, stdout
 * to a pipe and stderr to /dev/null; our ends are non-blocking. */
static int start_child(const char *const *argv, const kc_spawn_opts *opts, struct child *ch)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defaults;
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
	int rc;

	if (pipe2(out_pipe, O_CLOEXEC) != 0)
		return KC_ERR_IO;
	if (opts->input && pipe2(in_pipe, O_CLOEXEC) != 0) {
		close(out_pipe[0]);
		close(out_pipe[1]);
		return KC_ERR_IO;
	}
	posix_spawn_file_actions_init(&fa);
	if (opts->input)
		posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	/* A child starts with an empty signal mask and SIGPIPE, SIGINT and
	 * SIGTERM at their defaults. kc-server blocks SIGINT/SIGTERM (it takes
	 * them with sigwait) and ignores SIGPIPE, and both the mask and ignored
	 * dispositions survive exec: the tmux server a first new-session forks
	 * would inherit them, then every agent it starts, so `kill-server` (a
	 * SIGTERM to itself) did nothing and Ctrl-C never reached an agent or
	 * anything it ran. */
	posix_spawnattr_init(&attr);
	sigemptyset(&mask);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&ch->pid, argv[0], &fa, &attr, (char *const *)argv, opts->envp ? opts->envp : environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(out_pipe[1]);
	if (opts->input)
		close(in_pipe[0]);
	if (rc != 0) {
		close(out_pipe[0]);
		if (opts->input)
			close(in_pipe[1]);
		return KC_ERR_IO;
	}
	ch->out_fd = out_pipe[0];
	ch->in_fd = in_pipe[1];
	fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
	if (opts->input) {
		fcntl(ch->in_fd, F_SETFL, O_NONBLOCK);
		if (opts->input_len == 0) {
			close(ch->in_fd);
			ch->in_fd = -1;
		}
	}
	return 0;
}

/* Keeps what the child wrote, up to `cap` bytes in all (NUL-terminated). */
static int keep_output(kc_spawn_result *res, const char *buf, size_t n, size_t cap, size_t *out_size)
{
	if (!cap || res->out_len >= cap)
		return 0;
	if (n > cap - res->out_len)
		n = cap - res->out_len;
	if (res->out_len + n + 1 > *out_size) {
		size_t ns = *out_size * 2;
		char *nb;
		while (ns < res->out_len + n + 1)
			ns *= 2;
		if (ns > cap + 1)
			ns = cap + 1;
		if (!(nb = realloc(res->out, ns)))
			return KC_ERR_NOMEM;
		res->out = nb;
		*out_size = ns;
	}
	memcpy(res->out + res->out_len, buf, n);
	res->out_len += n;
	res->out[res->out_len] = '\0';
	return 0;
}

/* Writes the input and reads the output until the child closes its
 * stdout. Past the deadline, on cancel_fd or on an error the child is
 * killed and that is the result. */
static int run_child(struct child *ch, const kc_spawn_opts *opts, kc_spawn_result *res, size_t *out_size)
{
	long long deadline = now_ms() + (opts->timeout_ms > 0 ? opts->timeout_ms : 10000);
	size_t written = 0;
	int rc = 0;

	for (;;) {
		struct pollfd p[3];
		int np = 0, left, in_at = -1, cancel_at = -1;
		p[np++] = (struct pollfd){.fd = ch->out_fd, .events = POLLIN};
		if (ch->in_fd >= 0) {
			in_at = np;
			p[np++] = (struct pollfd){.fd = ch->in_fd, .events = POLLOUT};
		}
		if (opts->cancel_fd > 0) {
			cancel_at = np;
			p[np++] = (struct pollfd){.fd = opts->cancel_fd, .events = POLLIN};
		}
		left = (int)(deadline - now_ms());
		if (left <= 0) {
			rc = KC_ERR_TIMEOUT;
			break;
		}
		if (poll(p, (nfds_t)np, left) < 0) {
			if (errno == EINTR)
				continue;
			rc = KC_ERR_IO;
			break;
		}
		if (cancel_at >= 0 && (p[cancel_at].revents & POLLIN)) {
			rc = KC_ERR_CANCELLED;
			break;
		}
		if (in_at >= 0 && (p[in_at].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(ch->in_fd, opts->input + written, opts->input_len - written);
			if (w > 0)
				written += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				written = opts->input_len;
			if (written >= opts->input_len) {
				close(ch->in_fd);
				ch->in_fd = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[4096];
			ssize_t r = read(ch->out_fd, buf, sizeof buf);
			if (r == 0)
				return 0;
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				return 0;
			}
			if ((rc = keep_output(res, buf, (size_t)r, opts->out_cap, out_size)) != 0)
				break;
		}
	}
	kill(ch->pid, SIGKILL);
	return rc;
}

int kc_spawn(const char *const *argv, const kc_spawn_opts *opts, kc_spawn_result *res)
{
	static const kc_spawn_opts none = {0};
	struct child ch;
	int rc, wst = 0;
	size_t out_size = 0;

	if (!opts)
		opts = &none;
	memset(res, 0, sizeof *res);
	res->status = -1;
	if (opts->out_cap) {
		out_size = opts->out_cap < 4096 ? opts->out_cap + 1 : 4096;
		if (!(res->out = malloc(out_size)))
			return KC_ERR_NOMEM;
		res->out[0] = '\0';
	}
	if ((rc = start_child(argv, opts, &ch)) != 0)
		return rc;
	rc = run_child(&ch, opts, res, &out_size);
	close(ch.out_fd);
	if (ch.in_fd >= 0)
		close(ch.in_fd);
	while (waitpid(ch.pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && WIFEXITED(wst))
		res->status = WEXITSTATUS(wst);
	return rc;
}

void kc_spawn_result_release(kc_spawn_result *res)
{
	free(res->out);
	res->out = NULL;
	res->out_len = 0;
}
