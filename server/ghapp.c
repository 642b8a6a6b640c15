/* ghapp.c - see ghapp.h. */
#include "server/ghapp.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/base64.h"
#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "server/store.h"
#include "server/wrappers.h"

#define REFRESH_S 3000 /* 50 minutes */
#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 300
#define RESPONSE_MAX 65536

struct kc_ghapp {
	const kc_config *cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	pthread_t thread;
	/* status */
	bool token_valid;
	double expires_at, refreshed_at;
	char last_error[640];
};

bool kc_ghapp_configured(const kc_config *cfg)
{
	return cfg->gh_app_id && *cfg->gh_app_id && cfg->gh_installation_id && *cfg->gh_installation_id &&
	       cfg->gh_private_key_file && *cfg->gh_private_key_file;
}

static char *b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(KC_BASE64_SIZE(n));
	if (out)
		kc_base64_encode(in, n, out, KC_BASE64_URL);
	return out;
}

char *kc_ghapp_jwt(const char *app_id, const char *pem, size_t pem_len, long now)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	char payload[256], *h = NULL, *p = NULL, *sig64 = NULL, *input = NULL, *jwt = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	json_t *iss;
	char *iss_json;

	/* iss as a JSON string, escaped by jansson. */
	if (!(iss = json_string(app_id)))
		return NULL;
	iss_json = json_dumps(iss, JSON_ENCODE_ANY);
	json_decref(iss);
	if (!iss_json)
		return NULL;
	snprintf(payload, sizeof payload, "{\"iat\":%ld,\"exp\":%ld,\"iss\":%s}", now - 60, now + 540, iss_json);
	free(iss_json);
	if (!(h = b64url((const unsigned char *)header, strlen(header))) ||
	    !(p = b64url((const unsigned char *)payload, strlen(payload))))
		goto out;
	if (!(input = malloc(strlen(h) + strlen(p) + 2)))
		goto out;
	sprintf(input, "%s.%s", h, p);
	if (!(bio = BIO_new_mem_buf(pem, (int)pem_len)) || !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)))
		goto out;
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	if (!(sig64 = b64url(sig, siglen)) || !(jwt = malloc(strlen(input) + strlen(sig64) + 2)))
		goto out;
	sprintf(jwt, "%s.%s", input, sig64);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(bio);
	free(h);
	free(p);
	free(input);
	free(sig);
	free(sig64);
	return jwt;
}

int kc_ghapp_parse_response(const char *body, size_t len, char **token, double *expires_at)
{
	json_t *o = json_loadb(body, len, 0, NULL), *t, *e;
	struct tm tm;
	int rc = KC_ERR_INVALID;
	const char *tok;

	if (!o || !json_is_object(o))
		goto out;
	t = json_object_get(o, "token");
	e = json_object_get(o, "expires_at");
	if (!json_is_string(t) || !*(tok = json_string_value(t)) || strlen(tok) > 4096)
		goto out;
	for (const char *c = tok; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			goto out;
	memset(&tm, 0, sizeof tm);
	if (json_is_string(e) &&
	    sscanf(json_string_value(e), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min, &tm.tm_sec) == 6 &&
	    tm.tm_year >= 1970 && tm.tm_year < 10000 && tm.tm_mon >= 1 && tm.tm_mon <= 12) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		*expires_at = (double)timegm(&tm);
	} else {
		/* GitHub's tokens last an hour. */
		*expires_at = (double)time(NULL) + 3600;
	}
	if (!(*token = strdup(tok))) {
		rc = KC_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/*
 * libcurl is loaded with dlopen() the first time a GitHub App is
 * configured, not linked: linking it maps libcurl and its dependencies
 * (GnuTLS or OpenSSL's TLS, Kerberos, LDAP, libssh2, p11-kit...) into every
 * kc-server at start, and their relocations and constructors cost ~3 MiB
 * of resident memory in a server that, without an App, never makes an HTTP
 * request. curl.h still gives the types and constants; the ABI (soname 4)
 * is the same in libcurl4 (OpenSSL) and libcurl3-gnutls, which git already
 * depends on, so either one will do.
 */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode cc);
	void (*easy_cleanup)(CURL *c);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	bool ok;
	char why[160];
} cu;

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

static void cu_load(void)
{
	static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
	void *h = NULL;
	for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(cu.why, sizeof cu.why, "libcurl is not installed (%s)", dlerror());
		return;
	}
	/* POSIX: a function pointer converts from dlsym's void * this way. */
#define CU_SYM(field, name) *(void **)(&cu.field) = dlsym(h, name)
	CU_SYM(global_init, "curl_global_init");
	CU_SYM(easy_init, "curl_easy_init");
	CU_SYM(easy_setopt, "curl_easy_setopt");
	CU_SYM(easy_perform, "curl_easy_perform");
	CU_SYM(easy_getinfo, "curl_easy_getinfo");
	CU_SYM(easy_strerror, "curl_easy_strerror");
	CU_SYM(easy_cleanup, "curl_easy_cleanup");
	CU_SYM(slist_append, "curl_slist_append");
	CU_SYM(slist_free_all, "curl_slist_free_all");
#undef CU_SYM
	if (!cu.global_init || !cu.easy_init || !cu.easy_setopt || !cu.easy_perform || !cu.easy_getinfo ||
	    !cu.easy_strerror || !cu.easy_cleanup || !cu.slist_append || !cu.slist_free_all) {
		snprintf(cu.why, sizeof cu.why, "libcurl lacks a function kc-server needs");
		return;
	}
	/* Once per process, never cleaned up: the library stays loaded. */
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(cu.why, sizeof cu.why, "libcurl failed to initialise");
		return;
	}
	cu.ok = true;
}

struct body {
	char *buf;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t add = size * n;
	char *nb;
	if (b->len + add > RESPONSE_MAX)
		return 0; /* too big: abort the transfer */
	if (!(nb = realloc(b->buf, b->len + add + 1)))
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

static int mkdirs_for(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return KC_ERR_IO;
		*p = '/';
	}
	return 0;
}

/* The App's JWT, signed with the private key read now: at every attempt,
 * since a Secret may be mounted after the start, or the key rotated, and
 * either then works without a restart. */
static int signed_jwt(const kc_config *cfg, char **jwt, char *err, size_t errlen)
{
	char *pem = NULL;
	size_t pem_len = 0;
	if (kc_file_read(cfg->gh_private_key_file, 65536, &pem, &pem_len) != 0) {
		snprintf(err, errlen, "cannot read the private key file '%s'", cfg->gh_private_key_file);
		return KC_ERR_INVALID;
	}
	*jwt = kc_ghapp_jwt(cfg->gh_app_id, pem, pem_len, (long)time(NULL));
	explicit_bzero(pem, pem_len);
	free(pem);
	if (!*jwt) {
		snprintf(err, errlen, "cannot sign the JWT with the private key");
		return KC_ERR_INVALID;
	}
	return 0;
}

/* One exchange; on failure writes why into err. */
static int exchange(kc_ghapp *g, char *err, size_t errlen, double *expires_at)
{
	const kc_config *cfg = g->cfg;
	char url[2048], auth[8192];
	char *jwt = NULL;
	struct curl_slist *hdrs = NULL;
	struct body b = {0};
	CURL *c = NULL;
	CURLcode cc;
	long code = 0;
	char *token = NULL;
	int rc = KC_ERR_UNAVAILABLE;

	if ((rc = signed_jwt(cfg, &jwt, err, errlen)) != 0)
		return rc;
	rc = KC_ERR_UNAVAILABLE;
	pthread_once(&cu_once, cu_load);
	if (!cu.ok) {
		snprintf(err, errlen, "%s", cu.why);
		free(jwt);
		return KC_ERR_UNAVAILABLE;
	}
	snprintf(url, sizeof url, "%s/app/installations/%s/access_tokens", cfg->gh_api_url, cfg->gh_installation_id);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", jwt);
	hdrs = cu.slist_append(hdrs, auth);
	hdrs = cu.slist_append(hdrs, "Accept: application/vnd.github+json");
	hdrs = cu.slist_append(hdrs, "X-GitHub-Api-Version: 2022-11-28");
	if (!(c = cu.easy_init()))
		goto out;
	cu.easy_setopt(c, CURLOPT_URL, url);
	cu.easy_setopt(c, CURLOPT_POST, 1L);
	cu.easy_setopt(c, CURLOPT_POSTFIELDS, "");
	cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cu.easy_setopt(c, CURLOPT_USERAGENT, "kube-coder");
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cu.easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = cu.easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "GitHub API unreachable: %s", cu.easy_strerror(cc));
		goto out;
	}
	cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(err, errlen, "GitHub API answered HTTP %ld", code);
		goto out;
	}
	if (!b.buf || kc_ghapp_parse_response(b.buf, b.len, &token, expires_at) != 0) {
		snprintf(err, errlen, "GitHub API answer has no token");
		rc = KC_ERR_PROTOCOL;
		goto out;
	}
	if (mkdirs_for(cfg->gh_token_file) != 0 ||
	    kc_write_file_atomic(cfg->gh_token_file, token, strlen(token), 0600) != 0) {
		snprintf(err, errlen, "cannot write the token file");
		rc = KC_ERR_IO;
		goto out;
	}
	rc = 0;
out:
	if (c)
		cu.easy_cleanup(c);
	cu.slist_free_all(hdrs);
	free(b.buf);
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
	free(jwt);
	return rc;
}

static void *refresher(void *arg)
{
	kc_ghapp *g = arg;
	long backoff = BACKOFF_MIN_S, failures = 0;
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		char err[512] = "";
		double exp = 0;
		long wait_s;
		struct timespec ts;
		int rc;
		pthread_mutex_unlock(&g->mu);
		rc = exchange(g, err, sizeof err, &exp);
		pthread_mutex_lock(&g->mu);
		if (rc == 0) {
			g->token_valid = true;
			g->expires_at = exp;
			g->refreshed_at = (double)time(NULL);
			g->last_error[0] = '\0';
			backoff = BACKOFF_MIN_S;
			failures = 0;
			wait_s = REFRESH_S;
			kc_log(KC_LOG_INFO, "github app token refreshed", "path", g->cfg->gh_token_file, NULL);
		} else {
			char n[24], next[24];
			failures++;
			wait_s = backoff;
			backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
			/* The status says how it is going, not only what failed. */
			snprintf(g->last_error, sizeof g->last_error,
			         "%s (failed %ld time%s in a row; next try in %ld s)", err, failures,
			         failures == 1 ? "" : "s", wait_s);
			if (g->expires_at <= (double)time(NULL))
				g->token_valid = false;
			snprintf(n, sizeof n, "%ld", failures);
			snprintf(next, sizeof next, "%ld", wait_s);
			kc_log(KC_LOG_WARN, "github app token refresh failed", "error", err, "failures", n,
			       "retry_in_s", next, NULL);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_s;
		while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int kc_ghapp_new(const kc_config *cfg, kc_ghapp **out, char *err, size_t errlen)
{
	kc_ghapp *g;
	int rc;
	if (!kc_ghapp_configured(cfg)) {
		*out = NULL;
		return 0;
	}
	if (!(g = calloc(1, sizeof *g)))
		return KC_ERR_NOMEM;
	g->cfg = cfg;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if ((rc = pthread_create(&g->thread, NULL, refresher, g)) != 0) {
		snprintf(err, errlen, "cannot start the GitHub App thread: %s", strerror(rc));
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cv);
		free(g);
		return KC_ERR_IO;
	}
	*out = g;
	return 0;
}

void kc_ghapp_free(kc_ghapp *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

Kc__V1__GitHubAppStatus *kc_ghapp_status(kc_ghapp *g, const kc_config *cfg)
{
	Kc__V1__GitHubAppStatus *s = malloc(sizeof *s);
	if (!s)
		return NULL;
	kc__v1__git_hub_app_status__init(s);
	s->configured = kc_ghapp_configured(cfg);
	s->token_path = strdup(cfg->gh_token_file ? cfg->gh_token_file : "");
	if (g) {
		pthread_mutex_lock(&g->mu);
		s->token_valid = g->token_valid && g->expires_at > (double)time(NULL);
		if (g->expires_at > 0)
			s->expires_at = kc_double_value_new(g->expires_at);
		if (g->refreshed_at > 0)
			s->refreshed_at = kc_double_value_new(g->refreshed_at);
		s->last_error = strdup(g->last_error);
		pthread_mutex_unlock(&g->mu);
	}
	return s;
}
