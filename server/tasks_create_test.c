/*
 * kc_tasks_create: a task that cannot be saved is an error to the caller,
 * and leaves nothing behind (no entry in the index, no tmux session); once
 * saving works again the same request creates the task.
 *
 *   tasks_create_test <path to fake_agent.py>
 *
 * The tasks directory is replaced by a regular file (the tests may run as
 * root, so permissions alone would not make it unwritable).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "server/config.h"
#include "server/store.h"
#include "server/tasks.h"
#include "tests/support/fs.h"

static const char *fake_agent;
static char dir[64], tmux_sock[96];
static kc_config cfg;
static kc_tasks *tasks;

struct answer {
	uint8_t *data;
	size_t len;
};

static uint8_t *answer_alloc(void *ud, size_t len)
{
	struct answer *a = ud;
	free(a->data);
	a->len = len;
	return a->data = malloc(len + 1); /* malloc(0) may answer NULL */
}

/* Bytes of the whole ListTasks answer: 0 when there is no task. */
static size_t list_len(void)
{
	struct answer a = {NULL, 0};
	char err[256];
	assert_int_equal(kc_tasks_list_packed(tasks, 0, NULL, 0, answer_alloc, &a, err, sizeof err), 0);
	free(a.data);
	return a.len;
}

/* Exit status of `tmux list-sessions` on the private socket: 0 when any
 * session exists. */
static int list_sessions(void)
{
	char *argv[] = {"tmux", "-S", tmux_sock, "list-sessions", NULL};
	return kc_test_run(argv);
}

static int setup(void **state)
{
	char yaml[2 * PATH_MAX + 1024], err[256], abs_agent[PATH_MAX];
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kccreate-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux", dir);
	assert_non_null(realpath(fake_agent, abs_agent));
	snprintf(yaml, sizeof yaml,
	         "home: %s\nserver:\n  tmux_socket: %s\n  log_level: error\nlimits:\n  max_running_tasks: 2\n"
	         "agents:\n  default: fake\n  list:\n"
	         "    - name: fake\n      command: [\"/usr/bin/python3\", \"%s\"]\n      ready_pattern: \"^>\"\n",
	         dir, tmux_sock, abs_agent);
	assert_int_equal(kc_config_init(&cfg), 0);
	assert_int_equal(kc_config_parse(&cfg, yaml, strlen(yaml), err, sizeof err), 0);
	assert_int_equal(kc_config_finish(&cfg, err, sizeof err), 0);
	assert_int_equal(kc_tasks_new(&cfg, &tasks, err, sizeof err), 0);
	return 0;
}

static int teardown(void **state)
{
	char *kill_tmux[] = {"tmux", "-S", tmux_sock, "kill-server", NULL};
	(void)state;
	kc_tasks_free(tasks);
	kc_config_release(&cfg);
	(void)kc_test_run(kill_tmux);
	kc_test_rmtree(dir);
	return 0;
}

static void test_failed_save_is_reported(void **state)
{
	char err[256] = "";
	Kc__V1__Task *t = NULL;
	FILE *f;
	(void)state;

	/* kc_tasks_new made the directory; a file takes its place. */
	assert_int_equal(kc_test_rmtree(cfg.tasks_dir), 0);
	assert_non_null(f = fopen(cfg.tasks_dir, "w"));
	fclose(f);

	assert_int_equal(kc_tasks_create(tasks, "hello", NULL, NULL, &t, err, sizeof err), KC_ERR_IO);
	assert_null(t);
	assert_string_equal(err, "cannot save the task");
	assert_int_equal(kc_tasks_count(tasks), 0);
	assert_int_equal(list_len(), 0);
	assert_int_not_equal(list_sessions(), 0);

	/* The same request once the directory is back: the checks above
	 * would see this task. */
	assert_int_equal(unlink(cfg.tasks_dir), 0);
	assert_int_equal(mkdir(cfg.tasks_dir, 0700), 0);
	assert_int_equal(kc_tasks_create(tasks, "hello", NULL, NULL, &t, err, sizeof err), 0);
	assert_non_null(t);
	assert_int_equal(t->status, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_string_equal(t->prompt, "hello");
	assert_int_equal(kc_tasks_count(tasks), 1);
	assert_int_not_equal(list_len(), 0);
	assert_int_equal(list_sessions(), 0);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* A limit reached is refused before anything is made, and the reservation
 * a failed creation took is given back: max_running_tasks creations still
 * succeed after a failure. */
static void test_failure_returns_reservation(void **state)
{
	char err[256];
	Kc__V1__Task *t = NULL;
	FILE *f;
	(void)state;

	assert_int_equal(kc_test_rmtree(cfg.tasks_dir), 0);
	assert_non_null(f = fopen(cfg.tasks_dir, "w"));
	fclose(f);
	for (long i = 0; i < cfg.max_running_tasks + 1; i++)
		assert_int_equal(kc_tasks_create(tasks, "hello", NULL, NULL, &t, err, sizeof err), KC_ERR_IO);
	assert_int_equal(unlink(cfg.tasks_dir), 0);
	assert_int_equal(mkdir(cfg.tasks_dir, 0700), 0);
	for (long i = 0; i < cfg.max_running_tasks; i++) {
		assert_int_equal(kc_tasks_create(tasks, "hello", NULL, NULL, &t, err, sizeof err), 0);
		protobuf_c_message_free_unpacked(&t->base, NULL);
	}
	assert_int_equal(kc_tasks_create(tasks, "hello", NULL, NULL, &t, err, sizeof err), KC_ERR_LIMIT);
	assert_int_equal(kc_tasks_count(tasks), (size_t)cfg.max_running_tasks);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_failed_save_is_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_returns_reservation, setup, teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s FAKE_AGENT\n", argv[0]);
		return 2;
	}
	fake_agent = argv[1];
	kc_log_set_level(KC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
