/*
 * upstream_internal.h - what upstream.c (calls, the work event, the API)
 * and upstream_conn.c (the connection to kc-server: dial, read, write,
 * close) share: the structs and the functions each gives the other.
 * Internal to the upstream; loop thread only.
 */
#ifndef KC_GW_UPSTREAM_INTERNAL_H
#define KC_GW_UPSTREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "gateway/grpc_client.h"
#include "gateway/upstream.h"

#define MAX_MD 8
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define READ_CHUNK (64u << 10)

typedef struct conn conn;

struct kc_upcall {
	kc_upstream *u;
	kc_upcall *prev;
	kc_upcall *next;
	kc_upcall_callbacks cb;
	void *ud;
	conn *c;
	kc_gc_stream *st;
	struct event *timer;
	bool paused;
	/* Resumed by the caller: delivery restarts from the work event, so a
	 * callback never runs inside the caller's own call. */
	bool resume;
	/* Waiting for a connection: c->pending (dialling) or u->waiting (none,
	 * within the wait budget). */
	kc_upcall *pnext;
	bool waiting;
	int64_t wait_ms;
	struct event *wait_timer;
	/* Sent again once after kc-server refused it (or dropped it, for an
	 * idempotent call); a message delivered rules that out. */
	bool retried;
	bool idempotent;
	bool delivered;
	/* The call's own copies (below). */
	const char *method;
	kc_header md[MAX_MD];
	size_t n_md;
	uint8_t *req;
	size_t len;
	int64_t timeout_ms;
	/* Failed before it reached a connection; reported by the work event. */
	bool failed;
	kc_upcall *fnext;
	char copy[]; /* method, metadata and request of a pending call */
};

struct conn {
	kc_upstream *u;
	conn *next; /* draining connections */
	int fd;
	struct event *rev;
	struct event *wev;
	kc_gc *gc;
	bool connected;
	bool dead;
	/* kc-server dropped a read here without answering it: it is going
	 * away, so new calls take a new connection (as after GOAWAY). */
	bool retired;
	kc_upcall *pending;
	kc_upcall *pending_tail;
	uint8_t *wbuf;
	size_t wlen;
	size_t woff;
	size_t wcap;
};

struct kc_upstream {
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char authority[128];
	conn *cur;
	conn *draining;
	kc_upcall *calls;
	kc_upcall *failed;
	/* Calls marked `resume`, so the work event scans only when needed. */
	size_t n_resume;
	/* Calls waiting for kc-server to come back (pnext), oldest first. */
	kc_upcall *waiting;
	kc_upcall *waiting_tail;
	struct event *work;
	struct event *retry;
	int backoff_ms;
	uint8_t *rbuf;
	/* Set while the work event is queued. */
	bool work_queued;
	bool freeing;
	/* Times bytes were taken from a session to go out: see
	 * kc_upstream_flushes. */
	uint64_t flushes;
};

/* upstream.c */

/* Queues the work event (once): sends, resumes and failures happen there,
 * never inside a caller's call. */
void kc_up_schedule(kc_upstream *u);
/* Parks a call until a connection is up, within its wait budget. False
 * when it has none left; the caller then fails it. Never calls back. */
bool kc_up_wait_for_server(kc_upcall *call);
/* Fails a call from the work event (UNAVAILABLE). */
void kc_up_fail_later(kc_upcall *call);
/* Sends a queue of calls linked by pnext on c, oldest first. */
void kc_up_submit_queue(conn *c, kc_upcall **head, kc_upcall **tail);
/* The core's callbacks for a connection's session (user data: the conn). */
extern const kc_gc_callbacks kc_up_gc_callbacks;

/* upstream_conn.c */

/* Writes what c's session has to send; false when c was closed. */
bool kc_up_conn_flush(conn *c);
/* c is gone: its calls wait for the next connection or fail. Frees c. */
void kc_up_conn_close(conn *c, const char *why);
/* Retires c from new calls after GOAWAY, and closes it once idle. */
void kc_up_conn_check(conn *c);
/* Opens a connection as u->cur (no-op when there is one). */
void kc_up_dial(kc_upstream *u);
/* The redial timer's callback (arg: u). */
void kc_up_on_retry(evutil_socket_t fd, short what, void *arg);
/* Parses kc_upstream_new's target into u's address and authority. */
int kc_up_parse_target(kc_upstream *u, const char *target);

#endif /* KC_GW_UPSTREAM_INTERNAL_H */
