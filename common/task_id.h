/*
 * task_id.h - the form of a task id, which kc-server makes and anything
 * that passes an id to it (the gateway, a file name) checks first.
 */
#ifndef KC_COMMON_TASK_ID_H
#define KC_COMMON_TASK_ID_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of the longest id plus its NUL. */
#define KC_TASK_ID_MAX 32

/* True when `id` has the form `^[0-9]+-[0-9a-f]{8}$` (at most 20 digits)
 * and fits KC_TASK_ID_MAX. Checked before an id touches the file system. */
bool kc_task_id_valid(const char *id);
/* The same for the `len` bytes at `s`, not NUL-terminated (a path segment);
 * a NUL among them makes it false. */
bool kc_task_id_valid_n(const char *s, size_t len);

#endif /* KC_COMMON_TASK_ID_H */
