/*
 * token.h - the workspace API token.
 *
 * At least 36 random bytes (getrandom(2)), URL-safe base64 without padding,
 * kept in <tasks_dir>/.api-token with mode 0600 and in memory. Created on
 * first need; regenerating replaces the file and the in-memory copy at
 * once, so the old token stops working for the very next call.
 */
#ifndef KC_SERVER_TOKEN_H
#define KC_SERVER_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kc_token kc_token;

/* Loads the token from `path` or creates it (mode 0600). A file found with
 * another mode is set to 0600, with a warning in the log; a path that is
 * not a regular file (a symlink, a directory) is KC_ERR_IO. Returns 0 or a
 * kc_error. */
int kc_token_new(const char *path, kc_token **out);
void kc_token_free(kc_token *t);

/* Copies the current token into buf (NUL-terminated). */
int kc_token_get(kc_token *t, char *buf, size_t len);

/* Replaces the token (file and memory) and copies the new one into buf. */
int kc_token_regenerate(kc_token *t, char *buf, size_t len);

/* True when `candidate` (len bytes) equals the token; constant time in the
 * token's length. */
bool kc_token_check(kc_token *t, const char *candidate, size_t len);

/* Fills buf with len bytes from the kernel's CSPRNG. Returns 0 or
 * KC_ERR_INTERNAL. */
int kc_random_bytes(void *buf, size_t len);

/* Compares len bytes in time that depends only on len. */
bool kc_ct_equal(const void *a, const void *b, size_t len);

#endif /* KC_SERVER_TOKEN_H */
