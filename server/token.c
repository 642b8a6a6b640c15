/* token.c - see token.h. */
#include "server/token.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"
#include "server/store.h"

#define TOKEN_BYTES 36
#define TOKEN_MAX 128

struct kc_token {
	pthread_mutex_t mu;
	char *path;
	char value[TOKEN_MAX];
	size_t len;
};

/*
 * The kernel's CSPRNG (getrandom(2)) and a constant-time compare rather
 * than OpenSSL's RAND_bytes and CRYPTO_memcmp: the first call of RAND_bytes
 * initialises OpenSSL's providers and DRBGs, about 2 MiB of resident memory
 * that an idle kc-server does not otherwise need (it only speaks TLS-free
 * gRPC on a unix socket; the GitHub App signs with OpenSSL when configured).
 */
int kc_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t r = getrandom(p, len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return KC_ERR_INTERNAL;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

bool kc_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* Makes a new token and writes it; call with mu held. */
static int fresh(kc_token *t)
{
	unsigned char raw[TOKEN_BYTES];
	char v[TOKEN_MAX];
	int rc;
	if (kc_random_bytes(raw, sizeof raw) != 0)
		return KC_ERR_INTERNAL;
	kc_base64_encode(raw, sizeof raw, v, KC_BASE64_URL);
	explicit_bzero(raw, sizeof raw);
	if ((rc = kc_write_file_atomic(t->path, v, strlen(v), 0600)) != 0)
		return rc;
	memcpy(t->value, v, sizeof v);
	t->len = strlen(v);
	return 0;
}

/*
 * The token file must be readable by the workspace user alone: anyone who
 * reads it has the API. A file found with other bits (a restore, a chmod by
 * hand, an old version's umask) is set back to 0600 and the fix logged.
 * Returns 0 (also when there is no file yet), or KC_ERR_IO when the path is
 * not a regular file or its mode cannot be fixed: then it is not used.
 */
static int check_mode(const char *path)
{
	struct stat st;
	char was[8];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : KC_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		kc_log(KC_LOG_ERROR, "the API token path is not a regular file", "path", path, NULL);
		return KC_ERR_IO;
	}
	if ((st.st_mode & 07777) != 0600) {
		snprintf(was, sizeof was, "%04o", (unsigned)(st.st_mode & 07777));
		if (fchmod(fd, 0600) != 0) {
			kc_log(KC_LOG_ERROR, "cannot set the API token file's mode to 0600", "path", path, "mode", was,
			       "error", strerror(errno), NULL);
			close(fd);
			return KC_ERR_IO;
		}
		kc_log(KC_LOG_WARN, "the API token file's mode was wrong; set to 0600", "path", path, "mode", was,
		       NULL);
	}
	close(fd);
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
	if ((rc = check_mode(path)) != 0) {
		kc_token_free(t);
		return rc;
	}
	rc = kc_file_read(path, TOKEN_MAX - 1, &buf, &len);
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
	explicit_bzero(t->value, sizeof t->value);
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
	ok = len == t->len && t->len > 0 && kc_ct_equal(candidate, t->value, len);
	pthread_mutex_unlock(&t->mu);
	return ok;
}
