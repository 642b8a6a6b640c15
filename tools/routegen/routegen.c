/*
 * routegen - makes the REST route tables from the API's annotations.
 *
 *   routegen <descriptor_set.pb> <out.c>            the gateway's table
 *   routegen --client <descriptor_set.pb> <out.c>   libkcclient's table
 *
 * Reads a FileDescriptorSet (protoc --include_imports), finds every rpc
 * with a google.api.http option, compiles its path template into segments,
 * checks that every bound field, body field and response-body field exists
 * in the rpc's messages, and writes a C file. For the gateway it defines
 * kc_routes[] (see gateway/router.h) and kc_map_entry_types[]; for the
 * client, one `struct kci_rpc kci_rpc_<rpc>` per rpc (see
 * client/lib/internal.h) with its gRPC path and primary binding. Any error
 * in an annotation fails the build with the rpc's name and the reason, so a
 * bad route can never reach the gateway or the client.
 *
 * The C names of protobuf-c descriptors follow protoc-c's rule: each dotted
 * part of the full name, CamelCase turned to lower_snake, joined by "__".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tools/protodesc/http_rule.h"

/* The largest descriptor set read: the API's is tens of KiB. */
#define MAX_DESCRIPTOR_SET_BYTES (64u * 1024 * 1024)

typedef Google__Protobuf__FileDescriptorSet FileSet;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__ServiceDescriptorProto ServiceProto;
typedef Google__Protobuf__MethodDescriptorProto MethodProto;

static const char *current_rpc = "";

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "routegen: %s%s", current_rpc, *current_rpc ? ": " : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

/* ---- the message index: full name -> descriptor, for field checks ---- */

struct message_entry {
	char *full_name; /* ".kc.v1.Task" */
	const MessageProto *msg;
	const FileProto *file;
};

static struct message_entry *messages;
static size_t n_messages, cap_messages;

static void index_message(const FileProto *file, const char *scope, const MessageProto *msg)
{
	size_t len = strlen(scope) + strlen(msg->name) + 2;
	char *name = xmalloc(len);
	snprintf(name, len, "%s.%s", scope, msg->name);
	if (n_messages == cap_messages) {
		cap_messages = cap_messages ? cap_messages * 2 : 64;
		messages = realloc(messages, cap_messages * sizeof *messages);
		if (!messages)
			die("out of memory");
	}
	messages[n_messages++] = (struct message_entry){name, msg, file};
	for (size_t i = 0; i < msg->n_nested_type; i++)
		index_message(file, name, msg->nested_type[i]);
}

static const struct message_entry *find_message(const char *full_name)
{
	for (size_t i = 0; i < n_messages; i++)
		if (strcmp(messages[i].full_name, full_name) == 0)
			return &messages[i];
	return NULL;
}

static const FieldProto *find_field(const MessageProto *msg, const char *name)
{
	for (size_t i = 0; i < msg->n_field; i++)
		if (strcmp(msg->field[i]->name, name) == 0)
			return msg->field[i];
	return NULL;
}

/* Checks that the dotted `path` names a field reachable from `msg` through
 * singular message fields; with `scalar`, that it ends at a singular
 * scalar (what a path variable can fill). */
static void check_field_path(const MessageProto *msg, const char *path, bool scalar, const char *what)
{
	char *copy = xstrdup(path);
	char *save = NULL;
	const MessageProto *cur = msg;
	const FieldProto *f = NULL;
	for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (!cur)
			die("%s \"%s\": \"%s\" is inside a non-message field", what, path, part);
		f = find_field(cur, part);
		if (!f)
			die("%s \"%s\": no field \"%s\" in %s", what, path, part, cur->name);
		if (f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE) {
			const struct message_entry *m = find_message(f->type_name);
			if (!m)
				die("%s \"%s\": unknown type %s", what, path, f->type_name);
			cur = m->msg;
		} else {
			cur = NULL;
		}
	}
	if (!f)
		die("%s is empty", what);
	if (scalar && (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED ||
	               f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE ||
	               f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES))
		die("%s \"%s\" must be a singular scalar field", what, path);
	free(copy);
}

/* ---- C names, as protoc-c spells them ---- */

/* ".kc.v1.CreateTaskRequest" -> "kc__v1__create_task_request" */
static char *c_lower_name(const char *full_name)
{
	const char *s = full_name[0] == '.' ? full_name + 1 : full_name;
	char *out = xmalloc(strlen(s) * 3 + 1);
	size_t o = 0;
	bool part_start = true;
	for (; *s; s++) {
		if (*s == '.') {
			out[o++] = '_';
			out[o++] = '_';
			part_start = true;
			continue;
		}
		if (isupper((unsigned char)*s)) {
			if (!part_start)
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*s);
		} else {
			out[o++] = *s;
		}
		part_start = false;
	}
	out[o] = '\0';
	return out;
}

/* "kc/v1/task.proto" -> "kc/v1/task.pb-c.h" */
static char *header_for(const char *proto_file)
{
	size_t len = strlen(proto_file);
	if (len < 6 || strcmp(proto_file + len - 6, ".proto") != 0)
		die("odd file name %s", proto_file);
	char *h = xmalloc(len + 4);
	memcpy(h, proto_file, len - 6);
	strcpy(h + len - 6, ".pb-c.h");
	return h;
}

/* ---- output ---- */

static void put_c_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fprintf(out, "\\%03o", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

/* One compiled path segment: its kind's C name and its literal or field. */
struct segment {
	const char *kind;
	char *text;
};

struct route {
	const char *method;
	const char *path;
	const char *body;
	const char *response_body;
	const FileProto *file;
	const ServiceProto *svc;
	size_t method_index;
	const MethodProto *rpc;
	char *grpc_path;
	/* The rule itself, not one of its additional_bindings. */
	bool primary;
	struct segment *segments;
	size_t n_segments;
};

static struct route *routes;
static size_t n_routes, cap_routes;

/* Unpacked http rules; the routes point into them until exit. */
static Google__Api__HttpRule **rules;
static size_t n_rules, cap_rules;

static bool valid_literal(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-._~", s[i]))
			return false;
	return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static bool valid_field_path(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static char *xstrndup(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* One `{field}`, `{field=*}` or `{field=**}` segment (`len` bytes at `p`,
 * braces included) of route `r`; `last` when no segment follows. */
static struct segment variable_segment(const struct route *r, const char *p, size_t len, bool last,
                                       const MessageProto *input)
{
	const char *inner = p + 1;
	size_t inner_len = len - 2;
	const char *eq = memchr(inner, '=', inner_len);
	size_t name_len = eq ? (size_t)(eq - inner) : inner_len;
	const char *kind = "KC_SEGMENT_FIELD";
	if (eq) {
		size_t pat_len = inner_len - name_len - 1;
		if (pat_len == 2 && memcmp(eq + 1, "**", 2) == 0) {
			if (!last)
				die("\"%s\": {field=**} must be the last segment", r->path);
			kind = "KC_SEGMENT_FIELD_REST";
		} else if (!(pat_len == 1 && eq[1] == '*')) {
			die("\"%s\": only {field}, {field=*} and {field=**} are supported", r->path);
		}
	}
	if (!valid_field_path(inner, name_len))
		die("\"%s\": bad variable name", r->path);
	char *field = xstrndup(inner, name_len);
	check_field_path(input, field, true, "path variable");
	return (struct segment){kind, field};
}

/* Compiles the path template of route `r` into r->segments and checks its
 * variables against the request message. */
static void compile_path(struct route *r, const MessageProto *input)
{
	const char *p = r->path;
	if (p[0] != '/' || p[1] == '\0')
		die("path \"%s\" must start with '/' and name something", p);
	size_t cap = 1;
	for (const char *q = p + 1; *q; q++)
		cap += *q == '/';
	r->segments = xmalloc(cap * sizeof *r->segments);
	r->n_segments = 0;
	p++;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct segment *seg = &r->segments[r->n_segments];
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			*seg = variable_segment(r, p, len, !end, input);
		} else {
			if (!valid_literal(p, len))
				die("\"%s\": bad literal segment \"%.*s\"", r->path, (int)len, p);
			*seg = (struct segment){"KC_SEGMENT_LITERAL", xstrndup(p, len)};
		}
		r->n_segments++;
		if (!end)
			break;
		p = end + 1;
	}
}

static void add_route(const char *method, const char *path, const char *body, const char *response_body,
                      const FileProto *file, const ServiceProto *svc, size_t mi, bool primary)
{
	if (!path || !*path)
		die("empty path");
	if (n_routes == cap_routes) {
		cap_routes = cap_routes ? cap_routes * 2 : 32;
		routes = realloc(routes, cap_routes * sizeof *routes);
		if (!routes)
			die("out of memory");
	}
	const MethodProto *rpc = svc->method[mi];
	size_t len = strlen(file->package) + strlen(svc->name) + strlen(rpc->name) + 4;
	char *grpc_path = xmalloc(len);
	snprintf(grpc_path, len, "/%s.%s/%s", file->package, svc->name, rpc->name);
	routes[n_routes++] = (struct route){.method = method,
	                                    .path = path,
	                                    .body = body ? body : "",
	                                    .response_body = response_body ? response_body : "",
	                                    .file = file,
	                                    .svc = svc,
	                                    .method_index = mi,
	                                    .rpc = rpc,
	                                    .grpc_path = grpc_path,
	                                    .primary = primary};
}

static void add_rule(const Google__Api__HttpRule *rule, const FileProto *file, const ServiceProto *svc, size_t mi,
                     bool nested)
{
	bool primary = !nested;
	const char *method, *path;
	if (kc_http_rule_pattern(rule, &method, &path) != 0)
		die("http rule without a method and path");
	add_route(method, path, rule->body, rule->response_body, file, svc, mi, primary);
	if (nested && rule->n_additional_bindings)
		die("additional_bindings may not nest");
	for (size_t i = 0; i < rule->n_additional_bindings; i++)
		add_rule(rule->additional_bindings[i], file, svc, mi, true);
}

static void collect_rules(const FileProto *file, const ServiceProto *svc, size_t mi)
{
	Google__Api__HttpRule *rule;
	if (kc_http_rule_of(svc->method[mi], &rule) != 0)
		die("google.api.http option is malformed");
	if (!rule)
		return;
	if (n_rules == cap_rules) {
		cap_rules = cap_rules ? cap_rules * 2 : 32;
		rules = realloc(rules, cap_rules * sizeof *rules);
		if (!rules)
			die("out of memory");
	}
	rules[n_rules++] = rule;
	add_rule(rule, file, svc, mi, false);
}

static FileSet *load_set(const char *path)
{
	char *buf;
	size_t len;
	int rc = kc_file_read(path, MAX_DESCRIPTOR_SET_BYTES, &buf, &len);
	if (rc)
		die("%s: %s", path, kc_strerror(rc));
	FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, (const uint8_t *)buf);
	free(buf);
	if (!set)
		die("%s is not a FileDescriptorSet", path);
	return set;
}

/* Indexes every message and collects every rpc's rules. */
static void read_api(const FileSet *set)
{
	for (size_t f = 0; f < set->n_file; f++) {
		const FileProto *file = set->file[f];
		const char *pkg = file->package ? file->package : "";
		char *scope = xmalloc(strlen(pkg) + 2);
		snprintf(scope, strlen(pkg) + 2, "%s%s", *pkg ? "." : "", pkg);
		for (size_t m = 0; m < file->n_message_type; m++)
			index_message(file, scope, file->message_type[m]);
		free(scope);
	}
	for (size_t f = 0; f < set->n_file; f++) {
		const FileProto *file = set->file[f];
		for (size_t s = 0; s < file->n_service; s++)
			for (size_t m = 0; m < file->service[s]->n_method; m++)
				collect_rules(file, file->service[s], m);
	}
	if (!n_routes)
		die("no google.api.http annotations found");
}

/* Checks every route against its rpc's messages and compiles its path. */
static void check_routes(void)
{
	for (size_t i = 0; i < n_routes; i++) {
		struct route *r = &routes[i];
		char rpc_name[512];
		snprintf(rpc_name, sizeof rpc_name, "%s", r->grpc_path + 1);
		current_rpc = rpc_name;
		const struct message_entry *in = find_message(r->rpc->input_type);
		const struct message_entry *outm = find_message(r->rpc->output_type);
		if (!in || !outm)
			die("unknown input or output type");
		if (strcmp(r->body, "*") != 0 && *r->body)
			check_field_path(in->msg, r->body, false, "body field");
		if (*r->response_body)
			check_field_path(outm->msg, r->response_body, false, "response_body field");
		if ((!strcmp(r->method, "GET") || !strcmp(r->method, "DELETE")) && *r->body)
			die("%s routes cannot have a body", r->method);
		if (r->rpc->client_streaming)
			die("client-streaming rpcs cannot be routed");
		compile_path(r, in->msg);
	}
	current_rpc = "";
}

/* The generated file's opening: the notice, `own_header` and the header of
 * every file of the set but google/protobuf's (compiled only where the API
 * imports them). */
static void emit_includes(FILE *out, const FileSet *set, const char *own_header)
{
	fprintf(out,
	        "/* Generated by tools/routegen from the API's google.api.http annotations.\n"
	        " * Do not edit: change the .proto files instead. */\n"
	        "#include <stddef.h>\n\n#include \"%s\"\n\n",
	        own_header);
	for (size_t f = 0; f < set->n_file; f++) {
		const FileProto *file = set->file[f];
		if (strncmp(file->name, "google/protobuf/", 16) == 0)
			continue;
		char *h = header_for(file->name);
		fprintf(out, "#include \"%s\"\n", h);
		free(h);
	}
	fprintf(out, "\n");
}

static void emit_segments(FILE *out, size_t index, const struct route *r)
{
	fprintf(out, "static const kc_route_segment route_%zu_segments[] = {\n", index);
	for (size_t s = 0; s < r->n_segments; s++) {
		fprintf(out, "\t{%s, ", r->segments[s].kind);
		put_c_string(out, r->segments[s].text);
		fprintf(out, "},\n");
	}
	fprintf(out, "};\n\n");
}

static void emit_route(FILE *out, size_t i, const struct route *r)
{
	char svc_full[512];
	snprintf(svc_full, sizeof svc_full, ".%s.%s", r->file->package, r->svc->name);
	char *svc_c = c_lower_name(svc_full);
	char *in_c = c_lower_name(r->rpc->input_type);
	char *out_c = c_lower_name(r->rpc->output_type);
	fprintf(out, "\t{\n\t\t.http_method = ");
	put_c_string(out, r->method);
	fprintf(out, ",\n\t\t.path_template = ");
	put_c_string(out, r->path);
	fprintf(out, ",\n\t\t.segments = route_%zu_segments,\n\t\t.n_segments = %zu,\n\t\t.body_field = ", i,
	        r->n_segments);
	put_c_string(out, r->body);
	fprintf(out, ",\n\t\t.response_body_field = ");
	put_c_string(out, r->response_body);
	fprintf(out, ",\n\t\t.grpc_path = ");
	put_c_string(out, r->grpc_path);
	fprintf(out,
	        ",\n\t\t.service = &%s__descriptor,\n\t\t.method_index = %zu,\n"
	        "\t\t.input = &%s__descriptor,\n\t\t.output = &%s__descriptor,\n"
	        "\t\t.server_streaming = %s,\n\t},\n",
	        svc_c, r->method_index, in_c, out_c, r->rpc->server_streaming ? "true" : "false");
	free(svc_c);
	free(in_c);
	free(out_c);
}

/* Map entries of the files we include (google/protobuf has none). */
static void emit_map_entries(FILE *out)
{
	fprintf(out, "const ProtobufCMessageDescriptor *const kc_map_entry_types[] = {\n");
	size_t n_maps = 0;
	for (size_t i = 0; i < n_messages; i++) {
		const MessageProto *m = messages[i].msg;
		if (strncmp(messages[i].file->name, "google/protobuf/", 16) == 0)
			continue;
		if (m->options && m->options->has_map_entry && m->options->map_entry) {
			char *c = c_lower_name(messages[i].full_name);
			fprintf(out, "\t&%s__descriptor,\n", c);
			free(c);
			n_maps++;
		}
	}
	if (!n_maps)
		fprintf(out, "\tNULL,\n");
	fprintf(out, "};\n\nconst size_t kc_n_map_entry_types = %zu;\n", n_maps);
}

/* gateway/router.h's kc_routes[] and kc_map_entry_types[]. */
static void emit_gateway(FILE *out, const FileSet *set)
{
	emit_includes(out, set, "gateway/router.h");
	for (size_t i = 0; i < n_routes; i++)
		emit_segments(out, i, &routes[i]);
	fprintf(out, "const kc_route kc_routes[] = {\n");
	for (size_t i = 0; i < n_routes; i++)
		emit_route(out, i, &routes[i]);
	fprintf(out, "};\n\nconst size_t kc_n_routes = %zu;\n\n", n_routes);
	emit_map_entries(out);
}

/* client/lib/internal.h's `struct kci_rpc`, one per rpc, named after it
 * (kci_rpc_create_task): its primary binding, which is what a client
 * calls; additional bindings are aliases the gateway serves. */
static void emit_client(FILE *out, const FileSet *set)
{
	emit_includes(out, set, "client/lib/internal.h");
	for (size_t i = 0; i < n_routes; i++) {
		const struct route *r = &routes[i];
		if (!r->primary)
			continue;
		char *rpc_c = c_lower_name(r->rpc->name);
		char *in_c = c_lower_name(r->rpc->input_type);
		char *out_c = c_lower_name(r->rpc->output_type);
		fprintf(out, "extern const struct kci_rpc kci_rpc_%s;\nconst struct kci_rpc kci_rpc_%s = {\n", rpc_c,
		        rpc_c);
		fprintf(out, "\t.grpc_path = ");
		put_c_string(out, r->grpc_path);
		fprintf(out, ",\n\t.http_method = ");
		put_c_string(out, r->method);
		fprintf(out, ",\n\t.path_template = ");
		put_c_string(out, r->path);
		fprintf(out, ",\n\t.body_field = ");
		put_c_string(out, r->body);
		fprintf(out, ",\n\t.in = &%s__descriptor,\n\t.out = &%s__descriptor,\n};\n\n", in_c, out_c);
		free(rpc_c);
		free(in_c);
		free(out_c);
	}
}

/* Leak-clean, so the sanitized build's host tool passes LeakSanitizer. */
static void release_all(FileSet *set)
{
	for (size_t i = 0; i < n_routes; i++) {
		for (size_t s = 0; s < routes[i].n_segments; s++)
			free(routes[i].segments[s].text);
		free(routes[i].segments);
		free(routes[i].grpc_path);
	}
	free(routes);
	for (size_t i = 0; i < n_rules; i++)
		google__api__http_rule__free_unpacked(rules[i], NULL);
	free(rules);
	for (size_t i = 0; i < n_messages; i++)
		free(messages[i].full_name);
	free(messages);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

int main(int argc, char **argv)
{
	bool client = argc == 4 && strcmp(argv[1], "--client") == 0;
	if (argc != 3 && !client) {
		fprintf(stderr, "usage: routegen [--client] <descriptor_set.pb> <out.c>\n");
		return 2;
	}
	const char *set_path = argv[argc - 2], *out_path = argv[argc - 1];
	FileSet *set = load_set(set_path);
	read_api(set);
	check_routes();

	FILE *out = fopen(out_path, "w");
	if (!out)
		die("%s: %s", out_path, strerror(errno));
	if (client)
		emit_client(out, set);
	else
		emit_gateway(out, set);
	if (fclose(out) != 0)
		die("%s: write failed", out_path);
	release_all(set);
	return 0;
}
