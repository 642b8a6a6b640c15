#include "common/yaml_doc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "common/file.h"
#include "common/kc_error.h"

#define MAX_DEPTH 32

struct kc_ynode {
	kc_ynode_kind kind;
	int line;
	bool plain; /* scalar written without quotes */
	char *text; /* scalar */
	size_t len, cap;
	char **keys;             /* map: one per entry */
	struct kc_ynode **items; /* map values or sequence items */
};

struct kc_ydoc {
	kc_ynode *root;
};

static void node_free(kc_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->len; i++) {
		if (n->keys)
			free(n->keys[i]);
		node_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->text);
	free(n);
}

static kc_ynode *node_new(kc_ynode_kind kind, int line)
{
	kc_ynode *n = calloc(1, sizeof *n);
	if (n) {
		n->kind = kind;
		n->line = line;
	}
	return n;
}

/* Appends `item` (and `key` for maps), taking ownership of both on success. */
static int node_push(kc_ynode *n, char *key, kc_ynode *item)
{
	if (n->len == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 4;
		kc_ynode **items = realloc(n->items, cap * sizeof *items);
		if (!items)
			return KC_ERR_NOMEM;
		n->items = items;
		if (n->kind == KC_YNODE_MAP) {
			char **keys = realloc(n->keys, cap * sizeof *keys);
			if (!keys)
				return KC_ERR_NOMEM;
			n->keys = keys;
		}
		n->cap = cap;
	}
	if (n->kind == KC_YNODE_MAP)
		n->keys[n->len] = key;
	n->items[n->len++] = item;
	return KC_OK;
}

struct parse {
	yaml_parser_t parser;
	char *err;
	size_t errlen;
};

static int fail(struct parse *p, int line, const char *fmt, ...)
{
	if (p->errlen) {
		int n = snprintf(p->err, p->errlen, "line %d: ", line);
		if (n >= 0 && (size_t)n < p->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return KC_ERR_INVALID;
}

static int next_event(struct parse *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->parser, ev))
		return fail(p, (int)p->parser.problem_mark.line + 1, "%s",
		            p->parser.problem ? p->parser.problem : "malformed YAML");
	return KC_OK;
}

static int parse_node(struct parse *p, yaml_event_t *ev, int depth, kc_ynode **out);

/* Reads events up to the end of the collection `n` was opened with. */
static int parse_children(struct parse *p, kc_ynode *n, int depth)
{
	for (;;) {
		yaml_event_t ev;
		int rc = next_event(p, &ev);
		if (rc)
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return KC_OK;
		}
		char *key = NULL;
		if (n->kind == KC_YNODE_MAP) {
			int line = (int)ev.start_mark.line + 1;
			if (ev.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&ev);
				return fail(p, line, "map keys must be plain scalars");
			}
			key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			yaml_event_delete(&ev);
			if (!key)
				return KC_ERR_NOMEM;
			if (kc_ynode_get(n, key)) {
				rc = fail(p, line, "duplicate key \"%s\"", key);
				free(key);
				return rc;
			}
			rc = next_event(p, &ev);
			if (rc) {
				free(key);
				return rc;
			}
		}
		kc_ynode *child = NULL;
		rc = parse_node(p, &ev, depth + 1, &child);
		yaml_event_delete(&ev);
		if (rc == KC_OK)
			rc = node_push(n, key, child);
		if (rc) {
			free(key);
			node_free(child);
			return rc;
		}
	}
}

/* Builds the node that starts with `ev` (which the caller deletes). */
static int parse_node(struct parse *p, yaml_event_t *ev, int depth, kc_ynode **out)
{
	int line = (int)ev->start_mark.line + 1;
	if (depth > MAX_DEPTH)
		return fail(p, line, "nested deeper than %d levels", MAX_DEPTH);

	kc_ynode *n;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return fail(p, line, "aliases are not supported");
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			return fail(p, line, "anchors are not supported");
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
			return fail(p, line, "NUL character in a value");
		n = node_new(KC_YNODE_SCALAR, line);
		if (!n)
			return KC_ERR_NOMEM;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->text = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->text) {
			node_free(n);
			return KC_ERR_NOMEM;
		}
		*out = n;
		return KC_OK;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		const yaml_char_t *anchor = ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
		                                                                 : ev->data.sequence_start.anchor;
		if (anchor)
			return fail(p, line, "anchors are not supported");
		n = node_new(ev->type == YAML_MAPPING_START_EVENT ? KC_YNODE_MAP : KC_YNODE_SEQ, line);
		if (!n)
			return KC_ERR_NOMEM;
		int rc = parse_children(p, n, depth);
		if (rc) {
			node_free(n);
			return rc;
		}
		*out = n;
		return KC_OK;
	}
	default:
		return fail(p, line, "unexpected YAML event");
	}
}

int kc_ydoc_parse(const char *buf, size_t len, kc_ydoc **out, char *err, size_t errlen)
{
	struct parse p = {.err = err, .errlen = errlen};
	kc_ydoc *doc = NULL;
	kc_ynode *root = NULL;
	yaml_event_t ev;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&p.parser))
		return KC_ERR_NOMEM;
	yaml_parser_set_input_string(&p.parser, (const unsigned char *)buf, len);

	/* STREAM-START, then DOCUMENT-START or STREAM-END for an empty file. */
	rc = next_event(&p, &ev);
	if (rc)
		goto out;
	yaml_event_delete(&ev);
	rc = next_event(&p, &ev);
	if (rc)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		root = node_new(KC_YNODE_MAP, 1);
		rc = root ? KC_OK : KC_ERR_NOMEM;
		goto done;
	}
	yaml_event_delete(&ev);

	rc = next_event(&p, &ev);
	if (rc)
		goto out;
	rc = parse_node(&p, &ev, 0, &root);
	yaml_event_delete(&ev);
	if (rc)
		goto out;

	/* DOCUMENT-END, then STREAM-END: one document only. */
	rc = next_event(&p, &ev);
	if (rc)
		goto out;
	yaml_event_delete(&ev);
	rc = next_event(&p, &ev);
	if (rc)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		rc = fail(&p, (int)ev.start_mark.line + 1, "only one YAML document is allowed");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);

done:
	if (rc)
		goto out;
	doc = calloc(1, sizeof *doc);
	if (!doc) {
		rc = KC_ERR_NOMEM;
		goto out;
	}
	doc->root = root;
	root = NULL;
	*out = doc;
out:
	node_free(root);
	yaml_parser_delete(&p.parser);
	return rc;
}

int kc_ydoc_load_file(const char *path, size_t max_bytes, kc_ydoc **out, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc = kc_file_read(path, max_bytes, &buf, &n);
	switch (rc) {
	case KC_OK:
		break;
	case KC_ERR_TOO_LARGE:
		snprintf(err, errlen, "larger than %zu bytes", max_bytes);
		return rc;
	case KC_ERR_NOT_FOUND:
		snprintf(err, errlen, "no such file");
		return rc;
	default:
		snprintf(err, errlen, "cannot read: %s", kc_strerror(rc));
		return rc;
	}
	rc = kc_ydoc_parse(buf, n, out, err, errlen);
	free(buf);
	return rc;
}

void kc_ydoc_free(kc_ydoc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc);
}

const kc_ynode *kc_ydoc_root(const kc_ydoc *doc)
{
	return doc->root;
}

kc_ynode_kind kc_ynode_kind_of(const kc_ynode *node)
{
	return node->kind;
}

int kc_ynode_line(const kc_ynode *node)
{
	return node->line;
}

const char *kc_ynode_scalar(const kc_ynode *node)
{
	return node && node->kind == KC_YNODE_SCALAR ? node->text : NULL;
}

bool kc_ynode_is_null(const kc_ynode *node)
{
	if (!node || node->kind != KC_YNODE_SCALAR || !node->plain)
		return false;
	return node->text[0] == '\0' || strcmp(node->text, "~") == 0 || strcasecmp(node->text, "null") == 0;
}

size_t kc_ynode_len(const kc_ynode *node)
{
	return node && node->kind != KC_YNODE_SCALAR ? node->len : 0;
}

const char *kc_ynode_key(const kc_ynode *node, size_t i)
{
	return node && node->kind == KC_YNODE_MAP && i < node->len ? node->keys[i] : NULL;
}

const kc_ynode *kc_ynode_at(const kc_ynode *node, size_t i)
{
	return node && node->kind != KC_YNODE_SCALAR && i < node->len ? node->items[i] : NULL;
}

const kc_ynode *kc_ynode_get(const kc_ynode *node, const char *key)
{
	if (!node || node->kind != KC_YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < node->len; i++)
		if (strcmp(node->keys[i], key) == 0)
			return node->items[i];
	return NULL;
}

int kc_ynode_as_long(const kc_ynode *node, long min, long max, long *out)
{
	const char *s = kc_ynode_scalar(node);
	if (!s || !*s)
		return KC_ERR_INVALID;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return KC_ERR_INVALID;
	*out = v;
	return KC_OK;
}

int kc_ynode_as_double(const kc_ynode *node, double min, double max, double *out)
{
	const char *s = kc_ynode_scalar(node);
	if (!s || !*s)
		return KC_ERR_INVALID;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return KC_ERR_INVALID;
	*out = v;
	return KC_OK;
}

int kc_ynode_as_bool(const kc_ynode *node, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	const char *s = kc_ynode_scalar(node);
	if (!s)
		return KC_ERR_INVALID;
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return KC_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return KC_OK;
		}
	}
	return KC_ERR_INVALID;
}
