/*
 * tmux.c - the tmux driver: running tmux, and what each argument we give it
 * becomes (the comment below).
 */
#include "server/tasks_int.h"

#include <sys/socket.h>
#include <sys/un.h>

/* ---- tmux ---------------------------------------------------------------- */

/*
 * What tmux 3.3a (Debian bookworm) does with the arguments we give it, and
 * how each of ours arrives unchanged and runs nothing. Checked against
 * kc_task_tmux(1) and by running tmux 3.3a with `#(touch FILE)` in each argument.
 *
 * 1. Command-list splitting, applied to every argument before any command
 *    runs: an argument that ends in ';' ends the command there (the ';' is
 *    dropped), and one that ends in '\;' ends in ';' instead. Our command
 *    separators are TMUX_SEP; tmux_run() gives every other argument that
 *    ends in ';' a '\' before it (kc_tmux_escape_arg), so tmux reads it
 *    back as written. Workdirs ending in ';' are refused before that
 *    (kc_input_check_path), since {workdir} may reach the agent's command.
 *
 * 2. Format expansion: '#' starts a format -- #{...} a variable, #(...) a
 *    shell command that the tmux server runs, #[...] a style, ## a '#'.
 *    Expanded: new-session -c and -s, respawn-pane -c, pipe-pane's command
 *    (strftime(3) first: '%' too), load-buffer's and save-buffer's path,
 *    send-keys' keys with -F, -F formats, display-message, and option
 *    values where an option is a format. Not expanded: -t targets, -b
 *    buffer names, -e NAME=VALUE, send-keys' keys without -F, capture-pane
 *    -S, and a command given after "--" to new-session or respawn-pane.
 *
 * Ours, argument by argument:
 *   - new-session -s claude-<id>, every -t target, -b kc-<id>, -e
 *     KC_TASK_ID=<id>: built from a task id, which is always
 *     [0-9]+-[0-9a-f]{8} (kc_task_id_valid): nothing to expand or split.
 *   - The workdir is never an argument: tmux runs with it as its working
 *     directory (kc_spawn's cwd), and new-session without -c takes the
 *     client's working directory as the session's, unexpanded (it travels
 *     in the client's identify message); respawn-pane without -c keeps
 *     the pane's. (A tmux server that the call starts keeps that directory
 *     as its own; nothing depends on the server's directory.)
 *   - pipe-pane's command: from the configured tasks_dir and the id only,
 *     shell-quoted for sh -c, then '#' and '%' doubled
 *     (kc_tmux_escape_format), so a tasks_dir with '#', '%' or a quote in
 *     it works and runs nothing.
 *   - load-buffer's path is always "-": the text (prompt, follow-up) goes
 *     through tmux's standard input, never a path, never an argument.
 *   - The agent's command after "--": config values, with {session_id}
 *     (a UUID we generated) and {workdir} replaced; not expanded. tmux
 *     runs a one-element command through sh -c, so there {workdir} is
 *     shell-quoted (expand_arg); a longer argv follows the constant
 *     /bin/sh -c 'exec "$0" "$@"', where each is a positional parameter,
 *     exec'd as given and never parsed.
 *   - Constants: sleep 86400, capture-pane -S -50 / -, list-sessions -F
 *     '#{session_name}' (our format; only names claude-<valid id> count),
 *     display-message -p 'kc-host #{pid} #{start_time}' (our format),
 *     send-keys Enter (no -F), -x/-y sizes.
 * Nothing tmux-side is set from a request with set-option, save-buffer is
 * not used, and display-message only with the constant format above.
 */

/* The command separator. Compared by address: a ";" from anywhere else
 * is an argument and is escaped like any argument that ends in ';'. */
static const char TMUX_SEP[] = ";";

/* Runs tmux with `args` (NULL-terminated) on the configured socket, in the
 * directory `cwd` (NULL: ours). */
static int tmux_run(const kc_tasks *m, const char *cwd, const char *const *args, const char *input,
		    size_t input_len, size_t out_cap, kc_spawn_result *res)
{
	const char *argv[KC_MAX_ARGV + 48];
	char *escaped[KC_MAX_ARGV + 48];
	size_t n = 0, ne = 0;
	kc_spawn_opts o = {.input = input, .input_len = input_len, .out_cap = out_cap, .timeout_ms = 10000,
			   .cwd = cwd};
	kc_spawn_result local;
	int rc = 0;
	/* A pure client passes tmux nothing of kc-server's environment: a
	 * new session takes the server's (the agent host's) plus what
	 * update-environment copies from the client (DISPLAY, SSH_AUTH_SOCK
	 * ...), which would be kc-server's. PATH only: tmux needs no more. */
	char path_var[4096];
	char *client_env[] = {path_var, NULL};
	if (m->cfg->tmux_external) {
		snprintf(path_var, sizeof path_var, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
		o.envp = client_env;
	}

	argv[n++] = "tmux";
	/* -N: never start a server, even for new-session; the host's is the
	 * only one. */
	if (m->cfg->tmux_external)
		argv[n++] = "-N";
	if (m->cfg->tmux_socket && *m->cfg->tmux_socket) {
		argv[n++] = "-S";
		argv[n++] = m->cfg->tmux_socket;
	}
	for (size_t i = 0; args[i]; i++) {
		size_t len = strlen(args[i]);
		if (n + 1 >= sizeof argv / sizeof *argv) {
			rc = KC_ERR_INVALID;
			break;
		}
		if (args[i] != TMUX_SEP && len > 0 && args[i][len - 1] == ';') {
			if (!(escaped[ne] = kc_tmux_escape_arg(args[i]))) {
				rc = KC_ERR_NOMEM;
				break;
			}
			argv[n++] = escaped[ne++];
		} else {
			argv[n++] = args[i];
		}
	}
	argv[n] = NULL;
	if (rc == 0) {
		rc = kc_spawn(argv, &o, res ? res : &local);
		if (!res)
			kc_spawn_result_release(&local);
	} else if (res) {
		memset(res, 0, sizeof *res);
		res->status = -1;
	}
	for (size_t i = 0; i < ne; i++)
		free(escaped[i]);
	return rc;
}

int kc_task_tmux(const kc_tasks *m, const char *const *args, const char *input, size_t input_len, size_t out_cap,
		kc_spawn_result *res)
{
	return tmux_run(m, NULL, args, input, input_len, out_cap, res);
}

/* `tmux list-sessions -F '#{session_name}'`, and as the last line
 * KC_HOST_LINE "<pid> <start_time>" of the server that answered: together,
 * so the names and the server they came from are one answer. */
int kc_task_list_sessions(const kc_tasks *m, kc_spawn_result *res)
{
	const char *args[] = {"list-sessions", "-F", "#{session_name}", TMUX_SEP, "display-message", "-p",
			      KC_HOST_LINE "#{pid} #{start_time}", NULL};
	return tmux_run(m, NULL, args, NULL, 0, 4u * 1024 * 1024, res);
}

void kc_task_session_name(const char *id, char *buf, size_t len, bool as_target)
{
	snprintf(buf, len, "%sclaude-%s%s", as_target ? "=" : "", id, as_target ? ":" : "");
}

/* Captures the pane: `start` like "-50" or "-" (whole history), NULL for
 * the visible screen. Returns malloc'd text or NULL. */
char *kc_task_capture(const kc_tasks *m, const char *id, const char *start, size_t *len)
{
	char target[64];
	kc_spawn_result r;
	const char *args[] = {"capture-pane", "-p", "-J", "-t", target, start ? "-S" : NULL, start, NULL};
	kc_task_session_name(id, target, sizeof target, true);
	if (kc_task_tmux(m, args, NULL, 0, PANE_CAP, &r) != 0 || r.status != 0) {
		kc_spawn_result_release(&r);
		return NULL;
	}
	if (len)
		*len = r.out_len;
	return r.out;
}

bool kc_task_pane_ready(kc_tasks *m, int agent_idx, const char *pane)
{
	if (agent_idx < 0 || !m->regex_ok[agent_idx] || !pane)
		return false;
	return regexec(&m->regexes[agent_idx], pane, 0, NULL, 0) == 0;
}

/* The agent's argument `arg` with {session_id} and {workdir} replaced by
 * the given strings; NULL when out of memory. */
static char *expand_arg(const char *arg, const char *session_id, const char *workdir)
{
	size_t cap = strlen(arg) + 1, n = 0, sl = strlen(session_id), wl = strlen(workdir);
	char *out;
	const char *p;
	for (p = arg; (p = strchr(p, '{')) != NULL; p++)
		cap += sl + wl;
	if (!(out = malloc(cap)))
		return NULL;
	for (p = arg; *p;) {
		if (strncmp(p, "{session_id}", 12) == 0) {
			memcpy(out + n, session_id, sl);
			n += sl;
			p += 12;
		} else if (strncmp(p, "{workdir}", 9) == 0) {
			memcpy(out + n, workdir, wl);
			n += wl;
			p += 9;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

/* External mode only: whether a tmux server answers on the socket, asked
 * with connect(2) before a task is created, so that CreateTask can say
 * why it cannot start one. (Every tmux call then runs with -N, so a host
 * that dies right after this check fails the new-session; it never makes
 * kc-server start a server of its own.) */
int kc_task_host_check(const kc_tasks *m, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;
	bool up;
	if (!m->cfg->tmux_external)
		return 0;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", m->cfg->tmux_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	up = fd >= 0 && connect(fd, (const struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	if (up)
		return 0;
	snprintf(err, errlen, "agent host not running: no tmux server answers on %s", m->cfg->tmux_socket);
	return KC_ERR_UNAVAILABLE;
}

/* Starts the task's session: a placeholder process first, so that
 * pipe-pane is attached before the agent writes its first byte, then the
 * agent replaces the placeholder in the same pane. All in one tmux call,
 * run in the task's workdir (the comment above tmux_run says why it is
 * not an argument). */
int kc_task_start_session(kc_tasks *m, const kc_task *t, const kc_agent_config *a)
{
	char name[64], target[64], env[64];
	const char *args[KC_MAX_ARGV + 40];
	char *expanded[KC_MAX_ARGV];
	char *log_path = NULL, *quoted = NULL, *pipe_cmd = NULL, *wd_arg = NULL, *line = NULL;
	size_t n = 0, ne = 0, len;
	kc_spawn_result r;
	int rc = KC_ERR_NOMEM;

	kc_task_session_name(t->task_id, name, sizeof name, false);
	kc_task_session_name(t->task_id, target, sizeof target, true);
	snprintf(env, sizeof env, "KC_TASK_ID=%s", t->task_id);
	/* pipe-pane's command is a shell command that tmux format-expands
	 * (with strftime first): quoted for the shell, then for tmux. */
	len = strlen(m->cfg->tasks_dir) + strlen(t->task_id) + sizeof "//output.log";
	if (!(log_path = malloc(len)))
		goto out;
	snprintf(log_path, len, "%s/%s/output.log", m->cfg->tasks_dir, t->task_id);
	if (!(quoted = kc_shell_quote(log_path)))
		goto out;
	len = strlen(quoted) + sizeof "exec cat >> ";
	if (!(line = malloc(len)))
		goto out;
	snprintf(line, len, "exec cat >> %s", quoted);
	if (!(pipe_cmd = kc_tmux_escape_format(line, true)))
		goto out;
	/* A one-element command is run by tmux through sh -c: there the
	 * workdir must be one shell word. */
	if (!(wd_arg = a->argc == 1 ? kc_shell_quote(t->workdir) : strdup(t->workdir)))
		goto out;
	const char *head[] = {"new-session", "-d", "-s", name, "-x", "200", "-y", "50", "-e", env, "--", "sleep",
			      "86400", TMUX_SEP, "pipe-pane", "-t", target, pipe_cmd, TMUX_SEP, "respawn-pane", "-k",
			      "-t", target, "--", NULL};
	for (size_t i = 0; head[i]; i++)
		args[n++] = head[i];
	/* A longer argv is exec'd by a shell, never parsed by one ($0 and $@
	 * are the arguments as given): a missing program then leaves the
	 * shell's "not found" in output.log, where the task's error finds it,
	 * instead of tmux's silent exit. A one-element command already runs
	 * through sh -c. */
	if (a->argc > 1) {
		args[n++] = "/bin/sh";
		args[n++] = "-c";
		args[n++] = "exec \"$0\" \"$@\"";
	}
	for (size_t i = 0; i < a->argc; i++) {
		if (!(expanded[ne] = expand_arg(a->argv[i], t->session_id, wd_arg)))
			goto out;
		args[n++] = expanded[ne++];
	}
	args[n] = NULL;
	rc = tmux_run(m, t->workdir, args, NULL, 0, 4096, &r);
	if (rc == 0 && r.status != 0)
		rc = KC_ERR_UNAVAILABLE;
	kc_spawn_result_release(&r);
out:
	for (size_t i = 0; i < ne; i++)
		free(expanded[i]);
	free(log_path);
	free(quoted);
	free(line);
	free(pipe_cmd);
	free(wd_arg);
	return rc;
}

/* Pastes `text` (bracketed) into the session and presses Enter. The text
 * goes through tmux's standard input ("-"), never as a path or an
 * argument. Every text pasted passes kc_input_check_text here too, the
 * one way text reaches an agent: a prompt stored before that check
 * existed is not pasted (KC_ERR_INVALID). */
int kc_task_paste(const kc_tasks *m, const char *id, const char *text, size_t len)
{
	char target[64], buffer[64], why[128];
	kc_spawn_result r;
	int rc;
	if (kc_input_check_text("text", text, len, why, sizeof why) != 0)
		return KC_ERR_INVALID;
	kc_task_session_name(id, target, sizeof target, true);
	snprintf(buffer, sizeof buffer, "kc-%s", id);
	const char *args[] = {"load-buffer", "-b",	buffer,	  "-",	     TMUX_SEP, "paste-buffer", "-p",
			      "-d",	     "-b",	buffer,	  "-t",	     target,   TMUX_SEP,       "send-keys",
			      "-t",	     target,	"Enter", NULL};
	rc = kc_task_tmux(m, args, text, len, 4096, &r);
	if (rc == 0 && r.status != 0)
		rc = KC_ERR_UNAVAILABLE;
	kc_spawn_result_release(&r);
	return rc;
}

void kc_task_kill_session(const kc_tasks *m, const char *id)
{
	char target[64];
	kc_task_session_name(id, target, sizeof target, true);
	/* The pane target's trailing ':' is not a session target. */
	target[strlen(target) - 1] = '\0';
	const char *args[] = {"kill-session", "-t", target, NULL};
	kc_task_tmux(m, args, NULL, 0, 0, NULL);
}
