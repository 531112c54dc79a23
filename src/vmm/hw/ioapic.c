/*
 * I/O APIC (82093AA register model, version 0x11: no EOI register; a level
 * pin's remote IRR is cleared by the local APICs' EOI broadcast, or by
 * switching the pin to edge-triggered as Linux does for this version).
 */
#include "vmm/hw/ioapic.h"
#include "vmm/accel/soft/chipset.h"
#include "vmm/vm.h"

#include <string.h>

#define REG_ID	    0x00
#define REG_VERSION 0x01
#define REG_ARB	    0x02
#define REG_RTE	    0x10
#define ID_SHIFT    24
#define ID_MASK	    0xfu
/* Guest-writable bits of an entry's low half: vector, delivery and destination
 * mode, polarity, trigger mode and mask (delivery status and remote IRR are read-only). */
#define RTE_LO_WRITABLE 0x1afffULL

/* Send pin's interrupt if its entry allows it now. */
static void ioapic_service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	bool level = e & IOAPIC_RTE_LEVEL;
	unsigned mode = (e >> IOAPIC_RTE_DELIVERY_SHIFT) & 7;
	int accepted;

	if (e & IOAPIC_RTE_MASKED)
		return;
	if (level && (e & IOAPIC_RTE_REMOTE_IRR))
		return; /* the last one was not EOI'd yet */
	accepted = lapic_deliver(io->vm, (uint32_t)(e >> IOAPIC_RTE_DEST_SHIFT),
				 e & IOAPIC_RTE_DEST_LOGICAL, mode,
				 (uint8_t)(e & IOAPIC_RTE_VECTOR), level);
	if (level && accepted > 0 && (mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST))
		io->rte[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

/* Reset: every pin masked, ID after the vCPUs' APIC IDs. */
void ioapic_init(struct ioapic *io, struct vm *vm)
{
	memset(io, 0, sizeof(*io));
	io->vm = vm;
	/* The firmware tables give the IOAPIC the APIC ID after the vCPUs'. */
	io->id = (uint32_t)vm->ncpus & ID_MASK;
	for (unsigned i = 0; i < PC_IOAPIC_PINS; i++)
		io->rte[i] = IOAPIC_RTE_MASKED;
}

/* An input line changed. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
	uint32_t bit;
	bool was;

	if (pin >= PC_IOAPIC_PINS)
		return;
	bit = 1u << pin;
	was = io->lines & bit;
	if (level)
		io->lines |= bit;
	else
		io->lines &= ~bit;
	if (!level)
		return;
	/* Level pins deliver while asserted (remote IRR permitting), edge pins on a rising edge. */
	if ((io->rte[pin] & IOAPIC_RTE_LEVEL) || !was)
		ioapic_service(io, pin);
}

/* EOI broadcast for vector: level pins waiting on it may fire again. */
void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < PC_IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];

		if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_LEVEL) ||
		    !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
		if (io->lines & (1u << pin))
			ioapic_service(io, pin);
	}
}

/* Read the indirect register selected by IOREGSEL. */
static uint32_t ioapic_reg_read(struct ioapic *io, uint8_t reg)
{
	unsigned pin;

	switch (reg) {
	case REG_ID:
	case REG_ARB:
		return io->id << ID_SHIFT;
	case REG_VERSION:
		return IOAPIC_VERSION | (PC_IOAPIC_PINS - 1) << 16;
	default:
		pin = (reg - REG_RTE) / 2u;
		if (reg < REG_RTE || pin >= PC_IOAPIC_PINS)
			return 0;
		return (uint32_t)(reg & 1 ? io->rte[pin] >> 32 : io->rte[pin]);
	}
}

/* Write the indirect register selected by IOREGSEL. */
static void ioapic_reg_write(struct ioapic *io, uint8_t reg, uint32_t value)
{
	unsigned pin = (reg - REG_RTE) / 2u;
	uint64_t e;

	if (reg == REG_ID) {
		io->id = (value >> ID_SHIFT) & ID_MASK;
		return;
	}
	if (reg < REG_RTE || pin >= PC_IOAPIC_PINS)
		return; /* version, arbitration and undefined registers are read-only */
	e = io->rte[pin];
	if (reg & 1) {
		e = (e & 0xffffffffULL) | (uint64_t)value << 32;
	} else {
		e = (e & ~RTE_LO_WRITABLE) | (value & RTE_LO_WRITABLE);
		if (!(e & IOAPIC_RTE_LEVEL))
			e &= ~IOAPIC_RTE_REMOTE_IRR;
	}
	io->rte[pin] = e;
	/* Unmasking (or reprogramming) a level pin that is still asserted delivers it. */
	if ((e & IOAPIC_RTE_LEVEL) && (io->lines & (1u << pin)))
		ioapic_service(io, pin);
}

/* MMIO read of IOREGSEL or IOWIN. */
uint64_t ioapic_read(struct ioapic *io, uint64_t offset, unsigned size)
{
	uint32_t v;

	if (offset >= IOAPIC_WINDOW && offset < IOAPIC_WINDOW + 4)
		v = ioapic_reg_read(io, io->regsel);
	else if (offset < 4)
		v = io->regsel;
	else
		return 0;
	v >>= (offset & 3) * 8;
	return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

/* MMIO write of IOREGSEL or IOWIN (32-bit). */
void ioapic_write(struct ioapic *io, uint64_t offset, uint64_t value, unsigned size)
{
	if (offset == IOAPIC_REGSEL)
		io->regsel = (uint8_t)value;
	else if (offset == IOAPIC_WINDOW && size >= 4)
		ioapic_reg_write(io, io->regsel, (uint32_t)value);
}
