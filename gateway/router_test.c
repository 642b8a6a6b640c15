/* The generated route table and the matcher: every REST route of the
 * contract (DESIGN.md §3) reaches its rpc with the right bindings, with and
 * without the /oauth prefix, and near misses reach nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "gateway/router.h"
#include "kc/v1/metrics.pb-c.h"
#include "kc/v1/task.pb-c.h"
#include "kc/v1/workspace.pb-c.h"

#define ID "1732665600-9f3a1c2b"

struct contract_row {
	const char *method;
	const char *path;
	const char *grpc_path;
	const char *body_field;
	const char *bound_field; /* NULL when the path binds nothing */
	const char *bound_value;
};

/* DESIGN.md §3, row by row, plus the streams and health. */
static const struct contract_row contract[] = {
    {"POST", "/api/claude/tasks", "/kc.v1.TaskService/CreateTask", "*", NULL, NULL},
    {"GET", "/api/claude/tasks", "/kc.v1.TaskService/ListTasks", "", NULL, NULL},
    {"GET", "/api/claude/tasks/" ID, "/kc.v1.TaskService/GetTask", "", "task_id", ID},
    {"GET", "/api/claude/tasks/" ID "/output", "/kc.v1.TaskService/GetTaskOutput", "", "task_id", ID},
    {"POST", "/api/claude/tasks/" ID "/message", "/kc.v1.TaskService/SendMessage", "*", "task_id", ID},
    {"DELETE", "/api/claude/tasks/" ID, "/kc.v1.TaskService/KillTask", "", "task_id", ID},
    {"POST", "/api/claude/tasks/" ID "/prepare-terminal", "/kc.v1.TaskService/PrepareTerminal", "", "task_id", ID},
    {"GET", "/api/claude/tasks/" ID "/watch", "/kc.v1.TaskService/WatchTask", "", "task_id", ID},
    {"GET", "/api/claude/auth/token", "/kc.v1.WorkspaceService/GetApiToken", "", NULL, NULL},
    {"POST", "/api/claude/auth/token/regenerate", "/kc.v1.WorkspaceService/RegenerateApiToken", "*", NULL, NULL},
    {"GET", "/health", "/kc.v1.WorkspaceService/GetHealth", "", NULL, NULL},
    {"GET", "/health/vscode", "/kc.v1.WorkspaceService/GetServiceHealth", "", "service", "vscode"},
    {"GET", "/health/terminal", "/kc.v1.WorkspaceService/GetServiceHealth", "", "service", "terminal"},
    {"GET", "/health/browser", "/kc.v1.WorkspaceService/GetServiceHealth", "", "service", "browser"},
    {"GET", "/metrics", "/kc.v1.MetricsService/GetMetrics", "", NULL, NULL},
    {"GET", "/metrics/watch", "/kc.v1.MetricsService/WatchMetrics", "", NULL, NULL},
    {"GET", "/api/github/status", "/kc.v1.WorkspaceService/GetGitHubStatus", "", NULL, NULL},
    {"GET", "/api/github/config", "/kc.v1.WorkspaceService/GetGitConfig", "", NULL, NULL},
    {"POST", "/api/github/config", "/kc.v1.WorkspaceService/SetGitConfig", "*", NULL, NULL},
    {"POST", "/api/github/ssh/generate", "/kc.v1.WorkspaceService/GenerateSshKey", "*", NULL, NULL},
    {"POST", "/api/github/cli/login-url", "/kc.v1.WorkspaceService/GetGhLoginInstructions", "*", NULL, NULL},
    {"POST", "/api/github/cli/complete-auth", "/kc.v1.WorkspaceService/CompleteGhAuth", "*", NULL, NULL},
};

#define N_CONTRACT (sizeof contract / sizeof contract[0])

static int find(const char *method, const char *path, kc_route_match *m, char *allow, size_t allow_len)
{
	memset(m, 0, sizeof *m);
	return kc_route_find(kc_routes, kc_n_routes, method, path, strlen(path), m, allow, allow_len);
}

static void check_row(const struct contract_row *row, const char *path, bool oauth)
{
	kc_route_match m;
	int rc = find(row->method, path, &m, NULL, 0);
	if (rc)
		fail_msg("%s %s: %s", row->method, path, kc_strerror(rc));
	assert_string_equal(m.route->grpc_path, row->grpc_path);
	assert_string_equal(m.route->body_field, row->body_field);
	assert_int_equal(m.oauth, oauth);
	if (row->bound_field) {
		assert_int_equal(m.n_bindings, 1);
		assert_string_equal(kc_route_match_get(&m, row->bound_field), row->bound_value);
	} else {
		assert_int_equal(m.n_bindings, 0);
	}
	/* The row's descriptors are the rpc's. */
	const ProtobufCMethodDescriptor *md = &m.route->service->methods[m.route->method_index];
	assert_ptr_equal(md->input, m.route->input);
	assert_ptr_equal(md->output, m.route->output);
	assert_string_equal(strrchr(row->grpc_path, '/') + 1, md->name);
	kc_route_match_release(&m);
}

static void test_every_contract_row_resolves(void **state)
{
	(void)state;
	char path[256];
	for (size_t i = 0; i < N_CONTRACT; i++) {
		check_row(&contract[i], contract[i].path, false);
		snprintf(path, sizeof path, "/oauth%s", contract[i].path);
		check_row(&contract[i], path, true);
	}
}

/* Every rpc of the kc.v1 services has a route, and the table holds nothing
 * the contract above does not name: a new annotated rpc must be added to
 * this test on purpose. */
static void test_table_covers_every_rpc(void **state)
{
	(void)state;
	const ProtobufCServiceDescriptor *services[] = {&kc__v1__task_service__descriptor,
	                                                &kc__v1__metrics_service__descriptor,
	                                                &kc__v1__workspace_service__descriptor};
	size_t rpcs = 0;
	for (size_t s = 0; s < 3; s++) {
		for (unsigned mi = 0; mi < services[s]->n_methods; mi++) {
			bool routed = false;
			for (size_t r = 0; r < kc_n_routes; r++)
				routed |= kc_routes[r].service == services[s] && kc_routes[r].method_index == mi;
			if (!routed)
				fail_msg("%s.%s has no route", services[s]->name, services[s]->methods[mi].name);
			rpcs++;
		}
	}
	assert_int_equal(kc_n_routes, N_CONTRACT - 2); /* /health/{service} stands for three rows */
	assert_int_equal(rpcs, kc_n_routes);
	for (size_t r = 0; r < kc_n_routes; r++)
		assert_int_equal(kc_routes[r].server_streaming, strstr(kc_routes[r].grpc_path, "/Watch") != NULL);
}

static void test_query_string_is_not_part_of_the_path(void **state)
{
	(void)state;
	/* The caller splits at '?'; a path with '?' left in is a different
	 * (unknown) task id, never a crash or a match on the output route. */
	kc_route_match m;
	assert_int_equal(find("GET", "/api/claude/tasks/" ID "/output", &m, NULL, 0), 0);
	kc_route_match_release(&m);
	assert_int_equal(find("GET", "/api/claude/tasks/" ID "/output?tail=5", &m, NULL, 0), KC_ERR_NOT_FOUND);
}

static void test_near_misses_do_not_match(void **state)
{
	(void)state;
	static const char *const misses[] = {
	    "/api/claude/tasks/../x",
	    "/api/claude/tasks/..",
	    "/api/claude/tasks/.",
	    "/api/claude/tasks/%2e%2e",
	    "/api/claude/tasks/%2E%2e/output",
	    "/api/claude/tasks/",
	    "/api/claude/tasks//output",
	    "/api/claude/tasks/" ID "/",
	    "/api/claude/tasks/" ID "/output/",
	    "/api/claude/tasks/a%2Fb",
	    "/api/claude/tasks/a%2fb/output",
	    "/api/claude/tasks/a%00b",
	    "/api/claude/tasks/a%zz",
	    "/api/claude/tasks/a%4",
	    "/api/claude/tasks/a%0ab",
	    "/api/claude/tasks/%ff",
	    "/api/claude/tasks/%c0%af",
	    "/api/claude/task",
	    "/api/claude/tasksx",
	    "/API/claude/tasks",
	    "/oauth",
	    "/oauth/",
	    "/oauthapi/claude/tasks",
	    "/oauth/oauth/api/claude/tasks",
	    "api/claude/tasks",
	    "",
	    "/",
	    "//api/claude/tasks",
	    "/health/",
	    "/health/a/b",
	};
	for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
		kc_route_match m;
		int rc = find("GET", misses[i], &m, NULL, 0);
		if (rc != KC_ERR_NOT_FOUND)
			fail_msg("\"%s\" gave %s, want not found", misses[i], kc_error_name(rc));
	}
}

static void test_wrong_method_lists_allowed(void **state)
{
	(void)state;
	kc_route_match m;
	char allow[64];
	assert_int_equal(find("PUT", "/api/claude/tasks", &m, allow, sizeof allow), KC_ERR_METHOD);
	assert_string_equal(allow, "POST, GET");
	assert_int_equal(find("POST", "/api/claude/tasks/" ID, &m, allow, sizeof allow), KC_ERR_METHOD);
	assert_string_equal(allow, "GET, DELETE");
	assert_int_equal(find("GET", "/api/claude/tasks/" ID "/message", &m, allow, sizeof allow), KC_ERR_METHOD);
	assert_string_equal(allow, "POST");
	assert_int_equal(find("get", "/metrics", &m, allow, sizeof allow), KC_ERR_METHOD);
	/* Too small a buffer truncates the list; never overflows. */
	char tiny[4];
	assert_int_equal(find("PUT", "/api/claude/tasks", &m, tiny, sizeof tiny), KC_ERR_METHOD);
	assert_true(strlen(tiny) < sizeof tiny);
}

static void test_encoded_values_are_decoded(void **state)
{
	(void)state;
	kc_route_match m;
	assert_int_equal(find("GET", "/health/vs%63ode", &m, NULL, 0), 0);
	assert_string_equal(kc_route_match_get(&m, "service"), "vscode");
	kc_route_match_release(&m);
	assert_int_equal(find("GET", "/health/caf%C3%A9", &m, NULL, 0), 0);
	assert_string_equal(kc_route_match_get(&m, "service"), "caf\xc3\xa9");
	assert_null(kc_route_match_get(&m, "other"));
	kc_route_match_release(&m);
	/* Literal segments match their encoded spelling too (RFC 3986 §6.2.2.2). */
	assert_int_equal(find("GET", "/api/claude/%74asks", &m, NULL, 0), 0);
	assert_string_equal(m.route->grpc_path, "/kc.v1.TaskService/ListTasks");
	kc_route_match_release(&m);
}

static void test_length_limits(void **state)
{
	(void)state;
	size_t len = KC_ROUTE_MAX_PATH + 1;
	char *path = malloc(len + 1);
	assert_non_null(path);
	memset(path, 'a', len);
	path[0] = '/';
	path[len] = '\0';
	kc_route_match m;
	assert_int_equal(find("GET", path, &m, NULL, 0), KC_ERR_TOO_LARGE);
	/* Many segments: refused, not overflowed. */
	for (size_t i = 0; i + 1 < 400; i += 2)
		path[i] = '/', path[i + 1] = 'x';
	path[400] = '\0';
	assert_int_equal(find("GET", path, &m, NULL, 0), KC_ERR_NOT_FOUND);
	free(path);
}

static void test_map_entries_listed(void **state)
{
	(void)state;
	assert_int_equal(kc_n_map_entry_types, 1);
	assert_ptr_equal(kc_map_entry_types[0], &kc__v1__health__services_entry__descriptor);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_contract_row_resolves),
	    cmocka_unit_test(test_table_covers_every_rpc),
	    cmocka_unit_test(test_query_string_is_not_part_of_the_path),
	    cmocka_unit_test(test_near_misses_do_not_match),
	    cmocka_unit_test(test_wrong_method_lists_allowed),
	    cmocka_unit_test(test_encoded_values_are_decoded),
	    cmocka_unit_test(test_length_limits),
	    cmocka_unit_test(test_map_entries_listed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
