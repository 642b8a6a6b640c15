/* input and tmux_quote: what text may reach an agent's terminal or tmux,
 * and quoting that tmux (and sh) read back unchanged. The quoting is also
 * checked against tmux itself, on a private socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/kc_error.h"
#include "server/input.h"
#include "server/spawn.h"
#include "server/tmux_quote.h"

static void test_text(void **state)
{
	char err[128];
	(void)state;
	assert_int_equal(kc_input_check_text("prompt", "tab\there\nline\r\nand ünïcödé ✓", 34, err, sizeof err), 0);
	assert_int_equal(kc_input_check_text("prompt", "paste end \x1b[201~ then", 21, err, sizeof err),
	                 KC_ERR_INVALID);
	assert_string_equal(err, "prompt: control byte 0x1b at offset 10");
	assert_int_equal(kc_input_check_text("prompt", "\x15", 1, err, sizeof err), KC_ERR_INVALID);
	assert_string_equal(err, "prompt: control byte 0x15 at offset 0");
	assert_int_equal(kc_input_check_text("prompt", "x\x7f", 2, err, sizeof err), KC_ERR_INVALID);
	assert_string_equal(err, "prompt: control byte 0x7f at offset 1");
	/* The length is the caller's: a NUL inside counts. */
	assert_int_equal(kc_input_check_text("prompt", "a\0b", 3, err, sizeof err), KC_ERR_INVALID);
	assert_string_equal(err, "prompt: control byte 0x00 at offset 1");
	/* Every byte from 0x00 to 0xff: refused exactly the C0 controls but
	 * tab, LF and CR, and DEL. */
	for (int c = 0; c < 256; c++) {
		char s[1] = {(char)c};
		bool bad = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
		assert_int_equal(kc_input_is_control((unsigned char)c), bad);
		assert_int_equal(kc_input_check_text("f", s, 1, err, sizeof err), bad ? KC_ERR_INVALID : 0);
	}
	/* UTF-8 continuation bytes of C1 characters (U+0080..U+009F) are not
	 * C0 bytes: their validity is the UTF-8 check's business. */
	assert_int_equal(kc_input_check_text("f", "\xc2\x9b", 2, err, sizeof err), 0);
}

static void test_path(void **state)
{
	char err[128];
	(void)state;
	assert_int_equal(kc_input_check_path("workdir", "/home/a b/#c/%d/{e}/;f/'g'", err, sizeof err), 0);
	assert_int_equal(kc_input_check_path("workdir", "", err, sizeof err), 0);
	assert_int_equal(kc_input_check_path("workdir", "/tmp/x;", err, sizeof err), KC_ERR_INVALID);
	assert_string_equal(err, "workdir: must not end in ';'");
	assert_int_equal(kc_input_check_path("workdir", ";", err, sizeof err), KC_ERR_INVALID);
	assert_int_equal(kc_input_check_path("workdir", "/tmp/x\\;", err, sizeof err), KC_ERR_INVALID);
	assert_int_equal(kc_input_check_path("workdir", "/tmp/a\tb", err, sizeof err), KC_ERR_INVALID);
	assert_string_equal(err, "workdir: control byte 0x09 at offset 6");
	assert_int_equal(kc_input_check_path("workdir", "/tmp/a\nb", err, sizeof err), KC_ERR_INVALID);
	assert_int_equal(kc_input_check_path("workdir", "/tmp/\x7f", err, sizeof err), KC_ERR_INVALID);
}

static void expect(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_quote(void **state)
{
	(void)state;
	expect(kc_tmux_escape_arg("a"), "a");
	expect(kc_tmux_escape_arg(""), "");
	expect(kc_tmux_escape_arg("a;"), "a\\;");
	expect(kc_tmux_escape_arg(";"), "\\;");
	expect(kc_tmux_escape_arg("a\\;"), "a\\\\;");
	expect(kc_tmux_escape_arg("a;b"), "a;b");
	expect(kc_tmux_escape_format("/t/#(x)/#{y}/#[z]/##/%Y", false), "/t/##(x)/##{y}/#[z]/####/%Y");
	expect(kc_tmux_escape_format("#S##[a#", false), "##S##[a##");
	expect(kc_tmux_escape_format("/t/#(x)/%Y/%%", true), "/t/##(x)/%%Y/%%%%");
	expect(kc_tmux_escape_format("", true), "");
	expect(kc_shell_quote("a b"), "'a b'");
	expect(kc_shell_quote("it's"), "'it'\\''s'");
	expect(kc_shell_quote(""), "''");
	expect(kc_shell_quote("$(x) `y` \"z\""), "'$(x) `y` \"z\"'");
}

/* The same strings through tmux 3.3a itself: an argument escaped for the
 * command list arrives in a program's argv as it was written, and a
 * format escaped for display-message (strftime first, like pipe-pane)
 * prints as it was written, with no #(...) run. */
static char tmux_dir[] = "/tmp/kc-input-test.XXXXXX";

/* Runs also when an assertion failed: the private tmux server and its
 * directory go with the test. */
static int tmux_teardown(void **state)
{
	char sock[256], out[300];
	const char *kargs[] = {"tmux", "-S", sock, "kill-server", NULL};
	kc_spawn_result r;
	(void)state;
	snprintf(sock, sizeof sock, "%s/sock", tmux_dir);
	snprintf(out, sizeof out, "%s/argv", tmux_dir);
	if (kc_spawn(kargs, NULL, &r) == 0)
		kc_spawn_result_release(&r);
	unlink(out);
	unlink(sock);
	rmdir(tmux_dir);
	return 0;
}

/* One long test on purpose (~80 lines): a sample table, then each sample
 * through the same tmux session and file, checked in one loop. */
static void test_against_tmux(void **state)
{
	static const char *const samples[] = {
	    "plain",
	    "a;",
	    ";",
	    "a\\;",
	    "\\;",
	    "a;b",
	    "#(touch MARK)",
	    "#{session_name}",
	    "#[fg=red]",
	    "##",
	    "%Y-%m",
	    "%%",
	    "it's \"q\" $(x)",
	    "{",
	    "}",
	    "#[#(touch MARK)]",
	    "a#",
	    "###(touch MARK)",
	    "#a#[",
	    "##[x",
	    "#S #H #{?1,a,b} #,",
	    "#",
	    "x##",
	    NULL,
	};
	char *dir = tmux_dir, sock[256], mark[300], out[300];
	const char *args[64];
	kc_spawn_result r;
	char *escaped[32];
	size_t n = 0, ne = 0;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	snprintf(mark, sizeof mark, "%s/MARK", dir);
	snprintf(out, sizeof out, "%s/argv", dir);
	/* A session whose program writes its argv, one per line, then stays
	 * (display-message needs a session). */
	args[n++] = "tmux";
	args[n++] = "-S";
	args[n++] = sock;
	args[n++] = "-f";
	args[n++] = "/dev/null";
	args[n++] = "new-session";
	args[n++] = "-d";
	args[n++] = "--";
	args[n++] = "/usr/bin/python3";
	args[n++] = "-c";
	args[n++] = "import sys, time; open(sys.argv[1], 'w').write('\\n'.join(sys.argv[2:]) + '\\n'); "
	            "time.sleep(60)";
	args[n++] = out;
	for (size_t i = 0; samples[i]; i++) {
		assert_non_null(escaped[ne] = kc_tmux_escape_arg(samples[i]));
		args[n++] = escaped[ne++];
	}
	args[n] = NULL;
	kc_spawn_opts o = {.cwd = dir};
	assert_int_equal(kc_spawn(args, &o, &r), 0);
	assert_int_equal(r.status, 0);
	kc_spawn_result_release(&r);
	for (int tries = 0; tries < 200 && access(out, F_OK) != 0; tries++)
		usleep(20000);
	usleep(100000);
	{
		char want[1024] = "", got[1024] = "";
		FILE *f = fopen(out, "r");
		size_t len;
		assert_non_null(f);
		len = fread(got, 1, sizeof got - 1, f);
		got[len] = '\0';
		fclose(f);
		for (size_t i = 0; samples[i]; i++) {
			strcat(want, samples[i]);
			strcat(want, "\n");
		}
		assert_string_equal(got, want);
	}
	/* Formats: display-message -p prints the expansion. */
	for (size_t i = 0; samples[i]; i++) {
		/* Both layers, as tmux.c's tmux_run does: format first, then
		 * the command list. */
		char *ff = kc_tmux_escape_format(samples[i], true);
		char *f = ff ? kc_tmux_escape_arg(ff) : NULL;
		const char *dargs[] = {"tmux", "-S", sock, "display-message", "-p", f, NULL};
		kc_spawn_opts d = {.out_cap = 4096};
		assert_non_null(f);
		free(ff);
		assert_int_equal(kc_spawn(dargs, &d, &r), 0);
		assert_int_equal(r.status, 0);
		assert_non_null(r.out);
		assert_true(r.out_len > 0 && r.out[r.out_len - 1] == '\n');
		r.out[r.out_len - 1] = '\0';
		assert_string_equal(r.out, samples[i]);
		kc_spawn_result_release(&r);
		free(f);
	}
	/* A #(...) job would run asynchronously: give it time, then look. */
	usleep(300000);
	assert_int_not_equal(access(mark, F_OK), 0);
	assert_int_not_equal(access("MARK", F_OK), 0);
	for (size_t i = 0; i < ne; i++)
		free(escaped[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test_teardown(test_against_tmux, tmux_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
