/*
 * stream.c - server-streaming rpcs (WatchTask, WatchMetrics) as
 * Server-Sent Events (`Accept: text/event-stream`) or newline-delimited
 * JSON: one upstream call per client, frames as messages arrive,
 * heartbeats, and back-pressure from a slow client to kc-server.
 */
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "gateway/answer.h"
#include "gateway/request.h"
#include "transcode/transcode.h"

/* SSE comment lines keep proxies from closing a quiet stream. */
#define SSE_HEARTBEAT_MS 15000
/* A stream whose client reads slower than the server writes stops reading
 * upstream above this backlog and polls until it drains. */
#define STREAM_BACKLOG_MAX (1u << 20)
/* One message of a stream, as JSON, at most. */
#define STREAM_FRAME_MAX (64u << 20)

/* Open streams, for the drain. */
static kc_gw_req *streams;

static void stream_timer(evutil_socket_t fd, short what, void *arg)
{
	kc_gw_req *r = arg;

	(void)fd;
	(void)what;
	if (!r->ex)
		return;
	if (r->paused) {
		if (r->ex->ops->backlog(r->ex) < STREAM_BACKLOG_MAX / 2) {
			r->paused = false;
			kc_upcall_pause(r->call, false);
		}
		return;
	}
	if (r->sse && r->started)
		r->ex->ops->write(r->ex, ": keepalive\n\n", 13);
}

static void stream_start(kc_gw_req *r)
{
	kc_header h[4] = {
		{"Content-Type", r->sse ? "text/event-stream" : "application/x-ndjson"},
		{"Cache-Control", "no-store"},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Request-Id", r->id},
	};
	struct timeval tv = {SSE_HEARTBEAT_MS / 1000, 0};

	r->started = true;
	r->ex->ops->start(r->ex, 200, h, 4);
	r->timer = event_new(r->gw->base, -1, EV_PERSIST, stream_timer, r);
	if (r->timer)
		event_add(r->timer, &tv);
	kc_gw_metrics_streams(r->gw->metrics, 1);
	r->next = streams;
	if (streams)
		streams->prev = r;
	streams = r;
}

static void stream_frame(kc_gw_req *r, const char *json, size_t len)
{
	if (r->sse) {
		r->ex->ops->write(r->ex, "data: ", 6);
		r->ex->ops->write(r->ex, json, len);
		r->ex->ops->write(r->ex, "\n\n", 2);
	} else {
		r->ex->ops->write(r->ex, json, len);
		r->ex->ops->write(r->ex, "\n", 1);
	}
}

static void stream_end(kc_gw_req *r)
{
	kc_gw_req_log(r, 200);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, 200, kc_gw_req_seconds(r));
	kc_gw_metrics_streams(r->gw->metrics, -1);
	r->ex->ops->end(r->ex);
	r->ex = NULL;
	kc_gw_req_free(r);
}

void kc_gw_stream_unlink(kc_gw_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (streams == r)
		streams = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void on_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	kc_gw_req *r = ud;
	kc_buf b;

	(void)call;
	kc_buf_init(&b, STREAM_FRAME_MAX);
	if (kc_gw_answer_json(r->route->output, r->route->response_body_field, data, len, &b) == 0) {
		if (!r->started)
			stream_start(r);
		stream_frame(r, b.data, b.len);
	}
	kc_buf_release(&b);
	if (r->started && r->ex->ops->backlog(r->ex) > STREAM_BACKLOG_MAX) {
		struct timeval tv = {0, 100000};

		r->paused = true;
		kc_upcall_pause(r->call, true);
		/* Poll the backlog until it drains; heartbeats resume after. */
		event_del(r->timer);
		event_add(r->timer, &tv);
	}
}

static void on_done(kc_upcall *call, int status, const char *message, void *ud)
{
	kc_gw_req *r = ud;

	(void)call;
	r->call = NULL;
	if (status != 0)
		kc_gw_note_call_failure(r->gw, r->id, status, message);
	if (r->started) {
		if (status != 0) {
			kc_buf b;

			kc_buf_init(&b, 0);
			kc_buf_puts(&b, "{\"error\":");
			kc_json_put_string(&b, message, strlen(message));
			kc_buf_putc(&b, '}');
			if (r->sse)
				r->ex->ops->write(r->ex, "event: error\n", 13);
			if (!b.err)
				stream_frame(r, b.data, b.len);
			kc_buf_release(&b);
		}
		stream_end(r);
	} else if (status != 0) {
		kc_gw_finish_grpc_error(r, status, message);
	} else {
		/* A stream that ended before its first message. */
		stream_start(r);
		stream_end(r);
	}
}

static const kc_upcall_callbacks stream_cb = {on_message, on_done};

int kc_gw_stream_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen)
{
	const char *accept = kc_http_header(&r->ex->req, "accept");

	r->sse = accept && strstr(accept, "text/event-stream");
	/* Watching changes nothing: a stream kc-server dropped before its
	 * first message may start again. */
	kc_upcall_opts opts = {.wait_ms = r->gw->cfg.upstream_wait_ms, .idempotent = true};

	return kc_upcall_start(r->gw->up, r->route->grpc_path, md, n_md, packed, plen, &opts, &stream_cb, r, &r->call);
}

void kc_gw_streams_end(void)
{
	while (streams) {
		kc_gw_req *r = streams;

		if (r->call)
			kc_upcall_cancel(r->call);
		r->call = NULL;
		stream_end(r);
	}
}
