/*
 * yaml_doc.h - a YAML document as a small read-only tree, for config files.
 *
 * libyaml parses; this keeps the result as nodes that remember their line,
 * so a config reader can say "limits.max_running_tasks: line 12: expected
 * an integer" about any value. Anchors and aliases are refused (a config
 * file has no need of them, and they are how YAML bombs work); so are
 * documents deeper than 32 levels or larger than the caller's cap.
 */
#ifndef KC_YAML_DOC_H
#define KC_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kc_ydoc kc_ydoc;
typedef struct kc_ynode kc_ynode;

typedef enum kc_ynode_kind {
	KC_YNODE_SCALAR,
	KC_YNODE_MAP,
	KC_YNODE_SEQ,
} kc_ynode_kind;

/* Parses `len` bytes. On success *out owns the tree (free with
 * kc_ydoc_free) and 0 is returned. On failure returns KC_ERR_INVALID (or
 * KC_ERR_NOMEM), writes "line N: why" into err, and leaves *out untouched.
 * An empty document gives a tree whose root is an empty map. */
int kc_ydoc_parse(const char *buf, size_t len, kc_ydoc **out, char *err, size_t errlen);

/* Reads and parses a file of at most `max_bytes`. KC_ERR_NOT_FOUND when it
 * does not exist, KC_ERR_TOO_LARGE past the cap, KC_ERR_IO when unreadable. */
int kc_ydoc_load_file(const char *path, size_t max_bytes, kc_ydoc **out, char *err, size_t errlen);

/* Frees the tree and every node in it. NULL is a no-op. */
void kc_ydoc_free(kc_ydoc *doc);

/* The root node; never NULL for a parsed document. */
const kc_ynode *kc_ydoc_root(const kc_ydoc *doc);

kc_ynode_kind kc_ynode_kind_of(const kc_ynode *node);
/* The 1-based line the node starts on. */
int kc_ynode_line(const kc_ynode *node);
/* A scalar's text (NUL-terminated; may hold no NUL itself); NULL otherwise. */
const char *kc_ynode_scalar(const kc_ynode *node);
/* True for a plain (unquoted) scalar `~`, `null` or empty: YAML's null. */
bool kc_ynode_is_null(const kc_ynode *node);
/* Entries of a map or items of a sequence; 0 for a scalar. */
size_t kc_ynode_len(const kc_ynode *node);
/* The i-th key of a map (scalar keys only; see kc_ydoc_parse). */
const char *kc_ynode_key(const kc_ynode *node, size_t i);
/* The i-th value of a map or item of a sequence. */
const kc_ynode *kc_ynode_at(const kc_ynode *node, size_t i);
/* A map's value for `key`, or NULL. */
const kc_ynode *kc_ynode_get(const kc_ynode *node, const char *key);

/* Scalar conversions. Each returns 0 and sets *out, or KC_ERR_INVALID and
 * leaves *out unchanged when the node is not a scalar of that type or is
 * out of [min, max]. */
int kc_ynode_as_long(const kc_ynode *node, long min, long max, long *out);
int kc_ynode_as_double(const kc_ynode *node, double min, double max, double *out);
/* true/false, yes/no, on/off (any case). */
int kc_ynode_as_bool(const kc_ynode *node, bool *out);

#endif /* KC_YAML_DOC_H */
