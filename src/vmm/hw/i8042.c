#include "vmm/hw/i8042.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stdlib.h>

/* Status register. */
#define STS_OBF	     0x01 /* output buffer full */
#define STS_SYS	     0x04 /* system flag (passed self test) */
#define STS_CMD	     0x08 /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited */
#define STS_AUX_OBF  0x20 /* output buffer holds mouse data */
#define STS_TIMEOUT  0x40

/* Controller configuration byte (internal RAM byte 0). */
#define CTR_KBD_INT 0x01
#define CTR_AUX_INT 0x02
#define CTR_SYS	    0x04
#define CTR_KBD_DIS 0x10
#define CTR_AUX_DIS 0x20
#define CTR_XLATE   0x40

/* Output port. */
#define OUTP_RESET   0x01 /* low = hold the CPU in reset */
#define OUTP_A20     0x02
#define OUTP_KBD_OBF 0x10
#define OUTP_AUX_OBF 0x20

#define PS2_NO_DEVICE 0xfe

struct i8042 {
	struct vm *vm;
	uint8_t status;
	uint8_t ram[32]; /* ram[0] is the configuration byte */
	uint8_t out;	 /* output buffer */
	uint8_t pending; /* command waiting for its data byte, 0 if none */
	uint8_t outport;
	bool kbd_irq, aux_irq;
};

/* Output buffer full raises IRQ 1 or 12 when the configuration byte allows it. */
static void update_irq(struct i8042 *k)
{
	bool full = k->status & STS_OBF, aux = k->status & STS_AUX_OBF;
	bool kbd_level = full && !aux && (k->ram[0] & CTR_KBD_INT);
	bool aux_level = full && aux && (k->ram[0] & CTR_AUX_INT);

	if (kbd_level != k->kbd_irq) {
		k->kbd_irq = kbd_level;
		vm_set_irq(k->vm, PC_I8042_KBD_IRQ, kbd_level);
	}
	if (aux_level != k->aux_irq) {
		k->aux_irq = aux_level;
		vm_set_irq(k->vm, PC_I8042_AUX_IRQ, aux_level);
	}
}

/* Put a byte in the output buffer, as keyboard/controller data or mouse data. */
static void output(struct i8042 *k, uint8_t byte, bool aux, bool timeout)
{
	k->out = byte;
	k->status &= ~(STS_AUX_OBF | STS_TIMEOUT);
	k->status |= STS_OBF | (aux ? STS_AUX_OBF : 0) | (timeout ? STS_TIMEOUT : 0);
}

static void reset_machine(struct i8042 *k, const char *how)
{
	log_info("guest reset the machine through the keyboard controller (%s)", how);
	vm_request_stop(k->vm, VM_STOP_RESET, 0);
}

static void set_config(struct i8042 *k, uint8_t ctr)
{
	k->ram[0] = ctr;
	k->status = (uint8_t)((k->status & ~STS_SYS) | (ctr & CTR_SYS));
}

/* A command byte written to port 0x64. */
static void command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) {
		output(k, k->ram[cmd & 0x1f], false, false);
		return;
	}
	if ((cmd >= 0x60 && cmd <= 0x7f) || cmd == 0xd1 || cmd == 0xd2 || cmd == 0xd3 ||
	    cmd == 0xd4) {
		k->pending = cmd;
		return;
	}
	if (cmd >= 0xf0) {
		/* Pulse output port bits whose command bit is 0; bit 0 is the reset line. */
		if (!(cmd & 0x01))
			reset_machine(k, "pulse command");
		return;
	}
	switch (cmd) {
	case 0xa4: /* password installed? */
		output(k, 0xf1, false, false);
		break;
	case 0xa7:
		set_config(k, k->ram[0] | CTR_AUX_DIS);
		break;
	case 0xa8:
		set_config(k, k->ram[0] & ~CTR_AUX_DIS);
		break;
	case 0xa9: /* mouse interface test: OK */
	case 0xab: /* keyboard interface test: OK */
		output(k, 0x00, false, false);
		break;
	case 0xaa: /* controller self test */
		k->status |= STS_SYS;
		output(k, 0x55, false, false);
		break;
	case 0xad:
		set_config(k, k->ram[0] | CTR_KBD_DIS);
		break;
	case 0xae:
		set_config(k, k->ram[0] & ~CTR_KBD_DIS);
		break;
	case 0xc0: /* input port: keyboard not inhibited */
		output(k, 0x80, false, false);
		break;
	case 0xd0: {
		uint8_t v = k->outport & ~(OUTP_KBD_OBF | OUTP_AUX_OBF);

		if (k->status & STS_OBF)
			v |= (k->status & STS_AUX_OBF) ? OUTP_AUX_OBF : OUTP_KBD_OBF;
		output(k, v, false, false);
		break;
	}
	case 0xdd: /* A20 off: ignored, A20 is always enabled */
	case 0xdf:
		break;
	case 0xe0: /* test inputs */
		output(k, 0x00, false, false);
		break;
	default:
		log_debug("i8042: unknown controller command %#x ignored", cmd);
		break;
	}
}

/* A data byte written to port 0x60, possibly the argument of a pending command. */
static void data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		if (cmd == 0x60)
			set_config(k, val);
		else
			k->ram[cmd & 0x1f] = val;
		return;
	}
	switch (cmd) {
	case 0xd1:
		k->outport = val | OUTP_A20;
		if (!(val & OUTP_RESET))
			reset_machine(k, "output port");
		break;
	case 0xd2: /* as if the keyboard sent it */
		output(k, val, false, false);
		break;
	case 0xd3: /* as if the mouse sent it (AUX loopback) */
		output(k, val, true, false);
		break;
	case 0xd4: /* to the mouse: nothing there */
		output(k, PS2_NO_DEVICE, true, true);
		break;
	default: /* to the keyboard: nothing there */
		output(k, PS2_NO_DEVICE, false, true);
		break;
	}
}

/* Port 0x60 read: take the output buffer. */
static uint64_t i8042_read_data(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)size;
	k->status &= ~(STS_OBF | STS_AUX_OBF | STS_TIMEOUT);
	update_irq(k);
	return k->out;
}

/* Port 0x64 read: the status register. */
static uint64_t i8042_read_status(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)size;
	return k->status;
}

static void i8042_write_data(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)size;
	k->status &= ~STS_CMD;
	data(k, (uint8_t)value);
	update_irq(k);
}

static void i8042_write_cmd(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)size;
	k->status |= STS_CMD;
	command(k, (uint8_t)value);
	update_irq(k);
}

static const struct io_ops i8042_data_ops = {.read = i8042_read_data, .write = i8042_write_data};
static const struct io_ops i8042_cmd_ops = {.read = i8042_read_status, .write = i8042_write_cmd};

struct i8042 *i8042_new(struct vm *vm)
{
	struct i8042 *k = xcalloc(1, sizeof(*k));

	k->vm = vm;
	/* As firmware leaves it: translated keyboard, mouse disabled, self test passed. */
	k->ram[0] = CTR_KBD_INT | CTR_SYS | CTR_AUX_DIS | CTR_XLATE;
	k->status = STS_SYS | STS_UNLOCKED;
	k->outport = OUTP_RESET | OUTP_A20;
	if (iobus_add(&vm->pio, PC_I8042_DATA, 1, &i8042_data_ops, k, "i8042 data") < 0)
		goto fail;
	if (iobus_add(&vm->pio, PC_I8042_CMD, 1, &i8042_cmd_ops, k, "i8042 command") < 0) {
		iobus_del(&vm->pio, PC_I8042_DATA, k);
		goto fail;
	}
	return k;
fail:
	free(k);
	return NULL;
}

void i8042_free(struct i8042 *k)
{
	if (!k)
		return;
	iobus_del(&k->vm->pio, PC_I8042_DATA, k);
	iobus_del(&k->vm->pio, PC_I8042_CMD, k);
	free(k);
}
