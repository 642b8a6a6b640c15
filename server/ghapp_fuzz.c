/* The GitHub API's token answer on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/ghapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = NULL;
	double exp = 0;
	if (kc_ghapp_parse_response((const char *)data, size, &token, &exp) == 0)
		free(token);
	return 0;
}
