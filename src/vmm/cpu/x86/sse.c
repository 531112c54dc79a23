/*
 * SSE and SSE2 (and the MMX forms of the integer instructions): moves,
 * logic, packed integer arithmetic, shifts, shuffles, unpacks, packed and
 * scalar single/double arithmetic, compares, conversions. Floating point
 * uses the host's IEEE arithmetic in round-to-nearest; MXCSR rounding
 * control is honoured by the conversions to integer; exception flags are
 * not accumulated and SIMD exceptions are never unmasked.
 *
 * Interface (internal.h): x86_sse_exec(cpu, d) runs a 0F opcode (d->op)
 * whose prefixes are decoded; it returns false if the opcode is not one of
 * its own, and raises #UD/#NM/#GP itself.
 */
#include "vmm/cpu/x86/internal.h"

#include <math.h>

typedef union {
	uint8_t b[16];
	int8_t sb[16];
	uint16_t w[8];
	int16_t sw[8];
	uint32_t d[4];
	int32_t sd[4];
	uint64_t q[2];
	int64_t sq[2];
	float f[4];
	double g[2];
} vec;

/* MMX register i lives in the mantissa of x87 physical register i. */
static void mmx_get(struct x86_cpu *cpu, unsigned i, vec *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(&v->q[0], &cpu->fpu.st[i & 7], 8);
}

static void mmx_set(struct x86_cpu *cpu, unsigned i, const vec *v)
{
	uint8_t raw[16] = {0};

	memcpy(raw, &v->q[0], 8);
	raw[8] = raw[9] = 0xff;
	memcpy(&cpu->fpu.st[i & 7], raw, 10);
	cpu->fpu.ftw = 0;
	cpu->fpu.fsw &= ~(7u << 11);
}

static void xmm_get(struct x86_cpu *cpu, unsigned i, vec *v)
{
	memcpy(v, &cpu->fpu.xmm[i], 16);
}

static void xmm_set(struct x86_cpu *cpu, unsigned i, const vec *v)
{
	memcpy(&cpu->fpu.xmm[i], v, 16);
}

static void mem_get(struct x86_cpu *cpu, struct insn *d, vec *v, unsigned size, bool align)
{
	uint64_t ea = x86_ea(cpu, d);

	memset(v, 0, sizeof(*v));
	if (align && (seg_lin(cpu, d->ea_seg, ea) & 15))
		x86_gp0(cpu);
	if (size >= 8) {
		v->q[0] = mem_read(cpu, d->ea_seg, ea, 8);
		if (size == 16)
			v->q[1] = mem_read(cpu, d->ea_seg, ea + 8, 8);
	} else {
		v->d[0] = mem_read(cpu, d->ea_seg, ea, size);
	}
}

static void mem_put(struct x86_cpu *cpu, struct insn *d, const vec *v, unsigned size, bool align)
{
	uint64_t ea = x86_ea(cpu, d);

	if (align && (seg_lin(cpu, d->ea_seg, ea) & 15))
		x86_gp0(cpu);
	if (size == 16) {
		/* Probe both pages for writing first, so a fault leaves memory untouched
		 * and reports a write at the first byte that faults. */
		x86_probe_write(cpu, d->ea_seg, ea, 16);
		mem_write(cpu, d->ea_seg, ea, v->q[0], 8);
		mem_write(cpu, d->ea_seg, ea + 8, v->q[1], 8);
	} else if (size == 8) {
		mem_write(cpu, d->ea_seg, ea, v->q[0], 8);
	} else {
		mem_write(cpu, d->ea_seg, ea, v->d[0], size);
	}
}

/* Source operand: register or memory of size bytes (16-byte memory must be aligned if align). */
static void src_get(struct x86_cpu *cpu, struct insn *d, vec *v, bool xmm, unsigned size, bool align)
{
	if (d->mod == 3) {
		if (xmm)
			xmm_get(cpu, d->rm, v);
		else
			mmx_get(cpu, d->rm, v);
	} else {
		mem_get(cpu, d, v, size, align && size == 16);
	}
}

static inline void dst_get(struct x86_cpu *cpu, struct insn *d, vec *v, bool xmm)
{
	if (xmm)
		xmm_get(cpu, d->reg, v);
	else
		mmx_get(cpu, d->reg, v);
}

static inline void dst_set(struct x86_cpu *cpu, struct insn *d, const vec *v, bool xmm)
{
	if (xmm)
		xmm_set(cpu, d->reg, v);
	else
		mmx_set(cpu, d->reg, v);
}

static inline int32_t sat16(int32_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
static inline int32_t sat8(int32_t v) { return v > 127 ? 127 : v < -128 ? -128 : v; }
static inline int32_t satu8(int32_t v) { return v > 255 ? 255 : v < 0 ? 0 : v; }
static inline int32_t satu16(int32_t v) { return v > 65535 ? 65535 : v < 0 ? 0 : v; }

/* Packed integer binary operations (opcodes in the 0F 60-FF integer area). */
static bool int_binop(unsigned op, vec *a, const vec *b, unsigned n)
{
	unsigned i;
	vec r = *a;

	switch (op) {
	case 0x60: case 0x61: case 0x62: case 0x6c: /* unpack low */
	case 0x68: case 0x69: case 0x6a: case 0x6d: { /* unpack high */
		unsigned es = op == 0x60 || op == 0x68 ? 1 : op == 0x61 || op == 0x69 ? 2 :
			      op == 0x62 || op == 0x6a ? 4 : 8;
		unsigned half = n / 2, cnt = half / es, base = (op >= 0x68 && op != 0x6c) ? half : 0;
		for (i = 0; i < cnt; i++) {
			memcpy(&r.b[2 * i * es], &a->b[base + i * es], es);
			memcpy(&r.b[(2 * i + 1) * es], &b->b[base + i * es], es);
		}
		break;
	}
	case 0x63: /* PACKSSWB */
		for (i = 0; i < n / 2; i++) {
			r.sb[i] = sat8(a->sw[i]);
			r.sb[i + n / 2] = sat8(b->sw[i]);
		}
		break;
	case 0x67: /* PACKUSWB */
		for (i = 0; i < n / 2; i++) {
			r.b[i] = satu8(a->sw[i]);
			r.b[i + n / 2] = satu8(b->sw[i]);
		}
		break;
	case 0x6b: /* PACKSSDW */
		for (i = 0; i < n / 4; i++) {
			r.sw[i] = sat16(a->sd[i]);
			r.sw[i + n / 4] = sat16(b->sd[i]);
		}
		break;
	case 0x64: for (i = 0; i < n; i++) r.b[i] = a->sb[i] > b->sb[i] ? 0xff : 0; break;
	case 0x65: for (i = 0; i < n / 2; i++) r.w[i] = a->sw[i] > b->sw[i] ? 0xffff : 0; break;
	case 0x66: for (i = 0; i < n / 4; i++) r.d[i] = a->sd[i] > b->sd[i] ? ~0u : 0; break;
	case 0x74: for (i = 0; i < n; i++) r.b[i] = a->b[i] == b->b[i] ? 0xff : 0; break;
	case 0x75: for (i = 0; i < n / 2; i++) r.w[i] = a->w[i] == b->w[i] ? 0xffff : 0; break;
	case 0x76: for (i = 0; i < n / 4; i++) r.d[i] = a->d[i] == b->d[i] ? ~0u : 0; break;
	case 0xd4: for (i = 0; i < n / 8; i++) r.q[i] = a->q[i] + b->q[i]; break;
	case 0xd5: for (i = 0; i < n / 2; i++) r.w[i] = (uint16_t)(a->sw[i] * b->sw[i]); break;
	case 0xd8: for (i = 0; i < n; i++) r.b[i] = satu8(a->b[i] - b->b[i]); break;
	case 0xd9: for (i = 0; i < n / 2; i++) r.w[i] = satu16(a->w[i] - b->w[i]); break;
	case 0xda: for (i = 0; i < n; i++) r.b[i] = a->b[i] < b->b[i] ? a->b[i] : b->b[i]; break;
	case 0xdb: for (i = 0; i < 2; i++) r.q[i] = a->q[i] & b->q[i]; break;
	case 0xdc: for (i = 0; i < n; i++) r.b[i] = satu8(a->b[i] + b->b[i]); break;
	case 0xdd: for (i = 0; i < n / 2; i++) r.w[i] = satu16(a->w[i] + b->w[i]); break;
	case 0xde: for (i = 0; i < n; i++) r.b[i] = a->b[i] > b->b[i] ? a->b[i] : b->b[i]; break;
	case 0xdf: for (i = 0; i < 2; i++) r.q[i] = ~a->q[i] & b->q[i]; break;
	case 0xe0: for (i = 0; i < n; i++) r.b[i] = (a->b[i] + b->b[i] + 1) >> 1; break;
	case 0xe3: for (i = 0; i < n / 2; i++) r.w[i] = (a->w[i] + b->w[i] + 1) >> 1; break;
	case 0xe4: for (i = 0; i < n / 2; i++) r.w[i] = (uint16_t)(((uint32_t)a->w[i] * b->w[i]) >> 16); break;
	case 0xe5: for (i = 0; i < n / 2; i++) r.w[i] = (uint16_t)(((int32_t)a->sw[i] * b->sw[i]) >> 16); break;
	case 0xe8: for (i = 0; i < n; i++) r.sb[i] = sat8(a->sb[i] - b->sb[i]); break;
	case 0xe9: for (i = 0; i < n / 2; i++) r.sw[i] = sat16(a->sw[i] - b->sw[i]); break;
	case 0xea: for (i = 0; i < n / 2; i++) r.sw[i] = a->sw[i] < b->sw[i] ? a->sw[i] : b->sw[i]; break;
	case 0xeb: for (i = 0; i < 2; i++) r.q[i] = a->q[i] | b->q[i]; break;
	case 0xec: for (i = 0; i < n; i++) r.sb[i] = sat8(a->sb[i] + b->sb[i]); break;
	case 0xed: for (i = 0; i < n / 2; i++) r.sw[i] = sat16(a->sw[i] + b->sw[i]); break;
	case 0xee: for (i = 0; i < n / 2; i++) r.sw[i] = a->sw[i] > b->sw[i] ? a->sw[i] : b->sw[i]; break;
	case 0xef: for (i = 0; i < 2; i++) r.q[i] = a->q[i] ^ b->q[i]; break;
	case 0xf4: for (i = 0; i < n / 8; i++) r.q[i] = (uint64_t)a->d[2 * i] * b->d[2 * i]; break;
	case 0xf5:
		for (i = 0; i < n / 4; i++)
			r.sd[i] = (int32_t)((uint32_t)(a->sw[2 * i] * b->sw[2 * i]) +
					    (uint32_t)(a->sw[2 * i + 1] * b->sw[2 * i + 1]));
		break;
	case 0xf6: /* PSADBW */
		for (i = 0; i < n / 8; i++) {
			unsigned j, s = 0;
			for (j = 0; j < 8; j++)
				s += a->b[8 * i + j] > b->b[8 * i + j] ? a->b[8 * i + j] - b->b[8 * i + j]
								       : b->b[8 * i + j] - a->b[8 * i + j];
			r.q[i] = s;
		}
		break;
	case 0xf8: for (i = 0; i < n; i++) r.b[i] = a->b[i] - b->b[i]; break;
	case 0xf9: for (i = 0; i < n / 2; i++) r.w[i] = a->w[i] - b->w[i]; break;
	case 0xfa: for (i = 0; i < n / 4; i++) r.d[i] = a->d[i] - b->d[i]; break;
	case 0xfb: for (i = 0; i < n / 8; i++) r.q[i] = a->q[i] - b->q[i]; break;
	case 0xfc: for (i = 0; i < n; i++) r.b[i] = a->b[i] + b->b[i]; break;
	case 0xfd: for (i = 0; i < n / 2; i++) r.w[i] = a->w[i] + b->w[i]; break;
	case 0xfe: for (i = 0; i < n / 4; i++) r.d[i] = a->d[i] + b->d[i]; break;
	default:
		return false;
	}
	if (n == 8)
		r.q[1] = 0;
	*a = r;
	return true;
}

/* Element shifts: kind 0 logical right, 1 arithmetic right, 2 left; es = element size. */
static void shift(vec *v, unsigned kind, unsigned es, uint64_t count, unsigned n)
{
	unsigned i, bits = es * 8;

	for (i = 0; i < n / es; i++) {
		switch (es) {
		case 2:
			if (kind == 1)
				v->sw[i] = v->sw[i] >> (count > 15 ? 15 : count);
			else
				v->w[i] = count > 15 ? 0 : kind ? v->w[i] << count : v->w[i] >> count;
			break;
		case 4:
			if (kind == 1)
				v->sd[i] = v->sd[i] >> (count > 31 ? 31 : count);
			else
				v->d[i] = count > 31 ? 0 : kind ? v->d[i] << count : v->d[i] >> count;
			break;
		default:
			v->q[i] = count > 63 ? 0 : kind ? v->q[i] << count : v->q[i] >> count;
			break;
		}
	}
	(void)bits;
}

/* Whole-register byte shifts PSRLDQ/PSLLDQ. */
static void byte_shift(vec *v, bool left, unsigned count)
{
	vec r;
	unsigned i;

	memset(&r, 0, sizeof(r));
	if (count > 16)
		count = 16;
	for (i = 0; i < 16; i++) {
		if (left && i >= count)
			r.b[i] = v->b[i - count];
		else if (!left && i + count < 16)
			r.b[i] = v->b[i + count];
	}
	*v = r;
}

/* Round a double to an integer according to MXCSR.RC (or truncate). */
static double sse_round(struct x86_cpu *cpu, double v, bool truncate)
{
	if (truncate)
		return trunc(v);
	switch ((cpu->fpu.mxcsr >> 13) & 3) {
	case 0: return nearbyint(v);
	case 1: return floor(v);
	case 2: return ceil(v);
	default: return trunc(v);
	}
}

static uint64_t cvt_int(struct x86_cpu *cpu, double v, unsigned size, bool truncate)
{
	double r = sse_round(cpu, v, truncate), lim = ldexp(1.0, size * 8 - 1);

	if (isnan(r) || r >= lim || r < -lim)
		return 1ULL << (size * 8 - 1);
	return size == 8 ? (uint64_t)(int64_t)r : (uint32_t)(int32_t)r;
}

/* CMPPS/CMPSS predicate. */
static bool fcmp(double a, double b, unsigned pred)
{
	bool un = isnan(a) || isnan(b);

	switch (pred & 7) {
	case 0: return !un && a == b;
	case 1: return !un && a < b;
	case 2: return !un && a <= b;
	case 3: return un;
	case 4: return un || a != b;
	case 5: return un || !(a < b);
	case 6: return un || !(a <= b);
	default: return !un;
	}
}

/* Floating-point arithmetic 0F 51-5F (except the conversions). */
static double farith(unsigned op, double a, double b)
{
	switch (op) {
	case 0x51: return sqrt(b);
	case 0x58: return a + b;
	case 0x59: return a * b;
	case 0x5c: return a - b;
	case 0x5d: return (a < b) ? a : b; /* NaN or equal: the source */
	case 0x5e: return a / b;
	default: return (a > b) ? a : b;
	}
}

static float farith_s(unsigned op, float a, float b)
{
	switch (op) {
	case 0x51: return sqrtf(b);
	case 0x52: return 1.0f / sqrtf(b);
	case 0x53: return 1.0f / b;
	case 0x58: return a + b;
	case 0x59: return a * b;
	case 0x5c: return a - b;
	case 0x5d: return (a < b) ? a : b;
	case 0x5e: return a / b;
	default: return (a > b) ? a : b;
	}
}

/* COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF. */
static void set_compare_flags(struct x86_cpu *cpu, double a, double b)
{
	uint64_t f = 0;

	if (isnan(a) || isnan(b))
		f = F_ZF | F_PF | F_CF;
	else if (a < b)
		f = F_CF;
	else if (a == b)
		f = F_ZF;
	x86_flags_commit(cpu);
	cpu->rflags = (cpu->rflags & ~(uint64_t)F_ARITH) | f;
}

bool x86_sse_exec(struct x86_cpu *cpu, struct insn *d)
{
	unsigned op = d->op & 0xff, pfx, i;
	bool xmm;
	vec a, b;
	uint64_t v;

	/* Mandatory prefix: 0 none, 1 = 66, 2 = F3, 3 = F2. */
	pfx = d->rep == 0xf3 ? 2 : d->rep == 0xf2 ? 3 : d->opsize_prefix ? 1 : 0;
	if (!((op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) || (op >= 0x50 && op <= 0x7f) ||
	      (op >= 0xc2 && op <= 0xc6) || op >= 0xd0))
		return false;
	if (op == 0x77 || op == 0x78 || op == 0x79 || op == 0x7a || op == 0x7b || op == 0x7c ||
	    op == 0x7d || op == 0xd0 || op == 0xf0)
		x86_ud(cpu); /* EMMS handled elsewhere; SSE3/VMX forms not supported */
	if ((cpu->cr0 & X86_CR0_EM))
		x86_ud(cpu);
	/* MMX forms: 0F 60-7F and D0-FF without a 66 prefix (F3/F2 forms are SSE). */
	xmm = !((op >= 0x60 && op <= 0x7f) || op >= 0xd0 || op == 0xc4 || op == 0xc5) || pfx == 1 ||
	      ((op == 0x6f || op == 0x7f || op == 0x7e || op == 0x70 || op == 0xd6 || op == 0xe6) && pfx);
	if (xmm && !(cpu->cr4 & X86_CR4_OSFXSR))
		x86_ud(cpu);
	if (cpu->cr0 & X86_CR0_TS)
		x86_fault(cpu, EXC_NM, 0);
	x86_decode_modrm(cpu, d);
	if (!xmm) {
		/* MMX registers are numbered 0-7 regardless of REX. */
		d->reg &= 7;
		if (d->mod == 3)
			d->rm &= 7;
	}

	switch (op) {
	case 0x10: /* MOVUPS/MOVUPD/MOVSS/MOVSD load */
		if (pfx >= 2) {
			unsigned sz = pfx == 2 ? 4 : 8;
			if (d->mod == 3) {
				xmm_get(cpu, d->rm, &b);
				xmm_get(cpu, d->reg, &a);
				memcpy(&a, &b, sz);
			} else {
				mem_get(cpu, d, &a, sz, false);
			}
			xmm_set(cpu, d->reg, &a);
		} else {
			src_get(cpu, d, &a, true, 16, false);
			xmm_set(cpu, d->reg, &a);
		}
		return true;
	case 0x11: /* store forms */
		xmm_get(cpu, d->reg, &a);
		if (pfx >= 2) {
			unsigned sz = pfx == 2 ? 4 : 8;
			if (d->mod == 3) {
				xmm_get(cpu, d->rm, &b);
				memcpy(&b, &a, sz);
				xmm_set(cpu, d->rm, &b);
			} else {
				mem_put(cpu, d, &a, sz, false);
			}
		} else if (d->mod == 3) {
			xmm_set(cpu, d->rm, &a);
		} else {
			mem_put(cpu, d, &a, 16, false);
		}
		return true;
	case 0x12: case 0x13: case 0x16: case 0x17: { /* MOVLPS/MOVHLPS/MOVHPS/MOVLHPS */
		bool high = op >= 0x16;
		if (pfx >= 2)
			x86_ud(cpu); /* MOVSLDUP etc. are SSE3 */
		xmm_get(cpu, d->reg, &a);
		if (op & 1) { /* store */
			if (d->mod == 3)
				x86_ud(cpu);
			b.q[0] = a.q[high];
			mem_put(cpu, d, &b, 8, false);
			return true;
		}
		if (d->mod == 3) {
			xmm_get(cpu, d->rm, &b);
			if (pfx == 1)
				x86_ud(cpu);
			a.q[high] = b.q[high ? 0 : 1];
		} else {
			mem_get(cpu, d, &b, 8, false);
			a.q[high] = b.q[0];
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	}
	case 0x14: case 0x15: /* UNPCKLPS/PD, UNPCKHPS/PD */
		if (pfx >= 2)
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		src_get(cpu, d, &b, true, 16, true);
		if (pfx == 1) {
			vec r;
			r.q[0] = a.q[op == 0x15];
			r.q[1] = b.q[op == 0x15];
			a = r;
		} else {
			vec r;
			unsigned base = op == 0x15 ? 2 : 0;
			r.d[0] = a.d[base];
			r.d[1] = b.d[base];
			r.d[2] = a.d[base + 1];
			r.d[3] = b.d[base + 1];
			a = r;
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x28: /* MOVAPS/MOVAPD */
		if (pfx >= 2)
			x86_ud(cpu);
		src_get(cpu, d, &a, true, 16, true);
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x29: case 0x2b: /* MOVAPS store, MOVNTPS */
		if (pfx >= 2 || (op == 0x2b && d->mod == 3))
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		if (d->mod == 3)
			xmm_set(cpu, d->rm, &a);
		else
			mem_put(cpu, d, &a, 16, true);
		return true;
	case 0x2a: /* CVTSI2SS/SD */
		if (pfx < 2)
			x86_ud(cpu);
		v = x86_rm_read(cpu, d, d->opsize == 8 ? 8 : 4);
		xmm_get(cpu, d->reg, &a);
		if (pfx == 2)
			a.f[0] = d->opsize == 8 ? (float)(int64_t)v : (float)(int32_t)v;
		else
			a.g[0] = d->opsize == 8 ? (double)(int64_t)v : (double)(int32_t)v;
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x2c: case 0x2d: { /* CVT(T)SS2SI / CVT(T)SD2SI */
		double x;
		unsigned sz = d->opsize == 8 ? 8 : 4;
		if (pfx < 2)
			x86_ud(cpu);
		src_get(cpu, d, &b, true, pfx == 2 ? 4 : 8, false);
		x = pfx == 2 ? (double)b.f[0] : b.g[0];
		x86_set_reg(cpu, d, d->reg, cvt_int(cpu, x, sz, op == 0x2c), sz);
		return true;
	}
	case 0x2e: case 0x2f: /* (U)COMISS/SD */
		if (pfx >= 2)
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		src_get(cpu, d, &b, true, pfx ? 8 : 4, false);
		if (pfx)
			set_compare_flags(cpu, a.g[0], b.g[0]);
		else
			set_compare_flags(cpu, a.f[0], b.f[0]);
		return true;
	case 0x50: /* MOVMSKPS/PD */
		if (d->mod != 3 || pfx >= 2)
			x86_ud(cpu);
		xmm_get(cpu, d->rm, &b);
		v = 0;
		if (pfx)
			v = (b.q[0] >> 63) | ((b.q[1] >> 63) << 1);
		else
			for (i = 0; i < 4; i++)
				v |= (uint64_t)(b.d[i] >> 31) << i;
		x86_set_reg(cpu, d, d->reg, v, 4);
		return true;
	case 0x54: case 0x55: case 0x56: case 0x57: /* AND/ANDN/OR/XOR PS/PD */
		if (pfx >= 2)
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		src_get(cpu, d, &b, true, 16, true);
		for (i = 0; i < 2; i++)
			a.q[i] = op == 0x54 ? a.q[i] & b.q[i] : op == 0x55 ? ~a.q[i] & b.q[i] :
				 op == 0x56 ? a.q[i] | b.q[i] : a.q[i] ^ b.q[i];
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x51: case 0x52: case 0x53: case 0x58: case 0x59: case 0x5c: case 0x5d: case 0x5e:
	case 0x5f:
		if ((op == 0x52 || op == 0x53) && (pfx == 1 || pfx == 3))
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		switch (pfx) {
		case 0:
			src_get(cpu, d, &b, true, 16, true);
			for (i = 0; i < 4; i++)
				a.f[i] = farith_s(op, a.f[i], b.f[i]);
			break;
		case 1:
			src_get(cpu, d, &b, true, 16, true);
			for (i = 0; i < 2; i++)
				a.g[i] = farith(op, a.g[i], b.g[i]);
			break;
		case 2:
			src_get(cpu, d, &b, true, 4, false);
			a.f[0] = farith_s(op, a.f[0], b.f[0]);
			break;
		default:
			src_get(cpu, d, &b, true, 8, false);
			a.g[0] = farith(op, a.g[0], b.g[0]);
			break;
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x5a: /* CVTPS2PD, CVTPD2PS, CVTSS2SD, CVTSD2SS */
		xmm_get(cpu, d->reg, &a);
		switch (pfx) {
		case 0:
			src_get(cpu, d, &b, true, 8, false);
			a.g[1] = b.f[1];
			a.g[0] = b.f[0];
			break;
		case 1:
			src_get(cpu, d, &b, true, 16, true);
			a.f[0] = (float)b.g[0];
			a.f[1] = (float)b.g[1];
			a.q[1] = 0;
			break;
		case 2:
			src_get(cpu, d, &b, true, 4, false);
			a.g[0] = b.f[0];
			break;
		default:
			src_get(cpu, d, &b, true, 8, false);
			a.f[0] = (float)b.g[0];
			break;
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x5b: /* CVTDQ2PS, CVTPS2DQ (66), CVTTPS2DQ (F3) */
		if (pfx == 3)
			x86_ud(cpu);
		src_get(cpu, d, &b, true, 16, true);
		for (i = 0; i < 4; i++) {
			if (pfx == 0)
				a.f[i] = (float)b.sd[i];
			else
				a.d[i] = (uint32_t)cvt_int(cpu, b.f[i], 4, pfx == 2);
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0xe6: /* CVTTPD2DQ (66), CVTDQ2PD (F3), CVTPD2DQ (F2) */
		if (!pfx)
			x86_ud(cpu);
		if (pfx == 2) {
			src_get(cpu, d, &b, true, 8, false);
			a.g[1] = b.sd[1];
			a.g[0] = b.sd[0];
		} else {
			src_get(cpu, d, &b, true, 16, true);
			a.d[0] = (uint32_t)cvt_int(cpu, b.g[0], 4, pfx == 1);
			a.d[1] = (uint32_t)cvt_int(cpu, b.g[1], 4, pfx == 1);
			a.q[1] = 0;
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	case 0x6e: /* MOVD/MOVQ mm/xmm, r/m */
		if (pfx >= 2)
			x86_ud(cpu);
		memset(&a, 0, sizeof(a));
		a.q[0] = x86_rm_read(cpu, d, d->opsize == 8 ? 8 : 4);
		dst_set(cpu, d, &a, xmm);
		return true;
	case 0x7e:
		if (pfx == 2) { /* MOVQ xmm, xmm/m64 */
			src_get(cpu, d, &b, true, 8, false);
			b.q[1] = 0;
			xmm_set(cpu, d->reg, &b);
			return true;
		}
		if (pfx == 3)
			x86_ud(cpu);
		dst_get(cpu, d, &a, xmm);
		x86_rm_write(cpu, d, a.q[0], d->opsize == 8 ? 8 : 4);
		return true;
	case 0x6f: /* MOVQ mm / MOVDQA / MOVDQU */
		if (pfx == 3)
			x86_ud(cpu);
		src_get(cpu, d, &a, xmm, xmm ? 16 : 8, pfx == 1);
		dst_set(cpu, d, &a, xmm);
		return true;
	case 0x7f:
		if (pfx == 3)
			x86_ud(cpu);
		dst_get(cpu, d, &a, xmm);
		if (d->mod == 3) {
			if (xmm)
				xmm_set(cpu, d->rm, &a);
			else
				mmx_set(cpu, d->rm, &a);
		} else {
			mem_put(cpu, d, &a, xmm ? 16 : 8, pfx == 1);
		}
		return true;
	case 0xd6: /* MOVQ xmm/m64, xmm (66) */
		if (pfx != 1)
			x86_ud(cpu);
		xmm_get(cpu, d->reg, &a);
		if (d->mod == 3) {
			a.q[1] = 0;
			xmm_set(cpu, d->rm, &a);
		} else {
			mem_put(cpu, d, &a, 8, false);
		}
		return true;
	case 0xe7: /* MOVNTQ / MOVNTDQ */
		if (d->mod == 3 || pfx >= 2)
			x86_ud(cpu);
		dst_get(cpu, d, &a, xmm);
		mem_put(cpu, d, &a, xmm ? 16 : 8, xmm);
		return true;
	case 0x70: { /* PSHUFW / PSHUFD / PSHUFHW / PSHUFLW */
		/* fetch the immediate first: a RIP-relative operand is relative to its end */
		uint8_t imm = (uint8_t)d->imm;
		src_get(cpu, d, &b, xmm, xmm ? 16 : 8, xmm);
		a = b;
		if (!xmm) {
			for (i = 0; i < 4; i++)
				a.w[i] = b.w[(imm >> (2 * i)) & 3];
		} else if (pfx == 1) {
			for (i = 0; i < 4; i++)
				a.d[i] = b.d[(imm >> (2 * i)) & 3];
		} else if (pfx == 2) {
			for (i = 0; i < 4; i++)
				a.w[4 + i] = b.w[4 + ((imm >> (2 * i)) & 3)];
		} else {
			for (i = 0; i < 4; i++)
				a.w[i] = b.w[(imm >> (2 * i)) & 3];
		}
		dst_set(cpu, d, &a, xmm);
		return true;
	}
	case 0x71: case 0x72: case 0x73: { /* shift by immediate */
		unsigned sub = d->reg & 7, es = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
		uint8_t imm;
		if (d->mod != 3 || pfx >= 2)
			x86_ud(cpu);
		imm = (uint8_t)d->imm;
		if (xmm)
			xmm_get(cpu, d->rm, &a);
		else
			mmx_get(cpu, d->rm, &a);
		if (op == 0x73 && (sub == 3 || sub == 7)) {
			if (!xmm)
				x86_ud(cpu);
			byte_shift(&a, sub == 7, imm);
		} else if (sub == 2 || sub == 4 || sub == 6) {
			if (sub == 4 && op == 0x73)
				x86_ud(cpu);
			shift(&a, sub == 2 ? 0 : sub == 4 ? 1 : 2, es, imm, xmm ? 16 : 8);
		} else {
			x86_ud(cpu);
		}
		if (xmm)
			xmm_set(cpu, d->rm, &a);
		else
			mmx_set(cpu, d->rm, &a);
		return true;
	}
	case 0xd1: case 0xd2: case 0xd3: case 0xe1: case 0xe2: case 0xf1: case 0xf2: case 0xf3: {
		unsigned es = (op & 3) == 1 ? 2 : (op & 3) == 2 ? 4 : 8;
		unsigned kind = op < 0xe0 ? 0 : op < 0xf0 ? 1 : 2;
		if (pfx >= 2)
			x86_ud(cpu);
		dst_get(cpu, d, &a, xmm);
		src_get(cpu, d, &b, xmm, xmm ? 16 : 8, xmm);
		shift(&a, kind, es, b.q[0], xmm ? 16 : 8);
		dst_set(cpu, d, &a, xmm);
		return true;
	}
	case 0xc2: { /* CMPPS/PD/SS/SD */
		uint8_t imm = (uint8_t)d->imm; /* before the RIP-relative operand */
		xmm_get(cpu, d->reg, &a);
		src_get(cpu, d, &b, true, pfx == 2 ? 4 : pfx == 3 ? 8 : 16, pfx < 2);
		switch (pfx) {
		case 0: for (i = 0; i < 4; i++) a.d[i] = fcmp(a.f[i], b.f[i], imm) ? ~0u : 0; break;
		case 1: for (i = 0; i < 2; i++) a.q[i] = fcmp(a.g[i], b.g[i], imm) ? ~0ULL : 0; break;
		case 2: a.d[0] = fcmp(a.f[0], b.f[0], imm) ? ~0u : 0; break;
		default: a.q[0] = fcmp(a.g[0], b.g[0], imm) ? ~0ULL : 0; break;
		}
		xmm_set(cpu, d->reg, &a);
		return true;
	}
	case 0xc3: /* MOVNTI */
		if (d->mod == 3 || pfx)
			x86_ud(cpu);
		x86_rm_write(cpu, d, x86_get_reg(cpu, d, d->reg, d->opsize == 8 ? 8 : 4),
			     d->opsize == 8 ? 8 : 4);
		return true;
	case 0xc4: { /* PINSRW */
		uint8_t imm;
		if (pfx >= 2)
			x86_ud(cpu);
		imm = (uint8_t)d->imm; /* before the RIP-relative operand */
		v = d->mod == 3 ? cpu->gpr[d->rm] : mem_read(cpu, d->ea_seg, x86_ea(cpu, d), 2);
		dst_get(cpu, d, &a, xmm);
		a.w[imm & (xmm ? 7 : 3)] = (uint16_t)v;
		dst_set(cpu, d, &a, xmm);
		return true;
	}
	case 0xc5: { /* PEXTRW */
		uint8_t imm;
		if (d->mod != 3 || pfx >= 2)
			x86_ud(cpu);
		imm = (uint8_t)d->imm;
		if (xmm)
			xmm_get(cpu, d->rm, &b);
		else
			mmx_get(cpu, d->rm, &b);
		x86_set_reg(cpu, d, d->reg, b.w[imm & (xmm ? 7 : 3)], 4);
		return true;
	}
	case 0xc6: { /* SHUFPS/SHUFPD */
		uint8_t imm;
		vec r;
		if (pfx >= 2)
			x86_ud(cpu);
		imm = (uint8_t)d->imm; /* before the RIP-relative operand */
		xmm_get(cpu, d->reg, &a);
		src_get(cpu, d, &b, true, 16, true);
		if (pfx) {
			r.q[0] = a.q[imm & 1];
			r.q[1] = b.q[(imm >> 1) & 1];
		} else {
			r.d[0] = a.d[imm & 3];
			r.d[1] = a.d[(imm >> 2) & 3];
			r.d[2] = b.d[(imm >> 4) & 3];
			r.d[3] = b.d[(imm >> 6) & 3];
		}
		xmm_set(cpu, d->reg, &r);
		return true;
	}
	case 0xd7: /* PMOVMSKB */
		if (d->mod != 3 || pfx >= 2)
			x86_ud(cpu);
		if (xmm)
			xmm_get(cpu, d->rm, &b);
		else
			mmx_get(cpu, d->rm, &b);
		v = 0;
		for (i = 0; i < (xmm ? 16u : 8u); i++)
			v |= (uint64_t)(b.b[i] >> 7) << i;
		x86_set_reg(cpu, d, d->reg, v, 4);
		return true;
	case 0xf7: { /* MASKMOVQ / MASKMOVDQU to DS:rDI */
		int seg = d->seg == SEG_NONE ? SEG_DS : d->seg;
		if (d->mod != 3 || pfx >= 2)
			x86_ud(cpu);
		dst_get(cpu, d, &a, xmm);
		if (xmm)
			xmm_get(cpu, d->rm, &b);
		else
			mmx_get(cpu, d->rm, &b);
		for (i = 0; i < (xmm ? 16u : 8u); i++)
			if (b.b[i] & 0x80)
				mem_write(cpu, seg, (cpu->gpr[X86_RDI] + i) & size_mask(d->addrsize), a.b[i], 1);
		return true;
	}
	}
	if (pfx >= 2)
		x86_ud(cpu);
	if (op == 0x6c || op == 0x6d || op == 0xd4 || op == 0xfb || op == 0xf4) {
		if (!xmm && (op == 0x6c || op == 0x6d))
			x86_ud(cpu);
	}
	dst_get(cpu, d, &a, xmm);
	src_get(cpu, d, &b, xmm, xmm ? 16 : 8, xmm);
	if (!int_binop(op, &a, &b, xmm ? 16 : 8))
		x86_ud(cpu);
	dst_set(cpu, d, &a, xmm);
	return true;
}
