/*
 * input.h - checks on request text that reaches an agent's terminal or tmux.
 *
 * kc-server is the one place where REST (through kc-gateway) and gRPC
 * requests meet, so these checks live here and not in the gateway. Each
 * returns 0, or KC_ERR_INVALID with a message naming the field (and the
 * offending byte's offset) written into `err`; nothing else is changed.
 */
#ifndef KC_SERVER_INPUT_H
#define KC_SERVER_INPUT_H

#include <stdbool.h>
#include <stddef.h>

/* True for the bytes text may not carry into a terminal: C0 controls other
 * than tab, line feed and carriage return, and DEL. */
bool kc_input_is_control(unsigned char c);

/* Text that is pasted into an agent's terminal (a prompt, a follow-up):
 * refuses the bytes kc_input_is_control() names. A paste is bracketed, and
 * `ESC [201~` inside it would end the bracket and type the rest as keys
 * (Ctrl-U, Ctrl-C, `!` for the agent's shell mode...). The message reads
 * "prompt: control byte 0x1b at offset 12" for field "prompt". */
int kc_input_check_text(const char *field, const char *s, size_t len, char *err, size_t errlen);

/* A path kc-server hands to tmux or to an agent (a task's workdir): no
 * control byte at all (tab and newline included: no directory needs them,
 * and a newline splits every line-based listing of it), and no trailing
 * ';', which tmux takes as the end of a command when it is part of one
 * argument (tmux.c explains; the path is never an argument today, but
 * the agent's command may carry it through {workdir}). */
int kc_input_check_path(const char *field, const char *s, char *err, size_t errlen);

#endif /* KC_SERVER_INPUT_H */
