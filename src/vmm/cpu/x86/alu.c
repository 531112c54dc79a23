/*
 * Integer ALU and lazy flags. Arithmetic instructions record their operands
 * and result (set_cc) and the six arithmetic flags are computed only when
 * something reads them: a conditional jump evaluates just its condition.
 */
#include "vmm/cpu/x86/internal.h"

static inline uint32_t parity(uint64_t v)
{
	return __builtin_parity((unsigned)(v & 0xff)) ? 0 : F_PF;
}

/* Compute OSZAPC from the lazy state. */
uint32_t x86_flags(struct x86_cpu *cpu)
{
	unsigned op = cpu->cc_op;
	unsigned size = 1u << (op & 3);
	uint64_t m = size_mask(size), sign = 1ULL << (size * 8 - 1);
	uint64_t res = cpu->cc_res & m, a = cpu->cc_src1 & m, b = cpu->cc_src2 & m;
	uint32_t f = 0, cin;

	if (op == CC_NONE)
		return (uint32_t)cpu->rflags & F_ARITH;
	f |= res == 0 ? F_ZF : 0;
	f |= (res & sign) ? F_SF : 0;
	f |= parity(res);
	switch (op & ~3u) {
	case CC_ADD:
		f |= res < a ? F_CF : 0;
		f |= (((a ^ res) & (b ^ res)) & sign) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_ADC:
		cin = ((res - a - b) & m) != 0;
		f |= (cin ? res <= a : res < a) ? F_CF : 0;
		f |= (((a ^ res) & (b ^ res)) & sign) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_SUB:
		f |= a < b ? F_CF : 0;
		f |= (((a ^ b) & (a ^ res)) & sign) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_SBB:
		cin = ((a - b - res) & m) != 0;
		f |= (cin ? a <= b : a < b) ? F_CF : 0;
		f |= (((a ^ b) & (a ^ res)) & sign) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_LOGIC:
		break;
	case CC_INC:
		f |= (uint32_t)b & F_CF;
		f |= res == sign ? F_OF : 0;
		f |= (a ^ 1 ^ res) & F_AF;
		break;
	case CC_DEC:
		f |= (uint32_t)b & F_CF;
		f |= a == sign ? F_OF : 0;
		f |= (a ^ 1 ^ res) & F_AF;
		break;
	case CC_SHL:
		cin = (a >> (size * 8 - b)) & 1; /* b is 1..size*8 */
		f |= cin ? F_CF : 0;
		f |= (!!(res & sign) ^ cin) ? F_OF : 0;
		break;
	case CC_SHR:
		f |= ((a >> (b - 1)) & 1) ? F_CF : 0;
		f |= (a & sign) ? F_OF : 0;
		break;
	case CC_SAR:
		f |= (((uint64_t)sext(a, size) >> (b - 1)) & 1) ? F_CF : 0;
		break;
	case CC_MUL:
		f |= cpu->cc_src1 ? F_CF | F_OF : 0;
		break;
	case CC_NEG:
		f |= a ? F_CF : 0;
		f |= a == sign ? F_OF : 0;
		f |= (a ^ res) & F_AF;
		break;
	case CC_ROT:
		f |= (uint32_t)cpu->cc_src1 & (F_CF | F_OF | F_AF);
		break;
	}
	return f;
}

/* CF alone (INC/DEC keep it; ADC/SBB consume it). */
uint32_t x86_cf(struct x86_cpu *cpu)
{
	unsigned op = cpu->cc_op;
	uint64_t m = size_mask(1u << (op & 3));

	switch (op & ~3u) {
	case CC_NONE: return cpu->rflags & F_CF;
	case CC_ADD: return (cpu->cc_res & m) < (cpu->cc_src1 & m);
	case CC_SUB: return (cpu->cc_src1 & m) < (cpu->cc_src2 & m);
	case CC_LOGIC: return 0;
	case CC_INC:
	case CC_DEC: return cpu->cc_src2 & F_CF;
	}
	return x86_flags(cpu) & F_CF;
}

/* Make rflags authoritative again. */
void x86_flags_commit(struct x86_cpu *cpu)
{
	if (cpu->cc_op != CC_NONE) {
		cpu->rflags = (cpu->rflags & ~(uint64_t)F_ARITH) | x86_flags(cpu);
		cpu->cc_op = CC_NONE;
	}
}

/* Evaluate condition code cc (the low nibble of Jcc/SETcc/CMOVcc). */
bool x86_cond(struct x86_cpu *cpu, unsigned cc)
{
	unsigned op = cpu->cc_op;
	bool r;
	uint32_t f;

	if ((op & ~3u) == CC_SUB) {
		unsigned size = 1u << (op & 3);
		uint64_t m = size_mask(size);
		uint64_t a = cpu->cc_src1 & m, b = cpu->cc_src2 & m;
		switch (cc >> 1) {
		case 1: r = a < b; goto out;
		case 2: r = a == b; goto out;
		case 3: r = a <= b; goto out;
		case 6: r = sext(a, size) < sext(b, size); goto out;
		case 7: r = sext(a, size) <= sext(b, size); goto out;
		}
	} else if ((op & ~3u) == CC_LOGIC || (op & ~3u) == CC_INC || (op & ~3u) == CC_DEC ||
		   (op & ~3u) == CC_ADD || (op & ~3u) == CC_ROT) {
		/* ZF and SF come from the result alone. */
		unsigned size = 1u << (op & 3);
		int64_t v = sext(cpu->cc_res, size);
		switch (cc >> 1) {
		case 2: r = v == 0; goto out;
		case 4: r = v < 0; goto out;
		}
	}
	if ((op & ~3u) == CC_LOGIC) {
		unsigned size = 1u << (op & 3);
		int64_t v = sext(cpu->cc_res, size);
		switch (cc >> 1) {
		case 0: r = false; goto out;
		case 1: r = false; goto out;
		case 2: r = v == 0; goto out;
		case 3: r = v == 0; goto out;
		case 4: r = v < 0; goto out;
		case 6: r = v < 0; goto out;
		case 7: r = v <= 0; goto out;
		}
	}
	f = x86_flags(cpu);
	switch (cc >> 1) {
	case 0: r = f & F_OF; break;
	case 1: r = f & F_CF; break;
	case 2: r = f & F_ZF; break;
	case 3: r = f & (F_CF | F_ZF); break;
	case 4: r = f & F_SF; break;
	case 5: r = f & F_PF; break;
	case 6: r = !(f & F_SF) != !(f & F_OF); break;
	default: r = (f & F_ZF) || (!(f & F_SF) != !(f & F_OF)); break;
	}
out:
	return (cc & 1) ? !r : r;
}

/* ADD OR ADC SBB AND SUB XOR CMP (op = reg field of group 1). */
uint64_t x86_alu(struct x86_cpu *cpu, unsigned op, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t m = size_mask(size), r, c;

	a &= m;
	b &= m;
	switch (op) {
	case 0:
		r = (a + b) & m;
		set_cc(cpu, CC_ADD, size, r, a, b);
		return r;
	case 1:
		r = a | b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		return r;
	case 2:
		c = x86_cf(cpu);
		r = (a + b + c) & m;
		set_cc(cpu, c ? CC_ADC : CC_ADD, size, r, a, b);
		return r;
	case 3:
		c = x86_cf(cpu);
		r = (a - b - c) & m;
		set_cc(cpu, c ? CC_SBB : CC_SUB, size, r, a, b);
		return r;
	case 4:
		r = a & b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		return r;
	case 5:
	case 7:
		r = (a - b) & m;
		set_cc(cpu, CC_SUB, size, r, a, b);
		return op == 7 ? a : r;
	default:
		r = a ^ b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		return r;
	}
}

/* Set CF and OF explicitly (rotates), keeping the other flags. After the
 * common lazy operations this stays lazy (CC_ROT) instead of computing them. */
static void set_cf_of(struct x86_cpu *cpu, bool cf, bool of)
{
	uint32_t af;

	switch (cpu->cc_op & ~3u) {
	case CC_LOGIC:
		af = 0;
		goto lazy;
	case CC_ROT:
		af = (uint32_t)cpu->cc_src1 & F_AF;
		goto lazy;
	case CC_ADD:
	case CC_SUB:
		af = (uint32_t)(cpu->cc_src1 ^ cpu->cc_src2 ^ cpu->cc_res) & F_AF;
	lazy:
		cpu->cc_op = CC_ROT | (cpu->cc_op & 3);
		cpu->cc_src1 = af | (cf ? F_CF : 0) | (of ? F_OF : 0);
		cpu->cc_src2 = 0;
		return;
	}
	x86_flags_commit(cpu);
	cpu->rflags &= ~(uint64_t)(F_CF | F_OF);
	cpu->rflags |= (cf ? F_CF : 0) | (of ? F_OF : 0);
}

/* Group 2: ROL ROR RCL RCR SHL SHR SAL SAR with an already read count. */
uint64_t x86_shift(struct x86_cpu *cpu, unsigned op, uint64_t a, unsigned count, unsigned size)
{
	unsigned bits = size * 8;
	uint64_t m = size_mask(size), sign = 1ULL << (bits - 1), r;
	bool cf;

	count &= size == 8 ? 63 : 31;
	a &= m;
	if (!count)
		return a;
	switch (op) {
	case 0: /* ROL */
		count %= bits;
		r = count ? ((a << count) | (a >> (bits - count))) & m : a;
		cf = r & 1;
		set_cf_of(cpu, cf, !!(r & sign) ^ cf);
		return r;
	case 1: /* ROR */
		count %= bits;
		r = count ? ((a >> count) | (a << (bits - count))) & m : a;
		set_cf_of(cpu, r & sign, !!(r & sign) ^ !!(r & (sign >> 1)));
		return r;
	case 2: /* RCL */
	case 3: { /* RCR */
		unsigned n = count % (bits + 1), i;
		cf = x86_flags(cpu) & F_CF;
		r = a;
		for (i = 0; i < n; i++) {
			bool out;
			if (op == 2) {
				out = r & sign;
				r = ((r << 1) | cf) & m;
			} else {
				out = r & 1;
				r = (r >> 1) | (cf ? sign : 0);
			}
			cf = out;
		}
		if (op == 2)
			set_cf_of(cpu, cf, !!(r & sign) ^ cf);
		else
			set_cf_of(cpu, cf, !!(r & sign) ^ !!(r & (sign >> 1)));
		return r;
	}
	case 4:
	case 6: /* SHL/SAL */
		r = count >= 64 ? 0 : (a << count) & m;
		if (count > bits) {
			/* CF is undefined; keep the flags coherent. */
			set_cc(cpu, CC_LOGIC, size, r, 0, 0);
			return r;
		}
		set_cc(cpu, CC_SHL, size, r, a, count);
		return r;
	case 5: /* SHR */
		r = count >= 64 ? 0 : a >> count;
		if (count > bits) {
			set_cc(cpu, CC_LOGIC, size, r, 0, 0);
			return r;
		}
		set_cc(cpu, CC_SHR, size, r, a, count);
		return r;
	default: /* SAR */
		r = (uint64_t)(sext(a, size) >> (count >= bits ? bits - 1 : count)) & m;
		set_cc(cpu, CC_SAR, size, r, a, count > bits ? bits : count);
		return r;
	}
}

/* Write the bits of mask in RFLAGS from value (POPF, IRET...). */
void x86_set_rflags(struct x86_cpu *cpu, uint64_t value, uint64_t mask)
{
	x86_flags_commit(cpu);
	cpu->rflags = (cpu->rflags & ~mask) | (value & mask) | X86_RFLAGS_FIXED;
}

uint64_t x86_cpu_rflags(struct x86_cpu *cpu)
{
	x86_flags_commit(cpu);
	return cpu->rflags;
}
