/*
 * token.c: the API token is created (0600, 48 base64url characters from 36
 * random bytes), loaded back as it was, compared exactly, regenerated in
 * file and memory at once; a file with another mode is set back to 0600, a
 * symlink in its place is refused, and a file that cannot be a token is
 * replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/log.h"
#include "server/token.h"
#include "tests/support/fs.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kc-token-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/.api-token", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(kc_test_rmtree(dir), 0);
	return 0;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The file's content, which the caller frees. */
static char *file_text(void)
{
	char *buf = NULL;
	size_t len;
	assert_int_equal(kc_file_read(path, 4096, &buf, &len), 0);
	return buf;
}

static void assert_base64url(const char *s, size_t len)
{
	assert_int_equal(strlen(s), len);
	for (size_t i = 0; i < len; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]));
}

static void test_create_and_load(void **state)
{
	kc_token *tok;
	char a[128], b[128], *saved;
	struct stat st;
	(void)state;

	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, a, sizeof a), 0);
	assert_base64url(a, 48); /* 36 bytes, no padding */
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	saved = file_text();
	assert_string_equal(saved, a);
	free(saved);
	kc_token_free(tok);

	/* Loaded back, not made anew. */
	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, b, sizeof b), 0);
	assert_string_equal(a, b);
	kc_token_free(tok);

	/* A second file is another token. */
	snprintf(b, sizeof b, "%s/.other-token", dir);
	assert_int_equal(kc_token_new(b, &tok), 0);
	assert_int_equal(kc_token_get(tok, b, sizeof b), 0);
	assert_string_not_equal(a, b);
	kc_token_free(tok);
}

static void test_check(void **state)
{
	kc_token *tok;
	char v[128], other[128];
	size_t n;
	(void)state;

	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, v, sizeof v), 0);
	n = strlen(v);
	assert_true(kc_token_check(tok, v, n));
	assert_false(kc_token_check(tok, v, n - 1)); /* a prefix */
	assert_false(kc_token_check(tok, "", 0));
	memcpy(other, v, n + 1);
	other[n - 1] = other[n - 1] == 'A' ? 'B' : 'A'; /* the last byte differs */
	assert_false(kc_token_check(tok, other, n));
	other[n - 1] = v[n - 1];
	other[0] = other[0] == 'A' ? 'B' : 'A'; /* the first byte differs */
	assert_false(kc_token_check(tok, other, n));
	memcpy(other, v, n);
	other[n] = 'x'; /* one byte longer */
	assert_false(kc_token_check(tok, other, n + 1));
	kc_token_free(tok);

	assert_true(kc_ct_equal("abc", "abc", 3));
	assert_false(kc_ct_equal("abc", "abd", 3));
	assert_true(kc_ct_equal("abc", "abd", 2));
	assert_true(kc_ct_equal("", "x", 0));
}

/* The old token stops working for the very next call, and the file holds
 * the new one. */
static void test_regenerate(void **state)
{
	kc_token *tok;
	char old[128], fresh[128], got[128], *saved;
	struct stat st;
	(void)state;

	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, old, sizeof old), 0);
	assert_int_equal(kc_token_regenerate(tok, fresh, sizeof fresh), 0);
	assert_base64url(fresh, 48);
	assert_string_not_equal(old, fresh);
	assert_false(kc_token_check(tok, old, strlen(old)));
	assert_true(kc_token_check(tok, fresh, strlen(fresh)));
	assert_int_equal(kc_token_get(tok, got, sizeof got), 0);
	assert_string_equal(got, fresh);
	saved = file_text();
	assert_string_equal(saved, fresh);
	free(saved);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	kc_token_free(tok);
}

/* A token written by hand (with a trailing newline) is used as it is; one
 * too short to be a token, or too large for the file, is replaced. */
static void test_file_contents(void **state)
{
	static const char hand[] = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
	kc_token *tok;
	char v[200], big[300];
	(void)state;

	write_file(path, "0123456789abcdefghijklmnopqrstuvwxyzABCD\n");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, v, sizeof v), 0);
	assert_string_equal(v, hand);
	assert_true(kc_token_check(tok, hand, strlen(hand)));
	kc_token_free(tok);

	write_file(path, "short\n");
	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, v, sizeof v), 0);
	assert_base64url(v, 48);
	assert_false(kc_token_check(tok, "short", 5));
	kc_token_free(tok);

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	write_file(path, big);
	assert_int_equal(kc_token_new(path, &tok), 0);
	assert_int_equal(kc_token_get(tok, v, sizeof v), 0);
	assert_base64url(v, 48);
	assert_false(kc_token_check(tok, big, 127));
	kc_token_free(tok);
}

/* The token file is set back to 0600 when loaded with another mode, and
 * a symlink in its place is refused. (Moved here from store_test.) */
static void test_token_mode(void **state)
{
	char link[256];
	struct stat st;
	kc_token *tok;
	(void)state;
	assert_int_equal(kc_token_new(path, &tok), 0);
	kc_token_free(tok);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(kc_token_new(path, &tok), 0);
	kc_token_free(tok);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(link, sizeof link, "%s/.api-token-link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(kc_token_new(link, &tok), KC_ERR_IO);
}

/* A directory in the token's place is not a token either. */
static void test_not_a_file(void **state)
{
	kc_token *tok = NULL;
	(void)state;
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(kc_token_new(path, &tok), KC_ERR_IO);
	assert_null(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_regenerate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_contents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
	};
	kc_log_set_level(KC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
