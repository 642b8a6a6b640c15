/* Page tokens, task ids and the UTF-8 sanitizer on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "server/store.h"
#include "server/tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), id[KC_TASK_ID_MAX], *clean;
	size_t held = 0;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (kc_page_token_decode(s, id) == 0 && !kc_task_id_valid(id))
		abort();
	if (kc_task_id_valid(s) && (strchr(s, '/') || strchr(s, '.')))
		abort();
	clean = kc_utf8_sanitize_chunk((const char *)data, size, size % 2 == 0, &held);
	if (clean && held > 3)
		abort();
	free(clean);
	free(s);
	return 0;
}
