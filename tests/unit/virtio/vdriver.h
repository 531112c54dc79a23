/*
 * A virtio-pci driver in C for the device unit tests: it plays the guest
 * against a fake VM with real RAM, reaching the device only the way a guest
 * can (ECAM configuration space, the BAR, rings in guest RAM), with the
 * device's I/O thread running the VM's event loop on a helper thread.
 */
#ifndef BERTH_TESTS_VIRTIO_VDRIVER_H
#define BERTH_TESTS_VIRTIO_VDRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <time.h>

#include "../hw/fake_vm.h"
#include "vmm/hw/pci.h"
#include "vmm/virtio/virtio_pci.h"

#define VD_RAM_SIZE   (16 * MiB)
#define VD_HEAP_BASE  (1 * MiB) /* buffers and rings are carved from here */
#define VD_MAX_QUEUES 4
#define VD_TIMEOUT_MS 5000

struct vd_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vd_queue {
	uint16_t size;
	uint64_t desc, avail, used; /* guest addresses */
	uint16_t avail_idx;	    /* next avail index the driver publishes */
	uint16_t next_desc;	    /* next free descriptor (round robin) */
	uint16_t used_seen;
};

struct vdriver {
	struct vm *vm;
	struct pci_host *host;
	struct fake_loop_thread loop;
	unsigned slot;
	uint64_t bar;
	unsigned cap[6]; /* config offset of each VIRTIO_PCI_CAP_* (index = type) */
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	uint64_t heap;
	struct vd_queue q[VD_MAX_QUEUES];
};

/* A fresh VM with RAM and a PCI host; devices are added by the test. */
static inline void vd_vm_new(struct vdriver *d)
{
	memset(d, 0, sizeof(*d));
	d->vm = fake_vm_new(VD_RAM_SIZE);
	d->vm->ram = xcalloc(1, VD_RAM_SIZE);
	d->host = pci_host_new(d->vm);
	assert_non_null(d->host);
	d->heap = VD_HEAP_BASE;
}

static inline uint64_t vd_ecam(unsigned slot, unsigned reg)
{
	return PC_ECAM_BASE + ((uint64_t)slot << 15 | reg);
}

static inline uint32_t vd_cfg_read(struct vdriver *d, unsigned reg, unsigned size)
{
	return (uint32_t)vm_mmio_read(d->vm, vd_ecam(d->slot, reg), size);
}

static inline void vd_cfg_write(struct vdriver *d, unsigned reg, unsigned size, uint32_t v)
{
	vm_mmio_write(d->vm, vd_ecam(d->slot, reg), v, size);
}

/* Assign BARs, find the virtio capabilities of the device in slot, start the I/O thread. */
static inline void vd_attach(struct vdriver *d, unsigned slot)
{
	unsigned off;

	d->slot = slot;
	assert_int_equal(pci_host_assign_bars(d->host), 0);
	assert_int_equal(vd_cfg_read(d, PCI_VENDOR_ID, 2), 0x1af4);
	vd_cfg_write(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	d->bar = (vd_cfg_read(d, PCI_BASE_ADDRESS_0, 4) & ~15u) |
		 (uint64_t)vd_cfg_read(d, PCI_BASE_ADDRESS_0 + 4, 4) << 32;
	assert_true(d->bar != 0);
	for (off = vd_cfg_read(d, PCI_CAPABILITY_LIST, 1); off; off = vd_cfg_read(d, off + 1, 1)) {
		unsigned type;
		uint64_t where;

		if (vd_cfg_read(d, off, 1) != PCI_CAP_ID_VNDR)
			continue;
		type = vd_cfg_read(d, off + 3, 1);
		assert_true(type >= 1 && type <= 5);
		d->cap[type] = off;
		assert_int_equal(vd_cfg_read(d, off + 4, 1), 0); /* BAR 0 */
		where = d->bar + vd_cfg_read(d, off + 8, 4);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			d->common = where;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			d->isr = where;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			d->device = where;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = where;
			d->notify_mult = vd_cfg_read(d, off + 16, 4);
			break;
		}
	}
	assert_true(d->common && d->isr && d->notify && d->cap[VIRTIO_PCI_CAP_PCI_CFG]);
	fake_loop_start(&d->loop, d->vm);
}

/* Stop the I/O thread; the test then frees its device, and vd_vm_free the rest. */
static inline void vd_detach(struct vdriver *d)
{
	fake_loop_stop(&d->loop);
}

static inline void vd_vm_free(struct vdriver *d)
{
	pci_host_free(d->host);
	free(d->vm->ram);
	fake_vm_free(d->vm);
}

/* Common configuration accessors. */
static inline uint64_t vd_common_read(struct vdriver *d, unsigned off, unsigned size)
{
	return vm_mmio_read(d->vm, d->common + off, size);
}

static inline void vd_common_write(struct vdriver *d, unsigned off, uint64_t v, unsigned size)
{
	vm_mmio_write(d->vm, d->common + off, v, size);
}

static inline uint8_t vd_status(struct vdriver *d)
{
	return (uint8_t)vd_common_read(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

static inline uint64_t vd_device_features(struct vdriver *d)
{
	uint64_t f;

	vd_common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	f = vd_common_read(d, VIRTIO_PCI_COMMON_DF, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	return f | vd_common_read(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

/* Reset, acknowledge and accept features; returns whether FEATURES_OK stuck. */
static inline bool vd_negotiate(struct vdriver *d, uint64_t features)
{
	vd_common_write(d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	assert_int_equal(vd_status(d), 0);
	vd_common_write(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	vd_common_write(d, VIRTIO_PCI_COMMON_STATUS,
			VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vd_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_GF, (uint32_t)features, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_GF, features >> 32, 4);
	vd_common_write(
	    d, VIRTIO_PCI_COMMON_STATUS,
	    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	return vd_status(d) & VIRTIO_STATUS_FEATURES_OK;
}

/* Guest RAM allocation (bump allocator) and access. */
static inline uint64_t vd_alloc(struct vdriver *d, uint64_t len, uint64_t align)
{
	uint64_t gpa = ALIGN_UP(d->heap, align);

	d->heap = gpa + len;
	assert_true(d->heap <= VD_RAM_SIZE);
	memset(d->vm->ram + gpa, 0, len);
	return gpa;
}

static inline void *vd_ptr(struct vdriver *d, uint64_t gpa)
{
	return d->vm->ram + gpa;
}

/* Program queue q (size entries, rings carved from the heap) and enable it. */
static inline void vd_queue_setup(struct vdriver *d, unsigned q, uint16_t size, uint16_t vector)
{
	struct vd_queue *vq = &d->q[q];

	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc = vd_alloc(d, 16ULL * size, 4096);
	vq->avail = vd_alloc(d, 6ULL + 2ULL * size, 2);
	vq->used = vd_alloc(d, 6ULL + 8ULL * size, 4096);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	assert_true(vd_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2) >= size);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_SIZE, size, 2);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_MSIX, vector, 2);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)vq->desc, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_DESCHI, vq->desc >> 32, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)vq->avail, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_AVAILHI, vq->avail >> 32, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)vq->used, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_USEDHI, vq->used >> 32, 4);
	vd_common_write(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
}

static inline void vd_driver_ok(struct vdriver *d)
{
	vd_common_write(d, VIRTIO_PCI_COMMON_STATUS,
			VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
			1);
}

/* Enable MSI-X with vector v sending data 0x40 + v to the LAPIC. */
static inline void vd_msix_enable(struct vdriver *d, unsigned nvec)
{
	unsigned cap = 0;

	for (unsigned off = vd_cfg_read(d, PCI_CAPABILITY_LIST, 1); off;
	     off = vd_cfg_read(d, off + 1, 1))
		if (vd_cfg_read(d, off, 1) == PCI_CAP_ID_MSIX)
			cap = off;
	assert_true(cap != 0);
	vd_cfg_write(d, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < nvec; v++) {
		uint64_t e = d->bar + VIRTIO_PCI_MSIX_OFF + 16ULL * v;
		vm_mmio_write(d->vm, e + PCI_MSIX_ENTRY_ADDR_LO, 0xfee00000, 4);
		vm_mmio_write(d->vm, e + PCI_MSIX_ENTRY_ADDR_HI, 0, 4);
		vm_mmio_write(d->vm, e + PCI_MSIX_ENTRY_DATA, 0x40 + v, 4);
		vm_mmio_write(d->vm, e + PCI_MSIX_ENTRY_CTRL, 0, 4);
	}
}

/* Ring pointers inside guest RAM. */
static inline struct vd_desc *vd_desc_table(struct vdriver *d, unsigned q)
{
	return vd_ptr(d, d->q[q].desc);
}

static inline uint16_t *vd_avail(struct vdriver *d, unsigned q)
{
	return vd_ptr(d, d->q[q].avail);
}

static inline uint16_t *vd_used(struct vdriver *d, unsigned q)
{
	return vd_ptr(d, d->q[q].used);
}

/* Publish head in the avail ring (without kicking). */
static inline void vd_publish(struct vdriver *d, unsigned q, uint16_t head)
{
	struct vd_queue *vq = &d->q[q];
	uint16_t *avail = vd_avail(d, q);

	avail[2 + (vq->avail_idx % vq->size)] = head;
	vq->avail_idx++;
	__atomic_store_n(&avail[1], vq->avail_idx, __ATOMIC_RELEASE);
}

/* A buffer of a chain: guest address, length, device-writable? */
struct vd_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Write a chain of n buffers into free descriptors; returns the head (not published). */
static inline uint16_t vd_chain(struct vdriver *d, unsigned q, const struct vd_buf *b, unsigned n)
{
	struct vd_queue *vq = &d->q[q];
	struct vd_desc *t = vd_desc_table(d, q);
	uint16_t head = vq->next_desc % vq->size;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((vq->next_desc + i) % vq->size);
		t[idx] = (struct vd_desc){
		    .addr = b[i].gpa,
		    .len = b[i].len,
		    .flags = (uint16_t)((b[i].write ? 2 : 0) | (i + 1 < n ? 1 : 0)),
		    .next = (uint16_t)((idx + 1) % vq->size),
		};
	}
	vq->next_desc = (uint16_t)((vq->next_desc + n) % vq->size);
	return head;
}

static inline void vd_kick(struct vdriver *d, unsigned q)
{
	vm_mmio_write(d->vm, d->notify + (uint64_t)q * d->notify_mult, q, 2);
}

static inline uint64_t vd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void vd_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};

	nanosleep(&ts, NULL);
}

/* Wait until the device's used index reaches idx; false on timeout. */
static inline bool vd_wait_used(struct vdriver *d, unsigned q, uint16_t idx)
{
	uint64_t end = vd_now_ms() + VD_TIMEOUT_MS;

	while (__atomic_load_n(&vd_used(d, q)[1], __ATOMIC_ACQUIRE) != idx) {
		if (vd_now_ms() > end)
			return false;
		vd_sleep_ms(1);
	}
	return true;
}

/* The used ring entry at position i: its id and length. */
static inline void vd_used_elem(struct vdriver *d, unsigned q, uint16_t i, uint32_t *id,
				uint32_t *len)
{
	uint32_t *e = (uint32_t *)((uint8_t *)vd_used(d, q) + 4 + 8 * (i % d->q[q].size));

	*id = e[0];
	*len = e[1];
}

/* Wait until DEVICE_NEEDS_RESET shows in the status; false on timeout. */
static inline bool vd_wait_needs_reset(struct vdriver *d)
{
	uint64_t end = vd_now_ms() + VD_TIMEOUT_MS;

	while (!(vd_status(d) & VIRTIO_STATUS_NEEDS_RESET)) {
		if (vd_now_ms() > end)
			return false;
		vd_sleep_ms(1);
	}
	return true;
}

/* MSIs recorded so far carrying data (read under the VM lock: the I/O thread sends them). */
static inline unsigned vd_msi_count(struct vdriver *d, uint32_t data)
{
	unsigned n = 0;

	pthread_mutex_lock(&d->vm->lock);
	for (unsigned i = 0; i < fake.nmsi && i < FAKE_MAX_MSIS; i++)
		n += fake.msi_data[i] == data;
	pthread_mutex_unlock(&d->vm->lock);
	return n;
}

#endif
