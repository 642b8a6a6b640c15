/*
 * task_index.c - the in-memory index: the id hash, the by-time array, the
 * per-status counters. No I/O and no locking: callers hold mu.
 */
#include "server/tasks_int.h"

long long kc_task_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double kc_task_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t kc_task_hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

struct entry *kc_task_find(kc_tasks *m, const char *id)
{
	struct entry *e = m->buckets[kc_task_hash_id(id) % m->nbuckets];
	while (e && strcmp(e->t.task_id, id) != 0)
		e = e->hnext;
	return e;
}

int kc_task_cmp_entry(const struct entry *a, const struct entry *b)
{
	if (a->t.created_at != b->t.created_at)
		return a->t.created_at < b->t.created_at ? -1 : 1;
	return strcmp(a->t.task_id, b->t.task_id);
}

int kc_task_cmp_entry_p(const void *a, const void *b)
{
	return kc_task_cmp_entry(*(struct entry *const *)a, *(struct entry *const *)b);
}

size_t kc_task_status_slot(Kc__V1__TaskStatus s)
{
	return (unsigned)s < N_STATUS ? (size_t)s : 0;
}

size_t kc_task_n_running(const kc_tasks *m)
{
	return m->n_status[KC__V1__TASK_STATUS__TASK_STATUS_RUNNING];
}

int kc_task_make_room(kc_tasks *m, size_t want)
{
	if (want > m->cap) {
		size_t nc = m->cap ? m->cap : 256;
		struct entry **nb;
		while (nc < want)
			nc *= 2;
		if (!(nb = realloc(m->by_time, nc * sizeof *nb)))
			return KC_ERR_NOMEM;
		m->by_time = nb;
		m->cap = nc;
	}
	/* Keep the hash table's load under 1. */
	if (want > m->nbuckets) {
		size_t nn = m->nbuckets ? m->nbuckets : 1024;
		struct entry **nb;
		while (nn < want)
			nn *= 2;
		if (!(nb = calloc(nn, sizeof *nb)))
			return KC_ERR_NOMEM;
		for (size_t i = 0; i < m->n; i++) {
			struct entry *e = m->by_time[i];
			size_t b = kc_task_hash_id(e->t.task_id) % nn;
			e->hnext = nb[b];
			nb[b] = e;
		}
		free(m->buckets);
		m->buckets = nb;
		m->nbuckets = nn;
	}
	return 0;
}

int kc_task_grow(kc_tasks *m)
{
	return kc_task_make_room(m, m->n + 1);
}

/* Adds an entry to both indexes; kc_task_grow() (or kc_task_make_room()
 * for at least one more) must have succeeded. */
void kc_task_insert(kc_tasks *m, struct entry *e, bool sorted_append)
{
	size_t b = kc_task_hash_id(e->t.task_id) % m->nbuckets;
	size_t pos = m->n;
	e->id_len = (uint8_t)strlen(e->t.task_id);
	e->hnext = m->buckets[b];
	m->buckets[b] = e;
	if (!sorted_append)
		while (pos > 0 && kc_task_cmp_entry(m->by_time[pos - 1], e) > 0)
			pos--;
	memmove(&m->by_time[pos + 1], &m->by_time[pos], (m->n - pos) * sizeof *m->by_time);
	m->by_time[pos] = e;
	m->n++;
	m->n_status[kc_task_status_slot(e->t.status)]++;
}

/* Position of `e` in by_time. */
size_t kc_task_position(kc_tasks *m, const struct entry *e)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kc_task_cmp_entry(m->by_time[mid], e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int kc_task_agent_index(const kc_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_agents; i++)
		if (strcmp(cfg->agents[i].name, name) == 0)
			return (int)i;
	return -1;
}
