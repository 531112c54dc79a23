/*
 * The pc machine: an x86-64 PC with the devices of machine/pc.h, assembled
 * for both accelerators. Devices register themselves on the VM's buses in
 * their constructors; this file only decides which ones the machine has.
 */
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/boot/boot.h"
#include "vmm/config.h"
#include "vmm/control.h"
#include "vmm/hw/acpi_pm.h"
#include "vmm/hw/chardev.h"
#include "vmm/hw/debugexit.h"
#include "vmm/hw/i8042.h"
#include "vmm/hw/mc146818.h"
#include "vmm/hw/ns16550.h"
#include "vmm/hw/pci.h"
#include "vmm/virtio/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything pc_machine_destroy has to release, beyond struct pc_machine. */
struct pc_private {
	struct pc_machine pub;
	struct i8042 *kbc;
	struct mc146818 *rtc;
	struct debugexit *debugexit;
	struct virtio_devices *virtio;
};

/* Build the machine's devices, in an order where each finds what it needs. */
int pc_machine_create(struct vm *vm, const struct vmm_config *cfg)
{
	struct pc_private *pc = xcalloc(1, sizeof(*pc));

	vm->pc = &pc->pub;
	pc->pub.serial_chr = chardev_new(vm, cfg->serial);
	if (!pc->pub.serial_chr)
		goto fail;
	pc->pub.com1 = ns16550_new(vm, PC_COM1_PORT, PC_COM1_IRQ, pc->pub.serial_chr);
	pc->kbc = i8042_new(vm);
	pc->rtc = mc146818_new(vm);
	pc->pub.acpi_pm = acpi_pm_new(vm);
	pc->pub.pci = pci_host_new(vm);
	if (!pc->pub.com1 || !pc->kbc || !pc->rtc || !pc->pub.acpi_pm || !pc->pub.pci)
		goto fail;
	if (cfg->debug_exit) {
		pc->debugexit = debugexit_new(vm, cfg->debug_exit_port, cfg->debug_exit_size);
		if (!pc->debugexit)
			goto fail;
	}
	pc->virtio = virtio_devices_create(vm, pc->pub.pci, cfg);
	if (!pc->virtio)
		goto fail;
	if (cfg->control) {
		pc->pub.control = control_new(vm, cfg->control);
		if (!pc->pub.control)
			goto fail;
		if (!strncmp(cfg->serial, "unix:", 5))
			control_set_serial_path(pc->pub.control, cfg->serial + 5);
	}
	return 0;
fail:
	pc_machine_destroy(vm);
	return -1;
}

/* Firmware tables first: the Linux loader passes the RSDP address it finds there. */
int pc_machine_load(struct vm *vm, const struct vmm_config *cfg, struct x86_cpu_state *bsp)
{
	/* No BIOS: assign PCI BARs as firmware would, once every device exists. */
	if (pci_host_assign_bars(vm->pc->pci) < 0)
		return -1;
	if (pc_build_firmware_tables(vm) < 0)
		return -1;
	return boot_load_kernel(vm, cfg->kernel, cfg->initrd, cfg->append, bsp);
}

void pc_machine_destroy(struct vm *vm)
{
	struct pc_private *pc;

	if (!vm->pc)
		return;
	pc = container_of(vm->pc, struct pc_private, pub);
	if (pc->pub.control) {
		control_emit_shutdown(pc->pub.control);
		control_free(pc->pub.control);
	}
	debugexit_free(pc->debugexit);
	virtio_devices_free(pc->virtio);
	pci_host_free(pc->pub.pci);
	acpi_pm_free(pc->pub.acpi_pm);
	mc146818_free(pc->rtc);
	i8042_free(pc->kbc);
	ns16550_free(pc->pub.com1);
	chardev_free(pc->pub.serial_chr);
	free(pc);
	vm->pc = NULL;
}

/* A Linux bzImage carries "HdrS" at offset 0x202 (the boot protocol header). */
bool pc_kernel_is_linux(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	yes = pread(fd, magic, 4, 0x202) == 4 && !memcmp(magic, "HdrS", 4);
	close(fd);
	return yes;
}
