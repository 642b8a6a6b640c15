#include "transcode/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"

void kc_buf_init(kc_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit ? limit : SIZE_MAX / 2;
}

void kc_buf_release(kc_buf *b)
{
	size_t limit = b->limit;

	free(b->data);
	kc_buf_init(b, limit);
}

int kc_buf_reserve(kc_buf *b, size_t n)
{
	size_t want;
	size_t ncap;
	char *p;

	if (b->err)
		return b->err;
	if (n > b->limit - b->len) {
		b->err = KC_ERR_TOO_LARGE;
		return b->err;
	}
	/* One spare byte so the data can always be NUL-terminated. */
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (!p) {
		b->err = KC_ERR_NOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int kc_buf_append(kc_buf *b, const void *data, size_t n)
{
	int rc = kc_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int kc_buf_puts(kc_buf *b, const char *s)
{
	return kc_buf_append(b, s, strlen(s));
}

int kc_buf_putc(kc_buf *b, char c)
{
	return kc_buf_append(b, &c, 1);
}

int kc_buf_printf(kc_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;
	int rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return KC_ERR_INTERNAL;
	if ((size_t)n < sizeof(small))
		return kc_buf_append(b, small, (size_t)n);
	rc = kc_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *kc_buf_steal(kc_buf *b, size_t *len)
{
	char *d;

	if (b->err) {
		kc_buf_release(b);
		return NULL;
	}
	if (!b->data && kc_buf_reserve(b, 0))
		return NULL;
	d = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
