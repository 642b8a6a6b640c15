/* lock.c - see lock.h. */
#include "server/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/kc_error.h"

struct kc_lock {
	int fd;
};

/* The holder's pid as it wrote it, or 0 when the file has none yet (the
 * holder is between its flock and its write). */
static long holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	char *end;
	long pid;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : 0;
}

int kc_lock_acquire(const char *path, const char *what, kc_lock **out, char *err, size_t errlen)
{
	kc_lock *l;
	char pid[32];
	int fd, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the %s lock '%s': %s", what, path, strerror(errno));
		return KC_ERR_IO;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		long holder;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(errno));
			close(fd);
			return KC_ERR_IO;
		}
		holder = holder_pid(fd);
		if (holder > 0)
			snprintf(err, errlen, "another kc-server (pid %ld) holds '%s': it serves this %s", holder, path,
			         what);
		else
			snprintf(err, errlen, "another kc-server holds '%s': it serves this %s", path, what);
		close(fd);
		return KC_ERR_EXISTS;
	}
	/* Ours: say who holds it, for the next one to name us. */
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write the %s lock '%s': %s", what, path, strerror(errno));
		close(fd);
		return KC_ERR_IO;
	}
	if (!(l = malloc(sizeof *l))) {
		close(fd);
		return KC_ERR_NOMEM;
	}
	l->fd = fd;
	*out = l;
	return 0;
}

void kc_lock_release(kc_lock *l)
{
	if (!l)
		return;
	/* Closing drops the flock; the file stays (lock.h says why). */
	close(l->fd);
	free(l);
}
