/*
 * config.h - kc-server's configuration: config/kc.example.yaml's schema.
 *
 * The top-level keys home, tasks_dir, server, limits, agents, metrics,
 * probes and github_app are read strictly: a key the schema does not know
 * is an error naming the key and its line. The `gateway` section belongs to
 * kc-gateway and is skipped. Every key is optional; absent keys keep the
 * defaults documented in config/kc.example.yaml. Environment overrides
 * (KC_HOME, KC_GRPC_PORT, KC_AGENT) are applied by kc_config_apply_env().
 */
#ifndef KC_SERVER_CONFIG_H
#define KC_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"

#define KC_MAX_AGENTS 32
#define KC_MAX_PROBES 32
#define KC_MAX_ARGV 64

typedef struct kc_agent_config {
	char *name;
	/* argv vector, NULL-terminated; "{session_id}"/"{workdir}" replaced at
	 * spawn time. */
	char *argv[KC_MAX_ARGV + 1];
	size_t argc;
	char *ready_pattern;
	long ready_timeout_ms;
} kc_agent_config;

typedef struct kc_probe_config {
	char *name;
	int port;
} kc_probe_config;

typedef struct kc_threshold {
	double warning;
	double critical;
} kc_threshold;

typedef struct kc_config {
	char *home;
	char *tasks_dir;
	/* True when tasks_dir / terminal_marker were set explicitly, so a
	 * KC_HOME override does not move them. */
	bool tasks_dir_set;
	bool terminal_marker_set;

	char *socket;
	char *grpc_listen;
	char *tmux_socket;
	/* server.tmux_server: false ("local", the default) lets a tmux call
	 * start the server when none runs, as on a developer's machine; true
	 * ("external") means another container (the pod's `agents`) runs it
	 * and kc-server is only ever a client: it never starts one, refuses
	 * new tasks while none answers on tmux_socket, and passes tmux no
	 * environment of its own. */
	bool tmux_external;
	char *terminal_marker;
	kc_log_level log_level;

	long max_running_tasks;
	long max_prompt_bytes;
	/* Concurrent calls per connection on the TCP port (not the socket). */
	long grpc_max_streams;
	/* Open grpc.health.v1.Health/Watch streams without credentials, over
	 * both listeners together; past it Watch answers RESOURCE_EXHAUSTED. */
	long max_health_watches;

	char *default_agent;
	kc_agent_config agents[KC_MAX_AGENTS];
	size_t n_agents;

	long metrics_interval_ms;
	kc_threshold cpu, memory, disk;

	kc_probe_config probes[KC_MAX_PROBES];
	size_t n_probes;

	char *gh_app_id;
	char *gh_installation_id;
	char *gh_private_key_file;
	char *gh_api_url;
	char *gh_token_file;
} kc_config;

/* Fills *cfg with the defaults. Returns 0 or KC_ERR_NOMEM (then *cfg holds
 * nothing to free beyond what kc_config_release frees). */
int kc_config_init(kc_config *cfg);

/* Reads YAML text over the values in *cfg. On error returns KC_ERR_INVALID
 * and writes "key: line N: why" into err; *cfg then holds a mix of old and
 * new values and must only be released. */
int kc_config_parse(kc_config *cfg, const char *buf, size_t len, char *err, size_t errlen);

/* kc_config_parse on a file's contents. A missing file is an error. */
int kc_config_load_file(kc_config *cfg, const char *path, char *err, size_t errlen);

/* Applies KC_HOME, KC_GRPC_PORT and KC_AGENT from the environment, then
 * kc_config_finish(). Returns 0 or KC_ERR_INVALID with a message (bad
 * port, say). */
int kc_config_apply_env(kc_config *cfg, char *err, size_t errlen);

/* Derives tasks_dir, terminal_marker and the GitHub token file from home
 * when they were not set, and checks what can only be checked once every
 * source is in (home and tasks_dir absolute). Returns 0 or KC_ERR_INVALID
 * with a message. `kc-server --check-config` runs the file through
 * kc_config_parse and this, without the environment. */
int kc_config_finish(kc_config *cfg, char *err, size_t errlen);

/* The agent named `name`, or NULL. */
const kc_agent_config *kc_config_agent(const kc_config *cfg, const char *name);

/* Frees every string; *cfg may be reused after kc_config_init. */
void kc_config_release(kc_config *cfg);

#endif /* KC_SERVER_CONFIG_H */
