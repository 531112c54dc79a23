/*
 * virtio-blk (virtio 1.x section 5.2) on the block layer: raw or qcow2 images,
 * read-only disks, flush, discard and write-zeroes. Requests run on the I/O
 * thread with vm->lock released while the image is read or written; a write
 * is on stable storage when the guest's flush (or, without VIRTIO_BLK_F_FLUSH,
 * the write itself) completes.
 */
#ifndef BERTH_VMM_VIRTIO_BLK_H
#define BERTH_VMM_VIRTIO_BLK_H

#include <stdbool.h>

struct vm;
struct pci_host;
struct virtio_blk;

/*
 * Open path (format "raw" or "qcow2"; NULL means raw) and plug a virtio-blk
 * function into the next free PCI slot. serial is what VIRTIO_BLK_T_GET_ID
 * returns (at most 20 bytes are used). NULL after logging.
 */
struct virtio_blk *virtio_blk_new(struct vm *vm, struct pci_host *host, const char *path,
				  const char *format, bool readonly, const char *serial);
/* Unplug, flush and close the image (the I/O thread must be stopped). */
void virtio_blk_free(struct virtio_blk *b);
struct virtio_pci *virtio_blk_transport(struct virtio_blk *b);

#endif
