/*
 * json_in.c - JSON into a message. Input is parsed by jansson (a
 * well-kept parser that checks UTF-8 and, with JSON_REJECT_DUPLICATES,
 * duplicate keys); the resulting tree is walked against the descriptor.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/kc_error.h"
#include "common/utf8.h"
#include "transcode/transcode_internal.h"

static int json_to_fields(ProtobufCMessage *msg, json_t *obj, int depth, unsigned flags, char *err, size_t errlen);

/* Whether d is a whole number no larger than `max` in magnitude (NaN is
 * not). Without floor(): libm stays off the link line of programs that
 * link libkcclient.a. */
static bool is_integral(double d, double max)
{
	return fabs(d) <= max && d == (double)(int64_t)d;
}

/* What enum_from_json and integer_from_json return when v is not a value
 * of the type at all, so the caller says what was expected. */
#define NOT_THIS 1

/* An enum value from JSON: its name, or its number (with
 * KC_JSON_LENIENT_ENUMS, also an unknown one, an integral real or ""). */
static int enum_from_json(const ProtobufCFieldDescriptor *f, json_t *v, scalar *sc, unsigned flags, char *err,
                          size_t errlen)
{
	int enum_v;

	if (json_is_string(v)) {
		if (kc_tc_scalar_from_text(f, json_string_value(v), sc) == 0)
			return 0;
		if ((flags & KC_JSON_LENIENT_ENUMS) &&
		    kc_tc_enum_from_name(f->descriptor, json_string_value(v), &enum_v, true)) {
			sc->v.i = enum_v;
			return 0;
		}
		if ((flags & KC_JSON_LENIENT_ENUMS) &&
		    (!json_string_value(v)[0] ||
		     kc_tc_parse_int_text(json_string_value(v), INT32_MIN, INT32_MAX, &sc->v.i) == 0))
			return 0;
		return kc_tc_fail(err, errlen, "field \"%s\": unknown value \"%.64s\"", f->name, json_string_value(v));
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
	return NOT_THIS;
}

/* An integer field from JSON: a JSON integer, an integral real, or the
 * decimal text (proto3 JSON writes 64-bit integers as strings). */
static int integer_from_json(const ProtobufCFieldDescriptor *f, json_t *v, scalar *sc, char *err, size_t errlen)
{
	if (json_is_string(v)) {
		if (kc_tc_scalar_from_text(f, json_string_value(v), sc) == 0)
			return 0;
		return NOT_THIS;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		char text[64];

		if (!is_integral(d, 9.2e18))
			return NOT_THIS;
		snprintf(text, sizeof(text), "%.0f", d);
		if (kc_tc_scalar_from_text(f, text, sc) == 0)
			return 0;
		return kc_tc_fail(err, errlen, "field \"%s\": number out of range", f->name);
	}
	if (json_is_integer(v)) {
		char text[32];

		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		if (kc_tc_scalar_from_text(f, text, sc) == 0)
			return 0;
		return kc_tc_fail(err, errlen, "field \"%s\": number out of range", f->name);
	}
	return NOT_THIS;
}

/* A scalar of f's type from a JSON value (not null, not object/array). */
static int scalar_from_json(const ProtobufCFieldDescriptor *f, json_t *v, scalar *sc, unsigned flags, char *err,
                            size_t errlen)
{
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
		rc = kc_tc_b64_decode(json_string_value(v), json_string_length(v), &sc->bin);
		if (rc == KC_ERR_INVALID)
			return kc_tc_fail(err, errlen, "field \"%s\": expected base64 text", f->name);
		return rc;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			break;
		sc->v.b = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		rc = enum_from_json(f, v, sc, flags, err, errlen);
		if (rc != NOT_THIS)
			return rc;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (json_is_number(v)) {
			sc->v.d = json_number_value(v);
			if (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(sc->v.d) > 3.4028234663852886e38)
				return kc_tc_fail(err, errlen, "field \"%s\": number out of range", f->name);
			return 0;
		}
		if (json_is_string(v) && kc_tc_parse_double_text(json_string_value(v), &sc->v.d) == 0)
			return 0;
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	default:
		rc = integer_from_json(f, v, sc, err, errlen);
		if (rc != NOT_THIS)
			return rc;
		break;
	}
	return kc_tc_fail(err, errlen, "field \"%s\": expected %s", f->name, kc_tc_type_word(f));
}

/* Sets singular message field f (wrapper or not) from JSON value v. */
static int message_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v,
                             ProtobufCMessage **slot, int depth, unsigned flags, char *err, size_t errlen)
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
			return kc_tc_fail(err, errlen, "field \"%s\": expected %s", f->name,
			                  kc_tc_type_word(&d->fields[0]));
		if (rc)
			return rc;
		kc_tc_scalar_store(&d->fields[0], MEMBER(sub, d->fields[0].offset), &sc);
		kc_tc_scalar_clear(&sc);
		return 0;
	}
	if (!json_is_object(v))
		return kc_tc_fail(err, errlen, "field \"%s\": expected an object", f->name);
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
	kc_tc_scalar_store(f, slot, &sc);
	kc_tc_scalar_clear(&sc);
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
		return kc_tc_fail(err, errlen, "field \"%s\": expected an object", f->name);
	json_object_foreach(v, key, val)
	{
		ProtobufCMessage **slot;
		ProtobufCMessage *entry;
		scalar sc;

		rc = kc_tc_repeated_grow(msg, f, (void **)&slot);
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
		} else if (kc_tc_scalar_from_text(&e->fields[0], key, &sc)) {
			kc_tc_scalar_clear(&sc);
			return kc_tc_fail(err, errlen, "field \"%s\": bad map key \"%.64s\"", f->name, key);
		}
		kc_tc_scalar_store(&e->fields[0], MEMBER(entry, e->fields[0].offset), &sc);
		kc_tc_scalar_clear(&sc);
		if (json_is_null(val))
			continue;
		rc = element_from_json(entry, &e->fields[1], val, MEMBER(entry, e->fields[1].offset), depth + 1, flags,
		                       err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int field_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *v, int depth,
                           unsigned flags, char *err, size_t errlen)
{
	int rc;

	/* null means "the default": leave the field as it is. */
	if (json_is_null(v))
		return 0;
	if (kc_tc_is_map_field(msg->descriptor, f))
		return map_from_json(msg, f, v, depth, flags, err, errlen);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t i;
		json_t *item;

		if (!json_is_array(v))
			return kc_tc_fail(err, errlen, "field \"%s\": expected an array", f->name);
		json_array_foreach(v, i, item)
		{
			void *slot;

			if (json_is_null(item))
				return kc_tc_fail(err, errlen, "field \"%s\": null in an array", f->name);
			rc = kc_tc_repeated_grow(msg, f, &slot);
			if (rc)
				return rc;
			rc = element_from_json(msg, f, item, slot, depth, flags, err, errlen);
			if (rc)
				return rc;
		}
		return 0;
	}
	rc = kc_tc_mark_present(msg, f, err, errlen);
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
		return kc_tc_fail(err, errlen, "JSON nested too deeply");
	json_object_foreach(obj, key, v)
	{
		const ProtobufCFieldDescriptor *f = kc_tc_find_field(msg->descriptor, key, strlen(key));

		if (!f && (flags & KC_JSON_IGNORE_UNKNOWN))
			continue;
		if (!f)
			return kc_tc_fail(err, errlen, "unknown field \"%.64s\"", key);
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
		return kc_tc_fail(err, errlen, "invalid JSON: the body is not valid UTF-8");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return kc_tc_fail(err, errlen, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
		                  jerr.column);
	if (!body_field || !*body_field || strcmp(body_field, "*") == 0) {
		const char *key;
		const char *clash = NULL;
		json_t *v;

		if (!json_is_object(root)) {
			rc = kc_tc_fail(err, errlen, "invalid JSON: expected an object");
			goto out;
		}
		json_object_foreach(root, key, v)
		{
			clash = kc_tc_bound_clash(msg->descriptor, key, bound, n_bound);
			if (clash)
				break;
		}
		if (clash)
			rc = kc_tc_fail(err, errlen,
			                "field \"%.64s\" is set by the path; it cannot also be in the body", clash);
		else
			rc = json_to_fields(msg, root, 0, flags, err, errlen);
	} else {
		const ProtobufCFieldDescriptor *f = kc_tc_find_field(msg->descriptor, body_field, strlen(body_field));
		const char *clash = kc_tc_bound_clash(msg->descriptor, body_field, bound, n_bound);

		if (clash)
			rc = kc_tc_fail(err, errlen,
			                "field \"%.64s\" is set by the path; it cannot also be in the body", clash);
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
