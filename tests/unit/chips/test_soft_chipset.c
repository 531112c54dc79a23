/*
 * Unit tests for the chipset glue (src/vmm/hw/soft_chipset.c): bus registration,
 * GSI routing, and the timer paths Linux's check_timer tries (PIT through
 * IOAPIC pin 2, through the 8259 and LINT0 as ExtINT or as a fixed vector,
 * through an IOAPIC ExtINT entry).
 */
#include "chips_test.h"
#include "vmm/machine/pc.h"

#define IRR   0x200
#define EOI   0xb0
#define LINT0 0x350

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

/* Linux's init_8259A through the ports: vectors 0x30/0x38, then the given masks. */
static void pic_init(struct test_vm *t, uint8_t master_mask, uint8_t slave_mask)
{
	static const uint8_t seq[2][4] = {{0x11, 0x30, 0x04, 0x01}, {0x11, 0x38, 0x02, 0x01}};

	for (unsigned c = 0; c < 2; c++) {
		uint16_t base = c ? 0xa0 : 0x20;
		test_outb(t, base, seq[c][0]);
		for (unsigned i = 1; i < 4; i++)
			test_outb(t, base + 1, seq[c][i]);
	}
	test_outb(t, 0x21, master_mask);
	test_outb(t, 0xa1, slave_mask);
}

/* PIT channel 0 as a 1 kHz rate generator, started at the current test time. */
static void pit_start(struct test_vm *t)
{
	test_outb(t, 0x43, 0x34);
	test_outb(t, 0x40, 1193 & 0xff);
	test_outb(t, 0x40, 1193 >> 8);
}

/* Run the PIT until its next interrupt. */
static void pit_fire(struct test_vm *t)
{
	uint64_t next = soft_chipset_poll(t->sv.chipset, test_now_ns);

	assert_int_not_equal(next, UINT64_MAX);
	test_now_ns = next;
	soft_chipset_poll(t->sv.chipset, next);
}

static void test_registration(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	static const uint16_t ports[] = {0x20, 0x21, 0xa0, 0xa1,  0x40, 0x41,
					 0x42, 0x43, 0x61, 0x4d0, 0x4d1};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		assert_non_null(iobus_find(&t->vm.pio, ports[i]));
	assert_null(iobus_find(&t->vm.pio, 0x60));
	assert_null(iobus_find(&t->vm.pio, 0x22));
	assert_null(iobus_find(&t->vm.pio, 0x62));
	assert_non_null(iobus_find(&t->vm.mmio, PC_IOAPIC_BASE));
	assert_non_null(iobus_find(&t->vm.mmio, PC_IOAPIC_BASE + 0xfff));
	assert_null(iobus_find(&t->vm.mmio, PC_IOAPIC_BASE + 0x1000));
	test_vm_free(t);
}

static const struct io_ops no_ops;

static void test_registration_conflict_unwinds(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	int dummy;

	(void)state;
	assert_int_equal(iobus_add(&t->vm.pio, 0x61, 1, &no_ops, &dummy, "taken"), 0);
	assert_null(soft_chipset_new(&t->vm));
	/* Nothing it registered before the conflict is left behind. */
	assert_int_equal(t->vm.pio.count, 1);
	assert_int_equal(t->vm.mmio.count, 0);
	test_vm_free(t);
}

static void test_pit_through_ioapic_pin2(void **state)
{
	struct test_vm *t = test_vm_new(2, true);
	struct lapic *bsp = t->sv.lapics[0];

	(void)state;
	apic_enable(bsp);
	set_rte(t, 2, 0x30);
	pit_start(t);
	assert_int_equal(soft_chipset_poll(t->sv.chipset, 0),
			 (1193ULL * 1000000000 + 1193181) / 1193182);
	pit_fire(t);
	assert_true(apic_bit(bsp, IRR, 0x30));
	assert_int_equal(lapic_ack_interrupt(bsp), 0x30);
	apic_write(bsp, EOI, 0);
	pit_fire(t);
	assert_int_equal(lapic_ack_interrupt(bsp), 0x30);
	/* The 8259 still masks IRQ0: nothing arrives through LINT0. */
	assert_false(soft_chipset_pic_pending(t->sv.chipset));
	test_vm_free(t);
}

static void test_pit_through_pic_extint(void **state)
{
	struct test_vm *t = test_vm_new(2, true);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];
	unsigned kicks;

	(void)state;
	apic_enable(bsp);
	apic_enable(ap);
	pic_init(t, 0xfe, 0xff);
	pit_start(t);
	kicks = t->kicks[0];
	pit_fire(t);
	assert_true(soft_chipset_pic_pending(t->sv.chipset));
	assert_true(t->kicks[0] > kicks);      /* the BSP was woken */
	assert_true(lapic_has_interrupt(bsp)); /* LINT0 is ExtINT on the BSP */
	assert_false(lapic_has_interrupt(ap)); /* and masked on the AP */
	assert_int_equal(lapic_ack_interrupt(bsp), 0x30);
	assert_false(lapic_has_interrupt(bsp));
	test_outb(t, 0x20, 0x0b);
	assert_int_equal(test_inb(t, 0x20), 0x01); /* IRQ0 in service at the 8259 */
	test_outb(t, 0x20, 0x20);
	/* Masking LINT0 stops the virtual wire. */
	apic_write(bsp, LINT0, 0x10700);
	pit_fire(t);
	assert_true(soft_chipset_pic_pending(t->sv.chipset));
	assert_false(lapic_has_interrupt(bsp));
	test_vm_free(t);
}

static void test_virtual_wire_fixed_vector(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	struct lapic *bsp = t->sv.lapics[0];

	(void)state;
	apic_enable(bsp);
	pic_init(t, 0xfe, 0xff);
	/* check_timer's "Virtual Wire IRQ": LINT0 as a fixed interrupt with the timer's vector. */
	apic_write(bsp, LINT0, 0x31);
	pit_start(t);
	pit_fire(t);
	assert_true(apic_bit(bsp, IRR, 0x31));
	assert_int_equal(lapic_ack_interrupt(bsp), 0x31);
	test_vm_free(t);
}

static void test_pic_reaches_disabled_apic_bsp(void **state)
{
	struct test_vm *t = test_vm_new(2, true);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];

	(void)state;
	/* IA32_APIC_BASE.EN = 0: LINT0 becomes the CPU's INTR pin (on the BSP). */
	assert_true(lapic_msr_write(bsp, 0x1b, 0xfee00000));
	assert_true(lapic_msr_write(ap, 0x1b, 0xfee00000));
	pic_init(t, 0xef, 0xff);
	soft_chipset_set_irq(t->sv.chipset, 4, true);
	assert_true(lapic_has_interrupt(bsp));
	assert_false(lapic_has_interrupt(ap));
	assert_int_equal(lapic_ack_interrupt(bsp), 0x34);
	test_vm_free(t);
}

static void test_extint_through_ioapic(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	struct lapic *bsp = t->sv.lapics[0];

	(void)state;
	apic_enable(bsp);
	apic_write(bsp, LINT0, 0x10700); /* LINT0 off: only the IOAPIC path remains */
	pic_init(t, 0xfe, 0xff);
	set_rte(t, 2, APIC_DM_EXTINT << 8);
	pit_start(t);
	pit_fire(t);
	assert_true(lapic_has_interrupt(bsp));
	assert_int_equal(lapic_ack_interrupt(bsp), 0x30);
	assert_false(lapic_has_interrupt(bsp));
	test_vm_free(t);
}

static void test_gsi_routing(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	struct soft_chipset *cs = t->sv.chipset;

	(void)state;
	pic_init(t, 0x00, 0x00);
	soft_chipset_set_irq(cs, 0, true); /* GSI 0 is not IRQ0 */
	assert_false(soft_chipset_pic_pending(cs));
	soft_chipset_set_irq(cs, 2, true); /* GSI 2 is the PIT's IRQ0, not the cascade */
	assert_int_equal(soft_chipset_pic_ack(cs), 0x30);
	test_outb(t, 0x20, 0x20);
	soft_chipset_set_irq(cs, 9, true);
	assert_int_equal(soft_chipset_pic_ack(cs), 0x39);
	test_outb(t, 0xa0, 0x20);
	test_outb(t, 0x20, 0x20);
	soft_chipset_set_irq(cs, 16, true); /* PCI: IOAPIC only */
	soft_chipset_set_irq(cs, 24, true); /* no such GSI: ignored */
	assert_false(soft_chipset_pic_pending(cs));
	assert_int_equal(soft_chipset_pic_ack(cs), -1);
	test_vm_free(t);
}

static void test_ports_through_bus(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	unsigned lo, hi;

	(void)state;
	test_now_ns = 0;
	pit_start(t);
	test_now_ns = (100ULL * 1000000000 + 1193181) / 1193182; /* 100 ticks */
	test_outb(t, 0x43, 0x00);
	test_now_ns *= 5;
	lo = test_inb(t, 0x40);
	hi = test_inb(t, 0x40);
	assert_int_equal(lo | hi << 8, 1093);
	test_outb(t, 0x61, 0x03);
	assert_int_equal(test_inb(t, 0x61) & 0x03, 0x03);
	test_outb(t, 0x4d1, 0xff);
	assert_int_equal(test_inb(t, 0x4d1), 0xde);
	assert_int_equal(test_inb(t, 0x4d0), 0x00);
	assert_int_equal(test_inb(t, 0x21), 0xfb); /* BIOS-style mask */
	test_vm_free(t);
}

static void test_pit_reprogram_kicks(void **state)
{
	struct test_vm *t = test_vm_new(2, true);

	(void)state;
	pit_start(t);
	assert_true(t->kicks[0] > 0 && t->kicks[1] > 0);
	test_vm_free(t);
}

/* Interrupts from several threads while a vCPU takes and EOIs them: no deadlock, nothing lost. */
struct churn {
	struct test_vm *t;
	int rounds;
};

static void *level_churn(void *opaque)
{
	struct churn *c = opaque;

	for (int i = 0; i < c->rounds; i++) {
		soft_chipset_set_irq(c->t->sv.chipset, 16, true);
		soft_chipset_set_irq(c->t->sv.chipset, 4, true);
		soft_chipset_set_irq(c->t->sv.chipset, 16, false);
		soft_chipset_set_irq(c->t->sv.chipset, 4, false);
	}
	return NULL;
}

static void *msi_churn(void *opaque)
{
	struct churn *c = opaque;

	for (int i = 0; i < c->rounds; i++)
		lapic_send_msi(&c->t->vm, 0xfee00000, 0x41);
	return NULL;
}

static void test_threads(void **state)
{
	struct test_vm *t = test_vm_new(1, true);
	struct lapic *bsp = t->sv.lapics[0];
	struct churn c = {t, 20000};
	pthread_t th[2];
	int v;

	(void)state;
	apic_enable(bsp);
	pic_init(t, 0xef, 0xff); /* IRQ4 through the 8259 and LINT0 too */
	set_rte(t, 16, 0x8000 | 0x61);
	assert_int_equal(pthread_create(&th[0], NULL, level_churn, &c), 0);
	assert_int_equal(pthread_create(&th[1], NULL, msi_churn, &c), 0);
	for (int i = 0; i < 40000; i++) {
		v = lapic_ack_interrupt(bsp);
		if (v == 0x34)
			test_outb(t, 0x20, 0x20);
		else if (v >= 0)
			apic_write(bsp, EOI, 0);
	}
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	while ((v = lapic_ack_interrupt(bsp)) >= 0) {
		if (v == 0x34)
			test_outb(t, 0x20, 0x20);
		else
			apic_write(bsp, EOI, 0);
	}
	/* Line 16 ended deasserted, so once EOI'd nothing stays in flight. */
	assert_false(lapic_has_interrupt(bsp));
	assert_false(soft_chipset_pic_pending(t->sv.chipset));
	test_vm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registration),
	    cmocka_unit_test(test_registration_conflict_unwinds),
	    cmocka_unit_test(test_pit_through_ioapic_pin2),
	    cmocka_unit_test(test_pit_through_pic_extint),
	    cmocka_unit_test(test_virtual_wire_fixed_vector),
	    cmocka_unit_test(test_extint_through_ioapic),
	    cmocka_unit_test(test_pic_reaches_disabled_apic_bsp),
	    cmocka_unit_test(test_gsi_routing),
	    cmocka_unit_test(test_ports_through_bus),
	    cmocka_unit_test(test_pit_reprogram_kicks),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
