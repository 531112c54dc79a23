/*
 * A small x86-64 machine-code writer for the soft CPU's block translator
 * (jit.c): just the instruction forms the translator emits. Host registers
 * are numbered as in the encoding (0 rax, 1 rcx, 2 rdx, 3 rbx, 6 rsi, ...).
 */
#ifndef BERTH_VMM_CPU_X86_JIT_EMIT_H
#define BERTH_VMM_CPU_X86_JIT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
	H_RAX,
	H_RCX,
	H_RDX,
	H_RBX,
	H_RSP,
	H_RBP,
	H_RSI,
	H_RDI,
	H_R8,
	H_R9,
	H_R10,
	H_R11,
	H_R12,
	H_R13,
	H_R14,
	H_R15
};

/* Where code is written; overflow is sticky and checked once per block. */
struct emitter {
	uint8_t *p, *end;
	bool overflow;
};

static inline void e8(struct emitter *e, uint8_t v)
{
	if (e->p < e->end)
		*e->p++ = v;
	else
		e->overflow = true;
}

static inline void e32(struct emitter *e, uint32_t v)
{
	if (e->p + 4 <= e->end) {
		memcpy(e->p, &v, 4);
		e->p += 4;
	} else {
		e->overflow = true;
	}
}

static inline void e64(struct emitter *e, uint64_t v)
{
	e32(e, (uint32_t)v);
	e32(e, (uint32_t)(v >> 32));
}

/* Operand-size prefix and REX for an instruction of size bytes whose ModRM
 * reg field is reg and r/m (or SIB base) is rm, with index idx (or -1). */
static inline void e_prefix(struct emitter *e, unsigned size, unsigned reg, unsigned rm, int idx)
{
	uint8_t rex = 0x40;

	if (size == 2)
		e8(e, 0x66);
	if (size == 8)
		rex |= 8;
	if (reg & 8)
		rex |= 4;
	if (idx >= 0 && (idx & 8))
		rex |= 2;
	if (rm & 8)
		rex |= 1;
	/* Byte registers 4-7 mean spl..dil only with a REX prefix. */
	if (rex != 0x40 || (size == 1 && (reg >= 4 || rm >= 4)))
		e8(e, rex);
}

/* An opcode of one to three bytes, packed: the bytes from the low end, the count on top. */
typedef uint32_t opcode_t;

static inline opcode_t op_pack(const uint8_t *b, unsigned n)
{
	opcode_t v = (opcode_t)n << 24;

	for (unsigned i = 0; i < n && i < 3; i++)
		v |= (opcode_t)b[i] << (8 * i);
	return v;
}

#define OP(...) op_pack((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static inline void e_op(struct emitter *e, opcode_t op)
{
	for (unsigned i = 0; i < (op >> 24); i++)
		e8(e, (uint8_t)(op >> (8 * i)));
}

/* op reg, rm (both registers). */
static inline void e_rr(struct emitter *e, unsigned size, opcode_t op, unsigned reg, unsigned rm)
{
	e_prefix(e, size, reg, rm, -1);
	e_op(e, op);
	e8(e, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

/* op reg, [base + disp32] (base is not rsp/r12, which would need a SIB byte). */
static inline void e_rm(struct emitter *e, unsigned size, opcode_t op, unsigned reg, unsigned base,
			int32_t disp)
{
	e_prefix(e, size, reg, base, -1);
	e_op(e, op);
	e8(e, (uint8_t)(0x80 | ((reg & 7) << 3) | (base & 7)));
	e32(e, (uint32_t)disp);
}

/* op reg, [base + index * (1 << scale) + disp32] (base is not rbp/r13 with mod 0: we use mod 2). */
static inline void e_rsib(struct emitter *e, unsigned size, opcode_t op, unsigned reg,
			  unsigned base, unsigned index, unsigned scale, int32_t disp)
{
	e_prefix(e, size, reg, base, (int)index);
	e_op(e, op);
	e8(e, (uint8_t)(0x84 | ((reg & 7) << 3)));
	e8(e, (uint8_t)((scale << 6) | ((index & 7) << 3) | (base & 7)));
	e32(e, (uint32_t)disp);
}

/* mov reg, imm64 (or the shorter zero-extending imm32 form). */
static inline void e_mov_imm(struct emitter *e, unsigned reg, uint64_t imm)
{
	if (imm <= 0xffffffffu) {
		if (reg & 8)
			e8(e, 0x41);
		e8(e, (uint8_t)(0xb8 + (reg & 7)));
		e32(e, (uint32_t)imm);
	} else {
		e8(e, (uint8_t)(0x48 | ((reg & 8) ? 1 : 0)));
		e8(e, (uint8_t)(0xb8 + (reg & 7)));
		e64(e, imm);
	}
}

/* jcc rel32 / jmp rel32 with the displacement to be patched; returns its address. */
static inline uint8_t *e_jcc32(struct emitter *e, unsigned cc)
{
	e8(e, 0x0f);
	e8(e, (uint8_t)(0x80 | cc));
	e32(e, 0);
	return e->p - 4;
}

static inline uint8_t *e_jmp32(struct emitter *e)
{
	e8(e, 0xe9);
	e32(e, 0);
	return e->p - 4;
}

/* Point the rel32 at fix to target. */
static inline void e_patch(uint8_t *fix, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (fix + 4));

	memcpy(fix, &rel, 4);
}

/* call an absolute address through rax. */
static inline void e_call(struct emitter *e, const void *fn)
{
	e_mov_imm(e, H_RAX, (uint64_t)(uintptr_t)fn);
	e8(e, 0xff);
	e8(e, 0xd0);
}

#endif
