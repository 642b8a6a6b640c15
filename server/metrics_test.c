/* metrics: cgroup v2 figures from a fixture tree, host figures from a
 * fixture /proc, alerts at thresholds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/config.h"
#include "server/metrics.h"

static void test_cgroup(void **state)
{
	kc_config cfg;
	kc_metrics *m;
	Kc__V1__Metrics *r;
	kc_metrics_opts o = {.proc_root = "server/testdata/proc",
	                     .cgroup_root = "server/testdata/cgroup",
	                     .disk_path = "/",
	                     .interval_ms = 1000};
	(void)state;
	assert_int_equal(kc_config_init(&cfg), 0);
	cfg.memory.warning = 40;
	assert_int_equal(kc_metrics_new(&cfg, &o, &m), 0);
	r = kc_metrics_latest(m);
	assert_non_null(r);
	assert_true(r->memory->container);
	assert_true(r->memory->total_mb == 1024);
	assert_true(r->memory->used_mb == 512);
	assert_true(r->memory->percent == 50);
	assert_int_equal(r->cpu->cores, 2);
	assert_non_null(r->cpu->limit_cores);
	assert_true(r->cpu->limit_cores->value == 1.5);
	assert_string_equal(r->disk->path, "/");
	assert_true(r->disk->total_gb > 0);
	assert_int_equal(r->n_alerts >= 1, 1);
	assert_string_equal(r->alerts[0]->resource, "memory");
	assert_int_equal(r->alerts[0]->type, KC__V1__ALERT_TYPE__ALERT_TYPE_WARNING);
	assert_non_null(strstr(r->alerts[0]->message, "50.0%"));
	protobuf_c_message_free_unpacked(&r->base, NULL);
	kc_metrics_free(m);
	kc_config_release(&cfg);
}

static void test_host(void **state)
{
	kc_config cfg;
	kc_metrics *m;
	Kc__V1__Metrics *r;
	kc_metrics_opts o = {.proc_root = "server/testdata/proc", .cgroup_root = "/nonexistent", .disk_path = "/"};
	(void)state;
	assert_int_equal(kc_config_init(&cfg), 0);
	assert_int_equal(kc_metrics_new(&cfg, &o, &m), 0);
	kc_metrics_sample(m);
	r = kc_metrics_latest(m);
	assert_false(r->memory->container);
	assert_true(r->memory->total_mb == 2000);
	assert_true(r->memory->used_mb == 1000);
	assert_null(r->cpu->limit_cores);
	assert_true(r->cpu->cores >= 1);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	kc_metrics_free(m);
	kc_config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cgroup),
	    cmocka_unit_test(test_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
