/*
 * wrappers.h - google.protobuf wrapper values for the API's optional
 * fields (protoc-c 1.4 has no proto3 `optional`; see README.md).
 */
#ifndef KC_SERVER_WRAPPERS_H
#define KC_SERVER_WRAPPERS_H

#include "google/protobuf/wrappers.pb-c.h"

/* A heap DoubleValue holding `v`, freed with the message it is set in;
 * NULL when out of memory. */
Google__Protobuf__DoubleValue *kc_double_value_new(double v);

#endif /* KC_SERVER_WRAPPERS_H */
