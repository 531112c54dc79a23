/*
 * The virtual machine as both accelerators and all devices see it: guest RAM,
 * the port-I/O and MMIO buses, interrupt lines, vCPUs, and the stop request
 * that ends berth-vmm.
 *
 * Locking: device state is protected by vm->lock (one big lock, like QEMU's
 * BQL). Accelerators take it around every device dispatch (vm_pio_*,
 * vm_mmio_*); the I/O thread takes it before touching device state.
 * Guest RAM itself is not locked.
 */
#ifndef BERTH_VMM_VM_H
#define BERTH_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/iobus.h"
#include "vmm/x86.h"

struct vm;
struct vcpu;
struct evloop;

/* Guest physical memory map of the pc machine. */
#define PC_LOW_RAM_MAX   0xc0000000ULL /* RAM below 4 GiB ends here at the latest */
#define PC_PCI_MMIO_BASE 0xc0000000ULL /* 32-bit PCI BAR window ... */
#define PC_PCI_MMIO_END  0xe0000000ULL
#define PC_ECAM_BASE     0xe0000000ULL /* PCI Express config space, 256 buses */
#define PC_ECAM_SIZE     0x10000000ULL
#define PC_IOAPIC_BASE   0xfec00000ULL
#define PC_LAPIC_BASE    0xfee00000ULL
#define PC_HIGH_RAM_BASE 0x100000000ULL

#define VM_MAX_VCPUS 64

/* Why the VM stopped; decides berth-vmm's exit status. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,   /* ACPI S5 or similar: exit 0 */
	VM_STOP_RESET,      /* guest asked for a reset (keyboard controller, triple fault...) */
	VM_STOP_DEBUG_EXIT, /* isa-debug-exit: exit (value << 1) | 1 */
	VM_STOP_SIGNAL,     /* SIGINT/SIGTERM or a control-socket quit */
	VM_STOP_ERROR,      /* an accelerator or device failed: exit 1 */
};

/* One accelerator: kvm or soft. Every function logs its own errors. */
struct accel_ops {
	const char *name;
	/*
	 * Can this host run a 64-bit Linux guest with this accelerator? On false,
	 * why holds one sentence saying what is missing.
	 */
	bool (*can_run_linux)(char *why, size_t len);
	int (*init)(struct vm *vm);
	int (*vcpu_init)(struct vcpu *cpu);
	/* Load architectural state (boot protocols set up the BSP with this). */
	int (*vcpu_set_state)(struct vcpu *cpu, const struct x86_cpu_state *st);
	/* The vCPU thread body: run until vm_stop_requested(). Returns 0 or -1. */
	int (*vcpu_run)(struct vcpu *cpu);
	/* Make a running vCPU return to its loop promptly (any thread). */
	void (*vcpu_kick)(struct vcpu *cpu);
	/* Drive an interrupt line (a GSI) of the IOAPIC/PIC (any thread). */
	void (*set_irq)(struct vm *vm, unsigned gsi, bool level);
	/* Deliver a message-signalled interrupt (any thread). */
	void (*send_msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* Device DMA wrote guest RAM (soft: invalidate cached code). May be NULL. */
	void (*ram_written)(struct vm *vm, uint64_t gpa, uint64_t len);
	void (*destroy)(struct vm *vm);
};

struct vcpu {
	struct vm *vm;
	int id;
	pthread_t thread;
	void *accel; /* the accelerator's per-vCPU state */
};

struct vm {
	const char *name;
	int ncpus;
	uint64_t ram_size;     /* total guest RAM in bytes */
	uint64_t low_ram_size; /* RAM mapped at [0, low_ram_size) */
	uint64_t high_ram_size; /* RAM mapped at [4 GiB, 4 GiB + high_ram_size) */
	uint8_t *ram;          /* host mapping; high RAM follows low RAM */

	pthread_mutex_t lock; /* the big device lock */
	struct io_bus pio, mmio;
	struct evloop *loop; /* the I/O thread's loop */

	const struct accel_ops *accel;
	void *accel_state;
	struct vcpu *vcpus[VM_MAX_VCPUS];

	/* Pause (suspend): vCPU loops call vm_vcpu_pause_point() after a kick. */
	atomic_bool pause_requested;
	int vcpus_paused; /* protected by pause_lock */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;

	atomic_int stop_reason; /* enum vm_stop_reason */
	atomic_int exit_status;

	struct pc_machine *pc; /* the machine's devices (machine/pc.h) */
};

/* Host pointer for [gpa, gpa+len) if all of it is RAM, else NULL. */
static inline void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa < vm->low_ram_size) {
		if (len > vm->low_ram_size - gpa)
			return (void *)0;
		return vm->ram + gpa;
	}
	if (gpa >= PC_HIGH_RAM_BASE && gpa - PC_HIGH_RAM_BASE < vm->high_ram_size) {
		uint64_t off = gpa - PC_HIGH_RAM_BASE;
		if (len > vm->high_ram_size - off)
			return (void *)0;
		return vm->ram + vm->low_ram_size + off;
	}
	return (void *)0;
}

/* Copy to/from guest RAM, for loaders and device DMA. Return 0, or -1 if not RAM. */
int vm_read_guest(struct vm *vm, uint64_t gpa, void *buf, uint64_t len);
int vm_write_guest(struct vm *vm, uint64_t gpa, const void *buf, uint64_t len);
/* Tell the accelerator that [gpa, gpa+len) was written other than by a vCPU. */
void vm_ram_written(struct vm *vm, uint64_t gpa, uint64_t len);

/* Allocate RAM and split it around the PCI hole. Returns 0 or -1 (logged). */
int vm_alloc_ram(struct vm *vm, uint64_t size);

/* Device dispatch with vm->lock held for the call. Unclaimed reads give all ones. */
uint64_t vm_pio_read(struct vm *vm, uint16_t port, unsigned size);
void vm_pio_write(struct vm *vm, uint16_t port, uint64_t value, unsigned size);
uint64_t vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size);
void vm_mmio_write(struct vm *vm, uint64_t gpa, uint64_t value, unsigned size);

/* Interrupts from devices (any thread, lock held or not). */
void vm_set_irq(struct vm *vm, unsigned gsi, bool level);
void vm_send_msi(struct vm *vm, uint64_t addr, uint32_t data);

/*
 * Ask the whole VM to stop (first reason wins). Kicks every vCPU and wakes the
 * I/O thread. Safe from any thread, including vCPU threads inside dispatch.
 */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status);
/*
 * Pause and resume every vCPU (control socket's stop/cont). vm_pause returns
 * once all vCPUs sit in vm_vcpu_pause_point(). Accelerators call that from
 * their run loop whenever vm->pause_requested is set (after a kick).
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
void vm_vcpu_pause_point(struct vcpu *cpu);

static inline bool vm_stop_requested(struct vm *vm)
{
	return atomic_load_explicit(&vm->stop_reason, memory_order_relaxed) != VM_RUNNING;
}

#endif
