/*
 * h2.h - the HTTP/2 front: nghttp2 glue with no I/O, the twin of http1.h.
 *
 * The connection layer feeds what it read to kc_h2_recv and writes what
 * the `send` callback hands it; nghttp2 runs through mem_recv/mem_send
 * only, so the glue is testable and fuzzable on bytes. Each request
 * stream becomes a kc_exchange, answered through the same ops as an
 * HTTP/1 exchange, so one handler serves both protocols.
 *
 * Output and flow control: an answer's body is buffered per stream and
 * handed to nghttp2 as the peer's stream and connection windows allow
 * (nghttp2 keeps the windows). The exchange's backlog op reports what is
 * still buffered, so a streaming handler stops reading its upstream when
 * the client stops opening its window. Serialized frames are produced
 * only while the connection's unsent output (the `backlog` callback) is
 * under a high-water mark; kc_h2_flush produces more once it drained.
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2 refuses streams past
 * it), header bytes per request (431), the decoded body (413, also when a
 * content-length announces more), the header count of http.h (431), the
 * bytes all streams hold (max_buffered_bytes, 503). Every error is answered on its stream with a JSON body; connection
 * errors end in GOAWAY, sent by nghttp2.
 */
#ifndef KC_GW_H2_H
#define KC_GW_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/http.h"

typedef struct kc_h2 kc_h2;

typedef struct kc_h2_limits {
	size_t max_header_bytes; /* pseudo + regular header bytes; past it 431 */
	size_t max_body_bytes;   /* decoded body; past it 413 */
	uint32_t max_concurrent_streams;
	/* Request bodies and answer bytes the streams hold at once (0: 8 MiB).
	 * Past it a request body or a whole answer is refused with 503 on its
	 * stream, and a streamed answer that would pass it ends the session
	 * (GOAWAY ENHANCE_YOUR_CALM). */
	size_t max_buffered_bytes;
} kc_h2_limits;

typedef struct kc_h2_callbacks {
	/* A complete request. The handler answers through ex->ops. */
	void (*on_request)(kc_exchange *ex, void *user_data);
	/* The stream is gone before its answer ended (reset by the peer, or
	 * the connection freed). The handler must stop using it. */
	void (*on_abort)(kc_exchange *ex, void *user_data);
	/* Output bytes, in order. Returns 0 or a negative code. */
	int (*send)(const void *data, size_t len, void *user_data);
	/* A stream closed: the caller may check kc_h2_want_close. Called only
	 * outside kc_h2_recv. May be NULL. */
	void (*wake)(void *user_data);
	/* Bytes handed to `send` but not yet on the socket. May be NULL. */
	size_t (*backlog)(void *user_data);
} kc_h2_callbacks;

/* The client connection preface every HTTP/2 connection begins with. */
#define KC_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define KC_H2_PREFACE_LEN 24

/* A new server session; queues the server's SETTINGS. `user_data` is
 * passed to every callback and stored in each exchange's conn_data.
 * 0, or KC_ERR_NOMEM leaving *out untouched. */
int kc_h2_new(kc_h2 **out, const kc_h2_limits *limits, const kc_h2_callbacks *cb, void *user_data);

/* Calls on_abort for every dispatched stream whose answer has not ended,
 * then frees everything. NULL is a no-op. */
void kc_h2_free(kc_h2 *h);

/* Consumes all `len` bytes (starting with the client preface) and sends
 * what they call for. 0, or a negative code after which the connection
 * should be flushed and closed. */
int kc_h2_recv(kc_h2 *h, const uint8_t *data, size_t len);

/* Produces queued output while the backlog allows (after the socket
 * drained, or after answers were given outside kc_h2_recv). */
void kc_h2_flush(kc_h2 *h);

/* True once nothing more is to be read or written: GOAWAY exchanged and
 * every stream closed, or a fatal error. */
bool kc_h2_want_close(const kc_h2 *h);

/* Streams that have begun but not yet been dispatched (slow requests). */
bool kc_h2_in_request(const kc_h2 *h);

/* Dispatched streams whose answer has not fully left. */
size_t kc_h2_pending(const kc_h2 *h);

/* Bytes the streams hold: request bodies, and answer bytes not yet taken
 * by `send` (waiting for the peer's window or for the backlog to drain). */
size_t kc_h2_buffered(const kc_h2 *h);

/* The answer part of that: bytes waiting for the peer's window or for the
 * connection's backlog to drain. */
size_t kc_h2_unsent(const kc_h2 *h);

/* Graceful drain: GOAWAY with the last stream seen; open streams finish. */
void kc_h2_shutdown(kc_h2 *h);

/* Ends the session at once with GOAWAY (timeouts). */
void kc_h2_fail(kc_h2 *h);

#endif /* KC_GW_H2_H */
