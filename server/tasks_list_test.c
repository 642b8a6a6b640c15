/*
 * kc_tasks_list_packed: the ListTasks answer written from the index must be
 * exactly what protobuf-c packs for a ListTasksResponse built the slow way
 * (each task from kc_tasks_get, its summary as a message), for every page
 * size, page token and status filter, and stay so as tasks start, finish,
 * fail and are killed.
 *
 *   tasks_list_test <path to fake_agent.py>
 *
 * The first test loads a store written here (statuses, ties in created_at,
 * prompts cut inside multi-byte characters, absent fields, more tasks than
 * one varint byte counts); the second runs the fake agent in tmux on a
 * private socket.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "server/config.h"
#include "server/store.h"
#include "server/tasks.h"
#include "tests/support/fs.h"

#define MAX_IDS 256

static const char *fake_agent;
static char dir[64], tmux_sock[96];
static kc_config cfg;
static kc_tasks *tasks;
static char ids[MAX_IDS][KC_TASK_ID_MAX];
static size_t n_ids;

/* ---- the answer under test ----------------------------------------------- */

struct buf {
	uint8_t *data;
	size_t len;
};

static uint8_t *buf_alloc(void *ud, size_t len)
{
	struct buf *b = ud;
	free(b->data);
	b->len = len;
	/* One byte more: malloc(0) may answer NULL. */
	return b->data = malloc(len + 1);
}

static int list(int32_t page_size, const char *token, Kc__V1__TaskStatus filter, struct buf *out)
{
	char err[256] = "";
	out->data = NULL;
	out->len = 0;
	return kc_tasks_list_packed(tasks, page_size, token, filter, buf_alloc, out, err, sizeof err);
}

/* ---- the expected answer, the slow way ----------------------------------- */

/* Bytes in the first 120 code points of a valid UTF-8 string. */
static size_t head_bytes(const char *s)
{
	size_t n = 0, chars = 0;
	while (s[n] && chars < 120) {
		unsigned char c = (unsigned char)s[n];
		n += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		chars++;
	}
	return n;
}

static int newest_first(const void *a, const void *b)
{
	const Kc__V1__Task *x = *(Kc__V1__Task *const *)a, *y = *(Kc__V1__Task *const *)b;
	if (x->created_at != y->created_at)
		return x->created_at > y->created_at ? -1 : 1;
	return -strcmp(x->task_id, y->task_id);
}

struct expected {
	Kc__V1__Task *all[MAX_IDS];
	size_t n_all;
	Kc__V1__TaskSummary sums[MAX_IDS];
	Kc__V1__TaskSummary *ptrs[MAX_IDS];
	Google__Protobuf__DoubleValue fin[MAX_IDS];
	char prompts[MAX_IDS][600];
	char token[KC_TASK_ID_MAX + 4];
	Kc__V1__ListTasksResponse resp;
	uint8_t *packed;
	size_t len;
};

/* The page as a ListTasksResponse of messages, packed by protobuf-c. */
static void expect(struct expected *x, int32_t page_size, const char *token, Kc__V1__TaskStatus filter)
{
	size_t start = 0, cap, total = 0;
	char err[256];

	memset(x, 0, sizeof *x);
	for (size_t i = 0; i < n_ids; i++) {
		assert_int_equal(kc_tasks_get(tasks, ids[i], &x->all[x->n_all], err, sizeof err), 0);
		x->n_all++;
	}
	qsort(x->all, x->n_all, sizeof *x->all, newest_first);
	if (token && *token) {
		while (start < x->n_all && strcmp(x->all[start]->task_id, token + 3) != 0)
			start++;
		assert_true(start < x->n_all);
		start++; /* the tasks after the previous page's last */
	}
	for (size_t i = 0; i < x->n_all; i++)
		total += !filter || x->all[i]->status == filter;
	cap = page_size == 0 ? total : page_size > 1000 ? 1000 : (size_t)page_size;
	kc__v1__list_tasks_response__init(&x->resp);
	x->resp.tasks = x->ptrs;
	for (size_t i = start; i < x->n_all; i++) {
		const Kc__V1__Task *t = x->all[i];
		Kc__V1__TaskSummary *s = &x->sums[x->resp.n_tasks];
		size_t plen = head_bytes(t->prompt);
		if (filter && t->status != filter)
			continue;
		if (x->resp.n_tasks == cap) {
			snprintf(x->token, sizeof x->token, "t1.%s", x->resp.tasks[cap - 1]->task_id);
			x->resp.next_page_token = x->token;
			break;
		}
		kc__v1__task_summary__init(s);
		s->task_id = t->task_id;
		assert_true(plen < sizeof x->prompts[0]);
		memcpy(x->prompts[x->resp.n_tasks], t->prompt, plen);
		x->prompts[x->resp.n_tasks][plen] = '\0';
		s->prompt = x->prompts[x->resp.n_tasks];
		s->status = t->status;
		s->created_at = t->created_at;
		s->status_detail = t->status_detail;
		if (t->finished_at) {
			google__protobuf__double_value__init(&x->fin[x->resp.n_tasks]);
			x->fin[x->resp.n_tasks].value = t->finished_at->value;
			s->finished_at = &x->fin[x->resp.n_tasks];
		}
		x->ptrs[x->resp.n_tasks++] = s;
	}
	x->resp.total_size = (int32_t)total;
	x->len = protobuf_c_message_get_packed_size(&x->resp.base);
	x->packed = malloc(x->len + 1);
	assert_int_equal(protobuf_c_message_pack(&x->resp.base, x->packed), x->len);
}

static void expected_free(struct expected *x)
{
	for (size_t i = 0; i < x->n_all; i++)
		protobuf_c_message_free_unpacked(&x->all[i]->base, NULL);
	free(x->packed);
}

/* Field by field, so that a difference says where it is. */
static bool same_fields(const Kc__V1__ListTasksResponse *got, const Kc__V1__ListTasksResponse *want, bool report)
{
	char why[256] = "";
	if (got->n_tasks != want->n_tasks)
		snprintf(why, sizeof why, "%zu tasks, want %zu", got->n_tasks, want->n_tasks);
	else if (strcmp(got->next_page_token, want->next_page_token) != 0)
		snprintf(why, sizeof why, "next_page_token '%s', want '%s'", got->next_page_token,
		         want->next_page_token);
	else if (got->total_size != want->total_size)
		snprintf(why, sizeof why, "total_size %d, want %d", got->total_size, want->total_size);
	for (size_t i = 0; !*why && i < got->n_tasks; i++) {
		const Kc__V1__TaskSummary *g = got->tasks[i], *w = want->tasks[i];
		if (strcmp(g->task_id, w->task_id) != 0 || strcmp(g->prompt, w->prompt) != 0 ||
		    g->status != w->status || g->created_at != w->created_at || g->status_detail != w->status_detail ||
		    !g->finished_at != !w->finished_at ||
		    (g->finished_at && g->finished_at->value != w->finished_at->value))
			snprintf(why, sizeof why,
			         "task %zu: %s status %d detail %d finished %.3f prompt %zu bytes, "
			         "want %s status %d detail %d finished %.3f prompt %zu bytes",
			         i, g->task_id, g->status, g->status_detail, g->finished_at ? g->finished_at->value : 0,
			         strlen(g->prompt), w->task_id, w->status, w->status_detail,
			         w->finished_at ? w->finished_at->value : 0, strlen(w->prompt));
	}
	if (*why && report)
		print_error("ListTasks answer differs: %s\n", why);
	return !*why;
}

/* One page: decodes, re-packs to the same bytes (the encoding is
 * protobuf-c's), and equals the slow answer field by field and byte for
 * byte. Tasks that run change on their own (status_detail), so a live
 * comparison may retry until the two agree. Returns the next page token
 * (malloc'd, NULL on the last page). */
static char *check_page(int32_t page_size, const char *token, Kc__V1__TaskStatus filter, int tries)
{
	char *next = NULL;
	for (int attempt = 1;; attempt++) {
		struct buf got;
		struct expected *want = malloc(sizeof *want);
		Kc__V1__ListTasksResponse *dec;
		uint8_t *again;
		bool equal, last = attempt >= tries;

		assert_non_null(want);
		assert_int_equal(list(page_size, token, filter, &got), 0);
		dec = kc__v1__list_tasks_response__unpack(NULL, got.len, got.data);
		assert_non_null(dec);
		again = malloc(got.len + 1);
		assert_int_equal(protobuf_c_message_pack(&dec->base, again), got.len);
		assert_memory_equal(again, got.data, got.len);
		free(again);

		expect(want, page_size, token, filter);
		equal = same_fields(dec, &want->resp, last) && got.len == want->len &&
		        memcmp(got.data, want->packed, got.len) == 0;
		if (equal || last) {
			assert_true(same_fields(dec, &want->resp, true));
			assert_int_equal(got.len, want->len);
			assert_memory_equal(got.data, want->packed, got.len);
			if (*dec->next_page_token)
				next = strdup(dec->next_page_token);
		}
		protobuf_c_message_free_unpacked(&dec->base, NULL);
		expected_free(want);
		free(want);
		free(got.data);
		if (equal || last)
			return next;
		usleep(20000);
	}
}

/* Every page of every page size and filter, following the tokens. */
static void check_all(int tries)
{
	static const int32_t sizes[] = {0, 1, 2, 7, 1000, 5000};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		for (int f = 0; f <= 4; f++) {
			char *token = NULL;
			size_t pages = 0;
			do {
				char *next = check_page(sizes[s], token, (Kc__V1__TaskStatus)f, tries);
				free(token);
				token = next;
				assert_true(++pages <= MAX_IDS + 1);
			} while (token);
		}
	}
}

/* ---- set-up -------------------------------------------------------------- */

static void start_manager(const char *agents_yaml)
{
	char yaml[2 * PATH_MAX + 1024], err[256];
	snprintf(yaml, sizeof yaml, "home: %s\nserver:\n  tmux_socket: %s\n  log_level: error\n%s", dir, tmux_sock,
	         agents_yaml);
	assert_int_equal(kc_config_init(&cfg), 0);
	assert_int_equal(kc_config_parse(&cfg, yaml, strlen(yaml), err, sizeof err), 0);
	assert_int_equal(kc_config_finish(&cfg, err, sizeof err), 0);
	assert_int_equal(kc_tasks_new(&cfg, &tasks, err, sizeof err), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kclist-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux", dir);
	n_ids = 0;
	tasks = NULL;
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

static void put_task(const char *id, Kc__V1__TaskStatus status, double created, double finished, const char *prompt)
{
	char tasks_dir[128];
	kc_task t;
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%s", id);
	snprintf(t.session_id, sizeof t.session_id, "4b6c8a1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b");
	t.prompt = (char *)prompt;
	t.workdir = dir;
	t.agent = "claude";
	t.status = status;
	t.created_at = created;
	t.finished_at = finished;
	if (status == KC__V1__TASK_STATUS__TASK_STATUS_KILLED)
		t.killed_at = finished;
	if (status == KC__V1__TASK_STATUS__TASK_STATUS_ERROR)
		t.error = "the agent did not become ready within 5 ms";
	snprintf(tasks_dir, sizeof tasks_dir, "%s/.claude-tasks", dir);
	(void)mkdir(tasks_dir, 0700);
	assert_int_equal(kc_store_create(tasks_dir, &t), 0);
	snprintf(ids[n_ids++], KC_TASK_ID_MAX, "%s", id);
}

static void test_loaded_store(void **state)
{
	/* 130 code points, the 120th and 121st of them multi-byte. */
	char cut[700] = "", exact[200], longer[200];
	(void)state;
	for (int i = 0; i < 118; i++)
		strcat(cut, "a");
	strcat(cut, "\xc3\xa9\xf0\x9d\x84\x9e\xe2\x82\xac"); /* é, U+1D11E, € */
	for (int i = 0; i < 9; i++)
		strcat(cut, "\xf0\x9f\x98\x80");
	memset(exact, 'x', 120);
	exact[120] = '\0';
	memset(longer, 'y', 121);
	longer[121] = '\0';

	put_task("1700000000-00000001", KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, 1700000000.5, 1700000100.25,
	         "short");
	put_task("1700000001-0000000a", KC__V1__TASK_STATUS__TASK_STATUS_KILLED, 1700000001.0, 1700000002.0, cut);
	/* Same created_at: ordered by id. */
	put_task("1700000001-0000000b", KC__V1__TASK_STATUS__TASK_STATUS_ERROR, 1700000001.0, 1700000003.0, exact);
	put_task("1700000001-0000000c", KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, 1700000001.0, 0, longer);
	/* No created_at, no prompt, a negative finished_at: absent fields. */
	put_task("1600000000-0000000d", KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, 0, -5, "");
	/* Running on disk, no tmux session: completed at load, finished now. */
	put_task("1700000002-0000000e", KC__V1__TASK_STATUS__TASK_STATUS_RUNNING, 1700000002.75, 0,
	         "multi\nline \"quoted\" prompt");
	/* Enough tasks that total_size and the answer need more varint bytes. */
	for (int i = 0; i < 150; i++) {
		char id[KC_TASK_ID_MAX], prompt[64];
		static const Kc__V1__TaskStatus st[] = {KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED,
		                                        KC__V1__TASK_STATUS__TASK_STATUS_KILLED,
		                                        KC__V1__TASK_STATUS__TASK_STATUS_ERROR};
		snprintf(id, sizeof id, "%d-%08x", 1710000000 + i / 2, (unsigned)(0xabc00000u + (unsigned)i));
		snprintf(prompt, sizeof prompt, "bulk task %d", i);
		put_task(id, st[i % 3], 1710000000.0 + i / 2, 1710000500.0 + i, prompt);
	}
	start_manager("");
	assert_int_equal(kc_tasks_count(tasks), n_ids);
	check_all(1);

	/* Refused requests. */
	{
		struct buf b;
		assert_int_equal(list(-1, NULL, 0, &b), KC_ERR_INVALID);
		assert_int_equal(list(0, NULL, (Kc__V1__TaskStatus)5, &b), KC_ERR_INVALID);
		assert_int_equal(list(0, "t1.1-00000000", 0, &b), KC_ERR_INVALID);
		assert_int_equal(list(0, "x1.1700000000-00000001", 0, &b), KC_ERR_INVALID);
		free(b.data);
	}
}

static void test_empty_store(void **state)
{
	struct buf b;
	(void)state;
	start_manager("");
	/* An empty message packs to no bytes. */
	assert_int_equal(list(0, NULL, 0, &b), 0);
	assert_int_equal(b.len, 0);
	free(b.data);
	check_all(1);
}

/* ---- live tasks ---------------------------------------------------------- */

static void create(const char *prompt, const char *agent)
{
	Kc__V1__Task *t;
	char err[256];
	assert_int_equal(kc_tasks_create(tasks, prompt, NULL, agent, &t, err, sizeof err), 0);
	snprintf(ids[n_ids++], KC_TASK_ID_MAX, "%s", t->task_id);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* Waits (generously) until the task has the status. */
static void wait_status(const char *id, Kc__V1__TaskStatus status, Kc__V1__TaskActivity detail)
{
	char err[256];
	for (int i = 0; i < 600; i++) {
		Kc__V1__Task *t;
		bool done;
		assert_int_equal(kc_tasks_get(tasks, id, &t, err, sizeof err), 0);
		done = t->status == status && (!detail || t->status_detail == detail);
		protobuf_c_message_free_unpacked(&t->base, NULL);
		if (done)
			return;
		usleep(50000);
	}
	fail_msg("task %s never reached status %d/%d", id, status, detail);
}

static void test_live_tasks(void **state)
{
	char agents[2 * PATH_MAX + 512], err[256], abs_agent[PATH_MAX];
	char longp[400] = "";
	Kc__V1__KillTaskResponse *k;
	(void)state;
	assert_non_null(realpath(fake_agent, abs_agent));
	snprintf(agents, sizeof agents,
	         "agents:\n  default: fake\n  list:\n"
	         "    - name: fake\n      command: [\"/usr/bin/python3\", \"%s\"]\n      ready_pattern: \"^>\"\n"
	         "    - name: never\n      command: [\"/usr/bin/python3\", \"%s\", \"--never-ready\"]\n"
	         "      ready_pattern: \"^>\"\n      ready_timeout_ms: 800\n",
	         abs_agent, abs_agent);
	start_manager(agents);
	assert_int_equal(kc_tasks_start(tasks), 0);
	for (int i = 0; i < 50; i++)
		strcat(longp, "d\xc3\xa9j\xc3\xa0 "); /* "déjà ", cut inside the 24th */

	create("exit", NULL);     /* completes by itself */
	create(longp, NULL);      /* keeps running, then waits for input */
	create("hello", NULL);    /* killed below */
	create("never", "never"); /* ready timeout: error */
	check_all(200);

	wait_status(ids[0], KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED, 0);
	check_all(200);
	wait_status(ids[3], KC__V1__TASK_STATUS__TASK_STATUS_ERROR, 0);
	check_all(200);
	assert_int_equal(kc_tasks_kill(tasks, ids[2], &k, err, sizeof err), 0);
	protobuf_c_message_free_unpacked(&k->base, NULL);
	check_all(200);
	wait_status(ids[1], KC__V1__TASK_STATUS__TASK_STATUS_RUNNING,
	            KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_WAITING_FOR_INPUT);
	check_all(200);
	/* Killing a task that had completed changes its status again. */
	assert_int_equal(kc_tasks_kill(tasks, ids[0], &k, err, sizeof err), 0);
	protobuf_c_message_free_unpacked(&k->base, NULL);
	check_all(200);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loaded_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_tasks, setup, teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s FAKE_AGENT\n", argv[0]);
		return 2;
	}
	fake_agent = argv[1];
	kc_log_set_level(KC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
