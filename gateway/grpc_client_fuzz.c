/* Fuzz target: a hostile kc-server. Three calls are queued on a client
 * session (one cancels itself on its first message, one pauses and is
 * resumed after the input), then the session reads the server's SETTINGS
 * and, depending on the first input byte, either only the raw input, or
 * a well-formed answer for stream 1 (HEADERS, length-prefixed messages cut
 * from the input, trailers with a grpc-status from the input) followed by
 * the rest as raw frames. So the gRPC framing (prefixes, lengths split
 * across DATA frames, statuses, grpc-message escapes) and the HTTP/2
 * layer both meet hostile bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "gateway/grpc_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kc_gc *gc;
static kc_gc_stream *st[3];
static int calls_done[3];
static int tags[3] = {0, 1, 2};

static void on_message(void *call, const uint8_t *d, size_t n, void *ud)
{
	int i = *(int *)call;

	(void)ud;
	if (n)
		(void)d[n - 1];
	if (i == 0 && st[0]) {
		kc_gc_cancel(gc, st[0]);
		st[0] = NULL;
	} else if (i == 1 && st[1]) {
		kc_gc_pause(gc, st[1], true);
	}
}

static void on_done(void *call, int status, const char *msg, bool refused, void *ud)
{
	int i = *(int *)call;

	(void)status;
	(void)refused;
	(void)ud;
	(void)strlen(msg);
	calls_done[i]++;
	if (calls_done[i] > 1)
		abort();
	st[i] = NULL;
}

static const kc_gc_callbacks cb = {on_message, on_done};

static void drain(void)
{
	const uint8_t *p;

	while (kc_gc_send(gc, &p) > 0)
		;
}

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, int32_t id, const uint8_t *payload, size_t len)
{
	out[0] = (uint8_t)(len >> 16);
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	out[3] = type;
	out[4] = flags;
	out[5] = (uint8_t)(id >> 24);
	out[6] = (uint8_t)(id >> 16);
	out[7] = (uint8_t)(id >> 8);
	out[8] = (uint8_t)id;
	if (len)
		memcpy(out + 9, payload, len);
	return 9 + len;
}

/* A HEADERS frame with the given fields, HPACK-encoded by nghttp2. */
static size_t headers(nghttp2_hd_deflater *d, uint8_t *out, size_t cap, uint8_t flags, const nghttp2_nv *nv, size_t n)
{
	uint8_t block[512];
	ssize_t len = nghttp2_hd_deflate_hd(d, block, sizeof(block), nv, n);

	if (len < 0 || (size_t)len + 9 > cap)
		return 0;
	return frame(out, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, 1, block, (size_t)len);
}

#define NV(n, v)                                                                                                       \
	{                                                                                                              \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE                         \
	}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const kc_header md[] = {{"authorization", "Bearer t"}, {"x-request-id", "r1"}};
	static uint8_t buf[70000];
	size_t n = 0;
	int i;

	if (kc_gc_new(&gc, "localhost", &cb, NULL))
		return 0;
	memset(calls_done, 0, sizeof(calls_done));
	for (i = 0; i < 3; i++)
		if (kc_gc_call(gc, "/kc.v1.TaskService/ListTasks", md, 2, "\x08\x01", 2, i == 2 ? 0 : 5000, &tags[i],
		               &st[i]))
			st[i] = NULL;
	drain();
	n += frame(buf + n, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	if (size > 0 && (data[0] & 1)) {
		nghttp2_hd_deflater *d;
		char status[4];
		char msg[24];
		size_t m = size - 1 < 4096 ? size - 1 : 4096;
		size_t off = 0;
		const nghttp2_nv h[] = {NV(":status", "200"), NV("content-type", "application/grpc")};

		status[0] = (char)('0' + (data[0] >> 1) % 17 / 10);
		status[1] = (char)('0' + (data[0] >> 1) % 17 % 10);
		status[2] = '\0';
		memcpy(msg, "bad%20th%2", 10);
		msg[10] = '\0';
		if (nghttp2_hd_deflate_new(&d, 4096) == 0) {
			const nghttp2_nv t[] = {NV("grpc-status", status), NV("grpc-message", msg)};

			n += headers(d, buf + n, sizeof(buf) - n, 0, h, 2);
			/* The input's first bytes as messages, cut into DATA frames
			 * of sizes the input picks. */
			while (off < m) {
				size_t chunk = 1 + data[1 + off] % 64;

				if (chunk > m - off)
					chunk = m - off;
				n += frame(buf + n, NGHTTP2_DATA, 0, 1, data + 1 + off, chunk);
				off += chunk;
			}
			n += headers(d, buf + n, sizeof(buf) - n, NGHTTP2_FLAG_END_STREAM, t, 2);
			nghttp2_hd_deflate_del(d);
		}
		data += 1 + m;
		size -= 1 + m;
	}
	if (kc_gc_recv(gc, buf, n) == 0 && size)
		kc_gc_recv(gc, data, size);
	drain();
	if (st[1])
		kc_gc_pause(gc, st[1], false);
	drain();
	kc_gc_fail(gc, 14, "gone");
	for (i = 0; i < 3; i++)
		if (calls_done[i] > 1)
			abort();
	kc_gc_free(gc);
	gc = NULL;
	return 0;
}
