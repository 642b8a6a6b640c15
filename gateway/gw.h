/*
 * gw.h - kc-gateway's process state, shared by the server loop (server.c)
 * and the request handler (handler.c).
 *
 * Concurrency (DESIGN §6): one libevent loop thread owns every socket,
 * connection and exchange; gRPC core's own threads do the upstream I/O and
 * one completion-queue thread passes finished calls back to the loop (see
 * upstream.h). Per request the loop does only parsing, a protobuf pack, a
 * JSON render and a write, a few microseconds, so one loop keeps up with
 * the server behind it on a 2-core pod and leaves the other core to
 * kc-server; a second loop would only add locking around the shared
 * channel and metrics.
 */
#ifndef KC_GW_GW_H
#define KC_GW_GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"

typedef struct kc_gw_conn kc_gw_conn;

typedef struct kc_gw {
	kc_gw_config cfg;
	struct event_base *base;
	struct evconnlistener *listener;
	kc_upstream *up;
	kc_gw_metrics *metrics;
	/* The OpenAPI document (generated at build time), or NULL. */
	const char *openapi;
	size_t openapi_len;
	kc_gw_conn *conns;
	long n_conns;
	uint64_t next_request_id;
	bool draining;
	struct event *drain_timer;
	struct event *sig_term;
	struct event *sig_int;
	void *ssl_ctx;
} kc_gw;

/* handler.c: answers one request; called by the protocol layers. */
void kc_gw_handle(kc_gw *gw, kc_exchange *ex);
/* handler.c: the exchange is gone; drop what the handler holds for it. */
void kc_gw_abort(kc_gw *gw, kc_exchange *ex);
/* handler.c: graceful drain: end every open stream. */
void kc_gw_end_streams(kc_gw *gw);

/* server.c */
int kc_gw_start(kc_gw *gw);
void kc_gw_stop(kc_gw *gw);
/* The port actually bound (for listen ports of 0 in tests). */
int kc_gw_bound_port(const kc_gw *gw);

#endif /* KC_GW_GW_H */
