#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/kc_error.h"

int kc_file_read_fd(int fd, size_t max_bytes, char **out, size_t *len)
{
	struct stat st;
	size_t cap, got = 0;
	char *buf;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return KC_ERR_IO;
	/* st_size only sizes the first buffer: the file may grow (or shrink)
	 * while it is read, so reading goes on to the end of file, and one
	 * byte past the cap tells a file that is too large. */
	cap = (size_t)st.st_size < max_bytes ? (size_t)st.st_size + 1 : max_bytes + 1;
	if (!(buf = malloc(cap + 1)))
		return KC_ERR_NOMEM;
	for (;;) {
		ssize_t r;
		if (got == cap) {
			size_t nc = cap > (max_bytes + 1) / 2 ? max_bytes + 1 : cap * 2;
			char *nb;
			if (got > max_bytes)
				break;
			if (!(nb = realloc(buf, nc + 1))) {
				free(buf);
				return KC_ERR_NOMEM;
			}
			buf = nb;
			cap = nc;
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return KC_ERR_IO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got > max_bytes) {
		free(buf);
		return KC_ERR_TOO_LARGE;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return KC_OK;
}

int kc_file_read(const char *path, size_t max_bytes, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	if (fd < 0)
		return errno == ENOENT ? KC_ERR_NOT_FOUND : KC_ERR_IO;
	rc = kc_file_read_fd(fd, max_bytes, out, len);
	close(fd);
	return rc;
}
