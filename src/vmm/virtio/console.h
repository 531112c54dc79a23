/*
 * virtio-console (virtio 1.x section 5.3) with a single port and no
 * multiport control queue: the guest's /dev/hvc0. Output goes to a chardev
 * (hw/chardev.h); input from the chardev fills the guest's receive buffers,
 * and the chardev is not read while the guest has none posted.
 */
#ifndef BERTH_VMM_VIRTIO_CONSOLE_H
#define BERTH_VMM_VIRTIO_CONSOLE_H

struct vm;
struct pci_host;
struct chardev;
struct virtio_console;
struct virtio_pci;

/* chr is borrowed: it must outlive the device. */
struct virtio_console *virtio_console_new(struct vm *vm, struct pci_host *host,
					  struct chardev *chr);
void virtio_console_free(struct virtio_console *c);
struct virtio_pci *virtio_console_transport(struct virtio_console *c);

#endif
