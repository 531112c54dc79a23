/* Unit tests for the soft accelerator's clock (src/vmm/accel/soft/clock.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "vmm/accel/soft/chipset.h"

static void test_starts_near_zero_and_advances(void **state)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	uint64_t a, b;

	(void)state;
	soft_clock_start();
	a = soft_now_ns();
	assert_true(a < 100ULL * 1000 * 1000);
	nanosleep(&pause, NULL);
	b = soft_now_ns();
	assert_true(b - a >= 20ULL * 1000 * 1000);
	assert_int_equal(soft_rdtsc() >= b, 1);
}

static void test_monotonic(void **state)
{
	uint64_t prev, now;

	(void)state;
	soft_clock_start();
	prev = soft_now_ns();
	for (int i = 0; i < 100000; i++) {
		now = soft_now_ns();
		assert_true(now >= prev);
		prev = now;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_starts_near_zero_and_advances),
	    cmocka_unit_test(test_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
