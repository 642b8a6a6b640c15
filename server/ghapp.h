/*
 * ghapp.h - GitHub App installation tokens for git and gh.
 *
 * When github_app.app_id, installation_id and private_key_file are set, a
 * thread signs a JWT (RS256, OpenSSL EVP) for the App, exchanges it with
 * libcurl at POST {api_url}/app/installations/{id}/access_tokens, writes
 * the token to token_file with mode 0600 (where git's credential helper and
 * gh read it) and refreshes it every 50 minutes; failures are retried with
 * exponential backoff (5 s doubling to 5 min) and reported in the status.
 */
#ifndef KC_SERVER_GHAPP_H
#define KC_SERVER_GHAPP_H

#include <stdbool.h>
#include <stddef.h>

#include "kc/v1/workspace.pb-c.h"
#include "server/config.h"

typedef struct kc_ghapp kc_ghapp;

/* True when the App is configured (all three settings present). */
bool kc_ghapp_configured(const kc_config *cfg);

/* Starts the refresher (its first exchange happens at once, in the
 * background). Returns 0 or a kc_error (unreadable key: KC_ERR_INVALID). */
int kc_ghapp_new(const kc_config *cfg, kc_ghapp **out, char *err, size_t errlen);
void kc_ghapp_free(kc_ghapp *g);

/* A heap status message; `g` may be NULL (App not configured). */
Kc__V1__GitHubAppStatus *kc_ghapp_status(kc_ghapp *g, const kc_config *cfg);

/* Builds the App's JWT (iat 60 s in the past, exp 9 minutes ahead). Returns
 * a malloc'd string or NULL. Exposed for tests. */
char *kc_ghapp_jwt(const char *app_id, const char *pem, size_t pem_len, long now);

/* Parses the exchange's JSON answer: {"token": "...", "expires_at":
 * "2024-01-01T00:00:00Z"}. Returns 0 and malloc'd *token plus *expires_at
 * (Unix seconds), or KC_ERR_INVALID. Exposed for the fuzz target. */
int kc_ghapp_parse_response(const char *body, size_t len, char **token, double *expires_at);

#endif /* KC_SERVER_GHAPP_H */
