#include "gateway/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/yaml_doc.h"

void kc_gw_config_defaults(kc_gw_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "0.0.0.0:6080");
	snprintf(c->upstream, sizeof(c->upstream), "unix:/run/kc/kc-server.sock");
	snprintf(c->web_root, sizeof(c->web_root), "/usr/share/kube-coder/web");
	snprintf(c->oauth_user_header, sizeof(c->oauth_user_header), "x-auth-request-user");
	snprintf(c->oauth_email_header, sizeof(c->oauth_email_header), "x-auth-request-email");
	/* What a local browser or curl sends; a deployment adds its names. */
	snprintf(c->allowed_hosts[0], KC_GW_MAX_HOST_LEN, "localhost");
	snprintf(c->allowed_hosts[1], KC_GW_MAX_HOST_LEN, "127.0.0.1");
	snprintf(c->allowed_hosts[2], KC_GW_MAX_HOST_LEN, "::1");
	c->n_allowed_hosts = 3;
	c->max_body_bytes = 1048576;
	c->max_header_bytes = 16384;
	c->max_connections = 1024;
	c->max_streams = 100;
	c->idle_timeout_ms = 60000;
	c->request_timeout_ms = 30000;
	c->write_timeout_ms = 30000;
	c->max_connection_bytes = 8L << 20;
	c->upstream_wait_ms = 5000;
	c->coalesce_reads = true;
}

static int bad(char *err, size_t errlen, const char *key, const kc_ynode *n, const char *why)
{
	snprintf(err, errlen, "gateway.%s: line %d: %s", key, kc_ynode_line(n), why);
	return KC_ERR_INVALID;
}

static int get_string(const kc_ynode *n, const char *key, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *s = kc_ynode_scalar(n);

	if (!s)
		return bad(err, errlen, key, n, "expected a string");
	if (kc_ynode_is_null(n))
		s = "";
	if (strlen(s) >= outlen)
		return bad(err, errlen, key, n, "too long");
	snprintf(out, outlen, "%s", s);
	return 0;
}

static int get_long(const kc_ynode *n, const char *key, long min, long max, long *out, char *err, size_t errlen)
{
	char why[96];

	if (kc_ynode_as_long(n, min, max, out)) {
		snprintf(why, sizeof(why), "expected an integer from %ld to %ld", min, max);
		return bad(err, errlen, key, n, why);
	}
	return 0;
}

/* A header name the proxy sets: an HTTP token, stored lower-case. */
static int get_header_name(const kc_ynode *n, const char *key, char *out, size_t outlen, char *err, size_t errlen)
{
	char tmp[64];
	size_t i;
	int rc = get_string(n, key, tmp, sizeof(tmp), err, errlen);

	if (rc)
		return rc;
	if (!tmp[0] || tmp[0] == ':')
		return bad(err, errlen, key, n, "expected a header name");
	for (i = 0; tmp[i]; i++) {
		if (!isalnum((unsigned char)tmp[i]) && tmp[i] != '-' && tmp[i] != '_')
			return bad(err, errlen, key, n, "expected a header name");
		tmp[i] = (char)tolower((unsigned char)tmp[i]);
	}
	/* Never one that carries something else. */
	if (strcmp(tmp, "authorization") == 0 || strcmp(tmp, "host") == 0 || strcmp(tmp, "cookie") == 0)
		return bad(err, errlen, key, n, "expected a header the proxy sets, not this one");
	snprintf(out, outlen, "%s", tmp);
	return 0;
}

/* The identity listener: off, a unix socket, or a loopback address. Only
 * the auth proxy may reach it, so a port other pods or hosts could reach
 * is refused here rather than trusted. */
static int get_oauth_listen(const kc_ynode *n, const char *key, kc_gw_config *c, char *err, size_t errlen)
{
	char host[256];
	int port;
	struct in_addr a4;
	struct in6_addr a6;
	int rc = get_string(n, key, c->oauth_listen, sizeof(c->oauth_listen), err, errlen);

	if (rc || !c->oauth_listen[0])
		return rc;
	if (strncmp(c->oauth_listen, "unix:", 5) == 0) {
		const char *path = c->oauth_listen + 5;

		if (path[0] != '/')
			return bad(err, errlen, key, n, "expected unix:/absolute/path");
		if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return bad(err, errlen, key, n, "too long for a unix socket path (at most 107 bytes)");
		return 0;
	}
	if (kc_gw_parse_listen(c->oauth_listen, host, sizeof(host), &port))
		return bad(err, errlen, key, n, "expected unix:/path or 127.0.0.1:PORT");
	if (strcmp(host, "localhost") == 0 || (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
		return 0;
	return bad(err, errlen, key, n,
	           "must be a unix socket or a loopback address (only the auth proxy may reach it)");
}

static int get_hosts(const kc_ynode *n, const char *key, kc_gw_config *c, char *err, size_t errlen)
{
	size_t i;
	size_t count;

	if (kc_ynode_kind_of(n) != KC_YNODE_SEQ)
		return bad(err, errlen, key, n, "expected a list of host names");
	count = kc_ynode_len(n);
	if (count == 0)
		return bad(err, errlen, key, n, "expected at least one host name");
	if (count > KC_GW_MAX_HOSTS)
		return bad(err, errlen, key, n, "too many host names (at most 16)");
	for (i = 0; i < count; i++) {
		const kc_ynode *e = kc_ynode_at(n, i);
		const char *s = kc_ynode_scalar(e);

		if (!s || kc_ynode_is_null(e) ||
		    kc_gw_host_normalize(s, strlen(s), c->allowed_hosts[i], KC_GW_MAX_HOST_LEN))
			return bad(err, errlen, key, e, "expected a host name or IP address");
	}
	c->n_allowed_hosts = count;
	return 0;
}

/* One key of the gateway section into c. 0 or KC_ERR_INVALID with err. */
static int set_key(kc_gw_config *c, const char *key, const kc_ynode *v, char *err, size_t errlen)
{
	long l;
	int rc = 0;

	if (strcmp(key, "listen") == 0) {
		rc = get_string(v, key, c->listen, sizeof(c->listen), err, errlen);
	} else if (strcmp(key, "oauth_listen") == 0) {
		rc = get_oauth_listen(v, key, c, err, errlen);
	} else if (strcmp(key, "oauth_user_header") == 0) {
		rc = get_header_name(v, key, c->oauth_user_header, sizeof(c->oauth_user_header), err, errlen);
	} else if (strcmp(key, "oauth_email_header") == 0) {
		rc = get_header_name(v, key, c->oauth_email_header, sizeof(c->oauth_email_header), err, errlen);
	} else if (strcmp(key, "allowed_hosts") == 0) {
		rc = get_hosts(v, key, c, err, errlen);
	} else if (strcmp(key, "tls_cert") == 0) {
		rc = get_string(v, key, c->tls_cert, sizeof(c->tls_cert), err, errlen);
	} else if (strcmp(key, "tls_key") == 0) {
		rc = get_string(v, key, c->tls_key, sizeof(c->tls_key), err, errlen);
	} else if (strcmp(key, "upstream") == 0) {
		rc = get_string(v, key, c->upstream, sizeof(c->upstream), err, errlen);
	} else if (strcmp(key, "web_root") == 0) {
		rc = get_string(v, key, c->web_root, sizeof(c->web_root), err, errlen);
	} else if (strcmp(key, "max_body_bytes") == 0) {
		rc = get_long(v, key, 0, 1L << 30, &l, err, errlen);
		c->max_body_bytes = rc ? c->max_body_bytes : (size_t)l;
	} else if (strcmp(key, "max_header_bytes") == 0) {
		rc = get_long(v, key, 1024, 1L << 20, &l, err, errlen);
		c->max_header_bytes = rc ? c->max_header_bytes : (size_t)l;
	} else if (strcmp(key, "max_connections") == 0) {
		rc = get_long(v, key, 1, 1000000, &c->max_connections, err, errlen);
	} else if (strcmp(key, "max_streams") == 0) {
		rc = get_long(v, key, 1, 10000, &c->max_streams, err, errlen);
	} else if (strcmp(key, "idle_timeout_ms") == 0) {
		rc = get_long(v, key, 100, 86400000, &c->idle_timeout_ms, err, errlen);
	} else if (strcmp(key, "request_timeout_ms") == 0) {
		rc = get_long(v, key, 100, 86400000, &c->request_timeout_ms, err, errlen);
	} else if (strcmp(key, "write_timeout_ms") == 0) {
		rc = get_long(v, key, 100, 86400000, &c->write_timeout_ms, err, errlen);
	} else if (strcmp(key, "max_connection_bytes") == 0) {
		rc = get_long(v, key, 65536, 1L << 32, &c->max_connection_bytes, err, errlen);
	} else if (strcmp(key, "upstream_wait_ms") == 0) {
		rc = get_long(v, key, 0, 600000, &c->upstream_wait_ms, err, errlen);
	} else if (strcmp(key, "coalesce_reads") == 0) {
		if (kc_ynode_as_bool(v, &c->coalesce_reads))
			rc = bad(err, errlen, key, v, "expected true or false");
	} else {
		rc = bad(err, errlen, key, v, "unknown key");
	}
	return rc;
}

int kc_gw_config_parse(kc_gw_config *c, const char *buf, size_t len, char *err, size_t errlen)
{
	kc_ydoc *doc = NULL;
	const kc_ynode *root;
	const kc_ynode *gw;
	size_t i;
	int rc;

	rc = kc_ydoc_parse(buf, len, &doc, err, errlen);
	if (rc)
		return rc;
	root = kc_ydoc_root(doc);
	if (kc_ynode_kind_of(root) != KC_YNODE_MAP) {
		snprintf(err, errlen, "line %d: the config must be a map", kc_ynode_line(root));
		rc = KC_ERR_INVALID;
		goto out;
	}
	gw = kc_ynode_get(root, "gateway");
	if (!gw || kc_ynode_is_null(gw))
		goto out;
	if (kc_ynode_kind_of(gw) != KC_YNODE_MAP) {
		snprintf(err, errlen, "gateway: line %d: expected a map", kc_ynode_line(gw));
		rc = KC_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < kc_ynode_len(gw) && !rc; i++)
		rc = set_key(c, kc_ynode_key(gw, i), kc_ynode_at(gw, i), err, errlen);
	if (!rc && (!!c->tls_cert[0] != !!c->tls_key[0])) {
		snprintf(err, errlen, "gateway: tls_cert and tls_key must be set together");
		rc = KC_ERR_INVALID;
	}
out:
	kc_ydoc_free(doc);
	return rc;
}

int kc_gw_config_load(kc_gw_config *c, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc = kc_file_read(path, 1 << 20, &buf, &n);

	if (rc == KC_ERR_TOO_LARGE) {
		snprintf(err, errlen, "%s: larger than 1 MiB", path);
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "%s: cannot open", path);
		return rc;
	}
	rc = kc_gw_config_parse(c, buf, n, err, errlen);
	free(buf);
	return rc;
}

int kc_gw_config_env(kc_gw_config *c, char *err, size_t errlen)
{
	const char *port = getenv("KC_PORT");
	char *end;
	long p;

	if (!port || !*port)
		return 0;
	p = strtol(port, &end, 10);
	if (*end || p < 1 || p > 65535) {
		snprintf(err, errlen, "KC_PORT: expected a port number, got \"%s\"", port);
		return KC_ERR_INVALID;
	}
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:%ld", p);
	return 0;
}

int kc_gw_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hl;
	char *end;
	long p;

	if (!colon)
		return KC_ERR_INVALID;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostlen)
		return KC_ERR_INVALID;
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535 || end == colon + 1)
		return KC_ERR_INVALID;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

static bool host_char(unsigned char ch, bool v6)
{
	if (v6)
		return isxdigit(ch) || ch == ':' || ch == '.';
	return isalnum(ch) || ch == '-' || ch == '.';
}

int kc_gw_host_normalize(const char *v, size_t len, char *out, size_t outlen)
{
	const char *h = v;
	const char *port = NULL;
	size_t hl = len;
	size_t plen = 0;
	size_t colons = 0;
	bool v6 = false;
	size_t i;

	if (len == 0)
		return KC_ERR_INVALID;
	if (v[0] == '[') {
		const char *close = memchr(v, ']', len);
		size_t rest;

		if (!close)
			return KC_ERR_INVALID;
		h = v + 1;
		hl = (size_t)(close - h);
		rest = len - (size_t)(close + 1 - v);
		if (rest) {
			if (close[1] != ':')
				return KC_ERR_INVALID;
			port = close + 2;
			plen = rest - 1;
		}
		v6 = true;
	} else {
		for (i = 0; i < len; i++)
			colons += v[i] == ':';
		if (colons > 1) {
			/* A bare IPv6 address: no port can follow it unambiguously. */
			v6 = true;
		} else if (colons == 1) {
			const char *c = memchr(v, ':', len);

			hl = (size_t)(c - v);
			port = c + 1;
			plen = len - hl - 1;
		}
	}
	if (plen > 5)
		return KC_ERR_INVALID;
	for (i = 0; i < plen; i++)
		if (!isdigit((unsigned char)port[i]))
			return KC_ERR_INVALID;
	/* One trailing dot names the same host (a fully qualified name). */
	if (!v6 && hl > 1 && h[hl - 1] == '.')
		hl--;
	if (hl == 0 || hl >= outlen)
		return KC_ERR_INVALID;
	for (i = 0; i < hl; i++) {
		if (!host_char((unsigned char)h[i], v6))
			return KC_ERR_INVALID;
		out[i] = (char)tolower((unsigned char)h[i]);
	}
	out[hl] = '\0';
	/* No empty labels: ".", "..", "a..b" name nothing. */
	if (!v6 && (out[0] == '.' || out[hl - 1] == '.' || strstr(out, "..")))
		return KC_ERR_INVALID;
	if (v6) {
		struct in6_addr a6;

		/* Written the canonical way, so ::1 and 0:0:0:0:0:0:0:1 are one. */
		if (inet_pton(AF_INET6, out, &a6) != 1 || !inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen))
			return KC_ERR_INVALID;
	}
	return 0;
}

bool kc_gw_host_allowed(const kc_gw_config *c, const char *host)
{
	size_t i;

	for (i = 0; i < c->n_allowed_hosts; i++)
		if (strcmp(c->allowed_hosts[i], host) == 0)
			return true;
	return false;
}
