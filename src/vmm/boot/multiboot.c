/*
 * Multiboot v1 (the Multiboot Specification 0.6.96), loaded the way QEMU's
 * -kernel does: an ELF32 image by its PT_LOAD segments (physical addresses),
 * or the a.out kludge when header flag 16 is set; modules from the -initrd
 * style comma-separated list placed page-aligned after the kernel; the
 * command line "<kernel path> <append>"; entry in flat 32-bit protected mode
 * with paging off, EAX = 0x2BADB002 and EBX = the Multiboot information.
 */
#include "vmm/boot/loader.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_HEADER_MAGIC	   0x1badb002u
#define MB_BOOT_MAGIC	   0x2badb002u
#define MB_SEARCH_LEN	   8192
#define MB_HDR_FLAGS	   4
#define MB_HDR_HEADER_ADDR 12
#define MB_HDR_LOAD_ADDR   16
#define MB_HDR_LOAD_END	   20
#define MB_HDR_BSS_END	   24
#define MB_HDR_ENTRY	   28
#define MB_HDR_AOUT_SIZE   32

/* Header flags: bits 0-15 are requirements, 16 selects the a.out kludge. */
#define MB_FLAG_PAGE_ALIGN  (1u << 0)
#define MB_FLAG_MEMORY_INFO (1u << 1)
#define MB_FLAG_VIDEO_MODE  (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)

/* Multiboot information structure: offsets and flags. */
#define MBI_FLAGS	 0
#define MBI_MEM_LOWER	 4
#define MBI_MEM_UPPER	 8
#define MBI_BOOT_DEVICE	 12
#define MBI_CMDLINE	 16
#define MBI_MODS_COUNT	 20
#define MBI_MODS_ADDR	 24
#define MBI_MMAP_LENGTH	 44
#define MBI_MMAP_ADDR	 48
#define MBI_LOADER_NAME	 64
#define MBI_SIZE	 88
#define MBI_INFO_MEMORY	 (1u << 0)
#define MBI_INFO_BOOTDEV (1u << 1)
#define MBI_INFO_CMDLINE (1u << 2)
#define MBI_INFO_MODS	 (1u << 3)
#define MBI_INFO_MMAP	 (1u << 6)
#define MBI_INFO_LOADER	 (1u << 9)
#define MB_MOD_SIZE	 16
#define MB_MMAP_ENTRY	 24 /* size field + struct e820_entry */
#define MB_MMAP_MAX	 32
#define MB_LOADER_NAME	 "berth"
/* Where the information structure, loader name and memory map go in low memory. */
#define MB_NAME_GPA (BOOT_MBI_ADDR + 0x60)
#define MB_MMAP_GPA (BOOT_MBI_ADDR + 0x100)

/* ELF32 (System V ABI) fields. */
#define EI_CLASS    4
#define EI_DATA	    5
#define ELFCLASS32  1
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define ET_EXEC	    2
#define EM_386	    3
#define PT_LOAD	    1
#define ELF32_EHDR  52
#define ELF32_PHDR  32

/* Flat 32-bit GDT: code at 0x10, data at 0x18 as x86_state_flat32() selects. */
#define GDT_CODE32 0x00cf9b000000ffffULL
#define GDT_DATA   0x00cf93000000ffffULL

struct mb_kernel {
	const char *name;
	uint64_t start, end; /* guest physical range the image occupies */
	uint32_t entry;
};

/* Find the header: 32-bit aligned, wholly in the first 8 KiB, with a valid checksum. */
long multiboot_find_header(const uint8_t *image, size_t len)
{
	size_t limit = MIN(len, (size_t)MB_SEARCH_LEN);

	for (size_t i = 0; i + 12 <= limit; i += 4) {
		uint32_t flags = get_le32(image + i + 4);

		if (get_le32(image + i) == MB_HEADER_MAGIC &&
		    (uint32_t)(MB_HEADER_MAGIC + flags + get_le32(image + i + 8)) == 0)
			return (long)i;
	}
	return -1;
}

/* Check that [start, end) is RAM and keeps off the loader's data and the BIOS area. */
static int check_range(const struct vm *vm, const char *name, const char *what, uint64_t start,
		       uint64_t end)
{
	if (end > vm->low_ram_size || start >= end) {
		log_error("kernel %s: %s [%#llx, %#llx) is not within the VM's %llu MiB of low RAM",
			  name, what, (unsigned long long)start, (unsigned long long)end,
			  (unsigned long long)(vm->low_ram_size / MiB));
		return -1;
	}
	if (start < BOOT_LOW_DATA_END || (start < PC_BIOS_END && end > PC_EBDA_BASE)) {
		log_error(
		    "kernel %s: %s [%#llx, %#llx) overlaps the boot loader data below %#llx or "
		    "the BIOS area [%#llx, %#llx)",
		    name, what, (unsigned long long)start, (unsigned long long)end,
		    (unsigned long long)BOOT_LOW_DATA_END, (unsigned long long)PC_EBDA_BASE,
		    (unsigned long long)PC_BIOS_END);
		return -1;
	}
	return 0;
}

/* Copy file bytes and zero the rest up to memsz. */
static int load_segment(struct vm *vm, struct mb_kernel *k, uint64_t addr, const uint8_t *data,
			uint64_t filesz, uint64_t memsz)
{
	uint8_t *dst;

	if (check_range(vm, k->name, "segment", addr, addr + memsz) < 0)
		return -1;
	dst = vm_gpa_to_hva(vm, addr, memsz);
	memcpy(dst, data, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	vm_ram_written(vm, addr, memsz);
	k->start = MIN(k->start, addr);
	k->end = MAX(k->end, addr + memsz);
	return 0;
}

/* ELF32 executable: load every PT_LOAD segment at its physical address. */
static int load_elf(struct vm *vm, struct mb_kernel *k, const uint8_t *img, size_t len)
{
	uint32_t phoff, entry;
	unsigned phentsize, phnum;
	bool entry_phys = false;
	uint64_t entry_virt_fix = 0;
	bool entry_virt = false;

	if (len < ELF32_EHDR || memcmp(img, "\177ELF", 4)) {
		log_error("kernel %s: Multiboot image without the a.out kludge (flag 16) is not "
			  "an ELF file",
			  k->name);
		return -1;
	}
	if (img[EI_CLASS] == ELFCLASS64) {
		log_error("kernel %s: 64-bit ELF; Multiboot v1 loads 32-bit ELF images only",
			  k->name);
		return -1;
	}
	if (img[EI_CLASS] != ELFCLASS32 || img[EI_DATA] != ELFDATA2LSB ||
	    get_le16(img + 16) != ET_EXEC || get_le16(img + 18) != EM_386) {
		log_error("kernel %s: not a little-endian i386 ELF32 executable", k->name);
		return -1;
	}
	entry = get_le32(img + 24);
	phoff = get_le32(img + 28);
	phentsize = get_le16(img + 42);
	phnum = get_le16(img + 44);
	if (phentsize < ELF32_PHDR || phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
		log_error("kernel %s: ELF program headers lie outside the file", k->name);
		return -1;
	}
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (size_t)i * phentsize;
		uint32_t off = get_le32(ph + 4), vaddr = get_le32(ph + 8),
			 paddr = get_le32(ph + 12);
		uint32_t filesz = get_le32(ph + 16), memsz = get_le32(ph + 20);

		if (get_le32(ph) != PT_LOAD || !memsz)
			continue;
		if (filesz > memsz || off > len || filesz > len - off) {
			log_error("kernel %s: ELF segment %u (file offset %#x, %#x bytes, %#x in "
				  "memory) is inconsistent with the %zu-byte file",
				  k->name, i, off, filesz, memsz, len);
			return -1;
		}
		if (load_segment(vm, k, paddr, img + off, filesz, memsz) < 0)
			return -1;
		if (entry >= paddr && entry - paddr < memsz)
			entry_phys = true;
		else if (entry >= vaddr && entry - vaddr < memsz) {
			entry_virt = true;
			entry_virt_fix = (uint64_t)entry - vaddr + paddr;
		}
	}
	if (k->end == 0) {
		log_error("kernel %s: ELF file has no loadable segment", k->name);
		return -1;
	}
	/* An entry given as a virtual address runs at its segment's physical address. */
	k->entry = (!entry_phys && entry_virt) ? (uint32_t)entry_virt_fix : entry;
	return 0;
}

/* a.out kludge: the header's addresses say what part of the file goes where. */
static int load_aout(struct vm *vm, struct mb_kernel *k, const uint8_t *img, size_t len, size_t hdr)
{
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t file_off, load_size, mem_size;

	if (hdr + MB_HDR_AOUT_SIZE > len) {
		log_error("kernel %s: Multiboot header with the a.out kludge is truncated",
			  k->name);
		return -1;
	}
	header_addr = get_le32(img + hdr + MB_HDR_HEADER_ADDR);
	load_addr = get_le32(img + hdr + MB_HDR_LOAD_ADDR);
	load_end = get_le32(img + hdr + MB_HDR_LOAD_END);
	bss_end = get_le32(img + hdr + MB_HDR_BSS_END);
	k->entry = get_le32(img + hdr + MB_HDR_ENTRY);
	if (header_addr < load_addr) {
		log_error("kernel %s: Multiboot header_addr %#x is below load_addr %#x", k->name,
			  header_addr, load_addr);
		return -1;
	}
	if (header_addr - load_addr > hdr) {
		log_error("kernel %s: Multiboot load_addr %#x would start %#x bytes before the "
			  "beginning of the file",
			  k->name, load_addr, (uint32_t)(header_addr - load_addr - hdr));
		return -1;
	}
	file_off = hdr - (header_addr - load_addr);
	if (load_end) {
		if (load_end < load_addr) {
			log_error("kernel %s: Multiboot load_end_addr %#x is below load_addr %#x",
				  k->name, load_end, load_addr);
			return -1;
		}
		load_size = load_end - load_addr;
	} else {
		load_size = len - file_off;
	}
	if (load_size > len - file_off) {
		log_error("kernel %s: Multiboot header asks for %llu bytes from offset %llu of a "
			  "%zu-byte file",
			  k->name, (unsigned long long)load_size, (unsigned long long)file_off,
			  len);
		return -1;
	}
	mem_size = load_size;
	if (bss_end) {
		if (bss_end < load_addr + load_size) {
			log_error(
			    "kernel %s: Multiboot bss_end_addr %#x is below the loaded image's "
			    "end %#llx",
			    k->name, bss_end, (unsigned long long)(load_addr + load_size));
			return -1;
		}
		mem_size = bss_end - load_addr;
	}
	if (!mem_size) {
		log_error("kernel %s: Multiboot header describes an empty image", k->name);
		return -1;
	}
	return load_segment(vm, k, load_addr, img + file_off, load_size, mem_size);
}

/* Next item of a QEMU-style list: ',' separates, ",," is a literal comma. */
static const char *next_item(const char *s, char *out)
{
	while (*s) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		*out++ = *s++;
	}
	*out = '\0';
	return s;
}

/* Multiboot's module list and the strings it points to, built on the host. */
struct mb_info {
	uint8_t *mods; /* MB_MOD_SIZE per module */
	unsigned nmods;
	char *strings; /* NUL-separated; offsets recorded in mods[].cmdline */
	size_t strings_len;
};

/* Append a string to the string block, returning its offset. */
static uint32_t add_string(struct mb_info *mi, const char *s)
{
	size_t n = strlen(s) + 1, off = mi->strings_len;

	mi->strings = xrealloc(mi->strings, off + n);
	memcpy(mi->strings + off, s, n);
	mi->strings_len += n;
	return (uint32_t)off;
}

/* Load each module of the list page-aligned from *cursor onwards. */
static int load_modules(struct vm *vm, const char *kname, const char *list, uint64_t *cursor,
			struct mb_info *mi)
{
	char *item = xmalloc(strlen(list) + 1);
	const char *p = list;
	int ret = -1;

	for (;;) {
		uint64_t size, addr = ALIGN_UP(*cursor, 4 * KiB);
		uint32_t cmd;
		char *space;
		uint8_t *m;

		p = next_item(p, item);
		/* The whole item ("path args") is the module's command line. */
		cmd = add_string(mi, item);
		space = strchr(item, ' ');
		if (space)
			*space = '\0';
		if (boot_file_size("Multiboot module", item, &size) < 0)
			goto out;
		if (addr + size > vm->low_ram_size) {
			log_error(
			    "kernel %s: module %s (%llu KiB) does not fit below the end of low "
			    "RAM at %#llx",
			    kname, item, (unsigned long long)((size + KiB - 1) / KiB),
			    (unsigned long long)vm->low_ram_size);
			goto out;
		}
		if (size && boot_file_load(vm, "Multiboot module", item, addr, size) < 0)
			goto out;
		mi->mods = xrealloc(mi->mods, (size_t)(mi->nmods + 1) * MB_MOD_SIZE);
		m = mi->mods + (size_t)mi->nmods++ * MB_MOD_SIZE;
		memset(m, 0, MB_MOD_SIZE);
		put_le32(m, (uint32_t)addr);
		put_le32(m + 4, (uint32_t)(addr + size));
		put_le32(m + 8, cmd); /* relocated once the string block is placed */
		*cursor = addr + size;
		if (!*p)
			break;
		p++;
	}
	ret = 0;
out:
	free(item);
	return ret;
}

/* Write the module list and strings at *cursor and the info structure in low memory. */
static int write_info(struct vm *vm, const char *kname, struct mb_info *mi, uint32_t kcmd,
		      uint64_t cursor)
{
	uint64_t mods_addr = ALIGN_UP(cursor, 4 * KiB);
	uint64_t str_addr = mods_addr + (uint64_t)mi->nmods * MB_MOD_SIZE;
	struct e820_entry map[MB_MMAP_MAX];
	uint8_t mbi[MBI_SIZE] = {0}, mmap[MB_MMAP_MAX * MB_MMAP_ENTRY];
	size_t nmap = MIN(pc_e820_map(vm, map, MB_MMAP_MAX), (size_t)MB_MMAP_MAX);

	if (str_addr + mi->strings_len > vm->low_ram_size) {
		log_error("kernel %s: no room for the Multiboot module list and command lines "
			  "below %#llx",
			  kname, (unsigned long long)vm->low_ram_size);
		return -1;
	}
	for (unsigned i = 0; i < mi->nmods; i++) {
		uint8_t *m = mi->mods + (size_t)i * MB_MOD_SIZE;

		put_le32(m + 8, (uint32_t)(str_addr + get_le32(m + 8)));
	}
	for (size_t i = 0; i < nmap; i++) {
		put_le32(mmap + i * MB_MMAP_ENTRY, sizeof(struct e820_entry));
		memcpy(mmap + i * MB_MMAP_ENTRY + 4, &map[i], sizeof(map[i]));
	}
	put_le32(mbi + MBI_FLAGS, MBI_INFO_MEMORY | MBI_INFO_BOOTDEV | MBI_INFO_CMDLINE |
				      MBI_INFO_MODS | MBI_INFO_MMAP | MBI_INFO_LOADER);
	put_le32(mbi + MBI_MEM_LOWER, (uint32_t)(PC_EBDA_BASE / KiB));
	put_le32(mbi + MBI_MEM_UPPER, (uint32_t)((vm->low_ram_size - PC_BIOS_END) / KiB));
	put_le32(mbi + MBI_BOOT_DEVICE, 0x8000ffff); /* first BIOS disk, no partition */
	put_le32(mbi + MBI_CMDLINE, (uint32_t)(str_addr + kcmd));
	put_le32(mbi + MBI_MODS_COUNT, mi->nmods);
	put_le32(mbi + MBI_MODS_ADDR, mi->nmods ? (uint32_t)mods_addr : 0);
	put_le32(mbi + MBI_MMAP_LENGTH, (uint32_t)(nmap * MB_MMAP_ENTRY));
	put_le32(mbi + MBI_MMAP_ADDR, (uint32_t)MB_MMAP_GPA);
	put_le32(mbi + MBI_LOADER_NAME, (uint32_t)MB_NAME_GPA);

	if ((mi->nmods && boot_write(vm, "Multiboot modules", mods_addr, mi->mods,
				     (uint64_t)mi->nmods * MB_MOD_SIZE) < 0) ||
	    boot_write(vm, "Multiboot strings", str_addr, mi->strings, mi->strings_len) < 0 ||
	    boot_write(vm, "Multiboot info", BOOT_MBI_ADDR, mbi, sizeof(mbi)) < 0 ||
	    boot_write(vm, "Multiboot loader name", MB_NAME_GPA, MB_LOADER_NAME,
		       sizeof(MB_LOADER_NAME)) < 0 ||
	    boot_write(vm, "Multiboot memory map", MB_MMAP_GPA, mmap, nmap * MB_MMAP_ENTRY) < 0)
		return -1;
	return 0;
}

/* Load a Multiboot v1 kernel held in memory. */
int multiboot_load(struct vm *vm, const char *name, const uint8_t *image, size_t len,
		   const char *initrd, const char *cmdline, struct x86_cpu_state *bsp)
{
	struct mb_kernel k = {.name = name, .start = UINT64_MAX};
	struct mb_info mi = {0};
	uint64_t gdt[4] = {0, 0, GDT_CODE32, GDT_DATA};
	long hdr = multiboot_find_header(image, len);
	uint32_t flags, kcmd;
	uint64_t cursor;
	char *kcmdline = NULL;
	int ret = -1;

	if (hdr < 0) {
		log_error("kernel %s: no Multiboot header", name);
		return -1;
	}
	flags = get_le32(image + hdr + MB_HDR_FLAGS);
	if (flags & 0xfff8) {
		log_error("kernel %s: Multiboot header requires unsupported features (flags %#x)",
			  name, flags & 0xfff8);
		return -1;
	}
	if (flags & MB_FLAG_VIDEO_MODE)
		log_warn("kernel %s: Multiboot video mode requested; berth has no framebuffer and "
			 "passes no video information",
			 name);
	if (flags & MB_FLAG_AOUT_KLUDGE)
		ret = load_aout(vm, &k, image, len, (size_t)hdr);
	else
		ret = load_elf(vm, &k, image, len);
	if (ret < 0)
		return -1;
	ret = -1;

	/* QEMU passes "<kernel path> <append>" as the kernel's command line. */
	cmdline = cmdline ? cmdline : "";
	kcmdline = xmalloc(strlen(name) + strlen(cmdline) + 2);
	sprintf(kcmdline, "%s %s", name, cmdline);
	kcmd = add_string(&mi, kcmdline);
	/* Modules and the info block follow the kernel, above the BIOS area. */
	cursor = MAX(k.end, PC_BIOS_END);
	if (initrd && *initrd && load_modules(vm, name, initrd, &cursor, &mi) < 0)
		goto out;
	if (write_info(vm, name, &mi, kcmd, cursor) < 0)
		goto out;
	x86_state_flat32(bsp, k.entry);
	if (boot_write_gdt(vm, gdt, ARRAY_SIZE(gdt), bsp) < 0)
		goto out;
	bsp->idt = (struct x86_dtable){0, 0};
	bsp->gpr[X86_RAX] = MB_BOOT_MAGIC;
	bsp->gpr[X86_RBX] = BOOT_MBI_ADDR;
	log_debug("kernel %s: Multiboot image at [%#llx, %#llx), entry %#x, %u module(s)", name,
		  (unsigned long long)k.start, (unsigned long long)k.end, k.entry, mi.nmods);
	ret = 0;
out:
	free(kcmdline);
	free(mi.mods);
	free(mi.strings);
	return ret;
}
