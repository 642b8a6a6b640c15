/*
 * request.c - the life of a request inside kc-gateway: its id, its place
 * among the requests in flight, and its one end (log line, metrics, the
 * last of its answer, free); see request.h.
 */
#include "gateway/request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/grpc_client.h"

const kc_gw_req_kind kc_gw_local_kind = {NULL, NULL, NULL};

/* Seconds since the request was complete. */
static double req_seconds(const kc_gw_req *r)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - r->t0.tv_sec) + (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

/* The request's log line: failures at info, the rest at debug. */
static void req_log(const kc_gw_req *r, const kc_exchange *ex, int status)
{
	char st[8];
	char ms[32];

	/* Successful requests log at debug: not even formatted above it. */
	if (status < 400 && r->gw->log_level > KC_LOG_DEBUG)
		return;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.3f", req_seconds(r) * 1000);
	kc_log(status >= 400 ? KC_LOG_INFO : KC_LOG_DEBUG, "request", "request_id", r->id, "method", ex->req.method,
	       "path", ex->req.target, "protocol", ex->req.protocol, "status", st, "ms", ms, NULL);
}

/* The client's X-Request-Id when it is a sane one, else a new id. */
static void request_id(kc_gw_req *r, const kc_http_request *req)
{
	const char *given = kc_http_header(req, "x-request-id");
	size_t i;

	if (given && *given && strlen(given) < sizeof(r->id)) {
		for (i = 0; given[i]; i++)
			if (!isalnum((unsigned char)given[i]) && !strchr("-_.:", given[i]))
				break;
		if (!given[i]) {
			snprintf(r->id, sizeof(r->id), "%s", given);
			return;
		}
	}
	snprintf(r->id, sizeof(r->id), "gw-%llx-%llx", (unsigned long long)r->t0.tv_sec,
	         (unsigned long long)++r->gw->next_request_id);
}

kc_gw_req *kc_gw_req_new(kc_gw *gw, kc_exchange *ex)
{
	kc_gw_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->gw = gw;
	r->ex = ex;
	r->kind = &kc_gw_local_kind;
	ex->app = r;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	request_id(r, &ex->req);
	r->next = gw->requests;
	if (gw->requests)
		gw->requests->prev = r;
	gw->requests = r;
	return r;
}

static void req_free(kc_gw_req *r)
{
	kc_gw *gw = r->gw;

	if (r->prev)
		r->prev->next = r->next;
	else
		gw->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->kind->release)
		r->kind->release(r);
	if (r->ex)
		r->ex->app = NULL;
	free(r);
}

/* What was sent through the exchange, or the error that stopped it. */
static int req_send(kc_exchange *ex, int status, const kc_gw_reply *reply)
{
	if (reply->end_stream)
		return ex->ops->end(ex);
	if (reply->shared)
		return ex->ops->respond_shared(ex, status, reply->headers, reply->n_headers, reply->shared);
	return ex->ops->respond(ex, status, reply->headers, reply->n_headers, reply->body, reply->len);
}

void kc_gw_req_end(kc_gw_req *r, int status, const kc_gw_reply *reply)
{
	kc_exchange *ex = r->ex;
	int rc = 0;

	req_log(r, ex, status);
	/* The exchange is the protocol layer's again from here on. */
	r->ex = NULL;
	ex->app = NULL;
	if (reply) {
		kc_gw_metrics_request(r->gw->metrics, r->metric_row, status, req_seconds(r));
		rc = req_send(ex, status, reply);
		if (reply->write_error)
			rc = reply->write_error;
	}
	/* The protocol layer could not take the answer (the connection's
	 * budget, memory): it ends the exchange itself, and the log says so. */
	if (rc)
		kc_log(KC_LOG_INFO, "answer not delivered", "request_id", r->id, "error", kc_strerror(rc), NULL);
	req_free(r);
}

void kc_gw_req_abort(kc_gw_req *r)
{
	if (r->kind->abort)
		r->kind->abort(r);
	kc_gw_req_end(r, 499, NULL);
}

void kc_gw_drain_requests(kc_gw *gw)
{
	kc_gw_req *r = gw->requests;

	while (r) {
		/* An ended request's answer may have ended others (an HTTP/2
		 * session flushing): start over from what is left. */
		if (r->kind->drain && r->kind->drain(r))
			r = gw->requests;
		else
			r = r->next;
	}
}

void kc_gw_finish(kc_gw_req *r, int status, const char *content_type, const void *body, size_t len,
                  kc_shared_body *shared, const kc_header *extra, size_t n_extra)
{
	kc_header h[16];
	size_t n = 0;
	size_t i;

	h[n++] = (kc_header){"Content-Type", content_type};
	h[n++] = (kc_header){"Cache-Control", "no-store"};
	h[n++] = (kc_header){"X-Content-Type-Options", "nosniff"};
	h[n++] = (kc_header){"X-Request-Id", r->id};
	for (i = 0; i < n_extra && n < 16; i++)
		h[n++] = extra[i];
	kc_gw_req_end(r, status,
	              &(kc_gw_reply){.headers = h, .n_headers = n, .body = body, .len = len, .shared = shared});
}

void kc_gw_finish_error(kc_gw_req *r, int status, const char *message, const kc_header *extra, size_t n_extra)
{
	kc_buf b;

	kc_buf_init(&b, 0);
	if (kc_http_error_body(&b, message))
		kc_gw_finish(r, status, "application/json", "{}", 2, NULL, extra, n_extra);
	else
		kc_gw_finish(r, status, "application/json", b.data, b.len, NULL, extra, n_extra);
	kc_buf_release(&b);
}

void kc_gw_finish_grpc_error(kc_gw_req *r, int status, const char *message)
{
	int err = kc_error_from_grpc_status(status);

	kc_gw_finish_error(r, kc_error_to_http_status(err), *message ? message : kc_strerror(err), NULL, 0);
}

/* The failures that are kc-server's (or the link's), not the caller's. */
static bool server_side(int grpc_status)
{
	switch (grpc_status) {
	case KC_GRPC_UNKNOWN:
	case KC_GRPC_DEADLINE_EXCEEDED:
	case KC_GRPC_INTERNAL:
	case KC_GRPC_UNAVAILABLE:
	case KC_GRPC_DATA_LOSS:
		return true;
	default:
		return false;
	}
}

void kc_gw_note_call_failure(kc_gw *gw, const char *request_id, int status, const char *message)
{
	if (server_side(status))
		kc_gw_metrics_upstream_error(gw->metrics);
	if (status == KC_GRPC_UNAVAILABLE)
		kc_log(KC_LOG_WARN, "kc-server unavailable", "request_id", request_id, "error", message, NULL);
}
