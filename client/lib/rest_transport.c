/*
 * The REST transport: libcurl against kc-gateway's JSON routes. The route,
 * body and query of each call come from the rpc's generated route (the
 * proto's google.api.http annotation, see internal.h); messages cross as JSON through json_pb.
 * HTTP/2 over TLS when the server offers it. One curl handle per client,
 * so connections are kept alive between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client/lib/internal.h"
#include "client/lib/json_pb.h"
#include "client/lib/stream.h"
#include "google/api/httpbody.pb-c.h"
#include "transcode/buf.h"

/* The largest response body accepted (task output can be big). */
#define MAX_BODY_BYTES (64u * 1024 * 1024)
/* The largest single watch event. */
#define MAX_EVENT_BYTES (8u * 1024 * 1024)

struct rest_impl {
	CURL *h;
};

static int r_open(kc_client *c)
{
	struct rest_impl *r = calloc(1, sizeof *r);
	if (!r)
		return KC_ERR_NOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(r);
		return KC_ERR_INTERNAL;
	}
	r->h = curl_easy_init();
	if (!r->h) {
		curl_global_cleanup();
		free(r);
		return KC_ERR_NOMEM;
	}
	c->impl = r;
	return 0;
}

static void r_close(kc_client *c)
{
	struct rest_impl *r = c->impl;
	if (!r)
		return;
	curl_easy_cleanup(r->h);
	curl_global_cleanup();
	free(r);
	c->impl = NULL;
}

/* Appends `s` percent-encoded (RFC 3986 unreserved characters stay, and
 * '/' with `keep_slashes`). */
static int add_escaped(kc_buf *b, const char *s, bool keep_slashes)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int rc;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_' || ch == '.' || ch == '~' || (keep_slashes && ch == '/')) {
			rc = kc_buf_addc(b, (char)ch);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			rc = kc_buf_add(b, e, 3);
		}
		if (rc)
			return KC_ERR_NOMEM;
	}
	return 0;
}

/* A JSON scalar as query-string text; false for defaults, which are left out. */
static bool query_value(json_t *v, char *tmp, size_t tmplen, const char **out)
{
	if (json_is_string(v)) {
		*out = json_string_value(v);
		return (*out)[0] != '\0';
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) == 0)
			return false;
		snprintf(tmp, tmplen, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		if (json_real_value(v) == 0)
			return false;
		snprintf(tmp, tmplen, "%.17g", json_real_value(v));
	} else if (json_is_true(v)) {
		snprintf(tmp, tmplen, "true");
	} else {
		return false;
	}
	*out = tmp;
	return true;
}

/* Appends the value of the request field `name` (dotted for a nested one)
 * to the URL and takes it out of the request's JSON `j`. A path variable
 * cannot be left empty. */
static int put_variable(kc_client *c, kc_buf *u, json_t *j, char *name, bool keep_slashes)
{
	json_t *parent = j;
	char *leaf = name, *dot;
	while ((dot = strchr(leaf, '.')) != NULL) {
		*dot = '\0';
		parent = json_object_get(parent, leaf);
		*dot = '.';
		leaf = dot + 1;
	}
	char tmp[64];
	const char *val;
	if (!json_is_object(parent) || !query_value(json_object_get(parent, leaf), tmp, sizeof tmp, &val))
		return kci_set_error(c, KC_ERR_INVALID, "%s is required", name);
	if (add_escaped(u, val, keep_slashes))
		return KC_ERR_NOMEM;
	json_object_del(parent, leaf);
	return 0;
}

/* Appends the path template `tmpl` (generated, so well-formed: literals,
 * `{field}`, `{field=*}`, `{field=**}`) with each variable filled from `j`. */
static int put_path(kc_client *c, kc_buf *u, const char *tmpl, json_t *j)
{
	const char *p = tmpl, *var;
	while ((var = strchr(p, '{')) != NULL) {
		const char *end = strchr(var, '}');
		char name[128];
		if (!end || (size_t)(end - var) > sizeof name)
			return kci_set_error(c, KC_ERR_INTERNAL, "bad path template %s", tmpl);
		size_t span = (size_t)(end - var - 1);
		const char *eq = memchr(var + 1, '=', span);
		size_t name_len = eq ? (size_t)(eq - var - 1) : span;
		bool rest = eq && end - eq == 3 && eq[1] == '*' && eq[2] == '*';
		memcpy(name, var + 1, name_len);
		name[name_len] = '\0';
		if (kc_buf_add(u, p, (size_t)(var - p)))
			return KC_ERR_NOMEM;
		int rc = put_variable(c, u, j, name, rest);
		if (rc)
			return rc;
		p = end + 1;
	}
	return kc_buf_add(u, p, strlen(p)) ? KC_ERR_NOMEM : 0;
}

/* Sets *body to the JSON body the route's body field names (NULL when it
 * names none) and takes what it holds out of `j`. */
static int take_body(const struct kci_rpc *rpc, json_t *j, char **body)
{
	*body = NULL;
	if (!rpc->body_field[0])
		return 0;
	if (strcmp(rpc->body_field, "*") == 0) {
		*body = json_dumps(j, JSON_COMPACT);
		json_object_clear(j);
	} else {
		json_t *v = json_object_get(j, rpc->body_field);
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(rpc->in, rpc->body_field);
		if (v)
			*body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		else /* a default the JSON left out */
			*body = strdup(f && f->type == PROTOBUF_C_TYPE_MESSAGE ? "{}" : "null");
		json_object_del(j, rpc->body_field);
	}
	return *body ? 0 : KC_ERR_NOMEM;
}

/* Appends the fields left in `j` as a query string. */
static int put_query(kc_buf *u, json_t *j)
{
	char sep = '?';
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		char tmp[64];
		const char *val;
		if (!query_value(v, tmp, sizeof tmp, &val))
			continue;
		if (kc_buf_add(u, &sep, 1) || add_escaped(u, key, false) || kc_buf_add(u, "=", 1) ||
		    add_escaped(u, val, false))
			return KC_ERR_NOMEM;
		sep = '&';
	}
	return 0;
}

/* Builds the URL and (for routes with a body) the JSON body of a call from
 * the rpc's generated route. */
static int build_request(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, char **url, char **body)
{
	kc_buf u;
	kc_buf_init(&u, 1 << 20);
	/* The request's JSON as a tree: path variables are taken out of it,
	 * then the body's fields; what remains is the query string. */
	char *text = kci_pb_to_json_text(req);
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	free(text);
	if (!j)
		return KC_ERR_NOMEM;
	int rc = kc_buf_puts(&u, c->target) ? KC_ERR_NOMEM : 0;
	if (rc == 0)
		rc = put_path(c, &u, rpc->path_template, j);
	if (rc == 0)
		rc = take_body(rpc, j, body);
	if (rc == 0)
		rc = put_query(&u, j);
	if (rc == 0 && (*url = kc_buf_steal(&u, NULL)) == NULL)
		rc = KC_ERR_NOMEM;
	if (rc) {
		free(*body);
		*body = NULL;
	}
	kc_buf_release(&u);
	json_decref(j);
	return rc;
}

struct xfer {
	kc_client *c;
	kc_buf body; /* capped at MAX_BODY_BYTES */
	/* streaming */
	const struct kci_rpc *rpc;
	kci_msg_cb cb;
	void *user_data;
	kci_stream *stream;
	bool stream_checked; /* status and content type looked at */
	bool streaming;      /* 2xx: bytes go to the stream parser */
	bool stopped;        /* the callback asked to stop */
	int stream_rc;
};

static int stream_payload(const char *payload, size_t len, void *ud);

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->cb && !x->stream_checked) {
		struct rest_impl *r = x->c->impl;
		long status = 0;
		char *ctype = NULL;
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_TYPE, &ctype);
		x->stream_checked = true;
		if (status >= 200 && status < 300) {
			bool sse = ctype && strncmp(ctype, "text/event-stream", 17) == 0;
			x->stream_rc = kci_stream_new(&x->stream, sse, MAX_EVENT_BYTES, stream_payload, x);
			if (x->stream_rc)
				return 0;
			x->streaming = true;
		}
	}
	if (x->streaming) {
		int rc = kci_stream_feed(x->stream, p, len);
		if (rc) {
			if (rc > 0)
				x->stopped = true;
			else
				x->stream_rc = rc;
			return 0;
		}
		return len;
	}
	if (kc_buf_append(&x->body, p, len))
		return 0;
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	struct xfer *x = ud;
	return atomic_load(&x->c->cancelled) ? 1 : 0;
}

static int error_from_curl(kc_client *c, CURLcode cc, const char *errbuf)
{
	const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return kci_set_error(c, KC_ERR_UNAVAILABLE, "%s", msg);
	case CURLE_OPERATION_TIMEDOUT:
		return kci_set_error(c, KC_ERR_TIMEOUT, "%s", msg);
	case CURLE_ABORTED_BY_CALLBACK:
		return kci_set_error(c, KC_ERR_CANCELLED, "cancelled");
	case CURLE_OUT_OF_MEMORY:
		return kci_set_error(c, KC_ERR_NOMEM, "%s", msg);
	default:
		return kci_set_error(c, KC_ERR_PROTOCOL, "%s", msg);
	}
}

/* The error of a >= 400 answer: the code from its status, the text from its
 * {"error": "..."} body. */
static int error_from_answer(kc_client *c, long status, const kc_buf *body)
{
	int err = kci_error_from_http(status);
	json_t *j = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
	json_t *e = json_object_get(j, "error");
	if (json_is_string(e))
		kci_set_error(c, err, "%s", json_string_value(e));
	else
		kci_set_error(c, err, "HTTP %ld", status);
	json_decref(j);
	return err;
}

static int stream_payload(const char *payload, size_t len, void *ud)
{
	struct xfer *x = ud;
	ProtobufCMessage *m = NULL;
	char err[200];
	int rc = kci_json_buf_to_pb(payload, len, x->rpc->out, &m, err, sizeof err);
	if (rc) {
		kci_set_error(x->c, rc, "bad event from the server: %s", err);
		return rc;
	}
	rc = x->cb(m, x->user_data);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc ? 1 : 0;
}

/* Sets up the handle for one call: URL, method and body, limits, callbacks
 * and headers (*headers and *auth are the caller's to free). */
static int set_options(kc_client *c, const struct kci_rpc *rpc, struct xfer *x, const char *url, const char *body,
                       char *errbuf, struct curl_slist **headers, char **auth)
{
	CURL *h = ((struct rest_impl *)c->impl)->h;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "libkcclient/" KC_CLIENT_VERSION);
	if (!x->cb && c->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (strcmp(rpc->http_method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rpc->http_method);
	/* A POST without a body field still sends an empty one. */
	if (body || strcmp(rpc->http_method, "POST") == 0) {
		const char *b = body ? body : "";
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, b);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(b));
	}
	if (c->token && c->token[0]) {
		size_t alen = strlen(c->token) + 32;
		*auth = malloc(alen);
		if (!*auth)
			return KC_ERR_NOMEM;
		snprintf(*auth, alen, "Authorization: Bearer %s", c->token);
		*headers = curl_slist_append(*headers, *auth);
	}
	if (body)
		*headers = curl_slist_append(*headers, "Content-Type: application/json");
	*headers = curl_slist_append(*headers, x->cb ? "Accept: text/event-stream" : "Accept: application/json");
	/* curl would otherwise wait for "100 Continue" on larger bodies. */
	*headers = curl_slist_append(*headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	return 0;
}

/* A text/plain answer (google.api.HttpBody output): the body as it is,
 * taken from `body`. */
static int http_body_message(kc_buf *body, ProtobufCMessage **resp)
{
	Google__Api__HttpBody *hb = malloc(sizeof *hb);
	if (!hb)
		return KC_ERR_NOMEM;
	google__api__http_body__init(hb);
	hb->data.data = (uint8_t *)kc_buf_steal(body, &hb->data.len);
	if (!hb->data.data) {
		free(hb);
		return KC_ERR_NOMEM;
	}
	*resp = &hb->base;
	return 0;
}

/* The result of a finished transfer: a stop or failure the stream saw, a
 * transport error, an error answer, the end of a stream, or the answer
 * decoded into *resp. */
static int outcome(kc_client *c, const struct kci_rpc *rpc, struct xfer *x, CURLcode cc, const char *errbuf,
                   ProtobufCMessage **resp)
{
	long status = 0;
	curl_easy_getinfo(((struct rest_impl *)c->impl)->h, CURLINFO_RESPONSE_CODE, &status);
	if (x->stopped)
		return 0;
	if (x->stream_rc)
		return x->stream_rc == KC_ERR_TOO_LARGE ? kci_set_error(c, KC_ERR_TOO_LARGE, "watch event too large")
		                                        : x->stream_rc;
	if (cc != CURLE_OK) {
		if (x->body.err == KC_ERR_TOO_LARGE)
			return kci_set_error(c, KC_ERR_TOO_LARGE, "answer larger than %u bytes", MAX_BODY_BYTES);
		return error_from_curl(c, cc, errbuf);
	}
	if (status >= 400 || status < 200)
		return error_from_answer(c, status, &x->body);
	if (x->cb) {
		x->stream_rc = x->stream ? kci_stream_finish(x->stream) : 0;
		return x->stream_rc > 0 ? 0 : x->stream_rc;
	}
	if (rpc->out == &google__api__http_body__descriptor)
		return http_body_message(&x->body, resp);
	char err[200];
	ProtobufCMessage *m = NULL;
	int rc = kci_json_buf_to_pb(x->body.data ? x->body.data : "", x->body.len, rpc->out, &m, err, sizeof err);
	if (rc)
		return kci_set_error(c, rc, "bad answer from the server: %s", err);
	*resp = m;
	return 0;
}

static int perform(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   kci_msg_cb cb, void *user_data)
{
	char *url = NULL, *body = NULL, *auth = NULL;
	struct curl_slist *headers = NULL;
	struct xfer x = {.c = c, .rpc = rpc, .cb = cb, .user_data = user_data};
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = build_request(c, rpc, req, &url, &body);
	if (rc)
		return rc;
	kc_buf_init(&x.body, MAX_BODY_BYTES);
	rc = set_options(c, rpc, &x, url, body, errbuf, &headers, &auth);
	if (rc == 0) {
		CURLcode cc = curl_easy_perform(((struct rest_impl *)c->impl)->h);
		rc = outcome(c, rpc, &x, cc, errbuf, resp);
	}
	if (x.stream)
		kci_stream_free(x.stream);
	kc_buf_release(&x.body);
	curl_slist_free_all(headers);
	free(auth);
	free(url);
	free(body);
	return rc;
}

static int r_unary(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	return perform(c, rpc, req, resp, NULL, NULL);
}

static int r_stream(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, kci_msg_cb cb,
                    void *user_data)
{
	return perform(c, rpc, req, NULL, cb, user_data);
}

const struct kci_transport kci_rest_transport = {
    .name = "rest",
    .open = r_open,
    .close = r_close,
    .unary = r_unary,
    .stream = r_stream,
};
