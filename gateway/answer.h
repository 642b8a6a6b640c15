/*
 * answer.h - kc-server's answers (serialized protobuf messages) as what
 * the gateway sends: JSON of the REST contract, HttpBody's raw bytes, the
 * health check's verdict. Pure functions over bytes; no I/O.
 */
#ifndef KC_GW_ANSWER_H
#define KC_GW_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "transcode/buf.h"

/* Appends the JSON of message `d` in data[0..len) (only its field `field`
 * when that is not empty). 0, KC_ERR_PROTOCOL for bytes that are not such a
 * message, or out's error (KC_ERR_TOO_LARGE past its cap, KC_ERR_NOMEM). */
int kc_gw_answer_json(const ProtobufCMessageDescriptor *d, const char *field, const uint8_t *data, size_t len,
                      kc_buf *out);

/* A google.api.HttpBody: appends its bytes and sets *content_type (malloc'd,
 * NULL when the answer names none). 0, KC_ERR_PROTOCOL or out's error. */
int kc_gw_answer_http_body(const uint8_t *data, size_t len, kc_buf *out, char **content_type);

/* A grpc.health.v1.HealthCheckResponse: whether it says SERVING. 0 or
 * KC_ERR_PROTOCOL. */
int kc_gw_answer_health(const uint8_t *data, size_t len, bool *serving);

#endif /* KC_GW_ANSWER_H */
