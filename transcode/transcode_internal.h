/*
 * transcode_internal.h - what the transcoder's files share, and nothing a
 * caller sees: callers include transcode.h only.
 *
 * The files, one concern each:
 *   descriptor.c   messages, fields and enums by descriptor; the one cache
 *                  of enum JSON names; path-bound field clashes
 *   query_in.c     text into fields (path variables, query parameters) and
 *                  the scalar setters JSON input shares
 *   json_in.c      JSON (parsed by jansson) into a message
 *   json_out.c     a message out as JSON, walking the descriptor
 *   json_writer.c  the JSON writer: escaping, integers, shortest doubles,
 *                  base64
 *
 * Names are kc_tc_ (internal to this library); helpers on the hot path of
 * output that two files need are static inline here.
 */
#ifndef KC_TRANSCODE_TRANSCODE_INTERNAL_H
#define KC_TRANSCODE_TRANSCODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "transcode/buf.h"
#include "transcode/transcode.h"

/* Nesting deeper than this is refused: no API message is nearly this deep,
 * and a recursive type must not let input recurse without bound. */
#define MAX_DEPTH 32

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* ---- descriptor.c ---- */

/* Formats an error message into err (when given) and returns
 * KC_ERR_INVALID. */
int kc_tc_fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* kc_is_wrapper with its cheap test inline: output asks it of every
 * message of an answer, and in one file with it the compiler did this
 * (kc_is_wrapper.part.0) by itself. */
static inline bool kc_tc_is_wrapper(const ProtobufCMessageDescriptor *d)
{
	return d->n_fields == 1 && kc_is_wrapper(d);
}

/* Whether f is a map field of `parent` (a repeated XxxEntry of key and
 * value). */
bool kc_tc_is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);
/* Size of one element of a repeated field of type t. */
size_t kc_tc_elem_size(ProtobufCType t);
/* The field named name[0..len), by proto or lowerCamelCase name; NULL when
 * there is none. */
const ProtobufCFieldDescriptor *kc_tc_find_field(const ProtobufCMessageDescriptor *d, const char *name, size_t len);
/* The value of enum desc named s (its proto or JSON name; any case when
 * any_case). */
bool kc_tc_enum_from_name(const ProtobufCEnumDescriptor *desc, const char *s, int *out, bool any_case);

/* An enum value's JSON name as a ready JSON string ("\"running\""). */
typedef struct kc_tc_enum_json {
	const char *text;
	size_t len;
} kc_tc_enum_json;

/* The JSON names of d's values, indexed like d->values, made once per
 * process; NULL when the cache is full or memory ran out (callers then
 * build the name themselves). */
const kc_tc_enum_json *kc_tc_enum_names(const ProtobufCEnumDescriptor *d);

/* The path-bound field (of bound[0..n_bound)) that the field path `name`
 * overlaps, or NULL. */
const char *kc_tc_bound_clash(const ProtobufCMessageDescriptor *d, const char *name, const char *const *bound,
                              size_t n_bound);

/* ---- query_in.c: setting one value ---- */

/* A scalar parsed from JSON or from text, before it is stored. */
typedef struct scalar {
	union {
		int64_t i;
		uint64_t u;
		double d;
		bool b;
	} v;
	char *s;                 /* STRING: malloc'd */
	ProtobufCBinaryData bin; /* BYTES: malloc'd */
} scalar;

int kc_tc_parse_int_text(const char *s, int64_t min, int64_t max, int64_t *out);
int kc_tc_parse_double_text(const char *s, double *out);
/* "a 32-bit integer", ...: what a field of f's type expects, for errors. */
const char *kc_tc_type_word(const ProtobufCFieldDescriptor *f);
/* Decodes standard or URL-safe base64, padding optional, into out->data
 * (malloc'd). */
int kc_tc_b64_decode(const char *s, size_t len, ProtobufCBinaryData *out);
/* Converts text (a path variable, a query value, or a JSON string where a
 * number is allowed as one) to a scalar of f's type. */
int kc_tc_scalar_from_text(const ProtobufCFieldDescriptor *f, const char *s, scalar *out);
/* Stores a scalar at `p` (a field's slot or an array element). Takes
 * ownership of out->s / out->bin. */
void kc_tc_scalar_store(const ProtobufCFieldDescriptor *f, void *p, scalar *sc);
void kc_tc_scalar_clear(scalar *sc);
/* Makes the slot for one more element of repeated field f; *slot receives
 * its address (zeroed). */
int kc_tc_repeated_grow(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, void **slot);
/* Marks a singular field present: has_ flags and oneof cases. Fails when
 * another member of the same oneof is already set. */
int kc_tc_mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, char *err, size_t errlen);
/* The address of a singular message field's sub-message, made when absent. */
int kc_tc_submessage(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, ProtobufCMessage **out);

/* ---- json_writer.c ---- */

/* Decimal digits of v into out (no sign), returning the length. printf is
 * the hot spot of a 100-task list, so integers are written by hand. */
static inline size_t kc_tc_put_u64(char *out, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	                            "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	                            "8081828384858687888990919293949596979899";
	char tmp[24];
	size_t n = sizeof(tmp);
	size_t len;

	/* Two digits per division: a 17-digit timestamp is 9 divisions. */
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100);

		v /= 100;
		tmp[--n] = pairs[2 * d + 1];
		tmp[--n] = pairs[2 * d];
	}
	if (v >= 10) {
		tmp[--n] = pairs[2 * v + 1];
		tmp[--n] = pairs[2 * v];
	} else {
		tmp[--n] = (char)('0' + v);
	}
	len = sizeof(tmp) - n;
	memcpy(out, tmp + n, len);
	return len;
}

static inline int kc_tc_put_i64(kc_buf *out, int64_t v)
{
	char text[24];
	size_t n = 0;

	if (v < 0) {
		text[n++] = '-';
		n += kc_tc_put_u64(text + n, (uint64_t)0 - (uint64_t)v);
	} else {
		n = kc_tc_put_u64(text, (uint64_t)v);
	}
	return kc_buf_add(out, text, n);
}

/* A double (or a float, is_float) as proto3 JSON, or in the client's form
 * with KC_JSON_REAL_POINT. */
int kc_tc_put_double(kc_buf *out, double d, bool is_float, unsigned flags);
/* Bytes as a JSON string of standard base64 with padding. */
int kc_tc_b64_put(kc_buf *out, const uint8_t *p, size_t n);

#endif
