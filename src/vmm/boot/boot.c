/*
 * Kernel image loading: read the file, recognise its boot protocol and hand it
 * to the matching loader. Also the helpers both loaders use to put files and
 * descriptor tables into guest RAM.
 */
#include "vmm/boot/loader.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Offset and value of the Linux setup header magic ("HdrS"). */
#define LINUX_HDRS_OFFSET 0x202
#define LINUX_HDRS_MAGIC  0x53726448

/* Read the kernel, detect the protocol and load it. */
int boot_load_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
		     struct x86_cpu_state *bsp)
{
	uint8_t *image;
	size_t len;
	int ret;

	image = read_file(kernel, &len);
	if (!image) {
		log_error("kernel %s: cannot read: %s", kernel, strerror(errno));
		return -1;
	}
	if (len >= LINUX_HDRS_OFFSET + 4 && get_le32(image + LINUX_HDRS_OFFSET) == LINUX_HDRS_MAGIC)
		ret = linux_load(vm, kernel, image, len, initrd, cmdline, bsp);
	else if (multiboot_find_header(image, len) >= 0)
		ret = multiboot_load(vm, kernel, image, len, initrd, cmdline, bsp);
	else {
		log_error("kernel %s: not a Linux bzImage (no \"HdrS\" setup header) nor a "
			  "Multiboot v1 image (no valid 0x1BADB002 header in the first 8 KiB)",
			  kernel);
		ret = -1;
	}
	free(image);
	return ret;
}

/* All firmware tables: MP first (EBDA), then ACPI (BIOS area). */
int pc_build_firmware_tables(struct vm *vm)
{
	if (vm->ncpus < 1 || vm->ncpus > VM_MAX_VCPUS) {
		log_error("firmware tables: %d vCPUs is outside 1..%d", vm->ncpus, VM_MAX_VCPUS);
		return -1;
	}
	if (pc_build_mptable(vm) < 0 || pc_build_acpi_tables(vm) < 0)
		return -1;
	return 0;
}

/* Write data into guest RAM or say which part of the boot data did not fit. */
int boot_write(struct vm *vm, const char *what, uint64_t gpa, const void *data, uint64_t len)
{
	if (vm_write_guest(vm, gpa, data, len) < 0) {
		log_error("%s: [%#llx, %#llx) is not guest RAM", what, (unsigned long long)gpa,
			  (unsigned long long)(gpa + len));
		return -1;
	}
	return 0;
}

/* Write a GDT of n descriptors at BOOT_GDT_ADDR and load GDTR in st. */
int boot_write_gdt(struct vm *vm, const uint64_t *desc, unsigned n, struct x86_cpu_state *st)
{
	uint8_t buf[16 * 8];

	if (n > ARRAY_SIZE(buf) / 8)
		return -1;
	for (unsigned i = 0; i < n; i++)
		put_le64(buf + 8 * i, desc[i]);
	if (boot_write(vm, "boot GDT", BOOT_GDT_ADDR, buf, 8 * n) < 0)
		return -1;
	st->gdt.base = BOOT_GDT_ADDR;
	st->gdt.limit = (uint16_t)(8 * n - 1);
	return 0;
}

/* Size of a regular file. */
int boot_file_size(const char *what, const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		log_error("%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Read exactly size bytes of a file straight into guest RAM. */
int boot_file_load(struct vm *vm, const char *what, const char *path, uint64_t gpa, uint64_t size)
{
	uint8_t *dst = vm_gpa_to_hva(vm, gpa, size);
	uint64_t done = 0;
	int fd, ret = -1;

	if (!dst) {
		log_error("%s %s: [%#llx, %#llx) is not guest RAM", what, path,
			  (unsigned long long)gpa, (unsigned long long)(gpa + size));
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	while (done < size) {
		ssize_t n = read(fd, dst + done, MIN(size - done, (uint64_t)(1 << 30)));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("%s %s: read: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			log_error("%s %s: file shrank while loading (%llu of %llu bytes)", what,
				  path, (unsigned long long)done, (unsigned long long)size);
			goto out;
		}
		done += (uint64_t)n;
	}
	vm_ram_written(vm, gpa, size);
	ret = 0;
out:
	close(fd);
	return ret;
}
