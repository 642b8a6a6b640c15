/*
 * task_list.c - ListTasks: page tokens and the answer written straight in
 * protobuf's wire format from the index.
 */
#include "server/pb_wire.h"
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
		n += 1 + kc_wire_varint_len(e->id_len) + e->id_len;
	if (e->prompt_len)
		n += 1 + kc_wire_varint_len(e->prompt_len) + e->prompt_len;
	if (t->status)
		n += 1 + kc_wire_varint_len(kc_wire_int32(t->status));
	if (t->created_at != 0)
		n += 1 + 8;
	if (detail)
		n += 1 + kc_wire_varint_len(kc_wire_int32(detail));
	if (t->finished_at > 0)
		n += 2 + 1 + 8; /* tag, length 9, DoubleValue.value */
	return n;
}

static void put_summary(kc_wire *w, const struct entry *e, size_t size)
{
	const kc_task *t = &e->t;
	Kc__V1__TaskActivity detail = summary_detail(t);
	kc_wire_byte(w, KC_WIRE_TAG(1, KC_WIRE_LEN)); /* ListTasksResponse.tasks */
	kc_wire_varint(w, size);
	if (e->id_len)
		kc_wire_bytes(w, KC_WIRE_TAG(1, KC_WIRE_LEN), t->task_id, e->id_len);
	if (e->prompt_len)
		kc_wire_bytes(w, KC_WIRE_TAG(2, KC_WIRE_LEN), t->prompt, e->prompt_len);
	if (t->status) {
		kc_wire_byte(w, KC_WIRE_TAG(3, KC_WIRE_VARINT));
		kc_wire_varint(w, kc_wire_int32(t->status));
	}
	if (t->created_at != 0) {
		kc_wire_byte(w, KC_WIRE_TAG(4, KC_WIRE_FIXED64));
		kc_wire_double(w, t->created_at);
	}
	if (detail) {
		kc_wire_byte(w, KC_WIRE_TAG(5, KC_WIRE_VARINT));
		kc_wire_varint(w, kc_wire_int32(detail));
	}
	if (t->finished_at > 0) {
		kc_wire_byte(w, KC_WIRE_TAG(6, KC_WIRE_LEN));
		kc_wire_byte(w, 9);
		kc_wire_byte(w, KC_WIRE_TAG(1, KC_WIRE_FIXED64));
		kc_wire_double(w, t->finished_at);
	}
}

/* A page: the tasks (newest first, from by_time[start - 1] down), whether
 * a next page follows (then `last` is this page's last task) and the
 * answer's size. */
struct page {
	size_t start, count, total, len, toklen;
	const struct entry *last;
	bool more;
};

/* Which tasks, and the answer's size; call with mu held. */
static void page_measure(const kc_tasks *m, Kc__V1__TaskStatus filter, int32_t page_size, struct page *pg)
{
	size_t cap;
	pg->total = filter ? m->n_status[filter] : m->n;
	cap = page_size == 0 ? pg->total : (size_t)page_size > LIST_MAX ? LIST_MAX : (size_t)page_size;
	for (size_t i = pg->start; i > 0; i--) {
		const struct entry *e = m->by_time[i - 1];
		size_t size;
		if (filter && e->t.status != filter)
			continue;
		if (pg->count == cap) {
			/* One more matches: there is a next page. */
			pg->more = pg->count > 0;
			break;
		}
		size = summary_size(e);
		pg->len += 1 + kc_wire_varint_len(size) + size;
		pg->count++;
		pg->last = e;
	}
	if (pg->more) {
		pg->toklen = KC_PAGE_TOKEN_PREFIX_LEN + (size_t)pg->last->id_len;
		pg->len += 1 + kc_wire_varint_len(pg->toklen) + pg->toklen;
	}
	if ((int32_t)pg->total)
		pg->len += 1 + kc_wire_varint_len(kc_wire_int32((int32_t)pg->total));
}

/* The same tasks again, written into `w`; call with mu held. */
static void page_write(const kc_tasks *m, Kc__V1__TaskStatus filter, const struct page *pg, kc_wire *w)
{
	for (size_t i = pg->start, n = 0; n < pg->count; i--) {
		const struct entry *e = m->by_time[i - 1];
		if (filter && e->t.status != filter)
			continue;
		put_summary(w, e, summary_size(e));
		n++;
	}
	if (pg->more && kc_wire_room(w, 1 + kc_wire_varint_len(pg->toklen) + pg->toklen)) {
		kc_wire_byte(w, KC_WIRE_TAG(2, KC_WIRE_LEN));
		kc_wire_varint(w, pg->toklen);
		memcpy(w->p, KC_PAGE_TOKEN_PREFIX, KC_PAGE_TOKEN_PREFIX_LEN);
		memcpy(w->p + KC_PAGE_TOKEN_PREFIX_LEN, pg->last->t.task_id, pg->last->id_len);
		w->p += pg->toklen;
	}
	if ((int32_t)pg->total) {
		kc_wire_byte(w, KC_WIRE_TAG(3, KC_WIRE_VARINT));
		kc_wire_varint(w, kc_wire_int32((int32_t)pg->total));
	}
}

static int list_check_args(int32_t page_size, const char *page_token, Kc__V1__TaskStatus filter,
                           char after[KC_TASK_ID_MAX], char *err, size_t errlen)
{
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
	return 0;
}

int kc_tasks_list_packed(kc_tasks *m, int32_t page_size, const char *page_token, Kc__V1__TaskStatus filter,
                         kc_list_alloc alloc, void *ud, char *err, size_t errlen)
{
	struct page pg = {0};
	char after[KC_TASK_ID_MAX] = "";
	uint8_t *buf;
	kc_wire w;
	int rc;

	if ((rc = list_check_args(page_size, page_token, filter, after, err, errlen)) != 0)
		return rc;
	pthread_mutex_lock(&m->mu);
	pg.start = m->n; /* exclusive upper bound, walking towards older tasks */
	if (*after) {
		struct entry *e = kc_task_find(m, after);
		if (!e) {
			pthread_mutex_unlock(&m->mu);
			snprintf(err, errlen, "invalid page_token");
			return KC_ERR_INVALID;
		}
		pg.start = kc_task_position(m, e);
	}
	page_measure(m, filter, page_size, &pg);
	if (!(buf = alloc(ud, pg.len))) {
		pthread_mutex_unlock(&m->mu);
		snprintf(err, errlen, "out of memory");
		return KC_ERR_NOMEM;
	}
	kc_wire_init(&w, buf, pg.len);
	page_write(m, filter, &pg, &w);
	pthread_mutex_unlock(&m->mu);
	if (!kc_wire_done(&w)) {
		/* summary_size and put_summary disagree: a bug, never a torn
		 * answer nor a write past the buffer. */
		kc_log(KC_LOG_ERROR, "ListTasks answer has the wrong size", NULL);
		snprintf(err, errlen, "internal error");
		return KC_ERR_INTERNAL;
	}
	return 0;
}
