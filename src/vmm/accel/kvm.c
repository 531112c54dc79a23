/*
 * The kvm accelerator, written to the KVM API (Documentation/virt/kvm/api.rst).
 *
 * Per VM: one memory slot for low RAM and one for high RAM, the in-kernel
 * irqchip (PIC pair, IOAPIC, a LAPIC per vCPU) and PIT, and GSI routing that
 * wires the ISA IRQs the way a PC does (IRQ 0 to IOAPIC pin 2).
 * Per vCPU: a vCPU fd, its mmap'ed struct kvm_run, CPUID from the host's
 * supported set with this vCPU's APIC ID and the VM's topology, reset MSRs.
 *
 * Kicks: the vCPU thread keeps KVM_KICK_SIGNAL unblocked; its handler sets
 * kvm_run.immediate_exit, so a kick that lands just before KVM_RUN makes it
 * return -EINTR at once and one that lands during KVM_RUN interrupts it.
 */
#include "vmm/accel/kvm.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KVM_DEV		"/dev/kvm"
#define KVM_KICK_SIGNAL SIGUSR1
/* Pages KVM needs for real-mode emulation on VMX: a one-page identity-mapped
 * page table and a three-page TSS, placed in the reserved area just below the
 * BIOS flash window, clear of RAM, the PCI windows and the APICs. */
#define KVM_IDENTITY_MAP_ADDR	 0xfeffc000ULL
#define KVM_TSS_ADDR		 0xfeffd000ULL
#define KVM_MAX_CPUID_ENTRIES	 1024
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_VMX		 (1u << 5)
#define CPUID_80000001_ECX_SVM	 (1u << 2)

/* MSR numbers set at reset. */
#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_IA32_PAT		0x277
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_DEF_ENABLE_WB	((1ULL << 11) | 6) /* MTRRs on, default type write-back */
#define PAT_RESET_VALUE		0x0007040600070406ULL

struct kvm_vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	struct kvm_cpuid2 *cpuid;  /* KVM_GET_SUPPORTED_CPUID */
	struct kvm_msr_list *msrs; /* KVM_GET_MSR_INDEX_LIST */
	bool amd;		   /* host vendor, for the topology leaves */
	bool tsc_deadline;	   /* KVM_CAP_TSC_DEADLINE_TIMER */
};

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	pthread_mutex_t kick_lock; /* guards thread/running against the thread's exit */
	pthread_t thread;
	bool running;
};

static __thread struct kvm_run *kick_run; /* the calling vCPU thread's kvm_run */

/* The VM's and a vCPU's kvm state. */
static struct kvm_vm *kvm_of(struct vm *vm)
{
	return vm->accel_state;
}

static struct kvm_vcpu *kvcpu_of(struct vcpu *cpu)
{
	return cpu->accel;
}

/* ioctl that retries when a signal interrupts it (not for KVM_RUN). */
static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r;
}

/* Does the host CPU have hardware virtualization (VT-x or AMD-V)? */
static bool host_has_hw_virt(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) && (c & CPUID_1_ECX_VMX))
		return true;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & CPUID_80000001_ECX_SVM))
		return true;
	return false;
}

/*
 * A 64-bit Linux guest needs KVM backed by VT-x or AMD-V. A KVM without either
 * (PVM's kvm_pvm) runs only PVM-aware kernels at speed and everything else
 * through its instruction emulator: measured here, well under a million guest
 * instructions per second, and a stock Debian kernel printed nothing in 100 s.
 */
static bool kvm_can_run_linux(char *why, size_t len)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", KVM_DEV, strerror(errno));
		return false;
	}
	close(fd);
	if (!host_has_hw_virt()) {
		bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;

		snprintf(why, len,
			 "%s on this host is not backed by VT-x or AMD-V (the CPU has neither VMX "
			 "nor SVM%s): it runs guest code through its instruction emulator, far too "
			 "slowly for a Linux guest to boot",
			 KVM_DEV, pvm ? "; the KVM module is kvm_pvm" : "");
		return false;
	}
	return true;
}

/* Check one capability; log what is missing. */
static bool kvm_has_cap(int fd, int cap, const char *name)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	if (r <= 0) {
		log_error("kvm: the host KVM lacks %s, which berth needs", name);
		return false;
	}
	return true;
}

/* Kick signal handler: make this thread's next or current KVM_RUN return. */
static void kvm_kick_handler(int sig)
{
	struct kvm_run *run = kick_run;

	(void)sig;
	if (run)
		run->immediate_exit = 1;
}

/* Register one guest-physical range of host memory as a KVM memory slot. */
static int kvm_set_slot(struct kvm_vm *k, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
	    .slot = slot,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uintptr_t)hva,
	};

	if (kvm_ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		log_error("kvm: cannot map %llu MiB of RAM at %#llx: %s",
			  (unsigned long long)(size / MiB), (unsigned long long)gpa,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * GSI routing of a PC: KVM interrupt line n is ISA IRQ n for n < 16 (PIC pin n)
 * and IOAPIC pin n for n < 24, except that IRQ 0 (the PIT, which KVM's PIT
 * raises as line 0) is IOAPIC pin 2, as the MADT's interrupt source override
 * says, and IRQ 2 is the PICs' cascade.
 */
static int kvm_setup_gsi_routing(struct kvm_vm *k)
{
	struct kvm_irq_routing *rt;
	unsigned n = 0;
	int ret = 0;

	rt = xcalloc(1, sizeof(*rt) + 48 * sizeof(rt->entries[0]));
	for (unsigned irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		rt->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = irq,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip =
				      irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				  .pin = irq % 8},
		};
	}
	for (unsigned gsi = 0; gsi < PC_IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue;
		rt->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi},
		};
	}
	rt->nr = n;
	if (kvm_ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, rt) < 0) {
		log_error("kvm: cannot set up interrupt routing: %s", strerror(errno));
		ret = -1;
	}
	free(rt);
	return ret;
}

/* The host's supported CPUID leaves, growing the buffer until it fits. */
static struct kvm_cpuid2 *kvm_get_supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *c = NULL;

	for (unsigned n = 64; n <= KVM_MAX_CPUID_ENTRIES; n *= 2) {
		c = xrealloc(c, sizeof(*c) + n * sizeof(c->entries[0]));
		memset(c, 0, sizeof(*c) + n * sizeof(c->entries[0]));
		c->nent = n;
		if (kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		if (errno != E2BIG)
			break;
	}
	log_error("kvm: cannot read the supported CPUID leaves: %s", strerror(errno));
	free(c);
	return NULL;
}

/* The MSRs this KVM saves and emulates. */
static struct kvm_msr_list *kvm_get_msr_list(int kvm_fd)
{
	struct kvm_msr_list probe = {.nmsrs = 0}, *l;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		log_error("kvm: cannot read the MSR index list: %s", strerror(errno));
		return NULL;
	}
	l = xcalloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	l->nmsrs = probe.nmsrs;
	if (kvm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		log_error("kvm: cannot read the MSR index list: %s", strerror(errno));
		free(l);
		return NULL;
	}
	return l;
}

/* Create the VM: memory, irqchip, PIT, routing, and what vCPUs will need. */
static int kvm_init(struct vm *vm)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	struct sigaction sa = {.sa_handler = kvm_kick_handler};
	struct kvm_vm *k = xcalloc(1, sizeof(*k));
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	unsigned a, b, c, d;
	int r, max_cpus;

	k->vm_fd = -1;
	k->kvm_fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0) {
		log_error("kvm: cannot open %s: %s", KVM_DEV, strerror(errno));
		goto err;
	}
	r = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		log_error("kvm: %s speaks KVM API version %d, berth needs %d", KVM_DEV, r,
			  KVM_API_VERSION);
		goto err;
	}
	if (!kvm_has_cap(k->kvm_fd, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_PIT2, "KVM_CAP_PIT2") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR,
			 "KVM_CAP_SET_IDENTITY_MAP_ADDR") ||
	    !kvm_has_cap(k->kvm_fd, KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"))
		goto err;
	max_cpus = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_cpus <= 0)
		max_cpus = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_cpus <= 0)
		max_cpus = 4; /* api.rst: assume 4 when neither capability answers */
	if (vm->ncpus > max_cpus) {
		log_error("kvm: %d vCPUs requested, this host's KVM allows at most %d", vm->ncpus,
			  max_cpus);
		goto err;
	}
	r = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run)) {
		log_error("kvm: bad vCPU mmap size %d: %s", r,
			  r < 0 ? strerror(errno) : "too small");
		goto err;
	}
	k->run_size = r;
	k->cpuid = kvm_get_supported_cpuid(k->kvm_fd);
	k->msrs = kvm_get_msr_list(k->kvm_fd);
	if (!k->cpuid || !k->msrs)
		goto err;
	/* Older kernels emulate the TSC-deadline timer without listing it
	 * in the supported CPUID; the capability says it is there. */
	k->tsc_deadline = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	__cpuid(0, a, b, c, d);
	k->amd = b == 0x68747541 || b == 0x69677948; /* "Auth"enticAMD, "Hygo"nGenuine */

	k->vm_fd = kvm_ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		log_error("kvm: cannot create a VM: %s", strerror(errno));
		goto err;
	}
	/* Both before the first vCPU exists, as api.rst requires. */
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_error("kvm: cannot place the real-mode TSS at %#llx: %s", KVM_TSS_ADDR,
			  strerror(errno));
		goto err;
	}
	if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_error("kvm: cannot place the identity map page at %#llx: %s",
			  KVM_IDENTITY_MAP_ADDR, strerror(errno));
		goto err;
	}
	if (kvm_set_slot(k, 0, 0, vm->low_ram_size, vm->ram) < 0)
		goto err;
	if (vm->high_ram_size &&
	    kvm_set_slot(k, 1, PC_HIGH_RAM_BASE, vm->high_ram_size, vm->ram + vm->low_ram_size) < 0)
		goto err;
	if (kvm_ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0) {
		log_error("kvm: cannot create the in-kernel interrupt controllers: %s",
			  strerror(errno));
		goto err;
	}
	if (kvm_ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("kvm: cannot create the in-kernel PIT: %s", strerror(errno));
		goto err;
	}
	if (kvm_setup_gsi_routing(k) < 0)
		goto err;
	sigemptyset(&sa.sa_mask);
	if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0) {
		log_error("kvm: cannot install the vCPU kick handler: %s", strerror(errno));
		goto err;
	}
	vm->accel_state = k;
	return 0;
err:
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	free(k->cpuid);
	free(k->msrs);
	free(k);
	return -1;
}

/* Smallest n with (1 << n) >= count: the width of an APIC ID field. */
static unsigned id_bits(unsigned count)
{
	unsigned n = 0;

	while ((1u << n) < count)
		n++;
	return n;
}

/*
 * This vCPU's CPUID: the supported set, with its APIC ID and a topology of
 * one package holding ncpus single-threaded cores.
 */
static int kvm_vcpu_set_cpuid(struct vcpu *cpu)
{
	struct kvm_vm *k = kvm_of(cpu->vm);
	unsigned id = cpu->id, n = cpu->vm->ncpus, bits = id_bits(n);
	unsigned span = 1u << bits; /* APIC IDs a package of n cores spans */
	size_t sz = sizeof(*k->cpuid) + k->cpuid->nent * sizeof(k->cpuid->entries[0]);
	struct kvm_cpuid2 *c = xmalloc(sz);
	int ret = 0;

	memcpy(c, k->cpuid, sz);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (id << 24) | (span << 16);
			if (n > 1)
				e->edx |= 1u << 28; /* HTT: the count above is valid */
			else
				e->edx &= ~(1u << 28);
			if (k->tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			break;
		case 4:
			if ((e->eax & 0x1f) == 0) /* no cache at this index */
				break;
			e->eax &= 0x3fff;
			e->eax |= (span - 1) << 26;   /* core IDs in the package */
			if (((e->eax >> 5) & 7) >= 3) /* the L3 is shared by all cores */
				e->eax |= (span - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			if (e->index == 0) { /* SMT level: one thread per core */
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | e->index;
			} else if (e->index == 1) { /* core level: the whole package */
				e->eax = bits;
				e->ebx = n;
				e->ecx = (2u << 8) | e->index;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			if (k->amd)
				e->ecx = (e->ecx & ~0xf0ffu) | (bits << 12) | (n - 1);
			break;
		case 0x8000001e:
			e->eax = id;
			e->ebx = id & 0xff; /* core id, one thread per core */
			e->ecx = 0;
			break;
		}
	}
	if (kvm_ioctl(kvcpu_of(cpu)->fd, KVM_SET_CPUID2, c) < 0) {
		log_error("kvm: vCPU %d: cannot set CPUID: %s", cpu->id, strerror(errno));
		ret = -1;
	}
	free(c);
	return ret;
}

/* Is index in KVM's list of MSRs it saves or emulates? */
static bool kvm_msr_supported(const struct kvm_vm *k, uint32_t index)
{
	for (unsigned i = 0; i < k->msrs->nmsrs; i++)
		if (k->msrs->indices[i] == index)
			return true;
	return false;
}

/* MSRs a kernel expects at reset (those this KVM knows about). */
static int kvm_vcpu_set_reset_msrs(struct vcpu *cpu)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} reset[] = {
	    {MSR_IA32_TSC, 0},
	    {MSR_IA32_SYSENTER_CS, 0},
	    {MSR_IA32_SYSENTER_ESP, 0},
	    {MSR_IA32_SYSENTER_EIP, 0},
	    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
	    {MSR_IA32_PAT, PAT_RESET_VALUE},
	    {MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE_WB},
	    {MSR_STAR, 0},
	    {MSR_LSTAR, 0},
	    {MSR_CSTAR, 0},
	    {MSR_SYSCALL_MASK, 0},
	    {MSR_KERNEL_GS_BASE, 0},
	};
	struct kvm_vm *k = kvm_of(cpu->vm);
	struct kvm_msrs *m = xcalloc(1, sizeof(*m) + ARRAY_SIZE(reset) * sizeof(m->entries[0]));
	int r, ret = 0;

	for (size_t i = 0; i < ARRAY_SIZE(reset); i++) {
		if (!kvm_msr_supported(k, reset[i].index)) {
			log_debug("kvm: MSR %#x not supported by this host, left alone",
				  reset[i].index);
			continue;
		}
		m->entries[m->nmsrs].index = reset[i].index;
		m->entries[m->nmsrs].data = reset[i].value;
		m->nmsrs++;
	}
	r = kvm_ioctl(kvcpu_of(cpu)->fd, KVM_SET_MSRS, m);
	if (r < 0 || (unsigned)r != m->nmsrs) {
		if (r < 0)
			log_error("kvm: vCPU %d: cannot set MSRs: %s", cpu->id, strerror(errno));
		else
			log_error("kvm: vCPU %d: KVM refused MSR %#x", cpu->id,
				  m->entries[r].index);
		ret = -1;
	}
	free(m);
	return ret;
}

/* Create a vCPU; APs stay uninitialized until the BSP sends INIT and SIPI. */
static int kvm_vcpu_init(struct vcpu *cpu)
{
	struct kvm_vm *k = kvm_of(cpu->vm);
	struct kvm_vcpu *v = xcalloc(1, sizeof(*v));
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};

	pthread_mutex_init(&v->kick_lock, NULL);
	v->run = MAP_FAILED;
	cpu->accel = v;
	v->fd = kvm_ioctl(k->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)cpu->id);
	if (v->fd < 0) {
		log_error("kvm: cannot create vCPU %d: %s", cpu->id, strerror(errno));
		goto err;
	}
	v->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		log_error("kvm: cannot map vCPU %d's run area: %s", cpu->id, strerror(errno));
		goto err;
	}
	if (kvm_vcpu_set_cpuid(cpu) < 0 || kvm_vcpu_set_reset_msrs(cpu) < 0)
		goto err;
	if (kvm_ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
		log_error("kvm: vCPU %d: cannot set the FPU state: %s", cpu->id, strerror(errno));
		goto err;
	}
	if (cpu->id != 0) {
		struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_UNINITIALIZED};

		if (kvm_ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
			log_error("kvm: vCPU %d: cannot park it until INIT/SIPI: %s", cpu->id,
				  strerror(errno));
			goto err;
		}
	}
	return 0;
err:
	if (v->run != MAP_FAILED)
		munmap(v->run, k->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->kick_lock);
	free(v);
	cpu->accel = NULL;
	return -1;
}

/* A segment register in KVM's layout (the same unpacked fields as ours). */
static void seg_to_kvm(struct kvm_segment *k, const struct x86_segment *s)
{
	*k = (struct kvm_segment){
	    .base = s->base,
	    .limit = s->limit,
	    .selector = s->selector,
	    .type = s->type,
	    .present = s->present,
	    .dpl = s->dpl,
	    .db = s->db,
	    .s = s->s,
	    .l = s->l,
	    .g = s->g,
	    .avl = s->avl,
	    .unusable = s->unusable,
	};
}

/* Load the loader's entry state (real, flat 32-bit or long mode) into a vCPU. */
static int kvm_vcpu_set_state(struct vcpu *cpu, const struct x86_cpu_state *st)
{
	struct kvm_vcpu *v = kvcpu_of(cpu);
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_error("kvm: vCPU %d: cannot read segment registers: %s", cpu->id,
			  strerror(errno));
		return -1;
	}
	seg_to_kvm(&sregs.cs, &st->cs);
	seg_to_kvm(&sregs.ds, &st->ds);
	seg_to_kvm(&sregs.es, &st->es);
	seg_to_kvm(&sregs.fs, &st->fs);
	seg_to_kvm(&sregs.gs, &st->gs);
	seg_to_kvm(&sregs.ss, &st->ss);
	seg_to_kvm(&sregs.tr, &st->tr);
	seg_to_kvm(&sregs.ldt, &st->ldt);
	sregs.gdt = (struct kvm_dtable){.base = st->gdt.base, .limit = st->gdt.limit};
	sregs.idt = (struct kvm_dtable){.base = st->idt.base, .limit = st->idt.limit};
	sregs.cr0 = st->cr0;
	sregs.cr2 = st->cr2;
	sregs.cr3 = st->cr3;
	sregs.cr4 = st->cr4;
	sregs.cr8 = st->cr8;
	sregs.efer = st->efer;
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	/* apic_base keeps KVM's reset value (enabled, BSP flag per vCPU). */
	if (kvm_ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
		log_error("kvm: vCPU %d: KVM refused the entry state (cr0 %#llx cr4 %#llx efer "
			  "%#llx): %s",
			  cpu->id, (unsigned long long)st->cr0, (unsigned long long)st->cr4,
			  (unsigned long long)st->efer, strerror(errno));
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rax = st->gpr[X86_RAX];
	regs.rcx = st->gpr[X86_RCX];
	regs.rdx = st->gpr[X86_RDX];
	regs.rbx = st->gpr[X86_RBX];
	regs.rsp = st->gpr[X86_RSP];
	regs.rbp = st->gpr[X86_RBP];
	regs.rsi = st->gpr[X86_RSI];
	regs.rdi = st->gpr[X86_RDI];
	regs.r8 = st->gpr[X86_R8];
	regs.r9 = st->gpr[X86_R9];
	regs.r10 = st->gpr[X86_R10];
	regs.r11 = st->gpr[X86_R11];
	regs.r12 = st->gpr[X86_R12];
	regs.r13 = st->gpr[X86_R13];
	regs.r14 = st->gpr[X86_R14];
	regs.r15 = st->gpr[X86_R15];
	regs.rip = st->rip;
	regs.rflags = st->rflags | X86_RFLAGS_FIXED;
	if (kvm_ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
		log_error("kvm: vCPU %d: cannot set registers: %s", cpu->id, strerror(errno));
		return -1;
	}
	return 0;
}

/* Port I/O exit: count accesses of size bytes each, in or out. */
static void kvm_exit_io(struct vcpu *cpu, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint64_t v = 0;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&v, data, size);
			vm_pio_write(cpu->vm, run->io.port, v, size);
		} else {
			v = vm_pio_read(cpu->vm, run->io.port, size);
			memcpy(data, &v, size);
		}
	}
}

/* MMIO exit: one access; lengths other than 1, 2, 4, 8 (split by KVM at a page
 * boundary) go byte by byte. */
static void kvm_exit_mmio(struct vcpu *cpu, struct kvm_run *run)
{
	uint64_t addr = run->mmio.phys_addr, v = 0;
	unsigned len = MIN(run->mmio.len, sizeof(run->mmio.data));
	bool natural = len == 1 || len == 2 || len == 4 || len == 8;

	if (run->mmio.is_write) {
		if (natural) {
			memcpy(&v, run->mmio.data, len);
			vm_mmio_write(cpu->vm, addr, v, len);
		} else {
			for (unsigned i = 0; i < len; i++)
				vm_mmio_write(cpu->vm, addr + i, run->mmio.data[i], 1);
		}
	} else {
		if (natural) {
			v = vm_mmio_read(cpu->vm, addr, len);
			memcpy(run->mmio.data, &v, len);
		} else {
			for (unsigned i = 0; i < len; i++)
				run->mmio.data[i] = vm_mmio_read(cpu->vm, addr + i, 1);
		}
	}
}

/* Where the vCPU stopped, for error messages. */
static void kvm_vcpu_where(struct vcpu *cpu, char *buf, size_t len)
{
	struct kvm_vcpu *v = kvcpu_of(cpu);
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len, "at an unknown address");
		return;
	}
	snprintf(buf, len, "at cs:rip %04x:%#llx (cr0 %#llx)", sregs.cs.selector,
		 (unsigned long long)regs.rip, (unsigned long long)sregs.cr0);
}

/* Internal error exit: say what KVM could not do, then stop the VM. */
static void kvm_exit_internal_error(struct vcpu *cpu, struct kvm_run *run)
{
	static const char *const what[] = {
	    [KVM_INTERNAL_ERROR_EMULATION] = "could not emulate an instruction",
	    [KVM_INTERNAL_ERROR_SIMUL_EX] = "hit an exception while delivering one",
	    [KVM_INTERNAL_ERROR_DELIVERY_EV] = "could not deliver an event",
	    [KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "saw an unexpected exit reason",
	};
	uint32_t sub = run->internal.suberror;
	char where[96], detail[192];
	size_t off;

	kvm_vcpu_where(cpu, where, sizeof(where));
	if (sub == KVM_INTERNAL_ERROR_EMULATION && run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned n = MIN(run->emulation_failure.insn_size, 15u);

		off = snprintf(detail, sizeof(detail), "instruction bytes:");
		for (unsigned i = 0; i < n; i++)
			off += snprintf(detail + off, sizeof(detail) - off, " %02x",
					run->emulation_failure.insn_bytes[i]);
	} else {
		off = snprintf(detail, sizeof(detail), "data:");
		for (uint32_t i = 0; i < MIN(run->internal.ndata, 8u); i++)
			off += snprintf(detail + off, sizeof(detail) - off, " %#llx",
					(unsigned long long)run->internal.data[i]);
	}
	log_error("kvm: vCPU %d %s: KVM %s (internal error %u; %s)", cpu->id, where,
		  sub < ARRAY_SIZE(what) && what[sub] ? what[sub] : "failed", sub, detail);
	vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
}

/* A system event (shutdown, reset, crash). Returns -1 if it stops on an error. */
static int kvm_exit_system_event(struct vcpu *cpu, struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(cpu->vm, VM_STOP_POWEROFF, 0);
		return 0;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(cpu->vm, VM_STOP_RESET, 0);
		return 0;
	case KVM_SYSTEM_EVENT_CRASH:
		log_error("kvm: vCPU %d: the guest crashed (system event)", cpu->id);
		break;
	default:
		log_error("kvm: vCPU %d: unknown system event %u", cpu->id, run->system_event.type);
		break;
	}
	vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
	return -1;
}

/* Handle one exit of KVM_RUN. Returns 0 to keep running, -1 on an error stop. */
static int kvm_handle_exit(struct vcpu *cpu, struct kvm_run *run)
{
	char where[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		kvm_exit_io(cpu, run);
		return 0;
	case KVM_EXIT_MMIO:
		kvm_exit_mmio(cpu, run);
		return 0;
	case KVM_EXIT_INTR:
		return 0; /* a kick: the loop looks at stop and pause requests */
	case KVM_EXIT_HLT:
		/* The in-kernel LAPIC handles HLT; nothing to do if one gets here. */
		return 0;
	case KVM_EXIT_SHUTDOWN:
		kvm_vcpu_where(cpu, where, sizeof(where));
		log_warn("kvm: vCPU %d triple-faulted (CPU shutdown) %s: the machine resets",
			 cpu->id, where);
		vm_request_stop(cpu->vm, VM_STOP_RESET, 0);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		return kvm_exit_system_event(cpu, run);
	case KVM_EXIT_FAIL_ENTRY:
		log_error(
		    "kvm: vCPU %d: the host could not enter the guest (hardware entry failure "
		    "reason %#llx on host CPU %u)",
		    cpu->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
		    run->fail_entry.cpu);
		vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
		return -1;
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_exit_internal_error(cpu, run);
		return -1;
	default:
		kvm_vcpu_where(cpu, where, sizeof(where));
		log_error("kvm: vCPU %d %s: unexpected KVM exit reason %u", cpu->id, where,
			  run->exit_reason);
		vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
		return -1;
	}
}

/* The vCPU thread: KVM_RUN and dispatch until the VM stops. */
static int kvm_vcpu_run(struct vcpu *cpu)
{
	struct kvm_vcpu *v = kvcpu_of(cpu);
	struct kvm_run *run = v->run;
	sigset_t kick;
	int ret = 0;

	kick_run = run;
	sigemptyset(&kick);
	sigaddset(&kick, KVM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_mutex_lock(&v->kick_lock);
	v->thread = pthread_self();
	v->running = true;
	pthread_mutex_unlock(&v->kick_lock);

	while (!vm_stop_requested(cpu->vm)) {
		if (atomic_load(&cpu->vm->pause_requested)) {
			vm_vcpu_pause_point(cpu);
			continue;
		}
		int r = ioctl(v->fd, KVM_RUN, 0);

		/* Clear before looking at requests: a kick sets them before signalling. */
		run->immediate_exit = 0;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_error("kvm: vCPU %d: KVM_RUN failed: %s", cpu->id, strerror(errno));
			vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
			ret = -1;
			break;
		}
		if (kvm_handle_exit(cpu, run) < 0) {
			ret = -1;
			break;
		}
	}

	pthread_mutex_lock(&v->kick_lock);
	v->running = false;
	pthread_mutex_unlock(&v->kick_lock);
	kick_run = NULL;
	return ret;
}

/* Make the vCPU leave KVM_RUN (or skip its next one). Any thread. */
static void kvm_vcpu_kick(struct vcpu *cpu)
{
	struct kvm_vcpu *v = kvcpu_of(cpu);

	if (!v)
		return;
	pthread_mutex_lock(&v->kick_lock);
	if (v->running)
		pthread_kill(v->thread, KVM_KICK_SIGNAL);
	pthread_mutex_unlock(&v->kick_lock);
}

/*
 * Drive a GSI. GSI 2 (the PIT's IOAPIC pin) is KVM line 0, see the routing;
 * GSI 0 has no line on a PC.
 */
static void kvm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	struct kvm_irq_level irq = {.irq = gsi == PC_PIT_GSI ? 0 : gsi, .level = level};

	if (gsi == 0 || gsi >= PC_IOAPIC_PINS) {
		log_error("kvm: interrupt line GSI %u does not exist on this machine", gsi);
		return;
	}
	if (ioctl(kvm_of(vm)->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_error("kvm: cannot set GSI %u to %d: %s", gsi, level, strerror(errno));
}

/* Deliver an MSI (a write of data to addr in the APIC's window). */
static void kvm_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
	    .address_lo = (uint32_t)addr,
	    .address_hi = (uint32_t)(addr >> 32),
	    .data = data,
	};

	if (ioctl(kvm_of(vm)->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		log_error("kvm: cannot deliver MSI %#x to %#llx: %s", data,
			  (unsigned long long)addr, strerror(errno));
}

/* Close every vCPU and the VM (vCPU threads have ended). */
static void kvm_destroy(struct vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);

	if (!k)
		return;
	for (int i = 0; i < VM_MAX_VCPUS; i++) {
		struct vcpu *cpu = vm->vcpus[i];
		struct kvm_vcpu *v = cpu ? kvcpu_of(cpu) : NULL;

		if (!v)
			continue;
		munmap(v->run, k->run_size);
		close(v->fd);
		pthread_mutex_destroy(&v->kick_lock);
		free(v);
		cpu->accel = NULL;
	}
	close(k->vm_fd);
	close(k->kvm_fd);
	free(k->cpuid);
	free(k->msrs);
	free(k);
	vm->accel_state = NULL;
}

const struct accel_ops kvm_accel_ops = {
    .name = "kvm",
    .can_run_linux = kvm_can_run_linux,
    .init = kvm_init,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_set_state = kvm_vcpu_set_state,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .set_irq = kvm_set_irq,
    .send_msi = kvm_send_msi,
    .ram_written = NULL,
    .destroy = kvm_destroy,
};
