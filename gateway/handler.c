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
 *
 * What happens next is in unary.c (unary calls, identical reads sharing
 * one) and stream.c (SSE / NDJSON); request.c answers and frees.
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
#include "gateway/answer.h"
#include "gateway/gw.h"
#include "gateway/request.h"
#include "gateway/router.h"
#include "gateway/static.h"
#include "grpc/health/v1/health.pb-c.h"
#include "transcode/transcode.h"

#define STATIC_MAX_BYTES (16u << 20)

/* ---- the request ---- */

static bool path_is(const kc_http_request *req, const char *p)
{
	return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static bool path_starts(const kc_http_request *req, const char *p)
{
	return req->path_len >= strlen(p) && memcmp(req->path, p, strlen(p)) == 0;
}

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

static void call_api(kc_gw_req *r, kc_route_match *m)
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
	int rc = 0;

	msg = kc_message_new(route->input);
	if (!msg) {
		kc_gw_finish_error(r, 500, "out of memory", NULL, 0);
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
		kc_gw_finish_error(r, rc == KC_ERR_NOMEM ? 500 : 400, rc == KC_ERR_NOMEM ? "out of memory" : err, NULL, 0);
		return;
	}
	plen = protobuf_c_message_get_packed_size(msg);
	packed = malloc(plen ? plen : 1);
	if (!packed) {
		kc_message_free(msg);
		kc_gw_finish_error(r, 500, "out of memory", NULL, 0);
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
	if (route->server_streaming)
		rc = kc_gw_stream_call(r, md, n_md, packed, plen);
	else
		rc = kc_gw_unary_call(r, md, n_md, packed, plen);
	free(packed);
	if (rc)
		kc_gw_finish_error(r, rc == KC_ERR_INVALID ? 400 : 500,
		                   rc == KC_ERR_INVALID ? "a header cannot be forwarded (invalid characters)"
		                                        : "internal error",
		                   NULL, 0);
}

/* ---- /healthz: the gateway is up and kc-server serves ---- */

static void health_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	kc_gw_req *r = ud;

	(void)call;
	if (kc_gw_answer_health(data, len, &r->serving))
		r->serving = false;
}

static void health_done(kc_upcall *call, int status, const char *message, void *ud)
{
	kc_gw_req *r = ud;
	static const char ok[] = "{\"status\":\"ok\",\"upstream\":\"serving\"}";

	(void)call;
	r->call = NULL;
	if (status == 0 && r->serving)
		kc_gw_finish(r, 200, "application/json", ok, sizeof(ok) - 1, NULL, NULL, 0);
	else
		kc_gw_finish_error(r, 503, status ? message : "kc-server is not serving", NULL, 0);
}

static const kc_upcall_callbacks health_cb = {health_message, health_done};

static void healthz(kc_gw_req *r)
{
	Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t buf[16];
	size_t n = protobuf_c_message_pack(&hc.base, buf);
	kc_header md = {"x-request-id", r->id};
	/* No wait for kc-server: the probe reports its absence at once. */
	kc_upcall_opts opts = {.timeout_ms = 2000};
	int rc;

	r->metric_row = kc_n_routes + KC_GW_KIND_HEALTHZ;
	rc = kc_upcall_start(r->gw->up, "/grpc.health.v1.Health/Check", &md, 1, buf, n, &opts, &health_cb, r, &r->call);
	if (rc)
		kc_gw_finish_error(r, 503, "kc-server is not reachable", NULL, 0);
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

static void prometheus(kc_gw_req *r)
{
	kc_buf b;

	r->metric_row = kc_n_routes + KC_GW_KIND_PROMETHEUS;
	kc_buf_init(&b, 0);
	kc_gw_metrics_render(r->gw->metrics, route_label, NULL, &b);
	kc_gw_finish(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len, NULL, NULL, 0);
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

static void serve_static(kc_gw_req *r)
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
		kc_gw_finish_error(r, 500, "out of memory", NULL, 0);
		return;
	}
	if (a.status == 404) {
		kc_gw_finish_error(r, 404, "not found", NULL, 0);
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
	kc_gw_req_log(r, status);
	kc_gw_metrics_request(r->gw->metrics, r->metric_row, status, kc_gw_req_seconds(r));
	r->ex->ops->respond(r->ex, status, h, n, a.body, a.len);
	free(a.body);
	r->ex = NULL;
	kc_gw_req_free(r);
}

void kc_gw_handle(kc_gw *gw, kc_exchange *ex)
{
	kc_http_request *req = &ex->req;
	kc_gw_req *r = calloc(1, sizeof(*r));
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
			kc_gw_finish(r, 200, "application/json", gw->openapi, gw->openapi_len, NULL, NULL, 0);
		else
			kc_gw_finish_error(r, 404, "not found", NULL, 0);
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

		kc_gw_finish_error(r, 405, "method not allowed", &h, 1);
		return;
	}
	if (rc == KC_ERR_TOO_LARGE) {
		kc_gw_finish_error(r, 414, "path too long", NULL, 0);
		return;
	}
	/* API-looking paths never fall through to files: a typo in a script
	 * gets a JSON 404, not the dashboard. */
	if (path_starts(req, "/api/") || path_starts(req, "/oauth/api/") || path_starts(req, "/health") ||
	    path_starts(req, "/oauth/health") || path_starts(req, "/metrics") || path_starts(req, "/oauth/metrics") ||
	    (strcmp(req->method, "GET") != 0 && !req->head)) {
		kc_gw_finish_error(r, 404, "not found", NULL, 0);
		return;
	}
	serve_static(r);
}

void kc_gw_abort(kc_gw *gw, kc_exchange *ex)
{
	kc_gw_req *r = ex->app;

	(void)gw;
	if (!r)
		return;
	if (r->started)
		kc_gw_metrics_streams(r->gw->metrics, -1);
	if (r->call)
		kc_upcall_cancel(r->call);
	if (r->batch)
		kc_gw_unary_abort(r);
	kc_gw_req_log(r, 499);
	r->ex = NULL;
	kc_gw_req_free(r);
}

void kc_gw_end_streams(kc_gw *gw)
{
	(void)gw;
	kc_gw_streams_end();
}
