/*
 * The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), entered the
 * way a 64-bit boot loader does: the protected-mode kernel of a bzImage is
 * copied to its preferred address, a zero page (struct boot_params) describes
 * memory, command line and initrd, and the BSP starts at the 64-bit entry
 * (load address + 0x200) in long mode with identity-mapped page tables. Kernels
 * without XLF_KERNEL_64 get the 32-bit protocol entry (flat protected mode,
 * paging off) instead.
 */
#include "vmm/boot/loader.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* struct boot_params (the zero page): offsets of the fields we fill. */
#define BP_SIZE		  0x1000
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES	  0x1e8
#define BP_HDR		  0x1f1
#define BP_HDR_END	  0x290 /* the header area ends where edd_mbr_sig_buffer starts */
#define BP_E820_TABLE	  0x2d0
#define BP_E820_MAX	  128

/* struct setup_header, by offset in the image and in boot_params. */
#define HDR_SETUP_SECTS	    0x1f1
#define HDR_BOOT_FLAG	    0x1fe
#define HDR_JUMP	    0x200
#define HDR_VERSION	    0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS	    0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE	    0x234
#define HDR_XLOADFLAGS	    0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE	    0x260

/* Bytes to MiB, rounded up, for messages. */
#define MIB_UP(x) (((x) + MiB - 1) / MiB)

#define LOADED_HIGH	  0x01
#define XLF_KERNEL_64	  0x01
#define BOOT_FLAG_MAGIC	  0xaa55
#define MIN_PROTOCOL	  0x206 /* cmdline_size, relocatable kernels, 2.6.22 and later */
#define DEFAULT_LOAD_ADDR 0x100000ULL

/* Flat descriptors of the boot GDT: __BOOT_CS is 0x10, __BOOT_DS 0x18, TSS 0x20. */
#define GDT_CODE64 0x00af9b000000ffffULL
#define GDT_CODE32 0x00cf9b000000ffffULL
#define GDT_DATA   0x00cf93000000ffffULL
#define GDT_TSS	   0x0000890000000067ULL
#define SEL_TSS	   0x20

/* Page-table entry bits. */
#define PTE_P  0x001ULL
#define PTE_RW 0x002ULL
#define PTE_PS 0x080ULL

/* What the header tells about where and how the kernel wants to be loaded. */
struct linux_image {
	const char *name;
	const uint8_t *setup; /* the boot sector and setup code (the header lives here) */
	size_t setup_size;
	const uint8_t *kernel; /* the protected-mode kernel */
	size_t kernel_size;
	uint16_t version;
	uint16_t xloadflags;
	uint64_t load_addr;
	uint64_t load_end; /* load_addr + the memory the kernel claims while decompressing */
	uint32_t cmdline_size;
	uint64_t initrd_max; /* highest address an initrd byte may occupy */
};

/* Parse and check the setup header; log and fail on anything unusable. */
static int parse_header(struct linux_image *li, const uint8_t *image, size_t len)
{
	unsigned sects;
	uint32_t align = 0, init_size = 0;
	uint64_t pref;
	bool relocatable = false;

	if (len < BP_HDR_END) {
		log_error("kernel %s: truncated bzImage (%zu bytes, the setup header alone needs "
			  "%d)",
			  li->name, len, BP_HDR_END);
		return -1;
	}
	if (get_le16(image + HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC) {
		log_error("kernel %s: bzImage boot sector lacks the 0xAA55 boot flag", li->name);
		return -1;
	}
	li->version = get_le16(image + HDR_VERSION);
	if (li->version < MIN_PROTOCOL) {
		log_error("kernel %s: boot protocol %u.%02u is too old (berth needs %u.%02u or "
			  "later)",
			  li->name, li->version >> 8, li->version & 0xff, MIN_PROTOCOL >> 8,
			  MIN_PROTOCOL & 0xff);
		return -1;
	}
	if (!(image[HDR_LOADFLAGS] & LOADED_HIGH)) {
		log_error("kernel %s: a zImage (loaded low) is not supported; use a bzImage",
			  li->name);
		return -1;
	}
	sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	li->setup = image;
	li->setup_size = (sects + 1) * 512;
	if (li->setup_size >= len) {
		log_error("kernel %s: truncated bzImage (%zu bytes): %zu bytes of setup code leave "
			  "no room for the kernel",
			  li->name, len, li->setup_size);
		return -1;
	}
	li->kernel = image + li->setup_size;
	li->kernel_size = len - li->setup_size;
	li->xloadflags = li->version >= 0x20c ? get_le16(image + HDR_XLOADFLAGS) : 0;
	li->cmdline_size = get_le32(image + HDR_CMDLINE_SIZE);
	li->initrd_max = get_le32(image + HDR_INITRD_ADDR_MAX);

	relocatable = image[HDR_RELOCATABLE] != 0;
	align = get_le32(image + HDR_KERNEL_ALIGN);
	pref = DEFAULT_LOAD_ADDR;
	if (li->version >= 0x20a) {
		/* A zero pref_address means no preference. */
		if (get_le64(image + HDR_PREF_ADDRESS))
			pref = get_le64(image + HDR_PREF_ADDRESS);
		init_size = get_le32(image + HDR_INIT_SIZE);
	}
	if (relocatable) {
		if (!align || (align & (align - 1))) {
			log_error("kernel %s: relocatable kernel with invalid kernel_alignment %#x",
				  li->name, align);
			return -1;
		}
		pref = ALIGN_UP(MAX(pref, DEFAULT_LOAD_ADDR), (uint64_t)align);
	}
	if (pref < DEFAULT_LOAD_ADDR || pref >= PC_LOW_RAM_MAX) {
		log_error("kernel %s: preferred load address %#llx is outside [1 MiB, %llu MiB)",
			  li->name, (unsigned long long)pref,
			  (unsigned long long)(PC_LOW_RAM_MAX / MiB));
		return -1;
	}
	li->load_addr = pref;
	li->load_end = pref + MAX((uint64_t)init_size, (uint64_t)li->kernel_size);
	return 0;
}

/* Check that the kernel's decompression area is RAM. */
static int check_kernel_fits(const struct vm *vm, const struct linux_image *li)
{
	if (li->load_end > vm->low_ram_size) {
		log_error("kernel %s: needs RAM up to %llu MiB (loaded at %#llx, %llu MiB while "
			  "decompressing), but the VM has %llu MiB below the PCI hole",
			  li->name, (unsigned long long)MIB_UP(li->load_end),
			  (unsigned long long)li->load_addr,
			  (unsigned long long)MIB_UP(li->load_end - li->load_addr),
			  (unsigned long long)(vm->low_ram_size / MiB));
		return -1;
	}
	return 0;
}

/*
 * Place the initrd as the protocol asks: page aligned, as high as possible,
 * wholly below initrd_addr_max and above the kernel.
 */
static int load_initrd(struct vm *vm, const struct linux_image *li, const char *path, uint8_t *bp)
{
	uint64_t size, top, addr;

	if (boot_file_size("initrd", path, &size) < 0)
		return -1;
	if (!size)
		return 0;
	top = MIN(li->initrd_max, vm->low_ram_size - 1) + 1;
	if (size > top || ALIGN_DOWN(top - size, 4 * KiB) < li->load_end) {
		log_error("initrd %s: %llu MiB does not fit between the kernel (ends at %#llx) and "
			  "%#llx, the highest address this kernel or the VM's RAM allows",
			  path, (unsigned long long)MIB_UP(size), (unsigned long long)li->load_end,
			  (unsigned long long)top);
		return -1;
	}
	addr = ALIGN_DOWN(top - size, 4 * KiB);
	if (boot_file_load(vm, "initrd", path, addr, size) < 0)
		return -1;
	put_le32(bp + HDR_RAMDISK_IMAGE, (uint32_t)addr);
	put_le32(bp + HDR_RAMDISK_SIZE, (uint32_t)size);
	return 0;
}

/* Copy the command line to BOOT_CMDLINE_ADDR, within the kernel's limit. */
static int load_cmdline(struct vm *vm, const struct linux_image *li, const char *cmdline,
			uint8_t *bp)
{
	size_t len = strlen(cmdline);
	uint64_t max = MIN((uint64_t)li->cmdline_size, BOOT_CMDLINE_MAX - 1);

	if (len > max) {
		log_error("kernel %s: command line is %zu bytes, this kernel accepts at most %llu",
			  li->name, len, (unsigned long long)max);
		return -1;
	}
	if (boot_write(vm, "kernel command line", BOOT_CMDLINE_ADDR, cmdline, len + 1) < 0)
		return -1;
	put_le32(bp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	return 0;
}

/* Does guest RAM hold a checksummed ACPI RSDP at PC_ACPI_RSDP_ADDR? */
static bool rsdp_present(struct vm *vm)
{
	const uint8_t *p = vm_gpa_to_hva(vm, PC_ACPI_RSDP_ADDR, 20);
	uint8_t sum = 0;

	if (!p || memcmp(p, "RSD PTR ", 8))
		return false;
	for (int i = 0; i < 20; i++)
		sum += p[i];
	return sum == 0;
}

/* Build the zero page: the image's setup header plus what the loader fills in. */
static void fill_boot_params(struct vm *vm, const struct linux_image *li, uint8_t *bp)
{
	struct e820_entry map[BP_E820_MAX];
	size_t hdr_end = 0x202 + li->setup[HDR_JUMP + 1], n;

	hdr_end = MIN(hdr_end, (size_t)BP_HDR_END);
	memcpy(bp + BP_HDR, li->setup + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	put_le32(bp + HDR_CODE32_START, (uint32_t)li->load_addr);

	n = MIN(pc_e820_map(vm, map, BP_E820_MAX), (size_t)BP_E820_MAX);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, map, n * sizeof(map[0]));

	if (rsdp_present(vm))
		put_le64(bp + BP_ACPI_RSDP_ADDR, PC_ACPI_RSDP_ADDR);
}

/* Identity-map the first 4 GiB with 2 MiB pages: PML4, PDPT, 4 page directories. */
static int write_page_tables(struct vm *vm)
{
	uint8_t *pt = xcalloc(6, 4096);
	uint64_t base = BOOT_PAGE_TABLE_ADDR;
	int ret;

	put_le64(pt, (base + 0x1000) | PTE_P | PTE_RW);
	for (unsigned i = 0; i < 4; i++)
		put_le64(pt + 0x1000 + 8 * i, (base + 0x2000 + 0x1000 * i) | PTE_P | PTE_RW);
	for (unsigned i = 0; i < 4 * 512; i++)
		put_le64(pt + 0x2000 + 8 * i, ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS);
	ret = boot_write(vm, "boot page tables", base, pt, 6 * 4096);
	free(pt);
	return ret;
}

/* Entry state: 64-bit long mode (or the 32-bit protocol), RSI = boot_params. */
static int set_entry_state(struct vm *vm, const struct linux_image *li, struct x86_cpu_state *st)
{
	bool lm = li->xloadflags & XLF_KERNEL_64;
	uint64_t gdt[6] = {0, 0, lm ? GDT_CODE64 : GDT_CODE32, GDT_DATA, GDT_TSS, 0};

	x86_state_flat32(st, li->load_addr);
	if (boot_write_gdt(vm, gdt, ARRAY_SIZE(gdt), st) < 0)
		return -1;
	st->idt = (struct x86_dtable){0, 0};
	st->tr =
	    (struct x86_segment){.selector = SEL_TSS, .limit = 0x67, .type = 0xb, .present = 1};
	st->gpr[X86_RSI] = BOOT_ZERO_PAGE_ADDR;
	if (!lm)
		return 0;
	if (write_page_tables(vm) < 0)
		return -1;
	st->rip = li->load_addr + 0x200;
	st->cs.l = 1;
	st->cs.db = 0;
	st->cr0 |= X86_CR0_PG;
	st->cr3 = BOOT_PAGE_TABLE_ADDR;
	st->cr4 = X86_CR4_PAE;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	st->gpr[X86_RSP] = st->gpr[X86_RBP] = BOOT_STACK_TOP;
	return 0;
}

/* Load a bzImage held in memory. */
int linux_load(struct vm *vm, const char *name, const uint8_t *image, size_t len,
	       const char *initrd, const char *cmdline, struct x86_cpu_state *bsp)
{
	struct linux_image li = {.name = name};
	uint8_t *bp = NULL;
	int ret = -1;

	if (parse_header(&li, image, len) < 0 || check_kernel_fits(vm, &li) < 0)
		return -1;
	bp = xcalloc(1, BP_SIZE);
	fill_boot_params(vm, &li, bp);
	if (load_cmdline(vm, &li, cmdline ? cmdline : "", bp) < 0)
		goto out;
	if (initrd && load_initrd(vm, &li, initrd, bp) < 0)
		goto out;
	if (boot_write(vm, "kernel", li.load_addr, li.kernel, li.kernel_size) < 0 ||
	    boot_write(vm, "boot_params", BOOT_ZERO_PAGE_ADDR, bp, BP_SIZE) < 0)
		goto out;
	if (set_entry_state(vm, &li, bsp) < 0)
		goto out;
	log_debug("kernel %s: boot protocol %u.%02u, loaded at %#llx, %s entry at %#llx", name,
		  li.version >> 8, li.version & 0xff, (unsigned long long)li.load_addr,
		  (li.xloadflags & XLF_KERNEL_64) ? "64-bit" : "32-bit",
		  (unsigned long long)bsp->rip);
	ret = 0;
out:
	free(bp);
	return ret;
}
