/*
 * Unit tests for the Multiboot v1 loader (src/vmm/boot/multiboot.c): small ELF32
 * and a.out-kludge kernels built here, modules, command lines, the information
 * structure, the memory map, the entry state, and malformed images.
 */
#include "boot_test.h"
#include "vmm/machine/pc.h"

#define MB_MAGIC 0x1badb002u

/* Put a Multiboot header at off; with aout, the address fields follow. */
static void put_mb_header(uint8_t *img, size_t off, uint32_t flags, const uint32_t *aout)
{
	put_le32(img + off, MB_MAGIC);
	put_le32(img + off + 4, flags);
	put_le32(img + off + 8, -(MB_MAGIC + flags));
	for (int i = 0; aout && i < 5; i++)
		put_le32(img + off + 12 + 4 * i, aout[i]);
}

/*
 * An ELF32 kernel: text at paddr 0x100000 (linked at vaddr 0xc0100000), data at
 * 0x101000 with 0x100 bytes in the file and 0x2000 in memory (bss).
 */
static uint8_t *make_elf(uint32_t entry, size_t *len)
{
	size_t n = 0x1300;
	uint8_t *img = calloc(1, n);
	uint8_t *ph;

	memcpy(img, "\177ELF", 4);
	img[4] = 1; /* ELFCLASS32 */
	img[5] = 1; /* little endian */
	img[6] = 1;
	put_le16(img + 16, 2); /* ET_EXEC */
	put_le16(img + 18, 3); /* EM_386 */
	put_le32(img + 20, 1);
	put_le32(img + 24, entry);
	put_le32(img + 28, 52);
	put_le16(img + 40, 52);
	put_le16(img + 42, 32);
	put_le16(img + 44, 2);
	ph = img + 52;
	put_le32(ph, 1);
	put_le32(ph + 4, 0x1000);
	put_le32(ph + 8, 0xc0100000);
	put_le32(ph + 12, 0x100000);
	put_le32(ph + 16, 0x200);
	put_le32(ph + 20, 0x200);
	ph += 32;
	put_le32(ph, 1);
	put_le32(ph + 4, 0x1200);
	put_le32(ph + 8, 0xc0101000);
	put_le32(ph + 12, 0x101000);
	put_le32(ph + 16, 0x100);
	put_le32(ph + 20, 0x2000);
	put_mb_header(img, 0x80, 0x3, NULL);
	for (size_t i = 0x1000; i < n; i++)
		img[i] = (uint8_t)(i * 3 + 1);
	*len = n;
	return img;
}

/* Fill guest RAM with a marker so zeroed bss is visible. */
static void scribble(struct vm *vm, uint64_t gpa, size_t len)
{
	memset(gmem(vm, gpa, len), 0xaa, len);
}

static void check_entry_state(struct vm *vm, const struct x86_cpu_state *st, uint64_t entry)
{
	const uint8_t *gdt;

	assert_int_equal(st->rip, entry);
	assert_int_equal(st->gpr[X86_RAX], 0x2badb002);
	assert_int_equal(st->gpr[X86_RBX], BOOT_MBI_ADDR);
	assert_true(st->cr0 & X86_CR0_PE);
	assert_false(st->cr0 & X86_CR0_PG);
	assert_int_equal(st->rflags & X86_RFLAGS_IF, 0);
	assert_int_equal(st->efer, 0);
	assert_int_equal(st->cs.db, 1);
	assert_int_equal(st->cs.base, 0);
	assert_int_equal(st->cs.limit, 0xffffffff);
	assert_int_equal(st->ds.limit, 0xffffffff);
	/* The selectors in use have flat descriptors in the GDT in guest memory. */
	assert_true(st->gdt.limit >= st->ds.selector + 7 && st->gdt.limit >= st->cs.selector + 7);
	gdt = gmem(vm, st->gdt.base, st->gdt.limit + 1);
	assert_int_equal(get_le64(gdt + st->cs.selector), 0x00cf9b000000ffffULL);
	assert_int_equal(get_le64(gdt + st->ds.selector), 0x00cf93000000ffffULL);
}

/* Check the information structure's memory fields and e820-derived mmap. */
static void check_mbi_memory(struct vm *vm)
{
	uint64_t mbi = BOOT_MBI_ADDR;
	uint32_t flags = g32(vm, mbi);
	struct e820_entry map[16];
	size_t n = pc_e820_map(vm, map, 16);
	uint32_t mmap = g32(vm, mbi + 48), mmap_len = g32(vm, mbi + 44);

	assert_int_equal(flags & 0x24f, 0x24f); /* mem, boot device, cmdline, mods, mmap, name */
	assert_int_equal(g32(vm, mbi + 4), 639);
	assert_int_equal(g32(vm, mbi + 8), (vm->low_ram_size - MiB) / KiB);
	assert_int_equal(mmap_len, n * 24);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(g32(vm, mmap + 24 * i), 20);
		assert_memory_equal(gmem(vm, mmap + 24 * i + 4, 20), &map[i], 20);
	}
	assert_string_equal((char *)gmem(vm, g32(vm, mbi + 64), 6), "berth");
}

static void test_elf(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct x86_cpu_state st;
	size_t len;
	uint8_t *img = make_elf(0xc0100010, &len);

	(void)state;
	scribble(vm, 0x100000, 0x4000);
	assert_int_equal(multiboot_load(vm, "/boot/kernel.elf", img, len, NULL, "a=1 b", &st), 0);
	/* Virtual entry translated to its physical address. */
	check_entry_state(vm, &st, 0x100010);
	assert_memory_equal(gmem(vm, 0x100000, 0x200), img + 0x1000, 0x200);
	assert_memory_equal(gmem(vm, 0x101000, 0x100), img + 0x1200, 0x100);
	for (size_t i = 0x100; i < 0x2000; i++)
		assert_int_equal(*gmem(vm, 0x101000 + i, 1), 0);
	check_mbi_memory(vm);
	assert_string_equal((char *)gmem(vm, g32(vm, BOOT_MBI_ADDR + 16), 1),
			    "/boot/kernel.elf a=1 b");
	assert_int_equal(g32(vm, BOOT_MBI_ADDR + 20), 0);
	free(img);

	/* A physical entry is kept as it is. */
	img = make_elf(0x100020, &len);
	assert_int_equal(multiboot_load(vm, "k", img, len, NULL, NULL, &st), 0);
	assert_int_equal(st.rip, 0x100020);
	/* QEMU's "<path> <append>" even with nothing appended. */
	assert_string_equal((char *)gmem(vm, g32(vm, BOOT_MBI_ADDR + 16), 1), "k ");
	free(img);
	test_vm_free(vm);
}

/* a.out kludge: header at 0x40 in a 0x1000-byte file that loads at 0x200000. */
static uint8_t *make_aout(uint32_t load_end, uint32_t bss_end, size_t *len)
{
	uint8_t *img = calloc(1, 0x1000);
	uint32_t aout[5] = {0x200040, 0x200000, load_end, bss_end, 0x200100};

	for (size_t i = 0; i < 0x1000; i++)
		img[i] = (uint8_t)(i * 5 + 7);
	put_mb_header(img, 0x40, 0x10003, aout);
	*len = 0x1000;
	return img;
}

static void test_aout(void **state)
{
	struct vm *vm = test_vm_new(32 * MiB, 1);
	struct x86_cpu_state st;
	size_t len;
	uint8_t *img = make_aout(0x200800, 0x203000, &len);

	(void)state;
	scribble(vm, 0x200000, 0x4000);
	assert_int_equal(multiboot_load(vm, "aout", img, len, NULL, "x", &st), 0);
	check_entry_state(vm, &st, 0x200100);
	assert_memory_equal(gmem(vm, 0x200000, 0x800), img, 0x800);
	for (size_t i = 0x800; i < 0x3000; i++)
		assert_int_equal(*gmem(vm, 0x200000 + i, 1), 0);
	/* The info block (command lines) follows the bss. */
	assert_true(g32(vm, BOOT_MBI_ADDR + 16) >= 0x203000);
	check_mbi_memory(vm);
	free(img);

	/* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
	scribble(vm, 0x200000, 0x4000);
	img = make_aout(0, 0, &len);
	assert_int_equal(multiboot_load(vm, "aout", img, len, NULL, "x", &st), 0);
	assert_memory_equal(gmem(vm, 0x200000, 0x1000), img, 0x1000);
	assert_true(g32(vm, BOOT_MBI_ADDR + 16) >= 0x201000);
	free(img);
	test_vm_free(vm);
}

static void test_modules(void **state)
{
	struct vm *vm = test_vm_new(64 * MiB, 1);
	struct x86_cpu_state st;
	size_t len;
	uint8_t *img = make_elf(0x100000, &len);
	char *m1 = test_temp_file(5000, 11), *m2 = test_temp_file(0x3000, 12);
	char comma_path[] = "/tmp/berth-mb,mod-XXXXXX", list[512], escaped[64];
	uint32_t mods, prev_end = 0x101000 + 0x2000;
	int fd = mkstemp(comma_path);
	const char *want_cmd[3];
	size_t want_len[3] = {5000, 0x3000, 3};
	char *e = escaped;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "abc", 3), 0);
	close(fd);
	for (const char *c = comma_path; *c; c++) {
		*e++ = *c;
		if (*c == ',')
			*e++ = ',';
	}
	*e = '\0';
	snprintf(list, sizeof(list), "%s arg1 arg2,%s,%s x", m1, m2, escaped);
	assert_int_equal(multiboot_load(vm, "kern", img, len, list, "", &st), 0);
	assert_int_equal(g32(vm, BOOT_MBI_ADDR + 20), 3);
	mods = g32(vm, BOOT_MBI_ADDR + 24);
	{
		char c0[256], c2[256];

		snprintf(c0, sizeof(c0), "%s arg1 arg2", m1);
		snprintf(c2, sizeof(c2), "%s x", comma_path);
		want_cmd[0] = c0;
		want_cmd[1] = m2;
		want_cmd[2] = c2;
		for (int i = 0; i < 3; i++) {
			uint32_t start = g32(vm, mods + 16 * i), end = g32(vm, mods + 16 * i + 4);
			const char *cmd = (char *)gmem(vm, g32(vm, mods + 16 * i + 8), 1);

			assert_int_equal(start % 4096, 0);
			assert_true(start >= prev_end && start >= MiB);
			assert_int_equal(end - start, want_len[i]);
			assert_string_equal(cmd, want_cmd[i]);
			prev_end = end;
		}
	}
	assert_true(pattern_matches(vm, g32(vm, mods), 5000, 11));
	assert_true(pattern_matches(vm, g32(vm, mods + 16), 0x3000, 12));
	assert_memory_equal(gmem(vm, g32(vm, mods + 32), 3), "abc", 3);

	/* A missing module is an error. */
	assert_int_equal(multiboot_load(vm, "kern", img, len, "/nonexistent/module", "", &st), -1);
	unlink(comma_path);
	test_temp_remove(m1);
	test_temp_remove(m2);
	free(img);
	test_vm_free(vm);
}

/* multiboot_load refuses the image (and returns an error rather than crashing). */
static void expect_rejected(struct vm *vm, const uint8_t *img, size_t len)
{
	struct x86_cpu_state st;

	assert_int_equal(multiboot_load(vm, "k", img, len, NULL, NULL, &st), -1);
}

/* A valid ELF kernel with one 32-bit field changed is refused. */
static void expect_elf_field_rejected(struct vm *vm, size_t off, uint32_t val)
{
	size_t len;
	uint8_t *img = make_elf(0x100000, &len);

	put_le32(img + off, val);
	expect_rejected(vm, img, len);
	free(img);
}

/* A 4 KiB file whose only loading information is the a.out kludge in aout is refused. */
static void expect_aout_rejected(struct vm *vm, uint8_t *img, const uint32_t *aout)
{
	put_mb_header(img, 0x40, 0x10000, aout);
	expect_rejected(vm, img, 0x1000);
}

static void test_bad_images(void **state)
{
	struct vm *vm = test_vm_new(16 * MiB, 1);
	size_t len;
	uint8_t *img;
	uint32_t aout[5];

	(void)state;
	/* 64-bit ELF. */
	img = make_elf(0x100000, &len);
	img[4] = 2;
	expect_rejected(vm, img, len);
	free(img);
	/* Program headers past the end of the file. */
	expect_elf_field_rejected(vm, 28, 0x12f0);
	/* Segment file data past the end of the file. */
	expect_elf_field_rejected(vm, 52 + 32 + 16, 0x200);
	/* Segment over the loader's low memory, or beyond RAM, or into the BIOS area. */
	expect_elf_field_rejected(vm, 52 + 12, 0x8000);
	expect_elf_field_rejected(vm, 52 + 12, 0xffff00);
	expect_elf_field_rejected(vm, 52 + 12, 0xfffff000);
	expect_elf_field_rejected(vm, 52 + 12, 0xf0000);
	/* Unsupported requirement flags; no header at all (bad checksum). */
	img = make_elf(0x100000, &len);
	put_mb_header(img, 0x80, 0x8, NULL);
	expect_rejected(vm, img, len);
	put_le32(img + 0x88, 0);
	assert_int_equal(multiboot_find_header(img, len), -1);
	expect_rejected(vm, img, len);
	free(img);
	/* Not ELF and no a.out kludge. */
	img = calloc(1, 0x1000);
	put_mb_header(img, 0, 0, NULL);
	expect_rejected(vm, img, 0x1000);
	memset(img, 0, 0x1000);
	/* a.out: header_addr below load_addr; image starting before the file; load_end
	 * past the file; bss_end below load_end; truncated header. */
	aout[0] = 0x200000;
	aout[1] = 0x200040;
	aout[2] = 0;
	aout[3] = 0;
	aout[4] = 0x200000;
	expect_aout_rejected(vm, img, aout);
	aout[0] = 0x200040;
	aout[1] = 0x1f0000;
	expect_aout_rejected(vm, img, aout);
	aout[1] = 0x200000;
	aout[2] = 0x202000;
	expect_aout_rejected(vm, img, aout);
	aout[2] = 0x200800;
	aout[3] = 0x200400;
	expect_aout_rejected(vm, img, aout);
	memset(img, 0, 0x1000);
	put_mb_header(img, 0xff4, 0x10000, NULL);
	expect_rejected(vm, img, 0x1000);
	free(img);
	test_vm_free(vm);
}

/* boot_load_kernel recognises a Multiboot file that is not a bzImage. */
static void test_detect(void **state)
{
	struct vm *vm = test_vm_new(16 * MiB, 1);
	struct x86_cpu_state st;
	size_t len;
	uint8_t *img = make_aout(0, 0, &len);
	char *path = test_temp_data(img, len);

	(void)state;
	assert_int_equal(boot_load_kernel(vm, path, NULL, "hello", &st), 0);
	assert_int_equal(st.rip, 0x200100);
	assert_int_equal(st.gpr[X86_RAX], 0x2badb002);
	test_temp_remove(path);
	free(img);
	test_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_elf),	    cmocka_unit_test(test_aout),
	    cmocka_unit_test(test_modules), cmocka_unit_test(test_bad_images),
	    cmocka_unit_test(test_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
