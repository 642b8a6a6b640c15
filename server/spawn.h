/*
 * spawn.h - run a program from an argv vector and collect its output.
 *
 * The only way kc-server runs other programs (tmux, git, ssh-keygen, gh):
 * posix_spawnp with an argv vector, never a shell, so nothing a user sends
 * is ever parsed by a shell. Safe to call from any thread.
 */
#ifndef KC_SERVER_SPAWN_H
#define KC_SERVER_SPAWN_H

#include <stddef.h>

typedef struct kc_spawn_result {
	/* Exit status (0-255), or -1 when the program could not be run or was
	 * killed by a signal or by the timeout. */
	int status;
	/* Standard output, NUL-terminated, at most the caller's cap (the rest
	 * is read and dropped). NULL when none was asked for. */
	char *out;
	size_t out_len;
} kc_spawn_result;

typedef struct kc_spawn_opts {
	/* Written to the child's standard input, then closed; NULL: /dev/null. */
	const char *input;
	size_t input_len;
	/* Collect standard output up to this many bytes; 0: discard it. */
	size_t out_cap;
	/* Environment for the child (NULL-terminated "K=V"); NULL: ours. */
	char *const *envp;
	/* Kill the child after this many milliseconds; 0: 10 s. */
	int timeout_ms;
	/* When > 0: a descriptor (an eventfd, a pipe's read end) that becomes
	 * readable when the caller wants the child stopped early (a server
	 * shutting down while a slow network call runs): the child is killed
	 * and kc_spawn returns KC_ERR_CANCELLED. It is only polled, never
	 * read. 0 (the zero-initialised default): none. */
	int cancel_fd;
	/* The child's working directory (it changes there before exec); NULL:
	 * ours. The path is handed to chdir(2), never parsed by anything, which
	 * is what lets a workdir reach tmux without being an argument (tmux.c
	 * says why that matters). */
	const char *cwd;
} kc_spawn_opts;

/* Runs argv[0] (searched in PATH) with argv. Returns 0 when it ran (look at
 * res->status), KC_ERR_IO when it could not be started (also when it could
 * not change to opts->cwd), KC_ERR_TIMEOUT when it was killed for taking
 * too long, KC_ERR_CANCELLED when opts->cancel_fd became readable,
 * KC_ERR_NOMEM. res->out is the caller's
 * to free in every case. */
int kc_spawn(const char *const *argv, const kc_spawn_opts *opts, kc_spawn_result *res);

/* Frees res->out. */
void kc_spawn_result_release(kc_spawn_result *res);

#endif /* KC_SERVER_SPAWN_H */
