/*
 * json_pb.h - the REST API's JSON for any protobuf-c message, both ways,
 * driven by the message descriptors (no per-message code).
 *
 * The mapping is the one kc-gateway speaks (proto/kc/v1/task.proto):
 * snake_case proto field names; enums as their value name, lower case,
 * without the enum's prefix (TASK_STATUS_RUNNING -> "running"); doubles as
 * JSON numbers (float Unix seconds); google.protobuf wrappers as their plain
 * value, absent when unset; maps as objects; a oneof as its one set member.
 * Encoding writes every scalar, even at its default, except enums at 0
 * (there is no name for "unspecified" in the contract) and bytes.
 * Decoding ignores unknown members (servers may add fields), accepts null
 * as "absent", enums by name in any case or by number, 64-bit integers as
 * numbers or strings, and refuses wrong types and nesting past 32 levels.
 */
#ifndef KC_CLIENT_JSON_PB_H
#define KC_CLIENT_JSON_PB_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object for `msg`; NULL when out of memory. */
json_t *kci_pb_to_json(const ProtobufCMessage *msg);

/* Decodes a JSON value into a new message of type `desc` (free with
 * protobuf_c_message_free_unpacked(msg, NULL)). KC_ERR_PROTOCOL with a
 * reason in err when the JSON does not fit; *out untouched on failure. */
int kci_json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
                   size_t errlen);

/* The same from bytes. */
int kci_json_buf_to_pb(const char *buf, size_t len, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       char *err, size_t errlen);

/* Compact JSON text of `json` (caller frees), members in insertion order,
 * doubles in their shortest round-trip form; NULL when out of memory. */
char *kci_json_dumps(const json_t *json);

/* The lower-case JSON name of an enum value ("running"); "" for 0. */
const char *kci_enum_json_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t buflen);

#endif
