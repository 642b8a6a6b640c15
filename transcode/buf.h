/*
 * buf.h - a growable byte buffer with a cap, for building responses.
 *
 * Every append checks the cap first: a buffer that would grow past it
 * fails with KC_ERR_TOO_LARGE and keeps what it had, so nothing a peer
 * sends or a server answers can make the gateway allocate without bound.
 */
#ifndef KC_TRANSCODE_BUF_H
#define KC_TRANSCODE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct kc_buf {
	char *data;
	size_t len;
	size_t cap;
	/* Largest len allowed; 0 means SIZE_MAX / 2. */
	size_t limit;
	/* Sticky: the first error of an append, so a long run of appends can be
	 * checked once at the end. */
	int err;
} kc_buf;

/* An empty buffer capped at `limit` bytes (0: effectively unlimited). */
void kc_buf_init(kc_buf *b, size_t limit);
/* Frees the data and leaves an empty buffer that can be used again. */
void kc_buf_release(kc_buf *b);
/* Makes room for `n` more bytes. 0, KC_ERR_TOO_LARGE or KC_ERR_NOMEM. */
int kc_buf_reserve(kc_buf *b, size_t n);
int kc_buf_append(kc_buf *b, const void *data, size_t n);
int kc_buf_puts(kc_buf *b, const char *s);
int kc_buf_putc(kc_buf *b, char c);

/* The same as kc_buf_append / kc_buf_putc, inlined for the JSON writer's
 * hot path: a copy when the room is there, the checked call otherwise. */
static inline int kc_buf_add(kc_buf *b, const void *data, size_t n)
{
	if (!b->err && b->data && n < b->cap - b->len && n <= b->limit - b->len) {
		memcpy(b->data + b->len, data, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return kc_buf_append(b, data, n);
}

static inline int kc_buf_addc(kc_buf *b, char c)
{
	if (!b->err && b->data && b->cap - b->len > 1 && b->len < b->limit) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return kc_buf_append(b, &c, 1);
}
int kc_buf_printf(kc_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Hands the data (NUL-terminated) to the caller, who frees it; the buffer
 * is left empty. NULL when the buffer holds an error. */
char *kc_buf_steal(kc_buf *b, size_t *len);

#endif /* KC_TRANSCODE_BUF_H */
