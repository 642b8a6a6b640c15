/* config: defaults, the example file, strictness, env overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "server/config.h"

static int parse(kc_config *cfg, const char *text, char *err, size_t errlen)
{
	assert_int_equal(kc_config_init(cfg), 0);
	return kc_config_parse(cfg, text, strlen(text), err, errlen);
}

static void test_defaults(void **state)
{
	kc_config cfg;
	char err[256];
	(void)state;
	unsetenv("KC_HOME");
	unsetenv("KC_GRPC_PORT");
	unsetenv("KC_AGENT");
	assert_int_equal(parse(&cfg, "", err, sizeof err), 0);
	assert_int_equal(kc_config_apply_env(&cfg, err, sizeof err), 0);
	assert_int_equal(cfg.max_running_tasks, 8);
	assert_int_equal(cfg.max_prompt_bytes, 1048576);
	assert_string_equal(cfg.default_agent, "claude");
	assert_string_equal(cfg.agents[0].argv[0], "claude");
	assert_string_equal(cfg.agents[0].argv[2], "{session_id}");
	assert_int_equal(cfg.n_probes, 4);
	assert_int_equal(cfg.probes[3].port, 5900);
	assert_string_equal(cfg.grpc_listen, "");
	assert_false(cfg.tmux_external);
	assert_true(cfg.memory.critical == 95);
	kc_config_release(&cfg);
}

static void test_example_file(void **state)
{
	kc_config cfg;
	char err[256] = "";
	(void)state;
	assert_int_equal(kc_config_init(&cfg), 0);
	assert_int_equal(kc_config_load_file(&cfg, "config/kc.example.yaml", err, sizeof err), 0);
	assert_string_equal(cfg.home, "/home/coder");
	assert_string_equal(cfg.tasks_dir, "/home/coder/.claude-tasks");
	assert_string_equal(cfg.socket, "/run/kc/kc-server.sock");
	assert_string_equal(cfg.tmux_socket, "/tmp/kc-tmux/default");
	assert_false(cfg.tmux_external);
	assert_string_equal(cfg.agents[0].ready_pattern, "^(>|│ >)");
	assert_int_equal(cfg.agents[0].ready_timeout_ms, 60000);
	kc_config_release(&cfg);
}

static void test_unknown_key_names_key_and_line(void **state)
{
	kc_config cfg;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(&cfg, "home: /x\nlimits:\n  max_running: 3\n", err, sizeof err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "limits.max_running"));
	assert_non_null(strstr(err, "line 3"));
	kc_config_release(&cfg);
	assert_int_equal(parse(&cfg, "bogus: 1\n", err, sizeof err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "bogus"));
	kc_config_release(&cfg);
	assert_int_equal(parse(&cfg, "limits: {max_running_tasks: many}\n", err, sizeof err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "max_running_tasks"));
	kc_config_release(&cfg);
	assert_int_equal(parse(&cfg, "agents:\n  default: nope\n", err, sizeof err), KC_ERR_INVALID);
	kc_config_release(&cfg);
	assert_int_equal(parse(&cfg, "agents:\n  list:\n    - name: a\n      command: \"sh -c x\"\n", err, sizeof err),
			 KC_ERR_INVALID);
	assert_non_null(strstr(err, "command"));
	kc_config_release(&cfg);
	/* The gateway's section is not ours to check. */
	assert_int_equal(parse(&cfg, "gateway:\n  whatever: 1\n", err, sizeof err), 0);
	kc_config_release(&cfg);
}

/* Each bad file names the key and its line. */
static void test_semantic_checks_name_key_and_line(void **state)
{
	static const struct {
		const char *yaml, *key, *line;
	} cases[] = {
		{"home: relative/home\n", "home", "line 1"},
		{"home: /h\ntasks_dir: tasks\n", "tasks_dir", "line 2"},
		{"server:\n  socket: kc.sock\n", "server.socket", "line 2"},
		{"server:\n  socket: \"\"\n", "server.socket", "line 2"},
		{"server:\n  socket: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaa.sock\n",
		 "server.socket", "line 2"},
		{"server:\n  grpc_listen: 50051\n", "server.grpc_listen", "line 2"},
		{"server:\n  grpc_listen: \"0.0.0.0:99999\"\n", "server.grpc_listen", "line 2"},
		{"server:\n  grpc_listen: \"0.0.0.0:\"\n", "server.grpc_listen", "line 2"},
		{"server:\n  log_level: loud\n", "server.log_level", "line 2"},
		{"server:\n  tmux_server: remote\n", "server.tmux_server", "line 2"},
		{"server:\n  tmux_socket: \"\"\n  tmux_server: external\n", "server.tmux_server", "line 3"},
		{"agents:\n  default: a\n  list:\n    - name: a\n      command: [x]\n      ready_pattern: \"((\"\n",
		 "agents.list[0].ready_pattern", "line 6"},
		{"agents:\n  default: a\n  list:\n    - name: a\n      command: [x]\n    - name: b\n      command: [\"\"]\n",
		 "agents.list[1].command", "line 7"},
		{"agents:\n  default: a\n  list:\n    - name: a\n      command: [x]\n    - name: a\n      command: [y]\n",
		 "agents.list[1].name", "line 6"},
		{"github_app:\n  app_id: \"12\"\n  private_key_file: /k.pem\n", "github_app.installation_id", "line 2"},
		{"github_app:\n  app_id: \"12\"\n  installation_id: \"3\"\n  private_key_file: k.pem\n",
		 "github_app.private_key_file", "line 4"},
		{"github_app:\n  api_url: ftp://x\n", "github_app.api_url", "line 2"},
		{"metrics:\n  cpu: {warning: 95, critical: 90}\n", "metrics.cpu", "line 2"},
		{"probes:\n  vscode: 0\n", "probes.vscode", "line 2"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		kc_config cfg;
		char err[256] = "";
		int rc = parse(&cfg, cases[i].yaml, err, sizeof err);
		if (rc == 0)
			rc = kc_config_finish(&cfg, err, sizeof err);
		if (rc != KC_ERR_INVALID || !strstr(err, cases[i].key) || !strstr(err, cases[i].line))
			fail_msg("case %zu: rc %d, error \"%s\" (want %s, %s)", i, rc, err, cases[i].key, cases[i].line);
		kc_config_release(&cfg);
	}
}

static void test_valid_variants(void **state)
{
	static const char *const ok[] = {
		"server:\n  grpc_listen: \"[::]:50051\"\n  tmux_socket: \"\"\n",
		"server:\n  grpc_listen: \"localhost:1\"\n",
		"server:\n  tmux_socket: /tmp/t/s\n  tmux_server: external\n",
		"server:\n  tmux_server: local\n",
		"github_app:\n  app_id: \"\"\n  installation_id: \"\"\n  private_key_file: \"\"\n",
		"github_app:\n  app_id: \"1\"\n  installation_id: \"2\"\n  private_key_file: /k.pem\n  api_url: "
		"http://127.0.0.1:9\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		kc_config cfg;
		char err[256] = "";
		int rc = parse(&cfg, ok[i], err, sizeof err);
		if (rc == 0)
			rc = kc_config_finish(&cfg, err, sizeof err);
		if (rc != 0)
			fail_msg("case %zu: %s", i, err);
		kc_config_release(&cfg);
	}
}

static void test_env(void **state)
{
	kc_config cfg;
	char err[256] = "";
	(void)state;
	setenv("KC_HOME", "/tmp/kchome", 1);
	setenv("KC_GRPC_PORT", "50123", 1);
	setenv("KC_AGENT", "/usr/bin/myagent", 1);
	assert_int_equal(parse(&cfg, "", err, sizeof err), 0);
	assert_int_equal(kc_config_apply_env(&cfg, err, sizeof err), 0);
	assert_string_equal(cfg.home, "/tmp/kchome");
	assert_string_equal(cfg.tasks_dir, "/tmp/kchome/.claude-tasks");
	assert_string_equal(cfg.terminal_marker, "/tmp/kchome/.claude-tasks/.terminal-session");
	assert_string_equal(cfg.grpc_listen, "127.0.0.1:50123");
	assert_int_equal(cfg.agents[0].argc, 1);
	assert_string_equal(cfg.agents[0].argv[0], "/usr/bin/myagent");
	kc_config_release(&cfg);
	setenv("KC_GRPC_PORT", "99999", 1);
	assert_int_equal(parse(&cfg, "", err, sizeof err), 0);
	assert_int_equal(kc_config_apply_env(&cfg, err, sizeof err), KC_ERR_INVALID);
	kc_config_release(&cfg);
	unsetenv("KC_HOME");
	unsetenv("KC_GRPC_PORT");
	unsetenv("KC_AGENT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_unknown_key_names_key_and_line),
		cmocka_unit_test(test_semantic_checks_name_key_and_line),
		cmocka_unit_test(test_valid_variants),
		cmocka_unit_test(test_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
