#include "client/lib/json_pb.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kc/error.h"

#define MAX_DEPTH 32

/* ---- enums ----------------------------------------------------------------- */

/* The UPPER_SNAKE prefix of an enum's values: "TaskStatus" -> "TASK_STATUS_". */
static void enum_prefix(const ProtobufCEnumDescriptor *desc, char *buf, size_t buflen)
{
	const char *name = desc->short_name;
	size_t n = 0;
	for (size_t i = 0; name[i] && n + 3 < buflen; i++) {
		if (i > 0 && isupper((unsigned char)name[i]))
			buf[n++] = '_';
		buf[n++] = (char)toupper((unsigned char)name[i]);
	}
	buf[n++] = '_';
	buf[n] = '\0';
}

const char *kci_enum_json_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t buflen)
{
	if (value == 0 || buflen == 0)
		return "";
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	if (!v) {
		snprintf(buf, buflen, "%d", value);
		return buf;
	}
	char prefix[128];
	enum_prefix(desc, prefix, sizeof prefix);
	const char *name = v->name;
	size_t plen = strlen(prefix);
	if (strncmp(name, prefix, plen) == 0)
		name += plen;
	size_t i = 0;
	for (; name[i] && i + 1 < buflen; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
	return buf;
}

static int enum_from_json_name(const ProtobufCEnumDescriptor *desc, const char *s, int *out)
{
	char buf[128];
	for (unsigned i = 0; i < desc->n_values; i++) {
		const ProtobufCEnumValue *v = &desc->values[i];
		const char *n = kci_enum_json_name(desc, v->value, buf, sizeof buf);
		if (strcasecmp(n, s) == 0 || strcasecmp(v->name, s) == 0) {
			*out = v->value;
			return 0;
		}
	}
	if (strcasecmp(s, "unspecified") == 0 || s[0] == '\0') {
		*out = 0;
		return 0;
	}
	return KC_ERR_PROTOCOL;
}

/* ---- encoding ------------------------------------------------------------------ */

static bool is_wrapper(const ProtobufCMessageDescriptor *d)
{
	return strncmp(d->name, "google.protobuf.", 16) == 0 && strlen(d->name) > 21 &&
	       strcmp(d->name + strlen(d->name) - 5, "Value") == 0 && d->n_fields == 1;
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->short_name);
	return d->n_fields == 2 && n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
}

static json_t *msg_to_json(const ProtobufCMessage *msg, int depth);

/* One value at `p` of field `f`; NULL to omit it. */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p, bool in_repeated, int depth)
{
	char buf[128];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		if (v == 0 && !in_repeated)
			return NULL;
		/* A value this library does not know (a newer server) stays a
		 * number, as proto3's JSON mapping writes it, so it reads back. */
		if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
			return json_integer(v);
		return json_string(kci_enum_json_name(f->descriptor, v, buf, sizeof buf));
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES:
		return NULL;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		if (!m)
			return NULL;
		const ProtobufCMessageDescriptor *d = m->descriptor;
		if (is_wrapper(d))
			return value_to_json(&d->fields[0], (const char *)m + d->fields[0].offset, true, depth + 1);
		return msg_to_json(m, depth + 1);
	}
	}
	return NULL;
}

static json_t *msg_to_json(const ProtobufCMessage *msg, int depth)
{
	if (depth > MAX_DEPTH)
		return json_null();
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;
		json_t *v = NULL;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)p;
			bool map = f->type == PROTOBUF_C_TYPE_MESSAGE &&
			           is_map_entry((const ProtobufCMessageDescriptor *)f->descriptor);
			v = map ? json_object() : json_array();
			if (!v)
				goto nomem;
			for (size_t j = 0; j < n; j++) {
				const void *ep = arr + j * type_size(f->type);
				if (map) {
					const ProtobufCMessage *e = *(ProtobufCMessage *const *)ep;
					const ProtobufCMessageDescriptor *ed = e->descriptor;
					const char *key = *(char *const *)((const char *)e + ed->fields[0].offset);
					json_t *ev = value_to_json(
					    &ed->fields[1], (const char *)e + ed->fields[1].offset, true, depth + 1);
					if (ev)
						json_object_set_new(v, key ? key : "", ev);
					continue;
				}
				json_t *ev = value_to_json(f, ep, true, depth);
				if (ev)
					json_array_append_new(v, ev);
			}
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
				if (which != f->id)
					continue;
			}
			v = value_to_json(f, p, false, depth);
		}
		if (v && json_object_set_new(obj, f->name, v) != 0)
			goto nomem;
	}
	return obj;
nomem:
	json_decref(obj);
	return NULL;
}

json_t *kci_pb_to_json(const ProtobufCMessage *msg)
{
	return msg_to_json(msg, 0);
}

/* ---- decoding --------------------------------------------------------------- */

struct dec {
	char *err;
	size_t errlen;
};

static int fail(struct dec *dc, const char *field, const char *why)
{
	if (dc->err && dc->errlen)
		snprintf(dc->err, dc->errlen, "%s: %s", field, why);
	return KC_ERR_PROTOCOL;
}

static int json_to_msg(struct dec *dc, const json_t *j, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                       int depth);

static int int_of(const json_t *j, json_int_t *out)
{
	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		double v = json_real_value(j);
		if (v != v || v < -9.2e18 || v > 9.2e18 || v != (double)(json_int_t)v)
			return -1;
		*out = (json_int_t)v;
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return -1;
		*out = v;
		return 0;
	}
	return -1;
}

/* Decodes one value into `p` (a field slot or an array element). */
static int value_from_json(struct dec *dc, const ProtobufCFieldDescriptor *f, const json_t *j, void *p, int depth)
{
	json_int_t iv;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (int_of(j, &iv) || iv < INT32_MIN || iv > INT32_MAX)
			return fail(dc, f->name, "expected a 32-bit integer");
		*(int32_t *)p = (int32_t)iv;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (int_of(j, &iv) || iv < 0 || iv > UINT32_MAX)
			return fail(dc, f->name, "expected an unsigned 32-bit integer");
		*(uint32_t *)p = (uint32_t)iv;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (int_of(j, &iv))
			return fail(dc, f->name, "expected an integer");
		*(int64_t *)p = iv;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		if (!json_is_number(j))
			return fail(dc, f->name, "expected a number");
		double v = json_number_value(j);
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)v;
		else
			*(double *)p = v;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return fail(dc, f->name, "expected true or false");
		*(protobuf_c_boolean *)p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		int v;
		if (json_is_string(j)) {
			if (enum_from_json_name(f->descriptor, json_string_value(j), &v))
				return fail(dc, f->name, "unknown enum value");
		} else if (int_of(j, &iv) == 0 && iv >= INT32_MIN && iv <= INT32_MAX) {
			v = (int)iv;
		} else {
			return fail(dc, f->name, "expected an enum name");
		}
		*(int *)p = v;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(j))
			return fail(dc, f->name, "expected a string");
		char *s = strdup(json_string_value(j));
		if (!s)
			return KC_ERR_NOMEM;
		char **slot = p;
		if (*slot && *slot != (char *)f->default_value && *slot != protobuf_c_empty_string)
			free(*slot);
		*slot = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(j))
			return fail(dc, f->name, "expected a string");
		ProtobufCBinaryData *b = p;
		size_t n = json_string_length(j);
		uint8_t *data = malloc(n ? n : 1);
		if (!data)
			return KC_ERR_NOMEM;
		memcpy(data, json_string_value(j), n);
		if (b->data && b->data != ((const ProtobufCBinaryData *)f->default_value
		                               ? ((const ProtobufCBinaryData *)f->default_value)->data
		                               : NULL))
			free(b->data);
		b->data = data;
		b->len = n;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		ProtobufCMessage *m = NULL;
		int rc;
		if (is_wrapper(md) && !json_is_object(j)) {
			m = malloc(md->sizeof_message);
			if (!m)
				return KC_ERR_NOMEM;
			md->message_init(m);
			rc = value_from_json(dc, &md->fields[0], j, (char *)m + md->fields[0].offset, depth + 1);
			if (rc) {
				protobuf_c_message_free_unpacked(m, NULL);
				return rc;
			}
		} else {
			rc = json_to_msg(dc, j, md, &m, depth + 1);
			if (rc)
				return rc;
		}
		ProtobufCMessage **slot = p;
		if (*slot)
			protobuf_c_message_free_unpacked(*slot, NULL);
		*slot = m;
		return 0;
	}
	}
	return fail(dc, f->name, "unsupported type");
}

static int repeated_from_json(struct dec *dc, const ProtobufCFieldDescriptor *f, const json_t *j, char *base, int depth)
{
	size_t *count = (size_t *)(base + f->quantifier_offset);
	void **arr = (void **)(base + f->offset);
	size_t es = type_size(f->type);
	bool map =
	    f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry((const ProtobufCMessageDescriptor *)f->descriptor);
	size_t n;
	if (map) {
		if (!json_is_object(j))
			return fail(dc, f->name, "expected an object");
		n = json_object_size(j);
	} else {
		if (!json_is_array(j))
			return fail(dc, f->name, "expected an array");
		n = json_array_size(j);
	}
	if (*arr || *count)
		return fail(dc, f->name, "given twice");
	if (n == 0)
		return 0;
	char *a = calloc(n, es);
	if (!a)
		return KC_ERR_NOMEM;
	*arr = a;
	if (map) {
		const ProtobufCMessageDescriptor *ed = f->descriptor;
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)j, key, val)
		{
			ProtobufCMessage *e = malloc(ed->sizeof_message);
			if (!e)
				return KC_ERR_NOMEM;
			ed->message_init(e);
			((ProtobufCMessage **)a)[*count] = e;
			(*count)++;
			json_t *k = json_string(key);
			if (!k)
				return KC_ERR_NOMEM;
			int rc = value_from_json(dc, &ed->fields[0], k, (char *)e + ed->fields[0].offset, depth + 1);
			json_decref(k);
			if (rc)
				return rc;
			if (!json_is_null(val)) {
				rc = value_from_json(dc, &ed->fields[1], val, (char *)e + ed->fields[1].offset,
				                     depth + 1);
				if (rc)
					return rc;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = value_from_json(dc, f, json_array_get(j, i), a + i * es, depth);
		/* Counted even on failure so free_unpacked frees what was set. */
		(*count)++;
		if (rc)
			return rc;
	}
	return 0;
}

static int json_to_msg(struct dec *dc, const json_t *j, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                       int depth)
{
	if (depth > MAX_DEPTH)
		return fail(dc, d->short_name, "nested too deeply");
	if (!json_is_object(j))
		return fail(dc, d->short_name, "expected an object");
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (!m)
		return KC_ERR_NOMEM;
	d->message_init(m);
	char *base = (char *)m;
	const char *key;
	json_t *val;
	int rc = 0;
	json_object_foreach((json_t *)j, key, val)
	{
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (!f || json_is_null(val))
			continue; /* servers may add fields; null is absent */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rc = repeated_from_json(dc, f, val, base, depth);
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
				if (*which && *which != f->id) {
					rc = fail(dc, f->name, "more than one member of a oneof");
					break;
				}
				*which = f->id;
			}
			rc = value_from_json(dc, f, val, base + f->offset, depth);
		}
		if (rc)
			break;
	}
	if (rc) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	*out = m;
	return 0;
}

int kci_json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
                   size_t errlen)
{
	struct dec dc = {err, errlen};
	return json_to_msg(&dc, json, desc, out, 0);
}

int kci_json_buf_to_pb(const char *buf, size_t len, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		if (err && errlen)
			snprintf(err, errlen, "bad JSON: %s", jerr.text);
		return KC_ERR_PROTOCOL;
	}
	int rc = kci_json_to_pb(j, desc, out, err, errlen);
	json_decref(j);
	return rc;
}

/* ---- serialising ---------------------------------------------------------------- */

/* The shortest "%.Ng" that reads back as the same double, as JavaScript and
 * Python print numbers (95.2, not 95.200000000000003); integral values keep
 * a ".0" so they stay JSON reals. */
static void real_text(double v, char *buf, size_t len)
{
	if (v != v || v - v != 0) {
		snprintf(buf, len, "null"); /* NaN and infinities have no JSON form */
		return;
	}
	for (int p = 15; p <= 17; p++) {
		snprintf(buf, len, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".eEn"))
		strncat(buf, ".0", len - strlen(buf) - 1);
}

static int dump_value(const json_t *j, FILE *f, int depth)
{
	if (depth > MAX_DEPTH + 4)
		return -1;
	if (json_is_object(j)) {
		const char *key;
		json_t *v;
		bool first = true;
		fputc('{', f);
		json_object_foreach((json_t *)j, key, v)
		{
			json_t *k = json_string(key);
			char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
			json_decref(k);
			if (!ks)
				return -1;
			fprintf(f, "%s%s:", first ? "" : ",", ks);
			free(ks);
			first = false;
			if (dump_value(v, f, depth + 1))
				return -1;
		}
		fputc('}', f);
		return 0;
	}
	if (json_is_array(j)) {
		fputc('[', f);
		for (size_t i = 0; i < json_array_size(j); i++) {
			if (i)
				fputc(',', f);
			if (dump_value(json_array_get(j, i), f, depth + 1))
				return -1;
		}
		fputc(']', f);
		return 0;
	}
	if (json_is_real(j)) {
		char buf[64];
		real_text(json_real_value(j), buf, sizeof buf);
		fputs(buf, f);
		return 0;
	}
	char *s = json_dumps(j, JSON_ENCODE_ANY);
	if (!s)
		return -1;
	fputs(s, f);
	free(s);
	return 0;
}

char *kci_json_dumps(const json_t *json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int rc = dump_value(json, f, 0);
	if (fclose(f) != 0 || rc) {
		free(buf);
		return NULL;
	}
	return buf;
}
