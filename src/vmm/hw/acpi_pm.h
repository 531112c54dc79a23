/*
 * ACPI fixed hardware of the pc machine, at the ports machine/pc.h gives:
 *
 *   PC_ACPI_PM1_EVT  PM1a_STS (16 bits, write 1 to clear) and PM1a_EN (16 bits):
 *                    TMR, GBL, PWRBTN, SLPBTN, RTC status/enable, WAK_STS.
 *   PC_ACPI_PM1_CNT  PM1a_CNT (16 bits): SCI_EN (set at reset: there is no
 *                    SMI_CMD port, the machine starts in ACPI mode), SLP_TYP and
 *                    SLP_EN. SLP_EN with SLP_TYP == PC_ACPI_S5_TYP powers off
 *                    (VM_STOP_POWEROFF); other sleep types are not supported and
 *                    wake at once (WAK_STS) so the guest does not wait forever.
 *   PC_ACPI_PM_TMR   the 24-bit ACPI PM timer at 3.579545 MHz (FADT TMR_VAL_EXT
 *                    must be 0); TMR_STS is set when its bit 23 toggles.
 *   PC_ACPI_GPE0     GPE0_STS (32 bits, write 1 to clear) and GPE0_EN (32 bits):
 *                    FADT GPE0_BLK_LEN = 8.
 *   PC_RESET_PORT    the reset control register (FADT RESET_REG, byte access):
 *                    writing a value with bit 2 set (0x06) resets the machine
 *                    (VM_STOP_RESET).
 *
 * The SCI (PC_ACPI_SCI_IRQ, level-triggered) is asserted while SCI_EN is set
 * and some status bit has its enable bit set. Registers take any access size
 * at any offset (byte lanes), as ACPICA uses both.
 *
 * The power button is the fixed-feature button (FADT PWR_BUTTON flag clear).
 */
#ifndef BERTH_VMM_HW_ACPI_PM_H
#define BERTH_VMM_HW_ACPI_PM_H

struct vm;
struct acpi_pm;

/* Claim the PM ports and the reset port; returns NULL after logging. */
struct acpi_pm *acpi_pm_new(struct vm *vm);
/* Release the device; call with the event loop stopped. */
void acpi_pm_free(struct acpi_pm *pm);

/*
 * Press the power button (graceful shutdown request): sets PWRBTN_STS and
 * raises the SCI if the guest enabled it. Takes vm->lock itself: call it from
 * the I/O thread (the control socket) WITHOUT holding vm->lock.
 */
void acpi_pm_power_button(struct acpi_pm *pm);

/*
 * Set general-purpose event bit (0-31) in GPE0_STS, raising the SCI if the
 * guest enabled it (for hotplug and similar). Call with vm->lock held.
 */
void acpi_pm_gpe_set(struct acpi_pm *pm, unsigned bit);

#endif
