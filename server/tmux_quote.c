/* tmux_quote.c - see tmux_quote.h. */
#include "server/tmux_quote.h"

#include <stdlib.h>
#include <string.h>

char *kc_tmux_escape_arg(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	if (len > 0 && s[len - 1] == ';') {
		memcpy(out, s, len - 1);
		out[len - 1] = '\\';
		out[len] = ';';
		out[len + 1] = '\0';
	} else {
		memcpy(out, s, len + 1);
	}
	return out;
}

/* tmux 3.3a's format_expand1 reads '#' as: ## a '#', #( #{ a command or
 * a variable, #X a one-letter alias -- except that a run of '#' followed
 * by '[' (a style) is copied as it is, run and '[' alike. So every run of
 * '#' is doubled unless a '[' follows it. */
static size_t escape_format(const char *s, bool strftime, char *out)
{
	size_t n = 0;
	while (*s) {
		if (*s == '#') {
			size_t run = strspn(s, "#");
			size_t copies = s[run] == '[' ? 1 : 2;
			for (size_t c = 0; c < copies; c++) {
				if (out)
					memset(out + n, '#', run);
				n += run;
			}
			s += run;
			continue;
		}
		if (strftime && *s == '%') {
			if (out)
				out[n] = '%';
			n++;
		}
		if (out)
			out[n] = *s;
		n++;
		s++;
	}
	if (out)
		out[n] = '\0';
	return n;
}

char *kc_tmux_escape_format(const char *s, bool strftime)
{
	char *out = malloc(escape_format(s, strftime, NULL) + 1);
	if (out)
		escape_format(s, strftime, out);
	return out;
}

char *kc_shell_quote(const char *s)
{
	size_t n = 2;
	char *out, *o;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	if (!(out = malloc(n + 1)))
		return NULL;
	o = out;
	*o++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *s;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}
