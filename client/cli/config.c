#include "client/cli/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/yaml_doc.h"

#define MAX_CONFIG_BYTES (1024 * 1024)

static void ws_clear(struct kcc_workspace *w)
{
	free(w->name);
	free(w->url);
	free(w->token);
	free(w->token_file);
	free(w->ca_file);
	free(w->namespace);
	free(w->target);
	free(w->container);
	free(w->tmux_socket);
	memset(w, 0, sizeof *w);
}

void kcc_config_free(struct kcc_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_ws; i++)
		ws_clear(&cfg->ws[i]);
	free(cfg->ws);
	free(cfg->current);
	free(cfg);
}

static int scalar(const kc_ynode *n, const char *key, char **out, char *err, size_t errlen)
{
	const char *s = kc_ynode_scalar(n);
	if (!s) {
		snprintf(err, errlen, "line %d: %s: expected a string", kc_ynode_line(n), key);
		return KC_ERR_INVALID;
	}
	char *d = strdup(s);
	if (!d)
		return KC_ERR_NOMEM;
	free(*out);
	*out = d;
	return 0;
}

static int parse_ws(const char *name, const kc_ynode *n, struct kcc_workspace *w, char *err, size_t errlen)
{
	if (kc_ynode_kind_of(n) != KC_YNODE_MAP) {
		snprintf(err, errlen, "line %d: workspaces.%s: expected a map", kc_ynode_line(n), name);
		return KC_ERR_INVALID;
	}
	/* YAML's implicit keys end at 1024 characters; a name is an identifier,
	 * so a short cap keeps every file kc writes readable again. */
	if (name[0] == '\0' || strlen(name) > KCC_MAX_NAME) {
		snprintf(err, errlen, "line %d: workspaces: a name must be 1 to %d bytes", kc_ynode_line(n),
		         KCC_MAX_NAME);
		return KC_ERR_INVALID;
	}
	w->name = strdup(name);
	if (!w->name)
		return KC_ERR_NOMEM;
	for (size_t i = 0; i < kc_ynode_len(n); i++) {
		const char *k = kc_ynode_key(n, i);
		const kc_ynode *v = kc_ynode_at(n, i);
		char **slot = NULL;
		if (strcmp(k, "url") == 0)
			slot = &w->url;
		else if (strcmp(k, "token") == 0)
			slot = &w->token;
		else if (strcmp(k, "token_file") == 0)
			slot = &w->token_file;
		else if (strcmp(k, "ca_file") == 0)
			slot = &w->ca_file;
		else if (strcmp(k, "namespace") == 0)
			slot = &w->namespace;
		else if (strcmp(k, "target") == 0)
			slot = &w->target;
		else if (strcmp(k, "container") == 0)
			slot = &w->container;
		else if (strcmp(k, "tmux_socket") == 0)
			slot = &w->tmux_socket;
		if (!slot) {
			snprintf(err, errlen, "line %d: workspaces.%s: unknown key \"%s\"", kc_ynode_line(v), name, k);
			return KC_ERR_INVALID;
		}
		if (kc_ynode_is_null(v))
			continue;
		int rc = scalar(v, k, slot, err, errlen);
		if (rc)
			return rc;
	}
	if (!w->url || !w->url[0]) {
		snprintf(err, errlen, "line %d: workspaces.%s: url is required", kc_ynode_line(n), name);
		return KC_ERR_INVALID;
	}
	return 0;
}

int kcc_config_parse(const char *buf, size_t len, struct kcc_config **out, char *err, size_t errlen)
{
	kc_ydoc *doc = NULL;
	int rc = kc_ydoc_parse(buf, len, &doc, err, errlen);
	if (rc)
		return rc;
	struct kcc_config *cfg = calloc(1, sizeof *cfg);
	if (!cfg) {
		kc_ydoc_free(doc);
		return KC_ERR_NOMEM;
	}
	const kc_ynode *root = kc_ydoc_root(doc);
	if (kc_ynode_kind_of(root) != KC_YNODE_MAP) {
		snprintf(err, errlen, "line %d: expected a map", kc_ynode_line(root));
		rc = KC_ERR_INVALID;
		goto out;
	}
	for (size_t i = 0; i < kc_ynode_len(root); i++) {
		const char *k = kc_ynode_key(root, i);
		const kc_ynode *v = kc_ynode_at(root, i);
		if (strcmp(k, "current") == 0) {
			if (kc_ynode_is_null(v))
				continue;
			rc = scalar(v, k, &cfg->current, err, errlen);
		} else if (strcmp(k, "workspaces") == 0) {
			if (kc_ynode_is_null(v))
				continue;
			if (kc_ynode_kind_of(v) != KC_YNODE_MAP) {
				snprintf(err, errlen, "line %d: workspaces: expected a map", kc_ynode_line(v));
				rc = KC_ERR_INVALID;
				goto out;
			}
			size_t n = kc_ynode_len(v);
			if (cfg->ws || n == 0)
				continue;
			cfg->ws = calloc(n, sizeof *cfg->ws);
			if (!cfg->ws) {
				rc = KC_ERR_NOMEM;
				goto out;
			}
			for (size_t j = 0; j < n && rc == 0; j++) {
				cfg->n_ws++;
				rc = parse_ws(kc_ynode_key(v, j), kc_ynode_at(v, j), &cfg->ws[j], err, errlen);
			}
		} else {
			snprintf(err, errlen, "line %d: unknown key \"%s\"", kc_ynode_line(v), k);
			rc = KC_ERR_INVALID;
		}
		if (rc)
			goto out;
	}
out:
	kc_ydoc_free(doc);
	if (rc) {
		kcc_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int kcc_config_load(const char *path, struct kcc_config **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s", strerror(errno));
			return KC_ERR_IO;
		}
		struct kcc_config *cfg = calloc(1, sizeof *cfg);
		if (!cfg)
			return KC_ERR_NOMEM;
		*out = cfg;
		return 0;
	}
	char *buf = malloc(MAX_CONFIG_BYTES + 1);
	if (!buf) {
		fclose(f);
		return KC_ERR_NOMEM;
	}
	size_t n = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
	fclose(f);
	if (n > MAX_CONFIG_BYTES) {
		free(buf);
		snprintf(err, errlen, "larger than %d bytes", MAX_CONFIG_BYTES);
		return KC_ERR_TOO_LARGE;
	}
	int rc = kcc_config_parse(buf, n, out, err, errlen);
	free(buf);
	return rc;
}

const struct kcc_workspace *kcc_config_find(const struct kcc_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_ws; i++)
		if (strcmp(cfg->ws[i].name, name) == 0)
			return &cfg->ws[i];
	return NULL;
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : KC_ERR_NOMEM;
}

int kcc_config_put(struct kcc_config *cfg, const struct kcc_workspace *ws, bool make_current)
{
	if (!ws->name || !ws->name[0] || strlen(ws->name) > KCC_MAX_NAME || !ws->url)
		return KC_ERR_INVALID;
	struct kcc_workspace w;
	memset(&w, 0, sizeof w);
	if (dup_opt(&w.name, ws->name) || dup_opt(&w.url, ws->url) || dup_opt(&w.token, ws->token) ||
	    dup_opt(&w.token_file, ws->token_file) || dup_opt(&w.ca_file, ws->ca_file) ||
	    dup_opt(&w.namespace, ws->namespace) || dup_opt(&w.target, ws->target) ||
	    dup_opt(&w.container, ws->container) || dup_opt(&w.tmux_socket, ws->tmux_socket)) {
		ws_clear(&w);
		return KC_ERR_NOMEM;
	}
	if (make_current) {
		char *cur = strdup(ws->name);
		if (!cur) {
			ws_clear(&w);
			return KC_ERR_NOMEM;
		}
		free(cfg->current);
		cfg->current = cur;
	}
	for (size_t i = 0; i < cfg->n_ws; i++) {
		if (strcmp(cfg->ws[i].name, ws->name) == 0) {
			ws_clear(&cfg->ws[i]);
			cfg->ws[i] = w;
			return 0;
		}
	}
	struct kcc_workspace *nw = realloc(cfg->ws, (cfg->n_ws + 1) * sizeof *nw);
	if (!nw) {
		ws_clear(&w);
		return KC_ERR_NOMEM;
	}
	cfg->ws = nw;
	cfg->ws[cfg->n_ws++] = w;
	return 0;
}

/* The code point at s (*len gets its byte length); -1 for bytes that are
 * not UTF-8. */
static long utf8_at(const unsigned char *s, size_t *len)
{
	long cp;
	size_t n;
	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		n = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		n = 3;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		n = 4;
	} else {
		*len = 1;
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = 1;
			return -1;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*len = n;
	return cp;
}

/* A YAML double-quoted scalar: every character outside YAML's printable
 * set, and those YAML reads as line breaks, escaped, so the file reads
 * back to the same string. */
static void put_quoted(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	while (*s) {
		size_t n;
		long cp = utf8_at(s, &n);
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (int)cp);
		else if (cp < 0)
			fputs("\\uFFFD", f); /* not UTF-8: libyaml never hands us this */
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			fprintf(f, "\\x%02lx", cp);
		else if (cp == 0x2028)
			fputs("\\L", f);
		else if (cp == 0x2029)
			fputs("\\P", f);
		else if (cp == 0xfeff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
			fprintf(f, "\\u%04lX", cp);
		else
			fwrite(s, 1, n, f);
		s += n;
	}
	fputc('"', f);
}

char *kcc_config_format(const struct kcc_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("# kc's workspaces (see `man kc`). Written by kc connect; edit freely.\n", f);
	if (cfg->current) {
		fputs("current: ", f);
		put_quoted(f, cfg->current);
		fputc('\n', f);
	}
	fputs("workspaces:\n", f);
	if (cfg->n_ws == 0)
		fputs("  {}\n", f);
	for (size_t i = 0; i < cfg->n_ws; i++) {
		const struct kcc_workspace *w = &cfg->ws[i];
		fputs("  ", f);
		put_quoted(f, w->name);
		fputs(":\n", f);
		const char *keys[] = {"url",       "token",  "token_file", "ca_file",
		                      "namespace", "target", "container",  "tmux_socket"};
		const char *vals[] = {w->url,       w->token,  w->token_file, w->ca_file,
		                      w->namespace, w->target, w->container,  w->tmux_socket};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			if (!vals[k])
				continue;
			fprintf(f, "    %s: ", keys[k]);
			put_quoted(f, vals[k]);
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int mkdirs(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return KC_ERR_NOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			free(p);
			return KC_ERR_IO;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

int kcc_config_save(const struct kcc_config *cfg, const char *path)
{
	char *text = kcc_config_format(cfg);
	if (!text)
		return KC_ERR_NOMEM;
	int rc = mkdirs(path);
	size_t tlen = strlen(path) + 16;
	char *tmp = malloc(tlen);
	if (rc || !tmp) {
		free(text);
		free(tmp);
		return rc ? rc : KC_ERR_NOMEM;
	}
	snprintf(tmp, tlen, "%s.tmp%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = KC_ERR_IO;
	if (fd >= 0) {
		size_t n = strlen(text), off = 0;
		while (off < n) {
			ssize_t w = write(fd, text + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (off == n && fsync(fd) == 0 && close(fd) == 0) {
			fd = -1;
			if (rename(tmp, path) == 0)
				rc = 0;
		}
		if (fd >= 0)
			close(fd);
		if (rc)
			unlink(tmp);
	}
	free(tmp);
	free(text);
	return rc;
}
