/*
 * Case generators of the differential test, one per instruction class.
 *
 * A case is 1-DT_MAX_INSNS instructions from one class with random operands
 * (registers of every size, REX and legacy byte registers, memory through
 * every addressing form, immediates), a random initial state biased toward
 * the values flags and edge cases depend on, and the set of flags the SDM
 * leaves undefined at each point of the sequence.
 *
 * Memory operands are built around "pointer" registers that the sequence
 * never writes: mostly into the data area, sometimes into the read-only page,
 * the unmapped pages around the data or a non-canonical address, so page
 * faults and #GP are compared too. Registers that give a bit offset into
 * memory (BT m, r) or a shift count (CL) are kept unwritten in the same way,
 * which lets the generator know the count and so which flags are undefined.
 *
 * Exclusions (the soft CPU does not implement these, so they are not
 * generated or not compared; each is listed here and in the final report):
 *  - TZCNT/LZCNT/POPCNT, BMI, SSE3 and later: not advertised in CPUID (F3 0F BC/BD
 *    would run as TZCNT/LZCNT on a host with BMI1/ABM, as BSF/BSR on the soft CPU).
 *  - MXCSR exception flags (bits 0-5) after SSE floating-point instructions: the
 *    soft CPU does not accumulate them (sse.c); they are masked in sse-fp.
 *  - MXCSR rounding modes other than round-to-nearest and DAZ/FZ for SSE arithmetic:
 *    sse.c uses the host's round-to-nearest; only conversions to integer honour RC,
 *    so sse-fp cases randomise RC only when every instruction is rounding-exact.
 *  - Unmasked SIMD floating-point exceptions (#XM): never raised by sse.c; MXCSR's
 *    mask bits stay set.
 *  - RCPPS/RCPSS/RSQRTPS/RSQRTSS: approximations whose exact bits differ between
 *    CPU models, so not comparable with any host.
 *  - x87: the exception flags of FSW (IE DE ZE OE UE PE) are not recorded by fpu.c
 *    (every exception is treated as masked), nor is C1 as the round-up indicator
 *    of an inexact result: both are masked out of FNSTSW results and FXSAVE images. Stack overflow/underflow (the stack-fault response) is not
 *    modelled, so sequences keep the register stack valid. Transcendentals
 *    (FSIN, FPTAN, F2XM1, FYL2X...) and FLD m80 of arbitrary bit patterns are not
 *    generated. FXSAVE's FOP/FIP/FDP/FCS/FDS and MXCSR_MASK are model-specific.
 *  - FS/GS segment overrides: the host's FS/GS bases belong to its C runtime.
 *  - The 0x67 address-size prefix is generated for string instructions only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

static const char *const reg64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const reg32[16] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
				      "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
static const char *const reg16[16] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
				      "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
static const char *const reg8[16] = {"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
				     "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
static const char *const reg8h[4] = {"ah", "ch", "dh", "bh"};

/* Generation context of one case. */
struct gen {
	struct dt_case *c;
	uint32_t protect;  /* GPRs the sequence must not write */
	int base, index;   /* pointer registers (index holds a small value) */
	int wild;          /* a register with a non-canonical address, or NO_REG */
	int bitoff;        /* a register with a small bit offset for BT m, r, or NO_REG */
	uint32_t undef;    /* flags undefined at this point */
	uint32_t mxcsr_rc_ok; /* cleared by an instruction whose result depends on RC */
	bool fp;           /* the class works on floating-point data */
};

/* --- random values --- */

static uint64_t rnd_value(void)
{
	static const uint64_t edge[] = {0, 1, 2, ~0ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
					0x80000000, 0x7fffffff, 0xffffffff, 0x100000000ULL, 0x8000, 0x7fff,
					0xffff, 0x80, 0x7f, 0xff, 0xffffffff80000000ULL, 0xffffffffffff8000ULL,
					0xffffffffffffff80ULL, 0x10, 0x3f, 0x40, 0x1f, 0x20};

	switch (dt_below(10)) {
	case 0:
	case 1: return edge[dt_below(sizeof(edge) / sizeof(edge[0]))];
	case 2: return dt_rand() & 0xff;
	case 3: return dt_rand() & 0x3f;
	case 4: return (uint64_t)(int64_t)(int32_t)dt_rand();
	case 5: return (uint64_t)(int64_t)(int16_t)dt_rand();
	case 6: return edge[dt_below(sizeof(edge) / sizeof(edge[0]))] + dt_below(3) - 1;
	default: return dt_rand();
	}
}

static double rnd_double(void)
{
	static const uint64_t special[] = {
		0x0000000000000000ULL, 0x8000000000000000ULL, 0x7ff0000000000000ULL, /* +-0, +inf */
		0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0xfff8000000000000ULL, /* -inf, QNaN */
		0x7ff4000000000001ULL, 0x7ff8000000000123ULL, 0xfff0000000000001ULL, /* SNaN, QNaN */
		0x0000000000000001ULL, 0x000fffffffffffffULL, 0x8008000000000000ULL, /* denormals */
		0x7fefffffffffffffULL, 0x43e0000000000000ULL, 0xc3e0000000000000ULL, /* max, 2^63 */
		0x41e0000000000000ULL, 0xc1e0000000000000ULL, 0x3ff8000000000000ULL, /* 2^31, 1.5 */
		0x4004000000000000ULL, 0xc004000000000000ULL, 0x3fe0000000000000ULL, /* 2.5, 0.5 */
	};
	uint64_t bits;
	double d;

	switch (dt_below(6)) {
	case 0:
	case 1:
		bits = special[dt_below(sizeof(special) / sizeof(special[0]))];
		memcpy(&d, &bits, 8);
		return d;
	case 2: return (double)(int64_t)(dt_below(4001)) / 4 - 500;
	case 3: return ldexp((double)(dt_rand() >> 11), (int)dt_below(120) - 100) *
		       (dt_below(2) ? -1 : 1);
	default: return (double)(int32_t)dt_rand() / (double)(1 + dt_below(1000));
	}
}

static float rnd_float(void)
{
	static const uint32_t special[] = {0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
					   0xffc00000, 0x7fa00001, 0x00000001, 0x007fffff,
					   0x7f7fffff, 0x5f000000, 0xdf000000, 0x4f000000,
					   0xcf000000, 0x3fc00000, 0x40200000};
	uint32_t bits;
	float f;

	if (dt_below(3) == 0) {
		bits = special[dt_below(sizeof(special) / sizeof(special[0]))];
		memcpy(&f, &bits, 4);
		return f;
	}
	return (float)rnd_double();
}

/* 16 bytes of integer, double or float data. */
static void rnd_vec(uint8_t *v, bool fp)
{
	unsigned i;

	switch (fp ? dt_below(4) : 3) {
	case 0:
	case 1:
		for (i = 0; i < 2; i++) {
			double d = rnd_double();
			memcpy(v + 8 * i, &d, 8);
		}
		break;
	case 2:
		for (i = 0; i < 4; i++) {
			float f = rnd_float();
			memcpy(v + 4 * i, &f, 4);
		}
		break;
	default:
		for (i = 0; i < 2; i++) {
			uint64_t q = rnd_value();
			memcpy(v + 8 * i, &q, 8);
		}
		break;
	}
}

/* --- case set-up --- */

static bool protected_reg(const struct gen *g, int r)
{
	return g->protect & (1u << r);
}

/* A register that is free for a special purpose (never RAX, RCX, RDX, RSP). */
static int pick_special(struct gen *g)
{
	static const int pool[] = {RBX, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15};
	int r;

	do
		r = pool[dt_below(sizeof(pool) / sizeof(pool[0]))];
	while (protected_reg(g, r));
	g->protect |= 1u << r;
	return r;
}

/* Random initial state; pointer registers set up; protect gives extra unwritable GPRs. */
static void begin(struct gen *g, struct dt_case *c, uint32_t protect, bool fp)
{
	unsigned i;

	memset(g, 0, sizeof(*g));
	g->c = c;
	g->fp = fp;
	g->protect = (1u << RSP) | protect;
	for (i = 0; i < 16; i++)
		c->in.gpr[i] = rnd_value();
	c->in.gpr[RSP] = STACK_TOP;
	c->in.rip = CODE_VA;
	c->in.rflags = 0x202 | (dt_rand() & FL_ARITH) | (dt_below(8) == 0 ? FL_DF : 0);
	c->in.mxcsr = 0x1f80;
	for (i = 0; i < 16; i++)
		rnd_vec(c->in.xmm[i], fp);
	for (i = 0; i < DATA_SIZE; i += 16)
		rnd_vec(c->data + i, fp);
	g->base = pick_special(g);
	c->in.gpr[g->base] = DATA_VA + 0x800 + dt_below(0x800);
	g->index = pick_special(g);
	c->in.gpr[g->index] = dt_below(64);
	g->wild = NO_REG;
	if (dt_below(16) == 0) {
		g->wild = pick_special(g);
		/* bit 62 set, bit 63 clear: non-canonical even after a +-2 KiB offset */
		c->in.gpr[g->wild] = dt_below(2) ? (dt_rand() & 0x7fff7ffffffff000ULL) | (1ULL << 62)
						  : 0x0000800000100000ULL + dt_below(0x1000);
	}
	g->bitoff = NO_REG;
	g->undef = 0;
	g->mxcsr_rc_ok = 1;
}

/* A memory operand of size bytes (aligned to align when align, usually). */
static struct enc_mem gen_mem(struct gen *g, unsigned size, unsigned align, char *txt, size_t n)
{
	struct enc_mem m = {.base = NO_REG, .index = NO_REG};
	uint64_t t, b = g->c->in.gpr[g->base], x = g->c->in.gpr[g->index];
	unsigned where = (unsigned)dt_below(100);

	if (where < 88) {
		t = DATA_VA + dt_below(DATA_SIZE - size + 1);
		if (align > 1 && dt_below(16))
			t &= ~(uint64_t)(align - 1);
	} else if (where < 93) {
		t = RO_VA + dt_below(0x1000 - size + 1);
	} else if (where < 95) {
		t = GUARD_VA + dt_below(0x1000);
	} else if (where < 97) {
		t = DATA_VA + DATA_SIZE - dt_below(size); /* crosses into the read-only page */
	} else {
		t = ABSENT_VA + dt_below(0x1000) - dt_below(size);
	}
	if (g->wild != NO_REG && dt_below(2)) {
		m.base = g->wild;
		m.disp = (int32_t)dt_below(256);
		snprintf(txt, n, "[%s%+d]", reg64[m.base], m.disp);
		return m;
	}
	switch (dt_below(6)) {
	case 0:
		m.rip = true;
		m.target = t;
		snprintf(txt, n, "[rip->%#llx]", (unsigned long long)t);
		break;
	case 1:
		m.disp = (int32_t)t;
		snprintf(txt, n, "[%#x]", (unsigned)m.disp);
		break;
	case 2:
		m.index = g->index;
		m.scale = (unsigned)dt_below(4);
		m.disp = (int32_t)(t - (x << m.scale));
		snprintf(txt, n, "[%s*%u%+d]", reg64[m.index], 1u << m.scale, m.disp);
		break;
	case 3:
		m.base = g->base;
		m.index = g->index;
		m.scale = (unsigned)dt_below(4);
		m.disp = (int32_t)(t - b - (x << m.scale));
		snprintf(txt, n, "[%s+%s*%u%+d]", reg64[m.base], reg64[m.index], 1u << m.scale, m.disp);
		break;
	default:
		m.base = g->base;
		m.disp = (int32_t)(t - b);
		snprintf(txt, n, "[%s%+d]", reg64[m.base], m.disp);
		break;
	}
	return m;
}

/* The address a memory operand of the initial state points to. */
static uint64_t mem_addr(const struct gen *g, const struct enc_mem *m)
{
	uint64_t a = (uint64_t)(int64_t)m->disp;

	if (m->rip)
		return m->target;
	if (m->base != NO_REG)
		a += g->c->in.gpr[m->base];
	if (m->index != NO_REG)
		a += g->c->in.gpr[m->index] << m->scale;
	return a;
}

/* Append an encoded instruction with its description; false if the case is full. */
static bool emit(struct gen *g, const struct enc *e, const char *desc)
{
	struct dt_case *c = g->c;
	uint8_t buf[16];
	unsigned len;

	if (c->ninsns >= DT_MAX_INSNS)
		return false;
	len = enc_encode(e, CODE_VA + c->code_len, buf);
	if (c->code_len + len > DT_CODE_MAX - 16)
		return false;
	c->insn_off[c->ninsns] = c->code_len;
	c->undef_before[c->ninsns] = g->undef;
	snprintf(c->desc[c->ninsns], sizeof(c->desc[0]), "%s", desc);
	memcpy(c->code + c->code_len, buf, len);
	c->code_len += len;
	c->ninsns++;
	return true;
}

static void finish(struct gen *g)
{
	g->c->undef_before[g->c->ninsns] = g->undef;
}

static const char *reg_name(int r, unsigned size, bool legacy8)
{
	switch (size) {
	case 1: return legacy8 && r >= 4 && r < 8 ? reg8h[r - 4] : reg8[r];
	case 2: return reg16[r];
	case 4: return reg32[r];
	default: return reg64[r];
	}
}

/* The GPR that a write to register r of this size changes. */
static int written_gpr(int r, unsigned size, bool legacy8)
{
	return size == 1 && legacy8 && r >= 4 && r < 8 ? r - 4 : r;
}

/* A register operand: any register to read, an unprotected one to write. */
static int pick_reg(struct gen *g, bool write, unsigned size, bool legacy8)
{
	int r;

	for (;;) {
		r = (int)dt_below(legacy8 ? 8 : 16);
		if (!write || !protected_reg(g, written_gpr(r, size, legacy8)))
			return r;
	}
}

static unsigned pick_size(unsigned sizes)
{
	unsigned s;

	do
		s = 1u << dt_below(4);
	while (!(sizes & s));
	return s;
}

/* Before an instruction that reads flags some earlier one left undefined: CMP r64, r64. */
static void define_flags(struct gen *g, uint32_t reads)
{
	struct enc e = {.w = true, .op = {0x39}, .oplen = 1, .modrm = true, .opreg = NO_REG};
	char d[64];

	if (!(reads & g->undef))
		return;
	e.reg = (unsigned)dt_below(16);
	e.rm = (unsigned)dt_below(16);
	snprintf(d, sizeof(d), "cmp %s, %s", reg64[e.rm], reg64[e.reg]);
	if (emit(g, &e, d))
		g->undef = 0;
}

/* --- integer instruction forms --- */

enum { IMM_NONE, IMM8, IMMZ, IMMV, IMM16 }; /* IMMZ: 2 or 4 bytes; IMMV: 2, 4 or 8 bytes */

enum {
	A_LOCK = 1 << 0,     /* LOCK allowed with a memory destination */
	A_MEM = 1 << 1,      /* r/m is always memory */
	A_REG = 1 << 2,      /* r/m is always a register */
	A_WRM = 1 << 3,      /* writes r/m */
	A_WREG = 1 << 4,     /* writes the reg operand */
	A_RAX = 1 << 5,      /* writes RAX */
	A_RDX = 1 << 6,      /* writes RDX */
	A_NOMODRM = 1 << 7,  /* no ModRM (implicit operands) */
	A_OPREG = 1 << 8,    /* register in the opcode's low bits */
	A_BTREG = 1 << 9,    /* BT m, r: the reg operand is the bit-offset register */
	A_NOIMMW = 1 << 10,  /* 64-bit size still takes imm32 (IMMV only for B8+r) */
};

/* Flag effects resolved at generation time. */
enum { SP_NONE, SP_SHIFT1, SP_SHIFTCL, SP_SHIFTI, SP_SHXDCL, SP_SHXDI, SP_DIV, SP_CMPXCHG };

struct form {
	const char *name;
	uint8_t esc;      /* 0: one byte, 1: 0F */
	int16_t op8, op;  /* opcode for byte size / for 16-64 bit (-1: none) */
	int8_t digit;     /* ModRM.reg digit, or -1 for a register operand */
	uint8_t sizes;
	uint8_t imm;
	uint16_t attr;
	uint16_t fdef, fundef, fread;
	uint8_t spec;
	uint8_t rmsize;   /* size of r/m when it differs from the operand size */
};

#define ALL FL_ARITH
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
	{"mul", 0, 0xf6, 0xf7, 4, SA, 0, A_RAX | A_RDX, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
	{"imul", 0, 0xf6, 0xf7, 5, SA, 0, A_RAX | A_RDX, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
	{"div", 0, 0xf6, 0xf7, 6, SA, 0, A_RAX | A_RDX, 0, ALL, 0, SP_DIV, 0},
	{"idiv", 0, 0xf6, 0xf7, 7, SA, 0, A_RAX | A_RDX, 0, ALL, 0, SP_DIV, 0},
	{"imul", 1, -1, 0xaf, -1, SW, 0, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
	{"imul", 0, -1, 0x6b, -1, SW, IMM8, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
	{"imul", 0, -1, 0x69, -1, SW, IMMZ, A_WREG, FL_CF | FL_OF, FL_SF | FL_ZF | FL_AF | FL_PF, 0, 0, 0},
	{"add", 0, 0x00, 0x01, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
	{"sub", 0, 0x2a, 0x2b, -1, SA, 0, A_WREG, ALL, 0, 0, 0, 0},
};

#define BT_UNDEF (FL_OF | FL_SF | FL_AF | FL_PF)
#define BS_UNDEF (FL_CF | FL_OF | FL_SF | FL_AF | FL_PF)
/* Flags read by condition code cc. */
#define CCF(cc)                                                                         \
	((cc) >> 1 == 0 ? FL_OF : (cc) >> 1 == 1 ? FL_CF : (cc) >> 1 == 2 ? FL_ZF :          \
	 (cc) >> 1 == 3 ? FL_CF | FL_ZF : (cc) >> 1 == 4 ? FL_SF : (cc) >> 1 == 5 ? FL_PF :   \
	 (cc) >> 1 == 6 ? FL_SF | FL_OF : FL_ZF | FL_SF | FL_OF)
#define CC(n, cc) {n, 1, -1, 0x40 + cc, -1, SW, 0, A_WREG, 0, 0, CCF(cc), 0, 0}
#define SETCC(n, cc) {n, 1, 0x90 + cc, -1, 0, S8, 0, A_WRM, 0, 0, CCF(cc), 0, 0}

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
	{"cmpxchg8b", 1, -1, 0xc7, 1, S32, 0, A_MEM | A_LOCK | A_WRM | A_RAX | A_RDX, FL_ZF, 0, 0, SP_CMPXCHG, 8},
	{"cmpxchg16b", 1, -1, 0xc7, 1, S64, 0, A_MEM | A_LOCK | A_WRM | A_RAX | A_RDX, FL_ZF, 0, 0, SP_CMPXCHG, 16},
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
	{"lahf", 0, -1, 0x9f, -1, S32, 0, A_NOMODRM | A_RAX, 0, 0, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF, 0, 0},
	{"sahf", 0, -1, 0x9e, -1, S32, 0, A_NOMODRM, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF, 0, 0, 0, 0},
	CC("cmovo", 0), CC("cmovno", 1), CC("cmovb", 2), CC("cmovae", 3), CC("cmove", 4),
	CC("cmovne", 5), CC("cmovbe", 6), CC("cmova", 7), CC("cmovs", 8), CC("cmovns", 9),
	CC("cmovp", 10), CC("cmovnp", 11), CC("cmovl", 12), CC("cmovge", 13), CC("cmovle", 14),
	CC("cmovg", 15),
	SETCC("seto", 0), SETCC("setno", 1), SETCC("setb", 2), SETCC("setae", 3), SETCC("sete", 4),
	SETCC("setne", 5), SETCC("setbe", 6), SETCC("seta", 7), SETCC("sets", 8), SETCC("setns", 9),
	SETCC("setp", 10), SETCC("setnp", 11), SETCC("setl", 12), SETCC("setge", 13),
	SETCC("setle", 14), SETCC("setg", 15),
	{"add", 0, 0x00, 0x01, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
	{"sub", 0, 0x28, 0x29, -1, SA, 0, A_WRM, ALL, 0, 0, 0, 0},
};

static uint64_t imm_value(unsigned len)
{
	uint64_t v = rnd_value();

	return len == 8 ? v : v & ((1ULL << (8 * len)) - 1);
}

static const char *size_word(unsigned size)
{
	switch (size) {
	case 1: return "byte";
	case 2: return "word";
	case 4: return "dword";
	case 8: return "qword";
	default: return "oword";
	}
}

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
	unsigned size = pick_size(f->sizes), rmsize, count = 0;
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
	define_flags(g, f->fread);

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
			reg = pick_reg(g, true, size, legacy8);
			e.opreg = reg;
			if (size == 1 && !legacy8)
				e.rex = true;
			snprintf(regtxt, sizeof(regtxt), "%s", reg_name(reg, size, legacy8));
		} else if (f->imm) {
			snprintf(regtxt, sizeof(regtxt), "%s", reg_name(RAX, size, false));
		}
	} else {
		e.modrm = true;
		mem = (f->attr & A_MEM) || (!(f->attr & A_REG) && dt_below(5) < 2);
		if (f->digit >= 0) {
			e.reg = (unsigned)f->digit;
		} else if ((f->attr & A_BTREG) && mem) {
			if (g->bitoff == NO_REG) {
				g->bitoff = pick_special(g);
				c->in.gpr[g->bitoff] = (uint64_t)((int64_t)dt_below(0x8000) - 0x4000);
			}
			reg = g->bitoff;
		} else {
			reg = pick_reg(g, f->attr & A_WREG, size, legacy8);
		}
		if (mem) {
			struct enc_mem m = gen_mem(g, rmsize, f->rmsize == 16 ? 16 : 1, mtxt, sizeof(mtxt));
			if (legacy8 && ((m.base != NO_REG && m.base >= 8) ||
					(m.index != NO_REG && m.index >= 8)))
				legacy8 = false;
			e.is_mem = true;
			e.m = m;
			snprintf(rmtxt, sizeof(rmtxt), "%s %s", size_word(rmsize), mtxt);
			if (f->spec == SP_CMPXCHG && dt_below(3) == 0) {
				/* let the compare succeed */
				uint64_t a = mem_addr(g, &m);
				if (a >= DATA_VA && a + rmsize <= DATA_VA + DATA_SIZE) {
					uint64_t lo = 0, hi = 0;
					memcpy(&lo, c->data + (a - DATA_VA), rmsize > 8 ? 8 : rmsize);
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
			rm = pick_reg(g, f->attr & A_WRM, rmsize, legacy8);
			if (legacy8 && reg >= 8)
				reg &= 7;
			e.rm = (unsigned)rm;
		}
		if (reg >= 0) {
			if (legacy8 && reg >= 8)
				reg &= 7;
			e.reg = (unsigned)reg;
			snprintf(regtxt, sizeof(regtxt), "%s", reg_name(reg, size, legacy8));
		}
		if (!mem)
			snprintf(rmtxt, sizeof(rmtxt), "%s", reg_name(rm, rmsize, legacy8));
		if ((size == 1 || rmsize == 1) && !legacy8)
			e.rex = true;
		if (legacy8 && enc_needs_rex(&e)) {
			/* a high-byte register cannot be encoded with REX: use the low ones */
			legacy8 = false;
			e.rex = true;
			if (reg >= 0)
				snprintf(regtxt, sizeof(regtxt), "%s", reg_name(reg, size, false));
			if (!mem)
				snprintf(rmtxt, sizeof(rmtxt), "%s", reg_name(rm, rmsize, false));
			/* the written register changed: make sure it may be written */
			if (((f->attr & A_WREG) && reg >= 0 && protected_reg(g, reg)) ||
			    ((f->attr & A_WRM) && !mem && protected_reg(g, rm)))
				return;
		}
		/* LOCK: usually on lockable memory forms; rarely anywhere (#UD) */
		if (((f->attr & A_LOCK) && mem && dt_below(3) == 0) || dt_below(60) == 0)
			lock = true;
		if (lock)
			e.pfx[e.npfx++] = 0xf0;
	}
	switch (f->imm) {
	case IMM8: e.immlen = 1; break;
	case IMMZ: e.immlen = size == 1 ? 1 : size == 2 ? 2 : 4; break;
	case IMMV: e.immlen = size; break;
	}
	e.imm = imm_value(e.immlen);
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
			 f->imm ? ", imm" : "", size == 2 ? " (o16)" : size == 8 ? " (o64)" : "");
	else if (f->digit >= 0)
		snprintf(d, sizeof(d), "%s%s %s%s%s", lock ? "lock " : "", f->name, rmtxt,
			 f->spec == SP_SHIFTCL ? ", cl" : f->spec == SP_SHIFT1 ? ", 1" : "",
			 f->imm ? ", imm" : "");
	else if ((f->attr & A_WREG) && !(f->attr & A_WRM))
		snprintf(d, sizeof(d), "%s%s %s, %s%s", lock ? "lock " : "", f->name, regtxt, rmtxt,
			 f->imm ? ", imm" : "");
	else
		snprintf(d, sizeof(d), "%s%s %s, %s%s%s", lock ? "lock " : "", f->name, rmtxt, regtxt,
			 f->spec == SP_SHXDCL ? ", cl" : "", f->imm ? ", imm" : "");
	if (!emit(g, &e, d))
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

	begin(&g, c, protect, false);
	if ((protect & (1u << RCX)) && dt_below(2))
		c->in.gpr[RCX] = (c->in.gpr[RCX] & ~0xffULL) | dt_below(70); /* shift counts */
	for (k = 0; k < len && c->ninsns < DT_MAX_INSNS; k++) {
		const struct form *f = &forms[dt_below(n)];
		if ((f->attr & A_RDX) && protected_reg(&g, RDX))
			continue;
		gen_form(&g, f);
	}
	if (!c->ninsns)
		gen_form(&g, &forms[0]);
	finish(&g);
}

static void gen_alu(struct dt_case *c)
{
	gen_forms(c, alu_forms, sizeof(alu_forms) / sizeof(alu_forms[0]), 0);
}

static void gen_shift(struct dt_case *c)
{
	/* RCX keeps the count, so the generator knows which flags are undefined */
	gen_forms(c, shift_forms, sizeof(shift_forms) / sizeof(shift_forms[0]), 1u << RCX);
}

/* Divisions: usually with a quotient that fits, so both the result and #DE are covered. */
static void gen_muldiv(struct dt_case *c)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(3);
	const unsigned n = sizeof(muldiv_forms) / sizeof(muldiv_forms[0]);

	begin(&g, c, 0, false);
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
						ax = (uint64_t)(int64_t)(int8_t)(ax & 0xff) & 0xffff;
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
	finish(&g);
}

static void gen_bitops(struct dt_case *c)
{
	gen_forms(c, bit_forms, sizeof(bit_forms) / sizeof(bit_forms[0]), 0);
}

/* --- string instructions --- */

static void gen_string(struct dt_case *c)
{
	static const struct {
		const char *name;
		uint8_t op;
		bool cmp;
	} ops[] = {{"movs", 0xa4, false}, {"cmps", 0xa6, true}, {"stos", 0xaa, false},
		   {"lods", 0xac, false}, {"scas", 0xae, true}};
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(3);
	bool a32 = dt_below(6) == 0;

	begin(&g, c, (1u << RCX) | (1u << RSI) | (1u << RDI), false);
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
			emit(&g, &e, e.op[0] == 0xfc ? "cld" : "std");
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
		snprintf(d, sizeof(d), "%s%s%c%s", rp, ops[which].name, "bwdq"[size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3],
			 a32 ? " (a32)" : "");
		if (!emit(&g, &e, d))
			break;
		if (ops[which].cmp)
			g.undef = 0;
	}
	finish(&g);
}

/* --- SSE2 --- */

enum {
	K_XX,    /* xmm (written) <- xmm/mem */
	K_XI,    /* xmm (written) by an immediate count: ModRM.reg = digit, register only */
	K_ST,    /* xmm/mem (written) <- xmm */
	K_XG,    /* xmm (written) <- gpr/mem (32 or 64 bits) */
	K_GX,    /* gpr (written) <- xmm/mem */
	K_GXS,   /* gpr/mem (written) <- xmm (movd/movq r/m, xmm) */
	K_FCMP,  /* compare xmm with xmm/mem into the flags */
};

enum {
	X_ALIGN = 1,   /* a memory operand must be 16-byte aligned */
	X_IMM = 2,     /* imm8 */
	X_REG = 4,     /* r/m is a register only */
	X_MEM = 8,     /* r/m is memory only */
	X_W = 16,      /* REX.W selects a 64-bit GPR */
	X_RC = 32,     /* the result depends on MXCSR.RC (arithmetic rounding) */
};

struct sform {
	const char *name;
	uint8_t pfx, op;
	uint8_t kind;
	uint8_t msize;
	int8_t digit;
	uint8_t attr;
};

#define PI(n, o) {n, 0x66, o, K_XX, 16, -1, X_ALIGN}
static const struct sform sse_int_forms[] = {
	PI("punpcklbw", 0x60), PI("punpcklwd", 0x61), PI("punpckldq", 0x62), PI("packsswb", 0x63),
	PI("pcmpgtb", 0x64), PI("pcmpgtw", 0x65), PI("pcmpgtd", 0x66), PI("packuswb", 0x67),
	PI("punpckhbw", 0x68), PI("punpckhwd", 0x69), PI("punpckhdq", 0x6a), PI("packssdw", 0x6b),
	PI("punpcklqdq", 0x6c), PI("punpckhqdq", 0x6d), PI("pcmpeqb", 0x74), PI("pcmpeqw", 0x75),
	PI("pcmpeqd", 0x76), PI("psrlw", 0xd1), PI("psrld", 0xd2), PI("psrlq", 0xd3),
	PI("paddq", 0xd4), PI("pmullw", 0xd5), PI("psubusb", 0xd8), PI("psubusw", 0xd9),
	PI("pminub", 0xda), PI("pand", 0xdb), PI("paddusb", 0xdc), PI("paddusw", 0xdd),
	PI("pmaxub", 0xde), PI("pandn", 0xdf), PI("pavgb", 0xe0), PI("psraw", 0xe1),
	PI("psrad", 0xe2), PI("pavgw", 0xe3), PI("pmulhuw", 0xe4), PI("pmulhw", 0xe5),
	PI("psubsb", 0xe8), PI("psubsw", 0xe9), PI("pminsw", 0xea), PI("por", 0xeb),
	PI("paddsb", 0xec), PI("paddsw", 0xed), PI("pmaxsw", 0xee), PI("pxor", 0xef),
	PI("psllw", 0xf1), PI("pslld", 0xf2), PI("psllq", 0xf3), PI("pmuludq", 0xf4),
	PI("pmaddwd", 0xf5), PI("psadbw", 0xf6), PI("psubb", 0xf8), PI("psubw", 0xf9),
	PI("psubd", 0xfa), PI("psubq", 0xfb), PI("paddb", 0xfc), PI("paddw", 0xfd),
	PI("paddd", 0xfe),
	{"pshufd", 0x66, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
	{"pshuflw", 0xf2, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
	{"pshufhw", 0xf3, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
	{"psrlw", 0x66, 0x71, K_XI, 0, 2, X_IMM}, {"psraw", 0x66, 0x71, K_XI, 0, 4, X_IMM},
	{"psllw", 0x66, 0x71, K_XI, 0, 6, X_IMM}, {"psrld", 0x66, 0x72, K_XI, 0, 2, X_IMM},
	{"psrad", 0x66, 0x72, K_XI, 0, 4, X_IMM}, {"pslld", 0x66, 0x72, K_XI, 0, 6, X_IMM},
	{"psrlq", 0x66, 0x73, K_XI, 0, 2, X_IMM}, {"psrldq", 0x66, 0x73, K_XI, 0, 3, X_IMM},
	{"psllq", 0x66, 0x73, K_XI, 0, 6, X_IMM}, {"pslldq", 0x66, 0x73, K_XI, 0, 7, X_IMM},
	{"movdqa", 0x66, 0x6f, K_XX, 16, -1, X_ALIGN}, {"movdqu", 0xf3, 0x6f, K_XX, 16, -1, 0},
	{"movdqa", 0x66, 0x7f, K_ST, 16, -1, X_ALIGN}, {"movdqu", 0xf3, 0x7f, K_ST, 16, -1, 0},
	{"movntdq", 0x66, 0xe7, K_ST, 16, -1, X_ALIGN | X_MEM},
	{"movd/movq", 0x66, 0x6e, K_XG, 4, -1, X_W}, {"movd/movq", 0x66, 0x7e, K_GXS, 4, -1, X_W},
	{"movq", 0xf3, 0x7e, K_XX, 8, -1, 0}, {"movq", 0x66, 0xd6, K_ST, 8, -1, 0},
	{"pmovmskb", 0x66, 0xd7, K_GX, 0, -1, X_REG},
	{"pinsrw", 0x66, 0xc4, K_XG, 2, -1, X_IMM}, {"pextrw", 0x66, 0xc5, K_GX, 0, -1, X_REG | X_IMM},
};

#define FP4(n, o, rc)                                                                         \
	{n "ps", 0x00, o, K_XX, 16, -1, X_ALIGN | (rc)}, {n "pd", 0x66, o, K_XX, 16, -1, X_ALIGN | (rc)}, \
	{n "ss", 0xf3, o, K_XX, 4, -1, (rc)}, {n "sd", 0xf2, o, K_XX, 8, -1, (rc)}
static const struct sform sse_fp_forms[] = {
	FP4("add", 0x58, X_RC), FP4("mul", 0x59, X_RC), FP4("sub", 0x5c, X_RC),
	FP4("min", 0x5d, 0), FP4("div", 0x5e, X_RC), FP4("max", 0x5f, 0), FP4("sqrt", 0x51, X_RC),
	{"cmpps", 0x00, 0xc2, K_XX, 16, -1, X_ALIGN | X_IMM}, {"cmppd", 0x66, 0xc2, K_XX, 16, -1, X_ALIGN | X_IMM},
	{"cmpss", 0xf3, 0xc2, K_XX, 4, -1, X_IMM}, {"cmpsd", 0xf2, 0xc2, K_XX, 8, -1, X_IMM},
	{"andps", 0x00, 0x54, K_XX, 16, -1, X_ALIGN}, {"andpd", 0x66, 0x54, K_XX, 16, -1, X_ALIGN},
	{"andnps", 0x00, 0x55, K_XX, 16, -1, X_ALIGN}, {"andnpd", 0x66, 0x55, K_XX, 16, -1, X_ALIGN},
	{"orps", 0x00, 0x56, K_XX, 16, -1, X_ALIGN}, {"orpd", 0x66, 0x56, K_XX, 16, -1, X_ALIGN},
	{"xorps", 0x00, 0x57, K_XX, 16, -1, X_ALIGN}, {"xorpd", 0x66, 0x57, K_XX, 16, -1, X_ALIGN},
	{"unpcklps", 0x00, 0x14, K_XX, 16, -1, X_ALIGN}, {"unpcklpd", 0x66, 0x14, K_XX, 16, -1, X_ALIGN},
	{"unpckhps", 0x00, 0x15, K_XX, 16, -1, X_ALIGN}, {"unpckhpd", 0x66, 0x15, K_XX, 16, -1, X_ALIGN},
	{"shufps", 0x00, 0xc6, K_XX, 16, -1, X_ALIGN | X_IMM}, {"shufpd", 0x66, 0xc6, K_XX, 16, -1, X_ALIGN | X_IMM},
	{"movaps", 0x00, 0x28, K_XX, 16, -1, X_ALIGN}, {"movapd", 0x66, 0x28, K_XX, 16, -1, X_ALIGN},
	{"movaps", 0x00, 0x29, K_ST, 16, -1, X_ALIGN}, {"movapd", 0x66, 0x29, K_ST, 16, -1, X_ALIGN},
	{"movups", 0x00, 0x10, K_XX, 16, -1, 0}, {"movupd", 0x66, 0x10, K_XX, 16, -1, 0},
	{"movups", 0x00, 0x11, K_ST, 16, -1, 0}, {"movupd", 0x66, 0x11, K_ST, 16, -1, 0},
	{"movss", 0xf3, 0x10, K_XX, 4, -1, 0}, {"movsd", 0xf2, 0x10, K_XX, 8, -1, 0},
	{"movss", 0xf3, 0x11, K_ST, 4, -1, 0}, {"movsd", 0xf2, 0x11, K_ST, 8, -1, 0},
	{"movhlps/movlps", 0x00, 0x12, K_XX, 8, -1, 0}, {"movlps", 0x00, 0x13, K_ST, 8, -1, X_MEM},
	{"movlhps/movhps", 0x00, 0x16, K_XX, 8, -1, 0}, {"movhps", 0x00, 0x17, K_ST, 8, -1, X_MEM},
	{"movlpd", 0x66, 0x12, K_XX, 8, -1, X_MEM}, {"movlpd", 0x66, 0x13, K_ST, 8, -1, X_MEM},
	{"movhpd", 0x66, 0x16, K_XX, 8, -1, X_MEM}, {"movhpd", 0x66, 0x17, K_ST, 8, -1, X_MEM},
	{"movmskps", 0x00, 0x50, K_GX, 0, -1, X_REG}, {"movmskpd", 0x66, 0x50, K_GX, 0, -1, X_REG},
	{"ucomiss", 0x00, 0x2e, K_FCMP, 4, -1, 0}, {"ucomisd", 0x66, 0x2e, K_FCMP, 8, -1, 0},
	{"comiss", 0x00, 0x2f, K_FCMP, 4, -1, 0}, {"comisd", 0x66, 0x2f, K_FCMP, 8, -1, 0},
	{"cvtsi2ss", 0xf3, 0x2a, K_XG, 4, -1, X_W | X_RC}, {"cvtsi2sd", 0xf2, 0x2a, K_XG, 4, -1, X_W | X_RC},
	{"cvttss2si", 0xf3, 0x2c, K_GX, 4, -1, X_W}, {"cvttsd2si", 0xf2, 0x2c, K_GX, 8, -1, X_W},
	{"cvtss2si", 0xf3, 0x2d, K_GX, 4, -1, X_W}, {"cvtsd2si", 0xf2, 0x2d, K_GX, 8, -1, X_W},
	{"cvtps2pd", 0x00, 0x5a, K_XX, 8, -1, 0}, {"cvtpd2ps", 0x66, 0x5a, K_XX, 16, -1, X_ALIGN | X_RC},
	{"cvtss2sd", 0xf3, 0x5a, K_XX, 4, -1, 0}, {"cvtsd2ss", 0xf2, 0x5a, K_XX, 8, -1, X_RC},
	{"cvtdq2ps", 0x00, 0x5b, K_XX, 16, -1, X_ALIGN | X_RC}, {"cvtps2dq", 0x66, 0x5b, K_XX, 16, -1, X_ALIGN},
	{"cvttps2dq", 0xf3, 0x5b, K_XX, 16, -1, X_ALIGN}, {"cvtdq2pd", 0xf3, 0xe6, K_XX, 8, -1, 0},
	{"cvtpd2dq", 0xf2, 0xe6, K_XX, 16, -1, X_ALIGN}, {"cvttpd2dq", 0x66, 0xe6, K_XX, 16, -1, X_ALIGN},
};

/* Emit one SSE instruction of form f. */
static void gen_sform(struct gen *g, const struct sform *f)
{
	struct enc e = {.opreg = NO_REG, .oplen = 2, .op = {0x0f, f->op}, .modrm = true};
	unsigned msize = f->msize;
	bool mem, w = false;
	char d[96], mtxt[64], rmtxt[72];
	int gpr = -1;

	if ((f->attr & X_W) && dt_below(2)) {
		w = true;
		e.w = true;
		if (f->kind == K_XG || f->kind == K_GXS)
			msize = 8;
	}
	e.mand = f->pfx;
	mem = !(f->attr & X_REG) && ((f->attr & X_MEM) || dt_below(5) < 2);
	if (f->kind == K_XI)
		mem = false;
	if (f->kind == K_XI)
		e.reg = (unsigned)f->digit;
	else if (f->kind == K_GX) {
		gpr = pick_reg(g, true, 4, false);
		e.reg = (unsigned)gpr;
	} else
		e.reg = (unsigned)dt_below(16);
	if (mem) {
		e.is_mem = true;
		e.m = gen_mem(g, msize, (f->attr & X_ALIGN) ? 16 : 1, mtxt, sizeof(mtxt));
		snprintf(rmtxt, sizeof(rmtxt), "%s", mtxt);
	} else if (f->kind == K_XG || f->kind == K_GXS) {
		gpr = pick_reg(g, f->kind == K_GXS, 8, false);
		e.rm = (unsigned)gpr;
		snprintf(rmtxt, sizeof(rmtxt), "%s", w ? reg64[gpr] : reg32[gpr]);
	} else {
		e.rm = (unsigned)dt_below(16);
		snprintf(rmtxt, sizeof(rmtxt), "xmm%u", e.rm);
	}
	if (f->attr & X_IMM) {
		e.immlen = 1;
		e.imm = f->op == 0xc2 ? dt_below(8) : dt_rand() & 0xff;
		if (f->kind == K_XI && dt_below(2))
			e.imm = dt_below(f->op == 0x73 ? 70 : 36);
	}
	switch (f->kind) {
	case K_XI:
		snprintf(d, sizeof(d), "%s xmm%u, %u", f->name, e.rm, (unsigned)e.imm);
		break;
	case K_ST:
	case K_GXS:
		snprintf(d, sizeof(d), "%s %s, xmm%u", f->name, rmtxt, e.reg);
		break;
	case K_GX:
		snprintf(d, sizeof(d), "%s %s, %s%s", f->name, w ? reg64[gpr] : reg32[gpr], rmtxt,
			 e.immlen ? ", imm" : "");
		break;
	default:
		snprintf(d, sizeof(d), "%s xmm%u, %s%s", f->name, e.reg, rmtxt, e.immlen ? ", imm" : "");
		break;
	}
	if (!emit(g, &e, d))
		return;
	if (f->kind == K_FCMP)
		g->undef = 0;
	if (f->attr & X_RC)
		g->mxcsr_rc_ok = 0;
}

static void gen_sse(struct dt_case *c, const struct sform *forms, unsigned n, bool fp)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(4);

	begin(&g, c, 0, fp);
	if (!fp)
		c->in.mxcsr |= (uint32_t)dt_below(64); /* sticky flags must survive */
	for (k = 0; k < len; k++)
		gen_sform(&g, &forms[dt_below(n)]);
	if (fp) {
		/* see the exclusions at the top of this file */
		c->mxcsr_ignore = 0x3f;
		if (g.mxcsr_rc_ok)
			c->in.mxcsr |= (uint32_t)dt_below(4) << 13;
	}
	finish(&g);
}

static void gen_sse_int(struct dt_case *c)
{
	gen_sse(c, sse_int_forms, sizeof(sse_int_forms) / sizeof(sse_int_forms[0]), false);
}

static void gen_sse_fp(struct dt_case *c)
{
	gen_sse(c, sse_fp_forms, sizeof(sse_fp_forms) / sizeof(sse_fp_forms[0]), true);
}

/* --- x87 --- */

/*
 * x87 forms with their stack effect: the generator keeps the register stack
 * without underflow or overflow (the soft CPU does not model the stack-fault
 * response, see the exclusions above) and picks st(i) among the valid ones.
 */
struct x87_form {
	const char *name;
	uint8_t b0, b1; /* register forms: the second byte plus i for "+i" forms */
	uint8_t digit;  /* memory forms: ModRM.reg */
	uint8_t size;   /* memory forms: operand size (0: a register form) */
	bool plus_i;
	int8_t min;     /* valid registers needed */
	int8_t delta;   /* change of the stack depth (+1: needs a free register) */
	uint32_t fdef;  /* EFLAGS written (FCOMI and friends) */
	uint32_t fread; /* EFLAGS read (FCMOVcc) */
};

#define XR(n, b0, b1, min, delta) {n, b0, b1, 0, 0, false, min, delta, 0, 0}
#define XI(n, b0, b1, min, delta) {n, b0, b1, 0, 0, true, min, delta, 0, 0}
#define XC(n, b0, b1, delta) {n, b0, b1, 0, 0, true, 1, delta, FL_ARITH, 0}
#define XM(n, esc, digit, size, min, delta) {n, esc, 0, digit, size, false, min, delta, 0, 0}
#define FCM(n, b0, b1) {n, b0, b1, 0, 0, true, 1, 0, 0, FL_CF | FL_ZF | FL_PF}
static const struct x87_form x87_forms[] = {
	XR("fld1", 0xd9, 0xe8, 0, 1), XR("fldz", 0xd9, 0xee, 0, 1), XR("fldpi", 0xd9, 0xeb, 0, 1),
	XR("fldl2e", 0xd9, 0xea, 0, 1), XR("fldl2t", 0xd9, 0xe9, 0, 1),
	XR("fldlg2", 0xd9, 0xec, 0, 1), XR("fldln2", 0xd9, 0xed, 0, 1),
	XI("fld st(i)", 0xd9, 0xc0, 1, 1),
	XI("fadd st0, st(i)", 0xd8, 0xc0, 1, 0), XI("fmul st0, st(i)", 0xd8, 0xc8, 1, 0),
	XI("fcom st(i)", 0xd8, 0xd0, 1, 0), XI("fcomp st(i)", 0xd8, 0xd8, 1, -1),
	XI("fsub st0, st(i)", 0xd8, 0xe0, 1, 0), XI("fsubr st0, st(i)", 0xd8, 0xe8, 1, 0),
	XI("fdiv st0, st(i)", 0xd8, 0xf0, 1, 0), XI("fdivr st0, st(i)", 0xd8, 0xf8, 1, 0),
	XI("fadd st(i), st0", 0xdc, 0xc0, 1, 0), XI("fmul st(i), st0", 0xdc, 0xc8, 1, 0),
	XI("fsubr st(i), st0", 0xdc, 0xe0, 1, 0), XI("fsub st(i), st0", 0xdc, 0xe8, 1, 0),
	XI("fdivr st(i), st0", 0xdc, 0xf0, 1, 0), XI("fdiv st(i), st0", 0xdc, 0xf8, 1, 0),
	XI("faddp st(i), st0", 0xde, 0xc0, 2, -1), XI("fmulp st(i), st0", 0xde, 0xc8, 2, -1),
	XI("fsubp st(i), st0", 0xde, 0xe8, 2, -1), XI("fdivp st(i), st0", 0xde, 0xf8, 2, -1),
	XI("fxch st(i)", 0xd9, 0xc8, 1, 0), XI("fst st(i)", 0xdd, 0xd0, 1, 0),
	XI("fstp st(i)", 0xdd, 0xd8, 1, -1),
	XR("fchs", 0xd9, 0xe0, 1, 0), XR("fabs", 0xd9, 0xe1, 1, 0), XR("ftst", 0xd9, 0xe4, 1, 0),
	XR("fxam", 0xd9, 0xe5, 0, 0), XR("fsqrt", 0xd9, 0xfa, 1, 0),
	XR("frndint", 0xd9, 0xfc, 1, 0), XR("fnclex", 0xdb, 0xe2, 0, 0),
	XR("fnstsw ax", 0xdf, 0xe0, 0, 0),
	XC("fcomi st0, st(i)", 0xdb, 0xf0, 0), XC("fucomi st0, st(i)", 0xdb, 0xe8, 0),
	XC("fcomip st0, st(i)", 0xdf, 0xf0, -1), XC("fucomip st0, st(i)", 0xdf, 0xe8, -1),
	FCM("fcmovb st0, st(i)", 0xda, 0xc0), FCM("fcmove st0, st(i)", 0xda, 0xc8),
	FCM("fcmovnbe st0, st(i)", 0xdb, 0xd0), FCM("fcmovnu st0, st(i)", 0xdb, 0xd8),
	XM("fld m32", 0xd9, 0, 4, 0, 1), XM("fld m64", 0xdd, 0, 8, 0, 1),
	XM("fild m16", 0xdf, 0, 2, 0, 1), XM("fild m32", 0xdb, 0, 4, 0, 1),
	XM("fild m64", 0xdf, 5, 8, 0, 1), XM("fadd m64", 0xdc, 0, 8, 1, 0),
	XM("fmul m32", 0xd8, 1, 4, 1, 0), XM("fsub m64", 0xdc, 4, 8, 1, 0),
	XM("fdivr m32", 0xd8, 7, 4, 1, 0), XM("fcom m64", 0xdc, 2, 8, 1, 0),
	XM("fiadd m32", 0xda, 0, 4, 1, 0), XM("fst m32", 0xd9, 2, 4, 1, 0),
	XM("fst m64", 0xdd, 2, 8, 1, 0), XM("fstp m64", 0xdd, 3, 8, 1, -1),
	XM("fistp m32", 0xdb, 3, 4, 1, -1), XM("fist m16", 0xdf, 2, 2, 1, 0),
	XM("fistp m64", 0xdf, 7, 8, 1, -1), XM("fnstcw m16", 0xd9, 7, 2, 0, 0),
	XM("fnstsw m16", 0xdd, 7, 2, 0, 0), XM("fstp m80", 0xdb, 7, 10, 1, -1),
};

/* FNINIT, x87 arithmetic, loads, stores and compares, then an FXSAVE of the result. */
static void gen_x87(struct dt_case *c)
{
	struct gen g;
	struct enc e = {.opreg = NO_REG, .oplen = 2, .op = {0xdb, 0xe3}};
	unsigned k, len = 1 + (unsigned)dt_below(DT_MAX_INSNS - 2), tries = 0;
	int depth = 0;
	char d[96], mtxt[64];

	begin(&g, c, 0, true);
	emit(&g, &e, "fninit");
	for (k = 0; k < len && tries < 100; tries++) {
		const struct x87_form *f = &x87_forms[dt_below(sizeof(x87_forms) / sizeof(x87_forms[0]))];
		unsigned i = 0;

		if (depth < f->min || depth + f->delta > 8)
			continue;
		k++;
		memset(&e, 0, sizeof(e));
		e.opreg = NO_REG;
		define_flags(&g, f->fread);
		if (!f->size) {
			if (f->plus_i)
				i = (unsigned)dt_below((uint64_t)depth);
			e.oplen = 2;
			e.op[0] = f->b0;
			e.op[1] = (uint8_t)(f->b1 + i);
			snprintf(d, sizeof(d), "%s (i=%u)", f->name, i);
		} else {
			e.oplen = 1;
			e.op[0] = f->b0;
			e.modrm = true;
			e.reg = f->digit;
			e.is_mem = true;
			e.m = gen_mem(&g, f->size, 1, mtxt, sizeof(mtxt));
			snprintf(d, sizeof(d), "%s %s", f->name, mtxt);
		}
		if (!emit(&g, &e, d))
			break;
		depth += f->delta;
		if (f->fdef)
			g.undef = 0;
		if (f->b0 == 0xdf && f->b1 == 0xe0) {
			/* FNSTSW AX: drop the exception flags (see the exclusions) */
			struct enc a = {.opreg = NO_REG, .pfx = {0x66}, .npfx = 1, .oplen = 1,
					.op = {0x25}, .immlen = 2, .imm = 0xfdc0};
			emit(&g, &a, "and ax, 0xfdc0 (x87 exception flags and C1 not compared)");
			g.undef = FL_AF;
		} else if (f->size && f->b0 == 0xdd && f->digit == 7) {
			/* FNSTSW m16: likewise */
			c->ignore[c->nignore].addr = mem_addr(&g, &e.m);
			c->ignore[c->nignore].keep = 0xc0;
			c->ignore[c->nignore++].len = 1;
			c->ignore[c->nignore].addr = mem_addr(&g, &e.m) + 1;
			c->ignore[c->nignore].keep = 0xfd;
			c->ignore[c->nignore++].len = 1;
		}
	}
	/* FXSAVE (or FXSAVE64) the whole state into the data area */
	memset(&e, 0, sizeof(e));
	e.opreg = NO_REG;
	e.oplen = 2;
	e.op[0] = 0x0f;
	e.op[1] = 0xae;
	e.modrm = true;
	e.is_mem = true;
	e.w = dt_below(2);
	e.m = gen_mem(&g, 512, 16, mtxt, sizeof(mtxt));
	snprintf(d, sizeof(d), "fxsave%s %s", e.w ? "64" : "", mtxt);
	if (emit(&g, &e, d)) {
		/* FOP, FIP, FDP (with FCS/FDS) and MXCSR_MASK depend on the model;
		 * FSW's exception flags and MXCSR's are not modelled */
		uint64_t a = mem_addr(&g, &e.m);
		c->ignore[c->nignore].addr = a + 6;
		c->ignore[c->nignore++].len = 18;
		c->ignore[c->nignore].addr = a + 28;
		c->ignore[c->nignore++].len = 4;
		c->ignore[c->nignore].addr = a + 2;
		c->ignore[c->nignore].keep = 0xc0;
		c->ignore[c->nignore++].len = 1;
		c->ignore[c->nignore].addr = a + 3;
		c->ignore[c->nignore].keep = 0xfd;
		c->ignore[c->nignore++].len = 1;
		c->ignore[c->nignore].addr = a + 24;
		c->ignore[c->nignore].keep = 0xc0;
		c->ignore[c->nignore++].len = 1;
		c->mxcsr_ignore = 0x3f;
	}
	finish(&g);
}

const struct dt_class dt_classes[] = {
	{"alu", gen_alu},       {"shift", gen_shift},     {"muldiv", gen_muldiv},
	{"string", gen_string}, {"bitops", gen_bitops},   {"sse-int", gen_sse_int},
	{"sse-fp", gen_sse_fp},  {"x87", gen_x87},
};
const unsigned dt_nclasses = sizeof(dt_classes) / sizeof(dt_classes[0]);
