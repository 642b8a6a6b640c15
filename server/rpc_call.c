/*
 * rpc_call.c - a call's lifetime and what it sends. A call is
 * reference-counted: each started batch holds a reference until its
 * completion is processed, a stream's producer holds one until it is
 * detached or has sent its last message, and the last reference frees the
 * call. One SEND batch is in flight at a time; messages wait in the call's
 * queue, and the status goes with the last of them.
 */
#include "server/rpc_int.h"

struct call *kc_rpc_call_new(kc_rpc_server *s)
{
	struct call *c = calloc(1, sizeof(struct kc_rpc_stream));
	if (!c)
		return NULL;
	c->s = s;
	pthread_mutex_init(&c->mu, NULL);
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	c->t_request = (struct tag){TAG_REQUEST, c};
	c->t_recv = (struct tag){TAG_RECV, c};
	c->t_close = (struct tag){TAG_CLOSE, c};
	c->t_send = (struct tag){TAG_SEND, c};
	c->status_slice = grpc_empty_slice();
	c->refs = 1;
	return c;
}

void kc_rpc_call_free(struct call *c)
{
	struct qmsg *q = c->q_head;
	while (q) {
		struct qmsg *n = q->next;
		grpc_byte_buffer_destroy(q->bb);
		free(q);
		q = n;
	}
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	if (c->inflight_bb)
		grpc_byte_buffer_destroy(c->inflight_bb);
	grpc_slice_unref(c->status_slice);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void kc_rpc_call_ref(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	c->refs++;
	pthread_mutex_unlock(&c->mu);
}

void kc_rpc_call_unref(struct call *c)
{
	int left;
	pthread_mutex_lock(&c->mu);
	left = --c->refs;
	pthread_mutex_unlock(&c->mu);
	if (left == 0)
		kc_rpc_call_free(c);
}

/* Starts the next send batch if none is in flight; call with c->mu held.
 * The batch's reference is taken here (refs is under c->mu). */
void kc_rpc_pump(struct call *c)
{
	size_t n = 0;
	grpc_call_error e;
	bool status;
	if (c->send_in_flight || c->closed)
		return;
	/* The status goes with the last queued message: a unary call is one
	 * batch (metadata, answer, status), one completion fewer per call. */
	status = c->finish_pending && !c->finished && (!c->q_head || !c->q_head->next);
	if (!c->q_head && !status)
		return;
	memset(c->ops, 0, sizeof c->ops);
	if (!c->sent_md) {
		c->ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		n++;
	}
	if (c->q_head) {
		struct qmsg *q = c->q_head;
		c->q_head = q->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->q_bytes -= q->len;
		/* The buffer must stay valid until the batch completes. */
		c->inflight_bb = q->bb;
		c->inflight_len = q->len;
		c->ops[n].op = GRPC_OP_SEND_MESSAGE;
		c->ops[n].data.send_message.send_message = q->bb;
		n++;
		free(q);
	}
	if (status) {
		c->ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		c->ops[n].data.send_status_from_server.status = c->final_status;
		c->ops[n].data.send_status_from_server.status_details = &c->status_slice;
		c->ops[n].data.send_status_from_server.trailing_metadata_count = 0;
		n++;
		c->finished = true;
	}
	c->sent_md = true;
	c->send_in_flight = true;
	c->refs++;
	e = grpc_call_start_batch(c->call, c->ops, n, &c->t_send, NULL);
	if (e != GRPC_CALL_OK) {
		kc_log(KC_LOG_ERROR, "grpc_call_start_batch failed", "error", grpc_call_error_to_string(e), NULL);
		c->send_in_flight = false;
		c->refs--;
	}
}

/* Queues a status to end the call; call with c->mu held. */
void kc_rpc_finish_locked(struct call *c, grpc_status_code status, const char *msg)
{
	if (c->finish_pending || c->finished)
		return;
	c->finish_pending = true;
	c->final_status = status;
	/* An OK status has no message: nothing to copy. */
	if (msg && *msg)
		c->status_slice = grpc_slice_from_copied_string(msg);
	kc_rpc_pump(c);
}

/* The gRPC status of a kc_error: kc_error.h holds the table (as numbers,
 * to keep gRPC out of common/). */
grpc_status_code kc_rpc_status_of(int kc_err)
{
	return (grpc_status_code)kc_error_to_grpc_status(kc_err);
}

void kc_rpc_finish(struct call *c, int kc_err, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	kc_rpc_finish_locked(c, kc_rpc_status_of(kc_err), msg);
	pthread_mutex_unlock(&c->mu);
}

/* A byte buffer holding the slice (which it takes a reference of). */
grpc_byte_buffer *kc_rpc_buffer_of(grpc_slice sl)
{
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

grpc_byte_buffer *kc_rpc_pack(const ProtobufCMessage *msg, size_t *len_out)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice sl = grpc_slice_malloc(len);
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
	if (len_out)
		*len_out = len;
	return kc_rpc_buffer_of(sl);
}

/* Queues a packed message (taking `bb`) without starting a send; call
 * with c->mu held, then kc_rpc_pump() or kc_rpc_finish_locked(). Returns false when it
 * was not queued. A stream whose reader falls STREAM_QUEUE_MAX behind is
 * ended; a unary reply is one message and is never refused for size. */
bool kc_rpc_queue_locked(struct call *c, grpc_byte_buffer *bb, size_t len)
{
	struct qmsg *q;
	if (c->closed || c->finish_pending || c->finished || !(q = calloc(1, sizeof *q))) {
		grpc_byte_buffer_destroy(bb);
		return false;
	}
	if (c->is_stream && c->q_bytes + len > STREAM_QUEUE_MAX) {
		grpc_byte_buffer_destroy(bb);
		free(q);
		kc_rpc_finish_locked(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the client reads too slowly");
		return false;
	}
	q->bb = bb;
	q->len = len;
	c->q_bytes += len;
	if (c->q_tail)
		c->q_tail->next = q;
	else
		c->q_head = q;
	c->q_tail = q;
	return true;
}

uint8_t *kc_rpc_answer_alloc(kc_rpc_answer *ans, size_t len)
{
	if (ans->set)
		grpc_slice_unref(ans->slice);
	/* One allocation for the slice's refcount and its bytes. */
	ans->slice = grpc_slice_malloc(len);
	ans->set = true;
	return GRPC_SLICE_START_PTR(ans->slice);
}

void kc_rpc_stream_set_detach(kc_rpc_stream *st, bool (*detach)(void *app, int64_t id), void *app, int64_t id)
{
	struct call *c = &st->c;
	pthread_mutex_lock(&c->mu);
	c->detach = detach;
	c->detach_app = app;
	c->detach_id = id;
	pthread_mutex_unlock(&c->mu);
}

void kc_rpc_stream_send(kc_rpc_stream *st, const ProtobufCMessage *msg, bool last)
{
	struct call *c = &st->c;
	bool drop = false;
	pthread_mutex_lock(&c->mu);
	if (msg) {
		size_t len;
		grpc_byte_buffer *bb = kc_rpc_pack(msg, &len);
		/* The last message is sent with the status (finish_locked). */
		if (kc_rpc_queue_locked(c, bb, len) && !last)
			kc_rpc_pump(c);
	}
	if (last) {
		if (msg)
			kc_rpc_finish_locked(c, GRPC_STATUS_OK, "");
		else
			kc_rpc_finish_locked(c, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
		if (c->producer) {
			c->producer = false;
			drop = true;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (drop)
		kc_rpc_call_unref(c);
}

size_t kc_rpc_stream_backlog(kc_rpc_stream *st)
{
	struct call *c = &st->c;
	size_t n;
	pthread_mutex_lock(&c->mu);
	n = c->q_bytes + (c->inflight_bb ? c->inflight_len : 0);
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Detaches a stream's producer (cancel or shutdown) and, when it was
 * removed, drops its reference. `end` also ends the stream. */
void kc_rpc_detach_producer(struct call *c, bool end)
{
	bool (*detach)(void *, int64_t);
	void *app;
	int64_t id;
	bool had, removed = false;

	pthread_mutex_lock(&c->mu);
	detach = c->detach;
	app = c->detach_app;
	id = c->detach_id;
	had = c->producer;
	c->detach = NULL;
	pthread_mutex_unlock(&c->mu);
	if (!had || !detach)
		return;
	removed = detach(app, id);
	if (!removed)
		return;
	pthread_mutex_lock(&c->mu);
	if (end)
		kc_rpc_finish_locked(c, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
	had = c->producer;
	c->producer = false;
	pthread_mutex_unlock(&c->mu);
	if (had)
		kc_rpc_call_unref(c);
}
