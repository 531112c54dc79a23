/*
 * Local APIC: xAPIC (MMIO) and x2APIC (MSR) register interfaces, interrupt
 * acceptance and priority, inter-processor interrupts, LINT0/LINT1 and the
 * APIC timer (one-shot, periodic and TSC-deadline).
 *
 * Each lapic has its own lock. Work that reaches other chips (sending an IPI,
 * the EOI broadcast to the IOAPIC, acknowledging the PIC, kicking a vCPU) is
 * done after dropping it, so the lock order is: vm->lock, the chipset's lock,
 * one lapic lock.
 */
#include "vmm/accel/soft/chipset.h"
#include "common/log.h"
#include "common/util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets in the xAPIC page (x2APIC MSR = 0x800 + offset / 16). */
enum {
	REG_ID = 0x20,
	REG_VERSION = 0x30,
	REG_TPR = 0x80,
	REG_APR = 0x90,
	REG_PPR = 0xa0,
	REG_EOI = 0xb0,
	REG_RRD = 0xc0,
	REG_LDR = 0xd0,
	REG_DFR = 0xe0,
	REG_SVR = 0xf0,
	REG_ISR = 0x100,
	REG_TMR = 0x180,
	REG_IRR = 0x200,
	REG_ESR = 0x280,
	REG_ICR = 0x300,
	REG_ICR2 = 0x310,
	REG_LVT = 0x320, /* timer, thermal, perfmon, LINT0, LINT1, error */
	REG_TIMER_INIT = 0x380,
	REG_TIMER_CUR = 0x390,
	REG_TIMER_DCR = 0x3e0,
	REG_SELF_IPI = 0x3f0, /* x2APIC only */
};

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

#define APIC_VERSION	 (0x14u | (LVT_COUNT - 1u) << 16)
#define MSR_APIC_BASE	 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST	 0x8ff
#define BASE_BSP	 (1ULL << 8)
#define BASE_EXTD	 (1ULL << 10)
#define BASE_EN		 (1ULL << 11)
#define BASE_ADDR_MASK	 0x000ffffffffff000ULL
#define BASE_RESERVED	 (~(BASE_ADDR_MASK | BASE_BSP | BASE_EXTD | BASE_EN))

#define SVR_ENABLE	   (1u << 8)
#define SVR_WRITABLE	   0x3ffu /* vector, enable, focus check; no EOI-broadcast suppression */
#define LVT_MASKED	   (1u << 16)
#define LVT_LEVEL	   (1u << 15)
#define LVT_MODE(v)	   (((v) >> 8) & 7)
#define TIMER_MODE(v)	   (((v) >> 17) & 3)
#define TIMER_ONESHOT	   0
#define TIMER_PERIODIC	   1
#define TIMER_TSC_DEADLINE 2
#define ICR_LOGICAL	   (1u << 11)
#define ICR_ASSERT	   (1u << 14)
#define ICR_LEVEL	   (1u << 15)
#define ICR_SHORTHAND(v)   (((v) >> 18) & 3)
#define ICR_WRITABLE	   0x000ccfffu
#define ESR_SEND_ILLEGAL   (1u << 5)
#define ESR_RECV_ILLEGAL   (1u << 6)
#define BROADCAST_XAPIC	   0xffu
#define BROADCAST_X2APIC   0xffffffffu
/* Periodic timers fire at most this often (a guest cannot make us spin). */
#define MIN_PERIOD_NS 50000ULL

/* Writable bits of each LVT entry. */
static const uint32_t lvt_writable[LVT_COUNT] = {
    [LVT_TIMER] = 0x700ff,   /* vector, mask, timer mode (incl. TSC-deadline) */
    [LVT_THERMAL] = 0x107ff, /* vector, delivery mode, mask */
    [LVT_PERF] = 0x107ff,
    [LVT_LINT0] = 0x1a7ff, /* vector, delivery mode, polarity, trigger, mask */
    [LVT_LINT1] = 0x1a7ff,
    [LVT_ERROR] = 0x100ff, /* vector, mask */
};

/* Bits of lapic.flags: events a vCPU must notice (readable without the lock). */
#define PEND_IRQ  (1u << 0) /* IRR or ExtINT may hold something */
#define PEND_NMI  (1u << 1)
#define PEND_INIT (1u << 2)
#define PEND_SIPI (1u << 3)

struct lapic {
	struct vm *vm;
	unsigned index; /* vCPU id: the slot in soft_vm.lapics[] and the initial APIC ID */
	void (*kick)(void *opaque);
	void *kick_opaque;
	pthread_mutex_t lock;
	atomic_uint flags;

	uint64_t apic_base; /* IA32_APIC_BASE */
	uint32_t id;	    /* the APIC ID (xAPIC: the register's bits 24-31) */
	uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi, dcr;
	uint32_t lvt[LVT_COUNT];
	uint32_t isr[8], tmr[8], irr[8];
	bool extint_pending; /* an ExtINT message: take the vector from the PIC */
	bool wait_for_sipi;  /* INIT'ed (or an AP never started): a SIPI starts it */
	uint8_t sipi_vector;
	bool lint_level[2];

	/* Timer: counting from initial_count since start_ns (one-shot/periodic). */
	uint32_t initial_count;
	uint64_t start_ns;
	bool timer_armed;
	uint64_t deadline_ns;  /* next expiry while armed */
	uint64_t tsc_deadline; /* IA32_TSC_DEADLINE */
};

/* What a register write asks for once the lock is dropped. */
struct lapic_action {
	bool send_ipi;
	uint32_t icr_lo, dest;
	bool eoi_broadcast;
	uint8_t eoi_vector;
};

/* Is the APIC enabled in x2APIC mode (IA32_APIC_BASE EN and EXTD)? */
static bool x2apic_mode(const struct lapic *a)
{
	return (a->apic_base & (BASE_EN | BASE_EXTD)) == (BASE_EN | BASE_EXTD);
}

/* Is the APIC globally enabled (IA32_APIC_BASE EN)? */
static bool hw_enabled(const struct lapic *a)
{
	return a->apic_base & BASE_EN;
}

/* Is the APIC enabled and software-enabled (SVR bit 8)? */
static bool sw_enabled(const struct lapic *a)
{
	return hw_enabled(a) && (a->svr & SVR_ENABLE);
}

/* Set vector v in a 256-bit register. */
static void vec_set(uint32_t r[8], unsigned v)
{
	r[v >> 5] |= 1u << (v & 31);
}

/* Clear vector v in a 256-bit register. */
static void vec_clear(uint32_t r[8], unsigned v)
{
	r[v >> 5] &= ~(1u << (v & 31));
}

/* Is vector v set in a 256-bit register? */
static bool vec_test(const uint32_t r[8], unsigned v)
{
	return r[v >> 5] & (1u << (v & 31));
}

/* The highest vector set in a 256-bit register, or -1. */
static int vec_highest(const uint32_t r[8])
{
	for (int i = 7; i >= 0; i--)
		if (r[i])
			return i * 32 + 31 - __builtin_clz(r[i]);
	return -1;
}

/* Processor priority: the TPR or the class of the highest in-service vector. */
static uint32_t ppr(const struct lapic *a)
{
	int isrv = vec_highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (a->tpr & 0xf0) >= isr_class ? a->tpr & 0xff : isr_class;
}

/* Arbitration priority: the TPR or the class of the highest requested or in-service vector. */
static uint32_t apr(const struct lapic *a)
{
	int irrv = vec_highest(a->irr), isrv = vec_highest(a->isr);
	uint32_t top = (uint32_t)MAX(MAX(irrv, isrv), 0) & 0xf0;

	return (a->tpr & 0xf0) >= top ? a->tpr & 0xff : top;
}

/* The IRR vector the CPU may take now (above the processor priority), or -1. */
static int deliverable_vector(const struct lapic *a)
{
	int v = vec_highest(a->irr);

	if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(a) & 0xf0))
		return -1;
	return v;
}

/* Does the PIC's INT reach this CPU (LINT0 as ExtINT, or the APIC hardware-disabled on the BSP)? */
static bool accepts_pic(const struct lapic *a)
{
	uint32_t lint0 = a->lvt[LVT_LINT0];

	if (!hw_enabled(a))
		return a->apic_base & BASE_BSP;
	return !(lint0 & LVT_MASKED) && LVT_MODE(lint0) == APIC_DM_EXTINT;
}

/* The x2APIC logical ID derived from the APIC ID: cluster in 31-16, a bit in 15-0. */
static uint64_t x2apic_ldr(uint32_t id)
{
	return (id >> 4) << 16 | 1u << (id & 0xf);
}

/* The timer clock divisor the divide configuration register selects. */
static unsigned timer_divisor(uint32_t dcr)
{
	unsigned v = ((dcr & 8) >> 1) | (dcr & 3);

	return v == 7 ? 1 : 2u << v;
}

/* Timer counts to nanoseconds and back (the timer runs at SOFT_CRYSTAL_HZ / divisor). */
/* Timer counts to nanoseconds (the timer runs at SOFT_CRYSTAL_HZ / divisor). */
static uint64_t counts_to_ns(uint64_t counts, unsigned div)
{
	return (uint64_t)((unsigned __int128)counts * div * 1000000000ULL / SOFT_CRYSTAL_HZ);
}

/* Nanoseconds to whole timer counts. */
static uint64_t ns_to_counts(uint64_t ns, unsigned div)
{
	return (uint64_t)((unsigned __int128)ns * SOFT_CRYSTAL_HZ / (1000000000ULL * div));
}

/* A soft TSC value to guest nanoseconds. */
static uint64_t tsc_to_ns(uint64_t tsc)
{
	return (uint64_t)((unsigned __int128)tsc * 1000000000ULL / SOFT_TSC_HZ);
}

/* Stop the timer: no expiry until it is armed again. */
static void timer_disarm(struct lapic *a)
{
	a->timer_armed = false;
	a->deadline_ns = UINT64_MAX;
}

/* Load the initial count: the timer counts down from it starting now. */
static void timer_start(struct lapic *a, uint64_t now_ns)
{
	if (!a->initial_count) {
		timer_disarm(a);
		return;
	}
	a->start_ns = now_ns;
	a->deadline_ns = now_ns + counts_to_ns(a->initial_count, timer_divisor(a->dcr));
	a->timer_armed = true;
}

/* The current count register at now_ns (0 when idle or in TSC-deadline mode). */
static uint32_t timer_current(const struct lapic *a, uint64_t now_ns)
{
	unsigned div = timer_divisor(a->dcr);
	uint64_t elapsed, left;

	if (!a->timer_armed || TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
		return 0;
	if (TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_PERIODIC) {
		elapsed = ns_to_counts(now_ns > a->start_ns ? now_ns - a->start_ns : 0, div);
		return a->initial_count - (uint32_t)(elapsed % a->initial_count);
	}
	/* One-shot: what is left until the expiry (rounded up to whole counts). */
	left = a->deadline_ns > now_ns ? a->deadline_ns - now_ns : 0;
	return (uint32_t)MIN(ns_to_counts(left + counts_to_ns(1, div) - 1, div),
			     (uint64_t)a->initial_count);
}

/* Reset the registers (power-on, INIT, hardware disable); ID and APIC base stay. */
static void regs_reset(struct lapic *a)
{
	a->tpr = 0;
	a->ldr = x2apic_mode(a) ? (uint32_t)x2apic_ldr(a->id) : 0;
	a->dfr = 0xffffffff;
	a->svr = 0xff;
	for (unsigned i = 0; i < LVT_COUNT; i++)
		a->lvt[i] = LVT_MASKED;
	/* As a BIOS leaves it (and as KVM resets it): the BSP in virtual-wire mode. */
	if (a->apic_base & BASE_BSP)
		a->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	memset(a->irr, 0, sizeof(a->irr));
	a->esr = a->esr_pending = 0;
	a->icr_lo = a->icr_hi = 0;
	a->dcr = 0;
	a->initial_count = 0;
	a->tsc_deadline = 0;
	timer_disarm(a);
	a->extint_pending = false;
	atomic_fetch_and(&a->flags, ~PEND_IRQ);
}

/* Record an error in the ESR and raise the error LVT's interrupt. */
static void set_error(struct lapic *a, uint32_t bit)
{
	uint32_t lvt = a->lvt[LVT_ERROR];

	a->esr_pending |= bit;
	if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16) {
		vec_set(a->irr, lvt & 0xff);
		vec_clear(a->tmr, lvt & 0xff);
		atomic_fetch_or(&a->flags, PEND_IRQ);
	}
}

/* Accept one interrupt message (lock held). Returns whether it was taken. */
static bool accept_locked(struct lapic *a, unsigned mode, uint8_t vector, bool level)
{
	switch (mode) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		if (!sw_enabled(a))
			return false;
		if (vector < 16) {
			set_error(a, ESR_RECV_ILLEGAL);
			return false;
		}
		vec_set(a->irr, vector);
		if (level)
			vec_set(a->tmr, vector);
		else
			vec_clear(a->tmr, vector);
		atomic_fetch_or(&a->flags, PEND_IRQ);
		return true;
	case APIC_DM_NMI:
		atomic_fetch_or(&a->flags, PEND_NMI);
		return true;
	case APIC_DM_INIT:
		a->wait_for_sipi = true;
		atomic_fetch_and(&a->flags, ~PEND_SIPI);
		atomic_fetch_or(&a->flags, PEND_INIT);
		return true;
	case APIC_DM_STARTUP:
		if (!a->wait_for_sipi)
			return false; /* a running CPU ignores SIPIs */
		a->wait_for_sipi = false;
		a->sipi_vector = vector;
		atomic_fetch_or(&a->flags, PEND_SIPI);
		return true;
	case APIC_DM_EXTINT:
		a->extint_pending = true;
		atomic_fetch_or(&a->flags, PEND_IRQ);
		return true;
	default:
		log_debug("lapic %u: delivery mode %u not supported, dropped", a->index, mode);
		return false;
	}
}

/* Accept a message and wake the vCPU if it was taken. */
static bool lapic_accept(struct lapic *a, unsigned mode, uint8_t vector, bool level)
{
	bool taken;

	pthread_mutex_lock(&a->lock);
	taken = hw_enabled(a) && accept_locked(a, mode, vector, level);
	pthread_mutex_unlock(&a->lock);
	if (taken)
		lapic_kick(a);
	return taken;
}

/* Does a message for dest (physical or logical) address this APIC? */
static bool lapic_matches(struct lapic *a, uint32_t dest, bool logical)
{
	bool match = false;

	pthread_mutex_lock(&a->lock);
	if (!hw_enabled(a))
		goto out;
	/* 0xff is a broadcast in xAPIC-format messages (IOAPIC, MSI) in either mode. */
	if (dest == BROADCAST_XAPIC || dest == BROADCAST_X2APIC) {
		match = true;
	} else if (!logical) {
		match = dest == a->id;
	} else if (x2apic_mode(a)) {
		match = (dest >> 16) == (a->ldr >> 16) && (dest & a->ldr & 0xffff);
	} else {
		uint32_t ldr = a->ldr >> 24;

		if (dest > 0xff)
			goto out;
		if ((a->dfr >> 28) == 0xf) /* flat: a bitmap of up to eight APICs */
			match = dest & ldr;
		else /* cluster: cluster number in bits 7-4, bitmap in bits 3-0 */
			match =
			    ((dest >> 4) == 0xf || (dest >> 4) == (ldr >> 4)) && (dest & ldr & 0xf);
	}
out:
	pthread_mutex_unlock(&a->lock);
	return match;
}

/* The lapic of vCPU i, or NULL. */
static struct lapic *lapic_at(struct vm *vm, unsigned i)
{
	struct soft_vm *sv = soft_vm_of(vm);

	return sv && i < VM_MAX_VCPUS ? sv->lapics[i] : NULL;
}

/* How many lapic slots the VM can use. */
static unsigned lapic_count(struct vm *vm)
{
	return vm->ncpus < 0 ? 0 : MIN((unsigned)vm->ncpus, VM_MAX_VCPUS);
}

/* The set (bit i = lapics[i]) of APICs a message for dest addresses. */
static uint64_t match_targets(struct vm *vm, uint32_t dest, bool logical)
{
	uint64_t set = 0;

	for (unsigned i = 0; i < lapic_count(vm); i++) {
		struct lapic *a = lapic_at(vm, i);
		if (a && lapic_matches(a, dest, logical))
			set |= 1ULL << i;
	}
	return set;
}

/* Lowest-priority arbitration: the target with the lowest priority, ties rotating. */
static uint64_t pick_lowest(struct vm *vm, uint64_t set)
{
	static atomic_uint rotor;
	unsigned n = lapic_count(vm), start = n ? atomic_fetch_add(&rotor, 1) % n : 0;
	uint32_t best_prio = UINT32_MAX;
	uint64_t best = 0;

	for (unsigned k = 0; k < n; k++) {
		unsigned i = (start + k) % n;
		struct lapic *a = lapic_at(vm, i);
		uint32_t prio;

		if (!(set & (1ULL << i)) || !a)
			continue;
		pthread_mutex_lock(&a->lock);
		/* A software-disabled APIC would drop it: any enabled one ranks first. */
		prio = (apr(a) & 0xf0) | (sw_enabled(a) ? 0 : 0x100);
		pthread_mutex_unlock(&a->lock);
		if (prio < best_prio) {
			best_prio = prio;
			best = 1ULL << i;
		}
	}
	return best;
}

/* Deliver one message to each APIC in set. Returns how many took it. */
static int deliver_to_set(struct vm *vm, uint64_t set, unsigned mode, uint8_t vector, bool level)
{
	int accepted = 0;

	if (mode == APIC_DM_LOWEST && set)
		set = pick_lowest(vm, set);
	for (unsigned i = 0; set && i < lapic_count(vm); i++) {
		struct lapic *a = lapic_at(vm, i);

		if ((set & (1ULL << i)) && a && lapic_accept(a, mode, vector, level))
			accepted++;
	}
	return accepted;
}

/* Deliver a message to every APIC its destination addresses. */
int lapic_deliver(struct vm *vm, uint32_t dest, bool logical, unsigned delivery_mode,
		  uint8_t vector, bool level_trigger)
{
	return deliver_to_set(vm, match_targets(vm, dest, logical), delivery_mode, vector,
			      level_trigger);
}

/* MSI: address 0xfeeXXXXX carries the destination, data the vector and mode. */
void lapic_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if ((addr & 0xfff00000ULL) != PC_LAPIC_BASE) {
		log_debug("MSI to %#llx (not the APIC window) dropped", (unsigned long long)addr);
		return;
	}
	lapic_deliver(vm, (addr >> 12) & 0xff, addr & (1u << 2), (data >> 8) & 7, (uint8_t)data,
		      data & (1u << 15));
}

/* Send the IPI described by an ICR write (lock not held). */
static void send_ipi(struct lapic *self, uint32_t icr_lo, uint32_t dest)
{
	unsigned mode = (icr_lo >> 8) & 7, n = lapic_count(self->vm);
	uint8_t vector = (uint8_t)icr_lo;
	uint64_t all = n >= 64 ? UINT64_MAX : (1ULL << n) - 1, self_bit = 1ULL << self->index;
	uint64_t set;

	if (mode == APIC_DM_INIT && !(icr_lo & ICR_ASSERT) && (icr_lo & ICR_LEVEL))
		return; /* INIT level de-assert only synchronises arbitration IDs */
	if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST) && vector < 16) {
		pthread_mutex_lock(&self->lock);
		set_error(self, ESR_SEND_ILLEGAL);
		pthread_mutex_unlock(&self->lock);
		return;
	}
	switch (ICR_SHORTHAND(icr_lo)) {
	case 1:
		set = self_bit;
		break;
	case 2:
		set = all;
		break;
	case 3:
		set = all & ~self_bit;
		break;
	default:
		set = match_targets(self->vm, dest, icr_lo & ICR_LOGICAL);
		break;
	}
	deliver_to_set(self->vm, set, mode, vector, icr_lo & ICR_LEVEL);
}

/* EOI: retire the highest in-service vector; level-triggered ones are broadcast. */
static void do_eoi(struct lapic *a, struct lapic_action *act)
{
	int v = vec_highest(a->isr);

	if (v < 0)
		return;
	vec_clear(a->isr, (unsigned)v);
	if (vec_test(a->tmr, (unsigned)v)) {
		act->eoi_broadcast = true;
		act->eoi_vector = (uint8_t)v;
	}
}

/* Run what a register write asked for, after the lock was dropped. */
static void run_action(struct lapic *a, const struct lapic_action *act)
{
	struct soft_vm *sv = soft_vm_of(a->vm);

	if (act->eoi_broadcast && sv && sv->chipset)
		soft_chipset_eoi(sv->chipset, act->eoi_vector);
	if (act->send_ipi)
		send_ipi(a, act->icr_lo, act->dest);
}

/* Read a register (lock held). False if it is not readable in the current mode. */
static bool reg_read(struct lapic *a, unsigned reg, uint64_t *value, uint64_t now_ns)
{
	bool x2 = x2apic_mode(a);

	if (reg >= REG_ISR && reg < REG_ISR + 0x80) {
		*value = a->isr[(reg - REG_ISR) >> 4];
		return true;
	}
	if (reg >= REG_TMR && reg < REG_TMR + 0x80) {
		*value = a->tmr[(reg - REG_TMR) >> 4];
		return true;
	}
	if (reg >= REG_IRR && reg < REG_IRR + 0x80) {
		*value = a->irr[(reg - REG_IRR) >> 4];
		return true;
	}
	if (reg >= REG_LVT && reg < REG_LVT + LVT_COUNT * 0x10) {
		*value = a->lvt[(reg - REG_LVT) >> 4];
		return true;
	}
	switch (reg) {
	case REG_ID:
		*value = x2 ? a->id : a->id << 24;
		return true;
	case REG_VERSION:
		*value = APIC_VERSION;
		return true;
	case REG_TPR:
		*value = a->tpr;
		return true;
	case REG_APR:
		*value = apr(a);
		return !x2;
	case REG_PPR:
		*value = ppr(a);
		return true;
	case REG_RRD:
		*value = 0;
		return !x2;
	case REG_LDR:
		*value = a->ldr;
		return true;
	case REG_DFR:
		*value = a->dfr;
		return !x2;
	case REG_SVR:
		*value = a->svr;
		return true;
	case REG_ESR:
		*value = a->esr;
		return true;
	case REG_ICR:
		*value = x2 ? (uint64_t)a->icr_hi << 32 | a->icr_lo : a->icr_lo;
		return true;
	case REG_ICR2:
		*value = a->icr_hi;
		return !x2;
	case REG_TIMER_INIT:
		*value = a->initial_count;
		return true;
	case REG_TIMER_CUR:
		*value = timer_current(a, now_ns);
		return true;
	case REG_TIMER_DCR:
		*value = a->dcr;
		return true;
	default: /* EOI and SELF IPI are write-only; the rest is reserved */
		*value = 0;
		return false;
	}
}

/* Write an LVT entry, keeping it masked while the APIC is software-disabled. */
static void write_lvt(struct lapic *a, unsigned idx, uint32_t value)
{
	uint32_t old = a->lvt[idx];

	value &= lvt_writable[idx];
	if (!sw_enabled(a))
		value |= LVT_MASKED;
	a->lvt[idx] = value;
	/* Entering or leaving TSC-deadline mode disarms the timer (one-shot and
	 * periodic switch between each other with the count running on). */
	if (idx == LVT_TIMER &&
	    (TIMER_MODE(old) == TIMER_TSC_DEADLINE) != (TIMER_MODE(value) == TIMER_TSC_DEADLINE)) {
		a->initial_count = 0;
		a->tsc_deadline = 0;
		timer_disarm(a);
	}
}

/* Write a register (lock held). False means #GP (x2APIC) or an ignored write. */
static bool reg_write(struct lapic *a, unsigned reg, uint64_t value, uint64_t now_ns,
		      struct lapic_action *act)
{
	bool x2 = x2apic_mode(a);
	uint32_t v = (uint32_t)value;

	if (x2 && reg != REG_ICR && value >> 32)
		return false;
	if (reg >= REG_LVT && reg < REG_LVT + LVT_COUNT * 0x10) {
		write_lvt(a, (reg - REG_LVT) >> 4, v);
		return true;
	}
	switch (reg) {
	case REG_ID:
		if (x2)
			return false;
		a->id = v >> 24;
		return true;
	case REG_TPR:
		if (x2 && (v & ~0xffu))
			return false;
		a->tpr = v & 0xff;
		return true;
	case REG_EOI:
		if (x2 && v)
			return false;
		do_eoi(a, act);
		return true;
	case REG_LDR:
		if (x2)
			return false;
		a->ldr = v & 0xff000000u;
		return true;
	case REG_DFR:
		if (x2)
			return false;
		a->dfr = v | 0x0fffffffu;
		return true;
	case REG_SVR:
		a->svr = v & SVR_WRITABLE;
		if (!(a->svr & SVR_ENABLE))
			for (unsigned i = 0; i < LVT_COUNT; i++)
				a->lvt[i] |= LVT_MASKED;
		return true;
	case REG_ESR:
		if (x2 && v)
			return false;
		a->esr = a->esr_pending;
		a->esr_pending = 0;
		return true;
	case REG_ICR:
		a->icr_lo = v & ICR_WRITABLE;
		if (x2)
			a->icr_hi = (uint32_t)(value >> 32);
		act->send_ipi = true;
		act->icr_lo = a->icr_lo;
		act->dest = x2 ? a->icr_hi : a->icr_hi >> 24;
		return true;
	case REG_ICR2:
		if (x2)
			return false;
		a->icr_hi = v & 0xff000000u;
		return true;
	case REG_TIMER_INIT:
		if (TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
			return true; /* ignored in TSC-deadline mode */
		a->initial_count = v;
		timer_start(a, now_ns);
		return true;
	case REG_TIMER_DCR:
		a->dcr = v & 0xb;
		return true;
	case REG_SELF_IPI:
		if (!x2)
			return false;
		act->send_ipi = true;
		act->icr_lo = (v & 0xff) | 1u << 18; /* fixed, edge, to self */
		act->dest = 0;
		return true;
	default: /* read-only or reserved */
		return !x2;
	}
}

/* xAPIC MMIO read: 1, 2 or 4 bytes within a register's first dword. */
uint64_t lapic_mmio_read(struct lapic *apic, uint64_t offset, unsigned size)
{
	unsigned reg = (unsigned)(offset & 0xff0), byte = offset & 0xf;
	uint64_t v = 0;

	if (offset >= 0x1000 || byte + MIN(size, 4u) > 4)
		return 0; /* only the first four bytes of each 16-byte slot are defined */
	pthread_mutex_lock(&apic->lock);
	if (hw_enabled(apic) && !x2apic_mode(apic))
		reg_read(apic, reg, &v, soft_now_ns());
	else
		v = UINT32_MAX; /* the page is not decoded: reads float high */
	pthread_mutex_unlock(&apic->lock);
	v = (uint32_t)v >> (byte * 8);
	return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

/* xAPIC MMIO write: aligned 32-bit (or wider, low dword used) stores only. */
void lapic_mmio_write(struct lapic *apic, uint64_t offset, uint64_t value, unsigned size)
{
	struct lapic_action act = {0};

	if (offset >= 0x1000 || (offset & 0xf) || size < 4) {
		log_debug("lapic %u: ignored %u-byte write at %#llx", apic->index, size,
			  (unsigned long long)offset);
		return;
	}
	pthread_mutex_lock(&apic->lock);
	if (hw_enabled(apic) && !x2apic_mode(apic))
		reg_write(apic, (unsigned)offset, (uint32_t)value, soft_now_ns(), &act);
	pthread_mutex_unlock(&apic->lock);
	run_action(apic, &act);
}

/* The physical address of the xAPIC page. */
uint64_t lapic_base(struct lapic *apic)
{
	uint64_t base;

	pthread_mutex_lock(&apic->lock);
	base = apic->apic_base & BASE_ADDR_MASK;
	pthread_mutex_unlock(&apic->lock);
	return base;
}

/* IA32_APIC_BASE write: relocation, hardware enable/disable and x2APIC switch. */
static bool write_apic_base(struct lapic *a, uint64_t value)
{
	bool was_en = a->apic_base & BASE_EN, was_x2 = x2apic_mode(a);
	bool en = value & BASE_EN, x2 = value & BASE_EXTD;

	if (value & BASE_RESERVED)
		return false;
	/* Invalid transitions: x2APIC without enable, x2APIC straight to xAPIC or from disabled. */
	if ((x2 && !en) || (was_x2 && en && !x2) || (!was_en && x2))
		return false;
	a->apic_base = (value & ~BASE_BSP) | (a->apic_base & BASE_BSP);
	if (!en) {
		a->id = a->index;
		regs_reset(a);
	} else if (x2 && !was_x2) {
		a->id = a->index; /* the x2APIC ID is the initial APIC ID */
		a->ldr = (uint32_t)x2apic_ldr(a->id);
	}
	return true;
}

/* RDMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC register. */
bool lapic_msr_read(struct lapic *apic, uint32_t msr, uint64_t *value)
{
	bool ok = true;

	pthread_mutex_lock(&apic->lock);
	if (msr == MSR_APIC_BASE)
		*value = apic->apic_base;
	else if (msr == MSR_TSC_DEADLINE)
		*value =
		    TIMER_MODE(apic->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE ? apic->tsc_deadline : 0;
	else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST && x2apic_mode(apic))
		ok = reg_read(apic, (msr - MSR_X2APIC_FIRST) << 4, value, soft_now_ns());
	else
		ok = false;
	pthread_mutex_unlock(&apic->lock);
	return ok;
}

/* WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC register. */
bool lapic_msr_write(struct lapic *apic, uint32_t msr, uint64_t value)
{
	struct lapic_action act = {0};
	bool ok = true;

	pthread_mutex_lock(&apic->lock);
	if (msr == MSR_APIC_BASE) {
		ok = write_apic_base(apic, value);
	} else if (msr == MSR_TSC_DEADLINE) {
		if (TIMER_MODE(apic->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE) {
			apic->tsc_deadline = value;
			if (value) {
				apic->timer_armed = true;
				apic->deadline_ns = tsc_to_ns(value);
			} else {
				timer_disarm(apic);
			}
		}
	} else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST && x2apic_mode(apic)) {
		ok = reg_write(apic, (msr - MSR_X2APIC_FIRST) << 4, value, soft_now_ns(), &act);
	} else {
		ok = false;
	}
	pthread_mutex_unlock(&apic->lock);
	run_action(apic, &act);
	return ok;
}

/* MOV from CR8: TPR bits 7-4. */
uint8_t lapic_get_cr8(struct lapic *apic)
{
	uint8_t cr8;

	pthread_mutex_lock(&apic->lock);
	cr8 = (uint8_t)(apic->tpr >> 4);
	pthread_mutex_unlock(&apic->lock);
	return cr8;
}

/* MOV to CR8: sets TPR bits 7-4 (bits 3-0 cleared). */
void lapic_set_cr8(struct lapic *apic, uint8_t cr8)
{
	pthread_mutex_lock(&apic->lock);
	apic->tpr = (uint32_t)(cr8 & 0xf) << 4;
	pthread_mutex_unlock(&apic->lock);
}

/* The VM's IOAPIC/PIC/PIT, or NULL (unit tests without one). */
static struct soft_chipset *chipset_of(struct lapic *a)
{
	struct soft_vm *sv = soft_vm_of(a->vm);

	return sv ? sv->chipset : NULL;
}

/* Can the CPU take an external interrupt now (RFLAGS.IF aside)? */
bool lapic_has_interrupt(struct lapic *apic)
{
	struct soft_chipset *cs = chipset_of(apic);
	bool pending = false, pic = false;

	if (cs && soft_chipset_pic_pending(cs)) {
		pthread_mutex_lock(&apic->lock);
		pic = accepts_pic(apic);
		pthread_mutex_unlock(&apic->lock);
		if (pic)
			return true;
	}
	if (!(atomic_load_explicit(&apic->flags, memory_order_acquire) & PEND_IRQ))
		return false;
	pthread_mutex_lock(&apic->lock);
	if (apic->extint_pending)
		pending = true;
	else if (hw_enabled(apic))
		pending = deliverable_vector(apic) >= 0;
	/* Clear the hint only when nothing at all is requested. */
	if (!apic->extint_pending && vec_highest(apic->irr) < 0)
		atomic_fetch_and(&apic->flags, ~PEND_IRQ);
	pthread_mutex_unlock(&apic->lock);
	return pending;
}

/* Interrupt acknowledge: ExtINT from the PIC first, else the highest IRR vector. */
int lapic_ack_interrupt(struct lapic *apic)
{
	struct soft_chipset *cs = chipset_of(apic);
	bool pic, extint;
	int v;

	pthread_mutex_lock(&apic->lock);
	extint = apic->extint_pending;
	apic->extint_pending = false;
	pic = accepts_pic(apic);
	pthread_mutex_unlock(&apic->lock);
	/* ExtINT (LINT0 virtual wire or an IOAPIC ExtINT message) goes first, as in KVM. */
	if ((extint || pic) && cs) {
		v = soft_chipset_pic_ack(cs);
		if (v >= 0)
			return v;
	}
	pthread_mutex_lock(&apic->lock);
	v = hw_enabled(apic) ? deliverable_vector(apic) : -1;
	if (v >= 0) {
		vec_clear(apic->irr, (unsigned)v);
		vec_set(apic->isr, (unsigned)v);
	}
	pthread_mutex_unlock(&apic->lock);
	return v;
}

/* Take a pending NMI. */
bool lapic_take_nmi(struct lapic *apic)
{
	return atomic_fetch_and(&apic->flags, ~PEND_NMI) & PEND_NMI;
}

/* Take a pending INIT (resetting the APIC) or else a pending SIPI. */
enum lapic_event lapic_take_event(struct lapic *apic, uint8_t *sipi_vector)
{
	enum lapic_event ev = LAPIC_EVENT_NONE;
	bool more;

	if (!(atomic_load(&apic->flags) & (PEND_INIT | PEND_SIPI)))
		return ev;
	pthread_mutex_lock(&apic->lock);
	if (atomic_fetch_and(&apic->flags, ~PEND_INIT) & PEND_INIT) {
		/* INIT resets the APIC but keeps its ID, base and mode; the CPU waits for SIPI. */
		regs_reset(apic);
		ev = LAPIC_EVENT_INIT;
	} else if (atomic_fetch_and(&apic->flags, ~PEND_SIPI) & PEND_SIPI) {
		*sipi_vector = apic->sipi_vector;
		ev = LAPIC_EVENT_SIPI;
	}
	more = atomic_load(&apic->flags) & (PEND_INIT | PEND_SIPI);
	pthread_mutex_unlock(&apic->lock);
	/* INIT and SIPI often arrive together: make sure the vCPU comes back for the SIPI. */
	if (more)
		lapic_kick(apic);
	return ev;
}

/* LINT0/LINT1 input changed: act as the LVT entry says. */
void lapic_set_lint(struct lapic *apic, unsigned pin, bool level)
{
	uint32_t lvt;
	bool rising, wake = false;

	if (pin > 1)
		return;
	pthread_mutex_lock(&apic->lock);
	rising = level && !apic->lint_level[pin];
	apic->lint_level[pin] = level;
	lvt = apic->lvt[LVT_LINT0 + pin];
	if (pin == 0 && accepts_pic(apic)) {
		wake = level; /* ExtINT: the vCPU fetches the vector from the PIC */
	} else if (rising && hw_enabled(apic) && !(lvt & LVT_MASKED)) {
		switch (LVT_MODE(lvt)) {
		case APIC_DM_FIXED:
			wake = accept_locked(apic, APIC_DM_FIXED, (uint8_t)lvt, lvt & LVT_LEVEL);
			break;
		case APIC_DM_NMI:
			wake = accept_locked(apic, APIC_DM_NMI, 0, false);
			break;
		default:
			break;
		}
	} else if (pin == 1 && rising && !hw_enabled(apic) && (apic->apic_base & BASE_BSP)) {
		/* A disabled APIC passes LINT1 through as the NMI pin. */
		wake = accept_locked(apic, APIC_DM_NMI, 0, false);
	}
	pthread_mutex_unlock(&apic->lock);
	if (wake)
		lapic_kick(apic);
}

/* Wake the owning vCPU. */
void lapic_kick(struct lapic *apic)
{
	if (apic->kick)
		apic->kick(apic->kick_opaque);
}

/* Fire the timer if due; returns the next expiry. */
uint64_t lapic_poll_timer(struct lapic *apic, uint64_t now_ns)
{
	bool fired = false;
	uint64_t next;

	pthread_mutex_lock(&apic->lock);
	if (apic->timer_armed && now_ns >= apic->deadline_ns) {
		uint32_t lvt = apic->lvt[LVT_TIMER];

		if (!(lvt & LVT_MASKED))
			fired = accept_locked(apic, APIC_DM_FIXED, (uint8_t)lvt, false);
		if (TIMER_MODE(lvt) == TIMER_PERIODIC) {
			uint64_t period =
			    counts_to_ns(apic->initial_count, timer_divisor(apic->dcr));

			/* Periods missed since the last poll are coalesced into one interrupt. */
			period = MAX(period, MIN_PERIOD_NS);
			apic->deadline_ns += period;
			if (apic->deadline_ns <= now_ns)
				apic->deadline_ns =
				    now_ns + period - (now_ns - apic->deadline_ns) % period;
		} else {
			if (TIMER_MODE(lvt) == TIMER_TSC_DEADLINE)
				apic->tsc_deadline = 0;
			timer_disarm(apic);
		}
	}
	next = apic->timer_armed ? apic->deadline_ns : UINT64_MAX;
	pthread_mutex_unlock(&apic->lock);
	if (fired)
		lapic_kick(apic);
	return next;
}

/* Power-on reset: APIC base at 0xfee00000, enabled, ID = vCPU id. */
void lapic_reset(struct lapic *apic)
{
	pthread_mutex_lock(&apic->lock);
	apic->apic_base = PC_LAPIC_BASE | BASE_EN | (apic->apic_base & BASE_BSP);
	apic->id = apic->index;
	regs_reset(apic);
	/* Application processors wait for INIT/SIPI; the BSP runs. */
	apic->wait_for_sipi = !(apic->apic_base & BASE_BSP);
	apic->lint_level[0] = apic->lint_level[1] = false;
	atomic_store(&apic->flags, 0);
	pthread_mutex_unlock(&apic->lock);
}

/* Create the lapic of one vCPU. */
struct lapic *lapic_new(struct vm *vm, unsigned apic_id, bool bsp, void (*kick)(void *),
			void *kick_opaque)
{
	struct soft_vm *sv = soft_vm_of(vm);
	struct lapic *a;

	if (apic_id >= VM_MAX_VCPUS) {
		log_error("lapic: APIC ID %u out of range (at most %d vCPUs)", apic_id,
			  VM_MAX_VCPUS);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->vm = vm;
	a->index = apic_id;
	a->kick = kick;
	a->kick_opaque = kick_opaque;
	pthread_mutex_init(&a->lock, NULL);
	a->apic_base = bsp ? BASE_BSP : 0;
	lapic_reset(a);
	/* Register where lapic_deliver finds it. */
	if (sv && !sv->lapics[apic_id])
		sv->lapics[apic_id] = a;
	return a;
}

/* Destroy a lapic (and take it out of soft_vm.lapics[]). */
void lapic_free(struct lapic *apic)
{
	struct soft_vm *sv;

	if (!apic)
		return;
	sv = soft_vm_of(apic->vm);
	if (sv && sv->lapics[apic->index] == apic)
		sv->lapics[apic->index] = NULL;
	pthread_mutex_destroy(&apic->lock);
	free(apic);
}
