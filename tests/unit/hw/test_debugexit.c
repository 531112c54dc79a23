/* isa-debug-exit: the stop reason and QEMU-compatible exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fake_vm.h"
#include "vmm/hw/debugexit.h"

static void test_default_port_status(void **state)
{
	struct vm *vm = fake_vm_new(16 * MiB);
	struct debugexit *d = debugexit_new(vm, PC_DEBUG_EXIT_PORT, 1);

	(void)state;
	assert_non_null(d);
	assert_false(vm_stop_requested(vm));
	vm_pio_write(vm, PC_DEBUG_EXIT_PORT, 0x10, 1);
	assert_true(vm_stop_requested(vm));
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_DEBUG_EXIT);
	assert_int_equal(atomic_load(&vm->exit_status), 0x21);
	debugexit_free(d);
	fake_vm_free(vm);
}

/* A wider device at another base: the value is truncated to the access size. */
static void test_iobase_and_sizes(void **state)
{
	struct vm *vm = fake_vm_new(16 * MiB);
	struct debugexit *d = debugexit_new(vm, 0x501, 4);

	(void)state;
	assert_non_null(d);
	vm_pio_write(vm, 0x503, 0x1234, 1); /* inside the range: value 0x34 */
	assert_int_equal(atomic_load(&vm->exit_status), 0x69);
	debugexit_free(d);
	fake_vm_free(vm);

	vm = fake_vm_new(16 * MiB);
	d = debugexit_new(vm, 0x501, 4);
	vm_pio_write(vm, 0x501, 0x7f, 4);
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_DEBUG_EXIT);
	assert_int_equal(atomic_load(&vm->exit_status), 0xff);
	debugexit_free(d);
	fake_vm_free(vm);
}

static void test_bad_config(void **state)
{
	struct vm *vm = fake_vm_new(16 * MiB);
	struct debugexit *d;

	(void)state;
	assert_null(debugexit_new(vm, 0xf4, 3));
	assert_null(debugexit_new(vm, 0xfffe, 4));
	d = debugexit_new(vm, 0xf4, 1);
	assert_non_null(d);
	assert_null(debugexit_new(vm, 0xf4, 2)); /* port taken */
	/* Reads do not stop the VM. */
	assert_int_equal(vm_pio_read(vm, 0xf4, 1), 0xff);
	assert_false(vm_stop_requested(vm));
	debugexit_free(d);
	fake_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_port_status),
	    cmocka_unit_test(test_iobase_and_sizes),
	    cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
