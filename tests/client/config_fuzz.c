/* Any bytes as kc's config file: refused with a message, or parsed into a
 * config that formats, re-parses to the same text, and frees. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/config.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kcc_config *cfg = NULL;
	char err[256];
	if (kcc_config_parse((const char *)data, size, &cfg, err, sizeof err) != 0)
		return 0;
	char *text = kcc_config_format(cfg);
	KC_FUZZ_CHECK(text != NULL);
	struct kcc_config *again = NULL;
	KC_FUZZ_CHECK(kcc_config_parse(text, strlen(text), &again, err, sizeof err) == 0);
	char *text2 = kcc_config_format(again);
	KC_FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0);
	free(text);
	free(text2);
	kcc_config_free(cfg);
	kcc_config_free(again);
	return 0;
}
