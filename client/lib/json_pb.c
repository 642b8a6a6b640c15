#include "client/lib/json_pb.h"

#include "kc/error.h"
#include "transcode/transcode.h"

char *kci_pb_to_json_text(const ProtobufCMessage *msg)
{
	char *s = NULL;

	return kc_message_to_json_text(msg, KC_JSON_CLIENT, &s) == 0 ? s : NULL;
}

int kci_json_buf_to_pb(const char *buf, size_t len, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       char *err, size_t errlen)
{
	int rc = kc_json_to_new_message(desc, buf, len, KC_JSON_CLIENT, out, err, errlen);

	return rc == KC_ERR_INVALID ? KC_ERR_PROTOCOL : rc;
}
