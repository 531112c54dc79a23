/* Unit tests for the pc e820 map (src/vmm/boot/e820.c). */
#include "boot_test.h"
#include "vmm/machine/pc.h"

/* Check ordering, no overlap, and return total RAM reported. */
static uint64_t check_map(const struct e820_entry *m, size_t n)
{
	uint64_t ram = 0;

	for (size_t i = 0; i < n; i++) {
		assert_true(m[i].size > 0);
		if (i)
			assert_true(m[i].addr >= m[i - 1].addr + m[i - 1].size);
		if (m[i].type == E820_RAM)
			ram += m[i].size;
	}
	return ram;
}

/* Find the entry containing addr, or NULL. */
static const struct e820_entry *lookup(const struct e820_entry *m, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].addr && addr - m[i].addr < m[i].size)
			return &m[i];
	return NULL;
}

static void test_small(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct e820_entry m[16];
	size_t n = pc_e820_map(vm, m, 16);

	(void)state;
	assert_int_equal(n, 6);
	assert_int_equal(m[0].addr, 0);
	assert_int_equal(m[0].size, 0x9fc00);
	assert_int_equal(m[0].type, E820_RAM);
	assert_int_equal(m[1].addr, PC_EBDA_BASE);
	assert_int_equal(m[1].addr + m[1].size, 0x100000);
	assert_int_equal(m[1].type, E820_RESERVED);
	assert_int_equal(m[2].addr, 0x100000);
	assert_int_equal(m[2].addr + m[2].size, 64 * MiB);
	assert_int_equal(m[2].type, E820_RAM);
	/* RAM reported = all RAM minus the EBDA and the 384 KiB hole below 1 MiB. */
	assert_int_equal(check_map(m, n), 64 * MiB - (0x100000 - 0x9fc00));
	assert_int_equal(lookup(m, n, PC_ECAM_BASE)->type, E820_RESERVED);
	assert_int_equal(lookup(m, n, PC_ECAM_BASE + PC_ECAM_SIZE - 1)->type, E820_RESERVED);
	assert_int_equal(lookup(m, n, PC_IOAPIC_BASE)->type, E820_RESERVED);
	assert_int_equal(lookup(m, n, PC_LAPIC_BASE)->type, E820_RESERVED);
	assert_null(lookup(m, n, 64 * MiB));
	assert_null(lookup(m, n, PC_PCI_MMIO_BASE));
	assert_null(lookup(m, n, PC_HIGH_RAM_BASE));
	test_vm_free(vm);
}

static void test_exactly_low_max(void **state)
{
	struct vm *vm = test_vm_new(PC_LOW_RAM_MAX, 2);
	struct e820_entry m[16];
	size_t n = pc_e820_map(vm, m, 16);

	(void)state;
	assert_int_equal(n, 6);
	assert_int_equal(m[2].addr + m[2].size, PC_LOW_RAM_MAX);
	assert_null(lookup(m, n, PC_HIGH_RAM_BASE));
	test_vm_free(vm);
}

static void test_high_ram(void **state)
{
	struct vm *vm = test_vm_new(4 * GiB, 1);
	struct e820_entry m[16];
	size_t n = pc_e820_map(vm, m, 16);

	(void)state;
	assert_int_equal(n, 7);
	assert_int_equal(m[2].addr + m[2].size, PC_LOW_RAM_MAX);
	assert_int_equal(m[6].addr, PC_HIGH_RAM_BASE);
	assert_int_equal(m[6].size, 4 * GiB - PC_LOW_RAM_MAX);
	assert_int_equal(m[6].type, E820_RAM);
	assert_int_equal(check_map(m, n), 4 * GiB - (0x100000 - 0x9fc00));
	test_vm_free(vm);
}

/* A short output array gets a prefix, and the return value still counts everything. */
static void test_truncated_output(void **state)
{
	struct vm *vm = test_vm_new(5 * GiB, 1);
	struct e820_entry m[3];
	struct e820_entry guard = {.addr = 0x1234};
	size_t n;

	(void)state;
	m[2] = guard;
	n = pc_e820_map(vm, m, 2);
	assert_int_equal(n, 7);
	assert_int_equal(m[1].addr, PC_EBDA_BASE);
	assert_int_equal(m[2].addr, 0x1234);
	assert_int_equal(pc_e820_map(vm, NULL, 0), 7);
	test_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small),
	    cmocka_unit_test(test_exactly_low_max),
	    cmocka_unit_test(test_high_ram),
	    cmocka_unit_test(test_truncated_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
