/* input.c - see input.h. */
#include "server/input.h"

#include <stdio.h>
#include <string.h>

#include "common/kc_error.h"

bool kc_input_is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
}

int kc_input_check_text(const char *field, const char *s, size_t len, char *err, size_t errlen)
{
	for (size_t i = 0; i < len; i++) {
		if (kc_input_is_control((unsigned char)s[i])) {
			snprintf(err, errlen, "%s: control byte 0x%02x at offset %zu", field, (unsigned char)s[i], i);
			return KC_ERR_INVALID;
		}
	}
	return 0;
}

int kc_input_check_path(const char *field, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			snprintf(err, errlen, "%s: control byte 0x%02x at offset %zu", field, c, i);
			return KC_ERR_INVALID;
		}
	}
	if (len > 0 && s[len - 1] == ';') {
		snprintf(err, errlen, "%s: must not end in ';'", field);
		return KC_ERR_INVALID;
	}
	return 0;
}
