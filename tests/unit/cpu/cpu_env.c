/* The test machine of cpu_env.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_env.h"

static uint8_t *ram_page(void *opaque, uint64_t gpa)
{
	struct env *e = opaque;

	return gpa < RAM_SIZE ? e->ram + (gpa & ~0xfffULL) : NULL;
}

static void pio_write(void *opaque, uint16_t port, uint64_t value, unsigned size)
{
	struct env *e = opaque;

	(void)size;
	if (port == 0xe9 && e->outlen < sizeof(e->out) - 1)
		e->out[e->outlen++] = (char)value;
}

static uint64_t pio_read(void *opaque, uint16_t port, unsigned size)
{
	(void)opaque;
	(void)port;
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

void w64(struct env *e, uint64_t addr, uint64_t v)
{
	memcpy(e->ram + addr, &v, 8);
}

uint64_t r64(struct env *e, uint64_t addr)
{
	uint64_t v;

	memcpy(&v, e->ram + addr, 8);
	return v;
}

/* Load snippets/<name>.bin at addr. */
void load(struct env *e, const char *name, uint64_t addr)
{
	const char *dir = getenv("CPU_SNIPPETS");
	char path[512];
	size_t len;
	void *data;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
	data = read_file(path, &len);
	assert_non_null(data);
	assert_true(addr + len <= RAM_SIZE);
	memcpy(e->ram + addr, data, len);
	free(data);
}

/* Flat 64-bit long mode with the first GiB identity-mapped (2 MiB pages, user
 * accessible), 2-4 MiB through a 4 KiB page table, GDT, IDT stubs, TSS. */
struct env *env_long(void)
{
	struct env *e = xcalloc(1, sizeof(*e));
	struct x86_platform plat = {.opaque = e,
				    .ram_page = ram_page,
				    .pio_write = pio_write,
				    .pio_read = pio_read,
				    .crystal_hz = 1000000000,
				    .tsc_deadline = true};
	struct x86_cpu_state st;
	unsigned i;

	e->ram = xcalloc(1, RAM_SIZE);
	x86_cpu_init(&e->cpu, &plat);
	/* GDT: null, code64, data, user data, user code64, TSS. */
	w64(e, GDT_BASE + 0x08, 0x00af9b000000ffffULL);
	w64(e, GDT_BASE + 0x10, 0x00cf93000000ffffULL);
	w64(e, GDT_BASE + 0x18, 0x00cff3000000ffffULL);
	w64(e, GDT_BASE + 0x20, 0x00affb000000ffffULL);
	w64(e, GDT_BASE + 0x28, 0x0000890000000067ULL | ((uint64_t)TSS_BASE << 16));
	w64(e, TSS_BASE + 4, RSP0);
	w64(e, TSS_BASE + 0x24, IST1);
	/* IDT: vector v -> stub "mov r15d, v; hlt" at STUBS + 16 v. */
	for (i = 0; i < 256; i++) {
		uint64_t stub = STUBS + 16 * i;
		uint8_t code[] = {0x41, 0xbf, (uint8_t)i, 0, 0, 0, 0xf4};
		memcpy(e->ram + stub, code, sizeof(code));
		w64(e, IDT_BASE + 16 * i,
		    (stub & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) | ((stub >> 16) << 48));
		w64(e, IDT_BASE + 16 * i + 8, stub >> 32);
	}
	/* Paging. */
	w64(e, PML4, PDPT | 7);
	w64(e, PDPT, PD | 7);
	for (i = 0; i < 512; i++)
		w64(e, PD + 8 * i, ((uint64_t)i << 21) | 0x87);
	w64(e, PD + 8, PT | 7);
	for (i = 0; i < 512; i++)
		w64(e, PT + 8 * i, (0x200000 + ((uint64_t)i << 12)) | 7);

	memset(&st, 0, sizeof(st));
	st.cs = (struct x86_segment){.selector = 0x08,
				     .limit = 0xffffffff,
				     .type = 0xb,
				     .s = 1,
				     .present = 1,
				     .l = 1,
				     .g = 1};
	st.ds = st.es = st.fs = st.gs = st.ss = (struct x86_segment){.selector = 0x10,
								     .limit = 0xffffffff,
								     .type = 0x3,
								     .s = 1,
								     .present = 1,
								     .db = 1,
								     .g = 1};
	st.tr = (struct x86_segment){
	    .selector = 0x28, .base = TSS_BASE, .limit = 0x67, .type = 0xb, .present = 1};
	st.ldt = (struct x86_segment){.unusable = 1};
	st.gdt = (struct x86_dtable){.base = GDT_BASE, .limit = 0x2f};
	st.idt = (struct x86_dtable){.base = IDT_BASE, .limit = 0xfff};
	st.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP | X86_CR0_ET | X86_CR0_NE;
	st.cr3 = PML4;
	st.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	st.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_SCE | X86_EFER_NXE;
	st.rip = CODE;
	st.rflags = 2;
	st.gpr[X86_RSP] = STACK_TOP;
	x86_cpu_set_state(&e->cpu, &st);
	e->cpu.gpr[X86_R15] = 0xdead;
	return e;
}

void env_free(struct env *e)
{
	x86_cpu_destroy(&e->cpu);
	free(e->ram);
	free(e);
}

/* Run until HLT or shutdown. */
enum x86_exit run(struct env *e)
{
	enum x86_exit r;
	int i;

	for (i = 0; i < 1000; i++) {
		r = x86_cpu_exec(&e->cpu, 1000000);
		if (r == X86_EXIT_HLT || r == X86_EXIT_SHUTDOWN)
			return r;
	}
	fail_msg("snippet did not halt (rip %#llx)", (unsigned long long)e->cpu.rip);
	return r;
}
