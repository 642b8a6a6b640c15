/*
 * rpc.h - a generic gRPC server over gRPC core's C API and protobuf-c.
 *
 * Methods are registered by service descriptor and method name; a call's
 * full method name ("/kc.v1.TaskService/CreateTask") selects the handler,
 * and the method descriptor's input and output types (un)pack messages, so
 * no per-method glue code exists. Unary handlers return a message or a
 * kc_error with a user-facing message (sent as the gRPC status message);
 * a "raw" unary handler writes its answer's wire bytes itself.
 * Server-streaming handlers register a producer that sends from any thread.
 */
#ifndef KC_SERVER_RPC_H
#define KC_SERVER_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/token.h"

typedef struct kc_rpc_server kc_rpc_server;
typedef struct kc_rpc_stream kc_rpc_stream;

typedef enum kc_auth_mode {
	/* No credentials needed (health). */
	KC_AUTH_NONE,
	/* A bearer token, or an OAuth identity from the gateway. */
	KC_AUTH_ANY,
	/* Only an OAuth identity from the gateway; a bearer is refused with
	 * PERMISSION_DENIED (the token cannot be used to read the token). */
	KC_AUTH_OAUTH_ONLY,
} kc_auth_mode;

/* Who is calling. */
typedef struct kc_rpc_ctx {
	bool bearer;
	/* Set only for calls over the unix socket, never over TCP (rpc.c). */
	const char *oauth_user;
	const char *oauth_email;
} kc_rpc_ctx;

/* A unary handler: on success sets *resp to a heap message the server
 * frees with protobuf_c_message_free_unpacked(resp, NULL) and returns 0;
 * otherwise returns a kc_error and writes a message into err. */
typedef int (*kc_unary_fn)(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           char *err, size_t errlen);

/* The answer of a raw unary handler. */
typedef struct kc_rpc_answer kc_rpc_answer;

/* A buffer of `len` bytes that the handler fills with the packed answer;
 * the server owns it. Call once (a second call replaces the first
 * buffer). Never NULL (gRPC's allocator aborts when out of memory). */
uint8_t *kc_rpc_answer_alloc(kc_rpc_answer *ans, size_t len);

/* A raw unary handler: on success it has filled the buffer from
 * kc_rpc_answer_alloc with exactly the bytes protobuf_c_message_pack()
 * would write for the method's output message, and returns 0; otherwise
 * a kc_error as above. For answers assembled from bytes kept ready (only
 * ListTasks: rpc.c's comment says why), where building a message only to
 * pack it would cost more than the answer itself. */
typedef int (*kc_unary_raw_fn)(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_answer *ans,
                               char *err, size_t errlen);

/* A streaming handler: returns 0 after arranging for messages to be sent
 * with kc_rpc_stream_send (it must call kc_rpc_stream_set_detach before a
 * producer may outlive it), or a kc_error to end the call at once. */
typedef int (*kc_stream_fn)(void *app, const kc_rpc_ctx *ctx, const ProtobufCMessage *req, kc_rpc_stream *st, char *err,
                            size_t errlen);

/* `detach(app, id)` is called once when the call is cancelled or the
 * server shuts down; it returns true when it removed the producer (which
 * then never sends again), false when the producer already sent its last
 * message. */
void kc_rpc_stream_set_detach(kc_rpc_stream *st, bool (*detach)(void *app, int64_t id), void *app, int64_t id);

/* Queues a message (copied) for the client; with `last`, the stream then
 * ends with OK and the producer must not use `st` again. `msg` NULL with
 * `last` ends the stream with UNAVAILABLE (shutting down). Thread-safe. */
void kc_rpc_stream_send(kc_rpc_stream *st, const ProtobufCMessage *msg, bool last);

/* Bytes queued for the client and not yet sent (including the message in
 * flight): a producer with more to send waits while this is high, so a
 * slow reader slows it down instead of being cut off. Thread-safe; valid
 * while the producer holds the stream. */
size_t kc_rpc_stream_backlog(kc_rpc_stream *st);

int kc_rpc_server_new(kc_token *token, long max_message_bytes, kc_rpc_server **out);

/* Bounds for the TCP listener only (rpc.c lists the rest it sets: keepalive
 * and ping enforcement, idle connections, handshake time); the unix socket
 * keeps gRPC's defaults, since the gateway multiplexes every browser's
 * calls over its one connection there. */
#define KC_RPC_TCP_MAX_STREAMS_DEFAULT 32
typedef struct kc_rpc_tcp_limits {
	/* Concurrent calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
	int max_concurrent_streams;
} kc_rpc_tcp_limits;

/* Sets the TCP listener's bounds; call before kc_rpc_listen on a TCP
 * address. Without it, the defaults above. */
void kc_rpc_set_tcp_limits(kc_rpc_server *s, const kc_rpc_tcp_limits *limits);
int kc_rpc_register_unary(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method, kc_unary_fn fn,
                          void *app, kc_auth_mode auth);
int kc_rpc_register_unary_raw(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method,
                              kc_unary_raw_fn fn, void *app, kc_auth_mode auth);
int kc_rpc_register_stream(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method, kc_stream_fn fn,
                           void *app, kc_auth_mode auth);

/* "unix:/path" (directory created 0700, stale socket removed: the caller
 * must hold the socket's lock, lock.h, so that it is never another
 * server's live socket) or "host:port" (its own grpc_server with the TCP
 * limits; no OAuth identity is ever taken from its calls). Returns the
 * bound port (0 for unix) or a kc_error. */
int kc_rpc_listen(kc_rpc_server *s, const char *addr);

/* Starts `threads` workers. */
int kc_rpc_start(kc_rpc_server *s, int threads);

/* Graceful drain: stops accepting calls, ends every stream with
 * UNAVAILABLE, lets unary calls finish for up to drain_ms, then cancels
 * what is left and joins the workers. */
void kc_rpc_shutdown(kc_rpc_server *s, int drain_ms);

void kc_rpc_server_free(kc_rpc_server *s);

#endif /* KC_SERVER_RPC_H */
