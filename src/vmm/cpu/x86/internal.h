/*
 * Internals shared by the files of the soft x86 CPU: decoded instruction,
 * lazy flags, memory access, faults. Not for use outside src/vmm/cpu/x86.
 */
#ifndef BERTH_VMM_CPU_X86_INTERNAL_H
#define BERTH_VMM_CPU_X86_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "vmm/cpu/x86/cpu.h"

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_NONE = 7 };

/* Exception vectors. */
enum {
	EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
	EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13,
	EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18, EXC_XM = 19,
};

/* RFLAGS bits. */
#define F_CF   0x0001u
#define F_PF   0x0004u
#define F_AF   0x0010u
#define F_ZF   0x0040u
#define F_SF   0x0080u
#define F_TF   0x0100u
#define F_IF   0x0200u
#define F_DF   0x0400u
#define F_OF   0x0800u
#define F_IOPL 0x3000u
#define F_NT   0x4000u
#define F_RF   0x10000u
#define F_VM   0x20000u
#define F_AC   0x40000u
#define F_VIF  0x80000u
#define F_VIP  0x100000u
#define F_ID   0x200000u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* Lazy flag operations: the kind, times 4, plus log2 of the operand size. */
enum {
	CC_NONE = 0, /* rflags holds the flags */
	CC_ADD = 4, CC_ADC = 8, CC_SUB = 12, CC_SBB = 16, CC_LOGIC = 20, CC_INC = 24,
	CC_DEC = 28, CC_SHL = 32, CC_SHR = 36, CC_SAR = 40, CC_MUL = 44, CC_NEG = 48,
	/* A rotate after a lazy operation: ZF, SF and PF still come from cc_res,
	 * CF, OF and AF are the bits of cc_src1. */
	CC_ROT = 52,
};

/* Page-fault error code bits. */
#define PF_P    1u
#define PF_W    2u
#define PF_U    4u
#define PF_RSVD 8u
#define PF_I    16u

enum acc { ACC_R = 0, ACC_W = 1, ACC_X = 2 };

/* A decoded instruction (lives on the stack for one instruction). */
struct insn {
	uint8_t opsize, addrsize;
	uint8_t seg;       /* segment override or SEG_NONE */
	uint8_t rep;       /* 0, 0xf2 or 0xf3 */
	bool lock, opsize_prefix;
	uint8_t rex;       /* 0 if none */
	uint8_t modrm, mod, reg, rm; /* reg and rm include REX bits */
	bool has_modrm;
	bool rip_rel;
	uint8_t ea_seg;    /* default segment of the memory operand */
	uint8_t base, index, scale; /* memory operand registers (16: none), log2 of the scale */
	uint8_t len;       /* instruction length in bytes */
	uint8_t stack_opsize; /* near branches and stack operations: 64-bit default in 64-bit mode */
	uint8_t cache_mode; /* in the decoded-instruction cache: the decode mode (insn.c) */
	uint16_t op;       /* opcode, 0x0fXX for two-byte */
	uint16_t imm2;     /* second immediate (ENTER's level, a far pointer's selector) */
	int64_t disp;      /* displacement (RIP-relative: from the next instruction) */
	uint64_t imm;      /* first immediate, zero-extended as encoded */
};

/*
 * The decoded-instruction cache: decoded instructions keyed by the host
 * address of their first byte (that is, by guest physical address). An entry
 * keeps a copy of the 16 bytes from there and is used only while guest memory
 * still holds those bytes, so code written by this vCPU, another vCPU or a
 * device is never executed stale, without any invalidation protocol.
 */
#define X86_ICACHE_SIZE 16384
struct x86_icache_entry {
	const uint8_t *host;
	uint64_t bytes[2]; /* the 16 bytes at host when decoded (the instruction and what follows) */
	struct insn d;
};
_Static_assert(sizeof(struct x86_icache_entry) == 64, "one cache line per entry");

/* --- faults (except.c) --- */
_Noreturn void x86_fault(struct x86_cpu *cpu, int vector, uint32_t error);
_Noreturn void x86_page_fault(struct x86_cpu *cpu, uint64_t lin, uint32_t error);
_Noreturn void x86_triple_fault(struct x86_cpu *cpu);
#define x86_ud(cpu) x86_fault(cpu, EXC_UD, 0)
#define x86_gp0(cpu) x86_fault(cpu, EXC_GP, 0)
/* How an event reached x86_deliver (decides DPL checks and the EXT bit). */
enum { EV_EXC, EV_SOFT, EV_EXT };
/* Deliver vector through the IDT (or IVT), returning to ret_rip. */
void x86_deliver(struct x86_cpu *cpu, int vector, bool has_error, uint32_t error, int kind,
		 uint64_t ret_rip);
/* The exec loop's handler for a fault raised with x86_fault (after the longjmp). */
void x86_handle_fault(struct x86_cpu *cpu);
void x86_iret(struct x86_cpu *cpu, unsigned opsize);
bool x86_exc_has_error(int vector);

/* --- memory (mmu.c) --- */
uint64_t x86_read_lin(struct x86_cpu *cpu, uint64_t lin, unsigned size, int user);
void x86_write_lin(struct x86_cpu *cpu, uint64_t lin, uint64_t value, unsigned size, int user);
/* Host pointer for a size-byte access within one page of RAM, or NULL (MMIO). Faults. */
uint8_t *x86_lin_ptr(struct x86_cpu *cpu, uint64_t lin, unsigned size, enum acc acc, int user);
uint8_t *x86_tlb_fill(struct x86_cpu *cpu, uint64_t lin, enum acc acc, int user, bool probe,
		      uint64_t *gpa_out);
/* Host address of lin if the TLB holds its page for acc, else NULL (no walk, no fault). */
static inline uint8_t *x86_tlb_hit(struct x86_cpu *cpu, uint64_t lin, enum acc acc, int user)
{
	const struct x86_tlb_entry *e = &cpu->tlb[user][(lin >> 12) & (X86_TLB_SIZE - 1)];
	uint64_t tag = acc == ACC_W ? e->tag_w : acc == ACC_R ? e->tag_r : e->tag_x;

	return tag == (lin & ~0xfffULL) ? (uint8_t *)(e->addend + lin) : NULL;
}
void x86_tlb_flush(struct x86_cpu *cpu, bool global_too);
void x86_tlb_flush_page(struct x86_cpu *cpu, uint64_t lin);
bool x86_canonical(uint64_t lin);
uint64_t x86_phys_read(struct x86_cpu *cpu, uint64_t gpa, unsigned size);
void x86_phys_write(struct x86_cpu *cpu, uint64_t gpa, uint64_t value, unsigned size);

/* The privilege level data accesses use: 1 for CPL 3, 0 otherwise. */
static inline int cpu_user(const struct x86_cpu *cpu)
{
	return cpu->cpl == 3;
}

/* Linear address of seg:ea for an access (adds the base, truncates outside 64-bit mode). */
static inline uint64_t seg_lin(struct x86_cpu *cpu, int seg, uint64_t ea)
{
	if (cpu->code64) {
		if (seg == SEG_FS || seg == SEG_GS)
			return ea + cpu->seg[seg].base;
		return ea;
	}
	return (uint32_t)(ea + cpu->seg[seg].base);
}

/* A non-canonical stack-segment reference is #SS(0), not #GP(0) (such an
 * address never hits the TLB, so only the slow paths check). */
static inline void x86_check_stack_canonical(struct x86_cpu *cpu, int seg, uint64_t lin)
{
	if (unlikely(seg == SEG_SS) && cpu->long_mode && !x86_canonical(lin))
		x86_fault(cpu, EXC_SS, 0);
}

/* Fast path of a data read: TLB hit within a page, else the slow path. */
static inline __attribute__((always_inline)) uint64_t mem_read(struct x86_cpu *cpu, int seg,
							   uint64_t ea, unsigned size)
{
	uint64_t lin = seg_lin(cpu, seg, ea);
	int user = cpu_user(cpu);
	struct x86_tlb_entry *e = &cpu->tlb[user][(lin >> 12) & (X86_TLB_SIZE - 1)];

	if (e->tag_r == (lin & ~0xfffULL) && ((lin & 0xfff) + size) <= 0x1000) {
		const uint8_t *p = (const uint8_t *)(e->addend + lin);
		switch (size) {
		case 1: return *p;
		case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
		case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
		default: { uint64_t v; memcpy(&v, p, 8); return v; }
		}
	}
	x86_check_stack_canonical(cpu, seg, lin);
	return x86_read_lin(cpu, lin, size, user);
}

static inline __attribute__((always_inline)) void mem_write(struct x86_cpu *cpu, int seg, uint64_t ea,
							 uint64_t v, unsigned size)
{
	uint64_t lin = seg_lin(cpu, seg, ea);
	int user = cpu_user(cpu);
	struct x86_tlb_entry *e = &cpu->tlb[user][(lin >> 12) & (X86_TLB_SIZE - 1)];

	if (e->tag_w == (lin & ~0xfffULL) && ((lin & 0xfff) + size) <= 0x1000) {
		uint8_t *p = (uint8_t *)(e->addend + lin);
		switch (size) {
		case 1: *p = (uint8_t)v; return;
		case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); return; }
		case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); return; }
		default: memcpy(p, &v, 8); return;
		}
	}
	x86_check_stack_canonical(cpu, seg, lin);
	x86_write_lin(cpu, lin, v, size, user);
}

/*
 * Fault now, as a write, if any byte of seg:ea..ea+size-1 (size <= 4096) cannot
 * be written: stores wider than one access and read-modify-write instructions
 * check the whole operand first and report PF_W at the first faulting byte.
 */
static inline void x86_probe_write(struct x86_cpu *cpu, int seg, uint64_t ea, unsigned size)
{
	uint64_t lin = seg_lin(cpu, seg, ea), gpa;
	int user = cpu_user(cpu);

	x86_check_stack_canonical(cpu, seg, lin);
	if (!x86_tlb_hit(cpu, lin, ACC_W, user))
		x86_tlb_fill(cpu, lin, ACC_W, user, false, &gpa);
	if ((lin & 0xfff) + size > 0x1000 && !x86_tlb_hit(cpu, (lin | 0xfff) + 1, ACC_W, user))
		x86_tlb_fill(cpu, (lin | 0xfff) + 1, ACC_W, user, false, &gpa);
}

/* Supervisor-privileged (implicit) accesses to system structures. */
static inline uint64_t sys_read(struct x86_cpu *cpu, uint64_t lin, unsigned size)
{
	return x86_read_lin(cpu, lin, size, 0);
}
static inline void sys_write(struct x86_cpu *cpu, uint64_t lin, uint64_t v, unsigned size)
{
	x86_write_lin(cpu, lin, v, size, 0);
}

/* --- flags (alu.c) --- */
/* Remember the flags as the state a fault in the current instruction goes back to. */
static inline void x86_flags_checkpoint(struct x86_cpu *cpu)
{
	cpu->insn_rflags = cpu->rflags;
	cpu->insn_cc_op = cpu->cc_op;
	cpu->insn_cc_res = cpu->cc_res;
	cpu->insn_cc_src1 = cpu->cc_src1;
	cpu->insn_cc_src2 = cpu->cc_src2;
}
uint32_t x86_flags(struct x86_cpu *cpu);  /* arithmetic flags from the lazy state */
uint32_t x86_cf(struct x86_cpu *cpu);     /* just CF */
void x86_flags_commit(struct x86_cpu *cpu); /* fold lazy flags into rflags */
bool x86_cond(struct x86_cpu *cpu, unsigned cc);
static inline void set_cc(struct x86_cpu *cpu, unsigned op, unsigned size, uint64_t res,
			  uint64_t s1, uint64_t s2)
{
	static const uint8_t lg[9] = {0, 0, 1, 0, 2, 0, 0, 0, 3};
	cpu->cc_op = op + lg[size];
	cpu->cc_res = res;
	cpu->cc_src1 = s1;
	cpu->cc_src2 = s2;
}
/* The eight classic ALU operations (ADD OR ADC SBB AND SUB XOR CMP), setting flags. */
uint64_t x86_alu(struct x86_cpu *cpu, unsigned op, uint64_t a, uint64_t b, unsigned size);
/* Shifts and rotates of group 2 (ROL ROR RCL RCR SHL SHR SAL SAR). */
uint64_t x86_shift(struct x86_cpu *cpu, unsigned op, uint64_t a, unsigned count, unsigned size);
void x86_set_rflags(struct x86_cpu *cpu, uint64_t value, uint64_t mask);

static inline uint64_t size_mask(unsigned size)
{
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}
static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}
static inline int64_t sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1: return (int8_t)v;
	case 2: return (int16_t)v;
	case 4: return (int32_t)v;
	default: return (int64_t)v;
	}
}

/* --- segments and modes (seg.c) --- */
void x86_update_mode(struct x86_cpu *cpu);
/* Load a segment register from a selector in the current mode (faults as the SDM says). */
void x86_load_seg(struct x86_cpu *cpu, int seg, uint16_t sel);
/* Read the 8- or 16-byte descriptor of sel from the GDT/LDT; faults with vec on a bad selector. */
void x86_read_desc(struct x86_cpu *cpu, uint16_t sel, int vec, uint32_t desc[4], bool sys16);
void x86_desc_to_seg(struct x86_segment *s, uint16_t sel, const uint32_t d[2]);
void x86_far_jump(struct x86_cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize, bool call,
		  uint64_t next_rip);
void x86_far_ret(struct x86_cpu *cpu, unsigned opsize, uint16_t pop_bytes);
void x86_real_seg(struct x86_segment *s, uint16_t sel);
void x86_load_tr(struct x86_cpu *cpu, uint16_t sel);
void x86_load_ldt(struct x86_cpu *cpu, uint16_t sel);
void x86_seg_load_cs(struct x86_cpu *cpu, uint16_t sel, uint32_t d[2], unsigned cpl);
void x86_seg_null_outer(struct x86_cpu *cpu);

/* --- stack helpers (insn.c) --- */
void x86_push(struct x86_cpu *cpu, uint64_t v, unsigned size);
uint64_t x86_pop(struct x86_cpu *cpu, unsigned size);
static inline uint64_t sp_mask(const struct x86_cpu *cpu)
{
	return size_mask(cpu->stack_size);
}

/* --- system instructions (system.c) --- */
void x86_cpuid(struct x86_cpu *cpu);
void x86_rdmsr(struct x86_cpu *cpu);
void x86_wrmsr(struct x86_cpu *cpu);
void x86_write_cr(struct x86_cpu *cpu, int cr, uint64_t v);
uint64_t x86_read_cr(struct x86_cpu *cpu, int cr);
void x86_syscall(struct x86_cpu *cpu, uint64_t next_rip);
void x86_sysret(struct x86_cpu *cpu, unsigned opsize);
void x86_sysenter(struct x86_cpu *cpu);
void x86_sysexit(struct x86_cpu *cpu, unsigned opsize);
/* Is port I/O at port allowed (IOPL or the TSS bitmap)? Faults #GP if not. */
void x86_check_io(struct x86_cpu *cpu, uint16_t port, unsigned size);

/* --- string instructions (string.c) --- */
/* Returns false when a REP loop stopped early and must resume at the same RIP. */
bool x86_string(struct x86_cpu *cpu, struct insn *d);

/* --- the block translator (jit.c) --- */
void x86_jit_init(struct x86_cpu *cpu);
void x86_jit_destroy(struct x86_cpu *cpu);
/* Run a translated block at RIP: the instructions it completed; 0 if there is
 * none (yet); -1 if none can start here. */
int x86_jit_exec(struct x86_cpu *cpu);

/* --- x87 (fpu.c) and SSE (sse.c) --- */
/* Execute an x87 escape (D8-DF) or FPU-related 0F opcode; the modrm is decoded. */
void x86_fpu_exec(struct x86_cpu *cpu, struct insn *d);
void x86_fpu_reset(struct x86_cpu *cpu);
void x86_fxsave(struct x86_cpu *cpu, struct insn *d, uint64_t ea);
void x86_fxrstor(struct x86_cpu *cpu, struct insn *d, uint64_t ea);
/* Execute an SSE/SSE2/MMX 0F opcode; false if the opcode is not an SSE one. */
bool x86_sse_exec(struct x86_cpu *cpu, struct insn *d);

/* RIP of the next instruction byte (after decoding: of the next instruction). */
static inline uint64_t x86_next_rip(const struct x86_cpu *cpu)
{
	return cpu->next_rip;
}

/* --- decode helpers for fpu.c / sse.c (insn.c) --- */
void x86_step(struct x86_cpu *cpu);
/* The fast loop of x86_cpu_exec (untraced): steps while nothing needs the outer loop. */
void x86_run(struct x86_cpu *cpu);
void x86_decode_modrm(struct x86_cpu *cpu, struct insn *d);
/* Decode the instruction at p (at least 32 readable bytes, at most 4 prefixes)
 * as if at rip, without touching guest memory: for the block translator. */
void x86_decode_bytes(struct x86_cpu *cpu, const uint8_t *p, uint64_t rip, struct insn *d);
void x86_exec_system(struct x86_cpu *cpu, struct insn *d);
uint64_t x86_ea(struct x86_cpu *cpu, struct insn *d); /* final effective address */
static inline uint64_t x86_get_reg(struct x86_cpu *cpu, const struct insn *d, int r, unsigned size)
{
	if (size == 1 && !d->rex && r >= 4 && r < 8)
		return (cpu->gpr[r - 4] >> 8) & 0xff;
	return cpu->gpr[r] & size_mask(size);
}
static inline void x86_set_reg(struct x86_cpu *cpu, const struct insn *d, int r, uint64_t v,
			       unsigned size)
{
	switch (size) {
	case 1:
		if (!d->rex && r >= 4 && r < 8)
			cpu->gpr[r - 4] = (cpu->gpr[r - 4] & ~0xff00ULL) | ((v & 0xff) << 8);
		else
			cpu->gpr[r] = (cpu->gpr[r] & ~0xffULL) | (v & 0xff);
		break;
	case 2: cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | (v & 0xffff); break;
	case 4: cpu->gpr[r] = (uint32_t)v; break;
	default: cpu->gpr[r] = v; break;
	}
}
/* Read/write the r/m operand of d. */
uint64_t x86_rm_read(struct x86_cpu *cpu, struct insn *d, unsigned size);
void x86_rm_write(struct x86_cpu *cpu, struct insn *d, uint64_t v, unsigned size);

#endif
