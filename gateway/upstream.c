/*
 * upstream.c - see upstream.h. A unary call is one batch of six ops (send
 * metadata, message and half-close; receive metadata, message, status):
 * one completion, one hop to the loop. A streaming call sends in one batch,
 * waits for the status in another, and keeps one receive outstanding at a
 * time, so a slow HTTP client can hold the stream back (kc_upcall_pause).
 */
#include "gateway/upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/kc_error.h"
#include "common/log.h"

#define MAX_MD 8

enum tag_kind { TAG_START, TAG_MSG, TAG_STATUS };

typedef struct tag {
	kc_upcall *call;
	enum tag_kind kind;
} tag;

struct kc_upcall {
	kc_upstream *u;
	kc_upcall *prev;
	kc_upcall *next;
	grpc_call *call;
	kc_upcall_callbacks cb;
	void *ud;
	bool streaming;
	bool cancelled;
	bool done;
	bool paused;
	bool msg_outstanding;
	bool msgs_done;
	bool status_received;
	/* Inside handle(): a callback that cancels must not free the call
	 * under handle's feet. */
	bool in_handle;
	int refs;
	tag t_start, t_msg, t_status;
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_byte_buffer *recv_buf;
	grpc_status_code status;
	grpc_slice details;
	/* Copies of the metadata, alive until the call is freed: gRPC may
	 * read them until the send batch completes. */
	grpc_slice md_slices[2 * MAX_MD];
	size_t n_md_slices;
};

/* A completion passed from the cq thread to the loop. */
typedef struct completion {
	tag *t;
	int success;
	struct completion *next;
} completion;

struct kc_upstream {
	grpc_channel *channel;
	grpc_completion_queue *cq;
	pthread_t thread;
	bool thread_started;
	int efd;
	struct event *ev;
	pthread_mutex_t lock;
	completion *head;
	completion *tail;
	kc_upcall *calls;
	size_t active;
};

static void *cq_thread(void *arg)
{
	kc_upstream *u = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(u->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		completion *c;
		uint64_t one = 1;
		bool was_empty;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		c = malloc(sizeof(*c));
		if (!c) {
			/* Cannot happen in practice; losing a completion would leak the
			 * call, so wait and retry rather than drop it. */
			kc_log(KC_LOG_ERROR, "upstream: out of memory in the completion thread", NULL);
			abort();
		}
		c->t = ev.tag;
		c->success = ev.success;
		c->next = NULL;
		pthread_mutex_lock(&u->lock);
		was_empty = u->head == NULL;
		if (u->tail)
			u->tail->next = c;
		else
			u->head = c;
		u->tail = c;
		pthread_mutex_unlock(&u->lock);
		if (was_empty && write(u->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			kc_log(KC_LOG_ERROR, "upstream: eventfd write failed", NULL);
	}
	return NULL;
}

static void call_free(kc_upcall *c)
{
	kc_upstream *u = c->u;

	if (c->prev)
		c->prev->next = c->next;
	else
		u->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	u->active--;
	grpc_metadata_array_destroy(&c->initial_md);
	grpc_metadata_array_destroy(&c->trailing_md);
	if (c->recv_buf)
		grpc_byte_buffer_destroy(c->recv_buf);
	grpc_slice_unref(c->details);
	while (c->n_md_slices)
		grpc_slice_unref(c->md_slices[--c->n_md_slices]);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

static void maybe_free(kc_upcall *c)
{
	if (c->refs == 0 && (c->done || c->cancelled))
		call_free(c);
}

static void deliver_message(kc_upcall *c)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;

	if (!c->recv_buf)
		return;
	if (grpc_byte_buffer_reader_init(&r, c->recv_buf)) {
		s = grpc_byte_buffer_reader_readall(&r);
		grpc_byte_buffer_reader_destroy(&r);
		if (!c->cancelled)
			c->cb.on_message(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), c->ud);
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_destroy(c->recv_buf);
	c->recv_buf = NULL;
}

static void finish(kc_upcall *c)
{
	char *msg;

	if (c->done || c->cancelled)
		return;
	c->done = true;
	msg = grpc_slice_to_c_string(c->details);
	c->cb.on_done(c, (int)c->status, msg ? msg : "", c->ud);
	gpr_free(msg);
}

static void request_message(kc_upcall *c)
{
	grpc_op op;

	if (c->msg_outstanding || c->msgs_done || c->paused || c->cancelled)
		return;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_buf;
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_msg, NULL) != GRPC_CALL_OK) {
		c->msgs_done = true;
		return;
	}
	c->msg_outstanding = true;
	c->refs++;
}

static void handle(tag *t, int success)
{
	kc_upcall *c = t->call;

	c->refs--;
	c->in_handle = true;
	switch (t->kind) {
	case TAG_START:
		if (!c->streaming) {
			if (!success && c->status == GRPC_STATUS_OK)
				c->status = GRPC_STATUS_UNAVAILABLE;
			/* All six ops in one batch: the status is in. */
			if (c->status == GRPC_STATUS_OK && !c->cancelled)
				deliver_message(c);
			finish(c);
			break;
		}
		if (!success)
			c->msgs_done = true;
		request_message(c);
		if (c->msgs_done && c->status_received)
			finish(c);
		break;
	case TAG_MSG:
		c->msg_outstanding = false;
		if (!success || !c->recv_buf) {
			c->msgs_done = true;
		} else {
			deliver_message(c);
			request_message(c);
		}
		if (c->msgs_done && c->status_received)
			finish(c);
		break;
	case TAG_STATUS:
		c->status_received = true;
		if (c->status != GRPC_STATUS_OK)
			c->msgs_done = c->msgs_done || !c->msg_outstanding;
		if (c->msgs_done)
			finish(c);
		break;
	}
	c->in_handle = false;
	maybe_free(c);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	kc_upstream *u = arg;
	uint64_t n;
	completion *list;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		kc_log(KC_LOG_ERROR, "upstream: eventfd read failed", NULL);
	pthread_mutex_lock(&u->lock);
	list = u->head;
	u->head = u->tail = NULL;
	pthread_mutex_unlock(&u->lock);
	while (list) {
		completion *c = list;

		list = c->next;
		handle(c->t, c->success);
		free(c);
	}
}

int kc_upstream_new(kc_upstream **out, struct event_base *base, const char *target)
{
	kc_upstream *u = calloc(1, sizeof(*u));
	grpc_channel_credentials *creds;
	grpc_arg args[3];
	grpc_channel_args cargs;
	int rc = KC_ERR_IO;

	if (!u)
		return KC_ERR_NOMEM;
	pthread_mutex_init(&u->lock, NULL);
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0)
		goto out_free;
	u->ev = event_new(base, u->efd, EV_READ | EV_PERSIST, on_event, u);
	if (!u->ev || event_add(u->ev, NULL))
		goto out_efd;
	/* Task output can be large; the gateway's own caps apply later. */
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = 64 << 20;
	/* No retries: a retried call is buffered and tracked per call by the
	 * retry filter, and the gateway's answer to a failed upstream call is
	 * the error itself (the client retries if it wants). No channelz: its
	 * per-call counters serve a debugging service nobody runs here. */
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_ENABLE_RETRIES;
	args[1].value.integer = 0;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_ENABLE_CHANNELZ;
	args[2].value.integer = 0;
	cargs.num_args = 3;
	cargs.args = args;
	creds = grpc_insecure_credentials_create();
	u->channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	if (!u->channel)
		goto out_ev;
	u->cq = grpc_completion_queue_create_for_next(NULL);
	if (pthread_create(&u->thread, NULL, cq_thread, u))
		goto out_cq;
	u->thread_started = true;
	*out = u;
	return 0;

out_cq:
	grpc_completion_queue_shutdown(u->cq);
	grpc_completion_queue_destroy(u->cq);
	grpc_channel_destroy(u->channel);
out_ev:
	if (u->ev)
		event_free(u->ev);
out_efd:
	close(u->efd);
out_free:
	pthread_mutex_destroy(&u->lock);
	free(u);
	return rc;
}

void kc_upstream_free(kc_upstream *u)
{
	kc_upcall *c;
	completion *list;

	if (!u)
		return;
	for (c = u->calls; c; c = c->next) {
		c->cancelled = true;
		grpc_call_cancel(c->call, NULL);
	}
	/* Let every outstanding batch complete so each call can be freed. */
	while (u->calls) {
		struct timespec ts = {0, 1000000};

		pthread_mutex_lock(&u->lock);
		list = u->head;
		u->head = u->tail = NULL;
		pthread_mutex_unlock(&u->lock);
		if (!list)
			nanosleep(&ts, NULL);
		while (list) {
			completion *x = list;

			list = x->next;
			handle(x->t, x->success);
			free(x);
		}
	}
	grpc_completion_queue_shutdown(u->cq);
	if (u->thread_started)
		pthread_join(u->thread, NULL);
	grpc_completion_queue_destroy(u->cq);
	grpc_channel_destroy(u->channel);
	event_free(u->ev);
	close(u->efd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int kc_upcall_start(kc_upstream *u, const char *method, const kc_header *md, size_t n_md, const void *req, size_t len,
                    bool streaming, int64_t timeout_ms, const kc_upcall_callbacks *cb, void *user_data,
                    kc_upcall **out)
{
	kc_upcall *c;
	grpc_metadata gmd[MAX_MD];
	grpc_op ops[6];
	grpc_slice s;
	grpc_byte_buffer *send;
	gpr_timespec deadline;
	grpc_slice method_slice;
	grpc_call_error err;
	size_t i;
	size_t n = 0;

	if (n_md > MAX_MD)
		return KC_ERR_INVALID;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KC_ERR_NOMEM;
	c->u = u;
	c->cb = *cb;
	c->ud = user_data;
	c->streaming = streaming;
	c->t_start = (tag){c, TAG_START};
	c->t_msg = (tag){c, TAG_MSG};
	c->t_status = (tag){c, TAG_STATUS};
	c->details = grpc_empty_slice();
	grpc_metadata_array_init(&c->initial_md);
	grpc_metadata_array_init(&c->trailing_md);
	deadline = timeout_ms > 0 ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
	                          : gpr_inf_future(GPR_CLOCK_REALTIME);
	method_slice = grpc_slice_from_static_string(method);
	c->call = grpc_channel_create_call(u->channel, NULL, GRPC_PROPAGATE_DEFAULTS, u->cq, method_slice, NULL, deadline,
	                                   NULL);
	if (!c->call) {
		grpc_metadata_array_destroy(&c->initial_md);
		grpc_metadata_array_destroy(&c->trailing_md);
		free(c);
		return KC_ERR_NOMEM;
	}
	/* Link first, so call_free can unlink on every path below. */
	c->next = u->calls;
	if (u->calls)
		u->calls->prev = c;
	u->calls = c;
	u->active++;

	memset(gmd, 0, sizeof(gmd));
	for (i = 0; i < n_md; i++) {
		gmd[i].key = c->md_slices[c->n_md_slices++] = grpc_slice_from_copied_string(md[i].name);
		gmd[i].value = c->md_slices[c->n_md_slices++] = grpc_slice_from_copied_string(md[i].value);
	}
	s = grpc_slice_from_copied_buffer(req, len);
	send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].data.send_initial_metadata.count = n_md;
	ops[n].data.send_initial_metadata.metadata = gmd;
	n++;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n].data.send_message.send_message = send;
	n++;
	ops[n].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	n++;
	ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[n].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
	n++;
	if (!streaming) {
		ops[n].op = GRPC_OP_RECV_MESSAGE;
		ops[n].data.recv_message.recv_message = &c->recv_buf;
		n++;
		ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[n].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
		ops[n].data.recv_status_on_client.status = &c->status;
		ops[n].data.recv_status_on_client.status_details = &c->details;
		n++;
	}
	err = grpc_call_start_batch(c->call, ops, n, &c->t_start, NULL);
	grpc_byte_buffer_destroy(send);
	if (err != GRPC_CALL_OK) {
		c->cancelled = true;
		grpc_call_cancel(c->call, NULL);
		call_free(c);
		return err == GRPC_CALL_ERROR_INVALID_METADATA ? KC_ERR_INVALID : KC_ERR_INTERNAL;
	}
	c->refs++;
	if (streaming) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[0].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
		ops[0].data.recv_status_on_client.status = &c->status;
		ops[0].data.recv_status_on_client.status_details = &c->details;
		if (grpc_call_start_batch(c->call, ops, 1, &c->t_status, NULL) == GRPC_CALL_OK)
			c->refs++;
		else
			c->status_received = true;
	}
	*out = c;
	return 0;
}

void kc_upcall_cancel(kc_upcall *call)
{
	if (!call || call->cancelled)
		return;
	call->cancelled = true;
	if (!call->done)
		grpc_call_cancel(call->call, NULL);
	if (!call->in_handle)
		maybe_free(call);
}

void kc_upcall_pause(kc_upcall *call, bool paused)
{
	call->paused = paused;
	if (!paused)
		request_message(call);
}

size_t kc_upstream_active(const kc_upstream *u)
{
	return u->active;
}
