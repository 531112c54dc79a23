/*
 * isa-debug-exit, compatible with QEMU's device of that name: a guest write of
 * value v to its port ends berth-vmm with exit status (v << 1) | 1. Test
 * guests (and kernel test frameworks written for QEMU) use it to report their
 * result.
 */
#ifndef BERTH_VMM_HW_DEBUGEXIT_H
#define BERTH_VMM_HW_DEBUGEXIT_H

#include <stdint.h>

struct vm;
struct debugexit;

/*
 * Claim ports [iobase, iobase + iosize) on vm->pio. iosize is 1, 2 or 4 (QEMU's
 * "iosize"; a write's value is truncated to the access size). Returns NULL
 * after logging if the ports are taken or iosize is invalid.
 */
struct debugexit *debugexit_new(struct vm *vm, uint16_t iobase, unsigned iosize);
/* Release the ports and the device (NULL is fine). */
void debugexit_free(struct debugexit *d);

#endif
