/* token.c - see token.h. */
#include "server/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kc_error.h"
#include "server/store.h"

#define TOKEN_BYTES 36
#define TOKEN_MAX 128

struct kc_token {
	pthread_mutex_t mu;
	char *path;
	char value[TOKEN_MAX];
	size_t len;
};

static void b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tbl[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tbl[v & 63];
	}
	out[o] = '\0';
}

/* Makes a new token and writes it; call with mu held. */
static int fresh(kc_token *t)
{
	unsigned char raw[TOKEN_BYTES];
	char v[TOKEN_MAX];
	int rc;
	if (RAND_bytes(raw, sizeof raw) != 1)
		return KC_ERR_INTERNAL;
	b64url(raw, sizeof raw, v);
	OPENSSL_cleanse(raw, sizeof raw);
	if ((rc = kc_write_file_atomic(t->path, v, strlen(v), 0600)) != 0)
		return rc;
	memcpy(t->value, v, sizeof v);
	t->len = strlen(v);
	return 0;
}

int kc_token_new(const char *path, kc_token **out)
{
	kc_token *t = calloc(1, sizeof *t);
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (!t || !(t->path = strdup(path))) {
		free(t);
		return KC_ERR_NOMEM;
	}
	pthread_mutex_init(&t->mu, NULL);
	rc = kc_read_file(path, TOKEN_MAX - 1, &buf, &len);
	if (rc == 0) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			len--;
		if (len >= 32) {
			memcpy(t->value, buf, len);
			t->value[len] = '\0';
			t->len = len;
		}
	}
	free(buf);
	if (t->len == 0 && (rc = fresh(t)) != 0) {
		kc_token_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void kc_token_free(kc_token *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->value, sizeof t->value);
	pthread_mutex_destroy(&t->mu);
	free(t->path);
	free(t);
}

int kc_token_get(kc_token *t, char *buf, size_t len)
{
	pthread_mutex_lock(&t->mu);
	snprintf(buf, len, "%s", t->value);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

int kc_token_regenerate(kc_token *t, char *buf, size_t len)
{
	int rc;
	pthread_mutex_lock(&t->mu);
	rc = fresh(t);
	if (rc == 0)
		snprintf(buf, len, "%s", t->value);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

bool kc_token_check(kc_token *t, const char *candidate, size_t len)
{
	bool ok;
	pthread_mutex_lock(&t->mu);
	/* The length is not secret (it is fixed); the bytes are. */
	ok = len == t->len && t->len > 0 && CRYPTO_memcmp(candidate, t->value, len) == 0;
	pthread_mutex_unlock(&t->mu);
	return ok;
}
