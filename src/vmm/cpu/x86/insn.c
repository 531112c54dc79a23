/*
 * Instruction fetch, decode and the integer instruction set: prefixes, ModRM/SIB
 * addressing (16-, 32-, 64-bit and RIP-relative), the one- and two-byte opcode
 * maps. System instructions live in system.c, string instructions in string.c,
 * x87 in fpu.c and SSE in sse.c.
 *
 * An instruction is decoded completely first (prefixes, opcode, ModRM/SIB,
 * displacement, immediates: struct insn) and kept in a decoded-instruction
 * cache keyed by the host (physical) address of its first byte; a hit is used
 * only if guest memory still holds the same bytes. The effective address is
 * computed from the registers when the handler runs.
 *
 * A handler that ends with `break` continues at the next instruction; one that
 * transfers control sets cpu->rip and returns. Faults (x86_fault) unwind to the
 * exec loop, which restarts the instruction, so handlers read all memory
 * operands before they commit any register. Handlers never modify the
 * decoded instruction (it may be the cached copy).
 */
#include "vmm/cpu/x86/internal.h"

#include "common/log.h"

/* --- instruction fetch --- */

/* RIP of the next byte the decoder reads. */
static inline uint64_t fetch_pos(const struct x86_cpu *cpu)
{
	return cpu->fetch_bias + (uint64_t)(uintptr_t)cpu->fetch_ptr;
}

/* Refill the fetch window with the page that holds the next instruction byte. */
static void fetch_refill(struct x86_cpu *cpu)
{
	uint64_t rip = fetch_pos(cpu);
	uint64_t lin = cpu->code64 ? rip : (uint32_t)(rip + cpu->seg[SEG_CS].base);
	int user = cpu_user(cpu);
	struct x86_tlb_entry *e = &cpu->tlb[user][(lin >> 12) & (X86_TLB_SIZE - 1)];
	uint8_t *p;
	uint64_t gpa = 0;

	/* Only an instruction with redundant prefixes can get this long. */
	if (rip - cpu->insn_rip >= 15)
		x86_fault(cpu, EXC_GP, 0);
	if (e->tag_x == (lin & ~0xfffULL))
		p = (uint8_t *)(e->addend + lin);
	else
		p = x86_tlb_fill(cpu, lin, ACC_X, user, false, &gpa);
	if (!p) {
		/* Executing from MMIO or unbacked space (all ones): one byte at a time. */
		uint64_t v = cpu->plat.mmio_read ? cpu->plat.mmio_read(cpu->plat.opaque, gpa, 1) : 0xff;
		cpu->fetch_mmio_byte = (uint8_t)v;
		cpu->fetch_ptr = &cpu->fetch_mmio_byte;
		cpu->fetch_end = cpu->fetch_ptr + 1;
		cpu->fetch_page_lin = ~0ULL;
	} else {
		cpu->fetch_ptr = p;
		cpu->fetch_end = p + (0x1000 - (lin & 0xfff));
		cpu->fetch_page_lin = lin & ~0xfffULL;
		cpu->fetch_page_host = p - (lin & 0xfff);
	}
	cpu->fetch_bias = rip - (uint64_t)(uintptr_t)cpu->fetch_ptr;
}

static inline uint8_t fetch8(struct x86_cpu *cpu)
{
	if (unlikely(cpu->fetch_ptr >= cpu->fetch_end))
		fetch_refill(cpu);
	return *cpu->fetch_ptr++;
}

static inline __attribute__((always_inline)) uint64_t fetch_n(struct x86_cpu *cpu, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	if (likely(cpu->fetch_ptr + size <= cpu->fetch_end)) {
		memcpy(&v, cpu->fetch_ptr, size);
		cpu->fetch_ptr += size;
		return v;
	}
	for (i = 0; i < size; i++)
		v |= (uint64_t)fetch8(cpu) << (8 * i);
	return v;
}

static inline int64_t fetch_simm(struct x86_cpu *cpu, unsigned size)
{
	return sext(fetch_n(cpu, size), size);
}

/* Point the fetch window at RIP for a new instruction. */
static inline void fetch_start(struct x86_cpu *cpu)
{
	uint64_t lin = cpu->code64 ? cpu->rip : (uint32_t)(cpu->rip + cpu->seg[SEG_CS].base);

	if ((lin & ~0xfffULL) == cpu->fetch_page_lin) {
		cpu->fetch_ptr = cpu->fetch_page_host + (lin & 0xfff);
		cpu->fetch_end = cpu->fetch_page_host + 0x1000;
	} else {
		cpu->fetch_ptr = cpu->fetch_end = NULL;
	}
	cpu->fetch_bias = cpu->rip - (uint64_t)(uintptr_t)cpu->fetch_ptr;
}

/* --- addressing --- */

static inline void decode_modrm(struct x86_cpu *cpu, struct insn *d)
{
	uint8_t m = fetch8(cpu);
	unsigned rm = m & 7, base = 16, index = 16, scale = 0;
	int64_t disp = 0;

	d->modrm = m;
	d->mod = m >> 6;
	d->reg = ((m >> 3) & 7) | ((d->rex & 4) << 1);
	d->has_modrm = true;
	d->rip_rel = false;
	if (d->mod == 3) {
		d->rm = rm | ((d->rex & 1) << 3);
		return;
	}
	d->ea_seg = SEG_DS;
	if (d->addrsize == 2) {
		static const uint8_t b16[8] = {X86_RBX, X86_RBX, X86_RBP, X86_RBP, 16, 16, X86_RBP, X86_RBX};
		static const uint8_t i16[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, 16, 16};
		if (d->mod == 0 && rm == 6) {
			disp = (uint16_t)fetch_n(cpu, 2);
		} else {
			if (d->mod == 1)
				disp = fetch_simm(cpu, 1);
			else if (d->mod == 2)
				disp = fetch_simm(cpu, 2);
			base = b16[rm];
			index = i16[rm];
			if (b16[rm] == X86_RBP)
				d->ea_seg = SEG_SS;
		}
	} else {
		if (rm == 4) {
			uint8_t sib = fetch8(cpu);
			scale = sib >> 6;
			index = ((sib >> 3) & 7) | ((d->rex & 2) << 2);
			if (index == 4)
				index = 16;
			base = (sib & 7) | ((d->rex & 1) << 3);
			if ((sib & 7) == 5 && d->mod == 0) {
				base = 16;
				disp = fetch_simm(cpu, 4);
			}
		} else if (rm == 5 && d->mod == 0) {
			disp = fetch_simm(cpu, 4);
			if (cpu->code64)
				d->rip_rel = true;
		} else {
			base = rm | ((d->rex & 1) << 3);
		}
		if (d->mod == 1)
			disp = fetch_simm(cpu, 1);
		else if (d->mod == 2)
			disp = fetch_simm(cpu, 4);
		if (base == X86_RSP || base == X86_RBP) /* not R12/R13 */
			d->ea_seg = SEG_SS;
	}
	d->base = base;
	d->index = index;
	d->scale = scale;
	d->disp = disp;
	if (d->seg != SEG_NONE)
		d->ea_seg = d->seg;
}

/* The effective address of d's memory operand, from the registers now. */
static inline __attribute__((always_inline)) uint64_t ea_of(struct x86_cpu *cpu, struct insn *d)
{
	uint64_t ea = (uint64_t)d->disp;

	if (d->base != 16)
		ea += cpu->gpr[d->base];
	if (d->index != 16)
		ea += cpu->gpr[d->index] << d->scale;
	if (d->rip_rel)
		ea += cpu->next_rip;
	return d->addrsize == 8 ? ea : d->addrsize == 4 ? (uint32_t)ea : (ea & 0xffff);
}

static inline __attribute__((always_inline)) uint64_t rm_read(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	if (d->mod == 3)
		return x86_get_reg(cpu, d, d->rm, size);
	return mem_read(cpu, d->ea_seg, ea_of(cpu, d), size);
}

static inline __attribute__((always_inline)) void rm_write(struct x86_cpu *cpu, struct insn *d, uint64_t v, unsigned size)
{
	if (d->mod == 3)
		x86_set_reg(cpu, d, d->rm, v, size);
	else
		mem_write(cpu, d->ea_seg, ea_of(cpu, d), v, size);
}

static void decode(struct x86_cpu *cpu, struct insn *d);

void x86_decode_bytes(struct x86_cpu *cpu, const uint8_t *p, uint64_t rip, struct insn *d)
{
	const uint8_t *ptr = cpu->fetch_ptr, *end = cpu->fetch_end;
	uint64_t bias = cpu->fetch_bias, saved_rip = cpu->rip;

	cpu->fetch_ptr = p;
	cpu->fetch_end = p + 32; /* the longest instruction with 4 prefixes fits: no refill */
	cpu->fetch_bias = rip - (uint64_t)(uintptr_t)p;
	cpu->rip = rip;
	decode(cpu, d);
	cpu->fetch_ptr = ptr;
	cpu->fetch_end = end;
	cpu->fetch_bias = bias;
	cpu->rip = saved_rip;
}

/* Exported forms of the decode helpers for system.c, fpu.c and sse.c. The
 * decoder has already read the ModRM byte of every opcode that has one. */
void x86_decode_modrm(struct x86_cpu *cpu, struct insn *d)
{
	if (!d->has_modrm)
		decode_modrm(cpu, d);
}

uint64_t x86_ea(struct x86_cpu *cpu, struct insn *d)
{
	return ea_of(cpu, d);
}

uint64_t x86_rm_read(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	return rm_read(cpu, d, size);
}

void x86_rm_write(struct x86_cpu *cpu, struct insn *d, uint64_t v, unsigned size)
{
	rm_write(cpu, d, v, size);
}

/* --- inline fast paths of alu.c for the hot opcodes --- */

/* ADD, OR, AND, SUB, XOR, CMP inline; ADC and SBB through x86_alu (same results). */
static inline __attribute__((always_inline)) uint64_t alu_fast(struct x86_cpu *cpu, unsigned op,
							       uint64_t a, uint64_t b, unsigned size)
{
	uint64_t m = size_mask(size), r;

	a &= m;
	b &= m;
	switch (op) {
	case 0:
		r = (a + b) & m;
		set_cc(cpu, CC_ADD, size, r, a, b);
		return r;
	case 1:
		r = a | b;
		break;
	case 4:
		r = a & b;
		break;
	case 5:
	case 7:
		r = (a - b) & m;
		set_cc(cpu, CC_SUB, size, r, a, b);
		return op == 7 ? a : r;
	case 6:
		r = a ^ b;
		break;
	default:
		return x86_alu(cpu, op, a, b, size);
	}
	set_cc(cpu, CC_LOGIC, size, r, 0, 0);
	return r;
}

/* Conditions after CMP/SUB and logic operations inline; the rest through x86_cond. */
static inline __attribute__((always_inline)) bool cond_fast(struct x86_cpu *cpu, unsigned cc)
{
	unsigned op = cpu->cc_op;

	if (op == CC_SUB + 3) {
		uint64_t a = cpu->cc_src1, b = cpu->cc_src2;
		bool r;
		switch (cc >> 1) {
		case 1: r = a < b; break;
		case 2: r = a == b; break;
		case 3: r = a <= b; break;
		case 6: r = (int64_t)a < (int64_t)b; break;
		case 7: r = (int64_t)a <= (int64_t)b; break;
		default: return x86_cond(cpu, cc);
		}
		return (cc & 1) ? !r : r;
	}
	if ((op & ~3u) == CC_LOGIC && (cc >> 1) == 2) {
		bool r = (cpu->cc_res & size_mask(1u << (op & 3))) == 0;
		return (cc & 1) ? !r : r;
	}
	return x86_cond(cpu, cc);
}

/* --- stack --- */

static inline __attribute__((always_inline)) void push(struct x86_cpu *cpu, uint64_t v, unsigned size)
{
	uint64_t m = sp_mask(cpu), sp = (cpu->gpr[X86_RSP] - size) & m;

	mem_write(cpu, SEG_SS, sp, v, size);
	cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | sp;
}

static inline __attribute__((always_inline)) uint64_t pop(struct x86_cpu *cpu, unsigned size)
{
	uint64_t m = sp_mask(cpu), sp = cpu->gpr[X86_RSP];
	uint64_t v = mem_read(cpu, SEG_SS, sp & m, size);

	cpu->gpr[X86_RSP] = (sp & ~m) | ((sp + size) & m);
	return v;
}

void x86_push(struct x86_cpu *cpu, uint64_t v, unsigned size)
{
	push(cpu, v, size);
}

uint64_t x86_pop(struct x86_cpu *cpu, unsigned size)
{
	return pop(cpu, size);
}

/* Run fn(args..., size) with size a constant for each operand size (2, 4 or 8). */
#define BY_SIZE(os, fn, ...)                      \
	do {                                      \
		if ((os) == 8)                    \
			fn(__VA_ARGS__, 8);       \
		else if ((os) == 4)               \
			fn(__VA_ARGS__, 4);       \
		else                              \
			fn(__VA_ARGS__, 2);       \
	} while (0)

/* --- read-modify-write with LOCK --- */

enum { RMW_ALU, RMW_INC, RMW_DEC, RMW_NOT, RMW_NEG, RMW_BTS, RMW_BTR, RMW_BTC, RMW_XADD,
       RMW_XCHG, RMW_SHIFT };

static uint64_t rmw_apply(struct x86_cpu *cpu, unsigned kind, unsigned op, uint64_t old,
			  uint64_t src, unsigned size, uint32_t cf)
{
	uint64_t m = size_mask(size), r;

	switch (kind) {
	case RMW_ALU:
	case RMW_XADD:
		return alu_fast(cpu, kind == RMW_XADD ? 0 : op, old, src, size);
	case RMW_INC:
		r = (old + 1) & m;
		set_cc(cpu, CC_INC, size, r, old, cf);
		return r;
	case RMW_DEC:
		r = (old - 1) & m;
		set_cc(cpu, CC_DEC, size, r, old, cf);
		return r;
	case RMW_NOT:
		return ~old & m;
	case RMW_NEG:
		r = (0 - old) & m;
		set_cc(cpu, CC_NEG, size, r, old, 0);
		return r;
	case RMW_BTS:
	case RMW_BTR:
	case RMW_BTC:
		x86_flags_commit(cpu);
		cpu->rflags = (cpu->rflags & ~(uint64_t)F_CF) | ((old >> src) & 1);
		if (kind == RMW_BTS)
			return old | (1ULL << src);
		if (kind == RMW_BTR)
			return old & ~(1ULL << src);
		return old ^ (1ULL << src);
	case RMW_XCHG:
		return src;
	default:
		return x86_shift(cpu, op, old, (unsigned)src, size);
	}
}

static bool cas_host(uint8_t *p, unsigned size, uint64_t *old, uint64_t new)
{
	switch (size) {
	case 1: {
		uint8_t o = *old;
		bool ok = __atomic_compare_exchange_n(p, &o, (uint8_t)new, false, __ATOMIC_SEQ_CST,
						      __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 2: {
		uint16_t o = *old;
		bool ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)new, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 4: {
		uint32_t o = *old;
		bool ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)new, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, old, new, false, __ATOMIC_SEQ_CST,
						   __ATOMIC_SEQ_CST);
	}
}

static uint64_t load_host(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n(p, __ATOMIC_RELAXED);
	case 2: return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
	case 4: return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
	default: return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	}
}

/* Host pointer for an atomic access to the memory operand, or NULL if it must be emulated. */
static uint8_t *atomic_ptr(struct x86_cpu *cpu, int seg, uint64_t ea, unsigned size)
{
	uint64_t lin = seg_lin(cpu, seg, ea);

	x86_check_stack_canonical(cpu, seg, lin);
	if (lin & (size - 1))
		return NULL; /* split or misaligned: emulate without host atomics */
	return x86_lin_ptr(cpu, lin, size, ACC_W, cpu_user(cpu));
}

/*
 * Fault now if the memory operand of d cannot be written: a read-modify-write
 * instruction reports a write access (PF_W) even where its read would fault.
 */
static void probe_write(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	if (d->mod != 3)
		x86_probe_write(cpu, d->ea_seg, ea_of(cpu, d), size);
}

/*
 * Apply kind/op to the r/m operand and return the old value. Memory operands
 * with LOCK (or XCHG) are updated with a host compare-and-swap loop.
 */
static uint64_t rmw(struct x86_cpu *cpu, struct insn *d, unsigned kind, unsigned op, uint64_t src,
		    unsigned size, bool atomic)
{
	uint32_t cf = (kind == RMW_INC || kind == RMW_DEC) ? x86_cf(cpu) : 0;
	uint64_t old, new, ea;
	uint8_t *p;

	if (d->mod == 3) {
		old = x86_get_reg(cpu, d, d->rm, size);
		new = rmw_apply(cpu, kind, op, old, src, size, cf);
		x86_set_reg(cpu, d, d->rm, new, size);
		return old;
	}
	ea = ea_of(cpu, d);
	if (atomic && (p = atomic_ptr(cpu, d->ea_seg, ea, size))) {
		uint32_t cc_op = cpu->cc_op;
		uint64_t r = cpu->cc_res, s1 = cpu->cc_src1, s2 = cpu->cc_src2, fl = cpu->rflags;
		old = load_host(p, size);
		for (;;) {
			new = rmw_apply(cpu, kind, op, old, src, size, cf);
			if (cas_host(p, size, &old, new))
				return old;
			cpu->cc_op = cc_op;
			cpu->cc_res = r;
			cpu->cc_src1 = s1;
			cpu->cc_src2 = s2;
			cpu->rflags = fl;
		}
	}
	{
		uint64_t lin = seg_lin(cpu, d->ea_seg, ea);
		int user = cpu_user(cpu);
		/* TLB hit for writing within one page: update guest RAM in place. */
		if ((lin & 0xfff) + size <= 0x1000 && (p = x86_tlb_hit(cpu, lin, ACC_W, user))) {
			old = 0;
			memcpy(&old, p, size);
			new = rmw_apply(cpu, kind, op, old, src, size, cf);
			memcpy(p, &new, size);
			return old;
		}
		/* Probe for write first so a read-only page faults before any side effect. */
		probe_write(cpu, d, size);
		old = x86_read_lin(cpu, lin, size, user);
		new = rmw_apply(cpu, kind, op, old, src, size, cf);
		x86_write_lin(cpu, lin, new, size, user);
	}
	return old;
}

/* INC/DEC of the register d->rm (CF is kept). */
static inline void inc_dec_reg(struct x86_cpu *cpu, struct insn *d, bool dec, unsigned size)
{
	uint32_t cf = x86_cf(cpu);
	uint64_t old = x86_get_reg(cpu, d, d->rm, size), r = (dec ? old - 1 : old + 1) & size_mask(size);

	set_cc(cpu, dec ? CC_DEC : CC_INC, size, r, old, cf);
	x86_set_reg(cpu, d, d->rm, r, size);
}

/* --- multiply / divide --- */

static void mul_op(struct x86_cpu *cpu, struct insn *d, unsigned op, unsigned size)
{
	uint64_t m = size_mask(size), a = cpu->gpr[X86_RAX] & m, b = rm_read(cpu, d, size);
	unsigned bits = size * 8;

	switch (op) {
	case 4: { /* MUL */
		unsigned __int128 r = (unsigned __int128)a * b;
		uint64_t lo = (uint64_t)r & m, hi = (uint64_t)(r >> bits) & m;
		if (size == 1) {
			x86_set_reg(cpu, d, X86_RAX, (hi << 8) | lo, 2);
		} else {
			x86_set_reg(cpu, d, X86_RAX, lo, size);
			x86_set_reg(cpu, d, X86_RDX, hi, size);
		}
		set_cc(cpu, CC_MUL, size, lo, hi != 0, 0);
		break;
	}
	case 5: { /* IMUL */
		__int128 r = (__int128)sext(a, size) * sext(b, size);
		uint64_t lo = (uint64_t)r & m, hi = (uint64_t)(r >> bits) & m;
		bool ovf = r != (__int128)sext(lo, size);
		if (size == 1) {
			x86_set_reg(cpu, d, X86_RAX, (hi << 8) | lo, 2);
		} else {
			x86_set_reg(cpu, d, X86_RAX, lo, size);
			x86_set_reg(cpu, d, X86_RDX, hi, size);
		}
		set_cc(cpu, CC_MUL, size, lo, ovf, 0);
		break;
	}
	case 6: { /* DIV */
		unsigned __int128 n;
		uint64_t q, r;
		if (!b)
			x86_fault(cpu, EXC_DE, 0);
		if (size == 1)
			n = cpu->gpr[X86_RAX] & 0xffff;
		else
			n = ((unsigned __int128)(cpu->gpr[X86_RDX] & m) << bits) | a;
		if (n / b > m)
			x86_fault(cpu, EXC_DE, 0);
		q = (uint64_t)(n / b);
		r = (uint64_t)(n % b);
		if (size == 1) {
			x86_set_reg(cpu, d, X86_RAX, (r << 8) | q, 2);
		} else {
			x86_set_reg(cpu, d, X86_RAX, q, size);
			x86_set_reg(cpu, d, X86_RDX, r, size);
		}
		break;
	}
	default: { /* IDIV */
		__int128 n, q, r, sb = sext(b, size);
		if (!b)
			x86_fault(cpu, EXC_DE, 0);
		if (size == 1) {
			n = (int16_t)cpu->gpr[X86_RAX];
		} else {
			unsigned __int128 u = ((unsigned __int128)(cpu->gpr[X86_RDX] & m) << bits) | a;
			unsigned k = 128 - 2 * bits;
			n = (__int128)(u << k) >> k;
		}
		if (sb == -1) {
			if (size == 8 && n == (__int128)((unsigned __int128)1 << 127))
				x86_fault(cpu, EXC_DE, 0);
			q = -n;
			r = 0;
		} else {
			q = n / sb;
			r = n % sb;
		}
		if (q != (__int128)sext((uint64_t)q & m, size))
			x86_fault(cpu, EXC_DE, 0);
		if (size == 1) {
			x86_set_reg(cpu, d, X86_RAX, (((uint64_t)r & 0xff) << 8) | ((uint64_t)q & 0xff), 2);
		} else {
			x86_set_reg(cpu, d, X86_RAX, (uint64_t)q, size);
			x86_set_reg(cpu, d, X86_RDX, (uint64_t)r, size);
		}
		break;
	}
	}
}

/* IMUL r, r/m, imm (and the two-operand form with imm = the register). */
static uint64_t imul2(struct x86_cpu *cpu, uint64_t a, uint64_t b, unsigned size)
{
	__int128 r = (__int128)sext(a, size) * sext(b, size);
	uint64_t lo = (uint64_t)r & size_mask(size);

	set_cc(cpu, CC_MUL, size, lo, r != (__int128)sext(lo, size), 0);
	return lo;
}

/* Near branch target in the current code size. */
static inline void jump_to(struct x86_cpu *cpu, uint64_t target, unsigned opsize)
{
	cpu->rip = cpu->code64 && opsize != 2 ? target : target & size_mask(opsize);
}

/* SHLD/SHRD. */
static void shld_shrd(struct x86_cpu *cpu, struct insn *d, bool right, unsigned count, unsigned size)
{
	unsigned bits = size * 8;
	uint64_t m = size_mask(size), dst, src, r;
	bool cf;

	count &= size == 8 ? 63 : 31;
	probe_write(cpu, d, size);
	if (!count) {
		dst = rm_read(cpu, d, size);
		if (size == 4 && d->mod == 3)
			rm_write(cpu, d, dst, size); /* a 32-bit register is zero-extended even so */
		return;
	}
	dst = rm_read(cpu, d, size);
	src = x86_get_reg(cpu, d, d->reg, size);
	if (count > bits) /* undefined for 16-bit; do something consistent */
		count %= bits;
	if (!count)
		return;
	if (!right) {
		r = ((dst << count) | (count == bits ? 0 : src >> (bits - count))) & m;
		if (count == bits)
			r = src;
		cf = (dst >> (bits - count)) & 1;
	} else {
		r = ((dst >> count) | (src << (bits - count))) & m;
		if (count == bits)
			r = src;
		cf = (dst >> (count - 1)) & 1;
	}
	rm_write(cpu, d, r, size);
	set_cc(cpu, CC_LOGIC, size, r, 0, 0);
	x86_flags_commit(cpu);
	cpu->rflags |= cf ? F_CF : 0;
	if (((r ^ dst) >> (bits - 1)) & 1)
		cpu->rflags |= F_OF;
}

/* BT/BTS/BTR/BTC with a register or immediate bit offset. */
static void bit_op(struct x86_cpu *cpu, struct insn *d, unsigned which, uint64_t off, bool reg_off,
		   unsigned size)
{
	unsigned bits = size * 8;
	uint64_t v;

	struct insn moved;

	if (d->mod != 3 && reg_off) {
		int64_t so = sext(off, size);
		int64_t byte = (so >> 3) & ~(int64_t)(size - 1);
		if (so < 0)
			byte = -(((-so - 1) / bits + 1) * (int64_t)size);
		else
			byte = (so / bits) * size;
		moved = *d; /* d may be a cached decode: adjust a copy */
		moved.disp += byte;
		d = &moved;
	}
	off &= bits - 1;
	if (which == 0) {
		v = rm_read(cpu, d, size);
		x86_flags_commit(cpu);
		cpu->rflags = (cpu->rflags & ~(uint64_t)F_CF) | ((v >> off) & 1);
		return;
	}
	rmw(cpu, d, RMW_BTS + which - 1, 0, off, size, d->lock);
}

/* BSF/BSR/TZCNT/LZCNT. */
static void bit_scan(struct x86_cpu *cpu, struct insn *d, bool reverse, unsigned size)
{
	uint64_t v = rm_read(cpu, d, size);
	unsigned r;

	x86_flags_commit(cpu);
	if (d->rep == 0xf3 && !reverse) { /* TZCNT (BMI1 not advertised, still defined) */
		r = v ? (unsigned)__builtin_ctzll(v) : size * 8;
		x86_set_reg(cpu, d, d->reg, r, size);
		cpu->rflags &= ~(uint64_t)(F_CF | F_ZF);
		cpu->rflags |= (v ? 0 : F_CF) | (r == 0 ? F_ZF : 0);
		return;
	}
	if (!v) {
		cpu->rflags |= F_ZF; /* destination unchanged */
		return;
	}
	cpu->rflags &= ~(uint64_t)F_ZF;
	r = reverse ? 63 - (unsigned)__builtin_clzll(v) : (unsigned)__builtin_ctzll(v);
	x86_set_reg(cpu, d, d->reg, r, size);
}

/* CMPXCHG r/m, r. */
static void cmpxchg(struct x86_cpu *cpu, struct insn *d, unsigned size)
{
	uint64_t m = size_mask(size), acc = cpu->gpr[X86_RAX] & m, src = x86_get_reg(cpu, d, d->reg, size);
	uint64_t old;
	uint8_t *p;

	if (d->mod == 3) {
		old = x86_get_reg(cpu, d, d->rm, size);
		alu_fast(cpu, 7, acc, old, size);
		if (old == acc)
			x86_set_reg(cpu, d, d->rm, src, size);
		else
			x86_set_reg(cpu, d, X86_RAX, old, size);
		return;
	}
	probe_write(cpu, d, size); /* it always writes */
	p = atomic_ptr(cpu, d->ea_seg, ea_of(cpu, d), size);
	if (p) {
		old = acc;
		cas_host(p, size, &old, src);
	} else {
		old = mem_read(cpu, d->ea_seg, ea_of(cpu, d), size);
		/* The processor always writes (the old value back on failure). */
		mem_write(cpu, d->ea_seg, ea_of(cpu, d), old == acc ? src : old, size);
	}
	alu_fast(cpu, 7, acc, old, size);
	if (old != acc)
		x86_set_reg(cpu, d, X86_RAX, old, size);
}

/* CMPXCHG8B / CMPXCHG16B. */
static void cmpxchg8b16b(struct x86_cpu *cpu, struct insn *d)
{
	bool wide = d->opsize == 8;
	unsigned size = wide ? 16 : 8;
	uint64_t ea = ea_of(cpu, d), lin = seg_lin(cpu, d->ea_seg, ea);
	bool eq;

	if (d->mod == 3)
		x86_ud(cpu);
	if (wide && (lin & 15))
		x86_gp0(cpu);
	probe_write(cpu, d, size); /* it always writes */
	x86_flags_commit(cpu);
	if (wide) {
		unsigned __int128 exp = ((unsigned __int128)cpu->gpr[X86_RDX] << 64) | cpu->gpr[X86_RAX];
		unsigned __int128 des = ((unsigned __int128)cpu->gpr[X86_RCX] << 64) | cpu->gpr[X86_RBX];
		unsigned __int128 old;
		uint8_t *p = x86_lin_ptr(cpu, lin, 16, ACC_W, cpu_user(cpu));
		if (p) {
			uint64_t lo = (uint64_t)exp, hi = (uint64_t)(exp >> 64);
			__asm__ volatile("lock cmpxchg16b %1\n\tsetz %0"
					 : "=q"(eq), "+m"(*(unsigned __int128 *)p), "+a"(lo), "+d"(hi)
					 : "b"((uint64_t)des), "c"((uint64_t)(des >> 64))
					 : "memory", "cc");
			old = ((unsigned __int128)hi << 64) | lo;
		} else {
			uint64_t lo = mem_read(cpu, d->ea_seg, ea, 8), hi = mem_read(cpu, d->ea_seg, ea + 8, 8);
			old = ((unsigned __int128)hi << 64) | lo;
			eq = old == exp;
			if (eq) {
				mem_write(cpu, d->ea_seg, ea, (uint64_t)des, 8);
				mem_write(cpu, d->ea_seg, ea + 8, (uint64_t)(des >> 64), 8);
			}
		}
		if (!eq) {
			cpu->gpr[X86_RAX] = (uint64_t)old;
			cpu->gpr[X86_RDX] = (uint64_t)(old >> 64);
		}
	} else {
		uint64_t exp = ((cpu->gpr[X86_RDX] & 0xffffffff) << 32) | (uint32_t)cpu->gpr[X86_RAX];
		uint64_t des = ((cpu->gpr[X86_RCX] & 0xffffffff) << 32) | (uint32_t)cpu->gpr[X86_RBX];
		uint64_t old;
		uint8_t *p = (lin & 7) ? NULL : x86_lin_ptr(cpu, lin, 8, ACC_W, cpu_user(cpu));
		if (p) {
			old = exp;
			eq = cas_host(p, 8, &old, des);
		} else {
			old = mem_read(cpu, d->ea_seg, ea, 8);
			eq = old == exp;
			mem_write(cpu, d->ea_seg, ea, eq ? des : old, 8);
		}
		if (!eq) {
			cpu->gpr[X86_RAX] = (uint32_t)old;
			cpu->gpr[X86_RDX] = old >> 32;
		}
	}
	(void)size;
	cpu->rflags = (cpu->rflags & ~(uint64_t)F_ZF) | (eq ? F_ZF : 0);
}

/* Decimal adjust and ASCII adjust (16/32-bit code only). */
static void bcd_op(struct x86_cpu *cpu, uint8_t op, uint8_t imm)
{
	uint32_t f = x86_flags(cpu);
	uint8_t al = cpu->gpr[X86_RAX], ah = cpu->gpr[X86_RAX] >> 8, old = al;
	bool cf = f & F_CF, af = f & F_AF;

	switch (op) {
	case 0x27: /* DAA */
	case 0x2f: /* DAS */
		if ((al & 0xf) > 9 || af) {
			al = op == 0x27 ? al + 6 : al - 6;
			af = true;
		} else {
			af = false;
		}
		if (old > 0x99 || cf) {
			al = op == 0x27 ? al + 0x60 : al - 0x60;
			cf = true;
		} else {
			cf = false;
		}
		break;
	case 0x37: /* AAA */
	case 0x3f: /* AAS */
		if ((al & 0xf) > 9 || af) {
			al = op == 0x37 ? al + 6 : al - 6;
			ah = op == 0x37 ? ah + 1 : ah - 1;
			af = cf = true;
		} else {
			af = cf = false;
		}
		al &= 0xf;
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffffULL) | ((uint64_t)ah << 8) | al;
		x86_flags_commit(cpu);
		cpu->rflags = (cpu->rflags & ~(uint64_t)(F_CF | F_AF)) | (cf ? F_CF | F_AF : 0);
		return;
	case 0xd4: /* AAM */
		if (!imm)
			x86_fault(cpu, EXC_DE, 0);
		ah = al / imm;
		al = al % imm;
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffffULL) | ((uint64_t)ah << 8) | al;
		set_cc(cpu, CC_LOGIC, 1, al, 0, 0);
		return;
	default: /* AAD */
		al = (uint8_t)(al + ah * imm);
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffffULL) | al;
		set_cc(cpu, CC_LOGIC, 1, al, 0, 0);
		return;
	}
	cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffULL) | al;
	set_cc(cpu, CC_LOGIC, 1, al, 0, 0);
	x86_flags_commit(cpu);
	cpu->rflags |= (cf ? F_CF : 0) | (af ? F_AF : 0);
}

/* MOV Sreg / POP Sreg / LxS: load a segment register; SS starts an interrupt shadow. */
static void load_sreg(struct x86_cpu *cpu, int seg, uint16_t sel)
{
	if (seg == SEG_CS || seg > SEG_GS)
		x86_ud(cpu);
	x86_load_seg(cpu, seg, sel);
	if (seg == SEG_SS)
		cpu->shadow = 1;
}

/* The instructions in x86_exec_0f (two-byte map). */
static void exec_0f(struct x86_cpu *cpu, struct insn *d);
void x86_exec_system(struct x86_cpu *cpu, struct insn *d); /* system.c: 0F 00, 0F 01 and friends */

/* Does one-byte opcode b have a ModRM byte? */
static inline bool has_modrm1(unsigned b)
{
	switch (b) {
	case 0x00 ... 0x03: case 0x08 ... 0x0b: case 0x10 ... 0x13: case 0x18 ... 0x1b:
	case 0x20 ... 0x23: case 0x28 ... 0x2b: case 0x30 ... 0x33: case 0x38 ... 0x3b:
	case 0x62: case 0x63: case 0x69: case 0x6b: case 0x80 ... 0x8f: case 0xc0: case 0xc1:
	case 0xc4 ... 0xc7: case 0xd0 ... 0xd3: case 0xd8 ... 0xdf: case 0xf6: case 0xf7:
	case 0xfe: case 0xff:
		return true;
	}
	return false;
}

/* Does two-byte opcode 0F b have a ModRM byte? */
static inline bool has_modrm2(unsigned b)
{
	switch (b) {
	case 0x04 ... 0x0c: case 0x0e: case 0x30 ... 0x3f: case 0x77: case 0x80 ... 0x8f:
	case 0xa0 ... 0xa2: case 0xa8 ... 0xaa: case 0xc8 ... 0xcf:
		return false;
	}
	return true;
}

/* Read the immediates of d (sizes from the opcode maps). */
static inline void decode_imm(struct x86_cpu *cpu, struct insn *d)
{
	unsigned n = 0, n2 = 0, z = d->opsize == 2 ? 2 : 4;

	if (d->op < 0x100) {
		switch (d->op) {
		case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c:
		case 0x6a: case 0x6b: case 0x70 ... 0x7f: case 0x80: case 0x82: case 0x83: case 0xa8:
		case 0xb0 ... 0xb7: case 0xc0: case 0xc1: case 0xc6: case 0xcd: case 0xd4: case 0xd5:
		case 0xe0 ... 0xe7: case 0xeb:
			n = 1;
			break;
		case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d:
		case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7: case 0xe8: case 0xe9:
			n = z;
			break;
		case 0xb8 ... 0xbf:
			n = d->opsize;
			break;
		case 0xc2: case 0xca:
			n = 2;
			break;
		case 0xc8:
			n = 2;
			n2 = 1;
			break;
		case 0xa0 ... 0xa3:
			n = d->addrsize;
			break;
		case 0x9a: case 0xea:
			n = z;
			n2 = 2;
			break;
		case 0xf6:
			n = (d->reg & 7) < 2 ? 1 : 0;
			break;
		case 0xf7:
			n = (d->reg & 7) < 2 ? z : 0;
			break;
		}
	} else {
		switch (d->op & 0xff) {
		case 0x70 ... 0x73: case 0xa4: case 0xac: case 0xba: case 0xc2: case 0xc4: case 0xc5:
		case 0xc6:
			n = 1;
			break;
		case 0x80 ... 0x8f:
			n = z;
			break;
		}
	}
	d->imm = n ? fetch_n(cpu, n) : 0;
	d->imm2 = n2 ? (uint16_t)fetch_n(cpu, n2) : 0;
}

/* Decode the whole instruction at the fetch position into d. */
static void decode(struct x86_cpu *cpu, struct insn *d)
{
	uint8_t b;
	bool op66 = false, op67 = false;

	d->seg = SEG_NONE;
	d->rep = 0;
	d->lock = false;
	d->rex = 0;
	d->has_modrm = false;
	d->rip_rel = false;
	d->mod = 3;
	for (unsigned npfx = 0;; npfx++) {
		if (unlikely(npfx >= 15))
			x86_fault(cpu, EXC_GP, 0); /* longer than 15 bytes */
		b = fetch8(cpu);
		switch (b) {
		case 0x26: d->seg = SEG_ES; d->rex = 0; continue;
		case 0x2e: d->seg = SEG_CS; d->rex = 0; continue;
		case 0x36: d->seg = SEG_SS; d->rex = 0; continue;
		case 0x3e: d->seg = SEG_DS; d->rex = 0; continue;
		case 0x64: d->seg = SEG_FS; d->rex = 0; continue;
		case 0x65: d->seg = SEG_GS; d->rex = 0; continue;
		case 0x66: op66 = true; d->rex = 0; continue;
		case 0x67: op67 = true; d->rex = 0; continue;
		case 0xf0: d->lock = true; d->rex = 0; continue;
		case 0xf2:
		case 0xf3: d->rep = b; d->rex = 0; continue;
		}
		if (cpu->code64 && (b & 0xf0) == 0x40) {
			d->rex = b;
			continue;
		}
		break;
	}
	if (cpu->code64) {
		d->opsize = (d->rex & 8) ? 8 : op66 ? 2 : 4;
		d->addrsize = op67 ? 4 : 8;
	} else {
		d->opsize = op66 ? cpu->def_size ^ 6 : cpu->def_size;
		d->addrsize = op67 ? cpu->def_size ^ 6 : cpu->def_size;
	}
	d->opsize_prefix = op66;
	d->stack_opsize = cpu->code64 ? (op66 ? 2 : 8) : d->opsize;
	if (b == 0x0f) {
		b = fetch8(cpu);
		d->op = 0x0f00 | b;
		if (has_modrm2(b))
			decode_modrm(cpu, d);
	} else {
		d->op = b;
		if (has_modrm1(b))
			decode_modrm(cpu, d);
	}
	decode_imm(cpu, d);
	d->len = (uint8_t)(fetch_pos(cpu) - cpu->rip);
}

static inline unsigned icache_index(const uint8_t *p)
{
	uintptr_t a = (uintptr_t)p;

	return (unsigned)(a ^ (a >> 12)) & (X86_ICACHE_SIZE - 1);
}

/*
 * Fetch and decode the instruction at RIP, through the decoded-instruction
 * cache when the instruction lies in the current code page with room for a
 * 16-byte comparison. Returns the cached decode or d; handlers must not
 * modify it.
 */
static inline __attribute__((always_inline)) struct insn *fetch_insn(struct x86_cpu *cpu,
								    struct insn *d)
{
	uint64_t lin = cpu->code64 ? cpu->rip : (uint32_t)(cpu->rip + cpu->seg[SEG_CS].base);
	uint8_t mode = cpu->code64 | cpu->def_size;

	if ((lin & ~0xfffULL) == cpu->fetch_page_lin && (lin & 0xfff) <= 0x1000 - 16) {
		const uint8_t *p = cpu->fetch_page_host + (lin & 0xfff);
		struct x86_icache_entry *e = &cpu->icache[icache_index(p)];
		uint64_t b0, b1;

		memcpy(&b0, p, 8);
		memcpy(&b1, p + 8, 8);
		/* All 16 bytes are compared, not just the instruction's: a change after
		 * it only costs a decode, and the hit test needs no masks. */
		if (e->host == p && e->d.cache_mode == mode &&
		    !((b0 ^ e->bytes[0]) | (b1 ^ e->bytes[1])))
			return &e->d;
		cpu->fetch_ptr = p;
		cpu->fetch_end = cpu->fetch_page_host + 0x1000;
		cpu->fetch_bias = cpu->rip - (uint64_t)(uintptr_t)p;
		decode(cpu, d);
		if (cpu->fetch_ptr == p + d->len) { /* decoded within this page */
			e->host = p;
			e->bytes[0] = b0;
			e->bytes[1] = b1;
			e->d = *d;
			e->d.cache_mode = mode;
		}
		return d;
	}
	fetch_start(cpu);
	decode(cpu, d);
	return d;
}

/* imm of an Iz operand: 16 bits, or 32 bits sign-extended. */
static inline uint64_t imm_z(const struct insn *d, unsigned opsize)
{
	return opsize == 2 ? d->imm & 0xffff : (uint64_t)sext(d->imm, 4);
}

/*
 * The hot one-byte opcodes, one inlined copy per opcode and operand size so
 * that the operand size, ALU operation and form fold at compile time.
 */

/* ALU op (0-7) in form 0 (Eb,Gb / Ev,Gv), 1 (Gb,Eb / Gv,Ev) or 2 (AL/eAX, imm). */
static inline __attribute__((always_inline)) void alu_form(struct x86_cpu *cpu, struct insn *d,
							   unsigned op, unsigned form, unsigned size)
{
	uint64_t v, t;

	switch (form) {
	case 0:
		if (d->lock && d->mod == 3)
			x86_ud(cpu);
		if (op == 7)
			alu_fast(cpu, 7, rm_read(cpu, d, size), x86_get_reg(cpu, d, d->reg, size), size);
		else if (d->mod == 3) /* register fast path */
			x86_set_reg(cpu, d, d->rm,
				    alu_fast(cpu, op, x86_get_reg(cpu, d, d->rm, size),
					     x86_get_reg(cpu, d, d->reg, size), size),
				    size);
		else
			rmw(cpu, d, RMW_ALU, op, x86_get_reg(cpu, d, d->reg, size), size, d->lock);
		break;
	case 1:
		v = alu_fast(cpu, op, x86_get_reg(cpu, d, d->reg, size), rm_read(cpu, d, size), size);
		if (op != 7)
			x86_set_reg(cpu, d, d->reg, v, size);
		break;
	default:
		t = size == 1 ? d->imm : imm_z(d, size);
		v = alu_fast(cpu, op, cpu->gpr[X86_RAX], t, size);
		if (op != 7)
			x86_set_reg(cpu, d, X86_RAX, v, size);
		break;
	}
}

#define ALU_CASES(o)                                                \
	case (o) * 8 + 0:                                           \
		alu_form(cpu, d, o, 0, 1);                          \
		break;                                              \
	case (o) * 8 + 1:                                           \
		BY_SIZE(os, alu_form, cpu, d, o, 0);                \
		break;                                              \
	case (o) * 8 + 2:                                           \
		alu_form(cpu, d, o, 1, 1);                          \
		break;                                              \
	case (o) * 8 + 3:                                           \
		BY_SIZE(os, alu_form, cpu, d, o, 1);                \
		break;                                              \
	case (o) * 8 + 4:                                           \
		alu_form(cpu, d, o, 2, 1);                          \
		break;                                              \
	case (o) * 8 + 5:                                           \
		BY_SIZE(os, alu_form, cpu, d, o, 2);                \
		break

/* Group 1 (80, 81, 83): op r/m, imm. */
static inline __attribute__((always_inline)) void grp1(struct x86_cpu *cpu, struct insn *d,
						       unsigned b, unsigned size)
{
	unsigned op = d->reg & 7;
	uint64_t t = b == 0x81 ? imm_z(d, size) : (uint64_t)sext(d->imm, 1);

	if (d->lock && (d->mod == 3 || op == 7))
		x86_ud(cpu);
	if (op == 7)
		alu_fast(cpu, 7, rm_read(cpu, d, size), t, size);
	else if (d->mod == 3) /* register fast path */
		x86_set_reg(cpu, d, d->rm, alu_fast(cpu, op, x86_get_reg(cpu, d, d->rm, size), t, size),
			    size);
	else
		rmw(cpu, d, RMW_ALU, op, t, size, d->lock);
}

/* TEST r/m, r (84, 85). */
static inline __attribute__((always_inline)) void test_rm_r(struct x86_cpu *cpu, struct insn *d,
							    unsigned size)
{
	alu_fast(cpu, 4, rm_read(cpu, d, size), x86_get_reg(cpu, d, d->reg, size), size);
}

/* MOV r/m, r (88, 89) and MOV r, r/m (8A, 8B). */
static inline __attribute__((always_inline)) void mov_rm_r(struct x86_cpu *cpu, struct insn *d,
							   bool load, unsigned size)
{
	if (load)
		x86_set_reg(cpu, d, d->reg, rm_read(cpu, d, size), size);
	else
		rm_write(cpu, d, x86_get_reg(cpu, d, d->reg, size), size);
}

/* LEA (8D). */
static inline __attribute__((always_inline)) void lea(struct x86_cpu *cpu, struct insn *d,
						      unsigned size)
{
	if (d->mod == 3)
		x86_ud(cpu);
	x86_set_reg(cpu, d, d->reg, ea_of(cpu, d), size);
}

/* MOV r/m, imm (C7). */
static inline __attribute__((always_inline)) void mov_rm_imm(struct x86_cpu *cpu, struct insn *d,
							     unsigned size)
{
	if (d->reg & 7)
		x86_ud(cpu);
	rm_write(cpu, d, imm_z(d, size), size);
}

/* Execute one instruction at cpu->rip (inlined into the loops below). */
static inline __attribute__((always_inline)) void step(struct x86_cpu *cpu)
{
	struct insn local, *d;
	uint8_t b;
	unsigned os, size, sos;
	uint64_t v, t;
	int64_t rel;

	d = fetch_insn(cpu, &local);
	cpu->next_rip = cpu->rip + d->len;
	os = d->opsize;
	sos = d->stack_opsize;
	if (d->op >= 0x100) {
		/* The hottest two-byte opcodes inline: Jcc rel32, MOVZX. */
		if ((d->op & 0xfff0) == 0x0f80 && !d->lock) {
			if (cond_fast(cpu, d->op & 15)) {
				jump_to(cpu, x86_next_rip(cpu) + sext(d->imm, os == 2 ? 2 : 4), sos);
				return;
			}
		} else if ((d->op == 0x0fb6 || d->op == 0x0fb7) && !d->lock) {
			v = rm_read(cpu, d, d->op == 0x0fb7 ? 2 : 1);
			if (os == 8)
				cpu->gpr[d->reg] = v;
			else
				x86_set_reg(cpu, d, d->reg, v, os);
		} else {
			exec_0f(cpu, d);
			return;
		}
		cpu->rip = cpu->code64 ? x86_next_rip(cpu) : x86_next_rip(cpu) & size_mask(cpu->def_size);
		return;
	}
	b = (uint8_t)d->op;
	if (d->lock) {
		/* LOCK is valid only on read-modify-write forms with a memory operand. */
		static const uint8_t ok[256] = {
			[0x00] = 1, [0x01] = 1, [0x08] = 1, [0x09] = 1, [0x10] = 1, [0x11] = 1,
			[0x18] = 1, [0x19] = 1, [0x20] = 1, [0x21] = 1, [0x28] = 1, [0x29] = 1,
			[0x30] = 1, [0x31] = 1, [0x80] = 1, [0x81] = 1, [0x83] = 1, [0x86] = 1,
			[0x87] = 1, [0xf6] = 1, [0xf7] = 1, [0xfe] = 1, [0xff] = 1,
		};
		if (!ok[b])
			x86_ud(cpu);
	}

	switch (b) {
	ALU_CASES(0);
	ALU_CASES(1);
	ALU_CASES(2);
	ALU_CASES(3);
	ALU_CASES(4);
	ALU_CASES(5);
	ALU_CASES(6);
	ALU_CASES(7);
	case 0x06: case 0x0e: case 0x16: case 0x1e: /* PUSH ES/CS/SS/DS */
		if (cpu->code64)
			x86_ud(cpu);
		x86_push(cpu, cpu->seg[b >> 3].selector, os);
		break;
	case 0x07: case 0x17: case 0x1f: { /* POP ES/SS/DS */
		uint64_t sp = cpu->gpr[X86_RSP];
		if (cpu->code64)
			x86_ud(cpu);
		v = x86_pop(cpu, os);
		cpu->gpr[X86_RSP] = sp;
		load_sreg(cpu, b >> 3, v);
		x86_pop(cpu, os);
		break;
	}
	case 0x27: case 0x2f: case 0x37: case 0x3f:
		if (cpu->code64)
			x86_ud(cpu);
		bcd_op(cpu, b, 0);
		break;
	case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
	case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
		d->mod = 3;
		d->rm = b & 7;
		inc_dec_reg(cpu, d, b >= 0x48, os);
		break;
	case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
		if (sos == 8)
			push(cpu, cpu->gpr[(b & 7) | ((d->rex & 1) << 3)], 8);
		else
			x86_push(cpu, cpu->gpr[(b & 7) | ((d->rex & 1) << 3)], sos);
		break;
	case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
		if (sos == 8) {
			v = pop(cpu, 8);
			cpu->gpr[(b & 7) | ((d->rex & 1) << 3)] = v;
			break;
		}
		v = x86_pop(cpu, sos);
		x86_set_reg(cpu, d, (b & 7) | ((d->rex & 1) << 3), v, sos);
		break;
	case 0x60: { /* PUSHA */
		uint64_t sp = cpu->gpr[X86_RSP];
		unsigned i;
		if (cpu->code64)
			x86_ud(cpu);
		for (i = 0; i < 8; i++)
			x86_push(cpu, i == X86_RSP ? sp : cpu->gpr[i], os);
		break;
	}
	case 0x61: { /* POPA */
		uint64_t r[8];
		int i;
		if (cpu->code64)
			x86_ud(cpu);
		for (i = 7; i >= 0; i--)
			r[i] = x86_pop(cpu, os);
		for (i = 0; i < 8; i++)
			if (i != X86_RSP)
				x86_set_reg(cpu, d, i, r[i], os);
		break;
	}
	case 0x63:
		if (!cpu->code64)
			x86_ud(cpu); /* ARPL: not supported */
		v = rm_read(cpu, d, 4);
		x86_set_reg(cpu, d, d->reg, os == 8 ? (uint64_t)(int64_t)(int32_t)v : v, os);
		break;
	case 0x68:
		x86_push(cpu, imm_z(d, sos), sos);
		break;
	case 0x6a:
		x86_push(cpu, sext(d->imm, 1), sos);
		break;
	case 0x69:
	case 0x6b:
		t = b == 0x69 ? imm_z(d, os) : (uint64_t)sext(d->imm, 1);
		v = imul2(cpu, rm_read(cpu, d, os), t, os);
		x86_set_reg(cpu, d, d->reg, v, os);
		break;
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
	case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab:
	case 0xac: case 0xad: case 0xae: case 0xaf:
		if (!x86_string(cpu, d)) {
			cpu->rip = cpu->insn_rip; /* REP interrupted: resume it next time */
			return;
		}
		break;
	case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
	case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
		rel = sext(d->imm, 1);
		if (cond_fast(cpu, b & 15)) {
			jump_to(cpu, x86_next_rip(cpu) + rel, sos);
			return;
		}
		break;
	case 0x80: case 0x82:
		if (b == 0x82 && cpu->code64)
			x86_ud(cpu);
		grp1(cpu, d, 0x80, 1);
		break;
	case 0x81:
		BY_SIZE(os, grp1, cpu, d, 0x81);
		break;
	case 0x83:
		BY_SIZE(os, grp1, cpu, d, 0x83);
		break;
	case 0x84:
		test_rm_r(cpu, d, 1);
		break;
	case 0x85:
		BY_SIZE(os, test_rm_r, cpu, d);
		break;
	case 0x86: case 0x87:
		size = (b & 1) ? os : 1;
		if (d->lock && d->mod == 3)
			x86_ud(cpu);
		t = x86_get_reg(cpu, d, d->reg, size);
		v = rmw(cpu, d, RMW_XCHG, 0, t, size, true);
		x86_set_reg(cpu, d, d->reg, v, size);
		break;
	case 0x88:
		mov_rm_r(cpu, d, false, 1);
		break;
	case 0x89:
		BY_SIZE(os, mov_rm_r, cpu, d, false);
		break;
	case 0x8a:
		mov_rm_r(cpu, d, true, 1);
		break;
	case 0x8b:
		BY_SIZE(os, mov_rm_r, cpu, d, true);
		break;
	case 0x8c:
		if ((d->reg & 7) > 5)
			x86_ud(cpu);
		rm_write(cpu, d, cpu->seg[d->reg & 7].selector, d->mod == 3 ? os : 2);
		break;
	case 0x8d:
		BY_SIZE(os, lea, cpu, d);
		break;
	case 0x8e:
		load_sreg(cpu, d->reg & 7, rm_read(cpu, d, 2));
		break;
	case 0x8f:
		if (d->reg & 7)
			x86_ud(cpu);
		v = x86_pop(cpu, sos);
		rm_write(cpu, d, v, sos);
		break;
	case 0x90:
		if (d->rex & 1)
			goto xchg;
		if (d->rep == 0xf3)
			cpu->pause_hint = true; /* PAUSE */
		break;
	case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
	xchg: {
		unsigned r = (b & 7) | ((d->rex & 1) << 3);
		v = cpu->gpr[r];
		x86_set_reg(cpu, d, r, cpu->gpr[X86_RAX], os);
		x86_set_reg(cpu, d, X86_RAX, v, os);
		break;
	}
	case 0x98: /* CBW/CWDE/CDQE */
		x86_set_reg(cpu, d, X86_RAX, sext(cpu->gpr[X86_RAX], os / 2), os);
		break;
	case 0x99: /* CWD/CDQ/CQO */
		x86_set_reg(cpu, d, X86_RDX, sext(cpu->gpr[X86_RAX], os) < 0 ? ~0ULL : 0, os);
		break;
	case 0x9a: { /* CALLF ptr16:16/32 */
		uint64_t off;
		uint16_t sel;
		if (cpu->code64)
			x86_ud(cpu);
		off = d->imm;
		sel = d->imm2;
		x86_far_jump(cpu, sel, off, os, true, x86_next_rip(cpu));
		return;
	}
	case 0x9b: /* FWAIT */
		if ((cpu->cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
			x86_fault(cpu, EXC_NM, 0);
		break;
	case 0x9c: /* PUSHF */
		if ((cpu->rflags & F_VM) && ((cpu->rflags >> 12) & 3) < 3)
			x86_gp0(cpu);
		x86_push(cpu, x86_cpu_rflags(cpu) & ~(uint64_t)(F_VM | F_RF), sos);
		break;
	case 0x9d: { /* POPF */
		uint64_t mask = F_ARITH | F_TF | F_DF | F_NT | F_AC | F_ID;
		unsigned iopl = (cpu->rflags >> 12) & 3;
		bool was_if = cpu->rflags & F_IF;
		if ((cpu->rflags & F_VM) && iopl < 3)
			x86_gp0(cpu);
		v = x86_pop(cpu, sos);
		if (cpu->cpl == 0)
			mask |= F_IOPL;
		if (cpu->cpl <= iopl)
			mask |= F_IF;
		if (sos == 2)
			mask &= 0xffff;
		x86_set_rflags(cpu, v, mask);
		if (!was_if && (cpu->rflags & F_IF))
			cpu->window_event = true;
		break;
	}
	case 0x9e: /* SAHF */
		x86_set_rflags(cpu, (cpu->gpr[X86_RAX] >> 8) & 0xff, F_CF | F_PF | F_AF | F_ZF | F_SF);
		break;
	case 0x9f: /* LAHF */
		v = x86_cpu_rflags(cpu) & 0xff;
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xff00ULL) | (v << 8);
		break;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3: { /* MOV moffs */
		int seg = d->seg == SEG_NONE ? SEG_DS : d->seg;
		size = (b & 1) ? os : 1;
		t = d->imm;
		if (b < 0xa2)
			x86_set_reg(cpu, d, X86_RAX, mem_read(cpu, seg, t, size), size);
		else
			mem_write(cpu, seg, t, cpu->gpr[X86_RAX], size);
		break;
	}
	case 0xa8: case 0xa9:
		size = (b & 1) ? os : 1;
		t = (b & 1) ? imm_z(d, os) : d->imm;
		alu_fast(cpu, 4, cpu->gpr[X86_RAX], t, size);
		break;
	case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
		x86_set_reg(cpu, d, (b & 7) | ((d->rex & 1) << 3), d->imm, 1);
		break;
	case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
		x86_set_reg(cpu, d, (b & 7) | ((d->rex & 1) << 3), d->imm, os);
		break;
	case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		unsigned count;
		size = (b & 1) ? os : 1;
		if (b <= 0xc1)
			count = d->imm;
		else if (b <= 0xd1)
			count = 1;
		else
			count = cpu->gpr[X86_RCX] & 0xff;
		if ((count & (os == 8 ? 63 : 31)) == 0) {
			/* No flags change, but a 32-bit register is still zero-extended
			 * and memory is accessed as a write. */
			probe_write(cpu, d, size);
			rm_write(cpu, d, rm_read(cpu, d, size), size);
			break;
		}
		if (d->mod == 3) { /* register fast path */
			v = x86_shift(cpu, d->reg & 7, x86_get_reg(cpu, d, d->rm, size), count, size);
			x86_set_reg(cpu, d, d->rm, v, size);
			break;
		}
		rmw(cpu, d, RMW_SHIFT, d->reg & 7, count, size, false);
		break;
	}
	case 0xc2: case 0xc3: /* RET near */
		t = b == 0xc2 ? d->imm : 0;
		v = sos == 8 ? pop(cpu, 8) : x86_pop(cpu, sos);
		if (t) {
			uint64_t m = sp_mask(cpu);
			cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | ((cpu->gpr[X86_RSP] + t) & m);
		}
		jump_to(cpu, v, sos);
		return;
	case 0xc4: case 0xc5: /* LES/LDS (VEX in 64-bit mode: not supported) */
		if (cpu->code64)
			x86_ud(cpu);
		if (d->mod == 3)
			x86_ud(cpu);
		v = mem_read(cpu, d->ea_seg, ea_of(cpu, d), os);
		t = mem_read(cpu, d->ea_seg, ea_of(cpu, d) + os, 2);
		load_sreg(cpu, b == 0xc4 ? SEG_ES : SEG_DS, t);
		x86_set_reg(cpu, d, d->reg, v, os);
		break;
	case 0xc6:
		if (d->reg & 7)
			x86_ud(cpu);
		rm_write(cpu, d, d->imm, 1);
		break;
	case 0xc7:
		BY_SIZE(os, mov_rm_imm, cpu, d);
		break;
	case 0xc8: { /* ENTER */
		uint16_t alloc = d->imm;
		unsigned level = d->imm2 & 31, i;
		uint64_t m = sp_mask(cpu), fp, bp = cpu->gpr[X86_RBP];
		x86_push(cpu, bp, sos);
		fp = cpu->gpr[X86_RSP];
		for (i = 1; i < level; i++) {
			bp = (bp - sos) & size_mask(cpu->stack_size);
			x86_push(cpu, mem_read(cpu, SEG_SS, bp, sos), sos);
		}
		if (level)
			x86_push(cpu, fp, sos);
		x86_set_reg(cpu, d, X86_RBP, fp, cpu->stack_size);
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | ((cpu->gpr[X86_RSP] - alloc) & m);
		break;
	}
	case 0xc9: { /* LEAVE */
		uint64_t m = sp_mask(cpu);
		v = mem_read(cpu, SEG_SS, cpu->gpr[X86_RBP] & m, sos);
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | ((cpu->gpr[X86_RBP] + sos) & m);
		x86_set_reg(cpu, d, X86_RBP, v, sos);
		break;
	}
	case 0xca: case 0xcb: /* RETF */
		t = b == 0xca ? d->imm : 0;
		x86_far_ret(cpu, os, t);
		return;
	case 0xcc: /* INT3 */
		x86_deliver(cpu, EXC_BP, false, 0, EV_SOFT, x86_next_rip(cpu));
		return;
	case 0xcd: /* INT n */
		t = d->imm;
		if ((cpu->rflags & F_VM) && ((cpu->rflags >> 12) & 3) < 3)
			x86_gp0(cpu);
		x86_deliver(cpu, t, false, 0, EV_SOFT, x86_next_rip(cpu));
		return;
	case 0xce: /* INTO */
		if (cpu->code64)
			x86_ud(cpu);
		if (x86_flags(cpu) & F_OF) {
			x86_deliver(cpu, EXC_OF, false, 0, EV_SOFT, x86_next_rip(cpu));
			return;
		}
		break;
	case 0xcf: { /* IRET */
		bool was_if = cpu->rflags & F_IF;
		if ((cpu->rflags & F_VM) && ((cpu->rflags >> 12) & 3) < 3)
			x86_gp0(cpu);
		x86_iret(cpu, os);
		if (!was_if && (cpu->rflags & F_IF))
			cpu->window_event = true;
		return;
	}
	case 0xd4: case 0xd5:
		if (cpu->code64)
			x86_ud(cpu);
		bcd_op(cpu, b, d->imm);
		break;
	case 0xd6: /* SALC */
		if (cpu->code64)
			x86_ud(cpu);
		x86_set_reg(cpu, d, X86_RAX, (x86_flags(cpu) & F_CF) ? 0xff : 0, 1);
		break;
	case 0xd7: { /* XLAT */
		int seg = d->seg == SEG_NONE ? SEG_DS : d->seg;
		t = (cpu->gpr[X86_RBX] + (cpu->gpr[X86_RAX] & 0xff)) & size_mask(d->addrsize);
		x86_set_reg(cpu, d, X86_RAX, mem_read(cpu, seg, t, 1), 1);
		break;
	}
	case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
		x86_fpu_exec(cpu, d);
		break;
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: { /* LOOPcc, JCXZ */
		uint64_t am = size_mask(d->addrsize), c = cpu->gpr[X86_RCX] & am;
		bool take;
		rel = sext(d->imm, 1);
		if (b == 0xe3) {
			take = c == 0;
		} else {
			c = (c - 1) & am;
			cpu->gpr[X86_RCX] = d->addrsize == 4 ? c : (cpu->gpr[X86_RCX] & ~am) | c;
			take = c != 0;
			if (b == 0xe0)
				take = take && !(x86_flags(cpu) & F_ZF);
			else if (b == 0xe1)
				take = take && (x86_flags(cpu) & F_ZF);
		}
		if (take) {
			jump_to(cpu, x86_next_rip(cpu) + rel, sos);
			return;
		}
		break;
	}
	case 0xe4: case 0xe5: case 0xec: case 0xed: { /* IN */
		uint16_t port = b < 0xe8 ? d->imm : (uint16_t)cpu->gpr[X86_RDX];
		size = (b & 1) ? (os == 8 ? 4 : os) : 1;
		x86_check_io(cpu, port, size);
		v = cpu->plat.pio_read ? cpu->plat.pio_read(cpu->plat.opaque, port, size) : ~0ULL;
		x86_set_reg(cpu, d, X86_RAX, v, size);
		break;
	}
	case 0xe6: case 0xe7: case 0xee: case 0xef: { /* OUT */
		uint16_t port = b < 0xe8 ? d->imm : (uint16_t)cpu->gpr[X86_RDX];
		size = (b & 1) ? (os == 8 ? 4 : os) : 1;
		x86_check_io(cpu, port, size);
		cpu->rip = x86_next_rip(cpu); /* devices may look at the vCPU state */
		if (cpu->plat.pio_write)
			cpu->plat.pio_write(cpu->plat.opaque, port, cpu->gpr[X86_RAX] & size_mask(size), size);
		break;
	}
	case 0xe8: /* CALL rel */
		rel = sext(d->imm, os == 2 ? 2 : 4);
		if (sos == 8)
			push(cpu, x86_next_rip(cpu), 8);
		else
			x86_push(cpu, x86_next_rip(cpu), sos);
		jump_to(cpu, x86_next_rip(cpu) + rel, sos);
		return;
	case 0xe9:
		rel = sext(d->imm, os == 2 ? 2 : 4);
		jump_to(cpu, x86_next_rip(cpu) + rel, sos);
		return;
	case 0xea: { /* JMPF ptr */
		uint64_t off;
		uint16_t sel;
		if (cpu->code64)
			x86_ud(cpu);
		off = d->imm;
		sel = d->imm2;
		x86_far_jump(cpu, sel, off, os, false, x86_next_rip(cpu));
		return;
	}
	case 0xeb:
		rel = sext(d->imm, 1);
		jump_to(cpu, x86_next_rip(cpu) + rel, sos);
		return;
	case 0xf1: /* INT1 */
		x86_deliver(cpu, EXC_DB, false, 0, EV_SOFT, x86_next_rip(cpu));
		return;
	case 0xf4: /* HLT */
		if (cpu->cpl)
			x86_gp0(cpu);
		cpu->halted = true;
		break;
	case 0xf5: /* CMC */
		x86_flags_commit(cpu);
		cpu->rflags ^= F_CF;
		break;
	case 0xf6: case 0xf7: {
		unsigned op;
		size = (b & 1) ? os : 1;
		op = d->reg & 7;
		if (d->lock && (d->mod == 3 || (op != 2 && op != 3)))
			x86_ud(cpu);
		switch (op) {
		case 0:
		case 1:
			t = size == 1 ? d->imm : imm_z(d, os);
			alu_fast(cpu, 4, rm_read(cpu, d, size), t, size);
			break;
		case 2:
			rmw(cpu, d, RMW_NOT, 0, 0, size, d->lock);
			break;
		case 3:
			rmw(cpu, d, RMW_NEG, 0, 0, size, d->lock);
			break;
		default:
			mul_op(cpu, d, op, size);
			break;
		}
		break;
	}
	case 0xf8: case 0xf9: /* CLC/STC */
		x86_flags_commit(cpu);
		cpu->rflags = (cpu->rflags & ~(uint64_t)F_CF) | (b & 1);
		break;
	case 0xfa: /* CLI */
		if (cpu->cpl > ((cpu->rflags >> 12) & 3) && (cpu->cr0 & X86_CR0_PE))
			x86_gp0(cpu);
		cpu->rflags &= ~(uint64_t)F_IF;
		break;
	case 0xfb: /* STI */
		if (cpu->cpl > ((cpu->rflags >> 12) & 3) && (cpu->cr0 & X86_CR0_PE))
			x86_gp0(cpu);
		if (!(cpu->rflags & F_IF)) {
			cpu->rflags |= F_IF;
			cpu->shadow = 1;
			cpu->window_event = true;
		}
		break;
	case 0xfc: case 0xfd:
		cpu->rflags = (cpu->rflags & ~(uint64_t)F_DF) | ((b & 1) ? F_DF : 0);
		break;
	case 0xfe: case 0xff: {
		unsigned op;
		op = d->reg & 7;
		if (b == 0xfe && op > 1)
			x86_ud(cpu);
		if (d->lock && (d->mod == 3 || op > 1))
			x86_ud(cpu);
		size = b == 0xfe ? 1 : os;
		switch (op) {
		case 0:
		case 1:
			if (d->mod == 3)
				inc_dec_reg(cpu, d, op, size);
			else
				rmw(cpu, d, op ? RMW_DEC : RMW_INC, 0, 0, size, d->lock);
			break;
		case 2: /* CALL near indirect */
			v = rm_read(cpu, d, sos);
			x86_push(cpu, x86_next_rip(cpu), sos);
			jump_to(cpu, v, sos);
			return;
		case 4: /* JMP near indirect */
			v = rm_read(cpu, d, sos);
			jump_to(cpu, v, sos);
			return;
		case 3:
		case 5: { /* CALLF/JMPF m16:16/32/64 */
			uint64_t ea, off;
			uint16_t sel;
			if (d->mod == 3)
				x86_ud(cpu);
			ea = ea_of(cpu, d);
			off = mem_read(cpu, d->ea_seg, ea, os);
			sel = mem_read(cpu, d->ea_seg, (ea + os) & size_mask(d->addrsize), 2);
			x86_far_jump(cpu, sel, off, os, op == 3, x86_next_rip(cpu));
			return;
		}
		case 6:
			x86_push(cpu, rm_read(cpu, d, sos), sos);
			break;
		default:
			x86_ud(cpu);
		}
		break;
	}
	default:
		x86_ud(cpu);
	}
	cpu->rip = cpu->code64 ? x86_next_rip(cpu) : x86_next_rip(cpu) & size_mask(cpu->def_size);
}

void x86_step(struct x86_cpu *cpu)
{
	step(cpu);
}

/*
 * Run instructions until the budget ends, an exit is requested, or an
 * instruction halts, opens the interrupt window or pauses. Each instruction
 * first records the state a fault goes back to.
 */
void x86_run(struct x86_cpu *cpu)
{
	bool head = true; /* where a translated block may start */

	do {
		bool next_head = false;

		if (head && cpu->jit) {
			int n = x86_jit_exec(cpu);
			if (n > 0) {
				cpu->insns += (unsigned)n;
				cpu->budget -= (unsigned)n;
				continue;
			}
			next_head = n < 0; /* no block can start here: try after it */
		}
		cpu->insn_rip = cpu->rip;
		cpu->insn_rsp = cpu->gpr[X86_RSP];
		x86_flags_checkpoint(cpu);
		cpu->shadow = 0;
		step(cpu);
		/* Blocks start at branch targets, and after an instruction that
		 * cannot start one (which ended the block before it). */
		head = cpu->rip != cpu->next_rip || next_head;
		cpu->insns++;
		cpu->budget--;
	} while (likely(cpu->budget) && !(cpu->halted | cpu->window_event | cpu->pause_hint) &&
		 !atomic_load_explicit(&cpu->exit_request, memory_order_relaxed));
}

/* The two-byte opcode map (0F xx). */
static void exec_0f(struct x86_cpu *cpu, struct insn *d)
{
	unsigned b = d->op & 0xff, os = d->opsize, size;
	uint64_t v, t;
	int64_t rel;
	unsigned sos = d->stack_opsize;

	if (d->lock) {
		bool ok = b == 0xab || b == 0xb3 || b == 0xbb || b == 0xba || b == 0xb0 ||
			  b == 0xb1 || b == 0xc0 || b == 0xc1 || b == 0xc7;
		if (!ok)
			x86_ud(cpu);
	}
	switch (b) {
	case 0x00: case 0x01: case 0x05: case 0x06: case 0x07: case 0x08: case 0x09:
	case 0x20: case 0x21: case 0x22: case 0x23: case 0x30: case 0x31: case 0x32: case 0x33:
	case 0x34: case 0x35: case 0xa2: case 0x02: case 0x03:
		cpu->rip_set = false;
		x86_exec_system(cpu, d);
		if (cpu->rip_set)
			return; /* the handler transferred control */
		break;
	case 0x0b: case 0xb9: case 0xff: /* UD2, UD1, UD0 */
		x86_ud(cpu);
	case 0x0d: /* PREFETCHW */
	case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
		break;
	case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
	case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
		v = rm_read(cpu, d, os);
		if (cond_fast(cpu, b & 15))
			x86_set_reg(cpu, d, d->reg, v, os);
		else if (os == 4)
			x86_set_reg(cpu, d, d->reg, cpu->gpr[d->reg], 4);
		break;
	case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
	case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
		rel = sext(d->imm, os == 2 ? 2 : 4);
		if (cond_fast(cpu, b & 15)) {
			jump_to(cpu, x86_next_rip(cpu) + rel, sos);
			return;
		}
		break;
	case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
	case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
		rm_write(cpu, d, cond_fast(cpu, b & 15), 1);
		break;
	case 0xa0: case 0xa8: /* PUSH FS/GS */
		x86_push(cpu, cpu->seg[b == 0xa0 ? SEG_FS : SEG_GS].selector, sos);
		break;
	case 0xa1: case 0xa9: { /* POP FS/GS */
		uint64_t sp = cpu->gpr[X86_RSP];
		v = x86_pop(cpu, sos);
		cpu->gpr[X86_RSP] = sp;
		load_sreg(cpu, b == 0xa1 ? SEG_FS : SEG_GS, v);
		x86_pop(cpu, sos);
		break;
	}
	case 0xa3: case 0xab: case 0xb3: case 0xbb:
		if (d->lock && (d->mod == 3 || b == 0xa3)) /* BT itself is not lockable */
			x86_ud(cpu);
		bit_op(cpu, d, b == 0xa3 ? 0 : b == 0xab ? 1 : b == 0xb3 ? 2 : 3,
		       x86_get_reg(cpu, d, d->reg, os), true, os);
		break;
	case 0xba:
		if ((d->reg & 7) < 4 || (d->lock && (d->mod == 3 || (d->reg & 7) == 4)))
			x86_ud(cpu);
		t = d->imm;
		bit_op(cpu, d, (d->reg & 7) - 4, t, false, os);
		break;
	case 0xa4: case 0xa5: case 0xac: case 0xad:
		t = (b & 1) ? cpu->gpr[X86_RCX] & 0xff : d->imm;
		shld_shrd(cpu, d, b >= 0xac, t, os);
		break;
	case 0xaf:
		v = imul2(cpu, x86_get_reg(cpu, d, d->reg, os), rm_read(cpu, d, os), os);
		x86_set_reg(cpu, d, d->reg, v, os);
		break;
	case 0xb0: case 0xb1:
		if (d->lock && d->mod == 3)
			x86_ud(cpu);
		cmpxchg(cpu, d, b == 0xb0 ? 1 : os);
		break;
	case 0xb2: case 0xb4: case 0xb5: { /* LSS/LFS/LGS */
		uint64_t ea;
		if (d->mod == 3)
			x86_ud(cpu);
		ea = ea_of(cpu, d);
		v = mem_read(cpu, d->ea_seg, ea, os);
		t = mem_read(cpu, d->ea_seg, ea + os, 2);
		load_sreg(cpu, b == 0xb2 ? SEG_SS : b == 0xb4 ? SEG_FS : SEG_GS, t);
		x86_set_reg(cpu, d, d->reg, v, os);
		break;
	}
	case 0xb6: case 0xb7: case 0xbe: case 0xbf:
		size = (b & 1) ? 2 : 1;
		v = rm_read(cpu, d, size);
		if (b >= 0xbe)
			v = sext(v, size);
		x86_set_reg(cpu, d, d->reg, v, os);
		break;
	case 0xb8: /* POPCNT */
		if (d->rep != 0xf3)
			x86_ud(cpu);
		v = rm_read(cpu, d, os);
		x86_set_reg(cpu, d, d->reg, __builtin_popcountll(v), os);
		set_cc(cpu, CC_LOGIC, os, v, 0, 0);
		break;
	case 0xbc: case 0xbd:
		bit_scan(cpu, d, b == 0xbd, os);
		break;
	case 0xc0: case 0xc1:
		size = b == 0xc0 ? 1 : os;
		if (d->lock && d->mod == 3)
			x86_ud(cpu);
		t = x86_get_reg(cpu, d, d->reg, size);
		if (d->mod == 3) {
			/* SRC <- DEST, then DEST <- sum (the sum wins for XADD r, r with one register) */
			v = x86_get_reg(cpu, d, d->rm, size);
			x86_set_reg(cpu, d, d->reg, v, size);
			x86_set_reg(cpu, d, d->rm, alu_fast(cpu, 0, v, t, size), size);
			break;
		}
		v = rmw(cpu, d, RMW_XADD, 0, t, size, d->lock);
		x86_set_reg(cpu, d, d->reg, v, size);
		break;
	case 0xc7:
		if ((d->reg & 7) == 1) {
			cmpxchg8b16b(cpu, d);
			break;
		}
		x86_ud(cpu);
	case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
		unsigned r = (b & 7) | ((d->rex & 1) << 3);
		if (os == 8)
			cpu->gpr[r] = __builtin_bswap64(cpu->gpr[r]);
		else if (os == 4)
			cpu->gpr[r] = __builtin_bswap32((uint32_t)cpu->gpr[r]);
		else
			x86_set_reg(cpu, d, r, 0, 2); /* undefined; hardware gives 0 */
		break;
	}
	case 0xae: {
		unsigned op;
		op = d->reg & 7;
		if (d->mod == 3) {
			/* LFENCE / MFENCE / SFENCE */
			if (op >= 5)
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
			else
				x86_ud(cpu);
			break;
		}
		switch (op) {
		case 0:
			x86_fxsave(cpu, d, ea_of(cpu, d));
			break;
		case 1:
			x86_fxrstor(cpu, d, ea_of(cpu, d));
			break;
		case 2: /* LDMXCSR */
			if (!(cpu->cr4 & X86_CR4_OSFXSR) || (cpu->cr0 & X86_CR0_EM))
				x86_ud(cpu);
			v = mem_read(cpu, d->ea_seg, ea_of(cpu, d), 4);
			if (v & ~0xffffULL)
				x86_gp0(cpu);
			cpu->fpu.mxcsr = v;
			break;
		case 3: /* STMXCSR */
			if (!(cpu->cr4 & X86_CR4_OSFXSR) || (cpu->cr0 & X86_CR0_EM))
				x86_ud(cpu);
			mem_write(cpu, d->ea_seg, ea_of(cpu, d), cpu->fpu.mxcsr, 4);
			break;
		case 7: /* CLFLUSH */
			(void)mem_read(cpu, d->ea_seg, ea_of(cpu, d), 1);
			break;
		default:
			x86_ud(cpu);
		}
		break;
	}
	case 0x77: /* EMMS */
		if (cpu->cr0 & X86_CR0_EM)
			x86_ud(cpu);
		if (cpu->cr0 & X86_CR0_TS)
			x86_fault(cpu, EXC_NM, 0);
		cpu->fpu.ftw = 0xffff;
		break;
	default:
		if (!x86_sse_exec(cpu, d))
			x86_ud(cpu);
		break;
	}
	cpu->rip = cpu->code64 ? x86_next_rip(cpu) : x86_next_rip(cpu) & size_mask(cpu->def_size);
}
