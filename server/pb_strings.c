/* pb_strings.c - see pb_strings.h. */
#include "server/pb_strings.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/kc_error.h"

/* A varint of at most 10 bytes at data[*pos]; false when cut short or
 * longer. */
static bool read_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
		uint8_t b;
		if (*pos >= len)
			return false;
		b = data[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* `path` holds the names of the enclosing fields ("a.b"); its length is
 * restored before returning. */
static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth, char *path,
                size_t pathcap, char *err, size_t errlen)
{
	size_t pos = 0;
	if (depth > KC_PB_MAX_DEPTH)
		goto malformed;
	while (pos < len) {
		uint64_t tag, n;
		uint32_t number;
		const ProtobufCFieldDescriptor *f;
		if (!read_varint(data, len, &pos, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
			goto malformed;
		number = (uint32_t)(tag >> 3);
		switch (tag & 7) {
		case 0: /* varint */
			if (!read_varint(data, len, &pos, &n))
				goto malformed;
			continue;
		case 1: /* 64-bit */
			if (len - pos < 8)
				goto malformed;
			pos += 8;
			continue;
		case 5: /* 32-bit */
			if (len - pos < 4)
				goto malformed;
			pos += 4;
			continue;
		case 2: /* length-delimited */
			break;
		default: /* groups (3, 4) and the unused 6, 7 */
			goto malformed;
		}
		if (!read_varint(data, len, &pos, &n) || n > len - pos)
			goto malformed;
		f = desc ? protobuf_c_message_descriptor_get_field(desc, number) : NULL;
		if (f && (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)) {
			size_t plen = strlen(path);
			int rc;
			snprintf(path + plen, pathcap - plen, "%s%s", plen ? "." : "", f->name);
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				const uint8_t *nul = memchr(data + pos, 0, (size_t)n);
				rc = 0;
				if (nul) {
					snprintf(err, errlen, "%s: NUL byte at offset %zu", path,
					         (size_t)(nul - (data + pos)));
					rc = KC_ERR_INVALID;
				}
			} else {
				rc = walk(f->descriptor, data + pos, (size_t)n, depth + 1, path, pathcap, err, errlen);
			}
			path[plen] = '\0';
			if (rc != 0)
				return rc;
		}
		pos += (size_t)n;
	}
	return 0;
malformed:
	snprintf(err, errlen, "malformed request message");
	return KC_ERR_INVALID;
}

int kc_pb_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *err,
                        size_t errlen)
{
	char path[512] = "";
	if (len > 0 && !data) {
		snprintf(err, errlen, "malformed request message");
		return KC_ERR_INVALID;
	}
	return walk(desc, data, len, 0, path, sizeof path, err, errlen);
}
