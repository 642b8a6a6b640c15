/*
 * router.h - REST routes, generated from the protos' google.api.http
 * annotations, and the matcher that maps a request line onto them.
 *
 * The table (kc_routes, in the generated route_table.c) is data: each row
 * names the HTTP method, the compiled path template, the body and
 * response-body fields, the rpc's gRPC path and its protobuf-c descriptors.
 * No route is written by hand anywhere in the tree; tools/routegen makes the
 * table from //proto:api_descriptor_set.
 *
 * Matching follows the HTTP rule's path-template grammar, restricted to
 * what the API uses: literal segments, `{field}` (one segment) and
 * `{field=**}` (the rest of the path, last only). Every route is also
 * reachable with the `/oauth` prefix (the URL space browser sessions use
 * behind the auth proxy); the match says whether it was there. Identity
 * does not depend on it: it is trusted by listener (handler.c).
 *
 * The matcher is strict on purpose. It refuses, rather than normalises:
 * empty segments (`//`, a trailing slash), dot segments (`.`, `..`, and
 * their percent-encoded forms), a NUL or a bad percent-escape anywhere, an
 * encoded slash inside a single-segment variable, and controls or invalid
 * UTF-8 in a decoded variable. Normalising would let two spellings reach one
 * rpc, and `..` would reach a different one.
 */
#ifndef KC_ROUTER_H
#define KC_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef enum kc_route_segment_kind {
	/* Must equal `text`. */
	KC_SEGMENT_LITERAL,
	/* Binds one segment to the request field `text`. */
	KC_SEGMENT_FIELD,
	/* Binds the rest of the path (one or more segments) to field `text`. */
	KC_SEGMENT_FIELD_REST,
} kc_route_segment_kind;

typedef struct kc_route_segment {
	kc_route_segment_kind kind;
	/* The literal, or the bound field's name (a dotted path for nested
	 * fields, such as "task.id"). */
	const char *text;
} kc_route_segment;

typedef struct kc_route {
	/* "GET", "POST", "PUT", "DELETE", "PATCH" or a custom method. */
	const char *http_method;
	/* The template as written in the proto, for logs and OpenAPI. */
	const char *path_template;
	const kc_route_segment *segments;
	size_t n_segments;
	/* "*" (the whole request), a field name, or "" (no body). */
	const char *body_field;
	/* A response field to send as the body, or "" for the whole response. */
	const char *response_body_field;
	/* The gRPC method path, such as "/kc.v1.TaskService/GetTask". */
	const char *grpc_path;
	const ProtobufCServiceDescriptor *service;
	unsigned method_index;
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	bool server_streaming;
} kc_route;

/* The generated table, in proto declaration order. */
extern const kc_route kc_routes[];
extern const size_t kc_n_routes;

/* Every message type of the API that is a map entry (`map<K, V>` fields
 * are repeated entry messages on the wire). protobuf-c's descriptors do not
 * mark them, so the generator lists them from the descriptor set for the
 * JSON transcoder, which renders such fields as JSON objects. */
extern const ProtobufCMessageDescriptor *const kc_map_entry_types[];
extern const size_t kc_n_map_entry_types;

/* Most path variables one route may bind. */
#define KC_ROUTE_MAX_BINDINGS 8
/* Longest path the matcher looks at, in bytes. */
#define KC_ROUTE_MAX_PATH 4096

typedef struct kc_route_binding {
	/* The field name, from the route table (not owned). */
	const char *field;
	/* The percent-decoded value, NUL-terminated (owned by the match). */
	char *value;
} kc_route_binding;

typedef struct kc_route_match {
	const kc_route *route;
	/* True when the path carried the `/oauth` prefix. */
	bool oauth;
	size_t n_bindings;
	kc_route_binding bindings[KC_ROUTE_MAX_BINDINGS];
} kc_route_match;

/*
 * Matches `method` and `path` (the request target without its query
 * string; not NUL-terminated) against `routes`.
 *
 * Returns 0 and fills *out on a match; the caller releases it with
 * kc_route_match_release(). Otherwise *out holds nothing to release and:
 *   KC_ERR_NOT_FOUND  no route has this path (or the path is malformed);
 *   KC_ERR_METHOD     a route has this path, but not for this method;
 *   KC_ERR_TOO_LARGE  the path is longer than KC_ROUTE_MAX_PATH;
 *   KC_ERR_NOMEM      out of memory.
 * With KC_ERR_METHOD, `allow` (when not NULL) receives the methods the path
 * does accept, comma-separated, for an Allow header.
 */
int kc_route_find(const kc_route *routes, size_t n_routes, const char *method, const char *path, size_t path_len,
                  kc_route_match *out, char *allow, size_t allow_len);

/* Frees the bound values. Safe on a zeroed match. */
void kc_route_match_release(kc_route_match *m);

/* The value bound to `field`, or NULL. */
const char *kc_route_match_get(const kc_route_match *m, const char *field);

#endif /* KC_ROUTER_H */
