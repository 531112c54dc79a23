/*
 * mbinfo_dump: for the QEMU cross-check of the Multiboot loader
 * (test_qemu_multiboot.sh). Loads a kernel with berth's loader and prints, from
 * guest memory, the same "mb:" lines that mbdump.asm prints when QEMU boots it.
 * Usage: mbinfo_dump KERNEL MODULES|- APPEND|-
 */
#include "common/log.h"
#include "common/util.h"
#include "vmm/boot/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct vm vm;

static uint32_t rd32(uint64_t gpa)
{
	const uint8_t *p = vm_gpa_to_hva(&vm, gpa, 4);

	if (!p)
		die("guest address %#llx is not RAM", (unsigned long long)gpa);
	return get_le32(p);
}

static const char *str(uint64_t gpa)
{
	const char *p = vm_gpa_to_hva(&vm, gpa, 1);

	if (!p || !memchr(p, 0, vm.low_ram_size - gpa))
		die("no string at guest address %#llx", (unsigned long long)gpa);
	return p;
}

int main(int argc, char **argv)
{
	struct x86_cpu_state st;
	uint64_t mbi, mods;
	uint32_t n;

	log_init("mbinfo_dump", NULL);
	if (argc != 4)
		die("usage: mbinfo_dump KERNEL MODULES|- APPEND|-");
	vm.ncpus = 1;
	if (vm_alloc_ram(&vm, 128 * MiB) < 0 ||
	    boot_load_kernel(&vm, argv[1], strcmp(argv[2], "-") ? argv[2] : NULL,
			     strcmp(argv[3], "-") ? argv[3] : NULL, &st) < 0)
		return 1;
	if (st.gpr[X86_RAX] != 0x2badb002)
		die("EAX is %#llx", (unsigned long long)st.gpr[X86_RAX]);
	mbi = st.gpr[X86_RBX];
	printf("mb: flags %08x\n", rd32(mbi));
	printf("mb: mem_lower %08x\n", rd32(mbi + 4));
	printf("mb: boot_device %08x\n", rd32(mbi + 12));
	printf("mb: cmdline [%s]\n", str(rd32(mbi + 16)));
	n = rd32(mbi + 20);
	printf("mb: mods_count %08x\n", n);
	mods = rd32(mbi + 24);
	for (uint32_t i = 0; i < n; i++, mods += 16) {
		printf("mb: mod size %08x\n", rd32(mods + 4) - rd32(mods));
		printf("mb: mod start & 0xfff %08x\n", rd32(mods) & 0xfff);
		printf("mb: mod cmdline [%s]\n", str(rd32(mods + 8)));
	}
	return 0;
}
