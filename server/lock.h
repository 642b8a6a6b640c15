/*
 * lock.h - one kc-server per home and per socket.
 *
 * A kc-server takes an exclusive flock(2) on <tasks_dir>/.kc-server.lock and
 * on <socket>.lock before it touches the task store or the socket path, and
 * holds both for its whole life; the kernel drops them when the process
 * exits, however it exits (kill -9 included), so a restart gets them as soon
 * as the old process is gone. A second server on the same home or socket
 * finds a lock taken and refuses to start, naming the holder's pid (each
 * holder writes its pid into the file it locked), instead of unlinking the
 * first one's socket or rewriting its tasks.
 *
 * Lock files are never unlinked: a process that opened the old file could
 * otherwise lock an inode nobody else sees.
 */
#ifndef KC_SERVER_LOCK_H
#define KC_SERVER_LOCK_H

#include <stddef.h>

typedef struct kc_lock kc_lock;

/* Opens (creating it 0600 when missing) and locks `path` without waiting.
 * Returns 0 and *out; KC_ERR_EXISTS when another process holds it ("another
 * kc-server (pid N) holds PATH" in err); KC_ERR_IO when the file cannot be
 * opened or locked (err says why). *out is untouched on failure. `what`
 * names what the lock guards for the message ("home", "socket"). */
int kc_lock_acquire(const char *path, const char *what, kc_lock **out, char *err, size_t errlen);

/* Releases the lock and frees it; NULL is a no-op. */
void kc_lock_release(kc_lock *l);

#endif /* KC_SERVER_LOCK_H */
