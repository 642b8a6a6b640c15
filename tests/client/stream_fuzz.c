/* Any bytes, split at a point the input chooses, through both framings:
 * never a crash, a leak, or a payload larger than the cap. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/lib/stream.h"
#include "tests/fuzz/fuzz_check.h"

#define CAP 256

static int check(const char *p, size_t len, void *ud)
{
	(void)ud;
	KC_FUZZ_CHECK(len <= CAP);
	KC_FUZZ_CHECK(p[len] == '\0');
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split = size ? data[0] % (size + 1) : 0;
	for (int sse = 0; sse < 2; sse++) {
		kci_stream *s = NULL;
		if (kci_stream_new(&s, sse, CAP, check, NULL) != 0)
			return 0;
		if (kci_stream_feed(s, (const char *)data, split) == 0 &&
		    kci_stream_feed(s, (const char *)data + split, size - split) == 0)
			kci_stream_finish(s);
		kci_stream_free(s);
	}
	return 0;
}
