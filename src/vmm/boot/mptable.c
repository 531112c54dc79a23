/*
 * Intel MultiProcessor Specification 1.4 tables, for guests without ACPI: the
 * floating pointer structure at the start of the EBDA, and the configuration
 * table (processors, PCI and ISA buses, the IOAPIC, I/O interrupt entries for
 * the ISA IRQs and every PCI slot's INTA-D, local interrupts ExtINT on LINT0
 * and NMI on LINT1) in the BIOS area at PC_MPTABLE_ADDR. Also the BIOS data
 * area words that point at the EBDA.
 */
#include "vmm/boot/loader.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define MP_HDR_SIZE 44
#define MP_SPEC_REV 4 /* version 1.4 */

/* Entry types and their sizes. */
enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINTR = 3, MP_LINTR = 4 };
#define MP_PROCESSOR_SIZE 20
#define MP_ENTRY_SIZE	  8

/* Interrupt types and INTI flags (polarity bits 1:0, trigger mode bits 3:2). */
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define MP_CONFORMS   0x0
#define MP_HIGH_LEVEL 0xd
#define MP_LOW_LEVEL  0xf

#define MP_BUS_PCI	  0
#define MP_BUS_ISA	  1
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE  0x600 /* family 6, as the reset value of EDX */
#define MP_CPU_FEATURES	  0x201 /* CPUID.1:EDX FPU and APIC */

/* BIOS data area: EBDA segment and conventional memory size in KiB. */
#define BDA_EBDA_SEG	 0x40e
#define BDA_BASE_MEM_KIB 0x413

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

/* An 8-byte interrupt assignment entry (I/O or local). */
static size_t put_intr(uint8_t *p, uint8_t type, uint8_t irqtype, uint16_t flags, uint8_t bus,
		       uint8_t irq, uint8_t dst, uint8_t dst_pin)
{
	p[0] = type;
	p[1] = irqtype;
	put_le16(p + 2, flags);
	p[4] = bus;
	p[5] = irq;
	p[6] = dst;
	p[7] = dst_pin;
	return MP_ENTRY_SIZE;
}

/* A bus entry with its 6-character type string. */
static size_t put_bus(uint8_t *p, uint8_t id, const char *type)
{
	p[0] = MP_BUS;
	p[1] = id;
	memcpy(p + 2, type, 6);
	return MP_ENTRY_SIZE;
}

/* Fill the configuration table; returns its length and sets *count to the entries. */
static size_t build_config(uint8_t *t, const struct vm *vm, unsigned *count)
{
	uint8_t ioapic = (uint8_t)PC_IOAPIC_ID(vm);
	size_t n = MP_HDR_SIZE;
	unsigned entries = 0;

	for (int i = 0; i < vm->ncpus; i++, entries++) {
		uint8_t *p = t + n;

		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i;
		p[2] = MP_LAPIC_VERSION;
		p[3] = 0x01 | (i == 0 ? 0x02 : 0); /* enabled, bootstrap processor */
		put_le32(p + 4, MP_CPU_SIGNATURE);
		put_le32(p + 8, MP_CPU_FEATURES);
		n += MP_PROCESSOR_SIZE;
	}
	n += put_bus(t + n, MP_BUS_PCI, "PCI   ");
	n += put_bus(t + n, MP_BUS_ISA, "ISA   ");
	entries += 2;

	t[n] = MP_IOAPIC;
	t[n + 1] = ioapic;
	t[n + 2] = MP_IOAPIC_VERSION;
	t[n + 3] = 0x01; /* enabled */
	put_le32(t + n + 4, (uint32_t)PC_IOAPIC_BASE);
	n += MP_ENTRY_SIZE;
	entries++;

	/* ISA IRQs to IOAPIC pins (IRQ0 -> pin 2; IRQ2 is the PIC cascade). */
	for (unsigned irq = 0; irq < 16; irq++) {
		unsigned pin = irq == PC_PIT_IRQ ? PC_PIT_GSI : irq;
		uint16_t flags = irq == PC_ACPI_SCI_IRQ ? MP_HIGH_LEVEL : MP_CONFORMS;

		if (irq == 2)
			continue;
		n += put_intr(t + n, MP_IOINTR, MP_INT, flags, MP_BUS_ISA, (uint8_t)irq, ioapic,
			      (uint8_t)pin);
		entries++;
	}
	/* PCI: source IRQ is device << 2 | pin (0 = INTA), level-triggered, active low. */
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			n += put_intr(t + n, MP_IOINTR, MP_INT, MP_LOW_LEVEL, MP_BUS_PCI,
				      (uint8_t)(dev << 2 | pin), ioapic,
				      (uint8_t)pc_pci_intx_gsi(dev, pin));
			entries++;
		}
	}
	n += put_intr(t + n, MP_LINTR, MP_EXTINT, MP_CONFORMS, MP_BUS_ISA, 0, 0xff, 0);
	n += put_intr(t + n, MP_LINTR, MP_NMI, MP_CONFORMS, MP_BUS_ISA, 0, 0xff, 1);
	entries += 2;

	memcpy(t, "PCMP", 4);
	put_le16(t + 4, (uint16_t)n);
	t[6] = MP_SPEC_REV;
	memcpy(t + 8, "BERTH   ", 8);
	memcpy(t + 16, "PC          ", 12);
	put_le16(t + 34, (uint16_t)entries);
	put_le32(t + 36, (uint32_t)PC_LAPIC_BASE);
	t[7] = checksum(t, n);
	*count = entries;
	return n;
}

/* Write the floating pointer, the configuration table and the BDA words. */
int pc_build_mptable(struct vm *vm)
{
	size_t max = MP_HDR_SIZE + MP_PROCESSOR_SIZE * (size_t)vm->ncpus + MP_ENTRY_SIZE * 256;
	uint8_t *t = xcalloc(1, max);
	uint8_t fp[16] = {0}, bda[4];
	unsigned entries;
	size_t len;
	int ret = -1;

	len = build_config(t, vm, &entries);
	if (len > PC_MPTABLE_END - PC_MPTABLE_ADDR) {
		log_error("MP table: %zu bytes do not fit at %#llx", len,
			  (unsigned long long)PC_MPTABLE_ADDR);
		goto out;
	}
	memcpy(fp, "_MP_", 4);
	put_le32(fp + 4, (uint32_t)PC_MPTABLE_ADDR);
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = MP_SPEC_REV;
	/* Feature bytes all zero: a configuration table is present, virtual wire mode. */
	fp[10] = checksum(fp, sizeof(fp));

	put_le16(bda, PC_EBDA_BASE >> 4);
	put_le16(bda + 2, PC_EBDA_BASE / KiB);
	if (boot_write(vm, "MP floating pointer", PC_EBDA_BASE, fp, sizeof(fp)) < 0 ||
	    boot_write(vm, "MP configuration table", PC_MPTABLE_ADDR, t, len) < 0 ||
	    boot_write(vm, "BIOS data area", BDA_EBDA_SEG, bda, 2) < 0 ||
	    boot_write(vm, "BIOS data area", BDA_BASE_MEM_KIB, bda + 2, 2) < 0)
		goto out;
	ret = 0;
out:
	free(t);
	return ret;
}
