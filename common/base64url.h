/*
 * base64url.h - URL-safe base64 without padding (RFC 4648 §5), as API
 * tokens and JWTs use it.
 */
#ifndef KC_BASE64URL_H
#define KC_BASE64URL_H

#include <stddef.h>

/* Bytes needed to encode `n` bytes, NUL included. */
#define KC_BASE64URL_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Encodes in[0..n) into out, which has room for KC_BASE64URL_SIZE(n) bytes,
 * and NUL-terminates it. Returns the encoded length. */
size_t kc_base64url_encode(const unsigned char *in, size_t n, char *out);

#endif /* KC_BASE64URL_H */
