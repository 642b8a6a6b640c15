/*
 * request.h - one request in flight inside kc-gateway, shared by the files
 * that answer it: handler.c (the trust rules, routing, the gateway's own
 * paths, files), unary.c (unary API calls, shared among identical reads)
 * and stream.c (SSE and NDJSON streams). Internal to the gateway;
 * everything runs on the loop thread.
 *
 * A request has a kind, which says what keeps it open and how that lets
 * go when the client leaves (abort), the gateway drains (drain) or the
 * request is freed (release). request.c knows no kind: it calls the hooks.
 * Every request ends through kc_gw_req_end, which logs it, counts it,
 * sends the last of its answer and frees it.
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

typedef struct kc_gw_req kc_gw_req;
typedef struct kc_gw_batch kc_gw_batch;

/* What a kind does at the ends of a request. Any hook may be NULL. */
typedef struct kc_gw_req_kind {
	/* The client left before the answer ended: stop what works for r
	 * (its upstream call, its place among a batch's waiters). r is then
	 * logged (499) and freed. */
	void (*abort)(kc_gw_req *r);
	/* Graceful drain: end r's answer now. True when r was ended (and
	 * freed); false when r ends by itself. */
	bool (*drain)(kc_gw_req *r);
	/* Frees what the kind holds for r; called once, as r is freed,
	 * however it ended. */
	void (*release)(kc_gw_req *r);
} kc_gw_req_kind;

/* Answers the gateway makes at once (its own paths, files, refusals). */
extern const kc_gw_req_kind kc_gw_local_kind;

/* The kinds' own state; each is touched only by the file named. */
typedef struct kc_gw_unary_state { /* unary.c */
	/* The batch whose answer r waits for, and r's neighbours among its
	 * waiters. */
	kc_gw_batch *batch;
	kc_gw_req *wprev;
	kc_gw_req *wnext;
} kc_gw_unary_state;

typedef struct kc_gw_stream_state { /* stream.c */
	kc_upcall *call;
	/* SSE, else NDJSON. */
	bool sse;
	/* The answer's head went out (and the open-stream gauge counts r). */
	bool started;
	/* Not reading upstream until the client's backlog drains. */
	bool paused;
	/* Heartbeats, and backlog polls while paused. */
	struct event *timer;
} kc_gw_stream_state;

typedef struct kc_gw_health_state { /* handler.c, /healthz */
	kc_upcall *call;
	bool serving;
} kc_gw_health_state;

struct kc_gw_req {
	kc_gw *gw;
	/* NULL once answered (or the client left). */
	kc_exchange *ex;
	const kc_gw_req_kind *kind;
	/* The API route; NULL for the gateway's own paths. */
	const kc_route *route;
	size_t metric_row;
	struct timespec t0;
	char id[40];
	/* Every request in flight (gw->requests), for the drain. */
	kc_gw_req *prev;
	kc_gw_req *next;
	/* The state of r's kind. */
	union {
		kc_gw_unary_state unary;
		kc_gw_stream_state stream;
		kc_gw_health_state health;
	} as;
};

/* How a request's answer ends (see kc_gw_req_end). */
typedef struct kc_gw_reply {
	/* Every header of a whole answer. */
	const kc_header *headers;
	size_t n_headers;
	/* A whole answer: `shared` when set, else body[0..len). */
	const void *body;
	size_t len;
	kc_shared_body *shared;
	/* Instead: end the streamed answer that was started. */
	bool end_stream;
	/* A streamed answer whose writes failed with this error: it is logged
	 * here, once, and the end's own failure is then no news. */
	int write_error;
} kc_gw_reply;

/* request.c */

/* A new request for `ex` (its id, clock, place among the requests in
 * flight), of the local kind; NULL when out of memory. */
kc_gw_req *kc_gw_req_new(kc_gw *gw, kc_exchange *ex);

/*
 * The one way a request ends: logs it with `status`, counts it, sends
 * what `reply` says (nothing when it is NULL: the client left, and the
 * request is not counted), logs a send that failed, and frees r with what
 * its kind holds. Takes nothing.
 */
void kc_gw_req_end(kc_gw_req *r, int status, const kc_gw_reply *reply);

/* The client left: the kind's abort, then kc_gw_req_end with 499. */
void kc_gw_req_abort(kc_gw_req *r);

/* Sends a whole answer, `shared` or body[0..len), with the API's headers
 * plus `extra`, and ends r (kc_gw_req_end). Takes nothing. */
void kc_gw_finish(kc_gw_req *r, int status, const char *content_type, const void *body, size_t len,
                  kc_shared_body *shared, const kc_header *extra, size_t n_extra);
/* {"error": message} with `status`. */
void kc_gw_finish_error(kc_gw_req *r, int status, const char *message, const kc_header *extra, size_t n_extra);
/* A failed call's gRPC status as its HTTP status and message. */
void kc_gw_finish_grpc_error(kc_gw_req *r, int status, const char *message);
/* Counts and logs a failed call once, however many requests it answers. */
void kc_gw_note_call_failure(kc_gw *gw, const char *request_id, int status, const char *message);

/* unary.c: starts r's call (or joins an identical one not sent yet); r is
 * then of the unary kind. 0, or an error and r is as it was. */
int kc_gw_unary_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen);

/* stream.c: starts r's server-streaming call, answered as SSE when the
 * client accepts text/event-stream, else NDJSON; r is then of the stream
 * kind. 0, or an error and nothing was sent. */
int kc_gw_stream_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen);

#endif /* KC_GW_REQUEST_H */
