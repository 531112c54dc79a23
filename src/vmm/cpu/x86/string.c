/*
 * String instructions: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with REP,
 * REPE and REPNE. Registers are updated after every element, so a fault in
 * the middle restarts the instruction with the remaining count, and a long
 * REP yields every few thousand elements so interrupts are taken. Forward
 * REP MOVS and REP STOS over RAM run a page at a time on host memory.
 */
#include "vmm/cpu/x86/internal.h"

#define REP_CHUNK 65536 /* elements per invocation before yielding */

/* Write an index register (RSI/RDI/RCX) in the address size. */
static inline void set_areg(struct x86_cpu *cpu, int r, uint64_t v, unsigned asize)
{
	if (asize == 8)
		cpu->gpr[r] = v;
	else if (asize == 4)
		cpu->gpr[r] = (uint32_t)v;
	else
		cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | (v & 0xffff);
}

/*
 * Forward REP MOVS/STOS on host memory for as many whole elements as fit in
 * the current source and destination pages. Returns the elements done (0:
 * take the element-by-element path).
 */
static uint64_t fast_chunk(struct x86_cpu *cpu, struct insn *d, int sseg, unsigned size,
			   uint64_t count, bool movs)
{
	uint64_t am = size_mask(d->addrsize);
	uint64_t dlin = seg_lin(cpu, SEG_ES, cpu->gpr[X86_RDI] & am), slin = 0;
	uint64_t n = (0x1000 - (dlin & 0xfff)) / size, i;
	int user = cpu_user(cpu);
	uint8_t *dp, *sp = NULL;

	if (movs) {
		slin = seg_lin(cpu, sseg, cpu->gpr[X86_RSI] & am);
		n = min_u64(n, (0x1000 - (slin & 0xfff)) / size);
	}
	n = min_u64(n, count);
	if (!n || (dlin & (size - 1)))
		return 0;
	/* Index registers must not wrap inside the chunk. */
	if (((cpu->gpr[X86_RDI] & am) + n * size - 1) > am)
		return 0;
	if (movs) {
		if (((cpu->gpr[X86_RSI] & am) + n * size - 1) > am)
			return 0;
		sp = x86_lin_ptr(cpu, slin, (unsigned)(n * size), ACC_R, user);
		if (!sp)
			return 0;
	}
	dp = x86_lin_ptr(cpu, dlin, (unsigned)(n * size), ACC_W, user);
	if (!dp)
		return 0;
	if (movs) {
		if (dp > sp && dp < sp + n * size) {
			/* overlapping: element by element like the hardware (each element is
			 * read whole, then written) */
			for (i = 0; i < n; i++)
				memmove(dp + i * size, sp + i * size, size);
		} else {
			memmove(dp, sp, n * size);
		}
	} else {
		uint64_t v = cpu->gpr[X86_RAX];
		if (size == 1) {
			memset(dp, (uint8_t)v, n);
		} else {
			for (i = 0; i < n; i++)
				memcpy(dp + i * size, &v, size);
		}
	}
	return n;
}

bool x86_string(struct x86_cpu *cpu, struct insn *d)
{
	unsigned op = d->op, size, asz = d->addrsize;
	int sseg = d->seg == SEG_NONE ? SEG_DS : d->seg;
	uint64_t am = size_mask(asz), count = 0, done = 0, v, w;
	int64_t delta;
	bool rep = d->rep != 0, io = op >= 0x6c && op <= 0x6f;

	if (io)
		size = (op & 1) ? (d->opsize == 8 ? 4 : d->opsize) : 1;
	else
		size = (op & 1) ? d->opsize : 1;
	delta = (cpu->rflags & F_DF) ? -(int64_t)size : (int64_t)size;
	if (rep) {
		count = cpu->gpr[X86_RCX] & am;
		if (!count)
			return true;
	}
	if (io)
		x86_check_io(cpu, (uint16_t)cpu->gpr[X86_RDX], size);

	for (;;) {
		/* Bulk path for forward REP MOVS/STOS. */
		if (rep && delta > 0 && (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab)) {
			uint64_t n = fast_chunk(cpu, d, sseg, size, count, op <= 0xa5);
			if (n) {
				set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + n * size, asz);
				if (op <= 0xa5)
					set_areg(cpu, X86_RSI, cpu->gpr[X86_RSI] + n * size, asz);
				count -= n;
				set_areg(cpu, X86_RCX, count, asz);
				if (!count)
					return true;
				done += n;
				if (done >= REP_CHUNK)
					return false;
				continue;
			}
		}
		switch (op) {
		case 0x6c: case 0x6d: /* INS */
			/* Check the destination before the port is read. */
			{
				uint64_t gpa;
				uint64_t lin = seg_lin(cpu, SEG_ES, cpu->gpr[X86_RDI] & am);
				if ((lin & 0xfff) + size <= 0x1000)
					x86_tlb_fill(cpu, lin, ACC_W, cpu_user(cpu), false, &gpa);
			}
			v = cpu->plat.pio_read ? cpu->plat.pio_read(cpu->plat.opaque, cpu->gpr[X86_RDX], size) : ~0ULL;
			mem_write(cpu, SEG_ES, cpu->gpr[X86_RDI] & am, v, size);
			set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + delta, asz);
			break;
		case 0x6e: case 0x6f: /* OUTS */
			v = mem_read(cpu, sseg, cpu->gpr[X86_RSI] & am, size);
			if (cpu->plat.pio_write)
				cpu->plat.pio_write(cpu->plat.opaque, cpu->gpr[X86_RDX], v, size);
			set_areg(cpu, X86_RSI, cpu->gpr[X86_RSI] + delta, asz);
			break;
		case 0xa4: case 0xa5: /* MOVS */
			v = mem_read(cpu, sseg, cpu->gpr[X86_RSI] & am, size);
			mem_write(cpu, SEG_ES, cpu->gpr[X86_RDI] & am, v, size);
			set_areg(cpu, X86_RSI, cpu->gpr[X86_RSI] + delta, asz);
			set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + delta, asz);
			break;
		case 0xa6: case 0xa7: /* CMPS */
			v = mem_read(cpu, sseg, cpu->gpr[X86_RSI] & am, size);
			w = mem_read(cpu, SEG_ES, cpu->gpr[X86_RDI] & am, size);
			x86_alu(cpu, 7, v, w, size);
			set_areg(cpu, X86_RSI, cpu->gpr[X86_RSI] + delta, asz);
			set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + delta, asz);
			break;
		case 0xaa: case 0xab: /* STOS */
			mem_write(cpu, SEG_ES, cpu->gpr[X86_RDI] & am, cpu->gpr[X86_RAX], size);
			set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + delta, asz);
			break;
		case 0xac: case 0xad: /* LODS */
			v = mem_read(cpu, sseg, cpu->gpr[X86_RSI] & am, size);
			x86_set_reg(cpu, d, X86_RAX, v, size);
			set_areg(cpu, X86_RSI, cpu->gpr[X86_RSI] + delta, asz);
			break;
		default: /* SCAS */
			w = mem_read(cpu, SEG_ES, cpu->gpr[X86_RDI] & am, size);
			x86_alu(cpu, 7, cpu->gpr[X86_RAX], w, size);
			set_areg(cpu, X86_RDI, cpu->gpr[X86_RDI] + delta, asz);
			break;
		}
		if (!rep)
			return true;
		count--;
		set_areg(cpu, X86_RCX, count, asz);
		if (!count)
			return true;
		if (op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf) {
			/* a fault in a later element keeps this element's flags */
			x86_flags_checkpoint(cpu);
			bool zf = x86_cond(cpu, 4);
			if ((d->rep == 0xf3 && !zf) || (d->rep == 0xf2 && zf))
				return true;
		}
		if (++done >= REP_CHUNK || (io && done >= 64))
			return false;
	}
}
