#include "gateway/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/percent.h"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},
};

const char *kc_static_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* Decodes and checks the path into `rel` (relative, no leading '/').
 * Returns false for anything refused. */
static bool clean_path(const char *path, size_t len, char *rel, size_t relcap)
{
	size_t o = 0;
	size_t i;
	size_t seg_start = 0;

	if (len == 0 || path[0] != '/')
		return false;
	if (len >= 6 && memcmp(path, "/oauth", 6) == 0 && (len == 6 || path[6] == '/')) {
		path += 6;
		len -= 6;
		if (len == 0)
			return false;
	}
	for (i = 1; i < len; i++) {
		char c = path[i];

		if (c == '%') {
			int h = i + 2 < len ? kc_hex_digit(path[i + 1]) : -1;
			int l = i + 2 < len ? kc_hex_digit(path[i + 2]) : -1;

			if (h < 0 || l < 0)
				return false;
			c = (char)(h * 16 + l);
			i += 2;
			/* An encoded slash would hide a segment from the checks. */
			if (c == '/')
				return false;
		}
		if (c == '\0' || c == '\\' || (unsigned char)c < 0x20 || c == 0x7f)
			return false;
		if (c == '/') {
			/* Empty segment ("//"), or a hidden / dot segment. */
			if (o == seg_start || rel[seg_start] == '.')
				return false;
			if (o + 1 >= relcap)
				return false;
			rel[o++] = '/';
			seg_start = o;
			continue;
		}
		if (o + 1 >= relcap)
			return false;
		rel[o++] = c;
	}
	if (o > seg_start && rel[seg_start] == '.')
		return false;
	rel[o] = '\0';
	/* "/" and "/oauth/" are the page; another trailing slash is a
	 * directory, and directories are not listed. */
	if (o == 0) {
		snprintf(rel, relcap, "index.html");
		return true;
	}
	return o != seg_start;
}

int kc_static_serve(const char *root, const char *path, size_t path_len, const char *if_none_match,
                    const char *if_modified_since, size_t max_bytes, kc_static_answer *out)
{
	char rel[1024];
	char full[PATH_MAX];
	char real_root[PATH_MAX];
	char real_file[PATH_MAX];
	struct stat st;
	struct tm tm;
	size_t rl;
	int fd = -1;
	ssize_t n;
	size_t got = 0;

	memset(out, 0, sizeof(*out));
	out->status = 404;
	if (!clean_path(path, path_len, rel, sizeof(rel)))
		return 0;
	if (snprintf(full, sizeof(full), "%s/%s", root, rel) >= (int)sizeof(full))
		return 0;
	if (!realpath(root, real_root) || !realpath(full, real_file))
		return 0;
	rl = strlen(real_root);
	if (strncmp(real_file, real_root, rl) != 0 || real_file[rl] != '/')
		return 0;
	fd = open(real_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes)
		goto out;
	out->content_type = kc_static_content_type(rel);
	snprintf(out->etag, sizeof(out->etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
	         (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(out->last_modified, sizeof(out->last_modified), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (if_none_match) {
		if (strstr(if_none_match, out->etag) || strcmp(if_none_match, "*") == 0) {
			out->status = 304;
			goto out;
		}
	} else if (if_modified_since && strcmp(if_modified_since, out->last_modified) == 0) {
		/* Exact match of what we sent is what browsers send back. */
		out->status = 304;
		goto out;
	}
	out->body = malloc((size_t)st.st_size + 1);
	if (!out->body) {
		close(fd);
		return KC_ERR_NOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, out->body + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size) {
		free(out->body);
		out->body = NULL;
		goto out;
	}
	out->len = got;
	out->status = 200;
out:
	close(fd);
	return 0;
}
