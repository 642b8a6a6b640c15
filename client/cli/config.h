/*
 * config.h - the kc CLI's config file, ~/.config/kube-coder/config.yaml:
 * named workspaces and which one is current (format in kc.1).
 *
 *   current: alice
 *   workspaces:
 *     alice:
 *       url: https://alice.dev.example.com
 *       token: "..."
 *     local:
 *       url: grpc://127.0.0.1:50051
 *       token_file: ~/.claude-tasks/.api-token
 *
 * Parsing takes bytes and does no I/O, so it is fuzzed on its own.
 */
#ifndef KC_CLI_CONFIG_H
#define KC_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The longest workspace name, in bytes. */
#define KCC_MAX_NAME 200

struct kcc_workspace {
	char *name;
	char *url;
	char *token;
	char *token_file;
	char *ca_file;
	/* Written by `kc connect`: how to reach the pod with kubectl. */
	char *namespace;
	char *target;    /* such as deploy/alice-workspace */
	char *container; /* such as ide */
	char *tmux_socket;
};

struct kcc_config {
	char *current;
	struct kcc_workspace *ws;
	size_t n_ws;
};

/* Parses a config document. KC_ERR_INVALID with "line N: why" in err for a
 * malformed file, an unknown key, or a workspace without url; *out
 * untouched on failure. The file's size cap is 1 MiB. */
int kcc_config_parse(const char *buf, size_t len, struct kcc_config **out, char *err, size_t errlen);

/* Reads `path`; a missing file gives an empty config. */
int kcc_config_load(const char *path, struct kcc_config **out, char *err, size_t errlen);

void kcc_config_free(struct kcc_config *cfg);

/* The workspace named `name`, or NULL. */
const struct kcc_workspace *kcc_config_find(const struct kcc_config *cfg, const char *name);

/* Adds or replaces workspace `ws` (copied), optionally making it current.
 * KC_ERR_INVALID for a name that is empty or longer than KCC_MAX_NAME, or
 * no url. */
int kcc_config_put(struct kcc_config *cfg, const struct kcc_workspace *ws, bool make_current);

/* The config as YAML text (caller frees). */
char *kcc_config_format(const struct kcc_config *cfg);

/* Writes the config to `path` atomically (temp file, fsync, rename), mode
 * 0600 because it holds tokens; creates the directory (0700). */
int kcc_config_save(const struct kcc_config *cfg, const char *path);

#endif
