/*
 * request.h - one request in flight inside kc-gateway, shared by the files
 * that answer it: handler.c (routing, the gateway's own paths, files),
 * unary.c (unary API calls, shared among identical reads) and stream.c
 * (SSE and NDJSON streams). Internal to the gateway; everything runs on
 * the loop thread.
 */
#ifndef KC_GW_REQUEST_H
#define KC_GW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "gateway/gw.h"
#include "gateway/http.h"
#include "gateway/router.h"

typedef struct kc_gw_batch kc_gw_batch;

typedef struct kc_gw_req {
	kc_gw *gw;
	/* NULL once answered (or the client left). */
	kc_exchange *ex;
	/* The API route; NULL for the gateway's own paths. */
	const kc_route *route;
	size_t metric_row;
	struct timespec t0;
	char id[40];
	/* Streams and /healthz: the request's own call. */
	kc_upcall *call;
	/* Streams: SSE or NDJSON, the timer for heartbeats and backlog polls,
	 * the list of open streams (stream.c). */
	bool sse;
	bool started;
	bool paused;
	struct event *timer;
	struct kc_gw_req *prev;
	struct kc_gw_req *next;
	/* Unary calls: the batch whose answer this request waits for, and its
	 * neighbours among the batch's waiters (unary.c). */
	kc_gw_batch *batch;
	struct kc_gw_req *wprev;
	struct kc_gw_req *wnext;
	/* /healthz: what kc-server's health check said. */
	bool serving;
} kc_gw_req;

/* request.c */

/* Seconds since the request was complete. */
double kc_gw_req_seconds(const kc_gw_req *r);
/* The request's log line: failures at info, the rest at debug. */
void kc_gw_req_log(kc_gw_req *r, int status);
/* Frees r (its stream timer and place in the stream list too). */
void kc_gw_req_free(kc_gw_req *r);
/* Sends a whole answer, `shared` or body[0..len), with the API's headers
 * plus `extra`, counts and logs it, and frees r. Takes nothing. */
void kc_gw_finish(kc_gw_req *r, int status, const char *content_type, const void *body, size_t len,
                  kc_shared_body *shared, const kc_header *extra, size_t n_extra);
/* {"error": message} with `status`. */
void kc_gw_finish_error(kc_gw_req *r, int status, const char *message, const kc_header *extra, size_t n_extra);
/* A failed call's gRPC status as its HTTP status and message. */
void kc_gw_finish_grpc_error(kc_gw_req *r, int status, const char *message);
/* Counts and logs a failed call once, however many requests it answers. */
void kc_gw_note_call_failure(kc_gw *gw, const char *request_id, int status, const char *message);

/* unary.c: starts r's call (or joins an identical one not sent yet), and
 * forgets r when its client leaves first. */
int kc_gw_unary_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen);
void kc_gw_unary_abort(kc_gw_req *r);

/* stream.c: starts r's server-streaming call, answered as SSE when the
 * client accepts text/event-stream, else NDJSON. */
int kc_gw_stream_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen);
/* Takes r out of the open-stream list (no-op when not in it). */
void kc_gw_stream_unlink(kc_gw_req *r);
/* Graceful drain: ends every open stream. */
void kc_gw_streams_end(void);

#endif /* KC_GW_REQUEST_H */
