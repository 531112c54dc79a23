/*
 * The emulated side of the differential test: a soft CPU in 64-bit long
 * mode at CPL 3 with a fake platform. Guest-physical memory has two parts:
 * a supervisor area at 0 (GDT, IDT, TSS, page tables, exception stubs, the
 * ring-0 stack), identity-mapped for the supervisor only, and the test area,
 * identity-mapped at TEST_VA with the user permissions the host gives it.
 *
 * Every IDT vector points to its own stub, a HLT at ring 0, so a run ends in
 * HLT with the vector given by where it stopped and the exception frame on
 * the ring-0 stack. The code page holds the same bytes as the host's, so the
 * code ends in the same indirect jump to the host's epilogue, which is not
 * mapped here: a #PF fetching from there means "ran to the end".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "difftest.h"
#include "vmm/cpu/x86/cpu.h"

#define SYS_SIZE 0x40000
#define GDT_BASE 0x1000
#define IDT_BASE 0x2000
#define TSS_BASE 0x3000
#define STUBS	 0x4000 /* 16 bytes per vector */
#define PML4	 0x10000
#define PDPT	 0x11000
#define PD	 0x12000
#define PT_SYS	 0x13000
#define PT_TEST	 0x14000
#define RSP0	 0x30000

/* The user selectors are Linux's, so MOV r, Sreg reads the same in both worlds. */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x2b
#define SEL_UCODE 0x33
#define SEL_TSS	  0x40

static struct {
	uint8_t *sys;  /* SYS_SIZE bytes at guest-physical 0 */
	uint8_t *test; /* TEST_SIZE bytes at guest-physical TEST_VA */
	struct x86_cpu *cpu;
	struct x86_cpu_state st;
} emu;

static uint8_t *ram_page(void *opaque, uint64_t gpa)
{
	(void)opaque;
	if (gpa < SYS_SIZE)
		return emu.sys + (gpa & ~0xfffULL);
	if (gpa >= TEST_VA && gpa < TEST_VA + TEST_SIZE)
		return emu.test + ((gpa - TEST_VA) & ~0xfffULL);
	return NULL;
}

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(emu.sys + addr, &v, 8);
}

static uint64_t get64(uint64_t addr)
{
	uint64_t v;

	memcpy(&v, emu.sys + addr, 8);
	return v;
}

/* Build the system structures and the entry state (CPL 3, flat 64-bit). */
int dt_emu_init(void)
{
	struct x86_platform plat = {.ram_page = ram_page};
	uint64_t page;
	unsigned i;

	emu.sys = calloc(1, SYS_SIZE);
	emu.test = calloc(1, TEST_SIZE);
	emu.cpu = calloc(1, sizeof(*emu.cpu));
	if (!emu.sys || !emu.test || !emu.cpu) {
		fprintf(stderr, "difftest: out of memory for the emulated machine\n");
		return -1;
	}
	x86_cpu_init(emu.cpu, &plat);

	/* GDT: kernel code64 and data, user data and code64 where Linux has them, TSS. */
	put64(GDT_BASE + SEL_KCODE, 0x00af9b000000ffffULL);
	put64(GDT_BASE + SEL_KDATA, 0x00cf93000000ffffULL);
	put64(GDT_BASE + (SEL_UDATA & ~3), 0x00cff3000000ffffULL);
	put64(GDT_BASE + (SEL_UCODE & ~3), 0x00affb000000ffffULL);
	put64(GDT_BASE + SEL_TSS, 0x0000890000000067ULL | ((uint64_t)TSS_BASE << 16));
	put64(TSS_BASE + 4, RSP0);
	emu.sys[TSS_BASE + 0x66] = 0x68; /* I/O bitmap beyond the limit: no port for CPL 3 */
	/* IDT: vector v -> "hlt; jmp $-1" at STUBS + 16 v, ring-0 interrupt gate;
	 * #BP and #OF may be raised from user mode (INT3, INT 3, INT 4) as on Linux. */
	for (i = 0; i < 256; i++) {
		uint64_t stub = STUBS + 16 * i, type = i == 3 || i == 4 ? 0xee : 0x8e;
		emu.sys[stub] = 0xf4;
		emu.sys[stub + 1] = 0xeb;
		emu.sys[stub + 2] = 0xfd;
		put64(IDT_BASE + 16 * i, (stub & 0xffff) | ((uint64_t)SEL_KCODE << 16) |
					     (type << 40) | ((stub >> 16) << 48));
		put64(IDT_BASE + 16 * i + 8, stub >> 32);
	}
	/* Paging: the supervisor area for ring 0 only, the test area for ring 3. */
	put64(PML4, PDPT | 7);
	put64(PDPT, PD | 7);
	put64(PD, PT_SYS | 7);
	put64(PD + 8 * (TEST_VA >> 21), PT_TEST | 7);
	for (page = 0; page < SYS_SIZE; page += 0x1000)
		put64(PT_SYS + 8 * (page >> 12), page | 3);
	for (page = TEST_VA; page < TEST_VA + TEST_SIZE; page += 0x1000) {
		uint64_t pte = page | 7;
		if (page == GUARD_VA || page == ABSENT_VA)
			continue; /* not present */
		if (page == RO_VA)
			pte = page | 5;
		put64(PT_TEST + 8 * ((page >> 12) & 511), pte);
	}
	memcpy(emu.test + (RO_VA - TEST_VA), dt_ro_page, sizeof(dt_ro_page));

	memset(&emu.st, 0, sizeof(emu.st));
	emu.st.cs = (struct x86_segment){.selector = SEL_UCODE,
					 .limit = 0xffffffff,
					 .type = 0xb,
					 .s = 1,
					 .dpl = 3,
					 .present = 1,
					 .l = 1,
					 .g = 1};
	emu.st.ds = (struct x86_segment){.selector = SEL_UDATA,
					 .limit = 0xffffffff,
					 .type = 0x3,
					 .s = 1,
					 .dpl = 3,
					 .present = 1,
					 .db = 1,
					 .g = 1};
	emu.st.ss = emu.st.ds;
	/* DS, ES, FS and GS hold the null selector, as in a Linux process */
	emu.st.ds = emu.st.es = emu.st.fs = emu.st.gs = (struct x86_segment){.unusable = 1};
	emu.st.tr = (struct x86_segment){
	    .selector = SEL_TSS, .base = TSS_BASE, .limit = 0x67, .type = 0xb, .present = 1};
	emu.st.ldt = (struct x86_segment){.unusable = 1};
	emu.st.gdt = (struct x86_dtable){.base = GDT_BASE, .limit = SEL_TSS + 15};
	emu.st.idt = (struct x86_dtable){.base = IDT_BASE, .limit = 0xfff};
	emu.st.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_PG | X86_CR0_WP | X86_CR0_ET | X86_CR0_NE;
	emu.st.cr3 = PML4;
	emu.st.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	emu.st.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_SCE | X86_EFER_NXE;
	return 0;
}

void dt_emu_fini(void)
{
	x86_cpu_destroy(emu.cpu);
	free(emu.sys);
	free(emu.test);
	free(emu.cpu);
}

/* Run case c in the soft CPU. */
void dt_emu_run(const struct dt_case *c, struct dt_result *r)
{
	struct x86_cpu *cpu = emu.cpu;
	uint8_t tail[DT_TAIL_LEN];
	uint64_t exit_addr;
	enum x86_exit why;
	uint64_t rsp, stub, start;
	int vector;

	dt_native_tail(tail);
	memcpy(&exit_addr, tail + 6, 8);
	dt_place_code(c, emu.test + (CODE_VA - TEST_VA), tail, sizeof(tail));
	memcpy(emu.test + (DATA_VA - TEST_VA), c->data, DATA_SIZE);
	memset(emu.test + (STACK_VA - TEST_VA), 0, 0x1000);

	/* A fresh CPU each time: nothing of the previous case may leak in. */
	x86_cpu_reset(cpu, false);
	memcpy(emu.st.gpr, c->in.gpr, sizeof(emu.st.gpr));
	emu.st.rip = c->in.rip;
	emu.st.rflags = c->in.rflags;
	x86_cpu_set_state(cpu, &emu.st);
	memset(cpu->fpu.st, 0, sizeof(cpu->fpu.st)); /* +0.0 in every register, as natively */
	cpu->fpu.mxcsr = c->in.mxcsr;
	memcpy(cpu->fpu.xmm, c->in.xmm, sizeof(c->in.xmm));

	/* PAUSE, STI and the like return early: go on until HLT or the budget */
	start = cpu->insns;
	do
		why = x86_cpu_exec(cpu, 100000);
	while (why == X86_EXIT_REQUEST && cpu->insns - start < 100000);
	memset(r, 0, offsetof(struct dt_result, data));
	r->vector = -2; /* "did not stop at an exception stub" */
	memcpy(r->st.gpr, cpu->gpr, sizeof(r->st.gpr));
	r->st.rip = cpu->rip;
	r->st.rflags = x86_cpu_rflags(cpu);
	r->st.mxcsr = cpu->fpu.mxcsr;
	memcpy(r->st.xmm, cpu->fpu.xmm, sizeof(r->st.xmm));
	memcpy(r->data, emu.test + (DATA_VA - TEST_VA), DATA_SIZE);

	stub = cpu->rip - 1;
	if (why != X86_EXIT_HLT || stub < STUBS || stub >= STUBS + 16 * 256 || (stub & 15))
		return;
	vector = (int)((stub - STUBS) / 16);
	/* The frame: [error code,] RIP, CS, RFLAGS, RSP, SS. */
	rsp = cpu->gpr[4];
	if (vector == 8 || (vector >= 10 && vector <= 14) || vector == 17) {
		r->error = (uint32_t)get64(rsp);
		rsp += 8;
	}
	r->st.rip = get64(rsp);
	r->st.rflags = get64(rsp + 16);
	r->st.gpr[4] = get64(rsp + 24);
	r->cr2 = cpu->cr2;
	r->vector = vector;
	if (vector == 14 && (r->st.rip == exit_addr || (r->st.rip == c->in.rip + c->code_len &&
							cpu->cr2 >= CODE_VA + 0x1000))) {
		/* the jump to the host's epilogue (or the tail running into the page
		 * after the code): the case ran to its end */
		r->vector = -1;
		r->st.rip = c->in.rip + c->code_len;
	}
	if (get64(rsp + 8) != SEL_UCODE || get64(rsp + 32) != SEL_UDATA)
		r->vector = -3; /* the frame does not describe the user context */
}
