#include "tools/protodesc/http_rule.h"

#include <stdint.h>

int kc_http_rule_of(const Google__Protobuf__MethodDescriptorProto *rpc, Google__Api__HttpRule **out)
{
	if (!rpc->options) {
		*out = NULL;
		return 0;
	}
	const ProtobufCMessage *opts = &rpc->options->base;
	for (unsigned u = 0; u < opts->n_unknown_fields; u++) {
		const ProtobufCMessageUnknownField *uf = &opts->unknown_fields[u];
		if (uf->tag != KC_HTTP_RULE_EXTENSION)
			continue;
		if (uf->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			return -1;
		/* protobuf-c keeps a length-prefixed unknown field with its
		 * varint length in front; the message follows it. */
		size_t prefix = 0, value = 0;
		unsigned shift = 0;
		while (prefix < uf->len && prefix < 10) {
			uint8_t b = uf->data[prefix++];
			value |= (size_t)(b & 0x7f) << shift;
			shift += 7;
			if (!(b & 0x80))
				break;
		}
		if (prefix + value != uf->len)
			return -1;
		Google__Api__HttpRule *rule = google__api__http_rule__unpack(NULL, value, uf->data + prefix);
		if (!rule)
			return -1;
		*out = rule;
		return 0;
	}
	*out = NULL;
	return 0;
}

int kc_http_rule_pattern(const Google__Api__HttpRule *rule, const char **method, const char **path)
{
	switch (rule->pattern_case) {
	case GOOGLE__API__HTTP_RULE__PATTERN_GET:
		*method = "GET", *path = rule->get;
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_PUT:
		*method = "PUT", *path = rule->put;
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_POST:
		*method = "POST", *path = rule->post;
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_DELETE:
		*method = "DELETE", *path = rule->delete_;
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_PATCH:
		*method = "PATCH", *path = rule->patch;
		break;
	case GOOGLE__API__HTTP_RULE__PATTERN_CUSTOM:
		if (!rule->custom || !rule->custom->kind || !*rule->custom->kind)
			return -1;
		*method = rule->custom->kind, *path = rule->custom->path;
		break;
	default:
		return -1;
	}
	return *path && **path ? 0 : -1;
}
