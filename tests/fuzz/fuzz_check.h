/* A property check for fuzz targets that stays on in optimised builds
 * (assert() vanishes under -DNDEBUG, which -c opt sets). */
#ifndef KC_FUZZ_CHECK_H
#define KC_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define KC_FUZZ_CHECK(cond)                                                                                            \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                    \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#endif /* KC_FUZZ_CHECK_H */
