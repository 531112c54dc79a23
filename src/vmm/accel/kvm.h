/*
 * The kvm accelerator: guest code runs on the host CPU through /dev/kvm, with
 * the in-kernel local APICs, IOAPIC, 8259 pair and 8254 PIT. Every exit the
 * kernel does not handle (port I/O, MMIO, shutdown, errors) comes back to the
 * vCPU thread and is dispatched to the machine through vm.h.
 */
#ifndef BERTH_VMM_ACCEL_KVM_H
#define BERTH_VMM_ACCEL_KVM_H

#include "vmm/vm.h"

extern const struct accel_ops kvm_accel_ops;

#endif
