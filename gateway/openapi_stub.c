/* Placeholder until the OpenAPI generator lands: no document. */
#include <stddef.h>

extern const char kc_openapi_json[];
extern const size_t kc_openapi_json_len;

const char kc_openapi_json[] = "";
const size_t kc_openapi_json_len = 0;
