/*
 * pb_strings.h - refusing gRPC requests whose string fields hold a NUL.
 *
 * protobuf-c unpacks a string field into a NUL-terminated char * and keeps
 * no length, so a prompt "a\0b" reads as "a": the rest would be dropped
 * without a word (REST refuses "\u0000" in its JSON). Nothing after unpacking
 * can tell, so the check reads the wire bytes: it walks the encoded message
 * with the message's descriptor and looks inside every string field, at any
 * depth of nested messages (map entries and repeated fields included).
 */
#ifndef KC_SERVER_PB_STRINGS_H
#define KC_SERVER_PB_STRINGS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* How deep nested messages are followed; deeper is refused. */
#define KC_PB_MAX_DEPTH 32

/* Returns 0 when the `len` bytes at `data`, a message of type `desc`, hold
 * no NUL in any string field; KC_ERR_INVALID otherwise, with a message
 * naming the field ("prompt: NUL byte at offset 1", nested fields as
 * "parent.child"). Encodings it cannot walk (truncated, a group, a bad wire
 * type, nested deeper than KC_PB_MAX_DEPTH) are KC_ERR_INVALID too
 * ("malformed request message"): protobuf-c refuses all but the last, and
 * a string that was not looked at must not get through. Fields the
 * descriptor does not know are skipped, as protobuf-c keeps them aside. */
int kc_pb_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *err,
                        size_t errlen);

#endif /* KC_SERVER_PB_STRINGS_H */
