/*
 * rpc_int.h - what the gRPC server's files share: the call, the server and
 * the steps between them. Internal to rpc*.c; nothing else includes it.
 *
 *   rpc.c           registration, listeners, start, shutdown and drain
 *   rpc_call.c      a call's lifetime (references) and everything it sends:
 *                   the send queue, statuses, stream messages, detaching
 *                   a stream's producer
 *   rpc_auth.c      who is calling (bearer token, OAuth identity) and
 *                   whether they may call the method
 *   rpc_dispatch.c  the completion-queue workers and each call's steps:
 *                   request, receive (unary handlers, stream start), close,
 *                   send done
 *
 * The concurrency model is described at the top of rpc.c. Locks: the
 * server's `mu` (the stream list, shutdown state) is taken before a call's
 * `mu` (its references, send queue and state), never the other way.
 */
#ifndef KC_SERVER_RPC_INT_H
#define KC_SERVER_RPC_INT_H

#include "server/rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/status.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/log.h"

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
	bool finished; /* status queued or sent */
	bool closed;   /* RECV_CLOSE_ON_SERVER completed */
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

/* rpc.c */
const struct method *kc_rpc_find_method(kc_rpc_server *s, grpc_slice path);
int kc_rpc_request_one(kc_rpc_server *s, bool tcp);

/* rpc_call.c */
struct call *kc_rpc_call_new(kc_rpc_server *s);
void kc_rpc_call_free(struct call *c);
void kc_rpc_call_ref(struct call *c);
void kc_rpc_call_unref(struct call *c);
grpc_status_code kc_rpc_status_of(int kc_err);
void kc_rpc_pump(struct call *c);
void kc_rpc_finish_locked(struct call *c, grpc_status_code status, const char *msg);
void kc_rpc_finish(struct call *c, int kc_err, const char *msg);
grpc_byte_buffer *kc_rpc_buffer_of(grpc_slice sl);
grpc_byte_buffer *kc_rpc_pack(const ProtobufCMessage *msg, size_t *len_out);
bool kc_rpc_queue_locked(struct call *c, grpc_byte_buffer *bb, size_t len);
void kc_rpc_detach_producer(struct call *c, bool end);

/* rpc_auth.c */
int kc_rpc_authorize(struct call *c, kc_rpc_ctx *ctx, char *user, char *email, size_t cap, char *err, size_t errlen);

/* rpc_dispatch.c */
void *kc_rpc_worker(void *arg);

#endif /* KC_SERVER_RPC_INT_H */
