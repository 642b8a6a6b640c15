/*
 * json_writer.c - the JSON writer under the transcoder's output: strings
 * (escaping, a word-at-a-time scan, UTF-8 repair), shortest doubles and
 * base64. Integers are static inline in transcode_internal.h. Output is
 * written straight into a kc_buf: a list of 100 tasks is the hottest
 * answer the gateway gives, and building a jansson tree only to serialise
 * it would double the work.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/kc_error.h"
#include "common/utf8.h"
#include "transcode/transcode_internal.h"

int kc_tc_b64_put(kc_buf *out, const uint8_t *p, size_t n)
{
	size_t room = KC_BASE64_SIZE(n);
	int rc;

	if ((rc = kc_buf_putc(out, '"')) != 0 || (rc = kc_buf_reserve(out, room)) != 0)
		return rc;
	out->len += kc_base64_encode(p, n, out->data + out->len, KC_BASE64_STD);
	return kc_buf_putc(out, '"');
}

/* Bytes that need an escape in a JSON string: controls, '"' and '\\'. */
static bool needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* True when one of the 8 bytes in `w` is a control, '"', '\\' or above
 * 0x7f: the classic SWAR tests (a zero byte in w ^ c; a byte below 0x20),
 * so plain text is scanned a word at a time. */
static bool word_is_special(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"');
	uint64_t b = w ^ (ONES * '\\');
	uint64_t lt = (w - ONES * 0x20) & ~w;
	uint64_t zq = (q - ONES) & ~q;
	uint64_t zb = (b - ONES) & ~b;

	return ((lt | zq | zb) & HIGHS) || (w & HIGHS);
}

/* Appends the escape of c, a byte needs_escape() is true for. Off the hot
 * path: plain text never gets here. */
static int put_escape(kc_buf *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6];
	size_t n = 2;

	esc[0] = '\\';
	switch (c) {
	case '"':
		esc[1] = '"';
		break;
	case '\\':
		esc[1] = '\\';
		break;
	case '\n':
		esc[1] = 'n';
		break;
	case '\r':
		esc[1] = 'r';
		break;
	case '\t':
		esc[1] = 't';
		break;
	case '\b':
		esc[1] = 'b';
		break;
	case '\f':
		esc[1] = 'f';
		break;
	default:
		esc[1] = 'u';
		esc[2] = '0';
		esc[3] = '0';
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		n = 6;
	}
	return kc_buf_add(out, esc, n);
}

int kc_json_put_string(kc_buf *out, const char *s, size_t len)
{
	char *fixed = NULL;
	size_t i;
	size_t run = 0;
	bool checked = false;

	/* One pass: ASCII text (task ids, statuses, most prompts) is copied in
	 * runs; the first byte above 0x7f has the rest checked for UTF-8 once,
	 * and only ill-formed text is repaired (a copy). Escapes only concern
	 * ASCII bytes, which never occur inside a multi-byte sequence. */
	kc_buf_reserve(out, len + 2);
	kc_buf_addc(out, '"');
	for (i = 0; i < len; i++) {
		unsigned char c;

		while (i + 8 <= len) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (word_is_special(w))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		c = (unsigned char)s[i];

		if (c >= 0x80) {
			if (!checked) {
				checked = true;
				if (!kc_utf8_valid(s + i, len - i)) {
					/* Repair the rest and go on from its first byte. */
					kc_buf_add(out, s + run, i - run);
					fixed = kc_utf8_sanitize(s + i, len - i, &len);
					if (!fixed)
						return KC_ERR_NOMEM;
					s = fixed;
					run = 0;
					i = (size_t)-1;
				}
			}
			continue;
		}
		if (!needs_escape(c))
			continue;
		kc_buf_add(out, s + run, i - run);
		run = i + 1;
		put_escape(out, c);
	}
	kc_buf_add(out, s + run, len - run);
	free(fixed);
	return kc_buf_addc(out, '"');
}

/*
 * The shortest decimal that reads back as the same double, so 1.5 is "1.5"
 * and not "1.5000000000000000". Non-finite values are strings, as in
 * proto3 JSON.
 *
 * Fast path, exact integer arithmetic: |d| = M / 2^s with M the 53-bit
 * mantissa. For k = 0, 1, 2... fraction digits, r = round(M * 10^k / 2^s)
 * is the closest k-digit decimal, and it reads back as d exactly when it
 * lies strictly within half an ulp (2^-s / 2) of d, that is when
 * 2 * |r * 2^s - M * 10^k| < 10^k. The first k that passes gives the
 * shortest form (a k-digit one never ends in 0, or k-1 would have passed).
 * Everything fits an unsigned __int128 for 1e-3 <= |d| < 2^53, which
 * covers every timestamp and percentage the API sends; timestamps with
 * microseconds (1795743413.3929946) made printf's multi-precision path the
 * hottest code of a task list. Other values, a mantissa of exactly 2^52
 * (whose lower neighbour is closer), and floats go through printf.
 */
typedef unsigned __int128 u128;

/* Whether k fraction digits can name d = m / 2^s; the digits in *r. */
static bool fixed_fits(uint64_t m, int s, int k, uint64_t *r)
{
	static const uint64_t pow10[] = {1ull,
	                                 10ull,
	                                 100ull,
	                                 1000ull,
	                                 10000ull,
	                                 100000ull,
	                                 1000000ull,
	                                 10000000ull,
	                                 100000000ull,
	                                 1000000000ull,
	                                 10000000000ull,
	                                 100000000000ull,
	                                 1000000000000ull,
	                                 10000000000000ull,
	                                 100000000000000ull,
	                                 1000000000000000ull,
	                                 10000000000000000ull,
	                                 100000000000000000ull};
	u128 num = (u128)m * pow10[k];
	u128 q = (num + ((u128)1 << (s - 1))) >> s;
	u128 back = q << s;
	u128 diff = back > num ? back - num : num - back;

	*r = (uint64_t)q;
	return q < 1000000000000000000ull && 2 * diff < pow10[k];
}

static bool shortest_fixed(double d, char *text, size_t *len)
{
	uint64_t bits;
	uint64_t m;
	uint64_t r = 0;
	int s;
	int lo = 0;
	int hi = 17;
	char digits[24];
	size_t nd;
	size_t n = 0;

	if (!(fabs(d) >= 1e-3 && fabs(d) < 9007199254740992.0))
		return false;
	memcpy(&bits, &d, sizeof(bits));
	/* A normal double: 1.f x 2^(E-1023) = (2^52 + f) / 2^(1075-E). */
	m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
	s = 1075 - (int)((bits >> 52) & 0x7ff);
	if (s <= 0 || s > 72 || m == (1ull << 52))
		return false;
	/* 17 significant digits always name a double exactly. */
	{
		uint64_t ip = (uint64_t)fabs(d);
		uint64_t p10 = 1;

		while (ip >= p10 && hi > 0) {
			hi--;
			if (p10 > UINT64_MAX / 10)
				break;
			p10 *= 10;
		}
	}
	/* Enough digits always fit once any do (k+1 digits can say 10 r):
	 * search the least k that does. */
	if (!fixed_fits(m, s, hi, &r))
		return false;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		uint64_t rm;

		if (fixed_fits(m, s, mid, &rm))
			hi = mid;
		else
			lo = mid + 1;
	}
	fixed_fits(m, s, lo, &r);
	nd = kc_tc_put_u64(digits, r);
	if (d < 0)
		text[n++] = '-';
	if (lo == 0) {
		memcpy(text + n, digits, nd);
		n += nd;
	} else {
		size_t k = (size_t)lo;
		size_t intpart = nd > k ? nd - k : 0;
		size_t z;

		if (intpart) {
			memcpy(text + n, digits, intpart);
			n += intpart;
		} else {
			text[n++] = '0';
		}
		text[n++] = '.';
		for (z = nd; z < k; z++)
			text[n++] = '0';
		memcpy(text + n, digits + intpart, nd - intpart);
		n += nd - intpart;
	}
	*len = n;
	return true;
}

/* The client's form (KC_JSON_REAL_POINT): the shortest "%.Ng" that reads
 * back, with ".0" on integral values so they stay JSON reals, and null for
 * non-finite values. */
static int put_real_point(kc_buf *out, double d)
{
	char text[48];
	int prec;

	if (!isfinite(d))
		return kc_buf_puts(out, "null");
	for (prec = 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	if (!strpbrk(text, ".eEn"))
		strcat(text, ".0");
	return kc_buf_puts(out, text);
}

int kc_tc_put_double(kc_buf *out, double d, bool is_float, unsigned flags)
{
	char text[48];
	size_t n;
	int prec;

	if (flags & KC_JSON_REAL_POINT)
		return put_real_point(out, d);

	if (isnan(d))
		return kc_buf_puts(out, "\"NaN\"");
	if (isinf(d))
		return kc_buf_puts(out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	if (d == 0)
		return kc_buf_add(out, signbit(d) ? "-0" : "0", signbit(d) ? 2 : 1);
	if (!is_float && shortest_fixed(d, text, &n))
		return kc_buf_add(out, text, n);
	for (prec = is_float ? 6 : 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (is_float ? (float)strtod(text, NULL) == (float)d : strtod(text, NULL) == d)
			break;
	}
	return kc_buf_puts(out, text);
}
