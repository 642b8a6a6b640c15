/*
 * stream.c - server-streaming rpcs (WatchTask, WatchMetrics) as
 * Server-Sent Events (`Accept: text/event-stream`) or newline-delimited
 * JSON: one upstream call per client, frames as messages arrive,
 * heartbeats, and back-pressure from a slow client to kc-server.
 *
 * The request is of the stream kind (request.h): a client that leaves
 * cancels the call, a drain ends the answers that started, and the
 * request's release frees the timer. A message kc-server sends that does
 * not render, or a write the client's connection does not take, ends the
 * stream and its call, as a unary call's would end its answer.
 */
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/answer.h"
#include "gateway/grpc_client.h"
#include "gateway/request.h"
#include "transcode/transcode.h"

/* SSE comment lines keep proxies from closing a quiet stream. */
#define SSE_HEARTBEAT_MS 15000
/* A stream whose client reads slower than the server writes stops reading
 * upstream above this backlog and polls until it drains. */
#define STREAM_BACKLOG_MAX (1u << 20)
/* One message of a stream, as JSON, at most. */
#define STREAM_FRAME_MAX (64u << 20)

static void stream_abort(kc_gw_req *r);
static bool stream_drain(kc_gw_req *r);
static void stream_release(kc_gw_req *r);

static const kc_gw_req_kind stream_kind = {stream_abort, stream_drain, stream_release};

/* Ends a started stream; `write_error` when a write failed (see
 * kc_gw_reply). */
static void stream_end(kc_gw_req *r, int write_error)
{
	kc_gw_req_end(r, 200, &(kc_gw_reply){.end_stream = true, .write_error = write_error});
}

static void stream_stop_call(kc_gw_req *r)
{
	if (r->as.stream.call)
		kc_upcall_cancel(r->as.stream.call);
	r->as.stream.call = NULL;
}

/* The client's connection took no more (its budget, memory): the stream
 * ends here, and its call with it. */
static void stream_write_failed(kc_gw_req *r, int rc)
{
	stream_stop_call(r);
	stream_end(r, rc);
}

static void stream_timer(evutil_socket_t fd, short what, void *arg)
{
	kc_gw_req *r = arg;
	kc_gw_stream_state *s = &r->as.stream;
	int rc;

	(void)fd;
	(void)what;
	if (s->paused) {
		if (r->ex->ops->backlog(r->ex) < STREAM_BACKLOG_MAX / 2) {
			s->paused = false;
			kc_upcall_pause(s->call, false);
		}
		return;
	}
	if (s->sse && s->started) {
		rc = r->ex->ops->write(r->ex, ": keepalive\n\n", 13);
		if (rc)
			stream_write_failed(r, rc);
	}
}

static int stream_start(kc_gw_req *r)
{
	kc_gw_stream_state *s = &r->as.stream;
	kc_header h[4] = {
	    {"Content-Type", s->sse ? "text/event-stream" : "application/x-ndjson"},
	    {"Cache-Control", "no-store"},
	    {"X-Content-Type-Options", "nosniff"},
	    {"X-Request-Id", r->id},
	};
	struct timeval tv = {SSE_HEARTBEAT_MS / 1000, 0};

	s->started = true;
	kc_gw_metrics_streams(r->gw->metrics, 1);
	s->timer = event_new(r->gw->base, -1, EV_PERSIST, stream_timer, r);
	if (s->timer)
		event_add(s->timer, &tv);
	return r->ex->ops->start(r->ex, 200, h, 4);
}

static int stream_frame(kc_gw_req *r, const char *json, size_t len)
{
	const kc_exchange_ops *ops = r->ex->ops;
	int rc;

	if (r->as.stream.sse) {
		rc = ops->write(r->ex, "data: ", 6);
		if (!rc)
			rc = ops->write(r->ex, json, len);
		if (!rc)
			rc = ops->write(r->ex, "\n\n", 2);
	} else {
		rc = ops->write(r->ex, json, len);
		if (!rc)
			rc = ops->write(r->ex, "\n", 1);
	}
	return rc;
}

/* A failed call, or a message that did not render, after the stream
 * started: an error frame (an `error` event in SSE), then the end. */
static void stream_fail(kc_gw_req *r, const char *message)
{
	kc_buf b;
	int rc = 0;

	stream_stop_call(r);
	kc_buf_init(&b, 0);
	rc = kc_http_error_body(&b, message);
	if (!rc && r->as.stream.sse)
		rc = r->ex->ops->write(r->ex, "event: error\n", 13);
	if (!rc)
		rc = stream_frame(r, b.data, b.len);
	kc_buf_release(&b);
	stream_end(r, rc);
}

/* kc-server sent a message that is not what the rpc answers (or too
 * large): answered as a unary call's would be, 502 before the stream
 * started, an error frame after; counted and logged once either way. */
static void stream_bad_message(kc_gw_req *r, int render_err)
{
	const char *message = render_err == KC_ERR_TOO_LARGE ? "answer too large" : "bad answer from kc-server";

	kc_gw_metrics_upstream_error(r->gw->metrics);
	if (!r->as.stream.started) {
		/* The 502 is the request's log line. */
		stream_stop_call(r);
		kc_gw_finish_error(r, 502, message, NULL, 0);
		return;
	}
	kc_log(KC_LOG_INFO, "stream message not rendered", "request_id", r->id, "error", message, NULL);
	stream_fail(r, message);
}

static void on_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	kc_gw_req *r = ud;
	kc_gw_stream_state *s = &r->as.stream;
	kc_buf b;
	int rc;

	(void)call;
	kc_buf_init(&b, STREAM_FRAME_MAX);
	rc = kc_gw_answer_json(r->route->output, r->route->response_body_field, data, len, &b);
	if (rc) {
		kc_buf_release(&b);
		stream_bad_message(r, rc);
		return;
	}
	if (!s->started)
		rc = stream_start(r);
	if (!rc)
		rc = stream_frame(r, b.data, b.len);
	kc_buf_release(&b);
	if (rc) {
		stream_write_failed(r, rc);
		return;
	}
	if (r->ex->ops->backlog(r->ex) > STREAM_BACKLOG_MAX) {
		struct timeval tv = {0, 100000};

		s->paused = true;
		kc_upcall_pause(s->call, true);
		/* Poll the backlog until it drains; heartbeats resume after. */
		event_del(s->timer);
		event_add(s->timer, &tv);
	}
}

static void on_done(kc_upcall *call, int status, const char *message, void *ud)
{
	kc_gw_req *r = ud;
	int rc;

	(void)call;
	r->as.stream.call = NULL;
	if (status != KC_GRPC_OK)
		kc_gw_note_call_failure(r->gw, r->id, status, message);
	if (r->as.stream.started) {
		if (status != KC_GRPC_OK)
			stream_fail(r, message);
		else
			stream_end(r, 0);
	} else if (status != KC_GRPC_OK) {
		kc_gw_finish_grpc_error(r, status, message);
	} else {
		/* A stream that ended before its first message. */
		rc = stream_start(r);
		stream_end(r, rc);
	}
}

static const kc_upcall_callbacks stream_cb = {on_message, on_done};

int kc_gw_stream_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen)
{
	const char *accept = kc_http_header(&r->ex->req, "accept");
	/* Watching changes nothing: a stream kc-server dropped before its
	 * first message may start again. */
	kc_upcall_opts opts = {.wait_ms = r->gw->cfg.upstream_wait_ms, .idempotent = true};
	int rc;

	r->as.stream = (kc_gw_stream_state){.sse = accept && strstr(accept, "text/event-stream")};
	rc = kc_upcall_start(r->gw->up, r->route->grpc_path, md, n_md, packed, plen, &opts, &stream_cb, r,
	                     &r->as.stream.call);
	if (!rc)
		r->kind = &stream_kind;
	return rc;
}

static void stream_abort(kc_gw_req *r)
{
	stream_stop_call(r);
}

/* Streams never end by themselves: one that started ends cleanly now.
 * One still waiting for its first message ends with its call. */
static bool stream_drain(kc_gw_req *r)
{
	if (!r->as.stream.started)
		return false;
	stream_stop_call(r);
	stream_end(r, 0);
	return true;
}

static void stream_release(kc_gw_req *r)
{
	if (r->as.stream.timer)
		event_free(r->as.stream.timer);
	if (r->as.stream.started)
		kc_gw_metrics_streams(r->gw->metrics, -1);
}
