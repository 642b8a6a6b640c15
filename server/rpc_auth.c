/*
 * rpc_auth.c - who is calling, and may they call this method.
 */
#include "server/rpc_int.h"

#include <grpc/support/alloc.h>
#include <strings.h>

static bool md_is(const grpc_metadata *m, const char *key)
{
	size_t n = strlen(key);
	return GRPC_SLICE_LENGTH(m->key) == n && memcmp(GRPC_SLICE_START_PTR(m->key), key, n) == 0;
}

/* Copies a metadata value into buf as a C string; false when too long. */
static bool md_value(const grpc_metadata *m, char *buf, size_t len)
{
	size_t n = GRPC_SLICE_LENGTH(m->value);
	if (n >= len)
		return false;
	memcpy(buf, GRPC_SLICE_START_PTR(m->value), n);
	buf[n] = '\0';
	return memchr(buf, '\0', n) == NULL;
}

/*
 * Who is calling, and may they call this method?
 *
 * The OAuth identity (x-kc-oauth-user / x-kc-oauth-email) is set by
 * kc-gateway after the workspace's OAuth proxy authenticated the browser.
 * It is trusted ONLY when the call arrived over the unix socket, which the
 * server knows from grpc_call_get_peer(): gRPC core reports a unix-socket
 * peer as "unix:..." and a TCP peer as "ipv4:..."/"ipv6:...". The socket
 * lives in a 0700 directory, so only the workspace user's processes (the
 * gateway) can connect to it; a remote client over TCP that sends the same
 * metadata is ignored and needs the bearer token like everyone else.
 * The peer is looked up only for calls that carry the identity (it costs
 * an allocation, and most calls carry a bearer alone). Before the peer,
 * the listener decides: a call taken by the TCP port's server never has an
 * identity, whatever its peer string says.
 */
static bool unix_peer(struct call *c, int *cached)
{
	if (*cached < 0) {
		char *peer = grpc_call_get_peer(c->call);
		*cached = peer && strncmp(peer, "unix:", 5) == 0;
		gpr_free(peer);
	}
	return *cached;
}

int kc_rpc_authorize(struct call *c, kc_rpc_ctx *ctx, char *user, char *email, size_t cap, char *err, size_t errlen)
{
	bool have_user = false;
	int is_unix = -1;

	memset(ctx, 0, sizeof *ctx);
	for (size_t i = 0; i < c->md.count; i++) {
		const grpc_metadata *m = &c->md.metadata[i];
		if (md_is(m, "authorization")) {
			size_t n = GRPC_SLICE_LENGTH(m->value);
			const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
			if (n > 7 && strncasecmp(v, "Bearer ", 7) == 0 && kc_token_check(c->s->token, v + 7, n - 7))
				ctx->bearer = true;
		} else if (md_is(m, "x-kc-oauth-user") && !c->tcp && unix_peer(c, &is_unix)) {
			have_user = md_value(m, user, cap) && *user;
		} else if (md_is(m, "x-kc-oauth-email") && !c->tcp && unix_peer(c, &is_unix)) {
			if (!md_value(m, email, cap))
				*email = '\0';
		}
	}
	if (have_user) {
		ctx->oauth_user = user;
		ctx->oauth_email = email;
	}
	switch (c->m->auth) {
	case KC_AUTH_NONE:
		return 0;
	case KC_AUTH_ANY:
		if (ctx->bearer || ctx->oauth_user)
			return 0;
		snprintf(err, errlen, "missing or invalid bearer token");
		return KC_ERR_UNAUTHENTICATED;
	case KC_AUTH_OAUTH_ONLY:
		if (ctx->oauth_user)
			return 0;
		if (ctx->bearer) {
			snprintf(err, errlen, "the API token is only available to a browser session (OAuth)");
			return KC_ERR_PERMISSION;
		}
		snprintf(err, errlen, "an OAuth identity is required");
		return KC_ERR_UNAUTHENTICATED;
	}
	return KC_ERR_INTERNAL;
}
