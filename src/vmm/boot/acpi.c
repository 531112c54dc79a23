/*
 * ACPI tables for the pc machine (ACPI 6.x, chapter 5): RSDP (revision 2) with
 * both RSDT and XSDT, FADT (revision 6, not hardware-reduced: PM1a event and
 * control blocks, PM timer, GPE0, SCI, reset register), FACS, MADT (a LAPIC
 * per vCPU, the IOAPIC, ISA overrides, LINT1 NMI), MCFG (ECAM), and a DSDT
 * built with the AML emitter: the PCI0 host bridge with its resources and
 * interrupt routing, the ISA devices (COM1, RTC, keyboard controller),
 * motherboard resources, and \_S5.
 *
 * Power button: the fixed-feature model (FADT PWR_BUTTON flag clear), i.e.
 * PWRBTN_STS/PWRBTN_EN (bit 8) in the PM1 event block raise the SCI.
 */
#include "vmm/boot/aml.h"
#include "vmm/boot/loader.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ACPI_OEM_ID	  "BERTH "
#define ACPI_OEM_TABLE_ID "BERTHPC "
#define ACPI_CREATOR_ID	  "BRTH"
#define ACPI_HDR_SIZE	  36

/* Generic Address Structure address space IDs and access sizes. */
#define GAS_IO	  1
#define GAS_BYTE  1
#define GAS_WORD  2
#define GAS_DWORD 3

/* FADT flags (ACPI 6.4 table 5.10). */
#define FADT_WBINVD		(1u << 0)
#define FADT_PROC_C1		(1u << 2)
#define FADT_SLP_BUTTON		(1u << 5)
#define FADT_FIX_RTC		(1u << 6)
#define FADT_RESET_REG_SUP	(1u << 10)
#define FADT_USE_PLATFORM_CLOCK (1u << 15)
/* IA-PC boot architecture flags. */
#define FADT_LEGACY_DEVICES (1u << 0)
#define FADT_8042	    (1u << 1)
#define FADT_SIZE	    276

/* MADT structure types and flags. */
#define MADT_LAPIC	    0
#define MADT_IOAPIC	    1
#define MADT_ISO	    2
#define MADT_LAPIC_NMI	    4
#define MADT_PCAT_COMPAT    1
#define MPS_INTI_HIGH_LEVEL 0x000d /* polarity active high (1), trigger level (3) */

/* The tables live in [PC_ACPI_RSDP_ADDR, PC_ACPI_TABLES_END), built in a host copy. */
struct acpi_area {
	uint8_t buf[PC_ACPI_TABLES_END - PC_ACPI_RSDP_ADDR];
	size_t used;
};

#define AREA_FULL SIZE_MAX

/* Reserve len bytes at the given alignment; returns the offset in the area or AREA_FULL. */
static size_t area_alloc(struct acpi_area *ar, size_t len, size_t align)
{
	size_t off = ALIGN_UP(ar->used, align);

	if (off + len > sizeof(ar->buf))
		return AREA_FULL;
	ar->used = off + len;
	return off;
}

static uint32_t area_gpa(size_t off)
{
	return (uint32_t)(PC_ACPI_RSDP_ADDR + off);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

/* Fill a table header and set its checksum (call once the body is complete). */
static void finish_table(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put_le32(t + 24, 1);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put_le32(t + 32, 1);
	t[9] = checksum(t, len);
}

/* Copy a table body into the area and finish its header; returns its offset or AREA_FULL. */
static size_t add_table(struct acpi_area *ar, const char *sig, uint8_t rev, const uint8_t *body,
			size_t len)
{
	size_t off = area_alloc(ar, len, 16);

	if (off == AREA_FULL)
		return AREA_FULL;
	memcpy(ar->buf + off, body, len);
	finish_table(ar->buf + off, sig, (uint32_t)len, rev);
	return off;
}

/* Generic Address Structure for an I/O port block. */
static void put_gas_io(uint8_t *p, uint16_t port, uint8_t bits, uint8_t access)
{
	p[0] = GAS_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put_le64(p + 4, port);
}

/* An ISA device under \_SB: its ID, one or two I/O ranges and an IRQ. */
static void isa_device(struct aml *a, const char *name, const char *hid, uint16_t io,
		       uint8_t io_len, uint16_t io2, uint8_t io2_len, unsigned irq)
{
	struct aml_mark dev, buf;

	dev = aml_device(a, name);
	aml_name_decl(a, "_HID");
	aml_eisaid(a, hid);
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_name_decl(a, "_CRS");
	buf = aml_buffer(a);
	aml_res_io(a, io, io_len);
	if (io2_len)
		aml_res_io(a, io2, io2_len);
	aml_res_irq(a, irq);
	aml_res_end(a);
	aml_close(a, buf);
	aml_close(a, dev);
}

/* The DSDT body after its header: \_SB (PCI0, ISA devices, MRES) and \_S5. */
static void build_dsdt(struct aml *a)
{
	struct aml_mark sb, dev, pkg, buf, entry;

	aml_bytes(a, (uint8_t[ACPI_HDR_SIZE]){0}, ACPI_HDR_SIZE);
	sb = aml_scope(a, "\\_SB");

	dev = aml_device(a, "PCI0");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name_decl(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_name_decl(a, "_SEG");
	aml_int(a, 0);
	aml_name_decl(a, "_BBN");
	aml_int(a, PC_PCI_BUS_FIRST);
	aml_name_decl(a, "_CRS");
	buf = aml_buffer(a);
	aml_res_word(a, AML_SPACE_BUS, PC_PCI_BUS_FIRST, PC_PCI_BUS_LAST);
	aml_res_io(a, PC_PCI_CONFIG_PORT, 8);
	aml_res_word(a, AML_SPACE_IO, 0x0000, PC_PCI_CONFIG_PORT - 1);
	aml_res_word(a, AML_SPACE_IO, PC_PCI_CONFIG_PORT + 8, 0xffff);
	aml_res_dword_mem(a, (uint32_t)PC_PCI_MMIO_BASE, (uint32_t)(PC_PCI_MMIO_END - 1));
	aml_res_end(a);
	aml_close(a, buf);
	/* Interrupt routing: every slot's INTA-D to its GSI (source Zero = a GSI). */
	aml_name_decl(a, "_PRT");
	pkg = aml_package(a, 32 * 4);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			entry = aml_package(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);
			aml_int(a, pin);
			aml_int(a, 0);
			aml_int(a, pc_pci_intx_gsi(slot, pin));
			aml_close(a, entry);
		}
	}
	aml_close(a, pkg);
	aml_close(a, dev);

	/* The ISA devices of the machine, so the OS binds them by their ACPI IDs. */
	isa_device(a, "COM1", "PNP0501", PC_COM1_PORT, 8, 0, 0, PC_COM1_IRQ);
	isa_device(a, "RTC", "PNP0B00", PC_RTC_PORT, 2, 0, 0, PC_RTC_IRQ);
	isa_device(a, "KBD", "PNP0303", PC_I8042_DATA, 1, PC_I8042_CMD, 1, PC_I8042_KBD_IRQ);

	/* Motherboard resources: ECAM and the ACPI PM block, so the OS keeps off them. */
	dev = aml_device(a, "MRES");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_name_decl(a, "_CRS");
	buf = aml_buffer(a);
	aml_res_mem32_fixed(a, (uint32_t)PC_ECAM_BASE, (uint32_t)PC_ECAM_SIZE);
	aml_res_io(a, PC_ACPI_PM_BASE, PC_ACPI_PM_LEN);
	aml_res_end(a);
	aml_close(a, buf);
	aml_close(a, dev);
	aml_close(a, sb);

	/* Soft-off: SLP_TYPa, SLP_TYPb, reserved, reserved. */
	aml_name_decl(a, "\\_S5");
	pkg = aml_package(a, 4);
	aml_int(a, PC_ACPI_S5_TYP);
	aml_int(a, PC_ACPI_S5_TYP);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a, pkg);
}

/* FADT: fixed hardware at the ports of machine/pc.h. */
static void build_fadt(uint8_t *f, uint32_t facs, uint32_t dsdt)
{
	memset(f, 0, FADT_SIZE);
	put_le32(f + 36, facs);
	put_le32(f + 40, dsdt);
	f[45] = 0; /* preferred PM profile: unspecified */
	put_le16(f + 46, PC_ACPI_SCI_IRQ);
	/* SMI_CMD 0: no SMM mode switch, the machine is always in ACPI mode. */
	put_le32(f + 56, PC_ACPI_PM1_EVT);
	put_le32(f + 64, PC_ACPI_PM1_CNT);
	put_le32(f + 76, PC_ACPI_PM_TMR);
	put_le32(f + 80, PC_ACPI_GPE0);
	f[88] = 4;		/* PM1_EVT_LEN */
	f[89] = 2;		/* PM1_CNT_LEN */
	f[91] = 4;		/* PM_TMR_LEN */
	f[92] = 8;		/* GPE0_BLK_LEN: 4 status + 4 enable bytes */
	put_le16(f + 96, 101);	/* P_LVL2_LAT > 100: C2 unsupported */
	put_le16(f + 98, 1001); /* P_LVL3_LAT > 1000: C3 unsupported */
	put_le16(f + 109, FADT_LEGACY_DEVICES | FADT_8042);
	put_le32(f + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_FIX_RTC |
			      FADT_RESET_REG_SUP | FADT_USE_PLATFORM_CLOCK);
	put_gas_io(f + 116, PC_RESET_PORT, 8, GAS_BYTE);
	f[128] = 0x06; /* reset value: CPU reset and system reset */
	f[131] = 0;    /* FADT minor version */
	put_le64(f + 140, dsdt);
	put_gas_io(f + 148, PC_ACPI_PM1_EVT, 32, GAS_WORD);
	put_gas_io(f + 172, PC_ACPI_PM1_CNT, 16, GAS_WORD);
	put_gas_io(f + 208, PC_ACPI_PM_TMR, 32, GAS_DWORD);
	put_gas_io(f + 220, PC_ACPI_GPE0, 64, GAS_BYTE);
	memcpy(f + 268, "BERTH\0\0\0", 8); /* hypervisor vendor identity */
}

/* MADT: returns its length; buf must hold 44 + 8 * ncpus + 12 + 2 * 10 + 6 bytes. */
static size_t build_madt(uint8_t *m, const struct vm *vm)
{
	size_t n = ACPI_HDR_SIZE;

	put_le32(m + n, (uint32_t)PC_LAPIC_BASE);
	put_le32(m + n + 4, MADT_PCAT_COMPAT);
	n += 8;
	for (int i = 0; i < vm->ncpus; i++) {
		m[n] = MADT_LAPIC;
		m[n + 1] = 8;
		m[n + 2] = (uint8_t)i;	/* ACPI processor UID */
		m[n + 3] = (uint8_t)i;	/* APIC ID */
		put_le32(m + n + 4, 1); /* enabled */
		n += 8;
	}
	m[n] = MADT_IOAPIC;
	m[n + 1] = 12;
	m[n + 2] = (uint8_t)PC_IOAPIC_ID(vm);
	m[n + 3] = 0;
	put_le32(m + n + 4, (uint32_t)PC_IOAPIC_BASE);
	put_le32(m + n + 8, 0); /* GSI base */
	n += 12;
	/* ISA IRQ0 (PIT) is wired to GSI 2; the SCI is level-triggered, active high. */
	m[n] = MADT_ISO;
	m[n + 1] = 10;
	m[n + 2] = 0; /* bus: ISA */
	m[n + 3] = PC_PIT_IRQ;
	put_le32(m + n + 4, PC_PIT_GSI);
	put_le16(m + n + 8, 0); /* conforms to the bus: edge, active high */
	n += 10;
	m[n] = MADT_ISO;
	m[n + 1] = 10;
	m[n + 2] = 0;
	m[n + 3] = PC_ACPI_SCI_IRQ;
	put_le32(m + n + 4, PC_ACPI_SCI_IRQ);
	put_le16(m + n + 8, MPS_INTI_HIGH_LEVEL);
	n += 10;
	/* NMI on LINT1 of every processor. */
	m[n] = MADT_LAPIC_NMI;
	m[n + 1] = 6;
	m[n + 2] = 0xff; /* all processors */
	put_le16(m + n + 3, 0);
	m[n + 5] = 1; /* LINT1 */
	n += 6;
	return n;
}

/* MCFG: one ECAM window for segment 0. */
static size_t build_mcfg(uint8_t *m)
{
	size_t n = ACPI_HDR_SIZE + 8;

	put_le64(m + n, PC_ECAM_BASE);
	put_le16(m + n + 8, 0);
	m[n + 10] = PC_PCI_BUS_FIRST;
	m[n + 11] = PC_PCI_BUS_LAST;
	return n + 16;
}

/* Build every table in a host copy of the BIOS area, then write it to the guest. */
int pc_build_acpi_tables(struct vm *vm)
{
	struct acpi_area *ar = xcalloc(1, sizeof(*ar));
	struct aml dsdt = {0};
	uint8_t fadt[FADT_SIZE];
	uint8_t *madt = xcalloc(1, 64 + 8 * (size_t)vm->ncpus + 64);
	uint8_t mcfg[ACPI_HDR_SIZE + 8 + 16] = {0};
	size_t rsdp, facs, dsdt_off, fadt_off, madt_off, mcfg_off, rsdt, xsdt;
	uint32_t tables[3];
	uint8_t *p;
	int ret = -1;

	/* The area is empty: the RSDP and FACS always fit. */
	rsdp = area_alloc(ar, 36, 16);
	facs = area_alloc(ar, 64, 64);
	p = ar->buf + facs;
	memcpy(p, "FACS", 4);
	put_le32(p + 4, 64);
	p[32] = 2; /* version */

	build_dsdt(&dsdt);
	dsdt_off = add_table(ar, "DSDT", 2, dsdt.buf, dsdt.len);
	if (dsdt_off == AREA_FULL)
		goto full;
	build_fadt(fadt, area_gpa(facs), area_gpa(dsdt_off));
	fadt_off = add_table(ar, "FACP", 6, fadt, sizeof(fadt));
	madt_off = add_table(ar, "APIC", 4, madt, build_madt(madt, vm));
	mcfg_off = add_table(ar, "MCFG", 1, mcfg, build_mcfg(mcfg));
	if (fadt_off == AREA_FULL || madt_off == AREA_FULL || mcfg_off == AREA_FULL)
		goto full;

	tables[0] = area_gpa(fadt_off);
	tables[1] = area_gpa(madt_off);
	tables[2] = area_gpa(mcfg_off);
	rsdt = area_alloc(ar, ACPI_HDR_SIZE + 4 * ARRAY_SIZE(tables), 16);
	xsdt = area_alloc(ar, ACPI_HDR_SIZE + 8 * ARRAY_SIZE(tables), 16);
	if (rsdt == AREA_FULL || xsdt == AREA_FULL)
		goto full;
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		put_le32(ar->buf + rsdt + ACPI_HDR_SIZE + 4 * i, tables[i]);
		put_le64(ar->buf + xsdt + ACPI_HDR_SIZE + 8 * i, tables[i]);
	}
	finish_table(ar->buf + rsdt, "RSDT", ACPI_HDR_SIZE + 4 * ARRAY_SIZE(tables), 1);
	finish_table(ar->buf + xsdt, "XSDT", ACPI_HDR_SIZE + 8 * ARRAY_SIZE(tables), 1);

	p = ar->buf + rsdp;
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, ACPI_OEM_ID, 6);
	p[15] = 2; /* revision: ACPI 2.0+ */
	put_le32(p + 16, area_gpa(rsdt));
	put_le32(p + 20, 36);
	put_le64(p + 24, area_gpa(xsdt));
	p[8] = checksum(p, 20);
	p[32] = checksum(p, 36);

	ret = boot_write(vm, "ACPI tables", PC_ACPI_RSDP_ADDR, ar->buf, ar->used);
	goto out;
full:
	log_error("ACPI tables do not fit in [%#llx, %#llx)", (unsigned long long)PC_ACPI_RSDP_ADDR,
		  (unsigned long long)PC_ACPI_TABLES_END);
out:
	aml_free(&dsdt);
	free(madt);
	free(ar);
	return ret;
}
