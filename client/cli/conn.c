/*
 * conn.c - which workspace kc talks to, and with what: flags, then the
 * environment, then the config file's workspace (kc.1, FILES).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

char *cli_config_path(const struct cli_opts *o)
{
	const char *p = o->config ? o->config : getenv("KC_CONFIG");
	char *out = NULL;
	if (p && p[0])
		return strdup(p);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0]) {
		if (asprintf(&out, "%s/kube-coder/config.yaml", xdg) < 0)
			return NULL;
	} else {
		if (asprintf(&out, "%s/.config/kube-coder/config.yaml", home ? home : ".") < 0)
			return NULL;
	}
	return out;
}

struct kcc_config *cli_load_config(const char *path)
{
	struct kcc_config *cfg = NULL;
	char err[300] = "";
	int rc = kcc_config_load(path, &cfg, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, path, err[0] ? err : kc_strerror(rc));
		exit(EX_USAGE);
	}
	return cfg;
}

/* "~/x" -> "$HOME/x" (caller frees). */
static char *expand_home(const char *p)
{
	char *out = NULL;
	if (p[0] == '~' && p[1] == '/') {
		const char *home = getenv("HOME");
		if (asprintf(&out, "%s%s", home ? home : "", p + 1) < 0)
			return NULL;
		return out;
	}
	return strdup(p);
}

static char *read_token_file(const char *path)
{
	char *p = expand_home(path);
	FILE *f = p ? fopen(p, "r") : NULL;
	char buf[4096];
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	} else {
		fprintf(stderr, "%s: token_file %s: %s\n", cli_prog, p ? p : path, strerror(errno));
		free(p);
		exit(EX_USAGE);
	}
	free(p);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return strdup(buf);
}

/* Flags, then the environment, then the config file's workspace. */
static void resolve(const struct cli_opts *o, struct cli_conn *cn)
{
	char *path = cli_config_path(o);
	cn->cfg = cli_load_config(path ? path : "config.yaml");
	free(path);
	const char *name = o->workspace ? o->workspace : getenv("KC_WORKSPACE");
	if (name && name[0]) {
		cn->ws = kcc_config_find(cn->cfg, name);
		if (!cn->ws) {
			fprintf(stderr, "%s: workspace \"%s\": not in the config file\n", cli_prog, name);
			exit(EX_USAGE);
		}
	} else if (cn->cfg->current) {
		cn->ws = kcc_config_find(cn->cfg, cn->cfg->current);
	}
	const char *url = o->url ? o->url : getenv("KC_URL");
	if ((!url || !url[0]) && cn->ws)
		url = cn->ws->url;
	if (!url || !url[0]) {
		fprintf(stderr, "%s: no workspace: give --url, set KC_URL, or add one with kc connect\n", cli_prog);
		exit(EX_USAGE);
	}
	cn->url = strdup(url);
	const char *tok = o->token ? o->token : getenv("KC_TOKEN");
	if (tok && tok[0])
		cn->token = strdup(tok);
	else if (cn->ws && cn->ws->token)
		cn->token = strdup(cn->ws->token);
	else if (cn->ws && cn->ws->token_file)
		cn->token = read_token_file(cn->ws->token_file);
	else
		cn->token = strdup("");
	const char *ca = o->ca_file ? o->ca_file : (cn->ws ? cn->ws->ca_file : NULL);
	cn->ca_file = ca ? expand_home(ca) : NULL;
}

void cli_conn_clear(struct cli_conn *cn)
{
	free(cn->url);
	free(cn->token);
	free(cn->ca_file);
	kcc_config_free(cn->cfg);
}

kc_client *cli_connect_client(const struct cli_opts *o, struct cli_conn *cn)
{
	resolve(o, cn);
	kc_client *c = NULL;
	int rc = kc_client_new(&c, cn->url, cn->token);
	if (rc) {
		fprintf(stderr, "%s: %s: %s (expected grpc://, grpcs://, unix:, http:// or https://)\n", cli_prog,
		        cn->url, kc_strerror(rc));
		exit(EX_USAGE);
	}
	if (o->request_timeout)
		kc_client_set_timeout(c, o->request_timeout * 1000);
	if (cn->ca_file && kc_client_set_ca_file(c, cn->ca_file) != 0) {
		fprintf(stderr, "%s: --ca-file %s: %s\n", cli_prog, cn->ca_file, kc_client_last_error(c));
		exit(EX_USAGE);
	}
	return c;
}
