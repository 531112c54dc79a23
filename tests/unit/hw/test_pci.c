/* PCI host: both configuration mechanisms, BAR sizing and mapping, capabilities, INTx, MSI-X. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fake_vm.h"
#include "vmm/hw/pci.h"

static struct vm *vm;
static struct pci_host *host;

/* A device model that records its BAR accesses and config hooks. */
struct testdev {
	struct pci_dev *pci;
	int last_bar;
	uint64_t last_off, last_val;
	unsigned writes, cfg_writes;
	unsigned last_cfg_off;
};

static uint64_t td_read(void *opaque, int bar, uint64_t off, unsigned size)
{
	struct testdev *t = opaque;

	(void)size;
	t->last_bar = bar;
	t->last_off = off;
	return 0xab00 + off;
}

static void td_write(void *opaque, int bar, uint64_t off, uint64_t value, unsigned size)
{
	struct testdev *t = opaque;

	(void)size;
	t->last_bar = bar;
	t->last_off = off;
	t->last_val = value;
	t->writes++;
}

static void td_cfg_read(void *opaque, unsigned off, unsigned size, uint32_t *value)
{
	(void)opaque;
	if (off == 0x80 && size == 4)
		*value = 0x12345678; /* a register the device computes */
}

static void td_cfg_write(void *opaque, unsigned off, unsigned size, uint32_t value)
{
	struct testdev *t = opaque;

	(void)size;
	(void)value;
	t->cfg_writes++;
	t->last_cfg_off = off;
}

static const struct pci_dev_ops td_ops = {
    .bar_read = td_read,
    .bar_write = td_write,
    .cfg_read = td_cfg_read,
    .cfg_write = td_cfg_write,
};

static int setup(void **state)
{
	(void)state;
	vm = fake_vm_new(256 * MiB);
	host = pci_host_new(vm);
	assert_non_null(host);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pci_host_free(host);
	assert_int_equal(vm->mmio.count, 0);
	assert_int_equal(vm->pio.count, 0);
	fake_vm_free(vm);
	return 0;
}

/* Mechanism #1 accessors. */
static uint32_t cf8_read(unsigned slot, unsigned reg, unsigned size)
{
	vm_pio_write(vm, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	return (uint32_t)vm_pio_read(vm, 0xcfc + (reg & 3), size);
}

static void cf8_write(unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	vm_pio_write(vm, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	vm_pio_write(vm, 0xcfc + (reg & 3), v, size);
}

/* ECAM accessors. */
static uint64_t ecam(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return PC_ECAM_BASE + ((uint64_t)bus << 20 | slot << 15 | fn << 12 | reg);
}

static uint32_t ecam_read(unsigned slot, unsigned reg, unsigned size)
{
	return (uint32_t)vm_mmio_read(vm, ecam(0, slot, 0, reg), size);
}

static void ecam_write(unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	vm_mmio_write(vm, ecam(0, slot, 0, reg), v, size);
}

static struct testdev *testdev_new(int slot)
{
	struct testdev *t = xcalloc(1, sizeof(*t));

	t->pci = pci_dev_new(host, slot, "testdev", &td_ops, t);
	assert_non_null(t->pci);
	pci_set_ids(t->pci, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 0x0002);
	return t;
}

static void test_host_bridge_both_mechanisms(void **state)
{
	(void)state;
	assert_int_equal(cf8_read(0, 0, 4), 0x0d578086);
	assert_int_equal(cf8_read(0, 2, 2), 0x0d57);
	assert_int_equal(cf8_read(0, 3, 1), 0x0d);
	assert_int_equal(cf8_read(0, 8, 4) >> 8, 0x060000);
	assert_int_equal(ecam_read(0, 0, 4), 0x0d578086);
	assert_int_equal(ecam_read(0, 0x0a, 2), 0x0600);
	assert_int_equal(ecam_read(0, 0x0e, 1), 0x00); /* single function, header type 0 */
	/* CONFIG_ADDRESS reads back; only dword writes change it. */
	vm_pio_write(vm, 0xcf8, 0x80001234, 4);
	assert_int_equal(vm_pio_read(vm, 0xcf8, 4), 0x80001234);
	vm_pio_write(vm, 0xcf8, 0x00, 1);
	assert_int_equal(vm_pio_read(vm, 0xcf8, 4), 0x80001234);
	/* Read-only IDs. */
	cf8_write(0, 0, 4, 0);
	assert_int_equal(ecam_read(0, 0, 4), 0x0d578086);
}

static void test_absent_functions_read_ones(void **state)
{
	(void)state;
	assert_int_equal(cf8_read(5, 0, 4), 0xffffffff);
	assert_int_equal(cf8_read(5, 2, 2), 0xffff);
	assert_int_equal(ecam_read(31, 0, 4), 0xffffffff);
	assert_int_equal(vm_mmio_read(vm, ecam(1, 0, 0, 0), 4), 0xffffffff); /* bus 1 */
	assert_int_equal(vm_mmio_read(vm, ecam(0, 0, 1, 0), 2), 0xffff);     /* function 1 */
	vm_pio_write(vm, 0xcf8, 0x00000000, 4);				     /* enable bit clear */
	assert_int_equal(vm_pio_read(vm, 0xcfc, 4), 0xffffffff);
	cf8_write(5, 4, 2, 0xffff); /* writes to nothing are ignored */
	assert_int_equal(cf8_read(5, 4, 2), 0xffff);
}

static void test_header_masks(void **state)
{
	struct testdev *t = testdev_new(3);

	(void)state;
	assert_int_equal(ecam_read(3, 0, 4), 0x10421af4);
	assert_int_equal(ecam_read(3, 0x2c, 4), 0x00021af4);
	assert_int_equal(ecam_read(3, 0x08, 4), 0x01000001);
	ecam_write(3, 0x04, 2, 0xffff);
	assert_int_equal(ecam_read(3, 0x04, 2), 0x0547);
	ecam_write(3, 0x08, 4, 0xffffffff); /* class and revision are read-only */
	assert_int_equal(ecam_read(3, 0x08, 4), 0x01000001);
	pci_intx_init(t->pci, 1);
	assert_int_equal(ecam_read(3, 0x3d, 1), 1);
	assert_int_equal(ecam_read(3, 0x3c, 1), pc_pci_intx_gsi(3, 0));
	ecam_write(3, 0x3c, 2, 0x0405); /* line is writable, pin is not */
	assert_int_equal(ecam_read(3, 0x3c, 2), 0x0105);
	ecam_write(3, 0x30, 4, 0xfffff800); /* no expansion ROM */
	assert_int_equal(ecam_read(3, 0x30, 4), 0);
	/* Status: error bits are write-1-to-clear, others read-only. */
	pci_cfg_set(t->pci, PCI_STATUS, 2, 0x8000);
	ecam_write(3, 0x06, 2, 0x8010);
	assert_int_equal(ecam_read(3, 0x06, 2), 0x0000);
	/* Device hooks see config accesses. */
	cf8_write(3, 0x3c, 1, 0x0b);
	assert_true(t->cfg_writes > 0);
	assert_int_equal(t->last_cfg_off, 0x3c);
	assert_int_equal(cf8_read(3, 0x80, 4), 0x12345678);
	free(t);
}

static void test_bar_sizing(void **state)
{
	struct testdev *t = testdev_new(4);

	(void)state;
	assert_int_equal(pci_bar_init(t->pci, 0, PCI_BAR_IO, 32, false), 0);
	assert_int_equal(pci_bar_init(t->pci, 1, PCI_BAR_MEM32, 4096, false), 0);
	assert_int_equal(pci_bar_init(t->pci, 2, PCI_BAR_MEM64, 16384, true), 0);
	assert_int_equal(ecam_read(4, 0x10, 4), 0x1);
	assert_int_equal(ecam_read(4, 0x14, 4), 0x0);
	assert_int_equal(ecam_read(4, 0x18, 4), 0xc);
	for (unsigned reg = 0x10; reg < 0x28; reg += 4)
		cf8_write(4, reg, 4, 0xffffffff);
	assert_int_equal(cf8_read(4, 0x10, 4), 0x0000ffe1);
	assert_int_equal(cf8_read(4, 0x14, 4), 0xfffff000);
	assert_int_equal(cf8_read(4, 0x18, 4), 0xffffc00c);
	assert_int_equal(cf8_read(4, 0x1c, 4), 0xffffffff);
	assert_int_equal(cf8_read(4, 0x20, 4), 0);
	assert_int_equal(cf8_read(4, 0x24, 4), 0);
	/* Invalid declarations. */
	assert_int_equal(pci_bar_init(t->pci, 3, PCI_BAR_MEM32, 4096, false), -1); /* upper half */
	assert_int_equal(pci_bar_init(t->pci, 4, PCI_BAR_MEM32, 3000, false), -1);
	assert_int_equal(pci_bar_init(t->pci, 4, PCI_BAR_IO, 512, false), -1);
	assert_int_equal(pci_bar_init(t->pci, 5, PCI_BAR_MEM64, 4096, false), -1);
	assert_int_equal(pci_bar_init(t->pci, 1, PCI_BAR_MEM32, 4096, false), -1);
	free(t);
}

static void test_bar_mapping(void **state)
{
	struct testdev *t = testdev_new(4);

	(void)state;
	pci_bar_init(t->pci, 0, PCI_BAR_IO, 32, false);
	pci_bar_init(t->pci, 1, PCI_BAR_MEM32, 4096, false);
	pci_bar_init(t->pci, 2, PCI_BAR_MEM64, 16384, false);
	cf8_write(4, 0x10, 4, 0xc040);
	cf8_write(4, 0x14, 4, 0xc0001000);
	cf8_write(4, 0x18, 4, 0x00000000);
	cf8_write(4, 0x1c, 4, 0x00000010); /* 64 GiB */
	/* Decoding is off: nothing mapped yet. */
	assert_int_equal(vm_mmio_read(vm, 0xc0001000, 4), 0xffffffff);
	assert_int_equal(pci_bar_mapped_addr(t->pci, 1), 0);
	cf8_write(4, 0x04, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(vm_mmio_read(vm, 0xc0001010, 4), 0xab10);
	assert_int_equal(t->last_bar, 1);
	vm_mmio_write(vm, 0x1000000000ULL + 0x20, 0x55, 4);
	assert_int_equal(t->last_bar, 2);
	assert_int_equal(t->last_off, 0x20);
	assert_int_equal(t->last_val, 0x55);
	assert_int_equal(vm_pio_read(vm, 0xc040, 1), 0xff); /* IO decode still off */
	cf8_write(4, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(vm_pio_read(vm, 0xc044, 2), 0xab04);
	assert_int_equal(t->last_bar, 0);
	/* Moving a BAR unmaps the old address. */
	cf8_write(4, 0x14, 4, 0xc0100000);
	assert_int_equal(vm_mmio_read(vm, 0xc0001000, 4), 0xffffffff);
	assert_int_equal(vm_mmio_read(vm, 0xc0100004, 4), 0xab04);
	assert_int_equal(pci_bar_mapped_addr(t->pci, 1), 0xc0100000);
	/* Sizing with decode on must not map the BAR at the all-ones pattern. */
	cf8_write(4, 0x14, 4, 0xffffffff);
	assert_int_equal(pci_bar_mapped_addr(t->pci, 1), 0);
	cf8_write(4, 0x14, 4, 0xc0100000);
	/* A BAR over guest RAM is not mapped (RAM stays RAM). */
	cf8_write(4, 0x14, 4, 0x00100000);
	assert_int_equal(pci_bar_mapped_addr(t->pci, 1), 0);
	cf8_write(4, 0x14, 4, 0xc0100000);
	/* Turning decode off unmaps everything. */
	cf8_write(4, 0x04, 2, 0);
	assert_int_equal(vm_mmio_read(vm, 0xc0100000, 4), 0xffffffff);
	assert_int_equal(vm_pio_read(vm, 0xc044, 2), 0xffff);
	assert_int_equal(pci_bar_mapped_addr(t->pci, 2), 0);
	free(t);
}

/* Two devices programmed to the same address: the second does not map. */
static void test_bar_conflict(void **state)
{
	struct testdev *a = testdev_new(5), *b = testdev_new(6);

	(void)state;
	pci_bar_init(a->pci, 0, PCI_BAR_MEM32, 4096, false);
	pci_bar_init(b->pci, 0, PCI_BAR_MEM32, 8192, false);
	ecam_write(5, 0x10, 4, 0xc0002000);
	ecam_write(6, 0x10, 4, 0xc0002000);
	ecam_write(5, 0x04, 2, PCI_COMMAND_MEMORY);
	ecam_write(6, 0x04, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(pci_bar_mapped_addr(a->pci, 0), 0xc0002000);
	assert_int_equal(pci_bar_mapped_addr(b->pci, 0), 0);
	ecam_write(6, 0x10, 4, 0xc0004000);
	assert_int_equal(pci_bar_mapped_addr(b->pci, 0), 0xc0004000);
	free(a);
	free(b);
}

static void test_capability_list(void **state)
{
	struct testdev *t = testdev_new(7);
	unsigned off, ids[8], n = 0;
	int vndr;

	(void)state;
	assert_int_equal(ecam_read(7, 0x06, 2) & PCI_STATUS_CAP_LIST, 0);
	vndr = pci_cap_add(t->pci, PCI_CAP_ID_VNDR, 10);
	assert_true(vndr >= 0x40);
	pci_cfg_set(t->pci, (unsigned)vndr + 2, 1, 10);
	pci_cfg_set(t->pci, (unsigned)vndr + 4, 4, 0xdeadbeef);
	pci_cfg_set_wmask(t->pci, (unsigned)vndr + 8, 2, 0x00ff);
	pci_bar_init(t->pci, 0, PCI_BAR_MEM32, 8192, false);
	assert_true(pci_msix_init(t->pci, 4, 0, 0, 0x1000) > 0);
	assert_int_equal(ecam_read(7, 0x06, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	/* Walk the list as a guest does. */
	for (off = cf8_read(7, 0x34, 1); off && n < 8; off = cf8_read(7, off + 1, 1))
		ids[n++] = cf8_read(7, off, 1);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], PCI_CAP_ID_VNDR);
	assert_int_equal(ids[1], PCI_CAP_ID_MSIX);
	assert_int_equal(pci_cap_find(t->pci, PCI_CAP_ID_MSIX) % 4, 0);
	assert_int_equal(cf8_read(7, (unsigned)vndr + 4, 4), 0xdeadbeef);
	/* Capability bytes follow their masks; the next pointer is read-only. */
	cf8_write(7, (unsigned)vndr, 4, 0);
	assert_int_equal(cf8_read(7, (unsigned)vndr, 1), PCI_CAP_ID_VNDR);
	assert_int_not_equal(cf8_read(7, (unsigned)vndr + 1, 1), 0);
	cf8_write(7, (unsigned)vndr + 8, 2, 0xffff);
	assert_int_equal(cf8_read(7, (unsigned)vndr + 8, 2), 0x00ff);
	/* Space runs out cleanly. */
	for (int i = 0; i < 64; i++)
		if (pci_cap_add(t->pci, PCI_CAP_ID_VNDR, 16) < 0)
			break;
	assert_int_equal(pci_cap_add(t->pci, PCI_CAP_ID_VNDR, 16), -1);
	free(t);
}

static void test_intx(void **state)
{
	struct testdev *a = testdev_new(3), *b = testdev_new(7);
	unsigned gsi = pc_pci_intx_gsi(3, 0);

	(void)state;
	assert_int_equal(gsi, pc_pci_intx_gsi(7, 0)); /* slots 3 and 7 share INTA's line */
	pci_intx_init(a->pci, 1);
	pci_intx_init(b->pci, 1);
	pthread_mutex_lock(&vm->lock);
	pci_intx_set(a->pci, true);
	pthread_mutex_unlock(&vm->lock);
	assert_true(fake.level[gsi]);
	assert_int_equal(ecam_read(3, 0x06, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	pthread_mutex_lock(&vm->lock);
	pci_intx_set(b->pci, true);
	pci_intx_set(a->pci, false);
	pthread_mutex_unlock(&vm->lock);
	assert_true(fake.level[gsi]); /* b still holds the shared line */
	assert_int_equal(ecam_read(3, 0x06, 2) & PCI_STATUS_INTERRUPT, 0);
	ecam_write(7, 0x04, 2, PCI_COMMAND_INTX_DISABLE);
	assert_false(fake.level[gsi]);
	assert_int_equal(ecam_read(7, 0x06, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ecam_write(7, 0x04, 2, 0);
	assert_true(fake.level[gsi]);
	/* Pin B of slot 3 goes to the next line. */
	struct testdev *c = testdev_new(4);
	pci_intx_init(c->pci, 2);
	assert_int_equal(ecam_read(4, 0x3c, 1), pc_pci_intx_gsi(4, 1));
	free(a);
	free(b);
	free(c);
}

static void msix_entry_write(uint64_t table, unsigned v, uint64_t addr, uint32_t data,
			     uint32_t ctrl)
{
	uint64_t e = table + v * 16;

	vm_mmio_write(vm, e, addr, 8); /* qword write of address low and high */
	vm_mmio_write(vm, e + 8, data, 4);
	vm_mmio_write(vm, e + 12, ctrl, 4);
}

static void test_msix(void **state)
{
	struct testdev *t = testdev_new(9);
	uint64_t bar = 0xc0010000, table = bar + 0x2000, pba = bar + 0x3000;
	unsigned cap;
	bool ok;

	(void)state;
	pci_bar_init(t->pci, 0, PCI_BAR_MEM32, 0x4000, false);
	pci_intx_init(t->pci, 1);
	assert_int_equal(pci_msix_init(t->pci, 70, 0, 0x2000, 0x3000) > 0, 1);
	cap = pci_cap_find(t->pci, PCI_CAP_ID_MSIX);
	assert_int_equal(cf8_read(9, cap + 2, 2), 69);	   /* table size - 1 */
	assert_int_equal(cf8_read(9, cap + 4, 4), 0x2000); /* offset | BIR 0 */
	assert_int_equal(cf8_read(9, cap + 8, 4), 0x3000);
	cf8_write(9, cap + 2, 2, 0x3fff); /* only enable and function mask are writable */
	assert_int_equal(cf8_read(9, cap + 2, 2), 69);
	ecam_write(9, 0x10, 4, (uint32_t)bar);
	ecam_write(9, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* Vectors start masked; the table reads back what was written. */
	assert_int_equal(vm_mmio_read(vm, table + 12, 4), 1);
	msix_entry_write(table, 0, 0xfee00000, 0x4041, 1);
	msix_entry_write(table, 65, 0xfee01000, 0x4051, 0);
	assert_int_equal(vm_mmio_read(vm, table, 8), 0xfee00000);
	assert_int_equal(vm_mmio_read(vm, table + 8, 4), 0x4041);
	vm_mmio_write(vm, table + 12, 0xfffffffe, 4); /* reserved control bits stay 0 */
	assert_int_equal(vm_mmio_read(vm, table + 12, 4), 0);
	vm_mmio_write(vm, table + 12, 1, 4);

	pthread_mutex_lock(&vm->lock);
	ok = pci_msix_notify(t->pci, 0);
	pthread_mutex_unlock(&vm->lock);
	assert_false(ok); /* MSI-X disabled: the device must use INTx */
	assert_int_equal(fake.nmsi, 0);

	/* INTx asserted, then MSI-X enabled: the line drops. */
	pthread_mutex_lock(&vm->lock);
	pci_intx_set(t->pci, true);
	pthread_mutex_unlock(&vm->lock);
	assert_true(fake.level[pc_pci_intx_gsi(9, 0)]);
	cf8_write(9, cap + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_false(fake.level[pc_pci_intx_gsi(9, 0)]);
	assert_true(pci_msix_enabled(t->pci));

	pthread_mutex_lock(&vm->lock);
	assert_true(pci_msix_notify(t->pci, 0));   /* masked: pending */
	assert_true(pci_msix_notify(t->pci, 65));  /* unmasked: delivered */
	assert_false(pci_msix_notify(t->pci, 70)); /* out of range */
	pthread_mutex_unlock(&vm->lock);
	assert_int_equal(fake.nmsi, 1);
	assert_int_equal(fake.msi_addr[0], 0xfee01000);
	assert_int_equal(fake.msi_data[0], 0x4051);
	assert_int_equal(vm_mmio_read(vm, pba, 8), 1); /* vector 0 pending */
	vm_mmio_write(vm, pba, 0, 8);		       /* PBA is read-only */
	assert_int_equal(vm_mmio_read(vm, pba, 4), 1);
	/* Unmasking the vector delivers the pending message. */
	vm_mmio_write(vm, table + 12, 0, 4);
	assert_int_equal(fake.nmsi, 2);
	assert_int_equal(fake.msi_addr[1], 0xfee00000);
	assert_int_equal(fake.msi_data[1], 0x4041);
	assert_int_equal(vm_mmio_read(vm, pba, 8), 0);

	/* Function mask: everything pends, then flushes on unmask. */
	cf8_write(9, cap + 2, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	pthread_mutex_lock(&vm->lock);
	assert_true(pci_msix_masked(t->pci, 65));
	pci_msix_notify(t->pci, 65);
	pthread_mutex_unlock(&vm->lock);
	assert_int_equal(fake.nmsi, 2);
	assert_int_equal(vm_mmio_read(vm, pba + 8, 8), 2); /* bit 65 = word 1 bit 1 */
	assert_int_equal(vm_mmio_read(vm, pba + 8, 1), 2);
	cf8_write(9, cap + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(fake.nmsi, 3);
	assert_int_equal(fake.msi_data[2], 0x4051);
	/* Disabling MSI-X gives the line back to INTx. */
	cf8_write(9, cap + 2, 2, 0);
	assert_true(fake.level[pc_pci_intx_gsi(9, 0)]);
	/* Other BAR offsets still reach the device. */
	assert_int_equal(vm_mmio_read(vm, bar + 0x100, 4), 0xab00 + 0x100);
	/* Bad layouts are refused. */
	struct testdev *u = testdev_new(10);
	pci_bar_init(u->pci, 0, PCI_BAR_MEM32, 0x1000, false);
	assert_int_equal(pci_msix_init(u->pci, 256, 0, 0, 0x800), -1); /* table too big */
	assert_int_equal(pci_msix_init(u->pci, 8, 0, 0, 0x40), -1);    /* overlap */
	assert_int_equal(pci_msix_init(u->pci, 8, 1, 0, 0x800), -1);   /* no BAR 1 */
	free(u);
	free(t);
}

static void test_assign_bars(void **state)
{
	struct testdev *a = testdev_new(3), *b = testdev_new(4);

	(void)state;
	pci_bar_init(a->pci, 0, PCI_BAR_IO, 64, false);
	pci_bar_init(a->pci, 1, PCI_BAR_MEM32, 0x1000, false);
	pci_bar_init(b->pci, 0, PCI_BAR_MEM64, 0x100000, true);
	pci_bar_init(b->pci, 2, PCI_BAR_MEM32, 0x4000, false);
	assert_int_equal(pci_host_assign_bars(host), 0);
	for (int i = 0; i < 3; i++) {
		struct pci_dev *d = i < 2 ? a->pci : b->pci;
		int bar = i == 0 ? 0 : i == 1 ? 1 : 2;
		uint64_t addr = pci_bar_mapped_addr(d, bar);
		assert_true(addr != 0);
	}
	assert_true(pci_bar_mapped_addr(a->pci, 0) >= 0xc000);
	assert_int_equal(pci_bar_mapped_addr(b->pci, 0), PC_PCI_MMIO_BASE); /* largest first */
	assert_int_equal(pci_bar_mapped_addr(a->pci, 1) % 0x1000, 0);
	assert_int_equal(vm_mmio_read(vm, pci_bar_mapped_addr(b->pci, 2) + 8, 4), 0xab08);
	assert_int_equal(ecam_read(3, 0x04, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	free(a);
	free(b);
}

static void test_slots_and_odd_accesses(void **state)
{
	struct testdev *t = testdev_new(-1);

	(void)state;
	assert_int_equal(pci_dev_slot(t->pci), 1);
	assert_null(pci_dev_new(host, 1, "dup", &td_ops, NULL));
	assert_null(pci_dev_new(host, 32, "big", &td_ops, NULL));
	/* Unaligned and wide accesses are split, never out of bounds. */
	assert_int_equal(vm_mmio_read(vm, ecam(0, 1, 0, 1), 4), 0x0010421a); /* bytes 1-4 */
	assert_int_equal((uint32_t)vm_mmio_read(vm, ecam(0, 1, 0, 0), 8), 0x10421af4);
	assert_int_equal(vm_mmio_read(vm, ecam(0, 1, 0, 0xffe), 4) >> 16, 0xffff);
	vm_mmio_write(vm, ecam(0, 1, 0, 0xfff), 0xffffffff, 4);
	vm_pio_write(vm, 0xcf8, 0x80000800 | 0xfc, 4);
	assert_int_equal(vm_pio_read(vm, 0xcfe, 4) >> 16, 0xffff); /* past 0xff */
	pci_dev_free(t->pci);
	assert_int_equal(ecam_read(1, 0, 4), 0xffffffff);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_host_bridge_both_mechanisms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_absent_functions_read_ones, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_masks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_mapping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capability_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assign_bars, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slots_and_odd_accesses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
