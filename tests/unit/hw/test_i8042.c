/* i8042: the probing sequence Linux performs, IRQs, and the reset line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fake_vm.h"
#include "vmm/hw/i8042.h"

static struct vm *vm;
static struct i8042 *kbc;

static int setup(void **state)
{
	(void)state;
	vm = fake_vm_new(16 * MiB);
	kbc = i8042_new(vm);
	assert_non_null(kbc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	i8042_free(kbc);
	fake_vm_free(vm);
	return 0;
}

static uint8_t status(void)
{
	return (uint8_t)vm_pio_read(vm, PC_I8042_CMD, 1);
}

static void cmd(uint8_t c)
{
	vm_pio_write(vm, PC_I8042_CMD, c, 1);
}

static void put(uint8_t d)
{
	vm_pio_write(vm, PC_I8042_DATA, d, 1);
}

static uint8_t get(void)
{
	assert_true(status() & 0x01);
	return (uint8_t)vm_pio_read(vm, PC_I8042_DATA, 1);
}

static void test_selftest_and_config(void **state)
{
	uint8_t ctr;

	(void)state;
	assert_int_equal(status() & 0x01, 0);
	cmd(0xaa);
	assert_int_equal(get(), 0x55);
	assert_int_equal(status() & 0x05, 0x04); /* SYS, buffer empty */
	cmd(0xab);
	assert_int_equal(get(), 0x00);
	cmd(0xa9);
	assert_int_equal(get(), 0x00);
	cmd(0x20);
	ctr = get();
	assert_int_equal(ctr & 0x20, 0x20); /* mouse port disabled */
	cmd(0xa8);
	cmd(0x20);
	assert_int_equal(get() & 0x20, 0);
	cmd(0xa7);
	cmd(0xad);
	cmd(0x20);
	assert_int_equal(get() & 0x30, 0x30);
	cmd(0x60);
	put(0x47);
	cmd(0x20);
	assert_int_equal(get(), 0x47);
	/* Other internal RAM bytes are plain storage. */
	cmd(0x65);
	put(0x99);
	cmd(0x25);
	assert_int_equal(get(), 0x99);
	assert_false(vm_stop_requested(vm));
}

/* Linux's AUX checks: loopback echo arrives as mouse data on IRQ 12. */
static void test_aux_loop_irq(void **state)
{
	(void)state;
	cmd(0x60);
	put(0x03); /* both interrupts enabled */
	cmd(0xd3);
	put(0x5a);
	assert_int_equal(status() & 0x21, 0x21);
	assert_true(fake.level[PC_I8042_AUX_IRQ]);
	assert_false(fake.level[PC_I8042_KBD_IRQ]);
	assert_int_equal(get(), 0x5a);
	assert_false(fake.level[PC_I8042_AUX_IRQ]);
	cmd(0xd2);
	put(0x1c);
	assert_true(fake.level[PC_I8042_KBD_IRQ]);
	assert_int_equal(get(), 0x1c);
	assert_false(fake.level[PC_I8042_KBD_IRQ]);
	/* With interrupts disabled in the configuration byte, no IRQ. */
	cmd(0x60);
	put(0x00);
	cmd(0xd3);
	put(0xa5);
	assert_false(fake.level[PC_I8042_AUX_IRQ]);
	assert_int_equal(get(), 0xa5);
}

/* No keyboard or mouse: bytes sent to them time out at once. */
static void test_no_devices(void **state)
{
	(void)state;
	put(0xf2); /* keyboard GET ID */
	assert_int_equal(status() & 0x61, 0x41);
	assert_int_equal(get(), 0xfe);
	assert_int_equal(status() & 0x41, 0);
	cmd(0xd4);
	put(0xf2); /* mouse GET ID */
	assert_int_equal(status() & 0x61, 0x61);
	assert_int_equal(get(), 0xfe);
	assert_int_equal(status() & 0x08, 0x00); /* last write was data */
	cmd(0xa7);
	assert_int_equal(status() & 0x08, 0x08);
}

static void test_reset_pulse(void **state)
{
	(void)state;
	cmd(0xff); /* pulses nothing */
	assert_false(vm_stop_requested(vm));
	cmd(0xfe);
	assert_true(vm_stop_requested(vm));
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_RESET);
}

static void test_reset_output_port(void **state)
{
	(void)state;
	cmd(0xd0);
	assert_int_equal(get() & 0x03, 0x03);
	cmd(0xd1);
	put(0x03);
	assert_false(vm_stop_requested(vm));
	cmd(0xd1);
	put(0x02);
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_selftest_and_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aux_loop_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_output_port, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
