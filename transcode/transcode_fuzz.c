/* Fuzz target: hostile JSON into every API message type, then the message
 * back out as JSON and as protobuf bytes. Nothing may crash or leak. The
 * first input byte picks the message type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "google/api/httpbody.pb-c.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"
#include "transcode/transcode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const types[] = {
    &kc__v1__create_task_request__descriptor,
    &kc__v1__task__descriptor,
    &kc__v1__health__descriptor,
    &kc__v1__metrics__descriptor,
    &kc__v1__task_event__descriptor,
    &kc__v1__list_tasks_response__descriptor,
    &kc__v1__git_hub_status__descriptor,
    &google__api__http_body__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m;
	char err[256];
	kc_buf out;

	if (size < 1)
		return 0;
	d = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	m = kc_message_new(d);
	if (!m)
		return 0;
	kc_buf_init(&out, 1 << 20);
	if (kc_json_to_message(m, (const char *)data + 1, size - 1, "*", err, sizeof(err)) == 0) {
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *packed = malloc(n ? n : 1);

		if (packed) {
			ProtobufCMessage *back;

			protobuf_c_message_pack(m, packed);
			back = protobuf_c_message_unpack(d, NULL, n, packed);
			if (back) {
				kc_message_to_json(back, NULL, &out);
				kc_message_free(back);
			}
			free(packed);
		}
	}
	/* The query form, too. */
	kc_message_set_query(m, (const char *)data + 1, size - 1, err, sizeof(err));
	kc_message_to_json(m, NULL, &out);
	kc_buf_release(&out);
	kc_message_free(m);
	return 0;
}
