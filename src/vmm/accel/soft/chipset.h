/*
 * The interrupt and timer chips the soft accelerator brings with it (under
 * kvm, the kernel provides them): a local APIC per vCPU, the IOAPIC, the
 * 8259 PIC pair and the 8254 PIT. Implemented in hw/lapic.c, hw/ioapic.c,
 * hw/i8259.c and hw/i8254.c; used by accel/soft.
 *
 * Time: the soft TSC counts SOFT_TSC_HZ ticks per second of CLOCK_MONOTONIC
 * since the VM started (soft_now_ns()). CPUID leaf 0x15 advertises a crystal of
 * SOFT_CRYSTAL_HZ with TSC = crystal, so Linux knows both frequencies and the
 * LAPIC timer counts at the crystal rate (before its divide configuration).
 *
 * Threads: lapic_* calls that change state may come from any thread (IPIs,
 * MSIs, the IOAPIC); each lapic has its own lock. The IOAPIC, PIC and PIT sit
 * behind the chipset's own lock, so soft_chipset_* may be called from any
 * thread with or without vm->lock. Lock order: vm->lock, chipset, one lapic.
 * The kick callback is called with the chipset lock held: it must not take
 * vm->lock.
 */
#ifndef BERTH_VMM_ACCEL_SOFT_CHIPSET_H
#define BERTH_VMM_ACCEL_SOFT_CHIPSET_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm.h"

struct lapic;
struct soft_chipset;

/* The soft accelerator's per-VM state; vm->accel_state points to it, so the
 * chips can reach each other (the IOAPIC delivers to LAPICs, a LAPIC EOIs to
 * the IOAPIC, IPIs go from LAPIC to LAPIC). */
struct soft_vm {
	struct soft_chipset *chipset;
	struct lapic *lapics[VM_MAX_VCPUS]; /* indexed by vCPU id == APIC id */
	void *priv; /* accel/soft's own data */
};

static inline struct soft_vm *soft_vm_of(struct vm *vm)
{
	return (struct soft_vm *)vm->accel_state;
}

#define SOFT_TSC_HZ     1000000000ULL
#define SOFT_CRYSTAL_HZ 1000000000ULL

/* Nanoseconds of CLOCK_MONOTONIC since soft_clock_start(). */
void soft_clock_start(void);
uint64_t soft_now_ns(void);
static inline uint64_t soft_rdtsc(void)
{
	return soft_now_ns(); /* SOFT_TSC_HZ is 1 GHz */
}

/* --- local APIC (hw/lapic.c) --- */

enum lapic_event {
	LAPIC_EVENT_NONE,
	LAPIC_EVENT_INIT, /* INIT IPI: the vCPU enters wait-for-SIPI */
	LAPIC_EVENT_SIPI, /* startup IPI: start in real mode at vector << 12 */
};

/* kick(kick_opaque) wakes the owning vCPU thread (from halt or from running).
 * The new lapic also enters itself in soft_vm_of(vm)->lapics[apic_id] if free. */
struct lapic *lapic_new(struct vm *vm, unsigned apic_id, bool bsp, void (*kick)(void *),
			void *kick_opaque);
void lapic_free(struct lapic *apic);
void lapic_reset(struct lapic *apic);

/* MMIO at the APIC base (offset within the 4 KiB page), from the owning vCPU. */
uint64_t lapic_mmio_read(struct lapic *apic, uint64_t offset, unsigned size);
void lapic_mmio_write(struct lapic *apic, uint64_t offset, uint64_t value, unsigned size);
/* APIC base address (from IA32_APIC_BASE); the vCPU routes MMIO there to its lapic. */
uint64_t lapic_base(struct lapic *apic);
/* MSRs the LAPIC owns: IA32_APIC_BASE (0x1b), IA32_TSC_DEADLINE (0x6e0), x2APIC 0x800-0x8ff.
 * Return false if msr is not the LAPIC's or the access faults (#GP). */
bool lapic_msr_read(struct lapic *apic, uint32_t msr, uint64_t *value);
bool lapic_msr_write(struct lapic *apic, uint32_t msr, uint64_t value);

/* CR8 is the TPR's top four bits. */
uint8_t lapic_get_cr8(struct lapic *apic);
void lapic_set_cr8(struct lapic *apic, uint8_t cr8);

/* Is an interrupt deliverable now (ignoring RFLAGS.IF, which the CPU checks)? */
bool lapic_has_interrupt(struct lapic *apic);
/* The CPU takes an interrupt: return its vector and move it from IRR to ISR
 * (or take the PIC's vector for ExtINT); -1 if nothing is deliverable. */
int lapic_ack_interrupt(struct lapic *apic);
/* NMI pending (LINT1 or NMI IPI)? Clears it. */
bool lapic_take_nmi(struct lapic *apic);
/* INIT/SIPI pending for this vCPU? Clears it; sets *sipi_vector for SIPI. One event
 * per call (INIT first); if another is still pending the vCPU is kicked again. */
enum lapic_event lapic_take_event(struct lapic *apic, uint8_t *sipi_vector);

/* The PIC's INT output (pin 0) or an NMI source (pin 1) drove LINTpin to level. */
void lapic_set_lint(struct lapic *apic, unsigned pin, bool level);
/* Wake the owning vCPU so it re-evaluates interrupts and deadlines. */
void lapic_kick(struct lapic *apic);

/* Fire the timer if it expired by now_ns; return the next deadline (ns) or UINT64_MAX. */
uint64_t lapic_poll_timer(struct lapic *apic, uint64_t now_ns);

/* Delivery modes of interrupt messages (ICR, IOAPIC redirection entries, MSI data). */
enum apic_delivery_mode {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_STARTUP = 6,
	APIC_DM_EXTINT = 7,
};

/* Deliver an interrupt message to the APICs it addresses (IOAPIC, MSI and IPIs use this).
 * Returns how many APICs accepted it (the IOAPIC sets remote IRR only if one did). */
int lapic_deliver(struct vm *vm, uint32_t dest, bool logical, unsigned delivery_mode,
		  uint8_t vector, bool level_trigger);
/* Decode and deliver an MSI (address 0xfeeXXXXX, data). */
void lapic_send_msi(struct vm *vm, uint64_t addr, uint32_t data);

/* --- IOAPIC, PIC and PIT (hw/ioapic.c, hw/i8259.c, hw/i8254.c), one set per VM --- */

/* Create the chips and register IOAPIC MMIO (0xfec00000) and PIC/PIT ports. */
struct soft_chipset *soft_chipset_new(struct vm *vm);
void soft_chipset_free(struct soft_chipset *cs);
/* Drive a GSI: IOAPIC pin gsi, and for gsi < 16 the matching PIC line. */
void soft_chipset_set_irq(struct soft_chipset *cs, unsigned gsi, bool level);
/* A LAPIC EOI'd a level-triggered vector: the IOAPIC re-checks its lines. */
void soft_chipset_eoi(struct soft_chipset *cs, uint8_t vector);
/* The PIC's pending vector for an ExtINT acknowledge, or -1. */
int soft_chipset_pic_ack(struct soft_chipset *cs);
bool soft_chipset_pic_pending(struct soft_chipset *cs);
/* Advance the PIT to now_ns (raising IRQ0 as it counts); return its next deadline. */
uint64_t soft_chipset_poll(struct soft_chipset *cs, uint64_t now_ns);

#endif
