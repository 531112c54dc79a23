/*
 * Unit tests of the soft x86-64 CPU: small programs (snippets/NAME.asm, built
 * with nasm) run on a CPU with a fake platform (16 MiB of RAM, a debug port),
 * and the tests check registers, memory, exception frames, error codes and
 * CR2. Every exception vector v enters a stub that sets r15 = v and halts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "cpu_env.h"

static void test_arith(void **state)
{
	struct env *e = env_long();
	static const uint64_t want[] = {
	    12,
	    0x0101,
	    1,
	    (uint64_t)-21,
	    (2ULL << 32) | 14,
	    (uint64_t)-14,
	    (uint64_t)-2,
	    0x301,
	    0x704,
	    0x8000000000001230ULL,
	    0x0100,
	    0xffffffff,
	    0xffffffffffff1234ULL,
	    1,
	    0xefcdab8967452301ULL,
	    0xfffffffe00000001ULL,
	    6,
	    8,
	    (uint64_t)-1,
	    222,
	    28,
	    0x2211,
	    0x55,
	    0x77,
	    0x10, /* rotates after lazy flags: values from the host CPU */
	    0x1000000010101ULL,
	    0x881,
	    0x1001010001ULL,
	};
	unsigned i;

	(void)state;
	load(e, "arith", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead); /* no exception */
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		if (r64(e, 0x200000 + 8 * i) != want[i])
			fail_msg("result %u: got %#llx want %#llx", i,
				 (unsigned long long)r64(e, 0x200000 + 8 * i),
				 (unsigned long long)want[i]);
	}
	env_free(e);
}

/* Run faults.asm case n; return the env after the exception stub halted. */
static struct env *fault_case(int n)
{
	struct env *e = env_long();

	load(e, "faults", CODE);
	w64(e, PT + 8 * 1, 0x201000 | 5);		 /* read-only, user */
	w64(e, PT + 8 * 2, 0x202000 | 7 | (1ULL << 63)); /* no-execute */
	e->ram[0x202000] = 0x90;
	e->cpu.gpr[X86_RSI] = n;
	assert_int_equal(run(e), X86_EXIT_HLT);
	return e;
}

/* The exception frame on the handler's stack: [err], rip, cs, rflags, rsp, ss. */
static uint64_t frame(struct env *e, unsigned slot)
{
	return r64(e, e->cpu.gpr[X86_RSP] + 8 * slot);
}

static void test_page_faults(void **state)
{
	struct env *e;

	(void)state;
	e = fault_case(0);
	assert_int_equal(e->cpu.gpr[X86_R15], 14);
	assert_int_equal(e->cpu.cr2, 0x40000008);
	assert_int_equal(frame(e, 0), 0); /* not present, read, supervisor */
	assert_int_equal(frame(e, 2), 0x08);
	env_free(e);

	e = fault_case(1);
	assert_int_equal(e->cpu.gpr[X86_R15], 14);
	assert_int_equal(e->cpu.cr2, 0x201000);
	assert_int_equal(frame(e, 0), 3); /* present, write (CR0.WP) */
	env_free(e);

	e = fault_case(5);
	assert_int_equal(e->cpu.gpr[X86_R15], 14);
	assert_int_equal(e->cpu.cr2, 0x202000);
	assert_int_equal(frame(e, 0), 0x11); /* present, instruction fetch */
	assert_int_equal(frame(e, 1), 0x202000);
	env_free(e);
}

static void test_exceptions(void **state)
{
	struct env *e;
	uint64_t rip;

	(void)state;
	e = fault_case(2);
	assert_int_equal(e->cpu.gpr[X86_R15], 6);
	rip = frame(e, 0);
	assert_int_equal(e->ram[rip], 0x0f); /* the frame points at UD2 itself */
	assert_int_equal(e->ram[rip + 1], 0x0b);
	assert_int_equal(frame(e, 1), 0x08);
	env_free(e);

	e = fault_case(3);
	assert_int_equal(e->cpu.gpr[X86_R15], 0);
	rip = frame(e, 0);
	assert_int_equal(e->ram[rip], 0xf7); /* DIV ECX */
	env_free(e);

	e = fault_case(4);
	assert_int_equal(e->cpu.gpr[X86_R15], 13);
	assert_int_equal(frame(e, 0), 0); /* #GP(0) for a non-canonical address */
	env_free(e);

	e = fault_case(6);
	assert_int_equal(e->cpu.gpr[X86_R15], 3);
	rip = frame(e, 0);
	assert_int_equal(e->ram[rip - 1], 0xcc);	       /* trap: return address after INT3 */
	assert_int_equal(e->cpu.gpr[X86_RSP], STACK_TOP - 40); /* same privilege, aligned */
	env_free(e);
}

static void test_triple_fault(void **state)
{
	struct env *e = fault_case(2);

	(void)state;
	env_free(e);
	e = env_long();
	load(e, "faults", CODE);
	e->cpu.gpr[X86_RSI] = 2;
	e->cpu.idt.limit = 0; /* nothing can be delivered: #UD -> #GP -> #DF -> shutdown */
	assert_int_equal(run(e), X86_EXIT_SHUTDOWN);
	env_free(e);
}

static void test_syscall_sysret(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "syscall", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	/* HLT at CPL 3 raised #GP(0) on the kernel stack from the TSS. */
	assert_int_equal(e->cpu.gpr[X86_R15], 13);
	assert_int_equal(e->cpu.gpr[X86_RSP], RSP0 - 48);
	assert_int_equal(frame(e, 0), 0);
	assert_int_equal(frame(e, 2), 0x23);	 /* user CS */
	assert_int_equal(frame(e, 4), 0x3ff000); /* user RSP */
	assert_int_equal(frame(e, 5), 0x1b);	 /* user SS */
	/* SYSCALL saved the return RIP; the fault is at the HLT a few bytes later. */
	assert_int_equal(e->ram[frame(e, 1)], 0xf4);
	assert_true(frame(e, 1) > e->cpu.gpr[X86_R12] && frame(e, 1) < e->cpu.gpr[X86_R12] + 16);
	assert_int_equal(e->ram[e->cpu.gpr[X86_R12] - 2], 0x0f); /* RCX follows SYSCALL */
	assert_int_equal(e->ram[e->cpu.gpr[X86_R12] - 1], 0x05);
	assert_int_equal(e->cpu.gpr[X86_R10], 0x23);	      /* CS seen by user code */
	assert_int_equal(e->cpu.gpr[X86_R14], 0x08);	      /* CS in the SYSCALL entry */
	assert_int_equal(e->cpu.gpr[X86_RBX], 0x10);	      /* SS in the SYSCALL entry */
	assert_int_equal(e->cpu.gpr[X86_R13] & 0x200, 0x200); /* R11 = user RFLAGS */
	assert_int_equal(e->cpu.gpr[X86_R9], 0x1234);
	env_free(e);
}

static void test_mode_switch(void **state)
{
	struct env *e = env_long();
	struct x86_cpu_state st;

	(void)state;
	load(e, "modes", 0x8000);
	x86_state_reset(&st);
	st.cs.selector = 0;
	st.cs.base = 0;
	st.rip = 0x8000;
	x86_cpu_set_state(&e->cpu, &st);
	e->cpu.gpr[X86_R15] = 0xdead;
	assert_false(e->cpu.long_mode);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(e->cpu.gpr[X86_RBX] & 0xffff, 0x1234);
	assert_true(e->cpu.long_mode);
	assert_true(e->cpu.code64);
	assert_int_equal(e->cpu.gpr[X86_RCX], 0x1122334455667788ULL);

	/* INIT puts the CPU in wait-for-SIPI; SIPI starts it at vector << 12. */
	x86_cpu_reset(&e->cpu, true);
	assert_int_equal(x86_cpu_exec(&e->cpu, 10), X86_EXIT_HLT);
	x86_cpu_sipi(&e->cpu, 0x08);
	assert_int_equal(e->cpu.seg[1].base, 0x8000);
	assert_int_equal(e->cpu.rip, 0);
	assert_false(e->cpu.wait_for_sipi);
	env_free(e);
}

static void test_atomics(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "atomics", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(r64(e, 0x200000), 0x77);
	assert_int_equal(r64(e, 0x200008), 15);
	assert_int_equal(r64(e, 0x200010), 1);
	assert_int_equal(r64(e, 0x200018), 99);
	assert_int_equal(r64(e, 0x200020), 99);
	assert_int_equal(r64(e, 0x200028), 1);
	assert_int_equal(r64(e, 0x200040), 0xaaaa);
	assert_int_equal(r64(e, 0x200048), 0xbbbb);
	assert_int_equal(r64(e, 0x200050), 1);
	assert_int_equal(r64(e, 0x200058), 0x20);
	assert_int_equal(r64(e, 0x200060), ~0ULL);
	env_free(e);
}

static void test_strings(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "strings", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(r64(e, 0x210000), 0x200301);
	assert_int_equal(r64(e, 0x210008), 0x2ff);
	assert_int_equal(r64(e, 0x210010), 0x4242424242424242ULL);
	assert_int_equal(r64(e, 0x210018), 0x0101010101010101ULL);
	/* The 5000-byte overlapping copy replicated the 256-byte period. */
	assert_int_equal(e->ram[0x200100 + 4999 - 0x100 * 19],
			 e->ram[0x200000 + (4999 - 0x100 * 19) % 0x100]);
	env_free(e);
}

static void test_self_modifying(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "smc", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(e->cpu.gpr[X86_RCX], 0x99);
	assert_int_equal(e->cpu.gpr[X86_RBX], 0x55);
	env_free(e);
}

/* A hot loop the block translator handles (snippets/jit.asm): flags live
 * across memory accesses, PUSH, CALL and RET imm16. */
static void test_translated_loop(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "jit", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead); /* no exception */
	assert_int_equal(e->cpu.gpr[X86_R9], 20);      /* OF after the accesses */
	assert_int_equal(e->cpu.gpr[X86_R10], 20);     /* SF */
	assert_int_equal(e->cpu.gpr[X86_R12], 2 * (20 * 21 / 2));
	assert_int_equal(e->cpu.gpr[X86_RSP], STACK_TOP);
	env_free(e);
}

/* One physical page of code mapped at two linear addresses runs with the RIPs
 * of the address it runs at (the block translator must not mix them up). */
static void test_code_aliased(void **state)
{
	static const uint8_t code[] = {0xe8, 0, 0, 0, 0, /* call next */
				       0x58,		 /* next: pop rax */
				       0xf4};		 /* hlt */
	struct env *e = env_long();
	const uint64_t va1 = 0x200000, va2 = 0x201000;

	(void)state;
	memcpy(e->ram + va1, code, sizeof(code));
	w64(e, PT + 8, va1 | 7);       /* va2 -> the same page as va1 */
	for (int i = 0; i < 20; i++) { /* hot enough to be translated */
		uint64_t va = i < 10 ? va1 : va2;
		e->cpu.rip = va;
		e->cpu.halted = false;
		e->cpu.gpr[X86_RSP] = STACK_TOP;
		assert_int_equal(run(e), X86_EXIT_HLT);
		assert_int_equal(e->cpu.gpr[X86_RAX], va + 5);
	}
	env_free(e);
}

static void test_sse_x87(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "sse", CODE);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(r64(e, 0x200000), 0x020406080a0c0e10ULL);
	assert_int_equal(r64(e, 0x200008), 12);
	assert_int_equal(r64(e, 0x200010), 1);
	assert_int_equal(r64(e, 0x200018), 0xffff);
	assert_int_equal(r64(e, 0x200020), ~0ULL);
	assert_int_equal(r64(e, 0x200028), ~0ULL);
	assert_int_equal(r64(e, 0x200030), 0);
	assert_int_equal(r64(e, 0x200038), 0x0506070801020304ULL);
	assert_int_equal(r64(e, 0x200040), 0xff);
	assert_int_equal(r64(e, 0x200048) & 0xffff, 0x037f);
	assert_int_equal(r64(e, 0x200058), 12345);
	assert_int_equal(r64(e, 0x200080) & 0xffff, 0x037f);			  /* FXSAVE FCW */
	assert_int_equal(r64(e, 0x200080 + 24) & 0xffffffff, 0x1f80);		  /* MXCSR */
	assert_int_equal(r64(e, 0x200080 + 160 + 16 * 1), 0x0102030405060708ULL); /* XMM1 */
	env_free(e);
}

static void test_interrupt_ist(void **state)
{
	struct env *e = env_long();
	enum x86_exit r;

	(void)state;
	load(e, "idt", CODE);
	/* Vector 0x40 uses IST1. */
	e->ram[IDT_BASE + 16 * 0x40 + 4] = 1;
	r = x86_cpu_exec(&e->cpu, 100);
	assert_int_equal(r, X86_EXIT_BUDGET);
	assert_true(x86_cpu_irq_window(&e->cpu));
	x86_cpu_interrupt(&e->cpu, 0x40);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0x40);
	assert_int_equal(e->cpu.gpr[X86_RSP], IST1 - 40);
	assert_true(frame(e, 0) > CODE && frame(e, 0) < CODE + 0x20); /* interrupted RIP */
	assert_int_equal(frame(e, 1), 0x08);
	assert_int_equal(frame(e, 2) & 0x200, 0x200); /* IF was set */
	assert_int_equal(frame(e, 3), STACK_TOP);
	assert_int_equal(x86_cpu_rflags(&e->cpu) & 0x200, 0); /* interrupt gate cleared IF */
	env_free(e);
}

static void test_accessed_dirty(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "faults", CODE);
	e->cpu.gpr[X86_RSI] = 1; /* writes 0x201000, mapped writable here */
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(r64(e, PT + 8) & 0x60, 0x60);	/* accessed and dirty */
	assert_int_equal(r64(e, PT + 8 * 3) & 0x60, 0); /* untouched page */
	assert_int_equal(r64(e, PD) & 0x20, 0x20);	/* code page accessed */
	env_free(e);
}

/* Real-mode INT/IRET, then 32-bit protected mode with 2-level paging and a
 * page fault through a 32-bit interrupt gate. */
static void test_protected32(void **state)
{
	struct env *e = env_long();
	struct x86_cpu_state st;
	uint32_t fault_eip;

	(void)state;
	load(e, "prot32", 0x8000);
	x86_state_reset(&st);
	st.cs.selector = 0;
	st.cs.base = 0;
	st.rip = 0x8000;
	x86_cpu_set_state(&e->cpu, &st);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_RDX] & 0xffff, 0x55); /* real-mode INT 0x20 */
	assert_int_equal(e->cpu.gpr[X86_RDI], 0x1234);	      /* PSE/4 KiB mapping works */
	assert_int_equal(e->cpu.gpr[X86_RBX], 2);	      /* #PF: write, not present */
	assert_int_equal(e->cpu.gpr[X86_RCX], 0x401000);      /* CR2 */
	assert_int_equal(e->cpu.cr2, 0x401000);
	assert_false(e->cpu.long_mode);
	/* The frame's EIP is the faulting MOV (the snippet stores its address at 0x81f0). */
	memcpy(&fault_eip, e->ram + 0x81f0, 4);
	assert_int_equal(e->cpu.gpr[X86_RSI], fault_eip);
	assert_int_equal(e->ram[fault_eip], 0xc7);
	env_free(e);
}

/* Code changed behind the CPU's back (device DMA, another vCPU) runs as
 * written: the decoded-instruction cache never executes stale bytes. */
static void test_code_written_externally(void **state)
{
	struct env *e = env_long();
	static const uint8_t code[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4}; /* mov eax, 1; hlt */
	int i;

	(void)state;
	memcpy(e->ram + CODE, code, sizeof(code));
	for (i = 1; i <= 3; i++) {
		e->ram[CODE + 1] = (uint8_t)i;
		e->cpu.rip = CODE;
		e->cpu.halted = false;
		assert_int_equal(run(e), X86_EXIT_HLT);
		assert_int_equal(e->cpu.gpr[X86_RAX], i);
	}
	/* A different instruction of another length at the same address. */
	memcpy(e->ram + CODE, (const uint8_t[]){0x48, 0xc7, 0xc3, 0x07, 0, 0, 0, 0xf4}, 8);
	e->cpu.rip = CODE;
	e->cpu.halted = false;
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_RBX], 7);
	env_free(e);
}

/* Global pages survive MOV CR3 but not INVLPG; 1 GiB pages; CR0.WP = 0. */
static void test_paging_features(void **state)
{
	struct env *e = env_long();

	(void)state;
	load(e, "paging", CODE);
	e->cpu.cr4 |= X86_CR4_PGE;
	w64(e, PT + 8 * 3, 0x203000 | 7 | 0x100); /* global */
	w64(e, 0x203000, 0x1111);
	w64(e, 0x204000, 0x2222);
	w64(e, 0x205000, 0x3333);
	w64(e, 0x206000, 0x4444);
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_RAX], 0x1111);
	assert_int_equal(e->cpu.gpr[X86_R8], 0x3333);
	/* Remap both pages without telling the CPU. */
	w64(e, PT + 8 * 3, 0x204000 | 7 | 0x100);
	w64(e, PT + 8 * 5, 0x206000 | 7);
	e->cpu.rip = CODE + 0x100;
	e->cpu.halted = false;
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(e->cpu.gpr[X86_RCX], 0x1111);
	assert_int_equal(e->cpu.gpr[X86_R9], 0x4444);
	assert_int_equal(e->cpu.gpr[X86_RDX], 0x2222);

	/* 1 GiB page: PDPT entry 1 maps [1 GiB, 2 GiB) to physical 0. */
	w64(e, PDPT + 8, 0x87);
	w64(e, 0x200008, 0x5555);
	w64(e, PT + 8 * 1, 0x201000 | 5); /* read-only */
	e->cpu.cr0 &= ~X86_CR0_WP;
	x86_cpu_flush_tlb(&e->cpu);
	e->cpu.rip = CODE + 0x200;
	e->cpu.halted = false;
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 0xdead);
	assert_int_equal(e->cpu.gpr[X86_RAX], 0x5555);
	assert_int_equal(r64(e, 0x201000), 0x77);
	env_free(e);
}

/* A jump into unbacked memory fetches all-ones bytes (FF FF ...): #UD. */
static void test_wild_jump(void **state)
{
	struct env *e = env_long();

	(void)state;
	e->cpu.rip = 0x30000000; /* mapped by the 2 MiB identity map, beyond RAM */
	assert_int_equal(run(e), X86_EXIT_HLT);
	assert_int_equal(e->cpu.gpr[X86_R15], 6);
	assert_int_equal(frame(e, 0), 0x30000000);
	env_free(e);
}

static void *run_thread(void *arg)
{
	struct env *e = arg;

	while (x86_cpu_exec(&e->cpu, 1000000) == X86_EXIT_BUDGET)
		;
	return NULL;
}

/* Two CPUs on two host threads share RAM: locked operations stay atomic. */
static void test_smp_atomicity(void **state)
{
	struct env *a = env_long(), *b = env_long();
	uint8_t *own = b->ram;
	pthread_t t;

	(void)state;
	b->ram = a->ram; /* one guest memory, two CPUs */
	load(a, "atomic_loop", CODE);
	assert_int_equal(pthread_create(&t, NULL, run_thread, b), 0);
	run_thread(a);
	pthread_join(t, NULL);
	assert_true(a->cpu.halted && b->cpu.halted);
	assert_int_equal(r64(a, 0x200000), 400000);
	assert_int_equal(r64(a, 0x200008), 400000);
	b->ram = own;
	env_free(a);
	env_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arith),
	    cmocka_unit_test(test_page_faults),
	    cmocka_unit_test(test_exceptions),
	    cmocka_unit_test(test_triple_fault),
	    cmocka_unit_test(test_syscall_sysret),
	    cmocka_unit_test(test_mode_switch),
	    cmocka_unit_test(test_atomics),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_self_modifying),
	    cmocka_unit_test(test_code_aliased),
	    cmocka_unit_test(test_translated_loop),
	    cmocka_unit_test(test_sse_x87),
	    cmocka_unit_test(test_interrupt_ist),
	    cmocka_unit_test(test_accessed_dirty),
	    cmocka_unit_test(test_code_written_externally),
	    cmocka_unit_test(test_protected32),
	    cmocka_unit_test(test_smp_atomicity),
	    cmocka_unit_test(test_paging_features),
	    cmocka_unit_test(test_wild_jump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
