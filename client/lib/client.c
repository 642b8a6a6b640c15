/*
 * The client: its URL, transport, token and options, the last error, and
 * what every call of the API goes through (client.c); the calls and their
 * result structs are in tasks.c and workspace.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/internal.h"
#include "client/lib/json_pb.h"
#include "google/protobuf/wrappers.pb-c.h"

/* ---- errors -------------------------------------------------------------- */

int kci_set_error(kc_client *c, int err, const char *fmt, ...)
{
	if (!fmt) {
		c->last_error[0] = '\0';
		return err;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
	return err;
}

int kci_error_from_http(long status)
{
	switch (status) {
	case 400:
	case 422:
		return KC_ERR_INVALID;
	case 401:
		return KC_ERR_UNAUTHENTICATED;
	case 403:
		return KC_ERR_PERMISSION;
	case 404:
		return KC_ERR_NOT_FOUND;
	case 405:
		return KC_ERR_METHOD;
	case 409:
		return KC_ERR_PRECONDITION;
	case 413:
		return KC_ERR_TOO_LARGE;
	case 429:
		return KC_ERR_LIMIT;
	case 499:
		return KC_ERR_CANCELLED;
	case 501:
		return KC_ERR_UNSUPPORTED;
	case 502:
	case 503:
		return KC_ERR_UNAVAILABLE;
	case 504:
		return KC_ERR_TIMEOUT;
	default:
		return status >= 500 ? KC_ERR_INTERNAL : KC_ERR_PROTOCOL;
	}
}

void kc_free(void *ptr)
{
	free(ptr);
}

/* ---- the client ------------------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int kc_client_new(kc_client **out, const char *url, const char *token)
{
	if (!out || !url)
		return KC_ERR_INVALID;
	kc_client *c = calloc(1, sizeof *c);
	if (!c)
		return KC_ERR_NOMEM;
	int rc = KC_ERR_NOMEM;
	c->timeout_ms = 30000;
	atomic_init(&c->cancelled, 0);
	c->url = strdup(url);
	c->token = strdup(token ? token : "");
	if (!c->url || !c->token)
		goto fail;
	if (starts(url, "grpc://") || starts(url, "grpcs://")) {
		c->tr = &kci_grpc_transport;
		c->tls = starts(url, "grpcs://");
		const char *hp = url + (c->tls ? 8 : 7);
		c->target = strndup(hp, strcspn(hp, "/"));
	} else if (starts(url, "unix:")) {
		c->tr = &kci_grpc_transport;
		c->target = strdup(url);
	} else if (starts(url, "http://") || starts(url, "https://")) {
		c->tr = &kci_rest_transport;
		c->tls = starts(url, "https://");
		const char *host = url + (c->tls ? 8 : 7);
		if (host[0] == '\0' || host[0] == '/' || host[0] == ':' || strpbrk(host, " \t\r\n?#")) {
			rc = KC_ERR_INVALID;
			goto fail;
		}
		c->target = strdup(url);
		if (c->target) {
			size_t n = strlen(c->target);
			while (n > 8 && c->target[n - 1] == '/')
				c->target[--n] = '\0';
		}
	} else {
		rc = KC_ERR_INVALID;
		goto fail;
	}
	if (!c->target)
		goto fail;
	if (c->target[0] == '\0' || strcmp(c->target, "unix:") == 0) {
		rc = KC_ERR_INVALID;
		goto fail;
	}
	rc = c->tr->open(c);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	free(c->target);
	free(c->token);
	free(c->url);
	free(c);
	return rc;
}

void kc_client_free(kc_client *c)
{
	if (!c)
		return;
	c->tr->close(c);
	free(c->ca_file);
	free(c->target);
	free(c->token);
	free(c->url);
	free(c);
}

void kc_client_set_timeout(kc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
}

int kc_client_set_ca_file(kc_client *c, const char *path)
{
	char *p = path ? strdup(path) : NULL;
	if (path && !p)
		return KC_ERR_NOMEM;
	free(c->ca_file);
	c->ca_file = p;
	if (c->tr == &kci_grpc_transport && c->tls) {
		/* The channel's credentials are fixed when it is made. */
		c->tr->close(c);
		return c->tr->open(c);
	}
	return 0;
}

void kc_client_cancel(kc_client *c)
{
	atomic_store(&c->cancelled, 1);
}

const char *kc_client_last_error(const kc_client *c)
{
	return c->last_error;
}

const char *kc_client_transport(const kc_client *c)
{
	return c->tr->name;
}

const char *kc_client_token(const kc_client *c)
{
	return c->token;
}

/* Every call starts here: clears the last error and a cancel that came
 * between calls. */
void kci_begin(kc_client *c)
{
	c->last_error[0] = '\0';
	atomic_store(&c->cancelled, 0);
}

int kci_unary(kc_client *c, const struct kci_rpc *rpc, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	kci_begin(c);
	int rc = c->tr->unary(c, rpc, req, resp);
	if (rc && !c->last_error[0])
		kci_set_error(c, rc, "%s", kc_strerror(rc));
	return rc;
}

int kci_need_id(kc_client *c, const char *id)
{
	if (!c)
		return KC_ERR_INVALID;
	if (!id || !id[0]) {
		kci_begin(c);
		return kci_set_error(c, KC_ERR_INVALID, "a task id is required");
	}
	return 0;
}

double kci_double_value(const Google__Protobuf__DoubleValue *v)
{
	return v ? v->value : 0;
}

int kci_dump(const ProtobufCMessage *msg, char **out)
{
	char *s = kci_pb_to_json_text(msg);
	if (!s)
		return KC_ERR_NOMEM;
	*out = s;
	return 0;
}
