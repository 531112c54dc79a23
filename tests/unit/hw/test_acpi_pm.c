/* ACPI fixed hardware: S5 power-off, power button SCI, PM timer, GPE, reset register. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "fake_vm.h"
#include "vmm/hw/acpi_pm.h"

#define STS PC_ACPI_PM1_EVT
#define EN  (PC_ACPI_PM1_EVT + 2)
#define CNT PC_ACPI_PM1_CNT
#define SCI PC_ACPI_SCI_IRQ

static struct vm *vm;
static struct acpi_pm *pm;

static int setup(void **state)
{
	(void)state;
	vm = fake_vm_new(16 * MiB);
	pm = acpi_pm_new(vm);
	assert_non_null(pm);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	acpi_pm_free(pm);
	fake_vm_free(vm);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void test_s5_poweroff(void **state)
{
	(void)state;
	assert_int_equal(vm_pio_read(vm, CNT, 2), 0x0001);	 /* SCI_EN: ACPI mode */
	vm_pio_write(vm, CNT, 0x0001 | PC_ACPI_S5_TYP << 10, 2); /* SLP_TYP without SLP_EN */
	assert_false(vm_stop_requested(vm));
	assert_int_equal(vm_pio_read(vm, CNT, 2), 0x0001 | PC_ACPI_S5_TYP << 10);
	vm_pio_write(vm, CNT, 0x2001 | PC_ACPI_S5_TYP << 10, 2);
	assert_true(vm_stop_requested(vm));
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
	assert_int_equal(atomic_load(&vm->exit_status), 0);
	assert_int_equal(vm_pio_read(vm, CNT, 2) & 0x2000, 0); /* SLP_EN reads as 0 */
}

/* The high byte alone carries SLP_TYP and SLP_EN (byte access, as ACPICA may use). */
static void test_s5_byte_write_and_other_sleep_types(void **state)
{
	(void)state;
	vm_pio_write(vm, CNT + 1, 0x20 | 1 << 2, 1); /* S1: unsupported, wakes at once */
	assert_false(vm_stop_requested(vm));
	assert_int_equal(vm_pio_read(vm, STS, 2) & 0x8000, 0x8000);
	vm_pio_write(vm, STS, 0x8000, 2);
	assert_int_equal(vm_pio_read(vm, STS, 2) & 0x8000, 0);
	vm_pio_write(vm, CNT + 1, 0x20 | PC_ACPI_S5_TYP << 2, 1);
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
}

static void test_power_button_sci(void **state)
{
	(void)state;
	acpi_pm_power_button(pm);
	assert_int_equal(vm_pio_read(vm, STS, 2) & 0x0100, 0x0100);
	assert_false(fake.level[SCI]); /* not enabled yet */
	vm_pio_write(vm, EN, 0x0100, 2);
	assert_true(fake.level[SCI]);
	vm_pio_write(vm, STS, 0x0020, 2); /* clearing another bit changes nothing */
	assert_true(fake.level[SCI]);
	vm_pio_write(vm, STS, 0x0100, 2); /* write 1 to clear */
	assert_false(fake.level[SCI]);
	assert_int_equal(vm_pio_read(vm, STS, 2) & 0x0100, 0);
	/* Without SCI_EN the SCI stays low. */
	vm_pio_write(vm, CNT, 0x0000, 2);
	acpi_pm_power_button(pm);
	assert_false(fake.level[SCI]);
	vm_pio_write(vm, CNT, 0x0001, 2);
	assert_true(fake.level[SCI]);
	assert_false(vm_stop_requested(vm));
	assert_int_equal(vm_pio_read(vm, EN, 2), 0x0100);
}

static void test_pm_timer(void **state)
{
	uint32_t a, b;
	struct timespec t0, t1;
	double secs, rate;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	a = (uint32_t)vm_pio_read(vm, PC_ACPI_PM_TMR, 4);
	sleep_ms(100);
	b = (uint32_t)vm_pio_read(vm, PC_ACPI_PM_TMR, 4);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(a <= 0xffffff && b <= 0xffffff);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	rate = (double)((b - a) & 0xffffff) / secs;
	assert_true(rate > 3579545 * 0.8 && rate < 3579545 * 1.05);
	/* The timer is read-only. */
	vm_pio_write(vm, PC_ACPI_PM_TMR, 0, 4);
	assert_true(((uint32_t)vm_pio_read(vm, PC_ACPI_PM_TMR, 4) - b) < 3579545);
}

/* TMR_EN: bit 23 of the counter toggles every 2.34 s and raises the SCI. */
static void test_pm_timer_overflow_sci(void **state)
{
	struct fake_loop_thread lt;

	(void)state;
	vm_pio_write(vm, STS, 0x0001, 2);
	fake_loop_start(&lt, vm);
	vm_pio_write(vm, EN, 0x0001, 2);
	for (int i = 0; i < 2600 && !fake.level[SCI]; i++)
		sleep_ms(1);
	assert_true(fake.level[SCI]);
	assert_int_equal(vm_pio_read(vm, STS, 2) & 1, 1);
	vm_pio_write(vm, STS, 0x0001, 2);
	assert_false(fake.level[SCI]);
	fake_loop_stop(&lt);
}

static void test_gpe(void **state)
{
	(void)state;
	pthread_mutex_lock(&vm->lock);
	acpi_pm_gpe_set(pm, 9);
	pthread_mutex_unlock(&vm->lock);
	assert_int_equal(vm_pio_read(vm, PC_ACPI_GPE0, 4), 1u << 9);
	assert_false(fake.level[SCI]);
	vm_pio_write(vm, PC_ACPI_GPE0 + 5, 0x02, 1); /* GPE0_EN bit 9, byte access */
	assert_int_equal(vm_pio_read(vm, PC_ACPI_GPE0 + 4, 4), 1u << 9);
	assert_true(fake.level[SCI]);
	vm_pio_write(vm, PC_ACPI_GPE0 + 1, 0x02, 1);
	assert_false(fake.level[SCI]);
	assert_int_equal(vm_pio_read(vm, PC_ACPI_GPE0, 4), 0);
}

static void test_reset_register(void **state)
{
	(void)state;
	vm_pio_write(vm, PC_RESET_PORT, 0x02, 1);
	assert_false(vm_stop_requested(vm));
	assert_int_equal(vm_pio_read(vm, PC_RESET_PORT, 1), 0x02);
	vm_pio_write(vm, PC_RESET_PORT, 0x06, 1);
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_s5_poweroff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_s5_byte_write_and_other_sleep_types, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pm_timer_overflow_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gpe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
