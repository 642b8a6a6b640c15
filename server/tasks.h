/*
 * tasks.h - the task manager: agents in tmux sessions, an in-memory index
 * of every task, and the supervisor that delivers prompts, tracks activity
 * and notices ended sessions.
 *
 * Every public function is thread-safe. Errors are kc_error codes with a
 * user-facing message written into `err` (it becomes the gRPC status
 * message and, through kc-gateway, the REST {"error": ...}).
 */
#ifndef KC_SERVER_TASKS_H
#define KC_SERVER_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kc/v1/task.pb-c.h"
#include "server/config.h"
#include "server/store.h"

typedef struct kc_tasks kc_tasks;

/* Loads every task under cfg->tasks_dir, re-adopts tmux sessions that are
 * still alive and marks the rest of the "running" tasks completed. `cfg`
 * must outlive the manager. Returns 0 or a kc_error; *out untouched on
 * failure. */
int kc_tasks_new(const kc_config *cfg, kc_tasks **out, char *err, size_t errlen);

/* Starts the supervisor thread. */
int kc_tasks_start(kc_tasks *m);

/* Stops the supervisor and frees everything. Sessions keep running (they
 * are re-adopted at the next start). NULL is a no-op. */
void kc_tasks_free(kc_tasks *m);

/* Number of tasks in the index. */
size_t kc_tasks_count(kc_tasks *m);

/* Each of these fills a heap-allocated protobuf message that the caller
 * frees with protobuf_c_message_free_unpacked(msg, NULL). */
int kc_tasks_create(kc_tasks *m, const char *prompt, const char *workdir, const char *agent, Kc__V1__Task **out,
                    char *err, size_t errlen);
/* A buffer of `len` bytes for an answer, or NULL when out of memory. */
typedef uint8_t *(*kc_list_alloc)(void *ud, size_t len);

/* ListTasks (newest first; page_size 0 lists every task, at most 1000
 * otherwise; `filter` 0 for every status): writes into one buffer from
 * alloc(ud, len), called once with the index locked, exactly the bytes
 * protobuf_c_message_pack() would write for the Kc__V1__ListTasksResponse
 * of the page (the tasks' TaskSummary, next_page_token, total_size). The
 * buffer is the caller's, also on failure. */
int kc_tasks_list_packed(kc_tasks *m, int32_t page_size, const char *page_token, Kc__V1__TaskStatus filter,
                         kc_list_alloc alloc, void *ud, char *err, size_t errlen);
int kc_tasks_get(kc_tasks *m, const char *id, Kc__V1__Task **out, char *err, size_t errlen);
/* Output as bytes (malloc'd, *len bytes, NUL-terminated). */
int kc_tasks_output(kc_tasks *m, const char *id, int32_t tail, char **out, size_t *len, char *err, size_t errlen);
int kc_tasks_send(kc_tasks *m, const char *id, const char *prompt, Kc__V1__Task **out, char *err, size_t errlen);
int kc_tasks_kill(kc_tasks *m, const char *id, Kc__V1__KillTaskResponse **out, char *err, size_t errlen);
int kc_tasks_prepare_terminal(kc_tasks *m, const char *id, Kc__V1__PrepareTerminalResponse **out, char *err,
                              size_t errlen);

/* A watcher receives events from the supervisor thread. `ev` is only valid
 * during the call; `last` is true on the final event (the task ended, or
 * the manager is shutting down with `ev` NULL). After `last` no further
 * call is made. The sink must not call back into the manager. */
typedef void (*kc_task_sink)(void *ud, const Kc__V1__TaskEvent *ev, bool last);

/* How many bytes the watcher's reader has yet to take (see
 * kc_rpc_stream_backlog); called from the supervisor thread like the sink. */
typedef size_t (*kc_task_backlog)(void *ud);

/* Registers a watcher; the first event (the task as it is) comes from the
 * supervisor shortly. Returns a positive watcher id, or a kc_error. With
 * flow control: output is read from the log only while
 * backlog(ud) is under 1 MiB, so a slow reader is never cut off and never
 * makes memory grow, and every byte of the log reaches it, in order and
 * without gaps (each chunk's offset is where the previous one ended),
 * before the final event of an ended task. `backlog` NULL: no limit. */
int64_t kc_tasks_watch2(kc_tasks *m, const char *id, bool include_output, kc_task_sink sink, kc_task_backlog backlog,
                        void *ud, char *err, size_t errlen);
/* Removes a watcher. When this returns, its sink is not running and will
 * not be called again. Unknown ids are ignored. */
bool kc_tasks_unwatch(kc_tasks *m, int64_t watch_id);

/* Page tokens: "t1.<task_id>", the last task of the previous page
 * (written by kc_tasks_list_packed). Decode returns 0 and copies the id,
 * or KC_ERR_INVALID. */
#define KC_PAGE_TOKEN_PREFIX "t1."
#define KC_PAGE_TOKEN_PREFIX_LEN (sizeof KC_PAGE_TOKEN_PREFIX - 1)
int kc_page_token_decode(const char *token, char id[KC_TASK_ID_MAX]);

#endif /* KC_SERVER_TASKS_H */
