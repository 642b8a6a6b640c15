/* store: ids, JSON round trip, atomic writes, loading a directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "server/store.h"
#include "server/tasks.h"
#include "tests/support/fs.h"

/* kc_task_id_valid's own test is common/task_id_test.c. */
static void test_page_tokens(void **state)
{
	(void)state;
	char id[KC_TASK_ID_MAX];
	assert_int_equal(kc_page_token_decode("t1.1-00000000", id), 0);
	assert_string_equal(id, "1-00000000");
	assert_int_equal(kc_page_token_decode("1-00000000", id), KC_ERR_INVALID);
}

static void test_roundtrip(void **state)
{
	kc_task t, u;
	kc_followup f = {"more", 5.5};
	char *json;
	(void)state;
	memset(&t, 0, sizeof t);
	strcpy(t.task_id, "1732665600-9f3a1c2b");
	strcpy(t.session_id, "4b6c8a1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b");
	t.prompt = "do \"it\"\n";
	t.workdir = "/w";
	t.agent = "claude";
	t.status = KC__V1__TASK_STATUS__TASK_STATUS_KILLED;
	t.created_at = 1732665600.25;
	t.killed_at = t.finished_at = 1732665601.5;
	t.followups = &f;
	t.n_followups = 1;
	json = kc_task_to_json(&t);
	assert_non_null(strstr(json, "\"status\": \"killed\""));
	assert_non_null(strstr(json, "\"tmux_session\": \"claude-1732665600-9f3a1c2b\""));
	assert_int_equal(kc_task_from_json(json, strlen(json), &u), 0);
	assert_string_equal(u.prompt, t.prompt);
	assert_true(u.killed_at == t.killed_at);
	assert_int_equal(u.n_followups, 1);
	assert_string_equal(u.followups[0].prompt, "more");
	kc_task_release(&u);
	free(json);
	assert_int_equal(kc_task_from_json("{\"task_id\":\"../x\",\"status\":\"running\"}", 38, &u), KC_ERR_INVALID);
	assert_int_equal(kc_task_from_json("[]", 2, &u), KC_ERR_INVALID);
}

static int loaded;
static void count(kc_task *t, void *ud)
{
	(void)ud;
	loaded++;
	kc_task_release(t);
}

static void test_store_dir(void **state)
{
	char dir[] = "/tmp/kc-store-XXXXXX", path[256];
	kc_task t;
	struct stat st;
	FILE *f;
	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&t, 0, sizeof t);
	strcpy(t.task_id, "1-0000000a");
	t.prompt = "p";
	t.workdir = "/";
	t.status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	assert_int_equal(kc_store_create(dir, &t), 0);
	assert_int_equal(kc_store_create(dir, &t), KC_ERR_EXISTS);
	snprintf(path, sizeof path, "%s/1-0000000a/task.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A torn or foreign entry is skipped, not fatal. */
	snprintf(path, sizeof path, "%s/2-0000000b", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/2-0000000b/task.json", dir);
	f = fopen(path, "w");
	fputs("{\"task_id\": \"2-000", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/not-a-task", dir);
	mkdir(path, 0700);
	loaded = 0;
	assert_int_equal(kc_store_load(dir, count, NULL), 0);
	assert_int_equal(loaded, 1);
	assert_int_equal(kc_test_rmtree(dir), 0);
}

static void touch(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *dir, const char *rel)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

static void test_temp_names(void **state)
{
	(void)state;
	assert_true(kc_store_is_temp_of("task.json.tmp.1234", "task.json"));
	assert_true(kc_store_is_temp_of(".api-token.tmp.7", ".api-token"));
	assert_false(kc_store_is_temp_of("task.json", "task.json"));
	assert_false(kc_store_is_temp_of("task.json.tmp.", "task.json"));
	assert_false(kc_store_is_temp_of("task.json.tmp.12a", "task.json"));
	assert_false(kc_store_is_temp_of("task.json.tmp.12345678901", "task.json"));
	assert_false(kc_store_is_temp_of("xtask.json.tmp.1", "task.json"));
	assert_false(kc_store_is_temp_of("notes.tmp.1", "task.json"));
}

/* What a crash leaves: temporary files, and task directories that never
 * got a task.json. Loading removes exactly those, and nothing else. */
static void test_sweep(void **state)
{
	char dir[] = "/tmp/kc-sweep-XXXXXX", path[256];
	kc_task t;
	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&t, 0, sizeof t);
	strcpy(t.task_id, "5-0000000e");
	t.prompt = "p";
	t.workdir = "/";
	t.status = KC__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	assert_int_equal(kc_store_create(dir, &t), 0);
	touch(dir, "5-0000000e/task.json.tmp.4242", "{");
	touch(dir, "5-0000000e/prompt.txt.tmp.17", "p");
	touch(dir, "5-0000000e/notes.tmp.1", "someone else's");
	touch(dir, ".api-token.tmp.99", "x");
	touch(dir, "unrelated.tmp.99", "x");
	/* Unpublished: a directory, its prompt, its (empty) log, a temp file. */
	snprintf(path, sizeof path, "%s/6-0000000f", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	touch(dir, "6-0000000f/prompt.txt", "p");
	touch(dir, "6-0000000f/output.log", "");
	touch(dir, "6-0000000f/task.json.tmp.5", "{");
	snprintf(path, sizeof path, "%s/7-00000001", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	/* Not ours: an unknown file inside, a name that is not an id, a symlink. */
	snprintf(path, sizeof path, "%s/8-00000002", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	touch(dir, "8-00000002/mine.txt", "keep me");
	snprintf(path, sizeof path, "%s/not-a-task", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/9-00000003", dir);
	assert_int_equal(symlink("8-00000002", path), 0);

	loaded = 0;
	assert_int_equal(kc_store_load(dir, count, NULL), 0);
	assert_int_equal(loaded, 1);
	assert_true(exists(dir, "5-0000000e/task.json"));
	assert_true(exists(dir, "5-0000000e/prompt.txt"));
	assert_false(exists(dir, "5-0000000e/task.json.tmp.4242"));
	assert_false(exists(dir, "5-0000000e/prompt.txt.tmp.17"));
	assert_true(exists(dir, "5-0000000e/notes.tmp.1"));
	assert_false(exists(dir, ".api-token.tmp.99"));
	assert_true(exists(dir, "unrelated.tmp.99"));
	assert_false(exists(dir, "6-0000000f"));
	assert_false(exists(dir, "7-00000001"));
	assert_true(exists(dir, "8-00000002/mine.txt"));
	assert_true(exists(dir, "not-a-task"));
	assert_true(exists(dir, "9-00000003"));
	assert_int_equal(kc_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_page_tokens), cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_store_dir),
	    cmocka_unit_test(test_temp_names),  cmocka_unit_test(test_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
