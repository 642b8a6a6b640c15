/* pb_strings on any bytes, against request types kc-server takes, a message
 * with nested ones and a self-nesting one. Properties: a refusal always
 * says why; a message that passes and unpacks packs again into bytes that
 * pass and unpack to the same strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "server/pb_strings.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	char err[256] = "";
	ProtobufCMessage *m;
	int rc = kc_pb_check_strings(d, data, size, err, sizeof err);
	KC_FUZZ_CHECK(rc == 0 || err[0] != '\0');
	if (rc != 0 || !(m = protobuf_c_message_unpack(d, NULL, size, data)))
		return;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *again = malloc(n ? n : 1);
	if (again) {
		KC_FUZZ_CHECK(protobuf_c_message_pack(m, again) == n);
		KC_FUZZ_CHECK(kc_pb_check_strings(d, again, n, err, sizeof err) == 0);
		if (d == &kc__v1__create_task_request__descriptor) {
			Kc__V1__CreateTaskRequest *r = (Kc__V1__CreateTaskRequest *)m;
			Kc__V1__CreateTaskRequest *r2 = kc__v1__create_task_request__unpack(NULL, n, again);
			KC_FUZZ_CHECK(r2 != NULL);
			KC_FUZZ_CHECK(strcmp(r->prompt, r2->prompt) == 0);
			KC_FUZZ_CHECK(strcmp(r->workdir, r2->workdir) == 0);
			KC_FUZZ_CHECK(strcmp(r->agent, r2->agent) == 0);
			kc__v1__create_task_request__free_unpacked(r2, NULL);
		}
		free(again);
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(&kc__v1__create_task_request__descriptor, data, size);
	one(&kc__v1__send_message_request__descriptor, data, size);
	one(&kc__v1__task__descriptor, data, size);
	one(&google__protobuf__descriptor_proto__descriptor, data, size);
	return 0;
}
