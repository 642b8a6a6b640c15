/*
 * rpc.c - see rpc.h.
 *
 * Concurrency model (the heart of kc-server, chosen for DESIGN §6):
 *
 * One gRPC completion queue, served by a small fixed pool of worker threads
 * (kc_rpc_start's `threads`, 4 by default) that all block in
 * grpc_completion_queue_next(). Every call is a small state machine driven
 * by the completions of the batches it started; a worker that takes a
 * completion runs the next step and goes back to the queue. Unary handlers
 * run on the worker: most answer from the in-memory task index in
 * microseconds (ListTasks of one page is a walk over a sorted array under
 * one mutex), and the few that must run tmux or git block only their worker
 * for milliseconds, so a pool of a few threads keeps every core busy
 * without a thread per call. Threads cost little memory (stacks are touched
 * lazily), which keeps idle RSS small.
 *
 * Answers. A unary handler returns a protobuf-c message, which is packed
 * into one slice and sent with its status in one batch (metadata, message,
 * status: one completion per call for the answer). A raw handler
 * (kc_rpc_register_unary_raw) writes the packed bytes itself into a slice
 * from kc_rpc_answer_alloc, which is sent as it is. Only ListTasks does:
 * its answer is a summary per task written from the task index, and
 * building it as messages (four allocations per task) and packing them
 * through protobuf-c's descriptors cost more than the rest of the call,
 * gRPC included. The bytes must be exactly what packing the method's
 * output message would give; tasks_list_test checks ListTasks' against
 * protobuf-c's.
 *
 * Per call the server allocates the call's state and the answer's slice;
 * the request is unpacked in place (from its slice, into a stack arena)
 * and an OK status carries no message to copy.
 *
 * Streams never occupy a worker: a WatchTask or WatchMetrics call
 * registers a producer (the task supervisor or the metrics sampler) and
 * returns; the producer later calls kc_rpc_stream_send() from its own
 * thread, which queues the serialized message and starts a SEND batch when
 * none is in flight (gRPC allows one outstanding send per call). Each call
 * also has a RECV_CLOSE_ON_SERVER batch from its first moment, whose
 * completion tells us the client cancelled or its deadline passed; the
 * producer is then detached and the call released. A slow reader cannot
 * make memory grow without bound: past STREAM_QUEUE_MAX queued bytes the
 * stream ends with RESOURCE_EXHAUSTED.
 *
 * Lifetime: a call is reference-counted. Each started batch holds a
 * reference until its completion is processed, and a stream's producer
 * holds one until it is detached or has sent its last message. The last
 * reference frees the call.
 */
#include "server/rpc.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "server/pb_strings.h"

#define MAX_METHODS 64
#define MAX_THREADS 16
#define PENDING_REQUESTS 8
#define STREAM_QUEUE_MAX (8u * 1024 * 1024)
#define TRIM_AFTER_BYTES (256u * 1024)

struct method {
	char path[160];
	size_t path_len;
	const ProtobufCMethodDescriptor *desc;
	kc_unary_fn unary;
	kc_unary_raw_fn raw;
	kc_stream_fn stream;
	void *app;
	kc_auth_mode auth;
};

enum tag_kind { TAG_REQUEST, TAG_RECV, TAG_CLOSE, TAG_SEND, TAG_SHUTDOWN };

struct call;

struct tag {
	enum tag_kind kind;
	struct call *c;
};

struct qmsg {
	grpc_byte_buffer *bb;
	size_t len;
	struct qmsg *next;
};

struct call {
	kc_rpc_server *s;
	/* Which listener's server took the call: the unix socket's or TCP's. */
	bool tcp;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv_bb;
	int cancelled;
	const struct method *m;

	pthread_mutex_t mu;
	int refs;
	struct tag t_request, t_recv, t_close, t_send;

	/* Sending: one batch in flight at a time. */
	bool sent_md;
	bool send_in_flight;
	bool finished;	/* status queued or sent */
	bool closed;	/* RECV_CLOSE_ON_SERVER completed */
	bool finish_pending;
	grpc_status_code final_status;
	grpc_slice status_slice; /* the empty slice until a message is set */
	struct qmsg *q_head, *q_tail;
	size_t q_bytes;
	size_t inflight_len;
	grpc_byte_buffer *inflight_bb;
	grpc_op ops[3];

	/* Streams. */
	bool is_stream;
	bool producer; /* the producer's reference is held */
	bool (*detach)(void *app, int64_t id);
	void *detach_app;
	int64_t detach_id;
	struct call *snext, *sprev;
};

struct kc_rpc_server {
	/* The unix socket's server and, when a TCP address is listened on,
	 * TCP's (kc_rpc_listen says why there are two). Both deliver to cq. */
	grpc_server *server;
	grpc_server *tcp_server;
	long max_message_bytes;
	kc_rpc_tcp_limits tcp_limits;
	grpc_completion_queue *cq;
	kc_token *token;
	struct method methods[MAX_METHODS];
	size_t n_methods;
	pthread_t threads[MAX_THREADS];
	int n_threads;
	bool started;
	bool shutting_down;
	struct tag t_shutdown;
	/* Servers whose shutdown has not completed yet. */
	int shutdowns_pending;
	bool shutdown_done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct call *streams; /* open streams, for the drain */
	char *unix_path;
};

struct kc_rpc_stream {
	struct call c;
};

struct kc_rpc_answer {
	grpc_slice slice;
	bool set;
};

static void call_unref(struct call *c);

/* ---- registration -------------------------------------------------------- */

static int reg(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *name, kc_unary_fn u,
	       kc_unary_raw_fn raw, kc_stream_fn st, void *app, kc_auth_mode auth)
{
	const ProtobufCMethodDescriptor *md = NULL;
	struct method *m;
	for (unsigned i = 0; i < sd->n_methods; i++)
		if (strcmp(sd->methods[i].name, name) == 0)
			md = &sd->methods[i];
	if (!md || s->n_methods == MAX_METHODS)
		return KC_ERR_INVALID;
	m = &s->methods[s->n_methods++];
	snprintf(m->path, sizeof m->path, "/%s/%s", sd->name, md->name);
	m->path_len = strlen(m->path);
	m->desc = md;
	m->unary = u;
	m->raw = raw;
	m->stream = st;
	m->app = app;
	m->auth = auth;
	return 0;
}

int kc_rpc_register_unary(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method, kc_unary_fn fn,
			  void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, fn, NULL, NULL, app, auth);
}

int kc_rpc_register_unary_raw(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method,
			      kc_unary_raw_fn fn, void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, NULL, fn, NULL, app, auth);
}

int kc_rpc_register_stream(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method,
			   kc_stream_fn fn, void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, NULL, NULL, fn, app, auth);
}

static const struct method *find_method(kc_rpc_server *s, grpc_slice path)
{
	size_t len = GRPC_SLICE_LENGTH(path);
	const void *p = GRPC_SLICE_START_PTR(path);
	for (size_t i = 0; i < s->n_methods; i++)
		if (s->methods[i].path_len == len && memcmp(s->methods[i].path, p, len) == 0)
			return &s->methods[i];
	return NULL;
}

/* ---- calls --------------------------------------------------------------- */

static struct call *call_new(kc_rpc_server *s)
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

static void call_free(struct call *c)
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

static void call_ref(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	c->refs++;
	pthread_mutex_unlock(&c->mu);
}

static void call_unref(struct call *c)
{
	int left;
	pthread_mutex_lock(&c->mu);
	left = --c->refs;
	pthread_mutex_unlock(&c->mu);
	if (left == 0)
		call_free(c);
}

static int request_one(kc_rpc_server *s, bool tcp)
{
	struct call *c = call_new(s);
	grpc_call_error e;
	if (!c)
		return KC_ERR_NOMEM;
	c->tcp = tcp;
	e = grpc_server_request_call(tcp ? s->tcp_server : s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
				     &c->t_request);
	if (e != GRPC_CALL_OK) {
		call_free(c);
		return KC_ERR_INTERNAL;
	}
	return 0;
}

/* Starts the next send batch if none is in flight; call with c->mu held.
 * The batch's reference is taken here (refs is under c->mu). */
static void pump(struct call *c)
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
static void finish_locked(struct call *c, grpc_status_code status, const char *msg)
{
	if (c->finish_pending || c->finished)
		return;
	c->finish_pending = true;
	c->final_status = status;
	/* An OK status has no message: nothing to copy. */
	if (msg && *msg)
		c->status_slice = grpc_slice_from_copied_string(msg);
	pump(c);
}

static void finish(struct call *c, int kc_err, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	finish_locked(c, (grpc_status_code)kc_error_to_grpc_status(kc_err), msg);
	pthread_mutex_unlock(&c->mu);
}

/* A byte buffer holding the slice (which it takes a reference of). */
static grpc_byte_buffer *buffer_of(grpc_slice sl)
{
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg, size_t *len_out)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice sl = grpc_slice_malloc(len);
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
	if (len_out)
		*len_out = len;
	return buffer_of(sl);
}

/* Queues a packed message (taking `bb`) without starting a send; call
 * with c->mu held, then pump() or finish_locked(). Returns false when it
 * was not queued. A stream whose reader falls STREAM_QUEUE_MAX behind is
 * ended; a unary reply is one message and is never refused for size. */
static bool queue_locked(struct call *c, grpc_byte_buffer *bb, size_t len)
{
	struct qmsg *q;
	if (c->closed || c->finish_pending || c->finished || !(q = calloc(1, sizeof *q))) {
		grpc_byte_buffer_destroy(bb);
		return false;
	}
	if (c->is_stream && c->q_bytes + len > STREAM_QUEUE_MAX) {
		grpc_byte_buffer_destroy(bb);
		free(q);
		finish_locked(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the client reads too slowly");
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
		grpc_byte_buffer *bb = pack(msg, &len);
		/* The last message is sent with the status (finish_locked). */
		if (queue_locked(c, bb, len) && !last)
			pump(c);
	}
	if (last) {
		if (msg)
			finish_locked(c, GRPC_STATUS_OK, "");
		else
			finish_locked(c, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
		if (c->producer) {
			c->producer = false;
			drop = true;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (drop)
		call_unref(c);
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
static void detach_producer(struct call *c, bool end)
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
		finish_locked(c, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
	had = c->producer;
	c->producer = false;
	pthread_mutex_unlock(&c->mu);
	if (had)
		call_unref(c);
}

/* ---- auth ---------------------------------------------------------------- */

static bool md_is(const grpc_metadata *m, const char *key)
{
	size_t n = strlen(key);
	return GRPC_SLICE_LENGTH(m->key) == n && memcmp(GRPC_SLICE_START_PTR(m->key), key, n) == 0;
}

/* Copies a metadata value into buf as a C string; false when too long. */
static bool md_value(const grpc_metadata *m, char *buf, size_t len)
{
	size_t n = GRPC_SLICE_LENGTH(m->value);
	if (n >= len)
		return false;
	memcpy(buf, GRPC_SLICE_START_PTR(m->value), n);
	buf[n] = '\0';
	return memchr(buf, '\0', n) == NULL;
}

/*
 * Who is calling, and may they call this method?
 *
 * The OAuth identity (x-kc-oauth-user / x-kc-oauth-email) is set by
 * kc-gateway after the workspace's OAuth proxy authenticated the browser.
 * It is trusted ONLY when the call arrived over the unix socket, which the
 * server knows from grpc_call_get_peer(): gRPC core reports a unix-socket
 * peer as "unix:..." and a TCP peer as "ipv4:..."/"ipv6:...". The socket
 * lives in a 0700 directory, so only the workspace user's processes (the
 * gateway) can connect to it; a remote client over TCP that sends the same
 * metadata is ignored and needs the bearer token like everyone else.
 * The peer is looked up only for calls that carry the identity (it costs
 * an allocation, and most calls carry a bearer alone). Before the peer,
 * the listener decides: a call taken by the TCP port's server never has an
 * identity, whatever its peer string says.
 */
static bool unix_peer(struct call *c, int *cached)
{
	if (*cached < 0) {
		char *peer = grpc_call_get_peer(c->call);
		*cached = peer && strncmp(peer, "unix:", 5) == 0;
		gpr_free(peer);
	}
	return *cached;
}

static int authorize(struct call *c, kc_rpc_ctx *ctx, char *user, char *email, size_t cap, char *err,
		     size_t errlen)
{
	bool have_user = false;
	int is_unix = -1;

	memset(ctx, 0, sizeof *ctx);
	for (size_t i = 0; i < c->md.count; i++) {
		const grpc_metadata *m = &c->md.metadata[i];
		if (md_is(m, "authorization")) {
			size_t n = GRPC_SLICE_LENGTH(m->value);
			const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
			if (n > 7 && strncasecmp(v, "Bearer ", 7) == 0 &&
			    kc_token_check(c->s->token, v + 7, n - 7))
				ctx->bearer = true;
		} else if (md_is(m, "x-kc-oauth-user") && !c->tcp && unix_peer(c, &is_unix)) {
			have_user = md_value(m, user, cap) && *user;
		} else if (md_is(m, "x-kc-oauth-email") && !c->tcp && unix_peer(c, &is_unix)) {
			if (!md_value(m, email, cap))
				*email = '\0';
		}
	}
	if (have_user) {
		ctx->oauth_user = user;
		ctx->oauth_email = email;
	}
	switch (c->m->auth) {
	case KC_AUTH_NONE:
		return 0;
	case KC_AUTH_ANY:
		if (ctx->bearer || ctx->oauth_user)
			return 0;
		snprintf(err, errlen, "missing or invalid bearer token");
		return KC_ERR_UNAUTHENTICATED;
	case KC_AUTH_OAUTH_ONLY:
		if (ctx->oauth_user)
			return 0;
		if (ctx->bearer) {
			snprintf(err, errlen, "the API token is only available to a browser session (OAuth)");
			return KC_ERR_PERMISSION;
		}
		snprintf(err, errlen, "an OAuth identity is required");
		return KC_ERR_UNAUTHENTICATED;
	}
	return KC_ERR_INTERNAL;
}

/* ---- steps --------------------------------------------------------------- */

static void on_request(struct call *c, bool ok)
{
	kc_rpc_server *s = c->s;
	grpc_op op;

	if (!ok) {
		/* The server is shutting down: this pending request ends. */
		call_free(c);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (!s->shutting_down)
		request_one(s, c->tcp);
	pthread_mutex_unlock(&s->mu);

	c->m = find_method(s, c->details.method);
	/* refs: 1 from creation, now owned by the RECV batch; +1 for CLOSE. */
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	call_ref(c);
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
		call_unref(c);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_bb;
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL) != GRPC_CALL_OK)
		call_unref(c);
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
	queue_locked(c, bb, len);
	finish_locked(c, GRPC_STATUS_OK, NULL);
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
			answer(c, buffer_of(ans.slice), GRPC_SLICE_LENGTH(ans.slice));
			return;
		}
		if (ans.set)
			grpc_slice_unref(ans.slice);
	} else {
		rc = c->m->unary(c->m->app, ctx, req, &resp, err, sizeof err);
		if (rc == 0 && resp) {
			size_t packed = 0;
			grpc_byte_buffer *bb = pack(resp, &packed);
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
	finish(c, rc, *err ? err : kc_strerror(rc));
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
		finish_locked(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	if (!ok || !c->recv_bb) {
		finish(c, KC_ERR_INVALID, "missing request message");
		goto out;
	}
	if ((rc = authorize(c, &ctx, user, email, sizeof user, err, sizeof err)) != 0) {
		finish(c, rc, err);
		goto out;
	}
	if (!(req = unpack_request(c, &alloc, err, sizeof err))) {
		finish(c, KC_ERR_INVALID, err);
		goto out;
	}
	if (!c->m->stream) {
		run_unary(c, &ctx, req);
	} else {
		kc_rpc_server *s = c->s;
		bool closed;
		/* Listed (for the drain) and given the producer's reference
		 * before the producer can send. Both locks make this atomic with
		 * on_close(): either it sees the call listed, or we see it
		 * closed and never start the stream. */
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
			goto out;
		rc = c->m->stream(c->m->app, &ctx, req, (kc_rpc_stream *)c, err, sizeof err);
		if (rc == 0) {
			/* Cancelled while the handler registered its producer:
			 * on_close() found nothing to detach yet, so do it now. */
			pthread_mutex_lock(&c->mu);
			closed = c->closed;
			pthread_mutex_unlock(&c->mu);
			if (closed)
				detach_producer(c, false);
		}
		if (rc != 0) {
			bool had;
			pthread_mutex_lock(&c->mu);
			had = c->producer;
			c->producer = false;
			finish_locked(c, (grpc_status_code)kc_error_to_grpc_status(rc), *err ? err : kc_strerror(rc));
			pthread_mutex_unlock(&c->mu);
			if (had)
				call_unref(c);
		}
	}
out:
	if (req)
		protobuf_c_message_free_unpacked(req, &alloc);
	call_unref(c); /* the RECV batch's */
}

static void on_close(struct call *c)
{
	kc_rpc_server *s = c->s;
	bool listed;
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	pthread_mutex_unlock(&c->mu);
	detach_producer(c, false);
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
		call_unref(c);
	call_unref(c); /* the CLOSE batch's */
}

static void on_send(struct call *c, bool ok)
{
	grpc_byte_buffer *sent;
	pthread_mutex_lock(&c->mu);
	sent = c->inflight_bb;
	c->inflight_bb = NULL;
	c->send_in_flight = false;
	if (ok)
		pump(c);
	pthread_mutex_unlock(&c->mu);
	if (sent)
		grpc_byte_buffer_destroy(sent);
	call_unref(c);
}

static void *worker(void *arg)
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

/* ---- server -------------------------------------------------------------- */

static void int_arg(grpc_arg *a, const char *key, int value)
{
	a->type = GRPC_ARG_INTEGER;
	a->key = (char *)key;
	a->value.integer = value;
}

/*
 * The TCP port is where strangers may connect (the unix socket sits in a
 * 0700 directory and only the gateway reaches it), so its server gets
 * bounds the gateway's long-lived, busy connection must not have:
 *
 *  - at most `max_concurrent_streams` calls per connection (HTTP/2's
 *    SETTINGS_MAX_CONCURRENT_STREAMS; gRPC core's default is unlimited);
 *  - ping abuse: a client pinging more often than every PING_MIN_MS
 *    without sending data earns a strike, and after PING_STRIKES strikes
 *    the connection gets GOAWAY (too_many_pings); no pings are allowed
 *    on a connection with no calls;
 *  - dead peers: the server pings an idle connection every KEEPALIVE_MS
 *    and closes it when no ack comes within KEEPALIVE_TIMEOUT_MS, so a
 *    vanished client does not hold its streams (and their producers);
 *  - a connection with no calls for IDLE_MS is closed;
 *  - a handshake (the HTTP/2 preface and settings) must finish within
 *    HANDSHAKE_MS, so half-open connections do not pile up.
 *
 * No maximum connection age: WatchTask and WatchMetrics streams are meant
 * to last as long as the client watches, and an age limit would cut them.
 */
#define PING_MIN_MS (30 * 1000)
#define PING_STRIKES 2
#define KEEPALIVE_MS (60 * 1000)
#define KEEPALIVE_TIMEOUT_MS (20 * 1000)
#define IDLE_MS (5 * 60 * 1000)
#define HANDSHAKE_MS (10 * 1000)

static grpc_server *server_create(kc_rpc_server *s, bool tcp)
{
	grpc_arg args[12];
	grpc_channel_args ca = {0, args};
	grpc_server *srv;

	int_arg(&args[ca.num_args++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)s->max_message_bytes);
	int_arg(&args[ca.num_args++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, -1);
	if (tcp) {
		int_arg(&args[ca.num_args++], GRPC_ARG_MAX_CONCURRENT_STREAMS, s->tcp_limits.max_concurrent_streams);
		int_arg(&args[ca.num_args++], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, PING_MIN_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_HTTP2_MAX_PING_STRIKES, PING_STRIKES);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_MAX_CONNECTION_IDLE_MS, IDLE_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, HANDSHAKE_MS);
	}
	srv = grpc_server_create(&ca, NULL);
	grpc_server_register_completion_queue(srv, s->cq, NULL);
	return srv;
}

int kc_rpc_server_new(kc_token *token, long max_message_bytes, kc_rpc_server **out)
{
	kc_rpc_server *s = calloc(1, sizeof *s);

	if (!s)
		return KC_ERR_NOMEM;
	grpc_init();
	s->token = token;
	s->max_message_bytes = max_message_bytes;
	s->tcp_limits.max_concurrent_streams = KC_RPC_TCP_MAX_STREAMS_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->server = server_create(s, false);
	s->t_shutdown = (struct tag){TAG_SHUTDOWN, NULL};
	*out = s;
	return 0;
}

void kc_rpc_set_tcp_limits(kc_rpc_server *s, const kc_rpc_tcp_limits *limits)
{
	s->tcp_limits = *limits;
	if (s->tcp_limits.max_concurrent_streams < 1)
		s->tcp_limits.max_concurrent_streams = 1;
}

/*
 * A unix address goes to the main server, anything else to a second
 * grpc_server created for TCP: gRPC core's channel args (the limits above)
 * are per server, not per port, and the gateway's one connection over the
 * unix socket carries every browser's calls, so it must not get the TCP
 * port's stream cap. The second server also tells the listener apart
 * structurally: authorize() never takes an identity from its calls.
 */
int kc_rpc_listen(kc_rpc_server *s, const char *addr)
{
	grpc_server_credentials *creds;
	grpc_server *target = s->server;
	int port;

	if (strncmp(addr, "unix:", 5) != 0) {
		if (!s->tcp_server)
			s->tcp_server = server_create(s, true);
		target = s->tcp_server;
	} else {
		const char *path = addr + 5;
		char dir[4096];
		char *slash;
		snprintf(dir, sizeof dir, "%s", path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			/* Only the workspace user may reach the gateway's socket:
			 * that is what makes the OAuth metadata trustworthy. */
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return KC_ERR_IO;
			chmod(dir, 0700);
		}
		unlink(path);
		free(s->unix_path);
		s->unix_path = strdup(path);
	}
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(target, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0 && strncmp(addr, "unix:", 5) != 0)
		return KC_ERR_IO;
	if (strncmp(addr, "unix:", 5) == 0) {
		struct stat st;
		if (port == 0 && stat(addr + 5, &st) != 0)
			return KC_ERR_IO;
		return 0;
	}
	return port;
}

int kc_rpc_start(kc_rpc_server *s, int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	grpc_server_start(s->server);
	if (s->tcp_server)
		grpc_server_start(s->tcp_server);
	if (s->unix_path)
		chmod(s->unix_path, 0600);
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < PENDING_REQUESTS; i++) {
		request_one(s, false);
		if (s->tcp_server)
			request_one(s, true);
	}
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&s->threads[i], NULL, worker, s) != 0)
			return KC_ERR_IO;
		s->n_threads = i + 1;
	}
	s->started = true;
	return 0;
}

void kc_rpc_shutdown(kc_rpc_server *s, int drain_ms)
{
	struct timespec ts;
	bool done;

	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->shutting_down = true;
	s->shutdowns_pending = s->tcp_server ? 2 : 1;
	pthread_mutex_unlock(&s->mu);
	grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
	if (s->tcp_server)
		grpc_server_shutdown_and_notify(s->tcp_server, s->cq, &s->t_shutdown);

	/* End every open stream: detach its producer, send UNAVAILABLE. */
	for (;;) {
		struct call *c = NULL;
		pthread_mutex_lock(&s->mu);
		for (struct call *x = s->streams; x; x = x->snext) {
			pthread_mutex_lock(&x->mu);
			if (x->producer && x->detach) {
				c = x;
				x->refs++;
			}
			pthread_mutex_unlock(&x->mu);
			if (c)
				break;
		}
		pthread_mutex_unlock(&s->mu);
		if (!c)
			break;
		detach_producer(c, true);
		pthread_mutex_lock(&c->mu);
		/* A producer without detach left is done; make sure we do not
		 * pick it again. */
		c->detach = NULL;
		pthread_mutex_unlock(&c->mu);
		call_unref(c);
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += drain_ms / 1000;
	ts.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->shutdown_done && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	done = s->shutdown_done;
	pthread_mutex_unlock(&s->mu);
	if (!done) {
		kc_log(KC_LOG_WARN, "drain timed out; cancelling the remaining calls", NULL);
		grpc_server_cancel_all_calls(s->server);
		if (s->tcp_server)
			grpc_server_cancel_all_calls(s->tcp_server);
		pthread_mutex_lock(&s->mu);
		while (!s->shutdown_done)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
	}
	grpc_completion_queue_shutdown(s->cq);
	for (int i = 0; i < s->n_threads; i++)
		pthread_join(s->threads[i], NULL);
	s->started = false;
}

void kc_rpc_server_free(kc_rpc_server *s)
{
	if (!s)
		return;
	if (s->started)
		kc_rpc_shutdown(s, 0);
	if (s->server) {
		if (!s->shutdown_done && s->n_threads == 0) {
			/* Never started: still needs a shutdown before destroy. */
			grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
			grpc_server_cancel_all_calls(s->server);
			if (s->tcp_server) {
				grpc_server_shutdown_and_notify(s->tcp_server, s->cq, &s->t_shutdown);
				grpc_server_cancel_all_calls(s->tcp_server);
			}
			grpc_completion_queue_shutdown(s->cq);
			for (;;) {
				grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
									   NULL);
				if (ev.type == GRPC_QUEUE_SHUTDOWN)
					break;
				if (ev.type == GRPC_OP_COMPLETE && ((struct tag *)ev.tag)->kind == TAG_REQUEST)
					call_free(((struct tag *)ev.tag)->c);
			}
		}
		grpc_server_destroy(s->server);
		if (s->tcp_server)
			grpc_server_destroy(s->tcp_server);
	}
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	grpc_shutdown();
}
