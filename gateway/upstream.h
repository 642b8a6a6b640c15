/*
 * upstream.h - calls to kc-server, gRPC over HTTP/2, run in the libevent
 * loop itself.
 *
 * One HTTP/2 connection (nghttp2, through grpc_client.h) on kc-server's
 * unix socket carries every call; its reads, writes and timers are events
 * of the gateway's loop, so every callback below runs on the loop thread,
 * the only thread there is. Callbacks never run inside the call that
 * caused them (kc_upcall_start, _cancel, _pause): failures found there
 * and resumed deliveries are reported from a later event.
 *
 * (Until 2026-11-27 this was gRPC core with a completion-queue thread and
 * an eventfd hop; gateway/README.md has the measured comparison.)
 */
#ifndef KC_GW_UPSTREAM_H
#define KC_GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "gateway/http.h"

typedef struct kc_upstream kc_upstream;
typedef struct kc_upcall kc_upcall;

typedef struct kc_upcall_callbacks {
	/* One response message; `data` lives until the callback returns. */
	void (*on_message)(kc_upcall *call, const uint8_t *data, size_t len, void *user_data);
	/* The call ended with gRPC status `status` (0 OK) and its message.
	 * Exactly once per call unless kc_upcall_cancel came first; the call
	 * is freed after it returns. */
	void (*on_done)(kc_upcall *call, int status, const char *message, void *user_data);
} kc_upcall_callbacks;

/* A client of `target` ("unix:/run/kc/kc-server.sock", "unix:///path", or
 * a numeric "host:port") on `base`; dials at once and keeps redialling
 * with backoff while kc-server is away. 0, KC_ERR_NOMEM or KC_ERR_IO (a
 * target it cannot parse); *out untouched on failure. */
int kc_upstream_new(kc_upstream **out, struct event_base *base, const char *target);

/* Cancels every call still running (without callbacks), closes the
 * connection and frees everything. NULL is a no-op. Call from the loop
 * thread after the loop stopped dispatching. */
void kc_upstream_free(kc_upstream *u);

typedef struct kc_upcall_opts {
	/* The deadline; <= 0: none. */
	int64_t timeout_ms;
	/* When kc-server is away (restarting), how long the call waits for it
	 * to come back; <= 0: it fails at once. A call kc-server refused
	 * unseen is sent again once within the same budget. */
	int64_t wait_ms;
	/* Safe to send twice (a read): also sent again once when it failed
	 * with CANCELLED or UNAVAILABLE before any answer, as calls do that
	 * kc-server dropped while shutting down. */
	bool idempotent;
} kc_upcall_opts;

/*
 * Starts a call of `method` ("/kc.v1.TaskService/GetTask") with the
 * serialized request and metadata pairs (lower-case keys); every response
 * message is delivered. Returns 0 and sets *out, or KC_ERR_INVALID
 * (metadata gRPC refuses) or KC_ERR_NOMEM; no callback is called on
 * failure. kc-server being unreachable is not a failure here: on_done
 * reports UNAVAILABLE (14).
 */
int kc_upcall_start(kc_upstream *u, const char *method, const kc_header *md, size_t n_md, const void *req, size_t len,
                    const kc_upcall_opts *opts, const kc_upcall_callbacks *cb, void *user_data, kc_upcall **out);

/* The caller is gone: cancel the call; no callback is called again. */
void kc_upcall_cancel(kc_upcall *call);

/* Flow control for streams: while paused no further message is read. */
void kc_upcall_pause(kc_upcall *call, bool paused);

/*
 * A count that moves whenever bytes of any call leave for kc-server
 * (strictly: are taken from the HTTP/2 session to be written). While it
 * has not moved since kc_upcall_start, kc-server cannot have seen that
 * call yet: the request coalescing in unary.c relies on this.
 */
uint64_t kc_upstream_flushes(const kc_upstream *u);

#endif /* KC_GW_UPSTREAM_H */
