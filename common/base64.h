/*
 * base64.h - the one base64 codec (RFC 4648): the standard alphabet with
 * padding, as proto3 JSON writes `bytes`, and the URL-safe alphabet
 * without padding (§5), as API tokens and JWTs use it.
 */
#ifndef KC_BASE64_H
#define KC_BASE64_H

#include <stddef.h>

typedef enum {
	KC_BASE64_STD, /* A-Z a-z 0-9 + /, padded with '=' */
	KC_BASE64_URL, /* A-Z a-z 0-9 - _, no padding */
} kc_base64_alphabet;

/* Bytes needed to encode `n` bytes in either alphabet, NUL included. */
#define KC_BASE64_SIZE(n) (((n) + 2) / 3 * 4 + 1)
/* Most bytes `len` characters of base64 can decode to. */
#define KC_BASE64_DECODED_MAX(len) ((len) / 4 * 3 + 3)

/* Encodes in[0..n) into out, which has room for KC_BASE64_SIZE(n) bytes,
 * and NUL-terminates it. Returns the encoded length. */
size_t kc_base64_encode(const unsigned char *in, size_t n, char *out, kc_base64_alphabet alphabet);

/* Decodes s[0..len) written in either alphabet, padding optional, into out,
 * which has room for KC_BASE64_DECODED_MAX(len) bytes; *out_len is the
 * decoded length. Returns 0, or KC_ERR_INVALID for a character outside both
 * alphabets, padding anywhere but the end, or a length no encoder writes
 * (one character left over). */
int kc_base64_decode(const char *s, size_t len, unsigned char *out, size_t *out_len);

#endif /* KC_BASE64_H */
