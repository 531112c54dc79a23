/*
 * The soft x86-64 CPU: architectural state and the execution API.
 *
 * The CPU knows nothing about the VM. Everything outside the core (guest RAM,
 * MMIO, port I/O, MSRs it does not own, the time stamp counter, CR8) is
 * reached through a small platform table, so the unit tests and the
 * differential test drive a CPU on their own with a fake platform.
 *
 * Threading: a struct x86_cpu belongs to one thread, except
 * x86_cpu_request_exit(), which any thread may call. Guest memory may be
 * written by other threads at any time (other vCPUs, device DMA): the
 * decoded-instruction cache and the block translator check the code bytes on
 * every use, so nothing needs to be invalidated.
 */
#ifndef BERTH_VMM_CPU_X86_CPU_H
#define BERTH_VMM_CPU_X86_CPU_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/x86.h"

/* What the CPU asks of the machine around it. Any callback except ram_page may be NULL. */
struct x86_platform {
	void *opaque;
	/* Host pointer to the 4 KiB RAM page that holds gpa, or NULL (MMIO / unbacked). */
	uint8_t *(*ram_page)(void *opaque, uint64_t gpa);
	/* MMIO outside RAM (unbacked reads give all ones, writes are dropped). */
	uint64_t (*mmio_read)(void *opaque, uint64_t gpa, unsigned size);
	void (*mmio_write)(void *opaque, uint64_t gpa, uint64_t value, unsigned size);
	uint64_t (*pio_read)(void *opaque, uint16_t port, unsigned size);
	void (*pio_write)(void *opaque, uint16_t port, uint64_t value, unsigned size);
	/* MSRs the CPU does not own; false means #GP. */
	bool (*msr_read)(void *opaque, uint32_t msr, uint64_t *value);
	bool (*msr_write)(void *opaque, uint32_t msr, uint64_t value);
	uint64_t (*rdtsc)(void *opaque);
	uint8_t (*get_cr8)(void *opaque);
	void (*set_cr8)(void *opaque, uint8_t value);
	/* CPUID leaf 0x15 crystal frequency (Hz); 0 leaves leaf 0x15 empty. */
	uint64_t crystal_hz;
	/* Advertise TSC-deadline mode of the local APIC in CPUID. */
	bool tsc_deadline;
	/* APIC id reported by CPUID. */
	uint32_t apic_id;
};

/* Why x86_cpu_exec() returned. */
enum x86_exit {
	X86_EXIT_BUDGET,   /* executed the requested number of instructions */
	X86_EXIT_REQUEST,  /* x86_cpu_request_exit(), or IF became 1 */
	X86_EXIT_HLT,      /* HLT: the CPU sleeps until an interrupt */
	X86_EXIT_SHUTDOWN, /* triple fault: the machine must reset or stop */
};

/* A software TLB entry: linear page tag per access kind, host address addend. */
struct x86_tlb_entry {
	uint64_t tag_r, tag_w, tag_x; /* page-aligned linear address, or ~0 */
	uintptr_t addend;             /* host pointer = addend + linear */
	uint64_t gpa;                 /* guest physical page */
	uint64_t large_mask;          /* ~(page size - 1) of the mapping */
	bool global;
};

#define X86_TLB_BITS 8
#define X86_TLB_SIZE (1u << X86_TLB_BITS)

/* x87 + SSE state, kept in the FXSAVE image layout's terms (see fpu.c, sse.c). */
struct x86_fpu {
	long double st[8]; /* physical registers R0..R7 */
	uint16_t fcw, fsw, ftw; /* ftw: full 16-bit tag word (2 bits per register) */
	uint16_t fop;
	uint64_t fip, fdp;
	uint32_t mxcsr;
	union {
		uint8_t b[16];
		uint16_t w[8];
		uint32_t d[4];
		uint64_t q[2];
		float f[4];
		double dbl[2];
	} xmm[16];
};

struct x86_icache_entry;
struct x86_jit;

struct x86_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags; /* arithmetic flags are stale while cc_op != CC_NONE */
	/* Lazy flags (alu.c). */
	uint32_t cc_op;
	uint64_t cc_res, cc_src1, cc_src2;

	struct x86_segment seg[6]; /* ES, CS, SS, DS, FS, GS */
	struct x86_segment tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint8_t cpl;
	/* Derived mode bits, refreshed by x86_update_mode(). */
	bool long_mode; /* EFER.LMA */
	bool code64;    /* CS.L in long mode */
	uint8_t def_size;  /* 2 or 4: default operand/address size outside 64-bit code */
	uint8_t stack_size; /* 2, 4 or 8 */

	/* MSRs the CPU owns. */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat, tsc_aux, misc_enable, mtrr_def_type, tsc_offset;
	uint64_t dr[8];

	struct x86_fpu fpu;

	/* Execution state. */
	bool halted;
	bool wait_for_sipi;
	uint8_t shadow;        /* interrupt shadow after STI / MOV SS (instructions left) */
	bool window_event;     /* IF went from 0 to 1: recheck interrupts once the shadow ends */
	bool irq_waiting;      /* the platform has an interrupt waiting for the window */
	bool pause_hint;       /* PAUSE executed (spin loop) */
	bool rip_set;          /* a system instruction transferred control itself */
	int pending_irq;       /* external vector to deliver before the next instruction, or -1 */
	bool pending_nmi, nmi_blocked;
	atomic_bool exit_request;
	uint64_t insns;        /* instructions retired (for tracing and tests) */
	uint64_t budget;

	/* Fault delivery (except.c). */
	jmp_buf fault_jmp;
	int delivering; /* vector being delivered (for double/triple faults), or -1 */
	int exc_vector;  /* the fault being raised */
	uint32_t exc_error;
	bool shutdown;
	uint64_t insn_rip; /* RIP of the instruction being executed */
	uint64_t insn_rsp;
	/* RFLAGS and lazy flags at the start of the instruction: a fault restores them. */
	uint64_t insn_rflags, insn_cc_res, insn_cc_src1, insn_cc_src2;
	uint32_t insn_cc_op;

	/* Instruction fetch window (insn.c). */
	const uint8_t *fetch_ptr, *fetch_end;
	const uint8_t *fetch_page_host; /* host address of the page at fetch_page_lin */
	uint64_t fetch_page_lin;        /* linear page of the window, or ~0 */
	uint64_t fetch_bias; /* RIP of the next byte = fetch_bias + (uintptr_t)fetch_ptr */
	uint64_t next_rip;   /* RIP after the instruction being executed */
	struct x86_icache_entry *icache; /* decoded instructions (insn.c) */
	struct x86_jit *jit;             /* translated blocks (jit.c), or NULL */
	uint8_t fetch_mmio_byte;

	/* Software TLB, one per privilege (0: supervisor, 1: user). */
	struct x86_tlb_entry tlb[2][X86_TLB_SIZE];

	struct x86_platform plat;
	/* Debug tracing from BERTH_SOFT_TRACE: "exc" logs exceptions and interrupts,
	 * "insn" also every instruction, "insn@N" every instruction after N retired. */
	bool trace_exc;
	bool trace;
	uint64_t trace_from;
};

/* Create/reset: the CPU starts in the architectural reset state. */
void x86_cpu_init(struct x86_cpu *cpu, const struct x86_platform *plat);
/* Free what x86_cpu_init allocated. */
void x86_cpu_destroy(struct x86_cpu *cpu);
/* INIT signal: reset most state, keep MSRs the SDM says survive; enter wait-for-SIPI if ap. */
void x86_cpu_reset(struct x86_cpu *cpu, bool wait_for_sipi);
/* Startup IPI: leave wait-for-SIPI and start in real mode at vector << 12. */
void x86_cpu_sipi(struct x86_cpu *cpu, uint8_t vector);

void x86_cpu_set_state(struct x86_cpu *cpu, const struct x86_cpu_state *st);
void x86_cpu_get_state(struct x86_cpu *cpu, struct x86_cpu_state *st);

/* Run up to budget instructions. */
enum x86_exit x86_cpu_exec(struct x86_cpu *cpu, uint64_t budget);
/* Make x86_cpu_exec return soon (any thread). */
void x86_cpu_request_exit(struct x86_cpu *cpu);

/* Can an external interrupt be taken now (IF=1, no interrupt shadow)? */
bool x86_cpu_irq_window(const struct x86_cpu *cpu);
/* Deliver an external interrupt vector at the next instruction boundary (wakes HLT). */
void x86_cpu_interrupt(struct x86_cpu *cpu, uint8_t vector);
void x86_cpu_nmi(struct x86_cpu *cpu);

/* Full RFLAGS with the lazily computed arithmetic flags folded in. */
uint64_t x86_cpu_rflags(struct x86_cpu *cpu);

/* Drop every TLB entry (after the platform's memory map changed). */
void x86_cpu_flush_tlb(struct x86_cpu *cpu);

/* Read/write guest memory through the CPU's current paging (debuggers, tests).
 * Return 0, or -1 if some page is not mapped. Do not fault. */
int x86_cpu_read_virt(struct x86_cpu *cpu, uint64_t lin, void *buf, unsigned len);

#endif
