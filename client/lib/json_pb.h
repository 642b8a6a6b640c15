/*
 * json_pb.h - libkcclient's use of the shared REST JSON codec
 * (transcode/transcode.h, the one kc-gateway speaks), with the client's
 * settings: KC_JSON_CLIENT (unknown members skipped, enums read leniently,
 * zero enums left out, doubles with a ".0") and a server's JSON that does
 * not fit the message reported as KC_ERR_PROTOCOL, not KC_ERR_INVALID (it
 * is the answer that is wrong, not the caller's input).
 */
#ifndef KC_CLIENT_JSON_PB_H
#define KC_CLIENT_JSON_PB_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Compact JSON text of `msg` (caller frees), fields in descriptor order;
 * NULL when out of memory. */
char *kci_pb_to_json_text(const ProtobufCMessage *msg);

/* Decodes a JSON answer into a new message of type `desc` (free with
 * protobuf_c_message_free_unpacked(msg, NULL)). KC_ERR_PROTOCOL with a
 * reason in err when the JSON does not fit; *out untouched on failure. */
int kci_json_buf_to_pb(const char *buf, size_t len, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       char *err, size_t errlen);

#endif
