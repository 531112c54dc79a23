/*
 * A 16550A UART (the PC's 8250-family serial port), faithful enough for
 * Linux's 8250 driver in interrupt-driven mode: 16-byte receive FIFO with
 * trigger levels and the character timeout interrupt, interrupt priorities in
 * IIR, the THRE interrupt semantics the driver probes for, loopback, modem
 * status deltas, and MCR.OUT2 gating the interrupt line as on a PC.
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the
 * character back end, so the transmitter always reads as empty (LSR THRE and
 * TEMT set) and the THRE interrupt re-arms after every write.
 *
 * In loopback mode (MCR bit 4) transmitted bytes are received by the UART
 * itself, the modem inputs follow the modem outputs, input from the back end
 * waits until loopback is switched off, and the interrupt line is held low
 * (on a PC the OUT2 pin, forced inactive in loopback, gates the IRQ).
 *
 * All register callbacks run with vm->lock held; input from the back end and
 * the timeout timer run on the I/O thread and take vm->lock themselves.
 */
#ifndef BERTH_VMM_HW_NS16550_H
#define BERTH_VMM_HW_NS16550_H

#include <stdint.h>

struct vm;
struct chardev;
struct ns16550;

/*
 * Create a UART at ports [port, port + 8) raising GSI irq, connected to chr
 * (NULL: output discarded, no input). Returns NULL after logging on failure.
 */
struct ns16550 *ns16550_new(struct vm *vm, uint16_t port, unsigned irq, struct chardev *chr);
/* Release the ports, the timer and the device (NULL is fine); call with the loop stopped. */
void ns16550_free(struct ns16550 *u);

#endif
