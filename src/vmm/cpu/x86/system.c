/*
 * System instructions and state: control registers, MSRs, CPUID (advertising
 * only what this CPU implements), descriptor-table instructions, SYSCALL and
 * SYSRET, SYSENTER and SYSEXIT, SWAPGS, RDTSC(P), port I/O permission.
 */
#include "vmm/cpu/x86/internal.h"

#define CR4_SUPPORTED                                                                              \
	((1ULL << 2) | (1ULL << 3) | X86_CR4_PSE | X86_CR4_PAE | (1ULL << 6) | X86_CR4_PGE |        \
	 (1ULL << 8) | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT)

/* The instruction needs CPL 0 (and protected mode's rules). */
static void need_cpl0(struct x86_cpu *cpu)
{
	if (cpu->cpl)
		x86_gp0(cpu);
}

uint64_t x86_read_cr(struct x86_cpu *cpu, int cr)
{
	switch (cr) {
	case 0: return cpu->cr0;
	case 2: return cpu->cr2;
	case 3: return cpu->cr3;
	case 4: return cpu->cr4;
	case 8: return cpu->plat.get_cr8 ? cpu->plat.get_cr8(cpu->plat.opaque) : 0;
	}
	x86_ud(cpu);
}

void x86_write_cr(struct x86_cpu *cpu, int cr, uint64_t v)
{
	uint64_t old;

	switch (cr) {
	case 0:
		old = cpu->cr0;
		if (v >> 32)
			x86_gp0(cpu);
		v |= X86_CR0_ET;
		if ((v & X86_CR0_PG) && !(v & X86_CR0_PE))
			x86_gp0(cpu);
		if ((v & X86_CR0_NW) && !(v & X86_CR0_CD))
			x86_gp0(cpu);
		if ((v & X86_CR0_PG) && !(old & X86_CR0_PG) && (cpu->efer & X86_EFER_LME)) {
			if (!(cpu->cr4 & X86_CR4_PAE) || cpu->seg[SEG_CS].l)
				x86_gp0(cpu);
			cpu->efer |= X86_EFER_LMA;
		}
		if (!(v & X86_CR0_PG) && (old & X86_CR0_PG) && (cpu->efer & X86_EFER_LMA)) {
			if (cpu->code64)
				x86_gp0(cpu);
			cpu->efer &= ~X86_EFER_LMA;
		}
		cpu->cr0 = v;
		if ((old ^ v) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
			x86_tlb_flush(cpu, true);
		if ((old ^ v) & X86_CR0_PE) {
			/* CPL follows the mode: real mode runs at 0. */
			if (!(v & X86_CR0_PE))
				cpu->cpl = 0;
		}
		x86_update_mode(cpu);
		break;
	case 2:
		cpu->cr2 = v;
		break;
	case 3:
		if (cpu->long_mode && (v >> 52))
			x86_gp0(cpu);
		cpu->cr3 = cpu->long_mode ? v : (uint32_t)v;
		x86_tlb_flush(cpu, false);
		break;
	case 4:
		old = cpu->cr4;
		if (v & ~CR4_SUPPORTED)
			x86_gp0(cpu);
		if (cpu->long_mode && !(v & X86_CR4_PAE))
			x86_gp0(cpu);
		cpu->cr4 = v;
		if ((old ^ v) & (X86_CR4_PGE | X86_CR4_PAE | X86_CR4_PSE))
			x86_tlb_flush(cpu, true);
		break;
	case 8:
		if (v >> 4)
			x86_gp0(cpu);
		if (cpu->plat.set_cr8)
			cpu->plat.set_cr8(cpu->plat.opaque, v);
		break;
	default:
		x86_ud(cpu);
	}
}

/* --- CPUID --- */

static void brand(uint32_t leaf, uint32_t r[4])
{
	static const char name[48] = "berth soft x86-64 CPU";
	memcpy(r, name + (leaf - 0x80000002) * 16, 16);
}

void x86_cpuid(struct x86_cpu *cpu)
{
	uint32_t leaf = cpu->gpr[X86_RAX], sub = cpu->gpr[X86_RCX], r[4] = {0, 0, 0, 0};

	switch (leaf) {
	case 0:
		r[0] = 0x16;
		r[1] = 0x756e6547; /* "GenuineIntel" */
		r[3] = 0x49656e69;
		r[2] = 0x6c65746e;
		break;
	case 1:
		/* Family 6, model 0x1c, stepping 2: an in-order core that Linux knows
		 * is not affected by speculative-execution issues, so it does not
		 * enable mitigations that rely on features this CPU does not have. */
		r[0] = 0x000106c2;
		r[1] = (cpu->plat.apic_id << 24) | (1 << 16) | (8 << 8);
		r[2] = (1u << 13) /* CX16 */ | (cpu->plat.tsc_deadline ? (1u << 24) : 0);
		r[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
		       (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 17) |
		       (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
		break;
	case 6:
		r[0] = 1u << 2; /* ARAT: the LAPIC timer runs in every C-state */
		break;
	case 0x15:
		if (cpu->plat.crystal_hz) {
			r[0] = 1;
			r[1] = 1;
			r[2] = (uint32_t)cpu->plat.crystal_hz;
		}
		break;
	case 0x16:
		if (cpu->plat.crystal_hz) {
			r[0] = r[1] = (uint32_t)(cpu->plat.crystal_hz / 1000000);
			r[2] = 100;
		}
		break;
	case 0x80000000:
		r[0] = 0x80000008;
		break;
	case 0x80000001:
		r[2] = 1u << 0; /* LAHF/SAHF in 64-bit mode */
		r[3] = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
		brand(leaf, r);
		break;
	case 0x80000007:
		r[3] = 1u << 8; /* invariant TSC */
		break;
	case 0x80000008:
		r[0] = 40 | (48 << 8);
		break;
	default:
		break; /* every other leaf up to the maximum reads as zero */
	}
	(void)sub;
	cpu->gpr[X86_RAX] = r[0];
	cpu->gpr[X86_RBX] = r[1];
	cpu->gpr[X86_RCX] = r[2];
	cpu->gpr[X86_RDX] = r[3];
}

/* --- MSRs --- */

enum {
	MSR_TSC = 0x10, MSR_FEATURE_CONTROL = 0x3a, MSR_BIOS_SIGN = 0x8b, MSR_SYSENTER_CS = 0x174,
	MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176, MSR_MISC_ENABLE = 0x1a0, MSR_PAT = 0x277,
	MSR_EFER = 0xc0000080, MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082,
	MSR_CSTAR = 0xc0000083, MSR_FMASK = 0xc0000084, MSR_FS_BASE = 0xc0000100,
	MSR_GS_BASE = 0xc0000101, MSR_KERNEL_GS_BASE = 0xc0000102, MSR_TSC_AUX = 0xc0000103,
};

static uint64_t tsc(struct x86_cpu *cpu)
{
	return (cpu->plat.rdtsc ? cpu->plat.rdtsc(cpu->plat.opaque) : cpu->insns) + cpu->tsc_offset;
}

/* Read an MSR; false if it does not exist (#GP). */
static bool msr_get(struct x86_cpu *cpu, uint32_t msr, uint64_t *v)
{
	switch (msr) {
	case MSR_TSC: *v = tsc(cpu); return true;
	case MSR_FEATURE_CONTROL: *v = 1; return true; /* locked, VMX off */
	case MSR_BIOS_SIGN: *v = 0; return true;
	case MSR_SYSENTER_CS: *v = cpu->sysenter_cs; return true;
	case MSR_SYSENTER_ESP: *v = cpu->sysenter_esp; return true;
	case MSR_SYSENTER_EIP: *v = cpu->sysenter_eip; return true;
	case MSR_MISC_ENABLE: *v = cpu->misc_enable; return true;
	case MSR_PAT: *v = cpu->pat; return true;
	case MSR_EFER: *v = cpu->efer; return true;
	case MSR_STAR: *v = cpu->star; return true;
	case MSR_LSTAR: *v = cpu->lstar; return true;
	case MSR_CSTAR: *v = cpu->cstar; return true;
	case MSR_FMASK: *v = cpu->sfmask; return true;
	case MSR_FS_BASE: *v = cpu->seg[SEG_FS].base; return true;
	case MSR_GS_BASE: *v = cpu->seg[SEG_GS].base; return true;
	case MSR_KERNEL_GS_BASE: *v = cpu->kernel_gs_base; return true;
	case MSR_TSC_AUX: *v = cpu->tsc_aux; return true;
	}
	return cpu->plat.msr_read && cpu->plat.msr_read(cpu->plat.opaque, msr, v);
}

static bool pat_valid(uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++) {
		unsigned t = (v >> (8 * i)) & 0xff;
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static bool msr_set(struct x86_cpu *cpu, uint32_t msr, uint64_t v)
{
	switch (msr) {
	case MSR_TSC: cpu->tsc_offset = v - (tsc(cpu) - cpu->tsc_offset); return true;
	case MSR_FEATURE_CONTROL: return false;
	case MSR_BIOS_SIGN: return true;
	case MSR_SYSENTER_CS: cpu->sysenter_cs = v & 0xffff; return true;
	case MSR_SYSENTER_ESP:
		if (!x86_canonical(v))
			return false;
		cpu->sysenter_esp = v;
		return true;
	case MSR_SYSENTER_EIP:
		if (!x86_canonical(v))
			return false;
		cpu->sysenter_eip = v;
		return true;
	case MSR_MISC_ENABLE: cpu->misc_enable = v; return true;
	case MSR_PAT:
		if (!pat_valid(v))
			return false;
		cpu->pat = v;
		return true;
	case MSR_EFER: {
		uint64_t allowed = X86_EFER_SCE | X86_EFER_LME | X86_EFER_NXE;
		if (v & ~(allowed | X86_EFER_LMA))
			return false;
		if ((cpu->cr0 & X86_CR0_PG) && ((v ^ cpu->efer) & X86_EFER_LME))
			return false;
		v = (v & allowed) | (cpu->efer & X86_EFER_LMA);
		if ((v ^ cpu->efer) & X86_EFER_NXE)
			x86_tlb_flush(cpu, true);
		cpu->efer = v;
		return true;
	}
	case MSR_STAR: cpu->star = v; return true;
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!x86_canonical(v))
			return false;
		if (msr == MSR_LSTAR)
			cpu->lstar = v;
		else if (msr == MSR_CSTAR)
			cpu->cstar = v;
		else if (msr == MSR_FS_BASE)
			cpu->seg[SEG_FS].base = v;
		else if (msr == MSR_GS_BASE)
			cpu->seg[SEG_GS].base = v;
		else
			cpu->kernel_gs_base = v;
		return true;
	case MSR_FMASK: cpu->sfmask = (uint32_t)v; return true;
	case MSR_TSC_AUX: cpu->tsc_aux = (uint32_t)v; return true;
	}
	return cpu->plat.msr_write && cpu->plat.msr_write(cpu->plat.opaque, msr, v);
}

void x86_rdmsr(struct x86_cpu *cpu)
{
	uint64_t v;

	need_cpl0(cpu);
	if (!msr_get(cpu, (uint32_t)cpu->gpr[X86_RCX], &v))
		x86_gp0(cpu);
	cpu->gpr[X86_RAX] = (uint32_t)v;
	cpu->gpr[X86_RDX] = v >> 32;
}

void x86_wrmsr(struct x86_cpu *cpu)
{
	uint64_t v = (cpu->gpr[X86_RDX] << 32) | (uint32_t)cpu->gpr[X86_RAX];

	need_cpl0(cpu);
	if (!msr_set(cpu, (uint32_t)cpu->gpr[X86_RCX], v))
		x86_gp0(cpu);
}

/* --- fast system calls --- */

/* A flat segment as SYSCALL/SYSENTER load it (the descriptor is not read). */
static void flat_seg(struct x86_segment *s, uint16_t sel, bool code, bool l, unsigned dpl)
{
	*s = (struct x86_segment){.base = 0, .limit = 0xffffffff, .selector = sel,
				  .type = code ? 0xb : 0x3, .s = 1, .dpl = dpl, .present = 1,
				  .db = !l, .l = l, .g = 1};
}

void x86_syscall(struct x86_cpu *cpu, uint64_t next_rip)
{
	uint16_t sel = (cpu->star >> 32) & 0xfffc;

	if (!(cpu->efer & X86_EFER_SCE) || !cpu->long_mode)
		x86_ud(cpu);
	cpu->gpr[X86_RCX] = next_rip;
	cpu->gpr[X86_R11] = x86_cpu_rflags(cpu) & ~(uint64_t)F_RF;
	flat_seg(&cpu->seg[SEG_CS], sel, true, true, 0);
	flat_seg(&cpu->seg[SEG_SS], sel + 8, false, false, 0);
	cpu->cpl = 0;
	cpu->rflags &= ~(cpu->sfmask | F_RF);
	cpu->rflags |= X86_RFLAGS_FIXED;
	x86_update_mode(cpu);
	cpu->rip = cpu->code64 ? cpu->lstar : cpu->cstar;
}

void x86_sysret(struct x86_cpu *cpu, unsigned opsize)
{
	uint16_t sel = (cpu->star >> 48) & 0xfffc;

	if (!(cpu->efer & X86_EFER_SCE) || !cpu->code64)
		x86_ud(cpu);
	need_cpl0(cpu);
	if (opsize == 8 && !x86_canonical(cpu->gpr[X86_RCX]))
		x86_gp0(cpu);
	if (opsize == 8) {
		flat_seg(&cpu->seg[SEG_CS], (sel + 16) | 3, true, true, 3);
		cpu->rip = cpu->gpr[X86_RCX];
	} else {
		flat_seg(&cpu->seg[SEG_CS], sel | 3, true, false, 3);
		cpu->rip = (uint32_t)cpu->gpr[X86_RCX];
	}
	/* SS keeps a flat descriptor; only the selector and DPL change. */
	cpu->seg[SEG_SS].selector = (sel + 8) | 3;
	cpu->seg[SEG_SS].dpl = 3;
	cpu->seg[SEG_SS].unusable = 0;
	cpu->seg[SEG_SS].present = 1;
	cpu->seg[SEG_SS].type = 0x3;
	cpu->seg[SEG_SS].s = 1;
	cpu->seg[SEG_SS].db = 1;
	cpu->seg[SEG_SS].base = 0;
	cpu->seg[SEG_SS].limit = 0xffffffff;
	cpu->cpl = 3;
	x86_set_rflags(cpu, cpu->gpr[X86_R11], 0x3f7fd5ULL & ~(uint64_t)(F_RF | F_VM));
	if (cpu->rflags & F_IF)
		cpu->window_event = true;
	x86_update_mode(cpu);
}

void x86_sysenter(struct x86_cpu *cpu)
{
	uint16_t sel = cpu->sysenter_cs & 0xfffc;

	if (!(cpu->cr0 & X86_CR0_PE) || !sel)
		x86_gp0(cpu);
	x86_flags_commit(cpu);
	cpu->rflags &= ~(uint64_t)(F_VM | F_IF | F_RF);
	flat_seg(&cpu->seg[SEG_CS], sel, true, cpu->long_mode, 0);
	flat_seg(&cpu->seg[SEG_SS], sel + 8, false, false, 0);
	cpu->cpl = 0;
	x86_update_mode(cpu);
	cpu->gpr[X86_RSP] = cpu->long_mode ? cpu->sysenter_esp : (uint32_t)cpu->sysenter_esp;
	cpu->rip = cpu->long_mode ? cpu->sysenter_eip : (uint32_t)cpu->sysenter_eip;
}

void x86_sysexit(struct x86_cpu *cpu, unsigned opsize)
{
	uint16_t sel = cpu->sysenter_cs & 0xfffc;

	if (!(cpu->cr0 & X86_CR0_PE) || !sel)
		x86_gp0(cpu);
	need_cpl0(cpu);
	if (opsize == 8) {
		flat_seg(&cpu->seg[SEG_CS], (sel + 32) | 3, true, true, 3);
		flat_seg(&cpu->seg[SEG_SS], (sel + 40) | 3, false, false, 3);
	} else {
		flat_seg(&cpu->seg[SEG_CS], (sel + 16) | 3, true, false, 3);
		flat_seg(&cpu->seg[SEG_SS], (sel + 24) | 3, false, false, 3);
	}
	cpu->cpl = 3;
	x86_update_mode(cpu);
	cpu->gpr[X86_RSP] = opsize == 8 ? cpu->gpr[X86_RCX] : (uint32_t)cpu->gpr[X86_RCX];
	cpu->rip = opsize == 8 ? cpu->gpr[X86_RDX] : (uint32_t)cpu->gpr[X86_RDX];
}

/* --- port I/O permission --- */

void x86_check_io(struct x86_cpu *cpu, uint16_t port, unsigned size)
{
	uint16_t base;
	uint32_t bits, need = ((1u << size) - 1) << (port & 7);

	if (!(cpu->cr0 & X86_CR0_PE) ||
	    (cpu->cpl <= ((cpu->rflags >> 12) & 3) && !(cpu->rflags & F_VM)))
		return;
	/* Consult the TSS I/O permission bitmap. */
	if ((cpu->tr.type & 7) != 3 || !(cpu->tr.type & 8) || cpu->tr.limit < 0x67)
		x86_gp0(cpu);
	base = sys_read(cpu, cpu->tr.base + 0x66, 2);
	if ((uint32_t)base + port / 8 + 1 > cpu->tr.limit)
		x86_gp0(cpu);
	bits = sys_read(cpu, cpu->tr.base + base + port / 8, 2);
	if (bits & need)
		x86_gp0(cpu);
}

/* --- descriptor-table instructions and the rest of 0F 00 / 0F 01 --- */

/* Store a descriptor-table register (SGDT/SIDT). */
static void store_dtable(struct x86_cpu *cpu, struct insn *d, const struct x86_dtable *t)
{
	uint64_t ea = x86_ea(cpu, d);

	if (d->mod == 3)
		x86_ud(cpu);
	mem_write(cpu, d->ea_seg, ea, t->limit, 2);
	if (cpu->code64)
		mem_write(cpu, d->ea_seg, ea + 2, t->base, 8);
	else
		mem_write(cpu, d->ea_seg, (ea + 2) & size_mask(d->addrsize), (uint32_t)t->base, 4);
}

static void load_dtable(struct x86_cpu *cpu, struct insn *d, struct x86_dtable *t)
{
	uint64_t ea = x86_ea(cpu, d), base;
	uint16_t limit;

	if (d->mod == 3)
		x86_ud(cpu);
	need_cpl0(cpu);
	limit = mem_read(cpu, d->ea_seg, ea, 2);
	if (cpu->code64) {
		base = mem_read(cpu, d->ea_seg, ea + 2, 8);
		if (!x86_canonical(base))
			x86_gp0(cpu);
	} else {
		base = mem_read(cpu, d->ea_seg, (ea + 2) & size_mask(d->addrsize), 4);
		if (d->opsize == 2)
			base &= 0xffffff;
	}
	t->base = base;
	t->limit = limit;
}

/* LAR / LSL: ZF=1 and the result if the descriptor is visible at CPL/RPL. */
static void lar_lsl(struct x86_cpu *cpu, struct insn *d, bool lsl)
{
	uint16_t sel = x86_rm_read(cpu, d, 2);
	uint32_t desc[4];
	unsigned type, dpl;
	bool ok = false;
	uint64_t result = 0;

	if (!(cpu->cr0 & X86_CR0_PE))
		x86_ud(cpu);
	x86_flags_commit(cpu);
	if (sel & ~3u) {
		uint64_t base = (sel & 4) ? cpu->ldt.base : cpu->gdt.base;
		uint32_t limit = (sel & 4) ? cpu->ldt.limit : cpu->gdt.limit;
		if ((uint32_t)(sel & ~7u) + 7 <= limit) {
			desc[0] = sys_read(cpu, base + (sel & ~7u), 4);
			desc[1] = sys_read(cpu, base + (sel & ~7u) + 4, 4);
			type = (desc[1] >> 8) & 0x1f;
			dpl = (desc[1] >> 13) & 3;
			if (type & 0x10) {
				/* Code/data: conforming code is always visible. */
				ok = (type & 0x1c) == 0x1c || (dpl >= cpu->cpl && dpl >= (sel & 3u));
			} else {
				static const uint8_t lsl_ok[16] = {[1] = 1, [2] = 1, [3] = 1, [9] = 1, [11] = 1};
				static const uint8_t lar_ok[16] = {[1] = 1, [2] = 1, [3] = 1, [4] = 1, [5] = 1,
								   [9] = 1, [11] = 1, [12] = 1};
				ok = (lsl ? lsl_ok : lar_ok)[type & 15] && dpl >= cpu->cpl && dpl >= (sel & 3u);
				if (cpu->long_mode && (type == 1 || type == 3 || type == 4 || type == 5))
					ok = false;
			}
			if (lsl) {
				struct x86_segment s;
				x86_desc_to_seg(&s, sel, desc);
				result = s.limit;
			} else {
				result = desc[1] & 0x00f0ff00;
			}
		}
	}
	cpu->rflags &= ~(uint64_t)F_ZF;
	if (ok) {
		cpu->rflags |= F_ZF;
		x86_set_reg(cpu, d, d->reg, result, d->opsize == 2 ? 2 : 4);
		if (d->opsize == 8)
			cpu->gpr[d->reg] = (uint32_t)result;
	}
}

/* VERR / VERW: ZF=1 if the segment is readable / writable at CPL and RPL. */
static void verr_verw(struct x86_cpu *cpu, struct insn *d, bool write)
{
	uint16_t sel = x86_rm_read(cpu, d, 2);
	uint64_t base = (sel & 4) ? cpu->ldt.base : cpu->gdt.base;
	uint32_t limit = (sel & 4) ? cpu->ldt.limit : cpu->gdt.limit, hi;
	unsigned type, dpl;
	bool ok = false;

	if ((sel & ~3u) && (uint32_t)(sel & ~7u) + 7 <= limit) {
		hi = sys_read(cpu, base + (sel & ~7u) + 4, 4);
		type = (hi >> 8) & 0x1f;
		dpl = (hi >> 13) & 3;
		if (type & 0x10) {
			bool conforming = (type & 0x1c) == 0x1c;
			bool priv = conforming || (dpl >= cpu->cpl && dpl >= (sel & 3u));
			if (write)
				ok = priv && !(type & 8) && (type & 2);
			else
				ok = priv && (!(type & 8) || (type & 2));
		}
	}
	x86_flags_commit(cpu);
	cpu->rflags = (cpu->rflags & ~(uint64_t)F_ZF) | (ok ? F_ZF : 0);
}

void x86_exec_system(struct x86_cpu *cpu, struct insn *d)
{
	unsigned b = d->op & 0xff, op;
	uint64_t v;

	switch (b) {
	case 0x00:
		x86_decode_modrm(cpu, d);
		op = d->reg & 7;
		if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & F_VM))
			x86_ud(cpu);
		switch (op) {
		case 0: /* SLDT */
			x86_rm_write(cpu, d, cpu->ldt.selector, d->mod == 3 ? d->opsize : 2);
			break;
		case 1: /* STR */
			x86_rm_write(cpu, d, cpu->tr.selector, d->mod == 3 ? d->opsize : 2);
			break;
		case 2:
			need_cpl0(cpu);
			x86_load_ldt(cpu, x86_rm_read(cpu, d, 2));
			break;
		case 3:
			need_cpl0(cpu);
			x86_load_tr(cpu, x86_rm_read(cpu, d, 2));
			break;
		case 4:
		case 5:
			verr_verw(cpu, d, op == 5);
			break;
		default:
			x86_ud(cpu);
		}
		return;
	case 0x01:
		x86_decode_modrm(cpu, d);
		op = d->reg & 7;
		if (d->mod == 3) {
			switch (d->modrm) {
			case 0xf8: /* SWAPGS */
				if (!cpu->code64)
					x86_ud(cpu);
				need_cpl0(cpu);
				v = cpu->seg[SEG_GS].base;
				cpu->seg[SEG_GS].base = cpu->kernel_gs_base;
				cpu->kernel_gs_base = v;
				return;
			case 0xf9: /* RDTSCP */
				if ((cpu->cr4 & (1ULL << 2)) && cpu->cpl)
					x86_gp0(cpu);
				v = tsc(cpu);
				cpu->gpr[X86_RAX] = (uint32_t)v;
				cpu->gpr[X86_RDX] = v >> 32;
				cpu->gpr[X86_RCX] = cpu->tsc_aux;
				return;
			}
			if (op == 4) {
				x86_rm_write(cpu, d, cpu->cr0, d->opsize);
				return;
			}
			if (op == 6)
				goto lmsw;
			x86_ud(cpu);
		}
		switch (op) {
		case 0: store_dtable(cpu, d, &cpu->gdt); return;
		case 1: store_dtable(cpu, d, &cpu->idt); return;
		case 2: load_dtable(cpu, d, &cpu->gdt); return;
		case 3: load_dtable(cpu, d, &cpu->idt); return;
		case 4: x86_rm_write(cpu, d, cpu->cr0, 2); return;
		case 6:
		lmsw:
			need_cpl0(cpu);
			v = x86_rm_read(cpu, d, 2);
			/* LMSW sets PE (never clears it), MP, EM, TS. */
			x86_write_cr(cpu, 0, (cpu->cr0 & ~0xeULL) | (v & 0xf) | (cpu->cr0 & 1));
			return;
		case 7: /* INVLPG */
			need_cpl0(cpu);
			x86_tlb_flush_page(cpu, seg_lin(cpu, d->ea_seg, x86_ea(cpu, d)));
			return;
		}
		x86_ud(cpu);
	case 0x02:
	case 0x03:
		x86_decode_modrm(cpu, d);
		lar_lsl(cpu, d, b == 0x03);
		return;
	case 0x05:
		x86_syscall(cpu, x86_next_rip(cpu));
		cpu->rip_set = true;
		return;
	case 0x06: /* CLTS */
		need_cpl0(cpu);
		cpu->cr0 &= ~X86_CR0_TS;
		return;
	case 0x07:
		x86_sysret(cpu, d->opsize);
		cpu->rip_set = true;
		return;
	case 0x08: /* INVD */
	case 0x09: /* WBINVD */
		need_cpl0(cpu);
		return;
	case 0x20:
	case 0x22: {
		/* MOV from/to CRn: always a register operand, 64-bit in long mode. */
		unsigned cr, size = cpu->code64 ? 8 : 4;
		x86_decode_modrm(cpu, d);
		need_cpl0(cpu);
		cr = d->reg;
		if (cr == 1 || (cr > 4 && cr != 8))
			x86_ud(cpu);
		if (b == 0x20) {
			cpu->gpr[(d->modrm & 7) | ((d->rex & 1) << 3)] = x86_read_cr(cpu, cr) & size_mask(size);
		} else {
			x86_write_cr(cpu, cr, cpu->gpr[(d->modrm & 7) | ((d->rex & 1) << 3)] & size_mask(size));
			if (cr == 8)
				cpu->window_event = true;
		}
		return;
	}
	case 0x21:
	case 0x23: {
		unsigned dr, r, size = cpu->code64 ? 8 : 4;
		x86_decode_modrm(cpu, d);
		need_cpl0(cpu);
		dr = d->reg;
		r = (d->modrm & 7) | ((d->rex & 1) << 3);
		if (dr > 7)
			x86_ud(cpu);
		if (dr == 4 || dr == 5)
			dr += 2;
		if (b == 0x21) {
			uint64_t val = cpu->dr[dr];
			if (dr == 6)
				val |= 0xffff0ff0;
			else if (dr == 7)
				val |= 0x400;
			cpu->gpr[r] = val & size_mask(size);
		} else {
			cpu->dr[dr] = cpu->gpr[r] & size_mask(size);
		}
		return;
	}
	case 0x30:
		x86_wrmsr(cpu);
		return;
	case 0x31: /* RDTSC */
		if ((cpu->cr4 & (1ULL << 2)) && cpu->cpl)
			x86_gp0(cpu);
		v = tsc(cpu);
		cpu->gpr[X86_RAX] = (uint32_t)v;
		cpu->gpr[X86_RDX] = v >> 32;
		return;
	case 0x32:
		x86_rdmsr(cpu);
		return;
	case 0x33: /* RDPMC: no counters */
		x86_gp0(cpu);
	case 0x34:
		x86_sysenter(cpu);
		cpu->rip_set = true;
		return;
	case 0x35:
		x86_sysexit(cpu, d->opsize);
		cpu->rip_set = true;
		return;
	case 0xa2:
		x86_cpuid(cpu);
		return;
	}
	x86_ud(cpu);
}
