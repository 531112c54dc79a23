#include "vmm/hw/ns16550.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/hw/chardev.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stdlib.h>

/* Register offsets. */
#define UART_RBR 0 /* read, DLAB=0 (THR on write) */
#define UART_IER 1 /* DLAB=0 */
#define UART_IIR 2 /* read (FCR on write) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI	 0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI	 0x08 /* modem status */

#define IIR_NO_INT  0x01
#define IIR_MSI	    0x00
#define IIR_THRI    0x02
#define IIR_RDI	    0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA	     0x08
#define FCR_TRIGGER  0xc0

#define LCR_DLAB   0x80
#define LCR_BREAK  0x40
#define LCR_PARITY 0x08
#define LCR_STOP   0x04

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR	     0x01
#define LSR_OE	     0x02
#define LSR_PE	     0x04
#define LSR_FE	     0x08
#define LSR_BI	     0x10
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define LSR_FIFO_ERR 0x80 /* an error character is in the receive FIFO */
#define LSR_ERRORS   (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS	 0x10
#define MSR_DSR	 0x20
#define MSR_RI	 0x40
#define MSR_DCD	 0x80

#define UART_FIFO_SIZE 16
#define UART_CLOCK_HZ  1843200ULL

struct ns16550 {
	struct vm *vm;
	struct chardev *chr;
	uint16_t port;
	unsigned irq;
	bool irq_level;

	uint8_t ier, lcr, mcr, msr, scr, fcr;
	uint16_t divisor;
	uint8_t lsr_errors; /* sticky OE/PE/FE/BI, cleared by reading LSR */
	bool thr_ipending;  /* THRE interrupt armed, cleared by IIR read or THR write */
	bool timeout_ipending;

	uint8_t rx[UART_FIFO_SIZE]; /* receive FIFO (one entry used in 16450 mode) */
	unsigned rx_head, rx_count;
	struct ev_timer *timeout_timer;
};

static const struct chardev_frontend ns16550_frontend;

static bool fifo_enabled(const struct ns16550 *u)
{
	return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct ns16550 *u)
{
	return fifo_enabled(u) ? UART_FIFO_SIZE : 1;
}

/* Receive FIFO trigger level from FCR bits 7:6. */
static unsigned rx_trigger(const struct ns16550 *u)
{
	static const unsigned levels[4] = {1, 4, 8, 14};
	return fifo_enabled(u) ? levels[u->fcr >> 6] : 1;
}

/* The highest-priority pending interrupt, as IIR bits 3:0. */
static uint8_t pending_interrupt(const struct ns16550 *u)
{
	if ((u->ier & IER_RLSI) && (u->lsr_errors & LSR_ERRORS))
		return IIR_RLSI;
	if (u->ier & IER_RDI) {
		if (u->rx_count >= rx_trigger(u))
			return IIR_RDI;
		if (u->timeout_ipending && u->rx_count)
			return IIR_TIMEOUT;
	}
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD)))
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Drive the IRQ line: interrupt pending and OUT2 active (it is forced off in loopback). */
static void update_irq(struct ns16550 *u)
{
	bool level =
	    pending_interrupt(u) != IIR_NO_INT && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);

	if (level != u->irq_level) {
		u->irq_level = level;
		vm_set_irq(u->vm, u->irq, level);
	}
}

/* Duration of one character frame at the current divisor and line settings. */
static uint64_t char_time_ns(const struct ns16550 *u)
{
	unsigned bits =
	    1 + 5 + (u->lcr & 3) + ((u->lcr & LCR_PARITY) ? 1 : 0) + ((u->lcr & LCR_STOP) ? 2 : 1);
	uint64_t div = u->divisor ? u->divisor : 0x10000;

	return div * 16 * bits * 1000000000ULL / UART_CLOCK_HZ;
}

/* (Re)start the character timeout: 4 character times without FIFO activity. */
static void timeout_restart(struct ns16550 *u)
{
	u->timeout_ipending = false;
	if (!fifo_enabled(u) || !u->rx_count) {
		if (u->timeout_timer)
			evloop_timer_disarm(u->timeout_timer);
		return;
	}
	if (u->timeout_timer)
		evloop_timer_arm(u->timeout_timer, 4 * char_time_ns(u), 0);
	else
		u->timeout_ipending = true; /* no event loop: report data at once */
}

/* The character timeout expired (I/O thread). */
static void timeout_fired(void *opaque)
{
	struct ns16550 *u = opaque;

	pthread_mutex_lock(&u->vm->lock);
	if (fifo_enabled(u) && u->rx_count) {
		u->timeout_ipending = true;
		update_irq(u);
	}
	pthread_mutex_unlock(&u->vm->lock);
}

static void rx_clear(struct ns16550 *u)
{
	u->rx_head = u->rx_count = 0;
	timeout_restart(u);
}

/* A character arrives at the receiver (from the back end or through loopback). */
static void rx_push(struct ns16550 *u, uint8_t c)
{
	if (u->rx_count >= rx_capacity(u)) {
		u->lsr_errors |= LSR_OE;
		if (!fifo_enabled(u))
			u->rx[u->rx_head] = c; /* 16450 mode: the holding register is overwritten */
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
	u->rx_count++;
	timeout_restart(u);
}

/* The guest reads RBR. */
static uint8_t rx_pop(struct ns16550 *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	timeout_restart(u);
	if (u->chr && !(u->mcr & MCR_LOOP))
		chardev_accept_input(u->chr);
	return c;
}

/* Modem status inputs: constant CTS/DSR/DCD, or the outputs looped back. */
static uint8_t modem_inputs(const struct ns16550 *u)
{
	uint8_t in = 0;

	if (!(u->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* Recompute MSR's input bits and latch the delta bits of whatever changed. */
static void update_modem_status(struct ns16550 *u)
{
	uint8_t in = modem_inputs(u), changed = (u->msr ^ in) & 0xf0;

	if (changed & MSR_CTS)
		u->msr |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr |= MSR_DDSR;
	if ((changed & MSR_RI) && !(in & MSR_RI))
		u->msr |= MSR_TERI; /* trailing edge of ring indicator */
	if (changed & MSR_DCD)
		u->msr |= MSR_DDCD;
	u->msr = (u->msr & 0x0f) | in;
}

/* The guest writes THR: transmit at once (or receive it ourselves in loopback). */
static void tx_byte(struct ns16550 *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP)
		rx_push(u, c);
	else if (u->chr)
		chardev_write(u->chr, &c, 1);
	u->thr_ipending = true; /* THR is empty again right away */
}

static void write_fcr(struct ns16550 *u, uint8_t val)
{
	if ((val ^ u->fcr) & FCR_ENABLE) {
		/* Switching FIFO mode on or off empties both FIFOs. */
		u->fcr = val & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER);
		rx_clear(u);
	}
	if (!(val & FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	u->fcr = val & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER);
	if (val & FCR_CLEAR_RX) {
		rx_clear(u);
		if (u->chr && !(u->mcr & MCR_LOOP))
			chardev_accept_input(u->chr);
	}
	if (val & FCR_CLEAR_TX)
		u->thr_ipending = true;
}

static void write_mcr(struct ns16550 *u, uint8_t val)
{
	bool was_loop = u->mcr & MCR_LOOP;

	u->mcr = val & 0x1f;
	update_modem_status(u);
	if (was_loop && !(u->mcr & MCR_LOOP) && u->chr)
		chardev_accept_input(u->chr);
}

static void write_reg(struct ns16550 *u, unsigned reg, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			u->divisor = (u->divisor & 0xff00) | val;
		else
			tx_byte(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->divisor = (u->divisor & 0x00ff) | (uint16_t)(val << 8);
		} else {
			uint8_t old = u->ier;

			u->ier = val & 0x0f;
			/* Enabling the THRE interrupt while THR is empty raises it. */
			if ((u->ier ^ old) & IER_THRI)
				u->thr_ipending = u->ier & IER_THRI;
		}
		break;
	case UART_IIR:
		write_fcr(u, val);
		break;
	case UART_LCR:
		/* Starting a break in loopback: the receiver sees a break character. */
		if ((val & LCR_BREAK) && !(u->lcr & LCR_BREAK) && (u->mcr & MCR_LOOP)) {
			u->lsr_errors |= LSR_BI;
			rx_push(u, 0);
		}
		u->lcr = val;
		break;
	case UART_MCR:
		write_mcr(u, val);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only (factory test registers on a real chip) */
	case UART_SCR:
		u->scr = val;
		break;
	}
}

static uint8_t read_reg(struct ns16550 *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR:
		v = dlab ? (uint8_t)u->divisor : rx_pop(u);
		break;
	case UART_IER:
		v = dlab ? (uint8_t)(u->divisor >> 8) : u->ier;
		break;
	case UART_IIR:
		v = pending_interrupt(u);
		if (v == IIR_THRI)
			u->thr_ipending = false; /* reading IIR acknowledges THRE */
		if (fifo_enabled(u))
			v |= IIR_FIFO_ON;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | u->lsr_errors;
		if (u->rx_count)
			v |= LSR_DR;
		if (fifo_enabled(u) && (u->lsr_errors & (LSR_PE | LSR_FE | LSR_BI)))
			v |= LSR_FIFO_ERR;
		u->lsr_errors = 0;
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= 0xf0;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	return v;
}

/* Port reads: wider accesses read consecutive registers. */
static uint64_t ns16550_pio_read(void *opaque, uint64_t offset, unsigned size)
{
	struct ns16550 *u = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)(offset + i < 8 ? read_reg(u, offset + i) : 0xff) << (8 * i);
	update_irq(u);
	return v;
}

static void ns16550_pio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct ns16550 *u = opaque;

	for (unsigned i = 0; i < size && offset + i < 8; i++)
		write_reg(u, offset + i, (uint8_t)(value >> (8 * i)));
	update_irq(u);
}

static const struct io_ops ns16550_io_ops = {
    .read = ns16550_pio_read,
    .write = ns16550_pio_write,
};

/* Back end asks how much input we can take (I/O thread, no lock held). */
static size_t ns16550_can_read(void *opaque)
{
	struct ns16550 *u = opaque;
	size_t room = 0;

	pthread_mutex_lock(&u->vm->lock);
	if (!(u->mcr & MCR_LOOP))
		room = rx_capacity(u) - u->rx_count;
	pthread_mutex_unlock(&u->vm->lock);
	return room;
}

/* Input from the back end (I/O thread, no lock held). */
static void ns16550_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct ns16550 *u = opaque;

	pthread_mutex_lock(&u->vm->lock);
	for (size_t i = 0; i < len; i++)
		rx_push(u, buf[i]);
	update_irq(u);
	pthread_mutex_unlock(&u->vm->lock);
}

static const struct chardev_frontend ns16550_frontend = {
    .can_read = ns16550_can_read,
    .read = ns16550_receive,
};

struct ns16550 *ns16550_new(struct vm *vm, uint16_t port, unsigned irq, struct chardev *chr)
{
	struct ns16550 *u = xcalloc(1, sizeof(*u));

	u->vm = vm;
	u->chr = chr;
	u->port = port;
	u->irq = irq;
	u->divisor = 1;
	u->lcr = 0x03; /* 8N1 */
	u->msr = modem_inputs(u);
	if (vm->loop) {
		u->timeout_timer = evloop_timer_new(vm->loop, timeout_fired, u);
		if (!u->timeout_timer)
			goto fail;
	}
	if (iobus_add(&vm->pio, port, 8, &ns16550_io_ops, u, "ns16550") < 0)
		goto fail;
	if (chr)
		chardev_set_frontend(chr, &ns16550_frontend, u);
	return u;
fail:
	evloop_timer_free(u->timeout_timer);
	free(u);
	return NULL;
}

void ns16550_free(struct ns16550 *u)
{
	if (!u)
		return;
	if (u->chr)
		chardev_set_frontend(u->chr, NULL, NULL);
	iobus_del(&u->vm->pio, u->port, u);
	evloop_timer_free(u->timeout_timer);
	free(u);
}
