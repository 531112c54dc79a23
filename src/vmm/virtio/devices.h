/*
 * The virtio devices of a machine, built from the command line: --disk in
 * order (vda, vdb, ...), then --net, then --device virtio-rng /
 * virtio-console. The machine creates them after its PCI host and releases
 * them before it.
 */
#ifndef BERTH_VMM_VIRTIO_DEVICES_H
#define BERTH_VMM_VIRTIO_DEVICES_H

struct vm;
struct pci_host;
struct vmm_config;
struct virtio_devices;

/* Create every virtio device cfg asks for. NULL after logging (nothing left behind). */
struct virtio_devices *virtio_devices_create(struct vm *vm, struct pci_host *host,
					     const struct vmm_config *cfg);
/* Flush disks and release everything (the I/O thread and vCPUs must be stopped). */
void virtio_devices_free(struct virtio_devices *devs);

#endif
