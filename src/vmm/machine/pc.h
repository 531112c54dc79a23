/*
 * The pc machine: where its devices live and which interrupt lines they use.
 * The firmware tables (boot/acpi.c, boot/mptable.c) describe exactly this, and
 * the device models (hw/) register exactly this, so both read it from here.
 */
#ifndef BERTH_VMM_MACHINE_PC_H
#define BERTH_VMM_MACHINE_PC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm.h"

/* ISA ports and their IRQs (GSI = IRQ, except the PIT: IRQ0 -> GSI 2 override). */
#define PC_COM1_PORT      0x3f8
#define PC_COM1_IRQ       4
#define PC_COM2_PORT      0x2f8
#define PC_COM2_IRQ       3
#define PC_I8042_DATA     0x60
#define PC_I8042_CMD      0x64
#define PC_I8042_KBD_IRQ  1
#define PC_I8042_AUX_IRQ  12
#define PC_RTC_PORT       0x70
#define PC_RTC_IRQ        8
#define PC_PIT_PORT       0x40
#define PC_PIT_IRQ        0
#define PC_PIT_GSI        2
#define PC_DEBUG_EXIT_PORT 0xf4
#define PC_RESET_PORT     0xcf9 /* reset control register (FADT RESET_REG) */
#define PC_PCI_CONFIG_PORT 0xcf8 /* 0xcf8 address, 0xcfc-0xcff data */

/* ACPI fixed hardware (PM1a event/control blocks, PM timer), its SCI. */
#define PC_ACPI_PM_BASE   0x600
#define PC_ACPI_PM1_EVT   (PC_ACPI_PM_BASE + 0) /* PM1a_STS (2) + PM1a_EN (2) */
#define PC_ACPI_PM1_CNT   (PC_ACPI_PM_BASE + 4) /* 2 bytes */
#define PC_ACPI_PM_TMR    (PC_ACPI_PM_BASE + 8) /* 4 bytes, 3.579545 MHz */
#define PC_ACPI_GPE0      (PC_ACPI_PM_BASE + 0x10) /* GPE0_STS (4) + GPE0_EN (4) */
#define PC_ACPI_PM_LEN    0x20
#define PC_ACPI_SCI_IRQ   9
#define PC_ACPI_S5_TYP    5 /* SLP_TYP value of \_S5 */

/* PCI INTx: device d, pin p (0 = INTA) is wired to GSI 16 + ((d + p) & 3), level, active low. */
#define PC_PCI_INTX_GSI_BASE 16
static inline unsigned pc_pci_intx_gsi(unsigned dev, unsigned pin)
{
	return PC_PCI_INTX_GSI_BASE + ((dev + pin) & 3);
}
#define PC_IOAPIC_PINS    24

/* Real-mode / low-memory layout used by the loaders and firmware tables. */
#define PC_EBDA_BASE      0x9fc00 /* MP floating pointer and table live here */
#define PC_BIOS_BASE      0xe0000 /* ACPI RSDP and tables: 0xe0000 - 0xfffff */
#define PC_BIOS_END       0x100000

struct chardev;
struct ns16550;
struct acpi_pm;
struct pci_host;
struct control;

/* The devices of one pc machine (vm->pc), for the parts that need to reach them. */
struct pc_machine {
	struct chardev *serial_chr;
	struct ns16550 *com1;
	struct acpi_pm *acpi_pm; /* power button for graceful shutdown */
	struct pci_host *pci;
	struct control *control; /* the control socket, if --control was given */
};

struct vmm_config;

/* Create the pc machine's devices for cfg on vm (RAM and accelerator already set up). */
int pc_machine_create(struct vm *vm, const struct vmm_config *cfg);
/* Load the kernel and firmware tables; fill the BSP's entry state. */
int pc_machine_load(struct vm *vm, const struct vmm_config *cfg, struct x86_cpu_state *bsp);
void pc_machine_destroy(struct vm *vm);
/* Is this kernel image a Linux bzImage (as opposed to Multiboot)? */
bool pc_kernel_is_linux(const char *path);

#endif
