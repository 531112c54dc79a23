/*
 * Architectural x86 register state, shared by the loaders (which build the
 * entry state for a boot protocol) and both accelerators (which load it).
 * Field meanings follow the SDM; segment attributes are unpacked like KVM's.
 */
#ifndef BERTH_VMM_X86_H
#define BERTH_VMM_X86_H

#include <stdint.h>

enum x86_gpr {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};

struct x86_segment {
	uint64_t base;
	uint32_t limit; /* in bytes, already scaled by G */
	uint16_t selector;
	uint8_t type; /* 4-bit type field */
	uint8_t s, dpl, present, db, l, g, avl;
	uint8_t unusable;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

struct x86_cpu_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

/* Control register and EFER bits the loaders and accelerators use. */
#define X86_CR0_PE   (1ULL << 0)
#define X86_CR0_MP   (1ULL << 1)
#define X86_CR0_EM   (1ULL << 2)
#define X86_CR0_TS   (1ULL << 3)
#define X86_CR0_ET   (1ULL << 4)
#define X86_CR0_NE   (1ULL << 5)
#define X86_CR0_WP   (1ULL << 16)
#define X86_CR0_AM   (1ULL << 18)
#define X86_CR0_NW   (1ULL << 29)
#define X86_CR0_CD   (1ULL << 30)
#define X86_CR0_PG   (1ULL << 31)
#define X86_CR4_PSE  (1ULL << 4)
#define X86_CR4_PAE  (1ULL << 5)
#define X86_CR4_PGE  (1ULL << 7)
#define X86_CR4_OSFXSR (1ULL << 9)
#define X86_CR4_OSXMMEXCPT (1ULL << 10)
#define X86_EFER_SCE (1ULL << 0)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_EFER_NXE (1ULL << 11)
#define X86_RFLAGS_FIXED (1ULL << 1)
#define X86_RFLAGS_IF (1ULL << 9)

/* Reset state of an x86 CPU (real mode, CS:IP = f000:fff0), per the SDM. */
void x86_state_reset(struct x86_cpu_state *st);
/* A flat 32-bit protected-mode state (paging off), as Multiboot requires. */
void x86_state_flat32(struct x86_cpu_state *st, uint64_t entry);

#endif
