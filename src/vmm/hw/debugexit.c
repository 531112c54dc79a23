#include "vmm/hw/debugexit.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/vm.h"

#include <stdlib.h>

struct debugexit {
	struct vm *vm;
	uint16_t iobase;
	unsigned iosize;
};

/* Any write stops the VM; the value becomes the exit status as in QEMU. */
static void debugexit_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct debugexit *d = opaque;
	uint64_t mask = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	uint32_t status = (uint32_t)(((value & mask) << 1) | 1);

	(void)offset;
	log_debug("isa-debug-exit: guest wrote %#llx, exit status %d",
		  (unsigned long long)(value & mask), (int)(status & 0xff));
	vm_request_stop(d->vm, VM_STOP_DEBUG_EXIT, (int)status);
}

static const struct io_ops debugexit_ops = {
    .read = NULL, /* reads float high like an unclaimed port */
    .write = debugexit_write,
};

/* Create the device and claim its ports. */
struct debugexit *debugexit_new(struct vm *vm, uint16_t iobase, unsigned iosize)
{
	struct debugexit *d;

	if (iosize != 1 && iosize != 2 && iosize != 4) {
		log_error("isa-debug-exit: iosize %u is invalid (must be 1, 2 or 4)", iosize);
		return NULL;
	}
	if ((unsigned)iobase + iosize > 0x10000) {
		log_error("isa-debug-exit: iobase %#x + iosize %u exceeds the I/O space", iobase,
			  iosize);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->vm = vm;
	d->iobase = iobase;
	d->iosize = iosize;
	if (iobus_add(&vm->pio, iobase, iosize, &debugexit_ops, d, "isa-debug-exit") < 0) {
		free(d);
		return NULL;
	}
	return d;
}

/* Release the device's ports and memory. */
void debugexit_free(struct debugexit *d)
{
	if (!d)
		return;
	iobus_del(&d->vm->pio, d->iobase, d);
	free(d);
}
