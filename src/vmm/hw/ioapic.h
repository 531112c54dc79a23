/*
 * The 82093AA-style I/O APIC of the pc machine: PC_IOAPIC_PINS input pins,
 * each routed by a redirection table entry to the local APICs (lapic_deliver).
 * Registers are reached through IOREGSEL (offset 0x00) and IOWIN (0x10).
 *
 * Line levels are logical: true means the device asserts its interrupt. The
 * board already accounts for a pin's electrical polarity (as KVM's in-kernel
 * IOAPIC does), so the polarity bit is kept for the guest to read back but
 * does not invert the line.
 *
 * The caller serialises every call (soft_chipset's lock).
 */
#ifndef BERTH_VMM_HW_IOAPIC_H
#define BERTH_VMM_HW_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/machine/pc.h"

#define IOAPIC_MMIO_LEN 0x1000
#define IOAPIC_REGSEL	0x00
#define IOAPIC_WINDOW	0x10
#define IOAPIC_VERSION	0x11

/* Redirection table entry fields. */
#define IOAPIC_RTE_VECTOR	  0xffULL
#define IOAPIC_RTE_DELIVERY_SHIFT 8
#define IOAPIC_RTE_DEST_LOGICAL	  (1ULL << 11)
#define IOAPIC_RTE_PENDING	  (1ULL << 12)
#define IOAPIC_RTE_ACTIVE_LOW	  (1ULL << 13)
#define IOAPIC_RTE_REMOTE_IRR	  (1ULL << 14)
#define IOAPIC_RTE_LEVEL	  (1ULL << 15)
#define IOAPIC_RTE_MASKED	  (1ULL << 16)
#define IOAPIC_RTE_DEST_SHIFT	  56

struct vm;

struct ioapic {
	struct vm *vm;
	uint32_t id; /* bits 24-27 of register 0 */
	uint8_t regsel;
	uint32_t lines; /* asserted inputs */
	uint64_t rte[PC_IOAPIC_PINS];
};

void ioapic_init(struct ioapic *io, struct vm *vm);
/* Drive input pin to level (true = asserted). */
void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);
/* A local APIC EOI'd a level-triggered vector: clear remote IRR, re-deliver if still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);
/* MMIO at offset within the IOAPIC page. */
uint64_t ioapic_read(struct ioapic *io, uint64_t offset, unsigned size);
void ioapic_write(struct ioapic *io, uint64_t offset, uint64_t value, unsigned size);

#endif
