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

int kc_spawn(const char *const *argv, const kc_spawn_opts *opts, kc_spawn_result *res)
{
	static const kc_spawn_opts none = {0};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defaults;
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
	pid_t pid;
	int rc = 0, wst = 0;
	size_t cap, written = 0, out_size = 0;
	long long deadline;

	if (!opts)
		opts = &none;
	memset(res, 0, sizeof *res);
	res->status = -1;
	cap = opts->out_cap;
	if (cap) {
		out_size = cap < 4096 ? cap + 1 : 4096;
		if (!(res->out = malloc(out_size)))
			return KC_ERR_NOMEM;
		res->out[0] = '\0';
	}
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
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, opts->envp ? opts->envp : environ);
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
	rc = 0;
	fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	if (opts->input) {
		fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
		if (opts->input_len == 0) {
			close(in_pipe[1]);
			in_pipe[1] = -1;
		}
	}
	deadline = now_ms() + (opts->timeout_ms > 0 ? opts->timeout_ms : 10000);
	for (;;) {
		struct pollfd p[3];
		int np = 0, left, in_at = -1, cancel_at = -1;
		p[np++] = (struct pollfd){.fd = out_pipe[0], .events = POLLIN};
		if (in_pipe[1] >= 0) {
			in_at = np;
			p[np++] = (struct pollfd){.fd = in_pipe[1], .events = POLLOUT};
		}
		if (opts->cancel_fd > 0) {
			cancel_at = np;
			p[np++] = (struct pollfd){.fd = opts->cancel_fd, .events = POLLIN};
		}
		left = (int)(deadline - now_ms());
		if (left <= 0) {
			rc = KC_ERR_TIMEOUT;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, (nfds_t)np, left) < 0) {
			if (errno == EINTR)
				continue;
			rc = KC_ERR_IO;
			kill(pid, SIGKILL);
			break;
		}
		if (cancel_at >= 0 && (p[cancel_at].revents & POLLIN)) {
			rc = KC_ERR_CANCELLED;
			kill(pid, SIGKILL);
			break;
		}
		if (in_at >= 0 && (p[in_at].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in_pipe[1], opts->input + written, opts->input_len - written);
			if (w > 0)
				written += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				written = opts->input_len;
			if (written >= opts->input_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[4096];
			ssize_t r = read(out_pipe[0], buf, sizeof buf);
			if (r == 0)
				break;
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				break;
			}
			if (cap && res->out_len < cap) {
				size_t take = (size_t)r;
				if (take > cap - res->out_len)
					take = cap - res->out_len;
				if (res->out_len + take + 1 > out_size) {
					size_t ns = out_size * 2;
					char *nb;
					while (ns < res->out_len + take + 1)
						ns *= 2;
					if (ns > cap + 1)
						ns = cap + 1;
					if (!(nb = realloc(res->out, ns))) {
						rc = KC_ERR_NOMEM;
						kill(pid, SIGKILL);
						break;
					}
					res->out = nb;
					out_size = ns;
				}
				memcpy(res->out + res->out_len, buf, take);
				res->out_len += take;
				res->out[res->out_len] = '\0';
			}
		}
	}
	close(out_pipe[0]);
	if (in_pipe[1] >= 0)
		close(in_pipe[1]);
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
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
