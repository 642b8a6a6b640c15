#include "common/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s (1 to 4); 0 if ill-formed; or
 * -needed when the bytes up to `avail` are a valid but incomplete prefix.
 * Follows the table of well-formed byte sequences in Unicode 15, §3.9. */
static int sequence_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	int n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	for (int i = 1; i < n; i++) {
		if ((size_t)i >= avail)
			return -n;
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

bool kc_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		int n = sequence_len(p + i, len - i);
		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

static char *sanitize(const char *s, size_t len, bool hold_partial, size_t *held, size_t *out_len)
{
	if (held)
		*held = 0;
	/* Worst case: every byte becomes the 3-byte U+FFFD. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	while (i < len) {
		int n = sequence_len(p + i, len - i);
		if (n < 0 && hold_partial) {
			if (held)
				*held = len - i;
			break;
		}
		if (n > 0 && p[i] != 0) {
			memcpy(out + o, p + i, (size_t)n);
			o += (size_t)n;
			i += (size_t)n;
		} else {
			/* Ill-formed, cut off, or a NUL (valid UTF-8, but not in a
			 * C string): one replacement character per byte. */
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return out;
}

char *kc_utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
	return sanitize(s, len, false, NULL, out_len);
}

char *kc_utf8_sanitize_chunk(const char *s, size_t len, bool hold_partial, size_t *held)
{
	return sanitize(s, len, hold_partial, held, NULL);
}
