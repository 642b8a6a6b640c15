/*
 * tasks.c - see tasks.h.
 *
 * Threads and locks. `mu` guards the index (every entry and the counters).
 * It is only ever held for in-memory work: no request holds it across a
 * tmux call, a file write or a callback, so a slow tmux never stalls a
 * ListTasks. Anything that spawns tmux copies what it needs under the lock,
 * runs the program unlocked, then re-takes the lock and re-checks the
 * entry's state before applying the result. `wmu` guards the watcher list
 * and is held while a watcher's sink runs, which is what lets
 * kc_tasks_unwatch() promise that the sink is no longer running. Lock
 * order: wmu, then mu.
 *
 * One supervisor thread does all the work in the background. It sleeps in
 * poll(2) on two descriptors: an eventfd that requests poke when something
 * changed (a task was created, a watcher added, a message queued) and one
 * inotify instance that watches output.log of every task still starting.
 *
 * Prompt delivery is event-driven: pipe-pane appends the pane's output to
 * output.log as tmux reads it, so an agent printing its prompt marker makes
 * the file grow and inotify wakes the supervisor at once. tmux parses the
 * bytes into the pane's screen in the same event-loop callback in which it
 * queues them for the pipe, so by the time the write reaches the file the
 * marker is on the screen: the supervisor captures the visible pane, matches
 * the agent's ready_pattern per line, and pastes the prompt. One capture per
 * burst of output of a starting task, at most one per RECHECK_MS for a task
 * that keeps writing; a starting task with no output is captured only every
 * FALLBACK_MS (or every POLL_MS when inotify is unavailable). Messages sent
 * before the prompt was delivered are queued (persisted with sent_at 0)
 * and pasted in order right after it.
 *
 * The rest is periodic, every POLL_MS while any task runs or any watcher
 * is open (an idle server does not wake up at all):
 *   - the ready timeout of tasks still starting;
 *   - activity (working / waiting_for_input) from the growth of output.log,
 *     which costs a stat(2) per running task and a capture-pane only when a
 *     pane has gone quiet;
 *   - once per RECONCILE_MS, one `tmux list-sessions` for all tasks;
 *   - watchers: new versions of their task and new bytes of its log.
 * Entries are never removed, so pointers to them stay valid.
 */
#include "server/tasks.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"
#include "common/utf8.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "server/input.h"
#include "server/spawn.h"
#include "server/tmux_quote.h"
#include "server/token.h"
#include "server/wrappers.h"

#define POLL_MS 50
/* A starting task whose output keeps changing is captured at most this
 * often; one that prints nothing, at least this often (in case an event was
 * missed). */
#define RECHECK_MS 10
#define FALLBACK_MS 250
/* Messages sent before the prompt was delivered, held per task. */
#define QUEUED_MAX 32
#define RECONCILE_MS 1000
#define QUIET_MS 1500
/* Under gRPC clients' default 4 MiB receive limit: the last 4,000,000 bytes. */
#define OUTPUT_CAP 4000000u
#define PANE_CAP 4000000u
/* A prompt.txt is at most limits.max_prompt_bytes, which is at most this. */
#define PROMPT_FILE_MAX (64u * 1024 * 1024)
#define CHUNK_MAX 65536
/* Output is read for a watcher while less than this waits for its reader,
 * at most CHUNKS_PER_TICK chunks a tick (10 MiB/s at POLL_MS). */
#define WATCH_BACKLOG_MAX (1024u * 1024)
#define CHUNKS_PER_TICK 8
#define LIST_MAX 1000
/* TaskStatus values are 0 (unspecified) to 4 (killed). */
#define N_STATUS 5
/* The index keeps this many code points of each prompt (what ListTasks
 * shows); the rest stays on disk and is read when a whole task is asked
 * for. Prompts run to kilobytes, and the index holds every task. */
#define PROMPT_HEAD_CHARS 120
/* The error of a task found at start without its session and without its
 * prompt delivered. */
#define STOPPED_BEFORE_READY "kc-server stopped before the agent was ready"

struct entry {
	kc_task t;
	unsigned version;
	int agent_idx;
	bool starting;
	/* t.prompt holds only the prompt's head; task.json has all of it. */
	bool prompt_cut;
	/* strlen of t.prompt and t.task_id (set as the entry joins the
	 * index): ListTasks sizes its answer without reading the strings. */
	uint32_t prompt_len;
	uint8_t id_len;
	/* Followups with sent_at 0 wait to be pasted (see flush_queued). */
	bool has_queued;
	/* inotify watch on output.log while starting (0: none); `dirty`: the
	 * log grew since the pane was last captured. */
	int wd;
	bool dirty;
	long long dirty_ms; /* when it last became dirty */
	long long start_ms;
	long long ready_checked_ms;
	long long log_size;
	long long last_change_ms;
	long long quiet_checked_ms;
	struct entry *hnext;
};

struct watcher {
	int64_t id;
	struct entry *e;
	bool include_output;
	bool sent_first;
	unsigned seen_version;
	long long offset;
	kc_task_sink sink;
	kc_task_backlog backlog;
	void *ud;
	struct watcher *next;
};

struct kc_tasks {
	const kc_config *cfg;
	pthread_mutex_t mu;
	int wake_fd; /* eventfd: requests poke the supervisor */
	int ino_fd;  /* inotify on starting tasks' output.log, or -1 */
	struct entry **by_time; /* ascending (created_at, task_id) */
	size_t n, cap;
	struct entry **buckets;
	size_t nbuckets;
	/* Tasks per status (ListTasks' total_size for a filter); `reserved`:
	 * creations under way, counted against max_running_tasks. */
	size_t n_status[N_STATUS];
	size_t reserved;
	regex_t regexes[KC_MAX_AGENTS];
	bool regex_ok[KC_MAX_AGENTS];
	bool stop;
	bool thread_started;
	pthread_t thread;

	pthread_mutex_t wmu;
	struct watcher *watchers;
	int64_t next_wid;
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct entry *find(kc_tasks *m, const char *id)
{
	struct entry *e = m->buckets[hash_id(id) % m->nbuckets];
	while (e && strcmp(e->t.task_id, id) != 0)
		e = e->hnext;
	return e;
}

static int cmp_entry(const struct entry *a, const struct entry *b)
{
	if (a->t.created_at != b->t.created_at)
		return a->t.created_at < b->t.created_at ? -1 : 1;
	return strcmp(a->t.task_id, b->t.task_id);
}

static int cmp_entry_p(const void *a, const void *b)
{
	return cmp_entry(*(struct entry *const *)a, *(struct entry *const *)b);
}

static size_t status_slot(Kc__V1__TaskStatus s)
{
	return (unsigned)s < N_STATUS ? (size_t)s : 0;
}

static size_t n_running(const kc_tasks *m)
{
	return m->n_status[KC__V1__TASK_STATUS__TASK_STATUS_RUNNING];
}

static int grow(kc_tasks *m)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 256;
		struct entry **nb = realloc(m->by_time, nc * sizeof *nb);
		if (!nb)
			return KC_ERR_NOMEM;
		m->by_time = nb;
		m->cap = nc;
	}
	/* Keep the hash table's load under 1. */
	if (m->n + 1 > m->nbuckets) {
		size_t nn = m->nbuckets ? m->nbuckets * 2 : 1024;
		struct entry **nb = calloc(nn, sizeof *nb);
		if (!nb)
			return KC_ERR_NOMEM;
		for (size_t i = 0; i < m->n; i++) {
			struct entry *e = m->by_time[i];
			size_t b = hash_id(e->t.task_id) % nn;
			e->hnext = nb[b];
			nb[b] = e;
		}
		free(m->buckets);
		m->buckets = nb;
		m->nbuckets = nn;
	}
	return 0;
}

/* Adds an entry to both indexes; grow() must have succeeded. */
static void insert(kc_tasks *m, struct entry *e, bool sorted_append)
{
	size_t b = hash_id(e->t.task_id) % m->nbuckets;
	size_t pos = m->n;
	e->id_len = (uint8_t)strlen(e->t.task_id);
	e->hnext = m->buckets[b];
	m->buckets[b] = e;
	if (!sorted_append)
		while (pos > 0 && cmp_entry(m->by_time[pos - 1], e) > 0)
			pos--;
	memmove(&m->by_time[pos + 1], &m->by_time[pos], (m->n - pos) * sizeof *m->by_time);
	m->by_time[pos] = e;
	m->n++;
	m->n_status[status_slot(e->t.status)]++;
}

/* Position of `e` in by_time. */
static size_t position(kc_tasks *m, const struct entry *e)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_entry(m->by_time[mid], e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int agent_index(const kc_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_agents; i++)
		if (strcmp(cfg->agents[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- tmux ---------------------------------------------------------------- */

/*
 * What tmux 3.3a (Debian bookworm) does with the arguments we give it, and
 * how each of ours arrives unchanged and runs nothing. Checked against
 * tmux(1) and by running tmux 3.3a with `#(touch FILE)` in each argument.
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
 *     shell-quoted (expand_arg); in a longer argv it is a plain argument.
 *   - Constants: sleep 86400, capture-pane -S -50 / -, list-sessions -F
 *     '#{session_name}' (our format; only names claude-<valid id> count),
 *     send-keys Enter (no -F), -x/-y sizes.
 * Nothing tmux-side is set from a request with set-option, and save-buffer
 * and display-message are not used.
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

	argv[n++] = "tmux";
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

static int tmux(const kc_tasks *m, const char *const *args, const char *input, size_t input_len, size_t out_cap,
		kc_spawn_result *res)
{
	return tmux_run(m, NULL, args, input, input_len, out_cap, res);
}

static void session_name(const char *id, char *buf, size_t len, bool as_target)
{
	snprintf(buf, len, "%sclaude-%s%s", as_target ? "=" : "", id, as_target ? ":" : "");
}

/* Captures the pane: `start` like "-50" or "-" (whole history), NULL for
 * the visible screen. Returns malloc'd text or NULL. */
static char *capture(const kc_tasks *m, const char *id, const char *start, size_t *len)
{
	char target[64];
	kc_spawn_result r;
	const char *args[] = {"capture-pane", "-p", "-J", "-t", target, start ? "-S" : NULL, start, NULL};
	session_name(id, target, sizeof target, true);
	if (tmux(m, args, NULL, 0, PANE_CAP, &r) != 0 || r.status != 0) {
		kc_spawn_result_release(&r);
		return NULL;
	}
	if (len)
		*len = r.out_len;
	return r.out;
}

static bool pane_ready(kc_tasks *m, int agent_idx, const char *pane)
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

/* Starts the task's session: a placeholder process first, so that
 * pipe-pane is attached before the agent writes its first byte, then the
 * agent replaces the placeholder in the same pane. All in one tmux call,
 * run in the task's workdir (the comment above tmux_run says why it is
 * not an argument). */
static int start_session(kc_tasks *m, const kc_task *t, const kc_agent_config *a)
{
	char name[64], target[64], env[64];
	const char *args[KC_MAX_ARGV + 40];
	char *expanded[KC_MAX_ARGV];
	char *log_path = NULL, *quoted = NULL, *pipe_cmd = NULL, *wd_arg = NULL, *line = NULL;
	size_t n = 0, ne = 0, len;
	kc_spawn_result r;
	int rc = KC_ERR_NOMEM;

	session_name(t->task_id, name, sizeof name, false);
	session_name(t->task_id, target, sizeof target, true);
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
static int paste(const kc_tasks *m, const char *id, const char *text, size_t len)
{
	char target[64], buffer[64], why[128];
	kc_spawn_result r;
	int rc;
	if (kc_input_check_text("text", text, len, why, sizeof why) != 0)
		return KC_ERR_INVALID;
	session_name(id, target, sizeof target, true);
	snprintf(buffer, sizeof buffer, "kc-%s", id);
	const char *args[] = {"load-buffer", "-b",	buffer,	  "-",	     TMUX_SEP, "paste-buffer", "-p",
			      "-d",	     "-b",	buffer,	  "-t",	     target,   TMUX_SEP,       "send-keys",
			      "-t",	     target,	"Enter", NULL};
	rc = tmux(m, args, text, len, 4096, &r);
	if (rc == 0 && r.status != 0)
		rc = KC_ERR_UNAVAILABLE;
	kc_spawn_result_release(&r);
	return rc;
}

static void kill_session(const kc_tasks *m, const char *id)
{
	char target[64];
	session_name(id, target, sizeof target, true);
	/* The pane target's trailing ':' is not a session target. */
	target[strlen(target) - 1] = '\0';
	const char *args[] = {"kill-session", "-t", target, NULL};
	tmux(m, args, NULL, 0, 0, NULL);
}

/* ---- protobuf ------------------------------------------------------------ */

static char *xstrdup(const char *s, bool *oom)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*oom = true;
	return d;
}

/* A heap copy of the task as a message; call with mu held. */
static Kc__V1__Task *task_pb(const struct entry *e)
{
	const kc_task *t = &e->t;
	Kc__V1__Task *p = malloc(sizeof *p);
	bool oom = false;
	char name[64];

	if (!p)
		return NULL;
	kc__v1__task__init(p);
	session_name(t->task_id, name, sizeof name, false);
	p->task_id = xstrdup(t->task_id, &oom);
	p->session_id = xstrdup(t->session_id, &oom);
	p->prompt = xstrdup(t->prompt, &oom);
	p->workdir = xstrdup(t->workdir, &oom);
	p->status = t->status;
	p->created_at = t->created_at;
	p->tmux_session = xstrdup(name, &oom);
	p->agent = xstrdup(t->agent, &oom);
	p->recent_output = xstrdup("", &oom);
	p->status_detail = t->status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING ? t->activity
										  : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
	if (t->finished_at > 0 && !(p->finished_at = kc_double_value_new(t->finished_at)))
		oom = true;
	if (t->killed_at > 0 && !(p->killed_at = kc_double_value_new(t->killed_at)))
		oom = true;
	if (t->prompt_delivered_at > 0 && !(p->prompt_delivered_at = kc_double_value_new(t->prompt_delivered_at)))
		oom = true;
	if (t->error && t->status == KC__V1__TASK_STATUS__TASK_STATUS_ERROR) {
		if ((p->error = malloc(sizeof *p->error)) != NULL) {
			google__protobuf__string_value__init(p->error);
			p->error->value = xstrdup(t->error, &oom);
		} else {
			oom = true;
		}
	}
	if (t->n_followups) {
		if (!(p->followups = calloc(t->n_followups, sizeof *p->followups)))
			oom = true;
		for (size_t i = 0; p->followups && i < t->n_followups; i++) {
			Kc__V1__Followup *f = malloc(sizeof *f);
			if (!f) {
				oom = true;
				break;
			}
			kc__v1__followup__init(f);
			f->prompt = xstrdup(t->followups[i].prompt, &oom);
			f->sent_at = t->followups[i].sent_at;
			p->followups[p->n_followups++] = f;
		}
	}
	if (oom) {
		protobuf_c_message_free_unpacked(&p->base, NULL);
		return NULL;
	}
	return p;
}

/* ---- helpers ------------------------------------------------------------- */

/* An id that is not of the form of a task id ("../x", "", too long) is a
 * task that does not exist, like an unknown one: NOT_FOUND (REST 404), as
 * the seed answered. It is checked before anything else is done with it,
 * and an id never reaches the file system without being in the index. */
static int lookup(kc_tasks *m, const char *id, struct entry **out, char *err, size_t errlen)
{
	*out = id && kc_task_id_valid(id) ? find(m, id) : NULL;
	if (!*out) {
		snprintf(err, errlen, "task not found");
		return KC_ERR_NOT_FOUND;
	}
	return 0;
}

/* Ends a running task; call with mu held. Persisting is the caller's. */
static void unwatch_log(kc_tasks *m, struct entry *e)
{
	if (e->wd > 0 && m->ino_fd >= 0)
		inotify_rm_watch(m->ino_fd, e->wd);
	e->wd = 0;
	e->dirty = false;
}

static void finish(kc_tasks *m, struct entry *e, Kc__V1__TaskStatus status, const char *error)
{
	double now = now_s();
	unwatch_log(m, e);
	if (m->n_status[status_slot(e->t.status)] > 0)
		m->n_status[status_slot(e->t.status)]--;
	m->n_status[status_slot(status)]++;
	e->t.status = status;
	e->starting = false;
	e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
	if (e->t.finished_at <= 0)
		e->t.finished_at = now;
	if (status == KC__V1__TASK_STATUS__TASK_STATUS_KILLED)
		e->t.killed_at = now;
	if (error) {
		free(e->t.error);
		e->t.error = strdup(error);
	}
	e->version++;
}

/* Pokes the supervisor out of poll(2). */
static void wake(kc_tasks *m)
{
	uint64_t one = 1;
	ssize_t r = write(m->wake_fd, &one, sizeof one);
	(void)r; /* EAGAIN: the counter is already non-zero, it will wake */
}

/* Watches the task's output.log (creating it empty when missing, so the
 * watch exists before the agent's first byte). Without inotify, or when
 * this fails, the task is polled instead. Call without mu on an entry the
 * supervisor cannot see yet, or with mu held. */
static void watch_log(kc_tasks *m, struct entry *e)
{
	char path[4200];
	int fd;
	if (m->ino_fd < 0)
		return;
	snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, e->t.task_id);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	e->wd = inotify_add_watch(m->ino_fd, path, IN_MODIFY);
	if (e->wd < 0) {
		kc_log(KC_LOG_WARN, "cannot watch output.log; polling instead", "task_id", e->t.task_id, "error",
		       strerror(errno), NULL);
		e->wd = 0;
	}
	e->dirty = true;
}

static bool any_queued(const kc_task *t)
{
	for (size_t i = 0; i < t->n_followups; i++)
		if (t->followups[i].sent_at <= 0)
			return true;
	return false;
}

/* Bytes in the first PROMPT_HEAD_CHARS code points of s. */
static size_t prompt_head_len(const char *s)
{
	size_t n = 0;
	for (size_t chars = 0; s[n] && chars < PROMPT_HEAD_CHARS; chars++) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;
	}
	return n;
}

/* Keeps only the prompt's head in the index, so the index's prompt is
 * exactly what ListTasks shows; call with mu held, or on an entry no other
 * thread sees. */
static void cut_prompt(struct entry *e)
{
	size_t n = prompt_head_len(e->t.prompt);
	char *head;
	e->prompt_len = (uint32_t)n;
	if (e->t.prompt[n] == '\0')
		return;
	if ((head = malloc(n + 1)) != NULL) {
		memcpy(head, e->t.prompt, n);
		head[n] = '\0';
		free(e->t.prompt);
		e->t.prompt = head;
	} else {
		e->t.prompt[n] = '\0'; /* the tail's bytes stay allocated */
	}
	e->prompt_cut = true;
}

/* The whole prompt of a task whose index entry holds only its head, from
 * its task.json (the record it was loaded from and every save writes in
 * full). NULL when it cannot be read. */
static char *read_full_prompt(kc_tasks *m, const char *id)
{
	char path[4200], *buf = NULL, *full = NULL;
	size_t len = 0;
	kc_task t;
	snprintf(path, sizeof path, "%s/%s/task.json", m->cfg->tasks_dir, id);
	if (kc_read_file(path, 128u * 1024 * 1024, &buf, &len) == 0 && kc_task_from_json(buf, len, &t) == 0) {
		full = t.prompt;
		t.prompt = NULL;
		kc_task_release(&t);
	}
	free(buf);
	if (!full)
		kc_log(KC_LOG_ERROR, "cannot read the task's prompt", "task_id", id, NULL);
	return full;
}

/* task_pb with the whole prompt. Takes mu; reads task.json (without mu)
 * when the index holds only the prompt's head. */
static Kc__V1__Task *task_pb_full(kc_tasks *m, struct entry *e)
{
	Kc__V1__Task *p;
	bool cut;
	char id[KC_TASK_ID_MAX];
	pthread_mutex_lock(&m->mu);
	p = task_pb(e);
	cut = e->prompt_cut;
	snprintf(id, sizeof id, "%s", e->t.task_id);
	pthread_mutex_unlock(&m->mu);
	if (p && cut) {
		char *full = read_full_prompt(m, id);
		if (full) {
			free(p->prompt);
			p->prompt = full;
		}
	}
	return p;
}

/* Saves a copy of the entry's task; call WITHOUT mu. */
static void persist(kc_tasks *m, struct entry *e)
{
	kc_task copy;
	int rc;
	bool cut;
	pthread_mutex_lock(&m->mu);
	rc = kc_task_copy(&copy, &e->t);
	cut = e->prompt_cut;
	pthread_mutex_unlock(&m->mu);
	if (rc == 0 && cut) {
		/* Never write the head alone over the whole prompt. */
		char *full = read_full_prompt(m, copy.task_id);
		if (full) {
			free(copy.prompt);
			copy.prompt = full;
		} else {
			kc_task_release(&copy);
			rc = KC_ERR_IO;
		}
	}
	if (rc == 0) {
		rc = kc_store_save(m->cfg->tasks_dir, &copy);
		kc_task_release(&copy);
	}
	if (rc != 0)
		kc_log(KC_LOG_ERROR, "cannot save task", "task_id", e->t.task_id, "error", kc_strerror(rc), NULL);
}

static bool blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
			return false;
	return true;
}

/* A prompt or follow-up: present, not blank, free of control bytes but
 * tab, CR and LF (kc_input_check_text says why), valid UTF-8 and within
 * the configured size. protobuf-c does not check strings; every other gRPC
 * client refuses a message with invalid UTF-8, so such a prompt would make
 * the task unreadable for them. */
static int check_prompt(const char *prompt, long max_bytes, char *err, size_t errlen)
{
	int rc;
	if (!prompt || blank(prompt)) {
		snprintf(err, errlen, "prompt is required");
		return KC_ERR_INVALID;
	}
	if ((rc = kc_input_check_text("prompt", prompt, strlen(prompt), err, errlen)) != 0)
		return rc;
	if (!kc_utf8_valid(prompt, strlen(prompt))) {
		snprintf(err, errlen, "prompt is not valid UTF-8");
		return KC_ERR_INVALID;
	}
	if ((long)strlen(prompt) > max_bytes) {
		snprintf(err, errlen, "prompt is larger than %ld bytes", max_bytes);
		return KC_ERR_TOO_LARGE;
	}
	return 0;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[16];
	if (nbytes > sizeof b)
		nbytes = sizeof b;
	if (kc_random_bytes(b, nbytes) != 0)
		for (size_t i = 0; i < nbytes; i++)
			b[i] = (unsigned char)rand();
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void uuid4(char out[37])
{
	unsigned char b[16];
	if (kc_random_bytes(b, 16) != 0)
		for (size_t i = 0; i < 16; i++)
			b[i] = (unsigned char)rand();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- lifecycle ----------------------------------------------------------- */

struct load_ctx {
	kc_tasks *m;
	int rc;
};

static void load_one(kc_task *t, void *ud)
{
	struct load_ctx *c = ud;
	struct entry *e;
	if (c->rc != 0 || (e = calloc(1, sizeof *e)) == NULL || grow(c->m) != 0) {
		c->rc = KC_ERR_NOMEM;
		kc_task_release(t);
		return;
	}
	e->t = *t;
	e->id_len = (uint8_t)strlen(e->t.task_id);
	e->agent_idx = agent_index(c->m->cfg, e->t.agent);
	e->version = 1;
	cut_prompt(e);
	e->has_queued = e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && any_queued(&e->t);
	/* Appended unsorted; sorted once after loading. */
	c->m->by_time[c->m->n++] = e;
	{
		size_t b = hash_id(e->t.task_id) % c->m->nbuckets;
		e->hnext = c->m->buckets[b];
		c->m->buckets[b] = e;
	}
	c->m->n_status[status_slot(e->t.status)]++;
}

static void reconcile(kc_tasks *m, bool at_start);

int kc_tasks_new(const kc_config *cfg, kc_tasks **out, char *err, size_t errlen)
{
	kc_tasks *m = calloc(1, sizeof *m);
	struct load_ctx c = {m, 0};
	int rc;

	if (!m)
		return KC_ERR_NOMEM;
	m->cfg = cfg;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->wmu, NULL);
	m->next_wid = 1;
	m->ino_fd = -1;
	if ((m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		kc_tasks_free(m);
		return KC_ERR_IO;
	}
	if ((m->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		kc_log(KC_LOG_WARN, "inotify unavailable; prompts are delivered by polling", "error", strerror(errno),
		       NULL);
	for (size_t i = 0; i < cfg->n_agents; i++) {
		int r = regcomp(&m->regexes[i], cfg->agents[i].ready_pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
		if (r != 0) {
			snprintf(err, errlen, "agents.list[%zu].ready_pattern: not a valid extended regex", i);
			kc_tasks_free(m);
			return KC_ERR_INVALID;
		}
		m->regex_ok[i] = true;
	}
	if ((rc = grow(m)) != 0) {
		kc_tasks_free(m);
		return rc;
	}
	if ((rc = kc_store_load(cfg->tasks_dir, load_one, &c)) != 0 || (rc = c.rc) != 0) {
		snprintf(err, errlen, "cannot load tasks from '%s': %s", cfg->tasks_dir, kc_strerror(rc));
		kc_tasks_free(m);
		return rc;
	}
	qsort(m->by_time, m->n, sizeof *m->by_time, cmp_entry_p);
	/* Loading interleaved the index's strings with every task.json's
	 * parse tree; return the pages the freed trees left behind. */
	malloc_trim(0);
	/* The tmux socket's directory, private to the workspace user. */
	if (cfg->tmux_socket && *cfg->tmux_socket) {
		char dir[4096];
		char *slash;
		snprintf(dir, sizeof dir, "%s", cfg->tmux_socket);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				kc_log(KC_LOG_WARN, "cannot create tmux socket directory", "path", dir, NULL);
		}
	}
	reconcile(m, true);
	*out = m;
	return 0;
}

size_t kc_tasks_count(kc_tasks *m)
{
	size_t n;
	pthread_mutex_lock(&m->mu);
	n = m->n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* ---- supervisor ---------------------------------------------------------- */

/* One `tmux list-sessions` for every task: running tasks whose session is
 * gone have completed (or failed, when the agent never became ready). */
static void reconcile(kc_tasks *m, bool at_start)
{
	static const char *const args[] = {"list-sessions", "-F", "#{session_name}", NULL};
	kc_spawn_result r;
	long long started = mono_ms();
	struct entry **changed = NULL;
	size_t n_changed = 0, live = 0;
	char *line, *save = NULL;

	if (tmux(m, args, NULL, 0, 4u * 1024 * 1024, &r) != 0) {
		/* tmux could not be run: know nothing, change nothing. */
		kc_spawn_result_release(&r);
		return;
	}
	/* A non-zero exit with no output is "no server running": no sessions. */
	pthread_mutex_lock(&m->mu);
	bool *alive = m->n ? calloc(m->n, sizeof *alive) : NULL;
	if (m->n && !alive) {
		pthread_mutex_unlock(&m->mu);
		kc_spawn_result_release(&r);
		return;
	}
	for (line = r.status == 0 && r.out ? strtok_r(r.out, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct entry *e;
		if (strncmp(line, "claude-", 7) != 0 || !kc_task_id_valid(line + 7))
			continue;
		if ((e = find(m, line + 7)) != NULL) {
			alive[position(m, e)] = true;
			live++;
		}
	}
	size_t cap_changed = n_running(m);
	if (cap_changed)
		changed = calloc(cap_changed, sizeof *changed);
	for (size_t i = 0; i < m->n && changed; i++) {
		struct entry *e = m->by_time[i];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || alive[i])
			continue;
		/* Created after the list was taken: not known yet. */
		if (!at_start && e->start_ms >= started)
			continue;
		/* At start, `starting` is not known yet: a task whose prompt was
		 * never delivered had not got its agent ready when the previous
		 * kc-server stopped, and the session went with it (a pod restart
		 * takes tmux along). That is a failure, not a completion. Only
		 * tasks kc-server wrote (they name their agent) record the
		 * delivery; the seed's never did, and theirs keep the old rule. */
		if (at_start && e->t.agent && e->t.prompt_delivered_at <= 0)
			finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, STOPPED_BEFORE_READY);
		else if (e->starting)
			finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, "the agent exited before it became ready");
		else
			finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, NULL);
		if (n_changed < cap_changed)
			changed[n_changed++] = e;
	}
	if (at_start) {
		/* Re-adopted sessions: their prompt was delivered before the
		 * restart, or they are still waiting for it. */
		for (size_t i = 0; i < m->n; i++) {
			struct entry *e = m->by_time[i];
			if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
				continue;
			e->starting = e->t.prompt_delivered_at <= 0;
			if (e->starting)
				watch_log(m, e);
			e->start_ms = mono_ms();
			e->last_change_ms = mono_ms();
			e->t.activity = e->starting ? KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_STARTING
						    : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		}
	}
	pthread_mutex_unlock(&m->mu);
	free(alive);
	kc_spawn_result_release(&r);
	for (size_t i = 0; i < n_changed; i++) {
		kc_log(KC_LOG_INFO, "task ended", "task_id", changed[i]->t.task_id, "status",
		       kc_task_status_name(changed[i]->t.status), NULL);
		persist(m, changed[i]);
	}
	free(changed);
	if (at_start) {
		char nbuf[32], lbuf[32];
		snprintf(nbuf, sizeof nbuf, "%zu", m->n);
		snprintf(lbuf, sizeof lbuf, "%zu", live);
		kc_log(KC_LOG_INFO, "tasks loaded", "tasks", nbuf, "live_sessions", lbuf, NULL);
	}
}

struct todo {
	struct entry *e;
	char id[KC_TASK_ID_MAX];
	int agent_idx;
	bool timed_out;
	long timeout_ms;
	long long output_ms; /* when the output that made it due arrived, or 0 */
};

/* Marks the starting tasks whose output.log grew. */
static void drain_inotify(kc_tasks *m)
{
	/* Aligned for struct inotify_event, as inotify(7) asks. */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;
	while ((len = read(m->ino_fd, buf, sizeof buf)) > 0) {
		pthread_mutex_lock(&m->mu);
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (!(ev->mask & IN_MODIFY))
				continue;
			/* Starting tasks are among the newest running ones. */
			for (size_t i = m->n, seen = 0; i > 0 && seen < n_running(m); i--) {
				struct entry *e = m->by_time[i - 1];
				if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
					continue;
				seen++;
				if (e->wd == ev->wd) {
					if (!e->dirty)
						e->dirty_ms = mono_ms();
					e->dirty = true;
					break;
				}
			}
		}
		pthread_mutex_unlock(&m->mu);
	}
}

/* Pastes the messages queued while the prompt was not yet delivered, one
 * at a time and in order. Stops at the first failure (the session is going
 * away; reconciliation ends the task and the rest stay unsent). */
static void flush_queued(kc_tasks *m, struct entry *e)
{
	char id[KC_TASK_ID_MAX];
	for (;;) {
		size_t i;
		char *text = NULL;
		int rc;
		pthread_mutex_lock(&m->mu);
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING || e->starting || !e->has_queued) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		for (i = 0; i < e->t.n_followups && e->t.followups[i].sent_at > 0; i++)
			;
		if (i == e->t.n_followups) {
			e->has_queued = false;
			pthread_mutex_unlock(&m->mu);
			return;
		}
		snprintf(id, sizeof id, "%s", e->t.task_id);
		text = strdup(e->t.followups[i].prompt);
		pthread_mutex_unlock(&m->mu);
		if (!text)
			return;
		rc = paste(m, id, text, strlen(text));
		free(text);
		if (rc != 0) {
			kc_log(KC_LOG_WARN, "queued message not delivered", "task_id", id, "error", kc_strerror(rc),
			       NULL);
			return;
		}
		pthread_mutex_lock(&m->mu);
		e->t.followups[i].sent_at = now_s();
		e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		e->last_change_ms = mono_ms();
		e->version++;
		pthread_mutex_unlock(&m->mu);
		kc_log(KC_LOG_INFO, "queued message delivered", "task_id", id, NULL);
		persist(m, e);
	}
}

/* The task's whole prompt, from its prompt.txt (the index keeps only its
 * head). Read here and pasted through tmux's standard input: the file's
 * path is never a tmux argument (see the comment above tmux_run). */
static int read_prompt(const kc_tasks *m, const char *id, char **out, size_t *len)
{
	size_t plen = strlen(m->cfg->tasks_dir) + strlen(id) + sizeof "//prompt.txt";
	char *path = malloc(plen);
	int rc;
	if (!path)
		return KC_ERR_NOMEM;
	snprintf(path, plen, "%s/%s/prompt.txt", m->cfg->tasks_dir, id);
	rc = kc_file_read(path, PROMPT_FILE_MAX, out, len);
	free(path);
	return rc;
}

/* Delivers prompts to starting tasks whose pane shows the ready pattern,
 * and fails those past their ready timeout. Returns the milliseconds until
 * a task that is due a re-check may be captured again, or -1. */
static long check_starting(kc_tasks *m)
{
	struct todo todo[64];
	size_t n = 0;
	long long now = mono_ms();
	long next = -1;

	pthread_mutex_lock(&m->mu);
	/* Newest tasks are at the end; starting ones are among the newest
	 * running, so scan backwards and stop after `running` hits. */
	for (size_t i = m->n, seen = 0; i > 0 && seen < n_running(m) && n < 64; i--) {
		struct entry *e = m->by_time[i - 1];
		long timeout, since = (long)(now - e->ready_checked_ms);
		bool timed_out, due;
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (!e->starting)
			continue;
		timeout = e->agent_idx >= 0 ? m->cfg->agents[e->agent_idx].ready_timeout_ms : 60000;
		timed_out = now - e->start_ms > timeout;
		due = timed_out || since >= (e->wd > 0 ? FALLBACK_MS : POLL_MS) ||
		      (e->dirty && since >= RECHECK_MS);
		if (!due) {
			if (e->dirty && (next < 0 || RECHECK_MS - since < next))
				next = RECHECK_MS - since;
			continue;
		}
		todo[n] = (struct todo){.e = e, .agent_idx = e->agent_idx, .timeout_ms = timeout,
					.timed_out = timed_out, .output_ms = e->dirty ? e->dirty_ms : 0};
		/* Output from now on marks it dirty again. */
		e->dirty = false;
		e->ready_checked_ms = now;
		snprintf(todo[n].id, sizeof todo[n].id, "%s", e->t.task_id);
		n++;
	}
	pthread_mutex_unlock(&m->mu);

	/* Pastes first, for every task that is ready; then the messages that
	 * wait behind each prompt; saving (two fsyncs each) last, so that one
	 * task's save never delays another task's prompt. */
	bool save[64] = {false}, delivered[64] = {false};
	for (size_t i = 0; i < n; i++) {
		struct entry *e = todo[i].e;
		char *pane, *text = NULL;
		size_t text_len = 0;
		if (todo[i].timed_out) {
			char why[128];
			snprintf(why, sizeof why, "the agent did not become ready within %ld ms", todo[i].timeout_ms);
			kill_session(m, todo[i].id);
			pthread_mutex_lock(&m->mu);
			if (e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && e->starting)
				finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR, why);
			pthread_mutex_unlock(&m->mu);
			kc_log(KC_LOG_WARN, "agent never became ready", "task_id", todo[i].id, NULL);
			save[i] = true;
			continue;
		}
		long long t0 = mono_ms(), t1, t2;
		pane = capture(m, todo[i].id, NULL, NULL);
		t1 = mono_ms();
		if (pane_ready(m, todo[i].agent_idx, pane)) {
			char waited[24], took[48];
			int rc = read_prompt(m, todo[i].id, &text, &text_len);
			if (rc == 0)
				rc = paste(m, todo[i].id, text, text_len);
			free(text);
			text = NULL;
			t2 = mono_ms();
			/* Where delivery time goes: from the output that showed the
			 * prompt to this pass (or -1: found by a periodic look), the
			 * capture, the paste. */
			snprintf(waited, sizeof waited, "%lld", todo[i].output_ms ? t0 - todo[i].output_ms : -1);
			snprintf(took, sizeof took, "%lld/%lld", t1 - t0, t2 - t1);
			pthread_mutex_lock(&m->mu);
			if (e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING && e->starting) {
				e->starting = false;
				unwatch_log(m, e);
				if (rc == 0) {
					e->t.prompt_delivered_at = now_s();
					e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
					e->last_change_ms = mono_ms();
				} else {
					finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_ERROR,
					       "the prompt could not be delivered to the agent");
				}
				e->version++;
			}
			pthread_mutex_unlock(&m->mu);
			/* rc: the prompt.txt could not be read (KC_ERR_NOT_FOUND,
			 * KC_ERR_IO...), held a control byte (KC_ERR_INVALID: stored
			 * before prompts were checked) or tmux failed. */
			kc_log(rc == 0 ? KC_LOG_INFO : KC_LOG_ERROR,
			       rc == 0 ? "prompt delivered" : "prompt delivery failed", "task_id", todo[i].id,
			       "output_to_pass_ms", waited, "capture_paste_ms", took, "error",
			       rc == 0 ? "" : kc_strerror(rc), NULL);
			save[i] = true;
			delivered[i] = rc == 0;
		}
		free(pane);
	}
	/* Messages sent meanwhile follow right behind their prompt. */
	for (size_t i = 0; i < n; i++)
		if (delivered[i])
			flush_queued(m, todo[i].e);
	for (size_t i = 0; i < n; i++)
		if (save[i])
			persist(m, todo[i].e);
	return next;
}

/* flush_queued for every running task with queued messages (those whose
 * prompt was delivered before a restart, or whose first try failed). */
static void check_queued(kc_tasks *m)
{
	struct entry *todo[64];
	size_t n = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = m->n, seen = 0; i > 0 && seen < n_running(m) && n < 64; i--) {
		struct entry *e = m->by_time[i - 1];
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (e->has_queued && !e->starting)
			todo[n++] = e;
	}
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n; i++)
		flush_queued(m, todo[i]);
}

/* working vs waiting_for_input, from output.log's growth and, once a pane
 * has gone quiet, its content. */
static void check_activity(kc_tasks *m)
{
	struct todo todo[64];
	size_t n = 0;
	long long now = mono_ms();

	pthread_mutex_lock(&m->mu);
	for (size_t i = m->n, seen = 0; i > 0 && seen < n_running(m); i--) {
		struct entry *e = m->by_time[i - 1];
		char path[4200];
		struct stat st;
		if (e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		seen++;
		if (e->starting)
			continue;
		snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, e->t.task_id);
		if (stat(path, &st) == 0 && (long long)st.st_size != e->log_size) {
			e->log_size = (long long)st.st_size;
			e->last_change_ms = now;
			if (e->t.activity != KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING) {
				e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
				e->version++;
			}
			continue;
		}
		if (e->t.activity == KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT ||
		    now - e->last_change_ms < QUIET_MS || now - e->quiet_checked_ms < 1000 || n >= 64)
			continue;
		e->quiet_checked_ms = now;
		todo[n] = (struct todo){.e = e, .agent_idx = e->agent_idx};
		snprintf(todo[n].id, sizeof todo[n].id, "%s", e->t.task_id);
		n++;
	}
	pthread_mutex_unlock(&m->mu);

	for (size_t i = 0; i < n; i++) {
		char *pane = capture(m, todo[i].id, NULL, NULL);
		bool ready = pane_ready(m, todo[i].agent_idx, pane);
		free(pane);
		pthread_mutex_lock(&m->mu);
		if (ready && todo[i].e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING &&
		    mono_ms() - todo[i].e->last_change_ms >= QUIET_MS &&
		    todo[i].e->t.activity != KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT) {
			todo[i].e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT;
			todo[i].e->version++;
		}
		pthread_mutex_unlock(&m->mu);
	}
}

/* Sends the watcher the log from its offset on. `ended`: the task is over,
 * so a partial UTF-8 sequence at the very end is final (replaced, not held
 * back). Returns true when everything up to the end of the log was sent,
 * false when the reader's backlog or the per-tick budget stopped it. */
static bool emit_output(kc_tasks *m, struct watcher *w, bool ended)
{
	char path[4200];
	bool at_end = false;
	int fd;
	snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, w->e->t.task_id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return true; /* no log: nothing to send */
	for (int rounds = 0; rounds < CHUNKS_PER_TICK; rounds++) {
		char buf[CHUNK_MAX];
		ssize_t r;
		size_t held = 0;
		char *text;
		if (w->backlog && w->backlog(w->ud) >= WATCH_BACKLOG_MAX)
			break;
		r = pread(fd, buf, sizeof buf, (off_t)w->offset);
		if (r <= 0) {
			at_end = true;
			break;
		}
		text = kc_utf8_sanitize_chunk(buf, (size_t)r, r == (ssize_t)sizeof buf || !ended, &held);
		if (!text)
			break;
		if ((size_t)r > held) {
			Kc__V1__TaskEvent ev = KC__V1__TASK_EVENT__INIT;
			Kc__V1__OutputChunk chunk = KC__V1__OUTPUT_CHUNK__INIT;
			chunk.text = text;
			chunk.offset = w->offset;
			ev.event_case = KC__V1__TASK_EVENT__EVENT_OUTPUT;
			ev.output = &chunk;
			w->sink(w->ud, &ev, false);
		}
		free(text);
		w->offset += (long long)((size_t)r - held);
		if ((size_t)r - held == 0) {
			/* Only the start of a character so far. */
			at_end = true;
			break;
		}
	}
	close(fd);
	return at_end;
}

/* Feeds every watcher: the task as it is first, then each new version of
 * it and its new output, and after the last byte of an ended task's log
 * the final task event. A task that had already ended when the watch began
 * gets only that one task event, after its output: clients stop at the
 * first event that shows the task finished (kc logs -f does). */
static void check_watchers(kc_tasks *m)
{
	struct watcher **pw;
	pthread_mutex_lock(&m->wmu);
	for (pw = &m->watchers; *pw;) {
		struct watcher *w = *pw;
		Kc__V1__TaskEvent ev = KC__V1__TASK_EVENT__INIT;
		Kc__V1__Task *t;
		bool ended, changed;
		pthread_mutex_lock(&m->mu);
		changed = !w->sent_first || w->seen_version != w->e->version;
		w->seen_version = w->e->version;
		ended = w->e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
		pthread_mutex_unlock(&m->mu);
		ev.event_case = KC__V1__TASK_EVENT__EVENT_TASK;
		/* A change after this point is seen (and sent) next time. An
		 * ended task's changes go out with its final event. */
		if (changed && !ended) {
			if ((t = task_pb_full(m, w->e)) != NULL) {
				ev.task = t;
				w->sink(w->ud, &ev, false);
				protobuf_c_message_free_unpacked(&t->base, NULL);
			}
			w->sent_first = true;
		}
		if (w->include_output && (w->sent_first || ended) && !emit_output(m, w, ended) && ended) {
			/* The rest of the log first (the reader is behind). */
			pw = &w->next;
			continue;
		}
		if (!ended) {
			pw = &w->next;
			continue;
		}
		if ((t = task_pb_full(m, w->e)) != NULL) {
			ev.task = t;
			w->sink(w->ud, &ev, true);
			protobuf_c_message_free_unpacked(&t->base, NULL);
		} else {
			w->sink(w->ud, NULL, true);
		}
		*pw = w->next;
		free(w);
	}
	pthread_mutex_unlock(&m->wmu);
}

static void *supervisor(void *arg)
{
	kc_tasks *m = arg;
	long long last_tick = 0, last_reconcile = mono_ms();
	int timeout = 0;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = m->wake_fd, .events = POLLIN}, {.fd = m->ino_fd, .events = POLLIN}};
		bool poked = false, busy;
		long long now;
		long next;
		if (poll(pfd, m->ino_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			pfd[0].revents = pfd[1].revents = 0;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			poked = read(m->wake_fd, &v, sizeof v) > 0;
		}
		if (m->ino_fd >= 0 && (pfd[1].revents & POLLIN))
			drain_inotify(m);
		pthread_mutex_lock(&m->mu);
		if (m->stop) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		pthread_mutex_unlock(&m->mu);

		next = check_starting(m);
		now = mono_ms();
		if (poked || now - last_tick >= POLL_MS) {
			last_tick = now;
			check_queued(m);
			check_activity(m);
			pthread_mutex_lock(&m->mu);
			busy = n_running(m) > 0;
			pthread_mutex_unlock(&m->mu);
			/* Nothing running: no session to reconcile. */
			if (busy && now - last_reconcile >= RECONCILE_MS) {
				reconcile(m, false);
				last_reconcile = mono_ms();
			}
			check_watchers(m);
		}
		pthread_mutex_lock(&m->mu);
		busy = n_running(m) > 0;
		pthread_mutex_unlock(&m->mu);
		pthread_mutex_lock(&m->wmu);
		busy = busy || m->watchers;
		pthread_mutex_unlock(&m->wmu);
		/* Idle (nothing running, nobody watching): sleep until poked. */
		now = mono_ms();
		timeout = busy ? (int)(POLL_MS - (now - last_tick)) : -1;
		if (busy && timeout < 0)
			timeout = 0;
		if (next >= 0 && (timeout < 0 || next < timeout))
			timeout = (int)next;
	}
	return NULL;
}

int kc_tasks_start(kc_tasks *m)
{
	if (pthread_create(&m->thread, NULL, supervisor, m) != 0)
		return KC_ERR_IO;
	m->thread_started = true;
	return 0;
}

void kc_tasks_free(kc_tasks *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_mutex_unlock(&m->mu);
		wake(m);
		pthread_join(m->thread, NULL);
	}
	pthread_mutex_lock(&m->wmu);
	while (m->watchers) {
		struct watcher *w = m->watchers;
		m->watchers = w->next;
		w->sink(w->ud, NULL, true);
		free(w);
	}
	pthread_mutex_unlock(&m->wmu);
	for (size_t i = 0; i < m->n; i++) {
		kc_task_release(&m->by_time[i]->t);
		free(m->by_time[i]);
	}
	for (size_t i = 0; i < KC_MAX_AGENTS; i++)
		if (m->regex_ok[i])
			regfree(&m->regexes[i]);
	free(m->by_time);
	free(m->buckets);
	if (m->ino_fd >= 0)
		close(m->ino_fd);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->wmu);
	free(m);
}

/* ---- requests ------------------------------------------------------------ */

int kc_tasks_create(kc_tasks *m, const char *prompt, const char *workdir, const char *agent, Kc__V1__Task **out,
		    char *err, size_t errlen)
{
	const kc_config *cfg = m->cfg;
	const kc_agent_config *a;
	char wd[PATH_MAX], resolved[PATH_MAX];
	struct stat st;
	struct entry *e = NULL;
	kc_task *t;
	int rc;

	if ((rc = check_prompt(prompt, cfg->max_prompt_bytes, err, errlen)) != 0)
		return rc;
	if (!agent || !*agent)
		agent = cfg->default_agent;
	if (!(a = kc_config_agent(cfg, agent))) {
		snprintf(err, errlen, "unknown agent");
		return KC_ERR_INVALID;
	}
	/* The workdir as sent, then as resolved (a symlink may lead
	 * elsewhere): the resolved path is what tmux and the agent get. */
	if (workdir && (rc = kc_input_check_path("workdir", workdir, err, errlen)) != 0)
		return rc;
	if (!workdir || !*workdir)
		snprintf(wd, sizeof wd, "%s", cfg->home);
	else if (workdir[0] == '/')
		snprintf(wd, sizeof wd, "%s", workdir);
	else
		snprintf(wd, sizeof wd, "%s/%s", cfg->home, workdir);
	if (!realpath(wd, resolved) || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "workdir does not exist or is not a directory");
		return KC_ERR_INVALID;
	}
	if (!kc_utf8_valid(resolved, strlen(resolved))) {
		snprintf(err, errlen, "workdir is not valid UTF-8");
		return KC_ERR_INVALID;
	}
	if (kc_input_check_path("workdir", resolved, err, errlen) != 0) {
		snprintf(err, errlen, "workdir: resolves to a path with a control byte or a trailing ';'");
		return KC_ERR_INVALID;
	}

	pthread_mutex_lock(&m->mu);
	if (n_running(m) + m->reserved >= (size_t)cfg->max_running_tasks) {
		pthread_mutex_unlock(&m->mu);
		snprintf(err, errlen, "too many running tasks (the limit is %ld)", cfg->max_running_tasks);
		return KC_ERR_LIMIT;
	}
	m->reserved++;
	pthread_mutex_unlock(&m->mu);

	if (!(e = calloc(1, sizeof *e))) {
		rc = KC_ERR_NOMEM;
		goto fail;
	}
	t = &e->t;
	e->agent_idx = agent_index(cfg, a->name);
	t->prompt = strdup(prompt);
	t->workdir = strdup(resolved);
	t->agent = strdup(a->name);
	if (!t->prompt || !t->workdir || !t->agent) {
		rc = KC_ERR_NOMEM;
		goto fail;
	}
	t->status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	t->activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_STARTING;
	uuid4(t->session_id);
	for (int tries = 0;; tries++) {
		char hex[9];
		t->created_at = now_s();
		random_hex(hex, 4);
		snprintf(t->task_id, sizeof t->task_id, "%lld-%s", (long long)t->created_at, hex);
		rc = kc_store_create(cfg->tasks_dir, t);
		if (rc != KC_ERR_EXISTS || tries > 8)
			break;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot save the task");
		kc_log(KC_LOG_ERROR, "cannot save task", "task_id", t->task_id, "error", kc_strerror(rc), NULL);
		rc = KC_ERR_IO;
		goto fail;
	}
	e->start_ms = mono_ms();
	e->starting = true;
	e->version = 1;
	/* Before the session exists, so no byte of the agent's is missed. */
	watch_log(m, e);
	if ((rc = start_session(m, t, a)) != 0) {
		t->status = KC__V1__TASK_STATUS__TASK_STATUS_ERROR;
		t->error = strdup("could not start the agent's tmux session");
		t->finished_at = now_s();
		t->activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
		e->starting = false;
		unwatch_log(m, e);
		kc_log(KC_LOG_ERROR, "tmux new-session failed", "task_id", t->task_id, "error", kc_strerror(rc), NULL);
		kc_store_save(cfg->tasks_dir, t);
	}
	pthread_mutex_lock(&m->mu);
	m->reserved--;
	if (grow(m) != 0) {
		unwatch_log(m, e);
		pthread_mutex_unlock(&m->mu);
		kill_session(m, t->task_id);
		kc_task_release(t);
		free(e);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	insert(m, e, m->n == 0 || cmp_entry(m->by_time[m->n - 1], e) < 0);
	*out = task_pb(e);
	cut_prompt(e);
	pthread_mutex_unlock(&m->mu);
	wake(m);
	kc_log(KC_LOG_INFO, "task created", "task_id", t->task_id, "agent", a->name, "workdir", t->workdir, NULL);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	return 0;
fail:
	pthread_mutex_lock(&m->mu);
	m->reserved--;
	pthread_mutex_unlock(&m->mu);
	if (e) {
		kc_task_release(&e->t);
		free(e);
	}
	if (rc == KC_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int kc_page_token_decode(const char *token, char id[KC_TASK_ID_MAX])
{
	if (!token || strncmp(token, KC_PAGE_TOKEN_PREFIX, KC_PAGE_TOKEN_PREFIX_LEN) != 0 ||
	    !kc_task_id_valid(token + KC_PAGE_TOKEN_PREFIX_LEN))
		return KC_ERR_INVALID;
	snprintf(id, KC_TASK_ID_MAX, "%s", token + KC_PAGE_TOKEN_PREFIX_LEN);
	return 0;
}

/*
 * ListTasks' answer is written straight from the index in protobuf's wire
 * format: the bytes protobuf_c_message_pack() gives for the
 * ListTasksResponse that summary messages built from these entries would
 * make (proto3: fields holding zero or "" are left out; fields in number
 * order). Building that message costs four allocations per task and a
 * pack through protobuf-c's descriptors, which was most of a 100-task
 * list's CPU; this costs a walk over the entries and a copy of each id and
 * prompt head. tasks_list_test checks the bytes against protobuf-c's,
 * field for field, across statuses, paging and filters.
 *
 * Why not keep each task's summary packed in its entry, to copy instead
 * of write: tried, and measured with bench/server list_bench (100 tasks:
 * 2.0 us a list instead of 3.9 us; the whole rpc costs ~45 us), it would
 * cost the index ~180 bytes per task (+1.8 MiB at 10,000 tasks, a third
 * of that store's private memory) and a rebuild whenever a summary field
 * changes (status, status_detail, finished_at: finish(), the supervisor's
 * activity checks, prompt delivery, SendMessage). Written from the entry
 * under mu, the answer cannot be stale.
 */
#define WIRE_VARINT 0
#define WIRE_FIXED64 1
#define WIRE_LEN 2
#define TAG(field, type) ((uint8_t)((field) << 3 | (type)))

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* int32 and enum values: a negative one is sign-extended to 10 bytes. */
static uint64_t int32_wire(int32_t v)
{
	return (uint64_t)(int64_t)v;
}

static uint8_t *put_double(uint8_t *p, double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	b = htole64(b); /* little-endian on the wire */
	memcpy(p, &b, sizeof b);
	return p + sizeof b;
}

/* Not inlined: GCC expands a copy from the entry's 32-byte id array into
 * `rep movsq`, whose start-up cost made that copy 40 % of a list
 * (list_bench); the library's memcpy is cheap for a few bytes. */
__attribute__((noinline)) static uint8_t *put_bytes(uint8_t *p, uint8_t tag, const void *s, size_t len)
{
	*p++ = tag;
	p = put_varint(p, len);
	memcpy(p, s, len);
	return p + len;
}

static Kc__V1__TaskActivity summary_detail(const kc_task *t)
{
	return t->status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING ? t->activity
								     : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
}

/* Size of the entry's TaskSummary: task_id 1, prompt 2 (the head the
 * index keeps), status 3, created_at 4, status_detail 5, finished_at 6
 * (a DoubleValue, present when finished). Call with mu held. */
static size_t summary_size(const struct entry *e)
{
	const kc_task *t = &e->t;
	size_t n = 0;
	Kc__V1__TaskActivity detail = summary_detail(t);
	if (e->id_len)
		n += 1 + varint_len(e->id_len) + e->id_len;
	if (e->prompt_len)
		n += 1 + varint_len(e->prompt_len) + e->prompt_len;
	if (t->status)
		n += 1 + varint_len(int32_wire(t->status));
	if (t->created_at != 0)
		n += 1 + 8;
	if (detail)
		n += 1 + varint_len(int32_wire(detail));
	if (t->finished_at > 0)
		n += 2 + 1 + 8; /* tag, length 9, DoubleValue.value */
	return n;
}

static uint8_t *put_summary(uint8_t *p, const struct entry *e, size_t size)
{
	const kc_task *t = &e->t;
	Kc__V1__TaskActivity detail = summary_detail(t);
	*p++ = TAG(1, WIRE_LEN); /* ListTasksResponse.tasks */
	p = put_varint(p, size);
	if (e->id_len)
		p = put_bytes(p, TAG(1, WIRE_LEN), t->task_id, e->id_len);
	if (e->prompt_len)
		p = put_bytes(p, TAG(2, WIRE_LEN), t->prompt, e->prompt_len);
	if (t->status) {
		*p++ = TAG(3, WIRE_VARINT);
		p = put_varint(p, int32_wire(t->status));
	}
	if (t->created_at != 0) {
		*p++ = TAG(4, WIRE_FIXED64);
		p = put_double(p, t->created_at);
	}
	if (detail) {
		*p++ = TAG(5, WIRE_VARINT);
		p = put_varint(p, int32_wire(detail));
	}
	if (t->finished_at > 0) {
		*p++ = TAG(6, WIRE_LEN);
		*p++ = 9;
		*p++ = TAG(1, WIRE_FIXED64);
		p = put_double(p, t->finished_at);
	}
	return p;
}

int kc_tasks_list_packed(kc_tasks *m, int32_t page_size, const char *page_token, Kc__V1__TaskStatus filter,
			 kc_list_alloc alloc, void *ud, char *err, size_t errlen)
{
	size_t start, total, cap, len = 0, count = 0, toklen = 0;
	const struct entry *last = NULL;
	bool more = false;
	char after[KC_TASK_ID_MAX] = "";
	uint8_t *buf, *p;

	if (page_size < 0) {
		snprintf(err, errlen, "page_size must not be negative");
		return KC_ERR_INVALID;
	}
	if ((int)filter < 0 || (int)filter >= N_STATUS) {
		snprintf(err, errlen, "unknown status filter");
		return KC_ERR_INVALID;
	}
	if (page_token && *page_token && kc_page_token_decode(page_token, after) != 0) {
		snprintf(err, errlen, "invalid page_token");
		return KC_ERR_INVALID;
	}

	pthread_mutex_lock(&m->mu);
	start = m->n; /* exclusive upper bound, walking towards older tasks */
	if (*after) {
		struct entry *e = find(m, after);
		if (!e) {
			pthread_mutex_unlock(&m->mu);
			snprintf(err, errlen, "invalid page_token");
			return KC_ERR_INVALID;
		}
		start = position(m, e);
	}
	total = filter ? m->n_status[filter] : m->n;
	cap = page_size == 0 ? total : (size_t)page_size > LIST_MAX ? LIST_MAX : (size_t)page_size;
	/* Which tasks, newest first, and the answer's size... */
	for (size_t i = start; i > 0; i--) {
		const struct entry *e = m->by_time[i - 1];
		size_t size;
		if (filter && e->t.status != filter)
			continue;
		if (count == cap) {
			/* One more matches: there is a next page. */
			more = count > 0;
			break;
		}
		size = summary_size(e);
		len += 1 + varint_len(size) + size;
		count++;
		last = e;
	}
	if (more) {
		toklen = KC_PAGE_TOKEN_PREFIX_LEN + (size_t)last->id_len;
		len += 1 + varint_len(toklen) + toklen;
	}
	if ((int32_t)total)
		len += 1 + varint_len(int32_wire((int32_t)total));
	/* ...then the same tasks again, written. */
	if (!(buf = alloc(ud, len))) {
		pthread_mutex_unlock(&m->mu);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	p = buf;
	for (size_t i = start, n = 0; n < count; i--) {
		const struct entry *e = m->by_time[i - 1];
		if (filter && e->t.status != filter)
			continue;
		p = put_summary(p, e, summary_size(e));
		n++;
	}
	if (more) {
		*p++ = TAG(2, WIRE_LEN);
		p = put_varint(p, toklen);
		memcpy(p, KC_PAGE_TOKEN_PREFIX, KC_PAGE_TOKEN_PREFIX_LEN);
		memcpy(p + KC_PAGE_TOKEN_PREFIX_LEN, last->t.task_id, last->id_len);
		p += toklen;
	}
	if ((int32_t)total) {
		*p++ = TAG(3, WIRE_VARINT);
		p = put_varint(p, int32_wire((int32_t)total));
	}
	pthread_mutex_unlock(&m->mu);
	if (p != buf + len) {
		/* summary_size and put_summary disagree: a bug, never a torn answer. */
		kc_log(KC_LOG_ERROR, "ListTasks answer has the wrong size", NULL);
		snprintf(err, errlen, "internal error");
		return KC_ERR_INTERNAL;
	}
	return 0;
}

/* The last `lines` lines of `s` (after dropping trailing blank lines). */
static const char *last_lines(char *s, size_t *len, long lines)
{
	size_t n = *len;
	size_t i;
	long seen = 0;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	s[n] = '\0';
	if (lines <= 0) {
		*len = n;
		return s;
	}
	for (i = n; i > 0; i--) {
		if (s[i - 1] == '\n' && ++seen == lines)
			break;
	}
	*len = n - i;
	return s + i;
}

int kc_tasks_get(kc_tasks *m, const char *id, Kc__V1__Task **out, char *err, size_t errlen)
{
	struct entry *e;
	bool running;
	char *pane = NULL;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	running = rc == 0 && e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (running)
		pane = capture(m, id, "-50", &len);
	*out = task_pb_full(m, e);
	if (!*out) {
		free(pane);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	if (pane) {
		const char *tail = last_lines(pane, &len, 50);
		char *clean = kc_utf8_sanitize_chunk(tail, len, false, NULL);
		if (clean) {
			free((*out)->recent_output);
			(*out)->recent_output = clean;
		}
		free(pane);
	}
	return 0;
}

int kc_tasks_output(kc_tasks *m, const char *id, int32_t tail, char **out, size_t *len, char *err, size_t errlen)
{
	struct entry *e;
	bool running;
	char *buf = NULL;
	size_t n = 0;
	int rc;

	if (tail < 0) {
		snprintf(err, errlen, "tail must not be negative");
		return KC_ERR_INVALID;
	}
	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	running = rc == 0 && e->t.status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (running)
		buf = capture(m, id, "-", &n);
	if (!buf) {
		/* Ended (or the pane vanished just now): the saved log, at most
		 * its last OUTPUT_CAP bytes. */
		char path[4200];
		int fd;
		struct stat st;
		snprintf(path, sizeof path, "%s/%s/output.log", m->cfg->tasks_dir, id);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0) {
			off_t from = st.st_size > (off_t)OUTPUT_CAP ? st.st_size - (off_t)OUTPUT_CAP : 0;
			size_t want = (size_t)(st.st_size - from);
			if ((buf = malloc(want + 1)) != NULL) {
				ssize_t r = pread(fd, buf, want, from);
				n = r > 0 ? (size_t)r : 0;
				buf[n] = '\0';
			}
		}
		if (fd >= 0)
			close(fd);
		if (!buf && (buf = strdup("")) == NULL)
			return KC_ERR_NOMEM;
	}
	if (tail > 0) {
		const char *t = last_lines(buf, &n, tail);
		memmove(buf, t, n);
		buf[n] = '\0';
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Appends a followup; call with mu held. sent_at 0 means queued. */
static int add_followup(struct entry *e, const char *prompt, double sent_at)
{
	kc_followup *nf = realloc(e->t.followups, (e->t.n_followups + 1) * sizeof *nf);
	if (!nf)
		return KC_ERR_NOMEM;
	e->t.followups = nf;
	if (!(nf[e->t.n_followups].prompt = strdup(prompt)))
		return KC_ERR_NOMEM;
	nf[e->t.n_followups].sent_at = sent_at;
	e->t.n_followups++;
	e->version++;
	return 0;
}

int kc_tasks_send(kc_tasks *m, const char *id, const char *prompt, Kc__V1__Task **out, char *err, size_t errlen)
{
	struct entry *e;
	int rc;
	bool queued = false;

	if ((rc = check_prompt(prompt, m->cfg->max_prompt_bytes, err, errlen)) != 0)
		return rc;
	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	if (rc == 0 && e->t.status != KC__V1__TASK_STATUS__TASK_STATUS_RUNNING) {
		snprintf(err, errlen, "Session is no longer running");
		rc = KC_ERR_PRECONDITION;
	}
	/* Before the prompt was delivered (or while earlier queued messages
	 * still wait) the message joins the queue, so the agent gets the
	 * prompt first and the messages in the order they were sent. */
	if (rc == 0 && (e->starting || e->has_queued)) {
		size_t waiting = 0;
		for (size_t i = 0; i < e->t.n_followups; i++)
			waiting += e->t.followups[i].sent_at <= 0;
		if (waiting >= QUEUED_MAX) {
			snprintf(err, errlen, "too many messages wait for the agent to become ready (the limit is %d)",
				 QUEUED_MAX);
			rc = KC_ERR_LIMIT;
		} else if ((rc = add_followup(e, prompt, 0)) == 0) {
			e->has_queued = true;
			queued = true;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == KC_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc != 0)
		return rc;
	if (queued) {
		persist(m, e);
		wake(m);
		kc_log(KC_LOG_INFO, "follow-up queued until the prompt is delivered", "task_id", id, NULL);
	} else {
		if ((rc = paste(m, id, prompt, strlen(prompt))) != 0) {
			/* The session went away between the check and the paste. */
			snprintf(err, errlen, "Session is no longer running");
			return KC_ERR_PRECONDITION;
		}
		pthread_mutex_lock(&m->mu);
		add_followup(e, prompt, now_s());
		e->t.activity = KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WORKING;
		e->last_change_ms = mono_ms();
		pthread_mutex_unlock(&m->mu);
		persist(m, e);
		kc_log(KC_LOG_INFO, "follow-up sent", "task_id", id, NULL);
	}
	*out = task_pb_full(m, e);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	return 0;
}

int kc_tasks_kill(kc_tasks *m, const char *id, Kc__V1__KillTaskResponse **out, char *err, size_t errlen)
{
	struct entry *e;
	Kc__V1__KillTaskResponse *r;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (!(r = malloc(sizeof *r)))
		return KC_ERR_NOMEM;
	kill_session(m, id);
	pthread_mutex_lock(&m->mu);
	finish(m, e, KC__V1__TASK_STATUS__TASK_STATUS_KILLED, NULL);
	kc__v1__kill_task_response__init(r);
	r->task_id = strdup(id);
	r->status = KC__V1__TASK_STATUS__TASK_STATUS_KILLED;
	r->killed_at = e->t.killed_at;
	pthread_mutex_unlock(&m->mu);
	persist(m, e);
	kc_log(KC_LOG_INFO, "task killed", "task_id", id, NULL);
	if (!r->task_id) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return KC_ERR_NOMEM;
	}
	*out = r;
	return 0;
}

int kc_tasks_prepare_terminal(kc_tasks *m, const char *id, Kc__V1__PrepareTerminalResponse **out, char *err,
			      size_t errlen)
{
	struct entry *e;
	Kc__V1__PrepareTerminalResponse *r;
	char name[64], line[80];
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	session_name(id, name, sizeof name, false);
	snprintf(line, sizeof line, "%s\n", name);
	if ((rc = kc_write_file_atomic(m->cfg->terminal_marker, line, strlen(line), 0600)) != 0) {
		snprintf(err, errlen, "cannot write the terminal marker");
		kc_log(KC_LOG_ERROR, "cannot write terminal marker", "path", m->cfg->terminal_marker, NULL);
		return rc;
	}
	if (!(r = malloc(sizeof *r)))
		return KC_ERR_NOMEM;
	kc__v1__prepare_terminal_response__init(r);
	r->ok = true;
	if (!(r->session = strdup(name))) {
		free(r);
		return KC_ERR_NOMEM;
	}
	*out = r;
	return 0;
}

int64_t kc_tasks_watch(kc_tasks *m, const char *id, bool include_output, kc_task_sink sink, void *ud, char *err,
		       size_t errlen)
{
	return kc_tasks_watch2(m, id, include_output, sink, NULL, ud, err, errlen);
}

int64_t kc_tasks_watch2(kc_tasks *m, const char *id, bool include_output, kc_task_sink sink,
			kc_task_backlog backlog, void *ud, char *err, size_t errlen)
{
	struct entry *e;
	struct watcher *w;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = lookup(m, id, &e, err, errlen);
	pthread_mutex_unlock(&m->mu);
	if (rc != 0)
		return rc;
	if (!(w = calloc(1, sizeof *w)))
		return KC_ERR_NOMEM;
	w->e = e;
	w->include_output = include_output;
	w->sink = sink;
	w->backlog = backlog;
	w->ud = ud;
	pthread_mutex_lock(&m->wmu);
	/* Keep the id: once wmu is released the supervisor may end the
	 * watch (the task may already be over) and free w. */
	int64_t watch_id = w->id = m->next_wid++;
	w->next = m->watchers;
	m->watchers = w;
	pthread_mutex_unlock(&m->wmu);
	wake(m);
	return watch_id;
}

bool kc_tasks_unwatch(kc_tasks *m, int64_t watch_id)
{
	struct watcher **pw;
	bool found = false;
	pthread_mutex_lock(&m->wmu);
	for (pw = &m->watchers; *pw; pw = &(*pw)->next) {
		if ((*pw)->id == watch_id) {
			struct watcher *w = *pw;
			*pw = w->next;
			free(w);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&m->wmu);
	return found;
}

