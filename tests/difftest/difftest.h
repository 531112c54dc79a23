/*
 * Differential test of the soft x86-64 CPU against the host CPU.
 *
 * A case is a short sequence of user-mode instructions of one class plus a
 * random initial state. native.c runs it on the host (native.S loads and
 * saves the state around it; a fault becomes a signal whose vector, error
 * code and CR2 are recorded), emu.c runs the same bytes at the same virtual
 * addresses in a struct x86_cpu at CPL 3 of 64-bit long mode, and difftest.c
 * compares the two results. gen.c encodes the instruction sequences.
 *
 * Both worlds see the same test area at a fixed virtual address (TEST_VA):
 *   CODE_VA   one page of code (the sequence, then a jump to the epilogue)
 *   +0x1000   not mapped (guard below the data)
 *   DATA_VA   DATA_SIZE bytes of read/write data
 *   RO_VA     one read-only page (writes fault)
 *   +0x5000   not mapped
 *   STACK_VA  the stack page (RSP points into it; never compared)
 */
#ifndef BERTH_TESTS_DIFFTEST_DIFFTEST_H
#define BERTH_TESTS_DIFFTEST_DIFFTEST_H

#define TEST_VA	  0x20000000
#define TEST_SIZE 0x8000
#define CODE_VA	  TEST_VA
#define GUARD_VA  (TEST_VA + 0x1000)
#define DATA_VA	  (TEST_VA + 0x2000)
#define DATA_SIZE 0x2000
#define RO_VA	  (TEST_VA + 0x4000)
#define ABSENT_VA (TEST_VA + 0x5000)
#define STACK_VA  (TEST_VA + 0x6000)
#define STACK_TOP (STACK_VA + 0x800)

/* Offsets in struct dt_state (shared with native.S). */
#define ST_GPR	  0
#define ST_RIP	  128
#define ST_RFLAGS 136
#define ST_MXCSR  144
#define ST_XMM	  160
#define ST_SIZE	  416

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Architectural user state: the input of a case and the result of a run. */
struct dt_state {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	uint32_t mxcsr;
	uint32_t pad[3];
	uint8_t xmm[16][16];
};

_Static_assert(offsetof(struct dt_state, rip) == ST_RIP, "native.S layout");
_Static_assert(offsetof(struct dt_state, rflags) == ST_RFLAGS, "native.S layout");
_Static_assert(offsetof(struct dt_state, mxcsr) == ST_MXCSR, "native.S layout");
_Static_assert(offsetof(struct dt_state, xmm) == ST_XMM, "native.S layout");
_Static_assert(sizeof(struct dt_state) == ST_SIZE, "native.S layout");

/* The outcome of one run: final state (at the fault, if any) and memory. */
struct dt_result {
	struct dt_state st;
	int vector;	/* exception vector, or -1 when the sequence ran to its end */
	uint32_t error; /* error code (#GP, #PF) */
	uint64_t cr2;	/* faulting address (#PF) */
	uint8_t data[DATA_SIZE];
};

/* Arithmetic flags and DF. */
#define FL_CF	 0x001u
#define FL_PF	 0x004u
#define FL_AF	 0x010u
#define FL_ZF	 0x040u
#define FL_SF	 0x080u
#define FL_DF	 0x400u
#define FL_OF	 0x800u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

#define DT_MAX_INSNS 8
#define DT_CODE_MAX  256

/* A generated case: the code, the initial state and what may be compared. */
struct dt_case {
	struct dt_state in;
	uint8_t data[DATA_SIZE]; /* initial contents of the data area */
	uint8_t code[DT_CODE_MAX];
	unsigned code_len;
	/* Where the code starts in the code page (in.rip = CODE_VA + code_off); near
	 * the end, instructions cross into the unmapped page after it. */
	unsigned code_off;
	unsigned ninsns;
	unsigned insn_off[DT_MAX_INSNS]; /* offset of each instruction in code */
	/* Flags the SDM leaves undefined at the start of each instruction and at the end. */
	uint32_t undef_before[DT_MAX_INSNS + 1];
	uint32_t mxcsr_ignore; /* MXCSR bits not compared (see gen.c's exclusions) */
	uint32_t rflags_extra; /* RFLAGS bits compared besides the arithmetic flags and DF */
	/* Data bytes not compared: fields of FXSAVE images the SDM leaves to the model. */
	struct {
		uint64_t addr;
		unsigned len;
		uint8_t keep; /* the bits of each byte that are compared */
	} ignore[DT_MAX_INSNS * 2 + 4];
	unsigned nignore;
	char desc[DT_MAX_INSNS][96];
};

/* Instruction classes (gen.c). */
struct dt_class {
	const char *name;
	void (*gen)(struct dt_case *c);
};
extern const struct dt_class dt_classes[];
extern const unsigned dt_nclasses;

/* Random numbers (xorshift64*, seeded per case so a case can be replayed). */
void dt_seed(uint64_t seed);
uint64_t dt_rand(void);
static inline uint64_t dt_below(uint64_t n)
{
	return n ? dt_rand() % n : 0;
}

/* Copy the case's code and then tail into the code page at page (both clipped to the page). */
void dt_place_code(const struct dt_case *c, uint8_t *page, const uint8_t *tail, unsigned tail_len);

/* The host read-only page contents (filled once; identical in both worlds). */
extern uint8_t dt_ro_page[0x1000];

/* native.c */
#define DT_TAIL_LEN 14
/* The bytes after a case's code: jmp [rip + 0]; dq the epilogue's address. The
 * emulated run has the same ones (and stops at the fetch from that address). */
void dt_native_tail(uint8_t tail[DT_TAIL_LEN]);
int dt_native_init(void);
void dt_native_run(const struct dt_case *c, struct dt_result *r);

/* emu.c */
int dt_emu_init(void);
void dt_emu_run(const struct dt_case *c, struct dt_result *r);
void dt_emu_fini(void);

#endif
#endif
