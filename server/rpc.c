/*
 * rpc.c - see rpc.h. Registration, the listeners, start, shutdown and
 * drain; rpc_int.h says which file does the rest.
 *
 * Concurrency model (the heart of kc-server, chosen for DESIGN §6):
 *
 * One gRPC completion queue, served by a small fixed pool of worker threads
 * (kc_rpc_start's `threads`, 4 by default) that all block in
 * grpc_completion_queue_next(). Every call is a small state machine driven
 * by the completions of the batches it started; a worker that takes a
 * completion runs the next step and goes back to the queue. Unary handlers
 * run on the worker: most answer from the in-memory task index in
 * microseconds (ListTasks of one page is a walk over a sorted array under
 * one mutex), and the few that must run tmux or git block only their worker
 * for milliseconds, so a pool of a few threads keeps every core busy
 * without a thread per call. Threads cost little memory (stacks are touched
 * lazily), which keeps idle RSS small.
 *
 * Answers. A unary handler returns a protobuf-c message, which is packed
 * into one slice and sent with its status in one batch (metadata, message,
 * status: one completion per call for the answer). A raw handler
 * (kc_rpc_register_unary_raw) writes the packed bytes itself into a slice
 * from kc_rpc_answer_alloc, which is sent as it is. Only ListTasks does:
 * its answer is a summary per task written from the task index, and
 * building it as messages (four allocations per task) and packing them
 * through protobuf-c's descriptors cost more than the rest of the call,
 * gRPC included. The bytes must be exactly what packing the method's
 * output message would give; tasks_list_test checks ListTasks' against
 * protobuf-c's.
 *
 * Per call the server allocates the call's state and the answer's slice;
 * the request is unpacked in place (from its slice, into a stack arena)
 * and an OK status carries no message to copy.
 *
 * Streams never occupy a worker: a WatchTask or WatchMetrics call
 * registers a producer (the task supervisor or the metrics sampler) and
 * returns; the producer later calls kc_rpc_stream_send() from its own
 * thread, which queues the serialized message and starts a SEND batch when
 * none is in flight (gRPC allows one outstanding send per call). Each call
 * also has a RECV_CLOSE_ON_SERVER batch from its first moment, whose
 * completion tells us the client cancelled or its deadline passed; the
 * producer is then detached and the call released. A slow reader cannot
 * make memory grow without bound: past STREAM_QUEUE_MAX queued bytes the
 * stream ends with RESOURCE_EXHAUSTED.
 *
 * Lifetime: a call is reference-counted. Each started batch holds a
 * reference until its completion is processed, and a stream's producer
 * holds one until it is detached or has sent its last message. The last
 * reference frees the call.
 */
#include "server/rpc_int.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- registration -------------------------------------------------------- */

static int reg(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *name, kc_unary_fn u,
               kc_unary_raw_fn raw, kc_stream_fn st, void *app, kc_auth_mode auth)
{
	const ProtobufCMethodDescriptor *md = NULL;
	struct method *m;
	for (unsigned i = 0; i < sd->n_methods; i++)
		if (strcmp(sd->methods[i].name, name) == 0)
			md = &sd->methods[i];
	if (!md || s->n_methods == MAX_METHODS)
		return KC_ERR_INVALID;
	m = &s->methods[s->n_methods++];
	snprintf(m->path, sizeof m->path, "/%s/%s", sd->name, md->name);
	m->path_len = strlen(m->path);
	m->desc = md;
	m->unary = u;
	m->raw = raw;
	m->stream = st;
	m->app = app;
	m->auth = auth;
	return 0;
}

int kc_rpc_register_unary(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method, kc_unary_fn fn,
                          void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, fn, NULL, NULL, app, auth);
}

int kc_rpc_register_unary_raw(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method,
                              kc_unary_raw_fn fn, void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, NULL, fn, NULL, app, auth);
}

int kc_rpc_register_stream(kc_rpc_server *s, const ProtobufCServiceDescriptor *sd, const char *method, kc_stream_fn fn,
                           void *app, kc_auth_mode auth)
{
	return reg(s, sd, method, NULL, NULL, fn, app, auth);
}

const struct method *kc_rpc_find_method(kc_rpc_server *s, grpc_slice path)
{
	size_t len = GRPC_SLICE_LENGTH(path);
	const void *p = GRPC_SLICE_START_PTR(path);
	for (size_t i = 0; i < s->n_methods; i++)
		if (s->methods[i].path_len == len && memcmp(s->methods[i].path, p, len) == 0)
			return &s->methods[i];
	return NULL;
}

int kc_rpc_request_one(kc_rpc_server *s, bool tcp)
{
	struct call *c = kc_rpc_call_new(s);
	grpc_call_error e;
	if (!c)
		return KC_ERR_NOMEM;
	c->tcp = tcp;
	e = grpc_server_request_call(tcp ? s->tcp_server : s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
	                             &c->t_request);
	if (e != GRPC_CALL_OK) {
		kc_rpc_call_free(c);
		return KC_ERR_INTERNAL;
	}
	return 0;
}

/* ---- server -------------------------------------------------------------- */

static void int_arg(grpc_arg *a, const char *key, int value)
{
	a->type = GRPC_ARG_INTEGER;
	a->key = (char *)key;
	a->value.integer = value;
}

/*
 * The TCP port is where strangers may connect (the unix socket sits in a
 * 0700 directory and only the gateway reaches it), so its server gets
 * bounds the gateway's long-lived, busy connection must not have:
 *
 *  - at most `max_concurrent_streams` calls per connection (HTTP/2's
 *    SETTINGS_MAX_CONCURRENT_STREAMS; gRPC core's default is unlimited);
 *  - ping abuse: a client pinging more often than every PING_MIN_MS
 *    without sending data earns a strike, and after PING_STRIKES strikes
 *    the connection gets GOAWAY (too_many_pings); no pings are allowed
 *    on a connection with no calls;
 *  - dead peers: the server pings an idle connection every KEEPALIVE_MS
 *    and closes it when no ack comes within KEEPALIVE_TIMEOUT_MS, so a
 *    vanished client does not hold its streams (and their producers);
 *  - a connection with no calls for IDLE_MS is closed;
 *  - a handshake (the HTTP/2 preface and settings) must finish within
 *    HANDSHAKE_MS, so half-open connections do not pile up.
 *
 * No maximum connection age: WatchTask and WatchMetrics streams are meant
 * to last as long as the client watches, and an age limit would cut them.
 */
#define PING_MIN_MS (30 * 1000)
#define PING_STRIKES 2
#define KEEPALIVE_MS (60 * 1000)
#define KEEPALIVE_TIMEOUT_MS (20 * 1000)
#define IDLE_MS (5 * 60 * 1000)
#define HANDSHAKE_MS (10 * 1000)

static grpc_server *server_create(kc_rpc_server *s, bool tcp)
{
	grpc_arg args[12];
	grpc_channel_args ca = {0, args};
	grpc_server *srv;

	int_arg(&args[ca.num_args++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)s->max_message_bytes);
	int_arg(&args[ca.num_args++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, -1);
	if (tcp) {
		int_arg(&args[ca.num_args++], GRPC_ARG_MAX_CONCURRENT_STREAMS, s->tcp_limits.max_concurrent_streams);
		int_arg(&args[ca.num_args++], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, PING_MIN_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_HTTP2_MAX_PING_STRIKES, PING_STRIKES);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_MAX_CONNECTION_IDLE_MS, IDLE_MS);
		int_arg(&args[ca.num_args++], GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, HANDSHAKE_MS);
	}
	srv = grpc_server_create(&ca, NULL);
	grpc_server_register_completion_queue(srv, s->cq, NULL);
	return srv;
}

int kc_rpc_server_new(kc_token *token, long max_message_bytes, kc_rpc_server **out)
{
	kc_rpc_server *s = calloc(1, sizeof *s);

	if (!s)
		return KC_ERR_NOMEM;
	grpc_init();
	s->token = token;
	s->max_message_bytes = max_message_bytes;
	s->tcp_limits.max_concurrent_streams = KC_RPC_TCP_MAX_STREAMS_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->server = server_create(s, false);
	s->t_shutdown = (struct tag){TAG_SHUTDOWN, NULL};
	*out = s;
	return 0;
}

void kc_rpc_set_tcp_limits(kc_rpc_server *s, const kc_rpc_tcp_limits *limits)
{
	s->tcp_limits = *limits;
	if (s->tcp_limits.max_concurrent_streams < 1)
		s->tcp_limits.max_concurrent_streams = 1;
}

/*
 * A unix address goes to the main server, anything else to a second
 * grpc_server created for TCP: gRPC core's channel args (the limits above)
 * are per server, not per port, and the gateway's one connection over the
 * unix socket carries every browser's calls, so it must not get the TCP
 * port's stream cap. The second server also tells the listener apart
 * structurally: kc_rpc_authorize() never takes an identity from its calls.
 */
int kc_rpc_listen(kc_rpc_server *s, const char *addr)
{
	grpc_server_credentials *creds;
	grpc_server *target = s->server;
	int port;

	if (strncmp(addr, "unix:", 5) != 0) {
		if (!s->tcp_server)
			s->tcp_server = server_create(s, true);
		target = s->tcp_server;
	} else {
		const char *path = addr + 5;
		char dir[4096];
		char *slash;
		snprintf(dir, sizeof dir, "%s", path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			/* Only the workspace user may reach the gateway's socket:
			 * that is what makes the OAuth metadata trustworthy. */
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return KC_ERR_IO;
			chmod(dir, 0700);
		}
		unlink(path);
		free(s->unix_path);
		s->unix_path = strdup(path);
	}
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(target, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0 && strncmp(addr, "unix:", 5) != 0)
		return KC_ERR_IO;
	if (strncmp(addr, "unix:", 5) == 0) {
		struct stat st;
		if (port == 0 && stat(addr + 5, &st) != 0)
			return KC_ERR_IO;
		return 0;
	}
	return port;
}

int kc_rpc_start(kc_rpc_server *s, int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	grpc_server_start(s->server);
	if (s->tcp_server)
		grpc_server_start(s->tcp_server);
	if (s->unix_path)
		chmod(s->unix_path, 0600);
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < PENDING_REQUESTS; i++) {
		kc_rpc_request_one(s, false);
		if (s->tcp_server)
			kc_rpc_request_one(s, true);
	}
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&s->threads[i], NULL, kc_rpc_worker, s) != 0)
			return KC_ERR_IO;
		s->n_threads = i + 1;
	}
	s->started = true;
	return 0;
}

void kc_rpc_shutdown(kc_rpc_server *s, int drain_ms)
{
	struct timespec ts;
	bool done;

	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->shutting_down = true;
	s->shutdowns_pending = s->tcp_server ? 2 : 1;
	pthread_mutex_unlock(&s->mu);
	grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
	if (s->tcp_server)
		grpc_server_shutdown_and_notify(s->tcp_server, s->cq, &s->t_shutdown);

	/* End every open stream: detach its producer, send UNAVAILABLE. */
	for (;;) {
		struct call *c = NULL;
		pthread_mutex_lock(&s->mu);
		for (struct call *x = s->streams; x; x = x->snext) {
			pthread_mutex_lock(&x->mu);
			if (x->producer && x->detach) {
				c = x;
				x->refs++;
			}
			pthread_mutex_unlock(&x->mu);
			if (c)
				break;
		}
		pthread_mutex_unlock(&s->mu);
		if (!c)
			break;
		kc_rpc_detach_producer(c, true);
		pthread_mutex_lock(&c->mu);
		/* A producer without detach left is done; make sure we do not
		 * pick it again. */
		c->detach = NULL;
		pthread_mutex_unlock(&c->mu);
		kc_rpc_call_unref(c);
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += drain_ms / 1000;
	ts.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->shutdown_done && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	done = s->shutdown_done;
	pthread_mutex_unlock(&s->mu);
	if (!done) {
		kc_log(KC_LOG_WARN, "drain timed out; cancelling the remaining calls", NULL);
		grpc_server_cancel_all_calls(s->server);
		if (s->tcp_server)
			grpc_server_cancel_all_calls(s->tcp_server);
		pthread_mutex_lock(&s->mu);
		while (!s->shutdown_done)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
	}
	grpc_completion_queue_shutdown(s->cq);
	for (int i = 0; i < s->n_threads; i++)
		pthread_join(s->threads[i], NULL);
	s->started = false;
}

void kc_rpc_server_free(kc_rpc_server *s)
{
	if (!s)
		return;
	if (s->started)
		kc_rpc_shutdown(s, 0);
	if (s->server) {
		if (!s->shutdown_done && s->n_threads == 0) {
			/* Never started: still needs a shutdown before destroy. */
			grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
			grpc_server_cancel_all_calls(s->server);
			if (s->tcp_server) {
				grpc_server_shutdown_and_notify(s->tcp_server, s->cq, &s->t_shutdown);
				grpc_server_cancel_all_calls(s->tcp_server);
			}
			grpc_completion_queue_shutdown(s->cq);
			for (;;) {
				grpc_event ev =
				    grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
				if (ev.type == GRPC_QUEUE_SHUTDOWN)
					break;
				if (ev.type == GRPC_OP_COMPLETE && ((struct tag *)ev.tag)->kind == TAG_REQUEST)
					kc_rpc_call_free(((struct tag *)ev.tag)->c);
			}
		}
		grpc_server_destroy(s->server);
		if (s->tcp_server)
			grpc_server_destroy(s->tcp_server);
	}
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	grpc_shutdown();
}
