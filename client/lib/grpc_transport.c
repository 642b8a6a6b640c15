/*
 * The gRPC transport: gRPC core's C API with protobuf-c messages. One
 * channel and one completion queue per client; calls run one at a time on
 * the calling thread, polling the queue in short slices so
 * kc_client_cancel() from another thread is seen promptly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "client/lib/internal.h"
#include "common/file.h"

/* How long one wait on the completion queue lasts before the cancel flag is
 * checked again. */
#define POLL_SLICE_MS 100
/* The largest message accepted from the server. */
#define MAX_RECV_BYTES (64 * 1024 * 1024)
/* The largest CA bundle read (a system bundle is a few hundred KiB). */
#define MAX_CA_FILE_BYTES (4u * 1024 * 1024)

struct grpc_impl {
	grpc_channel *ch;
	grpc_completion_queue *cq;
};

static int g_open(kc_client *c)
{
	struct grpc_impl *g = calloc(1, sizeof *g);
	if (!g)
		return KC_ERR_NOMEM;
	grpc_init();
	grpc_channel_credentials *creds;
	if (c->tls) {
		char *pem = NULL;
		size_t pem_len;
		if (c->ca_file && kc_file_read(c->ca_file, MAX_CA_FILE_BYTES, &pem, &pem_len) != 0) {
			grpc_shutdown();
			free(g);
			return kci_set_error(c, KC_ERR_IO, "cannot read CA file %s", c->ca_file);
		}
		creds = grpc_ssl_credentials_create(pem, NULL, NULL, NULL);
		free(pem);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	grpc_arg args[1];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = MAX_RECV_BYTES;
	grpc_channel_args chargs = {1, args};
	g->ch = grpc_channel_create(c->target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	g->cq = grpc_completion_queue_create_for_next(NULL);
	if (!g->ch || !g->cq) {
		if (g->ch)
			grpc_channel_destroy(g->ch);
		if (g->cq)
			grpc_completion_queue_destroy(g->cq);
		grpc_shutdown();
		free(g);
		return KC_ERR_NOMEM;
	}
	c->impl = g;
	return 0;
}

static void g_close(kc_client *c)
{
	struct grpc_impl *g = c->impl;
	if (!g)
		return;
	grpc_channel_destroy(g->ch);
	grpc_completion_queue_shutdown(g->cq);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
	}
	grpc_completion_queue_destroy(g->cq);
	free(g);
	c->impl = NULL;
	grpc_shutdown_blocking();
}

/* Tags of the batches of one call. */
enum { TAG_START, TAG_STATUS, TAG_RECV, N_TAGS };

/* One call, from its request to its status. */
struct call_state {
	kc_client *c;
	grpc_call *call;
	bool done[N_TAGS];
	bool cancel_sent;
	int tags[N_TAGS];
	/* what it sends */
	grpc_byte_buffer *send_bb;
	char *bearer;
	grpc_metadata md[1];
	size_t n_md;
	/* what it receives */
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status;
	grpc_slice details;
	bool got_one; /* a unary call's answer is in *resp */
	bool stopped; /* the stream's callback asked to stop */
};

/* Waits until batch `tag` completes, cancelling the call when the client's
 * cancel flag is raised. */
static void wait_tag(struct call_state *st, int tag)
{
	struct grpc_impl *g = st->c->impl;
	while (!st->done[tag]) {
		if (!st->cancel_sent && atomic_load(&st->c->cancelled)) {
			grpc_call_cancel(st->call, NULL);
			st->cancel_sent = true;
		}
		gpr_timespec until =
		    gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(POLL_SLICE_MS, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(g->cq, until, NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			st->done[*(int *)ev.tag] = true;
	}
}

static void call_release(struct call_state *st)
{
	grpc_slice_unref(st->details);
	grpc_metadata_array_destroy(&st->initial_md);
	grpc_metadata_array_destroy(&st->trailing_md);
	if (st->n_md)
		grpc_slice_unref(st->md[0].value);
	free(st->bearer);
	if (st->send_bb)
		grpc_byte_buffer_destroy(st->send_bb);
	if (st->call)
		grpc_call_unref(st->call);
}

/* The request packed, the call made with its deadline and the bearer
 * token. On failure, releases what it made. */
static int call_open(struct call_state *st, const struct kci_rpc *rpc, const ProtobufCMessage *req, bool streaming)
{
	kc_client *c = st->c;
	struct grpc_impl *g = c->impl;
	gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	if (!streaming && c->timeout_ms > 0)
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
	grpc_metadata_array_init(&st->initial_md);
	grpc_metadata_array_init(&st->trailing_md);
	st->status = GRPC_STATUS_OK;
	st->details = grpc_empty_slice();

	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		call_release(st);
		return KC_ERR_NOMEM;
	}
	protobuf_c_message_pack(req, buf);
	grpc_slice payload = grpc_slice_from_copied_buffer((const char *)buf, len);
	free(buf);
	st->send_bb = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_slice_unref(payload);

	grpc_slice method = grpc_slice_from_static_string(rpc->grpc_path);
	st->call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, method, NULL, deadline, NULL);
	if (!st->call) {
		call_release(st);
		return kci_set_error(c, KC_ERR_INTERNAL, "cannot create a call");
	}
	if (c->token && c->token[0]) {
		size_t blen = strlen(c->token) + 8;
		st->bearer = malloc(blen);
		if (!st->bearer) {
			call_release(st);
			return KC_ERR_NOMEM;
		}
		snprintf(st->bearer, blen, "Bearer %s", c->token);
		memset(st->md, 0, sizeof st->md);
		st->md[0].key = grpc_slice_from_static_string("authorization");
		st->md[0].value = grpc_slice_from_copied_string(st->bearer);
		st->n_md = 1;
	}
	return 0;
}

/* Starts the two batches that live as long as the call: metadata, request
 * and half-close; and the status. */
static int call_start(struct call_state *st)
{
	grpc_op ops[4];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = st->n_md;
	ops[0].data.send_initial_metadata.metadata = st->n_md ? st->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = st->send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
	grpc_call_error ce = grpc_call_start_batch(st->call, ops, 4, &st->tags[TAG_START], NULL);
	if (ce != GRPC_CALL_OK) {
		st->done[TAG_START] = st->done[TAG_STATUS] = true;
		return kci_set_error(st->c, KC_ERR_INTERNAL, "grpc start batch: %d", (int)ce);
	}
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &st->trailing_md;
	ops[0].data.recv_status_on_client.status = &st->status;
	ops[0].data.recv_status_on_client.status_details = &st->details;
	ce = grpc_call_start_batch(st->call, ops, 1, &st->tags[TAG_STATUS], NULL);
	if (ce != GRPC_CALL_OK) {
		grpc_call_cancel(st->call, NULL);
		st->done[TAG_STATUS] = true;
		return kci_set_error(st->c, KC_ERR_INTERNAL, "grpc start batch: %d", (int)ce);
	}
	return 0;
}

/* The next message, decoded; NULL at the end of the stream or when the
 * call failed (the status says), or (with *rc set) when it does not decode. */
static ProtobufCMessage *call_next(struct call_state *st, const struct kci_rpc *rpc, int *rc)
{
	grpc_byte_buffer *recv_bb = NULL;
	grpc_op ops[1];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &recv_bb;
	st->done[TAG_RECV] = false;
	if (grpc_call_start_batch(st->call, ops, 1, &st->tags[TAG_RECV], NULL) != GRPC_CALL_OK)
		return NULL;
	wait_tag(st, TAG_RECV);
	if (!recv_bb)
		return NULL;
	grpc_byte_buffer_reader reader;
	ProtobufCMessage *m = NULL;
	if (grpc_byte_buffer_reader_init(&reader, recv_bb)) {
		grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
		m = protobuf_c_message_unpack(rpc->out, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
		grpc_slice_unref(all);
		grpc_byte_buffer_reader_destroy(&reader);
	}
	grpc_byte_buffer_destroy(recv_bb);
	if (!m) {
		*rc = kci_set_error(st->c, KC_ERR_PROTOCOL, "cannot decode the server's %s", rpc->out->short_name);
		grpc_call_cancel(st->call, NULL);
	}
	return m;
}

/* Reads messages until the stream ends: a unary call keeps the first in
 * *resp (and drops any more), a stream hands each to `cb` until it asks
 * to stop. */
static int call_receive(struct call_state *st, const struct kci_rpc *rpc, ProtobufCMessage **resp, kci_msg_cb cb,
                        void *user_data)
{
	int rc = 0;
	ProtobufCMessage *m;
	while ((m = call_next(st, rpc, &rc)) != NULL) {
		if (!cb) {
			if (st->got_one) {
				protobuf_c_message_free_unpacked(m, NULL);
				continue;
			}
			*resp = m;
			st->got_one = true;
			continue;
		}
		int stop = cb(m, user_data);
		protobuf_c_message_free_unpacked(m, NULL);
		if (stop) {
			st->stopped = true;
			grpc_call_cancel(st->call, NULL);
			break;
		}
	}
	return rc;
}

/* Waits for the call's batches and turns its status into the result: `rc`
 * when the call already failed, else the server's status. */
static int call_finish(struct call_state *st, int rc, const struct kci_rpc *rpc, ProtobufCMessage **resp,
                       bool streaming)
{
	kc_client *c = st->c;
	wait_tag(st, TAG_START);
	wait_tag(st, TAG_STATUS);
	if (rc == 0 && !st->stopped && st->status != GRPC_STATUS_OK) {
		char *msg = grpc_slice_to_c_string(st->details);
		if (st->cancel_sent && atomic_load(&c->cancelled))
			rc = kci_set_error(c, KC_ERR_CANCELLED, "cancelled");
		else
			rc = kci_set_error(c, kc_error_from_grpc_status((int)st->status), "%s", msg ? msg : "");
		gpr_free(msg);
	}
	if (rc == 0 && !streaming && !st->got_one)
		rc = kci_set_error(c, KC_ERR_PROTOCOL, "the server sent no %s", rpc->out->short_name);
	if (rc && st->got_one) {
		protobuf_c_message_free_unpacked(*resp, NULL);
		*resp = NULL;
	}
	return rc;
}

/* One call, unary (`cb` NULL: the answer in *resp) or server-streaming. */
static int run_call(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    kci_msg_cb cb, void *user_data)
{
	struct call_state st = {.c = c, .tags = {TAG_START, TAG_STATUS, TAG_RECV}};
	int rc = call_open(&st, rpc, req, cb != NULL);
	if (rc)
		return rc;
	rc = call_start(&st);
	if (rc == 0)
		rc = call_receive(&st, rpc, resp, cb, user_data);
	rc = call_finish(&st, rc, rpc, resp, cb != NULL);
	call_release(&st);
	return rc;
}

static int g_unary(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	ProtobufCMessage *m = NULL;
	int rc = run_call(c, rpc, req, &m, NULL, NULL);
	if (rc == 0)
		*resp = m;
	return rc;
}

static int g_stream(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, kci_msg_cb cb,
                    void *user_data)
{
	return run_call(c, rpc, req, NULL, cb, user_data);
}

const struct kci_transport kci_grpc_transport = {
    .name = "grpc",
    .open = g_open,
    .close = g_close,
    .unary = g_unary,
    .stream = g_stream,
};
