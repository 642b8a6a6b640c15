/*
 * query_in.c - text into a message's fields: path variables
 * (kc_message_set_text) and query parameters (kc_message_set_query[2]),
 * and the scalar setters JSON input shares (parse, store, grow a repeated
 * field, mark a field present).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/kc_error.h"
#include "common/percent.h"
#include "common/utf8.h"
#include "transcode/transcode_internal.h"

/* Decodes standard or URL-safe base64, padding optional. */
int kc_tc_b64_decode(const char *s, size_t len, ProtobufCBinaryData *out)
{
	uint8_t *d = malloc(KC_BASE64_DECODED_MAX(len));
	size_t n;

	if (!d)
		return KC_ERR_NOMEM;
	if (kc_base64_decode(s, len, d, &n) != 0) {
		free(d);
		return KC_ERR_INVALID;
	}
	out->data = d;
	out->len = n;
	return 0;
}

int kc_tc_parse_int_text(const char *s, int64_t min, int64_t max, int64_t *out)
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

static int kc_tc_parse_uint_text(const char *s, uint64_t max, uint64_t *out)
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

int kc_tc_parse_double_text(const char *s, double *out)
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

const char *kc_tc_type_word(const ProtobufCFieldDescriptor *f)
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
int kc_tc_scalar_from_text(const ProtobufCFieldDescriptor *f, const char *s, scalar *out)
{
	int enum_v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return kc_tc_parse_int_text(s, INT32_MIN, INT32_MAX, &out->v.i);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return kc_tc_parse_int_text(s, INT64_MIN, INT64_MAX, &out->v.i);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return kc_tc_parse_uint_text(s, UINT32_MAX, &out->v.u);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return kc_tc_parse_uint_text(s, UINT64_MAX, &out->v.u);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return kc_tc_parse_double_text(s, &out->v.d);
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
			out->v.b = true;
		else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
			out->v.b = false;
		else
			return KC_ERR_INVALID;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (kc_tc_enum_from_name(f->descriptor, s, &enum_v, false)) {
			out->v.i = enum_v;
			return 0;
		}
		if (kc_tc_parse_int_text(s, INT32_MIN, INT32_MAX, &out->v.i) == 0 &&
		    protobuf_c_enum_descriptor_get_value(f->descriptor, (int)out->v.i))
			return 0;
		return KC_ERR_INVALID;
	case PROTOBUF_C_TYPE_STRING:
		if (!kc_utf8_valid(s, strlen(s)))
			return KC_ERR_INVALID;
		out->s = strdup(s);
		return out->s ? 0 : KC_ERR_NOMEM;
	case PROTOBUF_C_TYPE_BYTES:
		return kc_tc_b64_decode(s, strlen(s), &out->bin);
	case PROTOBUF_C_TYPE_MESSAGE:
		return KC_ERR_INVALID;
	}
	return KC_ERR_INVALID;
}

/* Stores a scalar at `p` (a field's slot or an array element). Takes
 * ownership of out->s / out->bin. */
void kc_tc_scalar_store(const ProtobufCFieldDescriptor *f, void *p, scalar *sc)
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
int kc_tc_repeated_grow(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, void **slot)
{
	size_t *n = MEMBER(msg, f->quantifier_offset);
	void **arr = MEMBER(msg, f->offset);
	size_t es = kc_tc_elem_size(f->type);
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
int kc_tc_mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, char *err, size_t errlen)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *c = MEMBER(msg, f->quantifier_offset);

		if (*c && *c != f->id)
			return kc_tc_fail(err, errlen, "field \"%s\": another field of its oneof is set", f->name);
		*c = f->id;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING &&
	           f->type != PROTOBUF_C_TYPE_MESSAGE) {
		*(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
	}
	return 0;
}

/* The address of a singular message field's sub-message, made when absent. */
int kc_tc_submessage(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, ProtobufCMessage **out)
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

void kc_tc_scalar_clear(scalar *sc)
{
	free(sc->s);
	free(sc->bin.data);
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
		f = kc_tc_find_field(msg->descriptor, path, dot ? (size_t)(dot - path) : strlen(path));
		if (!f)
			return kc_tc_fail(err, errlen, "unknown parameter \"%.64s\"", path);
		if (!dot)
			break;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
		    ++depth > MAX_DEPTH || kc_is_wrapper(f->descriptor))
			return kc_tc_fail(err, errlen, "unknown parameter \"%.64s\"", path);
		rc = kc_tc_mark_present(msg, f, err, errlen);
		if (rc)
			return rc;
		rc = kc_tc_submessage(msg, f, &msg);
		if (rc)
			return rc;
		path = dot + 1;
	}
	memset(&sc, 0, sizeof(sc));
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub;

		if (!kc_is_wrapper(d) || f->label == PROTOBUF_C_LABEL_REPEATED)
			return kc_tc_fail(err, errlen, "parameter \"%s\" cannot be given as text", f->name);
		rc = kc_tc_scalar_from_text(&d->fields[0], value, &sc);
		if (rc == KC_ERR_INVALID)
			return kc_tc_fail(err, errlen, "parameter \"%s\": expected %s", f->name,
			                  kc_tc_type_word(&d->fields[0]));
		if (rc)
			return rc;
		rc = kc_tc_mark_present(msg, f, err, errlen);
		if (!rc)
			rc = kc_tc_submessage(msg, f, &sub);
		if (!rc)
			kc_tc_scalar_store(&d->fields[0], MEMBER(sub, d->fields[0].offset), &sc);
		kc_tc_scalar_clear(&sc);
		return rc;
	}
	rc = kc_tc_scalar_from_text(f, value, &sc);
	if (rc == KC_ERR_INVALID) {
		kc_tc_scalar_clear(&sc);
		return kc_tc_fail(err, errlen, "parameter \"%s\": expected %s", f->name, kc_tc_type_word(f));
	}
	if (rc)
		return rc;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		rc = kc_tc_repeated_grow(msg, f, &slot);
	} else {
		rc = kc_tc_mark_present(msg, f, err, errlen);
		slot = MEMBER(msg, f->offset);
	}
	if (!rc)
		kc_tc_scalar_store(f, slot, &sc);
	kc_tc_scalar_clear(&sc);
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
			return rc == KC_ERR_INVALID ? kc_tc_fail(err, errlen, "bad escape in the query string") : rc;
		value = query_decode(query + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0, &rc);
		if (!value) {
			free(name);
			return rc == KC_ERR_INVALID ? kc_tc_fail(err, errlen, "bad escape in the query string") : rc;
		}
		clash = kc_tc_bound_clash(msg->descriptor, name, bound, n_bound);
		if (clash)
			rc = kc_tc_fail(err, errlen,
			                "field \"%.64s\" is set by the path; it cannot also be in the query", clash);
		else
			rc = kc_message_set_text(msg, name, value, err, errlen);
		free(name);
		free(value);
		i = end + 1;
	}
	return rc;
}
