#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/kc_error.h"
#include "common/yaml_doc.h"

static kc_ydoc *parse_ok(const char *text)
{
	kc_ydoc *doc = NULL;
	char err[256];
	int rc = kc_ydoc_parse(text, strlen(text), &doc, err, sizeof err);
	if (rc)
		fail_msg("parse failed: %s", err);
	return doc;
}

static void parse_fails(const char *text, const char *want)
{
	kc_ydoc *doc = (kc_ydoc *)0x1;
	char err[256];
	assert_int_equal(kc_ydoc_parse(text, strlen(text), &doc, err, sizeof err), KC_ERR_INVALID);
	assert_ptr_equal(doc, (kc_ydoc *)0x1); /* untouched on failure */
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_maps_sequences_and_lines(void **state)
{
	(void)state;
	kc_ydoc *doc = parse_ok("home: /home/coder\n"
	                        "limits:\n"
	                        "  max_running_tasks: 8\n"
	                        "agents:\n"
	                        "  list:\n"
	                        "    - name: claude\n"
	                        "      command: [\"claude\", \"--x\"]\n");
	const kc_ynode *root = kc_ydoc_root(doc);
	assert_int_equal(kc_ynode_kind_of(root), KC_YNODE_MAP);
	assert_int_equal(kc_ynode_len(root), 3);
	assert_string_equal(kc_ynode_key(root, 0), "home");
	assert_string_equal(kc_ynode_scalar(kc_ynode_get(root, "home")), "/home/coder");

	const kc_ynode *max = kc_ynode_get(kc_ynode_get(root, "limits"), "max_running_tasks");
	long v = 0;
	assert_int_equal(kc_ynode_as_long(max, 1, 100, &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(kc_ynode_line(max), 3);
	assert_int_equal(kc_ynode_as_long(max, 9, 100, &v), KC_ERR_INVALID);
	assert_int_equal(v, 8);

	const kc_ynode *list = kc_ynode_get(kc_ynode_get(root, "agents"), "list");
	assert_int_equal(kc_ynode_kind_of(list), KC_YNODE_SEQ);
	const kc_ynode *cmd = kc_ynode_get(kc_ynode_at(list, 0), "command");
	assert_int_equal(kc_ynode_len(cmd), 2);
	assert_string_equal(kc_ynode_scalar(kc_ynode_at(cmd, 1)), "--x");
	assert_int_equal(kc_ynode_line(cmd), 7);
	kc_ydoc_free(doc);
}

static void test_scalars(void **state)
{
	(void)state;
	kc_ydoc *doc = parse_ok("a: yes\nb: Off\nc: 70.5\nd: ~\ne: \"\"\nf: 12x\n");
	const kc_ynode *root = kc_ydoc_root(doc);
	bool b = false;
	double d = 0;
	long l = 0;
	assert_int_equal(kc_ynode_as_bool(kc_ynode_get(root, "a"), &b), 0);
	assert_true(b);
	assert_int_equal(kc_ynode_as_bool(kc_ynode_get(root, "b"), &b), 0);
	assert_false(b);
	assert_int_equal(kc_ynode_as_double(kc_ynode_get(root, "c"), 0, 100, &d), 0);
	assert_true(d == 70.5);
	assert_true(kc_ynode_is_null(kc_ynode_get(root, "d")));
	assert_false(kc_ynode_is_null(kc_ynode_get(root, "e"))); /* quoted empty is a string */
	assert_int_equal(kc_ynode_as_long(kc_ynode_get(root, "f"), 0, 100, &l), KC_ERR_INVALID);
	assert_null(kc_ynode_get(root, "missing"));
	kc_ydoc_free(doc);
}

static void test_empty_document_is_empty_map(void **state)
{
	(void)state;
	kc_ydoc *doc = parse_ok("");
	assert_int_equal(kc_ynode_kind_of(kc_ydoc_root(doc)), KC_YNODE_MAP);
	assert_int_equal(kc_ynode_len(kc_ydoc_root(doc)), 0);
	kc_ydoc_free(doc);
}

static void test_refusals_name_the_line(void **state)
{
	(void)state;
	parse_fails("a: 1\nb: [1, 2\n", "line ");
	parse_fails("a: 1\na: 2\n", "line 2: duplicate key \"a\"");
	parse_fails("a: &x 1\nb: *x\n", "line 1: anchors are not supported");
	parse_fails("? [1]\n: 2\n", "map keys must be plain scalars");
	parse_fails("a: 1\n---\nb: 2\n", "only one YAML document");
	char deep[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	parse_fails(deep, "nested deeper than 32 levels");
}

static void test_load_file_caps_size(void **state)
{
	(void)state;
	kc_ydoc *doc = NULL;
	char err[256];
	assert_int_equal(kc_ydoc_load_file("/nonexistent/kc.yaml", 1024, &doc, err, sizeof err), KC_ERR_NOT_FOUND);
	char path[] = "/tmp/kc-yaml-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 1\n", 5), 5);
	close(fd);
	assert_int_equal(kc_ydoc_load_file(path, 4, &doc, err, sizeof err), KC_ERR_TOO_LARGE);
	assert_int_equal(kc_ydoc_load_file(path, 1024, &doc, err, sizeof err), 0);
	assert_string_equal(kc_ynode_scalar(kc_ynode_get(kc_ydoc_root(doc), "a")), "1");
	kc_ydoc_free(doc);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_maps_sequences_and_lines),    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_empty_document_is_empty_map), cmocka_unit_test(test_refusals_name_the_line),
	    cmocka_unit_test(test_load_file_caps_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
