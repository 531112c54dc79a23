/*
 * virtio-pci modern transport: the PCI function, its vendor capabilities, the
 * common configuration registers, ISR, notification doorbells and interrupt
 * delivery (MSI-X or INTx). See virtio_pci.h.
 */
#include "vmm/virtio/virtio_pci.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/hw/pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_ID   0x0040

/* struct virtio_pci_cap field offsets. */
#define CAP_LEN		 2
#define CAP_TYPE	 3
#define CAP_BAR		 4
#define CAP_ID		 5
#define CAP_OFFSET	 8
#define CAP_LENGTH	 12
#define CAP_NOTIFY_MULT	 16 /* notify capability only */
#define CAP_PCI_CFG_DATA 16 /* PCI_CFG capability only */

/* Feature bits this transport understands beyond the device's own. */
#define TRANSPORT_FEATURES                                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC) |                         \
	 (1ULL << VIRTIO_F_EVENT_IDX))

struct virtio_pci {
	struct vm *vm;
	struct pci_dev *pci;
	struct virtio_pci_desc desc;
	char name[32];

	uint32_t dfselect, gfselect;
	uint64_t offered, accepted;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t config_vector;
	uint16_t queue_select;
	struct virtq *vqs[VIRTIO_PCI_MAX_QUEUES];
	uint16_t queue_vector[VIRTIO_PCI_MAX_QUEUES];
	bool needs_reset;

	unsigned pci_cfg_cap;	      /* config offset of the VIRTIO_PCI_CAP_PCI_CFG window */
	int kick_fd;		      /* eventfd: doorbells for the I/O thread */
	atomic_uint_least64_t kicked; /* queues whose doorbell rang */
};

/* ---- interrupts ---- */

/* Send vector's MSI-X message, or set isr_bit and assert INTA#. */
static void raise_irq(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (pci_msix_enabled(vp->pci)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(vp->pci, vector);
		return;
	}
	vp->isr |= isr_bit;
	pci_intx_set(vp->pci, true);
}

void virtio_pci_notify(struct virtio_pci *vp, unsigned q)
{
	if (q >= vp->desc.nqueues || !virtq_should_notify(vp->vqs[q]))
		return;
	raise_irq(vp, vp->queue_vector[q], VIRTIO_ISR_QUEUE);
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
	vp->config_generation++;
	if (vp->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(vp, vp->config_vector, VIRTIO_ISR_CONFIG);
}

void virtio_pci_needs_reset(struct virtio_pci *vp, const char *msg)
{
	if (vp->needs_reset)
		return;
	log_warn("%s: %s; device needs reset", vp->name, msg);
	vp->needs_reset = true;
	vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	for (unsigned q = 0; q < vp->desc.nqueues; q++)
		virtq_stop(vp->vqs[q]);
	virtio_pci_config_changed(vp);
}

/* A queue found the guest breaking the rules. */
static void queue_error(void *opaque, struct virtq *vq, const char *msg)
{
	struct virtio_pci *vp = opaque;
	char buf[200];

	snprintf(buf, sizeof(buf), "queue %u: %s", virtq_index(vq), msg);
	virtio_pci_needs_reset(vp, buf);
}

/* ---- reset and status ---- */

/* The transport's own state back to power-on values. */
static void transport_reset(struct virtio_pci *vp)
{
	vp->dfselect = vp->gfselect = 0;
	vp->accepted = 0;
	vp->status = 0;
	vp->isr = 0;
	vp->needs_reset = false;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	vp->queue_select = 0;
	for (unsigned q = 0; q < vp->desc.nqueues; q++) {
		virtq_reset(vp->vqs[q]);
		vp->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	}
	pci_intx_set(vp->pci, false);
}

static void device_reset(struct virtio_pci *vp)
{
	transport_reset(vp);
	if (vp->desc.ops->reset)
		vp->desc.ops->reset(vp->desc.opaque);
}

/* Ring the I/O thread for the queues in mask. */
static void kick(struct virtio_pci *vp, uint64_t mask)
{
	uint64_t one = 1;

	atomic_fetch_or(&vp->kicked, mask);
	if (write(vp->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: signalling the I/O thread: %s", vp->name, strerror(errno));
}

void virtio_pci_requeue(struct virtio_pci *vp, unsigned q)
{
	if (q < vp->desc.nqueues)
		kick(vp, 1ULL << q);
}

/* Can the device live with what the driver accepted? */
static bool features_acceptable(struct virtio_pci *vp)
{
	if (!(vp->accepted & (1ULL << VIRTIO_F_VERSION_1))) {
		log_warn("%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not "
			 "supported)",
			 vp->name);
		return false;
	}
	if (vp->accepted & ~vp->offered) {
		log_warn("%s: driver accepted features %#llx that were not offered", vp->name,
			 (unsigned long long)(vp->accepted & ~vp->offered));
		return false;
	}
	return !vp->desc.ops->features_ok ||
	       vp->desc.ops->features_ok(vp->desc.opaque, vp->accepted);
}

static void status_write(struct virtio_pci *vp, uint8_t value)
{
	uint8_t old = vp->status;

	if (!value) {
		device_reset(vp);
		return;
	}
	if ((value & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    !features_acceptable(vp))
		value &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	/* DEVICE_NEEDS_RESET is the device's to set; the driver cannot set or clear it. */
	vp->status =
	    (uint8_t)((value & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((value & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    vp->desc.nqueues)
		kick(vp, vp->desc.nqueues == 64 ? ~0ULL : (1ULL << vp->desc.nqueues) - 1);
}

bool virtio_pci_running(const struct virtio_pci *vp)
{
	/* Without bus mastering the function must not touch guest memory. */
	return (vp->status & VIRTIO_STATUS_DRIVER_OK) && !vp->needs_reset &&
	       !(vp->status & VIRTIO_STATUS_FAILED) && pci_bus_master_enabled(vp->pci);
}

uint64_t virtio_pci_features(const struct virtio_pci *vp)
{
	return vp->accepted;
}

struct virtq *virtio_pci_queue(struct virtio_pci *vp, unsigned q)
{
	return q < vp->desc.nqueues ? vp->vqs[q] : NULL;
}

struct pci_dev *virtio_pci_dev(struct virtio_pci *vp)
{
	return vp->pci;
}

/* ---- common configuration ---- */

static struct virtq *selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->desc.nqueues ? vp->vqs[vp->queue_select] : NULL;
}

/* The register file as the driver sees it now (little-endian bytes). */
static void common_image(struct virtio_pci *vp, uint8_t img[VIRTIO_PCI_COMMON_SIZE])
{
	struct virtq *vq = selected(vp);
	struct virtq_params *p = vq ? virtq_params(vq) : NULL;
	uint32_t df = vp->dfselect < 2 ? (uint32_t)(vp->offered >> (32 * vp->dfselect)) : 0;
	uint32_t gf = vp->gfselect < 2 ? (uint32_t)(vp->accepted >> (32 * vp->gfselect)) : 0;

	memset(img, 0, VIRTIO_PCI_COMMON_SIZE);
#define PUT(off, val, n)                                                                           \
	do {                                                                                       \
		uint64_t v_ = (val);                                                               \
		memcpy(img + (off), &v_, (n));                                                     \
	} while (0)
	PUT(VIRTIO_PCI_COMMON_DFSELECT, vp->dfselect, 4);
	PUT(VIRTIO_PCI_COMMON_DF, df, 4);
	PUT(VIRTIO_PCI_COMMON_GFSELECT, vp->gfselect, 4);
	PUT(VIRTIO_PCI_COMMON_GF, gf, 4);
	PUT(VIRTIO_PCI_COMMON_MSIX, vp->config_vector, 2);
	PUT(VIRTIO_PCI_COMMON_NUMQ, vp->desc.nqueues, 2);
	PUT(VIRTIO_PCI_COMMON_STATUS, vp->status, 1);
	PUT(VIRTIO_PCI_COMMON_CFGGENERATION, vp->config_generation, 1);
	PUT(VIRTIO_PCI_COMMON_Q_SELECT, vp->queue_select, 2);
	if (vq) {
		PUT(VIRTIO_PCI_COMMON_Q_SIZE, p->size, 2);
		PUT(VIRTIO_PCI_COMMON_Q_MSIX, vp->queue_vector[vp->queue_select], 2);
		PUT(VIRTIO_PCI_COMMON_Q_ENABLE, virtq_enabled(vq), 2);
		PUT(VIRTIO_PCI_COMMON_Q_NOFF, vp->queue_select, 2);
		PUT(VIRTIO_PCI_COMMON_Q_DESCLO, p->desc, 8);
		PUT(VIRTIO_PCI_COMMON_Q_AVAILLO, p->avail, 8);
		PUT(VIRTIO_PCI_COMMON_Q_USEDLO, p->used, 8);
	}
#undef PUT
}

static uint64_t common_read(struct virtio_pci *vp, uint64_t off, unsigned size)
{
	uint8_t img[VIRTIO_PCI_COMMON_SIZE];
	uint64_t v = 0;

	if (off >= VIRTIO_PCI_COMMON_SIZE || size > VIRTIO_PCI_COMMON_SIZE - off)
		return 0;
	common_image(vp, img);
	memcpy(&v, img + off, size);
	return v;
}

/* An MSI-X vector number the driver wrote: out of range reads back NO_VECTOR. */
static uint16_t vector_check(struct virtio_pci *vp, uint64_t v)
{
	return v < vp->desc.nqueues + 1u ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

/* Store part of a 64-bit queue address (lo or hi dword, or all of it). */
static void addr_write(uint64_t *field, unsigned part_off, uint64_t value, unsigned size)
{
	if (size == 8 && !part_off) {
		*field = value;
	} else if (size == 4) {
		unsigned shift = part_off ? 32 : 0;
		*field = (*field & ~(0xffffffffULL << shift)) | ((value & 0xffffffffULL) << shift);
	}
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint64_t value, unsigned size)
{
	struct virtq *vq = selected(vp);
	struct virtq_params *p = vq ? virtq_params(vq) : NULL;
	bool q_writable = vq && !virtq_enabled(vq);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		if (size == 4)
			vp->dfselect = (uint32_t)value;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		if (size == 4)
			vp->gfselect = (uint32_t)value;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (size == 4 && vp->gfselect < 2 && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vp->gfselect;
			vp->accepted = (vp->accepted & ~(0xffffffffULL << shift)) |
				       ((value & 0xffffffffULL) << shift);
		}
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		if (size == 2)
			vp->config_vector = vector_check(vp, value);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		if (size == 1)
			status_write(vp, (uint8_t)value);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		if (size == 2)
			vp->queue_select = (uint16_t)value;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (size == 2 && q_writable)
			p->size = (uint16_t)value;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (size == 2 && vq)
			vp->queue_vector[vp->queue_select] = vector_check(vp, value);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* Writing 0 is not allowed (no VIRTIO_F_RING_RESET): ignore it. */
		if (size == 2 && q_writable && value == 1)
			virtq_enable(vq, vp->accepted);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (q_writable)
			addr_write(&p->desc, (unsigned)off & 4, value, size);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (q_writable)
			addr_write(&p->avail, (unsigned)off & 4, value, size);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (q_writable)
			addr_write(&p->used, (unsigned)off & 4, value, size);
		break;
	default: /* read-only registers and holes */
		break;
	}
}

/* ---- the BAR ---- */

static uint64_t bar_read(void *opaque, int bar, uint64_t off, unsigned size)
{
	struct virtio_pci *vp = opaque;
	uint64_t v = 0;

	if (bar != VIRTIO_PCI_BAR)
		return 0;
	if (off < VIRTIO_PCI_ISR_OFF)
		return common_read(vp, off - VIRTIO_PCI_COMMON_OFF, size);
	if (off == VIRTIO_PCI_ISR_OFF) {
		/* Reading acknowledges: clear and deassert INTx. */
		v = vp->isr;
		vp->isr = 0;
		pci_intx_set(vp->pci, false);
		return v;
	}
	if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		uint64_t o = off - VIRTIO_PCI_DEVICE_OFF;
		if (o < vp->desc.config_size && size <= vp->desc.config_size - o)
			memcpy(&v, (uint8_t *)vp->desc.config + o, size);
		return v;
	}
	return 0;
}

static void bar_write(void *opaque, int bar, uint64_t off, uint64_t value, unsigned size)
{
	struct virtio_pci *vp = opaque;

	if (bar != VIRTIO_PCI_BAR)
		return;
	if (off < VIRTIO_PCI_ISR_OFF) {
		common_write(vp, off - VIRTIO_PCI_COMMON_OFF, value, size);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		uint64_t o = off - VIRTIO_PCI_DEVICE_OFF;
		if (vp->desc.ops->config_write && o < vp->desc.config_size && size <= 4 &&
		    size <= vp->desc.config_size - o)
			vp->desc.ops->config_write(vp->desc.opaque, (unsigned)o, size,
						   (uint32_t)value);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_OFF) {
		uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;
		if (q < vp->desc.nqueues && !vp->needs_reset)
			kick(vp, 1ULL << q);
	}
}

/* ---- the VIRTIO_PCI_CAP_PCI_CFG window into the BAR ---- */

/* Is the window's bar/offset/length a valid access? Returns its length or 0. */
static unsigned window_target(struct virtio_pci *vp, uint64_t *off)
{
	unsigned c = vp->pci_cfg_cap;
	uint32_t len = pci_cfg_get(vp->pci, c + CAP_LENGTH, 4);

	*off = pci_cfg_get(vp->pci, c + CAP_OFFSET, 4);
	if (pci_cfg_get(vp->pci, c + CAP_BAR, 1) != VIRTIO_PCI_BAR ||
	    (len != 1 && len != 2 && len != 4) || (*off & (len - 1)) ||
	    *off + len > VIRTIO_PCI_MSIX_OFF)
		return 0;
	return len;
}

static void cfg_read(void *opaque, unsigned off, unsigned size, uint32_t *value)
{
	struct virtio_pci *vp = opaque;
	uint64_t target;
	unsigned len;

	if (off != vp->pci_cfg_cap + CAP_PCI_CFG_DATA)
		return;
	len = window_target(vp, &target);
	*value = len ? (uint32_t)bar_read(vp, VIRTIO_PCI_BAR, target, len) : 0;
	if (size < 4)
		*value &= (1u << (8 * size)) - 1;
}

static void cfg_write(void *opaque, unsigned off, unsigned size, uint32_t value)
{
	struct virtio_pci *vp = opaque;
	uint64_t target;
	unsigned len;

	(void)size;
	if (off != vp->pci_cfg_cap + CAP_PCI_CFG_DATA || !(len = window_target(vp, &target)))
		return;
	bar_write(vp, VIRTIO_PCI_BAR, target, value, len);
}

static const struct pci_dev_ops virtio_pci_ops = {
    .bar_read = bar_read,
    .bar_write = bar_write,
    .cfg_read = cfg_read,
    .cfg_write = cfg_write,
};

/* ---- doorbells on the I/O thread ---- */

static void on_kick(void *opaque, int fd, uint32_t events)
{
	struct virtio_pci *vp = opaque;
	uint64_t n, mask;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("%s: reading doorbell eventfd: %s", vp->name, strerror(errno));
	mask = atomic_exchange(&vp->kicked, 0);
	for (unsigned q = 0; q < vp->desc.nqueues; q++)
		if (mask & (1ULL << q))
			vp->desc.ops->queue_notify(vp->desc.opaque, q);
}

/* ---- creation ---- */

/* Add a struct virtio_pci_cap pointing at [off, off + len) of the BAR. */
static int add_cap(struct virtio_pci *vp, uint8_t type, unsigned cap_len, uint32_t off,
		   uint32_t len)
{
	int c = pci_cap_add(vp->pci, PCI_CAP_ID_VNDR, cap_len);

	if (c < 0)
		return -1;
	pci_cfg_set(vp->pci, (unsigned)c + CAP_LEN, 1, cap_len);
	pci_cfg_set(vp->pci, (unsigned)c + CAP_TYPE, 1, type);
	pci_cfg_set(vp->pci, (unsigned)c + CAP_BAR, 1, VIRTIO_PCI_BAR);
	pci_cfg_set(vp->pci, (unsigned)c + CAP_OFFSET, 4, off);
	pci_cfg_set(vp->pci, (unsigned)c + CAP_LENGTH, 4, len);
	return c;
}

static int add_caps(struct virtio_pci *vp)
{
	int c;

	if (add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, 16, VIRTIO_PCI_COMMON_OFF,
		    VIRTIO_PCI_COMMON_SIZE) < 0 ||
	    add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, 16, VIRTIO_PCI_ISR_OFF, 1) < 0)
		return -1;
	if (vp->desc.config_size &&
	    add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, 16, VIRTIO_PCI_DEVICE_OFF,
		    (uint32_t)vp->desc.config_size) < 0)
		return -1;
	c = add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, 20, VIRTIO_PCI_NOTIFY_OFF,
		    VIRTIO_PCI_NOTIFY_MULT * vp->desc.nqueues);
	if (c < 0)
		return -1;
	pci_cfg_set(vp->pci, (unsigned)c + CAP_NOTIFY_MULT, 4, VIRTIO_PCI_NOTIFY_MULT);
	c = add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 20, 0, 0);
	if (c < 0)
		return -1;
	vp->pci_cfg_cap = (unsigned)c;
	pci_cfg_set_wmask(vp->pci, (unsigned)c + CAP_BAR, 1, 0xff);
	pci_cfg_set_wmask(vp->pci, (unsigned)c + CAP_OFFSET, 4, 0xffffffff);
	pci_cfg_set_wmask(vp->pci, (unsigned)c + CAP_LENGTH, 4, 0xffffffff);
	pci_cfg_set_wmask(vp->pci, (unsigned)c + CAP_PCI_CFG_DATA, 4, 0xffffffff);
	return 0;
}

struct virtio_pci *virtio_pci_new(struct vm *vm, struct pci_host *host,
				  const struct virtio_pci_desc *desc)
{
	struct virtio_pci *vp;

	if (!desc->nqueues || desc->nqueues > VIRTIO_PCI_MAX_QUEUES ||
	    desc->config_size > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF) {
		log_error("%s: invalid virtio device (%u queues, %zu bytes of configuration)",
			  desc->name, desc->nqueues, desc->config_size);
		return NULL;
	}
	vp = xcalloc(1, sizeof(*vp));
	vp->vm = vm;
	vp->desc = *desc;
	vp->kick_fd = -1;
	snprintf(vp->name, sizeof(vp->name), "%s", desc->name);
	vp->offered = desc->features | TRANSPORT_FEATURES;
	for (unsigned q = 0; q < desc->nqueues; q++) {
		vp->vqs[q] = virtq_new(vm, q, desc->queue_size, queue_error, vp);
		if (!vp->vqs[q])
			goto fail;
	}
	vp->pci = pci_dev_new(host, -1, vp->name, &virtio_pci_ops, vp);
	if (!vp->pci)
		goto fail;
	pci_set_ids(vp->pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + desc->device_type,
		    desc->class_code, 1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
	if (pci_bar_init(vp->pci, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false) < 0 ||
	    add_caps(vp) < 0 ||
	    pci_msix_init(vp->pci, desc->nqueues + 1, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_OFF,
			  VIRTIO_PCI_PBA_OFF) < 0)
		goto fail;
	pci_intx_init(vp->pci, 1);
	vp->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->kick_fd < 0) {
		log_error("%s: eventfd: %s", vp->name, strerror(errno));
		goto fail;
	}
	if (evloop_add_fd(vm->loop, vp->kick_fd, EPOLLIN, on_kick, vp) < 0)
		goto fail;
	transport_reset(vp);
	return vp;
fail:
	if (vp->kick_fd >= 0)
		close(vp->kick_fd);
	pci_dev_free(vp->pci);
	for (unsigned q = 0; q < desc->nqueues; q++)
		virtq_free(vp->vqs[q]);
	free(vp);
	return NULL;
}

void virtio_pci_free(struct virtio_pci *vp)
{
	if (!vp)
		return;
	evloop_del_fd(vp->vm->loop, vp->kick_fd);
	close(vp->kick_fd);
	pci_dev_free(vp->pci);
	for (unsigned q = 0; q < vp->desc.nqueues; q++)
		virtq_free(vp->vqs[q]);
	free(vp);
}
