/* pb_strings: NULs in string fields found on the wire, at any depth; bytes
 * fields and unknown fields left alone; what cannot be walked refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "google/api/httpbody.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "server/pb_strings.h"

static int check(const ProtobufCMessageDescriptor *d, const char *bytes, size_t len, char *err)
{
	err[0] = '\0';
	return kc_pb_check_strings(d, (const uint8_t *)bytes, len, err, 1024);
}

#define CHECK(d, lit, err) check((d), (lit), sizeof(lit) - 1, (err))

static void test_flat(void **state)
{
	const ProtobufCMessageDescriptor *create = &kc__v1__create_task_request__descriptor;
	char err[1024];
	(void)state;
	assert_int_equal(check(create, NULL, 0, err), 0);
	assert_int_equal(CHECK(create,
	                       "\x0a\x03"
	                       "abc"
	                       "\x12\x01/",
	                       err),
	                 0);
	/* prompt "a\0b": protobuf-c would hand back "a". */
	assert_int_equal(CHECK(create,
	                       "\x0a\x03"
	                       "a\0b",
	                       err),
	                 KC_ERR_INVALID);
	assert_string_equal(err, "prompt: NUL byte at offset 1");
	assert_int_equal(CHECK(create, "\x0a\x01x\x12\x02/\0", err), KC_ERR_INVALID);
	assert_string_equal(err, "workdir: NUL byte at offset 1");
	assert_int_equal(CHECK(create, "\x1a\x01\0", err), KC_ERR_INVALID);
	assert_string_equal(err, "agent: NUL byte at offset 0");
	/* A field repeated on the wire (the last one wins in protobuf-c): the
	 * earlier one is looked at too. */
	assert_int_equal(CHECK(create, "\x0a\x01\0\x0a\x01x", err), KC_ERR_INVALID);
	/* Unknown fields are skipped, NUL or not; so are other wire types. */
	assert_int_equal(CHECK(create,
	                       "\x22\x02\0\0\x28\x96\x01\x31"
	                       "12345678\x3d"
	                       "1234\x0a\x01x",
	                       err),
	                 0);
	/* A bytes field may hold anything. */
	assert_int_equal(CHECK(&google__api__http_body__descriptor, "\x12\x03\0\1\2\x0a\x02ok", err), 0);
	assert_int_equal(CHECK(&google__api__http_body__descriptor, "\x0a\x02o\0", err), KC_ERR_INVALID);
	assert_string_equal(err, "content_type: NUL byte at offset 1");
}

static void test_nested(void **state)
{
	const ProtobufCMessageDescriptor *task = &kc__v1__task__descriptor;
	char err[1024];
	(void)state;
	/* Task.followups (11) holding Followup.prompt (1). */
	assert_int_equal(CHECK(task, "\x5a\x04\x0a\x02ok\x5a\x05\x0a\x03n\0o", err), KC_ERR_INVALID);
	assert_string_equal(err, "followups.prompt: NUL byte at offset 1");
	/* The path is restored between fields. */
	assert_int_equal(CHECK(task, "\x5a\x04\x0a\x02ok\x1a\x02p\0", err), KC_ERR_INVALID);
	assert_string_equal(err, "prompt: NUL byte at offset 1");
}

static void test_malformed(void **state)
{
	const ProtobufCMessageDescriptor *create = &kc__v1__create_task_request__descriptor;
	const ProtobufCMessageDescriptor *dp = &google__protobuf__descriptor_proto__descriptor;
	char err[1024], deep[400];
	size_t len = 0;
	(void)state;
	assert_int_equal(CHECK(create,
	                       "\x0a\x05"
	                       "abc",
	                       err),
	                 KC_ERR_INVALID);
	assert_string_equal(err, "malformed request message");
	assert_int_equal(CHECK(create, "\x0a", err), KC_ERR_INVALID);
	assert_int_equal(CHECK(create, "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", err), KC_ERR_INVALID);
	assert_int_equal(CHECK(create, "\x00\x01", err), KC_ERR_INVALID); /* field 0 */
	assert_int_equal(CHECK(create, "\x0b\x0c", err), KC_ERR_INVALID); /* a group */
	assert_int_equal(CHECK(create, "\x0f", err), KC_ERR_INVALID);     /* wire type 7 */
	assert_int_equal(CHECK(create,
	                       "\x09"
	                       "1234567",
	                       err),
	                 KC_ERR_INVALID);                                 /* 7 of 8 bytes */
	assert_int_equal(CHECK(create, "\x08\x80", err), KC_ERR_INVALID); /* cut varint */
	/* DescriptorProto.nested_type (3) nests itself: 40 levels deep, with a
	 * name (1) holding a NUL at the bottom, is refused without reaching
	 * it; 20 levels are walked to the bottom. */
	for (int levels = 40; levels >= 20; levels -= 20) {
		len = 0;
		for (int i = 0; i < levels; i++) {
			deep[len++] = 0x1a;
			deep[len++] = (char)(2 * (levels - i - 1) + 3);
		}
		deep[len++] = 0x0a;
		deep[len++] = 1;
		deep[len++] = 0;
		assert_int_equal(check(dp, deep, len, err), KC_ERR_INVALID);
		if (levels == 40)
			assert_string_equal(err, "malformed request message");
		else
			assert_non_null(strstr(err, "nested_type.nested_type.name: NUL byte at offset 0"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flat),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
