/*
 * gw.h - kc-gateway's state, shared by the server loop (server.c,
 * listen.c) and the request layer (handler.c, request.c, unary.c,
 * stream.c). Everything a loop owns is here, nothing in file globals.
 *
 * Concurrency (DESIGN §6): one libevent loop thread owns every socket,
 * connection (HTTP/1.1 and HTTP/2 alike) and exchange, and the upstream
 * HTTP/2 connection to kc-server as well (see upstream.h): the gateway
 * has one thread, and nothing takes a lock.
 *
 * Why one loop, measured on the 2-core target machine with the benchmark
 * (bench/gateway/run.sh: 100-task list, 64 connections): at ~4.7k req/s
 * the gateway used ~0.9 core (0.75 of it the loop), kc-server ~0.55 and
 * the load generator the rest: both cores are busy. Two gateway
 * processes side by side (the same as two loops with a channel each,
 * without any sharing) served the same total, within noise, because
 * there is no idle core for a second loop to use. A second loop would
 * only add locking around metrics and the stream list. What raised
 * throughput was cutting the loop's work per request: an arena for
 * unpacking, enum names and JSON strings written without per-byte work,
 * doubles in exact integer arithmetic instead of printf (together
 * ~1.4k -> ~4.7k req/s against kc-server), and then not doing the work
 * twice: identical reads that arrive together share one upstream call and
 * one rendering, sent to each client by reference (unary.c; ~45k req/s,
 * about half of nginx's, in the same benchmark). On a machine with idle cores,
 * SO_REUSEPORT listeners with a loop and upstream connection per thread
 * would be the next step: connections, exchanges, the requests in flight
 * and the open batches are already a loop's (this struct); the metrics
 * and the request-id counter would need to be summed across loops.
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
struct kc_gw_req;
struct kc_gw_batch;

typedef struct kc_gw {
	kc_gw_config cfg;
	struct event_base *base;
	struct evconnlistener *listener;
	/* The identity listener (gateway.oauth_listen), or NULL; the unix
	 * socket's path when it is one, unlinked at stop. */
	struct evconnlistener *oauth_listener;
	char oauth_socket[128];
	kc_upstream *up;
	kc_gw_metrics *metrics;
	/* The OpenAPI document (generated at build time), or NULL. */
	const char *openapi;
	size_t openapi_len;
	kc_gw_conn *conns;
	long n_conns;
	uint64_t next_request_id;
	/* Every request from its arrival to its end (request.c), and the
	 * unary calls identical reads may still join (unary.c). */
	struct kc_gw_req *requests;
	struct kc_gw_batch *open_batches;
	/* The log level main set: successful requests log at debug, and
	 * their line is not even formatted above it. */
	int log_level;
	bool draining;
	struct event *drain_timer;
	struct event *sig_term;
	struct event *sig_int;
	void *ssl_ctx;
} kc_gw;

/* handler.c: answers one request; called by the protocol layers. */
void kc_gw_handle(kc_gw *gw, kc_exchange *ex);
/* handler.c: the exchange is gone; drop what the gateway holds for it. */
void kc_gw_abort(kc_gw *gw, kc_exchange *ex);
/* request.c: graceful drain: ends every answer that would not end by
 * itself (open streams). */
void kc_gw_drain_requests(kc_gw *gw);

/* listen.c */
int kc_gw_start(kc_gw *gw);
void kc_gw_stop(kc_gw *gw);
/* The port actually bound (for listen ports of 0 in tests). */
int kc_gw_bound_port(const kc_gw *gw);
/* The identity listener's TCP port, or 0 when it is off or a unix socket. */
int kc_gw_oauth_bound_port(const kc_gw *gw);
/* server.c: true when connection `c` (an exchange's conn_data) arrived
 * on the identity listener: only then are the proxy's identity headers
 * read. */
bool kc_gw_conn_trusts_identity(const kc_gw_conn *c);

#endif /* KC_GW_GW_H */
