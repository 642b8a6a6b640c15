/* File-system and process helpers for C tests: cleanup without system()
 * or shell strings (the same rule as the product code). */
#ifndef KC_TESTS_SUPPORT_FS_H
#define KC_TESTS_SUPPORT_FS_H

/* Removes `path` and everything under it, not following symlinks. Returns 0,
 * or -1 with errno set by the first failure. A missing path is success. */
int kc_test_rmtree(const char *path);

/* Runs argv[0] (looked up in PATH) with argv, stdout and stderr to
 * /dev/null, and waits. Returns its exit status, or -1 when it could not be
 * run or did not exit normally. */
int kc_test_run(char *const argv[]);

#endif /* KC_TESTS_SUPPORT_FS_H */
