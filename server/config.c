/* config.c - see config.h. */
#include "server/config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/file.h"
#include "common/kc_error.h"
#include "common/yaml_doc.h"

/* A config file is small; anything bigger is a mistake (or an attack). */
#define CONFIG_MAX_BYTES (1024 * 1024)

static int set_str(char **dst, const char *src)
{
	char *s = strdup(src ? src : "");
	if (!s)
		return KC_ERR_NOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int fail(char *err, size_t errlen, const char *key, const kc_ynode *n, const char *why)
{
	snprintf(err, errlen, "%s: line %d: %s", key, n ? kc_ynode_line(n) : 0, why);
	return KC_ERR_INVALID;
}

/* Every key of map `n` must be in `allowed` (NULL-terminated). */
static int check_keys(const kc_ynode *n, const char *section, const char *const *allowed, char *err,
		      size_t errlen)
{
	if (kc_ynode_kind_of(n) != KC_YNODE_MAP)
		return fail(err, errlen, section, n, "expected a mapping");
	for (size_t i = 0; i < kc_ynode_len(n); i++) {
		const char *k = kc_ynode_key(n, i);
		bool ok = false;
		for (size_t j = 0; allowed[j]; j++)
			if (k && strcmp(k, allowed[j]) == 0)
				ok = true;
		if (!ok) {
			char full[256];
			snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", k ? k : "?");
			return fail(err, errlen, full, kc_ynode_at(n, i), "unknown key");
		}
	}
	return 0;
}

static int get_str(const kc_ynode *map, const char *key, const char *section, char **dst, bool *was_set,
		   char *err, size_t errlen)
{
	const kc_ynode *v = kc_ynode_get(map, key);
	char full[256];
	if (!v)
		return 0;
	snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", key);
	if (kc_ynode_kind_of(v) != KC_YNODE_SCALAR)
		return fail(err, errlen, full, v, "expected a string");
	if (was_set)
		*was_set = true;
	if (kc_ynode_is_null(v))
		return set_str(dst, "");
	return set_str(dst, kc_ynode_scalar(v));
}

/* An absolute path when set (empty allowed only when `may_be_empty`); a
 * unix socket's path must also fit sun_path. */
static int check_path(const kc_ynode *map, const char *key, const char *section, const char *value,
		      bool may_be_empty, bool is_socket, char *err, size_t errlen)
{
	const kc_ynode *v = kc_ynode_get(map, key);
	char full[256];
	if (!v)
		return 0;
	snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", key);
	if (!*value)
		return may_be_empty ? 0 : fail(err, errlen, full, v, "must not be empty");
	if (value[0] != '/')
		return fail(err, errlen, full, v, "must be an absolute path");
	if (is_socket && strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(err, errlen, full, v, "too long for a unix socket path (at most 107 bytes)");
	return 0;
}

/* "" (off) or HOST:PORT, HOST a name, an IPv4 address or [IPv6]. */
static int check_listen(const kc_ynode *map, const char *value, char *err, size_t errlen)
{
	const kc_ynode *v = kc_ynode_get(map, "grpc_listen");
	const char *colon = strrchr(value, ':');
	char *end;
	long port;
	if (!v || !*value)
		return 0;
	if (!colon || colon == value || (value[0] == '[' && colon[-1] != ']'))
		return fail(err, errlen, "server.grpc_listen", v, "expected HOST:PORT, such as 0.0.0.0:50051");
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return fail(err, errlen, "server.grpc_listen", v, "expected a port from 1 to 65535 after the colon");
	return 0;
}

/* server.tmux_server: "local" or "external" (see config.h). External needs
 * a socket path: tmux's default socket is per-uid under $TMUX_TMPDIR, not
 * something two containers share. */
static int get_tmux_server(const kc_ynode *server, kc_config *cfg, char *err, size_t errlen)
{
	const kc_ynode *v = kc_ynode_get(server, "tmux_server");
	const char *s = v && kc_ynode_kind_of(v) == KC_YNODE_SCALAR ? kc_ynode_scalar(v) : NULL;
	if (!v)
		return 0;
	if (!s || (strcmp(s, "local") != 0 && strcmp(s, "external") != 0))
		return fail(err, errlen, "server.tmux_server", v, "expected local or external");
	cfg->tmux_external = strcmp(s, "external") == 0;
	if (cfg->tmux_external && (!cfg->tmux_socket || !*cfg->tmux_socket))
		return fail(err, errlen, "server.tmux_server", v, "external needs server.tmux_socket");
	return 0;
}

static int get_long(const kc_ynode *map, const char *key, const char *section, long min, long max, long *dst,
		    char *err, size_t errlen)
{
	const kc_ynode *v = kc_ynode_get(map, key);
	char full[256], why[96];
	if (!v)
		return 0;
	snprintf(full, sizeof full, "%s.%s", section, key);
	if (kc_ynode_as_long(v, min, max, dst) != 0) {
		snprintf(why, sizeof why, "expected an integer from %ld to %ld", min, max);
		return fail(err, errlen, full, v, why);
	}
	return 0;
}

static int get_threshold(const kc_ynode *map, const char *key, kc_threshold *t, char *err, size_t errlen)
{
	static const char *const keys[] = {"warning", "critical", NULL};
	const kc_ynode *v = kc_ynode_get(map, key);
	char section[64];
	int rc;
	if (!v)
		return 0;
	snprintf(section, sizeof section, "metrics.%s", key);
	if ((rc = check_keys(v, section, keys, err, errlen)) != 0)
		return rc;
	for (int i = 0; i < 2; i++) {
		const kc_ynode *x = kc_ynode_get(v, keys[i]);
		double *dst = i == 0 ? &t->warning : &t->critical;
		if (!x)
			continue;
		if (kc_ynode_as_double(x, 0, 100, dst) != 0) {
			char full[96];
			snprintf(full, sizeof full, "%s.%s", section, keys[i]);
			return fail(err, errlen, full, x, "expected a percentage from 0 to 100");
		}
	}
	if (t->warning > t->critical)
		return fail(err, errlen, section, v, "warning must not exceed critical");
	return 0;
}

static void agent_release(kc_agent_config *a)
{
	free(a->name);
	free(a->ready_pattern);
	for (size_t i = 0; i < a->argc; i++)
		free(a->argv[i]);
	memset(a, 0, sizeof *a);
}

static int agent_set(kc_agent_config *a, const char *name, const char *const *argv, const char *pattern,
		     long timeout_ms)
{
	memset(a, 0, sizeof *a);
	if (set_str(&a->name, name) || set_str(&a->ready_pattern, pattern))
		return KC_ERR_NOMEM;
	for (size_t i = 0; argv[i] && i < KC_MAX_ARGV; i++) {
		if (!(a->argv[i] = strdup(argv[i])))
			return KC_ERR_NOMEM;
		a->argc = i + 1;
	}
	a->ready_timeout_ms = timeout_ms;
	return 0;
}

static int parse_agents(kc_config *cfg, const kc_ynode *n, char *err, size_t errlen)
{
	static const char *const keys[] = {"default", "list", NULL};
	static const char *const akeys[] = {"name", "command", "ready_pattern", "ready_timeout_ms", NULL};
	const kc_ynode *list;
	int rc;

	if ((rc = check_keys(n, "agents", keys, err, errlen)) != 0)
		return rc;
	if ((rc = get_str(n, "default", "agents", &cfg->default_agent, NULL, err, errlen)) != 0)
		return rc;
	list = kc_ynode_get(n, "list");
	if (!list)
		return 0;
	if (kc_ynode_kind_of(list) != KC_YNODE_SEQ)
		return fail(err, errlen, "agents.list", list, "expected a sequence");
	if (kc_ynode_len(list) > KC_MAX_AGENTS)
		return fail(err, errlen, "agents.list", list, "too many agents");
	/* A list in the file replaces the built-in one. */
	for (size_t i = 0; i < cfg->n_agents; i++)
		agent_release(&cfg->agents[i]);
	cfg->n_agents = 0;
	for (size_t i = 0; i < kc_ynode_len(list); i++) {
		const kc_ynode *e = kc_ynode_at(list, i);
		kc_agent_config *a = &cfg->agents[cfg->n_agents];
		const kc_ynode *cmd;
		char sec[48], key[80];
		regex_t re;
		memset(a, 0, sizeof *a);
		cfg->n_agents++;
		snprintf(sec, sizeof sec, "agents.list[%zu]", i);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", sec, k), key)
		if ((rc = check_keys(e, sec, akeys, err, errlen)) != 0)
			return rc;
		if ((rc = get_str(e, "name", sec, &a->name, NULL, err, errlen)) != 0)
			return rc;
		if (!a->name || !*a->name)
			return fail(err, errlen, KEY("name"), e, "required");
		for (size_t j = 0; j + 1 < cfg->n_agents; j++)
			if (strcmp(cfg->agents[j].name, a->name) == 0)
				return fail(err, errlen, KEY("name"), kc_ynode_get(e, "name"), "duplicate agent name");
		if ((rc = get_str(e, "ready_pattern", sec, &a->ready_pattern, NULL, err, errlen)) != 0)
			return rc;
		if (!a->ready_pattern && set_str(&a->ready_pattern, "^(>|│ >)"))
			return KC_ERR_NOMEM;
		/* Compiled the way the task manager compiles it; bounded, since
		 * glibc's regcomp grows with nested repetition counts. */
		if (strlen(a->ready_pattern) > 256)
			return fail(err, errlen, KEY("ready_pattern"), kc_ynode_get(e, "ready_pattern"),
				    "longer than 256 bytes");
		if (regcomp(&re, a->ready_pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0)
			return fail(err, errlen, KEY("ready_pattern"), kc_ynode_get(e, "ready_pattern"),
				    "not a valid POSIX extended regular expression");
		regfree(&re);
		a->ready_timeout_ms = 60000;
		if ((rc = get_long(e, "ready_timeout_ms", sec, 100, 3600000, &a->ready_timeout_ms, err, errlen)) != 0)
			return rc;
		cmd = kc_ynode_get(e, "command");
		if (!cmd || kc_ynode_kind_of(cmd) != KC_YNODE_SEQ || kc_ynode_len(cmd) == 0)
			return fail(err, errlen, KEY("command"), cmd ? cmd : e,
				    "expected a non-empty sequence of strings (an argv vector)");
		if (kc_ynode_len(cmd) > KC_MAX_ARGV)
			return fail(err, errlen, KEY("command"), cmd, "too many arguments");
		for (size_t j = 0; j < kc_ynode_len(cmd); j++) {
			const char *s = kc_ynode_scalar(kc_ynode_at(cmd, j));
			if (!s || kc_ynode_kind_of(kc_ynode_at(cmd, j)) != KC_YNODE_SCALAR)
				return fail(err, errlen, KEY("command"), kc_ynode_at(cmd, j), "expected a string");
			if (j == 0 && !*s)
				return fail(err, errlen, KEY("command"), kc_ynode_at(cmd, j),
					    "the program (the first element) must not be empty");
			if (!(a->argv[j] = strdup(s)))
				return KC_ERR_NOMEM;
			a->argc = j + 1;
		}
#undef KEY
	}
	return 0;
}

static int parse_probes(kc_config *cfg, const kc_ynode *n, char *err, size_t errlen)
{
	if (kc_ynode_kind_of(n) != KC_YNODE_MAP)
		return fail(err, errlen, "probes", n, "expected a mapping of name to port");
	if (kc_ynode_len(n) > KC_MAX_PROBES)
		return fail(err, errlen, "probes", n, "too many probes");
	for (size_t i = 0; i < cfg->n_probes; i++)
		free(cfg->probes[i].name);
	cfg->n_probes = 0;
	for (size_t i = 0; i < kc_ynode_len(n); i++) {
		const char *k = kc_ynode_key(n, i);
		long port;
		char full[256];
		snprintf(full, sizeof full, "probes.%s", k ? k : "?");
		if (!k || !*k)
			return fail(err, errlen, full, kc_ynode_at(n, i), "empty name");
		if (kc_ynode_as_long(kc_ynode_at(n, i), 1, 65535, &port) != 0)
			return fail(err, errlen, full, kc_ynode_at(n, i), "expected a port from 1 to 65535");
		if (!(cfg->probes[cfg->n_probes].name = strdup(k)))
			return KC_ERR_NOMEM;
		cfg->probes[cfg->n_probes++].port = (int)port;
	}
	return 0;
}

int kc_config_init(kc_config *cfg)
{
	static const char *const claude_argv[] = {"claude", "--session-id", "{session_id}", NULL};
	static const char *const probe_names[] = {"vscode", "terminal", "browser", "vnc"};
	static const int probe_ports[] = {8080, 7681, 6081, 5900};
	struct stat st;
	const char *home = "/home/coder";

	memset(cfg, 0, sizeof *cfg);
	/* The image's user home when it exists; on a developer's machine with
	 * no config file, the developer's own home, so defaults work locally. */
	if (stat(home, &st) != 0 && getenv("HOME") && *getenv("HOME"))
		home = getenv("HOME");
	if (set_str(&cfg->home, home) || set_str(&cfg->socket, "/run/kc/kc-server.sock") ||
	    set_str(&cfg->grpc_listen, "") || set_str(&cfg->tmux_socket, "/tmp/kc-tmux/default") ||
	    set_str(&cfg->default_agent, "claude") || set_str(&cfg->gh_app_id, "") ||
	    set_str(&cfg->gh_installation_id, "") || set_str(&cfg->gh_private_key_file, "") ||
	    set_str(&cfg->gh_api_url, "https://api.github.com"))
		return KC_ERR_NOMEM;
	cfg->log_level = KC_LOG_INFO;
	cfg->max_running_tasks = 8;
	cfg->max_prompt_bytes = 1048576;
	cfg->grpc_max_streams = 32;
	cfg->max_health_watches = 16;
	if (agent_set(&cfg->agents[0], "claude", claude_argv, "^(>|│ >)", 60000))
		return KC_ERR_NOMEM;
	cfg->n_agents = 1;
	cfg->metrics_interval_ms = 1000;
	cfg->cpu = (kc_threshold){70, 90};
	cfg->memory = (kc_threshold){80, 95};
	cfg->disk = (kc_threshold){80, 90};
	for (size_t i = 0; i < 4; i++) {
		if (!(cfg->probes[i].name = strdup(probe_names[i])))
			return KC_ERR_NOMEM;
		cfg->probes[i].port = probe_ports[i];
		cfg->n_probes = i + 1;
	}
	return 0;
}

int kc_config_parse(kc_config *cfg, const char *buf, size_t len, char *err, size_t errlen)
{
	static const char *const top[] = {"home", "tasks_dir", "server", "limits", "agents", "metrics",
					  "probes", "github_app", "gateway", NULL};
	static const char *const server_keys[] = {"socket",	     "grpc_listen", "tmux_socket", "tmux_server",
						  "terminal_marker", "log_level",   NULL};
	static const char *const limit_keys[] = {"max_running_tasks", "max_prompt_bytes", "grpc_max_streams",
						 "max_health_watches", NULL};
	static const char *const metric_keys[] = {"interval_ms", "cpu", "memory", "disk", NULL};
	static const char *const gh_keys[] = {"app_id",	 "installation_id", "private_key_file",
					      "api_url", "token_file",	    NULL};
	kc_ydoc *doc = NULL;
	const kc_ynode *root, *n;
	char perr[200];
	int rc;

	if (kc_ydoc_parse(buf, len, &doc, perr, sizeof perr) != 0) {
		snprintf(err, errlen, "config: %s", perr);
		return KC_ERR_INVALID;
	}
	root = kc_ydoc_root(doc);
	if ((rc = check_keys(root, "", top, err, errlen)) != 0)
		goto out;
	if ((rc = get_str(root, "home", "", &cfg->home, NULL, err, errlen)) != 0 ||
	    (rc = check_path(root, "home", "", cfg->home, false, false, err, errlen)) != 0)
		goto out;
	if ((rc = get_str(root, "tasks_dir", "", &cfg->tasks_dir, &cfg->tasks_dir_set, err, errlen)) != 0 ||
	    (rc = check_path(root, "tasks_dir", "", cfg->tasks_dir, true, false, err, errlen)) != 0)
		goto out;
	if ((n = kc_ynode_get(root, "server")) != NULL) {
		char *level = NULL;
		if ((rc = check_keys(n, "server", server_keys, err, errlen)) != 0 ||
		    (rc = get_str(n, "socket", "server", &cfg->socket, NULL, err, errlen)) != 0 ||
		    (rc = get_str(n, "grpc_listen", "server", &cfg->grpc_listen, NULL, err, errlen)) != 0 ||
		    (rc = get_str(n, "tmux_socket", "server", &cfg->tmux_socket, NULL, err, errlen)) != 0 ||
		    (rc = get_str(n, "terminal_marker", "server", &cfg->terminal_marker,
				  &cfg->terminal_marker_set, err, errlen)) != 0 ||
		    (rc = get_str(n, "log_level", "server", &level, NULL, err, errlen)) != 0 ||
		    (rc = check_path(n, "socket", "server", cfg->socket, false, true, err, errlen)) != 0 ||
		    (rc = check_path(n, "tmux_socket", "server", cfg->tmux_socket, true, true, err, errlen)) != 0 ||
		    (rc = check_path(n, "terminal_marker", "server", cfg->terminal_marker ? cfg->terminal_marker : "",
				     true, false, err, errlen)) != 0 ||
		    (rc = check_listen(n, cfg->grpc_listen, err, errlen)) != 0) {
			free(level);
			goto out;
		}
		if (level && kc_log_level_parse(level, &cfg->log_level) != 0) {
			free(level);
			rc = fail(err, errlen, "server.log_level", kc_ynode_get(n, "log_level"),
				  "expected debug, info, warn or error");
			goto out;
		}
		free(level);
		if ((rc = get_tmux_server(n, cfg, err, errlen)) != 0)
			goto out;
	}
	if ((n = kc_ynode_get(root, "limits")) != NULL) {
		if ((rc = check_keys(n, "limits", limit_keys, err, errlen)) != 0 ||
		    (rc = get_long(n, "max_running_tasks", "limits", 1, 100000, &cfg->max_running_tasks, err,
				   errlen)) != 0 ||
		    (rc = get_long(n, "max_prompt_bytes", "limits", 1, 64L * 1024 * 1024, &cfg->max_prompt_bytes,
				   err, errlen)) != 0 ||
		    (rc = get_long(n, "grpc_max_streams", "limits", 1, 10000, &cfg->grpc_max_streams, err, errlen)) !=
			    0 ||
		    (rc = get_long(n, "max_health_watches", "limits", 0, 100000, &cfg->max_health_watches, err,
				   errlen)) != 0)
			goto out;
	}
	if ((n = kc_ynode_get(root, "agents")) != NULL && (rc = parse_agents(cfg, n, err, errlen)) != 0)
		goto out;
	if ((n = kc_ynode_get(root, "metrics")) != NULL) {
		if ((rc = check_keys(n, "metrics", metric_keys, err, errlen)) != 0 ||
		    (rc = get_long(n, "interval_ms", "metrics", 100, 3600000, &cfg->metrics_interval_ms, err,
				   errlen)) != 0 ||
		    (rc = get_threshold(n, "cpu", &cfg->cpu, err, errlen)) != 0 ||
		    (rc = get_threshold(n, "memory", &cfg->memory, err, errlen)) != 0 ||
		    (rc = get_threshold(n, "disk", &cfg->disk, err, errlen)) != 0)
			goto out;
	}
	if ((n = kc_ynode_get(root, "probes")) != NULL && (rc = parse_probes(cfg, n, err, errlen)) != 0)
		goto out;
	if ((n = kc_ynode_get(root, "github_app")) != NULL) {
		if ((rc = check_keys(n, "github_app", gh_keys, err, errlen)) != 0 ||
		    (rc = get_str(n, "app_id", "github_app", &cfg->gh_app_id, NULL, err, errlen)) != 0 ||
		    (rc = get_str(n, "installation_id", "github_app", &cfg->gh_installation_id, NULL, err,
				  errlen)) != 0 ||
		    (rc = get_str(n, "private_key_file", "github_app", &cfg->gh_private_key_file, NULL, err,
				  errlen)) != 0 ||
		    (rc = get_str(n, "api_url", "github_app", &cfg->gh_api_url, NULL, err, errlen)) != 0 ||
		    (rc = get_str(n, "token_file", "github_app", &cfg->gh_token_file, NULL, err, errlen)) != 0 ||
		    (rc = check_path(n, "private_key_file", "github_app", cfg->gh_private_key_file, true, false, err,
				     errlen)) != 0 ||
		    (rc = check_path(n, "token_file", "github_app", cfg->gh_token_file ? cfg->gh_token_file : "", true,
				     false, err, errlen)) != 0)
			goto out;
		/* All three or none: half a configuration would silently leave
		 * the App off. */
		{
			static const char *const need[] = {"app_id", "installation_id", "private_key_file"};
			const char *vals[] = {cfg->gh_app_id, cfg->gh_installation_id, cfg->gh_private_key_file};
			int set = 0;
			for (int i = 0; i < 3; i++)
				set += vals[i] && *vals[i];
			for (int i = 0; set > 0 && set < 3 && i < 3; i++) {
				if (!vals[i] || !*vals[i]) {
					char full[64];
					snprintf(full, sizeof full, "github_app.%s", need[i]);
					rc = fail(err, errlen, full, kc_ynode_get(n, need[i]) ? kc_ynode_get(n, need[i]) : n,
						  "required when any of app_id, installation_id and private_key_file is set");
					goto out;
				}
			}
		}
		if (kc_ynode_get(n, "api_url") && strncmp(cfg->gh_api_url, "https://", 8) != 0 &&
		    strncmp(cfg->gh_api_url, "http://", 7) != 0) {
			rc = fail(err, errlen, "github_app.api_url", kc_ynode_get(n, "api_url"),
				  "expected an http:// or https:// URL");
			goto out;
		}
	}
	/* `gateway` is kc-gateway's: not read here. */
	if (!kc_config_agent(cfg, cfg->default_agent)) {
		rc = fail(err, errlen, "agents.default", kc_ynode_get(root, "agents"),
			  "names no agent in agents.list");
		goto out;
	}
	rc = 0;
out:
	kc_ydoc_free(doc);
	return rc;
}

int kc_config_load_file(kc_config *cfg, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc = kc_file_read(path, CONFIG_MAX_BYTES, &buf, &n);

	if (rc == KC_ERR_TOO_LARGE) {
		snprintf(err, errlen, "config: '%s' is larger than 1 MiB", path);
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "config: cannot open '%s'", path);
		return rc;
	}
	rc = kc_config_parse(cfg, buf, n, err, errlen);
	free(buf);
	return rc;
}

int kc_config_apply_env(kc_config *cfg, char *err, size_t errlen)
{
	const char *v;
	char buf[4096];

	if ((v = getenv("KC_HOME")) != NULL && *v) {
		if (set_str(&cfg->home, v))
			return KC_ERR_NOMEM;
	}
	if ((v = getenv("KC_GRPC_PORT")) != NULL && *v) {
		char *end;
		long port = strtol(v, &end, 10);
		if (*end || port < 1 || port > 65535) {
			snprintf(err, errlen, "KC_GRPC_PORT: expected a port from 1 to 65535");
			return KC_ERR_INVALID;
		}
		snprintf(buf, sizeof buf, "127.0.0.1:%ld", port);
		if (set_str(&cfg->grpc_listen, buf))
			return KC_ERR_NOMEM;
	}
	if ((v = getenv("KC_AGENT")) != NULL && *v) {
		kc_agent_config *a = (kc_agent_config *)kc_config_agent(cfg, cfg->default_agent);
		if (a) {
			for (size_t i = 0; i < a->argc; i++) {
				free(a->argv[i]);
				a->argv[i] = NULL;
			}
			a->argc = 0;
			if (!(a->argv[0] = strdup(v)))
				return KC_ERR_NOMEM;
			a->argc = 1;
		}
	}
	return kc_config_finish(cfg, err, errlen);
}

int kc_config_finish(kc_config *cfg, char *err, size_t errlen)
{
	char buf[4096];

	if (!cfg->home || cfg->home[0] != '/') {
		snprintf(err, errlen, "home: must be an absolute path");
		return KC_ERR_INVALID;
	}
	if (!cfg->tasks_dir_set || !cfg->tasks_dir || !*cfg->tasks_dir) {
		snprintf(buf, sizeof buf, "%s/.claude-tasks", cfg->home);
		if (set_str(&cfg->tasks_dir, buf))
			return KC_ERR_NOMEM;
	}
	if (!cfg->terminal_marker_set || !cfg->terminal_marker || !*cfg->terminal_marker) {
		snprintf(buf, sizeof buf, "%s/.terminal-session", cfg->tasks_dir);
		if (set_str(&cfg->terminal_marker, buf))
			return KC_ERR_NOMEM;
	}
	if (!cfg->gh_token_file || !*cfg->gh_token_file) {
		snprintf(buf, sizeof buf, "%s/.config/kube-coder/github-token", cfg->home);
		if (set_str(&cfg->gh_token_file, buf))
			return KC_ERR_NOMEM;
	}
	if (cfg->tasks_dir[0] != '/') {
		snprintf(err, errlen, "tasks_dir: must be an absolute path");
		return KC_ERR_INVALID;
	}
	return 0;
}

const kc_agent_config *kc_config_agent(const kc_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_agents; i++)
		if (strcmp(cfg->agents[i].name, name) == 0)
			return &cfg->agents[i];
	return NULL;
}

void kc_config_release(kc_config *cfg)
{
	free(cfg->home);
	free(cfg->tasks_dir);
	free(cfg->socket);
	free(cfg->grpc_listen);
	free(cfg->tmux_socket);
	free(cfg->terminal_marker);
	free(cfg->default_agent);
	for (size_t i = 0; i < cfg->n_agents; i++)
		agent_release(&cfg->agents[i]);
	for (size_t i = 0; i < cfg->n_probes; i++)
		free(cfg->probes[i].name);
	free(cfg->gh_app_id);
	free(cfg->gh_installation_id);
	free(cfg->gh_private_key_file);
	free(cfg->gh_api_url);
	free(cfg->gh_token_file);
	memset(cfg, 0, sizeof *cfg);
}
