/*
 * Segmentation: descriptor tables, segment register loads with the
 * protection checks of the SDM, far jumps/calls/returns, LTR/LLDT, and the
 * derived execution mode (64-bit, 32-bit or 16-bit code; stack width).
 */
#include "vmm/cpu/x86/internal.h"

/* Recompute the mode bits that depend on EFER.LMA, CS and SS. */
void x86_update_mode(struct x86_cpu *cpu)
{
	cpu->long_mode = cpu->efer & X86_EFER_LMA;
	cpu->code64 = cpu->long_mode && cpu->seg[SEG_CS].l;
	cpu->def_size = cpu->seg[SEG_CS].db ? 4 : 2;
	cpu->stack_size = cpu->code64 ? 8 : cpu->seg[SEG_SS].db ? 4 : 2;
	cpu->fetch_page_lin = ~0ULL;
}

/* A real-mode (or VM86) segment: base = selector * 16, other attributes kept. */
void x86_real_seg(struct x86_segment *s, uint16_t sel)
{
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->present = 1;
	s->unusable = 0;
}

void x86_desc_to_seg(struct x86_segment *s, uint16_t sel, const uint32_t d[2])
{
	uint32_t limit = (d[0] & 0xffff) | (d[1] & 0xf0000);

	s->selector = sel;
	s->base = (d[0] >> 16) | ((d[1] & 0xff) << 16) | (d[1] & 0xff000000);
	s->g = (d[1] >> 23) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->type = (d[1] >> 8) & 0xf;
	s->s = (d[1] >> 12) & 1;
	s->dpl = (d[1] >> 13) & 3;
	s->present = (d[1] >> 15) & 1;
	s->avl = (d[1] >> 20) & 1;
	s->l = (d[1] >> 21) & 1;
	s->db = (d[1] >> 22) & 1;
	s->unusable = 0;
}

/* Descriptor table address of sel; faults vec(sel) if outside the table. */
static uint64_t desc_addr(struct x86_cpu *cpu, uint16_t sel, int vec, unsigned len)
{
	uint64_t base;
	uint32_t limit;

	if (sel & 4) {
		if (cpu->ldt.unusable || !cpu->ldt.present)
			x86_fault(cpu, vec, sel & 0xfffc);
		base = cpu->ldt.base;
		limit = cpu->ldt.limit;
	} else {
		base = cpu->gdt.base;
		limit = cpu->gdt.limit;
	}
	if ((uint32_t)(sel & ~7u) + len - 1 > limit)
		x86_fault(cpu, vec, sel & 0xfffc);
	base += sel & ~7u;
	return cpu->long_mode ? base : (uint32_t)base;
}

void x86_read_desc(struct x86_cpu *cpu, uint16_t sel, int vec, uint32_t desc[4], bool sys16)
{
	unsigned len = sys16 && cpu->long_mode ? 16 : 8;
	uint64_t a = desc_addr(cpu, sel, vec, len);
	unsigned i;

	for (i = 0; i < len / 4; i++)
		desc[i] = (uint32_t)sys_read(cpu, a + 4 * i, 4);
}

/* Set the accessed bit of a code/data descriptor in memory. */
static void set_accessed(struct x86_cpu *cpu, uint16_t sel, uint32_t d[2])
{
	if (!(d[1] & 0x100)) {
		d[1] |= 0x100;
		sys_write(cpu, desc_addr(cpu, sel, EXC_GP, 8) + 4, d[1], 4);
	}
}

void x86_load_seg(struct x86_cpu *cpu, int seg, uint16_t sel)
{
	struct x86_segment *s = &cpu->seg[seg];
	uint32_t d[4];
	unsigned type, dpl, rpl = sel & 3;

	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & F_VM)) {
		x86_real_seg(s, sel);
		if (seg == SEG_SS)
			x86_update_mode(cpu);
		return;
	}
	if (!(sel & ~3u)) {
		if (seg == SEG_SS && !(cpu->code64 && cpu->cpl < 3 && rpl == cpu->cpl))
			x86_fault(cpu, EXC_GP, 0);
		s->selector = sel;
		s->unusable = 1;
		s->present = 0;
		s->base = 0;
		if (seg == SEG_SS) {
			s->dpl = cpu->cpl;
			s->db = 1;
			x86_update_mode(cpu);
		}
		return;
	}
	x86_read_desc(cpu, sel, EXC_GP, d, false);
	type = (d[1] >> 8) & 0xf;
	dpl = (d[1] >> 13) & 3;
	if (!(d[1] & 0x1000))
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	if (seg == SEG_SS) {
		if (rpl != cpu->cpl || dpl != cpu->cpl || (type & 0xa) != 0x2)
			x86_fault(cpu, EXC_GP, sel & 0xfffc);
		if (!(d[1] & 0x8000))
			x86_fault(cpu, EXC_SS, sel & 0xfffc);
	} else {
		if ((type & 0xa) == 0x8) /* execute-only code */
			x86_fault(cpu, EXC_GP, sel & 0xfffc);
		if ((!(type & 8) || !(type & 4)) && (dpl < cpu->cpl || dpl < rpl))
			x86_fault(cpu, EXC_GP, sel & 0xfffc);
		if (!(d[1] & 0x8000))
			x86_fault(cpu, EXC_NP, sel & 0xfffc);
	}
	set_accessed(cpu, sel, d);
	x86_desc_to_seg(s, sel, d);
	if (seg == SEG_SS)
		x86_update_mode(cpu);
}

/* Check and load a code segment descriptor for a transfer to privilege cpl. */
static void load_cs(struct x86_cpu *cpu, uint16_t sel, uint32_t d[2], unsigned cpl)
{
	set_accessed(cpu, sel, d);
	x86_desc_to_seg(&cpu->seg[SEG_CS], (sel & 0xfffc) | cpl, d);
	cpu->cpl = cpl;
	x86_update_mode(cpu);
}

/* Validate a code segment for JMP/CALL/RET at the same or given privilege. */
static void check_code(struct x86_cpu *cpu, uint16_t sel, const uint32_t d[2], unsigned cpl)
{
	unsigned type = (d[1] >> 8) & 0xf, dpl = (d[1] >> 13) & 3;

	if (!(d[1] & 0x1000) || !(type & 8))
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	if (type & 4) {
		if (dpl > cpl)
			x86_fault(cpu, EXC_GP, sel & 0xfffc);
	} else if (dpl != cpl) {
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	}
	if (!(d[1] & 0x8000))
		x86_fault(cpu, EXC_NP, sel & 0xfffc);
}

/* JMP/CALL ptr16:off (far). Call gates and task switches are not supported (#GP). */
void x86_far_jump(struct x86_cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize, bool call,
		  uint64_t next_rip)
{
	uint32_t d[4];

	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & F_VM)) {
		if (call) {
			x86_push(cpu, cpu->seg[SEG_CS].selector, opsize);
			x86_push(cpu, next_rip, opsize);
		}
		x86_real_seg(&cpu->seg[SEG_CS], sel);
		cpu->rip = off & size_mask(opsize);
		x86_update_mode(cpu);
		return;
	}
	if (!(sel & ~3u))
		x86_fault(cpu, EXC_GP, 0);
	x86_read_desc(cpu, sel, EXC_GP, d, false);
	if ((sel & 3) > cpu->cpl && !((d[1] >> 10) & 1))
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	check_code(cpu, sel, d, cpu->cpl);
	if (call) {
		x86_push(cpu, cpu->seg[SEG_CS].selector, opsize);
		x86_push(cpu, next_rip, opsize);
	}
	load_cs(cpu, sel, d, cpu->cpl);
	cpu->rip = cpu->code64 ? off : off & size_mask(opsize);
}

/* Null data segment registers the new (outer) privilege may not use. */
static void null_outer_segs(struct x86_cpu *cpu)
{
	static const int segs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	unsigned i;

	for (i = 0; i < 4; i++) {
		struct x86_segment *s = &cpu->seg[segs[i]];
		bool conforming_code = (s->type & 0xc) == 0xc;
		if (!s->unusable && s->s && !conforming_code && s->dpl < cpu->cpl) {
			s->selector = 0;
			s->unusable = 1;
			s->present = 0;
		}
	}
}

/* RETF [imm16]. */
void x86_far_ret(struct x86_cpu *cpu, unsigned opsize, uint16_t pop_bytes)
{
	uint64_t m = sp_mask(cpu), sp = cpu->gpr[X86_RSP];
	uint64_t ip = mem_read(cpu, SEG_SS, sp & m, opsize);
	uint16_t sel = mem_read(cpu, SEG_SS, (sp + opsize) & m, opsize);
	uint32_t d[4];
	unsigned rpl = sel & 3;

	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & F_VM)) {
		x86_real_seg(&cpu->seg[SEG_CS], sel);
		cpu->rip = ip & size_mask(opsize);
		sp += 2 * opsize + pop_bytes;
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | (sp & m);
		x86_update_mode(cpu);
		return;
	}
	if (!(sel & ~3u) || rpl < cpu->cpl)
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	x86_read_desc(cpu, sel, EXC_GP, d, false);
	check_code(cpu, sel, d, (d[1] >> 10) & 1 ? ((d[1] >> 13) & 3) : rpl);
	sp += 2 * opsize + pop_bytes;
	if (rpl > cpu->cpl) {
		uint64_t nsp = mem_read(cpu, SEG_SS, sp & m, opsize);
		uint16_t ss = mem_read(cpu, SEG_SS, (sp + opsize) & m, opsize);
		load_cs(cpu, sel, d, rpl);
		x86_load_seg(cpu, SEG_SS, ss);
		cpu->gpr[X86_RSP] = (nsp + pop_bytes) & size_mask(opsize == 8 ? 8 : cpu->stack_size);
		null_outer_segs(cpu);
	} else {
		load_cs(cpu, sel, d, cpu->cpl);
		cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~m) | (sp & m);
	}
	cpu->rip = cpu->code64 ? ip : ip & size_mask(opsize);
}

/* LTR: load the task register from an available TSS descriptor and mark it busy. */
void x86_load_tr(struct x86_cpu *cpu, uint16_t sel)
{
	uint32_t d[4];
	unsigned type;

	if (!(sel & ~3u) || (sel & 4))
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	x86_read_desc(cpu, sel, EXC_GP, d, true);
	type = (d[1] >> 8) & 0x1f;
	if (type != 0x09 && type != 0x01)
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	if (!(d[1] & 0x8000))
		x86_fault(cpu, EXC_NP, sel & 0xfffc);
	x86_desc_to_seg(&cpu->tr, sel, d);
	if (cpu->long_mode)
		cpu->tr.base |= (uint64_t)d[2] << 32;
	d[1] |= 0x200; /* busy */
	sys_write(cpu, desc_addr(cpu, sel, EXC_GP, 8) + 4, d[1], 4);
	cpu->tr.type |= 2;
}

/* LLDT: a null selector disables the LDT. */
void x86_load_ldt(struct x86_cpu *cpu, uint16_t sel)
{
	uint32_t d[4];

	if (!(sel & ~3u)) {
		cpu->ldt.selector = sel;
		cpu->ldt.unusable = 1;
		cpu->ldt.present = 0;
		return;
	}
	if (sel & 4)
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	x86_read_desc(cpu, sel, EXC_GP, d, true);
	if (((d[1] >> 8) & 0x1f) != 0x02)
		x86_fault(cpu, EXC_GP, sel & 0xfffc);
	if (!(d[1] & 0x8000))
		x86_fault(cpu, EXC_NP, sel & 0xfffc);
	x86_desc_to_seg(&cpu->ldt, sel, d);
	if (cpu->long_mode)
		cpu->ldt.base |= (uint64_t)d[2] << 32;
}

/* Load CS for an interrupt/IRET transfer (except.c). */
void x86_seg_load_cs(struct x86_cpu *cpu, uint16_t sel, uint32_t d[2], unsigned cpl)
{
	load_cs(cpu, sel, d, cpl);
}

/* Null the data segments an outer privilege may not use (except.c). */
void x86_seg_null_outer(struct x86_cpu *cpu)
{
	null_outer_segs(cpu);
}
