/*
 * workspace.c - kc metrics, status, token and workspaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

static int cmd_metrics(const struct cli_opts *o, kc_client *c)
{
	kc_metrics *m = NULL;
	int rc = kc_metrics_get(c, &m);
	if (rc)
		return cli_fail(c, rc, "metrics");
	if (o->json) {
		char *s = NULL;
		rc = kc_metrics_to_json(m, &s);
		if (rc == 0)
			cli_print_json_and_free(s);
	} else {
		char b[32];
		printf("cpu      %.1f%% of %d core%s", m->cpu_usage_percent, m->cpu_cores,
		       m->cpu_cores == 1 ? "" : "s");
		if (m->cpu_limit_cores > 0)
			printf(" (limit %.2f)", m->cpu_limit_cores);
		printf("\nmemory   %.0f / %.0f MiB (%.1f%%)%s\n", m->memory_used_mb, m->memory_total_mb,
		       m->memory_percent, m->memory_container ? " container" : "");
		printf("disk     %.1f / %.1f GiB (%.1f%%) %s\n", m->disk_used_gb, m->disk_total_gb, m->disk_percent,
		       m->disk_path);
		if (m->n_alerts == 0)
			printf("alerts   none\n");
		for (size_t i = 0; i < m->n_alerts; i++)
			printf("alert    %s %s: %s\n", m->alerts[i].type, m->alerts[i].resource, m->alerts[i].message);
		printf("sampled  %s\n", cli_ago(m->timestamp, b, sizeof b));
	}
	kc_metrics_free(m);
	return rc ? cli_fail(c, rc, "metrics") : EX_OK;
}

static int cmd_status(const struct cli_opts *o, kc_client *c, const struct cli_conn *cn)
{
	kc_workspace_status *s = NULL;
	int rc = kc_workspace_status_get(c, &s);
	if (rc)
		return cli_fail(c, rc, "status");
	if (o->json) {
		char *j = NULL;
		rc = kc_workspace_status_to_json(s, &j);
		if (rc == 0)
			cli_print_json_and_free(j);
	} else {
		printf("workspace  %s (%s, %s)\n", cn->url, kc_client_transport(c), s->health);
		printf("%-10s %-5s %-6s %s\n", "SERVICE", "STATE", "PORT", "LATENCY");
		for (size_t i = 0; i < s->n_services; i++) {
			const kc_service_health *h = &s->services[i];
			printf("%-10s %-5s %-6d ", h->name, h->status, h->port);
			if (h->latency_ms > 0)
				printf("%.1f ms\n", h->latency_ms);
			else
				printf("-\n");
		}
		if (s->github_error) {
			printf("github     unknown: %s\n", s->github_error);
		} else {
			printf("ssh key    %s\n", s->ssh_configured ? s->ssh_key_fingerprint : "none");
			printf("gh cli     %s%s%s\n",
			       !s->gh_installed      ? "not installed"
			       : s->gh_authenticated ? "logged in as "
			                             : "not logged in",
			       s->gh_authenticated ? s->gh_username : "", "");
			printf("git        %s <%s>\n", s->git_user_name[0] ? s->git_user_name : "(no name)",
			       s->git_user_email[0] ? s->git_user_email : "no email");
			printf("github app %s\n", !s->github_app_configured   ? "not configured"
			                          : s->github_app_token_valid ? "token valid"
			                                                      : "token invalid");
		}
	}
	kc_workspace_status_free(s);
	return rc ? cli_fail(c, rc, "status") : EX_OK;
}

static int cmd_token(const struct cli_opts *o, kc_client *c)
{
	if (!o->server) {
		const char *t = kc_client_token(c);
		if (!t[0]) {
			fprintf(stderr, "%s: token: no token configured\n", cli_prog);
			return EX_USAGE;
		}
		if (o->json)
			cli_print_obj(json_pack("{s:s}", "token", t));
		else
			puts(t);
		return EX_OK;
	}
	char *tok = NULL;
	int rc = kc_token_get(c, &tok);
	if (rc)
		return cli_fail(c, rc, "token");
	if (o->json)
		cli_print_obj(json_pack("{s:s}", "token", tok));
	else
		puts(tok);
	kc_free(tok);
	return EX_OK;
}

int cli_cmd_workspaces(const struct cli_opts *o)
{
	char *path = cli_config_path(o);
	struct kcc_config *cfg = cli_load_config(path ? path : "config.yaml");
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < cfg->n_ws; i++)
			json_array_append_new(arr,
			                      json_pack("{s:s,s:s}", "name", cfg->ws[i].name, "url", cfg->ws[i].url));
		cli_print_obj(json_pack("{s:s?,s:o}", "current", cfg->current, "workspaces", arr));
		kcc_config_free(cfg);
		free(path);
		return EX_OK;
	}
	printf("%-1s %-16s %s\n", "", "NAME", "URL");
	for (size_t i = 0; i < cfg->n_ws; i++)
		printf("%-1s %-16s %s\n", cfg->current && strcmp(cfg->current, cfg->ws[i].name) == 0 ? "*" : "",
		       cfg->ws[i].name, cfg->ws[i].url);
	if (cfg->n_ws == 0)
		printf("(none in %s)\n", path);
	kcc_config_free(cfg);
	free(path);
	return EX_OK;
}

int cli_workspace_command(const char *cmd, const struct cli_opts *o, kc_client *c, const struct cli_conn *cn)
{
	if (strcmp(cmd, "metrics") == 0)
		return cmd_metrics(o, c);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(o, c, cn);
	return cmd_token(o, c);
}
