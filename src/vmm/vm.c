#include "vmm/vm.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int vm_alloc_ram(struct vm *vm, uint64_t size)
{
	void *p;

	if (size < 2 * MiB || size % (4 * KiB)) {
		log_error("memory size %llu bytes: must be a multiple of 4 KiB and at least 2 MiB",
			  (unsigned long long)size);
		return -1;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED) {
		log_error("cannot allocate %llu MiB of guest memory: %s",
			  (unsigned long long)(size / MiB), strerror(errno));
		return -1;
	}
	madvise(p, size, MADV_MERGEABLE);
	vm->ram = p;
	vm->ram_size = size;
	vm->low_ram_size = MIN(size, PC_LOW_RAM_MAX);
	vm->high_ram_size = size - vm->low_ram_size;
	return 0;
}

int vm_read_guest(struct vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	void *p = vm_gpa_to_hva(vm, gpa, len);

	if (!p)
		return -1;
	memcpy(buf, p, len);
	return 0;
}

int vm_write_guest(struct vm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p = vm_gpa_to_hva(vm, gpa, len);

	if (!p)
		return -1;
	memcpy(p, buf, len);
	vm_ram_written(vm, gpa, len);
	return 0;
}

void vm_ram_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->accel && vm->accel->ram_written)
		vm->accel->ram_written(vm, gpa, len);
}

uint64_t vm_pio_read(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&vm->lock);
	if (!iobus_read(&vm->pio, port, size, &v))
		log_debug("unclaimed port read %#x size %u", port, size);
	pthread_mutex_unlock(&vm->lock);
	return v;
}

void vm_pio_write(struct vm *vm, uint16_t port, uint64_t value, unsigned size)
{
	pthread_mutex_lock(&vm->lock);
	if (!iobus_write(&vm->pio, port, value, size))
		log_debug("unclaimed port write %#x size %u value %#llx", port, size,
			  (unsigned long long)value);
	pthread_mutex_unlock(&vm->lock);
}

uint64_t vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&vm->lock);
	if (!iobus_read(&vm->mmio, gpa, size, &v))
		log_debug("unclaimed MMIO read %#llx size %u", (unsigned long long)gpa, size);
	pthread_mutex_unlock(&vm->lock);
	return v;
}

void vm_mmio_write(struct vm *vm, uint64_t gpa, uint64_t value, unsigned size)
{
	pthread_mutex_lock(&vm->lock);
	if (!iobus_write(&vm->mmio, gpa, value, size))
		log_debug("unclaimed MMIO write %#llx size %u value %#llx",
			  (unsigned long long)gpa, size, (unsigned long long)value);
	pthread_mutex_unlock(&vm->lock);
}

void vm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	vm->accel->set_irq(vm, gsi, level);
}

void vm_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	vm->accel->send_msi(vm, addr, data);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status)
{
	int expected = VM_RUNNING;

	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		return;
	atomic_store(&vm->exit_status, exit_status);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->accel)
			vm->accel->vcpu_kick(vm->vcpus[i]);
	if (vm->loop)
		evloop_stop(vm->loop);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, true);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vm->accel->vcpu_kick(vm->vcpus[i]);
	while (vm->vcpus_paused < vm->ncpus && !vm_stop_requested(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Park the calling vCPU while a pause is requested; a stop request releases it. */
void vm_vcpu_pause_point(struct vcpu *cpu)
{
	struct vm *vm = cpu->vm;

	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->pause_requested) && !vm_stop_requested(vm)) {
		vm->vcpus_paused++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (atomic_load(&vm->pause_requested) && !vm_stop_requested(vm))
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->vcpus_paused--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}
