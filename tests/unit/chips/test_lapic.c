/* Unit tests for the local APIC (src/vmm/hw/lapic.c). */
#include "chips_test.h"

#define SVR   0xf0
#define TPR   0x80
#define PPR   0xa0
#define EOI   0xb0
#define LDR   0xd0
#define DFR   0xe0
#define ISR   0x100
#define TMR   0x180
#define IRR   0x200
#define ESR   0x280
#define ICR   0x300
#define ICR2  0x310
#define LVTT  0x320
#define LINT0 0x350
#define LINT1 0x360
#define LVTE  0x370
#define TMICT 0x380
#define TMCCT 0x390
#define TDCR  0x3e0

static void send_ipi(struct lapic *from, uint8_t dest, uint32_t icr)
{
	apic_write(from, ICR2, (uint32_t)dest << 24);
	apic_write(from, ICR, icr);
}

static void test_reset_state(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];
	uint64_t base;

	(void)state;
	assert_int_equal(apic_read(bsp, 0x20), 0);
	assert_int_equal(apic_read(ap, 0x20), 1u << 24);
	/* Version 0x14 with six LVT entries (max LVT index 5). */
	assert_int_equal(apic_read(bsp, 0x30), 0x50014);
	assert_int_equal(apic_read(bsp, SVR), 0xff);
	assert_int_equal(apic_read(bsp, DFR), 0xffffffff);
	assert_int_equal(apic_read(bsp, LVTT), 0x10000);
	assert_int_equal(apic_read(bsp, LINT0), 0x700); /* virtual wire on the BSP */
	assert_int_equal(apic_read(ap, LINT0), 0x10000);
	assert_true(lapic_msr_read(bsp, 0x1b, &base));
	assert_int_equal(base, 0xfee00900);
	assert_true(lapic_msr_read(ap, 0x1b, &base));
	assert_int_equal(base, 0xfee00800);
	assert_int_equal(lapic_base(bsp), 0xfee00000);
	test_vm_free(t);
}

static void test_software_disabled_drops_fixed(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	assert_int_equal(lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x30, false), 0);
	assert_false(apic_bit(a, IRR, 0x30));
	apic_enable(a);
	assert_int_equal(lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x30, false), 1);
	assert_true(apic_bit(a, IRR, 0x30));
	assert_false(apic_bit(a, TMR, 0x30));
	assert_int_equal(t->kicks[0], 1);
	assert_true(lapic_has_interrupt(a));
	test_vm_free(t);
}

static void test_priority_and_eoi(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x40, false);
	lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x50, false);
	assert_int_equal(lapic_ack_interrupt(a), 0x50);
	assert_true(apic_bit(a, ISR, 0x50));
	assert_false(apic_bit(a, IRR, 0x50));
	assert_int_equal(apic_read(a, PPR), 0x50);
	/* A lower class waits for the EOI... */
	assert_false(lapic_has_interrupt(a));
	assert_int_equal(lapic_ack_interrupt(a), -1);
	/* ...a higher one preempts, and so does nothing of the same class. */
	lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x5f, false);
	assert_false(lapic_has_interrupt(a));
	lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x61, false);
	assert_true(lapic_has_interrupt(a));
	assert_int_equal(lapic_ack_interrupt(a), 0x61);
	apic_write(a, EOI, 0);
	assert_false(apic_bit(a, ISR, 0x61));
	apic_write(a, EOI, 0);
	assert_false(apic_bit(a, ISR, 0x50));
	assert_int_equal(lapic_ack_interrupt(a), 0x5f);
	apic_write(a, EOI, 0);
	assert_int_equal(lapic_ack_interrupt(a), 0x40);
	apic_write(a, EOI, 0);
	assert_false(lapic_has_interrupt(a));
	assert_int_equal(apic_read(a, PPR), 0);
	test_vm_free(t);
}

static void test_tpr_and_cr8(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	apic_write(a, TPR, 0x50);
	assert_int_equal(lapic_get_cr8(a), 5);
	lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x55, false);
	assert_false(lapic_has_interrupt(a));
	lapic_set_cr8(a, 4);
	assert_int_equal(apic_read(a, TPR), 0x40);
	assert_true(lapic_has_interrupt(a));
	assert_int_equal(lapic_ack_interrupt(a), 0x55);
	test_vm_free(t);
}

static void test_ipi_physical_and_shorthands(void **state)
{
	struct test_vm *t = test_vm_new(3, false);
	struct lapic **l = t->sv.lapics;

	(void)state;
	for (int i = 0; i < 3; i++)
		apic_enable(l[i]);
	send_ipi(l[0], 1, 0x31);
	assert_true(apic_bit(l[1], IRR, 0x31));
	assert_false(apic_bit(l[0], IRR, 0x31) || apic_bit(l[2], IRR, 0x31));
	assert_int_equal(t->kicks[1], 1);
	assert_int_equal(apic_read(l[0], ICR) & (1u << 12), 0); /* delivery status idle */

	send_ipi(l[2], 0, 0x40000 | 0x32); /* self */
	assert_true(apic_bit(l[2], IRR, 0x32));
	assert_false(apic_bit(l[0], IRR, 0x32) || apic_bit(l[1], IRR, 0x32));

	send_ipi(l[1], 0, 0x80000 | 0x33); /* all including self */
	for (int i = 0; i < 3; i++)
		assert_true(apic_bit(l[i], IRR, 0x33));

	send_ipi(l[1], 0, 0xc0000 | 0x34); /* all excluding self */
	assert_true(apic_bit(l[0], IRR, 0x34) && apic_bit(l[2], IRR, 0x34));
	assert_false(apic_bit(l[1], IRR, 0x34));

	send_ipi(l[0], 0xff, 0x35); /* physical broadcast */
	for (int i = 0; i < 3; i++)
		assert_true(apic_bit(l[i], IRR, 0x35));
	test_vm_free(t);
}

static void test_logical_flat_and_cluster(void **state)
{
	struct test_vm *t = test_vm_new(3, false);
	struct lapic **l = t->sv.lapics;

	(void)state;
	for (int i = 0; i < 3; i++) {
		apic_enable(l[i]);
		apic_write(l[i], LDR, (1u << i) << 24);
	}
	send_ipi(l[0], 0x06, 0x800 | 0x41);
	assert_false(apic_bit(l[0], IRR, 0x41));
	assert_true(apic_bit(l[1], IRR, 0x41) && apic_bit(l[2], IRR, 0x41));
	assert_int_equal(lapic_deliver(&t->vm, 0, true, APIC_DM_FIXED, 0x42, false), 0);

	/* Cluster model: cluster in bits 7-4, members in bits 3-0. */
	for (int i = 0; i < 3; i++)
		apic_write(l[i], DFR, 0x0fffffff);
	assert_int_equal(apic_read(l[0], DFR), 0x0fffffff);
	apic_write(l[0], LDR, 0x11u << 24);
	apic_write(l[1], LDR, 0x12u << 24);
	apic_write(l[2], LDR, 0x21u << 24);
	assert_int_equal(lapic_deliver(&t->vm, 0x13, true, APIC_DM_FIXED, 0x43, false), 2);
	assert_true(apic_bit(l[0], IRR, 0x43) && apic_bit(l[1], IRR, 0x43));
	assert_false(apic_bit(l[2], IRR, 0x43));
	assert_int_equal(lapic_deliver(&t->vm, 0x21, true, APIC_DM_FIXED, 0x44, false), 1);
	assert_true(apic_bit(l[2], IRR, 0x44));
	assert_int_equal(lapic_deliver(&t->vm, 0xff, true, APIC_DM_FIXED, 0x45, false), 3);
	test_vm_free(t);
}

static void test_lowest_priority_delivers_to_one(void **state)
{
	struct test_vm *t = test_vm_new(3, false);
	struct lapic **l = t->sv.lapics;
	static const uint32_t tpr[3] = {0x20, 0x10, 0x30};

	(void)state;
	for (int i = 0; i < 3; i++) {
		apic_enable(l[i]);
		apic_write(l[i], LDR, (1u << i) << 24);
		apic_write(l[i], TPR, tpr[i]);
	}
	assert_int_equal(lapic_deliver(&t->vm, 0x07, true, APIC_DM_LOWEST, 0x51, false), 1);
	assert_true(apic_bit(l[1], IRR, 0x51));
	assert_false(apic_bit(l[0], IRR, 0x51) || apic_bit(l[2], IRR, 0x51));
	/* A software-disabled APIC is passed over. */
	apic_write(l[1], SVR, 0xff);
	assert_int_equal(lapic_deliver(&t->vm, 0x07, true, APIC_DM_LOWEST, 0x52, false), 1);
	assert_true(apic_bit(l[0], IRR, 0x52));
	apic_enable(l[1]);
	/* Equal priorities: still exactly one target each time. */
	for (int i = 0; i < 3; i++)
		apic_write(l[i], TPR, 0);
	for (unsigned v = 0x60; v < 0x66; v++) {
		int hits = 0;
		assert_int_equal(
		    lapic_deliver(&t->vm, 0x07, true, APIC_DM_LOWEST, (uint8_t)v, false), 1);
		for (int i = 0; i < 3; i++)
			hits += apic_bit(l[i], IRR, v);
		assert_int_equal(hits, 1);
	}
	test_vm_free(t);
}

static void test_init_sipi(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];
	uint8_t vec = 0;
	unsigned kicks;

	(void)state;
	apic_enable(bsp);
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_NONE);
	send_ipi(bsp, 1, 0xc500); /* INIT, level, assert */
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_INIT);
	send_ipi(bsp, 1, 0x8500); /* INIT, level, de-assert: no event */
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_NONE);
	send_ipi(bsp, 1, 0x4608); /* STARTUP, vector 8 */
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_SIPI);
	assert_int_equal(vec, 8);
	send_ipi(bsp, 1, 0x4609); /* the second SIPI finds the CPU running */
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_NONE);
	assert_true(t->kicks[1] >= 2);
	/* INIT and SIPI back to back: taking the INIT wakes the vCPU again for the SIPI. */
	send_ipi(bsp, 1, 0xc500);
	send_ipi(bsp, 1, 0x4620);
	kicks = t->kicks[1];
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_INIT);
	assert_true(t->kicks[1] > kicks);
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_SIPI);
	assert_int_equal(vec, 0x20);
	/* The BSP was never waiting for a SIPI. */
	send_ipi(ap, 0, 0x4610);
	assert_int_equal(lapic_take_event(bsp, &vec), LAPIC_EVENT_NONE);
	test_vm_free(t);
}

static void test_init_resets_registers(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];
	uint8_t vec;

	(void)state;
	apic_enable(ap);
	apic_write(ap, TPR, 0x30);
	lapic_deliver(&t->vm, 1, false, APIC_DM_FIXED, 0x70, false);
	send_ipi(bsp, 1, 0x4500);
	assert_int_equal(lapic_take_event(ap, &vec), LAPIC_EVENT_INIT);
	assert_int_equal(apic_read(ap, TPR), 0);
	assert_int_equal(apic_read(ap, SVR), 0xff);
	assert_false(apic_bit(ap, IRR, 0x70));
	assert_int_equal(apic_read(ap, 0x20), 1u << 24);
	test_vm_free(t);
}

static void test_nmi(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *bsp = t->sv.lapics[0], *ap = t->sv.lapics[1];

	(void)state;
	assert_false(lapic_take_nmi(ap));
	send_ipi(bsp, 1, 0x400);
	assert_true(lapic_take_nmi(ap));
	assert_false(lapic_take_nmi(ap));
	/* LINT1 programmed as NMI (as the MADT says). */
	apic_enable(bsp);
	apic_write(bsp, LINT1, 0x400);
	lapic_set_lint(bsp, 1, true);
	assert_true(lapic_take_nmi(bsp));
	lapic_set_lint(bsp, 1, true); /* no new edge */
	assert_false(lapic_take_nmi(bsp));
	test_vm_free(t);
}

static void test_illegal_vectors_set_esr(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *a = t->sv.lapics[0], *b = t->sv.lapics[1];

	(void)state;
	apic_enable(a);
	apic_enable(b);
	apic_write(a, LVTE, 0xfe);
	send_ipi(a, 1, 0x05);
	assert_false(apic_bit(b, IRR, 0x05));
	apic_write(a, ESR, 0); /* latch */
	assert_int_equal(apic_read(a, ESR), 0x20);
	assert_true(apic_bit(a, IRR, 0xfe)); /* the error LVT fired */
	apic_write(a, ESR, 0);
	assert_int_equal(apic_read(a, ESR), 0);
	assert_int_equal(lapic_deliver(&t->vm, 1, false, APIC_DM_FIXED, 0x03, false), 0);
	apic_write(b, ESR, 0);
	assert_int_equal(apic_read(b, ESR), 0x40);
	test_vm_free(t);
}

static void test_svr_disable_masks_lvts(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	apic_write(a, LVTT, 0x20);
	assert_int_equal(apic_read(a, LVTT), 0x20);
	apic_write(a, SVR, 0xff);
	assert_int_equal(apic_read(a, LVTT), 0x10020);
	apic_write(a, LVTE, 0x33); /* cannot be unmasked while disabled */
	assert_int_equal(apic_read(a, LVTE), 0x10033);
	test_vm_free(t);
}

static void test_timer_oneshot(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	apic_write(a, TDCR, 0xb); /* divide by 1 */
	apic_write(a, LVTT, 0x20);
	test_now_ns = 1000;
	apic_write(a, TMICT, 1000);
	assert_int_equal(lapic_poll_timer(a, 1999), 2000);
	assert_false(apic_bit(a, IRR, 0x20));
	test_now_ns = 1500;
	assert_int_equal(apic_read(a, TMCCT), 500);
	assert_int_equal(lapic_poll_timer(a, 2000), UINT64_MAX);
	assert_true(apic_bit(a, IRR, 0x20));
	test_now_ns = 2500;
	assert_int_equal(apic_read(a, TMCCT), 0);
	assert_int_equal(lapic_ack_interrupt(a), 0x20);

	/* Divide by 16: 100 counts take 1600 ns; current count follows. */
	apic_write(a, TDCR, 0x3);
	test_now_ns = 10000;
	apic_write(a, TMICT, 100);
	test_now_ns = 10800;
	assert_int_equal(apic_read(a, TMCCT), 50);
	assert_int_equal(lapic_poll_timer(a, 11599), 11600);
	assert_int_equal(lapic_poll_timer(a, 11600), UINT64_MAX);
	assert_true(apic_bit(a, IRR, 0x20));

	/* Writing 0 stops it. */
	apic_write(a, TMICT, 100);
	apic_write(a, TMICT, 0);
	assert_int_equal(lapic_poll_timer(a, UINT64_MAX - 1), UINT64_MAX);
	test_vm_free(t);
}

static void test_timer_periodic(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	apic_write(a, TDCR, 0xb);
	apic_write(a, LVTT, 0x20000 | 0x21);
	apic_write(a, TMICT, 100000); /* 100 us */
	assert_int_equal(lapic_poll_timer(a, 99999), 100000);
	assert_int_equal(lapic_poll_timer(a, 100000), 200000);
	assert_int_equal(lapic_ack_interrupt(a), 0x21);
	apic_write(a, EOI, 0);
	/* Late poll: one interrupt, the next deadline stays on the period grid. */
	assert_int_equal(lapic_poll_timer(a, 350000), 400000);
	assert_int_equal(lapic_ack_interrupt(a), 0x21);
	assert_int_equal(lapic_ack_interrupt(a), -1);
	test_now_ns = 350000;
	assert_int_equal(apic_read(a, TMCCT), 50000);
	/* Masked: keeps counting, no interrupt. */
	apic_write(a, LVTT, 0x30000 | 0x21);
	assert_int_equal(lapic_poll_timer(a, 400000), 500000);
	assert_false(apic_bit(a, IRR, 0x21));
	test_vm_free(t);
}

static void test_timer_mode_switch(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];

	(void)state;
	apic_enable(a);
	apic_write(a, TDCR, 0xb);
	apic_write(a, LVTT, 0x23);
	apic_write(a, TMICT, 100000);
	/* One-shot to periodic: the count runs on and TMICT stays. */
	test_now_ns = 40000;
	apic_write(a, LVTT, 0x20000 | 0x23);
	assert_int_equal(apic_read(a, TMICT), 100000);
	assert_int_equal(apic_read(a, TMCCT), 60000);
	assert_int_equal(lapic_poll_timer(a, 100000), 200000);
	assert_true(apic_bit(a, IRR, 0x23));
	/* Periodic to one-shot: the current period ends, then it stops. */
	apic_write(a, LVTT, 0x23);
	test_now_ns = 150000;
	assert_int_equal(apic_read(a, TMCCT), 50000);
	assert_int_equal(lapic_poll_timer(a, 200000), UINT64_MAX);
	/* Into TSC-deadline mode and out: disarmed and TMICT cleared. */
	apic_write(a, TMICT, 100000);
	apic_write(a, LVTT, 0x40000 | 0x23);
	assert_int_equal(apic_read(a, TMICT), 0);
	assert_int_equal(lapic_poll_timer(a, 1000000), UINT64_MAX);
	test_vm_free(t);
}

static void test_timer_tsc_deadline(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];
	uint64_t v;

	(void)state;
	apic_enable(a);
	/* Not in TSC-deadline mode: the MSR reads 0 and ignores writes. */
	assert_true(lapic_msr_write(a, 0x6e0, 5000));
	assert_true(lapic_msr_read(a, 0x6e0, &v));
	assert_int_equal(v, 0);
	assert_int_equal(lapic_poll_timer(a, 6000), UINT64_MAX);

	apic_write(a, LVTT, 0x40000 | 0x22);
	apic_write(a, TMICT, 10); /* ignored in this mode */
	assert_int_equal(apic_read(a, TMICT), 0);
	assert_true(lapic_msr_write(a, 0x6e0, 5000));
	assert_true(lapic_msr_read(a, 0x6e0, &v));
	assert_int_equal(v, 5000);
	assert_int_equal(lapic_poll_timer(a, 4999), 5000);
	assert_false(apic_bit(a, IRR, 0x22));
	assert_int_equal(lapic_poll_timer(a, 5000), UINT64_MAX);
	assert_true(apic_bit(a, IRR, 0x22));
	assert_true(lapic_msr_read(a, 0x6e0, &v));
	assert_int_equal(v, 0);
	/* Re-arm, then disarm with 0. */
	assert_true(lapic_msr_write(a, 0x6e0, 9000));
	assert_true(lapic_msr_write(a, 0x6e0, 0));
	assert_int_equal(lapic_poll_timer(a, 10000), UINT64_MAX);
	/* Switching mode disarms. */
	assert_true(lapic_msr_write(a, 0x6e0, 20000));
	apic_write(a, LVTT, 0x22);
	assert_int_equal(lapic_poll_timer(a, 30000), UINT64_MAX);
	test_vm_free(t);
}

static void test_x2apic(void **state)
{
	struct test_vm *t = test_vm_new(20, false);
	struct lapic *a = t->sv.lapics[0], *b = t->sv.lapics[17];
	uint64_t v;

	(void)state;
	assert_false(lapic_msr_read(a, 0x802, &v));			    /* #GP in xAPIC mode */
	assert_false(lapic_msr_write(a, 0x1b, 0xfee00000 | 0x400 | 0x100)); /* EXTD without EN */
	assert_true(lapic_msr_write(a, 0x1b, 0xfee00000 | 0xc00 | 0x100));
	assert_true(lapic_msr_write(b, 0x1b, 0xfee00000 | 0xc00));
	assert_true(lapic_msr_read(b, 0x802, &v));
	assert_int_equal(v, 17);
	assert_true(lapic_msr_read(b, 0x80d, &v));
	assert_int_equal(v, (1u << 16) | (1u << 1));	  /* cluster 1, bit 1 */
	assert_int_equal(apic_read(a, 0x30), 0xffffffff); /* MMIO is off in x2APIC mode */
	assert_false(lapic_msr_read(a, 0x80b, &v));	  /* EOI is write-only */
	assert_false(lapic_msr_read(a, 0x80e, &v));	  /* no DFR */
	assert_false(lapic_msr_write(a, 0x80d, 0));	  /* LDR is read-only */
	assert_false(lapic_msr_write(a, 0x80b, 1));	  /* EOI must write 0 */

	assert_true(lapic_msr_write(a, 0x80f, 0x1ff));
	assert_true(lapic_msr_write(b, 0x80f, 0x1ff));
	/* 64-bit ICR: physical destination 17. */
	assert_true(lapic_msr_write(a, 0x830, (17ULL << 32) | 0x55));
	assert_true(lapic_msr_read(b, 0x822, &v)); /* IRR bits 64-95: vector 0x55 */
	assert_true(v & (1u << (0x55 - 0x40)));
	/* Logical: cluster 1, member bit 1. */
	assert_true(lapic_msr_write(a, 0x830, (0x10002ULL << 32) | 0x800 | 0x56));
	assert_true(lapic_msr_read(b, 0x822, &v));
	assert_true(v & (1u << (0x56 - 0x40)));
	/* SELF IPI. */
	assert_true(lapic_msr_write(a, 0x83f, 0x57));
	assert_int_equal(lapic_ack_interrupt(a), 0x57);
	assert_true(lapic_msr_write(a, 0x80b, 0));
	/* x2APIC -> xAPIC directly is invalid; via disabled it is fine. */
	assert_false(lapic_msr_write(a, 0x1b, 0xfee00000 | 0x800 | 0x100));
	assert_true(lapic_msr_write(a, 0x1b, 0xfee00000 | 0x100));
	assert_true(lapic_msr_write(a, 0x1b, 0xfee00000 | 0x800 | 0x100));
	assert_int_equal(apic_read(a, 0x30), 0x50014);
	assert_false(lapic_msr_write(a, 0x1b, 0xfee00000 | 0x800 | 0x100 | 0x1)); /* reserved */
	test_vm_free(t);
}

static void test_hw_disable_and_relocate(void **state)
{
	struct test_vm *t = test_vm_new(1, false);
	struct lapic *a = t->sv.lapics[0];
	uint64_t v;

	(void)state;
	apic_enable(a);
	assert_true(lapic_msr_write(a, 0x1b, 0xfed00000 | 0x800));
	assert_int_equal(lapic_base(a), 0xfed00000);
	assert_true(lapic_msr_read(a, 0x1b, &v));
	assert_int_equal(v, 0xfed00900); /* the BSP flag is kept */
	assert_true(lapic_msr_write(a, 0x1b, 0xfee00000));
	assert_int_equal(lapic_deliver(&t->vm, 0, false, APIC_DM_FIXED, 0x30, false), 0);
	assert_int_equal(apic_read(a, 0x30), 0xffffffff); /* the page is not decoded */
	assert_true(lapic_msr_write(a, 0x1b, 0xfee00800));
	assert_int_equal(apic_read(a, SVR), 0xff); /* back in the reset state */
	test_vm_free(t);
}

static void test_msi(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *b = t->sv.lapics[1];

	(void)state;
	apic_enable(b);
	lapic_send_msi(&t->vm, 0xfee01000, 0x0031);
	assert_true(apic_bit(b, IRR, 0x31));
	lapic_send_msi(&t->vm, 0xfe001000, 0x0032); /* not the APIC window */
	assert_false(apic_bit(b, IRR, 0x32));
	apic_write(b, LDR, 0x02u << 24);
	lapic_send_msi(&t->vm, 0xfee02004, 0x0033); /* logical, bitmap 0x02 */
	assert_true(apic_bit(b, IRR, 0x33));
	lapic_send_msi(&t->vm, 0xfee01000, 0x8034); /* level: TMR set */
	assert_true(apic_bit(b, TMR, 0x34));
	test_vm_free(t);
}

static void test_mmio_sizes(void **state)
{
	struct test_vm *t = test_vm_new(2, false);
	struct lapic *b = t->sv.lapics[1];

	(void)state;
	assert_int_equal(lapic_mmio_read(b, 0x23, 1), 1); /* ID byte 3 */
	assert_int_equal(lapic_mmio_read(b, 0x30, 2), 0x0014);
	assert_int_equal(lapic_mmio_read(b, 0x34, 4), 0); /* padding */
	assert_int_equal(lapic_mmio_read(b, 0x1000, 4), 0);
	lapic_mmio_write(b, TPR, 0x20, 1); /* sub-dword writes are ignored */
	assert_int_equal(apic_read(b, TPR), 0);
	lapic_mmio_write(b, TPR + 4, 0x20, 4);
	assert_int_equal(apic_read(b, TPR), 0);
	test_vm_free(t);
}

/* IPIs from several threads to one target while it takes and EOIs them. */
struct storm {
	struct test_vm *t;
	unsigned sender;
	int rounds;
};

static void *storm_sender(void *opaque)
{
	struct storm *s = opaque;
	struct lapic *from = s->t->sv.lapics[s->sender];

	for (int i = 0; i < s->rounds; i++) {
		/* Distinct vectors per sender, so the final IRR shows each. */
		apic_write(from, ICR2, 0);
		apic_write(from, ICR, 0x40 + s->sender * 0x10 + (unsigned)(i & 7));
	}
	return NULL;
}

static void test_concurrent_ipis(void **state)
{
	struct test_vm *t = test_vm_new(4, false);
	struct lapic *target = t->sv.lapics[0];
	struct storm s[3];
	pthread_t th[3];
	int taken = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		apic_enable(t->sv.lapics[i]);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct storm){t, (unsigned)i + 1, 20000};
		assert_int_equal(pthread_create(&th[i], NULL, storm_sender, &s[i]), 0);
	}
	for (int i = 0; i < 20000; i++) {
		if (lapic_ack_interrupt(target) >= 0) {
			taken++;
			apic_write(target, EOI, 0);
		}
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	while (lapic_ack_interrupt(target) >= 0) {
		taken++;
		apic_write(target, EOI, 0);
	}
	assert_true(taken > 0);
	for (unsigned r = 0; r < 8; r++) {
		assert_int_equal(apic_read(target, ISR + r * 0x10), 0);
		assert_int_equal(apic_read(target, IRR + r * 0x10), 0);
	}
	assert_false(lapic_has_interrupt(target));
	test_vm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reset_state),
	    cmocka_unit_test(test_software_disabled_drops_fixed),
	    cmocka_unit_test(test_priority_and_eoi),
	    cmocka_unit_test(test_tpr_and_cr8),
	    cmocka_unit_test(test_ipi_physical_and_shorthands),
	    cmocka_unit_test(test_logical_flat_and_cluster),
	    cmocka_unit_test(test_lowest_priority_delivers_to_one),
	    cmocka_unit_test(test_init_sipi),
	    cmocka_unit_test(test_init_resets_registers),
	    cmocka_unit_test(test_nmi),
	    cmocka_unit_test(test_illegal_vectors_set_esr),
	    cmocka_unit_test(test_svr_disable_masks_lvts),
	    cmocka_unit_test(test_timer_oneshot),
	    cmocka_unit_test(test_timer_periodic),
	    cmocka_unit_test(test_timer_mode_switch),
	    cmocka_unit_test(test_timer_tsc_deadline),
	    cmocka_unit_test(test_x2apic),
	    cmocka_unit_test(test_hw_disable_and_relocate),
	    cmocka_unit_test(test_msi),
	    cmocka_unit_test(test_mmio_sizes),
	    cmocka_unit_test(test_concurrent_ipis),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
