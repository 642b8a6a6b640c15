/*
 * The workspace calls: metrics, service health with the GitHub set-up, and
 * the API token, boxed like the tasks' results (see tasks.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/internal.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/workspace.pb-c.h"
#include "transcode/transcode.h"

/* ---- metrics ----------------------------------------------------------------- */

struct metrics_box {
	kc_metrics pub;
	kc_alert *alerts;
	Kc__V1__Metrics *msg;
};

int kc_metrics_get(kc_client *c, kc_metrics **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__GetMetricsRequest req = KC__V1__GET_METRICS_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = kci_unary(c, &kci_rpc_get_metrics, &req.base, &m);
	if (rc)
		return rc;
	Kc__V1__Metrics *r = (Kc__V1__Metrics *)m;
	struct metrics_box *b = calloc(1, sizeof *b);
	if (b && r->n_alerts)
		b->alerts = calloc(r->n_alerts, sizeof *b->alerts);
	if (!b || (r->n_alerts && !b->alerts)) {
		free(b);
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	kc_metrics *p = &b->pub;
	if (r->cpu) {
		p->cpu_usage_percent = r->cpu->usage_percent;
		p->cpu_cores = r->cpu->cores;
		p->cpu_limit_cores = kci_double_value(r->cpu->limit_cores);
	}
	if (r->memory) {
		p->memory_total_mb = r->memory->total_mb;
		p->memory_used_mb = r->memory->used_mb;
		p->memory_available_mb = r->memory->available_mb;
		p->memory_percent = r->memory->percent;
		p->memory_container = r->memory->container;
	}
	p->disk_path = "";
	if (r->disk) {
		p->disk_total_gb = r->disk->total_gb;
		p->disk_used_gb = r->disk->used_gb;
		p->disk_available_gb = r->disk->available_gb;
		p->disk_percent = r->disk->percent;
		p->disk_path = r->disk->path;
	}
	for (size_t i = 0; i < r->n_alerts; i++) {
		const Kc__V1__Alert *a = r->alerts[i];
		b->alerts[i].type = a->type == KC__V1__ALERT_TYPE__ALERT_TYPE_CRITICAL ? "critical" : "warning";
		b->alerts[i].resource = a->resource;
		b->alerts[i].message = a->message;
		b->alerts[i].value = a->value;
		b->alerts[i].threshold = a->threshold;
	}
	p->alerts = b->alerts;
	p->n_alerts = r->n_alerts;
	p->timestamp = r->timestamp;
	b->msg = r;
	*out = p;
	return 0;
}

void kc_metrics_free(kc_metrics *metrics)
{
	if (!metrics)
		return;
	struct metrics_box *b = (struct metrics_box *)metrics;
	free(b->alerts);
	protobuf_c_message_free_unpacked(&b->msg->base, NULL);
	free(b);
}

int kc_metrics_to_json(const kc_metrics *metrics, char **out)
{
	if (!metrics || !out)
		return KC_ERR_INVALID;
	return kci_dump(&((const struct metrics_box *)metrics)->msg->base, out);
}

/* ---- workspace status -------------------------------------------------------- */

struct status_box {
	kc_workspace_status pub;
	kc_service_health *services;
	Kc__V1__Health *health;
	Kc__V1__GitHubStatus *github;
	char github_error[512];
};

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const kc_service_health *)a)->name, ((const kc_service_health *)b)->name);
}

int kc_workspace_status_get(kc_client *c, kc_workspace_status **out)
{
	if (!c || !out)
		return KC_ERR_INVALID;
	Kc__V1__GetHealthRequest hreq = KC__V1__GET_HEALTH_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = kci_unary(c, &kci_rpc_get_health, &hreq.base, &m);
	if (rc)
		return rc;
	Kc__V1__Health *h = (Kc__V1__Health *)m;
	struct status_box *b = calloc(1, sizeof *b);
	if (b && h->n_services)
		b->services = calloc(h->n_services, sizeof *b->services);
	if (!b || (h->n_services && !b->services)) {
		free(b);
		protobuf_c_message_free_unpacked(m, NULL);
		return KC_ERR_NOMEM;
	}
	b->health = h;
	kc_workspace_status *p = &b->pub;
	p->health = h->status == KC__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY ? "healthy" : "degraded";
	for (size_t i = 0; i < h->n_services; i++) {
		const Kc__V1__Health__ServicesEntry *e = h->services[i];
		kc_service_health *s = &b->services[i];
		s->name = e->key;
		s->status = (e->value && e->value->status == KC__V1__SERVICE_STATE__SERVICE_STATE_UP) ? "up" : "down";
		if (e->value) {
			s->port = e->value->port;
			s->latency_ms = kci_double_value(e->value->latency_ms);
			s->checked_at = e->value->checked_at;
		}
	}
	qsort(b->services, h->n_services, sizeof *b->services, cmp_service);
	p->services = b->services;
	p->n_services = h->n_services;
	p->timestamp = h->timestamp;

	Kc__V1__GetGitHubStatusRequest greq = KC__V1__GET_GIT_HUB_STATUS_REQUEST__INIT;
	m = NULL;
	p->ssh_key_type = p->ssh_key_fingerprint = p->ssh_public_key = p->gh_username = "";
	p->git_user_name = p->git_user_email = "";
	if (kci_unary(c, &kci_rpc_get_git_hub_status, &greq.base, &m) == 0) {
		Kc__V1__GitHubStatus *g = (Kc__V1__GitHubStatus *)m;
		b->github = g;
		if (g->ssh) {
			p->ssh_configured = g->ssh->configured;
			p->ssh_key_type = g->ssh->key_type;
			p->ssh_key_fingerprint = g->ssh->key_fingerprint;
			p->ssh_public_key = g->ssh->public_key;
		}
		if (g->gh_cli) {
			p->gh_installed = g->gh_cli->installed;
			p->gh_authenticated = g->gh_cli->authenticated;
			p->gh_username = g->gh_cli->username;
		}
		if (g->git_config) {
			p->git_user_name = g->git_config->user_name;
			p->git_user_email = g->git_config->user_email;
		}
		if (g->github_app) {
			p->github_app_configured = g->github_app->configured;
			p->github_app_token_valid = g->github_app->token_valid;
		}
	} else {
		snprintf(b->github_error, sizeof b->github_error, "%s", c->last_error);
		p->github_error = b->github_error;
		c->last_error[0] = '\0';
	}
	*out = p;
	return 0;
}

void kc_workspace_status_free(kc_workspace_status *status)
{
	if (!status)
		return;
	struct status_box *b = (struct status_box *)status;
	free(b->services);
	protobuf_c_message_free_unpacked(&b->health->base, NULL);
	if (b->github)
		protobuf_c_message_free_unpacked(&b->github->base, NULL);
	free(b);
}

int kc_workspace_status_to_json(const kc_workspace_status *status, char **out)
{
	if (!status || !out)
		return KC_ERR_INVALID;
	const struct status_box *b = (const struct status_box *)status;
	kc_buf j;
	kc_buf_init(&j, 0);
	kc_buf_puts(&j, "{\"health\":");
	kc_message_to_json_ex(&b->health->base, NULL, KC_JSON_CLIENT, &j);
	if (b->github) {
		kc_buf_puts(&j, ",\"github\":");
		kc_message_to_json_ex(&b->github->base, NULL, KC_JSON_CLIENT, &j);
	} else {
		kc_buf_puts(&j, ",\"github_error\":");
		kc_json_put_string(&j, b->github_error, strlen(b->github_error));
	}
	kc_buf_putc(&j, '}');
	char *s = kc_buf_steal(&j, NULL);
	if (!s)
		return KC_ERR_NOMEM;
	*out = s;
	return 0;
}

/* ---- token ------------------------------------------------------------------- */

int kc_token_get(kc_client *c, char **token)
{
	if (!c || !token)
		return KC_ERR_INVALID;
	Kc__V1__GetApiTokenRequest req = KC__V1__GET_API_TOKEN_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc = kci_unary(c, &kci_rpc_get_api_token, &req.base, &m);
	if (rc)
		return rc;
	char *s = strdup(((Kc__V1__ApiToken *)m)->token);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!s)
		return KC_ERR_NOMEM;
	*token = s;
	return 0;
}
