/*
 * routegen - makes the gateway's route table from the API's annotations.
 *
 *   routegen <descriptor_set.pb> <out.c>
 *
 * Reads a FileDescriptorSet (protoc --include_imports), finds every rpc
 * with a google.api.http option, compiles its path template into segments,
 * checks that every bound field, body field and response-body field exists
 * in the rpc's messages, and writes a C file defining kc_routes[] (see
 * gateway/router.h) and kc_map_entry_types[]. Any error in an annotation
 * fails the build with the rpc's name and the reason, so a bad route can
 * never reach the gateway.
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

#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tools/protodesc/http_rule.h"


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

/* Writes the segment array of route `r` and checks its variables. */
static size_t emit_segments(FILE *out, size_t index, const struct route *r, const MessageProto *input)
{
	const char *p = r->path;
	if (p[0] != '/' || p[1] == '\0')
		die("path \"%s\" must start with '/' and name something", p);
	fprintf(out, "static const kc_route_segment route_%zu_segments[] = {\n", index);
	size_t n = 0;
	p++;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			const char *inner = p + 1;
			size_t inner_len = len - 2;
			const char *eq = memchr(inner, '=', inner_len);
			size_t name_len = eq ? (size_t)(eq - inner) : inner_len;
			const char *kind = "KC_SEGMENT_FIELD";
			if (eq) {
				size_t pat_len = inner_len - name_len - 1;
				if (pat_len == 2 && memcmp(eq + 1, "**", 2) == 0) {
					if (end)
						die("\"%s\": {field=**} must be the last segment", r->path);
					kind = "KC_SEGMENT_FIELD_REST";
				} else if (!(pat_len == 1 && eq[1] == '*')) {
					die("\"%s\": only {field}, {field=*} and {field=**} are supported", r->path);
				}
			}
			if (!valid_field_path(inner, name_len))
				die("\"%s\": bad variable name", r->path);
			char *field = xmalloc(name_len + 1);
			memcpy(field, inner, name_len);
			field[name_len] = '\0';
			check_field_path(input, field, true, "path variable");
			fprintf(out, "\t{%s, ", kind);
			put_c_string(out, field);
			fprintf(out, "},\n");
			free(field);
		} else {
			if (!valid_literal(p, len))
				die("\"%s\": bad literal segment \"%.*s\"", r->path, (int)len, p);
			char *lit = xmalloc(len + 1);
			memcpy(lit, p, len);
			lit[len] = '\0';
			fprintf(out, "\t{KC_SEGMENT_LITERAL, ");
			put_c_string(out, lit);
			fprintf(out, "},\n");
			free(lit);
		}
		n++;
		if (!end)
			break;
		p = end + 1;
	}
	fprintf(out, "};\n\n");
	return n;
}

static void add_route(const char *method, const char *path, const char *body, const char *response_body,
                      const FileProto *file, const ServiceProto *svc, size_t mi)
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
	routes[n_routes++] = (struct route){method, path, body ? body : "", response_body ? response_body : "",
	                                    file, svc, mi, rpc, grpc_path};
}

static void add_rule(const Google__Api__HttpRule *rule, const FileProto *file, const ServiceProto *svc, size_t mi,
                     bool nested)
{
	switch (rule->pattern_case) {
	case GOOGLE__API__HTTP_RULE__PATTERN_GET:
		add_route("GET", rule->get, rule->body, rule->response_body, file, svc, mi);
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_PUT:
		add_route("PUT", rule->put, rule->body, rule->response_body, file, svc, mi);
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_POST:
		add_route("POST", rule->post, rule->body, rule->response_body, file, svc, mi);
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_DELETE:
		add_route("DELETE", rule->delete_, rule->body, rule->response_body, file, svc, mi);
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_PATCH:
		add_route("PATCH", rule->patch, rule->body, rule->response_body, file, svc, mi);
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_CUSTOM:
		if (!rule->custom || !rule->custom->kind || !*rule->custom->kind)
			die("custom pattern without a method");
		add_route(rule->custom->kind, rule->custom->path, rule->body, rule->response_body, file, svc, mi);
		break;
	default:
		die("http rule without a method and path");
	}
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

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s: %s", path, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = xmalloc(cap);
	for (;;) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (!buf)
			die("out of memory");
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: routegen <descriptor_set.pb> <out.c>\n");
		return 2;
	}
	size_t len;
	unsigned char *buf = read_file(argv[1], &len);
	FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, buf);
	if (!set)
		die("%s is not a FileDescriptorSet", argv[1]);

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

	FILE *out = fopen(argv[2], "w");
	if (!out)
		die("%s: %s", argv[2], strerror(errno));
	fprintf(out, "/* Generated by tools/routegen from the API's google.api.http annotations.\n"
	             " * Do not edit: change the .proto files instead. */\n"
	             "#include <stddef.h>\n\n#include \"gateway/router.h\"\n\n");

	/* Headers of every file that defines a service with routes, a message
	 * a route uses, or a map entry. */
	const char **headers = xmalloc(set->n_file * sizeof *headers);
	size_t n_headers = 0;
	for (size_t f = 0; f < set->n_file; f++) {
		const FileProto *file = set->file[f];
		if (strncmp(file->name, "google/protobuf/", 16) == 0)
			continue; /* compiled only where the API imports them */
		headers[n_headers++] = header_for(file->name);
	}
	for (size_t h = 0; h < n_headers; h++)
		fprintf(out, "#include \"%s\"\n", headers[h]);
	fprintf(out, "\n");

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
		emit_segments(out, i, r, in->msg);
	}
	current_rpc = "";

	fprintf(out, "const kc_route kc_routes[] = {\n");
	for (size_t i = 0; i < n_routes; i++) {
		struct route *r = &routes[i];
		char svc_full[512];
		snprintf(svc_full, sizeof svc_full, ".%s.%s", r->file->package, r->svc->name);
		char *svc_c = c_lower_name(svc_full);
		char *in_c = c_lower_name(r->rpc->input_type);
		char *out_c = c_lower_name(r->rpc->output_type);
		size_t nseg = 1;
		for (const char *p = r->path + 1; *p; p++)
			nseg += *p == '/';
		fprintf(out, "\t{\n\t\t.http_method = ");
		put_c_string(out, r->method);
		fprintf(out, ",\n\t\t.path_template = ");
		put_c_string(out, r->path);
		fprintf(out, ",\n\t\t.segments = route_%zu_segments,\n\t\t.n_segments = %zu,\n\t\t.body_field = ", i, nseg);
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
	fprintf(out, "};\n\nconst size_t kc_n_routes = %zu;\n\n", n_routes);

	/* Map entries of the files we include (google/protobuf has none). */
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

	if (fclose(out) != 0)
		die("%s: write failed", argv[2]);

	/* Leak-clean, so the sanitized build's host tool passes LeakSanitizer. */
	for (size_t i = 0; i < n_routes; i++)
		free(routes[i].grpc_path);
	free(routes);
	for (size_t i = 0; i < n_rules; i++)
		google__api__http_rule__free_unpacked(rules[i], NULL);
	free(rules);
	for (size_t i = 0; i < n_messages; i++)
		free(messages[i].full_name);
	free(messages);
	for (size_t h = 0; h < n_headers; h++)
		free((char *)headers[h]);
	free(headers);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	free(buf);
	return 0;
}
