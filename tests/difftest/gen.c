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
 *    of an inexact result: both are masked out of FNSTSW results and FXSAVE images.
 *    Stack overflow/underflow (the stack-fault response) is not modelled, so
 *    sequences keep the register stack valid. Transcendentals (FSIN, FPTAN, F2XM1,
 *    FYL2X...) and FLD m80 of arbitrary bit patterns are not generated. FXSAVE's
 *    FOP/FIP/FDP/FCS/FDS and MXCSR_MASK are model-specific.
 *  - FS/GS segment overrides and writes of FS/GS: the host's FS/GS bases belong
 *    to its C runtime. Other segment overrides are not combined with non-canonical
 *    addresses (#SS or #GP: AMD decides by the base register, Intel by the segment).
 *  - Which of #GP (misalignment) and #SS/#GP (non-canonical) comes first is not
 *    architectural: non-canonical operands that need alignment are aligned.
 *  - #AC: the generated code never sets RFLAGS.AC (Linux runs with CR0.AM set,
 *    the soft CPU does not implement alignment checking).
 *  - TF (single-step), RDTSC/RDPMC/CPUID (host-specific values), SGDT/SIDT/SMSW/
 *    SLDT/STR (UMIP, emulated by Linux), SYSCALL and INT 0x80 (Linux system calls)
 *    are not generated in the control class.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

const char *const reg64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
			       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
const char *const reg32[16] = {"eax", "ecx", "edx",  "ebx",  "esp",  "ebp",  "esi",  "edi",
			       "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
const char *const reg16[16] = {"ax",  "cx",  "dx",   "bx",   "sp",   "bp",   "si",   "di",
			       "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
const char *const reg8[16] = {"al",  "cl",  "dl",   "bl",   "spl",  "bpl",  "sil",  "dil",
			      "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
const char *const reg8h[4] = {"ah", "ch", "dh", "bh"};

/* --- random values --- */

uint64_t gen_rnd_value(void)
{
	static const uint64_t edge[] = {0,
					1,
					2,
					~0ULL,
					0x7fffffffffffffffULL,
					0x8000000000000000ULL,
					0x80000000,
					0x7fffffff,
					0xffffffff,
					0x100000000ULL,
					0x8000,
					0x7fff,
					0xffff,
					0x80,
					0x7f,
					0xff,
					0xffffffff80000000ULL,
					0xffffffffffff8000ULL,
					0xffffffffffffff80ULL,
					0x10,
					0x3f,
					0x40,
					0x1f,
					0x20};

	switch (dt_below(10)) {
	case 0:
	case 1:
		return edge[dt_below(sizeof(edge) / sizeof(edge[0]))];
	case 2:
		return dt_rand() & 0xff;
	case 3:
		return dt_rand() & 0x3f;
	case 4:
		return (uint64_t)(int64_t)(int32_t)dt_rand();
	case 5:
		return (uint64_t)(int64_t)(int16_t)dt_rand();
	case 6:
		return edge[dt_below(sizeof(edge) / sizeof(edge[0]))] + dt_below(3) - 1;
	default:
		return dt_rand();
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
	case 2:
		return (double)(int64_t)(dt_below(4001)) / 4 - 500;
	case 3:
		return ldexp((double)(dt_rand() >> 11), (int)dt_below(120) - 100) *
		       (dt_below(2) ? -1 : 1);
	default:
		return (double)(int32_t)dt_rand() / (double)(1 + dt_below(1000));
	}
}

static float rnd_float(void)
{
	static const uint32_t special[] = {0,	       0x80000000, 0x7f800000, 0xff800000,
					   0x7fc00000, 0xffc00000, 0x7fa00001, 0x00000001,
					   0x007fffff, 0x7f7fffff, 0x5f000000, 0xdf000000,
					   0x4f000000, 0xcf000000, 0x3fc00000, 0x40200000};
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
void gen_rnd_vec(uint8_t *v, bool fp)
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
			uint64_t q = gen_rnd_value();
			memcpy(v + 8 * i, &q, 8);
		}
		break;
	}
}

/* --- case set-up --- */

bool gen_protected_reg(const struct gen *g, int r)
{
	return g->protect & (1u << r);
}

/* A register that is free for a special purpose (never RAX, RCX, RDX, RSP). */
int gen_pick_special(struct gen *g)
{
	static const int pool[] = {RBX, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15};
	int r;

	do
		r = pool[dt_below(sizeof(pool) / sizeof(pool[0]))];
	while (gen_protected_reg(g, r));
	g->protect |= 1u << r;
	return r;
}

/* Random initial state; pointer registers set up; protect gives extra unwritable GPRs. */
void gen_begin(struct gen *g, struct dt_case *c, uint32_t protect, bool fp)
{
	unsigned i;

	memset(g, 0, sizeof(*g));
	g->c = c;
	g->fp = fp;
	g->protect = (1u << RSP) | protect;
	for (i = 0; i < 16; i++)
		c->in.gpr[i] = gen_rnd_value();
	c->in.gpr[RSP] = STACK_TOP;
	/* usually near the start of the code page; sometimes so near its end that
	 * the code runs into the unmapped page (an instruction fetch fault) */
	c->code_off = dt_below(8) ? (unsigned)dt_below(0x200) : 0x1000 - 1 - (unsigned)dt_below(48);
	c->in.rip = CODE_VA + c->code_off;
	c->in.rflags = 0x202 | (dt_rand() & FL_ARITH) | (dt_below(8) == 0 ? FL_DF : 0);
	c->in.mxcsr = 0x1f80;
	for (i = 0; i < 16; i++)
		gen_rnd_vec(c->in.xmm[i], fp);
	for (i = 0; i < DATA_SIZE; i += 16)
		gen_rnd_vec(c->data + i, fp);
	g->base = gen_pick_special(g);
	c->in.gpr[g->base] = DATA_VA + 0x800 + dt_below(0x800);
	g->index = gen_pick_special(g);
	c->in.gpr[g->index] = dt_below(64);
	g->wild = NO_REG;
	if (dt_below(16) == 0) {
		g->wild = gen_pick_special(g);
		/* bit 62 set, bit 63 clear: non-canonical even after a +-2 KiB offset */
		c->in.gpr[g->wild] = dt_below(2)
					 ? (dt_rand() & 0x7fff7ffffffff000ULL) | (1ULL << 62)
					 : 0x0000800000100000ULL + 16 * dt_below(256);
	}
	/* the bit offset of BT m, r: small, so the access stays near the data */
	g->bitoff = gen_pick_special(g);
	c->in.gpr[g->bitoff] = (uint64_t)((int64_t)dt_below(0x8000) - 0x4000);
	g->undef = 0;
	g->mxcsr_rc_ok = 1;
}

/* A memory operand of size bytes (aligned to align when align, usually). */
struct enc_mem gen_mem(struct gen *g, unsigned size, unsigned align, char *txt, size_t n)
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
	/* segment overrides are ignored in 64-bit mode (not generated with a
	 * non-canonical address: whether ss:[rax] or ds:[rbp] raises #SS or #GP
	 * differs between vendors -- AMD goes by the base register) */
	static const uint8_t segs[] = {0x26, 0x2e, 0x36, 0x3e};
	static const char *const segn[] = {"es:", "cs:", "ss:", "ds:"};
	bool wild = g->wild != NO_REG && dt_below(2);
	unsigned sg = wild ? 4 : (unsigned)dt_below(40);
	size_t l;

	if (sg < 4) {
		m.seg = segs[sg];
		snprintf(txt, n, "%s", segn[sg]);
	} else {
		txt[0] = 0;
	}
	l = strlen(txt);
	txt += l;
	n -= l;
	if (wild) {
		/* aligned when alignment matters: which of #GP (alignment) and #SS/#GP
		 * (non-canonical) wins is not architectural */
		m.base = g->wild;
		m.disp = (int32_t)dt_below(256) & ~(int32_t)(align > 1 ? align - 1 : 0);
		snprintf(txt, n, "[%s%+d]", reg64[m.base], m.disp);
		return m;
	}
	/* the 0x67 prefix: every address here is below 4 GiB, so the same one */
	if (dt_below(12) == 0) {
		m.a32 = true;
		snprintf(txt, n, "a32 ");
		l = strlen(txt);
		txt += l;
		n -= l;
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
		snprintf(txt, n, "[%s+%s*%u%+d]", reg64[m.base], reg64[m.index], 1u << m.scale,
			 m.disp);
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
uint64_t gen_mem_addr(const struct gen *g, const struct enc_mem *m)
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
bool gen_emit(struct gen *g, const struct enc *e, const char *desc)
{
	struct dt_case *c = g->c;
	uint8_t buf[16];
	unsigned len;

	if (c->ninsns >= DT_MAX_INSNS)
		return false;
	len = enc_encode(e, c->in.rip + c->code_len, buf);
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

void gen_finish(struct gen *g)
{
	g->c->undef_before[g->c->ninsns] = g->undef;
}

const char *gen_reg_name(int r, unsigned size, bool legacy8)
{
	switch (size) {
	case 1:
		return legacy8 && r >= 4 && r < 8 ? reg8h[r - 4] : reg8[r];
	case 2:
		return reg16[r];
	case 4:
		return reg32[r];
	default:
		return reg64[r];
	}
}

/* The GPR that a write to register r of this size changes. */
int gen_written_gpr(int r, unsigned size, bool legacy8)
{
	return size == 1 && legacy8 && r >= 4 && r < 8 ? r - 4 : r;
}

/* A register operand: any register to read, an unprotected one to write. */
int gen_pick_reg(struct gen *g, bool write, unsigned size, bool legacy8)
{
	int r;

	for (;;) {
		r = (int)dt_below(legacy8 ? 8 : 16);
		if (!write || !gen_protected_reg(g, gen_written_gpr(r, size, legacy8)))
			return r;
	}
}

unsigned gen_pick_size(unsigned sizes)
{
	unsigned s;

	do
		s = 1u << dt_below(4);
	while (!(sizes & s));
	return s;
}

/* Before an instruction that reads flags some earlier one left undefined: CMP r64, r64. */
void gen_define_flags(struct gen *g, uint32_t reads)
{
	struct enc e = {.w = true, .op = {0x39}, .oplen = 1, .modrm = true, .opreg = NO_REG};
	char d[64];

	if (!(reads & g->undef))
		return;
	e.reg = (unsigned)dt_below(16);
	e.rm = (unsigned)dt_below(16);
	snprintf(d, sizeof(d), "cmp %s, %s", reg64[e.rm], reg64[e.reg]);
	if (gen_emit(g, &e, d))
		g->undef = 0;
}

uint64_t gen_imm_value(unsigned len)
{
	uint64_t v = gen_rnd_value();

	return len == 8 ? v : v & ((1ULL << (8 * len)) - 1);
}

const char *gen_size_word(unsigned size)
{
	switch (size) {
	case 1:
		return "byte";
	case 2:
		return "word";
	case 4:
		return "dword";
	case 8:
		return "qword";
	default:
		return "oword";
	}
}

/* Append raw bytes as one instruction. */
bool gen_emit_bytes(struct gen *g, const uint8_t *b, unsigned n, const char *desc)
{
	struct dt_case *c = g->c;

	if (c->ninsns >= DT_MAX_INSNS || c->code_len + n > DT_CODE_MAX - 16)
		return false;
	c->insn_off[c->ninsns] = c->code_len;
	c->undef_before[c->ninsns] = g->undef;
	snprintf(c->desc[c->ninsns], sizeof(c->desc[0]), "%s", desc);
	memcpy(c->code + c->code_len, b, n);
	c->code_len += n;
	c->ninsns++;
	return true;
}

const struct dt_class dt_classes[] = {
    {"alu", gen_alu},	    {"shift", gen_shift},   {"muldiv", gen_muldiv},
    {"string", gen_string}, {"bitops", gen_bitops}, {"sse-int", gen_sse_int},
    {"sse-fp", gen_sse_fp}, {"x87", gen_x87},	    {"control", gen_control},
};
const unsigned dt_nclasses = sizeof(dt_classes) / sizeof(dt_classes[0]);
