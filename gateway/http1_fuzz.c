/* Fuzz target: hostile bytes into the HTTP/1 front, fed in two pieces at a
 * split point the input chooses; every request is answered, some at once
 * and some only at the end, so pipelining and the FIFO are exercised. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kc_exchange *held[64];
static size_t n_held;

static int on_send(const void *d, size_t n, void *ud)
{
	(void)d;
	(void)ud;
	(void)n;
	return 0;
}

/* Answers in every shape; the results are not used: any of them, errors
 * included, is the front's to handle, and the sanitizers watch that. */
static void on_request(kc_exchange *ex, void *ud)
{
	(void)ud;
	if (strlen(ex->req.target) % 2 || n_held == 64) {
		(void)ex->ops->respond(ex, 200, NULL, 0, ex->req.body.data, ex->req.body.len);
	} else if (ex->req.path_len % 3 == 0) {
		(void)ex->ops->start(ex, 200, NULL, 0);
		(void)ex->ops->write(ex, "x", 1);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kc_h1_limits lim = {.max_header_bytes = 2048, .max_body_bytes = 4096, .max_pipeline = 4};
	kc_h1_callbacks cb = {.on_request = on_request, .on_abort = on_abort, .send = on_send};
	kc_h1 *h;
	size_t split;
	size_t off = 0;
	size_t i;
	int rounds = 0;

	if (size < 1 || kc_h1_new(&h, &lim, &cb, NULL))
		return 0;
	n_held = 0;
	split = data[0] % size;
	data++;
	size--;
	while (off < size && rounds++ < 64) {
		size_t end = off < split && split < size ? split : size;
		size_t n = kc_h1_recv(h, data + off, end - off);

		off += n;
		if (n == 0) {
			/* Paused at the pipeline cap: answer what is held. */
			for (i = 0; i < n_held; i++) {
				if (!held[i])
					continue;
				if (held[i]->ops->respond(held[i], 204, NULL, 0, NULL, 0))
					(void)held[i]->ops->end(held[i]);
				held[i] = NULL;
			}
			n_held = 0;
			if (kc_h1_want_close(h))
				break;
		}
	}
	/* Half of the time answer the rest, else drop them with the connection. */
	if (size % 2) {
		for (i = 0; i < n_held; i++) {
			if (!held[i])
				continue;
			if (held[i]->ops->respond(held[i], 204, NULL, 0, NULL, 0))
				(void)held[i]->ops->end(held[i]);
		}
	}
	kc_h1_free(h);
	return 0;
}
