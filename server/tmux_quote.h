/*
 * tmux_quote.h - making a string arrive in tmux (and in the shell that some
 * tmux arguments reach) exactly as it was written.
 *
 * tmux reads its arguments in two steps that can change them (tmux.c has
 * the full list of which arguments of ours go through which):
 *   1. Splitting the command list: an argument that ends in ';' ends the
 *      command (the ';' is dropped), and one that ends in '\;' becomes one
 *      that ends in ';'. Every argument goes through this.
 *   2. Format expansion, for some arguments only: '#' starts a format
 *      (#{...} a variable, #(...) a shell command run by the tmux server,
 *      #[...] a style, ## a '#', #S and the like a value); a few arguments (pipe-pane's command,
 *      display-message) are first passed through strftime(3), where '%'
 *      starts a conversion and %% is a '%'.
 * Each function returns a new string (the caller frees it) or NULL when out
 * of memory.
 */
#ifndef KC_SERVER_TMUX_QUOTE_H
#define KC_SERVER_TMUX_QUOTE_H

#include <stdbool.h>

/* For step 1: `s` unchanged unless it ends in ';', which then gets a '\'
 * before it ("a;" -> "a\;", "a\;" -> "a\\;"), so tmux reads back `s`. */
char *kc_tmux_escape_arg(const char *s);

/* For step 2: each run of '#' doubled unless a '[' follows it (tmux copies
 * "#[" and "##[" as they are), and with `strftime` each '%' doubled, so
 * format expansion gives back `s` and runs nothing. */
char *kc_tmux_escape_format(const char *s, bool strftime);

/* For sh -c: `s` in single quotes, each ' written as '\''. */
char *kc_shell_quote(const char *s);

#endif /* KC_SERVER_TMUX_QUOTE_H */
