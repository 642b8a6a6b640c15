/* lock: one holder at a time, the holder named, released on release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "server/lock.h"
#include "tests/support/fs.h"

static void test_exclusive(void **state)
{
	char dir[] = "/tmp/kc-lock-XXXXXX", path[256], err[512], want[64];
	kc_lock *a = NULL, *b = NULL;
	struct stat st;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/.kc-server.lock", dir);
	assert_int_equal(kc_lock_acquire(path, "home", &a, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* flock is per open file: a second open in this process conflicts
	 * just as another process's would. */
	assert_int_equal(kc_lock_acquire(path, "home", &b, err, sizeof err), KC_ERR_EXISTS);
	assert_null(b);
	snprintf(want, sizeof want, "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "this home"));
	kc_lock_release(a);
	assert_int_equal(kc_lock_acquire(path, "home", &b, err, sizeof err), 0);
	kc_lock_release(b);
	kc_lock_release(NULL);
	/* A symlink in its place is not followed. */
	snprintf(path, sizeof path, "%s/link.lock", dir);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(kc_lock_acquire(path, "socket", &a, err, sizeof err), KC_ERR_IO);
	assert_int_equal(kc_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exclusive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
