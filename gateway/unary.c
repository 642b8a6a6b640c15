/*
 * unary.c - unary API calls: the request message goes up, the answer comes
 * back as JSON (or HttpBody's raw bytes), and identical reads that arrive
 * together share one call.
 *
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
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "gateway/answer.h"
#include "gateway/grpc_client.h"
#include "gateway/request.h"
#include "google/api/httpbody.pb-c.h"
#include "transcode/transcode.h"

/* An answer larger than this is a 502. */
#define ANSWER_MAX (64u << 20)

/*
 * A unary call to kc-server and the requests waiting for its answer: one,
 * or several identical reads (see the top of this file).
 * The batch owns the call and the rendered answer; each waiter is answered
 * from it and then freed.
 */
struct kc_gw_batch {
	kc_gw *gw;
	const kc_route *route;
	kc_upcall *call;
	kc_gw_req *waiters;
	/* Joinable: listed in gw->open_batches (newest first), with
	 * kc_upstream_flushes() as it was when the call started. */
	bool open;
	uint64_t flush_mark;
	kc_gw_batch *next_open;
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

static void batch_close(kc_gw_batch *b)
{
	kc_gw_batch **pp;

	if (!b->open)
		return;
	for (pp = &b->gw->open_batches; *pp; pp = &(*pp)->next_open) {
		if (*pp == b) {
			*pp = b->next_open;
			break;
		}
	}
	b->open = false;
}

static void batch_free(kc_gw_batch *b)
{
	batch_close(b);
	kc_buf_release(&b->body);
	free(b->content_type);
	free(b->key);
	free(b);
}

static void unary_abort(kc_gw_req *r);

/* A unary request: a client that leaves stops waiting (unary_abort);
 * nothing else to drain or release. */
static const kc_gw_req_kind unary_kind = {unary_abort, NULL, NULL};

static void batch_add(kc_gw_batch *b, kc_gw_req *r)
{
	kc_gw_unary_state *w = &r->as.unary;

	r->kind = &unary_kind;
	w->batch = b;
	w->wprev = NULL;
	w->wnext = b->waiters;
	if (b->waiters)
		b->waiters->as.unary.wprev = r;
	b->waiters = r;
}

static void batch_remove(kc_gw_batch *b, kc_gw_req *r)
{
	kc_gw_unary_state *w = &r->as.unary;

	if (w->wprev)
		w->wprev->as.unary.wnext = w->wnext;
	else
		b->waiters = w->wnext;
	if (w->wnext)
		w->wnext->as.unary.wprev = w->wprev;
	w->batch = NULL;
	w->wprev = w->wnext = NULL;
}

/* The open batch with this key, closing those whose call has gone out. */
static kc_gw_batch *batch_find(kc_gw *gw, const char *key, size_t len)
{
	uint64_t mark = kc_upstream_flushes(gw->up);
	kc_gw_batch **pp = &gw->open_batches;

	while (*pp) {
		kc_gw_batch *b = *pp;

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
	kc_gw_batch *b = ud;

	(void)call;
	/* A unary call has one message; a second one replaces the first. */
	b->body.len = 0;
	free(b->content_type);
	b->content_type = NULL;
	b->have_message = true;
	if (b->route->output == &google__api__http_body__descriptor)
		b->render_err = kc_gw_answer_http_body(data, len, &b->body, &b->content_type);
	else
		b->render_err = kc_gw_answer_json(b->route->output, b->route->response_body_field, data, len, &b->body);
}

/* Answers one waiter with the batch's rendered answer. */
static void unary_answer(kc_gw_req *r, const kc_gw_batch *b, kc_shared_body *body)
{
	int status = 200;

	if (b->route->output == &google__api__http_body__descriptor) {
		kc_gw_finish(r, 200, b->content_type ? b->content_type : "application/octet-stream", NULL, 0, body,
		             NULL, 0);
		return;
	}
	/* The contract answers a create with 201: an rpc named Create* bound
	 * to POST creates a resource (AIP-133), so the rule stays generic. */
	if (strcmp(r->ex->req.method, "POST") == 0 &&
	    strncmp(b->route->service->methods[b->route->method_index].name, "Create", 6) == 0)
		status = 201;
	kc_gw_finish(r, status, "application/json", NULL, 0, body, NULL, 0);
}

/* The call's outcome, decided once, goes to every waiter. */
static void unary_done(kc_upcall *call, int status, const char *message, void *ud)
{
	kc_gw_batch *b = ud;
	kc_gw_req *r;
	const char *failure = NULL;
	int failure_code = 0;
	kc_shared_body *body = NULL;

	(void)call;
	b->call = NULL;
	batch_close(b);
	if (status != KC_GRPC_OK) {
		kc_gw_note_call_failure(b->gw, b->waiters ? b->waiters->id : "", status, message);
	} else if (!b->have_message || b->render_err) {
		kc_gw_metrics_upstream_error(b->gw->metrics);
		failure_code = 502;
		failure = b->render_err == KC_ERR_TOO_LARGE ? "answer too large" : "bad answer from kc-server";
	} else {
		size_t len = 0;
		char *data;

		/* An empty JSON answer is still an object. */
		if (!b->body.len && b->route->output != &google__api__http_body__descriptor)
			kc_buf_puts(&b->body, "{}");
		data = kc_buf_steal(&b->body, &len);
		body = data ? kc_shared_body_new(data, len) : NULL;
		if (!body) {
			failure_code = 500;
			failure = "out of memory";
		}
	}
	b->delivering = true;
	while ((r = b->waiters) != NULL) {
		batch_remove(b, r);
		if (status != KC_GRPC_OK)
			kc_gw_finish_grpc_error(r, status, message);
		else if (failure)
			kc_gw_finish_error(r, failure_code, failure, NULL, 0);
		else
			unary_answer(r, b, body);
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
int kc_gw_unary_call(kc_gw_req *r, const kc_header *md, size_t n_md, const uint8_t *packed, size_t plen)
{
	kc_gw *gw = r->gw;
	const kc_route *route = r->route;
	kc_gw_batch *b;
	char *key = NULL;
	size_t key_len = 0;
	int rc;
	/* A GET only reads: safe to send again after kc-server dropped it. */
	kc_upcall_opts opts = {.timeout_ms = gw->cfg.request_timeout_ms,
	                       .wait_ms = gw->cfg.upstream_wait_ms,
	                       .idempotent = strcmp(route->http_method, "GET") == 0};

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
	kc_buf_init(&b->body, ANSWER_MAX);
	rc = kc_upcall_start(gw->up, route->grpc_path, md, n_md, packed, plen, &opts, &unary_cb, b, &b->call);
	if (rc) {
		batch_free(b);
		return rc;
	}
	batch_add(b, r);
	if (key) {
		b->open = true;
		b->flush_mark = kc_upstream_flushes(gw->up);
		b->next_open = gw->open_batches;
		gw->open_batches = b;
	}
	return 0;
}

/* r is gone before its answer: the call goes on for the others, if any. */
static void unary_abort(kc_gw_req *r)
{
	kc_gw_batch *b = r->as.unary.batch;

	if (!b)
		return;
	batch_remove(b, r);
	if (b->waiters || b->delivering)
		return;
	kc_upcall_cancel(b->call);
	batch_free(b);
}
