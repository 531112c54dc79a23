/*
 * The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), with nothing plugged into its keyboard and mouse ports. It does
 * what Linux's i8042 driver and boot code need: the controller configuration
 * byte and internal RAM, self test (0xaa -> 0x55), interface tests, port
 * enable/disable, output port access, the AUX loopback commands (with IRQ 12
 * delivery, which Linux tests), and the reset line: command 0xfe (or clearing
 * output port bit 0) stops the VM with VM_STOP_RESET.
 *
 * Bytes sent to the keyboard or mouse get the answer of an empty port: 0xfe
 * with the timeout bit set in the status register, so device probes fail at
 * once instead of waiting for a timeout.
 */
#ifndef BERTH_VMM_HW_I8042_H
#define BERTH_VMM_HW_I8042_H

struct vm;
struct i8042;

/* Claim PC_I8042_DATA and PC_I8042_CMD; returns NULL after logging. */
struct i8042 *i8042_new(struct vm *vm);
void i8042_free(struct i8042 *k);

#endif
