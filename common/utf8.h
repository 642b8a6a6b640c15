/*
 * utf8.h - UTF-8 checks shared by every edge that takes text from outside.
 *
 * Protobuf `string` fields must hold valid UTF-8 (other gRPC clients refuse
 * anything else), so text from a peer is checked before it enters a
 * message, and terminal output, which is arbitrary bytes, is repaired.
 */
#ifndef KC_UTF8_H
#define KC_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when `s[0..len)` is well-formed UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF. NUL bytes are allowed here; callers
 * that care check for them. */
bool kc_utf8_valid(const char *s, size_t len);

/* Copies `s[0..len)` into a new NUL-terminated string with every ill-formed
 * sequence, and every NUL byte, replaced by U+FFFD. Returns NULL when out
 * of memory; *out_len (if not NULL) receives the length. The caller frees. */
char *kc_utf8_sanitize(const char *s, size_t len, size_t *out_len);

/* The same for one chunk of a stream (terminal output read in pieces).
 * When `hold_partial`, a sequence that is valid so far but cut off by the
 * end of the chunk is left out rather than replaced, and its length is
 * written to *held (0 otherwise), so the caller can prepend those bytes to
 * the next chunk. */
char *kc_utf8_sanitize_chunk(const char *s, size_t len, bool hold_partial, size_t *held);

#endif /* KC_UTF8_H */
