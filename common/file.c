#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/kc_error.h"

int kc_file_read(const char *path, size_t max_bytes, char **out, size_t *len)
{
	int rc;
	char *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? KC_ERR_NOT_FOUND : KC_ERR_IO;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = KC_ERR_IO;
		goto out;
	}
	/* Read one byte past the cap rather than trust st_size: the file may
	 * grow while we read it. */
	buf = malloc(max_bytes + 2);
	if (!buf) {
		rc = KC_ERR_NOMEM;
		goto out;
	}
	size_t n = fread(buf, 1, max_bytes + 1, f);
	if (ferror(f)) {
		rc = KC_ERR_IO;
		goto out;
	}
	if (n > max_bytes) {
		rc = KC_ERR_TOO_LARGE;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = KC_OK;
out:
	free(buf);
	fclose(f);
	return rc;
}
