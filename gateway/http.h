/*
 * http.h - what the HTTP/1 front and the HTTP/2 glue hand to the handler.
 *
 * A request arrives as a kc_exchange: the parsed request plus a small
 * vtable to answer it, so the handler (handler.c) is the same code for
 * HTTP/1.1 and HTTP/2. Ownership: the protocol layer owns the exchange. The
 * handler answers with respond() (whole body) or start()/write()/end()
 * (a stream) and must not touch the exchange after end() or respond(), nor
 * after the protocol layer called its on_abort callback (the peer went
 * away): from then on the exchange is freed by the protocol layer.
 */
#ifndef KC_GW_HTTP_H
#define KC_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transcode/buf.h"

typedef struct kc_header {
	const char *name;
	const char *value;
} kc_header;

/* Most request headers kept; more is a 431. */
#define KC_HTTP_MAX_HEADERS 64

typedef struct kc_http_request {
	/* Upper-case method, such as "GET" (owned). */
	char *method;
	/* The request target as sent: path and query (owned). */
	char *target;
	/* The path (into target, not NUL-terminated) and the query after '?'
	 * (into target, may be empty). */
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	/* Header names are lower-case; both owned. */
	size_t n_headers;
	kc_header headers[KC_HTTP_MAX_HEADERS];
	/* The decoded body (chunked bodies de-chunked). */
	kc_buf body;
	/* True for HEAD: the answer carries headers only. */
	bool head;
	/* "HTTP/1.1", "HTTP/1.0" or "HTTP/2" for logs. */
	const char *protocol;
} kc_http_request;

/* The first header `lower_name`, or NULL. */
const char *kc_http_header(const kc_http_request *req, const char *lower_name);
/* How many times header `lower_name` occurs. */
size_t kc_http_header_count(const kc_http_request *req, const char *lower_name);
/* Frees what the request owns; leaves it zeroed. */
void kc_http_request_release(kc_http_request *req);
/* Adds a header (copies both); lower-cases the name. */
int kc_http_request_add_header(kc_http_request *req, const char *name, size_t nlen, const char *value, size_t vlen);
/* Sets method and target (copies); splits path and query. */
int kc_http_request_set_line(kc_http_request *req, const char *method, size_t mlen, const char *target, size_t tlen);

/* The reason phrase for a status code. */
const char *kc_http_reason(int status);

/* Appends {"error":<message as a JSON string>}: the body of every error
 * answer the gateway makes. 0 or out's error. */
int kc_http_error_body(kc_buf *out, const char *message);

/*
 * An answer body several exchanges send at once (identical reads answered
 * from one upstream call, see unary.c): immutable once made, freed when
 * its last holder lets go. The HTTP/1.1 front hands it to the socket's
 * output by reference instead of copying it for each client.
 */
typedef struct kc_shared_body kc_shared_body;

/* Takes `data` (malloc'd, may be NULL when len is 0). NULL when out of
 * memory, and then `data` is freed. */
kc_shared_body *kc_shared_body_new(char *data, size_t len);
kc_shared_body *kc_shared_body_ref(kc_shared_body *b);
/* NULL is a no-op. */
void kc_shared_body_unref(kc_shared_body *b);
const char *kc_shared_body_data(const kc_shared_body *b);
size_t kc_shared_body_len(const kc_shared_body *b);

typedef struct kc_exchange kc_exchange;

typedef struct kc_exchange_ops {
	/* The whole answer. `headers` must not include Content-Length,
	 * Transfer-Encoding or Connection: the protocol layer sets those. */
	int (*respond)(kc_exchange *ex, int status, const kc_header *headers, size_t n_headers, const void *body,
	               size_t len);
	/* The same with a shared body: the exchange takes a reference for as
	 * long as it needs the bytes. */
	int (*respond_shared)(kc_exchange *ex, int status, const kc_header *headers, size_t n_headers,
	                      kc_shared_body *body);
	/* A streamed answer: headers now, then write()s, then end(). */
	int (*start)(kc_exchange *ex, int status, const kc_header *headers, size_t n_headers);
	int (*write)(kc_exchange *ex, const void *data, size_t len);
	int (*end)(kc_exchange *ex);
	/* Bytes written but not yet handed to the socket for this exchange,
	 * so a streaming handler can stop reading its upstream when the
	 * client is slow. */
	size_t (*backlog)(kc_exchange *ex);
} kc_exchange_ops;

struct kc_exchange {
	const kc_exchange_ops *ops;
	kc_http_request req;
	/* The handler's state for this request; NULL until it sets it. */
	void *app;
	/* The connection's user data (see the protocol layer's constructor). */
	void *conn_data;
};

#endif /* KC_GW_HTTP_H */
