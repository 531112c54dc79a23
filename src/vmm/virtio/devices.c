/* Building the machine's virtio devices from the command line. */
#include "vmm/virtio/devices.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/config.h"
#include "vmm/hw/chardev.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct virtio_devices {
	struct virtio_blk *disks[VMM_MAX_DISKS];
	int ndisks;
	struct virtio_net *nets[VMM_MAX_NETS];
	int nnets;
	struct virtio_rng *rng;
	struct chardev *console_chr;
	struct virtio_console *console;
};

struct virtio_devices *virtio_devices_create(struct vm *vm, struct pci_host *host,
					     const struct vmm_config *cfg)
{
	struct virtio_devices *devs = xcalloc(1, sizeof(*devs));

	for (int i = 0; i < cfg->ndisks; i++) {
		const struct vmm_disk_config *d = &cfg->disks[i];
		char serial[24];

		snprintf(serial, sizeof(serial), "berth-disk%d", i);
		devs->disks[i] = virtio_blk_new(vm, host, d->path, d->format, d->readonly, serial);
		if (!devs->disks[i])
			goto fail;
		devs->ndisks++;
	}
	for (int i = 0; i < cfg->nnets; i++) {
		/* QEMU's default OUI and numbering, unless the command line gives a MAC. */
		uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i)};

		if (cfg->nets[i].has_mac)
			memcpy(mac, cfg->nets[i].mac, 6);

		devs->nets[i] = virtio_net_new(vm, host, cfg->nets[i].spec, mac);
		if (!devs->nets[i])
			goto fail;
		devs->nnets++;
	}
	if (cfg->virtio_rng && !(devs->rng = virtio_rng_new(vm, host)))
		goto fail;
	if (cfg->virtio_console) {
		devs->console_chr = chardev_new(vm, cfg->virtio_console);
		if (!devs->console_chr)
			goto fail;
		devs->console = virtio_console_new(vm, host, devs->console_chr);
		if (!devs->console)
			goto fail;
	}
	return devs;
fail:
	virtio_devices_free(devs);
	return NULL;
}

void virtio_devices_free(struct virtio_devices *devs)
{
	if (!devs)
		return;
	virtio_console_free(devs->console);
	chardev_free(devs->console_chr);
	virtio_rng_free(devs->rng);
	for (int i = 0; i < devs->nnets; i++)
		virtio_net_free(devs->nets[i]);
	for (int i = 0; i < devs->ndisks; i++)
		virtio_blk_free(devs->disks[i]);
	free(devs);
}
