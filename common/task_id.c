/* task_id.c - see task_id.h. */
#include "common/task_id.h"

#include <stddef.h>

bool kc_task_id_valid(const char *id)
{
	size_t i = 0, digits = 0;
	if (!id)
		return false;
	while (id[i] >= '0' && id[i] <= '9')
		i++, digits++;
	if (digits == 0 || digits > 20 || id[i] != '-')
		return false;
	i++;
	for (size_t j = 0; j < 8; j++, i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[i] == '\0' && i < KC_TASK_ID_MAX;
}
