#include "client/lib/stream.h"

#include <stdlib.h>
#include <string.h>

#include "kc/error.h"

struct kci_stream {
	bool sse;
	size_t cap;
	kci_stream_cb cb;
	void *user_data;
	int failed;
	/* The line being read. */
	char *line;
	size_t line_len;
	/* SSE: the data of the event being read. */
	char *data;
	size_t data_len;
	bool has_data;
};

int kci_stream_new(kci_stream **out, bool sse, size_t cap, kci_stream_cb cb, void *user_data)
{
	kci_stream *s = calloc(1, sizeof *s);
	if (!s)
		return KC_ERR_NOMEM;
	s->line = malloc(cap + 1);
	s->data = sse ? malloc(cap + 1) : NULL;
	if (!s->line || (sse && !s->data)) {
		free(s->line);
		free(s->data);
		free(s);
		return KC_ERR_NOMEM;
	}
	s->sse = sse;
	s->cap = cap;
	s->cb = cb;
	s->user_data = user_data;
	*out = s;
	return 0;
}

void kci_stream_free(kci_stream *s)
{
	if (!s)
		return;
	free(s->line);
	free(s->data);
	free(s);
}

static int sse_line(kci_stream *s, char *line, size_t len)
{
	if (len == 0) {
		/* Blank line: dispatch the event, if it had data. */
		if (!s->has_data)
			return 0;
		s->has_data = false;
		size_t n = s->data_len;
		s->data_len = 0;
		s->data[n] = '\0';
		return s->cb(s->data, n, s->user_data);
	}
	if (line[0] == ':')
		return 0; /* comment: a heartbeat */
	const char *colon = memchr(line, ':', len);
	size_t name_len = colon ? (size_t)(colon - line) : len;
	if (name_len != 4 || memcmp(line, "data", 4) != 0)
		return 0; /* event:, id:, retry: and unknown fields */
	const char *value = colon ? colon + 1 : line + len;
	size_t value_len = (size_t)(line + len - value);
	if (value_len && value[0] == ' ') {
		value++;
		value_len--;
	}
	size_t need = value_len + (s->has_data ? 1 : 0);
	if (s->data_len + need > s->cap)
		return KC_ERR_TOO_LARGE;
	if (s->has_data)
		s->data[s->data_len++] = '\n';
	memcpy(s->data + s->data_len, value, value_len);
	s->data_len += value_len;
	s->has_data = true;
	return 0;
}

static int ndjson_line(kci_stream *s, char *line, size_t len)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return 0;
	line[len] = '\0';
	return s->cb(line, len, s->user_data);
}

static int end_line(kci_stream *s)
{
	size_t len = s->line_len;
	s->line_len = 0;
	if (len && s->line[len - 1] == '\r')
		len--;
	return s->sse ? sse_line(s, s->line, len) : ndjson_line(s, s->line, len);
}

int kci_stream_feed(kci_stream *s, const char *buf, size_t len)
{
	if (s->failed)
		return s->failed;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
		if (s->line_len + n > s->cap) {
			s->failed = KC_ERR_TOO_LARGE;
			return s->failed;
		}
		memcpy(s->line + s->line_len, buf + i, n);
		s->line_len += n;
		i += n;
		if (nl) {
			i++;
			int rc = end_line(s);
			if (rc) {
				s->failed = rc < 0 ? rc : 0;
				return rc;
			}
		}
	}
	return 0;
}

int kci_stream_finish(kci_stream *s)
{
	if (s->failed)
		return s->failed;
	if (!s->sse && s->line_len)
		return end_line(s);
	return 0;
}
