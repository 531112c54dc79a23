/*
 * Unit tests for the ACPI tables (src/vmm/boot/acpi.c): structure, checksums
 * and contents of every table, and `iasl -d` disassembling each one cleanly.
 */
#include "boot_test.h"
#include "vmm/machine/pc.h"

#include <sys/stat.h>
#include <sys/wait.h>

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* Check a table at gpa: signature, length in range, checksum. Returns a host pointer. */
static uint8_t *table(struct vm *vm, uint64_t gpa, const char *sig)
{
	uint8_t *t = gmem(vm, gpa, 36);
	uint32_t len = get_le32(t + 4);

	assert_memory_equal(t, sig, 4);
	assert_true(len >= 36 && len < 0x10000);
	assert_true(gpa >= PC_BIOS_BASE && gpa + len <= PC_BIOS_END);
	t = gmem(vm, gpa, len);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "BERTH ", 6);
	return t;
}

static const uint8_t *rsdp(struct vm *vm)
{
	const uint8_t *p = gmem(vm, PC_ACPI_RSDP_ADDR, 36);

	assert_memory_equal(p, "RSD PTR ", 8);
	assert_int_equal(sum(p, 20), 0);
	assert_int_equal(p[15], 2);
	assert_int_equal(get_le32(p + 20), 36);
	assert_int_equal(sum(p, 36), 0);
	return p;
}

/* The table the XSDT lists with this signature (and the RSDT lists at the same place). */
static uint8_t *find(struct vm *vm, const char *sig, uint64_t *gpa_out)
{
	const uint8_t *p = rsdp(vm);
	uint8_t *rsdt = table(vm, get_le32(p + 16), "RSDT");
	uint8_t *xsdt = table(vm, get_le64(p + 24), "XSDT");
	unsigned n = (get_le32(xsdt + 4) - 36) / 8;

	assert_int_equal((get_le32(rsdt + 4) - 36) / 4, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = get_le64(xsdt + 36 + 8 * i);

		assert_int_equal(get_le32(rsdt + 36 + 4 * i), gpa);
		if (!memcmp(gmem(vm, gpa, 4), sig, 4)) {
			if (gpa_out)
				*gpa_out = gpa;
			return table(vm, gpa, sig);
		}
	}
	fail_msg("no %s table", sig);
	return NULL;
}

static void test_rsdt_xsdt(void **state)
{
	struct vm *vm = test_vm_new(128 * MiB, 2);

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	rsdp(vm);
	find(vm, "FACP", NULL);
	find(vm, "APIC", NULL);
	find(vm, "MCFG", NULL);
	test_vm_free(vm);
}

/* Check a GAS: system I/O at port, bit width. */
static void check_gas(const uint8_t *g, uint16_t port, uint8_t bits)
{
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], bits);
	assert_int_equal(get_le64(g + 4), port);
}

static void test_fadt_facs_dsdt(void **state)
{
	struct vm *vm = test_vm_new(128 * MiB, 1);
	uint8_t *f, *facs, *dsdt;
	uint32_t flags;

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	f = find(vm, "FACP", NULL);
	assert_int_equal(get_le32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(get_le16(f + 46), PC_ACPI_SCI_IRQ);
	assert_int_equal(get_le32(f + 48), 0); /* no SMI command port: always ACPI mode */
	assert_int_equal(get_le32(f + 56), PC_ACPI_PM1_EVT);
	assert_int_equal(get_le32(f + 60), 0);
	assert_int_equal(get_le32(f + 64), PC_ACPI_PM1_CNT);
	assert_int_equal(get_le32(f + 76), PC_ACPI_PM_TMR);
	assert_int_equal(get_le32(f + 80), PC_ACPI_GPE0);
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(f[92], 8);
	flags = get_le32(f + 112);
	assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
	assert_false(flags & (1u << 4));  /* power button: fixed feature */
	assert_false(flags & (1u << 20)); /* not hardware-reduced */
	check_gas(f + 116, PC_RESET_PORT, 8);
	assert_int_equal(f[128], 6);
	check_gas(f + 148, PC_ACPI_PM1_EVT, 32);
	check_gas(f + 172, PC_ACPI_PM1_CNT, 16);
	check_gas(f + 208, PC_ACPI_PM_TMR, 32);
	check_gas(f + 220, PC_ACPI_GPE0, 64);

	facs = gmem(vm, get_le32(f + 36), 64);
	assert_int_equal(get_le32(f + 36) % 64, 0);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(get_le32(facs + 4), 64);
	assert_int_equal(get_le64(f + 132), 0); /* X_FIRMWARE_CTRL unused: FIRMWARE_CTRL set */

	assert_int_equal(get_le64(f + 140), get_le32(f + 40));
	dsdt = table(vm, get_le32(f + 40), "DSDT");
	assert_int_equal(dsdt[8], 2);
	test_vm_free(vm);
}

/* Find an AML name declaration (NameOp, optional root prefix, 4-char name) in the DSDT. */
static const uint8_t *aml_find_name(const uint8_t *t, size_t len, const char *name)
{
	for (size_t i = 36; i + 6 <= len; i++) {
		size_t root = t[i + 1] == '\\';

		if (t[i] == 0x08 && !memcmp(t + i + 1 + root, name, 4))
			return t + i + 5 + root;
	}
	return NULL;
}

/* Decode one AML integer constant and advance past it. */
static uint64_t aml_int(const uint8_t **pp)
{
	const uint8_t *p = *pp;

	switch (p[0]) {
	case 0x00:
	case 0x01:
		*pp = p + 1;
		return p[0];
	case 0xff:
		*pp = p + 1;
		return ~0ULL;
	case 0x0a:
		*pp = p + 2;
		return p[1];
	case 0x0b:
		*pp = p + 3;
		return get_le16(p + 1);
	case 0x0c:
		*pp = p + 5;
		return get_le32(p + 1);
	case 0x0e:
		*pp = p + 9;
		return get_le64(p + 1);
	}
	fail_msg("not an AML integer: opcode %#x", p[0]);
	return 0;
}

static void test_dsdt_contents(void **state)
{
	struct vm *vm = test_vm_new(128 * MiB, 1);
	const uint8_t *f, *t, *p;
	uint32_t len;

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	f = find(vm, "FACP", NULL);
	t = table(vm, get_le32(f + 40), "DSDT");
	len = get_le32(t + 4);
	/* \_S5: Package with SLP_TYPa = SLP_TYPb = PC_ACPI_S5_TYP. */
	p = aml_find_name(t, len, "_S5_");
	assert_non_null(p);
	assert_int_equal(p[0], 0x12);
	assert_int_equal(p[2], 4);
	p += 3;
	assert_int_equal(aml_int(&p), PC_ACPI_S5_TYP);
	assert_int_equal(aml_int(&p), PC_ACPI_S5_TYP);
	/* _PRT: a package of 128 routing entries, checked one by one. */
	p = aml_find_name(t, len, "_PRT");
	assert_non_null(p);
	assert_int_equal(p[0], 0x12);
	assert_int_equal(p[1] >> 6, 1); /* 2-byte PkgLength */
	assert_int_equal(p[3], 128);
	p += 4;
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			const uint8_t *end;

			assert_int_equal(p[0], 0x12); /* Package(4), 1-byte PkgLength */
			assert_true(p[1] < 0x40);
			end = p + 1 + p[1];
			assert_int_equal(p[2], 4);
			p += 3;
			assert_int_equal(aml_int(&p), slot << 16 | 0xffff);
			assert_int_equal(aml_int(&p), pin);
			assert_int_equal(aml_int(&p), 0); /* source: a GSI */
			assert_int_equal(aml_int(&p), pc_pci_intx_gsi(slot, pin));
			assert_ptr_equal(p, end);
		}
	}
	test_vm_free(vm);
}

static void check_madt(int ncpus)
{
	struct vm *vm = test_vm_new(64 * MiB, ncpus);
	const uint8_t *m;
	uint32_t len;
	int lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	assert_int_equal(pc_build_firmware_tables(vm), 0);
	m = find(vm, "APIC", NULL);
	len = get_le32(m + 4);
	assert_int_equal(get_le32(m + 36), PC_LAPIC_BASE);
	assert_int_equal(get_le32(m + 40) & 1, 1);
	for (uint32_t off = 44; off < len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], lapics); /* APIC IDs 0..n-1 in order */
			assert_int_equal(get_le32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], ncpus);
			assert_int_equal(get_le32(e + 4), PC_IOAPIC_BASE);
			assert_int_equal(get_le32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			if (e[3] == PC_PIT_IRQ) {
				assert_int_equal(get_le32(e + 4), PC_PIT_GSI);
			} else {
				assert_int_equal(e[3], PC_ACPI_SCI_IRQ);
				assert_int_equal(get_le32(e + 4), PC_ACPI_SCI_IRQ);
				assert_int_equal(get_le16(e + 8), 0x000d);
			}
			isos++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
	assert_int_equal(nmis, 1);
	test_vm_free(vm);
}

static void test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(4);
	check_madt(VM_MAX_VCPUS);
}

static void test_mcfg(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	const uint8_t *m;

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	m = find(vm, "MCFG", NULL);
	assert_int_equal(get_le32(m + 4), 36 + 8 + 16);
	assert_int_equal(get_le64(m + 44), PC_ECAM_BASE);
	assert_int_equal(get_le16(m + 52), 0);
	assert_int_equal(m[54], PC_PCI_BUS_FIRST);
	assert_int_equal(m[55], PC_PCI_BUS_LAST);
	assert_true((uint64_t)(PC_PCI_BUS_LAST - PC_PCI_BUS_FIRST + 1) << 20 <= PC_ECAM_SIZE);
	test_vm_free(vm);
}

/* Bad vCPU counts are refused with an error, not written. */
static void test_bad_ncpus(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 0);

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), -1);
	vm->ncpus = VM_MAX_VCPUS + 1;
	assert_int_equal(pc_build_firmware_tables(vm), -1);
	test_vm_free(vm);
}

/* Run a command line through sh; return its exit status and (the start of) its output. */
static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int st;

	assert_non_null(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Dump one table to dir/NAME.dat and have iasl disassemble it. */
static void iasl_check(const char *iasl, const char *dir, struct vm *vm, uint64_t gpa,
		       const char *name)
{
	const uint8_t *t = gmem(vm, gpa, 36);
	uint32_t len = get_le32(t + 4);
	char path[256], cmd[1024], out[16384];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(gmem(vm, gpa, len), 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && '%s' -d %s.dat 2>&1", dir, iasl, name);
	if (run(cmd, out, sizeof(out)) != 0 || strstr(out, "Error") || strstr(out, "Invalid") ||
	    strstr(out, "Warning"))
		fail_msg("iasl -d %s failed:\n%s", name, out);
	snprintf(cmd, sizeof(cmd), "test -s %s/%s.dsl", dir, name);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
}

static void test_iasl_disassembles(void **state)
{
	const char *iasl = getenv("IASL"), *acpiexec = getenv("ACPIEXEC");
	char dir[] = "/tmp/berth-acpi-XXXXXX", cmd[1024];
	static char out[65536];
	struct vm *vm = test_vm_new(256 * MiB, 4);
	uint64_t gpa;
	const uint8_t *f, *p;

	(void)state;
	if (!iasl || !*iasl) {
		test_vm_free(vm);
		skip();
	}
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	assert_non_null(mkdtemp(dir));
	p = rsdp(vm);
	iasl_check(iasl, dir, vm, get_le32(p + 16), "rsdt");
	iasl_check(iasl, dir, vm, get_le64(p + 24), "xsdt");
	f = find(vm, "FACP", &gpa);
	iasl_check(iasl, dir, vm, gpa, "facp");
	iasl_check(iasl, dir, vm, get_le32(f + 40), "dsdt");
	find(vm, "APIC", &gpa);
	iasl_check(iasl, dir, vm, gpa, "apic");
	find(vm, "MCFG", &gpa);
	iasl_check(iasl, dir, vm, gpa, "mcfg");
	/* The disassembled DSDT must compile back without errors. */
	snprintf(cmd, sizeof(cmd), "cd %s && '%s' -p recompiled dsdt.dsl 2>&1", dir, iasl);
	if (run(cmd, out, sizeof(out)) != 0)
		fail_msg("iasl could not recompile the disassembled DSDT:\n%s", out);
	/* ACPICA's own interpreter loads the namespace and evaluates the objects. */
	if (acpiexec && *acpiexec) {
		snprintf(cmd, sizeof(cmd),
			 "cd %s && '%s' -b 'evaluate \\_S5; evaluate \\_SB.PCI0._PRT; "
			 "evaluate \\_SB.PCI0._CRS; evaluate \\_SB.MRES._CRS; "
			 "evaluate \\_SB.COM1._CRS; evaluate \\_SB.RTC._CRS; "
			 "evaluate \\_SB.KBD._CRS' "
			 "dsdt.dat facp.dat apic.dat mcfg.dat 2>&1",
			 dir, acpiexec);
		run(cmd, out, sizeof(out));
		if (!strstr(out, "1 ACPI AML tables successfully acquired and loaded") ||
		    !strstr(out, "[Package] Contains 128 Elements") ||
		    !strstr(out, "[Package] Contains 4 Elements") || strstr(out, "ACPI Error") ||
		    strstr(out, "ACPI Warning") || strstr(out, "AE_NOT_FOUND"))
			fail_msg("acpiexec did not load or evaluate the DSDT:\n%s", out);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd, out, sizeof(out));
	test_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsdt_xsdt),
	    cmocka_unit_test(test_fadt_facs_dsdt),
	    cmocka_unit_test(test_dsdt_contents),
	    cmocka_unit_test(test_madt),
	    cmocka_unit_test(test_mcfg),
	    cmocka_unit_test(test_bad_ncpus),
	    cmocka_unit_test(test_iasl_disassembles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
