/*
 * kc-gateway - REST/JSON and HTTP/2 front for kc-server.
 *
 *   kc-gateway [--config FILE] [--listen HOST:PORT] [--upstream TARGET]
 *              [--web-root DIR] [--log-level LEVEL]
 *
 * Settings come from the `gateway:` section of the shared config file, then
 * the environment (KC_PORT), then the flags. Exits non-zero with a message
 * naming the key and line on a bad config. SIGTERM or SIGINT drains:
 * no new connections, running requests finish, streams end cleanly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/kc_error.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/router.h"

extern const char kc_openapi_json[];
extern const size_t kc_openapi_json_len;

static void usage(void)
{
	fprintf(stderr, "usage: kc-gateway [--config FILE] [--listen HOST:PORT] [--upstream TARGET] "
	                "[--web-root DIR] [--log-level debug|info|warn|error]\n");
}

static int set_flag(char *dst, size_t cap, const char *v)
{
	if (!v || strlen(v) >= cap)
		return -1;
	snprintf(dst, cap, "%s", v);
	return 0;
}

/* The command line's settings; NULL when not given. */
typedef struct flags {
	const char *config;
	const char *listen;
	const char *upstream;
	const char *web_root;
	kc_log_level level;
} flags;

/* 0, or -1 after the usage went to stderr. */
static int parse_flags(int argc, char **argv, flags *f)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--config") == 0 && v)
			f->config = v;
		else if (strcmp(argv[i], "--listen") == 0 && v)
			f->listen = v;
		else if (strcmp(argv[i], "--upstream") == 0 && v)
			f->upstream = v;
		else if (strcmp(argv[i], "--web-root") == 0 && v)
			f->web_root = v;
		else if (strcmp(argv[i], "--log-level") == 0 && v && kc_log_level_parse(v, &f->level) == 0)
			(void)0;
		else {
			usage();
			return -1;
		}
		i++;
	}
	return 0;
}

static void log_listening(const kc_gw *gw)
{
	char port[16];
	char oport[16];

	snprintf(port, sizeof(port), "%d", kc_gw_bound_port(gw));
	snprintf(oport, sizeof(oport), "%d", kc_gw_oauth_bound_port(gw));
	kc_log(KC_LOG_INFO, "listening", "listen", gw->cfg.listen, "port", port, "oauth_listen",
	       gw->cfg.oauth_listen[0] ? gw->cfg.oauth_listen : "off", "oauth_port", oport, "upstream",
	       gw->cfg.upstream, "web_root", gw->cfg.web_root, NULL);
}

int main(int argc, char **argv)
{
	kc_gw gw;
	char err[512];
	flags f = {.level = KC_LOG_INFO};
	int rc = 1;

	kc_log_set_component("kc-gateway");
	memset(&gw, 0, sizeof(gw));
	kc_gw_config_defaults(&gw.cfg);
	if (parse_flags(argc, argv, &f))
		return 2;
	kc_log_set_level(f.level);
	gw.log_level = (int)f.level;
	if (f.config && kc_gw_config_load(&gw.cfg, f.config, err, sizeof(err))) {
		fprintf(stderr, "kc-gateway: %s\n", err);
		return 1;
	}
	if (kc_gw_config_env(&gw.cfg, err, sizeof(err))) {
		fprintf(stderr, "kc-gateway: %s\n", err);
		return 1;
	}
	if ((f.listen && set_flag(gw.cfg.listen, sizeof(gw.cfg.listen), f.listen)) ||
	    (f.upstream && set_flag(gw.cfg.upstream, sizeof(gw.cfg.upstream), f.upstream)) ||
	    (f.web_root && set_flag(gw.cfg.web_root, sizeof(gw.cfg.web_root), f.web_root))) {
		fprintf(stderr, "kc-gateway: a flag's value is too long\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	gw.base = event_base_new();
	gw.metrics = kc_gw_metrics_new(kc_n_routes);
	gw.openapi = kc_openapi_json;
	gw.openapi_len = kc_openapi_json_len;
	if (!gw.base || !gw.metrics) {
		fprintf(stderr, "kc-gateway: out of memory\n");
		goto out;
	}
	if (kc_upstream_new(&gw.up, gw.base, gw.cfg.upstream)) {
		fprintf(stderr, "kc-gateway: cannot set up the channel to %s\n", gw.cfg.upstream);
		goto out;
	}
	if (kc_gw_start(&gw)) {
		/* The identity listener's failures are logged where they happen,
		 * with the path and the reason. */
		if (!gw.listener)
			fprintf(stderr, "kc-gateway: cannot listen on %s\n", gw.cfg.listen);
		goto out;
	}
	log_listening(&gw);
	event_base_dispatch(gw.base);
	kc_log(KC_LOG_INFO, "stopped", NULL);
	rc = 0;
out:
	kc_gw_stop(&gw);
	kc_upstream_free(gw.up);
	kc_gw_metrics_free(gw.metrics);
	if (gw.base)
		event_base_free(gw.base);
	return rc;
}
