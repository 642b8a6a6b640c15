/* gateway_config_test.c - the gateway section, read strictly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/config.h"

static int parse(kc_gw_config *c, const char *y, char *err)
{
	kc_gw_config_defaults(c);
	return kc_gw_config_parse(c, y, strlen(y), err, 256);
}

static void test_values_and_other_sections(void **state)
{
	kc_gw_config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&c,
	                       "home: /h\nserver:\n  socket: /s\n  whatever: 1\n"
	                       "gateway:\n  listen: 127.0.0.1:7000\n  max_body_bytes: 10\n  web_root: /w\n",
	                       err),
	                 0);
	assert_string_equal(c.listen, "127.0.0.1:7000");
	assert_int_equal(c.max_body_bytes, 10);
	assert_string_equal(c.web_root, "/w");
	assert_int_equal(c.max_header_bytes, 16384);
}

static void test_strict(void **state)
{
	kc_gw_config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&c, "gateway:\n  listen: x:1\n  lisen: y\n", err), KC_ERR_INVALID);
	assert_string_equal(err, "gateway.lisen: line 3: unknown key");
	assert_int_equal(parse(&c, "gateway:\n  max_connections: lots\n", err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "gateway.max_connections: line 2"));
	assert_int_equal(parse(&c, "gateway:\n  max_streams: 0\n", err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "gateway.max_streams: line 2"));
	assert_int_equal(parse(&c, "gateway:\n  max_streams: 32\n", err), 0);
	assert_int_equal(c.max_streams, 32);
	assert_int_equal(parse(&c, "gateway:\n  tls_cert: /c\n", err), KC_ERR_INVALID);
	assert_true(c.coalesce_reads);
	assert_int_equal(c.upstream_wait_ms, 5000);
	assert_int_equal(parse(&c, "gateway:\n  upstream_wait_ms: 0\n", err), 0);
	assert_int_equal(c.upstream_wait_ms, 0);
	assert_int_equal(parse(&c, "gateway:\n  upstream_wait_ms: -1\n", err), KC_ERR_INVALID);
	assert_int_equal(c.write_timeout_ms, 30000);
	assert_int_equal(c.max_connection_bytes, 8L << 20);
	assert_int_equal(parse(&c, "gateway:\n  write_timeout_ms: 500\n  max_connection_bytes: 1048576\n", err), 0);
	assert_int_equal(c.write_timeout_ms, 500);
	assert_int_equal(c.max_connection_bytes, 1048576);
	assert_int_equal(parse(&c, "gateway:\n  write_timeout_ms: 0\n", err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "gateway.write_timeout_ms: line 2"));
	assert_int_equal(parse(&c, "gateway:\n  max_connection_bytes: 10\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  coalesce_reads: false\n", err), 0);
	assert_false(c.coalesce_reads);
	assert_int_equal(parse(&c, "gateway:\n  coalesce_reads: sometimes\n", err), KC_ERR_INVALID);
	assert_string_equal(err, "gateway.coalesce_reads: line 2: expected true or false");
}

static void test_listen_and_env(void **state)
{
	kc_gw_config c;
	char host[64];
	char err[256];
	int port;

	(void)state;
	assert_int_equal(kc_gw_parse_listen("[::1]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(kc_gw_parse_listen("nope", host, sizeof(host), &port), KC_ERR_INVALID);
	kc_gw_config_defaults(&c);
	setenv("KC_PORT", "7123", 1);
	assert_int_equal(kc_gw_config_env(&c, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "127.0.0.1:7123");
	setenv("KC_PORT", "99999", 1);
	assert_int_equal(kc_gw_config_env(&c, err, sizeof(err)), KC_ERR_INVALID);
	unsetenv("KC_PORT");
}

static void test_trust_keys(void **state)
{
	kc_gw_config c;
	char err[256] = "";

	(void)state;
	kc_gw_config_defaults(&c);
	assert_string_equal(c.oauth_listen, "");
	assert_string_equal(c.oauth_user_header, "x-auth-request-user");
	assert_true(kc_gw_host_allowed(&c, "localhost"));
	assert_true(kc_gw_host_allowed(&c, "127.0.0.1"));
	assert_true(kc_gw_host_allowed(&c, "::1"));
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: unix:/run/kc-oauth/gw.sock\n", err), 0);
	assert_string_equal(c.oauth_listen, "unix:/run/kc-oauth/gw.sock");
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: 127.0.0.1:6090\n", err), 0);
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: \"[::1]:6090\"\n", err), 0);
	/* Reachable from elsewhere: refused, never trusted. */
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: 0.0.0.0:6090\n", err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "gateway.oauth_listen: line 2"));
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: 10.0.0.1:6090\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  oauth_listen: unix:relative.sock\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  oauth_user_header: X-Forwarded-User\n", err), 0);
	assert_string_equal(c.oauth_user_header, "x-forwarded-user");
	assert_int_equal(parse(&c, "gateway:\n  oauth_user_header: Authorization\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  oauth_email_header: \"a b\"\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  allowed_hosts: [Jane.Example.COM., \"[::1]\", kc.ns.svc]\n", err), 0);
	assert_int_equal(c.n_allowed_hosts, 3);
	assert_true(kc_gw_host_allowed(&c, "jane.example.com"));
	assert_true(kc_gw_host_allowed(&c, "::1"));
	assert_false(kc_gw_host_allowed(&c, "localhost"));
	assert_int_equal(parse(&c, "gateway:\n  allowed_hosts: []\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  allowed_hosts: localhost\n", err), KC_ERR_INVALID);
	assert_int_equal(parse(&c, "gateway:\n  allowed_hosts: [\"a@b\"]\n", err), KC_ERR_INVALID);
	assert_non_null(strstr(err, "gateway.allowed_hosts: line 2"));
}

static void test_host_normalize(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} ok[] = {
	    {"localhost", "localhost"},
	    {"LocalHost:6080", "localhost"},
	    {"localhost.", "localhost"},
	    {"localhost.:80", "localhost"},
	    {"[::1]", "::1"},
	    {"[::1]:6080", "::1"},
	    {"::1", "::1"},
	    {"[0:0:0:0:0:0:0:1]", "::1"},
	    {"127.0.0.1:", "127.0.0.1"},
	    {"A.B-c.example", "a.b-c.example"},
	};
	static const char *const bad_hosts[] = {
	    "",
	    ":80",
	    "user@localhost",
	    "localhost/x",
	    "local%68ost",
	    "localhost:80:80",
	    "localhost:x",
	    "[::1",
	    "[::1]x",
	    "local host",
	    "localhost:123456",
	    "[fe80::1%eth0]",
	    "..",
	    "::1:6080x",
	};
	char out[KC_GW_MAX_HOST_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(kc_gw_host_normalize(ok[i].in, strlen(ok[i].in), out, sizeof(out)), 0);
		assert_string_equal(out, ok[i].out);
	}
	for (i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		if (kc_gw_host_normalize(bad_hosts[i], strlen(bad_hosts[i]), out, sizeof(out)) == 0)
			fail_msg("accepted \"%s\" as \"%s\"", bad_hosts[i], out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values_and_other_sections),
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_listen_and_env),
	    cmocka_unit_test(test_trust_keys),
	    cmocka_unit_test(test_host_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
