#include "server/wrappers.h"

#include <stdlib.h>

Google__Protobuf__DoubleValue *kc_double_value_new(double v)
{
	Google__Protobuf__DoubleValue *d = malloc(sizeof *d);
	if (d) {
		google__protobuf__double_value__init(d);
		d->value = v;
	}
	return d;
}
