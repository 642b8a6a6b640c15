/* Any bytes as task.json: a task that round-trips through JSON, or a
 * refusal; never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kc_task t, t2;
	char *json;
	if (kc_task_from_json((const char *)data, size, &t) != 0)
		return 0;
	if ((json = kc_task_to_json(&t)) != NULL) {
		if (kc_task_from_json(json, strlen(json), &t2) == 0) {
			if (strcmp(t.task_id, t2.task_id) != 0 || t.status != t2.status)
				abort();
			kc_task_release(&t2);
		} else {
			abort();
		}
		free(json);
	}
	kc_task_release(&t);
	return 0;
}
