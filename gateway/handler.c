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
 * as gRPC metadata `authorization` on every call. Identity is trusted by
 * listener, never by path: only a request that arrived on the identity
 * listener (gateway.oauth_listen, which nothing but the auth proxy can
 * reach) has the proxy's headers (gateway.oauth_user_header /
 * oauth_email_header) sent up as `x-kc-oauth-user` / `x-kc-oauth-email`.
 * On the public listener they are never read, on any path or protocol:
 * such a request is as unauthenticated as one without them. kc-server
 * trusts that metadata only from its unix socket, whose one client is
 * this gateway.
 *
 * Before any of that, on every listener and path (gateway/README.md,
 * Trust model): the Host (or :authority) must be one of
 * gateway.allowed_hosts (400 when missing, 421 otherwise: a page whose DNS
 * name was rebound to this address is not served); an API body must be
 * application/json (415: an HTML form cannot send it cross-site without a
 * CORS preflight); and on the identity listener, where a browser's cookie
 * makes the session, a state-changing request that the browser marks
 * cross-site or same-site, or whose Origin is not the Host, is refused
 * (403).
 *
 * What happens next is in unary.c (unary calls, identical reads sharing
 * one) and stream.c (SSE / NDJSON); request.c ends every request.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "common/task_id.h"
#include "gateway/answer.h"
#include "gateway/grpc_client.h"
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

/* The task id segment of a path under the task collection
 * (`[/oauth]/api/claude/tasks/<id>[/...]`), when there is one. */
static bool task_segment(const kc_http_request *req, const char **seg, size_t *len)
{
	static const char *const prefixes[] = {"/api/claude/tasks/", "/oauth/api/claude/tasks/"};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		const char *end;

		if (!path_starts(req, prefixes[i]))
			continue;
		*seg = req->path + pl;
		end = memchr(*seg, '/', req->path_len - pl);
		*len = end ? (size_t)(end - *seg) : req->path_len - pl;
		return true;
	}
	return false;
}

/* ---- the trust rules ---- */

/* True for a media type `application/json`, parameters (`; charset=utf-8`)
 * allowed, any case. */
static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* The explicit port of a Host / Origin authority, or -1 when none. */
static long authority_port(const char *a, size_t len)
{
	const char *colon = NULL;
	size_t i;
	size_t colons = 0;
	long port = 0;

	if (len && a[0] == '[') {
		const char *close = memchr(a, ']', len);

		if (close && (size_t)(close - a) + 1 < len && close[1] == ':')
			colon = close + 1;
	} else {
		for (i = 0; i < len; i++)
			if (a[i] == ':') {
				colons++;
				colon = a + i;
			}
		if (colons != 1)
			colon = NULL;
	}
	if (!colon || colon + 1 == a + len)
		return -1;
	for (colon++; colon < a + len; colon++)
		port = port * 10 + (*colon - '0');
	return port;
}

/*
 * The browser's Origin names the same host (and port) as the request's
 * Host. The gateway does not know the scheme the client used (TLS ends at
 * the ingress), so a Host without a port matches an Origin on its
 * scheme's default port, and an explicit Host port must equal the
 * Origin's. "null" (sandboxed frames, file: pages, some redirects) never
 * matches.
 */
static bool origin_is_host(const char *origin, const char *host)
{
	const char *sep = strstr(origin, "://");
	char oh[KC_GW_MAX_HOST_LEN];
	char hh[KC_GW_MAX_HOST_LEN];
	const char *auth;
	long oport;
	long hport;
	bool https;

	if (!sep)
		return false;
	https = (size_t)(sep - origin) == 5 && strncasecmp(origin, "https", 5) == 0;
	if (!https && !((size_t)(sep - origin) == 4 && strncasecmp(origin, "http", 4) == 0))
		return false;
	auth = sep + 3;
	if (kc_gw_host_normalize(auth, strlen(auth), oh, sizeof(oh)) ||
	    kc_gw_host_normalize(host, strlen(host), hh, sizeof(hh)) || strcmp(oh, hh) != 0)
		return false;
	oport = authority_port(auth, strlen(auth));
	if (oport < 0)
		oport = https ? 443 : 80;
	hport = authority_port(host, strlen(host));
	if (hport >= 0)
		return hport == oport;
	return oport == 443 || oport == 80;
}

/*
 * The checks every request passes before it is routed. False when r was
 * answered (and freed).
 */
static bool admit(kc_gw_req *r)
{
	kc_http_request *req = &r->ex->req;
	const char *host = kc_http_header(req, "host");
	char norm[KC_GW_MAX_HOST_LEN];
	const char *site;
	const char *origin;

	/* DNS rebinding: a page on attacker.example whose name now resolves
	 * to 127.0.0.1 sends Host: attacker.example. Port ignored (the name
	 * is what an attacker controls). */
	if (!host || !*host) {
		kc_gw_finish_error(r, 400, "missing Host header", NULL, 0);
		return false;
	}
	if (kc_gw_host_normalize(host, strlen(host), norm, sizeof(norm)) || !kc_gw_host_allowed(&r->gw->cfg, norm)) {
		kc_gw_finish_error(r, 421, "misdirected request", NULL, 0);
		return false;
	}
	if (!kc_gw_conn_trusts_identity(r->ex->conn_data) || strcmp(req->method, "GET") == 0 || req->head ||
	    strcmp(req->method, "OPTIONS") == 0)
		return true;
	/* CSRF, where a cookie makes the session. Fetch metadata first (every
	 * current browser sends it); Origin for the others. */
	site = kc_http_header(req, "sec-fetch-site");
	if (site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0)) {
		kc_gw_finish_error(r, 403, "cross-site request refused", NULL, 0);
		return false;
	}
	origin = kc_http_header(req, "origin");
	if (kc_http_header_count(req, "origin") > 1 || (origin && !origin_is_host(origin, host))) {
		kc_gw_finish_error(r, 403, "cross-origin request refused", NULL, 0);
		return false;
	}
	return true;
}

/* What goes up as gRPC metadata: the credentials, the identity when the
 * listener trusts it, the request id. At most 4 entries. */
static size_t call_metadata(const kc_gw_req *r, bool identity, kc_header *md)
{
	const kc_http_request *req = &r->ex->req;
	const kc_gw_config *cfg = &r->gw->cfg;
	const char *v;
	size_t n = 0;

	v = kc_http_header(req, "authorization");
	if (v)
		md[n++] = (kc_header){"authorization", v};
	if (identity) {
		v = kc_http_header(req, cfg->oauth_user_header);
		if (v && *v)
			md[n++] = (kc_header){"x-kc-oauth-user", v};
		v = kc_http_header(req, cfg->oauth_email_header);
		if (v && *v)
			md[n++] = (kc_header){"x-kc-oauth-email", v};
	}
	md[n++] = (kc_header){"x-request-id", r->id};
	return n;
}

static void call_api(kc_gw_req *r, kc_route_match *m)
{
	kc_http_request *req = &r->ex->req;
	const kc_route *route = m->route;
	ProtobufCMessage *msg;
	char err[256] = "";
	kc_header md[4];
	size_t n_md;
	uint8_t *packed = NULL;
	size_t plen;
	size_t i;
	const char *bound[KC_ROUTE_MAX_BINDINGS];
	bool identity = kc_gw_conn_trusts_identity(r->ex->conn_data);
	const kc_gw_config *cfg = &r->gw->cfg;
	int rc = 0;

	/* A body is JSON and says so: a form or text/plain post is what a
	 * page on another site can send without asking (no preflight). */
	if (req->body.len && !is_json_type(kc_http_header(req, "content-type"))) {
		kc_gw_finish_error(r, 415, "the request body must be application/json", NULL, 0);
		return;
	}
	if (identity && (kc_http_header_count(req, cfg->oauth_user_header) > 1 ||
	                 kc_http_header_count(req, cfg->oauth_email_header) > 1)) {
		kc_gw_finish_error(r, 400, "duplicate header", NULL, 0);
		return;
	}
	for (i = 0; i < m->n_bindings; i++)
		bound[i] = m->bindings[i].field;
	msg = kc_message_new(route->input);
	if (!msg) {
		kc_gw_finish_error(r, 500, "out of memory", NULL, 0);
		return;
	}
	for (i = 0; i < m->n_bindings && !rc; i++)
		rc = kc_message_set_text(msg, m->bindings[i].field, m->bindings[i].value, err, sizeof(err));
	/* A field the path set is the resource the request acts on: neither
	 * the query nor the body may name it again (it would win silently). */
	if (!rc && req->query_len)
		rc = kc_message_set_query2(msg, req->query, req->query_len, bound, m->n_bindings, err, sizeof(err));
	if (!rc && *route->body_field && req->body.len)
		rc = kc_json_to_message2(msg, req->body.data, req->body.len, route->body_field, 0, bound, m->n_bindings,
		                         err, sizeof(err));
	if (rc) {
		kc_message_free(msg);
		kc_gw_finish_error(r, rc == KC_ERR_NOMEM ? 500 : 400, rc == KC_ERR_NOMEM ? "out of memory" : err, NULL,
		                   0);
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

	n_md = call_metadata(r, identity, md);
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

static void health_abort(kc_gw_req *r)
{
	kc_upcall_cancel(r->as.health.call);
	r->as.health.call = NULL;
}

static const kc_gw_req_kind health_kind = {health_abort, NULL, NULL};

static void health_message(kc_upcall *call, const uint8_t *data, size_t len, void *ud)
{
	kc_gw_req *r = ud;

	(void)call;
	if (kc_gw_answer_health(data, len, &r->as.health.serving))
		r->as.health.serving = false;
}

static void health_done(kc_upcall *call, int status, const char *message, void *ud)
{
	kc_gw_req *r = ud;
	static const char ok[] = "{\"status\":\"ok\",\"upstream\":\"serving\"}";

	(void)call;
	r->as.health.call = NULL;
	if (status == KC_GRPC_OK && r->as.health.serving)
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
	rc = kc_upcall_start(r->gw->up, "/grpc.health.v1.Health/Check", &md, 1, buf, n, &opts, &health_cb, r,
	                     &r->as.health.call);
	if (rc)
		kc_gw_finish_error(r, 503, "kc-server is not reachable", NULL, 0);
	else
		r->kind = &health_kind;
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

static void redirect_to_slash(kc_gw_req *r)
{
	const kc_http_request *req = &r->ex->req;
	size_t qlen = req->query ? req->query_len : 0;
	char location[1024];
	kc_header h[1];

	if ((size_t)snprintf(location, sizeof location, "%.*s/%s%.*s", (int)req->path_len, req->path, qlen ? "?" : "",
	                     (int)qlen, qlen ? req->query : "") >= sizeof location) {
		kc_gw_finish_error(r, 414, "URI too long", NULL, 0);
		return;
	}
	h[0] = (kc_header){"Location", location};
	r->metric_row = kc_n_routes + KC_GW_KIND_STATIC;
	kc_gw_finish_error(r, 301, "moved to /oauth/", h, 1);
}

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
	kc_gw_req_end(r, status, &(kc_gw_reply){.headers = h, .n_headers = n, .body = a.body, .len = a.len});
	free(a.body);
}

/* No memory for a request: a bare 500, best effort (no log line, as
 * there is no request to log). */
static void refuse_oom(kc_exchange *ex)
{
	static const kc_header h[] = {{"Content-Type", "application/json"}};
	kc_buf b;

	kc_buf_init(&b, 0);
	kc_http_error_body(&b, "out of memory");
	/* Nothing is left to try when even this fails: the protocol layer
	 * ends the exchange. */
	(void)ex->ops->respond(ex, 500, h, 1, b.err ? "{}" : b.data, b.err ? 2 : b.len);
	kc_buf_release(&b);
}

void kc_gw_handle(kc_gw *gw, kc_exchange *ex)
{
	kc_http_request *req = &ex->req;
	kc_gw_req *r = kc_gw_req_new(gw, ex);
	kc_route_match m;
	char allow[128] = "";
	int rc;

	if (!r) {
		refuse_oom(ex);
		return;
	}
	r->metric_row = kc_n_routes + KC_GW_KIND_UNMATCHED;
	if (!admit(r))
		return;

	if (path_is(req, "/healthz") && (strcmp(req->method, "GET") == 0 || req->head)) {
		healthz(r);
		return;
	}
	if (path_is(req, "/metrics/prometheus") && (strcmp(req->method, "GET") == 0 || req->head)) {
		prometheus(r);
		return;
	}
	/* The dashboard's address without its slash (the seed's README and our
	 * NOTES print it so): a relative link on the page would resolve
	 * against "/", so send the browser to "/oauth/", query kept. */
	if (path_is(req, "/oauth") && (strcmp(req->method, "GET") == 0 || req->head)) {
		redirect_to_slash(r);
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
	/* A task id no route can bind (`..`, `%2e%2e`, an encoded slash, a
	 * control byte) names a task that cannot exist: the same 404 as an
	 * unknown id, as kc-server answers a malformed one (issue 11). */
	{
		const char *seg;
		size_t seg_len;

		if (task_segment(req, &seg, &seg_len) && !kc_task_id_valid_n(seg, seg_len)) {
			kc_gw_finish_error(r, 404, "task not found", NULL, 0);
			return;
		}
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
	(void)gw;
	if (ex->app)
		kc_gw_req_abort(ex->app);
}
