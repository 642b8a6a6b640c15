#include "common/kc_error.h"

#include <stddef.h>

/* One row per code, in enum order, so every mapping is read from one place. */
struct error_row {
	int code;
	const char *name;
	const char *text;
	int grpc; /* grpc_status_code values, spelled as numbers to keep gRPC out of this file */
	int http;
};

static const struct error_row rows[] = {
    {KC_OK, "KC_OK", "ok", 0, 200},
    {KC_ERR_NOMEM, "KC_ERR_NOMEM", "out of memory", 8 /* RESOURCE_EXHAUSTED */, 500},
    {KC_ERR_INVALID, "KC_ERR_INVALID", "invalid argument", 3 /* INVALID_ARGUMENT */, 400},
    {KC_ERR_NOT_FOUND, "KC_ERR_NOT_FOUND", "not found", 5 /* NOT_FOUND */, 404},
    {KC_ERR_EXISTS, "KC_ERR_EXISTS", "already exists", 6 /* ALREADY_EXISTS */, 409},
    {KC_ERR_UNAUTHENTICATED, "KC_ERR_UNAUTHENTICATED", "unauthenticated", 16 /* UNAUTHENTICATED */, 401},
    {KC_ERR_PERMISSION, "KC_ERR_PERMISSION", "permission denied", 7 /* PERMISSION_DENIED */, 403},
    {KC_ERR_PRECONDITION, "KC_ERR_PRECONDITION", "failed precondition", 9 /* FAILED_PRECONDITION */, 409},
    {KC_ERR_LIMIT, "KC_ERR_LIMIT", "limit reached", 8 /* RESOURCE_EXHAUSTED */, 429},
    {KC_ERR_TOO_LARGE, "KC_ERR_TOO_LARGE", "too large", 8 /* RESOURCE_EXHAUSTED */, 413},
    {KC_ERR_IO, "KC_ERR_IO", "input/output error", 13 /* INTERNAL */, 500},
    {KC_ERR_TIMEOUT, "KC_ERR_TIMEOUT", "timed out", 4 /* DEADLINE_EXCEEDED */, 504},
    {KC_ERR_UNAVAILABLE, "KC_ERR_UNAVAILABLE", "unavailable", 14 /* UNAVAILABLE */, 503},
    {KC_ERR_PROTOCOL, "KC_ERR_PROTOCOL", "protocol error", 13 /* INTERNAL */, 502},
    {KC_ERR_CANCELLED, "KC_ERR_CANCELLED", "cancelled", 1 /* CANCELLED */, 499},
    {KC_ERR_METHOD, "KC_ERR_METHOD", "method not allowed", 12 /* UNIMPLEMENTED */, 405},
    {KC_ERR_UNSUPPORTED, "KC_ERR_UNSUPPORTED", "not supported", 12 /* UNIMPLEMENTED */, 501},
    {KC_ERR_INTERNAL, "KC_ERR_INTERNAL", "internal error", 13 /* INTERNAL */, 500},
};

static const struct error_row *row_for(int err)
{
	if (err > 0 || -err >= (int)(sizeof rows / sizeof rows[0]))
		return NULL;
	return &rows[-err];
}

const char *kc_strerror(int err)
{
	const struct error_row *r = row_for(err);
	return r ? r->text : "unknown error";
}

const char *kc_error_name(int err)
{
	const struct error_row *r = row_for(err);
	return r ? r->name : "KC_ERR_UNKNOWN";
}

int kc_error_to_grpc_status(int err)
{
	const struct error_row *r = row_for(err);
	return r ? r->grpc : 2 /* UNKNOWN */;
}

int kc_error_to_http_status(int err)
{
	const struct error_row *r = row_for(err);
	return r ? r->http : 500;
}

int kc_error_from_grpc_status(int grpc_status)
{
	switch (grpc_status) {
	case 0:
		return KC_OK;
	case 1:
		return KC_ERR_CANCELLED;
	case 3:
	case 11: /* OUT_OF_RANGE */
		return KC_ERR_INVALID;
	case 4:
		return KC_ERR_TIMEOUT;
	case 5:
		return KC_ERR_NOT_FOUND;
	case 6:
		return KC_ERR_EXISTS;
	case 7:
		return KC_ERR_PERMISSION;
	case 8:
		return KC_ERR_LIMIT;
	case 9:
	case 10: /* ABORTED */
		return KC_ERR_PRECONDITION;
	case 12:
		return KC_ERR_UNSUPPORTED;
	case 14:
		return KC_ERR_UNAVAILABLE;
	case 16:
		return KC_ERR_UNAUTHENTICATED;
	default:
		return KC_ERR_INTERNAL;
	}
}
