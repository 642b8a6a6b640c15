/*
 * metrics.h - the background resource sampler behind MetricsService.
 *
 * A thread samples every `interval_ms`: CPU from /proc/stat deltas (or the
 * cgroup's cpu.stat usage against its cpu.max quota), memory from cgroup v2
 * memory.max/memory.current when a limit is set (else /proc/meminfo), disk
 * of the home directory via statvfs. Requests read the last sample and
 * never wait for a measurement. The /proc and cgroup roots are parameters
 * so tests can point them at fixture trees.
 */
#ifndef KC_SERVER_METRICS_H
#define KC_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "kc/v1/metrics.pb-c.h"
#include "server/config.h"

typedef struct kc_metrics kc_metrics;

typedef struct kc_metrics_opts {
	const char *proc_root;   /* default "/proc" */
	const char *cgroup_root; /* default "/sys/fs/cgroup" */
	const char *disk_path;   /* default cfg->home */
	long interval_ms;        /* default cfg->metrics_interval_ms */
} kc_metrics_opts;

/* Takes a first sample synchronously (so GetMetrics answers at once). */
int kc_metrics_new(const kc_config *cfg, const kc_metrics_opts *opts, kc_metrics **out);
int kc_metrics_start(kc_metrics *m);
/* Stops the sampler; remaining watchers get (NULL, last). NULL: no-op. */
void kc_metrics_free(kc_metrics *m);

/* Samples now (the sampler does this; tests call it directly). */
void kc_metrics_sample(kc_metrics *m);

/* The latest sample as a heap message (free with
 * protobuf_c_message_free_unpacked), or NULL when out of memory. */
Kc__V1__Metrics *kc_metrics_latest(kc_metrics *m);

typedef void (*kc_metrics_sink)(void *ud, const Kc__V1__Metrics *mt, bool last);

/* Registers a watcher that gets the latest sample at once and then a
 * sample at most every max(interval_ms, sampler interval). Returns a
 * positive id or a kc_error. */
int64_t kc_metrics_watch(kc_metrics *m, int32_t interval_ms, kc_metrics_sink sink, void *ud);
/* True when it removed the watcher (its sink will not run again). */
bool kc_metrics_unwatch(kc_metrics *m, int64_t id);

#endif /* KC_SERVER_METRICS_H */
