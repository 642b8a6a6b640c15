/*
 * descriptor.c - the transcoder's view of protobuf-c descriptors: making
 * and freeing messages, finding fields by proto or lowerCamelCase name,
 * map and wrapper types, enum JSON names (one cache for input and output),
 * and whether two field paths reach the same field.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/kc_error.h"
#include "transcode/transcode_internal.h"

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

int kc_tc_fail(char *err, size_t errlen, const char *fmt, ...)
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

bool kc_tc_is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
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
	       strcmp(e->fields[0].name, "key") == 0 && e->fields[1].id == 2 &&
	       strcmp(e->fields[1].name, "value") == 0 && e->fields[0].label != PROTOBUF_C_LABEL_REPEATED &&
	       e->fields[1].label != PROTOBUF_C_LABEL_REPEATED;
}

size_t kc_tc_elem_size(ProtobufCType t)
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
const ProtobufCFieldDescriptor *kc_tc_find_field(const ProtobufCMessageDescriptor *d, const char *name, size_t len)
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

/* Writes the JSON name of the enum value named `name` (the value name
 * without the type prefix, lower-case) into out[0..outlen), truncated to
 * fit; returns its length. */
static size_t json_name(const char *prefix, size_t prefix_len, const char *name, char *out, size_t outlen)
{
	size_t i;

	if (strncmp(name, prefix, prefix_len) == 0 && name[prefix_len])
		name += prefix_len;
	for (i = 0; name[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
	return i;
}

/*
 * Enum values as ready JSON strings ("\"running\""), made once per enum
 * type: the JSON name of a value never changes, and lists render the same
 * few values hundreds of times. Shared by every loop thread: a lookup reads
 * published slots without a lock; a miss builds under a mutex and
 * publishes the slot last (release), so a reader that sees the descriptor
 * sees its names. The memory lives as long as the process (a few bytes
 * per value of the API's enums).
 *
 * This is the only cache of enum names: kc_enum_json_name reads it too,
 * so input (enum_from_name) and output share one copy per type.
 */
#define ENUM_CACHE_SLOTS 64

static struct {
	_Atomic(const ProtobufCEnumDescriptor *) desc;
	kc_tc_enum_json *names; /* indexed like desc->values */
} enum_cache[ENUM_CACHE_SLOTS];
static pthread_mutex_t enum_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The names of d's values as JSON strings, in a new array; NULL when
 * memory ran out. */
static kc_tc_enum_json *enum_names_make(const ProtobufCEnumDescriptor *d)
{
	kc_tc_enum_json *names = calloc(d->n_values ? d->n_values : 1, sizeof(*names));
	char prefix[128];
	size_t prefix_len;
	size_t k;

	if (!names)
		return NULL;
	enum_prefix(d, prefix, sizeof(prefix));
	prefix_len = strlen(prefix);
	for (k = 0; k < d->n_values; k++) {
		size_t cap = strlen(d->values[k].name) + 1;
		char *t = malloc(cap + 2);
		size_t n;

		if (!t) {
			while (k)
				free((char *)names[--k].text);
			free(names);
			return NULL;
		}
		t[0] = '"';
		n = json_name(prefix, prefix_len, d->values[k].name, t + 1, cap);
		t[n + 1] = '"';
		t[n + 2] = '\0';
		names[k].text = t;
		names[k].len = n + 2;
	}
	return names;
}

const kc_tc_enum_json *kc_tc_enum_names(const ProtobufCEnumDescriptor *d)
{
	size_t i;
	kc_tc_enum_json *names = NULL;

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
	names = enum_names_make(d);
	if (!names)
		goto out;
	enum_cache[i].names = names;
	atomic_store_explicit(&enum_cache[i].desc, d, memory_order_release);
out:
	pthread_mutex_unlock(&enum_cache_lock);
	return names;
}

bool kc_enum_json_name(const ProtobufCEnumDescriptor *desc, int value, char *out, size_t outlen)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	const kc_tc_enum_json *names;
	char prefix[128];

	if (!v || !outlen)
		return false;
	names = kc_tc_enum_names(desc);
	if (names) {
		const kc_tc_enum_json *e = &names[v - desc->values];
		size_t n = e->len - 2 < outlen - 1 ? e->len - 2 : outlen - 1;

		memcpy(out, e->text + 1, n);
		out[n] = '\0';
		return true;
	}
	/* The cache is full or out of memory: work it out. */
	enum_prefix(desc, prefix, sizeof(prefix));
	json_name(prefix, strlen(prefix), v->name, out, outlen);
	return true;
}

bool kc_tc_enum_from_name(const ProtobufCEnumDescriptor *desc, const char *s, int *out, bool any_case)
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
		const ProtobufCFieldDescriptor *fa = kc_tc_find_field(d, a, da ? (size_t)(da - a) : strlen(a));
		const ProtobufCFieldDescriptor *fb = kc_tc_find_field(d, b, db ? (size_t)(db - b) : strlen(b));

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
const char *kc_tc_bound_clash(const ProtobufCMessageDescriptor *d, const char *name, const char *const *bound,
                              size_t n_bound)
{
	size_t i;

	for (i = 0; i < n_bound; i++)
		if (paths_overlap(d, name, bound[i]))
			return bound[i];
	return NULL;
}
