/*
 * transcode.c - see transcode.h for the JSON mapping and where it bends.
 *
 * Input is parsed by jansson (a well-kept parser that checks UTF-8 and,
 * with JSON_REJECT_DUPLICATES, duplicate keys); the resulting tree is
 * walked against the descriptor. Output is written straight into a kc_buf:
 * a list of 100 tasks is the hottest answer the gateway gives, and building
 * a jansson tree only to serialise it would double the work.
 */
#include "transcode/transcode.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/kc_error.h"
#include "common/percent.h"
#include "common/utf8.h"

/* Nesting deeper than this is refused: no API message is nearly this deep,
 * and a recursive type must not let input recurse without bound. */
#define MAX_DEPTH 32

ProtobufCMessage *kc_message_new(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = malloc(desc->sizeof_message);

	if (m)
		desc->message_init(m);
	return m;
}

void kc_message_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return KC_ERR_INVALID;
}

/* ---- descriptor helpers ---- */

bool kc_is_wrapper(const ProtobufCMessageDescriptor *desc)
{
	size_t n;

	/* Every message of an answer is asked: the cheap test first. */
	if (desc->n_fields != 1)
		return false;
	n = strlen(desc->name);
	return strncmp(desc->name, "google.protobuf.", 16) == 0 && n > 21 && strcmp(desc->name + n - 5, "Value") == 0 &&
	       desc->n_fields == 1 && desc->fields[0].id == 1 && strcmp(desc->fields[0].name, "value") == 0 &&
	       desc->fields[0].label != PROTOBUF_C_LABEL_REPEATED;
}

static bool is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *e;
	size_t pn;
	size_t sn;

	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	e = f->descriptor;
	sn = strlen(e->short_name);
	pn = strlen(parent->name);
	return e->n_fields == 2 && sn > 5 && strcmp(e->short_name + sn - 5, "Entry") == 0 &&
	       strncmp(e->name, parent->name, pn) == 0 && e->name[pn] == '.' && e->fields[0].id == 1 &&
	       strcmp(e->fields[0].name, "key") == 0 && e->fields[1].id == 2 && strcmp(e->fields[1].name, "value") == 0 &&
	       e->fields[0].label != PROTOBUF_C_LABEL_REPEATED && e->fields[1].label != PROTOBUF_C_LABEL_REPEATED;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d, const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const char *fn = d->fields[i].name;
		size_t j = 0;
		size_t k = 0;

		if (strlen(fn) == len && memcmp(fn, name, len) == 0)
			return &d->fields[i];
		/* proto3 JSON parsers also accept the lowerCamelCase name. */
		while (fn[j] && k < len) {
			if (fn[j] == '_' && fn[j + 1]) {
				if (name[k] != toupper((unsigned char)fn[j + 1]))
					break;
				j += 2;
			} else {
				if (name[k] != fn[j])
					break;
				j++;
			}
			k++;
		}
		if (!fn[j] && k == len && strchr(fn, '_'))
			return &d->fields[i];
	}
	return NULL;
}

/* Type prefix of an enum's values: "TaskStatus" -> "TASK_STATUS_". */
static void enum_prefix(const ProtobufCEnumDescriptor *d, char *out, size_t outlen)
{
	const char *s = d->short_name;
	size_t o = 0;
	size_t i;

	for (i = 0; s[i] && o + 3 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i > 0 && isupper(c) &&
		    (islower((unsigned char)s[i - 1]) || isdigit((unsigned char)s[i - 1]) ||
		     (isupper((unsigned char)s[i - 1]) && islower((unsigned char)s[i + 1]))))
			out[o++] = '_';
		out[o++] = (char)toupper(c);
	}
	out[o++] = '_';
	out[o] = '\0';
}

/* The last enum's prefix, per thread: lists render one enum type many
 * times in a row. */
static __thread const ProtobufCEnumDescriptor *prefix_desc;
static __thread char prefix_text[128];
static __thread size_t prefix_len;

bool kc_enum_json_name(const ProtobufCEnumDescriptor *desc, int value, char *out, size_t outlen)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	const char *name;
	size_t i;

	if (!v || !outlen)
		return false;
	if (prefix_desc != desc) {
		enum_prefix(desc, prefix_text, sizeof(prefix_text));
		prefix_len = strlen(prefix_text);
		prefix_desc = desc;
	}
	name = v->name;
	if (strncmp(name, prefix_text, prefix_len) == 0 && name[prefix_len])
		name += prefix_len;
	for (i = 0; name[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
	return true;
}

static bool enum_from_name(const ProtobufCEnumDescriptor *desc, const char *s, int *out, bool any_case)
{
	int (*cmp)(const char *, const char *) = any_case ? strcasecmp : strcmp;
	char name[128];
	unsigned i;

	for (i = 0; i < desc->n_values; i++) {
		if (cmp(desc->values[i].name, s) == 0 ||
		    (kc_enum_json_name(desc, desc->values[i].value, name, sizeof(name)) && cmp(name, s) == 0)) {
			*out = desc->values[i].value;
			return true;
		}
	}
	return false;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
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

/* Decodes standard or URL-safe base64, padding optional. */
static int b64_decode(const char *s, size_t len, ProtobufCBinaryData *out)
{
	uint8_t *d;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	size_t i;

	while (len && s[len - 1] == '=')
		len--;
	d = malloc(len * 3 / 4 + 1);
	if (!d)
		return KC_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		int v = b64_val(s[i]);

		if (v < 0) {
			free(d);
			return KC_ERR_INVALID;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits >= 6) {
		free(d);
		return KC_ERR_INVALID;
	}
	out->data = d;
	out->len = o;
	return 0;
}

static int b64_put(kc_buf *out, const uint8_t *p, size_t n)
{
	size_t i;

	kc_buf_putc(out, '"');
	for (i = 0; i + 2 < n; i += 3) {
		char q[4] = {b64[p[i] >> 2], b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
		             b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], b64[p[i + 2] & 63]};
		kc_buf_append(out, q, 4);
	}
	if (n - i == 1) {
		char q[4] = {b64[p[i] >> 2], b64[(p[i] & 3) << 4], '=', '='};
		kc_buf_append(out, q, 4);
	} else if (n - i == 2) {
		char q[4] = {b64[p[i] >> 2], b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)], b64[(p[i + 1] & 15) << 2], '='};
		kc_buf_append(out, q, 4);
	}
	return kc_buf_putc(out, '"');
}

/* ---- input: setting one value ---- */

/* A scalar parsed from JSON or from text, before it is stored. */
typedef struct scalar {
	union {
		int64_t i;
		uint64_t u;
		double d;
		bool b;
	} v;
	char *s;                /* STRING: malloc'd */
	ProtobufCBinaryData bin; /* BYTES: malloc'd */
} scalar;

static int parse_int_text(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return KC_ERR_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return KC_ERR_INVALID;
	*out = v;
	return 0;
}

static int parse_uint_text(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return KC_ERR_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return KC_ERR_INVALID;
	*out = v;
	return 0;
}

static int parse_double_text(const char *s, double *out)
{
	char *end;
	double v;

	if (strcmp(s, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (strcmp(s, "Infinity") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (strcmp(s, "-Infinity") == 0) {
		*out = -INFINITY;
		return 0;
	}
	if (!*s || isspace((unsigned char)*s))
		return KC_ERR_INVALID;
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno == ERANGE || isnan(v) || isinf(v))
		return KC_ERR_INVALID;
	*out = v;
	return 0;
}

static const char *type_word(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return "a 32-bit integer";
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return "an unsigned 32-bit integer";
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return "a 64-bit integer";
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return "an unsigned 64-bit integer";
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return "a number";
	case PROTOBUF_C_TYPE_BOOL:
		return "true or false";
	case PROTOBUF_C_TYPE_ENUM:
		return "one of the enum's names";
	case PROTOBUF_C_TYPE_STRING:
		return "a string";
	case PROTOBUF_C_TYPE_BYTES:
		return "base64 text";
	case PROTOBUF_C_TYPE_MESSAGE:
		return "an object";
	}
	return "a value";
}

/* Converts text (a path variable, a query value, or a JSON string where a
 * number is allowed as one) to a scalar of f's type. */
static int scalar_from_text(const ProtobufCFieldDescriptor *f, const char *s, scalar *out)
{
	int enum_v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return parse_int_text(s, INT32_MIN, INT32_MAX, &out->v.i);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return parse_int_text(s, INT64_MIN, INT64_MAX, &out->v.i);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return parse_uint_text(s, UINT32_MAX, &out->v.u);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return parse_uint_text(s, UINT64_MAX, &out->v.u);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return parse_double_text(s, &out->v.d);
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
			out->v.b = true;
		else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
			out->v.b = false;
		else
			return KC_ERR_INVALID;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (enum_from_name(f->descriptor, s, &enum_v, false)) {
			out->v.i = enum_v;
			return 0;
		}
		if (parse_int_text(s, INT32_MIN, INT32_MAX, &out->v.i) == 0 &&
		    protobuf_c_enum_descriptor_get_value(f->descriptor, (int)out->v.i))
			return 0;
		return KC_ERR_INVALID;
	case PROTOBUF_C_TYPE_STRING:
		if (!kc_utf8_valid(s, strlen(s)))
			return KC_ERR_INVALID;
		out->s = strdup(s);
		return out->s ? 0 : KC_ERR_NOMEM;
	case PROTOBUF_C_TYPE_BYTES:
		return b64_decode(s, strlen(s), &out->bin);
	case PROTOBUF_C_TYPE_MESSAGE:
		return KC_ERR_INVALID;
	}
	return KC_ERR_INVALID;
}

/* Stores a scalar at `p` (a field's slot or an array element). Takes
 * ownership of out->s / out->bin. */
static void scalar_store(const ProtobufCFieldDescriptor *f, void *p, scalar *sc)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		*(int32_t *)p = (int32_t)sc->v.i;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)p = sc->v.i;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = (uint32_t)sc->v.u;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = sc->v.u;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)p = (float)sc->v.d;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)p = sc->v.d;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = sc->v.b;
		break;
	case PROTOBUF_C_TYPE_STRING: {
		char **slot = p;

		if (*slot && *slot != (const char *)f->default_value && *slot != protobuf_c_empty_string)
			free(*slot);
		*slot = sc->s;
		sc->s = NULL;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *slot = p;
		const ProtobufCBinaryData *def = f->default_value;

		if (slot->data && (!def || slot->data != def->data))
			free(slot->data);
		*slot = sc->bin;
		sc->bin.data = NULL;
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
}

/* Makes the slot for one more element of repeated field f; *slot receives
 * its address (zeroed). */
static int repeated_grow(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, void **slot)
{
	size_t *n = MEMBER(msg, f->quantifier_offset);
	void **arr = MEMBER(msg, f->offset);
	size_t es = elem_size(f->type);
	char *na;

	if (*n >= (1u << 20))
		return KC_ERR_TOO_LARGE;
	na = realloc(*arr, (*n + 1) * es);
	if (!na)
		return KC_ERR_NOMEM;
	*arr = na;
	memset(na + *n * es, 0, es);
	*slot = na + *n * es;
	(*n)++;
	return 0;
}

/* Marks a singular field present: has_ flags and oneof cases. Fails when
 * another member of the same oneof is already set. */
static int mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, char *err, size_t errlen)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *c = MEMBER(msg, f->quantifier_offset);

		if (*c && *c != f->id)
			return fail(err, errlen, "field \"%s\": another field of its oneof is set", f->name);
		*c = f->id;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) {
		*(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
	}
	return 0;
}

/* The address of a singular message field's sub-message, made when absent. */
static int submessage(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, ProtobufCMessage **out)
{
	ProtobufCMessage **slot = MEMBER(msg, f->offset);

	if (!*slot) {
		*slot = kc_message_new(f->descriptor);
		if (!*slot)
			return KC_ERR_NOMEM;
	}
	*out = *slot;
	return 0;
}

static void scalar_clear(scalar *sc)
{
	free(sc->s);
	free(sc->bin.data);
}

/* ---- input: JSON ---- */

static int json_to_fields(ProtobufCMessage *msg, json_t *obj, int depth, unsigned flags, char *err, size_t errlen);

/* Whether d is a whole number no larger than `max` in magnitude (NaN is
 * not). Without floor(): libm stays off the link line of programs that
 * link libkcclient.a. */
static bool is_integral(double d, double max)
{
	return fabs(d) <= max && d == (double)(int64_t)d;
}

/* A scalar of f's type from a JSON value (not null, not object/array). */
static int scalar_from_json(const ProtobufCFieldDescriptor *f, json_t *v, scalar *sc, unsigned flags, char *err,
                            size_t errlen)
{
	int enum_v;
	int rc;

	memset(sc, 0, sizeof(*sc));
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			break;
		sc->s = strndup(json_string_value(v), json_string_length(v));
		return sc->s ? 0 : KC_ERR_NOMEM;
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(v))
			break;
		rc = b64_decode(json_string_value(v), json_string_length(v), &sc->bin);
		if (rc == KC_ERR_INVALID)
			return fail(err, errlen, "field \"%s\": expected base64 text", f->name);
		return rc;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			break;
		sc->v.b = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (json_is_string(v)) {
			if (scalar_from_text(f, json_string_value(v), sc) == 0)
				return 0;
			if ((flags & KC_JSON_LENIENT_ENUMS) && enum_from_name(f->descriptor, json_string_value(v),
			                                                       &enum_v, true)) {
				sc->v.i = enum_v;
				return 0;
			}
			if ((flags & KC_JSON_LENIENT_ENUMS) &&
			    (!json_string_value(v)[0] ||
			     parse_int_text(json_string_value(v), INT32_MIN, INT32_MAX, &sc->v.i) == 0))
				return 0;
			return fail(err, errlen, "field \"%s\": unknown value \"%.64s\"", f->name, json_string_value(v));
		}
		if ((flags & KC_JSON_LENIENT_ENUMS) && json_is_real(v) && is_integral(json_real_value(v), INT32_MAX)) {
			sc->v.i = (int64_t)json_real_value(v);
			return 0;
		}
		if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN && json_integer_value(v) <= INT32_MAX &&
		    ((flags & KC_JSON_LENIENT_ENUMS) ||
		     protobuf_c_enum_descriptor_get_value(f->descriptor, (int)json_integer_value(v)))) {
			sc->v.i = json_integer_value(v);
			return 0;
		}
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (json_is_number(v)) {
			sc->v.d = json_number_value(v);
			if (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(sc->v.d) > 3.4028234663852886e38)
				return fail(err, errlen, "field \"%s\": number out of range", f->name);
			return 0;
		}
		if (json_is_string(v) && parse_double_text(json_string_value(v), &sc->v.d) == 0)
			return 0;
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	default:
		/* Integers: a JSON integer, an integral real, or the decimal text
		 * (proto3 JSON writes 64-bit integers as strings). */
		if (json_is_string(v)) {
			if (scalar_from_text(f, json_string_value(v), sc) == 0)
				return 0;
			break;
		}
		if (json_is_real(v)) {
			double d = json_real_value(v);
			char text[64];

			if (!is_integral(d, 9.2e18))
				break;
			snprintf(text, sizeof(text), "%.0f", d);
			if (scalar_from_text(f, text, sc) == 0)
				return 0;
			return fail(err, errlen, "field \"%s\": number out of range", f->name);
		}
		if (json_is_integer(v)) {
			char text[32];

			snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			if (scalar_from_text(f, text, sc) == 0)
				return 0;
			return fail(err, errlen, "field \"%s\": number out of range", f->name);
		}
		break;
	}
	return fail(err, errlen, "field \"%s\": expected %s", f->name, type_word(f));
}

/* Sets singular message field f (wrapper or not) from JSON value v. */
static int message_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v, ProtobufCMessage **slot,
                             int depth, unsigned flags, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	ProtobufCMessage *sub = *slot;
	int rc;

	(void)msg;
	if (!sub) {
		sub = kc_message_new(d);
		if (!sub)
			return KC_ERR_NOMEM;
		*slot = sub;
	}
	if (kc_is_wrapper(d)) {
		scalar sc;

		rc = scalar_from_json(&d->fields[0], v, &sc, flags, err, errlen);
		if (rc == KC_ERR_INVALID)
			return fail(err, errlen, "field \"%s\": expected %s", f->name, type_word(&d->fields[0]));
		if (rc)
			return rc;
		scalar_store(&d->fields[0], MEMBER(sub, d->fields[0].offset), &sc);
		scalar_clear(&sc);
		return 0;
	}
	if (!json_is_object(v))
		return fail(err, errlen, "field \"%s\": expected an object", f->name);
	return json_to_fields(sub, v, depth + 1, flags, err, errlen);
}

static int element_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v, void *slot, int depth,
                             unsigned flags, char *err, size_t errlen)
{
	scalar sc;
	int rc;

	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return message_from_json(msg, f, v, slot, depth, flags, err, errlen);
	rc = scalar_from_json(f, v, &sc, flags, err, errlen);
	if (rc)
		return rc;
	scalar_store(f, slot, &sc);
	scalar_clear(&sc);
	return 0;
}

static int map_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v, int depth, unsigned flags,
                         char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *e = f->descriptor;
	const char *key;
	json_t *val;
	int rc;

	if (!json_is_object(v))
		return fail(err, errlen, "field \"%s\": expected an object", f->name);
	json_object_foreach(v, key, val)
	{
		ProtobufCMessage **slot;
		ProtobufCMessage *entry;
		scalar sc;

		rc = repeated_grow(msg, f, (void **)&slot);
		if (rc)
			return rc;
		entry = kc_message_new(e);
		if (!entry)
			return KC_ERR_NOMEM;
		*slot = entry;
		memset(&sc, 0, sizeof(sc));
		if (e->fields[0].type == PROTOBUF_C_TYPE_STRING) {
			sc.s = strdup(key);
			if (!sc.s)
				return KC_ERR_NOMEM;
		} else if (scalar_from_text(&e->fields[0], key, &sc)) {
			scalar_clear(&sc);
			return fail(err, errlen, "field \"%s\": bad map key \"%.64s\"", f->name, key);
		}
		scalar_store(&e->fields[0], MEMBER(entry, e->fields[0].offset), &sc);
		scalar_clear(&sc);
		if (json_is_null(val))
			continue;
		rc = element_from_json(entry, &e->fields[1], val, MEMBER(entry, e->fields[1].offset), depth + 1, flags, err,
		                       errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int field_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v, int depth, unsigned flags,
                           char *err, size_t errlen)
{
	int rc;

	/* null means "the default": leave the field as it is. */
	if (json_is_null(v))
		return 0;
	if (is_map_field(msg->descriptor, f))
		return map_from_json(msg, f, v, depth, flags, err, errlen);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t i;
		json_t *item;

		if (!json_is_array(v))
			return fail(err, errlen, "field \"%s\": expected an array", f->name);
		json_array_foreach(v, i, item)
		{
			void *slot;

			if (json_is_null(item))
				return fail(err, errlen, "field \"%s\": null in an array", f->name);
			rc = repeated_grow(msg, f, &slot);
			if (rc)
				return rc;
			rc = element_from_json(msg, f, item, slot, depth, flags, err, errlen);
			if (rc)
				return rc;
		}
		return 0;
	}
	rc = mark_present(msg, f, err, errlen);
	if (rc)
		return rc;
	return element_from_json(msg, f, v, MEMBER(msg, f->offset), depth, flags, err, errlen);
}

static int json_to_fields(ProtobufCMessage *msg, json_t *obj, int depth, unsigned flags, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int rc;

	if (depth > MAX_DEPTH)
		return fail(err, errlen, "JSON nested too deeply");
	json_object_foreach(obj, key, v)
	{
		const ProtobufCFieldDescriptor *f = find_field(msg->descriptor, key, strlen(key));

		if (!f && (flags & KC_JSON_IGNORE_UNKNOWN))
			continue;
		if (!f)
			return fail(err, errlen, "unknown field \"%.64s\"", key);
		rc = field_from_json(msg, f, v, depth, flags, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int kc_json_to_message(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, char *err,
                       size_t errlen)
{
	return kc_json_to_message_ex(msg, json, len, body_field, 0, err, errlen);
}

/*
 * True when the field paths a and b (dotted, each segment a proto or
 * lowerCamelCase name) reach the same field of `d`, or one lies inside the
 * other: "task_id" and "taskId", "task" and "task.id". Unknown names reach
 * nothing.
 */
static bool paths_overlap(const ProtobufCMessageDescriptor *d, const char *a, const char *b)
{
	for (;;) {
		const char *da = strchr(a, '.');
		const char *db = strchr(b, '.');
		const ProtobufCFieldDescriptor *fa = find_field(d, a, da ? (size_t)(da - a) : strlen(a));
		const ProtobufCFieldDescriptor *fb = find_field(d, b, db ? (size_t)(db - b) : strlen(b));

		if (!fa || fa != fb)
			return false;
		if (!da || !db)
			return true;
		if (fa->type != PROTOBUF_C_TYPE_MESSAGE)
			return false;
		d = fa->descriptor;
		a = da + 1;
		b = db + 1;
	}
}

/* The path-bound field `name` overlaps, or NULL. */
static const char *bound_clash(const ProtobufCMessageDescriptor *d, const char *name, const char *const *bound,
                               size_t n_bound)
{
	size_t i;

	for (i = 0; i < n_bound; i++)
		if (paths_overlap(d, name, bound[i]))
			return bound[i];
	return NULL;
}

int kc_json_to_message_ex(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, unsigned flags,
                          char *err, size_t errlen)
{
	return kc_json_to_message2(msg, json, len, body_field, flags, NULL, 0, err, errlen);
}

int kc_json_to_message2(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, unsigned flags,
                        const char *const *bound, size_t n_bound, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	if (!kc_utf8_valid(json, len))
		return fail(err, errlen, "invalid JSON: the body is not valid UTF-8");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return fail(err, errlen, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
	if (!body_field || !*body_field || strcmp(body_field, "*") == 0) {
		const char *key;
		const char *clash = NULL;
		json_t *v;

		if (!json_is_object(root)) {
			rc = fail(err, errlen, "invalid JSON: expected an object");
			goto out;
		}
		json_object_foreach(root, key, v)
		{
			clash = bound_clash(msg->descriptor, key, bound, n_bound);
			if (clash)
				break;
		}
		if (clash)
			rc = fail(err, errlen, "field \"%.64s\" is set by the path; it cannot also be in the body",
			          clash);
		else
			rc = json_to_fields(msg, root, 0, flags, err, errlen);
	} else {
		const ProtobufCFieldDescriptor *f = find_field(msg->descriptor, body_field, strlen(body_field));
		const char *clash = bound_clash(msg->descriptor, body_field, bound, n_bound);

		if (clash)
			rc = fail(err, errlen, "field \"%.64s\" is set by the path; it cannot also be in the body",
			          clash);
		else
			rc = f ? field_from_json(msg, f, root, 0, flags, err, errlen) : KC_ERR_INTERNAL;
	}
out:
	json_decref(root);
	return rc;
}

int kc_json_to_new_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, unsigned flags,
                           ProtobufCMessage **out, char *err, size_t errlen)
{
	ProtobufCMessage *m = kc_message_new(desc);
	int rc;

	if (!m)
		return KC_ERR_NOMEM;
	rc = kc_json_to_message_ex(m, json, len, "*", flags, err, errlen);
	if (rc) {
		kc_message_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* ---- input: text (path variables and query parameters) ---- */

int kc_message_set_text(ProtobufCMessage *msg, const char *path, const char *value, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	const char *dot;
	scalar sc;
	void *slot;
	int rc;
	int depth = 0;

	for (;;) {
		dot = strchr(path, '.');
		f = find_field(msg->descriptor, path, dot ? (size_t)(dot - path) : strlen(path));
		if (!f)
			return fail(err, errlen, "unknown parameter \"%.64s\"", path);
		if (!dot)
			break;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED || ++depth > MAX_DEPTH ||
		    kc_is_wrapper(f->descriptor))
			return fail(err, errlen, "unknown parameter \"%.64s\"", path);
		rc = mark_present(msg, f, err, errlen);
		if (rc)
			return rc;
		rc = submessage(msg, f, &msg);
		if (rc)
			return rc;
		path = dot + 1;
	}
	memset(&sc, 0, sizeof(sc));
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub;

		if (!kc_is_wrapper(d) || f->label == PROTOBUF_C_LABEL_REPEATED)
			return fail(err, errlen, "parameter \"%s\" cannot be given as text", f->name);
		rc = scalar_from_text(&d->fields[0], value, &sc);
		if (rc == KC_ERR_INVALID)
			return fail(err, errlen, "parameter \"%s\": expected %s", f->name, type_word(&d->fields[0]));
		if (rc)
			return rc;
		rc = mark_present(msg, f, err, errlen);
		if (!rc)
			rc = submessage(msg, f, &sub);
		if (!rc)
			scalar_store(&d->fields[0], MEMBER(sub, d->fields[0].offset), &sc);
		scalar_clear(&sc);
		return rc;
	}
	rc = scalar_from_text(f, value, &sc);
	if (rc == KC_ERR_INVALID) {
		scalar_clear(&sc);
		return fail(err, errlen, "parameter \"%s\": expected %s", f->name, type_word(f));
	}
	if (rc)
		return rc;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		rc = repeated_grow(msg, f, &slot);
	} else {
		rc = mark_present(msg, f, err, errlen);
		slot = MEMBER(msg, f->offset);
	}
	if (!rc)
		scalar_store(f, slot, &sc);
	scalar_clear(&sc);
	return rc;
}

/* Decodes a query component into a new string; NULL on a bad escape or NUL. */
static char *query_decode(const char *s, size_t len, int *rc)
{
	char *d = malloc(len + 1);

	*rc = KC_ERR_NOMEM;
	if (!d)
		return NULL;
	if (kc_percent_decode(s, len, d, true) < 0) {
		free(d);
		*rc = KC_ERR_INVALID;
		return NULL;
	}
	*rc = 0;
	return d;
}

int kc_message_set_query(ProtobufCMessage *msg, const char *query, size_t len, char *err, size_t errlen)
{
	return kc_message_set_query2(msg, query, len, NULL, 0, err, errlen);
}

int kc_message_set_query2(ProtobufCMessage *msg, const char *query, size_t len, const char *const *bound,
                          size_t n_bound, char *err, size_t errlen)
{
	size_t i = 0;
	const char *clash;
	int rc = 0;

	while (i < len && !rc) {
		size_t end = i;
		size_t eq;
		char *name;
		char *value;

		while (end < len && query[end] != '&')
			end++;
		eq = i;
		while (eq < end && query[eq] != '=')
			eq++;
		if (end == i) {
			i = end + 1;
			continue;
		}
		name = query_decode(query + i, eq - i, &rc);
		if (!name)
			return rc == KC_ERR_INVALID ? fail(err, errlen, "bad escape in the query string") : rc;
		value = query_decode(query + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0, &rc);
		if (!value) {
			free(name);
			return rc == KC_ERR_INVALID ? fail(err, errlen, "bad escape in the query string") : rc;
		}
		clash = bound_clash(msg->descriptor, name, bound, n_bound);
		if (clash)
			rc = fail(err, errlen, "field \"%.64s\" is set by the path; it cannot also be in the query",
			          clash);
		else
			rc = kc_message_set_text(msg, name, value, err, errlen);
		free(name);
		free(value);
		i = end + 1;
	}
	return rc;
}

/* ---- output ---- */

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

int kc_json_put_string(kc_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
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
		char esc[6];
		size_t n = 2;

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
		kc_buf_add(out, esc, n);
	}
	kc_buf_add(out, s + run, len - run);
	free(fixed);
	return kc_buf_addc(out, '"');
}

/* Decimal digits of v into out (no sign), returning the length. printf is
 * the hot spot of a 100-task list, so integers are written by hand. */
static size_t put_u64(char *out, uint64_t v)
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

static int put_i64(kc_buf *out, int64_t v)
{
	char text[24];
	size_t n = 0;

	if (v < 0) {
		text[n++] = '-';
		n += put_u64(text + n, (uint64_t)0 - (uint64_t)v);
	} else {
		n = put_u64(text, (uint64_t)v);
	}
	return kc_buf_add(out, text, n);
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
	nd = put_u64(digits, r);
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

static int put_double(kc_buf *out, double d, bool is_float, unsigned flags)
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

/*
 * Enum values as ready JSON strings ("\"running\""), made once per enum
 * type: the JSON name of a value never changes, and lists render the same
 * few values hundreds of times. Shared by every loop thread: a lookup reads
 * published slots without a lock; a miss builds under a mutex and
 * publishes the slot last (release), so a reader that sees the descriptor
 * sees its names. The memory lives as long as the process (a few bytes
 * per value of the API's enums).
 */
#define ENUM_CACHE_SLOTS 64

typedef struct enum_json {
	const char *text;
	size_t len;
} enum_json;

static struct {
	_Atomic(const ProtobufCEnumDescriptor *) desc;
	enum_json *names; /* indexed like desc->values */
} enum_cache[ENUM_CACHE_SLOTS];
static pthread_mutex_t enum_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static const enum_json *enum_names(const ProtobufCEnumDescriptor *d)
{
	size_t i;
	size_t k;
	enum_json *names = NULL;

	for (i = 0; i < ENUM_CACHE_SLOTS; i++) {
		const ProtobufCEnumDescriptor *x = atomic_load_explicit(&enum_cache[i].desc, memory_order_acquire);

		if (x == d)
			return enum_cache[i].names;
		if (!x)
			break;
	}
	pthread_mutex_lock(&enum_cache_lock);
	for (i = 0; i < ENUM_CACHE_SLOTS; i++) {
		const ProtobufCEnumDescriptor *x = atomic_load_explicit(&enum_cache[i].desc, memory_order_relaxed);

		if (x == d) {
			names = enum_cache[i].names;
			goto out;
		}
		if (!x)
			break;
	}
	if (i == ENUM_CACHE_SLOTS)
		goto out;
	names = calloc(d->n_values ? d->n_values : 1, sizeof(*names));
	if (!names)
		goto out;
	for (k = 0; k < d->n_values; k++) {
		char name[128];
		char *t;

		if (!kc_enum_json_name(d, d->values[k].value, name, sizeof(name)))
			name[0] = '\0';
		t = malloc(strlen(name) + 3);
		if (!t) {
			while (k)
				free((char *)names[--k].text);
			free(names);
			names = NULL;
			goto out;
		}
		names[k].len = (size_t)sprintf(t, "\"%s\"", name);
		names[k].text = t;
	}
	enum_cache[i].names = names;
	atomic_store_explicit(&enum_cache[i].desc, d, memory_order_release);
out:
	pthread_mutex_unlock(&enum_cache_lock);
	return names;
}

static int value_to_json(const ProtobufCFieldDescriptor *f, const void *p, kc_buf *out, int depth, unsigned flags);
static int fields_to_json(const ProtobufCMessage *msg, kc_buf *out, int depth, unsigned flags);

static int message_to_json(const ProtobufCMessage *m, kc_buf *out, int depth, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (depth > MAX_DEPTH)
		return kc_buf_puts(out, "null");
	if (kc_is_wrapper(d))
		return value_to_json(&d->fields[0], CMEMBER(m, d->fields[0].offset), out, depth + 1, flags);
	return fields_to_json(m, out, depth + 1, flags);
}

static int value_to_json(const ProtobufCFieldDescriptor *f, const void *p, kc_buf *out, int depth, unsigned flags)
{
	char name[128];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return put_i64(out, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return put_i64(out, *(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return put_i64(out, *(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return kc_buf_printf(out, "%" PRIu64, *(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return put_double(out, *(const float *)p, true, flags);
	case PROTOBUF_C_TYPE_DOUBLE:
		return put_double(out, *(const double *)p, false, flags);
	case PROTOBUF_C_TYPE_BOOL:
		return kc_buf_puts(out, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, *(const int32_t *)p);
		const enum_json *names = ev ? enum_names(ed) : NULL;

		if (names)
			return kc_buf_add(out, names[ev - ed->values].text, names[ev - ed->values].len);
	}
		if (kc_enum_json_name(f->descriptor, *(const int32_t *)p, name, sizeof(name))) {
			kc_buf_putc(out, '"');
			kc_buf_puts(out, name);
			return kc_buf_putc(out, '"');
		}
		return kc_buf_printf(out, "%" PRId32, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return s ? kc_json_put_string(out, s, strlen(s)) : kc_buf_puts(out, "\"\"");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;

		return b64_put(out, b->data, b->data ? b->len : 0);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;

		return m ? message_to_json(m, out, depth, flags) : kc_buf_puts(out, "null");
	}
	}
	return kc_buf_puts(out, "null");
}

static int map_key_to_json(const ProtobufCFieldDescriptor *kf, const void *p, kc_buf *out)
{
	kc_buf tmp;
	int rc;

	if (kf->type == PROTOBUF_C_TYPE_STRING)
		return value_to_json(kf, p, out, 0, 0);
	/* Map keys are JSON strings whatever their proto type. */
	kc_buf_init(&tmp, 64);
	value_to_json(kf, p, &tmp, 0, 0);
	kc_buf_putc(out, '"');
	kc_buf_append(out, tmp.data, tmp.len);
	rc = kc_buf_putc(out, '"');
	kc_buf_release(&tmp);
	return rc;
}

static int field_to_json(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, kc_buf *out, int depth,
                         unsigned flags)
{
	const void *p = CMEMBER(msg, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
		const char *arr = *(char *const *)p;
		size_t es = elem_size(f->type);
		bool map = is_map_field(msg->descriptor, f);
		size_t i;

		kc_buf_addc(out, map ? '{' : '[');
		for (i = 0; i < n; i++) {
			if (i)
				kc_buf_addc(out, ',');
			if (map) {
				const ProtobufCMessage *e = *(ProtobufCMessage *const *)(arr + i * es);
				const ProtobufCMessageDescriptor *ed = e->descriptor;

				map_key_to_json(&ed->fields[0], CMEMBER(e, ed->fields[0].offset), out);
				kc_buf_putc(out, ':');
				value_to_json(&ed->fields[1], CMEMBER(e, ed->fields[1].offset), out, depth, flags);
			} else {
				value_to_json(f, arr + i * es, out, depth, flags);
			}
		}
		return kc_buf_addc(out, map ? '}' : ']');
	}
	return value_to_json(f, p, out, depth, flags);
}

/* Whether a singular field is written: see the contract notes in
 * transcode.h. */
static bool field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, unsigned flags)
{
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)CMEMBER(msg, f->quantifier_offset) != f->id)
		return false;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return true;
	if ((flags & KC_JSON_OMIT_ZERO_ENUMS) && f->type == PROTOBUF_C_TYPE_ENUM &&
	    *(const int32_t *)CMEMBER(msg, f->offset) == 0)
		return false;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return true;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(ProtobufCMessage *const *)CMEMBER(msg, f->offset) != NULL;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING)
		return *(const protobuf_c_boolean *)CMEMBER(msg, f->quantifier_offset);
	return true;
}

static int fields_to_json(const ProtobufCMessage *msg, kc_buf *out, int depth, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	bool first = true;
	unsigned i;

	kc_buf_addc(out, '{');
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!field_present(msg, f, flags))
			continue;
		if (!first)
			kc_buf_addc(out, ',');
		first = false;
		kc_buf_addc(out, '"');
		kc_buf_add(out, f->name, strlen(f->name));
		kc_buf_add(out, "\":", 2);
		field_to_json(msg, f, out, depth, flags);
	}
	return kc_buf_addc(out, '}');
}

int kc_message_to_json(const ProtobufCMessage *msg, const char *field, kc_buf *out)
{
	return kc_message_to_json_ex(msg, field, 0, out);
}

int kc_message_to_json_ex(const ProtobufCMessage *msg, const char *field, unsigned flags, kc_buf *out)
{
	if (field && *field) {
		const ProtobufCFieldDescriptor *f = find_field(msg->descriptor, field, strlen(field));

		if (!f)
			return KC_ERR_NOT_FOUND;
		if (!field_present(msg, f, flags))
			return kc_buf_puts(out, "null");
		field_to_json(msg, f, out, 0, flags);
		return out->err;
	}
	message_to_json(msg, out, 0, flags);
	return out->err;
}

int kc_message_to_json_text(const ProtobufCMessage *msg, unsigned flags, char **out)
{
	kc_buf b;
	int rc;

	kc_buf_init(&b, 0);
	rc = kc_message_to_json_ex(msg, NULL, flags, &b);
	if (rc) {
		kc_buf_release(&b);
		return rc;
	}
	*out = kc_buf_steal(&b, NULL);
	return *out ? 0 : KC_ERR_NOMEM;
}
