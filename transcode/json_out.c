/*
 * json_out.c - a message out as JSON, walking its descriptor; the values
 * themselves go through the writer (json_writer.c).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/kc_error.h"
#include "transcode/transcode_internal.h"

static int value_to_json(const ProtobufCFieldDescriptor *f, const void *p, kc_buf *out, int depth, unsigned flags);
static int fields_to_json(const ProtobufCMessage *msg, kc_buf *out, int depth, unsigned flags);

static int message_to_json(const ProtobufCMessage *m, kc_buf *out, int depth, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (depth > MAX_DEPTH)
		return kc_buf_puts(out, "null");
	if (kc_tc_is_wrapper(d))
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
		return kc_tc_put_i64(out, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return kc_tc_put_i64(out, *(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return kc_tc_put_i64(out, *(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return kc_buf_printf(out, "%" PRIu64, *(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return kc_tc_put_double(out, *(const float *)p, true, flags);
	case PROTOBUF_C_TYPE_DOUBLE:
		return kc_tc_put_double(out, *(const double *)p, false, flags);
	case PROTOBUF_C_TYPE_BOOL:
		return kc_buf_puts(out, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, *(const int32_t *)p);
		const kc_tc_enum_json *names = ev ? kc_tc_enum_names(ed) : NULL;

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

		return kc_tc_b64_put(out, b->data, b->data ? b->len : 0);
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
		size_t es = kc_tc_elem_size(f->type);
		bool map = kc_tc_is_map_field(msg->descriptor, f);
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
		const ProtobufCFieldDescriptor *f = kc_tc_find_field(msg->descriptor, field, strlen(field));

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
