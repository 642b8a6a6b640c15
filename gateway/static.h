/*
 * static.h - the dashboard's files from a directory, at `/` and `/oauth/`.
 *
 * Strict like the router: a dot segment ("." or ".." in any spelling,
 * percent-encoded too), an empty segment, a NUL, a backslash, or a name
 * starting with '.' (hidden files) is a 404; directories are never listed;
 * the resolved file must lie inside the root (symlinks out are refused).
 */
#ifndef KC_GW_STATIC_H
#define KC_GW_STATIC_H

#include <stddef.h>

typedef struct kc_static_answer {
	/* 200, 304 or 404. */
	int status;
	const char *content_type;
	char etag[64];
	char last_modified[40];
	/* The file's bytes for a 200 (caller frees). */
	char *body;
	size_t len;
} kc_static_answer;

/*
 * Resolves `path` (the URL path, undecoded) under `root`. `if_none_match`
 * and `if_modified_since` (may be NULL) give a 304 when they match. Files
 * larger than `max_bytes` are a 404. Returns 0 with *out filled, or
 * KC_ERR_NOMEM.
 */
int kc_static_serve(const char *root, const char *path, size_t path_len, const char *if_none_match,
                    const char *if_modified_since, size_t max_bytes, kc_static_answer *out);

/* The content type for a file name, by extension. */
const char *kc_static_content_type(const char *name);

#endif /* KC_GW_STATIC_H */
