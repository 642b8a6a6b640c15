/*
 * handler.c - one request: route it, transcode it, call kc-server, answer.
 *
 * Besides the API routes (generated from the protos, see router.h) the
 * gateway answers a few paths itself, all without credentials because they
 * hold no secrets:
 *   GET /healthz              the gateway is up and kc-server answers
 *                             grpc.health.v1 Check (200, else 503);
 *   GET /metrics/prometheus   the gateway's Prometheus metrics;
 *   GET /api/openapi.json     the OpenAPI document made from the protos;
 *   GET anything else         the dashboard's static files.
 *
 * Auth is kc-server's: the gateway only transports. `Authorization` goes up
 * as gRPC metadata `authorization` on every call. The OAuth proxy's
 * identity headers go up as `x-kc-oauth-user` / `x-kc-oauth-email` only
 * when the path carried the `/oauth` prefix (the proxy sets them there);
 * elsewhere they are dropped here, so a client that reaches the pod
 * directly cannot claim an identity.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/router.h"
#include "gateway/static.h"
#include "google/api/httpbody.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "transcode/transcode.h"

/* SSE comment lines keep proxies from closing a quiet stream. */
#define SSE_HEARTBEAT_MS 15000
/* A stream whose client reads slower than the server writes stops reading
 * upstream above this backlog and polls until it drains. */
#define STREAM_BACKLOG_MAX (1u << 20)
#define STATIC_MAX_BYTES (16u << 20)

typedef struct upcall_batch upcall_batch;

typedef struct gw_req {
	kc_gw *gw;
	kc_exchange *ex;
	const kc_route *route;
	size_t metric_row;
	kc_upcall *call;
	struct timespec t0;
	char id[40];
	/* Streams: SSE or NDJSON, the timer for heartbeats / backlog polls. */
	bool sse;
	bool started;
	struct event *timer;
	bool paused;
	struct gw_req *prev;
	struct gw_req *next;
	/* Unary API calls: the batch whose answer this request waits for,
	 * and its neighbours among the batch's waiters. */
	upcall_batch *batch;
	struct gw_req *wprev;
	struct gw_req *wnext;
	/* The health check behind /healthz. */
	bool healthz;
	bool have_message;
	int render_err;
} gw_req;

/*
 * A unary call to kc-server and the requests waiting for its answer: one,
 * or several identical reads (see "identical reads share one call" below).
 * The batch owns the call and the rendered answer; each waiter is answered
 * from it and then freed.
 */
struct upcall_batch {
	kc_gw *gw;
	const kc_route *route;
	kc_upcall *call;
	gw_req *waiters;
	/* Joinable: listed in open_batches, with kc_upstream_flushes() as
	 * it was when the call started. */
	bool open;
	uint64_t flush_mark;
	upcall_batch *next_open;
	/* What makes two requests identical; NULL for calls never shared. */
	char *key;
	size_t key_len;
	/* Set while the answer goes out, so an abort among the waiters does
	 * not free the batch under the loop. */
	bool delivering;
	/* The answer: the rendered body, HttpBody's own content type. */
	kc_buf body;
	char *content_type;
	bool have_message;
	int render_err;
};

static gw_req *streams;
static upcall_batch *open_batches;

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void log_request(gw_req *r, int status)
{
	char st[8];
	char ms[32];

	if (status < 400 && r->gw->log_level > KC_LOG_DEBUG)
		return;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.3f", since(&r->t0) * 1000);
	kc_log(status >= 400 ? KC_LOG_INFO : KC_LOG_DEBUG, "request", "request_id", r->id, "method", r->ex->req.method,
	       "path", r->ex->req.target, "protocol", r->ex->req.protocol, "status", st, "ms", ms, NULL);
}

static void req_free(gw_req *r)
{
	if (r->timer)
		event_free(r->timer);
	if (r->prev)
		r->prev->next = r->next;
	else if (streams == r)
		streams = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->ex)
		r->ex->app = NULL;
	free(r);
}

/* Sends a whole answer, `shared` or body[0..len), and ends the request.
 * Takes nothing. */
static void finish_answer(gw_req *r, int status, const char *content_type, const void *body, size_t len,
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
	log_request(r, status);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, status, since(&r->t0));
	if (shared)
		r->ex->ops->respond_shared(r->ex, status, h, n, shared);
	else
		r->ex->ops->respond(r->ex, status, h, n, body, len);
	r->ex = NULL;
	req_free(r);
}

static void finish(gw_req *r, int status, const char *content_type, const void *body, size_t len,
                   const kc_header *extra, size_t n_extra)
{
	finish_answer(r, status, content_type, body, len, NULL, extra, n_extra);
}

static void finish_error(gw_req *r, int status, const char *message, const kc_header *extra, size_t n_extra)
{
	kc_buf b;

	kc_buf_init(&b, 0);
	kc_buf_puts(&b, "{\"error\":");
	kc_json_put_string(&b, message, strlen(message));
	kc_buf_putc(&b, '}');
	finish(r, status, "application/json", b.data ? b.data : "{}", b.data ? b.len : 2, extra, n_extra);
	kc_buf_release(&b);
}

static bool server_side(int grpc_status)
{
	/* UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
	return grpc_status == 2 || grpc_status == 4 || grpc_status == 13 || grpc_status == 14 || grpc_status == 15;
}

/* Counts and logs a failed call once, however many requests it answers. */
static void note_call_failure(kc_gw *gw, const char *request_id, int status, const char *message)
{
	if (server_side(status))
		kc_gw_metrics_upstream_error(gw->metrics);
	if (status == 14)
		kc_log(KC_LOG_WARN, "kc-server unavailable", "request_id", request_id, "error", message, NULL);
}

static void finish_grpc_error(gw_req *r, int status, const char *message)
{
	int err = kc_error_from_grpc_status(status);

	finish_error(r, kc_error_to_http_status(err), *message ? message : kc_strerror(err), NULL, 0);
}

/* ---- streams ---- */

static void stream_timer(evutil_socket_t fd, short what, void *arg)
{
	gw_req *r = arg;

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

static void stream_start(gw_req *r)
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

static void stream_frame(gw_req *r, const char *json, size_t len)
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

static void stream_end(gw_req *r, int status)
{
	log_request(r, status);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, 200, since(&r->t0));
	kc_gw_metrics_streams(r->gw->metrics, -1);
	r->ex->ops->end(r->ex);
	r->ex = NULL;
	req_free(r);
}

/* ---- upstream callbacks ---- */

/*
 * A bump allocator for unpacking one answer: a 100-task list unpacks into
 * some 700 strings and submessages, and malloc/free of each was a fifth of
 * the loop's time. Everything is freed at once after the answer is
 * rendered. The first chunk is twice the wire length (a 28 KB list
 * unpacks into ~22 KB: strings plus small structs); more chunks come as
 * needed, each twice the last.
 */
typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t cap;
	max_align_t data[];
} arena_chunk;

typedef struct arena {
	arena_chunk *head;
	size_t next_cap;
} arena;

static void *arena_alloc(void *ud, size_t size)
{
	arena *a = ud;
	arena_chunk *c = a->head;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

	if (!c || c->cap - c->used < need) {
		size_t cap = need > a->next_cap ? need : a->next_cap;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->next_cap = cap * 2;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static void arena_free_one(void *ud, void *p)
{
	/* Freed with the arena. */
	(void)ud;
	(void)p;
}

static void arena_release(arena *a)
{
	while (a->head) {
		arena_chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/* Unpacks an answer into an arena; NULL when it is not a valid message. */
static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, arena *a,
                                ProtobufCAllocator *alloc)
{
	a->head = NULL;
	a->next_cap = 2 * len + 1024;
	*alloc = (ProtobufCAllocator){arena_alloc, arena_free_one, a};
	return protobuf_c_message_unpack(d, alloc, len, data);
}

/* Streams and /healthz: each request has its own call. */
static void on_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	gw_req *r = ud;
	ProtobufCMessage *m;
	arena a;
	ProtobufCAllocator alloc;

	(void)call;
	m = unpack(r->healthz ? &grpc__health__v1__health_check_response__descriptor : r->route->output, data, len, &a,
	           &alloc);
	if (!m) {
		arena_release(&a);
		r->render_err = KC_ERR_PROTOCOL;
		return;
	}
	r->have_message = true;
	if (r->healthz) {
		Grpc__Health__V1__HealthCheckResponse *h = (void *)m;

		r->render_err = h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : -1;
	} else {
		kc_buf b;

		kc_buf_init(&b, 64u << 20);
		kc_message_to_json(m, r->route->response_body_field, &b);
		if (!r->started)
			stream_start(r);
		if (!b.err)
			stream_frame(r, b.data, b.len);
		kc_buf_release(&b);
		if (r->ex->ops->backlog(r->ex) > STREAM_BACKLOG_MAX) {
			struct timeval tv = {0, 100000};

			r->paused = true;
			kc_upcall_pause(r->call, true);
			/* Poll the backlog until it drains; heartbeats resume after. */
			event_del(r->timer);
			event_add(r->timer, &tv);
		}
	}
	arena_release(&a);
}

static void on_done(kc_upcall *call, int status, const char *message, void *ud)
{
	gw_req *r = ud;

	(void)call;
	r->call = NULL;
	if (r->healthz) {
		if (status == 0 && r->have_message && r->render_err == 0) {
			static const char ok[] = "{\"status\":\"ok\",\"upstream\":\"serving\"}";

			finish(r, 200, "application/json", ok, sizeof(ok) - 1, NULL, 0);
		} else {
			finish_error(r, 503, status ? message : "kc-server is not serving", NULL, 0);
		}
		return;
	}
	if (status != 0)
		note_call_failure(r->gw, r->id, status, message);
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
		stream_end(r, 200);
	} else if (status != 0) {
		finish_grpc_error(r, status, message);
	} else {
		/* A stream that ended before its first message. */
		stream_start(r);
		stream_end(r, 200);
	}
}

static const kc_upcall_callbacks upcall_cb = {on_message, on_done};

/* ---- unary calls: identical reads share one call ---- */

/*
 * A GET that arrives while an identical GET (same route, same request
 * message, same credentials and identity) has a call that has not left
 * for kc-server yet joins that call: the answer is rendered once and sent
 * to each. "Not left yet" is kc_upstream_flushes() unchanged since the
 * call started, so kc-server computes every answer after each of its
 * requests arrived: a client that wrote something and then reads gets
 * its write, exactly as with a call of its own. In practice the window is
 * one pass of the event loop, the requests read from one batch of ready
 * sockets: under load (dashboards in several tabs, scripts polling, the
 * benchmark's 64 connections) that is many, alone a request goes out at
 * once as before. Only GETs join: they are safe to answer from one
 * computation (RFC 9110 9.2.1); any other method has its own call.
 * kc-server sees the first request's x-request-id; every request keeps
 * its own id in the gateway's log and answer.
 */
static void batch_close(upcall_batch *b)
{
	upcall_batch **pp;

	if (!b->open)
		return;
	for (pp = &open_batches; *pp; pp = &(*pp)->next_open) {
		if (*pp == b) {
			*pp = b->next_open;
			break;
		}
	}
	b->open = false;
}

static void batch_free(upcall_batch *b)
{
	batch_close(b);
	kc_buf_release(&b->body);
	free(b->content_type);
	free(b->key);
	free(b);
}

static void batch_add(upcall_batch *b, gw_req *r)
{
	r->batch = b;
	r->wprev = NULL;
	r->wnext = b->waiters;
	if (b->waiters)
		b->waiters->wprev = r;
	b->waiters = r;
}

static void batch_remove(upcall_batch *b, gw_req *r)
{
	if (r->wprev)
		r->wprev->wnext = r->wnext;
	else
		b->waiters = r->wnext;
	if (r->wnext)
		r->wnext->wprev = r->wprev;
	r->batch = NULL;
	r->wprev = r->wnext = NULL;
}

/* The open batch with this key, closing those whose call has gone out. */
static upcall_batch *batch_find(kc_gw *gw, const char *key, size_t len)
{
	uint64_t mark = kc_upstream_flushes(gw->up);
	upcall_batch **pp = &open_batches;

	while (*pp) {
		upcall_batch *b = *pp;

		if (b->flush_mark != mark) {
			*pp = b->next_open;
			b->open = false;
			continue;
		}
		if (b->key_len == len && memcmp(b->key, key, len) == 0)
			return b;
		pp = &b->next_open;
	}
	return NULL;
}

static void unary_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	upcall_batch *b = ud;
	ProtobufCMessage *m;
	arena a;
	ProtobufCAllocator alloc;

	(void)call;
	m = unpack(b->route->output, data, len, &a, &alloc);
	if (!m) {
		arena_release(&a);
		b->render_err = KC_ERR_PROTOCOL;
		return;
	}
	b->have_message = true;
	if (b->route->output == &google__api__http_body__descriptor) {
		Google__Api__HttpBody *hb = (void *)m;

		/* HttpBody: the bytes as they are, with their own type. */
		kc_buf_append(&b->body, hb->data.data, hb->data.len);
		free(b->content_type);
		b->content_type = hb->content_type && *hb->content_type ? strdup(hb->content_type) : NULL;
		b->render_err = b->body.err;
	} else {
		/* JSON runs about 1.5x the wire size (names, quotes): one
		 * allocation instead of a chain of doublings. */
		kc_buf_reserve(&b->body, len + len / 2 + 256);
		b->render_err = kc_message_to_json(m, b->route->response_body_field, &b->body);
	}
	arena_release(&a);
}

/* Answers one waiter from the batch's result. */
static void unary_answer(gw_req *r, const upcall_batch *b, kc_shared_body *body, int status, const char *message)
{
	if (status != 0) {
		finish_grpc_error(r, status, message);
		return;
	}
	if (!b->have_message || b->render_err) {
		finish_error(r, 502, b->render_err == KC_ERR_TOO_LARGE ? "answer too large" : "bad answer from kc-server",
		             NULL, 0);
		return;
	}
	if (b->route->output == &google__api__http_body__descriptor) {
		finish_answer(r, 200, b->content_type ? b->content_type : "application/octet-stream", NULL, 0, body, NULL,
		              0);
		return;
	}
	/* The contract answers a create with 201: an rpc named Create* bound
	 * to POST creates a resource (AIP-133), so the rule stays generic. */
	finish_answer(r, strcmp(r->ex->req.method, "POST") == 0 &&
	                         strncmp(b->route->service->methods[b->route->method_index].name, "Create", 6) == 0
	                     ? 201
	                     : 200,
	              "application/json", NULL, 0, body, NULL, 0);
}

static void unary_done(kc_upcall *call, int status, const char *message, void *ud)
{
	upcall_batch *b = ud;
	gw_req *r;
	bool bad_answer = status == 0 && (!b->have_message || b->render_err);
	kc_shared_body *body = NULL;
	size_t len = 0;

	(void)call;
	b->call = NULL;
	batch_close(b);
	if (status != 0)
		note_call_failure(b->gw, b->waiters ? b->waiters->id : "", status, message);
	if (bad_answer)
		kc_gw_metrics_upstream_error(b->gw->metrics);
	if (status == 0 && !bad_answer) {
		char *data;

		/* An empty JSON answer is still an object. */
		if (!b->body.len && b->route->output != &google__api__http_body__descriptor)
			kc_buf_puts(&b->body, "{}");
		data = kc_buf_steal(&b->body, &len);
		body = data ? kc_shared_body_new(data, len) : NULL;
	}
	b->delivering = true;
	while ((r = b->waiters) != NULL) {
		batch_remove(b, r);
		if (status == 0 && !bad_answer && !body)
			finish_error(r, 500, "out of memory", NULL, 0);
		else
			unary_answer(r, b, body, status, message);
	}
	kc_shared_body_unref(body);
	batch_free(b);
}

static const kc_upcall_callbacks unary_cb = {unary_message, unary_done};

/* What makes two reads identical: the rpc, what goes up as metadata
 * besides the request id, and the request message. NUL separates the
 * text parts (header values cannot hold one); the message comes last. */
static char *batch_key(const kc_route *route, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen,
                       size_t *len)
{
	kc_buf k;
	size_t i;

	kc_buf_init(&k, 0);
	kc_buf_add(&k, route->grpc_path, strlen(route->grpc_path) + 1);
	for (i = 0; i < n_md; i++) {
		if (strcmp(md[i].name, "x-request-id") == 0)
			continue;
		kc_buf_add(&k, md[i].name, strlen(md[i].name) + 1);
		kc_buf_add(&k, md[i].value, strlen(md[i].value) + 1);
	}
	kc_buf_add(&k, packed, plen);
	if (k.err) {
		kc_buf_release(&k);
		return NULL;
	}
	return kc_buf_steal(&k, len);
}

/* Starts r's unary call, or joins r to an identical one not sent yet. */
static int unary_start(gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen)
{
	kc_gw *gw = r->gw;
	const kc_route *route = r->route;
	upcall_batch *b;
	char *key = NULL;
	size_t key_len = 0;
	int rc;

	if (gw->cfg.coalesce_reads && strcmp(route->http_method, "GET") == 0) {
		key = batch_key(route, md, n_md, packed, plen, &key_len);
		b = key ? batch_find(gw, key, key_len) : NULL;
		if (b) {
			free(key);
			batch_add(b, r);
			kc_gw_metrics_shared_answer(gw->metrics);
			return 0;
		}
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		free(key);
		return KC_ERR_NOMEM;
	}
	b->gw = gw;
	b->route = route;
	b->key = key;
	b->key_len = key_len;
	kc_buf_init(&b->body, 64u << 20);
	rc = kc_upcall_start(gw->up, route->grpc_path, md, n_md, packed, plen, false, gw->cfg.request_timeout_ms,
	                     &unary_cb, b, &b->call);
	if (rc) {
		batch_free(b);
		return rc;
	}
	batch_add(b, r);
	if (key) {
		b->open = true;
		b->flush_mark = kc_upstream_flushes(gw->up);
		b->next_open = open_batches;
		open_batches = b;
	}
	return 0;
}

/* r is gone before its answer: the call goes on for the others, if any. */
static void unary_abort(gw_req *r)
{
	upcall_batch *b = r->batch;

	batch_remove(b, r);
	if (b->waiters || b->delivering)
		return;
	kc_upcall_cancel(b->call);
	batch_free(b);
}

/* ---- the request ---- */

static bool path_is(const kc_http_request *req, const char *p)
{
	return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static bool path_starts(const kc_http_request *req, const char *p)
{
	return req->path_len >= strlen(p) && memcmp(req->path, p, strlen(p)) == 0;
}

static void request_id(gw_req *r, const kc_http_request *req)
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

static void call_api(gw_req *r, kc_route_match *m)
{
	kc_http_request *req = &r->ex->req;
	const kc_route *route = m->route;
	ProtobufCMessage *msg;
	char err[256] = "";
	kc_header md[4];
	size_t n_md = 0;
	uint8_t *packed = NULL;
	size_t plen;
	size_t i;
	const char *v;
	const char *accept;
	int rc = 0;

	msg = kc_message_new(route->input);
	if (!msg) {
		finish_error(r, 500, "out of memory", NULL, 0);
		return;
	}
	for (i = 0; i < m->n_bindings && !rc; i++)
		rc = kc_message_set_text(msg, m->bindings[i].field, m->bindings[i].value, err, sizeof(err));
	if (!rc && req->query_len)
		rc = kc_message_set_query(msg, req->query, req->query_len, err, sizeof(err));
	if (!rc && *route->body_field && req->body.len)
		rc = kc_json_to_message(msg, req->body.data, req->body.len, route->body_field, err, sizeof(err));
	if (rc) {
		kc_message_free(msg);
		finish_error(r, rc == KC_ERR_NOMEM ? 500 : 400, rc == KC_ERR_NOMEM ? "out of memory" : err, NULL, 0);
		return;
	}
	plen = protobuf_c_message_get_packed_size(msg);
	packed = malloc(plen ? plen : 1);
	if (!packed) {
		kc_message_free(msg);
		finish_error(r, 500, "out of memory", NULL, 0);
		return;
	}
	protobuf_c_message_pack(msg, packed);
	kc_message_free(msg);

	v = kc_http_header(req, "authorization");
	if (v)
		md[n_md++] = (kc_header){"authorization", v};
	if (m->oauth) {
		v = kc_http_header(req, "x-auth-request-user");
		if (v)
			md[n_md++] = (kc_header){"x-kc-oauth-user", v};
		v = kc_http_header(req, "x-auth-request-email");
		if (v)
			md[n_md++] = (kc_header){"x-kc-oauth-email", v};
	}
	md[n_md++] = (kc_header){"x-request-id", r->id};
	if (route->server_streaming) {
		accept = kc_http_header(req, "accept");
		r->sse = accept && strstr(accept, "text/event-stream");
	}
	if (route->server_streaming)
		rc = kc_upcall_start(r->gw->up, route->grpc_path, md, n_md, packed, plen, true, 0, &upcall_cb, r,
		                     &r->call);
	else
		rc = unary_start(r, md, n_md, packed, plen);
	free(packed);
	if (rc)
		finish_error(r, rc == KC_ERR_INVALID ? 400 : 500,
		             rc == KC_ERR_INVALID ? "a header cannot be forwarded (invalid characters)" : "internal error",
		             NULL, 0);
}

static void healthz(gw_req *r)
{
	Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t buf[16];
	size_t n = protobuf_c_message_pack(&hc.base, buf);
	kc_header md = {"x-request-id", r->id};
	int rc;

	r->healthz = true;
	r->metric_row = kc_n_routes + KC_GW_KIND_HEALTHZ;
	rc = kc_upcall_start(r->gw->up, "/grpc.health.v1.Health/Check", &md, 1, buf, n, false, 2000, &upcall_cb, r,
	                     &r->call);
	if (rc)
		finish_error(r, 503, "kc-server is not reachable", NULL, 0);
}

static const char *route_label(size_t i, void *ud)
{
	static const char *const kinds[] = {"static", "/healthz", "/api/openapi.json", "/metrics/prometheus",
	                                    "unmatched"};
	static char buf[300];

	(void)ud;
	if (i < kc_n_routes) {
		snprintf(buf, sizeof(buf), "%s %s", kc_routes[i].http_method, kc_routes[i].path_template);
		return buf;
	}
	return kinds[i - kc_n_routes];
}

static void prometheus(gw_req *r)
{
	kc_buf b;

	r->metric_row = kc_n_routes + KC_GW_KIND_PROMETHEUS;
	kc_buf_init(&b, 0);
	kc_gw_metrics_render(r->gw->metrics, route_label, NULL, &b);
	finish(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len, NULL, 0);
	kc_buf_release(&b);
}

/* The page's headers. The dashboard loads its scripts and styles from
 * files (no inline code), so the policy can forbid inline script. */
static const kc_header page_headers[] = {
	{"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	                            "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
	                            "form-action 'self'; frame-ancestors 'self'"},
	{"X-Frame-Options", "SAMEORIGIN"},
	{"Referrer-Policy", "no-referrer"},
};

static void serve_static(gw_req *r)
{
	kc_http_request *req = &r->ex->req;
	kc_static_answer a;
	kc_header h[16];
	size_t n = 0;
	size_t i;
	int status;

	r->metric_row = kc_n_routes + KC_GW_KIND_STATIC;
	if (kc_static_serve(r->gw->cfg.web_root, req->path, req->path_len, kc_http_header(req, "if-none-match"),
	                    kc_http_header(req, "if-modified-since"), STATIC_MAX_BYTES, &a)) {
		finish_error(r, 500, "out of memory", NULL, 0);
		return;
	}
	if (a.status == 404) {
		finish_error(r, 404, "not found", NULL, 0);
		return;
	}
	status = a.status;
	if (a.content_type)
		h[n++] = (kc_header){"Content-Type", a.content_type};
	h[n++] = (kc_header){"ETag", a.etag};
	h[n++] = (kc_header){"Last-Modified", a.last_modified};
	/* Revalidate every time: the ETag makes that a cheap 304. */
	h[n++] = (kc_header){"Cache-Control", "no-cache"};
	h[n++] = (kc_header){"X-Content-Type-Options", "nosniff"};
	h[n++] = (kc_header){"X-Request-Id", r->id};
	for (i = 0; i < sizeof(page_headers) / sizeof(page_headers[0]); i++)
		h[n++] = page_headers[i];
	log_request(r, status);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, status, since(&r->t0));
	r->ex->ops->respond(r->ex, status, h, n, a.body, a.len);
	free(a.body);
	r->ex = NULL;
	req_free(r);
}

void kc_gw_handle(kc_gw *gw, kc_exchange *ex)
{
	kc_http_request *req = &ex->req;
	gw_req *r = calloc(1, sizeof(*r));
	kc_route_match m;
	char allow[128] = "";
	int rc;

	if (!r) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		static const kc_header h[] = {{"Content-Type", "application/json"}};

		ex->ops->respond(ex, 500, h, 1, oom, sizeof(oom) - 1);
		return;
	}
	r->gw = gw;
	r->ex = ex;
	ex->app = r;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->metric_row = kc_n_routes + KC_GW_KIND_UNMATCHED;
	request_id(r, req);

	if (path_is(req, "/healthz") && (strcmp(req->method, "GET") == 0 || req->head)) {
		healthz(r);
		return;
	}
	if (path_is(req, "/metrics/prometheus") && (strcmp(req->method, "GET") == 0 || req->head)) {
		prometheus(r);
		return;
	}
	if ((path_is(req, "/api/openapi.json") || path_is(req, "/oauth/api/openapi.json")) &&
	    (strcmp(req->method, "GET") == 0 || req->head)) {
		r->metric_row = kc_n_routes + KC_GW_KIND_OPENAPI;
		if (gw->openapi)
			finish(r, 200, "application/json", gw->openapi, gw->openapi_len, NULL, 0);
		else
			finish_error(r, 404, "not found", NULL, 0);
		return;
	}
	memset(&m, 0, sizeof(m));
	rc = kc_route_find(kc_routes, kc_n_routes, req->method, req->path, req->path_len, &m, allow, sizeof(allow));
	if (rc == 0) {
		r->route = m.route;
		r->metric_row = (size_t)(m.route - kc_routes);
		call_api(r, &m);
		kc_route_match_release(&m);
		return;
	}
	if (rc == KC_ERR_METHOD) {
		kc_header h = {"Allow", allow};

		finish_error(r, 405, "method not allowed", &h, 1);
		return;
	}
	if (rc == KC_ERR_TOO_LARGE) {
		finish_error(r, 414, "path too long", NULL, 0);
		return;
	}
	/* API-looking paths never fall through to files: a typo in a script
	 * gets a JSON 404, not the dashboard. */
	if (path_starts(req, "/api/") || path_starts(req, "/oauth/api/") || path_starts(req, "/health") ||
	    path_starts(req, "/oauth/health") || path_starts(req, "/metrics") || path_starts(req, "/oauth/metrics") ||
	    (strcmp(req->method, "GET") != 0 && !req->head)) {
		finish_error(r, 404, "not found", NULL, 0);
		return;
	}
	serve_static(r);
}

void kc_gw_abort(kc_gw *gw, kc_exchange *ex)
{
	gw_req *r = ex->app;

	(void)gw;
	if (!r)
		return;
	if (r->started)
		kc_gw_metrics_streams(r->gw->metrics, -1);
	if (r->call)
		kc_upcall_cancel(r->call);
	if (r->batch)
		unary_abort(r);
	log_request(r, 499);
	r->ex = NULL;
	req_free(r);
}

void kc_gw_end_streams(kc_gw *gw)
{
	(void)gw;
	while (streams) {
		gw_req *r = streams;

		if (r->call)
			kc_upcall_cancel(r->call);
		r->call = NULL;
		stream_end(r, 200);
	}
}
