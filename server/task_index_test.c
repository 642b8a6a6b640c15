/* task_index: the id hash, the by-time array and the per-status counters,
 * driven directly (no store, no tmux, no supervisor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/tasks_int.h"

/* An index with no entries, as kc_tasks_new starts it (minus the
 * threads, descriptors and regexes, which the index does not touch). */
static kc_tasks *index_new(void)
{
	kc_tasks *m = calloc(1, sizeof *m);
	assert_non_null(m);
	return m;
}

static void index_free(kc_tasks *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->by_time[i]);
	free(m->by_time);
	free(m->buckets);
	free(m);
}

static struct entry *entry_new(const char *id, double created_at, Kc__V1__TaskStatus status)
{
	struct entry *e = calloc(1, sizeof *e);
	assert_non_null(e);
	snprintf(e->t.task_id, sizeof e->t.task_id, "%s", id);
	e->t.created_at = created_at;
	e->t.status = status;
	return e;
}

static void add(kc_tasks *m, struct entry *e, bool sorted_append)
{
	assert_int_equal(kc_task_grow(m), 0);
	kc_task_insert(m, e, sorted_append);
}

static void assert_sorted(const kc_tasks *m)
{
	for (size_t i = 1; i < m->n; i++)
		assert_true(kc_task_cmp_entry(m->by_time[i - 1], m->by_time[i]) < 0);
}

static void test_empty(void **state)
{
	kc_tasks *m = index_new();
	(void)state;
	/* grow() sizes an empty index before the first lookup can happen. */
	assert_int_equal(kc_task_grow(m), 0);
	assert_true(m->cap >= 1);
	assert_true(m->nbuckets >= 1);
	assert_null(kc_task_find(m, "nope"));
	assert_int_equal(m->n, 0);
	assert_int_equal(kc_task_n_running(m), 0);
	index_free(m);
}

static void test_order_and_find(void **state)
{
	kc_tasks *m = index_new();
	struct entry *b = entry_new("bbbb", 2.0, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	struct entry *a = entry_new("aaaa", 1.0, KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED);
	struct entry *c = entry_new("cccc", 2.0, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	struct entry *d = entry_new("0000", 2.0, KC__V1__TASK_STATUS__TASK_STATUS_KILLED);
	(void)state;
	/* Out of order: insert finds each one's place. Ties on created_at
	 * go by task_id. */
	add(m, b, false);
	add(m, a, false);
	add(m, c, false);
	add(m, d, false);
	assert_int_equal(m->n, 4);
	assert_ptr_equal(m->by_time[0], a);
	assert_ptr_equal(m->by_time[1], d);
	assert_ptr_equal(m->by_time[2], b);
	assert_ptr_equal(m->by_time[3], c);
	assert_sorted(m);
	for (size_t i = 0; i < m->n; i++) {
		assert_ptr_equal(kc_task_find(m, m->by_time[i]->t.task_id), m->by_time[i]);
		assert_int_equal(kc_task_position(m, m->by_time[i]), i);
	}
	assert_null(kc_task_find(m, "aaa"));
	assert_null(kc_task_find(m, "aaaaa"));
	/* id_len is set as the entry joins. */
	assert_int_equal(a->id_len, 4);
	/* Counters per status. */
	assert_int_equal(kc_task_n_running(m), 2);
	assert_int_equal(m->n_status[KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED], 1);
	assert_int_equal(m->n_status[KC__V1__TASK_STATUS__TASK_STATUS_KILLED], 1);
	/* Where an entry that is not in the index would go. */
	struct entry probe = {0};
	snprintf(probe.t.task_id, sizeof probe.t.task_id, "%s", "b");
	probe.t.created_at = 2.0;
	assert_int_equal(kc_task_position(m, &probe), 2);
	probe.t.created_at = 0.5;
	assert_int_equal(kc_task_position(m, &probe), 0);
	probe.t.created_at = 9.0;
	assert_int_equal(kc_task_position(m, &probe), 4);
	index_free(m);
}

static void test_status_slot(void **state)
{
	(void)state;
	assert_int_equal(kc_task_status_slot(KC__V1__TASK_STATUS__TASK_STATUS_RUNNING),
	                 KC__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_int_equal(kc_task_status_slot(KC__V1__TASK_STATUS__TASK_STATUS_KILLED),
	                 KC__V1__TASK_STATUS__TASK_STATUS_KILLED);
	/* A value from a newer peer counts as unspecified, never past the array. */
	assert_int_equal(kc_task_status_slot((Kc__V1__TaskStatus)N_STATUS), 0);
	assert_int_equal(kc_task_status_slot((Kc__V1__TaskStatus)-1), 0);
}

/* Many entries: the array and the hash table grow (the table rehashes at
 * 1024, 2048, 4096) and every entry stays findable and in order. */
static void test_growth(void **state)
{
	enum { N = 5000 };
	kc_tasks *m = index_new();
	char id[32];
	(void)state;
	/* The first half appended in order (as a load after qsort does), the
	 * second half in reverse (each new one goes before the last). */
	for (int i = 0; i < N / 2; i++) {
		snprintf(id, sizeof id, "t%05d", i);
		add(m, entry_new(id, (double)i, KC__V1__TASK_STATUS__TASK_STATUS_RUNNING), true);
	}
	for (int i = N - 1; i >= N / 2; i--) {
		snprintf(id, sizeof id, "t%05d", i);
		add(m, entry_new(id, (double)i, KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED), false);
	}
	assert_int_equal(m->n, N);
	assert_true(m->cap >= N);
	assert_true(m->nbuckets >= N);
	assert_sorted(m);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "t%05d", i);
		struct entry *e = kc_task_find(m, id);
		assert_non_null(e);
		assert_string_equal(e->t.task_id, id);
		assert_ptr_equal(m->by_time[i], e);
		assert_int_equal(kc_task_position(m, e), (size_t)i);
	}
	assert_int_equal(kc_task_n_running(m), N / 2);
	assert_int_equal(m->n_status[KC__V1__TASK_STATUS__TASK_STATUS_COMPLETED], N - N / 2);
	index_free(m);
}

static void test_agent_index(void **state)
{
	kc_config cfg;
	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.agents[0].name = "claude";
	cfg.agents[1].name = "fake";
	cfg.n_agents = 2;
	assert_int_equal(kc_task_agent_index(&cfg, "claude"), 0);
	assert_int_equal(kc_task_agent_index(&cfg, "fake"), 1);
	assert_int_equal(kc_task_agent_index(&cfg, "other"), -1);
	assert_int_equal(kc_task_agent_index(&cfg, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),  cmocka_unit_test(test_order_and_find), cmocka_unit_test(test_status_slot),
	    cmocka_unit_test(test_growth), cmocka_unit_test(test_agent_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
