/*
 * Test harness for the soft accelerator's chips: a controllable clock (this
 * file defines soft_now_ns(), which the chips call), and a hand-built struct
 * vm with real I/O buses, a struct soft_vm, one lapic per vCPU and a fake
 * kick that counts wake-ups per vCPU.
 */
#ifndef BERTH_TESTS_CHIPS_TEST_H
#define BERTH_TESTS_CHIPS_TEST_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "vmm/accel/soft/chipset.h"
#include "vmm/vm.h"

/* Guest time as the chips see it; tests move it by hand. */
static uint64_t test_now_ns;

uint64_t soft_now_ns(void)
{
	return __atomic_load_n(&test_now_ns, __ATOMIC_RELAXED);
}

struct test_vm {
	struct vm vm;
	struct soft_vm sv;
	unsigned kicks[VM_MAX_VCPUS];
};

static void test_kick(void *opaque)
{
	__atomic_fetch_add((unsigned *)opaque, 1, __ATOMIC_RELAXED);
}

/* A VM with ncpus lapics (vCPU 0 the BSP) and, if asked, the chipset on its buses. */
static inline struct test_vm *test_vm_new(int ncpus, bool chipset)
{
	struct test_vm *t = xcalloc(1, sizeof(*t));

	test_now_ns = 0;
	t->vm.name = "test";
	t->vm.ncpus = ncpus;
	t->vm.accel_state = &t->sv;
	t->vm.pio.name = "pio";
	t->vm.mmio.name = "mmio";
	pthread_mutex_init(&t->vm.lock, NULL);
	for (int i = 0; i < ncpus; i++) {
		t->sv.lapics[i] = lapic_new(&t->vm, (unsigned)i, i == 0, test_kick, &t->kicks[i]);
		assert_non_null(t->sv.lapics[i]);
	}
	if (chipset) {
		t->sv.chipset = soft_chipset_new(&t->vm);
		assert_non_null(t->sv.chipset);
	}
	return t;
}

static inline void test_vm_free(struct test_vm *t)
{
	soft_chipset_free(t->sv.chipset);
	for (int i = 0; i < t->vm.ncpus; i++)
		lapic_free(t->sv.lapics[i]);
	iobus_free(&t->vm.pio);
	iobus_free(&t->vm.mmio);
	pthread_mutex_destroy(&t->vm.lock);
	free(t);
}

/* xAPIC register access through the MMIO page. */
static inline uint32_t apic_read(struct lapic *a, unsigned reg)
{
	return (uint32_t)lapic_mmio_read(a, reg, 4);
}

static inline void apic_write(struct lapic *a, unsigned reg, uint32_t v)
{
	lapic_mmio_write(a, reg, v, 4);
}

/* Software-enable an APIC (SVR: spurious vector 0xff, enable). */
static inline void apic_enable(struct lapic *a)
{
	apic_write(a, 0xf0, 0x1ff);
}

/* Is vector v set in the 256-bit register at base (ISR 0x100, TMR 0x180, IRR 0x200)? */
static inline bool apic_bit(struct lapic *a, unsigned base, unsigned v)
{
	return apic_read(a, base + (v / 32) * 0x10) & (1u << (v % 32));
}

/* Port and MMIO access through the VM's buses, as a vCPU does. */
static inline uint8_t test_inb(struct test_vm *t, uint16_t port)
{
	return (uint8_t)vm_pio_read(&t->vm, port, 1);
}

static inline void test_outb(struct test_vm *t, uint16_t port, uint8_t v)
{
	vm_pio_write(&t->vm, port, v, 1);
}

#endif
