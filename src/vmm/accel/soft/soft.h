/*
 * The soft accelerator: berth's own x86-64 CPU emulator (cpu/x86) with its
 * own LAPIC, IOAPIC, PIC and PIT (chipset.h). Needs nothing from the host.
 */
#ifndef BERTH_VMM_ACCEL_SOFT_SOFT_H
#define BERTH_VMM_ACCEL_SOFT_SOFT_H

#include "vmm/vm.h"

extern const struct accel_ops soft_accel_ops;

#endif
