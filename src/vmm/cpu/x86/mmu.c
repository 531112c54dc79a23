/*
 * Paging and the software TLB: 2-level (with 4 MiB PSE pages), PAE and
 * 4-level walks with accessed/dirty updates, U/S, R/W with CR0.WP, NX, and
 * page faults with the SDM's error codes. The TLB caches, per privilege
 * (supervisor/user), the host address of a linear page separately for
 * reads, writes (only once the dirty bit is set) and instruction fetches.
 */
#include "vmm/cpu/x86/internal.h"

#define MAXPHYADDR   40
#define PTE_P        1ULL
#define PTE_W        2ULL
#define PTE_U        4ULL
#define PTE_A        0x20ULL
#define PTE_D        0x40ULL
#define PTE_PS       0x80ULL
#define PTE_G        0x100ULL
#define PTE_NX       (1ULL << 63)
#define PTE_ADDR     (((1ULL << MAXPHYADDR) - 1) & ~0xfffULL)
#define PTE_RSVD_HI  (((1ULL << 52) - 1) & ~((1ULL << MAXPHYADDR) - 1))

/* Result of a translation. */
struct xlate {
	uint64_t gpa;        /* physical address of lin */
	uint64_t page_mask;  /* ~(page size - 1) */
	bool writable;       /* a write is allowed (and the dirty bit is set) */
	bool executable;
	bool global;
};

bool x86_canonical(uint64_t lin)
{
	return (uint64_t)((int64_t)(lin << 16) >> 16) == lin;
}

/* Physical memory access outside the TLB (page walks, descriptor tables). */
uint64_t x86_phys_read(struct x86_cpu *cpu, uint64_t gpa, unsigned size)
{
	uint8_t *p = cpu->plat.ram_page(cpu->plat.opaque, gpa);
	uint64_t v = 0;

	if (p && (gpa & 0xfff) + size <= 0x1000) {
		memcpy(&v, p + (gpa & 0xfff), size);
		return v;
	}
	if (cpu->plat.mmio_read)
		return cpu->plat.mmio_read(cpu->plat.opaque, gpa, size);
	return size_mask(size);
}

void x86_phys_write(struct x86_cpu *cpu, uint64_t gpa, uint64_t value, unsigned size)
{
	uint8_t *p = cpu->plat.ram_page(cpu->plat.opaque, gpa);

	if (p && (gpa & 0xfff) + size <= 0x1000) {
		memcpy(p + (gpa & 0xfff), &value, size);
		return;
	}
	if (cpu->plat.mmio_write)
		cpu->plat.mmio_write(cpu->plat.opaque, gpa, value, size);
}

/* Read a paging entry; non-RAM reads as not present. */
static uint64_t *pte_ptr(struct x86_cpu *cpu, uint64_t gpa)
{
	uint8_t *p = cpu->plat.ram_page(cpu->plat.opaque, gpa);

	return p ? (uint64_t *)(p + (gpa & 0xff8)) : NULL;
}

/* Set bits in a paging entry atomically (other vCPUs walk the same tables). */
static void pte_set(void *p, uint64_t bits, unsigned size)
{
	if (size == 8)
		__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
}

/*
 * Walk the page tables for lin. Returns 0 and fills *x, or the page-fault
 * error code (without the access-kind bits) with bit 31 set.
 */
static uint32_t walk(struct x86_cpu *cpu, uint64_t lin, enum acc acc, int user, struct xlate *x,
		     bool set_ad)
{
	bool wp = cpu->cr0 & X86_CR0_WP, nxe = cpu->efer & X86_EFER_NXE;
	bool rw = true, us = true, nx = false;
	uint64_t *ptes[5];
	unsigned sizes[5], n = 0, i;
	uint64_t e = 0, mask;
	int level;

	if (!(cpu->cr0 & X86_CR0_PG)) {
		x->gpa = lin;
		x->page_mask = ~0xfffULL;
		x->writable = x->executable = true;
		x->global = false;
		return 0;
	}
	if (cpu->long_mode || (cpu->cr4 & X86_CR4_PAE)) {
		uint64_t base;
		uint64_t rsvd = PTE_RSVD_HI | (nxe ? 0 : PTE_NX);

		if (cpu->long_mode) {
			level = 4;
			base = cpu->cr3 & PTE_ADDR;
		} else {
			/* PAE: the PDPTE (the CPU caches these at CR3 load; we re-read). */
			uint64_t *p = pte_ptr(cpu, (cpu->cr3 & 0xffffffe0) + ((lin >> 30) & 3) * 8);
			e = p ? *p : 0;
			if (!(e & PTE_P))
				return 0x80000000u;
			if (e & (PTE_RSVD_HI | 0x1e6 | PTE_NX))
				return 0x80000000u | PF_RSVD | PF_P;
			level = 2;
			base = e & PTE_ADDR;
		}
		for (;; level--) {
			unsigned shift = 12 + 9 * (level - 1);
			uint64_t *p = pte_ptr(cpu, base + ((lin >> shift) & 511) * 8);

			e = p ? __atomic_load_n(p, __ATOMIC_RELAXED) : 0;
			if (!(e & PTE_P))
				return 0x80000000u;
			if ((e & rsvd) || (level == 4 && (e & PTE_PS)) ||
			    (level == 3 && (e & PTE_PS) && (e & 0x3fffe000ULL)) ||
			    (level == 2 && (e & PTE_PS) && (e & 0x1fe000ULL)))
				return 0x80000000u | PF_RSVD | PF_P;
			rw = rw && (e & PTE_W);
			us = us && (e & PTE_U);
			nx = nx || (e & PTE_NX);
			ptes[n] = p;
			sizes[n++] = 8;
			if (level == 1 || (level <= 3 && (e & PTE_PS))) {
				mask = ~((1ULL << shift) - 1);
				x->gpa = ((e & PTE_ADDR) & mask) | (lin & ~mask);
				if (level > 1)
					x->gpa = ((e & PTE_ADDR & ~0x1000ULL) & mask) | (lin & ~mask);
				break;
			}
			base = e & PTE_ADDR;
		}
	} else {
		/* Legacy 32-bit paging. */
		uint32_t *p = (uint32_t *)pte_ptr(cpu, (cpu->cr3 & 0xfffff000) + ((lin >> 22) & 1023) * 4);
		uint32_t d;

		if (p)
			p = (uint32_t *)((uint8_t *)p + (((lin >> 22) & 1023) * 4 & 4));
		d = p ? __atomic_load_n(p, __ATOMIC_RELAXED) : 0;
		if (!(d & PTE_P))
			return 0x80000000u;
		rw = d & PTE_W;
		us = d & PTE_U;
		ptes[n] = (uint64_t *)p;
		sizes[n++] = 4;
		e = d;
		if ((d & PTE_PS) && (cpu->cr4 & X86_CR4_PSE)) {
			mask = ~0x3fffffULL;
			x->gpa = (d & 0xffc00000) | ((uint64_t)(d >> 13) & 0xff) << 32 | (lin & 0x3fffff);
		} else {
			uint32_t *q = (uint32_t *)pte_ptr(cpu, (d & 0xfffff000) + ((lin >> 12) & 1023) * 4);
			uint32_t t;

			if (q)
				q = (uint32_t *)((uint8_t *)q + (((lin >> 12) & 1023) * 4 & 4));
			t = q ? __atomic_load_n(q, __ATOMIC_RELAXED) : 0;
			if (!(t & PTE_P))
				return 0x80000000u;
			rw = rw && (t & PTE_W);
			us = us && (t & PTE_U);
			ptes[n] = (uint64_t *)q;
			sizes[n++] = 4;
			e = t;
			mask = ~0xfffULL;
			x->gpa = (t & 0xfffff000) | (lin & 0xfff);
		}
	}
	/* Permission checks. */
	if (user && !us)
		return 0x80000000u | PF_P;
	if (acc == ACC_W && !rw && (user || wp))
		return 0x80000000u | PF_P;
	if (acc == ACC_X && nx)
		return 0x80000000u | PF_P;
	if (set_ad) {
		for (i = 0; i < n; i++) {
			uint64_t cur = sizes[i] == 8 ? __atomic_load_n(ptes[i], __ATOMIC_RELAXED)
						     : __atomic_load_n((uint32_t *)ptes[i], __ATOMIC_RELAXED);
			if (!(cur & PTE_A))
				pte_set(ptes[i], PTE_A, sizes[i]);
		}
		if (acc == ACC_W && !(e & PTE_D)) {
			pte_set(ptes[n - 1], PTE_D, sizes[n - 1]);
			e |= PTE_D;
		}
	}
	x->page_mask = mask;
	x->writable = (rw || (!user && !wp)) && (e & PTE_D);
	x->executable = !nx;
	x->global = (e & PTE_G) && (cpu->cr4 & X86_CR4_PGE);
	return 0;
}

/* Translate lin for an access, fill the TLB, return the host pointer (NULL: MMIO). */
uint8_t *x86_tlb_fill(struct x86_cpu *cpu, uint64_t lin, enum acc acc, int user, bool probe,
		      uint64_t *gpa_out)
{
	struct xlate x;
	uint32_t err;
	struct x86_tlb_entry *e;
	uint64_t page = lin & ~0xfffULL;
	uint8_t *host;

	if (cpu->long_mode && !x86_canonical(lin)) {
		if (probe)
			return NULL;
		x86_fault(cpu, EXC_GP, 0);
	}
	err = walk(cpu, lin, acc, user, &x, !probe);
	if (err) {
		if (probe) {
			*gpa_out = ~0ULL;
			return NULL;
		}
		err &= ~0x80000000u;
		err |= acc == ACC_W ? PF_W : 0;
		err |= user ? PF_U : 0;
		if (acc == ACC_X && (cpu->efer & X86_EFER_NXE))
			err |= PF_I;
		x86_page_fault(cpu, lin, err);
	}
	*gpa_out = x.gpa;
	host = cpu->plat.ram_page(cpu->plat.opaque, x.gpa);
	if (!host || probe)
		return host ? host + (lin & 0xfff) : NULL;
	e = &cpu->tlb[user][(lin >> 12) & (X86_TLB_SIZE - 1)];
	if (e->addend != (uintptr_t)host - page || e->gpa != (x.gpa & ~0xfffULL)) {
		e->tag_r = e->tag_w = e->tag_x = ~0ULL;
		e->addend = (uintptr_t)host - page;
		e->gpa = x.gpa & ~0xfffULL;
	}
	e->tag_r = page;
	if (x.writable)
		e->tag_w = page;
	if (x.executable)
		e->tag_x = page;
	e->large_mask = x.page_mask;
	e->global = x.global;
	return host + (lin & 0xfff);
}

void x86_tlb_flush(struct x86_cpu *cpu, bool global_too)
{
	unsigned u, i;

	for (u = 0; u < 2; u++)
		for (i = 0; i < X86_TLB_SIZE; i++) {
			struct x86_tlb_entry *e = &cpu->tlb[u][i];
			if (global_too || !e->global) {
				e->tag_r = e->tag_w = e->tag_x = ~0ULL;
				e->global = false;
			}
		}
	cpu->fetch_page_lin = ~0ULL;
}

void x86_cpu_flush_tlb(struct x86_cpu *cpu)
{
	x86_tlb_flush(cpu, true);
}

/* INVLPG: drop entries whose mapping covers lin (large pages cover several entries). */
void x86_tlb_flush_page(struct x86_cpu *cpu, uint64_t lin)
{
	unsigned u, i;

	for (u = 0; u < 2; u++)
		for (i = 0; i < X86_TLB_SIZE; i++) {
			struct x86_tlb_entry *e = &cpu->tlb[u][i];
			uint64_t tag = e->tag_r;
			if (tag == ~0ULL)
				continue;
			if ((tag & e->large_mask) == (lin & e->large_mask)) {
				e->tag_r = e->tag_w = e->tag_x = ~0ULL;
				e->global = false;
			}
		}
	cpu->fetch_page_lin = ~0ULL;
}

/* Slow-path read of size bytes at lin (may cross a page, may be MMIO). */
uint64_t x86_read_lin(struct x86_cpu *cpu, uint64_t lin, unsigned size, int user)
{
	uint64_t gpa, v = 0;
	uint8_t *p;
	unsigned i;

	if ((lin & 0xfff) + size > 0x1000) {
		for (i = 0; i < size; i++)
			v |= x86_read_lin(cpu, lin + i, 1, user) << (8 * i);
		return v;
	}
	p = x86_tlb_hit(cpu, lin, ACC_R, user);
	if (!p)
		p = x86_tlb_fill(cpu, lin, ACC_R, user, false, &gpa);
	if (p) {
		memcpy(&v, p, size);
		return v;
	}
	if (cpu->plat.mmio_read)
		return cpu->plat.mmio_read(cpu->plat.opaque, gpa, size) & size_mask(size);
	return size_mask(size);
}

void x86_write_lin(struct x86_cpu *cpu, uint64_t lin, uint64_t value, unsigned size, int user)
{
	uint64_t gpa;
	uint8_t *p;
	unsigned i;

	if ((lin & 0xfff) + size > 0x1000) {
		uint64_t next = (lin | 0xfff) + 1;
		/* Check both pages before writing anything (a fault on the second
		 * page reports its first byte in CR2, as the hardware does). */
		x86_tlb_fill(cpu, lin, ACC_W, user, false, &gpa);
		x86_tlb_fill(cpu, next, ACC_W, user, false, &gpa);
		for (i = 0; i < size; i++)
			x86_write_lin(cpu, lin + i, value >> (8 * i), 1, user);
		return;
	}
	p = x86_tlb_hit(cpu, lin, ACC_W, user);
	if (!p)
		p = x86_tlb_fill(cpu, lin, ACC_W, user, false, &gpa);
	if (p) {
		memcpy(p, &value, size);
		return;
	}
	if (cpu->plat.mmio_write)
		cpu->plat.mmio_write(cpu->plat.opaque, gpa, value & size_mask(size), size);
}

/* Host pointer for an access that stays inside one RAM page, or NULL. */
uint8_t *x86_lin_ptr(struct x86_cpu *cpu, uint64_t lin, unsigned size, enum acc acc, int user)
{
	uint8_t *p;
	uint64_t gpa;

	if ((lin & 0xfff) + size > 0x1000)
		return NULL;
	p = x86_tlb_hit(cpu, lin, acc, user);
	return p ? p : x86_tlb_fill(cpu, lin, acc, user, false, &gpa);
}

int x86_cpu_read_virt(struct x86_cpu *cpu, uint64_t lin, void *buf, unsigned len)
{
	uint8_t *out = buf;

	while (len) {
		unsigned n = 0x1000 - (lin & 0xfff);
		uint64_t gpa;
		uint8_t *p;

		if (n > len)
			n = len;
		p = x86_tlb_fill(cpu, lin, ACC_R, 0, true, &gpa);
		if (!p)
			return -1;
		memcpy(out, p, n);
		out += n;
		lin += n;
		len -= n;
	}
	return 0;
}
