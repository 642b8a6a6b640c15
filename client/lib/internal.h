/*
 * internal.h - what the library's files share: the client, the rpc table
 * and the two transports' entry points. Not installed.
 */
#ifndef KC_CLIENT_INTERNAL_H
#define KC_CLIENT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "kc/client.h"

/* One rpc: its gRPC method path and its REST route (from the
 * google.api.http annotation in proto/kc/v1/). `rest_path` names at most one
 * path variable, `{task_id}`; request fields not in the path go into the
 * JSON body when `rest_body`, into the query string otherwise. */
struct kci_rpc {
	const char *grpc_path;
	const char *rest_method;
	const char *rest_path;
	bool rest_body;
	const ProtobufCMessageDescriptor *in;
	const ProtobufCMessageDescriptor *out;
};

extern const struct kci_rpc kci_rpc_create_task, kci_rpc_list_tasks, kci_rpc_get_task, kci_rpc_get_task_output,
    kci_rpc_send_message, kci_rpc_kill_task, kci_rpc_prepare_terminal, kci_rpc_watch_task, kci_rpc_get_metrics,
    kci_rpc_get_health, kci_rpc_get_github_status, kci_rpc_get_api_token;

/* A streamed message; the transport frees it after the callback. Return 0
 * to go on. */
typedef int (*kci_msg_cb)(const ProtobufCMessage *msg, void *user_data);

struct kci_transport {
	const char *name;
	int (*open)(kc_client *c);
	void (*close)(kc_client *c);
	int (*unary)(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp);
	int (*stream)(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, kci_msg_cb cb,
	              void *user_data);
};

extern const struct kci_transport kci_grpc_transport, kci_rest_transport;

struct kc_client {
	const struct kci_transport *tr;
	char *url;    /* as given */
	char *target; /* gRPC target ("host:port", "unix:/p") or REST base URL without trailing slash */
	bool tls;
	char *token;
	char *ca_file;
	int timeout_ms;
	atomic_int cancelled;
	char last_error[512];
	void *impl; /* the transport's state */
};

/* Sets last_error ("" for NULL) and returns err. */
int kci_set_error(kc_client *c, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The kc_error for an HTTP status >= 400. */
int kci_error_from_http(long status);

#endif
