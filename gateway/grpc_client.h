/*
 * grpc_client.h - a gRPC client on one HTTP/2 connection, as nghttp2 glue
 * with no I/O (the client-side twin of h2.h).
 *
 * The caller feeds what it read from the socket to kc_gc_recv and writes
 * what kc_gc_send hands it; nghttp2 runs through mem_recv/mem_send only,
 * so the core is testable and fuzzable on bytes. Timers, sockets and
 * reconnects belong to the caller (upstream.c).
 *
 * gRPC over HTTP/2 as written here: HEADERS with :method POST, :scheme
 * http, :path /pkg.Service/Method, :authority, content-type
 * application/grpc, te: trailers, grpc-timeout when there is a deadline,
 * then the caller's metadata; one DATA payload of a 5-byte prefix (flag 0
 * = not compressed, big-endian length) and the message, with END_STREAM.
 * The answer: HEADERS (:status 200), length-prefixed messages in DATA,
 * then trailers with grpc-status and grpc-message (percent-encoded); or a
 * trailers-only answer (one HEADERS with END_STREAM). A stream ending
 * without grpc-status gets the status gRPC maps from its HTTP status (or
 * INTERNAL); a reset stream gets CANCELLED / UNAVAILABLE / INTERNAL by
 * its error code.
 *
 * Flow control: a stream's window is reopened as its bytes arrive, except
 * while it is paused (kc_gc_pause): then the server stops after one
 * window (KC_GC_STREAM_WINDOW) and what arrived waits here. The
 * connection window is reopened as bytes arrive, so one paused stream
 * does not hold the others back. The
 * server's SETTINGS_MAX_CONCURRENT_STREAMS is kept by nghttp2: calls past
 * it wait in nghttp2's queue until a stream closes.
 */
#ifndef KC_GW_GRPC_CLIENT_H
#define KC_GW_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/http.h"

/* gRPC status codes (grpc/status.h's numbers), for the gateway's files. */
enum {
	KC_GRPC_OK = 0,
	KC_GRPC_CANCELLED = 1,
	KC_GRPC_UNKNOWN = 2,
	KC_GRPC_INVALID_ARGUMENT = 3,
	KC_GRPC_DEADLINE_EXCEEDED = 4,
	KC_GRPC_NOT_FOUND = 5,
	KC_GRPC_ALREADY_EXISTS = 6,
	KC_GRPC_PERMISSION_DENIED = 7,
	KC_GRPC_RESOURCE_EXHAUSTED = 8,
	KC_GRPC_FAILED_PRECONDITION = 9,
	KC_GRPC_ABORTED = 10,
	KC_GRPC_OUT_OF_RANGE = 11,
	KC_GRPC_UNIMPLEMENTED = 12,
	KC_GRPC_INTERNAL = 13,
	KC_GRPC_UNAVAILABLE = 14,
	KC_GRPC_DATA_LOSS = 15,
	KC_GRPC_UNAUTHENTICATED = 16,
};

typedef struct kc_gc kc_gc;
/* One call's stream; valid until its on_done returned or kc_gc_cancel. */
typedef struct kc_gc_stream kc_gc_stream;

typedef struct kc_gc_callbacks {
	/* One response message of the call `call` (the pointer given to
	 * kc_gc_call); `data` lives until the callback returns. */
	void (*on_message)(void *call, const uint8_t *data, size_t len, void *user_data);
	/* The call ended: gRPC status and message (never NULL). Once per call
	 * unless kc_gc_cancel came first. `refused` is set when the server
	 * never processed the stream (GOAWAY past it, REFUSED_STREAM), so the
	 * caller may start it again on another connection. */
	void (*on_done)(void *call, int status, const char *message, bool refused, void *user_data);
} kc_gc_callbacks;

/* Our SETTINGS_INITIAL_WINDOW_SIZE: what a paused stream may buffer. */
#define KC_GC_STREAM_WINDOW (1u << 20)

/* Largest message accepted from the server; a bigger one ends the call
 * with RESOURCE_EXHAUSTED (gRPC core's limit was set to the same). */
#define KC_GC_MAX_MESSAGE (64u << 20)

/* A client session; queues the connection preface and SETTINGS.
 * `authority` is sent as :authority. 0 or KC_ERR_NOMEM. */
int kc_gc_new(kc_gc **out, const char *authority, const kc_gc_callbacks *cb, void *user_data);

/* Frees the session; no callback is called. NULL is a no-op. */
void kc_gc_free(kc_gc *g);

/*
 * Queues a call: `method` is the path ("/kc.v1.TaskService/GetTask"),
 * `md` metadata pairs with lower-case names, `timeout_ms` > 0 is sent as
 * grpc-timeout. `call` identifies the call in callbacks and kc_gc_cancel.
 * 0 and *out; KC_ERR_INVALID for metadata HTTP/2 cannot carry;
 * KC_ERR_UNAVAILABLE when the session takes no new streams (GOAWAY, ids
 * exhausted, failed); KC_ERR_NOMEM. No callback on failure.
 */
int kc_gc_call(kc_gc *g, const char *method, const kc_header *md, size_t n_md, const void *req, size_t len,
               int64_t timeout_ms, void *call, kc_gc_stream **out);

/* The caller is gone: RST_STREAM(CANCEL); no callback for it again. */
void kc_gc_cancel(kc_gc *g, kc_gc_stream *s);

/* Holds (or resumes) delivery of the stream's messages; a held stream's
 * window is not reopened. Resuming delivers what is buffered at once. */
void kc_gc_pause(kc_gc *g, kc_gc_stream *s, bool paused);

/* Consumes `len` bytes from the socket. 0, or a negative code after which
 * the session is dead (the caller fails its calls, kc_gc_fail). */
int kc_gc_recv(kc_gc *g, const uint8_t *data, size_t len);

/* The next bytes to write (valid until the next call into the session);
 * 0 bytes when nothing is queued. Negative on a fatal error. */
long kc_gc_send(kc_gc *g, const uint8_t **data);

/* Ends every open call with `status` and `message` (the connection is
 * gone); calls the server never saw are reported `refused`. */
void kc_gc_fail(kc_gc *g, int status, const char *message);

/* The session takes new calls (no GOAWAY either way, not failed). */
bool kc_gc_usable(const kc_gc *g);

/* Calls open on the session (including those nghttp2 holds back). */
size_t kc_gc_open_calls(const kc_gc *g);

#endif /* KC_GW_GRPC_CLIENT_H */
