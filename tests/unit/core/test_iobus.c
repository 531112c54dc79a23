/* Unit tests for src/vmm/iobus.c: range registration and dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "vmm/iobus.h"

struct fake_dev {
	uint64_t last_off, last_val;
	unsigned last_size;
	int writes;
};

static uint64_t fake_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	return 0x1000 + off * 0x10 + size;
}

static void fake_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct fake_dev *d = opaque;
	d->last_off = off;
	d->last_val = val;
	d->last_size = size;
	d->writes++;
}

static const struct io_ops fake_ops = {.read = fake_read, .write = fake_write};

static void test_dispatch_offsets(void **state)
{
	struct io_bus bus = {.name = "test"};
	struct fake_dev a = {0}, b = {0};
	uint64_t v;
	(void)state;

	assert_int_equal(iobus_add(&bus, 0x3f8, 8, &fake_ops, &a, "a"), 0);
	assert_int_equal(iobus_add(&bus, 0x60, 1, &fake_ops, &b, "b"), 0);
	assert_true(iobus_read(&bus, 0x3fd, 1, &v));
	assert_int_equal(v, 0x1000 + 5 * 0x10 + 1);
	assert_true(iobus_write(&bus, 0x3f9, 0xab, 2));
	assert_int_equal(a.last_off, 1);
	assert_int_equal(a.last_val, 0xab);
	assert_int_equal(a.last_size, 2);
	assert_true(iobus_write(&bus, 0x60, 1, 1));
	assert_int_equal(b.writes, 1);
	assert_int_equal(a.writes, 1);
	iobus_free(&bus);
}

static void test_unclaimed_reads_all_ones(void **state)
{
	struct io_bus bus = {.name = "test"};
	struct fake_dev a = {0};
	uint64_t v;
	(void)state;

	assert_int_equal(iobus_add(&bus, 0x100, 0x10, &fake_ops, &a, "a"), 0);
	assert_false(iobus_read(&bus, 0x110, 1, &v));
	assert_int_equal(v, 0xff);
	assert_false(iobus_read(&bus, 0xff, 2, &v));
	assert_int_equal(v, 0xffff);
	assert_false(iobus_read(&bus, 0, 4, &v));
	assert_int_equal(v, 0xffffffff);
	assert_false(iobus_read(&bus, 0, 8, &v));
	assert_int_equal(v, ~0ULL);
	assert_false(iobus_write(&bus, 0x110, 1, 1));
	assert_int_equal(a.writes, 0);
	iobus_free(&bus);
}

static void test_overlap_rejected_and_delete(void **state)
{
	struct io_bus bus = {.name = "test"};
	struct fake_dev a = {0}, b = {0};
	uint64_t v;
	(void)state;

	assert_int_equal(iobus_add(&bus, 0x1000, 0x100, &fake_ops, &a, "a"), 0);
	assert_int_equal(iobus_add(&bus, 0x10ff, 1, &fake_ops, &b, "b"), -1);
	assert_int_equal(iobus_add(&bus, 0xf00, 0x101, &fake_ops, &b, "b"), -1);
	assert_int_equal(iobus_add(&bus, 0, 0, &fake_ops, &b, "empty"), -1);
	assert_int_equal(iobus_add(&bus, ~0ULL, 2, &fake_ops, &b, "wraps"), -1);
	assert_int_equal(iobus_add(&bus, 0x1100, 0x100, &fake_ops, &b, "b"), 0);
	iobus_del(&bus, 0x1000, &b); /* wrong owner: nothing happens */
	assert_true(iobus_read(&bus, 0x1000, 1, &v));
	iobus_del(&bus, 0x1000, &a);
	assert_false(iobus_read(&bus, 0x1000, 1, &v));
	assert_true(iobus_read(&bus, 0x1100, 1, &v));
	iobus_free(&bus);
}

/* Many ranges inserted out of order are all found by the binary search. */
static void test_many_ranges(void **state)
{
	struct io_bus bus = {.name = "test"};
	struct fake_dev devs[64];
	(void)state;

	for (int i = 0; i < 64; i++) {
		int slot = (i * 37) % 64;
		assert_int_equal(iobus_add(&bus, slot * 0x100, 0x80, &fake_ops, &devs[slot], "d"),
				 0);
	}
	for (int slot = 0; slot < 64; slot++) {
		const struct io_range *r = iobus_find(&bus, slot * 0x100 + 0x7f);
		assert_non_null(r);
		assert_ptr_equal(r->opaque, &devs[slot]);
		assert_null(iobus_find(&bus, slot * 0x100 + 0x80));
	}
	iobus_free(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_offsets),
		cmocka_unit_test(test_unclaimed_reads_all_ones),
		cmocka_unit_test(test_overlap_rejected_and_delete),
		cmocka_unit_test(test_many_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
