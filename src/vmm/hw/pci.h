/*
 * The PCI host bridge of the pc machine and the API PCI device models build on.
 *
 * Host side. pci_host_new() claims configuration mechanism #1 (the address
 * register at PC_PCI_CONFIG_PORT takes dword accesses only; the data window is
 * 0xcfc-0xcff with byte/word/dword accesses at any offset), ECAM at
 * PC_ECAM_BASE (PC_ECAM_SIZE: 256 buses x 32 devices x 8 functions x 4 KiB;
 * only bus 0 is populated, one function per slot), and puts a host bridge at
 * 00:00.0 (vendor 8086, device 0d57, class 06/00/00). Absent devices,
 * functions and buses read as all ones and ignore writes. The reset control
 * register at 0xcf9 sits between the address register and the data window and
 * belongs to acpi_pm.h.
 *
 * Device side (bhyve style: an ops table plus the device's own state struct,
 * passed back to every callback as opaque):
 *
 *     static const struct pci_dev_ops my_ops = {.bar_read = ..., .bar_write = ...};
 *     d = pci_dev_new(host, -1, "virtio-blk", &my_ops, my);
 *     pci_set_ids(d, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 0x0002);
 *     pci_bar_init(d, 0, PCI_BAR_MEM64, 0x4000, false);
 *     off = pci_cap_add(d, PCI_CAP_ID_VNDR, 16);   // then fill it with pci_cfg_set()
 *     pci_msix_init(d, nvec, 0, 0x2000, 0x3000);   // table and PBA inside BAR 0
 *     pci_intx_init(d, 1);                         // INTA#
 *
 * Configuration space is 4 KiB per device (the first 256 bytes reachable
 * through 0xcf8/0xcfc) with a per-byte write mask (bits the guest may change)
 * and write-1-to-clear mask. The generic code owns the header: IDs and class
 * are read-only; command (IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE),
 * cache line size, latency timer and interrupt line are writable; status
 * shows CAP_LIST and INTX_STATUS and clears its error bits on writes of 1;
 * there is no expansion ROM. BAR sizing works by writing all ones and reading
 * back ~(size - 1) | type bits.
 *
 * A BAR is mapped on vm->pio or vm->mmio whenever its decode bit in the
 * command register is set and its address is valid (non-zero, inside the
 * address space, clear of guest RAM, of 0xfec00000-0xffffffff (IOAPIC, LAPIC,
 * MSI window, firmware) and of every other device's range). It
 * moves when the guest rewrites the BAR and disappears when decode is turned
 * off or while the address is being sized. Accesses reach the device's
 * bar_read/bar_write with the offset inside the BAR, except the MSI-X table
 * and PBA, which this module handles itself.
 *
 * INTx: pin p of slot d is wired to GSI pc_pci_intx_gsi(d, p - 1); lines
 * shared by several devices are wired-OR. pci_intx_set() drives the device's
 * pin; it is ignored while the guest set INTX_DISABLE or enabled MSI-X.
 *
 * MSI-X: pci_msix_notify() sends vector v's message (vm_send_msi) or, while
 * the vector or the whole function is masked, sets its pending bit; unmasking
 * sends pending messages.
 *
 * Locking: every callback is called with vm->lock held, and device code must
 * hold vm->lock when calling pci_intx_set(), pci_msix_notify() and the
 * config-space accessors (I/O-thread code takes it first).
 */
#ifndef BERTH_VMM_HW_PCI_H
#define BERTH_VMM_HW_PCI_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct pci_host;
struct pci_dev;

#define PCI_MAX_SLOTS 32
#define PCI_NUM_BARS  6
#define PCI_CFG_SIZE  4096 /* extended (ECAM) configuration space */

/* Standard header registers device models may need. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_ROM_ADDRESS		0x30
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d

#define PCI_COMMAND_IO		 0x0001
#define PCI_COMMAND_MEMORY	 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_PARITY	 0x0040
#define PCI_COMMAND_SERR	 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_CAP_ID_MSI	0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability layout (offsets from the capability) and table entries. */
#define PCI_MSIX_FLAGS		    2 /* message control */
#define PCI_MSIX_FLAGS_QSIZE	    0x07ff
#define PCI_MSIX_FLAGS_MASKALL	    0x4000
#define PCI_MSIX_FLAGS_ENABLE	    0x8000
#define PCI_MSIX_TABLE		    4 /* BIR in bits 2:0, offset in the rest */
#define PCI_MSIX_PBA		    8
#define PCI_MSIX_ENTRY_SIZE	    16
#define PCI_MSIX_ENTRY_ADDR_LO	    0
#define PCI_MSIX_ENTRY_ADDR_HI	    4
#define PCI_MSIX_ENTRY_DATA	    8
#define PCI_MSIX_ENTRY_CTRL	    12
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 1
#define PCI_MSIX_MAX_VECTORS	    2048

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,    /* port I/O, up to 64 KiB */
	PCI_BAR_MEM32, /* memory below 4 GiB */
	PCI_BAR_MEM64, /* memory anywhere; also uses the next BAR slot */
};

struct pci_dev_ops {
	/* Access to a BAR (offset inside it, size 1/2/4/8). NULL: reads all ones. */
	uint64_t (*bar_read)(void *opaque, int bar, uint64_t offset, unsigned size);
	void (*bar_write)(void *opaque, int bar, uint64_t offset, uint64_t value, unsigned size);
	/* Optional: may replace the value of a config read of [off, off + size). */
	void (*cfg_read)(void *opaque, unsigned off, unsigned size, uint32_t *value);
	/* Optional: a config write of [off, off + size) was applied (masks, side effects). */
	void (*cfg_write)(void *opaque, unsigned off, unsigned size, uint32_t value);
};

/* ---- the host bridge ---- */

/* Claim 0xcf8/0xcfc and ECAM, create the host bridge. NULL after logging. */
struct pci_host *pci_host_new(struct vm *vm);
/* Free the host and every device still registered on it. */
void pci_host_free(struct pci_host *h);
/*
 * Firmware-style resource assignment (what SeaBIOS does before booting):
 * give every BAR an address (I/O from 0xc000, memory in the 32-bit window
 * [PC_PCI_MMIO_BASE, PC_PCI_MMIO_END), 64-bit BARs that do not fit there above
 * RAM), and enable I/O and memory decoding. Optional: Linux assigns unassigned
 * BARs itself. Returns 0, or -1 after logging if a window is exhausted.
 */
int pci_host_assign_bars(struct pci_host *h);

/* ---- devices ---- */

/*
 * Register a device at bus 0 slot (1-31), or at the first free slot if slot
 * < 0. name is used in messages. Returns NULL after logging if the slot is
 * taken or invalid. The device starts with all-zero IDs: call pci_set_ids().
 */
struct pci_dev *pci_dev_new(struct pci_host *h, int slot, const char *name,
			    const struct pci_dev_ops *ops, void *opaque);
/* Unregister a device: unmap its BARs, release its interrupt line. */
void pci_dev_free(struct pci_dev *d);
int pci_dev_slot(const struct pci_dev *d);

/* Set the read-only identity. class_code is base << 16 | sub << 8 | prog-if. */
void pci_set_ids(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		 uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);

/*
 * Declare BAR bar (0-5; 0-4 for MEM64) of size bytes, a power of two (at least
 * 4 for I/O, 16 for memory; I/O at most 256). Returns 0 or -1 after logging.
 */
int pci_bar_init(struct pci_dev *d, int bar, enum pci_bar_type type, uint64_t size,
		 bool prefetchable);
/* The BAR's guest address while mapped, or 0 while it is not. */
uint64_t pci_bar_mapped_addr(const struct pci_dev *d, int bar);

/* Does the command register allow the device to master the bus (DMA)? */
bool pci_bus_master_enabled(const struct pci_dev *d);

/*
 * Add a capability of len bytes (header included) with the given ID to the
 * list. Returns its config offset (>= 0x40), or -1 after logging if config
 * space is full. Its bytes start zero and read-only: use pci_cfg_set() and
 * pci_cfg_set_wmask() to fill it in.
 */
int pci_cap_add(struct pci_dev *d, uint8_t id, unsigned len);
/* Offset of the first capability with this ID, or 0 if none. */
unsigned pci_cap_find(const struct pci_dev *d, uint8_t id);

/* Raw config space for the device model: no masks, no side effects. size 1/2/4. */
uint32_t pci_cfg_get(const struct pci_dev *d, unsigned off, unsigned size);
void pci_cfg_set(struct pci_dev *d, unsigned off, unsigned size, uint32_t value);
/* Which bits of [off, off + size) the guest may write / clear by writing 1. */
void pci_cfg_set_wmask(struct pci_dev *d, unsigned off, unsigned size, uint32_t mask);
void pci_cfg_set_w1cmask(struct pci_dev *d, unsigned off, unsigned size, uint32_t mask);

/* Use interrupt pin 1-4 (INTA#-INTD#); sets the pin and line registers. */
void pci_intx_init(struct pci_dev *d, unsigned pin);
/* Drive the device's INTx pin (level-triggered). */
void pci_intx_set(struct pci_dev *d, bool asserted);

/*
 * Add an MSI-X capability with nvec vectors (1-2048) whose table and PBA live
 * in BAR bar (already declared, large enough) at the given offsets (table
 * 16-byte entries, 8-byte aligned; PBA 8-byte aligned). Vectors start masked.
 * Returns the capability offset or -1 after logging.
 */
int pci_msix_init(struct pci_dev *d, unsigned nvec, int bar, uint32_t table_off, uint32_t pba_off);
/* Has the guest enabled MSI-X (the MSI-X Enable bit)? */
bool pci_msix_enabled(const struct pci_dev *d);
/*
 * Signal vector v: send its message, or set its pending bit while masked.
 * Returns false if MSI-X is not enabled (the device may use INTx instead) or v
 * is out of range.
 */
bool pci_msix_notify(struct pci_dev *d, unsigned vector);
/* Is vector v masked (by its own mask bit or the function mask)? */
bool pci_msix_masked(const struct pci_dev *d, unsigned vector);

#endif
