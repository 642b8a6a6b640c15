/*
 * libkcclient against a live workspace over both transports: the same
 * operations give the same results, a watch receives a running task's
 * output, and errors map to the documented codes.
 *
 * The workspace comes from KC_TEST_REST_URL, KC_TEST_GRPC_URL and
 * KC_TEST_TOKEN (tests/client/with_mock.sh, or a live kc-gateway and
 * kc-server). Every wait is a poll with a deadline, never a fixed sleep.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kc/client.h"

#define DEADLINE_S 60.0

static const char *urls[2];
static const char *token;
/* Prompts that make the workspace's agent finish with some output, or keep
 * running (producing output first) until killed: the mock's by default,
 * the fake agent's under with_live_stack.sh. */
static const char *prompt_done = "say hello";
static const char *prompt_run = "sleep until killed";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static kc_client *client_for(const char *url, const char *tok)
{
	kc_client *c = NULL;
	assert_int_equal(kc_client_new(&c, url, tok), 0);
	assert_non_null(c);
	return c;
}

/* Polls until the task is no longer running. */
static void wait_done(kc_client *c, const char *id)
{
	double end = now_s() + DEADLINE_S;
	for (;;) {
		kc_task *t = NULL;
		assert_int_equal(kc_task_get(c, id, &t), 0);
		kc_task_status st = t->status;
		kc_task_free(t);
		if (st != KC_TASK_STATUS_RUNNING)
			return;
		assert_true(now_s() < end);
		nap();
	}
}

static void test_new_refuses_bad_urls(void **state)
{
	(void)state;
	kc_client *c = (kc_client *)0x1;
	assert_int_equal(kc_client_new(&c, "ftp://x", "t"), KC_ERR_INVALID);
	assert_int_equal(kc_client_new(&c, "grpc://", "t"), KC_ERR_INVALID);
	assert_int_equal(kc_client_new(&c, "unix:", "t"), KC_ERR_INVALID);
	assert_int_equal(kc_client_new(&c, "http://", "t"), KC_ERR_INVALID);
	assert_int_equal(kc_client_new(&c, "https:///x", "t"), KC_ERR_INVALID);
	assert_int_equal(kc_client_new(&c, "http://h/x?y", "t"), KC_ERR_INVALID);
	assert_ptr_equal(c, (kc_client *)0x1); /* untouched on failure */
	kc_client_free(NULL);
	kc_task_free(NULL);
	kc_task_list_free(NULL);
	kc_metrics_free(NULL);
	kc_workspace_status_free(NULL);
	kc_free(NULL);
	assert_string_equal(kc_strerror(KC_ERR_NOT_FOUND), "not found");
	assert_string_equal(kc_task_status_name(KC_TASK_STATUS_UNSPECIFIED), "");
}

/* get: identical JSON over both */
static void same_get(kc_client *a, kc_client *b, const char *id)
{
	kc_task *ta = NULL, *tb = NULL;
	assert_int_equal(kc_task_get(a, id, &ta), 0);
	assert_int_equal(kc_task_get(b, id, &tb), 0);
	char *ja = NULL, *jb = NULL;
	assert_int_equal(kc_task_to_json(ta, &ja), 0);
	assert_int_equal(kc_task_to_json(tb, &jb), 0);
	assert_string_equal(ja, jb);
	assert_non_null(strstr(ja, "\"status\":\"completed\""));
	assert_true(ta->finished_at >= ta->created_at);
	kc_free(ja);
	kc_free(jb);
	kc_task_free(ta);
	kc_task_free(tb);
}

/* output, whole and tail */
static void same_output(kc_client *a, kc_client *b, const char *id)
{
	char *oa = NULL, *ob = NULL;
	size_t la = 0, lb = 0;
	assert_int_equal(kc_task_output(a, id, 0, &oa, &la), 0);
	assert_int_equal(kc_task_output(b, id, 0, &ob, &lb), 0);
	assert_true(la > 0);
	assert_int_equal(la, lb);
	assert_memory_equal(oa, ob, la);
	kc_free(oa);
	kc_free(ob);
	assert_int_equal(kc_task_output(a, id, 1, &oa, &la), 0);
	assert_int_equal(kc_task_output(b, id, 1, &ob, &lb), 0);
	assert_string_equal(oa, ob);
	assert_true(la > 0);
	assert_true(strchr(oa, '\n') == NULL || strchr(oa, '\n') == oa + la - 1); /* one line */
	kc_free(oa);
	kc_free(ob);
}

/* list, with a filter and paging */
static void same_list(kc_client *a, kc_client *b)
{
	kc_task_list *l1 = NULL, *l2 = NULL;
	assert_int_equal(kc_task_list_get(a, 0, NULL, KC_TASK_STATUS_COMPLETED, &l1), 0);
	assert_int_equal(kc_task_list_get(b, 0, NULL, KC_TASK_STATUS_COMPLETED, &l2), 0);
	assert_true(l1->n_tasks >= 1);
	char *s1 = NULL, *s2 = NULL;
	assert_int_equal(kc_task_list_to_json(l1, &s1), 0);
	assert_int_equal(kc_task_list_to_json(l2, &s2), 0);
	assert_string_equal(s1, s2);
	for (size_t i = 0; i < l1->n_tasks; i++)
		assert_int_equal(l1->tasks[i].status, KC_TASK_STATUS_COMPLETED);
	kc_free(s1);
	kc_free(s2);
	kc_task_list_free(l1);
	kc_task_list_free(l2);
	assert_int_equal(kc_task_list_get(b, 1, NULL, KC_TASK_STATUS_UNSPECIFIED, &l1), 0);
	assert_int_equal(l1->n_tasks, 1);
	kc_task_list_free(l1);
}

/* prepare-terminal */
static void same_prepare_terminal(kc_client *a, kc_client *b, const char *id, const char *want_tmux)
{
	char *sa = NULL, *sb = NULL;
	assert_int_equal(kc_task_prepare_terminal(a, id, &sa), 0);
	assert_int_equal(kc_task_prepare_terminal(b, id, &sb), 0);
	assert_string_equal(sa, want_tmux);
	assert_string_equal(sb, want_tmux);
	kc_free(sa);
	kc_free(sb);
}

/* send to an ended session: the same code and message over both */
static void same_send_refusal(kc_client *a, kc_client *b, const char *id)
{
	kc_task *x = NULL;
	assert_int_equal(kc_task_send(a, id, "more", &x), KC_ERR_PRECONDITION);
	assert_string_equal(kc_client_last_error(a), "Session is no longer running");
	assert_int_equal(kc_task_send(b, id, "more", &x), KC_ERR_PRECONDITION);
	assert_string_equal(kc_client_last_error(b), "Session is no longer running");
	assert_null(x);
}

/* metrics and status: the same shape */
static void same_metrics_and_status(kc_client *a, kc_client *b)
{
	kc_metrics *ma = NULL, *mb = NULL;
	assert_int_equal(kc_metrics_get(a, &ma), 0);
	assert_int_equal(kc_metrics_get(b, &mb), 0);
	assert_true(ma->cpu_cores >= 1);
	assert_int_equal(ma->cpu_cores, mb->cpu_cores);
	assert_int_equal(ma->n_alerts, mb->n_alerts);
	assert_true(ma->memory_total_mb > 0);
	kc_metrics_free(ma);
	kc_metrics_free(mb);
	kc_workspace_status *wa = NULL, *wb = NULL;
	assert_int_equal(kc_workspace_status_get(a, &wa), 0);
	assert_int_equal(kc_workspace_status_get(b, &wb), 0);
	assert_string_equal(wa->health, wb->health);
	assert_int_equal(wa->n_services, wb->n_services);
	for (size_t i = 0; i < wa->n_services; i++) {
		assert_string_equal(wa->services[i].name, wb->services[i].name);
		assert_string_equal(wa->services[i].status, wb->services[i].status);
	}
	assert_null(wa->github_error);
	assert_string_equal(wa->git_user_email, wb->git_user_email);
	kc_workspace_status_free(wa);
	kc_workspace_status_free(wb);
}

/* kc-server's own unix socket, when the stack exposes it */
static void same_over_unix_socket(kc_client *b, const char *id)
{
	kc_task *ta = NULL, *tb = NULL;
	char *ja = NULL, *jb = NULL;
	const char *unix_url = getenv("KC_TEST_UNIX_URL");
	if (unix_url) {
		kc_client *u = client_for(unix_url, token);
		assert_int_equal(kc_task_get(u, id, &ta), 0);
		assert_int_equal(kc_task_get(b, id, &tb), 0);
		assert_int_equal(kc_task_to_json(ta, &ja), 0);
		assert_int_equal(kc_task_to_json(tb, &jb), 0);
		assert_string_equal(ja, jb);
		kc_free(ja);
		kc_free(jb);
		kc_task_free(ta);
		kc_task_free(tb);
		kc_client_free(u);
	}
}

/* Every operation over both transports: a task made over one is seen the
 * same over the other. */
static void test_same_results_over_both(void **state)
{
	(void)state;
	kc_client *a = client_for(urls[0], token), *b = client_for(urls[1], token);
	assert_string_equal(kc_client_transport(a), "rest");
	assert_string_equal(kc_client_transport(b), "grpc");

	kc_task *t = NULL;
	assert_int_equal(kc_task_create(a, prompt_done, NULL, NULL, &t), 0);
	assert_int_equal(t->status, KC_TASK_STATUS_RUNNING);
	assert_string_equal(t->prompt, prompt_done);
	assert_true(t->created_at > 1e9);
	char id[64];
	snprintf(id, sizeof id, "%s", t->task_id);
	char want_tmux[80];
	snprintf(want_tmux, sizeof want_tmux, "claude-%s", id);
	assert_string_equal(t->tmux_session, want_tmux);
	kc_task_free(t);
	wait_done(b, id);

	same_get(a, b, id);
	same_output(a, b, id);
	same_list(a, b);
	same_prepare_terminal(a, b, id, want_tmux);
	same_send_refusal(a, b, id);
	same_metrics_and_status(a, b);
	same_over_unix_socket(b, id);

	kc_client_free(a);
	kc_client_free(b);
}

struct seen {
	int tasks, outputs;
	size_t bytes;
	int64_t next_offset;
	bool offsets_ok;
	kc_task_status last;
	kc_client *killer;
	char id[64];
	bool killed;
};

static int on_event(const kc_event *ev, void *ud)
{
	struct seen *s = ud;
	if (ev->type == KC_EVENT_TASK) {
		s->tasks++;
		s->last = ev->task->status;
		if (s->id[0] == '\0')
			snprintf(s->id, sizeof s->id, "%s", ev->task->task_id);
		return 0;
	}
	s->outputs++;
	s->bytes += ev->len;
	if (ev->offset != s->next_offset)
		s->offsets_ok = false;
	s->next_offset = ev->offset + (int64_t)ev->len;
	/* Once output arrived, kill the task: the stream must end. */
	if (s->killer && !s->killed && s->outputs >= 1) {
		s->killed = true;
		assert_int_equal(kc_task_kill(s->killer, s->id, NULL), 0);
	}
	return 0;
}

/* A watch receives a running task's output, then its end. */
static void test_watch_streams_output(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		kc_client *c = client_for(urls[i], token), *k = client_for(urls[1 - i], token);
		kc_task *t = NULL;
		assert_int_equal(kc_task_create(c, prompt_run, NULL, NULL, &t), 0);
		struct seen s = {.offsets_ok = true, .killer = k};
		int rc = kc_task_watch(c, t->task_id, true, on_event, &s);
		assert_int_equal(rc, 0);
		assert_true(s.tasks >= 2);
		assert_true(s.outputs >= 1);
		assert_true(s.bytes > 0);
		assert_true(s.offsets_ok);
		assert_int_equal(s.last, KC_TASK_STATUS_KILLED);
		kc_task_free(t);
		kc_client_free(c);
		kc_client_free(k);
	}
}

struct canceller {
	kc_client *c;
	atomic_int *seen; /* events the watch has had so far */
};

/* Cancels once the watch has had an event (so that the test knows it was
 * running), 30 s at most: a fixed delay lost the race on a loaded machine. */
static void *cancel_later(void *arg)
{
	struct canceller *cn = arg;
	struct timespec ts = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 3000 && atomic_load(cn->seen) < 1; i++)
		nanosleep(&ts, NULL);
	ts.tv_nsec = 100 * 1000 * 1000;
	nanosleep(&ts, NULL);
	kc_client_cancel(cn->c);
	return NULL;
}

static int count_atomic(const kc_event *ev, void *ud)
{
	(void)ev;
	atomic_fetch_add((atomic_int *)ud, 1);
	return 0;
}

static int count_only(const kc_event *ev, void *ud)
{
	(void)ev;
	(*(int *)ud)++;
	return 0;
}

static int stop_at_first(const kc_event *ev, void *ud)
{
	(void)ev;
	(*(int *)ud)++;
	return 1;
}

/* A watch ends when cancelled from another thread, or when its callback
 * says so. */
static void test_watch_cancel_and_stop(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		kc_client *c = client_for(urls[i], token);
		kc_task *t = NULL;
		assert_int_equal(kc_task_create(c, prompt_run, NULL, NULL, &t), 0);
		int n = 0;
		assert_int_equal(kc_task_watch(c, t->task_id, false, stop_at_first, &n), 0);
		assert_int_equal(n, 1);

		atomic_int seen = 0;
		struct canceller cn = {c, &seen};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, cancel_later, &cn), 0);
		double start = now_s();
		int rc = kc_task_watch(c, t->task_id, true, count_atomic, &seen);
		pthread_join(th, NULL);
		if (rc != KC_ERR_CANCELLED) {
			/* Say why the watch ended: the task's state then. */
			kc_task *now = NULL;
			int grc = kc_task_get(c, t->task_id, &now);
			fprintf(stderr, "watch over %s ended with %d after %d events; task: %d status %d error %s\n",
			        urls[i], rc, atomic_load(&seen), grc, now ? (int)now->status : -1,
			        now && now->error ? now->error : "-");
			kc_task_free(now);
		}
		assert_int_equal(rc, KC_ERR_CANCELLED);
		assert_true(atomic_load(&seen) >= 1);
		assert_true(now_s() - start < 30);
		/* The client works after a cancel. */
		assert_int_equal(kc_task_kill(c, t->task_id, NULL), 0);
		kc_task_free(t);
		kc_client_free(c);
	}
}

struct worker {
	const char *url;
	int failures;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	kc_client *c = NULL;
	if (kc_client_new(&c, w->url, token) != 0) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < 20; i++) {
		kc_task_list *l = NULL;
		kc_metrics *m = NULL;
		if (kc_task_list_get(c, 5, NULL, KC_TASK_STATUS_UNSPECIFIED, &l) != 0)
			w->failures++;
		if (kc_metrics_get(c, &m) != 0)
			w->failures++;
		kc_task_list_free(l);
		kc_metrics_free(m);
	}
	kc_client_free(c);
	return NULL;
}

/* The documented thread model: one client per thread, used at once. */
static void test_clients_on_threads(void **state)
{
	(void)state;
	struct worker w[4] = {{urls[0], 0}, {urls[1], 0}, {urls[0], 0}, {urls[1], 0}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

/* TLS: https:// and grpcs:// with the server's certificate as CA; without
 * it the certificate is not trusted and the call fails as unavailable. */
static void test_tls(void **state)
{
	(void)state;
	const char *tls[] = {getenv("KC_TEST_HTTPS_URL"), getenv("KC_TEST_GRPCS_URL")};
	const char *ca = getenv("KC_TEST_CA_FILE");
	if (!tls[0] || !tls[1] || !ca)
		skip();
	for (int i = 0; i < 2; i++) {
		kc_client *c = client_for(tls[i], token);
		assert_int_equal(kc_client_set_ca_file(c, ca), 0);
		kc_task_list *l = NULL;
		assert_int_equal(kc_task_list_get(c, 0, NULL, 0, &l), 0);
		kc_task_list_free(l);
		kc_task *t = NULL;
		assert_int_equal(kc_task_get(c, "1700000000-00000000", &t), KC_ERR_NOT_FOUND);
		kc_client_free(c);

		c = client_for(tls[i], token);
		kc_client_set_timeout(c, 10000);
		assert_int_equal(kc_task_list_get(c, 0, NULL, 0, &l), KC_ERR_UNAVAILABLE);
		kc_client_free(c);
	}
}

static void test_errors_map(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		kc_client *c = client_for(urls[i], token);
		kc_task *t = (kc_task *)0x1;
		assert_int_equal(kc_task_get(c, "1700000000-00000000", &t), KC_ERR_NOT_FOUND);
		assert_ptr_equal(t, (kc_task *)0x1);
		assert_true(kc_client_last_error(c)[0] != '\0');
		assert_int_equal(kc_task_kill(c, "1700000000-00000000", NULL), KC_ERR_NOT_FOUND);
		assert_int_equal(kc_task_create(c, "   ", NULL, NULL, &t), KC_ERR_INVALID);
		assert_int_equal(kc_task_get(c, "", &t), KC_ERR_INVALID);
		char *tok = NULL;
		assert_int_equal(kc_token_get(c, &tok), KC_ERR_PERMISSION);
		kc_client_free(c);

		c = client_for(urls[i], "wrong-token");
		kc_task_list *l = NULL;
		assert_int_equal(kc_task_list_get(c, 0, NULL, 0, &l), KC_ERR_UNAUTHENTICATED);
		assert_null(l);
		assert_int_equal(kc_task_watch(c, "1700000000-00000000", true, count_only, &i), KC_ERR_UNAUTHENTICATED);
		kc_client_free(c);
	}
	/* Nothing listens on port 1 of loopback. */
	const char *down[] = {"http://127.0.0.1:1", "grpc://127.0.0.1:1", "unix:/nonexistent/kc.sock"};
	for (size_t i = 0; i < 3; i++) {
		kc_client *c = client_for(down[i], token);
		kc_task_list *l = NULL;
		assert_int_equal(kc_task_list_get(c, 0, NULL, 0, &l), KC_ERR_UNAVAILABLE);
		kc_client_free(c);
	}
}

int main(void)
{
	urls[0] = getenv("KC_TEST_REST_URL");
	urls[1] = getenv("KC_TEST_GRPC_URL");
	token = getenv("KC_TEST_TOKEN");
	if (getenv("KC_TEST_PROMPT_DONE"))
		prompt_done = getenv("KC_TEST_PROMPT_DONE");
	if (getenv("KC_TEST_PROMPT_RUN"))
		prompt_run = getenv("KC_TEST_PROMPT_RUN");
	if (!urls[0] || !urls[1] || !token) {
		fprintf(stderr, "KC_TEST_REST_URL, KC_TEST_GRPC_URL and KC_TEST_TOKEN must be set\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_refuses_bad_urls), cmocka_unit_test(test_same_results_over_both),
	    cmocka_unit_test(test_watch_streams_output), cmocka_unit_test(test_watch_cancel_and_stop),
	    cmocka_unit_test(test_clients_on_threads),   cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_errors_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
