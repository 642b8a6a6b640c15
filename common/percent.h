/*
 * percent.h - percent-decoding (RFC 3986 §2.1) for paths and query strings.
 *
 * One decoder for every edge that reads a URL, so they agree on what a
 * malformed escape is: a '%' not followed by two hex digits, and a NUL,
 * raw or as %00, are refused everywhere.
 */
#ifndef KC_PERCENT_H
#define KC_PERCENT_H

#include <stdbool.h>
#include <stddef.h>

/* The value of one hex digit, or -1. */
int kc_hex_digit(char c);

/* Decodes s[0..len) into dst, which has room for len + 1 bytes, and
 * NUL-terminates it; with `plus_is_space` (query strings), '+' becomes ' '.
 * Returns the decoded length, or -1 for a malformed escape or a NUL, with
 * dst's contents then unspecified. */
long kc_percent_decode(const char *s, size_t len, char *dst, bool plus_is_space);

#endif /* KC_PERCENT_H */
