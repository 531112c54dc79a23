/*
 * A small x86-64 instruction encoder for the differential test: legacy
 * prefixes, a mandatory SSE prefix, REX, one- or two-byte opcodes, ModRM with
 * every 64-bit addressing form (base, base+index*scale, disp8/disp32,
 * RIP-relative, absolute disp32 through SIB), and immediates.
 */
#ifndef BERTH_TESTS_DIFFTEST_ENCODE_H
#define BERTH_TESTS_DIFFTEST_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#define NO_REG (-1)

/* A memory operand: [base + index * (1 << scale) + disp], or [rip + target]. */
struct enc_mem {
	int base, index; /* register numbers or NO_REG */
	unsigned scale;	 /* 0..3 */
	int32_t disp;
	bool rip; /* RIP-relative: the operand is at the absolute address target */
	uint64_t target;
	bool a32;    /* 0x67: 32-bit address computation */
	uint8_t seg; /* segment override prefix (0x26, 0x2e, 0x36, 0x3e), or 0 */
};

struct enc {
	uint8_t pfx[6]; /* legacy prefixes, in order */
	unsigned npfx;
	uint8_t mand; /* mandatory prefix (0x66/0xf2/0xf3), emitted right before REX */
	bool w, rex;  /* REX.W; emit a REX prefix even without R/X/B/W bits */
	uint8_t op[3];
	unsigned oplen;
	bool modrm;
	unsigned reg; /* ModRM.reg (0-15: bit 3 goes to REX.R) */
	bool is_mem;
	unsigned rm; /* register operand in ModRM.rm (0-15) */
	struct enc_mem m;
	int opreg; /* register in the low three opcode bits (REX.B), or NO_REG */
	unsigned immlen;
	uint64_t imm;
};

/* Encode e as if placed at address addr into out (at most 15 bytes); returns the length. */
unsigned enc_encode(const struct enc *e, uint64_t addr, uint8_t *out);
/* Does this encoding need a REX prefix? */
bool enc_needs_rex(const struct enc *e);

#endif
