/*
 * stream.h - the framing of a REST watch: Server-Sent Events or
 * newline-delimited JSON, bytes in, payloads out, no I/O.
 *
 * SSE (text/event-stream): `data:` lines are joined with "\n" and handed
 * over at the blank line that ends the event; comment lines (`:` heartbeats)
 * and other fields (event:, id:, retry:) are ignored. NDJSON: each non-blank
 * line is one payload. Lines may end in "\n" or "\r\n". A line or event
 * larger than the cap is an error (KC_ERR_TOO_LARGE) and the parser stays
 * failed: a peer cannot grow the buffer without bound.
 */
#ifndef KC_CLIENT_STREAM_H
#define KC_CLIENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kci_stream kci_stream;

/* Called for each complete payload (NUL-terminated, `len` bytes). Return 0
 * to go on; anything else stops parsing and kci_stream_feed returns it. */
typedef int (*kci_stream_cb)(const char *payload, size_t len, void *user_data);

/* sse: true for text/event-stream, false for NDJSON. cap: the largest line
 * or event in bytes. */
int kci_stream_new(kci_stream **out, bool sse, size_t cap, kci_stream_cb cb, void *user_data);
void kci_stream_free(kci_stream *s);

/* Feeds bytes; calls cb for each payload completed. Returns 0, the
 * callback's non-zero value, KC_ERR_TOO_LARGE or KC_ERR_NOMEM. */
int kci_stream_feed(kci_stream *s, const char *buf, size_t len);

/* At the end of the stream: hands over a last NDJSON line without its
 * newline (an unfinished SSE event is dropped, as the SSE spec says). */
int kci_stream_finish(kci_stream *s);

#endif
