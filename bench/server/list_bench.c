/*
 * list_bench: CPU of kc_tasks_list_packed alone, no gRPC: a store of N
 * tasks (the gateway benchmark's 136-character prompt, cut to 120 in the
 * index) is written to a temporary directory and loaded, then ListTasks of
 * every task runs `iterations` times on one thread.
 *
 *   bazel run -c opt //bench/server:list_bench -- [tasks, default 100] [iterations, default 200000]
 *
 * Prints nanoseconds per call and the answer's size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server/config.h"
#include "server/store.h"
#include "server/tasks.h"
#include "tests/support/fs.h"

struct buf {
	uint8_t *data;
	size_t cap, len;
};

/* The buffer is reused: what is measured is the list, not malloc. */
static uint8_t *buf_alloc(void *ud, size_t len)
{
	struct buf *b = ud;
	if (len + 1 > b->cap) {
		free(b->data);
		b->cap = len + 1;
		if (!(b->data = malloc(b->cap)))
			return NULL;
	}
	b->len = len;
	return b->data;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const char prompt[] = "Refactor the billing module so that invoices are generated in one pass and add "
	                             "tests for the rounding rules that finance asked about";
	long n = argc > 1 ? atol(argv[1]) : 100, iters = argc > 2 ? atol(argv[2]) : 200000;
	char dir[] = "/tmp/kclistbench-XXXXXX", tasks_dir[64], yaml[256], err[256];
	kc_config cfg;
	kc_tasks *m;
	struct buf b = {0};
	double t0, t1;

	if (n < 1 || iters < 1 || !mkdtemp(dir))
		return 2;
	kc_log_set_level(KC_LOG_ERROR);
	snprintf(tasks_dir, sizeof tasks_dir, "%s/.claude-tasks", dir);
	mkdir(tasks_dir, 0700);
	for (long i = 0; i < n; i++) {
		kc_task t;
		memset(&t, 0, sizeof t);
		snprintf(t.task_id, sizeof t.task_id, "%d-%08x", (int)(1750000000 + i % 1000000),
		         (unsigned)(0x9f3a0000u + (unsigned)i));
		snprintf(t.session_id, sizeof t.session_id, "4b6c8a1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b");
		t.prompt = (char *)prompt;
		t.workdir = dir;
		t.agent = "claude";
		t.status =
		    i % 10 ? KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED : KC__V1__TASK_STATUS__TASK_STATUS_KILLED;
		t.created_at = 1750000000.125 + (double)i;
		t.finished_at = t.created_at + 30.5;
		if (kc_store_create(tasks_dir, &t) != 0) {
			fprintf(stderr, "cannot write the store under %s\n", dir);
			return 1;
		}
	}
	snprintf(yaml, sizeof yaml, "home: %s\nserver:\n  tmux_socket: %s/tmux\n", dir, dir);
	if (kc_config_init(&cfg) != 0 || kc_config_parse(&cfg, yaml, strlen(yaml), err, sizeof err) != 0 ||
	    kc_config_finish(&cfg, err, sizeof err) != 0 || kc_tasks_new(&cfg, &m, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* Warm up, then measure. */
	for (long i = 0; i < iters / 10 + 1; i++)
		kc_tasks_list_packed(m, 0, NULL, 0, buf_alloc, &b, err, sizeof err);
	t0 = now_ns();
	for (long i = 0; i < iters; i++)
		if (kc_tasks_list_packed(m, 0, NULL, 0, buf_alloc, &b, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	t1 = now_ns();
	printf("ListTasks of %ld tasks: %.0f ns per call (%.1f ns per task), %zu-byte answer\n", n,
	       (t1 - t0) / (double)iters, (t1 - t0) / (double)iters / (double)n, b.len);
	kc_tasks_free(m);
	kc_config_release(&cfg);
	free(b.data);
	kc_test_rmtree(dir);
	return 0;
}
