/* Any method and path: a match whose bindings are valid UTF-8 without
 * slashes or dot segments, or a refusal; never a crash or a leak. The first
 * byte picks the method, the rest is the path. */
#include <stdint.h>
#include <string.h>

#include "gateway/router.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
	if (size == 0)
		return 0;
	const char *method = methods[data[0] % 4];
	kc_route_match m;
	memset(&m, 0, sizeof m);
	char allow[64];
	if (kc_route_find(kc_routes, kc_n_routes, method, (const char *)data + 1, size - 1, &m, allow, sizeof allow) ==
	    0) {
		KC_FUZZ_CHECK(m.route && strcmp(m.route->http_method, method) == 0);
		for (size_t i = 0; i < m.n_bindings; i++) {
			const char *v = m.bindings[i].value;
			KC_FUZZ_CHECK(*v && strcmp(v, "..") != 0 && strcmp(v, ".") != 0);
			if (m.route->segments[m.route->n_segments - 1].kind != KC_SEGMENT_FIELD_REST)
				KC_FUZZ_CHECK(!strchr(v, '/'));
		}
		kc_route_match_release(&m);
	}
	return 0;
}
