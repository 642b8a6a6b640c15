/* gw_test_support.c - see gw_test_support.h. */
#include "gateway/gw_test_support.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/router.h"

static void die(const char *what)
{
	fprintf(stderr, "test support: %s: %s\n", what, strerror(errno));
	abort();
}

void kc_test_stub_prepare(kc_test_stub *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/kcgwtXXXXXX");
	if (!mkdtemp(s->dir))
		die("mkdtemp");
	snprintf(s->sock, sizeof(s->sock), "%s/s.sock", s->dir);
	snprintf(s->target, sizeof(s->target), "unix:%s", s->sock);
	snprintf(s->marker, sizeof(s->marker), "%s/cancelled", s->dir);
}

static bool accepts(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

void kc_test_stub_start(kc_test_stub *s, const char *binary)
{
	int i;

	s->pid = fork();
	if (s->pid < 0)
		die("fork");
	if (s->pid == 0) {
		execl(binary, binary, s->target, s->marker, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && !accepts(s->sock); i++)
		usleep(10000);
	if (i == 1000) {
		errno = ETIMEDOUT;
		die("the stub server did not start");
	}
}

void kc_test_stub_stop(kc_test_stub *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	unlink(s->sock);
	unlink(s->marker);
	rmdir(s->dir);
}

bool kc_test_stub_saw_cancel(const kc_test_stub *s)
{
	struct stat st;

	return stat(s->marker, &st) == 0;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

bool kc_test_loop_until(struct event_base *base, bool (*done)(void *arg), void *arg, int timeout_ms)
{
	/* A ticking timer so each pass of the loop returns. */
	struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 5000};
	long long end = now_ms() + timeout_ms;
	bool ok;

	event_add(ev, &tv);
	while (!(ok = done && done(arg)) && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return ok;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void kc_test_loop_for(struct event_base *base, int ms)
{
	kc_test_loop_until(base, never, NULL, ms);
}

void kc_test_gw_init(kc_gw *gw, struct event_base *base, const char *target)
{
	memset(gw, 0, sizeof(*gw));
	kc_gw_config_defaults(&gw->cfg);
	gw->base = base;
	gw->log_level = KC_LOG_INFO;
	gw->metrics = kc_gw_metrics_new(kc_n_routes);
	if (!gw->metrics || kc_upstream_new(&gw->up, base, target))
		abort();
}

void kc_test_gw_release(kc_gw *gw)
{
	kc_upstream_free(gw->up);
	kc_gw_metrics_free(gw->metrics);
}

kc_test_gw_fixture *kc_test_gw_fixture_new(const char *stub_binary)
{
	kc_test_gw_fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->base = event_base_new()))
		abort();
	kc_test_stub_prepare(&f->stub);
	if (stub_binary)
		kc_test_stub_start(&f->stub, stub_binary);
	kc_test_gw_init(&f->gw, f->base, f->stub.target);
	return f;
}

void kc_test_gw_fixture_free(kc_test_gw_fixture *f)
{
	kc_test_gw_release(&f->gw);
	kc_test_stub_stop(&f->stub);
	event_base_free(f->base);
	free(f);
}

static const char *route_label(size_t i, void *ud)
{
	(void)i;
	(void)ud;
	return "route";
}

long kc_test_metric(const kc_gw *gw, const char *name)
{
	kc_buf b;
	char want[128];
	const char *p;
	long v = -1;

	kc_buf_init(&b, 0);
	kc_gw_metrics_render(gw->metrics, route_label, NULL, &b);
	kc_buf_putc(&b, '\0');
	snprintf(want, sizeof(want), "\n%s ", name);
	p = b.err ? NULL : strstr(b.data, want);
	if (p)
		v = strtol(p + strlen(want), NULL, 10);
	kc_buf_release(&b);
	return v;
}

/* ---- the recording exchange ---- */

static void record_head(kc_test_ex *t, int status, const kc_header *h, size_t n)
{
	size_t i;

	t->status = status;
	for (i = 0; i < n; i++)
		if (strcmp(h[i].name, "Content-Type") == 0)
			snprintf(t->content_type, sizeof(t->content_type), "%s", h[i].value);
}

static int op_respond(kc_exchange *ex, int status, const kc_header *h, size_t n, const void *body, size_t len)
{
	kc_test_ex *t = (kc_test_ex *)ex;

	t->n_respond++;
	record_head(t, status, h, n);
	kc_buf_append(&t->body, body, len);
	return t->respond_rc;
}

static int op_respond_shared(kc_exchange *ex, int status, const kc_header *h, size_t n, kc_shared_body *body)
{
	return op_respond(ex, status, h, n, kc_shared_body_data(body), kc_shared_body_len(body));
}

static int op_start(kc_exchange *ex, int status, const kc_header *h, size_t n)
{
	kc_test_ex *t = (kc_test_ex *)ex;

	t->n_start++;
	record_head(t, status, h, n);
	return 0;
}

static int op_write(kc_exchange *ex, const void *data, size_t len)
{
	kc_test_ex *t = (kc_test_ex *)ex;

	t->n_write++;
	if (t->fail_write_at && t->n_write >= t->fail_write_at)
		return KC_ERR_TOO_LARGE;
	return kc_buf_append(&t->body, data, len);
}

static int op_end(kc_exchange *ex)
{
	kc_test_ex *t = (kc_test_ex *)ex;

	t->n_end++;
	return 0;
}

static size_t op_backlog(kc_exchange *ex)
{
	(void)ex;
	return 0;
}

static const kc_exchange_ops test_ops = {op_respond, op_respond_shared, op_start, op_write, op_end, op_backlog};

void kc_test_ex_init(kc_test_ex *t, const char *method, const char *target, const char *const *headers)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->ex.ops = &test_ops;
	t->ex.req.protocol = "HTTP/1.1";
	kc_buf_init(&t->ex.req.body, 0);
	kc_buf_init(&t->body, 0);
	if (kc_http_request_set_line(&t->ex.req, method, strlen(method), target, strlen(target)) ||
	    kc_http_request_add_header(&t->ex.req, "host", 4, "localhost", 9))
		abort();
	for (i = 0; headers && headers[i]; i += 2)
		if (kc_http_request_add_header(&t->ex.req, headers[i], strlen(headers[i]), headers[i + 1],
		                               strlen(headers[i + 1])))
			abort();
}

void kc_test_ex_release(kc_test_ex *t)
{
	kc_http_request_release(&t->ex.req);
	kc_buf_release(&t->body);
}

const char *kc_test_ex_text(kc_test_ex *t)
{
	if (kc_buf_putc(&t->body, '\0'))
		abort();
	t->body.len--;
	return t->body.data;
}

bool kc_test_ex_done(void *arg)
{
	kc_test_ex *t = arg;

	return t->n_respond > 0 || t->n_end > 0;
}

bool kc_test_ex_wrote(void *arg)
{
	kc_test_ex *t = arg;

	return t->n_start > 0 && t->n_write > 0;
}
