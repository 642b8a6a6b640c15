/*
 * file.h - reading a whole small file (a config file, a key) with a cap.
 */
#ifndef KC_FILE_H
#define KC_FILE_H

#include <stddef.h>

/* Reads the regular file `path` whole into a new buffer (NUL-terminated
 * for convenience; *len excludes the NUL). Returns 0, or
 *   KC_ERR_NOT_FOUND  it does not exist;
 *   KC_ERR_TOO_LARGE  it holds more than `max_bytes`;
 *   KC_ERR_IO         it cannot be opened or read, or is not a regular file;
 *   KC_ERR_NOMEM      out of memory;
 * leaving *out untouched. The caller frees *out. */
int kc_file_read(const char *path, size_t max_bytes, char **out, size_t *len);

/* The same for a file the caller opened (say with O_NOFOLLOW, relative to
 * a directory descriptor), read from its current offset; does not close
 * `fd`. */
int kc_file_read_fd(int fd, size_t max_bytes, char **out, size_t *len);

#endif /* KC_FILE_H */
