/*
 * metrics.h - the gateway's own Prometheus metrics.
 *
 * Updated and read on the loop thread only, so plain counters suffice.
 * Exposed at GET /metrics/prometheus (text exposition format 0.0.4): the
 * JSON /metrics route belongs to the API (the workspace's CPU, memory and
 * disk), and a separate path keeps scrapers away from content negotiation.
 */
#ifndef KC_GW_METRICS_H
#define KC_GW_METRICS_H

#include <stddef.h>

#include "transcode/buf.h"

/* Request kinds besides API routes (which use their route index). */
enum {
	KC_GW_KIND_STATIC = 0,
	KC_GW_KIND_HEALTHZ,
	KC_GW_KIND_OPENAPI,
	KC_GW_KIND_PROMETHEUS,
	KC_GW_KIND_UNMATCHED,
	KC_GW_N_KINDS,
};

typedef struct kc_gw_metrics kc_gw_metrics;

kc_gw_metrics *kc_gw_metrics_new(size_t n_routes);
void kc_gw_metrics_free(kc_gw_metrics *m);

/* `route` is a route index, or n_routes + KC_GW_KIND_*. */
void kc_gw_metrics_request(kc_gw_metrics *m, size_t route, int status, double seconds);
void kc_gw_metrics_connections(kc_gw_metrics *m, int delta);
void kc_gw_metrics_upstream_error(kc_gw_metrics *m);
void kc_gw_metrics_streams(kc_gw_metrics *m, int delta);
/* A request answered from a call started for an identical one. */
void kc_gw_metrics_shared_answer(kc_gw_metrics *m);

/* Appends the exposition text. `label` names route i (method and path). */
int kc_gw_metrics_render(const kc_gw_metrics *m, const char *(*label)(size_t i, void *ud), void *ud, kc_buf *out);

#endif /* KC_GW_METRICS_H */
