/*
 * tasks_int.h - what the task manager's files (tasks.c, task_index.c,
 * tmux.c, task_pb.c, task_supervisor.c, task_watch.c, task_list.c) share:
 * the index entry, the watcher, the manager, and the contract below.
 * Internal to the task manager; nothing else includes it.
 *
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
#ifndef KC_SERVER_TASKS_INT_H
#define KC_SERVER_TASKS_INT_H

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
	/* "<pid> <start_time>" of the tmux server the last reconciliation
	 * saw while tasks ran on it (empty: none yet, or nothing was left
	 * running): a different one means the agent host restarted and took
	 * its sessions along. The supervisor's (and kc_tasks_open's). */
	char host_id[48];
	bool stop;
	bool thread_started;
	pthread_t thread;

	pthread_mutex_t wmu;
	struct watcher *watchers;
	int64_t next_wid;
};

/* task_index.c */
long long kc_task_mono_ms(void);
double kc_task_now_s(void);
uint64_t kc_task_hash_id(const char *s);
struct entry *kc_task_find(kc_tasks *m, const char *id);
int kc_task_cmp_entry(const struct entry *a, const struct entry *b);
int kc_task_cmp_entry_p(const void *a, const void *b);
size_t kc_task_status_slot(Kc__V1__TaskStatus s);
size_t kc_task_n_running(const kc_tasks *m);
int kc_task_grow(kc_tasks *m);
void kc_task_insert(kc_tasks *m, struct entry *e, bool sorted_append);
size_t kc_task_position(kc_tasks *m, const struct entry *e);
int kc_task_agent_index(const kc_config *cfg, const char *name);

/* tmux.c */
int kc_task_tmux(const kc_tasks *m, const char *const *args, const char *input, size_t input_len, size_t out_cap,
		kc_spawn_result *res);
void kc_task_session_name(const char *id, char *buf, size_t len, bool as_target);
char *kc_task_capture(const kc_tasks *m, const char *id, const char *start, size_t *len);
bool kc_task_pane_ready(kc_tasks *m, int agent_idx, const char *pane);
int kc_task_start_session(kc_tasks *m, const kc_task *t, const kc_agent_config *a);
int kc_task_paste(const kc_tasks *m, const char *id, const char *text, size_t len);
void kc_task_kill_session(const kc_tasks *m, const char *id);
int kc_task_host_check(const kc_tasks *m, char *err, size_t errlen);
#define KC_HOST_LINE "kc-host "
int kc_task_list_sessions(const kc_tasks *m, kc_spawn_result *res);

/* task_pb.c */
Kc__V1__Task *kc_task_task_pb(const struct entry *e);

/* tasks.c */
int kc_task_lookup(kc_tasks *m, const char *id, struct entry **out, char *err, size_t errlen);
void kc_task_unwatch_log(kc_tasks *m, struct entry *e);
void kc_task_finish(kc_tasks *m, struct entry *e, Kc__V1__TaskStatus status, const char *error);
void kc_task_wake(kc_tasks *m);
void kc_task_watch_log(kc_tasks *m, struct entry *e);
Kc__V1__Task *kc_task_task_pb_full(kc_tasks *m, struct entry *e);
void kc_task_persist(kc_tasks *m, struct entry *e);

/* task_supervisor.c */
void kc_task_reconcile(kc_tasks *m, bool at_start);
void *kc_task_supervisor(void *arg);

/* task_watch.c */
void kc_task_check_watchers(kc_tasks *m);

#endif /* KC_SERVER_TASKS_INT_H */
