/*
 * http_rule.h - the google.api.http option of an rpc, read from a
 * descriptor set, for the build-time generators (routegen, openapi_gen).
 *
 * protobuf-c knows nothing of extensions: the option stays in
 * MethodOptions' unknown fields as extension 72295728, length-prefixed, and
 * is parsed here with the generated HttpRule code.
 */
#ifndef KC_TOOLS_HTTP_RULE_H
#define KC_TOOLS_HTTP_RULE_H

#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

/* google.api.http's extension number on MethodOptions. */
#define KC_HTTP_RULE_EXTENSION 72295728u

/* Sets *out to the rpc's first google.api.http rule, or NULL when it has
 * none, and returns 0; the caller frees a rule with
 * google__api__http_rule__free_unpacked(rule, NULL). Returns -1, leaving
 * *out untouched, when the option has the wrong wire type, a bad length or
 * does not parse. */
int kc_http_rule_of(const Google__Protobuf__MethodDescriptorProto *rpc, Google__Api__HttpRule **out);

/* The rule's HTTP method ("GET", "POST", ..., or a custom pattern's kind)
 * and path template, not counting additional_bindings. Returns 0, or -1
 * when the rule names no method or path. */
int kc_http_rule_pattern(const Google__Api__HttpRule *rule, const char **method, const char **path);

#endif /* KC_TOOLS_HTTP_RULE_H */
