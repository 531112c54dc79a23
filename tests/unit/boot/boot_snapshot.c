/*
 * boot_snapshot: for the QEMU cross-check (test_qemu_boot.sh). Builds berth's
 * firmware tables and loads a Linux kernel exactly as berth-vmm would, then
 * writes what QEMU needs to start that same machine state without a BIOS:
 *   bios.bin   128 KiB -bios image: guest [0xe0000, 0xff000) (ACPI and MP
 *              tables) followed by the trampoline with the entry state filled in
 *   low.bin    guest [0, 0xa0000): GDT, boot_params, page tables, command line, EBDA
 *   kernel.bin, initrd.bin and loader-args (QEMU -device loader options)
 * Usage: boot_snapshot OUTDIR RAM_MIB NCPUS KERNEL INITRD CMDLINE TRAMPOLINE
 */
#include "common/log.h"
#include "common/util.h"
#include "vmm/boot/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROM_SIZE   0x20000
#define TRAMP_SIZE 0x1000
#define PARAMS	   0x800

static void dump(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f))
		die("cannot write %s", path);
}

int main(int argc, char **argv)
{
	struct vm vm = {0};
	struct x86_cpu_state st;
	uint8_t *rom, *tramp, *bp;
	size_t tlen;
	uint32_t kaddr, rd, rdlen;
	uint64_t ksize;
	char args[8192];

	log_init("boot_snapshot", NULL);
	if (argc != 8)
		die("usage: boot_snapshot OUTDIR RAM_MIB NCPUS KERNEL INITRD CMDLINE TRAMPOLINE");
	vm.ncpus = atoi(argv[3]);
	if (vm_alloc_ram(&vm, strtoull(argv[2], NULL, 0) * MiB) < 0 ||
	    pc_build_firmware_tables(&vm) < 0 ||
	    boot_load_kernel(&vm, argv[4], argv[5], argv[6], &st) < 0)
		return 1;
	if (st.cr4 != X86_CR4_PAE || st.efer != (X86_EFER_LME | X86_EFER_LMA) ||
	    st.cr0 != (X86_CR0_PE | X86_CR0_ET | X86_CR0_PG) || st.cs.selector != 0x10 ||
	    st.ds.selector != 0x18 || st.gdt.base != BOOT_GDT_ADDR)
		die("entry state differs from what the trampoline sets up");

	tramp = read_file(argv[7], &tlen);
	if (!tramp || tlen != TRAMP_SIZE)
		die("%s: not a %d-byte trampoline", argv[7], TRAMP_SIZE);
	rom = xcalloc(1, ROM_SIZE);
	memcpy(rom, vm.ram + 0xe0000, ROM_SIZE - TRAMP_SIZE);
	memcpy(rom + ROM_SIZE - TRAMP_SIZE, tramp, TRAMP_SIZE);
	put_le16(rom + ROM_SIZE - TRAMP_SIZE + PARAMS, st.gdt.limit);
	put_le32(rom + ROM_SIZE - TRAMP_SIZE + PARAMS + 2, (uint32_t)st.gdt.base);
	put_le32(rom + ROM_SIZE - TRAMP_SIZE + PARAMS + 8, (uint32_t)st.cr3);
	put_le64(rom + ROM_SIZE - TRAMP_SIZE + PARAMS + 0x10, st.gpr[X86_RSI]);
	put_le64(rom + ROM_SIZE - TRAMP_SIZE + PARAMS + 0x18, st.gpr[X86_RSP]);
	put_le64(rom + ROM_SIZE - TRAMP_SIZE + PARAMS + 0x20, st.rip);
	dump(argv[1], "bios.bin", rom, ROM_SIZE);
	dump(argv[1], "low.bin", vm.ram, 0xa0000);

	bp = vm.ram + BOOT_ZERO_PAGE_ADDR;
	kaddr = get_le32(bp + 0x214);
	if (boot_file_size("kernel", argv[4], &ksize) < 0)
		return 1;
	ksize -= (uint64_t)((bp[0x1f1] ? bp[0x1f1] : 4) + 1) * 512;
	dump(argv[1], "kernel.bin", vm.ram + kaddr, ksize);
	rd = get_le32(bp + 0x218);
	rdlen = get_le32(bp + 0x21c);
	dump(argv[1], "initrd.bin", vm.ram + rd, rdlen);
	snprintf(args, sizeof(args),
		 "-device loader,file=%1$s/low.bin,addr=0,force-raw=on "
		 "-device loader,file=%1$s/kernel.bin,addr=%2$#x,force-raw=on "
		 "-device loader,file=%1$s/initrd.bin,addr=%3$#x,force-raw=on\n",
		 argv[1], kaddr, rd);
	dump(argv[1], "loader-args", args, strlen(args));
	free(tramp);
	free(rom);
	return 0;
}
