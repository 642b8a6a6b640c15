/*
 * http1.h - the HTTP/1.1 front: bytes in, requests out, answers as bytes.
 *
 * No I/O. The connection layer feeds what it read to kc_h1_recv and writes
 * whatever the `send` callback hands it. Requests are parsed by Debian's
 * http_parser (which refuses Content-Length together with
 * Transfer-Encoding, the classic smuggling vector); bodies may be chunked.
 *
 * Pipelining: each parsed request becomes an exchange in a FIFO. Answers
 * may be ready in any order (upstream calls finish when they finish) but
 * leave in request order: an exchange that is not at the head buffers its
 * bytes until every earlier one has ended. At most `max_pipeline`
 * exchanges are pending; past that kc_h1_recv stops consuming and the
 * caller feeds the rest again after the `wake` callback.
 *
 * Errors in a request (malformed, header or body past its cap) are
 * answered here with a JSON error, then the connection closes: after a
 * framing error nothing later on the connection can be trusted.
 */
#ifndef KC_GW_HTTP1_H
#define KC_GW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/http.h"

typedef struct kc_h1 kc_h1;

typedef struct kc_h1_limits {
	size_t max_header_bytes; /* request line + headers; past it 431 */
	size_t max_body_bytes;   /* decoded body; past it 413 */
	size_t max_pipeline;     /* pending exchanges per connection */
	/* Request bodies and answers queued behind earlier ones that the
	 * front holds at once (0: 8 MiB). An answer that would pass it is
	 * never sent: the connection closes where it would have begun. */
	size_t max_buffered_bytes;
} kc_h1_limits;

typedef struct kc_h1_callbacks {
	/* A complete request. The handler answers through ex->ops. */
	void (*on_request)(kc_exchange *ex, void *user_data);
	/* The exchange is dropped before its answer ended (connection gone).
	 * The handler must stop using it (cancel its upstream call). */
	void (*on_abort)(kc_exchange *ex, void *user_data);
	/* Output bytes, in order. Returns 0 or a negative code. */
	int (*send)(const void *data, size_t len, void *user_data);
	/* The same for a shared body, by reference (the callee takes its own
	 * reference while it needs the bytes). May be NULL: `send` copies. */
	int (*send_shared)(kc_shared_body *body, void *user_data);
	/* An exchange ended: the caller may feed unconsumed input again and
	 * check kc_h1_want_close. May be NULL. */
	void (*wake)(void *user_data);
	/* Bytes handed to `send` but not yet on the socket. May be NULL. */
	size_t (*backlog)(void *user_data);
} kc_h1_callbacks;

/* A new front. `user_data` is passed to every callback and stored in each
 * exchange's conn_data. 0, or KC_ERR_NOMEM leaving *out untouched. */
int kc_h1_new(kc_h1 **out, const kc_h1_limits *limits, const kc_h1_callbacks *cb, void *user_data);

/* Calls on_abort for every exchange whose answer has not ended, then frees
 * everything. NULL is a no-op. */
void kc_h1_free(kc_h1 *h);

/* Consumes up to `len` bytes; returns how many (less when paused by the
 * pipeline cap, or after a request asking for an upgrade). After an error
 * that ends reading, returns `len`. */
size_t kc_h1_recv(kc_h1 *h, const uint8_t *data, size_t len);

/* True once the connection should close after its output is flushed: a
 * `Connection: close`, an HTTP/1.0 peer, a request error, an upgrade
 * request, an answer past max_buffered_bytes, or kc_h1_shutdown. */
bool kc_h1_want_close(const kc_h1 *h);

/* Bytes the front holds for its exchanges: request bodies, and answers
 * waiting behind earlier ones (not what `send` was handed). */
size_t kc_h1_buffered(const kc_h1 *h);

/* True while a request has begun but not completed (slow-request timer). */
bool kc_h1_in_request(const kc_h1 *h);

/* Pending exchanges (parsed, answer not yet fully sent). */
size_t kc_h1_pending(const kc_h1 *h);

/* Graceful drain: no further requests are read; pending ones finish. */
void kc_h1_shutdown(kc_h1 *h);

/* Answers a request that is in progress or about to arrive with `status`
 * and `message` and closes (timeouts: 408). */
void kc_h1_fail(kc_h1 *h, int status, const char *message);

#endif /* KC_GW_HTTP1_H */
