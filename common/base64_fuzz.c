/* Any text either decodes, and then encodes back to a text that decodes to
 * the same bytes in both alphabets, or is refused; never a crash or an
 * overrun of the KC_BASE64_DECODED_MAX buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bytes = malloc(KC_BASE64_DECODED_MAX(size)), *again = NULL;
	char *text = NULL;
	size_t n, m;

	if (!bytes || kc_base64_decode((const char *)data, size, bytes, &n) != 0)
		goto out;
	text = malloc(KC_BASE64_SIZE(n));
	again = malloc(KC_BASE64_DECODED_MAX(KC_BASE64_SIZE(n)));
	if (!text || !again)
		goto out;
	for (int a = KC_BASE64_STD; a <= KC_BASE64_URL; a++) {
		size_t len = kc_base64_encode(bytes, n, text, (kc_base64_alphabet)a);
		if (kc_base64_decode(text, len, again, &m) != 0 || m != n || memcmp(again, bytes, n) != 0)
			abort();
	}
out:
	free(bytes);
	free(text);
	free(again);
	return 0;
}
