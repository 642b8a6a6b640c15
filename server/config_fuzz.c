/* Any bytes as a config file: parsed or refused with a message, never a
 * crash or a leak. */
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kc_config cfg;
	char err[256];
	if (kc_config_init(&cfg) == 0 && kc_config_parse(&cfg, (const char *)data, size, err, sizeof err) == 0)
		(void)kc_config_finish(&cfg, err, sizeof err);
	kc_config_release(&cfg);
	return 0;
}
