#include "vmm/hw/pci.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCI_HOST_VENDOR	      0x8086
#define PCI_HOST_DEVICE	      0x0d57
#define PCI_CLASS_HOST_BRIDGE 0x060000

#define PCI_STATUS_W1C	     0xf900 /* parity, target/master abort, SERR, parity error */
#define PCI_BAR_IO_FLAG	     0x1
#define PCI_BAR_MEM_TYPE64   0x4
#define PCI_BAR_MEM_PREFETCH 0x8

#define CAP_START 0x40
#define CAP_END	  0x100

#define PHYS_ADDR_LIMIT (1ULL << 48)
#define IO_SPACE_SIZE	0x10000ULL

struct pci_bar {
	struct pci_dev *dev;
	int index;
	enum pci_bar_type type; /* PCI_BAR_NONE also for the upper half of a MEM64 */
	uint64_t size;
	uint64_t mapped; /* guest address while mapped, else 0 */
};

struct pci_msix {
	unsigned cap; /* config offset of the capability, 0 if none */
	unsigned nvec;
	int bar;
	uint32_t table_off, pba_off;
	uint8_t *table; /* nvec * 16 bytes */
	uint64_t *pba;	/* (nvec + 63) / 64 words */
};

struct pci_dev {
	struct pci_host *host;
	const struct pci_dev_ops *ops;
	void *opaque;
	int slot;
	char name[32];
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	unsigned cap_free; /* next free config offset for capabilities */
	struct pci_bar bars[PCI_NUM_BARS];
	struct pci_msix msix;
	bool intx_level; /* what the device drives */
	bool intx_out;	 /* what reaches the interrupt line */
};

struct pci_host {
	struct vm *vm;
	uint32_t config_address; /* 0xcf8 */
	struct pci_dev *devs[PCI_MAX_SLOTS];
	unsigned intx_count[4]; /* devices asserting each of GSI 16-19 */
};

/* ---- raw config space helpers ---- */

uint32_t pci_cfg_get(const struct pci_dev *d, unsigned off, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

void pci_cfg_set(struct pci_dev *d, unsigned off, unsigned size, uint32_t value)
{
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		d->cfg[off + i] = (uint8_t)(value >> (8 * i));
}

void pci_cfg_set_wmask(struct pci_dev *d, unsigned off, unsigned size, uint32_t mask)
{
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		d->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

void pci_cfg_set_w1cmask(struct pci_dev *d, unsigned off, unsigned size, uint32_t mask)
{
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		d->w1cmask[off + i] = (uint8_t)(mask >> (8 * i));
}

static uint16_t command(const struct pci_dev *d)
{
	return (uint16_t)pci_cfg_get(d, PCI_COMMAND, 2);
}

bool pci_bus_master_enabled(const struct pci_dev *d)
{
	return command(d) & PCI_COMMAND_MASTER;
}

int pci_dev_slot(const struct pci_dev *d)
{
	return d->slot;
}

/* ---- interrupts ---- */

static unsigned intx_pin(const struct pci_dev *d)
{
	return d->cfg[PCI_INTERRUPT_PIN];
}

static uint16_t msix_control(const struct pci_dev *d)
{
	return d->msix.cap ? (uint16_t)pci_cfg_get(d, d->msix.cap + PCI_MSIX_FLAGS, 2) : 0;
}

bool pci_msix_enabled(const struct pci_dev *d)
{
	return msix_control(d) & PCI_MSIX_FLAGS_ENABLE;
}

/* Recompute what reaches the shared line: pin level, INTX_DISABLE, MSI-X. */
static void intx_update(struct pci_dev *d)
{
	struct pci_host *h = d->host;
	bool out = d->intx_level && intx_pin(d) && !(command(d) & PCI_COMMAND_INTX_DISABLE) &&
		   !pci_msix_enabled(d);
	unsigned line;

	if (d->intx_level)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	if (out == d->intx_out)
		return;
	d->intx_out = out;
	line = (pc_pci_intx_gsi((unsigned)d->slot, intx_pin(d) - 1) - PC_PCI_INTX_GSI_BASE) & 3;
	if (out) {
		if (h->intx_count[line]++ == 0)
			vm_set_irq(h->vm, PC_PCI_INTX_GSI_BASE + line, true);
	} else if (--h->intx_count[line] == 0) {
		vm_set_irq(h->vm, PC_PCI_INTX_GSI_BASE + line, false);
	}
}

void pci_intx_init(struct pci_dev *d, unsigned pin)
{
	if (pin < 1 || pin > 4) {
		log_error("pci %s: interrupt pin %u is invalid (1-4)", d->name, pin);
		return;
	}
	d->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
	d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pc_pci_intx_gsi((unsigned)d->slot, pin - 1);
}

void pci_intx_set(struct pci_dev *d, bool asserted)
{
	d->intx_level = asserted;
	intx_update(d);
}

/* ---- MSI-X ---- */

static uint32_t msix_entry_get(const struct pci_dev *d, unsigned v, unsigned field)
{
	const uint8_t *e = d->msix.table + v * PCI_MSIX_ENTRY_SIZE + field;

	return (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
}

bool pci_msix_masked(const struct pci_dev *d, unsigned v)
{
	if (v >= d->msix.nvec)
		return true;
	return (msix_control(d) & PCI_MSIX_FLAGS_MASKALL) ||
	       (msix_entry_get(d, v, PCI_MSIX_ENTRY_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void msix_send(struct pci_dev *d, unsigned v)
{
	uint64_t addr = (uint64_t)msix_entry_get(d, v, PCI_MSIX_ENTRY_ADDR_HI) << 32 |
			msix_entry_get(d, v, PCI_MSIX_ENTRY_ADDR_LO);

	vm_send_msi(d->host->vm, addr, msix_entry_get(d, v, PCI_MSIX_ENTRY_DATA));
}

bool pci_msix_notify(struct pci_dev *d, unsigned v)
{
	if (!pci_msix_enabled(d) || v >= d->msix.nvec)
		return false;
	if (pci_msix_masked(d, v))
		d->msix.pba[v / 64] |= 1ULL << (v % 64);
	else
		msix_send(d, v);
	return true;
}

/* Deliver the pending messages of vectors that are no longer masked. */
static void msix_flush_pending(struct pci_dev *d)
{
	if (!pci_msix_enabled(d))
		return;
	for (unsigned v = 0; v < d->msix.nvec; v++) {
		if (!(d->msix.pba[v / 64] & (1ULL << (v % 64))) || pci_msix_masked(d, v))
			continue;
		d->msix.pba[v / 64] &= ~(1ULL << (v % 64));
		msix_send(d, v);
	}
}

int pci_msix_init(struct pci_dev *d, unsigned nvec, int bar, uint32_t table_off, uint32_t pba_off)
{
	uint64_t table_len = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, pba_len = (nvec + 63) / 64 * 8;
	int cap;

	if (nvec < 1 || nvec > PCI_MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_NUM_BARS ||
	    d->bars[bar].type == PCI_BAR_NONE || d->bars[bar].type == PCI_BAR_IO ||
	    (table_off & 7) || (pba_off & 7) || table_off + table_len > d->bars[bar].size ||
	    pba_off + pba_len > d->bars[bar].size ||
	    (table_off < pba_off + pba_len && pba_off < table_off + table_len) || d->msix.cap) {
		log_error("pci %s: invalid MSI-X layout (%u vectors, BAR %d, table %#x, PBA %#x)",
			  d->name, nvec, bar, table_off, pba_off);
		return -1;
	}
	cap = pci_cap_add(d, PCI_CAP_ID_MSIX, 12);
	if (cap < 0)
		return -1;
	pci_cfg_set(d, (unsigned)cap + PCI_MSIX_FLAGS, 2, nvec - 1);
	pci_cfg_set_wmask(d, (unsigned)cap + PCI_MSIX_FLAGS, 2,
			  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	pci_cfg_set(d, (unsigned)cap + PCI_MSIX_TABLE, 4, table_off | (uint32_t)bar);
	pci_cfg_set(d, (unsigned)cap + PCI_MSIX_PBA, 4, pba_off | (uint32_t)bar);
	d->msix.cap = (unsigned)cap;
	d->msix.nvec = nvec;
	d->msix.bar = bar;
	d->msix.table_off = table_off;
	d->msix.pba_off = pba_off;
	d->msix.table = xcalloc(nvec, PCI_MSIX_ENTRY_SIZE);
	d->msix.pba = xcalloc((nvec + 63) / 64, sizeof(uint64_t));
	for (unsigned v = 0; v < nvec; v++)
		d->msix.table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL] =
		    PCI_MSIX_ENTRY_CTRL_MASKBIT;
	return cap;
}

/* Guest access to the table or PBA; returns false if offset hits neither. */
static bool msix_bar_access(struct pci_dev *d, int bar, uint64_t off, unsigned size,
			    uint64_t *value, bool write)
{
	struct pci_msix *m = &d->msix;
	uint64_t table_len = (uint64_t)m->nvec * PCI_MSIX_ENTRY_SIZE;
	uint64_t pba_len = (m->nvec + 63) / 64 * 8;

	if (!m->cap || bar != m->bar)
		return false;
	if (off >= m->table_off && off - m->table_off < table_len) {
		uint64_t t = off - m->table_off;

		if (!write)
			*value = 0;
		for (unsigned i = 0; i < size && t + i < table_len; i++) {
			uint8_t *b = &m->table[t + i];
			unsigned field = (unsigned)((t + i) % PCI_MSIX_ENTRY_SIZE);

			if (!write) {
				*value |= (uint64_t)*b << (8 * i);
			} else if (field == PCI_MSIX_ENTRY_CTRL) {
				*b = (uint8_t)(*value >> (8 * i)) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
			} else if (field < PCI_MSIX_ENTRY_CTRL) {
				*b = (uint8_t)(*value >> (8 * i));
			}
		}
		if (write)
			msix_flush_pending(d);
		return true;
	}
	if (off >= m->pba_off && off - m->pba_off < pba_len) {
		uint64_t p = off - m->pba_off;

		if (write)
			return true; /* read-only */
		*value = 0;
		for (unsigned i = 0; i < size && p + i < pba_len; i++) {
			uint64_t word = m->pba[(p + i) / 8];
			*value |= ((word >> (8 * ((p + i) % 8))) & 0xff) << (8 * i);
		}
		return true;
	}
	return false;
}

/* ---- BARs ---- */

static uint64_t bar_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_bar *b = opaque;
	struct pci_dev *d = b->dev;
	uint64_t v;

	if (msix_bar_access(d, b->index, off, size, &v, false))
		return v;
	if (!d->ops->bar_read)
		return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	return d->ops->bar_read(d->opaque, b->index, off, size);
}

static void bar_io_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct pci_bar *b = opaque;
	struct pci_dev *d = b->dev;

	if (msix_bar_access(d, b->index, off, size, &value, true))
		return;
	if (d->ops->bar_write)
		d->ops->bar_write(d->opaque, b->index, off, value, size);
}

static const struct io_ops bar_io_ops = {.read = bar_io_read, .write = bar_io_write};

/* The address the BAR registers hold now. */
static uint64_t bar_address(const struct pci_dev *d, int i)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
	uint64_t v = pci_cfg_get(d, off, 4);

	switch (d->bars[i].type) {
	case PCI_BAR_IO:
		return v & ~3ULL;
	case PCI_BAR_MEM32:
		return v & ~15ULL;
	case PCI_BAR_MEM64:
		return (v & ~15ULL) | (uint64_t)pci_cfg_get(d, off + 4, 4) << 32;
	default:
		return 0;
	}
}

/* Does [base, base + len) overlap a range on bus? */
static bool bus_busy(const struct io_bus *bus, uint64_t base, uint64_t len)
{
	for (size_t i = 0; i < bus->count; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (base <= r->base + r->len - 1 && r->base <= base + len - 1)
			return true;
	}
	return false;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return blen && a < b + blen && b < a + alen;
}

/*
 * Can the BAR decode at addr without hiding RAM, the interrupt controllers and
 * firmware area below 4 GiB (which the accelerators may handle off the bus), or
 * another device? This also keeps BARs being sized (all ones) unmapped.
 */
static bool bar_placeable(const struct pci_dev *d, const struct pci_bar *b, uint64_t addr)
{
	struct vm *vm = d->host->vm;

	if (!addr)
		return false;
	if (b->type == PCI_BAR_IO)
		return addr + b->size <= IO_SPACE_SIZE && !bus_busy(&vm->pio, addr, b->size);
	if (addr >= PHYS_ADDR_LIMIT || b->size > PHYS_ADDR_LIMIT - addr)
		return false;
	if (overlaps(addr, b->size, 0, vm->low_ram_size) ||
	    overlaps(addr, b->size, PC_HIGH_RAM_BASE, vm->high_ram_size) ||
	    overlaps(addr, b->size, PC_IOAPIC_BASE, PC_HIGH_RAM_BASE - PC_IOAPIC_BASE))
		return false;
	return !bus_busy(&vm->mmio, addr, b->size);
}

static struct io_bus *bar_bus(const struct pci_dev *d, const struct pci_bar *b)
{
	return b->type == PCI_BAR_IO ? &d->host->vm->pio : &d->host->vm->mmio;
}

/* Map or unmap BAR i to follow its register and the command register. */
static void bar_update(struct pci_dev *d, int i)
{
	struct pci_bar *b = &d->bars[i];
	uint16_t decode = b->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	uint64_t addr = bar_address(d, i);

	if (b->type == PCI_BAR_NONE)
		return;
	if (!(command(d) & decode))
		addr = 0;
	if (addr == b->mapped)
		return;
	if (b->mapped) {
		iobus_del(bar_bus(d, b), b->mapped, b);
		b->mapped = 0;
	}
	if (!addr)
		return;
	if (!bar_placeable(d, b, addr)) {
		log_debug("pci %s: BAR %d at %#llx (size %#llx) not mapped: address unusable",
			  d->name, i, (unsigned long long)addr, (unsigned long long)b->size);
		return;
	}
	if (iobus_add(bar_bus(d, b), addr, b->size, &bar_io_ops, b, d->name) == 0)
		b->mapped = addr;
}

static void bars_update(struct pci_dev *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++)
		bar_update(d, i);
}

int pci_bar_init(struct pci_dev *d, int bar, enum pci_bar_type type, uint64_t size,
		 bool prefetchable)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)bar;
	uint64_t min = type == PCI_BAR_IO ? 4 : 16, max;
	uint32_t flags;

	max = type == PCI_BAR_IO ? 256 : type == PCI_BAR_MEM32 ? 1ULL << 31 : 1ULL << 40;
	if (bar < 0 || bar >= PCI_NUM_BARS || type == PCI_BAR_NONE ||
	    (type == PCI_BAR_MEM64 && bar == PCI_NUM_BARS - 1) || size < min || size > max ||
	    (size & (size - 1)) || d->bars[bar].size ||
	    (type == PCI_BAR_MEM64 && d->bars[bar + 1].size) ||
	    (bar > 0 && d->bars[bar - 1].type == PCI_BAR_MEM64)) {
		log_error("pci %s: invalid BAR %d (type %d, size %#llx)", d->name, bar, type,
			  (unsigned long long)size);
		return -1;
	}
	d->bars[bar].type = type;
	d->bars[bar].size = size;
	if (type == PCI_BAR_IO) {
		flags = PCI_BAR_IO_FLAG;
		pci_cfg_set_wmask(d, off, 4, (uint32_t) ~(size - 1) & 0xfffc);
	} else {
		flags = (type == PCI_BAR_MEM64 ? PCI_BAR_MEM_TYPE64 : 0) |
			(prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
		pci_cfg_set_wmask(d, off, 4, (uint32_t) ~(size - 1) & ~15u);
	}
	pci_cfg_set(d, off, 4, flags);
	if (type == PCI_BAR_MEM64) {
		d->bars[bar + 1].size = size; /* reserved as the upper half */
		pci_cfg_set_wmask(d, off + 4, 4, (uint32_t)(~(size - 1) >> 32));
	}
	return 0;
}

uint64_t pci_bar_mapped_addr(const struct pci_dev *d, int bar)
{
	if (bar < 0 || bar >= PCI_NUM_BARS)
		return 0;
	return d->bars[bar].mapped;
}

/* ---- capabilities ---- */

int pci_cap_add(struct pci_dev *d, uint8_t id, unsigned len)
{
	unsigned off = ALIGN_UP(d->cap_free, 4), last;

	if (len < 2 || off + len > CAP_END) {
		log_error("pci %s: no room for a %u-byte capability %#x", d->name, len, id);
		return -1;
	}
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	/* Append to the list so capabilities appear in the order they were added. */
	last = d->cfg[PCI_CAPABILITY_LIST];
	if (!last) {
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	} else {
		while (d->cfg[last + 1])
			last = d->cfg[last + 1];
		d->cfg[last + 1] = (uint8_t)off;
	}
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_free = off + len;
	return (int)off;
}

unsigned pci_cap_find(const struct pci_dev *d, uint8_t id)
{
	unsigned off = d->cfg[PCI_CAPABILITY_LIST];

	for (int n = 0; off && n < 64; n++, off = d->cfg[off + 1])
		if (d->cfg[off] == id)
			return off;
	return 0;
}

/* ---- configuration space access from the guest ---- */

static uint32_t cfg_read(struct pci_dev *d, unsigned off, unsigned size)
{
	uint32_t v = pci_cfg_get(d, off, size);

	if (d->ops && d->ops->cfg_read)
		d->ops->cfg_read(d->opaque, off, size, &v);
	return v;
}

static bool touches(unsigned off, unsigned size, unsigned reg, unsigned len)
{
	return off < reg + len && reg < off + size;
}

static void cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t value)
{
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++) {
		uint8_t v = (uint8_t)(value >> (8 * i)), *c = &d->cfg[off + i];

		*c = (uint8_t)((*c & ~d->wmask[off + i]) | (v & d->wmask[off + i]));
		*c &= (uint8_t) ~(v & d->w1cmask[off + i]);
	}
	if (touches(off, size, PCI_COMMAND, 2)) {
		bars_update(d);
		intx_update(d);
	} else if (touches(off, size, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS)) {
		bars_update(d);
	}
	if (d->msix.cap && touches(off, size, d->msix.cap + PCI_MSIX_FLAGS, 2)) {
		msix_flush_pending(d);
		intx_update(d);
	}
	if (d->ops && d->ops->cfg_write)
		d->ops->cfg_write(d->opaque, off, size, value);
}

static struct pci_dev *lookup(struct pci_host *h, unsigned bus, unsigned devfn)
{
	if (bus != 0 || (devfn & 7))
		return NULL;
	return h->devs[devfn >> 3];
}

/* One configuration access of size bytes at reg; absent targets float high. */
static uint32_t config_read(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			    unsigned size)
{
	struct pci_dev *d = lookup(h, bus, devfn);

	if (!d || reg + size > PCI_CFG_SIZE)
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	return cfg_read(d, reg, size);
}

static void config_write(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			 unsigned size, uint32_t value)
{
	struct pci_dev *d = lookup(h, bus, devfn);

	if (d && reg + size <= PCI_CFG_SIZE)
		cfg_write(d, reg, size, value);
}

/* 0xcf8: CONFIG_ADDRESS, dword accesses only. */
static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;

	if (off || size != 4)
		return (1ULL << (8 * size)) - 1;
	return h->config_address;
}

static void cf8_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct pci_host *h = opaque;

	if (!off && size == 4)
		h->config_address = (uint32_t)value & 0x80fffffcu;
}

/* Split an access into naturally aligned pieces that stay in one dword. */
static unsigned piece_size(unsigned reg, unsigned size)
{
	if (size >= 4 && !(reg & 3))
		return 4;
	if (size >= 2 && !(reg & 1) && (reg & 3) != 3)
		return 2;
	return 1;
}

/* 0xcfc-0xcff: CONFIG_DATA for the function CONFIG_ADDRESS selects. */
static uint64_t cfc_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	uint32_t a = h->config_address;
	uint64_t v = 0;

	if (!(a & 0x80000000u))
		return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	for (unsigned done = 0, n; done < size; done += n) {
		unsigned reg = (a & 0xfc) + (unsigned)off + done;
		n = piece_size(reg, size - done);
		if (reg > 0xff) /* past the dword window */
			v |= (uint64_t)((1u << (8 * n)) - 1) << (8 * done);
		else
			v |= (uint64_t)config_read(h, (a >> 16) & 0xff, (a >> 8) & 0xff, reg, n)
			     << (8 * done);
	}
	return v;
}

static void cfc_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct pci_host *h = opaque;
	uint32_t a = h->config_address;

	if (!(a & 0x80000000u))
		return;
	for (unsigned done = 0, n; done < size; done += n) {
		unsigned reg = (a & 0xfc) + (unsigned)off + done;
		n = piece_size(reg, size - done);
		if (reg <= 0xff)
			config_write(h, (a >> 16) & 0xff, (a >> 8) & 0xff, reg, n,
				     (uint32_t)(value >> (8 * done)));
	}
}

/* ECAM: bus << 20 | device << 15 | function << 12 | register. */
static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	unsigned bus = (unsigned)(off >> 20), devfn = (unsigned)(off >> 12) & 0xff;
	unsigned reg = (unsigned)off & 0xfff;
	uint64_t v = 0;

	for (unsigned done = 0, n; done < size; done += n) {
		n = piece_size(reg + done, size - done);
		if (reg + done >= PCI_CFG_SIZE) /* crossed into the next function */
			v |= (uint64_t)((1u << (8 * n)) - 1) << (8 * done);
		else
			v |= (uint64_t)config_read(h, bus, devfn, reg + done, n) << (8 * done);
	}
	return v;
}

static void ecam_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct pci_host *h = opaque;
	unsigned bus = (unsigned)(off >> 20), devfn = (unsigned)(off >> 12) & 0xff;
	unsigned reg = (unsigned)off & 0xfff;

	for (unsigned done = 0, n; done < size && reg + done < PCI_CFG_SIZE; done += n) {
		n = piece_size(reg + done, size - done);
		config_write(h, bus, devfn, reg + done, n, (uint32_t)(value >> (8 * done)));
	}
}

static const struct io_ops cf8_ops = {.read = cf8_read, .write = cf8_write};
static const struct io_ops cfc_ops = {.read = cfc_read, .write = cfc_write};
static const struct io_ops ecam_ops = {.read = ecam_read, .write = ecam_write};

/* ---- devices ---- */

/* The header every function starts with: writable command and scratch registers. */
static void init_header(struct pci_dev *d)
{
	pci_cfg_set_wmask(d, PCI_COMMAND, 2,
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			      PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	pci_cfg_set_w1cmask(d, PCI_STATUS, 2, PCI_STATUS_W1C);
	pci_cfg_set_wmask(d, 0x0c, 2, 0xffff); /* cache line size, latency timer */
	pci_cfg_set_wmask(d, PCI_INTERRUPT_LINE, 1, 0xff);
	d->cap_free = CAP_START;
}

struct pci_dev *pci_dev_new(struct pci_host *h, int slot, const char *name,
			    const struct pci_dev_ops *ops, void *opaque)
{
	struct pci_dev *d;

	if (slot < 0) {
		for (slot = 1; slot < PCI_MAX_SLOTS && h->devs[slot]; slot++)
			;
		if (slot == PCI_MAX_SLOTS) {
			log_error("pci %s: no free slot on bus 0", name);
			return NULL;
		}
	}
	if (slot >= PCI_MAX_SLOTS || h->devs[slot]) {
		log_error("pci %s: slot %d is %s", name, slot,
			  slot >= PCI_MAX_SLOTS ? "out of range (0-31)" : "already in use");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->host = h;
	d->ops = ops;
	d->opaque = opaque;
	d->slot = slot;
	snprintf(d->name, sizeof(d->name), "%s", name);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		d->bars[i].dev = d;
		d->bars[i].index = i;
	}
	init_header(d);
	h->devs[slot] = d;
	return d;
}

void pci_dev_free(struct pci_dev *d)
{
	if (!d)
		return;
	pci_intx_set(d, false);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		if (d->bars[i].mapped)
			iobus_del(bar_bus(d, &d->bars[i]), d->bars[i].mapped, &d->bars[i]);
	d->host->devs[d->slot] = NULL;
	free(d->msix.table);
	free(d->msix.pba);
	free(d);
}

void pci_set_ids(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		 uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	pci_cfg_set(d, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_set(d, PCI_DEVICE_ID, 2, device);
	pci_cfg_set(d, PCI_REVISION_ID, 1, revision);
	pci_cfg_set(d, PCI_CLASS_PROG, 3, class_code & 0xffffff);
	pci_cfg_set(d, PCI_SUBSYSTEM_VENDOR_ID, 2, subsys_vendor);
	pci_cfg_set(d, PCI_SUBSYSTEM_ID, 2, subsys_id);
}

/* ---- the host ---- */

struct pci_host *pci_host_new(struct vm *vm)
{
	struct pci_host *h = xcalloc(1, sizeof(*h));
	struct pci_dev *bridge;

	h->vm = vm;
	if (iobus_add(&vm->pio, PC_PCI_CONFIG_PORT, 1, &cf8_ops, h, "pci config address") < 0)
		goto fail;
	if (iobus_add(&vm->pio, PC_PCI_CONFIG_PORT + 4, 4, &cfc_ops, h, "pci config data") < 0)
		goto fail_cf8;
	if (iobus_add(&vm->mmio, PC_ECAM_BASE, PC_ECAM_SIZE, &ecam_ops, h, "pci ecam") < 0)
		goto fail_cfc;
	bridge = pci_dev_new(h, 0, "host bridge", NULL, NULL);
	pci_set_ids(bridge, PCI_HOST_VENDOR, PCI_HOST_DEVICE, PCI_CLASS_HOST_BRIDGE, 0, 0, 0);
	return h;
fail_cfc:
	iobus_del(&vm->pio, PC_PCI_CONFIG_PORT + 4, h);
fail_cf8:
	iobus_del(&vm->pio, PC_PCI_CONFIG_PORT, h);
fail:
	free(h);
	return NULL;
}

void pci_host_free(struct pci_host *h)
{
	if (!h)
		return;
	for (int i = 0; i < PCI_MAX_SLOTS; i++)
		pci_dev_free(h->devs[i]);
	iobus_del(&h->vm->pio, PC_PCI_CONFIG_PORT, h);
	iobus_del(&h->vm->pio, PC_PCI_CONFIG_PORT + 4, h);
	iobus_del(&h->vm->mmio, PC_ECAM_BASE, h);
	free(h);
}

/* Write a BAR's address registers as the guest would, then enable decoding. */
static void bar_assign(struct pci_dev *d, int i, uint64_t addr)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;

	cfg_write(d, off, 4, (uint32_t)addr | (d->cfg[off] & 0xf));
	if (d->bars[i].type == PCI_BAR_MEM64)
		cfg_write(d, off + 4, 4, (uint32_t)(addr >> 32));
}

int pci_host_assign_bars(struct pci_host *h)
{
	struct vm *vm = h->vm;
	uint64_t io = 0xc000, mem32 = PC_PCI_MMIO_BASE;
	uint64_t mem64 = ALIGN_UP(PC_HIGH_RAM_BASE + vm->high_ram_size, 1 * GiB);

	/* Largest first, so alignment wastes little of the windows. */
	for (uint64_t size = 1ULL << 40; size >= 4; size >>= 1) {
		for (int s = 0; s < PCI_MAX_SLOTS; s++) {
			struct pci_dev *d = h->devs[s];

			for (int i = 0; d && i < PCI_NUM_BARS; i++) {
				struct pci_bar *b = &d->bars[i];
				uint64_t *cursor, addr, end;

				if (b->type == PCI_BAR_NONE || b->size != size)
					continue;
				if (b->type == PCI_BAR_IO) {
					cursor = &io, end = IO_SPACE_SIZE;
				} else if (b->type == PCI_BAR_MEM32 ||
					   ALIGN_UP(mem32, size) + size <= PC_PCI_MMIO_END) {
					cursor = &mem32, end = PC_PCI_MMIO_END;
				} else {
					cursor = &mem64, end = PHYS_ADDR_LIMIT;
				}
				addr = ALIGN_UP(*cursor, size);
				if (addr + size > end) {
					log_error("pci %s: no room for BAR %d (%#llx bytes)",
						  d->name, i, (unsigned long long)size);
					return -1;
				}
				*cursor = addr + size;
				bar_assign(d, i, addr);
			}
		}
	}
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_dev *d = h->devs[s];
		uint16_t cmd = 0;

		for (int i = 0; d && i < PCI_NUM_BARS; i++) {
			if (d->bars[i].type == PCI_BAR_IO)
				cmd |= PCI_COMMAND_IO;
			else if (d->bars[i].type != PCI_BAR_NONE)
				cmd |= PCI_COMMAND_MEMORY;
		}
		if (cmd)
			cfg_write(d, PCI_COMMAND, 2, command(d) | cmd);
	}
	return 0;
}
