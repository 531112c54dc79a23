/*
 * x87 FPU: the subset Linux, glibc and busybox use (control/status words,
 * loads and stores of integers, reals and packed BCD, the basic arithmetic,
 * compares into EFLAGS or the status word), with FXSAVE/FXRSTOR. Values are
 * kept as host 80-bit long doubles; precision control and unmasked x87
 * exceptions are not modelled (every exception is treated as masked).
 *
 * Interface (internal.h): x86_fpu_exec() runs a D8-DF escape whose ModRM is
 * already decoded; x86_fpu_reset() is FNINIT; x86_fxsave()/x86_fxrstor().
 */
#include "vmm/cpu/x86/internal.h"

#include <math.h>

#define FSW_TOP_SHIFT 11
#define FSW_C0 0x0100
#define FSW_C1 0x0200
#define FSW_C2 0x0400
#define FSW_C3 0x4000

static inline unsigned top(struct x86_cpu *cpu)
{
	return (cpu->fpu.fsw >> FSW_TOP_SHIFT) & 7;
}

static inline void set_top(struct x86_cpu *cpu, unsigned t)
{
	cpu->fpu.fsw = (cpu->fpu.fsw & ~(7u << FSW_TOP_SHIFT)) | ((t & 7) << FSW_TOP_SHIFT);
}

static inline long double *st(struct x86_cpu *cpu, unsigned i)
{
	return &cpu->fpu.st[(top(cpu) + i) & 7];
}

static void set_tag(struct x86_cpu *cpu, unsigned phys, bool empty)
{
	cpu->fpu.ftw &= ~(3u << (2 * phys));
	if (empty)
		cpu->fpu.ftw |= 3u << (2 * phys);
}

static void push(struct x86_cpu *cpu, long double v)
{
	unsigned t = (top(cpu) - 1) & 7;

	set_top(cpu, t);
	cpu->fpu.st[t] = v;
	set_tag(cpu, t, false);
}

static void pop(struct x86_cpu *cpu)
{
	set_tag(cpu, top(cpu), true);
	set_top(cpu, top(cpu) + 1);
}

void x86_fpu_reset(struct x86_cpu *cpu)
{
	cpu->fpu.fcw = 0x37f;
	cpu->fpu.fsw = 0;
	cpu->fpu.ftw = 0xffff;
	cpu->fpu.fop = 0;
	cpu->fpu.fip = cpu->fpu.fdp = 0;
}

/* Round to integer in the mode of FCW.RC. */
static long double round_rc(struct x86_cpu *cpu, long double v)
{
	switch ((cpu->fpu.fcw >> 10) & 3) {
	case 0: return nearbyintl(v);
	case 1: return floorl(v);
	case 2: return ceill(v);
	default: return truncl(v);
	}
}

/* Convert to a signed integer of size bytes; out of range gives the "integer indefinite". */
static uint64_t to_int(struct x86_cpu *cpu, long double v, unsigned size, bool truncate)
{
	long double r = truncate ? truncl(v) : round_rc(cpu, v);
	long double lim = ldexpl(1.0L, size * 8 - 1);

	if (isnan(r) || r >= lim || r < -lim) {
		cpu->fpu.fsw |= 1; /* invalid */
		return 1ULL << (size * 8 - 1);
	}
	return (uint64_t)(int64_t)r;
}

/* Compare a and b into C0/C2/C3 (or ZF/PF/CF for FCOMI). */
static void compare(struct x86_cpu *cpu, long double a, long double b, bool eflags)
{
	unsigned c0 = 0, c2 = 0, c3 = 0;

	if (isnan(a) || isnan(b))
		c0 = c2 = c3 = 1;
	else if (a < b)
		c0 = 1;
	else if (a == b)
		c3 = 1;
	if (eflags) {
		x86_flags_commit(cpu);
		cpu->rflags &= ~(uint64_t)(F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF);
		cpu->rflags |= (c3 ? F_ZF : 0) | (c2 ? F_PF : 0) | (c0 ? F_CF : 0);
	} else {
		cpu->fpu.fsw &= ~(FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3);
		cpu->fpu.fsw |= (c0 ? FSW_C0 : 0) | (c2 ? FSW_C2 : 0) | (c3 ? FSW_C3 : 0);
	}
}

/* The eight basic operations: ADD MUL COM COMP SUB SUBR DIV DIVR. Returns the new dst. */
static long double arith(struct x86_cpu *cpu, unsigned op, long double dst, long double src)
{
	switch (op) {
	case 0: return dst + src;
	case 1: return dst * src;
	case 2:
	case 3: compare(cpu, dst, src, false); return dst;
	case 4: return dst - src;
	case 5: return src - dst;
	case 6: return dst / src;
	default: return src / dst;
	}
}

static long double load_real(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	uint64_t ea = x86_ea(cpu, d), v = mem_read(cpu, d->ea_seg, ea, size == 10 ? 8 : size);

	if (size == 4) {
		float f;
		uint32_t u = v;
		memcpy(&f, &u, 4);
		return f;
	}
	if (size == 8) {
		double f;
		memcpy(&f, &v, 8);
		return f;
	} else {
		uint8_t raw[16] = {0};
		uint16_t hi = mem_read(cpu, d->ea_seg, ea + 8, 2);
		long double f;
		memcpy(raw, &v, 8);
		memcpy(raw + 8, &hi, 2);
		memcpy(&f, raw, sizeof(f) < 16 ? sizeof(f) : 16);
		return f;
	}
}

/*
 * A 32- or 64-bit real as the operand of an arithmetic instruction: unlike FLD,
 * which quiets a signaling NaN, the arithmetic sees it as signaling (that
 * decides which NaN the result is), so an SNaN is widened bit by bit.
 */
static long double load_real_operand(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	uint64_t v = mem_read(cpu, d->ea_seg, x86_ea(cpu, d), size);
	unsigned frac_bits = size == 4 ? 23 : 52;
	uint64_t frac = v & ((1ULL << frac_bits) - 1), exp = (v >> frac_bits) & (size == 4 ? 0xff : 0x7ff);
	uint8_t raw[16] = {0};
	uint64_t mant;
	uint16_t se;
	long double f;

	if (exp != (size == 4 ? 0xff : 0x7ff) || !frac || (frac >> (frac_bits - 1)))
		return load_real(cpu, d, size); /* not an SNaN */
	mant = (1ULL << 63) | (frac << (63 - frac_bits));
	se = (uint16_t)(0x7fff | ((v >> (size * 8 - 1)) << 15));
	memcpy(raw, &mant, 8);
	memcpy(raw + 8, &se, 2);
	memcpy(&f, raw, sizeof(f) < 16 ? sizeof(f) : 16);
	return f;
}

static void store_real(struct x86_cpu *cpu, struct insn *d, long double f, unsigned size)
{
	uint64_t ea = x86_ea(cpu, d);

	if (size == 4) {
		float x = (float)f;
		uint32_t u;
		memcpy(&u, &x, 4);
		mem_write(cpu, d->ea_seg, ea, u, 4);
	} else if (size == 8) {
		double x = (double)f;
		uint64_t u;
		memcpy(&u, &x, 8);
		mem_write(cpu, d->ea_seg, ea, u, 8);
	} else {
		uint8_t raw[16] = {0};
		uint64_t lo;
		uint16_t hi;
		memcpy(raw, &f, 10);
		memcpy(&lo, raw, 8);
		memcpy(&hi, raw + 8, 2);
		/* Check both parts are writable before storing either. */
		x86_probe_write(cpu, d->ea_seg, ea, 10);
		mem_write(cpu, d->ea_seg, ea, lo, 8);
		mem_write(cpu, d->ea_seg, ea + 8, hi, 2);
	}
}

/* FBSTP: 18 BCD digits and a sign byte. */
static void store_bcd(struct x86_cpu *cpu, struct insn *d, long double f)
{
	uint64_t ea = x86_ea(cpu, d), lo = 0;
	long double r = round_rc(cpu, f);
	uint64_t n;
	uint16_t hi;
	unsigned i;

	if (isnan(r) || fabsl(r) >= 1e18L) {
		cpu->fpu.fsw |= 1;
		mem_write(cpu, d->ea_seg, ea, 0xc000000000000000ULL, 8);
		mem_write(cpu, d->ea_seg, ea + 8, 0xffff, 2);
		return;
	}
	n = (uint64_t)fabsl(r);
	for (i = 0; i < 16; i++) {
		lo |= (n % 10) << (4 * i);
		n /= 10;
	}
	hi = (uint16_t)((n % 10) | ((n / 10 % 10) << 4));
	if (signbit(r))
		hi |= 0x8000;
	x86_probe_write(cpu, d->ea_seg, ea, 10);
	mem_write(cpu, d->ea_seg, ea, lo, 8);
	mem_write(cpu, d->ea_seg, ea + 8, hi, 2);
}

static long double load_bcd(struct x86_cpu *cpu, struct insn *d)
{
	uint64_t ea = x86_ea(cpu, d), lo = mem_read(cpu, d->ea_seg, ea, 8);
	uint16_t hi = mem_read(cpu, d->ea_seg, ea + 8, 2);
	long double v = 0;
	int i;

	v = (hi >> 4 & 0xf) * 10 + (hi & 0xf);
	for (i = 15; i >= 0; i--)
		v = v * 10 + ((lo >> (4 * i)) & 0xf);
	return (hi & 0x8000) ? -v : v;
}

static void store_env(struct x86_cpu *cpu, struct insn *d)
{
	uint64_t ea = x86_ea(cpu, d);
	unsigned sz = d->opsize == 2 ? 2 : 4, i;
	uint32_t vals[7] = {cpu->fpu.fcw | 0xffff0000u, cpu->fpu.fsw | 0xffff0000u,
			    cpu->fpu.ftw | 0xffff0000u, (uint32_t)cpu->fpu.fip, 0,
			    (uint32_t)cpu->fpu.fdp, 0};

	for (i = 0; i < 7; i++)
		mem_write(cpu, d->ea_seg, ea + i * sz, vals[i], sz);
}

static void load_env(struct x86_cpu *cpu, struct insn *d)
{
	uint64_t ea = x86_ea(cpu, d);
	unsigned sz = d->opsize == 2 ? 2 : 4;

	cpu->fpu.fcw = mem_read(cpu, d->ea_seg, ea, 2);
	cpu->fpu.fsw = mem_read(cpu, d->ea_seg, ea + sz, 2);
	cpu->fpu.ftw = mem_read(cpu, d->ea_seg, ea + 2 * sz, 2);
}

/* Register-form escapes (mod == 3). */
static void fpu_reg(struct x86_cpu *cpu, struct insn *d)
{
	unsigned esc = d->op & 7, i = d->modrm & 7, op = (d->modrm >> 3) & 7;
	long double t;

	switch (esc) {
	case 0: /* D8: ST(0) op= ST(i) */
		*st(cpu, 0) = arith(cpu, op, *st(cpu, 0), *st(cpu, i));
		if (op == 3)
			pop(cpu);
		return;
	case 1: /* D9 */
		switch (d->modrm) {
		case 0xc0 ... 0xc7: t = *st(cpu, i); push(cpu, t); return;
		case 0xc8 ... 0xcf: t = *st(cpu, 0); *st(cpu, 0) = *st(cpu, i); *st(cpu, i) = t; return;
		case 0xd0: return; /* FNOP */
		case 0xe0: *st(cpu, 0) = -*st(cpu, 0); return;
		case 0xe1: *st(cpu, 0) = fabsl(*st(cpu, 0)); return;
		case 0xe4: compare(cpu, *st(cpu, 0), 0.0L, false); return;
		case 0xe5: { /* FXAM */
			long double v = *st(cpu, 0);
			unsigned c = 0;
			if ((cpu->fpu.ftw >> (2 * ((top(cpu)) & 7)) & 3) == 3)
				c = FSW_C3 | FSW_C0;
			else if (isnan(v))
				c = FSW_C0;
			else if (isinf(v))
				c = FSW_C2 | FSW_C0;
			else if (v == 0)
				c = FSW_C3;
			else
				c = FSW_C2;
			if (signbit(v))
				c |= FSW_C1;
			cpu->fpu.fsw = (cpu->fpu.fsw & ~(FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)) | c;
			return;
		}
		case 0xe8: push(cpu, 1.0L); return;
		case 0xe9: push(cpu, 3.321928094887362347870319429489390175864831393L); return;
		case 0xea: push(cpu, 1.442695040888963407359924681001892137426645954L); return;
		case 0xeb: push(cpu, 3.141592653589793238462643383279502884197169399L); return;
		case 0xec: push(cpu, 0.301029995663981195213738894724493026768189881L); return;
		case 0xed: push(cpu, 0.693147180559945309417232121458176568075500134L); return;
		case 0xee: push(cpu, 0.0L); return;
		case 0xf6: set_top(cpu, top(cpu) - 1); return; /* FDECSTP */
		case 0xf7: set_top(cpu, top(cpu) + 1); return; /* FINCSTP */
		case 0xfa: *st(cpu, 0) = sqrtl(*st(cpu, 0)); return;
		case 0xfc: *st(cpu, 0) = round_rc(cpu, *st(cpu, 0)); return;
		case 0xfd: { /* FSCALE: clamp the exponent (a C cast of NaN or a huge value is undefined) */
			long double e = truncl(*st(cpu, 1));
			int n = isnan(e) ? 0 : e > 100000 ? 100000 : e < -100000 ? -100000 : (int)e;
			*st(cpu, 0) = isnan(e) ? e : ldexpl(*st(cpu, 0), n);
			return;
		}
		case 0xfe: *st(cpu, 0) = sinl(*st(cpu, 0)); return;
		case 0xff: *st(cpu, 0) = cosl(*st(cpu, 0)); return;
		case 0xf8: case 0xf5: { /* FPREM, FPREM1 */
			long double a = *st(cpu, 0), b = *st(cpu, 1);
			*st(cpu, 0) = d->modrm == 0xf8 ? fmodl(a, b) : remainderl(a, b);
			cpu->fpu.fsw &= ~FSW_C2;
			return;
		}
		}
		break;
	case 2: /* DA: FCMOVcc, FUCOMPP */
		if (d->modrm == 0xe9) {
			compare(cpu, *st(cpu, 0), *st(cpu, 1), false);
			pop(cpu);
			pop(cpu);
			return;
		}
		if (op < 4) {
			static const uint8_t cc[4] = {2, 4, 6, 10}; /* B, E, BE, P */
			if (x86_cond(cpu, cc[op]))
				*st(cpu, 0) = *st(cpu, i);
			return;
		}
		break;
	case 3: /* DB */
		switch (d->modrm) {
		case 0xe2: cpu->fpu.fsw &= 0x7f00; return; /* FNCLEX */
		case 0xe3: x86_fpu_reset(cpu); return;      /* FNINIT */
		case 0xe0: case 0xe1: case 0xe4: return;    /* FENI/FDISI/FSETPM: no-ops */
		}
		if (op < 4) {
			static const uint8_t cc[4] = {3, 5, 7, 11}; /* NB, NE, NBE, NP */
			if (x86_cond(cpu, cc[op]))
				*st(cpu, 0) = *st(cpu, i);
			return;
		}
		if (op == 5 || op == 6) { /* FUCOMI, FCOMI */
			compare(cpu, *st(cpu, 0), *st(cpu, i), true);
			return;
		}
		break;
	case 4: /* DC: ST(i) op= ST(0) (SUB/DIV reversed) */
		if (op == 2 || op == 3) {
			compare(cpu, *st(cpu, 0), *st(cpu, i), false);
			if (op == 3)
				pop(cpu);
			return;
		}
		*st(cpu, i) = arith(cpu, op >= 4 ? op ^ 1 : op, *st(cpu, i), *st(cpu, 0));
		return;
	case 5: /* DD */
		switch (op) {
		case 0: set_tag(cpu, (top(cpu) + i) & 7, true); return; /* FFREE */
		case 2: *st(cpu, i) = *st(cpu, 0); return;
		case 3: *st(cpu, i) = *st(cpu, 0); pop(cpu); return;
		case 4: compare(cpu, *st(cpu, 0), *st(cpu, i), false); return;
		case 5: compare(cpu, *st(cpu, 0), *st(cpu, i), false); pop(cpu); return;
		}
		break;
	case 6: /* DE: pop forms */
		if (d->modrm == 0xd9) {
			compare(cpu, *st(cpu, 0), *st(cpu, 1), false);
			pop(cpu);
			pop(cpu);
			return;
		}
		if (op != 2 && op != 3) {
			*st(cpu, i) = arith(cpu, op >= 4 ? op ^ 1 : op, *st(cpu, i), *st(cpu, 0));
			pop(cpu);
			return;
		}
		break;
	case 7: /* DF */
		if (d->modrm == 0xe0) { /* FNSTSW AX */
			cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffffULL) | cpu->fpu.fsw;
			return;
		}
		if (op == 5 || op == 6) { /* FUCOMIP, FCOMIP */
			compare(cpu, *st(cpu, 0), *st(cpu, i), true);
			pop(cpu);
			return;
		}
		break;
	}
	x86_ud(cpu);
}

void x86_fpu_exec(struct x86_cpu *cpu, struct insn *d)
{
	unsigned esc = d->op & 7, op = d->reg & 7;
	long double v;

	if (cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
		x86_fault(cpu, EXC_NM, 0);
	if (d->mod == 3) {
		fpu_reg(cpu, d);
		return;
	}
	switch (esc) {
	case 0: /* D8: m32real */
	case 2: /* DA: m32int */
	case 4: /* DC: m64real */
	case 6: /* DE: m16int */
		if (esc == 0)
			v = load_real_operand(cpu, d, 4);
		else if (esc == 4)
			v = load_real_operand(cpu, d, 8);
		else if (esc == 2)
			v = (int32_t)mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 4);
		else
			v = (int16_t)mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 2);
		*st(cpu, 0) = arith(cpu, op, *st(cpu, 0), v);
		if (op == 3)
			pop(cpu);
		return;
	case 1: /* D9 */
		switch (op) {
		case 0: push(cpu, load_real(cpu, d, 4)); return;
		case 2: store_real(cpu, d, *st(cpu, 0), 4); return;
		case 3: store_real(cpu, d, *st(cpu, 0), 4); pop(cpu); return;
		case 4: load_env(cpu, d); return;
		case 5: cpu->fpu.fcw = mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 2); return;
		case 6: store_env(cpu, d); return;
		case 7: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), cpu->fpu.fcw, 2); return;
		}
		break;
	case 3: /* DB */
		switch (op) {
		case 0: push(cpu, (int32_t)mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 4)); return;
		case 1: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 4, true), 4); pop(cpu); return;
		case 2: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 4, false), 4); return;
		case 3: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 4, false), 4); pop(cpu); return;
		case 5: push(cpu, load_real(cpu, d, 10)); return;
		case 7: store_real(cpu, d, *st(cpu, 0), 10); pop(cpu); return;
		}
		break;
	case 5: /* DD */
		switch (op) {
		case 0: push(cpu, load_real(cpu, d, 8)); return;
		case 1: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 8, true), 8); pop(cpu); return;
		case 2: store_real(cpu, d, *st(cpu, 0), 8); return;
		case 3: store_real(cpu, d, *st(cpu, 0), 8); pop(cpu); return;
		case 7: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), cpu->fpu.fsw, 2); return;
		}
		break;
	case 7: /* DF */
		switch (op) {
		case 0: push(cpu, (int16_t)mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 2)); return;
		case 1: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 2, true), 2); pop(cpu); return;
		case 2: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 2, false), 2); return;
		case 3: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 2, false), 2); pop(cpu); return;
		case 4: push(cpu, load_bcd(cpu, d)); return;
		case 5: push(cpu, (int64_t)mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 8)); return;
		case 6: store_bcd(cpu, d, *st(cpu, 0)); pop(cpu); return;
		case 7: mem_write(cpu, d->ea_seg, x86_ea(cpu, d), to_int(cpu, *st(cpu, 0), 8, false), 8); pop(cpu); return;
		}
		break;
	}
	x86_ud(cpu);
}

/* FXSAVE: the 512-byte image (64-bit layout with REX.W, else the 32-bit one). */
void x86_fxsave(struct x86_cpu *cpu, struct insn *d, uint64_t ea)
{
	int seg = d->ea_seg;
	unsigned i, n = cpu->code64 ? 16 : 8;
	uint8_t abridged = 0;

	if (cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
		x86_fault(cpu, EXC_NM, 0);
	if (seg_lin(cpu, seg, ea) & 15)
		x86_gp0(cpu);
	/* Probe the whole area for writing first (no partial image); like the
	 * hardware, a fault on the last byte's page reports the last byte. */
	x86_probe_write(cpu, seg, ea + 511, 1);
	x86_probe_write(cpu, seg, ea, 512);
	for (i = 0; i < 8; i++)
		if (((cpu->fpu.ftw >> (2 * i)) & 3) != 3)
			abridged |= 1u << i;
	mem_write(cpu, seg, ea, cpu->fpu.fcw, 2);
	mem_write(cpu, seg, ea + 2, cpu->fpu.fsw, 2);
	mem_write(cpu, seg, ea + 4, abridged, 2);
	mem_write(cpu, seg, ea + 6, cpu->fpu.fop, 2);
	mem_write(cpu, seg, ea + 8, cpu->fpu.fip, 8);
	mem_write(cpu, seg, ea + 16, cpu->fpu.fdp, 8);
	mem_write(cpu, seg, ea + 24, cpu->fpu.mxcsr, 4);
	mem_write(cpu, seg, ea + 28, 0xffff, 4);
	for (i = 0; i < 8; i++) {
		uint8_t raw[16] = {0};
		uint64_t lo, hi;
		memcpy(raw, st(cpu, i), 10);
		memcpy(&lo, raw, 8);
		memcpy(&hi, raw + 8, 8);
		mem_write(cpu, seg, ea + 32 + 16 * i, lo, 8);
		mem_write(cpu, seg, ea + 40 + 16 * i, hi & 0xffff, 8);
	}
	for (i = 0; i < n; i++) {
		mem_write(cpu, seg, ea + 160 + 16 * i, cpu->fpu.xmm[i].q[0], 8);
		mem_write(cpu, seg, ea + 168 + 16 * i, cpu->fpu.xmm[i].q[1], 8);
	}
}

void x86_fxrstor(struct x86_cpu *cpu, struct insn *d, uint64_t ea)
{
	int seg = d->ea_seg;
	unsigned i, n = cpu->code64 ? 16 : 8;
	uint32_t mxcsr;
	uint8_t abridged;
	long double regs[8];

	if (cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
		x86_fault(cpu, EXC_NM, 0);
	if (seg_lin(cpu, seg, ea) & 15)
		x86_gp0(cpu);
	(void)mem_read(cpu, seg, ea + 511, 1);
	mxcsr = mem_read(cpu, seg, ea + 24, 4);
	if (mxcsr & ~0xffffu)
		x86_gp0(cpu);
	for (i = 0; i < 8; i++) {
		uint8_t raw[16] = {0};
		uint64_t lo = mem_read(cpu, seg, ea + 32 + 16 * i, 8);
		uint16_t hi = mem_read(cpu, seg, ea + 40 + 16 * i, 2);
		memcpy(raw, &lo, 8);
		memcpy(raw + 8, &hi, 2);
		memcpy(&regs[i], raw, sizeof(long double) < 16 ? sizeof(long double) : 16);
	}
	for (i = 0; i < n; i++) {
		cpu->fpu.xmm[i].q[0] = mem_read(cpu, seg, ea + 160 + 16 * i, 8);
		cpu->fpu.xmm[i].q[1] = mem_read(cpu, seg, ea + 168 + 16 * i, 8);
	}
	cpu->fpu.fcw = mem_read(cpu, seg, ea, 2);
	cpu->fpu.fsw = mem_read(cpu, seg, ea + 2, 2);
	abridged = mem_read(cpu, seg, ea + 4, 1);
	cpu->fpu.fop = mem_read(cpu, seg, ea + 6, 2);
	cpu->fpu.fip = mem_read(cpu, seg, ea + 8, 8);
	cpu->fpu.fdp = mem_read(cpu, seg, ea + 16, 8);
	cpu->fpu.mxcsr = mxcsr;
	cpu->fpu.ftw = 0;
	for (i = 0; i < 8; i++) {
		if (!(abridged & (1u << i)))
			cpu->fpu.ftw |= 3u << (2 * i);
		*st(cpu, i) = regs[i];
	}
}
