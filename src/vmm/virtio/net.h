/*
 * virtio-net (virtio 1.x section 5.1): one receive and one transmit queue,
 * a MAC address and link status, no offloads (the guest computes checksums
 * and segments itself), on a network back end (vmm/net/net.h). Frames move
 * on the I/O thread; the lock is dropped while the back end has them. Up to
 * 64 frames for the guest are held while it has no receive buffer posted;
 * a frame larger than the next buffer is dropped.
 */
#ifndef BERTH_VMM_VIRTIO_NET_H
#define BERTH_VMM_VIRTIO_NET_H

#include <stdint.h>

struct vm;
struct pci_host;
struct virtio_net;
struct virtio_pci;
struct netdev;

/*
 * A NIC with MAC address mac on the back end netdev_spec ("user[,...]" or
 * "tap,ifname=NAME"). NULL after logging.
 */
struct virtio_net *virtio_net_new(struct vm *vm, struct pci_host *host, const char *netdev_spec,
				  const uint8_t mac[6]);
void virtio_net_free(struct virtio_net *n);
struct virtio_pci *virtio_net_transport(struct virtio_net *n);

#endif
