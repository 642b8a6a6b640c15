/* Fuzz target: hostile frames into the HTTP/2 front. The client preface
 * and an empty SETTINGS frame come first (so the input reaches the frame
 * layer rather than failing the magic), then the input in two pieces at a
 * split point it chooses. Requests are answered at once, streamed, or held
 * and answered after the input, so answers, flow control, resets and
 * aborts all meet hostile input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD 32

static kc_exchange *held[MAX_HELD];
static size_t n_held;
static size_t backlog;

static int on_send(const void *d, size_t n, void *ud)
{
	(void)d;
	(void)ud;
	/* Pretend the socket sometimes lags, to exercise the high-water mark. */
	backlog = n > 1000 ? backlog + n : 0;
	return 0;
}

static size_t on_backlog(void *ud)
{
	(void)ud;
	return backlog;
}

/* Answers in every shape; the results are not used: any of them, errors
 * included, is the front's to handle, and the sanitizers watch that. */
static void on_request(kc_exchange *ex, void *ud)
{
	static const kc_header h[] = {{"Content-Type", "text/plain"}, {"X-Long-Name-Header", "v"}};

	(void)ud;
	if (ex->req.path_len % 3 == 0 || n_held == MAX_HELD) {
		(void)ex->ops->respond(ex, 200, h, 2, ex->req.body.data, ex->req.body.len);
	} else if (ex->req.path_len % 3 == 1) {
		(void)ex->ops->start(ex, 200, h, 1);
		(void)ex->ops->write(ex, "data: x\n\n", 9);
		held[n_held++] = ex;
	} else {
		held[n_held++] = ex;
	}
}

static void on_abort(kc_exchange *ex, void *ud)
{
	size_t i;

	(void)ud;
	for (i = 0; i < n_held; i++)
		if (held[i] == ex)
			held[i] = NULL;
}

static void answer_held(void)
{
	size_t i;

	for (i = 0; i < n_held; i++) {
		kc_exchange *ex = held[i];

		held[i] = NULL;
		if (!ex)
			continue;
		if (ex->ops->respond(ex, 204, NULL, 0, NULL, 0)) {
			(void)ex->ops->write(ex, "more", 4);
			(void)ex->ops->end(ex);
		}
	}
	n_held = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	kc_h2_limits lim = {.max_header_bytes = 2048, .max_body_bytes = 4096, .max_concurrent_streams = 8};
	kc_h2_callbacks cb = {.on_request = on_request, .on_abort = on_abort, .send = on_send, .backlog = on_backlog};
	kc_h2 *h;
	size_t split;

	if (size < 1 || kc_h2_new(&h, &lim, &cb, NULL))
		return 0;
	n_held = 0;
	backlog = 0;
	split = data[0] % size;
	data++;
	size--;
	if (kc_h2_recv(h, (const uint8_t *)KC_H2_PREFACE, KC_H2_PREFACE_LEN) == 0 &&
	    kc_h2_recv(h, settings, sizeof(settings)) == 0 && kc_h2_recv(h, data, split < size ? split : size) == 0) {
		backlog = 0;
		kc_h2_flush(h);
		if (size % 3 == 0)
			answer_held();
		if (split < size)
			kc_h2_recv(h, data + split, size - split);
		backlog = 0;
		kc_h2_flush(h);
	}
	(void)kc_h2_want_close(h);
	(void)kc_h2_pending(h);
	/* Half of the time answer the rest, else drop them with the connection. */
	if (size % 2)
		answer_held();
	if (size % 5 == 0)
		kc_h2_shutdown(h);
	kc_h2_free(h);
	return 0;
}
