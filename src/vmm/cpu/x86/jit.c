/*
 * The block translator: hot straight-line 64-bit integer code becomes host
 * x86-64 code (QEMU TCG's job, in the small). The interpreter (insn.c) stays
 * the reference and runs everything else; a block covers the instructions
 * from a branch target up to the next branch, an instruction the translator
 * does not know, or the end of the page.
 *
 * How a block runs:
 * - Guest registers stay in struct x86_cpu; each guest instruction loads its
 *   operands into host scratch registers, runs the same host instruction at
 *   the same operand size, and stores the result. The host's arithmetic flags
 *   are then the guest's, so a block keeps them in EFLAGS and writes them back
 *   (as rflags, cc_op = CC_NONE) when it exits; a block that reads the flags
 *   before setting them first folds in the interpreter's lazy flags.
 * - Memory goes through the soft TLB inline (the interpreter's fast path);
 *   a miss calls the interpreter's slow path, which may fault. A fault unwinds
 *   to x86_cpu_exec as in the interpreter: before the call the block records
 *   the instruction's RIP, RSP and flags, and no instruction writes a register
 *   before its memory accesses are done.
 * - Blocks are keyed by the host address of their first byte (the guest
 *   physical address) and its linear address (the code has RIPs built in,
 *   and processes map shared pages at different addresses). A block keeps a
 *   copy of its guest bytes, compared on every entry: code written by another
 *   vCPU or a device is never run stale, as with the interpreter's
 *   decoded-instruction cache. A store into the running block's page leaves
 *   the block before the instruction, and the interpreter runs it, so code
 *   that patches the next instruction sees the new bytes.
 *
 * BERTH_SOFT_JIT=0 turns the translator off; BERTH_SOFT_JIT=N translates a
 * block the Nth time it is reached (default 8; the differential test uses 1).
 */
#include "vmm/cpu/x86/internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/cpu/x86/jit_emit.h"

#define JIT_CODE_SIZE (64u << 20) /* per vCPU: reserved address space, touched as used */
#define JIT_HASH_SIZE 16384
#define JIT_MAX_INSNS 64
#define JIT_MAX_BLOCK (48u << 10) /* host code of the largest block, with its stubs */
#define JIT_THRESHOLD 8

struct jit_block {
	uint32_t (*fn)(struct x86_cpu *cpu); /* returns the guest instructions it completed */
	const uint8_t *bytes;		     /* the guest bytes it was translated from */
	uint16_t len;			     /* ... and their number */
	uint16_t n;			     /* guest instructions in the block */
};

struct jit_entry {
	const uint8_t *host; /* guest code's first byte */
	uint64_t rip;	     /* ... and its linear address: the code has RIPs built in, and
			      * one physical page may be mapped at several addresses */
	struct jit_block *block;
	uint32_t count; /* times reached without a block */
	uint8_t mode;	/* CPL 3 or not: the TLB the block's accesses use */
	bool none;	/* the first instruction cannot be translated */
};

struct x86_jit {
	/* The code buffer is mapped twice (W^X): written through code, run
	 * through exec = code + exec_delta. */
	uint8_t *code, *exec;
	ptrdiff_t exec_delta;
	size_t used;
	unsigned threshold;
	struct jit_entry hash[JIT_HASH_SIZE];
};

/* A memory access's out-of-line slow path, emitted after the block body. */
struct slow_path {
	uint8_t *jumps[2]; /* rel32s that branch to it */
	uint8_t *resume;   /* where it returns to */
	uint64_t rip;	   /* of the guest instruction */
	unsigned done;	   /* guest instructions before it */
	unsigned info;	   /* size | segment << 4 | bytes from the block to its page end << 8 */
	bool write;
	bool flags_saved; /* r12 holds the guest flags (lahf/seto form) */
};

/* Translation state of one block. */
struct tctx {
	struct emitter e;
	int user;
	bool fl_host;	     /* the guest's arithmetic flags are in host EFLAGS */
	uint64_t rip;	     /* of the instruction being translated */
	uint64_t next;	     /* of the one after it */
	unsigned done;	     /* guest instructions completed before this one */
	const uint8_t *host; /* the block's first guest byte */
	unsigned avail;	     /* bytes from there to the end of its page */
	struct slow_path slow[JIT_MAX_INSNS * 2];
	unsigned nslow;
};

#define CPU_OFF(field) ((int32_t)offsetof(struct x86_cpu, field))
#define GPR_OFF(r)     (CPU_OFF(gpr) + 8 * (int32_t)(r))

/* --- helpers the generated code calls --- */

/* Record the state a fault in the instruction at rip goes back to. */
static void jit_checkpoint(struct x86_cpu *cpu, uint64_t rip)
{
	cpu->rip = cpu->insn_rip = rip;
	cpu->insn_rsp = cpu->gpr[X86_RSP];
	x86_flags_checkpoint(cpu);
}

/* A load the inline TLB lookup could not do (miss, page crossing, MMIO). */
static uint64_t jit_read_slow(struct x86_cpu *cpu, uint64_t lin, unsigned info, uint64_t rip)
{
	unsigned size = info & 15;

	jit_checkpoint(cpu, rip);
	x86_check_stack_canonical(cpu, (int)((info >> 4) & 15), lin);
	return x86_read_lin(cpu, lin, size, cpu_user(cpu)) & size_mask(size);
}

/* Would a store of size bytes at lin write into [code, code + avail)? */
static bool store_hits_code(struct x86_cpu *cpu, uint64_t lin, unsigned size, const uint8_t *code,
			    unsigned avail)
{
	uint64_t ends[2] = {lin, lin + size - 1}, gpa;

	for (int i = 0; i < 2; i++) {
		const uint8_t *p = x86_tlb_fill(cpu, ends[i], ACC_W, cpu_user(cpu), true, &gpa);
		if (p && p >= code && p < code + avail)
			return true;
	}
	return false;
}

/* A store the inline TLB lookup could not do. A store into the running
 * block's page is not done (returns 1): the block exits before the
 * instruction, and the interpreter runs it. */
static int jit_write_slow(struct x86_cpu *cpu, uint64_t lin, unsigned info, uint64_t rip,
			  uint64_t value, const uint8_t *code)
{
	unsigned size = info & 15;

	jit_checkpoint(cpu, rip);
	x86_check_stack_canonical(cpu, (int)((info >> 4) & 15), lin);
	if (store_hits_code(cpu, lin, size, code, info >> 8))
		return 1;
	x86_write_lin(cpu, lin, value, size, cpu_user(cpu));
	return 0;
}

/* --- code snippets --- */

/* Load guest register bytes at off (size 1, 2: zero-extended) into host reg h. */
static void ld(struct tctx *t, unsigned h, int32_t off, unsigned size)
{
	switch (size) {
	case 1:
		e_rm(&t->e, 4, OP(0x0f, 0xb6), h, H_RBX, off);
		break;
	case 2:
		e_rm(&t->e, 4, OP(0x0f, 0xb7), h, H_RBX, off);
		break;
	case 4:
		e_rm(&t->e, 4, OP(0x8b), h, H_RBX, off);
		break;
	default:
		e_rm(&t->e, 8, OP(0x8b), h, H_RBX, off);
		break;
	}
}

/* Store host reg h into a guest register: 32-bit results are already
 * zero-extended in h, so sizes 4 and 8 store all 64 bits. */
static void st(struct tctx *t, int32_t off, unsigned h, unsigned size)
{
	if (size >= 4)
		e_rm(&t->e, 8, OP(0x89), h, H_RBX, off);
	else
		e_rm(&t->e, size, size == 1 ? OP(0x88) : OP(0x89), h, H_RBX, off);
}

/* Offset of guest register r at an operand size (AH..BH without REX). */
static int32_t reg_off(const struct insn *d, unsigned r, unsigned size)
{
	if (size == 1 && !d->rex && r >= 4 && r < 8)
		return GPR_OFF(r - 4) + 1;
	return GPR_OFF(r);
}

/* Keep the guest flags (in EFLAGS) in r12 while code that clobbers EFLAGS runs. */
static void flags_save(struct tctx *t)
{
	e8(&t->e, 0x9f);			  /* lahf */
	e_rr(&t->e, 4, OP(0x0f, 0x90), 0, H_RAX); /* seto al */
	e_rr(&t->e, 4, OP(0x89), H_RAX, H_R12);	  /* mov r12d, eax */
}

static void flags_restore(struct tctx *t)
{
	e_rr(&t->e, 4, OP(0x89), H_R12, H_RAX); /* mov eax, r12d */
	e8(&t->e, 0x04);			/* add al, 0x7f: OF from al */
	e8(&t->e, 0x7f);
	e8(&t->e, 0x9e); /* sahf */
}

/* Write the flags held in r12 back to cpu->rflags (clobbers rax, rcx, EFLAGS). */
static void flags_spill_r12(struct tctx *t)
{
	e_rr(&t->e, 4, OP(0x89), H_R12, H_RAX); /* mov eax, r12d */
	e8(&t->e, 0x0f);			/* movzx ecx, ah */
	e8(&t->e, 0xb6);
	e8(&t->e, 0xcc);
	e_rr(&t->e, 4, OP(0x81), 4, H_RCX); /* and ecx, SF|ZF|AF|PF|CF */
	e32(&t->e, 0xd5);
	e_rr(&t->e, 4, OP(0x0f, 0xb6), H_RAX, H_RAX); /* movzx eax, al */
	e_rr(&t->e, 4, OP(0xc1), 4, H_RAX);	      /* shl eax, 11: OF */
	e8(&t->e, 11);
	e_rr(&t->e, 4, OP(0x09), H_RAX, H_RCX); /* or ecx, eax */
	e_rm(&t->e, 8, OP(0x8b), H_RAX, H_RBX, CPU_OFF(rflags));
	e_rr(&t->e, 8, OP(0x81), 4, H_RAX); /* and rax, ~F_ARITH */
	e32(&t->e, (uint32_t)~F_ARITH);
	e_rr(&t->e, 8, OP(0x09), H_RCX, H_RAX);
	e_rm(&t->e, 8, OP(0x89), H_RAX, H_RBX, CPU_OFF(rflags));
	e_rm(&t->e, 4, OP(0xc7), 0, H_RBX, CPU_OFF(cc_op)); /* cc_op = CC_NONE */
	e32(&t->e, CC_NONE);
}

/* Make the guest flags the host's before an instruction that reads them. */
static void need_flags(struct tctx *t)
{
	if (t->fl_host)
		return;
	e_rr(&t->e, 8, OP(0x89), H_RBX, H_RDI);
	e_call(&t->e, x86_flags_commit);
	e_rm(&t->e, 8, OP(0x8b), H_RAX, H_RBX, CPU_OFF(rflags));
	e_rr(&t->e, 4, OP(0x89), H_RAX, H_RCX); /* ecx = OF */
	e_rr(&t->e, 4, OP(0xc1), 5, H_RCX);	/* shr ecx, 11 */
	e8(&t->e, 11);
	e_rr(&t->e, 4, OP(0x83), 4, H_RCX); /* and ecx, 1 */
	e8(&t->e, 1);
	e8(&t->e, 0x88); /* mov ah, al */
	e8(&t->e, 0xc4);
	e8(&t->e, 0x88); /* mov al, cl */
	e8(&t->e, 0xc8);
	e8(&t->e, 0x04); /* add al, 0x7f; sahf */
	e8(&t->e, 0x7f);
	e8(&t->e, 0x9e);
	t->fl_host = true;
}

/* Leave the block with RIP already stored: flags back to memory, return done. */
static void exit_stored(struct tctx *t, unsigned done)
{
	if (t->fl_host) {
		flags_save(t);
		flags_spill_r12(t);
	}
	e_mov_imm(&t->e, H_RAX, done);
	e8(&t->e, 0x41); /* pop r13; pop r12; pop rbx; ret */
	e8(&t->e, 0x5d);
	e8(&t->e, 0x41);
	e8(&t->e, 0x5c);
	e8(&t->e, 0x5b);
	e8(&t->e, 0xc3);
}

/* Leave the block at a known RIP. */
static void exit_at(struct tctx *t, uint64_t rip, unsigned done)
{
	e_mov_imm(&t->e, H_RCX, rip);
	e_rm(&t->e, 8, OP(0x89), H_RCX, H_RBX, CPU_OFF(rip));
	exit_stored(t, done);
}

/* rsi = the effective address of d's memory operand (plus the FS/GS base
 * when seg), without touching EFLAGS. */
static void ea_to_rsi(struct tctx *t, const struct insn *d, bool seg)
{
	if (d->rip_rel) {
		e_mov_imm(&t->e, H_RSI, t->next + (uint64_t)d->disp);
	} else {
		if (d->base != 16)
			ld(t, H_RSI, GPR_OFF(d->base), 8);
		else
			e_mov_imm(&t->e, H_RSI, 0);
		if (d->index != 16) {
			ld(t, H_RDI, GPR_OFF(d->index), 8);
			e_rsib(&t->e, 8, OP(0x8d), H_RSI, H_RSI, H_RDI, d->scale, (int32_t)d->disp);
		} else if (d->disp) {
			e_rm(&t->e, 8, OP(0x8d), H_RSI, H_RSI, (int32_t)d->disp);
		}
	}
	if (d->addrsize == 4)
		e_rr(&t->e, 4, OP(0x89), H_RSI, H_RSI); /* mov esi, esi */
	if (seg && (d->ea_seg == SEG_FS || d->ea_seg == SEG_GS)) {
		ld(t, H_RDI,
		   CPU_OFF(seg) + (int32_t)(d->ea_seg * sizeof(struct x86_segment) +
					    offsetof(struct x86_segment, base)),
		   8);
		e_rsib(&t->e, 8, OP(0x8d), H_RSI, H_RSI, H_RDI, 0, 0);
	}
}

/* Load (into rcx, zero-extended) or store (from rcx) size bytes at linear rsi. */
static void mem_access(struct tctx *t, bool write, unsigned size, int seg)
{
	struct slow_path *s;
	int32_t tlb =
	    CPU_OFF(tlb) + (int32_t)(t->user * X86_TLB_SIZE * sizeof(struct x86_tlb_entry));
	int32_t tag = write ? (int32_t)offsetof(struct x86_tlb_entry, tag_w)
			    : (int32_t)offsetof(struct x86_tlb_entry, tag_r);

	if (t->nslow == ARRAY_SIZE(t->slow)) {
		t->e.overflow = true;
		return;
	}
	s = &t->slow[t->nslow++];
	*s = (struct slow_path){.rip = t->rip,
				.done = t->done,
				.info = size | (unsigned)seg << 4 | t->avail << 8,
				.write = write,
				.flags_saved = t->fl_host};
	if (t->fl_host)
		flags_save(t);
	e_rr(&t->e, 8, OP(0x89), H_RSI, H_RAX); /* rax = TLB index */
	e_rr(&t->e, 8, OP(0xc1), 5, H_RAX);
	e8(&t->e, 12);
	e_rr(&t->e, 4, OP(0x81), 4, H_RAX); /* and eax, TLB size - 1 */
	e32(&t->e, X86_TLB_SIZE - 1);
	e_rr(&t->e, 4, OP(0x69), H_RAX, H_RAX); /* imul eax, eax, sizeof(entry) */
	e32(&t->e, sizeof(struct x86_tlb_entry));
	e_rsib(&t->e, 8, OP(0x8d), H_RDX, H_RBX, H_RAX, 0, tlb); /* rdx = entry */
	e_rr(&t->e, 8, OP(0x89), H_RSI, H_RAX);			 /* rax = page */
	e_rr(&t->e, 8, OP(0x81), 4, H_RAX);
	e32(&t->e, 0xfffff000u);
	e_rm(&t->e, 8, OP(0x3b), H_RAX, H_RDX, tag);
	s->jumps[0] = e_jcc32(&t->e, 0x5); /* jne */
	if (size > 1) {
		e_rr(&t->e, 4, OP(0x89), H_RSI, H_RAX);
		e_rr(&t->e, 4, OP(0x81), 4, H_RAX);
		e32(&t->e, 0xfff);
		e_rr(&t->e, 4, OP(0x81), 7, H_RAX);
		e32(&t->e, 0x1000 - size);
		s->jumps[1] = e_jcc32(&t->e, 0x7); /* ja */
	}
	e_rm(&t->e, 8, OP(0x8b), H_RAX, H_RDX, (int32_t)offsetof(struct x86_tlb_entry, addend));
	if (write) {
		/* Self-modifying code: a store into the block's page leaves the block
		 * before the instruction (the interpreter runs it). */
		uint8_t *ok;
		e_rsib(&t->e, 8, OP(0x8d), H_RDX, H_RAX, H_RSI, 0, 0); /* rdx = host address */
		e_mov_imm(&t->e, H_R9, (uint64_t)(uintptr_t)t->host - (size - 1));
		e_rr(&t->e, 8, OP(0x29), H_R9, H_RDX); /* sub rdx, r9 */
		e_rr(&t->e, 8, OP(0x81), 7, H_RDX);    /* cmp rdx, range */
		e32(&t->e, t->avail + size - 1);
		ok = e_jcc32(&t->e, 0x3); /* jae */
		if (t->fl_host)
			flags_restore(t);
		exit_at(t, t->rip, t->done);
		e_patch(ok, t->e.p);
		e_rsib(&t->e, size, size == 1 ? OP(0x88) : OP(0x89), H_RCX, H_RAX, H_RSI, 0, 0);
	} else if (size == 1) {
		e_rsib(&t->e, 4, OP(0x0f, 0xb6), H_RCX, H_RAX, H_RSI, 0, 0);
	} else if (size == 2) {
		e_rsib(&t->e, 4, OP(0x0f, 0xb7), H_RCX, H_RAX, H_RSI, 0, 0);
	} else {
		e_rsib(&t->e, size, OP(0x8b), H_RCX, H_RAX, H_RSI, 0, 0);
	}
	s->resume = t->e.p;
	if (t->fl_host)
		flags_restore(t);
}

/* The slow paths of the block's memory accesses, after its body. */
static void emit_slow_paths(struct tctx *t)
{
	for (unsigned i = 0; i < t->nslow && !t->e.overflow; i++) {
		struct slow_path *s = &t->slow[i];

		e_patch(s->jumps[0], t->e.p);
		if (s->jumps[1])
			e_patch(s->jumps[1], t->e.p);
		if (s->write)
			e_rr(&t->e, 8, OP(0x89), H_RCX, H_R8); /* value */
		if (s->flags_saved)
			flags_spill_r12(t);
		e_rr(&t->e, 8, OP(0x89), H_RSI, H_R13); /* keep the address */
		e_rr(&t->e, 8, OP(0x89), H_RBX, H_RDI);
		e_mov_imm(&t->e, H_RDX, s->info);
		e_mov_imm(&t->e, H_RCX, s->rip);
		if (s->write) {
			uint8_t *ok;
			bool fl = t->fl_host;
			e_mov_imm(&t->e, H_R9, (uint64_t)(uintptr_t)t->host);
			e_call(&t->e, jit_write_slow);
			e_rr(&t->e, 4, OP(0x85), H_RAX, H_RAX); /* refused: leave before it */
			ok = e_jcc32(&t->e, 0x4);
			t->fl_host = s->flags_saved;
			if (t->fl_host)
				flags_restore(t);
			exit_at(t, s->rip, s->done);
			t->fl_host = fl;
			e_patch(ok, t->e.p);
		} else {
			e_call(&t->e, jit_read_slow);
			e_rr(&t->e, 8, OP(0x89), H_RAX, H_RCX);
		}
		e_rr(&t->e, 8, OP(0x89), H_R13, H_RSI);
		e_patch(e_jmp32(&t->e), s->resume);
	}
}

/* The value of d's r/m operand (register or memory) into rcx. */
static void rm_to_rcx(struct tctx *t, const struct insn *d, unsigned size)
{
	if (d->mod == 3) {
		ld(t, H_RCX, reg_off(d, d->rm, size), size);
	} else {
		ea_to_rsi(t, d, true);
		mem_access(t, false, size, d->ea_seg);
	}
}

/* Write rcx to d's r/m operand (register or memory). */
static void rcx_to_rm(struct tctx *t, const struct insn *d, unsigned size)
{
	if (d->mod == 3) {
		st(t, reg_off(d, d->rm, size), H_RCX, size);
	} else {
		ea_to_rsi(t, d, true);
		mem_access(t, true, size, d->ea_seg);
	}
}

/* Host imm field of an operand size (imm16 for 2, imm8 for 1, else imm32). */
static void e_imm(struct tctx *t, unsigned size, int64_t v)
{
	if (size == 1)
		e8(&t->e, (uint8_t)v);
	else if (size == 2) {
		e8(&t->e, (uint8_t)v);
		e8(&t->e, (uint8_t)(v >> 8));
	} else {
		e32(&t->e, (uint32_t)v);
	}
}

/* The guest value of an Iz/Ib immediate, sign-extended as the instruction does. */
static int64_t simm(const struct insn *d, unsigned imm_size)
{
	return sext(d->imm, imm_size);
}

/* The value of an Ib (size 1) or Iz immediate, sign-extended to 64 bits. */
static int64_t imm_of(const struct insn *d, unsigned size)
{
	return size == 1 ? (int64_t)d->imm : simm(d, size == 2 ? 2 : 4);
}

/* ALU operation op (ADD..CMP) of host rcx into host rax at size; sets flags. */
static void alu_rcx_rax(struct tctx *t, unsigned op, unsigned size)
{
	e_rr(&t->e, size, size == 1 ? OP((uint8_t)(op * 8)) : OP((uint8_t)(op * 8 + 1)), H_RCX,
	     H_RAX);
}

/* ALU operation op of an immediate into rax. */
static void alu_imm_rax(struct tctx *t, unsigned op, unsigned size, int64_t v)
{
	e_rr(&t->e, size, size == 1 ? OP(0x80) : OP(0x81), op, H_RAX);
	e_imm(t, size, v);
}

enum { T_STOP, T_NEXT, T_END };

/* The classic ALU opcodes 00-3D. */
static int tr_alu(struct tctx *t, const struct insn *d, unsigned b)
{
	unsigned op = b >> 3, form = b & 7, size = (form & 1) ? d->opsize : 1;

	if (op == 2 || op == 3)
		need_flags(t); /* ADC, SBB read CF */
	switch (form) {
	case 0:
	case 1:
		if (d->mod != 3) {
			if (op != 7) /* read-modify-write forms: left to the interpreter */
				return T_STOP;
			rm_to_rcx(t, d, size);
			ld(t, H_RAX, reg_off(d, d->reg, size), size);
			e_rr(&t->e, size, size == 1 ? OP(0x38) : OP(0x39), H_RAX,
			     H_RCX); /* cmp rcx, rax */
			break;
		}
		ld(t, H_RAX, reg_off(d, d->rm, size), size);
		ld(t, H_RCX, reg_off(d, d->reg, size), size);
		alu_rcx_rax(t, op, size);
		if (op != 7)
			st(t, reg_off(d, d->rm, size), H_RAX, size);
		break;
	case 2:
	case 3:
		rm_to_rcx(t, d, size);
		ld(t, H_RAX, reg_off(d, d->reg, size), size);
		alu_rcx_rax(t, op, size);
		if (op != 7)
			st(t, reg_off(d, d->reg, size), H_RAX, size);
		break;
	default:
		ld(t, H_RAX, GPR_OFF(X86_RAX), size);
		alu_imm_rax(t, op, size, imm_of(d, size));
		if (op != 7)
			st(t, GPR_OFF(X86_RAX), H_RAX, size);
		break;
	}
	t->fl_host = true;
	return T_NEXT;
}

/* Group 1 (80, 81, 83): op r/m, imm. */
static int tr_grp1(struct tctx *t, const struct insn *d, unsigned b)
{
	unsigned op = d->reg & 7, size = b == 0x80 ? 1 : d->opsize;
	int64_t v = b == 0x81 ? simm(d, size == 2 ? 2 : 4) : simm(d, 1);

	if (op == 2 || op == 3)
		need_flags(t);
	if (d->mod != 3) {
		if (op != 7)
			return T_STOP;
		rm_to_rcx(t, d, size);
		e_rr(&t->e, size, size == 1 ? OP(0x80) : OP(0x81), 7, H_RCX); /* cmp rcx, imm */
		e_imm(t, size, v);
	} else {
		ld(t, H_RAX, reg_off(d, d->rm, size), size);
		alu_imm_rax(t, op, size, v);
		if (op != 7)
			st(t, reg_off(d, d->rm, size), H_RAX, size);
	}
	t->fl_host = true;
	return T_NEXT;
}

/* Shifts and rotates by an immediate count (C0, C1, D0, D1), register operand. */
static int tr_shift(struct tctx *t, const struct insn *d, unsigned b)
{
	unsigned op = d->reg & 7, size = (b & 1) ? d->opsize : 1;
	unsigned count = b >= 0xd0 ? 1 : (unsigned)d->imm & (d->opsize == 8 && (b & 1) ? 63 : 31);

	if (d->mod != 3 || count == 0 || op == 2 || op == 3 || op == 6)
		return T_STOP; /* memory, no-op counts, RCL/RCR, the SAL alias */
	if (op < 2)
		need_flags(t); /* ROL/ROR leave SF, ZF, AF, PF */
	ld(t, H_RAX, reg_off(d, d->rm, size), size);
	e_rr(&t->e, size, size == 1 ? OP(0xc0) : OP(0xc1), op, H_RAX);
	e8(&t->e, (uint8_t)count);
	st(t, reg_off(d, d->rm, size), H_RAX, size);
	t->fl_host = true;
	return T_NEXT;
}

/* Group 3 (F6, F7): TEST imm, NOT, NEG; group 4/5 (FE, FF): INC, DEC. */
static int tr_unary(struct tctx *t, const struct insn *d, unsigned b)
{
	unsigned op = d->reg & 7, size = (b & 1) ? d->opsize : 1;
	bool grp3 = b <= 0xf7;

	if (grp3 && op < 2) { /* TEST r/m, imm */
		rm_to_rcx(t, d, size);
		e_rr(&t->e, size, size == 1 ? OP(0xf6) : OP(0xf7), 0, H_RCX);
		e_imm(t, size, imm_of(d, size));
		t->fl_host = true;
		return T_NEXT;
	}
	if (d->mod != 3 || (grp3 && op != 2 && op != 3) || (!grp3 && op > 1))
		return T_STOP;
	if (!grp3)
		need_flags(t); /* INC/DEC leave CF */
	ld(t, H_RAX, reg_off(d, d->rm, size), size);
	e_rr(&t->e, size, size == 1 ? OP((uint8_t)(b & ~1)) : OP((uint8_t)(b | 1)), op, H_RAX);
	st(t, reg_off(d, d->rm, size), H_RAX, size);
	if (op != 2 || !grp3)
		t->fl_host = true; /* NOT leaves the flags */
	return T_NEXT;
}

/* PUSH r64 / POP r64 / CALL rel32 / RET [imm16]: 64-bit stack operations. */
static int tr_stack(struct tctx *t, const struct insn *d, unsigned b)
{
	unsigned r = (b & 7) | ((d->rex & 1) << 3);

	if (d->stack_opsize != 8)
		return T_STOP;
	ld(t, H_RSI, GPR_OFF(X86_RSP), 8);
	if (b >= 0x50 && b <= 0x57) {
		e_rm(&t->e, 8, OP(0x8d), H_RSI, H_RSI, -8);
		ld(t, H_RCX, GPR_OFF(r), 8);
		mem_access(t, true, 8, SEG_SS);
		st(t, GPR_OFF(X86_RSP), H_RSI, 8);
		return T_NEXT;
	}
	if (b >= 0x58 && b <= 0x5f) {
		mem_access(t, false, 8, SEG_SS);
		e_rm(&t->e, 8, OP(0x8d), H_RSI, H_RSI, 8);
		st(t, GPR_OFF(X86_RSP), H_RSI, 8);
		st(t, GPR_OFF(r), H_RCX, 8);
		return T_NEXT;
	}
	if (b == 0xe8) {
		e_rm(&t->e, 8, OP(0x8d), H_RSI, H_RSI, -8);
		e_mov_imm(&t->e, H_RCX, t->next);
		mem_access(t, true, 8, SEG_SS);
		st(t, GPR_OFF(X86_RSP), H_RSI, 8);
		exit_at(t, t->next + (uint64_t)sext(d->imm, 4), t->done + 1);
		return T_END;
	}
	/* RET: a non-canonical return address faults at the RET: the interpreter
	 * runs it again and raises the #GP. */
	mem_access(t, false, 8, SEG_SS);
	{
		uint8_t *ok;
		if (t->fl_host)
			flags_save(t);
		e_rr(&t->e, 8, OP(0x89), H_RCX, H_RAX);
		e_rr(&t->e, 8, OP(0xc1), 4, H_RAX); /* shl rax, 16; sar rax, 16 */
		e8(&t->e, 16);
		e_rr(&t->e, 8, OP(0xc1), 7, H_RAX);
		e8(&t->e, 16);
		e_rr(&t->e, 8, OP(0x39), H_RCX, H_RAX);
		ok = e_jcc32(&t->e, 0x4); /* je */
		if (t->fl_host)
			flags_restore(t);
		exit_at(t, t->rip, t->done);
		e_patch(ok, t->e.p);
		if (t->fl_host)
			flags_restore(t);
	}
	e_rm(&t->e, 8, OP(0x8d), H_RSI, H_RSI, 8 + (b == 0xc2 ? (int32_t)(uint16_t)d->imm : 0));
	st(t, GPR_OFF(X86_RSP), H_RSI, 8);
	e_rm(&t->e, 8, OP(0x89), H_RCX, H_RBX, CPU_OFF(rip));
	exit_stored(t, t->done + 1);
	return T_END;
}

/* Jcc / JMP with a relative target: the block ends. */
static int tr_branch(struct tctx *t, const struct insn *d, int cc, unsigned imm_size)
{
	uint64_t target = t->next + (uint64_t)sext(d->imm, imm_size);

	if (d->opsize_prefix)
		return T_STOP;
	if (cc >= 0) {
		uint8_t *taken;
		need_flags(t);
		taken = e_jcc32(&t->e, (unsigned)cc);
		exit_at(t, t->next, t->done + 1);
		e_patch(taken, t->e.p);
	}
	exit_at(t, target, t->done + 1);
	return T_END;
}

/* Two-byte opcodes. */
static int tr_0f(struct tctx *t, const struct insn *d)
{
	unsigned b = d->op & 0xff, os = d->opsize;

	if (b >= 0x80 && b <= 0x8f)
		return tr_branch(t, d, (int)(b & 15), os == 2 ? 2 : 4);
	if (b >= 0x40 && b <= 0x4f) { /* CMOVcc */
		need_flags(t);
		rm_to_rcx(t, d, os);
		ld(t, H_RAX, GPR_OFF(d->reg), os);
		e_rr(&t->e, os, OP(0x0f, (uint8_t)b), H_RAX, H_RCX);
		st(t, GPR_OFF(d->reg), H_RAX, os);
		return T_NEXT;
	}
	if (b >= 0x90 && b <= 0x9f) { /* SETcc r/m8 */
		if (d->mod != 3)
			return T_STOP;
		need_flags(t);
		e_rr(&t->e, 4, OP(0x0f, (uint8_t)b), 0, H_RAX);
		st(t, reg_off(d, d->rm, 1), H_RAX, 1);
		return T_NEXT;
	}
	switch (b) {
	case 0x1f: /* NOP r/m */
		return T_NEXT;
	case 0xaf: /* IMUL r, r/m */
		rm_to_rcx(t, d, os);
		ld(t, H_RAX, GPR_OFF(d->reg), os);
		e_rr(&t->e, os, OP(0x0f, 0xaf), H_RAX, H_RCX);
		st(t, GPR_OFF(d->reg), H_RAX, os);
		t->fl_host = true;
		return T_NEXT;
	case 0xb6:
	case 0xb7: /* MOVZX */
		rm_to_rcx(t, d, b == 0xb6 ? 1 : 2);
		st(t, reg_off(d, d->reg, os), H_RCX, os);
		return T_NEXT;
	case 0xbe:
	case 0xbf: /* MOVSX */
		rm_to_rcx(t, d, b == 0xbe ? 1 : 2);
		e_rr(&t->e, os, OP(0x0f, (uint8_t)b), H_RAX, H_RCX);
		st(t, reg_off(d, d->reg, os), H_RAX, os);
		return T_NEXT;
	}
	return T_STOP;
}

/* Translate one decoded instruction. */
static int tr_insn(struct tctx *t, const struct insn *d)
{
	unsigned b = d->op, os = d->opsize;

	if (d->lock || d->rep)
		return T_STOP;
	if (b >= 0x100)
		return tr_0f(t, d);
	if (b < 0x40 && (b & 7) < 6)
		return tr_alu(t, d, b);
	switch (b) {
	case 0x50 ... 0x5f:
	case 0xe8:
	case 0xc3:
	case 0xc2:
		return tr_stack(t, d, b);
	case 0x63: /* MOVSXD r64, r/m32 */
		if (os != 8)
			return T_STOP;
		rm_to_rcx(t, d, 4);
		e_rr(&t->e, 8, OP(0x63), H_RAX, H_RCX);
		st(t, GPR_OFF(d->reg), H_RAX, 8);
		return T_NEXT;
	case 0x69:
	case 0x6b: /* IMUL r, r/m, imm */
		rm_to_rcx(t, d, os);
		e_rr(&t->e, os, b == 0x69 ? OP(0x69) : OP(0x6b), H_RAX, H_RCX);
		if (b == 0x6b)
			e8(&t->e, (uint8_t)d->imm);
		else
			e_imm(t, os, (int64_t)d->imm);
		st(t, GPR_OFF(d->reg), H_RAX, os);
		t->fl_host = true;
		return T_NEXT;
	case 0x70 ... 0x7f:
		return tr_branch(t, d, (int)(b & 15), 1);
	case 0xeb:
		return tr_branch(t, d, -1, 1);
	case 0xe9:
		return tr_branch(t, d, -1, os == 2 ? 2 : 4);
	case 0x80:
	case 0x81:
	case 0x83:
		return tr_grp1(t, d, b);
	case 0x84:
	case 0x85: /* TEST r/m, r */
		rm_to_rcx(t, d, b == 0x84 ? 1 : os);
		ld(t, H_RAX, reg_off(d, d->reg, b == 0x84 ? 1 : os), b == 0x84 ? 1 : os);
		e_rr(&t->e, b == 0x84 ? 1 : os, b == 0x84 ? OP(0x84) : OP(0x85), H_RAX, H_RCX);
		t->fl_host = true;
		return T_NEXT;
	case 0x88:
	case 0x89: { /* MOV r/m, r */
		unsigned size = b == 0x88 ? 1 : os;
		ld(t, H_RCX, reg_off(d, d->reg, size), size);
		rcx_to_rm(t, d, size);
		return T_NEXT;
	}
	case 0x8a:
	case 0x8b: { /* MOV r, r/m */
		unsigned size = b == 0x8a ? 1 : os;
		rm_to_rcx(t, d, size);
		st(t, reg_off(d, d->reg, size), H_RCX, size);
		return T_NEXT;
	}
	case 0x8d: /* LEA */
		if (d->mod == 3)
			return T_STOP;
		ea_to_rsi(t, d, false);
		if (os == 4)
			e_rr(&t->e, 4, OP(0x89), H_RSI, H_RSI);
		st(t, GPR_OFF(d->reg), H_RSI, os);
		return T_NEXT;
	case 0x90: /* NOP (not XCHG r8, rax; PAUSE has a REP prefix) */
		return d->rex & 1 ? T_STOP : T_NEXT;
	case 0x98:
	case 0x99: /* CBW/CWDE/CDQE, CWD/CDQ/CQO */
		ld(t, H_RAX, GPR_OFF(X86_RAX), os);
		e_prefix(&t->e, os, 0, 0, -1);
		e8(&t->e, (uint8_t)b);
		if (b == 0x98)
			st(t, GPR_OFF(X86_RAX), H_RAX, os);
		else
			st(t, GPR_OFF(X86_RDX), H_RDX, os);
		return T_NEXT;
	case 0xa8:
	case 0xa9: { /* TEST AL/eAX, imm */
		unsigned size = b == 0xa8 ? 1 : os;
		ld(t, H_RAX, GPR_OFF(X86_RAX), size);
		e_rr(&t->e, size, size == 1 ? OP(0xf6) : OP(0xf7), 0, H_RAX);
		e_imm(t, size, imm_of(d, size));
		t->fl_host = true;
		return T_NEXT;
	}
	case 0xb0 ... 0xbf: { /* MOV r, imm */
		unsigned size = b < 0xb8 ? 1 : os, r = (b & 7) | ((d->rex & 1) << 3);
		e_mov_imm(&t->e, H_RCX, d->imm & size_mask(size));
		st(t, reg_off(d, r, size), H_RCX, size);
		return T_NEXT;
	}
	case 0xc0:
	case 0xc1:
	case 0xd0:
	case 0xd1:
		return tr_shift(t, d, b);
	case 0xc6:
	case 0xc7: { /* MOV r/m, imm */
		unsigned size = b == 0xc6 ? 1 : os;
		int64_t v = imm_of(d, size);
		if (d->reg & 7)
			return T_STOP;
		e_mov_imm(&t->e, H_RCX, (uint64_t)v & size_mask(size));
		rcx_to_rm(t, d, size);
		return T_NEXT;
	}
	case 0xf6:
	case 0xf7:
	case 0xfe:
	case 0xff:
		return tr_unary(t, d, b);
	}
	return T_STOP;
}

/* Is b a legacy prefix or (in 64-bit code) a REX prefix? */
static bool is_prefix(uint8_t b)
{
	switch (b) {
	case 0x26:
	case 0x2e:
	case 0x36:
	case 0x3e:
	case 0x64:
	case 0x65:
	case 0x66:
	case 0x67:
	case 0xf0:
	case 0xf2:
	case 0xf3:
		return true;
	}
	return (b & 0xf0) == 0x40;
}

/* Drop every block (the code buffer is full). */
static void jit_flush(struct x86_jit *j)
{
	j->used = 0;
	memset(j->hash, 0, sizeof(j->hash));
}

/* Translate the block at host (guest RIP rip); NULL if its first instruction
 * cannot be translated or the buffer filled up (then everything was flushed). */
static struct jit_block *translate(struct x86_cpu *cpu, struct x86_jit *j, const uint8_t *host,
				   uint64_t rip)
{
	static __thread struct tctx t;
	static __thread uint8_t buf[0x1000 + 32];
	unsigned avail = 0x1000 - (unsigned)(rip & 0xfff), off = 0, n = 0;
	struct jit_block *blk;
	uint8_t *start;
	bool ended = false;

	if (JIT_CODE_SIZE - j->used < JIT_MAX_BLOCK + 2 * avail)
		jit_flush(j);
	blk = (struct jit_block *)(j->code + j->used);
	start = (uint8_t *)(blk + 1);
	memcpy(buf, host, avail);
	memset(buf + avail, 0, 32);
	t.e = (struct emitter){.p = start, .end = start + JIT_MAX_BLOCK};
	t.user = cpu_user(cpu);
	t.fl_host = false;
	t.host = host;
	t.avail = avail;
	t.nslow = 0;

	e8(&t.e, 0x53); /* push rbx; push r12; push r13; mov rbx, rdi */
	e8(&t.e, 0x41);
	e8(&t.e, 0x54);
	e8(&t.e, 0x41);
	e8(&t.e, 0x55);
	e_rr(&t.e, 8, OP(0x89), H_RDI, H_RBX);
	while (n < JIT_MAX_INSNS && off < avail) {
		struct insn d;
		unsigned p = 0;
		int r;

		while (p < 5 && is_prefix(buf[off + p]))
			p++;
		if (p >= 5)
			break;
		x86_decode_bytes(cpu, buf + off, rip + off, &d);
		if (off + d.len > avail)
			break;
		t.rip = rip + off;
		t.next = t.rip + d.len;
		t.done = n;
		r = tr_insn(&t, &d);
		if (r == T_STOP)
			break;
		n++;
		off += d.len;
		if (r == T_END) {
			ended = true;
			break;
		}
	}
	if (!n)
		return NULL;
	if (!ended)
		exit_at(&t, rip + off, n);
	emit_slow_paths(&t);
	if (t.e.overflow || t.e.p + off > j->code + JIT_CODE_SIZE) {
		jit_flush(j);
		return NULL;
	}
	blk->fn = (uint32_t(*)(struct x86_cpu *))(void *)(start + j->exec_delta);
	blk->bytes = t.e.p;
	memcpy(t.e.p, host, off);
	blk->len = (uint16_t)off;
	blk->n = (uint16_t)n;
	j->used = (size_t)(t.e.p + off - j->code + 15) & ~(size_t)15;
	return blk;
}

static inline unsigned jit_hash(const uint8_t *p, uint64_t rip)
{
	uint64_t a = (uintptr_t)p ^ (rip >> 12 << 16);

	return (unsigned)(a ^ (a >> 14)) & (JIT_HASH_SIZE - 1);
}

/* Run the block at RIP if there is one (translating it once it is hot): the
 * number of guest instructions it completed; 0 to interpret; -1 when no
 * block can start here. */
int x86_jit_exec(struct x86_cpu *cpu)
{
	struct x86_jit *j = cpu->jit;
	int user = cpu_user(cpu);
	const uint8_t *host;
	struct jit_entry *en;
	struct jit_block *b;

	if (!cpu->code64)
		return 0;
	host = x86_tlb_hit(cpu, cpu->rip, ACC_X, user);
	if (!host) {
		/* Fill the TLB as the interpreter's fetch would (and fault as it would). */
		uint64_t gpa;
		cpu->insn_rip = cpu->rip;
		cpu->insn_rsp = cpu->gpr[X86_RSP];
		x86_flags_checkpoint(cpu);
		host = x86_tlb_fill(cpu, cpu->rip, ACC_X, user, false, &gpa);
		if (!host)
			return 0; /* MMIO */
	}
	en = &j->hash[jit_hash(host, cpu->rip)];
	if (en->host != host || en->rip != cpu->rip || en->mode != user) {
		*en = (struct jit_entry){.host = host, .rip = cpu->rip, .mode = (uint8_t)user};
	}
	b = en->block;
	if (!b) {
		if (en->none)
			return -1;
		if (++en->count < j->threshold)
			return 0;
		/* (A full buffer is flushed in there, this entry with the rest.) */
		b = translate(cpu, j, host, cpu->rip);
		*en = (struct jit_entry){
		    .host = host, .rip = cpu->rip, .mode = (uint8_t)user, .block = b, .none = !b};
		if (!b)
			return -1;
	}
	if (memcmp(b->bytes, host, b->len)) {
		en->block = NULL; /* the code changed: translate it again once it is hot */
		en->count = 0;
		return 0;
	}
	if (cpu->budget < b->n)
		return 0;
	cpu->shadow = 0;
	return (int)b->fn(cpu);
}

/* Set up the translator for cpu unless BERTH_SOFT_JIT=0 or the host lacks LAHF in 64-bit mode. */
void x86_jit_init(struct x86_cpu *cpu)
{
	const char *env = getenv("BERTH_SOFT_JIT");
	unsigned threshold = env ? (unsigned)strtoul(env, NULL, 0) : JIT_THRESHOLD;
	struct x86_jit *j;
	unsigned a, b, c, d;
	int fd;

	cpu->jit = NULL;
	if (env && !threshold)
		return;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
	if (!(c & 1)) {
		log_warn(
		    "soft CPU: the host has no LAHF/SAHF in 64-bit mode; the translator is off");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	/* No page is writable and executable at once: the same memory (a memfd)
	 * is mapped read-write for the translator and read-execute for running.
	 * Relative branches come out the same in both views. */
	fd = memfd_create("berth-soft-jit", MFD_CLOEXEC);
	j->code = j->exec = MAP_FAILED;
	if (fd >= 0 && ftruncate(fd, JIT_CODE_SIZE) == 0) {
		j->code = mmap(NULL, JIT_CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		j->exec = mmap(NULL, JIT_CODE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	}
	if (fd >= 0)
		close(fd);
	if (j->code == MAP_FAILED || j->exec == MAP_FAILED) {
		log_warn(
		    "soft CPU: cannot map memory for translated code (%s); the translator is off",
		    strerror(errno));
		if (j->code != MAP_FAILED)
			munmap(j->code, JIT_CODE_SIZE);
		if (j->exec != MAP_FAILED)
			munmap(j->exec, JIT_CODE_SIZE);
		free(j);
		return;
	}
	j->exec_delta = j->exec - j->code;
	j->threshold = threshold ? threshold : 1;
	cpu->jit = j;
}

void x86_jit_destroy(struct x86_cpu *cpu)
{
	if (!cpu->jit)
		return;
	munmap(cpu->jit->code, JIT_CODE_SIZE);
	munmap(cpu->jit->exec, JIT_CODE_SIZE);
	free(cpu->jit);
	cpu->jit = NULL;
}
