/*
 * config.h - kc-gateway's settings: the `gateway:` section of the shared
 * config file (config/kc.example.yaml), then environment overrides.
 *
 * The section is read strictly: an unknown key, or a value of the wrong
 * type, is an error naming the key and its line, so a typo never silently
 * leaves a default in place. The other top-level sections belong to
 * kc-server and are skipped.
 */
#ifndef KC_GW_CONFIG_H
#define KC_GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Most names in gateway.allowed_hosts, and the longest one. */
#define KC_GW_MAX_HOSTS 16
#define KC_GW_MAX_HOST_LEN 256

typedef struct kc_gw_config {
	/* The public listener: bearer only; identity headers are never read. */
	char listen[256];
	/* The identity listener, "" when off: "unix:/path" (preferred: the
	 * socket is made 0600 in a directory made 0700 when missing) or a
	 * loopback "127.0.0.1:PORT" / "[::1]:PORT". Only the auth proxy may
	 * reach it; only requests arriving on it turn oauth_user_header /
	 * oauth_email_header into an identity (see handler.c). */
	char oauth_listen[1024];
	/* The headers the auth proxy sets on the requests it forwards,
	 * lower-case. oauth2-proxy's legacy flags inject (and first strip
	 * from the client's request) X-Forwarded-User / -Email; the default
	 * is the X-Auth-Request-* pair of the local stand-in and of nginx's
	 * auth_request. */
	char oauth_user_header[64];
	char oauth_email_header[64];
	/* Host / :authority names every listener answers (the DNS-rebinding
	 * defence), normalised: lower-case, no trailing dot, IPv6 without
	 * brackets, no port. Anything else is 421. */
	char allowed_hosts[KC_GW_MAX_HOSTS][KC_GW_MAX_HOST_LEN];
	size_t n_allowed_hosts;
	char tls_cert[1024];
	char tls_key[1024];
	char upstream[1024];
	char web_root[1024];
	size_t max_body_bytes;
	size_t max_header_bytes;
	long max_connections;
	/* HTTP/2: concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
	long max_streams;
	long idle_timeout_ms;
	long request_timeout_ms;
	/* Answer bytes queued for a client must make progress (bytes leaving
	 * the socket) within this, or the connection is closed. */
	long write_timeout_ms;
	/* What one connection may make the gateway hold: unparsed input,
	 * request bodies, queued answers (server.c says what happens past it). */
	long max_connection_bytes;
	/* How long a call waits for kc-server when it is away (a restart)
	 * before failing with 503; 0 fails at once. */
	long upstream_wait_ms;
	/* Identical GETs that arrive together share one call to kc-server
	 * (unary.c says when that is safe). On by default. */
	bool coalesce_reads;
} kc_gw_config;

/* The defaults of config/kc.example.yaml. */
void kc_gw_config_defaults(kc_gw_config *c);

/* Applies the YAML text `buf[0..len)`. 0, or KC_ERR_INVALID with
 * "gateway.key: line N: why" in err. */
int kc_gw_config_parse(kc_gw_config *c, const char *buf, size_t len, char *err, size_t errlen);

/* Loads `path` (at most 1 MiB) and parses it. KC_ERR_NOT_FOUND / KC_ERR_IO
 * as kc_ydoc_load_file; err says why. */
int kc_gw_config_load(kc_gw_config *c, const char *path, char *err, size_t errlen);

/* Environment overrides: KC_PORT -> listen 127.0.0.1:$KC_PORT. KC_ERR_INVALID
 * for a bad port. */
int kc_gw_config_env(kc_gw_config *c, char *err, size_t errlen);

/* Splits "host:port" (or "[v6]:port"); KC_ERR_INVALID when malformed. */
int kc_gw_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

/* The host part of a Host header or :authority value `v[0..len)`,
 * normalised as allowed_hosts are (lower-case, one trailing dot dropped,
 * IPv6 brackets dropped, port dropped) into out. KC_ERR_INVALID when it is
 * not a plain host[:port]: userinfo, a path, percent-escapes, spaces or
 * other bytes outside host syntax, a non-numeric port, empty. */
int kc_gw_host_normalize(const char *v, size_t len, char *out, size_t outlen);

/* True when the normalised host `host` is in c->allowed_hosts. */
bool kc_gw_host_allowed(const kc_gw_config *c, const char *host);

#endif /* KC_GW_CONFIG_H */
