/*
 * Direct kernel boot for the pc machine (no BIOS, like QEMU's -kernel and
 * Firecracker): kernel loaders for the Linux x86 boot protocol and Multiboot v1,
 * the e820 memory map both hand to the guest, and the firmware tables (ACPI,
 * Intel MP) describing the machine of machine/pc.h.
 *
 * Low-memory layout shared by the loaders and the tables:
 *   0x00500  GDT                        0x07000  Linux boot_params (zero page)
 *   0x08ff0  initial stack (Linux)      0x09000  page tables (Linux) / Multiboot info
 *   0x20000  Linux command line         0x9fc00  EBDA: MP floating pointer
 *   0xe0000  ACPI RSDP and tables       0xf0000  MP configuration table
 * Kernels load at 1 MiB or above.
 *
 * Call pc_build_firmware_tables() before boot_load_kernel(): the Linux loader
 * then passes the RSDP address in boot_params (it is found by the BIOS-area scan
 * otherwise).
 */
#ifndef BERTH_VMM_BOOT_BOOT_H
#define BERTH_VMM_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/machine/pc.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

/* One BIOS e820 entry, laid out as in Linux's boot_params and Multiboot's mmap. */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
	E820_NVS = 4,
};

/* Where the loaders and tables put things (see the layout above). */
#define BOOT_GDT_ADDR	     0x500ULL
#define BOOT_ZERO_PAGE_ADDR  0x7000ULL
#define BOOT_STACK_TOP	     0x8ff0ULL
#define BOOT_PAGE_TABLE_ADDR 0x9000ULL /* PML4, PDPT, then 4 page directories */
#define BOOT_MBI_ADDR	     0x9000ULL /* Multiboot: info, mmap, loader name */
#define BOOT_CMDLINE_ADDR    0x20000ULL
#define BOOT_CMDLINE_MAX     (PC_EBDA_BASE - BOOT_CMDLINE_ADDR)
#define BOOT_LOW_DATA_END    0x20000ULL /* loader data below; kernels never load there */
#define PC_ACPI_RSDP_ADDR    PC_BIOS_BASE
#define PC_ACPI_TABLES_END   0xf0000ULL
#define PC_MPTABLE_ADDR	     0xf0000ULL
#define PC_MPTABLE_END	     0x100000ULL

/* The PCI bus range that MCFG and the PCI0 host bridge describe. */
#define PC_PCI_BUS_FIRST 0
#define PC_PCI_BUS_LAST	 255
/* APIC ID of the IOAPIC in MADT and the MP table (after the vCPUs' IDs 0..ncpus-1). */
#define PC_IOAPIC_ID(vm) ((unsigned)(vm)->ncpus)

/*
 * Fill out[0..max) with the machine's e820 map in ascending order and return
 * the number of entries the full map has (which may exceed max).
 */
size_t pc_e820_map(const struct vm *vm, struct e820_entry *out, size_t max);

/*
 * Load a kernel image into guest RAM and set *bsp to its entry state. The
 * format is detected: Linux bzImage ("HdrS") or Multiboot v1 (ELF32 or a.out
 * kludge). initrd may be NULL; for Multiboot it is a comma-separated module
 * list (",," for a literal comma, "path args" gives a module command line),
 * as with QEMU. cmdline may be NULL. Returns 0, or -1 after logging one error.
 */
int boot_load_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
		     struct x86_cpu_state *bsp);

/*
 * Write the firmware tables (ACPI at PC_ACPI_RSDP_ADDR, MP table in the EBDA
 * and at PC_MPTABLE_ADDR, BIOS data area words) into guest RAM. 0 or -1 (logged).
 */
int pc_build_firmware_tables(struct vm *vm);
int pc_build_acpi_tables(struct vm *vm);
int pc_build_mptable(struct vm *vm);

#endif
