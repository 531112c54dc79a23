/*
 * The pc machine's BIOS memory map (INT 15h E820), as SeaBIOS reports it for
 * the same layout: conventional memory up to the EBDA, the EBDA and BIOS area
 * (where the MP and ACPI tables live) reserved, RAM from 1 MiB up to the PCI
 * hole, the ECAM window and the APICs reserved, and high RAM from 4 GiB.
 */
#include "vmm/boot/boot.h"
#include "vmm/machine/pc.h"

/* Append one entry if there is room; always count it. */
static void add(struct e820_entry *out, size_t max, size_t *n, uint64_t addr, uint64_t size,
		enum e820_type type)
{
	if (*n < max)
		out[*n] = (struct e820_entry){.addr = addr, .size = size, .type = type};
	(*n)++;
}

/* Build the map; returns the number of entries of the complete map. */
size_t pc_e820_map(const struct vm *vm, struct e820_entry *out, size_t max)
{
	size_t n = 0;

	add(out, max, &n, 0, PC_EBDA_BASE, E820_RAM);
	add(out, max, &n, PC_EBDA_BASE, PC_BIOS_END - PC_EBDA_BASE, E820_RESERVED);
	if (vm->low_ram_size > PC_BIOS_END)
		add(out, max, &n, PC_BIOS_END, vm->low_ram_size - PC_BIOS_END, E820_RAM);
	add(out, max, &n, PC_ECAM_BASE, PC_ECAM_SIZE, E820_RESERVED);
	add(out, max, &n, PC_IOAPIC_BASE, 0x1000, E820_RESERVED);
	add(out, max, &n, PC_LAPIC_BASE, 0x1000, E820_RESERVED);
	if (vm->high_ram_size)
		add(out, max, &n, PC_HIGH_RAM_BASE, vm->high_ram_size, E820_RAM);
	return n;
}
