/*
 * log.h - structured logs: one JSON object per line on stderr.
 *
 *   kc_log(KC_LOG_INFO, "task created", "task_id", id, "agent", "claude", NULL);
 *   {"ts":"2026-11-27T01:02:03.123Z","level":"info","msg":"task created","task_id":"...","agent":"claude"}
 *
 * Each line goes out in one write(2), so lines from several threads never
 * interleave. Values are escaped as JSON strings; NULL values are skipped.
 */
#ifndef KC_LOG_H
#define KC_LOG_H

typedef enum kc_log_level {
	KC_LOG_DEBUG = 0,
	KC_LOG_INFO = 1,
	KC_LOG_WARN = 2,
	KC_LOG_ERROR = 3,
} kc_log_level;

/* Lines below `level` are dropped. Default KC_LOG_INFO. Thread-safe. */
void kc_log_set_level(kc_log_level level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or KC_ERR_INVALID
 * and leaves *out unchanged. */
int kc_log_level_parse(const char *name, kc_log_level *out);

/* Names the program in every line ("component":"kc-server"). The string must
 * outlive logging. */
void kc_log_set_component(const char *component);

/* Sends logs to `fd` instead of stderr (tests). */
void kc_log_set_fd(int fd);

/* Logs `msg` with key/value string pairs, terminated by NULL. */
void kc_log(kc_log_level level, const char *msg, ...)
#if defined(__GNUC__)
    __attribute__((sentinel))
#endif
    ;

#endif /* KC_LOG_H */
