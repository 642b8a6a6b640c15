/*
 * rpc_dispatch.c - the completion-queue workers and each call's steps:
 * a request arrives (on_request), its message is received and the handler
 * runs or the stream starts (on_recv), the client closes or cancels
 * (on_close), a send batch completes (on_send).
 */
#include "server/rpc_int.h"

#include <grpc/support/time.h>
#include <malloc.h>

#include "server/pb_strings.h"

static void on_request(struct call *c, bool ok)
{
	kc_rpc_server *s = c->s;
	grpc_op op;

	if (!ok) {
		/* The server is shutting down: this pending request ends. */
		kc_rpc_call_free(c);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (!s->shutting_down)
		kc_rpc_request_one(s, c->tcp);
	pthread_mutex_unlock(&s->mu);

	c->m = kc_rpc_find_method(s, c->details.method);
	/* refs: 1 from creation, now owned by the RECV batch; +1 for CLOSE. */
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	kc_rpc_call_ref(c);
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
		kc_rpc_call_unref(c);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_bb;
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL) != GRPC_CALL_OK)
		kc_rpc_call_unref(c);
}

/* Requests are small (a task id, a page token, a prompt of a few KiB):
 * protobuf-c unpacks them into this buffer on the worker's stack, and
 * falls back to malloc only for what does not fit. */
struct arena {
	size_t used;
	_Alignas(max_align_t) unsigned char buf[4096];
};

static void *arena_alloc(void *ud, size_t n)
{
	struct arena *a = ud;
	size_t at = (a->used + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	if (at <= sizeof a->buf && n <= sizeof a->buf - at) {
		a->used = at + n;
		return a->buf + at;
	}
	return malloc(n);
}

static void arena_free(void *ud, void *p)
{
	struct arena *a = ud;
	uintptr_t u = (uintptr_t)p, lo = (uintptr_t)a->buf;
	if (u < lo || u >= lo + sizeof a->buf)
		free(p);
}

/* The request message, read in place when it arrived in one slice (the
 * usual case) instead of copied into a merged one. Before protobuf-c sees
 * the bytes, every string field is checked for NULs (pb_strings.h says
 * why): a request with one is refused with the field named in `err`. */
static ProtobufCMessage *unpack_request(struct call *c, ProtobufCAllocator *alloc, char *err, size_t errlen)
{
	grpc_byte_buffer_reader r;
	grpc_slice *first = NULL, *second = NULL, all = grpc_empty_slice();
	const uint8_t *data;
	size_t len;
	bool merged = false;
	ProtobufCMessage *req = NULL;

	if (!grpc_byte_buffer_reader_init(&r, c->recv_bb)) {
		snprintf(err, errlen, "unreadable request message");
		return NULL;
	}
	if (!grpc_byte_buffer_reader_peek(&r, &first) || !grpc_byte_buffer_reader_peek(&r, &second)) {
		data = first ? GRPC_SLICE_START_PTR(*first) : NULL;
		len = first ? GRPC_SLICE_LENGTH(*first) : 0;
	} else {
		grpc_byte_buffer_reader_destroy(&r);
		if (!grpc_byte_buffer_reader_init(&r, c->recv_bb)) {
			snprintf(err, errlen, "unreadable request message");
			return NULL;
		}
		all = grpc_byte_buffer_reader_readall(&r);
		merged = true;
		data = GRPC_SLICE_START_PTR(all);
		len = GRPC_SLICE_LENGTH(all);
	}
	if (kc_pb_check_strings(c->m->desc->input, data, len, err, errlen) == 0 &&
	    !(req = protobuf_c_message_unpack(c->m->desc->input, alloc, len, data)))
		snprintf(err, errlen, "malformed request message");
	if (merged)
		grpc_slice_unref(all);
	grpc_byte_buffer_reader_destroy(&r);
	return req;
}

/* Sends a unary call's answer and its OK status in one batch. */
static void answer(struct call *c, grpc_byte_buffer *bb, size_t len)
{
	pthread_mutex_lock(&c->mu);
	kc_rpc_queue_locked(c, bb, len);
	kc_rpc_finish_locked(c, GRPC_STATUS_OK, NULL);
	pthread_mutex_unlock(&c->mu);
}

static void run_unary(struct call *c, const kc_rpc_ctx *ctx, const ProtobufCMessage *req)
{
	char err[512];
	ProtobufCMessage *resp = NULL;
	int rc;

	err[0] = '\0';
	if (c->m->raw) {
		kc_rpc_answer ans = {.set = false};
		rc = c->m->raw(c->m->app, ctx, req, &ans, err, sizeof err);
		if (rc == 0 && ans.set) {
			/* One slice the handler wrote into: nothing to pack, and a big
			 * answer is one allocation (no small ones left behind). */
			answer(c, kc_rpc_buffer_of(ans.slice), GRPC_SLICE_LENGTH(ans.slice));
			return;
		}
		if (ans.set)
			grpc_slice_unref(ans.slice);
	} else {
		rc = c->m->unary(c->m->app, ctx, req, &resp, err, sizeof err);
		if (rc == 0 && resp) {
			size_t packed = 0;
			grpc_byte_buffer *bb = kc_rpc_pack(resp, &packed);
			protobuf_c_message_free_unpacked(resp, NULL);
			answer(c, bb, packed);
			/* A big reply (a long log) was built from many small
			 * allocations; freed, they would stay resident in this
			 * worker's malloc arena until the next big reply. Give the
			 * pages back now. */
			if (packed >= TRIM_AFTER_BYTES)
				malloc_trim(0);
			return;
		}
	}
	if (rc == 0)
		rc = KC_ERR_INTERNAL;
	kc_rpc_finish(c, rc, *err ? err : kc_strerror(rc));
}

/* A stream call: listed for the drain, given to its handler, which
 * registers a producer and returns (the producer sends later). */
static void start_stream(struct call *c, const kc_rpc_ctx *ctx, const ProtobufCMessage *req)
{
	kc_rpc_server *s = c->s;
	char err[512] = "";
	bool closed;
	int rc;

	/* Listed (for the drain) and given the producer's reference before
	 * the producer can send. Both locks make this atomic with on_close():
	 * either it sees the call listed, or we see it closed and never start
	 * the stream. */
	pthread_mutex_lock(&s->mu);
	pthread_mutex_lock(&c->mu);
	closed = c->closed;
	if (!closed) {
		c->refs += 2; /* the producer's and the list's */
		c->producer = true;
		c->is_stream = true;
		c->snext = s->streams;
		if (s->streams)
			s->streams->sprev = c;
		s->streams = c;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&s->mu);
	if (closed)
		return;
	rc = c->m->stream(c->m->app, ctx, req, (kc_rpc_stream *)c, err, sizeof err);
	if (rc == 0) {
		/* Cancelled while the handler registered its producer:
		 * on_close() found nothing to detach yet, so do it now. */
		pthread_mutex_lock(&c->mu);
		closed = c->closed;
		pthread_mutex_unlock(&c->mu);
		if (closed)
			kc_rpc_detach_producer(c, false);
	} else {
		bool had;
		pthread_mutex_lock(&c->mu);
		had = c->producer;
		c->producer = false;
		kc_rpc_finish_locked(c, kc_rpc_status_of(rc), *err ? err : kc_strerror(rc));
		pthread_mutex_unlock(&c->mu);
		if (had)
			kc_rpc_call_unref(c);
	}
}

static void on_recv(struct call *c, bool ok)
{
	kc_rpc_ctx ctx;
	char err[512], user[256], email[256];
	struct arena arena;
	ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
	ProtobufCMessage *req = NULL;
	int rc;

	err[0] = user[0] = email[0] = '\0';
	arena.used = 0;
	if (!c->m) {
		pthread_mutex_lock(&c->mu);
		kc_rpc_finish_locked(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	if (!ok || !c->recv_bb) {
		kc_rpc_finish(c, KC_ERR_INVALID, "missing request message");
		goto out;
	}
	if ((rc = kc_rpc_authorize(c, &ctx, user, email, sizeof user, err, sizeof err)) != 0) {
		kc_rpc_finish(c, rc, err);
		goto out;
	}
	if (!(req = unpack_request(c, &alloc, err, sizeof err))) {
		kc_rpc_finish(c, KC_ERR_INVALID, err);
		goto out;
	}
	if (!c->m->stream)
		run_unary(c, &ctx, req);
	else
		start_stream(c, &ctx, req);
out:
	if (req)
		protobuf_c_message_free_unpacked(req, &alloc);
	kc_rpc_call_unref(c); /* the RECV batch's */
}

static void on_close(struct call *c)
{
	kc_rpc_server *s = c->s;
	bool listed;
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	pthread_mutex_unlock(&c->mu);
	kc_rpc_detach_producer(c, false);
	pthread_mutex_lock(&s->mu);
	pthread_mutex_lock(&c->mu);
	listed = c->is_stream && (c->sprev || c->snext || s->streams == c);
	pthread_mutex_unlock(&c->mu);
	if (listed) {
		if (c->sprev)
			c->sprev->snext = c->snext;
		else
			s->streams = c->snext;
		if (c->snext)
			c->snext->sprev = c->sprev;
		c->snext = c->sprev = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (listed)
		kc_rpc_call_unref(c);
	kc_rpc_call_unref(c); /* the CLOSE batch's */
}

static void on_send(struct call *c, bool ok)
{
	grpc_byte_buffer *sent;
	pthread_mutex_lock(&c->mu);
	sent = c->inflight_bb;
	c->inflight_bb = NULL;
	c->send_in_flight = false;
	if (ok)
		kc_rpc_pump(c);
	pthread_mutex_unlock(&c->mu);
	if (sent)
		grpc_byte_buffer_destroy(sent);
	kc_rpc_call_unref(c);
}

void *kc_rpc_worker(void *arg)
{
	kc_rpc_server *s = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct tag *t;
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		t = ev.tag;
		switch (t->kind) {
		case TAG_REQUEST:
			on_request(t->c, ev.success != 0);
			break;
		case TAG_RECV:
			on_recv(t->c, ev.success != 0);
			break;
		case TAG_CLOSE:
			on_close(t->c);
			break;
		case TAG_SEND:
			on_send(t->c, ev.success != 0);
			break;
		case TAG_SHUTDOWN:
			pthread_mutex_lock(&s->mu);
			if (--s->shutdowns_pending <= 0)
				s->shutdown_done = true;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			break;
		}
	}
	return NULL;
}
