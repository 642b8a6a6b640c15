/*
 * kc_error.h - the one error enum of kube-coder.
 *
 * Every fallible function in the project returns 0 (KC_OK) or one of these
 * negative codes. Codes are only ever appended, never renumbered or removed,
 * because libkcclient's users compare against them.
 *
 * Each code has a fixed gRPC status (kc_error_to_grpc_status) and HTTP status
 * (kc_error_to_http_status), so an error returned deep inside the server
 * becomes the right answer at the edge without a second table.
 */
#ifndef KC_ERROR_H
#define KC_ERROR_H

typedef enum kc_error {
	KC_OK = 0,
	/* Out of memory. */
	KC_ERR_NOMEM = -1,
	/* The caller's input is malformed: bad JSON, a blank prompt, a bad id. */
	KC_ERR_INVALID = -2,
	/* The named thing (task, route, service, file) does not exist. */
	KC_ERR_NOT_FOUND = -3,
	/* It exists already. */
	KC_ERR_EXISTS = -4,
	/* No credentials, or wrong ones. */
	KC_ERR_UNAUTHENTICATED = -5,
	/* Credentials are right but not allowed here (bearer on an OAuth-only rpc). */
	KC_ERR_PERMISSION = -6,
	/* The operation needs a state the object is not in (session ended). */
	KC_ERR_PRECONDITION = -7,
	/* A limit was reached: running tasks, body size, connections. */
	KC_ERR_LIMIT = -8,
	/* Input larger than allowed. */
	KC_ERR_TOO_LARGE = -9,
	/* A system call failed; errno-level detail is in the log. */
	KC_ERR_IO = -10,
	/* A peer or child process did not answer in time. */
	KC_ERR_TIMEOUT = -11,
	/* A dependency (kc-server, tmux, GitHub) cannot be reached. */
	KC_ERR_UNAVAILABLE = -12,
	/* The peer spoke the protocol wrongly. */
	KC_ERR_PROTOCOL = -13,
	/* The request was cancelled or the peer went away. */
	KC_ERR_CANCELLED = -14,
	/* The method or route exists but not with this HTTP method. */
	KC_ERR_METHOD = -15,
	/* Not implemented here. */
	KC_ERR_UNSUPPORTED = -16,
	/* A bug or an impossible state; details are in the log. */
	KC_ERR_INTERNAL = -17,
} kc_error;

/* A short lower-case description of `err`, such as "not found". Never NULL;
 * unknown codes give "unknown error". */
const char *kc_strerror(int err);

/* The code's symbolic name, such as "KC_ERR_NOT_FOUND". */
const char *kc_error_name(int err);

/* The gRPC status code (grpc_status_code's numeric value) for `err`. */
int kc_error_to_grpc_status(int err);

/* The kc_error for a gRPC status code; KC_OK for 0. */
int kc_error_from_grpc_status(int grpc_status);

/* The HTTP status for `err`: 400, 401, 403, 404, 405, 409, 413, 429, 500,
 * 501, 503 or 504; 200 for KC_OK. */
int kc_error_to_http_status(int err);

#endif /* KC_ERROR_H */
