/*
 * pb_wire.h - a bounded writer of protobuf's wire format, for answers the
 * server writes without protobuf-c (ListTasks, task_list.c). Every put
 * checks the room left before it writes a byte; a put that does not fit
 * writes nothing and marks the writer short, and so does every put after
 * it. The caller sizes the buffer first and checks kc_wire_done() at the
 * end: a short or unfilled buffer is a sizing bug, never a torn answer.
 * Internal to the server; inline because ListTasks writes a few fields per
 * task and a call each would show in list_bench.
 */
#ifndef KC_SERVER_PB_WIRE_H
#define KC_SERVER_PB_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KC_WIRE_VARINT 0
#define KC_WIRE_FIXED64 1
#define KC_WIRE_LEN 2
#define KC_WIRE_TAG(field, type) ((uint8_t)((field) << 3 | (type)))

typedef struct kc_wire {
	uint8_t *p;
	uint8_t *end;
	bool short_;
} kc_wire;

static inline void kc_wire_init(kc_wire *w, uint8_t *buf, size_t len)
{
	w->p = buf;
	w->end = buf + len;
	w->short_ = false;
}

static inline size_t kc_wire_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* True when `n` more bytes fit; otherwise marks the writer short. */
static inline bool kc_wire_room(kc_wire *w, size_t n)
{
	if (w->short_ || (size_t)(w->end - w->p) < n) {
		w->short_ = true;
		return false;
	}
	return true;
}

static inline void kc_wire_byte(kc_wire *w, uint8_t b)
{
	if (kc_wire_room(w, 1))
		*w->p++ = b;
}

static inline void kc_wire_varint(kc_wire *w, uint64_t v)
{
	if (!kc_wire_room(w, kc_wire_varint_len(v)))
		return;
	while (v >= 0x80) {
		*w->p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*w->p++ = (uint8_t)v;
}

/* int32 and enum values: a negative one is sign-extended to 10 bytes. */
static inline uint64_t kc_wire_int32(int32_t v)
{
	return (uint64_t)(int64_t)v;
}

/* A double's 8 bytes, little-endian as on the wire. */
static inline void kc_wire_double(kc_wire *w, double d)
{
	uint64_t b;
	if (!kc_wire_room(w, sizeof b))
		return;
	memcpy(&b, &d, sizeof b);
	b = htole64(b);
	memcpy(w->p, &b, sizeof b);
	w->p += sizeof b;
}

/* A length-delimited field: tag, length, bytes. Not inlined: GCC expands
 * a copy from an entry's 32-byte id array into `rep movsq`, whose start-up
 * cost made that copy 40 % of a list (list_bench); the library's memcpy is
 * cheap for a few bytes. */
__attribute__((noinline, unused)) static void kc_wire_bytes(kc_wire *w, uint8_t tag, const void *s, size_t len)
{
	if (!kc_wire_room(w, 1 + kc_wire_varint_len(len) + len))
		return;
	*w->p++ = tag;
	kc_wire_varint(w, len);
	memcpy(w->p, s, len);
	w->p += len;
}

/* True when every put fitted and the buffer is exactly full. */
static inline bool kc_wire_done(const kc_wire *w)
{
	return !w->short_ && w->p == w->end;
}

#endif /* KC_SERVER_PB_WIRE_H */
