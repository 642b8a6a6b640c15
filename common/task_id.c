/* task_id.c - see task_id.h. */
#include "common/task_id.h"

#include <string.h>

bool kc_task_id_valid_n(const char *s, size_t len)
{
	size_t i = 0;

	if (!s || len >= KC_TASK_ID_MAX)
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i > 20 || i == len || s[i] != '-' || len - i - 1 != 8)
		return false;
	for (i++; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool kc_task_id_valid(const char *id)
{
	return id && kc_task_id_valid_n(id, strnlen(id, KC_TASK_ID_MAX));
}
