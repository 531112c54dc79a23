/* Unit tests for the Intel MP table (src/vmm/boot/mptable.c). */
#include "boot_test.h"
#include "vmm/machine/pc.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* Linux finds the floating pointer by scanning the EBDA's first KiB on 16-byte boundaries. */
static const uint8_t *find_floating(struct vm *vm)
{
	const uint8_t *p = gmem(vm, PC_EBDA_BASE, 1024);

	for (unsigned off = 0; off < 1024; off += 16)
		if (!memcmp(p + off, "_MP_", 4) && sum(p + off, 16) == 0)
			return p + off;
	return NULL;
}

static void check_mptable(int ncpus)
{
	struct vm *vm = test_vm_new(64 * MiB, ncpus);
	const uint8_t *fp, *t, *e;
	unsigned len, count, cpus = 0, buses = 0, ioapics = 0, isa = 0, pci = 0, lints = 0;
	uint8_t pci_bus = 0xff, isa_bus = 0xff, ioapic_id = 0xff;
	unsigned pci_seen[32][4] = {{0}};
	bool isa_seen[16] = {0};

	assert_int_equal(pc_build_firmware_tables(vm), 0);
	fp = find_floating(vm);
	assert_non_null(fp);
	assert_int_equal(fp[8], 1);
	assert_int_equal(fp[9], 4);
	assert_int_equal(fp[11], 0); /* a configuration table follows, no default config */
	t = gmem(vm, get_le32(fp + 4), 44);
	assert_memory_equal(t, "PCMP", 4);
	len = get_le16(t + 4);
	count = get_le16(t + 34);
	t = gmem(vm, get_le32(fp + 4), len);
	assert_int_equal(sum(t, len), 0);
	assert_int_equal(t[6], 4);
	assert_int_equal(get_le32(t + 36), PC_LAPIC_BASE);
	assert_int_equal(get_le16(t + 40), 0); /* no extended table */
	assert_int_equal(count, ncpus + 2 + 1 + 15 + 128 + 2);

	e = t + 44;
	for (unsigned i = 0; i < count; i++) {
		assert_true(e < t + len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], cpus);
			assert_int_equal(e[3], cpus == 0 ? 3 : 1);
			cpus++;
			e += 20;
			continue;
		case 1:
			if (!memcmp(e + 2, "PCI   ", 6))
				pci_bus = e[1];
			else if (!memcmp(e + 2, "ISA   ", 6))
				isa_bus = e[1];
			else
				fail_msg("unknown bus type");
			buses++;
			break;
		case 2:
			ioapic_id = e[1];
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(get_le32(e + 4), PC_IOAPIC_BASE);
			ioapics++;
			break;
		case 3:
			/* Buses and the IOAPIC come first, as the spec orders entries. */
			assert_int_equal(e[1], 0); /* INT */
			assert_int_equal(e[6], ioapic_id);
			if (e[4] == isa_bus) {
				assert_true(e[5] < 16 && e[5] != 2 && !isa_seen[e[5]]);
				isa_seen[e[5]] = true;
				assert_int_equal(e[7], e[5] == 0 ? PC_PIT_GSI : e[5]);
				if (e[5] == PC_ACPI_SCI_IRQ)
					assert_int_equal(get_le16(e + 2), 0xd);
				isa++;
			} else {
				unsigned dev = e[5] >> 2, pin = e[5] & 3;

				assert_int_equal(e[4], pci_bus);
				assert_int_equal(get_le16(e + 2), 0xf); /* level, active low */
				assert_int_equal(e[7], pc_pci_intx_gsi(dev, pin));
				pci_seen[dev][pin]++;
				pci++;
			}
			break;
		case 4:
			assert_int_equal(e[6], 0xff);
			if (e[7] == 0)
				assert_int_equal(e[1], 3); /* ExtINT on LINT0 */
			else
				assert_int_equal(e[1], 1); /* NMI on LINT1 */
			lints++;
			break;
		default:
			fail_msg("unknown MP entry type %u", e[0]);
		}
		e += 8;
	}
	assert_ptr_equal(e, t + len);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 2);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ioapic_id, ncpus);
	assert_int_equal(isa, 15);
	assert_int_equal(pci, 128);
	for (unsigned d = 0; d < 32; d++)
		for (unsigned p = 0; p < 4; p++)
			assert_int_equal(pci_seen[d][p], 1);
	assert_int_equal(lints, 2);
	/* BIOS data area: EBDA segment and 639 KiB of base memory. */
	assert_int_equal(get_le16(gmem(vm, 0x40e, 2)), PC_EBDA_BASE >> 4);
	assert_int_equal(get_le16(gmem(vm, 0x413, 2)), 639);
	test_vm_free(vm);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_mptable(1);
}

static void test_many_cpus(void **state)
{
	(void)state;
	check_mptable(8);
	check_mptable(VM_MAX_VCPUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_cpu),
	    cmocka_unit_test(test_many_cpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
