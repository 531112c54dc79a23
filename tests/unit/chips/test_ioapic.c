/* Unit tests for the IOAPIC (src/vmm/hw/ioapic.c), driven through its MMIO window. */
#include "chips_test.h"
#include "vmm/machine/pc.h"

#define IRR 0x200
#define TMR 0x180
#define EOI 0xb0
#define LDR 0xd0

static uint32_t io_read(struct test_vm *t, uint8_t reg)
{
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE, reg, 4);
	return (uint32_t)vm_mmio_read(&t->vm, PC_IOAPIC_BASE + 0x10, 4);
}

static void io_write(struct test_vm *t, uint8_t reg, uint32_t v)
{
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE, reg, 4);
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE + 0x10, v, 4);
}

static void set_rte(struct test_vm *t, unsigned pin, uint64_t e)
{
	io_write(t, (uint8_t)(0x11 + 2 * pin), (uint32_t)(e >> 32));
	io_write(t, (uint8_t)(0x10 + 2 * pin), (uint32_t)e);
}

static uint64_t get_rte(struct test_vm *t, unsigned pin)
{
	return (uint64_t)io_read(t, (uint8_t)(0x11 + 2 * pin)) << 32 |
	       io_read(t, (uint8_t)(0x10 + 2 * pin));
}

/* Take the pending interrupt on vCPU 0 and EOI it through the MMIO page. */
static int take_and_eoi(struct test_vm *t)
{
	int v = lapic_ack_interrupt(t->sv.lapics[0]);

	apic_write(t->sv.lapics[0], EOI, 0);
	return v;
}

static struct test_vm *setup(int ncpus)
{
	struct test_vm *t = test_vm_new(ncpus, true);

	for (int i = 0; i < ncpus; i++)
		apic_enable(t->sv.lapics[i]);
	return t;
}

static void test_id_and_version(void **state)
{
	struct test_vm *t = setup(2);

	(void)state;
	assert_int_equal(io_read(t, 1), 0x170011); /* 24 pins, version 0x11 */
	assert_int_equal(io_read(t, 0), 2u << 24); /* after the vCPUs' IDs, like the tables */
	io_write(t, 0, 5u << 24);
	assert_int_equal(io_read(t, 0), 5u << 24);
	assert_int_equal(io_read(t, 2), 5u << 24);
	io_write(t, 1, 0); /* read-only */
	assert_int_equal(io_read(t, 1), 0x170011);
	assert_int_equal(io_read(t, 0x40), 0); /* past the table */
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE, 0x13, 4);
	assert_int_equal(vm_mmio_read(&t->vm, PC_IOAPIC_BASE, 4), 0x13);
	test_vm_free(t);
}

static void test_rte_reset_and_readonly_bits(void **state)
{
	struct test_vm *t = setup(1);

	(void)state;
	for (unsigned pin = 0; pin < PC_IOAPIC_PINS; pin++)
		assert_int_equal(get_rte(t, pin), 0x10000);
	set_rte(t, 5, 0x0300000000000000ULL | 0x1f000 | 0x2345 | 0x5000);
	/* Delivery status (12) and remote IRR (14) are read-only. */
	assert_int_equal(get_rte(t, 5), 0x0300000000000000ULL | 0x1a000 | 0x0345);
	test_vm_free(t);
}

static void test_edge(void **state)
{
	struct test_vm *t = setup(1);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	set_rte(t, 4, 0x34);
	soft_chipset_set_irq(t->sv.chipset, 4, true);
	assert_true(apic_bit(a, IRR, 0x34));
	assert_false(apic_bit(a, TMR, 0x34));
	assert_int_equal(take_and_eoi(t), 0x34);
	soft_chipset_set_irq(t->sv.chipset, 4, true); /* still high: no new edge */
	assert_false(apic_bit(a, IRR, 0x34));
	soft_chipset_set_irq(t->sv.chipset, 4, false);
	soft_chipset_set_irq(t->sv.chipset, 4, true);
	assert_true(apic_bit(a, IRR, 0x34));
	test_vm_free(t);
}

static void test_masked_edge_is_lost(void **state)
{
	struct test_vm *t = setup(1);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	set_rte(t, 6, 0x10036);
	soft_chipset_set_irq(t->sv.chipset, 6, true);
	soft_chipset_set_irq(t->sv.chipset, 6, false);
	assert_false(apic_bit(a, IRR, 0x36));
	set_rte(t, 6, 0x36);
	assert_false(apic_bit(a, IRR, 0x36));
	assert_false(lapic_has_interrupt(a));
	test_vm_free(t);
}

static void test_level_redelivered_after_eoi(void **state)
{
	struct test_vm *t = setup(1);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	set_rte(t, 16, 0x8000 | 0x2000 | 0x51); /* level, active low (PCI INTx) */
	soft_chipset_set_irq(t->sv.chipset, 16, true);
	assert_true(apic_bit(a, IRR, 0x51));
	assert_true(apic_bit(a, TMR, 0x51));
	assert_true(get_rte(t, 16) & 0x4000); /* remote IRR */
	assert_int_equal(lapic_ack_interrupt(a), 0x51);
	assert_false(apic_bit(a, IRR, 0x51));
	/* Still asserted when the handler EOIs: delivered again. */
	apic_write(a, EOI, 0);
	assert_true(apic_bit(a, IRR, 0x51));
	assert_true(get_rte(t, 16) & 0x4000);
	assert_int_equal(lapic_ack_interrupt(a), 0x51);
	/* The device deasserts before the EOI: nothing more. */
	soft_chipset_set_irq(t->sv.chipset, 16, false);
	apic_write(a, EOI, 0);
	assert_false(apic_bit(a, IRR, 0x51));
	assert_false(get_rte(t, 16) & 0x4000);
	test_vm_free(t);
}

static void test_level_no_redelivery_while_remote_irr(void **state)
{
	struct test_vm *t = setup(1);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	set_rte(t, 17, 0x8000 | 0x52);
	soft_chipset_set_irq(t->sv.chipset, 17, true);
	assert_int_equal(lapic_ack_interrupt(a), 0x52);
	soft_chipset_set_irq(t->sv.chipset, 17, false);
	soft_chipset_set_irq(t->sv.chipset, 17, true);
	assert_false(apic_bit(a, IRR, 0x52)); /* remote IRR holds it back */
	apic_write(a, EOI, 0);
	assert_true(apic_bit(a, IRR, 0x52));
	test_vm_free(t);
}

static void test_level_masked_then_unmasked(void **state)
{
	struct test_vm *t = setup(1);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	set_rte(t, 18, 0x18000 | 0x53);
	soft_chipset_set_irq(t->sv.chipset, 18, true);
	assert_false(apic_bit(a, IRR, 0x53));
	set_rte(t, 18, 0x8000 | 0x53);
	assert_true(apic_bit(a, IRR, 0x53));
	test_vm_free(t);
}

static void test_edge_switch_clears_remote_irr(void **state)
{
	struct test_vm *t = setup(1);

	(void)state;
	set_rte(t, 19, 0x8000 | 0x54);
	soft_chipset_set_irq(t->sv.chipset, 19, true);
	assert_true(get_rte(t, 19) & 0x4000);
	/* Linux's EOI for version 0x11: mask, switch to edge, back to level. */
	set_rte(t, 19, 0x10000 | 0x54);
	assert_false(get_rte(t, 19) & 0x4000);
	test_vm_free(t);
}

static void test_logical_destination(void **state)
{
	struct test_vm *t = setup(2);
	struct lapic *b = t->sv.lapics[1];

	(void)state;
	apic_write(b, LDR, 0x02u << 24);
	set_rte(t, 9, 0x0200000000000000ULL | 0x800 | 0x39);
	soft_chipset_set_irq(t->sv.chipset, 9, true);
	assert_true(apic_bit(b, IRR, 0x39));
	assert_false(apic_bit(t->sv.lapics[0], IRR, 0x39));
	test_vm_free(t);
}

static void test_level_to_missing_apic(void **state)
{
	struct test_vm *t = setup(1);

	(void)state;
	set_rte(t, 20, 0x0500000000000000ULL | 0x8000 | 0x55); /* APIC 5 does not exist */
	soft_chipset_set_irq(t->sv.chipset, 20, true);
	assert_false(get_rte(t, 20) & 0x4000);
	/* Retargeting while still asserted delivers. */
	set_rte(t, 20, 0x8000 | 0x55);
	assert_true(apic_bit(t->sv.lapics[0], IRR, 0x55));
	test_vm_free(t);
}

static void test_nmi_and_lowest(void **state)
{
	struct test_vm *t = setup(2);

	(void)state;
	set_rte(t, 7, 0x0100000000000000ULL | (APIC_DM_NMI << 8));
	soft_chipset_set_irq(t->sv.chipset, 7, true);
	assert_true(lapic_take_nmi(t->sv.lapics[1]));
	apic_write(t->sv.lapics[0], LDR, 0x01u << 24);
	apic_write(t->sv.lapics[1], LDR, 0x02u << 24);
	set_rte(t, 10, 0x0300000000000000ULL | 0x800 | (APIC_DM_LOWEST << 8) | 0x3a);
	soft_chipset_set_irq(t->sv.chipset, 10, true);
	assert_int_equal(
	    apic_bit(t->sv.lapics[0], IRR, 0x3a) + apic_bit(t->sv.lapics[1], IRR, 0x3a), 1);
	test_vm_free(t);
}

static void test_sub_dword_and_odd_offsets(void **state)
{
	struct test_vm *t = setup(1);

	(void)state;
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE, 0x01, 1);
	assert_int_equal(vm_mmio_read(&t->vm, PC_IOAPIC_BASE + 0x10, 1), 0x11);
	assert_int_equal(vm_mmio_read(&t->vm, PC_IOAPIC_BASE + 0x12, 1), 0x17);
	vm_mmio_write(&t->vm, PC_IOAPIC_BASE + 0x20, 0xffffffff, 4); /* nothing there */
	assert_int_equal(vm_mmio_read(&t->vm, PC_IOAPIC_BASE + 0x20, 4), 0);
	assert_int_equal(io_read(t, 1), 0x170011);
	test_vm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_and_version),
	    cmocka_unit_test(test_rte_reset_and_readonly_bits),
	    cmocka_unit_test(test_edge),
	    cmocka_unit_test(test_masked_edge_is_lost),
	    cmocka_unit_test(test_level_redelivered_after_eoi),
	    cmocka_unit_test(test_level_no_redelivery_while_remote_irr),
	    cmocka_unit_test(test_level_masked_then_unmasked),
	    cmocka_unit_test(test_edge_switch_clears_remote_irr),
	    cmocka_unit_test(test_logical_destination),
	    cmocka_unit_test(test_level_to_missing_apic),
	    cmocka_unit_test(test_nmi_and_lowest),
	    cmocka_unit_test(test_sub_dword_and_odd_offsets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
