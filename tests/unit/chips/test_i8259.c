/* Unit tests for the 8259A pair (src/vmm/hw/i8259.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/hw/i8259.h"

struct out_log {
	bool level;
	unsigned changes;
};

static void record_output(void *opaque, bool level)
{
	struct out_log *log = opaque;

	log->level = level;
	log->changes++;
}

/* Linux's init_8259A: vectors 0x30/0x38, cascade on IR2, 8086 mode; all unmasked. */
static void linux_init(struct i8259 *pic, bool auto_eoi)
{
	i8259_write(pic, 0, 0, 0x11);
	i8259_write(pic, 0, 1, 0x30);
	i8259_write(pic, 0, 1, 0x04);
	i8259_write(pic, 0, 1, auto_eoi ? 0x03 : 0x01);
	i8259_write(pic, 1, 0, 0x11);
	i8259_write(pic, 1, 1, 0x38);
	i8259_write(pic, 1, 1, 0x02);
	i8259_write(pic, 1, 1, 0x01);
	i8259_write(pic, 0, 1, 0x00);
	i8259_write(pic, 1, 1, 0x00);
}

static void test_bios_state(void **state)
{
	struct i8259 pic;
	struct out_log log = {0};

	(void)state;
	i8259_init(&pic, record_output, &log);
	assert_int_equal(i8259_read(&pic, 0, 1), 0xfb);
	assert_int_equal(i8259_read(&pic, 1, 1), 0xff);
	i8259_set_irq(&pic, 1, true);
	assert_false(i8259_pending(&pic)); /* masked */
	i8259_write(&pic, 0, 1, 0xf9);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x09); /* BIOS vector base 0x08 */
	assert_int_equal(log.changes, 2);
}

static void test_ack_and_eoi(void **state)
{
	struct i8259 pic;
	struct out_log log = {0};

	(void)state;
	i8259_init(&pic, record_output, &log);
	linux_init(&pic, false);
	assert_int_equal(i8259_ack(&pic), -1);
	i8259_set_irq(&pic, 1, true);
	assert_true(log.level);
	assert_int_equal(i8259_ack(&pic), 0x31);
	assert_false(log.level);
	i8259_write(&pic, 0, 0, 0x0b); /* OCW3: read ISR */
	assert_int_equal(i8259_read(&pic, 0, 0), 0x02);
	i8259_write(&pic, 0, 0, 0x0a); /* OCW3: read IRR */
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00);
	i8259_write(&pic, 0, 0, 0x20); /* non-specific EOI */
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00);
}

static void test_priority_nesting(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_set_irq(&pic, 5, true);
	i8259_set_irq(&pic, 3, true);
	assert_int_equal(i8259_ack(&pic), 0x33);
	/* IRQ5 has lower priority than IRQ3 in service. */
	assert_false(i8259_pending(&pic));
	/* IRQ1 is higher: it nests. */
	i8259_set_irq(&pic, 1, true);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x31);
	i8259_write(&pic, 0, 0, 0x20); /* EOIs IRQ1 (highest in service) */
	assert_false(i8259_pending(&pic));
	i8259_write(&pic, 0, 0, 0x20); /* EOIs IRQ3 */
	assert_int_equal(i8259_ack(&pic), 0x35);
}

static void test_cascade(void **state)
{
	struct i8259 pic;
	struct out_log log = {0};

	(void)state;
	i8259_init(&pic, record_output, &log);
	linux_init(&pic, false);
	i8259_set_irq(&pic, 10, true);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x3a);
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x04); /* master: IR2 in service */
	i8259_write(&pic, 1, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 1, 0), 0x04); /* slave: IR2 (IRQ10) */
	/* Another slave request waits for both EOIs. */
	i8259_set_irq(&pic, 12, true);
	assert_false(i8259_pending(&pic));
	i8259_write(&pic, 1, 0, 0x20);
	assert_false(i8259_pending(&pic)); /* master IR2 still in service */
	i8259_write(&pic, 0, 0, 0x20);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x3c);
}

static void test_mask(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_write(&pic, 0, 1, 0x10);
	assert_int_equal(i8259_read(&pic, 0, 1), 0x10);
	i8259_set_irq(&pic, 4, true);
	assert_false(i8259_pending(&pic));
	i8259_write(&pic, 0, 1, 0x00);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x34);
	/* Masking the cascade hides the slave. */
	i8259_write(&pic, 0, 0, 0x20);
	i8259_write(&pic, 0, 1, 0x04);
	i8259_set_irq(&pic, 9, true);
	assert_false(i8259_pending(&pic));
}

static void test_edge_and_level(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	/* Edge: a pulse stays latched. */
	i8259_set_irq(&pic, 4, true);
	i8259_set_irq(&pic, 4, false);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x34);
	i8259_write(&pic, 0, 0, 0x20);
	assert_false(i8259_pending(&pic));

	/* Level (ELCR): requests only while high, and again after EOI if still high. */
	i8259_elcr_write(&pic, 0, 0x20);
	assert_int_equal(i8259_elcr_read(&pic, 0), 0x20);
	i8259_set_irq(&pic, 5, true);
	i8259_set_irq(&pic, 5, false);
	assert_false(i8259_pending(&pic));
	i8259_set_irq(&pic, 5, true);
	assert_int_equal(i8259_ack(&pic), 0x35);
	assert_false(i8259_pending(&pic));
	i8259_write(&pic, 0, 0, 0x20);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x35);
	i8259_set_irq(&pic, 5, false);
	i8259_write(&pic, 0, 0, 0x20);
	assert_false(i8259_pending(&pic));
}

static void test_elcr_masks(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	i8259_elcr_write(&pic, 0, 0xff);
	i8259_elcr_write(&pic, 1, 0xff);
	assert_int_equal(i8259_elcr_read(&pic, 0), 0xf8); /* IRQ0-2 are always edge */
	assert_int_equal(i8259_elcr_read(&pic, 1), 0xde); /* and IRQ8, IRQ13 */
}

static void test_auto_eoi(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, true);
	i8259_set_irq(&pic, 3, true);
	assert_int_equal(i8259_ack(&pic), 0x33);
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00); /* nothing in service */
	i8259_set_irq(&pic, 4, true);
	assert_int_equal(i8259_ack(&pic), 0x34); /* not blocked */
}

static void test_specific_eoi_and_rotation(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_set_irq(&pic, 6, true);
	assert_int_equal(i8259_ack(&pic), 0x36);
	i8259_write(&pic, 0, 0, 0x60 | 6); /* specific EOI for IRQ6 */
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00);

	/* Rotate on non-specific EOI: the serviced IRQ0 becomes the lowest priority. */
	i8259_set_irq(&pic, 0, true);
	assert_int_equal(i8259_ack(&pic), 0x30);
	i8259_write(&pic, 0, 0, 0xa0);
	i8259_set_irq(&pic, 0, false);
	i8259_set_irq(&pic, 0, true);
	i8259_set_irq(&pic, 7, true);
	assert_int_equal(i8259_ack(&pic), 0x37); /* 7 now outranks 0 */
	i8259_write(&pic, 0, 0, 0x20);
	/* Set priority: make IRQ7 the lowest again. */
	i8259_write(&pic, 0, 0, 0xc0 | 7);
	i8259_set_irq(&pic, 7, false);
	i8259_set_irq(&pic, 7, true);
	assert_int_equal(i8259_ack(&pic), 0x30);
}

static void test_poll_mode(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_write(&pic, 0, 0, 0x0c);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00); /* nothing pending */
	i8259_set_irq(&pic, 3, true);
	i8259_write(&pic, 0, 0, 0x0c);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x83);
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x08); /* the poll acknowledged it */
}

static void test_special_mask_mode(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_set_irq(&pic, 3, true);
	assert_int_equal(i8259_ack(&pic), 0x33);
	i8259_set_irq(&pic, 5, true);
	assert_false(i8259_pending(&pic));
	/* Mask IRQ3 and enter special mask mode: lower priorities get through. */
	i8259_write(&pic, 0, 1, 0x08);
	i8259_write(&pic, 0, 0, 0x68);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x35);
}

static void test_reinit_clears_state(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_set_irq(&pic, 3, true);
	assert_int_equal(i8259_ack(&pic), 0x33);
	i8259_set_irq(&pic, 4, true);
	linux_init(&pic, false);
	i8259_write(&pic, 0, 0, 0x0b);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00);
	i8259_write(&pic, 0, 0, 0x0a);
	assert_int_equal(i8259_read(&pic, 0, 0), 0x00); /* edge latches cleared */
	assert_false(i8259_pending(&pic));
}

static void test_special_fully_nested(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_write(&pic, 0, 0, 0x11);
	i8259_write(&pic, 0, 1, 0x30);
	i8259_write(&pic, 0, 1, 0x04);
	i8259_write(&pic, 0, 1, 0x11); /* ICW4: SFNM, 8086 */
	i8259_write(&pic, 0, 1, 0x00);
	i8259_set_irq(&pic, 10, true);
	assert_int_equal(i8259_ack(&pic), 0x3a);
	/* A higher-priority slave input gets through although IR2 is in service. */
	i8259_set_irq(&pic, 9, true);
	assert_true(i8259_pending(&pic));
	assert_int_equal(i8259_ack(&pic), 0x39);
	/* Without SFNM it waits (see test_cascade for the plain case). */
}

static void test_rotate_in_auto_eoi(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, true);
	i8259_set_irq(&pic, 0, true);
	assert_int_equal(i8259_ack(&pic), 0x30);
	i8259_set_irq(&pic, 0, false);
	i8259_set_irq(&pic, 0, true);
	i8259_set_irq(&pic, 7, true);
	assert_int_equal(i8259_ack(&pic), 0x30); /* no rotation: IRQ0 stays highest */
	i8259_write(&pic, 0, 0, 0x80);		 /* rotate in auto-EOI mode */
	assert_int_equal(i8259_ack(&pic), 0x37);
	i8259_set_irq(&pic, 0, false);
	i8259_set_irq(&pic, 0, true);
	i8259_set_irq(&pic, 6, true);
	assert_int_equal(i8259_ack(&pic), 0x30); /* after 7 was served, 0 leads */
	assert_int_equal(i8259_ack(&pic), 0x36);
}

static void test_spurious_slave(void **state)
{
	struct i8259 pic;

	(void)state;
	i8259_init(&pic, NULL, NULL);
	linux_init(&pic, false);
	i8259_elcr_write(&pic, 1, 0x04); /* IRQ10 level-triggered */
	i8259_set_irq(&pic, 10, true);
	i8259_set_irq(&pic, 10, false);		 /* withdrawn before the acknowledge */
	assert_true(i8259_pending(&pic));	 /* the master latched the cascade edge */
	assert_int_equal(i8259_ack(&pic), 0x3f); /* spurious IRQ15 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bios_state),
	    cmocka_unit_test(test_ack_and_eoi),
	    cmocka_unit_test(test_priority_nesting),
	    cmocka_unit_test(test_cascade),
	    cmocka_unit_test(test_mask),
	    cmocka_unit_test(test_edge_and_level),
	    cmocka_unit_test(test_elcr_masks),
	    cmocka_unit_test(test_auto_eoi),
	    cmocka_unit_test(test_specific_eoi_and_rotation),
	    cmocka_unit_test(test_poll_mode),
	    cmocka_unit_test(test_special_mask_mode),
	    cmocka_unit_test(test_reinit_clears_state),
	    cmocka_unit_test(test_special_fully_nested),
	    cmocka_unit_test(test_rotate_in_auto_eoi),
	    cmocka_unit_test(test_spurious_slave),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
