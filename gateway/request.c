/*
 * request.c - the life of a request inside kc-gateway: its log line, its
 * metrics and its one answer (see request.h).
 */
#include "gateway/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "transcode/transcode.h"

double kc_gw_req_seconds(const kc_gw_req *r)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - r->t0.tv_sec) + (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

void kc_gw_req_log(kc_gw_req *r, int status)
{
	char st[8];
	char ms[32];

	/* Successful requests log at debug: not even formatted above it. */
	if (status < 400 && r->gw->log_level > KC_LOG_DEBUG)
		return;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.3f", kc_gw_req_seconds(r) * 1000);
	kc_log(status >= 400 ? KC_LOG_INFO : KC_LOG_DEBUG, "request", "request_id", r->id, "method", r->ex->req.method,
	       "path", r->ex->req.target, "protocol", r->ex->req.protocol, "status", st, "ms", ms, NULL);
}

void kc_gw_req_free(kc_gw_req *r)
{
	if (r->timer)
		event_free(r->timer);
	kc_gw_stream_unlink(r);
	if (r->ex)
		r->ex->app = NULL;
	free(r);
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
	kc_gw_req_log(r, status);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, status, kc_gw_req_seconds(r));
	if (shared)
		r->ex->ops->respond_shared(r->ex, status, h, n, shared);
	else
		r->ex->ops->respond(r->ex, status, h, n, body, len);
	r->ex = NULL;
	kc_gw_req_free(r);
}

void kc_gw_finish_error(kc_gw_req *r, int status, const char *message, const kc_header *extra, size_t n_extra)
{
	kc_buf b;

	kc_buf_init(&b, 0);
	kc_buf_puts(&b, "{\"error\":");
	kc_json_put_string(&b, message, strlen(message));
	kc_buf_putc(&b, '}');
	kc_gw_finish(r, status, "application/json", b.data ? b.data : "{}", b.data ? b.len : 2, NULL, extra, n_extra);
	kc_buf_release(&b);
}

void kc_gw_finish_grpc_error(kc_gw_req *r, int status, const char *message)
{
	int err = kc_error_from_grpc_status(status);

	kc_gw_finish_error(r, kc_error_to_http_status(err), *message ? message : kc_strerror(err), NULL, 0);
}

/* The failures that are kc-server's (or the link's), not the caller's:
 * UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
static bool server_side(int grpc_status)
{
	return grpc_status == 2 || grpc_status == 4 || grpc_status == 13 || grpc_status == 14 || grpc_status == 15;
}

void kc_gw_note_call_failure(kc_gw *gw, const char *request_id, int status, const char *message)
{
	if (server_side(status))
		kc_gw_metrics_upstream_error(gw->metrics);
	if (status == 14)
		kc_log(KC_LOG_WARN, "kc-server unavailable", "request_id", request_id, "error", message, NULL);
}
