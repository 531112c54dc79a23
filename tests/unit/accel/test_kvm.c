/*
 * The kvm accelerator against the real /dev/kvm: tiny hand-assembled guests
 * (flat 32-bit protected mode at 1 MiB) exercise port I/O exits (single and
 * string, in and out), MMIO exits, a triple fault, kicks and pause, interrupt
 * lines through the in-kernel IOAPIC, and INIT/SIPI of an AP. Every test
 * skips when /dev/kvm cannot be opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/accel/kvm.h"
#include "vmm/vm.h"

#define CODE_ADDR     0x100000
#define DATA_ADDR     0x101000
#define MMIO_ADDR     0xd0000000ULL
#define STACK_TOP     0x90000
#define RAM_SIZE      (4 * MiB)
#define RUN_TIMEOUT_S 20

/* What the fake devices saw. */
struct rec {
	char serial[64];
	size_t nserial;
	uint32_t words[8];
	size_t nwords;
	uint32_t next_read;
	bool ready; /* the guest wrote port 0x513 */
	char ap_said;
	uint64_t mmio_addr, mmio_value;
	unsigned mmio_size;
};

struct fixture {
	struct vm vm;
	struct rec rec;
};

/* 0x3f8: bytes; 0x510: reads count up from 0x1000; 0x511: dword log;
 * 0x512: the AP's byte; 0x513: "ready"; 0xf4: isa-debug-exit. */
static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct rec *r = opaque;

	(void)offset;
	(void)size;
	return r->next_read++;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct fixture *f = opaque;
	struct rec *r = &f->rec;

	(void)size;
	switch (offset) {
	case 0:
		if (r->nwords < ARRAY_SIZE(r->words))
			r->words[r->nwords++] = (uint32_t)value;
		break;
	case 1:
		r->ap_said = (char)value;
		break;
	case 2:
		r->ready = true;
		break;
	}
}

static void serial_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct rec *r = opaque;

	(void)offset;
	(void)size;
	if (r->nserial < sizeof(r->serial) - 1)
		r->serial[r->nserial++] = (char)value;
}

static void exit_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct vm *vm = opaque;

	(void)offset;
	(void)size;
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, (int)((value & 0xff) << 1) | 1);
}

static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	(void)opaque;
	(void)size;
	return offset == 4 ? 0xcafef00d : 0;
}

static void mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct rec *r = opaque;

	r->mmio_addr = MMIO_ADDR + offset;
	r->mmio_value = value;
	r->mmio_size = size;
}

static const struct io_ops read_ops = {.read = port_read};
static const struct io_ops log_ops = {.write = port_write};
static const struct io_ops serial_ops = {.write = serial_write};
static const struct io_ops exit_ops = {.write = exit_write};
static const struct io_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

/* A VM with ncpus vCPUs, ram bytes of RAM, the fake devices, and code at CODE_ADDR. */
static struct fixture *vm_create_ram(int ncpus, uint64_t ram, const uint8_t *code, size_t len)
{
	struct fixture *f;
	struct vm *vm;
	struct x86_cpu_state st;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	close(fd);
	f = xcalloc(1, sizeof(*f));
	vm = &f->vm;
	vm->ncpus = ncpus;
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	f->rec.next_read = 0x1000;
	assert_int_equal(vm_alloc_ram(vm, ram), 0);
	assert_int_equal(iobus_add(&vm->pio, 0x3f8, 1, &serial_ops, &f->rec, "serial"), 0);
	assert_int_equal(iobus_add(&vm->pio, 0x510, 1, &read_ops, &f->rec, "counter"), 0);
	assert_int_equal(iobus_add(&vm->pio, 0x511, 3, &log_ops, f, "log"), 0);
	assert_int_equal(iobus_add(&vm->pio, 0xf4, 1, &exit_ops, vm, "exit"), 0);
	assert_int_equal(iobus_add(&vm->mmio, MMIO_ADDR, 0x1000, &mmio_ops, &f->rec, "mmio"), 0);
	memcpy(vm->ram + CODE_ADDR, code, len);
	/* x86_state_flat32's selectors (0x10 code, 0x18 data) in a GDT at 0. */
	memcpy(vm->ram + 0x10, &(uint64_t){0x00cf9a000000ffffULL}, 8);
	memcpy(vm->ram + 0x18, &(uint64_t){0x00cf92000000ffffULL}, 8);
	vm->accel = &kvm_accel_ops;
	assert_int_equal(kvm_accel_ops.init(vm), 0);
	for (int i = 0; i < ncpus; i++) {
		struct vcpu *cpu = xcalloc(1, sizeof(*cpu));

		cpu->vm = vm;
		cpu->id = i;
		vm->vcpus[i] = cpu;
		assert_int_equal(kvm_accel_ops.vcpu_init(cpu), 0);
	}
	x86_state_flat32(&st, CODE_ADDR);
	st.gpr[X86_RSP] = STACK_TOP;
	assert_int_equal(kvm_accel_ops.vcpu_set_state(vm->vcpus[0], &st), 0);
	return f;
}

static struct fixture *vm_create(int ncpus, const uint8_t *code, size_t len)
{
	return vm_create_ram(ncpus, RAM_SIZE, code, len);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *cpu = arg;

	return (void *)(intptr_t)cpu->vm->accel->vcpu_run(cpu);
}

static void vm_start(struct fixture *f)
{
	for (int i = 0; i < f->vm.ncpus; i++)
		assert_int_equal(
		    pthread_create(&f->vm.vcpus[i]->thread, NULL, vcpu_thread, f->vm.vcpus[i]), 0);
}

/* Join every vCPU thread; fail the test if they outlive RUN_TIMEOUT_S. */
static void vm_join(struct fixture *f, int expect_ret)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RUN_TIMEOUT_S;
	for (int i = 0; i < f->vm.ncpus; i++) {
		void *ret;
		int err = pthread_timedjoin_np(f->vm.vcpus[i]->thread, &ret, &deadline);

		if (err == ETIMEDOUT) {
			vm_request_stop(&f->vm, VM_STOP_ERROR, 1);
			pthread_join(f->vm.vcpus[i]->thread, &ret);
			fail_msg("vCPU %d still running after %d s", i, RUN_TIMEOUT_S);
		}
		assert_int_equal(err, 0);
		if (i == 0)
			assert_int_equal((int)(intptr_t)ret, expect_ret);
	}
}

static void vm_free(struct fixture *f)
{
	struct vm *vm = &f->vm;

	kvm_accel_ops.destroy(vm);
	for (int i = 0; i < vm->ncpus; i++)
		free(vm->vcpus[i]);
	iobus_free(&vm->pio);
	iobus_free(&vm->mmio);
	munmap(vm->ram, vm->ram_size);
	free(f);
}

#define KVM_OR_SKIP(f)                                                                             \
	do {                                                                                       \
		if (!(f)) {                                                                        \
			print_message("/dev/kvm not available: skipped\n");                        \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* out, rep outsb, in, rep insw, then isa-debug-exit with 42. */
static void test_port_io(void **state)
{
	static const uint8_t code[] = {
	    0xba, 0xf8, 0x03, 0x00, 0x00, /* mov edx, 0x3f8 */
	    0xb0, 0x68,			  /* mov al, 'h' */
	    0xee,			  /* out dx, al */
	    0xbe, 0x00, 0x10, 0x10, 0x00, /* mov esi, 0x101000 */
	    0xb9, 0x03, 0x00, 0x00, 0x00, /* mov ecx, 3 */
	    0xfc,			  /* cld */
	    0xf3, 0x6e,			  /* rep outsb */
	    0x66, 0xba, 0x10, 0x05,	  /* mov dx, 0x510 */
	    0xed,			  /* in eax, dx */
	    0x66, 0xba, 0x11, 0x05,	  /* mov dx, 0x511 */
	    0xef,			  /* out dx, eax */
	    0x66, 0xba, 0x10, 0x05,	  /* mov dx, 0x510 */
	    0xbf, 0x00, 0x11, 0x10, 0x00, /* mov edi, 0x101100 */
	    0xb9, 0x02, 0x00, 0x00, 0x00, /* mov ecx, 2 */
	    0xf3, 0x66, 0x6d,		  /* rep insw */
	    0xa1, 0x00, 0x11, 0x10, 0x00, /* mov eax, [0x101100] */
	    0x66, 0xba, 0x11, 0x05,	  /* mov dx, 0x511 */
	    0xef,			  /* out dx, eax */
	    0x66, 0xba, 0xf4, 0x00,	  /* mov dx, 0xf4 */
	    0xb0, 0x2a,			  /* mov al, 42 */
	    0xee,			  /* out dx, al */
	    0xf4,			  /* hlt */
	};
	struct fixture *f = vm_create(1, code, sizeof(code));

	(void)state;
	KVM_OR_SKIP(f);
	memcpy(f->vm.ram + DATA_ADDR, "abc", 3);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_DEBUG_EXIT);
	assert_int_equal(atomic_load(&f->vm.exit_status), (42 << 1) | 1);
	assert_int_equal(f->rec.nserial, 4);
	assert_memory_equal(f->rec.serial, "habc", 4);
	assert_int_equal(f->rec.nwords, 2);
	assert_int_equal(f->rec.words[0], 0x1000);
	assert_int_equal(f->rec.words[1], 0x10021001); /* two 16-bit reads, in order */
	vm_free(f);
}

/*
 * The entry state of the Linux 64-bit boot protocol: long mode with paging
 * (identity maps of the first GiB and of the GiB at 4 GiB, in 2 MiB pages)
 * and a 64-bit code segment, loaded with vcpu_set_state.
 */
static void set_long_mode(struct fixture *f)
{
	struct x86_cpu_state st;
	uint8_t *ram = f->vm.ram;

	/* PML4 0x9000 -> PDPT 0xa000 -> PD 0xb000 (0-1 GiB), PD 0xc000 (4-5 GiB). */
	memcpy(ram + 0x9000, &(uint64_t){0xa000 | 3}, 8);
	memcpy(ram + 0xa000, &(uint64_t){0xb000 | 3}, 8);
	memcpy(ram + 0xa000 + 4 * 8, &(uint64_t){0xc000 | 3}, 8);
	for (uint64_t i = 0; i < 512; i++) {
		memcpy(ram + 0xb000 + i * 8, &(uint64_t){(i << 21) | 0x83}, 8);
		memcpy(ram + 0xc000 + i * 8, &(uint64_t){(4 * GiB + (i << 21)) | 0x83}, 8);
	}
	/* GDT at 0: 0x10 64-bit code (0x18 data is there already). */
	memcpy(ram + 0x10, &(uint64_t){0x00af9a000000ffffULL}, 8);
	x86_state_flat32(&st, CODE_ADDR);
	st.cs.l = 1;
	st.cs.db = 0;
	st.cr0 |= X86_CR0_PG;
	st.cr3 = 0x9000;
	st.cr4 |= X86_CR4_PAE;
	st.efer = X86_EFER_LME | X86_EFER_LMA;
	st.gpr[X86_RSP] = STACK_TOP;
	assert_int_equal(kvm_accel_ops.vcpu_set_state(f->vm.vcpus[0], &st), 0);
}

/* 64-bit code runs from the long-mode entry state. */
static void test_long_mode_entry(void **state)
{
	static const uint8_t code[] = {
	    0x48, 0xb8, 0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12, /* mov rax, imm64 */
	    0x66, 0xba, 0x11, 0x05,					/* mov dx, 0x511 */
	    0xef,							/* out dx, eax */
	    0x48, 0xc1, 0xe8, 0x20,					/* shr rax, 32 */
	    0xef,							/* out dx, eax */
	    0xb0, 0x09,							/* mov al, 9 */
	    0xe6, 0xf4,							/* out 0xf4, al */
	    0xf4,							/* hlt */
	};
	struct fixture *f = vm_create(1, code, sizeof(code));

	(void)state;
	KVM_OR_SKIP(f);
	set_long_mode(f);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.exit_status), (9 << 1) | 1);
	assert_int_equal(f->rec.nwords, 2);
	assert_int_equal(f->rec.words[0], 0x9abcdef0);
	assert_int_equal(f->rec.words[1], 0x12345678);
	vm_free(f);
}

/* With more RAM than fits below the PCI hole, the rest is at 4 GiB (memory slot 1). */
static void test_high_ram(void **state)
{
	static const uint8_t code[] = {
	    0x48, 0xb8, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* mov rax, 4 GiB + 16 */
	    0xc7, 0x00, 0xce, 0xfa, 0xed, 0xfe,				/* mov [rax], 0xfeedface */
	    0x8b, 0x00,							/* mov eax, [rax] */
	    0x66, 0xba, 0x11, 0x05,					/* mov dx, 0x511 */
	    0xef,							/* out dx, eax */
	    0xb0, 0x0b,							/* mov al, 11 */
	    0xe6, 0xf4,							/* out 0xf4, al */
	    0xf4,							/* hlt */
	};
	struct fixture *f = vm_create_ram(1, PC_LOW_RAM_MAX + 4 * MiB, code, sizeof(code));
	uint32_t v;

	(void)state;
	KVM_OR_SKIP(f);
	assert_int_equal(f->vm.high_ram_size, 4 * MiB);
	set_long_mode(f);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.exit_status), (11 << 1) | 1);
	assert_int_equal(f->rec.nwords, 1);
	assert_int_equal(f->rec.words[0], 0xfeedface);
	memcpy(&v, f->vm.ram + f->vm.low_ram_size + 16, 4);
	assert_int_equal(v, 0xfeedface);
	vm_free(f);
}

/* A real-mode entry state (segment 0x07c0, like a boot sector) from vcpu_set_state. */
static void test_real_mode_entry(void **state)
{
	static const uint8_t code[] = {
	    0x8c, 0xc8,		    /* mov ax, cs */
	    0x66, 0xba, 0x11, 0x05, /* mov edx, 0x511 (16-bit code: operand prefix) */
	    0x00, 0x00,		    /* (high half of the immediate) */
	    0xef,		    /* out dx, ax */
	    0xb0, 0x05,		    /* mov al, 5 */
	    0xe6, 0xf4,		    /* out 0xf4, al */
	    0xf4,		    /* hlt */
	};
	struct fixture *f = vm_create(1, code, sizeof(code));
	struct x86_cpu_state st;

	(void)state;
	KVM_OR_SKIP(f);
	memcpy(f->vm.ram + 0x7c00, code, sizeof(code));
	x86_state_reset(&st);
	st.cs.selector = 0x07c0;
	st.cs.base = 0x7c00;
	st.rip = 0;
	assert_int_equal(kvm_accel_ops.vcpu_set_state(f->vm.vcpus[0], &st), 0);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.exit_status), (5 << 1) | 1);
	assert_int_equal(f->rec.nwords, 1);
	assert_int_equal(f->rec.words[0], 0x07c0);
	vm_free(f);
}

/* A dword store to and a load from unbacked guest-physical memory. */
static void test_mmio(void **state)
{
	static const uint8_t code[] = {
	    0xc7, 0x05, 0x00, 0x00, 0x00,
	    0xd0, 0x78, 0x56, 0x34, 0x12, /* mov [0xd0000000], 0x12345678 */
	    0xa1, 0x04, 0x00, 0x00, 0xd0, /* mov eax, [0xd0000004] */
	    0x66, 0xba, 0x11, 0x05,	  /* mov dx, 0x511 */
	    0xef,			  /* out dx, eax */
	    0x66, 0xba, 0xf4, 0x00,	  /* mov dx, 0xf4 */
	    0xb0, 0x01,			  /* mov al, 1 */
	    0xee,			  /* out dx, al */
	    0xf4,			  /* hlt */
	};
	struct fixture *f = vm_create(1, code, sizeof(code));

	(void)state;
	KVM_OR_SKIP(f);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.exit_status), 3);
	assert_int_equal(f->rec.mmio_addr, MMIO_ADDR);
	assert_int_equal(f->rec.mmio_value, 0x12345678);
	assert_int_equal(f->rec.mmio_size, 4);
	assert_int_equal(f->rec.nwords, 1);
	assert_int_equal(f->rec.words[0], 0xcafef00d);
	vm_free(f);
}

/* ud2 with an empty IDT: the CPU shuts down and the VM asks for a reset. */
static void test_triple_fault(void **state)
{
	static const uint8_t code[] = {
	    0x0f, 0x01, 0x1d, 0x00, 0x10, 0x10, 0x00, /* lidt [0x101000] (limit 0) */
	    0x0f, 0x0b,				      /* ud2 */
	    0x66, 0xba, 0xf4, 0x00,		      /* mov dx, 0xf4 (not reached) */
	    0xee,				      /* out dx, al */
	};
	struct fixture *f = vm_create(1, code, sizeof(code));

	(void)state;
	KVM_OR_SKIP(f);
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_RESET);
	vm_free(f);
}

/* A guest spinning forever: pause parks it, resume and stop release it. */
static void test_kick_pause_stop(void **state)
{
	static const uint8_t code[] = {0xeb, 0xfe}; /* jmp $ */
	struct fixture *f = vm_create(1, code, sizeof(code));

	(void)state;
	KVM_OR_SKIP(f);
	vm_start(f);
	usleep(50 * 1000);
	vm_pause(&f->vm); /* returns only once the vCPU sits in its pause point */
	pthread_mutex_lock(&f->vm.pause_lock);
	assert_int_equal(f->vm.vcpus_paused, 1);
	pthread_mutex_unlock(&f->vm.pause_lock);
	vm_resume(&f->vm);
	usleep(20 * 1000);
	vm_request_stop(&f->vm, VM_STOP_SIGNAL, 0);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_SIGNAL);
	vm_free(f);
}

/*
 * Interrupts from devices: the guest masks the (unprogrammed) PICs, routes
 * IOAPIC pin [0x101300] to vector 0x31 and halts; we raise that GSI (or send
 * an MSI for vector 0x31 to APIC 0) and the vector's handler exits with 0x31.
 */
static void run_interrupt(unsigned gsi, bool msi)
{
	/* clang-format off */
	static const uint8_t code[0x109] = {
		0xb0, 0xff,                               /* mov al, 0xff */
		0xe6, 0x21,                               /* out 0x21, al: mask the PICs, */
		0xe6, 0xa1,                               /* out 0xa1, al: unprogrammed */
		0x0f, 0x01, 0x1d, 0x00, 0x12, 0x10, 0x00, /* lidt [0x101200] */
		0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe,
		0xff, 0x01, 0x00, 0x00,                   /* APIC SVR = 0x1ff */
		0xa1, 0x00, 0x13, 0x10, 0x00,             /* mov eax, [0x101300] */
		0xd1, 0xe0,                               /* shl eax, 1 */
		0x83, 0xc0, 0x10,                         /* add eax, 0x10 */
		0xa3, 0x00, 0x00, 0xc0, 0xfe,             /* IOREGSEL = redirection low */
		0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe,
		0x31, 0x00, 0x00, 0x00,                   /* IOWIN = vector 0x31, edge */
		0x66, 0xba, 0x13, 0x05,                   /* mov dx, 0x513 */
		0xee,                                     /* out dx, al: ready */
		0xfb,                                     /* sti */
		0xf4,                                     /* 1: hlt */
		0xeb, 0xfd,                               /* jmp 1b */
		[0x100] = 0x66, 0xba, 0xf4, 0x00,         /* handler: mov dx, 0xf4 */
		0xb0, 0x31,                               /* mov al, 0x31 */
		0xee,                                     /* out dx, al */
		0xfa,                                     /* cli */
		0xf4,                                     /* hlt */
	};
	/* clang-format on */
	struct fixture *f = vm_create(1, code, sizeof(code));
	uint8_t *ram;
	uint32_t handler = CODE_ADDR + 0x100;

	KVM_OR_SKIP(f);
	ram = f->vm.ram;
	/* IDT at 0x102000, 256 entries; gate 0x31: 32-bit interrupt gate to the handler. */
	memset(ram + 0x102000, 0, 256 * 8);
	ram[0x102000 + 0x31 * 8 + 0] = handler & 0xff;
	ram[0x102000 + 0x31 * 8 + 1] = (handler >> 8) & 0xff;
	ram[0x102000 + 0x31 * 8 + 2] = 0x10; /* CS selector of x86_state_flat32 */
	ram[0x102000 + 0x31 * 8 + 5] = 0x8e;
	ram[0x102000 + 0x31 * 8 + 6] = (handler >> 16) & 0xff;
	ram[0x102000 + 0x31 * 8 + 7] = handler >> 24;
	/* IDTR at 0x101200: limit, base */
	ram[0x101200] = 0xff;
	ram[0x101201] = 0x07;
	memcpy(ram + 0x101202, &(uint32_t){0x102000}, 4);
	/* The IOAPIC pin that ISA/ACPI GSI gsi lands on: 2 for the PIT's GSI 2. */
	memcpy(ram + 0x101300, &(uint32_t){gsi}, 4);
	vm_start(f);
	for (int i = 0; i < RUN_TIMEOUT_S * 100 && !f->rec.ready; i++)
		usleep(10 * 1000);
	assert_true(f->rec.ready);
	usleep(10 * 1000); /* let it reach hlt (it works from anywhere after sti) */
	if (msi) {
		/* address: APIC 0, physical; data: fixed delivery, edge, vector 0x31 */
		vm_send_msi(&f->vm, PC_LAPIC_BASE, 0x31);
	} else {
		vm_set_irq(&f->vm, gsi, true);
		vm_set_irq(&f->vm, gsi, false);
	}
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_DEBUG_EXIT);
	assert_int_equal(atomic_load(&f->vm.exit_status), (0x31 << 1) | 1);
	vm_free(f);
}

static void test_irq_line_gsi4(void **state)
{
	(void)state;
	run_interrupt(4, false);
}

static void test_irq_line_gsi2(void **state)
{
	(void)state;
	run_interrupt(2, false);
}

/* An MSI reaches the LAPIC with nothing routed on the IOAPIC for it. */
static void test_msi(void **state)
{
	(void)state;
	run_interrupt(5, true);
}

/* Does /proc/cpuinfo list VT-x or AMD-V? */
static bool host_has_hw_virt(void)
{
	char line[4096];
	bool hw = false;
	FILE *cpuinfo = fopen("/proc/cpuinfo", "r");

	assert_non_null(cpuinfo);
	while (fgets(line, sizeof(line), cpuinfo))
		if (!strncmp(line, "flags", 5) && (strstr(line, " vmx") || strstr(line, " svm")))
			hw = true;
	fclose(cpuinfo);
	return hw;
}

/*
 * An instruction KVM cannot handle ends the run with an error stop. Only a
 * KVM without VT-x/AMD-V (PVM) fails on one we can name: int3 in protected
 * mode goes through its emulator, which cannot execute it.
 */
static void test_internal_error(void **state)
{
	static const uint8_t code[] = {0xcc, 0xf4}; /* int3; hlt */
	struct fixture *f;

	(void)state;
	if (!access("/dev/kvm", F_OK) && host_has_hw_virt()) {
		print_message("hardware-backed KVM runs int3: nothing to provoke\n");
		skip();
	}
	f = vm_create(1, code, sizeof(code));
	KVM_OR_SKIP(f);
	vm_start(f);
	vm_join(f, -1);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_ERROR);
	assert_int_equal(atomic_load(&f->vm.exit_status), 1);
	vm_free(f);
}

/* The BSP wakes the AP with INIT and SIPI (vector 8: real mode at 0800:0000). */
static void test_init_sipi(void **state)
{
	static const uint8_t bsp[] = {
	    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, /* SVR = 0x1ff */
	    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, /* ICR high: APIC 1 */
	    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, /* ICR: INIT */
	    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00, /* ICR: SIPI 8 */
	    0x80, 0x3d, 0x00, 0x90, 0x00, 0x00, 0x41, /* 1: cmp byte [0x9000], 'A' */
	    0x75, 0xf7,				      /* jne 1b */
	    0x66, 0xba, 0xf4, 0x00,		      /* mov dx, 0xf4 */
	    0xb0, 0x07,				      /* mov al, 7 */
	    0xee,				      /* out dx, al */
	    0xf4,				      /* hlt */
	};
	/* The AP says 'A' on the port before it sets the flag the BSP waits for:
	 * the other way round, the BSP could end the VM before the port write. */
	static const uint8_t ap[] = {
	    0x31, 0xc0,			  /* xor ax, ax */
	    0x8e, 0xd8,			  /* mov ds, ax */
	    0xba, 0x12, 0x05,		  /* mov dx, 0x512 */
	    0xb0, 0x41,			  /* mov al, 'A' */
	    0xee,			  /* out dx, al */
	    0xc6, 0x06, 0x00, 0x90, 0x41, /* mov byte [0x9000], 'A' */
	    0xfa,			  /* cli */
	    0xf4,			  /* hlt */
	    0xeb, 0xfc,			  /* jmp to hlt */
	};
	struct fixture *f = vm_create(2, bsp, sizeof(bsp));

	(void)state;
	KVM_OR_SKIP(f);
	memcpy(f->vm.ram + 0x8000, ap, sizeof(ap));
	vm_start(f);
	vm_join(f, 0);
	assert_int_equal(atomic_load(&f->vm.exit_status), (7 << 1) | 1);
	assert_int_equal(f->rec.ap_said, 'A');
	vm_free(f);
}

/* can_run_linux is true exactly when the host CPU has VT-x or AMD-V. */
static void test_can_run_linux(void **state)
{
	char why[256] = "";
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	bool ok = kvm_accel_ops.can_run_linux(why, sizeof(why));

	(void)state;
	if (fd < 0) {
		assert_false(ok);
		assert_non_null(strstr(why, "/dev/kvm"));
		return;
	}
	close(fd);
	assert_int_equal(ok, host_has_hw_virt());
	if (!ok) {
		assert_non_null(strstr(why, "VT-x"));
		assert_null(strchr(why, '\n'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_can_run_linux),
	    cmocka_unit_test(test_port_io),
	    cmocka_unit_test(test_mmio),
	    cmocka_unit_test(test_triple_fault),
	    cmocka_unit_test(test_internal_error),
	    cmocka_unit_test(test_kick_pause_stop),
	    cmocka_unit_test(test_irq_line_gsi4),
	    cmocka_unit_test(test_irq_line_gsi2),
	    cmocka_unit_test(test_msi),
	    cmocka_unit_test(test_init_sipi),
	    cmocka_unit_test(test_long_mode_entry),
	    cmocka_unit_test(test_real_mode_entry),
	    cmocka_unit_test(test_high_ram),
	};

	log_init("test_kvm", NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
