/*
 * openapi_gen - the OpenAPI 3.0 document of the REST API, made at build
 * time from the API's FileDescriptorSet (the same input as routegen), and
 * written as a C file that embeds it for kc-gateway's /api/openapi.json.
 *
 *   openapi_gen <descriptor_set.pb> <out.c>
 *
 * Paths and methods come from the google.api.http options (extension
 * 72295728 on MethodOptions, kept by protobuf-c in unknown_fields); schemas
 * from the messages, rendered the way the gateway renders JSON (see
 * transcode/transcode.h): enums as lower-case names without the type prefix,
 * wrappers as plain values, maps as objects, 64-bit integers as numbers.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/file.h"
#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tools/protodesc/http_rule.h"

typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;

static Google__Protobuf__FileDescriptorSet *set;

static void die(const char *msg)
{
	fprintf(stderr, "openapi_gen: %s\n", msg);
	exit(1);
}

/* Finds a message or enum by full name (".kc.v1.Task"). */
static const MessageProto *find_in(const MessageProto *m, const char *prefix, const char *name, const EnumProto **e)
{
	char full[512];
	size_t i;

	snprintf(full, sizeof(full), "%s.%s", prefix, m->name);
	if (strcmp(full, name) == 0)
		return m;
	for (i = 0; i < m->n_enum_type; i++) {
		char en[600];

		snprintf(en, sizeof(en), "%s.%s", full, m->enum_type[i]->name);
		if (e && strcmp(en, name) == 0) {
			*e = m->enum_type[i];
			return NULL;
		}
	}
	for (i = 0; i < m->n_nested_type; i++) {
		const MessageProto *r = find_in(m->nested_type[i], full, name, e);

		if (r || (e && *e))
			return r;
	}
	return NULL;
}

static const MessageProto *find_message(const char *name, const EnumProto **e)
{
	size_t f;
	size_t i;

	if (e)
		*e = NULL;
	for (f = 0; f < set->n_file; f++) {
		char prefix[256];

		snprintf(prefix, sizeof(prefix), ".%s", set->file[f]->package ? set->file[f]->package : "");
		for (i = 0; i < set->file[f]->n_enum_type; i++) {
			char en[512];

			snprintf(en, sizeof(en), "%s.%s", prefix, set->file[f]->enum_type[i]->name);
			if (e && strcmp(en, name) == 0) {
				*e = set->file[f]->enum_type[i];
				return NULL;
			}
		}
		for (i = 0; i < set->file[f]->n_message_type; i++) {
			const MessageProto *m = find_in(set->file[f]->message_type[i], prefix, name, e);

			if (m || (e && *e))
				return m;
		}
	}
	return NULL;
}

static json_t *enum_schema(const EnumProto *e)
{
	json_t *s = json_pack("{s:s}", "type", "string");
	json_t *vals = json_array();
	char prefix[128];
	size_t o = 0;
	size_t i;

	for (i = 0; e->name[i] && o + 3 < sizeof(prefix); i++) {
		unsigned char c = (unsigned char)e->name[i];

		if (i > 0 && isupper(c) &&
		    (islower((unsigned char)e->name[i - 1]) || isdigit((unsigned char)e->name[i - 1]) ||
		     (isupper((unsigned char)e->name[i - 1]) && islower((unsigned char)e->name[i + 1]))))
			prefix[o++] = '_';
		prefix[o++] = (char)toupper(c);
	}
	prefix[o++] = '_';
	prefix[o] = '\0';
	for (i = 0; i < e->n_value; i++) {
		const char *n = e->value[i]->name;
		char low[128];
		size_t j;

		if (strncmp(n, prefix, o) == 0 && n[o])
			n += o;
		for (j = 0; n[j] && j + 1 < sizeof(low); j++)
			low[j] = (char)tolower((unsigned char)n[j]);
		low[j] = '\0';
		json_array_append_new(vals, json_string(low));
	}
	json_object_set_new(s, "enum", vals);
	return s;
}

static json_t *ref(const char *type_name)
{
	char r[512];

	snprintf(r, sizeof(r), "#/components/schemas/%s", type_name + 1);
	return json_pack("{s:s}", "$ref", r);
}

static json_t *scalar_schema(const FieldProto *f, json_t *schemas);

static void add_schema(const char *type_name, json_t *schemas);

static json_t *value_schema(const FieldProto *f, json_t *schemas)
{
	const EnumProto *e;
	const MessageProto *m;

	switch (f->type) {
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM:
		find_message(f->type_name, &e);
		return e ? enum_schema(e) : json_pack("{s:s}", "type", "string");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE:
		if (strncmp(f->type_name, ".google.protobuf.", 17) == 0 && strstr(f->type_name, "Value")) {
			/* Wrappers are their plain value. */
			m = find_message(f->type_name, NULL);
			if (m && m->n_field == 1)
				return scalar_schema(m->field[0], schemas);
		}
		add_schema(f->type_name, schemas);
		return ref(f->type_name);
	default:
		return scalar_schema(f, schemas);
	}
}

static json_t *scalar_schema(const FieldProto *f, json_t *schemas)
{
	switch (f->type) {
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT:
		return json_pack("{s:s}", "type", "number");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64:
		return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32:
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32:
		return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL:
		return json_pack("{s:s}", "type", "boolean");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES:
		return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
	case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING:
		return json_pack("{s:s}", "type", "string");
	default:
		return value_schema(f, schemas);
	}
}

static void add_schema(const char *type_name, json_t *schemas)
{
	const MessageProto *m;
	json_t *props;
	json_t *s;
	size_t i;

	if (json_object_get(schemas, type_name + 1))
		return;
	m = find_message(type_name, NULL);
	if (!m)
		die("unknown message type");
	props = json_object();
	s = json_pack("{s:s,s:o}", "type", "object", "properties", props);
	json_object_set_new(schemas, type_name + 1, s);
	for (i = 0; i < m->n_field; i++) {
		const FieldProto *f = m->field[i];
		json_t *v;

		if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
		    f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE) {
			const MessageProto *entry = find_message(f->type_name, NULL);

			if (entry && entry->options && entry->options->has_map_entry && entry->options->map_entry &&
			    entry->n_field == 2) {
				v = json_pack("{s:s,s:o}", "type", "object", "additionalProperties",
				              value_schema(entry->field[1], schemas));
				json_object_set_new(props, f->name, v);
				continue;
			}
		}
		v = value_schema(f, schemas);
		if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
			v = json_pack("{s:s,s:o}", "type", "array", "items", v);
		json_object_set_new(props, f->name, v);
	}
}

static Google__Api__HttpRule *http_rule(const Google__Protobuf__MethodDescriptorProto *rpc)
{
	Google__Api__HttpRule *rule;

	if (kc_http_rule_of(rpc, &rule) != 0)
		die("bad google.api.http option");
	return rule;
}

/* The `parameters` of a path template: one string per {variable}. */
static json_t *path_params(const char *path)
{
	json_t *params = json_array();

	for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
		const char *end = strpbrk(p, "=}");
		char name[128];

		if (!end)
			die("unterminated path variable");
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
		json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", "path", "required",
		                                        1, "schema", "type", "string"));
	}
	return params;
}

/* The success and error responses of an rpc: text for HttpBody, SSE or
 * NDJSON for a server stream, JSON otherwise; 201 for a POST Create. */
static json_t *responses_of(const Google__Protobuf__MethodDescriptorProto *rpc, const char *method, json_t *schemas)
{
	bool streaming = rpc->has_server_streaming && rpc->server_streaming;
	json_t *responses = json_object(), *ok;

	if (strcmp(rpc->output_type, ".google.api.HttpBody") == 0) {
		ok = json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "OK", "content", "text/plain", "schema", "type",
		               "string");
	} else if (streaming) {
		add_schema(rpc->output_type, schemas);
		ok = json_pack("{s:s,s:{s:{s:o},s:{s:o}}}", "description",
		               "A stream: Server-Sent Events with Accept: text/event-stream, newline-delimited "
		               "JSON otherwise; one message per event or line.",
		               "content", "text/event-stream", "schema", ref(rpc->output_type), "application/x-ndjson",
		               "schema", ref(rpc->output_type));
	} else {
		add_schema(rpc->output_type, schemas);
		ok = json_pack("{s:s,s:{s:{s:o}}}", "description", "OK", "content", "application/json", "schema",
		               ref(rpc->output_type));
	}
	json_object_set_new(responses,
	                    strcmp(method, "POST") == 0 && strncmp(rpc->name, "Create", 6) == 0 ? "201" : "200", ok);
	json_object_set_new(responses, "default",
	                    json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "An error", "content", "application/json",
	                              "schema", "$ref", "#/components/schemas/Error"));
	return responses;
}

/* Adds the operation of one annotated rpc under paths[path][method]. */
static void add_operation(const Google__Protobuf__ServiceDescriptorProto *svc,
                          const Google__Protobuf__MethodDescriptorProto *rpc, json_t *paths, json_t *schemas)
{
	Google__Api__HttpRule *rule = http_rule(rpc);
	const char *method, *path;
	char opid[256], lower[16];
	json_t *item, *op;
	size_t i;

	if (!rule)
		return;
	if (kc_http_rule_pattern(rule, &method, &path) != 0)
		die("http rule without a method and path");
	for (i = 0; method[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)method[i]);
	lower[i] = '\0';
	if (!(item = json_object_get(paths, path))) {
		item = json_object();
		json_object_set_new(paths, path, item);
	}
	snprintf(opid, sizeof(opid), "%s.%s", svc->name, rpc->name);
	add_schema(rpc->input_type, schemas);
	op = json_pack("{s:s,s:o,s:o}", "operationId", opid, "parameters", path_params(path), "responses",
	               responses_of(rpc, method, schemas));
	if (rule->body && *rule->body)
		json_object_set_new(
		    op, "requestBody",
		    json_pack("{s:{s:{s:o}}}", "content", "application/json", "schema", ref(rpc->input_type)));
	json_object_set_new(item, lower, op);
	google__api__http_rule__free_unpacked(rule, NULL);
}

/* The document as a C array kc-gateway links (no string literal: C11 only
 * promises 4095 bytes of one). */
static void write_c(const char *out, const char *text)
{
	FILE *f = fopen(out, "w");
	size_t i;

	if (!f)
		die("cannot write the output");
	fprintf(f, "/* Generated by gateway/tools/openapi_gen from the API protos. Do not edit. */\n"
	           "#include <stddef.h>\n"
	           "extern const char kc_openapi_json[];\nextern const size_t kc_openapi_json_len;\n"
	           "const char kc_openapi_json[] = {");
	for (i = 0; text[i]; i++)
		fprintf(f, "%s%d,", i % 24 ? "" : "\n", (unsigned char)text[i]);
	fprintf(f, "0};\nconst size_t kc_openapi_json_len = %zu;\n", strlen(text));
	if (fclose(f) != 0)
		die("cannot write the output");
}

int main(int argc, char **argv)
{
	json_t *doc, *paths = json_object(), *schemas;
	char *buf, *text;
	size_t n;

	if (argc != 3)
		die("usage: openapi_gen <descriptor_set.pb> <out.c>");
	if (kc_file_read(argv[1], 64u << 20, &buf, &n) != 0)
		die("cannot read the descriptor set");
	set = google__protobuf__file_descriptor_set__unpack(NULL, n, (const uint8_t *)buf);
	free(buf);
	if (!set)
		die("the descriptor set does not parse");
	schemas =
	    json_pack("{s:{s:s,s:{s:{s:s}}}}", "Error", "type", "object", "properties", "error", "type", "string");
	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.3", "info", "title", "kube-coder API",
	                "version", "v1", "description",
	                "REST/JSON front of kc-server, generated from the protos' google.api.http annotations. Every "
	                "path is also served with an /oauth prefix. Auth: Authorization: Bearer <token>.",
	                "paths", paths, "components", "schemas", schemas);
	for (size_t fi = 0; fi < set->n_file; fi++)
		for (size_t si = 0; si < set->file[fi]->n_service; si++)
			for (size_t i = 0; i < set->file[fi]->service[si]->n_method; i++)
				add_operation(set->file[fi]->service[si], set->file[fi]->service[si]->method[i], paths,
				              schemas);
	if (!(text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS)))
		die("out of memory");
	write_c(argv[2], text);
	free(text);
	json_decref(doc);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	return 0;
}
