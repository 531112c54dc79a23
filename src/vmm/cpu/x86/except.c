/*
 * Exceptions and interrupts: raising faults (a longjmp back to the
 * instruction loop, which restarts the instruction), delivery through the
 * IVT (real mode) or IDT (protected and long mode) with privilege and
 * IST/TSS stack switches, double and triple faults, and IRET.
 */
#include "vmm/cpu/x86/internal.h"

#include "common/log.h"

bool x86_exc_has_error(int vector)
{
	return vector == EXC_DF || (vector >= EXC_TS && vector <= EXC_PF) || vector == EXC_AC;
}

_Noreturn void x86_fault(struct x86_cpu *cpu, int vector, uint32_t error)
{
	cpu->exc_vector = vector;
	cpu->exc_error = error;
	longjmp(cpu->fault_jmp, 1);
}

_Noreturn void x86_page_fault(struct x86_cpu *cpu, uint64_t lin, uint32_t error)
{
	cpu->cr2 = lin;
	x86_fault(cpu, EXC_PF, error);
}

_Noreturn void x86_triple_fault(struct x86_cpu *cpu)
{
	cpu->exc_vector = -1;
	longjmp(cpu->fault_jmp, 1);
}

static bool contributory(int v)
{
	return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

/*
 * Called by the exec loop after a fault unwound an instruction (or an event
 * delivery): the instruction is restarted at insn_rip, so no partial state
 * is kept, and the fault is delivered, escalating to #DF and triple fault.
 */
void x86_handle_fault(struct x86_cpu *cpu)
{
	int vec = cpu->exc_vector, prev = cpu->delivering;
	uint32_t err = cpu->exc_error;

	cpu->rip = cpu->insn_rip;
	cpu->gpr[X86_RSP] = cpu->insn_rsp;
	/* A faulting instruction leaves the flags as they were (an RMW whose write
	 * faults must not have changed them). */
	cpu->rflags = cpu->insn_rflags;
	cpu->cc_op = cpu->insn_cc_op;
	cpu->cc_res = cpu->insn_cc_res;
	cpu->cc_src1 = cpu->insn_cc_src1;
	cpu->cc_src2 = cpu->insn_cc_src2;
	cpu->fetch_page_lin = ~0ULL;
	if (vec < 0 || prev == EXC_DF) {
		cpu->shutdown = true;
		return;
	}
	if (prev >= 0 && ((contributory(prev) && contributory(vec)) ||
			  (prev == EXC_PF && (contributory(vec) || vec == EXC_PF)))) {
		vec = EXC_DF;
		err = 0;
	}
	if (cpu->trace_exc)
		log_info("cpu%u: exception %d error %#x at %#llx cpl %u cr2 %#llx rsp %#llx insns %llu",
			 cpu->plat.apic_id, vec, err, (unsigned long long)cpu->rip, cpu->cpl,
			 (unsigned long long)cpu->cr2, (unsigned long long)cpu->gpr[X86_RSP],
			 (unsigned long long)cpu->insns);
	cpu->delivering = vec;
	x86_deliver(cpu, vec, x86_exc_has_error(vec), err, EV_EXC, cpu->rip);
	cpu->delivering = -1;
}

/* A null SS (selector sel, DPL dpl), as 64-bit mode loads below CPL 3 on an
 * interrupt to an inner level and on IRET. */
static void null_ss(struct x86_cpu *cpu, uint16_t sel, unsigned dpl)
{
	struct x86_segment *ss = &cpu->seg[SEG_SS];

	ss->selector = sel;
	ss->unusable = 1;
	ss->present = 0;
	ss->base = 0;
	ss->dpl = (uint8_t)dpl;
}

/* A stack that a frame is written to before the registers are committed. */
struct frame {
	uint64_t base, sp, mask;
	int user;
	bool flat64;
};

static void fpush(struct x86_cpu *cpu, struct frame *f, uint64_t v, unsigned size)
{
	uint64_t lin;

	f->sp = (f->sp - size) & f->mask;
	lin = f->flat64 ? f->sp : (uint32_t)(f->base + f->sp);
	if (f->flat64 && !x86_canonical(lin))
		x86_fault(cpu, EXC_SS, 0);
	x86_write_lin(cpu, lin, v, size, f->user);
}

static void deliver_real(struct x86_cpu *cpu, int vector, uint64_t ret_rip)
{
	struct frame f = {.base = cpu->seg[SEG_SS].base, .sp = cpu->gpr[X86_RSP],
			  .mask = sp_mask(cpu), .user = 0};
	uint16_t ip, cs;

	if ((uint32_t)vector * 4 + 3 > cpu->idt.limit)
		x86_fault(cpu, EXC_GP, vector * 8 + 2);
	ip = sys_read(cpu, (uint32_t)(cpu->idt.base + vector * 4), 2);
	cs = sys_read(cpu, (uint32_t)(cpu->idt.base + vector * 4 + 2), 2);
	fpush(cpu, &f, x86_cpu_rflags(cpu), 2);
	fpush(cpu, &f, cpu->seg[SEG_CS].selector, 2);
	fpush(cpu, &f, ret_rip, 2);
	cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~f.mask) | f.sp;
	cpu->rflags &= ~(uint64_t)(F_IF | F_TF | F_AC | F_RF);
	x86_real_seg(&cpu->seg[SEG_CS], cs);
	cpu->rip = ip;
	x86_update_mode(cpu);
}

/* Read the gate for vector and check it; returns the gate type. */
static unsigned read_gate(struct x86_cpu *cpu, int vector, int kind, uint32_t g[4])
{
	unsigned size = cpu->long_mode ? 16 : 8, type, i;
	uint32_t ext = kind == EV_EXT, idt_err = vector * 8 + 2 + ext;

	if ((uint32_t)vector * size + size - 1 > cpu->idt.limit)
		x86_fault(cpu, EXC_GP, idt_err);
	for (i = 0; i < size / 4; i++)
		g[i] = sys_read(cpu, cpu->idt.base + vector * size + 4 * i, 4);
	type = (g[1] >> 8) & 0x1f;
	if (cpu->long_mode ? (type != 0x0e && type != 0x0f)
			   : (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07))
		x86_fault(cpu, EXC_GP, idt_err);
	if (kind == EV_SOFT && ((g[1] >> 13) & 3) < cpu->cpl)
		x86_fault(cpu, EXC_GP, idt_err);
	if (!(g[1] & 0x8000))
		x86_fault(cpu, EXC_NP, idt_err);
	return type;
}

void x86_deliver(struct x86_cpu *cpu, int vector, bool has_error, uint32_t error, int kind,
		 uint64_t ret_rip)
{
	uint32_t g[4], d[4], ext = kind == EV_EXT;
	unsigned type, new_cpl, dpl, gsize;
	uint16_t sel, old_ss = cpu->seg[SEG_SS].selector, old_cs = cpu->seg[SEG_CS].selector;
	uint64_t off, old_rsp = cpu->gpr[X86_RSP], rflags = x86_cpu_rflags(cpu);
	struct frame f;

	cpu->halted = false;
	if (!(cpu->cr0 & X86_CR0_PE)) {
		deliver_real(cpu, vector, ret_rip);
		return;
	}
	type = read_gate(cpu, vector, kind, g);
	sel = g[0] >> 16;
	off = (g[0] & 0xffff) | (type & 8 ? (g[1] & 0xffff0000) : 0);
	if (cpu->long_mode)
		off |= (uint64_t)g[2] << 32;
	if (!(sel & ~3u))
		x86_fault(cpu, EXC_GP, ext);
	x86_read_desc(cpu, sel, EXC_GP, d, false);
	dpl = (d[1] >> 13) & 3;
	if (!(d[1] & 0x1000) || !(d[1] & 0x800) || dpl > cpu->cpl ||
	    (cpu->long_mode && (!((d[1] >> 21) & 1) || ((d[1] >> 22) & 1))))
		x86_fault(cpu, EXC_GP, (sel & 0xfffc) | ext);
	if (!(d[1] & 0x8000))
		x86_fault(cpu, EXC_NP, (sel & 0xfffc) | ext);
	new_cpl = (d[1] & 0x400) ? cpu->cpl : dpl;

	if (cpu->long_mode) {
		unsigned ist = g[1] & 7;
		f = (struct frame){.mask = ~0ULL, .user = new_cpl == 3, .flat64 = true};
		if (ist)
			f.sp = sys_read(cpu, cpu->tr.base + 0x24 + (ist - 1) * 8, 8);
		else if (new_cpl < cpu->cpl)
			f.sp = sys_read(cpu, cpu->tr.base + 4 + new_cpl * 8, 8);
		else
			f.sp = old_rsp;
		f.sp &= ~0xfULL;
		fpush(cpu, &f, old_ss, 8);
		fpush(cpu, &f, old_rsp, 8);
		fpush(cpu, &f, rflags, 8);
		fpush(cpu, &f, old_cs, 8);
		fpush(cpu, &f, ret_rip, 8);
		if (has_error)
			fpush(cpu, &f, error, 8);
		if (new_cpl != cpu->cpl)
			null_ss(cpu, new_cpl, new_cpl);
		x86_seg_load_cs(cpu, sel, d, new_cpl);
		cpu->gpr[X86_RSP] = f.sp;
	} else {
		gsize = type & 8 ? 4 : 2;
		if (rflags & F_VM)
			x86_fault(cpu, EXC_GP, (sel & 0xfffc) | ext); /* VM86 not supported */
		if (new_cpl < cpu->cpl) {
			uint32_t sd[4];
			uint16_t nss;
			uint64_t nsp;
			bool tss32 = cpu->tr.type & 8;
			if (tss32) {
				nsp = sys_read(cpu, cpu->tr.base + 4 + new_cpl * 8, 4);
				nss = sys_read(cpu, cpu->tr.base + 8 + new_cpl * 8, 2);
			} else {
				nsp = sys_read(cpu, cpu->tr.base + 2 + new_cpl * 4, 2);
				nss = sys_read(cpu, cpu->tr.base + 4 + new_cpl * 4, 2);
			}
			if (!(nss & ~3u))
				x86_fault(cpu, EXC_TS, ext);
			x86_read_desc(cpu, nss, EXC_TS, sd, false);
			if ((nss & 3) != new_cpl || ((sd[1] >> 13) & 3) != new_cpl ||
			    (((sd[1] >> 8) & 0xa) != 0x2) || !(sd[1] & 0x1000))
				x86_fault(cpu, EXC_TS, (nss & 0xfffc) | ext);
			if (!(sd[1] & 0x8000))
				x86_fault(cpu, EXC_SS, (nss & 0xfffc) | ext);
			struct x86_segment ns;
			x86_desc_to_seg(&ns, nss, sd);
			f = (struct frame){.base = ns.base, .sp = nsp,
					   .mask = ns.db ? 0xffffffffULL : 0xffff,
					   .user = new_cpl == 3};
			fpush(cpu, &f, old_ss, gsize);
			fpush(cpu, &f, old_rsp, gsize);
			fpush(cpu, &f, rflags, gsize);
			fpush(cpu, &f, old_cs, gsize);
			fpush(cpu, &f, ret_rip, gsize);
			if (has_error)
				fpush(cpu, &f, error, gsize);
			x86_seg_load_cs(cpu, sel, d, new_cpl);
			cpu->seg[SEG_SS] = ns;
			x86_update_mode(cpu);
			x86_seg_null_outer(cpu);
		} else {
			f = (struct frame){.base = cpu->seg[SEG_SS].base, .sp = old_rsp,
					   .mask = sp_mask(cpu), .user = new_cpl == 3};
			fpush(cpu, &f, rflags, gsize);
			fpush(cpu, &f, old_cs, gsize);
			fpush(cpu, &f, ret_rip, gsize);
			if (has_error)
				fpush(cpu, &f, error, gsize);
			x86_seg_load_cs(cpu, sel, d, new_cpl);
		}
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~f.mask) | f.sp;
		off &= gsize == 4 ? 0xffffffffULL : 0xffff;
	}
	cpu->rip = off;
	cpu->rflags &= ~(uint64_t)(F_TF | F_NT | F_RF | F_VM);
	if (!(type & 1))
		cpu->rflags &= ~(uint64_t)F_IF;
	if (vector == EXC_NMI && kind == EV_EXT)
		cpu->nmi_blocked = true;
}

/* IRET/IRETD/IRETQ. Task returns (NT=1 outside long mode) are not supported. */
void x86_iret(struct x86_cpu *cpu, unsigned opsize)
{
	uint64_t m = sp_mask(cpu), sp = cpu->gpr[X86_RSP], ip, fl, nsp = 0, mask;
	uint16_t cs, ss = 0;
	uint32_t d[4];
	unsigned rpl, old_cpl = cpu->cpl, iopl;
	bool outer;

	ip = mem_read(cpu, SEG_SS, sp & m, opsize);
	cs = mem_read(cpu, SEG_SS, (sp + opsize) & m, opsize);
	fl = mem_read(cpu, SEG_SS, (sp + 2 * opsize) & m, opsize);
	cpu->nmi_blocked = false;
	if (!(cpu->cr0 & X86_CR0_PE)) {
		mask = opsize == 2 ? 0xffff : 0x3f7fd5;
		x86_set_rflags(cpu, fl, mask & ~(uint64_t)(F_VM | F_VIF | F_VIP));
		x86_real_seg(&cpu->seg[SEG_CS], cs);
		cpu->rip = ip & size_mask(opsize);
		sp += 3 * opsize;
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | (sp & m);
		x86_update_mode(cpu);
		return;
	}
	/* NT: a task return, which IA-32e mode forbids (#GP(0)); task switches
	 * are not modelled outside it either. */
	if (cpu->rflags & F_NT)
		x86_fault(cpu, EXC_GP, 0);
	rpl = cs & 3;
	if (!(cs & ~3u) || rpl < old_cpl)
		x86_fault(cpu, EXC_GP, cs & 0xfffc);
	x86_read_desc(cpu, cs, EXC_GP, d, false);
	if (!(d[1] & 0x1000) || !(d[1] & 0x800) ||
	    ((d[1] & 0x400) ? ((d[1] >> 13) & 3) > rpl : ((d[1] >> 13) & 3) != rpl))
		x86_fault(cpu, EXC_GP, cs & 0xfffc);
	if (!(d[1] & 0x8000))
		x86_fault(cpu, EXC_NP, cs & 0xfffc);
	outer = rpl > old_cpl || cpu->code64;
	if (outer) {
		nsp = mem_read(cpu, SEG_SS, (sp + 3 * opsize) & m, opsize);
		ss = mem_read(cpu, SEG_SS, (sp + 4 * opsize) & m, opsize);
	}
	/* Flags: what the old privilege may change. */
	iopl = (cpu->rflags >> 12) & 3;
	mask = F_ARITH | F_TF | F_DF | F_NT | F_RF | F_AC | F_ID;
	if (old_cpl <= iopl)
		mask |= F_IF;
	if (old_cpl == 0)
		mask |= F_IOPL | F_VIF | F_VIP;
	if (opsize == 2)
		mask &= 0xffff;
	x86_set_rflags(cpu, fl, mask);
	x86_seg_load_cs(cpu, cs, d, rpl);
	if (outer) {
		if (!(ss & ~3u) && cpu->code64 && rpl < 3) {
			null_ss(cpu, ss, rpl);
			x86_update_mode(cpu);
		} else {
			x86_load_seg(cpu, SEG_SS, ss);
		}
		cpu->gpr[X86_RSP] = opsize == 8 ? nsp : opsize == 4 ? (uint32_t)nsp : (cpu->gpr[X86_RSP] & ~0xffffULL) | (nsp & 0xffff);
		if (rpl > old_cpl)
			x86_seg_null_outer(cpu);
	} else {
		sp += 3 * opsize;
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | (sp & m);
	}
	cpu->rip = cpu->code64 ? ip : ip & size_mask(opsize);
}
