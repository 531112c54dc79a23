/* Unit tests for the 8254 PIT and port 0x61 (src/vmm/hw/i8254.c). Time is passed explicitly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/hw/i8254.h"

struct counts {
	unsigned irqs, reprograms;
};

static void count_irq(void *opaque)
{
	((struct counts *)opaque)->irqs++;
}

static void count_reprogram(void *opaque)
{
	((struct counts *)opaque)->reprograms++;
}

/* When tick t of the 1.193182 MHz clock has elapsed (nanoseconds, rounded up). */
static uint64_t tick_ns(uint64_t t)
{
	return (t * 1000000000ULL + I8254_HZ - 1) / I8254_HZ;
}

static void setup(struct i8254 *pit, struct counts *c)
{
	*c = (struct counts){0};
	i8254_init(pit, count_irq, count_reprogram, c);
}

/* Program channel ch with a control word and a 16-bit count (LSB then MSB). */
static void program(struct i8254 *pit, unsigned ch, uint8_t control, uint16_t count, uint64_t now)
{
	i8254_write(pit, 3, control, now);
	i8254_write(pit, ch, (uint8_t)count, now);
	i8254_write(pit, ch, (uint8_t)(count >> 8), now);
}

static uint16_t read16(struct i8254 *pit, unsigned ch, uint64_t now)
{
	uint16_t lo = i8254_read(pit, ch, now);

	return (uint16_t)(lo | i8254_read(pit, ch, now) << 8);
}

static void test_idle_after_reset(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	assert_int_equal(i8254_poll(&pit, 0), UINT64_MAX);
	assert_int_equal(i8254_poll(&pit, 1000000000), UINT64_MAX);
	assert_int_equal(c.irqs, 0);
}

static void test_mode2_period(void **state)
{
	struct i8254 pit;
	struct counts c;
	const uint64_t t0 = 1000;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x34, 1193, t0); /* ch0, LSB/MSB, rate generator: ~1 kHz */
	assert_int_equal(c.reprograms, 2);
	assert_int_equal(i8254_poll(&pit, t0), t0 + tick_ns(1193));
	assert_int_equal(i8254_poll(&pit, t0 + tick_ns(1193) - 1), t0 + tick_ns(1193));
	assert_int_equal(c.irqs, 0);
	assert_int_equal(i8254_poll(&pit, t0 + tick_ns(1193)), t0 + tick_ns(2 * 1193));
	assert_int_equal(c.irqs, 1);
	/* Ten and a half periods later: one (coalesced) interrupt, still on the grid. */
	assert_int_equal(i8254_poll(&pit, t0 + tick_ns(1193 * 12 + 600)), t0 + tick_ns(1193 * 13));
	assert_int_equal(c.irqs, 2);
	/* Counting down from 1193 and reloading. */
	assert_int_equal(i8254_count(&pit.ch[0], t0 + tick_ns(100)), 1093);
	assert_int_equal(i8254_count(&pit.ch[0], t0 + tick_ns(1193 + 1)), 1192);
	assert_true(i8254_output(&pit.ch[0], t0 + tick_ns(1191)));
	assert_false(i8254_output(&pit.ch[0], t0 + tick_ns(1192)));
	assert_true(i8254_output(&pit.ch[0], t0 + tick_ns(1193)));
}

static void test_mode2_count_zero_is_65536(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x34, 0, 0);
	assert_int_equal(i8254_poll(&pit, 0), tick_ns(65536));
	assert_int_equal(i8254_count(&pit.ch[0], tick_ns(1)), 65535);
}

static void test_mode3_square_wave(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x36, 1000, 0);
	assert_true(i8254_output(&pit.ch[0], tick_ns(0)));
	assert_true(i8254_output(&pit.ch[0], tick_ns(499)));
	assert_false(i8254_output(&pit.ch[0], tick_ns(500)));
	assert_false(i8254_output(&pit.ch[0], tick_ns(999)));
	assert_true(i8254_output(&pit.ch[0], tick_ns(1000)));
	/* The count falls by two per tick in each half. */
	assert_int_equal(i8254_count(&pit.ch[0], tick_ns(10)), 980);
	assert_int_equal(i8254_count(&pit.ch[0], tick_ns(510)), 980);
	assert_int_equal(i8254_poll(&pit, tick_ns(1000)), tick_ns(2000));
	assert_int_equal(c.irqs, 1);
}

static void test_latch(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x34, 1193, 0);
	i8254_write(&pit, 3, 0x00, tick_ns(100)); /* latch ch0 */
	i8254_write(&pit, 3, 0x00, tick_ns(200)); /* ignored: the first is unread */
	assert_int_equal(read16(&pit, 0, tick_ns(500)), 1093);
	/* Unlatched reads follow time again. */
	assert_int_equal(read16(&pit, 0, tick_ns(500)), 693);
	i8254_write(&pit, 3, 0x00, tick_ns(300));
	assert_int_equal(read16(&pit, 0, tick_ns(900)), 893);
}

static void test_read_back(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	i8254_write(&pit, 3, 0x34, 0);
	i8254_write(&pit, 3, 0xe2, 0); /* status only, ch0: null count before the count */
	assert_int_equal(i8254_read(&pit, 0, 0), 0x80 | 0x40 | 0x30 | 0x04);
	assert_int_equal(c.reprograms, 1);
	i8254_write(&pit, 0, 0xa9, 0);
	i8254_write(&pit, 0, 0x04, 0);
	i8254_write(&pit, 3, 0xc2, tick_ns(100)); /* count and status, ch0 */
	assert_int_equal(i8254_read(&pit, 0, tick_ns(400)), 0x80 | 0x30 | 0x04);
	assert_int_equal(read16(&pit, 0, tick_ns(400)), 1093);
	/* Count only, channels 0 and 2. */
	i8254_port61_write(&pit, 0x01, 0);
	program(&pit, 2, 0xb0, 5000, 0);
	i8254_write(&pit, 3, 0xda, tick_ns(10));
	assert_int_equal(read16(&pit, 2, tick_ns(20)), 4990);
	assert_int_equal(read16(&pit, 0, tick_ns(20)), 1183);
}

static void test_mode0_one_shot(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x30, 100, 0);
	assert_false(i8254_output(&pit.ch[0], tick_ns(99)));
	assert_true(i8254_output(&pit.ch[0], tick_ns(100)));
	assert_int_equal(i8254_poll(&pit, tick_ns(50)), tick_ns(100));
	assert_int_equal(i8254_poll(&pit, tick_ns(100)), UINT64_MAX);
	assert_int_equal(c.irqs, 1);
	assert_int_equal(i8254_poll(&pit, tick_ns(1000)), UINT64_MAX);
	assert_int_equal(c.irqs, 1);
	/* The counter wraps past zero. */
	assert_int_equal(i8254_count(&pit.ch[0], tick_ns(101)), 0xffff);
	/* Writing the first byte of a new count stops it (output low, no interrupt). */
	i8254_write(&pit, 0, 0x10, tick_ns(2000));
	assert_false(i8254_output(&pit.ch[0], tick_ns(5000)));
	assert_int_equal(i8254_poll(&pit, tick_ns(5000)), UINT64_MAX);
	i8254_write(&pit, 0, 0x00, tick_ns(5000));
	assert_int_equal(i8254_poll(&pit, tick_ns(5000)), tick_ns(5000) + tick_ns(16));
}

static void test_access_modes(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	i8254_write(&pit, 3, 0x10, 0); /* LSB only, mode 0 */
	i8254_write(&pit, 0, 0x50, 0);
	assert_int_equal(i8254_count(&pit.ch[0], 0), 0x50);
	assert_int_equal(i8254_read(&pit, 0, tick_ns(0x10)), 0x40);
	i8254_write(&pit, 3, 0x20, 0); /* MSB only */
	i8254_write(&pit, 0, 0x12, 0);
	assert_int_equal(i8254_count(&pit.ch[0], 0), 0x1200);
	assert_int_equal(i8254_read(&pit, 0, tick_ns(0x100)), 0x11);
	assert_int_equal(i8254_read(&pit, 3, 0), 0xff); /* the control port is write-only */
}

static void test_bcd(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x31, 0x0100, 0); /* mode 0, BCD 100 */
	assert_int_equal(i8254_count(&pit.ch[0], tick_ns(30)), 0x0070);
	assert_int_equal(i8254_poll(&pit, 0), tick_ns(100));
	program(&pit, 1, 0x75, 0x0000, 0); /* ch1 mode 2, BCD 0 = 10000 */
	assert_int_equal(i8254_count(&pit.ch[1], tick_ns(1)), 0x9999);
	program(&pit, 1, 0x75, 0xffff, 0); /* non-decimal digits do not break it */
	(void)i8254_count(&pit.ch[1], tick_ns(12345));
	(void)i8254_output(&pit.ch[1], tick_ns(12345));
}

static void test_channel2_gate_and_out(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	/* As Linux's PIT calibration: gate on, speaker off, mode 0, poll OUT2 in bit 5. */
	i8254_port61_write(&pit, (uint8_t)((i8254_port61_read(&pit, 0) & ~0x02) | 0x01), 0);
	program(&pit, 2, 0xb0, 1000, 0);
	assert_int_equal(i8254_port61_read(&pit, tick_ns(999)) & 0x21, 0x01);
	assert_int_equal(i8254_port61_read(&pit, tick_ns(1000)) & 0x21, 0x21);
	assert_int_equal(c.irqs + c.reprograms, 0); /* channel 2 has no interrupt */

	/* Gate low suspends mode 0 counting; high resumes it. */
	const uint64_t g1 = 5000000, g2 = g1 + tick_ns(400), g3 = g2 + 1000000;
	i8254_port61_write(&pit, 0x00, 0);
	program(&pit, 2, 0xb0, 1000, 0);
	assert_int_equal(i8254_count(&pit.ch[2], g1), 1000);
	i8254_port61_write(&pit, 0x01, g1);
	assert_int_equal(i8254_count(&pit.ch[2], g2), 600);
	i8254_port61_write(&pit, 0x00, g2);
	assert_int_equal(i8254_count(&pit.ch[2], g3), 600);
	i8254_port61_write(&pit, 0x01, g3);
	assert_int_equal(i8254_count(&pit.ch[2], g3 + tick_ns(599)), 1);
	assert_false(i8254_port61_read(&pit, g3 + tick_ns(599)) & 0x20);
	assert_true(i8254_port61_read(&pit, g3 + tick_ns(600)) & 0x20);
}

static void test_port61_bits(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	i8254_port61_write(&pit, 0xff, 0);
	assert_int_equal(i8254_port61_read(&pit, 0) & 0x0f, 0x0f);
	/* The refresh bit toggles every 15.085 us. */
	assert_int_not_equal(i8254_port61_read(&pit, 0) & 0x10,
			     i8254_port61_read(&pit, 15085) & 0x10);
}

static void test_mode4_strobe(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	program(&pit, 0, 0x38, 10, 0);
	assert_true(i8254_output(&pit.ch[0], tick_ns(9)));
	assert_false(i8254_output(&pit.ch[0], tick_ns(10)));
	assert_true(i8254_output(&pit.ch[0], tick_ns(11)));
	assert_int_equal(i8254_poll(&pit, tick_ns(10)), tick_ns(11));
	assert_int_equal(i8254_poll(&pit, tick_ns(11)), UINT64_MAX);
	assert_int_equal(c.irqs, 1);
}

static void test_mode1_gate_trigger(void **state)
{
	struct i8254 pit;
	struct counts c;

	(void)state;
	setup(&pit, &c);
	const uint64_t t1 = 1000000, t2 = 3000000;
	program(&pit, 2, 0xb2, 100, 0);
	assert_true(i8254_output(&pit.ch[2], 500000)); /* waits for a trigger */
	assert_int_equal(i8254_count(&pit.ch[2], 500000), 100);
	i8254_port61_write(&pit, 0x01, t1);
	assert_false(i8254_output(&pit.ch[2], t1 + tick_ns(50)));
	assert_int_equal(i8254_count(&pit.ch[2], t1 + tick_ns(50)), 50);
	assert_true(i8254_output(&pit.ch[2], t1 + tick_ns(100)));
	/* Retrigger. */
	i8254_port61_write(&pit, 0x00, t2 - 1000);
	i8254_port61_write(&pit, 0x01, t2);
	assert_false(i8254_output(&pit.ch[2], t2 + tick_ns(50)));
	assert_int_equal(i8254_count(&pit.ch[2], t2 + tick_ns(50)), 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_after_reset),
	    cmocka_unit_test(test_mode2_period),
	    cmocka_unit_test(test_mode2_count_zero_is_65536),
	    cmocka_unit_test(test_mode3_square_wave),
	    cmocka_unit_test(test_latch),
	    cmocka_unit_test(test_read_back),
	    cmocka_unit_test(test_mode0_one_shot),
	    cmocka_unit_test(test_access_modes),
	    cmocka_unit_test(test_bcd),
	    cmocka_unit_test(test_channel2_gate_and_out),
	    cmocka_unit_test(test_port61_bits),
	    cmocka_unit_test(test_mode4_strobe),
	    cmocka_unit_test(test_mode1_gate_trigger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
