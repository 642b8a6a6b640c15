/* Any bytes as each answer type the REST transport decodes: refused, or
 * decoded into a message that re-encodes, re-decodes to the same JSON,
 * packs and frees cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/json_pb.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *types[] = {
	    &kc__v1__task__descriptor,    &kc__v1__task_event__descriptor, &kc__v1__list_tasks_response__descriptor,
	    &kc__v1__metrics__descriptor, &kc__v1__health__descriptor,     &kc__v1__git_hub_status__descriptor,
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		ProtobufCMessage *m = NULL;
		if (kci_json_buf_to_pb((const char *)data, size, types[i], &m, NULL, 0) != 0)
			continue;
		char *s1 = kci_pb_to_json_text(m);
		KC_FUZZ_CHECK(s1 != NULL);
		ProtobufCMessage *m2 = NULL;
		KC_FUZZ_CHECK(kci_json_buf_to_pb(s1, strlen(s1), types[i], &m2, NULL, 0) == 0);
		char *s2 = kci_pb_to_json_text(m2);
		KC_FUZZ_CHECK(s2 != NULL && strcmp(s1, s2) == 0);
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *buf = malloc(n ? n : 1);
		KC_FUZZ_CHECK(buf != NULL);
		KC_FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
		free(buf);
		free(s1);
		free(s2);
		protobuf_c_message_free_unpacked(m, NULL);
		protobuf_c_message_free_unpacked(m2, NULL);
	}
	return 0;
}
