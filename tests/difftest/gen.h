/*
 * Shared pieces of the differential test's case generators (gen*.c): the
 * generation context, random values, operands and instruction emission.
 */
#ifndef BERTH_TESTS_DIFFTEST_GEN_H
#define BERTH_TESTS_DIFFTEST_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "difftest.h"
#include "encode.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Operand sizes (bit masks of the allowed sizes). */
#define S8  1u
#define S16 2u
#define S32 4u
#define S64 8u
#define SW  (S16 | S32 | S64)
#define SA  (S8 | SW)

extern const char *const reg64[16];
extern const char *const reg32[16];
extern const char *const reg16[16];
extern const char *const reg8[16];
extern const char *const reg8h[4];

/* Generation context of one case. */
struct gen {
	struct dt_case *c;
	uint32_t protect;     /* GPRs the sequence must not write */
	int base, index;      /* pointer registers (index holds a small value) */
	int wild;	      /* a register with a non-canonical address, or NO_REG */
	int bitoff;	      /* a register with a small bit offset for BT m, r, or NO_REG */
	uint32_t undef;	      /* flags undefined at this point */
	uint32_t mxcsr_rc_ok; /* cleared by an instruction whose result depends on RC */
	bool fp;	      /* the class works on floating-point data */
};

/* Random values biased toward edge cases; 16 bytes of integer or FP data. */
uint64_t gen_rnd_value(void);
void gen_rnd_vec(uint8_t *v, bool fp);
/* Random initial state with the pointer registers; protect: extra unwritable GPRs. */
void gen_begin(struct gen *g, struct dt_case *c, uint32_t protect, bool fp);
void gen_finish(struct gen *g);
bool gen_protected_reg(const struct gen *g, int r);
int gen_pick_special(struct gen *g);
/* A memory operand of size bytes (aligned to align, usually), described in txt. */
struct enc_mem gen_mem(struct gen *g, unsigned size, unsigned align, char *txt, size_t n);
/* The address a memory operand of the initial state points to. */
uint64_t gen_mem_addr(const struct gen *g, const struct enc_mem *m);
/* Append an instruction (encoded, or raw bytes) with its description; false if full. */
bool gen_emit(struct gen *g, const struct enc *e, const char *desc);
bool gen_emit_bytes(struct gen *g, const uint8_t *b, unsigned n, const char *desc);
const char *gen_reg_name(int r, unsigned size, bool legacy8);
int gen_written_gpr(int r, unsigned size, bool legacy8);
int gen_pick_reg(struct gen *g, bool write, unsigned size, bool legacy8);
unsigned gen_pick_size(unsigned sizes);
/* Before an instruction that reads flags an earlier one left undefined: CMP r64, r64. */
void gen_define_flags(struct gen *g, uint32_t reads);
uint64_t gen_imm_value(unsigned len);
const char *gen_size_word(unsigned size);

/* The classes (gen_int.c, gen_sse.c, gen_x87.c, gen_control.c). */
void gen_alu(struct dt_case *c);
void gen_shift(struct dt_case *c);
void gen_muldiv(struct dt_case *c);
void gen_bitops(struct dt_case *c);
void gen_string(struct dt_case *c);
void gen_sse_int(struct dt_case *c);
void gen_sse_fp(struct dt_case *c);
void gen_x87(struct dt_case *c);
void gen_control(struct dt_case *c);

#endif
