/* MC146818 RTC: BCD/binary/12h time, setting the clock, UIP, interrupts, CMOS sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "fake_vm.h"
#include "vmm/hw/mc146818.h"

static struct vm *vm;
static struct mc146818 *rtc;

static int setup(void **state)
{
	(void)state;
	vm = fake_vm_new(16 * MiB);
	rtc = mc146818_new(vm);
	assert_non_null(rtc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc146818_free(rtc);
	fake_vm_free(vm);
	return 0;
}

static uint8_t rd(uint8_t reg)
{
	vm_pio_write(vm, PC_RTC_PORT, reg, 1);
	return (uint8_t)vm_pio_read(vm, PC_RTC_PORT + 1, 1);
}

static void wr(uint8_t reg, uint8_t v)
{
	vm_pio_write(vm, PC_RTC_PORT, reg, 1);
	vm_pio_write(vm, PC_RTC_PORT + 1, v, 1);
}

static unsigned bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 15);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Read all time registers within one second, as a guest would (retry on a tick). */
static void read_time(uint8_t r[10])
{
	do {
		r[0] = rd(0);
		r[2] = rd(2);
		r[4] = rd(4);
		r[6] = rd(6);
		r[7] = rd(7);
		r[8] = rd(8);
		r[9] = rd(9);
	} while (rd(0) != r[0]);
}

static void test_bcd_time_matches_host(void **state)
{
	uint8_t r[10];
	struct tm tm;
	time_t now;

	(void)state;
	assert_int_equal(rd(0x0b), 0x02); /* 24 h, BCD */
	assert_int_equal(rd(0x0d), 0x80);
	assert_int_equal(rd(0x0a) & 0x7f, 0x26);
	read_time(r);
	now = time(NULL);
	gmtime_r(&now, &tm);
	assert_int_equal(bcd(r[9]), tm.tm_year % 100);
	assert_int_equal(bcd(rd(0x32)), (tm.tm_year + 1900) / 100);
	assert_int_equal(bcd(r[8]), tm.tm_mon + 1);
	assert_int_equal(bcd(r[6]), tm.tm_wday + 1);
	/* minutes and seconds: allow the second to tick between the two reads */
	int dev = bcd(r[4]) * 3600 + bcd(r[2]) * 60 + bcd(r[0]);
	int host = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	assert_true(host - dev >= 0 && host - dev <= 1);
}

static void test_set_time_binary_and_12h(void **state)
{
	uint8_t r[10];

	(void)state;
	wr(0x0b, 0x82); /* SET */
	wr(0x00, 0x58);
	wr(0x02, 0x59);
	wr(0x04, 0x23);
	wr(0x07, 0x17);
	wr(0x08, 0x05);
	wr(0x09, 0x31);
	wr(0x32, 0x20);
	sleep_ms(1100);
	assert_int_equal(rd(0x00), 0x58);     /* frozen while SET */
	assert_int_equal(rd(0x0c) & 0x10, 0); /* no update cycles while SET */
	wr(0x0b, 0x02);
	read_time(r);
	assert_true(r[0] == 0x58 || r[0] == 0x59);
	assert_int_equal(r[4], 0x23);
	assert_int_equal(r[6], 0x07); /* 2031-05-17 is a Saturday */
	/* Binary mode: same time, other encoding. */
	wr(0x0b, 0x06);
	assert_int_equal(rd(0x09), 31);
	assert_int_equal(rd(0x04), 23);
	assert_int_equal(rd(0x32), 20);
	/* 12-hour mode: 23 h is 11 PM. */
	wr(0x0b, 0x04);
	assert_int_equal(rd(0x04), 0x80 | 11);
	/* The clock runs: two seconds later it is the next day. */
	sleep_ms(2100);
	wr(0x0b, 0x02);
	assert_int_equal(rd(0x07), 0x18);
	assert_int_equal(rd(0x04), 0x00);
	assert_int_equal(rd(0x02), 0x00);
}

/* Garbage written as the time must not crash or wedge the clock. */
static void test_invalid_time(void **state)
{
	(void)state;
	wr(0x0b, 0x82);
	for (uint8_t reg = 0; reg < 10; reg++)
		wr(reg, 0xff);
	wr(0x32, 0xff);
	wr(0x0b, 0x02);
	uint8_t s = rd(0x00);
	assert_true(bcd(s) < 60);
	assert_true(bcd(rd(0x08)) >= 1 && bcd(rd(0x08)) <= 12);
}

static long long realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* UIP is set only in the last 244 us before each second boundary. */
static void test_update_in_progress(void **state)
{
	unsigned seen = 0, early = 0;

	(void)state;
	/* Around up to five second boundaries (a busy host may preempt us in one). */
	for (int tries = 0; tries < 5 && !seen; tries++) {
		long long now = realtime_ns(), next = (now / 1000000000LL + 1) * 1000000000LL;

		if (next - now > 3000000)
			sleep_ms((long)((next - now) / 1000000) - 2);
		while ((now = realtime_ns()) < next + 500000) {
			if (rd(0x0a) & 0x80) {
				long long to_boundary = next - realtime_ns();
				seen++;
				if (to_boundary > 300000 && now < next)
					early++;
			}
		}
	}
	assert_true(seen > 0);
	assert_int_equal(early, 0);
	/* Divider in reset: the clock stops, no UIP. */
	wr(0x0a, 0x76);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(rd(0x0a) & 0x80, 0);
}

static void test_periodic_interrupt(void **state)
{
	struct fake_loop_thread lt;
	uint8_t c;

	(void)state;
	fake_loop_start(&lt, vm);
	sleep_ms(5);
	assert_false(fake.level[PC_RTC_IRQ]);
	c = rd(0x0c); /* PIE off: the flag is set, no interrupt */
	assert_int_equal(c, 0x40);
	wr(0x0a, 0x2f); /* 2 Hz */
	wr(0x0b, 0x42); /* PIE */
	rd(0x0c);
	for (int i = 0; i < 1000 && !fake.level[PC_RTC_IRQ]; i++)
		sleep_ms(1);
	assert_true(fake.level[PC_RTC_IRQ]);
	c = rd(0x0c);
	assert_int_equal(c & 0xc0, 0xc0);
	assert_false(fake.level[PC_RTC_IRQ]);
	assert_int_equal(rd(0x0c) & 0xc0, 0x00); /* cleared by the read */
	wr(0x0a, 0x20);				 /* rate 0: no periodic interrupts */
	rd(0x0c);
	sleep_ms(600);
	assert_false(fake.level[PC_RTC_IRQ]);
	fake_loop_stop(&lt);
}

static void test_update_and_alarm_interrupts(void **state)
{
	struct fake_loop_thread lt;
	uint8_t c;

	(void)state;
	wr(0x0a, 0x20);
	wr(0x01, 0xc0); /* alarm every second */
	wr(0x03, 0xc0);
	wr(0x05, 0xc0);
	fake_loop_start(&lt, vm);
	wr(0x0b, 0x32); /* AIE | UIE */
	rd(0x0c);
	for (int i = 0; i < 1500 && !fake.level[PC_RTC_IRQ]; i++)
		sleep_ms(1);
	assert_true(fake.level[PC_RTC_IRQ]);
	c = rd(0x0c);
	assert_int_equal(c, 0x80 | 0x20 | 0x10);
	assert_false(fake.level[PC_RTC_IRQ]);
	/* An alarm that cannot match: only update-ended interrupts. */
	wr(0x05, 0x25);
	wr(0x0b, 0x22); /* AIE only */
	rd(0x0c);
	sleep_ms(1200);
	assert_false(fake.level[PC_RTC_IRQ]);
	assert_int_equal(rd(0x0c) & 0xa0, 0x00);
	fake_loop_stop(&lt);
}

static void test_cmos_memory_sizes(void **state)
{
	struct vm *big = fake_vm_new(4 * GiB);
	struct mc146818 *r;

	(void)state;
	assert_int_equal(rd(0x15) | rd(0x16) << 8, 640);
	assert_int_equal(rd(0x17) | rd(0x18) << 8, 15 * 1024);
	assert_int_equal(rd(0x30) | rd(0x31) << 8, 15 * 1024);
	assert_int_equal(rd(0x34) | rd(0x35) << 8, 0);
	assert_int_equal(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0);

	/* The same device on a 4 GiB machine: 3 GiB low, 1 GiB high. */
	mc146818_free(rtc);
	fake_vm_free(vm);
	vm = big;
	big->ncpus = 4;
	r = rtc = mc146818_new(vm);
	assert_non_null(r);
	assert_int_equal(rd(0x17) | rd(0x18) << 8, 0xffff);
	assert_int_equal(rd(0x34) | rd(0x35) << 8, (3 * GiB - 16 * MiB) / (64 * KiB));
	assert_int_equal(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 1 * GiB / (64 * KiB));
	assert_int_equal(rd(0x5f), 3);
	unsigned sum = 0;
	for (uint8_t i = 0x10; i <= 0x2d; i++)
		sum += rd(i);
	assert_int_equal(rd(0x2e) << 8 | rd(0x2f), sum);
}

static void test_index_port_and_nmi(void **state)
{
	(void)state;
	wr(0x40, 0x5a);
	assert_int_equal(rd(0x40), 0x5a);
	assert_false(mc146818_nmi_masked(rtc));
	vm_pio_write(vm, PC_RTC_PORT, 0x80 | 0x40, 1);
	assert_true(mc146818_nmi_masked(rtc));
	assert_int_equal(vm_pio_read(vm, PC_RTC_PORT + 1, 1), 0x5a);
	assert_int_equal(vm_pio_read(vm, PC_RTC_PORT, 1), 0xff);
	wr(0x0d, 0x00); /* D and C are read-only */
	assert_int_equal(rd(0x0d), 0x80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bcd_time_matches_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_time_binary_and_12h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_in_progress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_periodic_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_and_alarm_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmos_memory_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_port_and_nmi, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
