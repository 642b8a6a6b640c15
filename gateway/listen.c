/*
 * listen.c - the listeners, TLS, and the signals that start a drain;
 * each accepted socket becomes a connection (server.c).
 *
 * Listeners: the public one (gateway.listen: what the ingress and `make
 * run` expose; bearer only) and, when gateway.oauth_listen is set, the
 * identity listener that only the auth proxy reaches (a 0600 unix socket,
 * or a loopback port). Both share every limit and the connection cap.
 *
 * With gateway.tls_cert/tls_key the public port speaks TLS only, and ALPN
 * picks `h2` or `http/1.1` (the server's preference: h2); without ALPN
 * the preface decides as on the plaintext port (server.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/server.h"

/* How long a drain waits for running requests before it stops anyway. */
#define DRAIN_MS 10000

/* Past max_connections (or while draining): a well-formed 503 written
 * straight to the socket, best effort (never waits: the answer fits any
 * socket buffer), then the connection closes. Not on a TLS listener,
 * which would need a handshake first. */
static void refuse(kc_gw *gw, evutil_socket_t fd, bool tls)
{
	kc_buf body;
	kc_buf answer;

	kc_buf_init(&body, 0);
	kc_buf_init(&answer, 0);
	kc_http_error_body(&body, gw->draining ? "the gateway is shutting down" : "too many connections");
	kc_buf_putc(&body, '\n');
	kc_buf_printf(&answer,
	              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
	              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	              body.len);
	kc_buf_append(&answer, body.data, body.len);
	/* Best effort: a client that does not take it sees the close. */
	if (!tls && !body.err && !answer.err)
		(void)send(fd, answer.data, answer.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	kc_buf_release(&body);
	kc_buf_release(&answer);
	evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	kc_gw *gw = arg;
	bool oauth = l == gw->oauth_listener;

	(void)salen;
	if (gw->n_conns >= gw->cfg.max_connections || gw->draining) {
		refuse(gw, fd, !oauth && gw->ssl_ctx != NULL);
		return;
	}
	/* A connection that cannot be made closed its socket: the client
	 * sees the close, and there is nothing else to tell it. */
	(void)kc_gw_conn_accept(gw, fd, sa->sa_family, oauth);
}

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	kc_gw *gw = arg;

	(void)fd;
	(void)what;
	kc_log(KC_LOG_WARN, "drain timed out; closing the remaining connections", NULL);
	event_base_loopexit(gw->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	kc_gw *gw = arg;
	struct timeval tv = {DRAIN_MS / 1000, 0};

	(void)what;
	if (gw->draining) {
		/* A second signal: stop now. */
		event_base_loopexit(gw->base, NULL);
		return;
	}
	kc_log(KC_LOG_INFO, "draining", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	gw->draining = true;
	evconnlistener_disable(gw->listener);
	if (gw->oauth_listener)
		evconnlistener_disable(gw->oauth_listener);
	/* Streams never end by themselves: end them cleanly now. */
	kc_gw_drain_requests(gw);
	kc_gw_conns_drain(gw);
	if (!gw->conns) {
		event_base_loopexit(gw->base, NULL);
		return;
	}
	gw->drain_timer = evtimer_new(gw->base, drain_timeout, gw);
	if (gw->drain_timer)
		event_add(gw->drain_timer, &tv);
}

/* ALPN: h2 first, then http/1.1; a client offering neither goes on
 * without ALPN (the preface decides). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int tls_setup(kc_gw *gw)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	if (!ctx)
		return KC_ERR_NOMEM;
	/* HTTP/2 over TLS needs TLS 1.2 or later (RFC 9113 §9.2). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* TLS 1.2 suites HTTP/2 allows (RFC 9113 §9.2.2: ephemeral key
	 * exchange, AEAD); TLS 1.3's own suites are all fine. */
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	if (SSL_CTX_use_certificate_chain_file(ctx, gw->cfg.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, gw->cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		kc_log(KC_LOG_ERROR, "cannot load the TLS certificate or key", "cert", gw->cfg.tls_cert, "key",
		       gw->cfg.tls_key, "error", why, NULL);
		SSL_CTX_free(ctx);
		return KC_ERR_INVALID;
	}
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	gw->ssl_ctx = ctx;
	return 0;
}

/* "host:port" (or "[v6]:port", "localhost:port") as a socket address. */
static int listen_addr(const char *listen, struct sockaddr_storage *ss, int *sslen)
{
	char host[256];
	int port;

	if (kc_gw_parse_listen(listen, host, sizeof(host), &port))
		return KC_ERR_INVALID;
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return KC_ERR_INVALID;
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return KC_ERR_INVALID;
		*sslen = sizeof(*s4);
	}
	return 0;
}

/*
 * The identity listener on a unix socket: its directory is made 0700 when
 * missing (an existing one, such as a pod's emptyDir shared with the
 * proxy's container only, is left as it is), and the socket is 0600 from
 * the moment it exists (bound under umask 0177), so only this uid can
 * connect. A socket file left by a gateway that died is replaced; one a
 * live gateway still answers on is not (two gateways never share it).
 */
static int listen_unix(kc_gw *gw, const char *path)
{
	struct sockaddr_un sun;
	char dir[sizeof(sun.sun_path)];
	char *slash;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) || strlen(path) >= sizeof(gw->oauth_socket))
		return KC_ERR_INVALID;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			kc_log(KC_LOG_ERROR, "cannot make the oauth socket's directory", "dir", dir, "error",
			       strerror(errno), NULL);
			return KC_ERR_IO;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kc_log(KC_LOG_ERROR, "oauth_listen names a file that is not a socket", "path", path, NULL);
			return KC_ERR_INVALID;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			kc_log(KC_LOG_ERROR, "another process listens on the oauth socket", "path", path, NULL);
			return KC_ERR_IO;
		}
		if (fd >= 0)
			close(fd);
		unlink(path);
	}
	old = umask(0177);
	gw->oauth_listener =
	    evconnlistener_new_bind(gw->base, on_accept, gw, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
	                            (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!gw->oauth_listener) {
		kc_log(KC_LOG_ERROR, "cannot listen on the oauth socket", "path", path, "error", strerror(errno), NULL);
		return KC_ERR_IO;
	}
	snprintf(gw->oauth_socket, sizeof(gw->oauth_socket), "%s", path);
	/* Not loosened by a umask that was stricter, nor by one that was not. */
	chmod(path, 0600);
	return 0;
}

static int listen_oauth(kc_gw *gw)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	if (!gw->cfg.oauth_listen[0])
		return 0;
	if (strncmp(gw->cfg.oauth_listen, "unix:", 5) == 0)
		return listen_unix(gw, gw->cfg.oauth_listen + 5);
	if (listen_addr(gw->cfg.oauth_listen, &ss, &sslen))
		return KC_ERR_INVALID;
	gw->oauth_listener = evconnlistener_new_bind(gw->base, on_accept, gw,
	                                             LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                             128, (struct sockaddr *)&ss, sslen);
	if (!gw->oauth_listener) {
		kc_log(KC_LOG_ERROR, "cannot listen on oauth_listen", "listen", gw->cfg.oauth_listen, "error",
		       strerror(errno), NULL);
		return KC_ERR_IO;
	}
	return 0;
}

int kc_gw_start(kc_gw *gw)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	if (listen_addr(gw->cfg.listen, &ss, &sslen))
		return KC_ERR_INVALID;
	if (gw->cfg.tls_cert[0] && tls_setup(gw))
		return KC_ERR_INVALID;
	gw->listener = evconnlistener_new_bind(gw->base, on_accept, gw,
	                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	                                       (struct sockaddr *)&ss, sslen);
	if (!gw->listener)
		return KC_ERR_IO;
	if (listen_oauth(gw))
		return KC_ERR_IO;
	gw->sig_term = evsignal_new(gw->base, SIGTERM, on_signal, gw);
	gw->sig_int = evsignal_new(gw->base, SIGINT, on_signal, gw);
	if (gw->sig_term)
		event_add(gw->sig_term, NULL);
	if (gw->sig_int)
		event_add(gw->sig_int, NULL);
	return 0;
}

void kc_gw_stop(kc_gw *gw)
{
	kc_gw_conns_close(gw);
	if (gw->listener)
		evconnlistener_free(gw->listener);
	if (gw->oauth_listener)
		evconnlistener_free(gw->oauth_listener);
	gw->oauth_listener = NULL;
	if (gw->oauth_socket[0])
		unlink(gw->oauth_socket);
	gw->oauth_socket[0] = '\0';
	if (gw->drain_timer)
		event_free(gw->drain_timer);
	if (gw->sig_term)
		event_free(gw->sig_term);
	if (gw->sig_int)
		event_free(gw->sig_int);
	if (gw->ssl_ctx)
		SSL_CTX_free(gw->ssl_ctx);
	gw->ssl_ctx = NULL;
}

int kc_gw_bound_port(const kc_gw *gw)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evconnlistener_get_fd(gw->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int kc_gw_oauth_bound_port(const kc_gw *gw)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!gw->oauth_listener || gw->oauth_socket[0])
		return 0;
	if (getsockname(evconnlistener_get_fd(gw->oauth_listener), (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
