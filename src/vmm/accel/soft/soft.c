/*
 * The soft accelerator: one emulated x86-64 CPU (cpu/x86) per vCPU thread,
 * with the chips of chipset.h. The vCPU loop runs instructions in slices,
 * and between slices handles INIT/SIPI, polls the LAPIC timer (and on the
 * BSP the PIT), and delivers interrupts when the CPU's window is open. HLT
 * sleeps on a condition variable until a kick or the next timer deadline.
 *
 * Memory: guest RAM is accessed directly through the CPU's software TLB; the
 * local APIC page is routed to the vCPU's own LAPIC; other MMIO and port I/O
 * go to the machine's buses (vm_mmio_* / vm_pio_*, which take the big lock).
 *
 * The CPU's decoded-instruction cache checks every hit against the bytes in
 * guest memory, so code written by other vCPUs or by device DMA needs no
 * explicit invalidation: ram_written is not needed.
 *
 * Debug aids: BERTH_SOFT_TRACE=exc|insn|insn@N (see cpu.h) and
 * BERTH_SOFT_STATS=1 (instructions per second, idle time, exits).
 */
#include "vmm/accel/soft/soft.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/accel/soft/chipset.h"
#include "vmm/cpu/x86/cpu.h"

#define SLICE_INSNS 20000 /* instructions between timer/interrupt checks */

struct soft_vcpu {
	struct x86_cpu cpu;
	struct vcpu *vcpu;
	struct lapic *lapic;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked; /* protected by lock */
};

static struct soft_vcpu *svcpu(struct vcpu *v)
{
	return v->accel;
}

/* --- the CPU's platform --- */

static uint8_t *plat_ram_page(void *opaque, uint64_t gpa)
{
	struct soft_vcpu *s = opaque;

	return vm_gpa_to_hva(s->vcpu->vm, gpa & ~0xfffULL, 0x1000);
}

/* Is gpa in this vCPU's local APIC page? */
static bool in_lapic(struct soft_vcpu *s, uint64_t gpa)
{
	return (gpa & ~0xfffULL) == lapic_base(s->lapic);
}

static uint64_t plat_mmio_read(void *opaque, uint64_t gpa, unsigned size)
{
	struct soft_vcpu *s = opaque;

	if (in_lapic(s, gpa))
		return lapic_mmio_read(s->lapic, gpa & 0xfff, size);
	return vm_mmio_read(s->vcpu->vm, gpa, size);
}

static void plat_mmio_write(void *opaque, uint64_t gpa, uint64_t value, unsigned size)
{
	struct soft_vcpu *s = opaque;

	if (in_lapic(s, gpa)) {
		lapic_mmio_write(s->lapic, gpa & 0xfff, value, size);
		/* EOI, TPR or timer changes: look at interrupts again soon. */
		x86_cpu_request_exit(&s->cpu);
		return;
	}
	vm_mmio_write(s->vcpu->vm, gpa, value, size);
}

static uint64_t plat_pio_read(void *opaque, uint16_t port, unsigned size)
{
	struct soft_vcpu *s = opaque;

	return vm_pio_read(s->vcpu->vm, port, size);
}

static void plat_pio_write(void *opaque, uint16_t port, uint64_t value, unsigned size)
{
	struct soft_vcpu *s = opaque;

	vm_pio_write(s->vcpu->vm, port, value, size);
	/* The PIT or PIC may have been reprogrammed. */
	x86_cpu_request_exit(&s->cpu);
}

static bool lapic_msr(uint32_t msr)
{
	return msr == 0x1b || msr == 0x6e0 || (msr >= 0x800 && msr <= 0x8ff);
}

static bool plat_msr_read(void *opaque, uint32_t msr, uint64_t *value)
{
	struct soft_vcpu *s = opaque;

	if (lapic_msr(msr))
		return lapic_msr_read(s->lapic, msr, value);
	return false;
}

static bool plat_msr_write(void *opaque, uint32_t msr, uint64_t value)
{
	struct soft_vcpu *s = opaque;
	bool ok;

	if (!lapic_msr(msr))
		return false;
	ok = lapic_msr_write(s->lapic, msr, value);
	x86_cpu_request_exit(&s->cpu);
	if (msr == 0x1b)
		x86_cpu_flush_tlb(&s->cpu); /* the APIC page may have moved */
	return ok;
}

static uint64_t plat_rdtsc(void *opaque)
{
	(void)opaque;
	return soft_rdtsc();
}

static uint8_t plat_get_cr8(void *opaque)
{
	struct soft_vcpu *s = opaque;

	return lapic_get_cr8(s->lapic);
}

static void plat_set_cr8(void *opaque, uint8_t value)
{
	struct soft_vcpu *s = opaque;

	lapic_set_cr8(s->lapic, value);
}

/* --- kicks and sleeping --- */

static void kick(void *opaque)
{
	struct soft_vcpu *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->kicked = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	x86_cpu_request_exit(&s->cpu);
}

static void soft_vcpu_kick(struct vcpu *cpu)
{
	kick(svcpu(cpu));
}

/* Sleep until kicked or until deadline_ns (guest time). */
static void sleep_until(struct soft_vcpu *s, uint64_t deadline_ns)
{
	struct timespec ts;

	pthread_mutex_lock(&s->lock);
	if (!s->kicked) {
		if (deadline_ns == UINT64_MAX) {
			pthread_cond_wait(&s->cond, &s->lock);
		} else {
			uint64_t now = soft_now_ns();
			uint64_t wait = deadline_ns > now ? deadline_ns - now : 0;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			wait += (uint64_t)ts.tv_nsec;
			ts.tv_sec += wait / 1000000000ULL;
			ts.tv_nsec = wait % 1000000000ULL;
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
	}
	s->kicked = false;
	pthread_mutex_unlock(&s->lock);
}

/* --- accel_ops --- */

static bool soft_can_run_linux(char *why, size_t len)
{
	(void)why;
	(void)len;
	return true;
}

static int soft_init(struct vm *vm)
{
	struct soft_vm *sv = xcalloc(1, sizeof(*sv));

	vm->accel_state = sv;
	soft_clock_start();
	sv->chipset = soft_chipset_new(vm);
	if (!sv->chipset) {
		log_error("soft: cannot create the interrupt controllers and timer");
		free(sv);
		vm->accel_state = NULL;
		return -1;
	}
	return 0;
}

static int soft_vcpu_init(struct vcpu *cpu)
{
	struct soft_vm *sv = soft_vm_of(cpu->vm);
	struct soft_vcpu *s;
	struct x86_platform plat = {
	    .ram_page = plat_ram_page,
	    .mmio_read = plat_mmio_read,
	    .mmio_write = plat_mmio_write,
	    .pio_read = plat_pio_read,
	    .pio_write = plat_pio_write,
	    .msr_read = plat_msr_read,
	    .msr_write = plat_msr_write,
	    .rdtsc = plat_rdtsc,
	    .get_cr8 = plat_get_cr8,
	    .set_cr8 = plat_set_cr8,
	    .crystal_hz = SOFT_CRYSTAL_HZ,
	    .tsc_deadline = true,
	    .apic_id = (uint32_t)cpu->id,
	};

	if (cpu->id < 0 || cpu->id >= VM_MAX_VCPUS) {
		log_error("soft: vCPU id %d out of range", cpu->id);
		return -1;
	}
	if (posix_memalign((void **)&s, 64, sizeof(*s))) {
		log_error("soft: cannot allocate vCPU %d", cpu->id);
		return -1;
	}
	memset(s, 0, sizeof(*s));
	s->vcpu = cpu;
	pthread_mutex_init(&s->lock, NULL);
	{
		/* Timed waits are computed on CLOCK_MONOTONIC, so the condvar uses it too. */
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	s->lapic = lapic_new(cpu->vm, (unsigned)cpu->id, cpu->id == 0, kick, s);
	if (!s->lapic) {
		log_error("soft: cannot create the local APIC of vCPU %d", cpu->id);
		free(s);
		return -1;
	}
	sv->lapics[cpu->id] = s->lapic;
	plat.opaque = s;
	x86_cpu_init(&s->cpu, &plat);
	/* Application processors wait for INIT/SIPI. */
	if (cpu->id != 0)
		x86_cpu_reset(&s->cpu, true);
	cpu->accel = s;
	return 0;
}

static int soft_vcpu_set_state(struct vcpu *cpu, const struct x86_cpu_state *st)
{
	struct soft_vcpu *s = svcpu(cpu);

	x86_cpu_set_state(&s->cpu, st);
	s->cpu.wait_for_sipi = false;
	s->cpu.halted = false;
	return 0;
}

/* INIT and SIPI from the LAPIC. */
static void handle_events(struct soft_vcpu *s)
{
	uint8_t vector = 0;

	switch (lapic_take_event(s->lapic, &vector)) {
	case LAPIC_EVENT_INIT:
		/* APs wait for a startup IPI; the BSP restarts at the reset vector. */
		x86_cpu_reset(&s->cpu, s->vcpu->id != 0);
		break;
	case LAPIC_EVENT_SIPI:
		x86_cpu_sipi(&s->cpu, vector);
		break;
	case LAPIC_EVENT_NONE:
		break;
	}
}

/* BERTH_SOFT_STATS: every few seconds, log instructions per second and idle time. */
struct run_stats {
	bool on;
	uint64_t last_ns, last_insns, idle_ns;
	uint64_t exits[4]; /* by enum x86_exit */
};

static void stats_tick(struct soft_vcpu *s, struct run_stats *st, uint64_t now)
{
	uint64_t dt = now - st->last_ns;

	if (dt < 5000000000ULL)
		return;
	log_info("vCPU %d: %.1f M instructions/s, idle %.0f%%, rip %#llx, exits: %llu budget, "
		 "%llu request, %llu hlt",
		 s->vcpu->id, (double)(s->cpu.insns - st->last_insns) * 1e3 / (double)dt,
		 100.0 * (double)st->idle_ns / (double)dt, (unsigned long long)s->cpu.rip,
		 (unsigned long long)st->exits[X86_EXIT_BUDGET],
		 (unsigned long long)st->exits[X86_EXIT_REQUEST],
		 (unsigned long long)st->exits[X86_EXIT_HLT]);
	memset(st->exits, 0, sizeof(st->exits));
	st->last_ns = now;
	st->last_insns = s->cpu.insns;
	st->idle_ns = 0;
}

static int soft_vcpu_run(struct vcpu *cpu)
{
	struct soft_vcpu *s = svcpu(cpu);
	struct x86_cpu *x = &s->cpu;
	struct vm *vm = cpu->vm;
	struct soft_vm *sv = soft_vm_of(vm);
	struct run_stats stats = {.on = getenv("BERTH_SOFT_STATS") != NULL,
				  .last_ns = soft_now_ns()};

	while (!vm_stop_requested(vm)) {
		uint64_t now, next;
		enum x86_exit why;

		if (atomic_load_explicit(&vm->pause_requested, memory_order_acquire))
			vm_vcpu_pause_point(cpu);
		handle_events(s);

		now = soft_now_ns();
		next = lapic_poll_timer(s->lapic, now);
		if (cpu->id == 0)
			next = MIN(next, soft_chipset_poll(sv->chipset, now));

		if (lapic_take_nmi(s->lapic))
			x86_cpu_nmi(x);
		x->irq_waiting = false;
		if (!x->wait_for_sipi && lapic_has_interrupt(s->lapic)) {
			if (x86_cpu_irq_window(x)) {
				int v = lapic_ack_interrupt(s->lapic);
				if (v >= 0)
					x86_cpu_interrupt(x, (uint8_t)v);
			} else {
				x->irq_waiting = true;
			}
		}
		if (stats.on)
			stats_tick(s, &stats, now);
		if ((x->halted && x->pending_irq < 0 && !x->pending_nmi) || x->wait_for_sipi) {
			sleep_until(s, next);
			if (stats.on)
				stats.idle_ns += soft_now_ns() - now;
			continue;
		}
		why = x86_cpu_exec(x, SLICE_INSNS);
		stats.exits[why]++;
		if (why == X86_EXIT_SHUTDOWN) {
			log_error("vCPU %d: triple fault at rip %#llx (cs %#x, cr2 %#llx): "
				  "resetting the VM",
				  cpu->id, (unsigned long long)x->rip, x->seg[1].selector,
				  (unsigned long long)x->cr2);
			vm_request_stop(vm, VM_STOP_RESET, 0);
			return 0;
		}
	}
	return 0;
}

static void soft_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	struct soft_vm *sv = soft_vm_of(vm);

	if (sv && sv->chipset)
		soft_chipset_set_irq(sv->chipset, gsi, level);
}

static void soft_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	lapic_send_msi(vm, addr, data);
}

static void soft_destroy(struct vm *vm)
{
	struct soft_vm *sv = soft_vm_of(vm);
	int i;

	if (!sv)
		return;
	for (i = 0; i < VM_MAX_VCPUS; i++) {
		struct vcpu *c = vm->vcpus[i];
		if (c && c->accel) {
			struct soft_vcpu *s = c->accel;
			lapic_free(s->lapic);
			sv->lapics[i] = NULL;
			x86_cpu_destroy(&s->cpu);
			pthread_mutex_destroy(&s->lock);
			pthread_cond_destroy(&s->cond);
			free(s);
			c->accel = NULL;
		}
	}
	if (sv->chipset)
		soft_chipset_free(sv->chipset);
	free(sv);
	vm->accel_state = NULL;
}

const struct accel_ops soft_accel_ops = {
    .name = "soft",
    .can_run_linux = soft_can_run_linux,
    .init = soft_init,
    .vcpu_init = soft_vcpu_init,
    .vcpu_set_state = soft_vcpu_set_state,
    .vcpu_run = soft_vcpu_run,
    .vcpu_kick = soft_vcpu_kick,
    .set_irq = soft_set_irq,
    .send_msi = soft_send_msi,
    .ram_written = NULL,
    .destroy = soft_destroy,
};
