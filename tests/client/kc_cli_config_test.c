/* kc's config file: parse, refuse, put and write back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "client/cli/config.h"
#include "common/kc_error.h"

static const char good[] = "current: alice\n"
                           "workspaces:\n"
                           "  alice:\n"
                           "    url: https://alice.dev.example.com\n"
                           "    token: abc\n"
                           "  local:\n"
                           "    url: grpc://127.0.0.1:50051\n"
                           "    token_file: ~/.claude-tasks/.api-token\n"
                           "    tmux_socket: /tmp/kc-tmux/default\n";

static void test_parse(void **state)
{
	(void)state;
	struct kcc_config *cfg = NULL;
	char err[200] = "";
	assert_int_equal(kcc_config_parse(good, strlen(good), &cfg, err, sizeof err), 0);
	assert_string_equal(cfg->current, "alice");
	assert_int_equal(cfg->n_ws, 2);
	const struct kcc_workspace *w = kcc_config_find(cfg, "local");
	assert_non_null(w);
	assert_string_equal(w->url, "grpc://127.0.0.1:50051");
	assert_string_equal(w->token_file, "~/.claude-tasks/.api-token");
	assert_null(w->token);
	assert_null(kcc_config_find(cfg, "bob"));
	kcc_config_free(cfg);

	assert_int_equal(kcc_config_parse("", 0, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg->n_ws, 0);
	assert_null(cfg->current);
	kcc_config_free(cfg);
	kcc_config_free(NULL);
}

static void test_refuse(void **state)
{
	(void)state;
	const char *bad[] = {
	    "currnet: alice\n",
	    "workspaces:\n  a:\n    token: x\n",
	    "workspaces:\n  a:\n    url: http://x\n    colour: red\n",
	    "workspaces: [1]\n",
	    "workspaces:\n  a: 5\n",
	    "- 1\n",
	    "workspaces:\n  a:\n    url: [1]\n",
	    "workspaces:\n  \"\":\n    url: http://x\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct kcc_config *cfg = (struct kcc_config *)0x1;
		char err[200] = "";
		assert_int_equal(kcc_config_parse(bad[i], strlen(bad[i]), &cfg, err, sizeof err), KC_ERR_INVALID);
		assert_ptr_equal(cfg, (struct kcc_config *)0x1);
		assert_non_null(strstr(err, "line "));
	}
}

static void test_put_and_save(void **state)
{
	(void)state;
	struct kcc_config *cfg = NULL;
	char err[200] = "";
	assert_int_equal(kcc_config_parse(good, strlen(good), &cfg, err, sizeof err), 0);
	struct kcc_workspace w = {.name = "bob",
	                          .url = "http://127.0.0.1:4242",
	                          .token = "t\"o\\k\nen",
	                          .namespace = "coder",
	                          .target = "deploy/bob-workspace",
	                          .container = "ide"};
	assert_int_equal(kcc_config_put(cfg, &w, true), 0);
	w.url = "http://127.0.0.1:4343";
	assert_int_equal(kcc_config_put(cfg, &w, false), 0); /* replaces */
	assert_int_equal(cfg->n_ws, 3);

	const char *dir = getenv("TEST_TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/cfg/sub/config.yaml", dir ? dir : "/tmp");
	assert_int_equal(kcc_config_save(cfg, path), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	kcc_config_free(cfg);

	assert_int_equal(kcc_config_load(path, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg->current, "bob");
	const struct kcc_workspace *b = kcc_config_find(cfg, "bob");
	assert_string_equal(b->url, "http://127.0.0.1:4343");
	assert_string_equal(b->token, "t\"o\\k\nen");
	assert_string_equal(b->target, "deploy/bob-workspace");
	assert_string_equal(kcc_config_find(cfg, "alice")->token, "abc");
	kcc_config_free(cfg);

	snprintf(path, sizeof path, "%s/does/not/exist.yaml", dir ? dir : "/tmp");
	assert_int_equal(kcc_config_load(path, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg->n_ws, 0);
	kcc_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_refuse),
	    cmocka_unit_test(test_put_and_save),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
