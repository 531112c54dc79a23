/* Integer classes of the differential test: alu, shift, muldiv, bitops, string. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- integer instruction forms --- */

enum { IMM_NONE, IMM8, IMMZ, IMMV, IMM16 }; /* IMMZ: 2 or 4 bytes; IMMV: 2, 4 or 8 bytes */

enum {
	A_LOCK = 1 << 0,    /* LOCK allowed with a memory destination */
	A_MEM = 1 << 1,	    /* r/m is always memory */
	A_REG = 1 << 2,	    /* r/m is always a register */
	A_WRM = 1 << 3,	    /* writes r/m */
	A_WREG = 1 << 4,    /* writes the reg operand */
	A_RAX = 1 << 5,	    /* writes RAX */
	A_RDX = 1 << 6,	    /* writes RDX */
	A_NOMODRM = 1 << 7, /* no ModRM (implicit operands) */
	A_OPREG = 1 << 8,   /* register in the opcode's low bits */
	A_BTREG = 1 << 9,   /* BT m, r: the reg operand is the bit-offset register */
	A_NOIMMW = 1 << 10, /* 64-bit size still takes imm32 (IMMV only for B8+r) */
};

/* Flag effects resolved at generation time. */
enum { SP_NONE, SP_SHIFT1, SP_SHIFTCL, SP_SHIFTI, SP_SHXDCL, SP_SHXDI, SP_DIV, SP_CMPXCHG };

struct form {
	const char *name;
	uint8_t esc;	 /* 0: one byte, 1: 0F */
	int16_t op8, op; /* opcode for byte size / for 16-64 bit (-1: none) */
	int8_t digit;	 /* ModRM.reg digit, or -1 for a register operand */
	uint8_t sizes;
	uint8_t imm;
	uint16_t attr;
	uint16_t fdef, fundef, fread;
	uint8_t spec;
	uint8_t rmsize; /* size of r/m when it differs from the operand size */
};

#define ALL	  FL_ARITH
#define LOGIC_DEF (FL_CF | FL_PF | FL_ZF | FL_SF | FL_OF)

static const struct form alu_forms[] = {
    /* name, esc, op8, op, digit, sizes, imm, attr, def, undef, read */
    {"add", 0, 0x00, 0x01, -1, SA, 0, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"add", 0, 0x02, 0x03, -1, SA, 0, A_WREG, ALL, 0, 0, 0, 0},
    {"or", 0, 0x08, 0x09, -1, SA, 0, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"or", 0, 0x0a, 0x0b, -1, SA, 0, A_WREG, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"adc", 0, 0x10, 0x11, -1, SA, 0, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"adc", 0, 0x12, 0x13, -1, SA, 0, A_WREG, ALL, 0, FL_CF, 0, 0},
    {"sbb", 0, 0x18, 0x19, -1, SA, 0, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"sbb", 0, 0x1a, 0x1b, -1, SA, 0, A_WREG, ALL, 0, FL_CF, 0, 0},
    {"and", 0, 0x20, 0x21, -1, SA, 0, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"and", 0, 0x22, 0x23, -1, SA, 0, A_WREG, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"sub", 0, 0x28, 0x29, -1, SA, 0, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"sub", 0, 0x2a, 0x2b, -1, SA, 0, A_WREG, ALL, 0, 0, 0, 0},
    {"xor", 0, 0x30, 0x31, -1, SA, 0, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"xor", 0, 0x32, 0x33, -1, SA, 0, A_WREG, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"cmp", 0, 0x38, 0x39, -1, SA, 0, 0, ALL, 0, 0, 0, 0},
    {"cmp", 0, 0x3a, 0x3b, -1, SA, 0, 0, ALL, 0, 0, 0, 0},
    {"add", 0, 0x04, 0x05, -1, SA, IMMZ, A_NOMODRM | A_RAX, ALL, 0, 0, 0, 0},
    {"adc", 0, 0x14, 0x15, -1, SA, IMMZ, A_NOMODRM | A_RAX, ALL, 0, FL_CF, 0, 0},
    {"sbb", 0, 0x1c, 0x1d, -1, SA, IMMZ, A_NOMODRM | A_RAX, ALL, 0, FL_CF, 0, 0},
    {"xor", 0, 0x34, 0x35, -1, SA, IMMZ, A_NOMODRM | A_RAX, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"cmp", 0, 0x3c, 0x3d, -1, SA, IMMZ, A_NOMODRM, ALL, 0, 0, 0, 0},
    {"test", 0, 0xa8, 0xa9, -1, SA, IMMZ, A_NOMODRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"add", 0, 0x80, 0x81, 0, SA, IMMZ, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"or", 0, 0x80, 0x81, 1, SA, IMMZ, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"adc", 0, 0x80, 0x81, 2, SA, IMMZ, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"sbb", 0, 0x80, 0x81, 3, SA, IMMZ, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"and", 0, 0x80, 0x81, 4, SA, IMMZ, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"sub", 0, 0x80, 0x81, 5, SA, IMMZ, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"xor", 0, 0x80, 0x81, 6, SA, IMMZ, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"cmp", 0, 0x80, 0x81, 7, SA, IMMZ, 0, ALL, 0, 0, 0, 0},
    {"add", 0, -1, 0x83, 0, SW, IMM8, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"or", 0, -1, 0x83, 1, SW, IMM8, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"adc", 0, -1, 0x83, 2, SW, IMM8, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"sbb", 0, -1, 0x83, 3, SW, IMM8, A_LOCK | A_WRM, ALL, 0, FL_CF, 0, 0},
    {"and", 0, -1, 0x83, 4, SW, IMM8, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"sub", 0, -1, 0x83, 5, SW, IMM8, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"xor", 0, -1, 0x83, 6, SW, IMM8, A_LOCK | A_WRM, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"cmp", 0, -1, 0x83, 7, SW, IMM8, 0, ALL, 0, 0, 0, 0},
    {"test", 0, 0x84, 0x85, -1, SA, 0, 0, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"test", 0, 0xf6, 0xf7, 0, SA, IMMZ, 0, LOGIC_DEF, FL_AF, 0, 0, 0},
    {"not", 0, 0xf6, 0xf7, 2, SA, 0, A_LOCK | A_WRM, 0, 0, 0, 0, 0},
    {"neg", 0, 0xf6, 0xf7, 3, SA, 0, A_LOCK | A_WRM, ALL, 0, 0, 0, 0},
    {"inc", 0, 0xfe, 0xff, 0, SA, 0, A_LOCK | A_WRM, ALL & ~FL_CF, 0, 0, 0, 0},
    {"dec", 0, 0xfe, 0xff, 1, SA, 0, A_LOCK | A_WRM, ALL & ~FL_CF, 0, 0, 0, 0},
    {"mov", 0, 0x88, 0x89, -1, SA, 0, A_WRM, 0, 0, 0, 0, 0},
    {"mov", 0, 0x8a, 0x8b, -1, SA, 0, A_WREG, 0, 0, 0, 0, 0},
    {"mov", 0, 0xc6, 0xc7, 0, SA, IMMZ, A_WRM, 0, 0, 0, 0, 0},
    {"mov", 0, 0xb0, 0xb8, -1, SA, IMMV, A_OPREG | A_NOMODRM, 0, 0, 0, 0, 0},
    {"clc", 0, -1, 0xf8, -1, S32, 0, A_NOMODRM, FL_CF, 0, 0, 0, 0},
    {"stc", 0, -1, 0xf9, -1, S32, 0, A_NOMODRM, FL_CF, 0, 0, 0, 0},
    {"cmc", 0, -1, 0xf5, -1, S32, 0, A_NOMODRM, FL_CF, 0, FL_CF, 0, 0},
};

static const struct form shift_forms[] = {
    {"rol", 0, 0xd0, 0xd1, 0, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"ror", 0, 0xd0, 0xd1, 1, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"rcl", 0, 0xd0, 0xd1, 2, SA, 0, A_WRM, 0, 0, FL_CF, SP_SHIFT1, 0},
    {"rcr", 0, 0xd0, 0xd1, 3, SA, 0, A_WRM, 0, 0, FL_CF, SP_SHIFT1, 0},
    {"shl", 0, 0xd0, 0xd1, 4, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"shr", 0, 0xd0, 0xd1, 5, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"sal", 0, 0xd0, 0xd1, 6, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"sar", 0, 0xd0, 0xd1, 7, SA, 0, A_WRM, 0, 0, 0, SP_SHIFT1, 0},
    {"rol", 0, 0xd2, 0xd3, 0, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"ror", 0, 0xd2, 0xd3, 1, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"rcl", 0, 0xd2, 0xd3, 2, SA, 0, A_WRM, 0, 0, FL_CF, SP_SHIFTCL, 0},
    {"rcr", 0, 0xd2, 0xd3, 3, SA, 0, A_WRM, 0, 0, FL_CF, SP_SHIFTCL, 0},
    {"shl", 0, 0xd2, 0xd3, 4, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"shr", 0, 0xd2, 0xd3, 5, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"sal", 0, 0xd2, 0xd3, 6, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"sar", 0, 0xd2, 0xd3, 7, SA, 0, A_WRM, 0, 0, 0, SP_SHIFTCL, 0},
    {"rol", 0, 0xc0, 0xc1, 0, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"ror", 0, 0xc0, 0xc1, 1, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"rcl", 0, 0xc0, 0xc1, 2, SA, IMM8, A_WRM, 0, 0, FL_CF, SP_SHIFTI, 0},
    {"rcr", 0, 0xc0, 0xc1, 3, SA, IMM8, A_WRM, 0, 0, FL_CF, SP_SHIFTI, 0},
    {"shl", 0, 0xc0, 0xc1, 4, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"shr", 0, 0xc0, 0xc1, 5, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"sal", 0, 0xc0, 0xc1, 6, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"sar", 0, 0xc0, 0xc1, 7, SA, IMM8, A_WRM, 0, 0, 0, SP_SHIFTI, 0},
    {"shld", 1, -1, 0xa4, -1, SW, IMM8, A_WRM, 0, 0, 0, SP_SHXDI, 0},
    {"shld", 1, -1, 0xa5, -1, SW, 0, A_WRM, 0, 0, 0, SP_SHXDCL, 0},
    {"shrd", 1, -1, 0xac, -1, SW, IMM8, A_WRM, 0, 0, 0, SP_SHXDI, 0},
    {"shrd", 1, -1, 0xad, -1, SW, 0, A_WRM, 0, 0, 0, SP_SHXDCL, 0},
};

static const struct form muldiv_forms[] = {
    {"mul", 0, 0xf6, 0xf7, 4, SA, 0, A_RAX | A_RDX, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0,
     0, 0},
    {"imul", 0, 0xf6, 0xf7, 5, SA, 0, A_RAX | A_RDX, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF,
     0, 0, 0},
    {"div", 0, 0xf6, 0xf7, 6, SA, 0, A_RAX | A_RDX, 0, ALL, 0, SP_DIV, 0},
    {"idiv", 0, 0xf6, 0xf7, 7, SA, 0, A_RAX | A_RDX, 0, ALL, 0, SP_DIV, 0},
    {"imul", 1, -1, 0xaf, -1, SW, 0, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
    {"imul", 0, -1, 0x6b, -1, SW, IMM8, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0,
     0},
    {"imul", 0, -1, 0x69, -1, SW, IMMZ, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0,
     0},
    {"add", 0, 0x00, 0x01, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
    {"sub", 0, 0x2a, 0x2b, -1, SA, 0, A_WREG, ALL, 0, 0, 0, 0},
};

#define BT_UNDEF (FL_OF | FL_SF | FL_AF | FL_PF)
#define BS_UNDEF (FL_CF | FL_OF | FL_SF | FL_AF | FL_PF)
/* Flags read by condition code cc. */
#define CCF(cc)                                                                                    \
	((cc) >> 1 == 0	  ? FL_OF                                                                  \
	 : (cc) >> 1 == 1 ? FL_CF                                                                  \
	 : (cc) >> 1 == 2 ? FL_ZF                                                                  \
	 : (cc) >> 1 == 3 ? FL_CF | FL_ZF                                                          \
	 : (cc) >> 1 == 4 ? FL_SF                                                                  \
	 : (cc) >> 1 == 5 ? FL_PF                                                                  \
	 : (cc) >> 1 == 6 ? FL_SF | FL_OF                                                          \
			  : FL_ZF | FL_SF | FL_OF)
#define CC(n, cc)                                                                                  \
	{                                                                                          \
		n, 1, -1, 0x40 + cc, -1, SW, 0, A_WREG, 0, 0, CCF(cc), 0, 0                        \
	}
#define SETCC(n, cc)                                                                               \
	{                                                                                          \
		n, 1, 0x90 + cc, -1, 0, S8, 0, A_WRM, 0, 0, CCF(cc), 0, 0                          \
	}

static const struct form bit_forms[] = {
    {"bt", 1, -1, 0xa3, -1, SW, 0, A_BTREG, FL_CF, BT_UNDEF, 0, 0, 0},
    {"bts", 1, -1, 0xab, -1, SW, 0, A_BTREG | A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"btr", 1, -1, 0xb3, -1, SW, 0, A_BTREG | A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"btc", 1, -1, 0xbb, -1, SW, 0, A_BTREG | A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"bt", 1, -1, 0xba, 4, SW, IMM8, 0, FL_CF, BT_UNDEF, 0, 0, 0},
    {"bts", 1, -1, 0xba, 5, SW, IMM8, A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"btr", 1, -1, 0xba, 6, SW, IMM8, A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"btc", 1, -1, 0xba, 7, SW, IMM8, A_LOCK | A_WRM, FL_CF, BT_UNDEF, 0, 0, 0},
    {"bsf", 1, -1, 0xbc, -1, SW, 0, A_WREG, FL_ZF, BS_UNDEF, 0, 0, 0},
    {"bsr", 1, -1, 0xbd, -1, SW, 0, A_WREG, FL_ZF, BS_UNDEF, 0, 0, 0},
    {"bswap", 1, -1, 0xc8, -1, S32 | S64, 0, A_OPREG | A_NOMODRM, 0, 0, 0, 0, 0},
    {"xadd", 1, 0xc0, 0xc1, -1, SA, 0, A_LOCK | A_WRM | A_WREG, ALL, 0, 0, 0, 0},
    {"cmpxchg", 1, 0xb0, 0xb1, -1, SA, 0, A_LOCK | A_WRM | A_RAX, ALL, 0, 0, SP_CMPXCHG, 0},
    {"cmpxchg8b", 1, -1, 0xc7, 1, S32, 0, A_MEM | A_LOCK | A_WRM | A_RAX | A_RDX, FL_ZF, 0, 0,
     SP_CMPXCHG, 8},
    {"cmpxchg16b", 1, -1, 0xc7, 1, S64, 0, A_MEM | A_LOCK | A_WRM | A_RAX | A_RDX, FL_ZF, 0, 0,
     SP_CMPXCHG, 16},
    {"xchg", 0, 0x86, 0x87, -1, SA, 0, A_WRM | A_WREG, 0, 0, 0, 0, 0},
    {"xchg", 0, -1, 0x90, -1, SW, 0, A_OPREG | A_NOMODRM | A_RAX, 0, 0, 0, 0, 0},
    {"movzx", 1, -1, 0xb6, -1, SW, 0, A_WREG, 0, 0, 0, 0, 1},
    {"movzx", 1, -1, 0xb7, -1, S32 | S64, 0, A_WREG, 0, 0, 0, 0, 2},
    {"movsx", 1, -1, 0xbe, -1, SW, 0, A_WREG, 0, 0, 0, 0, 1},
    {"movsx", 1, -1, 0xbf, -1, S32 | S64, 0, A_WREG, 0, 0, 0, 0, 2},
    {"movsxd", 0, -1, 0x63, -1, S32 | S64, 0, A_WREG, 0, 0, 0, 0, 4},
    {"lea", 0, -1, 0x8d, -1, SW, 0, A_MEM | A_WREG, 0, 0, 0, 0, 0},
    {"cbw/cwde/cdqe", 0, -1, 0x98, -1, SW, 0, A_NOMODRM | A_RAX, 0, 0, 0, 0, 0},
    {"cwd/cdq/cqo", 0, -1, 0x99, -1, SW, 0, A_NOMODRM | A_RDX, 0, 0, 0, 0, 0},
    {"lahf", 0, -1, 0x9f, -1, S32, 0, A_NOMODRM | A_RAX, 0, 0,
     FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF, 0, 0},
    {"sahf", 0, -1, 0x9e, -1, S32, 0, A_NOMODRM, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF, 0, 0, 0, 0},
    CC("cmovo", 0),
    CC("cmovno", 1),
    CC("cmovb", 2),
    CC("cmovae", 3),
    CC("cmove", 4),
    CC("cmovne", 5),
    CC("cmovbe", 6),
    CC("cmova", 7),
    CC("cmovs", 8),
    CC("cmovns", 9),
    CC("cmovp", 10),
    CC("cmovnp", 11),
    CC("cmovl", 12),
    CC("cmovge", 13),
    CC("cmovle", 14),
    CC("cmovg", 15),
    SETCC("seto", 0),
    SETCC("setno", 1),
    SETCC("setb", 2),
    SETCC("setae", 3),
    SETCC("sete", 4),
    SETCC("setne", 5),
    SETCC("setbe", 6),
    SETCC("seta", 7),
    SETCC("sets", 8),
    SETCC("setns", 9),
    SETCC("setp", 10),
    SETCC("setnp", 11),
    SETCC("setl", 12),
    SETCC("setge", 13),
    SETCC("setle", 14),
    SETCC("setg", 15),
    {"add", 0, 0x00, 0x01, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
    {"sub", 0, 0x28, 0x29, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
};

/* Resolve the flag effects of a shift or rotate by count (already known). */
static void shift_flags(struct gen *g, unsigned digit, unsigned size, unsigned count)
{
	unsigned mc = count & (size == 8 ? 63 : 31), bits = size * 8;

	if (!mc)
		return;
	if (digit < 2) {
		g->undef &= ~FL_CF;
		g->undef = mc == 1 ? g->undef & ~FL_OF : g->undef | FL_OF;
		return;
	}
	if (digit < 4) {
		unsigned t = size == 1 ? mc % 9 : size == 2 ? mc % 17 : mc;
		if (t)
			g->undef &= ~FL_CF;
		g->undef = mc == 1 ? g->undef & ~FL_OF : g->undef | FL_OF;
		return;
	}
	g->undef &= ~(FL_SF | FL_ZF | FL_PF | FL_CF);
	g->undef |= FL_AF;
	g->undef = mc == 1 ? g->undef & ~FL_OF : g->undef | FL_OF;
	if (mc >= bits)
		g->undef |= FL_CF;
}

/* Emit one instruction of form f with random operands. */
static void gen_form(struct gen *g, const struct form *f)
{
	struct dt_case *c = g->c;
	struct enc e = {.opreg = NO_REG};
	unsigned size = gen_pick_size(f->sizes), rmsize, count = 0;
	bool legacy8 = false, mem = false, lock = false;
	char mtxt[64] = "", d[96], rmtxt[64], regtxt[16] = "";
	int reg = -1, rm = -1;
	uint8_t opc;

	if (size == 1 && f->op8 < 0)
		size = 4;
	rmsize = f->rmsize ? f->rmsize : size;
	if (f->spec == SP_SHXDCL && size == 2 && (c->in.gpr[RCX] & 31) > 16)
		size = 4;
	if (f->spec == SP_SHXDCL || f->spec == SP_SHIFTCL)
		count = (unsigned)c->in.gpr[RCX] & 0xff;
	gen_define_flags(g, f->fread);

	opc = (uint8_t)(size == 1 ? f->op8 : f->op);
	if (f->esc)
		e.op[e.oplen++] = 0x0f;
	e.op[e.oplen++] = opc;
	if (size == 2)
		e.pfx[e.npfx++] = 0x66;
	e.w = size == 8;
	if (f->esc && f->op == 0xc7)
		e.w = f->rmsize == 16; /* CMPXCHG8B/16B */
	if ((size == 1 || rmsize == 1) && !(f->attr & A_NOMODRM))
		legacy8 = dt_below(2);

	if (f->attr & A_NOMODRM) {
		if (f->attr & A_OPREG) {
			legacy8 = size == 1 && dt_below(2);
			reg = gen_pick_reg(g, true, size, legacy8);
			e.opreg = reg;
			if (size == 1 && !legacy8)
				e.rex = true;
			snprintf(regtxt, sizeof(regtxt), "%s", gen_reg_name(reg, size, legacy8));
		} else if (f->imm) {
			snprintf(regtxt, sizeof(regtxt), "%s", gen_reg_name(RAX, size, false));
		}
	} else {
		e.modrm = true;
		mem = (f->attr & A_MEM) || (!(f->attr & A_REG) && dt_below(5) < 2);
		if (f->digit >= 0) {
			e.reg = (unsigned)f->digit;
		} else if ((f->attr & A_BTREG) && mem) {
			reg = g->bitoff;
		} else {
			reg = gen_pick_reg(g, f->attr & A_WREG, size, legacy8);
		}
		if (mem) {
			struct enc_mem m =
			    gen_mem(g, rmsize, f->rmsize == 16 ? 16 : 1, mtxt, sizeof(mtxt));
			if (legacy8 && ((m.base != NO_REG && m.base >= 8) ||
					(m.index != NO_REG && m.index >= 8)))
				legacy8 = false;
			e.is_mem = true;
			e.m = m;
			snprintf(rmtxt, sizeof(rmtxt), "%s %s", gen_size_word(rmsize), mtxt);
			if (f->spec == SP_CMPXCHG && dt_below(3) == 0) {
				/* let the compare succeed */
				uint64_t a = gen_mem_addr(g, &m);
				if (a >= DATA_VA && a + rmsize <= DATA_VA + DATA_SIZE) {
					uint64_t lo = 0, hi = 0;
					memcpy(&lo, c->data + (a - DATA_VA),
					       rmsize > 8 ? 8 : rmsize);
					if (rmsize == 16)
						memcpy(&hi, c->data + (a - DATA_VA) + 8, 8);
					if (rmsize == 8 && f->rmsize == 8) {
						c->in.gpr[RAX] = (uint32_t)lo;
						c->in.gpr[RDX] = lo >> 32;
					} else if (rmsize == 16) {
						c->in.gpr[RAX] = lo;
						c->in.gpr[RDX] = hi;
					} else {
						c->in.gpr[RAX] = lo;
					}
				}
			}
		} else {
			rm = gen_pick_reg(g, f->attr & A_WRM, rmsize, legacy8);
			if (legacy8 && reg >= 8)
				reg &= 7;
			e.rm = (unsigned)rm;
		}
		if (reg >= 0) {
			if (legacy8 && reg >= 8)
				reg &= 7;
			e.reg = (unsigned)reg;
			snprintf(regtxt, sizeof(regtxt), "%s", gen_reg_name(reg, size, legacy8));
		}
		if (!mem)
			snprintf(rmtxt, sizeof(rmtxt), "%s", gen_reg_name(rm, rmsize, legacy8));
		if ((size == 1 || rmsize == 1) && !legacy8)
			e.rex = true;
		if (legacy8 && enc_needs_rex(&e)) {
			/* a high-byte register cannot be encoded with REX: use the low ones */
			legacy8 = false;
			e.rex = true;
			if (reg >= 0)
				snprintf(regtxt, sizeof(regtxt), "%s",
					 gen_reg_name(reg, size, false));
			if (!mem)
				snprintf(rmtxt, sizeof(rmtxt), "%s",
					 gen_reg_name(rm, rmsize, false));
			/* the written register changed: make sure it may be written */
			if (((f->attr & A_WREG) && reg >= 0 && gen_protected_reg(g, reg)) ||
			    ((f->attr & A_WRM) && !mem && gen_protected_reg(g, rm)))
				return;
		}
		/* LOCK: usually on lockable memory forms; rarely anywhere (#UD) */
		if (((f->attr & A_LOCK) && mem && dt_below(3) == 0) || dt_below(60) == 0)
			lock = true;
		if (lock)
			e.pfx[e.npfx++] = 0xf0;
	}
	switch (f->imm) {
	case IMM8:
		e.immlen = 1;
		break;
	case IMMZ:
		e.immlen = size == 1 ? 1 : size == 2 ? 2 : 4;
		break;
	case IMMV:
		e.immlen = size;
		break;
	}
	e.imm = gen_imm_value(e.immlen);
	if (f->spec == SP_SHIFTI || f->spec == SP_SHXDI) {
		/* counts around the operand size matter most */
		if (dt_below(2))
			e.imm = dt_below(size * 8 + 2);
		if (f->spec == SP_SHXDI && size == 2 && (e.imm & 31) > 16)
			e.imm &= 15;
		count = (unsigned)e.imm & 0xff;
	}
	if (f->spec == SP_SHIFT1)
		count = 1;

	/* Description. */
	if (f->attr & A_NOMODRM)
		snprintf(d, sizeof(d), "%s%s%s%s%s", f->name, regtxt[0] ? " " : "", regtxt,
			 f->imm ? ", imm" : "",
			 size == 2   ? " (o16)"
			 : size == 8 ? " (o64)"
				     : "");
	else if (f->digit >= 0)
		snprintf(d, sizeof(d), "%s%s %s%s%s", lock ? "lock " : "", f->name, rmtxt,
			 f->spec == SP_SHIFTCL	? ", cl"
			 : f->spec == SP_SHIFT1 ? ", 1"
						: "",
			 f->imm ? ", imm" : "");
	else if ((f->attr & A_WREG) && !(f->attr & A_WRM))
		snprintf(d, sizeof(d), "%s%s %s, %s%s", lock ? "lock " : "", f->name, regtxt, rmtxt,
			 f->imm ? ", imm" : "");
	else
		snprintf(d, sizeof(d), "%s%s %s, %s%s%s", lock ? "lock " : "", f->name, rmtxt,
			 regtxt, f->spec == SP_SHXDCL ? ", cl" : "", f->imm ? ", imm" : "");
	if (!gen_emit(g, &e, d))
		return;

	/* Flags after it. */
	switch (f->spec) {
	case SP_SHIFT1:
	case SP_SHIFTCL:
	case SP_SHIFTI:
		shift_flags(g, (unsigned)f->digit, size, count);
		break;
	case SP_SHXDCL:
	case SP_SHXDI: {
		unsigned mc = count & (size == 8 ? 63 : 31);
		if (mc) {
			g->undef &= ~(FL_SF | FL_ZF | FL_PF | FL_CF);
			g->undef |= FL_AF;
			g->undef = mc == 1 ? g->undef & ~FL_OF : g->undef | FL_OF;
		}
		break;
	}
	default:
		g->undef = (g->undef & ~f->fdef) | f->fundef;
		break;
	}
}

static void gen_forms(struct dt_case *c, const struct form *forms, unsigned n, uint32_t protect)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(4);

	gen_begin(&g, c, protect, false);
	if ((protect & (1u << RCX)) && dt_below(2))
		c->in.gpr[RCX] = (c->in.gpr[RCX] & ~0xffULL) | dt_below(70); /* shift counts */
	for (k = 0; k < len && c->ninsns < DT_MAX_INSNS; k++) {
		const struct form *f = &forms[dt_below(n)];
		if ((f->attr & A_RDX) && gen_protected_reg(&g, RDX))
			continue;
		gen_form(&g, f);
	}
	if (!c->ninsns)
		gen_form(&g, &forms[0]);
	gen_finish(&g);
}

void gen_alu(struct dt_case *c)
{
	gen_forms(c, alu_forms, sizeof(alu_forms) / sizeof(alu_forms[0]), 0);
}

void gen_shift(struct dt_case *c)
{
	/* RCX keeps the count, so the generator knows which flags are undefined */
	gen_forms(c, shift_forms, sizeof(shift_forms) / sizeof(shift_forms[0]), 1u << RCX);
}

/* Divisions: usually with a quotient that fits, so both the result and #DE are covered. */
void gen_muldiv(struct dt_case *c)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(3);
	const unsigned n = sizeof(muldiv_forms) / sizeof(muldiv_forms[0]);

	gen_begin(&g, c, 0, false);
	for (k = 0; k < len; k++) {
		const struct form *f = &muldiv_forms[dt_below(n)];
		unsigned before = c->ninsns;
		gen_form(&g, f);
		if (f->spec == SP_DIV && before == 0 && c->ninsns == 1 && dt_below(4)) {
			/* make the first division valid: recompute its divisor from the encoding */
			const uint8_t *p = c->code;
			unsigned i = 0, size = 4, rex = 0, modrm, r;
			uint64_t dv = 0;
			bool ok = true;
			for (;; i++) {
				if (p[i] == 0x66)
					size = 2;
				else if (p[i] == 0xf0)
					continue;
				else
					break;
			}
			if ((p[i] & 0xf0) == 0x40)
				rex = p[i++];
			if (rex & 8)
				size = 8;
			if (p[i] == 0xf6)
				size = 1;
			modrm = p[i + 1];
			if ((modrm >> 6) == 3) {
				r = (modrm & 7) | ((rex & 1) << 3);
				if (size == 1 && !rex && r >= 4)
					dv = (c->in.gpr[r - 4] >> 8) & 0xff;
				else
					dv = c->in.gpr[r];
			} else {
				ok = false; /* memory divisor: leave it to chance */
			}
			if (ok) {
				uint64_t mask = size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
				bool sgn = f->digit == 7;
				dv &= mask;
				if (dv == 0) {
					/* keep #DE for a zero divisor */
				} else if (size == 1) {
					uint64_t ax = c->in.gpr[RAX] & 0xffff;
					if (sgn)
						ax =
						    (uint64_t)(int64_t)(int8_t)(ax & 0xff) & 0xffff;
					else
						ax = ((ax >> 8) % dv) << 8 | (ax & 0xff);
					c->in.gpr[RAX] = (c->in.gpr[RAX] & ~0xffffULL) | ax;
				} else {
					uint64_t hi;
					if (sgn) {
						uint64_t sb = 1ULL << (8 * size - 1);
						hi = (c->in.gpr[RAX] & sb) ? mask : 0;
					} else {
						hi = (c->in.gpr[RDX] & mask) % dv;
					}
					c->in.gpr[RDX] = (c->in.gpr[RDX] & ~mask) | hi;
				}
			}
		}
	}
	gen_finish(&g);
}

void gen_bitops(struct dt_case *c)
{
	gen_forms(c, bit_forms, sizeof(bit_forms) / sizeof(bit_forms[0]), 0);
}

/* --- string instructions --- */

void gen_string(struct dt_case *c)
{
	static const struct {
		const char *name;
		uint8_t op;
		bool cmp;
	} ops[] = {{"movs", 0xa4, false},
		   {"cmps", 0xa6, true},
		   {"stos", 0xaa, false},
		   {"lods", 0xac, false},
		   {"scas", 0xae, true}};
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(3);
	bool a32 = dt_below(6) == 0;

	gen_begin(&g, c, (1u << RCX) | (1u << RSI) | (1u << RDI), false);
	c->in.gpr[RSI] = DATA_VA + dt_below(DATA_SIZE);
	c->in.gpr[RDI] = dt_below(3) ? DATA_VA + dt_below(DATA_SIZE)
				     : c->in.gpr[RSI] + dt_below(32) - 16; /* overlapping */
	c->in.gpr[RCX] = dt_below(8) ? dt_below(41) : dt_below(300);
	if (a32 && dt_below(2)) {
		c->in.gpr[RSI] |= dt_rand() << 32;
		c->in.gpr[RDI] |= dt_rand() << 32;
		c->in.gpr[RCX] |= dt_rand() << 32;
	}
	for (k = 0; k < len; k++) {
		struct enc e = {.opreg = NO_REG, .oplen = 1};
		unsigned which = (unsigned)dt_below(sizeof(ops) / sizeof(ops[0]) + 1);
		unsigned size = 1u << dt_below(4), rep = (unsigned)dt_below(4);
		const char *rp = "";
		char d[64];

		if (which == sizeof(ops) / sizeof(ops[0])) {
			/* CLD or STD between string instructions */
			e.op[0] = dt_below(2) ? 0xfc : 0xfd;
			gen_emit(&g, &e, e.op[0] == 0xfc ? "cld" : "std");
			continue;
		}
		if (size == 2)
			e.pfx[e.npfx++] = 0x66;
		if (a32)
			e.pfx[e.npfx++] = 0x67;
		if (dt_below(8) == 0)
			e.pfx[e.npfx++] = dt_below(2) ? 0x3e : 0x2e; /* ignored segment overrides */
		if (rep >= 2 || (rep == 1 && ops[which].cmp)) {
			uint8_t p = rep == 1 ? 0xf2 : 0xf3;
			e.pfx[e.npfx++] = p;
			rp = !ops[which].cmp ? "rep " : p == 0xf3 ? "repe " : "repne ";
		}
		e.w = size == 8;
		e.op[0] = (uint8_t)(ops[which].op + (size > 1));
		snprintf(d, sizeof(d), "%s%s%c%s", rp, ops[which].name,
			 "bwdq"[size == 1   ? 0
				: size == 2 ? 1
				: size == 4 ? 2
					    : 3],
			 a32 ? " (a32)" : "");
		if (!gen_emit(&g, &e, d))
			break;
		if (ops[which].cmp)
			g.undef = 0;
	}
	gen_finish(&g);
}
