/*
 * Kernel image loading: read the file, recognise its boot protocol and hand it
 * to the matching loader. Also the GDT helper both loaders use.
 */
#include "vmm/boot/boot.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Offset and value of the Linux setup header magic ("HdrS"). */
#define LINUX_HDRS_OFFSET 0x202
#define LINUX_HDRS_MAGIC  0x53726448

/* Read the kernel, detect the protocol and load it. */
int boot_load_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
		     struct x86_cpu_state *bsp)
{
	uint8_t *image;
	size_t len;
	uint32_t magic = 0;
	int ret;

	image = read_file(kernel, &len);
	if (!image) {
		log_error("kernel %s: cannot read: %s", kernel, strerror(errno));
		return -1;
	}
	if (len >= LINUX_HDRS_OFFSET + 4)
		memcpy(&magic, image + LINUX_HDRS_OFFSET, 4);
	if (magic == LINUX_HDRS_MAGIC)
		ret = linux_load(vm, kernel, image, len, initrd, cmdline, bsp);
	else if (multiboot_find_header(image, len) >= 0)
		ret = multiboot_load(vm, kernel, image, len, initrd, cmdline, bsp);
	else {
		log_error("kernel %s: not a Linux bzImage (no \"HdrS\" header) nor a Multiboot v1 "
			  "image (no valid 0x1BADB002 header in the first 8 KiB)",
			  kernel);
		ret = -1;
	}
	free(image);
	return ret;
}

/* Write a GDT of n descriptors at BOOT_GDT_ADDR and load GDTR in st. */
int boot_write_gdt(struct vm *vm, const uint64_t *desc, unsigned n, struct x86_cpu_state *st)
{
	if (vm_write_guest(vm, BOOT_GDT_ADDR, desc, n * sizeof(*desc)) < 0) {
		log_error("boot: cannot write the GDT at %#llx: not RAM",
			  (unsigned long long)BOOT_GDT_ADDR);
		return -1;
	}
	st->gdt.base = BOOT_GDT_ADDR;
	st->gdt.limit = n * sizeof(*desc) - 1;
	return 0;
}
