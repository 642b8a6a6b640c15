/* store.c - see store.h. */
#include "server/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"

/* kc_write_file_atomic's temporary name is "<name>" TEMP_INFIX "<tid>";
 * loading removes the ones a crash left (kc_store_is_temp_of). */
#define TEMP_INFIX ".tmp."

static const char *const status_names[] = {"", "running", "completed", "error", "killed"};

const char *kc_task_status_name(Kc__V1__TaskStatus s)
{
	if ((int)s < 1 || (int)s > 4)
		return "";
	return status_names[s];
}

Kc__V1__TaskStatus kc_task_status_parse(const char *s)
{
	for (int i = 1; s && i <= 4; i++)
		if (strcmp(s, status_names[i]) == 0)
			return (Kc__V1__TaskStatus)i;
	return KC__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;
}

char *kc_task_to_json(const kc_task *t)
{
	json_t *o = json_object(), *fu = json_array();
	char session[64];
	char *s = NULL;

	if (!o || !fu)
		goto out;
	snprintf(session, sizeof session, "claude-%s", t->task_id);
	json_object_set_new(o, "task_id", json_string(t->task_id));
	json_object_set_new(o, "session_id", json_string(t->session_id));
	json_object_set_new(o, "prompt", json_string(t->prompt ? t->prompt : ""));
	json_object_set_new(o, "workdir", json_string(t->workdir ? t->workdir : ""));
	json_object_set_new(o, "status", json_string(kc_task_status_name(t->status)));
	json_object_set_new(o, "created_at", json_real(t->created_at));
	if (t->finished_at > 0)
		json_object_set_new(o, "finished_at", json_real(t->finished_at));
	if (t->killed_at > 0)
		json_object_set_new(o, "killed_at", json_real(t->killed_at));
	json_object_set_new(o, "tmux_session", json_string(session));
	if (t->error)
		json_object_set_new(o, "error", json_string(t->error));
	if (t->agent)
		json_object_set_new(o, "agent", json_string(t->agent));
	if (t->prompt_delivered_at > 0)
		json_object_set_new(o, "prompt_delivered_at", json_real(t->prompt_delivered_at));
	for (size_t i = 0; i < t->n_followups; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "prompt", json_string(t->followups[i].prompt));
		json_object_set_new(f, "sent_at", json_real(t->followups[i].sent_at));
		json_array_append_new(fu, f);
	}
	json_object_set(o, "followups", fu);
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(fu);
	json_decref(o);
	return s;
}

static int dup_field(json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return KC_ERR_INVALID;
	if (!(*dst = strdup(json_string_value(v))))
		return KC_ERR_NOMEM;
	return 0;
}

static int num_field(json_t *o, const char *key, double *dst)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return KC_ERR_INVALID;
	*dst = json_number_value(v);
	if (!(*dst >= 0 && *dst < 1e11))
		return KC_ERR_INVALID;
	return 0;
}

int kc_task_from_json(const char *buf, size_t len, kc_task *out)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v;
	kc_task t;
	int rc = KC_ERR_INVALID;

	memset(&t, 0, sizeof t);
	if (!o || !json_is_object(o))
		goto out;
	v = json_object_get(o, "task_id");
	if (!json_is_string(v) || !kc_task_id_valid(json_string_value(v)))
		goto out;
	snprintf(t.task_id, sizeof t.task_id, "%s", json_string_value(v));
	v = json_object_get(o, "session_id");
	if (json_is_string(v) && strlen(json_string_value(v)) < sizeof t.session_id)
		snprintf(t.session_id, sizeof t.session_id, "%s", json_string_value(v));
	v = json_object_get(o, "status");
	if (!json_is_string(v) ||
	    (t.status = kc_task_status_parse(json_string_value(v))) == KC__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED)
		goto out;
	if ((rc = dup_field(o, "prompt", &t.prompt)) != 0 || (rc = dup_field(o, "workdir", &t.workdir)) != 0 ||
	    (rc = dup_field(o, "agent", &t.agent)) != 0 || (rc = dup_field(o, "error", &t.error)) != 0 ||
	    (rc = num_field(o, "created_at", &t.created_at)) != 0 ||
	    (rc = num_field(o, "finished_at", &t.finished_at)) != 0 ||
	    (rc = num_field(o, "killed_at", &t.killed_at)) != 0 ||
	    (rc = num_field(o, "prompt_delivered_at", &t.prompt_delivered_at)) != 0)
		goto out;
	rc = KC_ERR_INVALID;
	if (!t.prompt && !(t.prompt = strdup("")))
		goto nomem;
	if (!t.workdir && !(t.workdir = strdup("")))
		goto nomem;
	v = json_object_get(o, "followups");
	if (v && !json_is_null(v)) {
		size_t n;
		if (!json_is_array(v))
			goto out;
		n = json_array_size(v);
		if (n) {
			if (!(t.followups = calloc(n, sizeof *t.followups)))
				goto nomem;
			for (size_t i = 0; i < n; i++) {
				json_t *f = json_array_get(v, i);
				json_t *p = json_object_get(f, "prompt");
				json_t *at = json_object_get(f, "sent_at");
				if (!json_is_object(f) || !json_is_string(p))
					goto out;
				if (!(t.followups[i].prompt = strdup(json_string_value(p))))
					goto nomem;
				t.n_followups = i + 1;
				t.followups[i].sent_at = json_is_number(at) ? json_number_value(at) : 0;
			}
		}
	}
	json_decref(o);
	*out = t;
	return 0;
nomem:
	rc = KC_ERR_NOMEM;
out:
	json_decref(o);
	kc_task_release(&t);
	return rc;
}

void kc_task_release(kc_task *t)
{
	free(t->prompt);
	free(t->workdir);
	free(t->agent);
	free(t->error);
	for (size_t i = 0; i < t->n_followups; i++)
		free(t->followups[i].prompt);
	free(t->followups);
	memset(t, 0, sizeof *t);
}

static int sdup(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return KC_ERR_NOMEM;
	return 0;
}

int kc_task_copy(kc_task *dst, const kc_task *src)
{
	*dst = *src;
	dst->prompt = dst->workdir = dst->agent = dst->error = NULL;
	dst->followups = NULL;
	dst->n_followups = 0;
	if (sdup(&dst->prompt, src->prompt) || sdup(&dst->workdir, src->workdir) || sdup(&dst->agent, src->agent) ||
	    sdup(&dst->error, src->error))
		goto nomem;
	if (src->n_followups) {
		if (!(dst->followups = calloc(src->n_followups, sizeof *dst->followups)))
			goto nomem;
		for (size_t i = 0; i < src->n_followups; i++) {
			if (sdup(&dst->followups[i].prompt, src->followups[i].prompt))
				goto nomem;
			dst->followups[i].sent_at = src->followups[i].sent_at;
			dst->n_followups = i + 1;
		}
	}
	return 0;
nomem:
	kc_task_release(dst);
	return KC_ERR_NOMEM;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return KC_ERR_IO;
	if (fsync(fd) != 0)
		rc = KC_ERR_IO;
	close(fd);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;
	if (n == 0)
		n = 1;
	if (n >= sizeof dir)
		return KC_ERR_IO;
	memcpy(dir, slash ? path : ".", n);
	dir[n] = '\0';
	return fsync_dir(dir);
}

int kc_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[4200];
	const char *p = data;
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s" TEMP_INFIX "%ld", path, (long)gettid()) >= (int)sizeof tmp)
		return KC_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return KC_ERR_IO;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return fsync_dir_of(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return KC_ERR_IO;
}

int kc_store_save(const char *tasks_dir, const kc_task *t)
{
	char path[4200];
	char *json;
	int rc;

	if (!kc_task_id_valid(t->task_id))
		return KC_ERR_INVALID;
	if (!(json = kc_task_to_json(t)))
		return KC_ERR_NOMEM;
	snprintf(path, sizeof path, "%s/%s/task.json", tasks_dir, t->task_id);
	rc = kc_write_file_atomic(path, json, strlen(json), 0600);
	free(json);
	return rc;
}

int kc_store_create(const char *tasks_dir, const kc_task *t)
{
	char path[4200];
	int rc;

	if (!kc_task_id_valid(t->task_id))
		return KC_ERR_INVALID;
	snprintf(path, sizeof path, "%s/%s", tasks_dir, t->task_id);
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? KC_ERR_EXISTS : KC_ERR_IO;
	/* The new directory's entry in tasks_dir is durable only once
	 * tasks_dir itself is synced; without it a power cut after the
	 * acknowledgement could lose the whole task, task.json and all. */
	if ((rc = fsync_dir(tasks_dir)) != 0)
		return rc;
	snprintf(path, sizeof path, "%s/%s/prompt.txt", tasks_dir, t->task_id);
	if ((rc = kc_write_file_atomic(path, t->prompt, strlen(t->prompt), 0600)) != 0)
		return rc;
	/* task.json last: a directory without it is a task that was never
	 * acknowledged, and loading skips it. */
	return kc_store_save(tasks_dir, t);
}

/* ---- sweeping what a crash left ------------------------------------------ */

bool kc_store_is_temp_of(const char *name, const char *base)
{
	size_t n = strlen(base), digits = 0;
	if (strncmp(name, base, n) != 0 || strncmp(name + n, TEMP_INFIX, sizeof TEMP_INFIX - 1) != 0)
		return false;
	name += n + sizeof TEMP_INFIX - 1;
	while (name[digits] >= '0' && name[digits] <= '9')
		digits++;
	return digits > 0 && digits <= 10 && name[digits] == '\0';
}

static bool temp_of_any(const char *name, const char *const *bases)
{
	for (size_t i = 0; bases[i]; i++)
		if (kc_store_is_temp_of(name, bases[i]))
			return true;
	return false;
}

/* The files kc-server writes atomically, per directory. */
static const char *const task_temp_bases[] = {"task.json", "prompt.txt", NULL};
static const char *const top_temp_bases[] = {".api-token", ".terminal-session", NULL};

/* Unlinks `name` in dfd (under `dir`, for the log) when it is a regular
 * file; logs the removal. Returns true when it is gone. */
static bool remove_file(int dfd, const char *dir, const char *name, const char *why)
{
	struct stat st;
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (unlinkat(dfd, name, 0) != 0) {
		kc_log(KC_LOG_WARN, "cannot remove a stale file", "path", path, "error", strerror(errno), NULL);
		return false;
	}
	kc_log(KC_LOG_WARN, why, "path", path, NULL);
	return true;
}

/* Removes our temporary files (names in `bases` + TEMP_INFIX + a thread
 * id) in the directory open as fd (`dir` is its path, for the log). With
 * `known`, also checks that every other entry is one of those names.
 * Returns false when an entry is neither (or a temporary file stayed). */
static bool sweep_temps(int fd, const char *dir, const char *const *bases, const char *const *known)
{
	/* A descriptor of its own (not a dup, which would share the caller's
	 * directory offset and end the caller's readdir loop). */
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	bool only_ours = true;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (temp_of_any(e->d_name, bases)) {
			if (!remove_file(fd, dir, e->d_name, "removed a stale temporary file"))
				only_ours = false;
			continue;
		}
		if (known) {
			bool ok = false;
			for (size_t i = 0; known[i] && !ok; i++)
				ok = strcmp(e->d_name, known[i]) == 0;
			if (!ok)
				only_ours = false;
		}
	}
	closedir(d);
	return only_ours;
}

/*
 * A task directory without task.json was never acknowledged: the server
 * died between its mkdir and the rename that published task.json (the
 * file is written last, store.h). It holds at most prompt.txt, output.log
 * and temporary files; anything else means it is not ours to remove, and
 * it stays (logged).
 */
static void remove_unpublished(int dfd, const char *tasks_dir, const char *name, int tfd)
{
	static const char *const known[] = {"prompt.txt", "output.log", NULL};
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/%s", tasks_dir, name);
	if (!sweep_temps(tfd, dir, task_temp_bases, known)) {
		kc_log(KC_LOG_WARN,
		       "leaving a task directory without task.json: it holds files kc-server does not write", "path",
		       dir, NULL);
		return;
	}
	for (size_t i = 0; known[i]; i++)
		if (unlinkat(tfd, known[i], 0) != 0 && errno != ENOENT) {
			kc_log(KC_LOG_WARN, "cannot remove a file of an unpublished task", "path", dir, "file",
			       known[i], "error", strerror(errno), NULL);
			return;
		}
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0) {
		kc_log(KC_LOG_WARN, "cannot remove a task directory without task.json", "path", dir, "error",
		       strerror(errno), NULL);
		return;
	}
	kc_log(KC_LOG_WARN,
	       "removed a task directory that never got a task.json (the server stopped while creating it)", "task_id",
	       name, "path", dir, NULL);
}

/* The known files (and our temporary files) of a task directory, then the
 * directory. Only for a directory kc_store_create() just made: anything
 * else in it stays, and so does the directory (logged). */
int kc_store_remove(const char *tasks_dir, const char *id)
{
	static const char *const known[] = {"task.json", "prompt.txt", "output.log", NULL};
	char dir[4200];
	int tfd;

	if (!kc_task_id_valid(id))
		return KC_ERR_INVALID;
	snprintf(dir, sizeof dir, "%s/%s", tasks_dir, id);
	if ((tfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : KC_ERR_IO;
	(void)sweep_temps(tfd, dir, task_temp_bases, NULL);
	for (size_t i = 0; known[i]; i++)
		(void)unlinkat(tfd, known[i], 0);
	close(tfd);
	if (rmdir(dir) != 0) {
		kc_log(KC_LOG_WARN, "cannot remove the directory of a task that was not created", "path", dir, "error",
		       strerror(errno), NULL);
		return KC_ERR_IO;
	}
	return fsync_dir(tasks_dir);
}

int kc_store_load(const char *tasks_dir, void (*cb)(kc_task *t, void *ud), void *ud)
{
	DIR *d;
	struct dirent *e;
	int dfd;

	if (mkdir(tasks_dir, 0700) != 0 && errno != EEXIST)
		return KC_ERR_IO;
	if (!(d = opendir(tasks_dir)))
		return KC_ERR_IO;
	dfd = dirfd(d);
	sweep_temps(dfd, tasks_dir, top_temp_bases, NULL);
	while ((e = readdir(d)) != NULL) {
		char *buf = NULL;
		size_t len = 0;
		kc_task t;
		int tfd, fd, rc;

		if (!kc_task_id_valid(e->d_name))
			continue;
		/* A task is a real directory: a symlink is never followed. */
		tfd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (tfd < 0)
			continue;
		fd = openat(tfd, "task.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			if (errno == ENOENT)
				remove_unpublished(dfd, tasks_dir, e->d_name, tfd);
			close(tfd);
			continue;
		}
		{
			char dir[4200];
			snprintf(dir, sizeof dir, "%s/%s", tasks_dir, e->d_name);
			sweep_temps(tfd, dir, task_temp_bases, NULL);
		}
		close(tfd);
		rc = kc_file_read_fd(fd, KC_TASK_JSON_MAX, &buf, &len);
		close(fd);
		if (rc == 0)
			rc = kc_task_from_json(buf, len, &t);
		free(buf);
		if (rc == 0 && strcmp(t.task_id, e->d_name) != 0) {
			kc_task_release(&t);
			rc = KC_ERR_INVALID;
		}
		if (rc != 0) {
			kc_log(KC_LOG_WARN, "skipping unreadable task", "task_id", e->d_name, "error", kc_strerror(rc),
			       NULL);
			continue;
		}
		cb(&t, ud);
	}
	closedir(d);
	return 0;
}
