/*
 * pb_wire.h: the bounded writer ListTasks' answer is written with. A put
 * that does not fit writes nothing (not a byte past the end, not a part of
 * the field), marks the writer short, and every later put writes nothing;
 * an exact fit is done, an unfilled buffer is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/pb_wire.h"

#define CANARY 0xA5

static void test_exact_fit(void **state)
{
	uint8_t buf[32];
	kc_wire w;
	static const uint8_t want[] = {0x0a, 0x03, 'a', 'b', 'c', 0x18, 0xac, 0x02, 0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
	(void)state;
	kc_wire_init(&w, buf, sizeof want);
	kc_wire_bytes(&w, KC_WIRE_TAG(1, KC_WIRE_LEN), "abc", 3);
	kc_wire_byte(&w, KC_WIRE_TAG(3, KC_WIRE_VARINT));
	kc_wire_varint(&w, 300);
	kc_wire_byte(&w, KC_WIRE_TAG(4, KC_WIRE_FIXED64));
	kc_wire_double(&w, 1.0);
	assert_true(kc_wire_done(&w));
	assert_memory_equal(buf, want, sizeof want);
}

static void test_negative_int32_is_ten_bytes(void **state)
{
	uint8_t buf[10];
	kc_wire w;
	(void)state;
	assert_int_equal(kc_wire_varint_len(kc_wire_int32(-1)), 10);
	kc_wire_init(&w, buf, sizeof buf);
	kc_wire_varint(&w, kc_wire_int32(-1));
	assert_true(kc_wire_done(&w));
	assert_int_equal(buf[9], 0x01);
}

/* Each kind of put into a buffer one byte too small for it. */
static void test_short_writes_nothing(void **state)
{
	uint8_t buf[16];
	kc_wire w;
	(void)state;

	memset(buf, CANARY, sizeof buf);
	kc_wire_init(&w, buf, 4); /* tag + length + 3 bytes is 5 */
	kc_wire_bytes(&w, KC_WIRE_TAG(1, KC_WIRE_LEN), "abc", 3);
	assert_true(w.short_);
	assert_false(kc_wire_done(&w));
	assert_ptr_equal(w.p, buf);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], CANARY);

	kc_wire_init(&w, buf, 1); /* 300 is two varint bytes */
	kc_wire_varint(&w, 300);
	assert_true(w.short_);
	assert_int_equal(buf[0], CANARY);

	kc_wire_init(&w, buf, 7);
	kc_wire_double(&w, 1.0);
	assert_true(w.short_);
	assert_int_equal(buf[0], CANARY);

	kc_wire_init(&w, buf, 0);
	kc_wire_byte(&w, 0x08);
	assert_true(w.short_);
	assert_int_equal(buf[0], CANARY);
}

/* Once short, a put that would fit in what is left writes nothing either:
 * the answer is never a prefix with a hole. */
static void test_short_stays_short(void **state)
{
	uint8_t buf[16];
	kc_wire w;
	(void)state;
	memset(buf, CANARY, sizeof buf);
	kc_wire_init(&w, buf, 3);
	kc_wire_byte(&w, 0x08);
	kc_wire_bytes(&w, KC_WIRE_TAG(1, KC_WIRE_LEN), "abc", 3);
	assert_true(w.short_);
	kc_wire_byte(&w, 0x10);
	kc_wire_varint(&w, 1);
	assert_int_equal(buf[0], 0x08);
	assert_int_equal(buf[1], CANARY);
	assert_int_equal(buf[2], CANARY);
	assert_ptr_equal(w.p, buf + 1);
	assert_false(kc_wire_done(&w));
}

static void test_unfilled_is_not_done(void **state)
{
	uint8_t buf[4];
	kc_wire w;
	(void)state;
	kc_wire_init(&w, buf, sizeof buf);
	kc_wire_byte(&w, 0x08);
	kc_wire_varint(&w, 1);
	assert_false(w.short_);
	assert_false(kc_wire_done(&w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_fit),
	    cmocka_unit_test(test_negative_int32_is_ten_bytes),
	    cmocka_unit_test(test_short_writes_nothing),
	    cmocka_unit_test(test_short_stays_short),
	    cmocka_unit_test(test_unfilled_is_not_done),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
