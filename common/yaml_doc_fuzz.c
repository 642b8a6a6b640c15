/* Any bytes either parse into a tree that can be walked and freed, or are
 * refused with a message; never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/yaml_doc.h"

static size_t walk(const kc_ynode *n)
{
	size_t count = 1;
	(void)kc_ynode_line(n);
	(void)kc_ynode_is_null(n);
	for (size_t i = 0; i < kc_ynode_len(n); i++) {
		const char *k = kc_ynode_key(n, i);
		if (k)
			count += strlen(k) > 0;
		count += walk(kc_ynode_at(n, i));
	}
	long l;
	double d;
	bool b;
	(void)kc_ynode_as_long(n, -1000, 1000, &l);
	(void)kc_ynode_as_double(n, 0, 100, &d);
	(void)kc_ynode_as_bool(n, &b);
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kc_ydoc *doc = NULL;
	char err[256];
	if (kc_ydoc_parse((const char *)data, size, &doc, err, sizeof err) == 0) {
		walk(kc_ydoc_root(doc));
		kc_ydoc_free(doc);
	}
	return 0;
}
