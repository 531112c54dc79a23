/*
 * The soft CPU's state and its execution loop: reset/INIT/SIPI, loading and
 * saving the architectural state, and x86_cpu_exec(), which runs
 * instructions until a budget, HLT, a shutdown or an exit request.
 */
#include "vmm/cpu/x86/internal.h"

#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"

/* BERTH_SOFT_TRACE=exc | insn | insn@N */
static void parse_trace(struct x86_cpu *cpu, const char *v)
{
	if (!v)
		return;
	cpu->trace_exc = true;
	if (!strncmp(v, "insn", 4)) {
		cpu->trace = true;
		cpu->trace_from = v[4] == '@' ? strtoull(v + 5, NULL, 0) : 0;
	}
}

void x86_cpu_init(struct x86_cpu *cpu, const struct x86_platform *plat)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->plat = *plat;
	cpu->icache = aligned_alloc(64, X86_ICACHE_SIZE * sizeof(*cpu->icache));
	if (!cpu->icache)
		die("soft CPU: out of memory for the decoded-instruction cache");
	memset(cpu->icache, 0, X86_ICACHE_SIZE * sizeof(*cpu->icache));
	parse_trace(cpu, getenv("BERTH_SOFT_TRACE"));
	x86_jit_init(cpu);
	x86_cpu_reset(cpu, false);
}

void x86_cpu_destroy(struct x86_cpu *cpu)
{
	free(cpu->icache);
	cpu->icache = NULL;
	x86_jit_destroy(cpu);
}

/* Power-on / INIT state (SDM Vol. 3, 9.1.1). */
void x86_cpu_reset(struct x86_cpu *cpu, bool wait_for_sipi)
{
	struct x86_cpu_state st;

	x86_state_reset(&st);
	x86_cpu_set_state(cpu, &st);
	cpu->pat = 0x0007040600070406ULL;
	cpu->misc_enable = 1; /* fast strings */
	cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
	cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr[6] = 0xffff0ff0;
	cpu->dr[7] = 0x400;
	x86_fpu_reset(cpu);
	cpu->fpu.mxcsr = 0x1f80;
	memset(cpu->fpu.xmm, 0, sizeof(cpu->fpu.xmm));
	cpu->halted = false;
	cpu->wait_for_sipi = wait_for_sipi;
	cpu->shutdown = false;
	cpu->pending_irq = -1;
	cpu->pending_nmi = cpu->nmi_blocked = false;
	cpu->delivering = -1;
	cpu->shadow = 0;
}

void x86_cpu_sipi(struct x86_cpu *cpu, uint8_t vector)
{
	if (!cpu->wait_for_sipi)
		return;
	cpu->wait_for_sipi = false;
	cpu->halted = false;
	x86_real_seg(&cpu->seg[SEG_CS], (uint16_t)vector << 8);
	cpu->rip = 0;
	x86_update_mode(cpu);
}

void x86_cpu_set_state(struct x86_cpu *cpu, const struct x86_cpu_state *st)
{
	memcpy(cpu->gpr, st->gpr, sizeof(cpu->gpr));
	cpu->rip = st->rip;
	cpu->rflags = st->rflags | X86_RFLAGS_FIXED;
	cpu->cc_op = CC_NONE;
	cpu->seg[SEG_ES] = st->es;
	cpu->seg[SEG_CS] = st->cs;
	cpu->seg[SEG_SS] = st->ss;
	cpu->seg[SEG_DS] = st->ds;
	cpu->seg[SEG_FS] = st->fs;
	cpu->seg[SEG_GS] = st->gs;
	cpu->tr = st->tr;
	cpu->ldt = st->ldt;
	cpu->gdt = st->gdt;
	cpu->idt = st->idt;
	cpu->cr0 = st->cr0 | X86_CR0_ET;
	cpu->cr2 = st->cr2;
	cpu->cr3 = st->cr3;
	cpu->cr4 = st->cr4;
	cpu->efer = st->efer;
	if ((cpu->efer & X86_EFER_LME) && (cpu->cr0 & X86_CR0_PG))
		cpu->efer |= X86_EFER_LMA;
	if (cpu->plat.set_cr8 && st->cr8 <= 15)
		cpu->plat.set_cr8(cpu->plat.opaque, st->cr8);
	cpu->cpl = (cpu->cr0 & X86_CR0_PE) ? st->ss.dpl : 0;
	cpu->fetch_page_lin = ~0ULL;
	x86_update_mode(cpu);
	x86_tlb_flush(cpu, true);
}

void x86_cpu_get_state(struct x86_cpu *cpu, struct x86_cpu_state *st)
{
	memcpy(st->gpr, cpu->gpr, sizeof(st->gpr));
	st->rip = cpu->rip;
	st->rflags = x86_cpu_rflags(cpu);
	st->es = cpu->seg[SEG_ES];
	st->cs = cpu->seg[SEG_CS];
	st->ss = cpu->seg[SEG_SS];
	st->ds = cpu->seg[SEG_DS];
	st->fs = cpu->seg[SEG_FS];
	st->gs = cpu->seg[SEG_GS];
	st->tr = cpu->tr;
	st->ldt = cpu->ldt;
	st->gdt = cpu->gdt;
	st->idt = cpu->idt;
	st->cr0 = cpu->cr0;
	st->cr2 = cpu->cr2;
	st->cr3 = cpu->cr3;
	st->cr4 = cpu->cr4;
	st->cr8 = cpu->plat.get_cr8 ? cpu->plat.get_cr8(cpu->plat.opaque) : 0;
	st->efer = cpu->efer;
}

void x86_cpu_request_exit(struct x86_cpu *cpu)
{
	atomic_store_explicit(&cpu->exit_request, true, memory_order_release);
}

bool x86_cpu_irq_window(const struct x86_cpu *cpu)
{
	return (cpu->rflags & F_IF) && !cpu->shadow && !cpu->wait_for_sipi;
}

void x86_cpu_interrupt(struct x86_cpu *cpu, uint8_t vector)
{
	cpu->pending_irq = vector;
	cpu->halted = false;
}

void x86_cpu_nmi(struct x86_cpu *cpu)
{
	cpu->pending_nmi = true;
	cpu->halted = false;
}

/* Log the instruction about to run (BERTH_SOFT_TRACE). */
static void trace_insn(struct x86_cpu *cpu)
{
	uint8_t bytes[8] = {0};
	uint64_t lin = cpu->code64 ? cpu->rip : (uint32_t)(cpu->rip + cpu->seg[SEG_CS].base);

	x86_cpu_read_virt(cpu, lin, bytes, sizeof(bytes));
	log_info("cpu%u: %04x:%016llx %02x %02x %02x %02x %02x %02x %02x %02x rax=%llx rcx=%llx "
		 "rdx=%llx rsp=%llx",
		 cpu->plat.apic_id, cpu->seg[SEG_CS].selector, (unsigned long long)cpu->rip,
		 bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
		 (unsigned long long)cpu->gpr[X86_RAX], (unsigned long long)cpu->gpr[X86_RCX],
		 (unsigned long long)cpu->gpr[X86_RDX], (unsigned long long)cpu->gpr[X86_RSP]);
}

enum x86_exit x86_cpu_exec(struct x86_cpu *cpu, uint64_t budget)
{
	cpu->budget = budget;
	if (cpu->shutdown)
		return X86_EXIT_SHUTDOWN;
	if (setjmp(cpu->fault_jmp))
		x86_handle_fault(cpu); /* a fault in here unwinds to the setjmp again */

	for (;;) {
		if (unlikely(cpu->shutdown))
			return X86_EXIT_SHUTDOWN;
		if (unlikely(cpu->wait_for_sipi))
			return X86_EXIT_HLT;
		if (unlikely(cpu->pending_nmi) && !cpu->nmi_blocked) {
			cpu->pending_nmi = false;
			cpu->insn_rip = cpu->rip;
			cpu->insn_rsp = cpu->gpr[X86_RSP];
			x86_flags_checkpoint(cpu);
			x86_deliver(cpu, EXC_NMI, false, 0, EV_EXT, cpu->rip);
		}
		if (unlikely(cpu->pending_irq >= 0)) {
			int v = cpu->pending_irq;
			cpu->pending_irq = -1;
			cpu->insn_rip = cpu->rip;
			cpu->insn_rsp = cpu->gpr[X86_RSP];
			x86_flags_checkpoint(cpu);
			if (unlikely(cpu->trace_exc))
				log_info("cpu%u: interrupt %#x at %#llx cpl %u", cpu->plat.apic_id, v,
					 (unsigned long long)cpu->rip, cpu->cpl);
			x86_deliver(cpu, v, false, 0, EV_EXT, cpu->rip);
		}
		if (unlikely(cpu->halted))
			return X86_EXIT_HLT;
		if (unlikely(!cpu->budget))
			return X86_EXIT_BUDGET;
		if (unlikely(atomic_load_explicit(&cpu->exit_request, memory_order_relaxed))) {
			atomic_store_explicit(&cpu->exit_request, false, memory_order_relaxed);
			return X86_EXIT_REQUEST;
		}
		if (likely(!cpu->trace)) {
			x86_run(cpu); /* the fast loop (insn.c) */
		} else {
			cpu->insn_rip = cpu->rip;
			cpu->insn_rsp = cpu->gpr[X86_RSP];
			x86_flags_checkpoint(cpu);
			cpu->shadow = 0;
			if (cpu->insns >= cpu->trace_from)
				trace_insn(cpu);
			x86_step(cpu);
			cpu->insns++;
			cpu->budget--;
		}
		if (unlikely(cpu->window_event) && !cpu->shadow) {
			cpu->window_event = false;
			if (cpu->irq_waiting)
				return X86_EXIT_REQUEST;
		}
		if (unlikely(cpu->pause_hint)) {
			cpu->pause_hint = false;
			return X86_EXIT_REQUEST;
		}
	}
}
