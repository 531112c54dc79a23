/*
 * berth-vmm: one process per virtual machine. Parses the command line, builds
 * the pc machine on the chosen accelerator, runs one thread per vCPU and the
 * I/O event loop on the main thread until the guest powers off, resets or
 * exits through isa-debug-exit.
 */
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/accel/kvm.h"
#include "vmm/accel/soft/soft.h"
#include "vmm/config.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

static struct vm the_vm;

/* Pick the accelerator: kvm only where it can run the guest, unless asked for by name. */
static const struct accel_ops *choose_accel(const struct vmm_config *cfg)
{
	char why[256] = "";
	bool linux_guest = pc_kernel_is_linux(cfg->kernel);
	bool kvm_ok = kvm_accel_ops.can_run_linux(why, sizeof(why));

	if (!strcmp(cfg->accel, "soft"))
		return &soft_accel_ops;
	if (!strcmp(cfg->accel, "kvm")) {
		if (linux_guest && !kvm_ok) {
			log_error("--accel kvm cannot run this 64-bit Linux guest here: %s "
				  "(use --accel soft or auto)",
				  why);
			return NULL;
		}
		return &kvm_accel_ops;
	}
	if (kvm_ok)
		return &kvm_accel_ops;
	log_info("accelerator auto: using soft (%s)", why);
	return &soft_accel_ops;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *cpu = arg;
	sigset_t all;
	char name[16];

	/* Signals are the I/O thread's business (signalfd), except the kick signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	snprintf(name, sizeof(name), "vcpu%d", cpu->id);
	pthread_setname_np(pthread_self(), name);
	if (cpu->vm->accel->vcpu_run(cpu) < 0)
		vm_request_stop(cpu->vm, VM_STOP_ERROR, 1);
	return NULL;
}

/* SIGINT/SIGTERM/SIGHUP end the VM as QEMU does: stop and exit 0. */
static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct signalfd_siginfo si;
	struct vm *vm = opaque;
	(void)events;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("terminating on signal %u", si.ssi_signo);
	vm_request_stop(vm, VM_STOP_SIGNAL, 0);
}

static int start_vcpus(struct vm *vm, const struct x86_cpu_state *bsp)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *cpu = xcalloc(1, sizeof(*cpu));
		cpu->vm = vm;
		cpu->id = i;
		vm->vcpus[i] = cpu;
		if (vm->accel->vcpu_init(cpu) < 0)
			return -1;
	}
	if (vm->accel->vcpu_set_state(vm->vcpus[0], bsp) < 0)
		return -1;
	for (int i = 0; i < vm->ncpus; i++) {
		int err = pthread_create(&vm->vcpus[i]->thread, NULL, vcpu_thread, vm->vcpus[i]);
		if (err) {
			log_error("cannot start vCPU %d thread: %s", i, strerror(err));
			vm_request_stop(vm, VM_STOP_ERROR, 1);
			for (int j = 0; j < i; j++)
				pthread_join(vm->vcpus[j]->thread, NULL);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct x86_cpu_state bsp;
	struct vm *vm = &the_vm;
	char err[512];
	sigset_t sigs;
	int sfd, status;

	log_init(argv[0], NULL);
	switch (config_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CONFIG_HELP:
		config_usage(stdout, "berth-vmm");
		return 0;
	case CONFIG_ERROR:
		log_error("%s", err);
		return 1;
	case CONFIG_OK:
		break;
	}
	if (cfg.name) {
		log_init(argv[0], cfg.name);
		prctl(PR_SET_NAME, cfg.name);
	}
	if (access(cfg.kernel, R_OK) < 0) {
		log_error("kernel %s: %s", cfg.kernel, strerror(errno));
		return 1;
	}

	vm->name = cfg.name ? cfg.name : "berth";
	vm->ncpus = cfg.cpus;
	vm->pio.name = "port I/O";
	vm->mmio.name = "MMIO";
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);

	/* Signals go to the event loop; the vCPU threads inherit the block. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	vm->accel = choose_accel(&cfg);
	if (!vm->accel)
		return 1;
	vm->loop = evloop_new();
	if (!vm->loop || vm_alloc_ram(vm, cfg.memory) < 0)
		return 1;
	if (vm->accel->init(vm) < 0)
		return 1;
	if (pc_machine_create(vm, &cfg) < 0 || pc_machine_load(vm, &cfg, &bsp) < 0)
		return 1;

	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_add_fd(vm->loop, sfd, EPOLLIN, on_signal, vm) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	if (start_vcpus(vm, &bsp) < 0)
		return 1;

	/* The I/O thread: devices' back ends, the control socket, signals.
	 * vm_request_stop() makes the loop return. */
	if (evloop_run(vm->loop) < 0)
		vm_request_stop(vm, VM_STOP_ERROR, 1);
	for (int i = 0; i < vm->ncpus; i++)
		pthread_join(vm->vcpus[i]->thread, NULL);

	status = atomic_load(&vm->exit_status);
	switch ((enum vm_stop_reason)atomic_load(&vm->stop_reason)) {
	case VM_STOP_RESET:
		if (!cfg.no_reboot) {
			/* A reset is a fresh machine: re-execute ourselves (same pid, so a
			 * supervisor keeps tracking us; sockets are re-created). */
			log_info("guest reset: rebooting");
			pc_machine_destroy(vm);
			execv("/proc/self/exe", argv);
			log_error("reboot: re-executing berth-vmm: %s", strerror(errno));
			return 1;
		}
		log_info("guest reset (--no-reboot): exiting");
		status = 0;
		break;
	case VM_STOP_POWEROFF:
	case VM_STOP_SIGNAL:
		status = 0;
		break;
	case VM_STOP_DEBUG_EXIT:
	case VM_STOP_ERROR:
	case VM_RUNNING:
		break;
	}
	pc_machine_destroy(vm);
	if (vm->accel->destroy)
		vm->accel->destroy(vm);
	return status;
}
