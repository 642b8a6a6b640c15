#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/kc_error.h"

static atomic_int min_level = KC_LOG_INFO;
static atomic_int log_fd = STDERR_FILENO;
static const char *_Atomic component_name = NULL;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void kc_log_set_level(kc_log_level level)
{
	atomic_store(&min_level, (int)level);
}

int kc_log_level_parse(const char *name, kc_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*out = (kc_log_level)i;
			return KC_OK;
		}
	}
	return KC_ERR_INVALID;
}

void kc_log_set_component(const char *component)
{
	atomic_store(&component_name, component);
}

void kc_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

/* A line buffer that silently truncates: a log line is never worth failing
 * over, and a cut line still closes as valid JSON. */
struct line {
	char buf[4096];
	size_t len;
	int full;   /* nothing more fits; later puts are dropped */
	int in_str; /* inside a JSON string whose closing quote is not out yet */
};

/* All or nothing, so an escape sequence is never cut in half. */
static void put(struct line *l, const char *s, size_t n)
{
	/* Keep room for the closing "\"}\n". */
	const size_t room = sizeof l->buf - 4;
	if (l->full || l->len + n > room) {
		l->full = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_json_string(struct line *l, const char *s)
{
	put(l, "\"", 1);
	if (l->full)
		return;
	l->in_str = 1;
	for (const unsigned char *p = (const unsigned char *)s; *p && !l->full; p++) {
		char esc[8];
		switch (*p) {
		case '"':
			put(l, "\\\"", 2);
			break;
		case '\\':
			put(l, "\\\\", 2);
			break;
		case '\n':
			put(l, "\\n", 2);
			break;
		case '\r':
			put(l, "\\r", 2);
			break;
		case '\t':
			put(l, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof esc, "\\u%04x", *p);
				put(l, esc, 6);
			} else {
				put(l, (const char *)p, 1);
			}
		}
	}
	put(l, "\"", 1);
	if (!l->full)
		l->in_str = 0;
}

/* Keys are the program's own literals and need no escaping. A key goes out
 * only with room for its value's opening quote, so a cut line never ends
 * in a key without a value. */
static void put_field(struct line *l, const char *key, const char *value)
{
	size_t klen = strlen(key);
	if (l->full || l->len + klen + 6 > sizeof l->buf - 4) {
		l->full = 1;
		return;
	}
	put(l, ",\"", 2);
	put(l, key, klen);
	put(l, "\":", 2);
	put_json_string(l, value);
}

void kc_log(kc_log_level level, const char *msg, ...)
{
	if ((int)level < atomic_load(&min_level))
		return;
	if ((int)level < 0 || level > KC_LOG_ERROR)
		level = KC_LOG_ERROR;

	struct line l = {.len = 0, .full = 0, .in_str = 0};
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);

	put_str(&l, "{\"ts\":\"");
	put_str(&l, stamp);
	put_str(&l, "\",\"level\":\"");
	put_str(&l, level_names[level]);
	put_str(&l, "\"");
	const char *comp = atomic_load(&component_name);
	if (comp)
		put_field(&l, "component", comp);
	put_field(&l, "msg", msg ? msg : "");

	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		if (value)
			put_field(&l, key, value);
	}
	va_end(ap);

	/* A cut line still closes as valid JSON: finish the open string, if
	 * any, and the object. A pair cut before its value is not possible:
	 * the key's closing quote and the colon are never written apart. */
	if (l.in_str)
		l.buf[l.len++] = '"';
	memcpy(l.buf + l.len, "}\n", 2);
	l.len += 2;

	/* One write per line; a failed log write has nowhere to be reported. */
	ssize_t w = write(atomic_load(&log_fd), l.buf, l.len);
	(void)w;
}
