/*
 * transcode.h - JSON <-> protobuf-c messages, generic over descriptors:
 * the one implementation of the REST JSON mapping, used by both ends.
 *
 * kc-gateway never names a message type: the route table hands it an
 * input and an output ProtobufCMessageDescriptor and this module fills the
 * one from a request (path variables, query parameters, JSON body) and
 * renders the other as JSON. libkcclient does the reverse (requests out,
 * answers in) with the KC_JSON_CLIENT flags below. No I/O: bytes and
 * messages in, bytes out, so it is unit-tested and fuzzed on its own.
 *
 * The JSON follows proto3's mapping with the field names as written in the
 * proto (snake_case), except where the REST contract (DESIGN §3), which
 * existing scripts read, says otherwise:
 *   - enums are the value's name, lower-case, without the enum's type
 *     prefix (TASK_STATUS_RUNNING -> "running", SERVING -> "serving"); the
 *     full name and the number are accepted on input too;
 *   - every field is written even when it holds its default ("" , 0,
 *     false, []), because the seed API always sent them and scripts test
 *     them; only unset message fields (and unset wrappers) are left out;
 *   - 64-bit integers are JSON numbers, not strings, because scripts do
 *     arithmetic on them with jq (both forms are accepted on input).
 * Wrapper types (google.protobuf.DoubleValue, ...) are their plain value;
 * maps are objects; bytes are base64.
 *
 * Maps: protobuf-c does not flag map-entry messages, so a repeated message
 * field is a map when its type has the shape protoc gives map entries: a
 * message named `<Something>Entry`, nested inside the field's own message,
 * with exactly the fields key = 1 and value = 2.
 */
#ifndef KC_TRANSCODE_TRANSCODE_H
#define KC_TRANSCODE_TRANSCODE_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "transcode/buf.h"

/*
 * Where a caller bends the mapping (the gateway passes 0; libkcclient, a
 * reader of answers that newer servers may extend, passes KC_JSON_CLIENT):
 */
enum {
	/* Reading: members that name no field are skipped, not refused. */
	KC_JSON_IGNORE_UNKNOWN = 1u << 0,
	/* Reading: enum names in any case, "" for 0, and numbers (or their
	 * text) this build has no value for are kept as they are. */
	KC_JSON_LENIENT_ENUMS = 1u << 1,
	/* Writing: singular enums at 0 are left out (the contract has no name
	 * for "unspecified"). */
	KC_JSON_OMIT_ZERO_ENUMS = 1u << 2,
	/* Writing: doubles (and floats) as the shortest "%.Ng" that reads back,
	 * integral ones with ".0" so they stay JSON reals, non-finite as null. */
	KC_JSON_REAL_POINT = 1u << 3,
};
#define KC_JSON_CLIENT (KC_JSON_IGNORE_UNKNOWN | KC_JSON_LENIENT_ENUMS | KC_JSON_OMIT_ZERO_ENUMS | KC_JSON_REAL_POINT)

/* A new message of type `desc` with its defaults, or NULL when out of
 * memory. Free with kc_message_free. */
ProtobufCMessage *kc_message_new(const ProtobufCMessageDescriptor *desc);
/* Frees a message made by kc_message_new or unpacked with the default
 * allocator, and everything it holds. NULL is a no-op. */
void kc_message_free(ProtobufCMessage *msg);

/*
 * Merges the JSON in `json[0..len)` into `msg`. `body_field` is the
 * route's body rule: "*" for the whole message (the JSON must be an
 * object), or a field name whose value the JSON is. Unknown fields,
 * duplicate keys, wrong types, out-of-range numbers, invalid UTF-8 and
 * malformed JSON give KC_ERR_INVALID with a message for the client in
 * `err` (such as `field "prompt": expected a string`); KC_ERR_NOMEM when out
 * of memory. On error `msg` may hold part of the input; free it.
 */
int kc_json_to_message(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, char *err,
                       size_t errlen);
/* The same with KC_JSON_* `flags`. */
int kc_json_to_message_ex(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, unsigned flags,
                          char *err, size_t errlen);

/*
 * The same, for a request some of whose fields the URL path already set:
 * `bound[0..n_bound)` are those fields' paths (as kc_message_set_text
 * takes them). A body member that names one of them, or a message on the
 * way to one, is KC_ERR_INVALID ("field \"task_id\" is set by the path; it
 * cannot also be in the body"): the path decides which resource a request
 * acts on, and a body must not quietly point it at another.
 */
int kc_json_to_message2(ProtobufCMessage *msg, const char *json, size_t len, const char *body_field, unsigned flags,
                        const char *const *bound, size_t n_bound, char *err, size_t errlen);

/* Decodes a JSON object into a new message of type `desc` (free with
 * kc_message_free). Errors as kc_json_to_message; *out is untouched on
 * failure. */
int kc_json_to_new_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, unsigned flags,
                           ProtobufCMessage **out, char *err, size_t errlen);

/*
 * Sets the field at `path` (a field name, or dotted names through nested
 * messages: "task.id") from its text form, as path variables and query
 * parameters carry it. Repeated fields get the value appended. Errors as
 * kc_json_to_message (an unknown field is KC_ERR_INVALID).
 */
int kc_message_set_text(ProtobufCMessage *msg, const char *path, const char *value, char *err, size_t errlen);

/*
 * Applies a URL query string (without the '?'): each `name=value` pair is
 * percent-decoded ('+' is a space) and set with kc_message_set_text.
 * Errors as kc_message_set_text; a bad escape is KC_ERR_INVALID.
 */
int kc_message_set_query(ProtobufCMessage *msg, const char *query, size_t len, char *err, size_t errlen);
/* The same, refusing (KC_ERR_INVALID, the field named) a parameter that
 * names one of the path-bound fields `bound[0..n_bound)`, in any spelling
 * the parameter names accept (proto or lowerCamelCase name). */
int kc_message_set_query2(ProtobufCMessage *msg, const char *query, size_t len, const char *const *bound,
                          size_t n_bound, char *err, size_t errlen);

/*
 * Appends `msg` as JSON to `out`. With `field` not NULL and not "", only
 * that field's value is written (a route's response_body). Returns 0, or
 * the buffer's error (KC_ERR_TOO_LARGE, KC_ERR_NOMEM); KC_ERR_NOT_FOUND for
 * an unknown `field`.
 */
int kc_message_to_json(const ProtobufCMessage *msg, const char *field, kc_buf *out);
/* The same with KC_JSON_* `flags`. */
int kc_message_to_json_ex(const ProtobufCMessage *msg, const char *field, unsigned flags, kc_buf *out);

/* `msg` as JSON text, NUL-terminated, in *out (the caller frees it).
 * 0 or KC_ERR_NOMEM; *out is untouched on failure. */
int kc_message_to_json_text(const ProtobufCMessage *msg, unsigned flags, char **out);

/* The JSON name of enum value `value`, written to `out` (lower-case, type
 * prefix removed). False when `value` is not one of the enum's values. */
bool kc_enum_json_name(const ProtobufCEnumDescriptor *desc, int value, char *out, size_t outlen);

/* True when `desc` is google.protobuf.<Type>Value. */
bool kc_is_wrapper(const ProtobufCMessageDescriptor *desc);

/* Appends `s[0..len)` as a JSON string literal (quotes included);
 * ill-formed UTF-8 is replaced by U+FFFD. */
int kc_json_put_string(kc_buf *out, const char *s, size_t len);

#endif /* KC_TRANSCODE_TRANSCODE_H */
