/*
 * virtio-rng (virtio 1.x section 5.4): one request queue whose device-writable
 * buffers the device fills from the host's getrandom(). At most 64 KiB per
 * request, as the guest only ever asks for small amounts.
 */
#ifndef BERTH_VMM_VIRTIO_RNG_H
#define BERTH_VMM_VIRTIO_RNG_H

struct vm;
struct pci_host;
struct virtio_rng;
struct virtio_pci;

struct virtio_rng *virtio_rng_new(struct vm *vm, struct pci_host *host);
void virtio_rng_free(struct virtio_rng *r);
struct virtio_pci *virtio_rng_transport(struct virtio_rng *r);

#endif
