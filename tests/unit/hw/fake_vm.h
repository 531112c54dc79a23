/*
 * A hand-built struct vm for device unit tests: real I/O buses, a real (not
 * running) event loop, a small RAM, and a fake accelerator that records every
 * interrupt line level and MSI the devices produce.
 */
#ifndef BERTH_TESTS_HW_FAKE_VM_H
#define BERTH_TESTS_HW_FAKE_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#define PC_FAKE_GSIS PC_IOAPIC_PINS

#define FAKE_MAX_MSIS 64

struct fake_accel {
	bool level[PC_FAKE_GSIS];
	unsigned edges[PC_FAKE_GSIS]; /* low -> high transitions per GSI */
	unsigned nmsi;
	uint64_t msi_addr[FAKE_MAX_MSIS];
	uint32_t msi_data[FAKE_MAX_MSIS];
};

static struct fake_accel fake;

static void fake_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	(void)vm;
	if (gsi >= PC_FAKE_GSIS)
		abort();
	if (level && !fake.level[gsi])
		fake.edges[gsi]++;
	fake.level[gsi] = level;
}

static void fake_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	(void)vm;
	if (fake.nmsi < FAKE_MAX_MSIS) {
		fake.msi_addr[fake.nmsi] = addr;
		fake.msi_data[fake.nmsi] = data;
	}
	fake.nmsi++;
}

static void fake_kick(struct vcpu *cpu)
{
	(void)cpu;
}

static const struct accel_ops fake_accel_ops = {
    .name = "fake",
    .set_irq = fake_set_irq,
    .send_msi = fake_send_msi,
    .vcpu_kick = fake_kick,
};

/* A fresh VM with ram_size bytes of (low) RAM; the event loop is created, not run. */
static inline struct vm *fake_vm_new(uint64_t ram_size)
{
	struct vm *vm = xcalloc(1, sizeof(*vm));

	memset(&fake, 0, sizeof(fake));
	vm->name = "test";
	vm->ncpus = 1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	vm->accel = &fake_accel_ops;
	vm->loop = evloop_new();
	vm->ram_size = ram_size;
	vm->low_ram_size = MIN(ram_size, PC_LOW_RAM_MAX);
	vm->high_ram_size = ram_size - vm->low_ram_size;
	return vm;
}

static inline void fake_vm_free(struct vm *vm)
{
	iobus_free(&vm->pio);
	iobus_free(&vm->mmio);
	evloop_free(vm->loop);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
	free(vm);
}

/* Run the VM's event loop on a helper thread while a test waits for timers. */
struct fake_loop_thread {
	pthread_t thread;
	struct vm *vm;
};

static void *fake_loop_main(void *opaque)
{
	struct vm *vm = opaque;
	evloop_run(vm->loop);
	return NULL;
}

static inline void fake_loop_start(struct fake_loop_thread *t, struct vm *vm)
{
	t->vm = vm;
	pthread_create(&t->thread, NULL, fake_loop_main, vm);
}

static inline void fake_loop_stop(struct fake_loop_thread *t)
{
	evloop_stop(t->vm->loop);
	pthread_join(t->thread, NULL);
}

#endif
