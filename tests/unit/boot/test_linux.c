/*
 * Unit tests for the Linux boot protocol loader (src/vmm/boot/linux.c): crafted
 * bzImage headers, boot_params contents, kernel/cmdline/initrd placement,
 * entry state and page tables, and errors; plus Debian's real kernel if the
 * guest image was fetched (.cache/guest/vmlinuz, or $BERTH_TEST_VMLINUZ).
 */
#include "boot_test.h"
#include "vmm/machine/pc.h"

#define SETUP_SECTS 4
#define SETUP_SIZE  ((SETUP_SECTS + 1) * 512)
#define KERNEL_SIZE 0x3000
#define PREF	    0x1000000ULL
#define INIT_SIZE   0x800000U

struct hdr_opts {
	uint16_t version;
	uint8_t relocatable;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t initrd_max;
	uint64_t pref;
	uint32_t init_size;
	uint32_t align;
};

static const struct hdr_opts defaults = {
    .version = 0x20f,
    .relocatable = 1,
    .xloadflags = 0x3,
    .cmdline_size = 2047,
    .initrd_max = 0x7fffffff,
    .pref = PREF,
    .init_size = INIT_SIZE,
    .align = 0x200000,
};

/* A bzImage with setup code, a header per opts, and a patterned kernel. */
static uint8_t *make_bzimage(const struct hdr_opts *o, size_t *len)
{
	uint8_t *img = calloc(1, SETUP_SIZE + KERNEL_SIZE);

	img[0x1f1] = SETUP_SECTS;
	put_le16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put_le16(img + 0x206, o->version);
	img[0x211] = 0x01; /* LOADED_HIGH */
	put_le32(img + 0x214, 0x100000);
	put_le32(img + 0x22c, o->initrd_max);
	put_le32(img + 0x230, o->align);
	img[0x234] = o->relocatable;
	img[0x235] = 21;
	put_le16(img + 0x236, o->xloadflags);
	put_le32(img + 0x238, o->cmdline_size);
	put_le64(img + 0x258, o->pref);
	put_le32(img + 0x260, o->init_size);
	put_le32(img + 0x268, 0x12345678); /* kernel_info_offset: inside the header */
	img[0x26c] = 0x99;		   /* beyond the header: must not be copied */
	for (size_t i = 0; i < KERNEL_SIZE; i++)
		img[SETUP_SIZE + i] = (uint8_t)(i * 13 + 5);
	*len = SETUP_SIZE + KERNEL_SIZE;
	return img;
}

static int load(struct vm *vm, const struct hdr_opts *o, const char *initrd, const char *cmdline,
		struct x86_cpu_state *st)
{
	size_t len;
	uint8_t *img = make_bzimage(o, &len);
	int ret = linux_load(vm, "test-bzImage", img, len, initrd, cmdline, st);

	free(img);
	return ret;
}

/* Walk the guest page tables from CR3 for a virtual address; returns the physical one. */
static uint64_t translate(struct vm *vm, uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = g64(vm, (cr3 & ~0xfffULL) + 8 * ((va >> 39) & 511));
	uint64_t pdpte, pde;

	assert_true(pml4e & 1);
	pdpte = g64(vm, (pml4e & 0xffffffffff000ULL) + 8 * ((va >> 30) & 511));
	assert_true(pdpte & 1);
	assert_false(pdpte & 0x80);
	pde = g64(vm, (pdpte & 0xffffffffff000ULL) + 8 * ((va >> 21) & 511));
	assert_true(pde & 1);
	assert_true(pde & 2);
	assert_true(pde & 0x80); /* 2 MiB page */
	return (pde & 0xfffffffe00000ULL) | (va & 0x1fffff);
}

static void test_boot_params(void **state)
{
	struct vm *vm = test_vm_new(256 * MiB, 1);
	struct x86_cpu_state st;
	const char *cmd = "console=ttyS0 root=/dev/vda";
	char *initrd = test_temp_file(1 * MiB + 123, 3);
	uint8_t *bp;
	uint32_t rd, rd_size;
	struct e820_entry map[16];
	size_t n;

	(void)state;
	assert_int_equal(load(vm, &defaults, initrd, cmd, &st), 0);
	bp = gmem(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	assert_int_equal(get_le16(bp + 0x1fe), 0xaa55);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(get_le16(bp + 0x206), 0x20f);
	assert_int_equal(bp[0x210], 0xff); /* type_of_loader */
	assert_int_equal(bp[0x211] & 1, 1);
	assert_int_equal(get_le32(bp + 0x214), PREF); /* code32_start = load address */
	assert_int_equal(get_le32(bp + 0x230), 0x200000);
	assert_int_equal(get_le32(bp + 0x268), 0x12345678);
	assert_int_equal(bp[0x26c], 0); /* not part of the header */

	/* Command line */
	assert_int_equal(get_le32(bp + 0x228), BOOT_CMDLINE_ADDR);
	assert_string_equal((char *)gmem(vm, BOOT_CMDLINE_ADDR, strlen(cmd) + 1), cmd);

	/* Initrd: page aligned, as high as possible, and intact. */
	rd = get_le32(bp + 0x218);
	rd_size = get_le32(bp + 0x21c);
	assert_int_equal(rd_size, 1 * MiB + 123);
	assert_int_equal(rd % 4096, 0);
	assert_true(rd + rd_size <= 256 * MiB);
	assert_true(rd + rd_size > 256 * MiB - 4096);
	assert_true(rd >= PREF + INIT_SIZE);
	assert_true(pattern_matches(vm, rd, rd_size, 3));

	/* e820 table equals pc_e820_map(). */
	n = pc_e820_map(vm, map, 16);
	assert_int_equal(bp[0x1e8], n);
	assert_memory_equal(bp + 0x2d0, map, n * sizeof(map[0]));

	/* Kernel bytes at the preferred address. */
	for (size_t i = 0; i < KERNEL_SIZE; i++)
		assert_int_equal(*gmem(vm, PREF + i, 1), (uint8_t)(i * 13 + 5));

	/* No firmware tables were built: no RSDP address passed. */
	assert_int_equal(get_le64(bp + 0x70), 0);
	test_temp_remove(initrd);
	test_vm_free(vm);
}

static void test_entry_state_64(void **state)
{
	struct vm *vm = test_vm_new(256 * MiB, 1);
	struct x86_cpu_state st;
	const uint8_t *gdt;

	(void)state;
	assert_int_equal(load(vm, &defaults, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, PREF + 0x200);
	assert_int_equal(st.gpr[X86_RSI], BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(st.rflags & X86_RFLAGS_IF, 0);
	assert_true(st.cr0 & X86_CR0_PE);
	assert_true(st.cr0 & X86_CR0_PG);
	assert_true(st.cr4 & X86_CR4_PAE);
	assert_int_equal(st.efer & (X86_EFER_LME | X86_EFER_LMA), X86_EFER_LME | X86_EFER_LMA);
	assert_int_equal(st.cs.selector, 0x10);
	assert_int_equal(st.cs.l, 1);
	assert_int_equal(st.cs.db, 0);
	assert_int_equal(st.cs.type & 0x8, 0x8);
	assert_int_equal(st.ds.selector, 0x18);
	assert_int_equal(st.ss.selector, 0x18);
	assert_int_equal(st.es.selector, 0x18);
	assert_int_equal(st.tr.type, 0xb);
	assert_int_equal(st.tr.present, 1);

	/* GDT in guest memory matches the selectors. */
	assert_true(st.gdt.limit >= 0x1f);
	gdt = gmem(vm, st.gdt.base, st.gdt.limit + 1);
	assert_int_equal(get_le64(gdt + 0x10), 0x00af9b000000ffffULL);
	assert_int_equal(get_le64(gdt + 0x18), 0x00cf93000000ffffULL);

	/* Identity map over the first 4 GiB. */
	assert_int_equal(translate(vm, st.cr3, 0), 0);
	assert_int_equal(translate(vm, st.cr3, BOOT_ZERO_PAGE_ADDR), BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(translate(vm, st.cr3, PREF + 0x200), PREF + 0x200);
	assert_int_equal(translate(vm, st.cr3, 0xbfffffffULL), 0xbfffffffULL);
	assert_int_equal(translate(vm, st.cr3, 0xfee00000ULL), 0xfee00000ULL);
	assert_int_equal(translate(vm, st.cr3, 0xffffffffULL), 0xffffffffULL);
	test_vm_free(vm);
}

static void test_entry_state_32(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct hdr_opts o = defaults;
	struct x86_cpu_state st;

	(void)state;
	o.xloadflags = 0;
	assert_int_equal(load(vm, &o, NULL, "", &st), 0);
	assert_int_equal(st.rip, PREF);
	assert_int_equal(st.gpr[X86_RSI], BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(st.gpr[X86_RBX], 0);
	assert_int_equal(st.gpr[X86_RBP], 0);
	assert_int_equal(st.gpr[X86_RDI], 0);
	assert_true(st.cr0 & X86_CR0_PE);
	assert_false(st.cr0 & X86_CR0_PG);
	assert_int_equal(st.efer, 0);
	assert_int_equal(st.cs.selector, 0x10);
	assert_int_equal(st.cs.db, 1);
	assert_int_equal(get_le64(gmem(vm, st.gdt.base + 0x10, 8)), 0x00cf9b000000ffffULL);
	test_vm_free(vm);
}

static void test_initrd_addr_max(void **state)
{
	struct vm *vm = test_vm_new(2 * GiB, 1);
	struct hdr_opts o = defaults;
	struct x86_cpu_state st;
	char *initrd = test_temp_file(300 * KiB, 9);
	uint8_t *bp;
	uint32_t rd;

	(void)state;
	o.initrd_max = 0x37ffffff;
	assert_int_equal(load(vm, &o, initrd, "x", &st), 0);
	bp = gmem(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	rd = get_le32(bp + 0x218);
	assert_int_equal(rd, ALIGN_DOWN(0x38000000 - 300 * KiB, 4096));
	assert_true(pattern_matches(vm, rd, 300 * KiB, 9));
	test_temp_remove(initrd);
	test_vm_free(vm);
}

static void test_cmdline_limit(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct hdr_opts o = defaults;
	struct x86_cpu_state st;

	(void)state;
	o.cmdline_size = 16;
	assert_int_equal(load(vm, &o, NULL, "0123456789abcdef", &st), 0);
	assert_string_equal((char *)gmem(vm, BOOT_CMDLINE_ADDR, 17), "0123456789abcdef");
	assert_int_equal(load(vm, &o, NULL, "0123456789abcdefg", &st), -1);
	test_vm_free(vm);
}

static void test_too_small_ram(void **state)
{
	struct vm *vm = test_vm_new(16 * MiB, 1);
	struct x86_cpu_state st;
	struct hdr_opts o = defaults;

	(void)state;
	/* The kernel needs [16 MiB, 24 MiB) while decompressing. */
	assert_int_equal(load(vm, &defaults, NULL, NULL, &st), -1);
	test_vm_free(vm);
	vm = test_vm_new(24 * MiB, 1);
	assert_int_equal(load(vm, &defaults, NULL, NULL, &st), 0);
	o.init_size = INIT_SIZE + 1;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), -1);
	test_vm_free(vm);
}

static void test_initrd_does_not_fit(void **state)
{
	struct vm *vm = test_vm_new(32 * MiB, 1);
	struct x86_cpu_state st;
	char *big = test_temp_file(9 * MiB, 1), *fits = test_temp_file(8 * MiB, 2);

	(void)state;
	/* The kernel occupies up to 24 MiB: 8 MiB remain. */
	assert_int_equal(load(vm, &defaults, big, NULL, &st), -1);
	assert_int_equal(load(vm, &defaults, fits, NULL, &st), 0);
	assert_int_equal(get_le32(gmem(vm, BOOT_ZERO_PAGE_ADDR + 0x218, 4)), 24 * MiB);
	assert_int_equal(load(vm, &defaults, "/nonexistent/initrd", NULL, &st), -1);
	test_temp_remove(big);
	test_temp_remove(fits);
	test_vm_free(vm);
}

static void test_bad_headers(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct x86_cpu_state st;
	struct hdr_opts o = defaults;
	size_t len;
	uint8_t *img = make_bzimage(&defaults, &len);

	(void)state;
	/* Truncated: header only partly there, or setup code longer than the file. */
	assert_int_equal(linux_load(vm, "t", img, 0x250, NULL, NULL, &st), -1);
	assert_int_equal(linux_load(vm, "t", img, SETUP_SIZE, NULL, NULL, &st), -1);
	img[0x1f1] = 200;
	assert_int_equal(linux_load(vm, "t", img, len, NULL, NULL, &st), -1);
	free(img);
	/* Missing boot flag. */
	img = make_bzimage(&defaults, &len);
	img[0x1fe] = 0;
	assert_int_equal(linux_load(vm, "t", img, len, NULL, NULL, &st), -1);
	free(img);
	/* zImage (not loaded high). */
	img = make_bzimage(&defaults, &len);
	img[0x211] = 0;
	assert_int_equal(linux_load(vm, "t", img, len, NULL, NULL, &st), -1);
	free(img);
	/* Old protocol, bad alignment, absurd preferred address. */
	o.version = 0x205;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), -1);
	o = defaults;
	o.align = 0x300000;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), -1);
	o = defaults;
	o.relocatable = 0;
	o.pref = 0xfff00000ULL;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), -1);
	test_vm_free(vm);
}

/* A relocatable kernel's odd preferred address is rounded up to its alignment. */
static void test_alignment(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct hdr_opts o = defaults;
	struct x86_cpu_state st;

	(void)state;
	o.pref = 0x1100000;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, 0x1200000 + 0x200);
	o.relocatable = 0;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, 0x1100000 + 0x200);
	/* No preference: the traditional 1 MiB, aligned up for a relocatable kernel. */
	o.pref = 0;
	o.init_size = 0x100000;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, 0x100000 + 0x200);
	o.relocatable = 1;
	assert_int_equal(load(vm, &o, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, 0x200000 + 0x200);
	test_vm_free(vm);
}

static void test_rsdp_passed(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 2);
	struct x86_cpu_state st;

	(void)state;
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	assert_int_equal(load(vm, &defaults, NULL, NULL, &st), 0);
	assert_int_equal(g64(vm, BOOT_ZERO_PAGE_ADDR + 0x70), PC_ACPI_RSDP_ADDR);
	test_vm_free(vm);
}

/* Through boot_load_kernel: a file, a missing file, a file of another kind. */
static void test_from_file(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct x86_cpu_state st;
	size_t len;
	uint8_t *img = make_bzimage(&defaults, &len);
	char *path = test_temp_data(img, len), *junk = test_temp_file(10000, 0);

	(void)state;
	assert_int_equal(boot_load_kernel(vm, path, NULL, "quiet", &st), 0);
	assert_int_equal(st.rip, PREF + 0x200);
	assert_int_equal(boot_load_kernel(vm, "/nonexistent/vmlinuz", NULL, NULL, &st), -1);
	assert_int_equal(boot_load_kernel(vm, junk, NULL, NULL, &st), -1);
	assert_int_equal(boot_load_kernel(vm, "/tmp", NULL, NULL, &st), -1);
	test_temp_remove(path);
	test_temp_remove(junk);
	free(img);
	test_vm_free(vm);
}

/* Debian's kernel, when scripts/guest-image.sh has fetched it. */
static void test_debian_kernel(void **state)
{
	const char *path = getenv("BERTH_TEST_VMLINUZ");
	const char *initrd = getenv("BERTH_TEST_INITRD");
	struct vm *vm;
	struct x86_cpu_state st;
	uint8_t *bp;

	(void)state;
	if (!path || access(path, R_OK) || !initrd || access(initrd, R_OK))
		skip();
	vm = test_vm_new(512 * MiB, 2);
	assert_int_equal(pc_build_firmware_tables(vm), 0);
	assert_int_equal(boot_load_kernel(vm, path, initrd, "console=ttyS0 panic=-1", &st), 0);
	bp = gmem(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	assert_true(get_le16(bp + 0x206) >= 0x20c);
	assert_true(get_le16(bp + 0x236) & 1); /* XLF_KERNEL_64 */
	assert_int_equal(st.rip, get_le32(bp + 0x214) + 0x200);
	assert_int_equal(get_le32(bp + 0x214) % get_le32(bp + 0x230), 0);
	assert_true(get_le32(bp + 0x218) >= get_le32(bp + 0x214) + get_le32(bp + 0x260));
	assert_int_equal(g64(vm, BOOT_ZERO_PAGE_ADDR + 0x70), PC_ACPI_RSDP_ADDR);
	test_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_boot_params),		cmocka_unit_test(test_entry_state_64),
	    cmocka_unit_test(test_entry_state_32),	cmocka_unit_test(test_initrd_addr_max),
	    cmocka_unit_test(test_cmdline_limit),	cmocka_unit_test(test_too_small_ram),
	    cmocka_unit_test(test_initrd_does_not_fit), cmocka_unit_test(test_bad_headers),
	    cmocka_unit_test(test_alignment),		cmocka_unit_test(test_rsdp_passed),
	    cmocka_unit_test(test_from_file),		cmocka_unit_test(test_debian_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
