/*
 * The MC146818 real-time clock and its CMOS memory at ports 0x70 (index, bit 7
 * masks NMI) and 0x71 (data).
 *
 * The clock runs on the host's real-time clock (UTC) plus an offset the guest
 * changes by setting the time. Registers follow register B: BCD or binary
 * (DM), 12 or 24 hours, SET freezes the time registers for writing. Register
 * A's update-in-progress bit is set during the last 244 us of every second;
 * its divider bits (DV) stop the clock unless they select the normal 32.768 kHz
 * time base, and its rate bits select the periodic interrupt. Register C
 * reports periodic, alarm and update-ended flags and raises PC_RTC_IRQ while a
 * flag whose enable bit is set in register B is pending; reading C clears them.
 *
 * The CMOS bytes firmware and boot loaders read are filled in from the VM:
 * base memory (0x15-0x16), extended memory (0x17-0x18 and 0x30-0x31, in KiB,
 * capped at 0xffff), memory between 16 MiB and 4 GiB (0x34-0x35, 64 KiB units),
 * memory above 4 GiB (0x5b-0x5d, 64 KiB units), the vCPU count less one (0x5f),
 * the century (0x32) and the standard checksum over 0x10-0x2d (0x2e-0x2f).
 *
 * Port callbacks run with vm->lock held; the interrupt timers run on the I/O
 * thread and take vm->lock.
 */
#ifndef BERTH_VMM_HW_MC146818_H
#define BERTH_VMM_HW_MC146818_H

#include <stdbool.h>

struct vm;
struct mc146818;

/* Claim PC_RTC_PORT and PC_RTC_PORT + 1; returns NULL after logging. */
struct mc146818 *mc146818_new(struct vm *vm);
/* Release the device; call with the event loop stopped. */
void mc146818_free(struct mc146818 *rtc);
/* Is NMI masked by bit 7 of the index port? */
bool mc146818_nmi_masked(const struct mc146818 *rtc);

#endif
