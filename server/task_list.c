/*
 * task_list.c - ListTasks: page tokens and the answer written straight in
 * protobuf's wire format from the index.
 */
#include "server/tasks_int.h"

int kc_page_token_decode(const char *token, char id[KC_TASK_ID_MAX])
{
	if (!token || strncmp(token, KC_PAGE_TOKEN_PREFIX, KC_PAGE_TOKEN_PREFIX_LEN) != 0 ||
	    !kc_task_id_valid(token + KC_PAGE_TOKEN_PREFIX_LEN))
		return KC_ERR_INVALID;
	snprintf(id, KC_TASK_ID_MAX, "%s", token + KC_PAGE_TOKEN_PREFIX_LEN);
	return 0;
}

/*
 * ListTasks' answer is written straight from the index in protobuf's wire
 * format: the bytes protobuf_c_message_pack() gives for the
 * ListTasksResponse that summary messages built from these entries would
 * make (proto3: fields holding zero or "" are left out; fields in number
 * order). Building that message costs four allocations per task and a
 * pack through protobuf-c's descriptors, which was most of a 100-task
 * list's CPU; this costs a walk over the entries and a copy of each id and
 * prompt head. tasks_list_test checks the bytes against protobuf-c's,
 * field for field, across statuses, paging and filters.
 *
 * Why not keep each task's summary packed in its entry, to copy instead
 * of write: tried, and measured with bench/server list_bench (100 tasks:
 * 2.0 us a list instead of 3.9 us; the whole rpc costs ~45 us), it would
 * cost the index ~180 bytes per task (+1.8 MiB at 10,000 tasks, a third
 * of that store's private memory) and a rebuild whenever a summary field
 * changes (status, status_detail, finished_at: kc_task_finish(), the supervisor's
 * activity checks, prompt delivery, SendMessage). Written from the entry
 * under mu, the answer cannot be stale.
 */
#define WIRE_VARINT 0
#define WIRE_FIXED64 1
#define WIRE_LEN 2
#define TAG(field, type) ((uint8_t)((field) << 3 | (type)))

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* int32 and enum values: a negative one is sign-extended to 10 bytes. */
static uint64_t int32_wire(int32_t v)
{
	return (uint64_t)(int64_t)v;
}

static uint8_t *put_double(uint8_t *p, double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	b = htole64(b); /* little-endian on the wire */
	memcpy(p, &b, sizeof b);
	return p + sizeof b;
}

/* Not inlined: GCC expands a copy from the entry's 32-byte id array into
 * `rep movsq`, whose start-up cost made that copy 40 % of a list
 * (list_bench); the library's memcpy is cheap for a few bytes. */
__attribute__((noinline)) static uint8_t *put_bytes(uint8_t *p, uint8_t tag, const void *s, size_t len)
{
	*p++ = tag;
	p = put_varint(p, len);
	memcpy(p, s, len);
	return p + len;
}

static Kc__V1__TaskActivity summary_detail(const kc_task *t)
{
	return t->status == KC__V1__TASK_STATUS__TASK_STATUS_RUNNING ? t->activity
								     : KC__V1__TASK_ACTIVITY__TASK_ACTIVITY_UNSPECIFIED;
}

/* Size of the entry's TaskSummary: task_id 1, prompt 2 (the head the
 * index keeps), status 3, created_at 4, status_detail 5, finished_at 6
 * (a DoubleValue, present when finished). Call with mu held. */
static size_t summary_size(const struct entry *e)
{
	const kc_task *t = &e->t;
	size_t n = 0;
	Kc__V1__TaskActivity detail = summary_detail(t);
	if (e->id_len)
		n += 1 + varint_len(e->id_len) + e->id_len;
	if (e->prompt_len)
		n += 1 + varint_len(e->prompt_len) + e->prompt_len;
	if (t->status)
		n += 1 + varint_len(int32_wire(t->status));
	if (t->created_at != 0)
		n += 1 + 8;
	if (detail)
		n += 1 + varint_len(int32_wire(detail));
	if (t->finished_at > 0)
		n += 2 + 1 + 8; /* tag, length 9, DoubleValue.value */
	return n;
}

static uint8_t *put_summary(uint8_t *p, const struct entry *e, size_t size)
{
	const kc_task *t = &e->t;
	Kc__V1__TaskActivity detail = summary_detail(t);
	*p++ = TAG(1, WIRE_LEN); /* ListTasksResponse.tasks */
	p = put_varint(p, size);
	if (e->id_len)
		p = put_bytes(p, TAG(1, WIRE_LEN), t->task_id, e->id_len);
	if (e->prompt_len)
		p = put_bytes(p, TAG(2, WIRE_LEN), t->prompt, e->prompt_len);
	if (t->status) {
		*p++ = TAG(3, WIRE_VARINT);
		p = put_varint(p, int32_wire(t->status));
	}
	if (t->created_at != 0) {
		*p++ = TAG(4, WIRE_FIXED64);
		p = put_double(p, t->created_at);
	}
	if (detail) {
		*p++ = TAG(5, WIRE_VARINT);
		p = put_varint(p, int32_wire(detail));
	}
	if (t->finished_at > 0) {
		*p++ = TAG(6, WIRE_LEN);
		*p++ = 9;
		*p++ = TAG(1, WIRE_FIXED64);
		p = put_double(p, t->finished_at);
	}
	return p;
}

int kc_tasks_list_packed(kc_tasks *m, int32_t page_size, const char *page_token, Kc__V1__TaskStatus filter,
			 kc_list_alloc alloc, void *ud, char *err, size_t errlen)
{
	size_t start, total, cap, len = 0, count = 0, toklen = 0;
	const struct entry *last = NULL;
	bool more = false;
	char after[KC_TASK_ID_MAX] = "";
	uint8_t *buf, *p;

	if (page_size < 0) {
		snprintf(err, errlen, "page_size must not be negative");
		return KC_ERR_INVALID;
	}
	if ((int)filter < 0 || (int)filter >= N_STATUS) {
		snprintf(err, errlen, "unknown status filter");
		return KC_ERR_INVALID;
	}
	if (page_token && *page_token && kc_page_token_decode(page_token, after) != 0) {
		snprintf(err, errlen, "invalid page_token");
		return KC_ERR_INVALID;
	}

	pthread_mutex_lock(&m->mu);
	start = m->n; /* exclusive upper bound, walking towards older tasks */
	if (*after) {
		struct entry *e = kc_task_find(m, after);
		if (!e) {
			pthread_mutex_unlock(&m->mu);
			snprintf(err, errlen, "invalid page_token");
			return KC_ERR_INVALID;
		}
		start = kc_task_position(m, e);
	}
	total = filter ? m->n_status[filter] : m->n;
	cap = page_size == 0 ? total : (size_t)page_size > LIST_MAX ? LIST_MAX : (size_t)page_size;
	/* Which tasks, newest first, and the answer's size... */
	for (size_t i = start; i > 0; i--) {
		const struct entry *e = m->by_time[i - 1];
		size_t size;
		if (filter && e->t.status != filter)
			continue;
		if (count == cap) {
			/* One more matches: there is a next page. */
			more = count > 0;
			break;
		}
		size = summary_size(e);
		len += 1 + varint_len(size) + size;
		count++;
		last = e;
	}
	if (more) {
		toklen = KC_PAGE_TOKEN_PREFIX_LEN + (size_t)last->id_len;
		len += 1 + varint_len(toklen) + toklen;
	}
	if ((int32_t)total)
		len += 1 + varint_len(int32_wire((int32_t)total));
	/* ...then the same tasks again, written. */
	if (!(buf = alloc(ud, len))) {
		pthread_mutex_unlock(&m->mu);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	p = buf;
	for (size_t i = start, n = 0; n < count; i--) {
		const struct entry *e = m->by_time[i - 1];
		if (filter && e->t.status != filter)
			continue;
		p = put_summary(p, e, summary_size(e));
		n++;
	}
	if (more) {
		*p++ = TAG(2, WIRE_LEN);
		p = put_varint(p, toklen);
		memcpy(p, KC_PAGE_TOKEN_PREFIX, KC_PAGE_TOKEN_PREFIX_LEN);
		memcpy(p + KC_PAGE_TOKEN_PREFIX_LEN, last->t.task_id, last->id_len);
		p += toklen;
	}
	if ((int32_t)total) {
		*p++ = TAG(3, WIRE_VARINT);
		p = put_varint(p, int32_wire((int32_t)total));
	}
	pthread_mutex_unlock(&m->mu);
	if (p != buf + len) {
		/* summary_size and put_summary disagree: a bug, never a torn answer. */
		kc_log(KC_LOG_ERROR, "ListTasks answer has the wrong size", NULL);
		snprintf(err, errlen, "internal error");
		return KC_ERR_INTERNAL;
	}
	return 0;
}

/* The last `lines` lines of `s` (after dropping trailing blank lines). */
