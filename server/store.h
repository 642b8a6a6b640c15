/*
 * store.h - tasks on disk and their in-memory form.
 *
 * Layout (the seed's): <tasks_dir>/<task_id>/task.json, prompt.txt and
 * output.log. task.json holds the REST task object's fields with the same
 * names and values, so the seed's files load and ours stay readable by
 * anything written against the seed. Every write is atomic: a temporary
 * file in the same directory, fsync, rename over the old file, fsync of the
 * directory — a crash leaves the old file or the new one, never a torn one.
 */
#ifndef KC_SERVER_STORE_H
#define KC_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/task_id.h"
#include "kc/v1/task.pb-c.h"

/* The most of a task.json anything reads (loading, the whole prompt of a
 * task whose index keeps its head). A prompt is at most 64 MiB
 * (limits.max_prompt_bytes' bound), and JSON escaping and follow-ups add
 * to it: every task.json a save can write must read back. */
#define KC_TASK_JSON_MAX (128u * 1024 * 1024)

typedef struct kc_followup {
	char *prompt;
	double sent_at;
} kc_followup;

/* A task record. Times are float Unix seconds; 0 means absent. */
typedef struct kc_task {
	char task_id[KC_TASK_ID_MAX];
	char session_id[40];
	char *prompt;
	char *workdir;
	char *agent;
	char *error; /* NULL unless status is error */
	Kc__V1__TaskStatus status;
	Kc__V1__TaskActivity activity;
	double created_at;
	double finished_at;
	double killed_at;
	double prompt_delivered_at;
	kc_followup *followups;
	size_t n_followups;
} kc_task;

/* Serializes to a JSON object (the task.json form). Returns a malloc'd
 * NUL-terminated string or NULL when out of memory. */
char *kc_task_to_json(const kc_task *t);

/* Parses task.json text. Returns 0 and fills *t (release with
 * kc_task_release), KC_ERR_INVALID for anything that is not a task object
 * with a valid task_id, KC_ERR_NOMEM. On failure *t holds nothing. */
int kc_task_from_json(const char *buf, size_t len, kc_task *t);

/* Frees what the task owns (not the struct). */
void kc_task_release(kc_task *t);

/* Deep copy. Returns 0 or KC_ERR_NOMEM (then *dst holds nothing). */
int kc_task_copy(kc_task *dst, const kc_task *src);

/* The status string ("running"...) and back; KC__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED
 * for unknown strings. */
const char *kc_task_status_name(Kc__V1__TaskStatus s);
Kc__V1__TaskStatus kc_task_status_parse(const char *s);

/* True when `name` is what kc_write_file_atomic names the temporary file
 * of `base`: base + ".tmp." + 1 to 10 digits (the writer's thread id). */
bool kc_store_is_temp_of(const char *name, const char *base);

/* Writes `len` bytes to `path` atomically (see above) with `mode`.
 * Returns 0 or KC_ERR_IO. */
int kc_write_file_atomic(const char *path, const void *data, size_t len, int mode);

/* Creates <tasks_dir>/<id>/ (and syncs tasks_dir, so the directory's entry
 * is durable), then writes prompt.txt and task.json, task.json last. */
int kc_store_create(const char *tasks_dir, const kc_task *t);

/* Undoes kc_store_create() of a task that was never acknowledged: its
 * files and its directory. A missing directory is success. Returns 0,
 * KC_ERR_INVALID (id), KC_ERR_IO. */
int kc_store_remove(const char *tasks_dir, const char *id);

/* Rewrites <tasks_dir>/<id>/task.json. */
int kc_store_save(const char *tasks_dir, const kc_task *t);

/* Calls `cb` for every task directory under tasks_dir whose task.json
 * parses; the callback takes ownership of the task (must release it).
 * Unparsable entries are logged and skipped. Returns 0 or KC_ERR_IO when
 * the directory cannot be read (a missing directory is created, 0700).
 *
 * It also removes what a crash left behind, logging each removal: our
 * temporary files (kc_store_is_temp_of: task.json's and prompt.txt's in
 * task directories, .api-token's and .terminal-session's in tasks_dir),
 * and task directories (named by a valid id, not symlinks) that never got
 * a task.json, when they hold nothing but prompt.txt, output.log and
 * temporary files. Only the store's owner may call it: main.c holds the
 * home's lock (lock.h) first. */
int kc_store_load(const char *tasks_dir, void (*cb)(kc_task *t, void *ud), void *ud);

#endif /* KC_SERVER_STORE_H */
