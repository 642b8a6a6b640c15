#include "common/base64.h"

#include "common/kc_error.h"

static const char std_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t kc_base64_encode(const unsigned char *in, size_t n, char *out, kc_base64_alphabet alphabet)
{
	const char *tbl = alphabet == KC_BASE64_URL ? url_tbl : std_tbl;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v =
		    (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tbl[(v >> 6) & 63];
		else if (alphabet == KC_BASE64_STD)
			out[o++] = '=';
		if (i + 2 < n)
			out[o++] = tbl[v & 63];
		else if (alphabet == KC_BASE64_STD)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int kc_base64_decode(const char *s, size_t len, unsigned char *out, size_t *out_len)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	/* At most two '=', and only as the tail. */
	for (int pad = 0; pad < 2 && len && s[len - 1] == '='; pad++)
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = value_of(s[i]);
		if (v < 0)
			return KC_ERR_INVALID;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6)
		return KC_ERR_INVALID;
	*out_len = o;
	return 0;
}
