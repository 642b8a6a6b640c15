/*
 * gw_test_support.h - what the gateway's unit tests share: the stub
 * kc-server (tests/gateway/stub_server) as a child process on a unix
 * socket, a loop runner with a timeout, and a recording kc_exchange. Test
 * code only.
 */
#ifndef KC_GW_TEST_SUPPORT_H
#define KC_GW_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>

#include "gateway/gw.h"
#include "gateway/http.h"

typedef struct kc_test_stub {
	pid_t pid;
	char dir[32];
	/* "unix:<dir>/s.sock", for kc_upstream_new. */
	char target[80];
	char sock[64];
	/* Touched by the stub when a WatchTask on "forever" is cancelled. */
	char marker[64];
} kc_test_stub;

/* Names a fresh directory and socket for a stub; starts nothing. */
void kc_test_stub_prepare(kc_test_stub *s);
/* Starts the stub binary on s's socket and waits until it accepts. */
void kc_test_stub_start(kc_test_stub *s, const char *binary);
/* Stops the stub (if started) and removes its files. */
void kc_test_stub_stop(kc_test_stub *s);
/* The stub saw a stream cancelled. */
bool kc_test_stub_saw_cancel(const kc_test_stub *s);

/* Runs the loop until done(arg) or timeout_ms passed; done's last value. */
bool kc_test_loop_until(struct event_base *base, bool (*done)(void *arg), void *arg, int timeout_ms);
/* Runs the loop for ms milliseconds. */
void kc_test_loop_for(struct event_base *base, int ms);

/* A gateway state (config defaults, metrics, an upstream to `target`)
 * on `base`, without listeners: requests go to kc_gw_handle directly. */
void kc_test_gw_init(kc_gw *gw, struct event_base *base, const char *target);
void kc_test_gw_release(kc_gw *gw);
/* The value of an unlabelled metric in gw's Prometheus text; -1: none. */
long kc_test_metric(const kc_gw *gw, const char *name);

/* A gateway (kc_test_gw_init) with its loop and stub kc-server. */
typedef struct kc_test_gw_fixture {
	struct event_base *base;
	kc_test_stub stub;
	kc_gw gw;
} kc_test_gw_fixture;

/* With the stub running when `stub_binary` is given, else with its socket
 * named but nothing listening. */
kc_test_gw_fixture *kc_test_gw_fixture_new(const char *stub_binary);
void kc_test_gw_fixture_free(kc_test_gw_fixture *f);

/* An exchange that records what the handler sends. */
typedef struct kc_test_ex {
	kc_exchange ex;
	int status;
	char content_type[128];
	kc_buf body;
	int n_respond;
	int n_start;
	int n_write;
	int n_end;
	/* The write (1-based) that fails with KC_ERR_TOO_LARGE; 0: none. */
	int fail_write_at;
	/* What respond returns (after recording). */
	int respond_rc;
} kc_test_ex;

/* A request `method target` with headers (name, value pairs, lower-case
 * names, NULL-terminated); Host: localhost is added. */
void kc_test_ex_init(kc_test_ex *t, const char *method, const char *target, const char *const *headers);
void kc_test_ex_release(kc_test_ex *t);
/* What was sent of the body, as a string. */
const char *kc_test_ex_text(kc_test_ex *t);
/* Answered whole, or its stream ended. */
bool kc_test_ex_done(void *t);
/* The stream started and at least one write went out. */
bool kc_test_ex_wrote(void *t);

#endif /* KC_GW_TEST_SUPPORT_H */
