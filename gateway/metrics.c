#include "gateway/metrics.h"

#include <stdint.h>
#include <stdlib.h>

/* The status codes the gateway answers with; anything else counts as 0. */
static const int codes[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409,
                            412, 413, 429, 431, 499, 500, 501, 502, 503, 504};
#define N_CODES (sizeof(codes) / sizeof(codes[0]) + 1)

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct kc_gw_metrics {
	size_t n_rows;
	uint64_t *requests; /* n_rows x N_CODES */
	uint64_t hist[N_BUCKETS];
	uint64_t hist_count;
	double hist_sum;
	int64_t open_connections;
	uint64_t connections_total;
	uint64_t upstream_errors;
	int64_t open_streams;
	uint64_t shared_answers;
};

kc_gw_metrics *kc_gw_metrics_new(size_t n_routes)
{
	kc_gw_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->n_rows = n_routes + KC_GW_N_KINDS;
	m->requests = calloc(m->n_rows * N_CODES, sizeof(uint64_t));
	if (!m->requests) {
		free(m);
		return NULL;
	}
	return m;
}

void kc_gw_metrics_free(kc_gw_metrics *m)
{
	if (!m)
		return;
	free(m->requests);
	free(m);
}

void kc_gw_metrics_request(kc_gw_metrics *m, size_t route, int status, double seconds)
{
	size_t c = N_CODES - 1;
	size_t i;

	for (i = 0; i + 1 < N_CODES; i++)
		if (codes[i] == status)
			c = i;
	if (route < m->n_rows)
		m->requests[route * N_CODES + c]++;
	for (i = 0; i < N_BUCKETS; i++)
		if (seconds <= buckets[i])
			m->hist[i]++;
	m->hist_count++;
	m->hist_sum += seconds;
}

void kc_gw_metrics_connections(kc_gw_metrics *m, int delta)
{
	m->open_connections += delta;
	if (delta > 0)
		m->connections_total++;
}

void kc_gw_metrics_upstream_error(kc_gw_metrics *m)
{
	m->upstream_errors++;
}

void kc_gw_metrics_streams(kc_gw_metrics *m, int delta)
{
	m->open_streams += delta;
}

void kc_gw_metrics_shared_answer(kc_gw_metrics *m)
{
	m->shared_answers++;
}

int kc_gw_metrics_render(const kc_gw_metrics *m, const char *(*label)(size_t i, void *ud), void *ud, kc_buf *out)
{
	size_t r;
	size_t c;

	kc_buf_puts(out, "# HELP kc_gateway_requests_total HTTP requests answered, by route and status code.\n"
	                 "# TYPE kc_gateway_requests_total counter\n");
	for (r = 0; r < m->n_rows; r++)
		for (c = 0; c < N_CODES; c++)
			if (m->requests[r * N_CODES + c])
				kc_buf_printf(out, "kc_gateway_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
				              label(r, ud), c + 1 < N_CODES ? codes[c] : 0,
				              (unsigned long long)m->requests[r * N_CODES + c]);
	kc_buf_puts(out, "# HELP kc_gateway_request_duration_seconds Time from a complete request to its answer.\n"
	                 "# TYPE kc_gateway_request_duration_seconds histogram\n");
	for (c = 0; c < N_BUCKETS; c++)
		kc_buf_printf(out, "kc_gateway_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[c],
		              (unsigned long long)m->hist[c]);
	kc_buf_printf(out,
	              "kc_gateway_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	              "kc_gateway_request_duration_seconds_sum %.6f\n"
	              "kc_gateway_request_duration_seconds_count %llu\n",
	              (unsigned long long)m->hist_count, m->hist_sum, (unsigned long long)m->hist_count);
	kc_buf_printf(
	    out,
	    "# HELP kc_gateway_open_connections Client connections open now.\n"
	    "# TYPE kc_gateway_open_connections gauge\n"
	    "kc_gateway_open_connections %lld\n"
	    "# HELP kc_gateway_connections_total Client connections accepted.\n"
	    "# TYPE kc_gateway_connections_total counter\n"
	    "kc_gateway_connections_total %llu\n"
	    "# HELP kc_gateway_open_streams Server-streaming answers (SSE, NDJSON) open now.\n"
	    "# TYPE kc_gateway_open_streams gauge\n"
	    "kc_gateway_open_streams %lld\n"
	    "# HELP kc_gateway_upstream_errors_total Calls to kc-server that failed for a server-side reason.\n"
	    "# TYPE kc_gateway_upstream_errors_total counter\n"
	    "kc_gateway_upstream_errors_total %llu\n"
	    "# HELP kc_gateway_shared_answers_total API reads answered by the call of an identical read "
	    "that arrived with them.\n"
	    "# TYPE kc_gateway_shared_answers_total counter\n"
	    "kc_gateway_shared_answers_total %llu\n",
	    (long long)m->open_connections, (unsigned long long)m->connections_total, (long long)m->open_streams,
	    (unsigned long long)m->upstream_errors, (unsigned long long)m->shared_answers);
	return out->err;
}
