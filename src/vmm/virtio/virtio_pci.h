/*
 * virtio-pci transport, virtio 1.x "modern" only (spec section 4.1): PCI
 * device ID 0x1040 + device type, revision 1, VIRTIO_F_VERSION_1 required.
 *
 * Layout: one 64-bit memory BAR (BAR 0, 32 KiB) holds the common
 * configuration (0x0000), the ISR status (0x1000), the device-specific
 * configuration (0x2000), the queue notification area (0x3000, one 4-byte
 * doorbell per queue), and the MSI-X table (0x4000) and PBA (0x6000). Vendor
 * capabilities point the driver at each, plus the VIRTIO_PCI_CAP_PCI_CFG
 * window. Interrupts go through MSI-X when the driver enables it, else INTA#
 * with the ISR register (read to acknowledge).
 *
 * Threads: a queue doorbell (vCPU thread) only sets a bit and signals an
 * eventfd; the device's queue_notify callback then runs on the I/O thread
 * (vm->loop) with NO lock held, and takes vm->lock itself around queue and
 * transport calls. Every other callback runs with vm->lock held. Functions
 * below must be called with vm->lock held unless they say otherwise.
 *
 * When a queue reports a guest error, the transport logs it, sets
 * DEVICE_NEEDS_RESET in the device status, stops every queue from yielding
 * requests and sends a configuration-change interrupt; the driver's reset
 * (status 0) brings the device back.
 */
#ifndef BERTH_VMM_VIRTIO_VIRTIO_PCI_H
#define BERTH_VMM_VIRTIO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/virtio/virtqueue.h"

struct vm;
struct pci_host;
struct virtio_pci;

/* Device types (virtio 1.x section 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER	  0x02
#define VIRTIO_STATUS_DRIVER_OK	  0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

/* The BAR layout (see above), exported for tests and firmware-style drivers. */
#define VIRTIO_PCI_BAR	       0
#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_OFF    0x4000
#define VIRTIO_PCI_PBA_OFF     0x6000
#define VIRTIO_PCI_MAX_QUEUES  64

/* Common configuration registers (struct virtio_pci_common_cfg). */
#define VIRTIO_PCI_COMMON_DFSELECT	0x00
#define VIRTIO_PCI_COMMON_DF		0x04
#define VIRTIO_PCI_COMMON_GFSELECT	0x08
#define VIRTIO_PCI_COMMON_GF		0x0c
#define VIRTIO_PCI_COMMON_MSIX		0x10
#define VIRTIO_PCI_COMMON_NUMQ		0x12
#define VIRTIO_PCI_COMMON_STATUS	0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT	0x16
#define VIRTIO_PCI_COMMON_Q_SIZE	0x18
#define VIRTIO_PCI_COMMON_Q_MSIX	0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE	0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF	0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO	0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI	0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO	0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI	0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO	0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI	0x34
#define VIRTIO_PCI_COMMON_SIZE		0x38

/* Capability types (struct virtio_pci_cap.cfg_type). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

#define VIRTIO_MSI_NO_VECTOR 0xffff
#define VIRTIO_ISR_QUEUE     0x1
#define VIRTIO_ISR_CONFIG    0x2

struct virtio_dev_ops {
	/*
	 * A doorbell rang for queue q (I/O thread, no lock held; take vm->lock).
	 * Also called once for each queue when the driver sets DRIVER_OK.
	 */
	void (*queue_notify)(void *opaque, unsigned q);
	/* The driver reset the device (status 0 or FLR): drop in-flight state. */
	void (*reset)(void *opaque);
	/* Optional: the driver wrote size bytes at off of the device configuration. */
	void (*config_write)(void *opaque, unsigned off, unsigned size, uint32_t value);
	/* Optional: can the device work with these negotiated features? */
	bool (*features_ok)(void *opaque, uint64_t features);
};

struct virtio_pci_desc {
	const char *name;     /* for messages and the PCI slot */
	uint16_t device_type; /* VIRTIO_ID_* */
	uint32_t class_code;  /* PCI class (base << 16 | sub << 8 | prog-if) */
	uint64_t features;    /* device-specific features offered */
	unsigned nqueues;
	uint16_t queue_size; /* maximum size of every queue */
	void *config;	     /* device configuration, owned by the device */
	size_t config_size;
	const struct virtio_dev_ops *ops;
	void *opaque;
};

/* Create the PCI function at the first free slot. NULL after logging. */
struct virtio_pci *virtio_pci_new(struct vm *vm, struct pci_host *host,
				  const struct virtio_pci_desc *desc);
/* Unregister and free (the I/O thread must not be running the device's callbacks). */
void virtio_pci_free(struct virtio_pci *vp);

struct virtq *virtio_pci_queue(struct virtio_pci *vp, unsigned q);
/* Features the driver accepted (valid once FEATURES_OK is set). */
uint64_t virtio_pci_features(const struct virtio_pci *vp);
/* May the device process requests: DRIVER_OK, not failed, bus mastering on? */
bool virtio_pci_running(const struct virtio_pci *vp);
/*
 * Run queue_notify for q again at a later loop iteration, as if the doorbell
 * rang (any thread, lock not needed). Devices call it when they stop after a
 * budget of requests, so a busy guest cannot monopolise the I/O thread.
 */
void virtio_pci_requeue(struct virtio_pci *vp, unsigned q);
/* Interrupt the driver for queue q if the ring's suppression rules allow. */
void virtio_pci_notify(struct virtio_pci *vp, unsigned q);
/* The device configuration changed: bump the generation, interrupt the driver. */
void virtio_pci_config_changed(struct virtio_pci *vp);
/* The device cannot continue: set DEVICE_NEEDS_RESET (logs msg once). */
void virtio_pci_needs_reset(struct virtio_pci *vp, const char *msg);
/* The PCI function, for tests. */
struct pci_dev *virtio_pci_dev(struct virtio_pci *vp);

#endif
