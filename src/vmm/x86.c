#include "vmm/x86.h"

#include <string.h>

static struct x86_segment seg(uint16_t sel, uint64_t base, uint32_t limit, uint8_t type, uint8_t db,
			      uint8_t g)
{
	return (struct x86_segment){.base = base, .limit = limit, .selector = sel, .type = type,
				    .s = 1, .present = 1, .db = db, .g = g};
}

void x86_state_reset(struct x86_cpu_state *st)
{
	memset(st, 0, sizeof(*st));
	st->rip = 0xfff0;
	st->rflags = X86_RFLAGS_FIXED;
	st->cs = seg(0xf000, 0xffff0000, 0xffff, 0xb, 0, 0);
	st->ds = st->es = st->fs = st->gs = st->ss = seg(0, 0, 0xffff, 0x3, 0, 0);
	st->tr = (struct x86_segment){.limit = 0xffff, .type = 0xb, .present = 1};
	st->ldt = (struct x86_segment){.limit = 0xffff, .type = 0x2, .present = 1};
	st->gdt.limit = st->idt.limit = 0xffff;
	st->cr0 = X86_CR0_ET | X86_CR0_CD | X86_CR0_NW;
	st->gpr[X86_RDX] = 0x600; /* family 6 processor signature */
}

void x86_state_flat32(struct x86_cpu_state *st, uint64_t entry)
{
	x86_state_reset(st);
	st->rip = entry;
	st->cr0 = X86_CR0_PE | X86_CR0_ET;
	st->cs = seg(0x10, 0, 0xffffffff, 0xb, 1, 1);
	st->ds = st->es = st->fs = st->gs = st->ss = seg(0x18, 0, 0xffffffff, 0x3, 1, 1);
	st->gpr[X86_RDX] = 0;
}
