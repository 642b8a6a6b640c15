/* static_test.c - files from a temporary web root; every escape refused. */
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

#include "gateway/static.h"

static char root[256];
static char outside[300];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char p[512];

	(void)state;
	snprintf(root, sizeof(root), "%s/webXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return -1;
	snprintf(p, sizeof(p), "%s/index.html", root);
	write_file(p, "<p>hi</p>");
	snprintf(p, sizeof(p), "%s/app.js", root);
	write_file(p, "x()");
	snprintf(p, sizeof(p), "%s/.secret", root);
	write_file(p, "no");
	snprintf(p, sizeof(p), "%s/sub", root);
	mkdir(p, 0755);
	snprintf(outside, sizeof(outside), "%s.outside", root);
	write_file(outside, "outside");
	snprintf(p, sizeof(p), "%s/link", root);
	if (symlink(outside, p))
		return -1;
	return 0;
}

static int get(const char *path, kc_static_answer *a)
{
	assert_int_equal(kc_static_serve(root, path, strlen(path), NULL, NULL, 1 << 20, a), 0);
	free(a->body);
	a->body = NULL;
	return a->status;
}

static void test_serves(void **state)
{
	kc_static_answer a;
	char etag[64];

	(void)state;
	assert_int_equal(get("/", &a), 200);
	assert_string_equal(a.content_type, "text/html; charset=utf-8");
	assert_int_equal(get("/oauth/", &a), 200);
	assert_int_equal(get("/app.js", &a), 200);
	assert_string_equal(a.content_type, "text/javascript; charset=utf-8");
	assert_int_equal(get("/oauth/app.js", &a), 200);
	snprintf(etag, sizeof(etag), "%s", a.etag);
	assert_int_equal(kc_static_serve(root, "/app.js", 7, etag, NULL, 1 << 20, &a), 0);
	assert_int_equal(a.status, 304);
	assert_null(a.body);
}

static void test_refuses(void **state)
{
	const char *bad[] = {"/../etc/passwd",
	                     "/%2e%2e/etc/passwd",
	                     "/sub/../index.html",
	                     "/./index.html",
	                     "/.secret",
	                     "/sub",
	                     "/sub/",
	                     "//index.html",
	                     "/link",
	                     "/app.js%00",
	                     "/a%2findex.html",
	                     "/%zz",
	                     "/missing",
	                     "/oauth",
	                     "/..%5c..%5cetc",
	                     "relative"};
	kc_static_answer a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (get(bad[i], &a) != 404)
			fail_msg("%s was served", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_serves),
	    cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
