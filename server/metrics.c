/* metrics.c - see metrics.h. */
#include "server/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "server/wrappers.h"

struct sample {
	double cpu_percent;
	int cores;
	double limit_cores; /* 0: unlimited */
	double mem_total, mem_used, mem_avail, mem_percent;
	bool container;
	double disk_total, disk_used, disk_avail, disk_percent;
	double timestamp;
};

struct mwatcher {
	int64_t id;
	long interval_ms;
	long long last_ms;
	kc_metrics_sink sink;
	void *ud;
	struct mwatcher *next;
};

struct kc_metrics {
	const kc_config *cfg;
	char *proc_root, *cgroup_root, *disk_path;
	long interval_ms;
	pthread_mutex_t mu; /* guards the sample and the previous counters */
	struct sample cur;
	unsigned long long prev_busy, prev_total; /* /proc/stat */
	unsigned long long prev_usage_us;         /* cgroup cpu.stat */
	long long prev_ms;
	bool have_prev;

	pthread_mutex_t wmu; /* watchers; held while a sink runs */
	struct mwatcher *watchers;
	int64_t next_id;

	pthread_t thread;
	bool started, stop;
	pthread_cond_t cv;
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a small file into buf; false when missing. */
static bool slurp(const char *root, const char *name, char *buf, size_t len)
{
	char path[4200];
	FILE *f;
	size_t n;
	snprintf(path, sizeof path, "%s/%s", root, name);
	if (!(f = fopen(path, "r")))
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return true;
}

static void sample_cpu(kc_metrics *m, struct sample *s, long long now)
{
	char buf[8192];
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	double avail = online > 0 ? (double)online : 1.0;
	bool cg_usage = false;
	unsigned long long usage_us = 0;

	s->cores = (int)avail;
	s->limit_cores = 0;
	if (slurp(m->cgroup_root, "cpu.max", buf, sizeof buf)) {
		double quota, period;
		if (strncmp(buf, "max", 3) != 0 && sscanf(buf, "%lf %lf", &quota, &period) == 2 && period > 0 &&
		    quota > 0) {
			s->limit_cores = quota / period;
			s->cores = (int)ceil(s->limit_cores);
			avail = s->limit_cores;
		}
	}
	if (s->limit_cores > 0 && slurp(m->cgroup_root, "cpu.stat", buf, sizeof buf)) {
		char *p = strstr(buf, "usage_usec ");
		if (p && sscanf(p + 11, "%llu", &usage_us) == 1)
			cg_usage = true;
	}
	if (cg_usage) {
		if (m->have_prev && now > m->prev_ms && usage_us >= m->prev_usage_us)
			s->cpu_percent =
			    (double)(usage_us - m->prev_usage_us) / 1000.0 / (double)(now - m->prev_ms) / avail * 100.0;
		m->prev_usage_us = usage_us;
	} else if (slurp(m->proc_root, "stat", buf, sizeof buf)) {
		unsigned long long v[10] = {0}, total = 0, idle;
		if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		           &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 4) {
			/* guest and guest_nice are already counted in user/nice. */
			for (int i = 0; i < 8; i++)
				total += v[i];
			idle = v[3] + v[4];
			if (m->have_prev && total > m->prev_total)
				s->cpu_percent =
				    (double)((total - idle) - m->prev_busy) / (double)(total - m->prev_total) * 100.0;
			m->prev_busy = total - idle;
			m->prev_total = total;
		}
	}
	if (s->cpu_percent < 0)
		s->cpu_percent = 0;
	if (s->cpu_percent > 100)
		s->cpu_percent = 100;
}

static void sample_memory(kc_metrics *m, struct sample *s)
{
	char buf[8192];
	unsigned long long max = 0, cur = 0;
	const double mib = 1024.0 * 1024.0;

	if (slurp(m->cgroup_root, "memory.max", buf, sizeof buf) && strncmp(buf, "max", 3) != 0 &&
	    sscanf(buf, "%llu", &max) == 1 && max > 0 && slurp(m->cgroup_root, "memory.current", buf, sizeof buf) &&
	    sscanf(buf, "%llu", &cur) == 1) {
		s->container = true;
		s->mem_total = (double)max / mib;
		s->mem_used = (double)cur / mib;
	} else if (slurp(m->proc_root, "meminfo", buf, sizeof buf)) {
		unsigned long long total = 0, avail = 0;
		char *p;
		if ((p = strstr(buf, "MemTotal:")) != NULL)
			sscanf(p + 9, "%llu", &total);
		if ((p = strstr(buf, "MemAvailable:")) != NULL)
			sscanf(p + 13, "%llu", &avail);
		s->container = false;
		s->mem_total = (double)total / 1024.0;
		s->mem_used = (double)(total > avail ? total - avail : 0) / 1024.0;
	}
	s->mem_avail = s->mem_total > s->mem_used ? s->mem_total - s->mem_used : 0;
	s->mem_percent = s->mem_total > 0 ? s->mem_used / s->mem_total * 100.0 : 0;
}

static void sample_disk(kc_metrics *m, struct sample *s)
{
	struct statvfs v;
	const double gib = 1024.0 * 1024.0 * 1024.0;
	if (statvfs(m->disk_path, &v) != 0)
		return;
	s->disk_total = (double)v.f_blocks * (double)v.f_frsize / gib;
	s->disk_used = (double)(v.f_blocks - v.f_bfree) * (double)v.f_frsize / gib;
	s->disk_avail = (double)v.f_bavail * (double)v.f_frsize / gib;
	s->disk_percent = s->disk_used + s->disk_avail > 0 ? s->disk_used / (s->disk_used + s->disk_avail) * 100.0 : 0;
}

void kc_metrics_sample(kc_metrics *m)
{
	struct sample s;
	struct timespec ts;
	long long now = mono_ms();

	memset(&s, 0, sizeof s);
	pthread_mutex_lock(&m->mu);
	sample_cpu(m, &s, now);
	m->prev_ms = now;
	m->have_prev = true;
	pthread_mutex_unlock(&m->mu);
	sample_memory(m, &s);
	sample_disk(m, &s);
	clock_gettime(CLOCK_REALTIME, &ts);
	s.timestamp = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	pthread_mutex_lock(&m->mu);
	m->cur = s;
	pthread_mutex_unlock(&m->mu);
}

static Kc__V1__Alert *alert(const char *resource, const char *label, double value, const kc_threshold *t)
{
	Kc__V1__Alert *a;
	char msg[128];
	if (value < t->warning)
		return NULL;
	if (!(a = malloc(sizeof *a)))
		return NULL;
	kc__v1__alert__init(a);
	a->type =
	    value >= t->critical ? KC__V1__ALERT_TYPE__ALERT_TYPE_CRITICAL : KC__V1__ALERT_TYPE__ALERT_TYPE_WARNING;
	a->threshold = value >= t->critical ? t->critical : t->warning;
	a->value = value;
	snprintf(msg, sizeof msg, "%s usage is at %.1f%%", label, value);
	a->resource = strdup(resource);
	a->message = strdup(msg);
	if (!a->resource || !a->message) {
		protobuf_c_message_free_unpacked(&a->base, NULL);
		return NULL;
	}
	return a;
}

static Kc__V1__Metrics *build(kc_metrics *m, const struct sample *s)
{
	Kc__V1__Metrics *r = calloc(1, sizeof *r);
	Kc__V1__CpuMetrics *cpu = calloc(1, sizeof *cpu);
	Kc__V1__MemoryMetrics *mem = calloc(1, sizeof *mem);
	Kc__V1__DiskMetrics *disk = calloc(1, sizeof *disk);
	Kc__V1__Alert *al[3];
	size_t na = 0;

	if (!r || !cpu || !mem || !disk) {
		free(r);
		free(cpu);
		free(mem);
		free(disk);
		return NULL;
	}
	kc__v1__metrics__init(r);
	kc__v1__cpu_metrics__init(cpu);
	kc__v1__memory_metrics__init(mem);
	kc__v1__disk_metrics__init(disk);
	r->cpu = cpu;
	r->memory = mem;
	r->disk = disk;
	cpu->usage_percent = round(s->cpu_percent * 10) / 10;
	cpu->cores = s->cores;
	if (s->limit_cores > 0)
		cpu->limit_cores = kc_double_value_new(s->limit_cores);
	mem->total_mb = round(s->mem_total * 10) / 10;
	mem->used_mb = round(s->mem_used * 10) / 10;
	mem->available_mb = round(s->mem_avail * 10) / 10;
	mem->percent = round(s->mem_percent * 10) / 10;
	mem->container = s->container;
	disk->total_gb = round(s->disk_total * 100) / 100;
	disk->used_gb = round(s->disk_used * 100) / 100;
	disk->available_gb = round(s->disk_avail * 100) / 100;
	disk->percent = round(s->disk_percent * 10) / 10;
	disk->path = strdup(m->disk_path);
	r->timestamp = s->timestamp;
	if ((al[na] = alert("cpu", "CPU", cpu->usage_percent, &m->cfg->cpu)) != NULL)
		na++;
	if ((al[na] = alert("memory", "Memory", mem->percent, &m->cfg->memory)) != NULL)
		na++;
	if ((al[na] = alert("disk", "Disk", disk->percent, &m->cfg->disk)) != NULL)
		na++;
	if (na && (r->alerts = calloc(na, sizeof *r->alerts)) != NULL) {
		memcpy(r->alerts, al, na * sizeof *al);
		r->n_alerts = na;
	} else {
		for (size_t i = 0; i < na; i++)
			protobuf_c_message_free_unpacked(&al[i]->base, NULL);
	}
	if (!disk->path) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	return r;
}

Kc__V1__Metrics *kc_metrics_latest(kc_metrics *m)
{
	struct sample s;
	pthread_mutex_lock(&m->mu);
	s = m->cur;
	pthread_mutex_unlock(&m->mu);
	return build(m, &s);
}

static void notify(kc_metrics *m, bool all)
{
	Kc__V1__Metrics *r = NULL;
	long long now = mono_ms();
	pthread_mutex_lock(&m->wmu);
	for (struct mwatcher *w = m->watchers; w; w = w->next) {
		/* Small slack so a 1 s watcher on a 1 s sampler is not skipped. */
		if (!all && now - w->last_ms + 50 < w->interval_ms)
			continue;
		if (!r && !(r = kc_metrics_latest(m)))
			break;
		w->last_ms = now;
		w->sink(w->ud, r, false);
	}
	pthread_mutex_unlock(&m->wmu);
	if (r)
		protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void *sampler(void *arg)
{
	kc_metrics *m = arg;
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += m->interval_ms / 1000;
		ts.tv_nsec += (m->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->mu);
		kc_metrics_sample(m);
		notify(m, false);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int kc_metrics_new(const kc_config *cfg, const kc_metrics_opts *opts, kc_metrics **out)
{
	kc_metrics *m = calloc(1, sizeof *m);
	if (!m)
		return KC_ERR_NOMEM;
	m->cfg = cfg;
	m->proc_root = strdup(opts && opts->proc_root ? opts->proc_root : "/proc");
	m->cgroup_root = strdup(opts && opts->cgroup_root ? opts->cgroup_root : "/sys/fs/cgroup");
	m->disk_path = strdup(opts && opts->disk_path ? opts->disk_path : cfg->home);
	m->interval_ms = opts && opts->interval_ms > 0 ? opts->interval_ms : cfg->metrics_interval_ms;
	m->next_id = 1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->wmu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (!m->proc_root || !m->cgroup_root || !m->disk_path) {
		kc_metrics_free(m);
		return KC_ERR_NOMEM;
	}
	kc_metrics_sample(m);
	*out = m;
	return 0;
}

int kc_metrics_start(kc_metrics *m)
{
	if (pthread_create(&m->thread, NULL, sampler, m) != 0)
		return KC_ERR_IO;
	m->started = true;
	return 0;
}

void kc_metrics_free(kc_metrics *m)
{
	if (!m)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	pthread_mutex_lock(&m->wmu);
	while (m->watchers) {
		struct mwatcher *w = m->watchers;
		m->watchers = w->next;
		w->sink(w->ud, NULL, true);
		free(w);
	}
	pthread_mutex_unlock(&m->wmu);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->wmu);
	pthread_cond_destroy(&m->cv);
	free(m->proc_root);
	free(m->cgroup_root);
	free(m->disk_path);
	free(m);
}

int64_t kc_metrics_watch(kc_metrics *m, int32_t interval_ms, kc_metrics_sink sink, void *ud)
{
	struct mwatcher *w = calloc(1, sizeof *w);
	Kc__V1__Metrics *r;
	if (!w)
		return KC_ERR_NOMEM;
	w->interval_ms = interval_ms > m->interval_ms ? interval_ms : m->interval_ms;
	w->sink = sink;
	w->ud = ud;
	w->last_ms = mono_ms();
	pthread_mutex_lock(&m->wmu);
	w->id = m->next_id++;
	w->next = m->watchers;
	m->watchers = w;
	/* The latest sample at once, before any from the sampler. */
	if ((r = kc_metrics_latest(m)) != NULL) {
		sink(ud, r, false);
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	pthread_mutex_unlock(&m->wmu);
	return w->id;
}

bool kc_metrics_unwatch(kc_metrics *m, int64_t id)
{
	bool found = false;
	pthread_mutex_lock(&m->wmu);
	for (struct mwatcher **pw = &m->watchers; *pw; pw = &(*pw)->next) {
		if ((*pw)->id == id) {
			struct mwatcher *w = *pw;
			*pw = w->next;
			free(w);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&m->wmu);
	return found;
}
