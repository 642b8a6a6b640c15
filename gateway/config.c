#include "gateway/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/yaml_doc.h"

void kc_gw_config_defaults(kc_gw_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "0.0.0.0:6080");
	snprintf(c->upstream, sizeof(c->upstream), "unix:/run/kc/kc-server.sock");
	snprintf(c->web_root, sizeof(c->web_root), "/usr/share/kube-coder/web");
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
	for (i = 0; i < kc_ynode_len(gw) && !rc; i++) {
		const char *key = kc_ynode_key(gw, i);
		const kc_ynode *v = kc_ynode_at(gw, i);
		long l;

		if (strcmp(key, "listen") == 0) {
			rc = get_string(v, key, c->listen, sizeof(c->listen), err, errlen);
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
	}
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
