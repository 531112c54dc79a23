/*
 * 8259A PIC pair (master + slave on IR2), with the PIIX-style ELCR that
 * makes individual inputs level-triggered.
 *
 * Priorities rotate: lowest_prio names the input with the lowest priority, so
 * input (lowest_prio + 1) & 7 has the highest. Edge-triggered inputs latch a
 * request in IRR on a rising edge; level-triggered ones request while high.
 */
#include "vmm/hw/i8259.h"
#include "common/log.h"

#include <string.h>

#define ICW1_ICW4   0x01
#define ICW1_SINGLE 0x02
#define ICW1_INIT   0x10
#define ICW4_8086   0x01
#define ICW4_AEOI   0x02
#define ICW4_SFNM   0x10
#define OCW3_SEL    0x08
#define OCW3_POLL   0x04
#define OCW3_RR	    0x02
#define OCW3_RIS    0x01
#define OCW3_ESMM   0x40
#define OCW3_SMM    0x20

enum ocw2_cmd {
	OCW2_ROTATE_AEOI_CLEAR = 0,
	OCW2_EOI = 1,
	OCW2_NOP = 2,
	OCW2_SPECIFIC_EOI = 3,
	OCW2_ROTATE_AEOI_SET = 4,
	OCW2_ROTATE_EOI = 5,
	OCW2_SET_PRIORITY = 6,
	OCW2_ROTATE_SPECIFIC_EOI = 7,
};

/* Priority rank of input irq: 0 is the highest. */
static unsigned prio_rank(const struct i8259_chip *c, unsigned irq)
{
	return (irq - c->lowest_prio - 1) & 7;
}

/* The highest-priority input set in mask, or -1. */
static int highest_in(const struct i8259_chip *c, uint8_t mask)
{
	for (unsigned rank = 0; rank < 8; rank++) {
		unsigned irq = (c->lowest_prio + 1 + rank) & 7;
		if (mask & (1u << irq))
			return (int)irq;
	}
	return -1;
}

/* The input this chip would signal on INT now, or -1 (none, or blocked by ISR). */
static int chip_request(const struct i8259_chip *c, bool master)
{
	uint8_t in_service = c->isr;
	int irq = highest_in(c, c->irr & ~c->imr), cur;

	if (irq < 0)
		return -1;
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Special fully nested: the slave may interrupt its own service routine. */
	if (master && c->sfnm && irq == I8259_CASCADE_IRQ)
		in_service &= ~(1u << I8259_CASCADE_IRQ);
	cur = highest_in(c, in_service);
	if (cur >= 0 && prio_rank(c, (unsigned)irq) >= prio_rank(c, (unsigned)cur))
		return -1;
	return irq;
}

/* Drive one input of one chip. */
static void chip_set_line(struct i8259_chip *c, unsigned irq, bool level)
{
	uint8_t bit = 1u << irq;

	if (c->elcr & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !(c->lines & bit)) {
		c->irr |= bit;
	}
	if (level)
		c->lines |= bit;
	else
		c->lines &= ~bit;
}

/* Propagate the slave's INT to master IR2 and report the master's INT if it changed. */
static void pic_update(struct i8259 *pic)
{
	bool out;

	chip_set_line(&pic->chip[0], I8259_CASCADE_IRQ, chip_request(&pic->chip[1], false) >= 0);
	out = chip_request(&pic->chip[0], true) >= 0;
	if (out != pic->output) {
		pic->output = out;
		if (pic->output_changed)
			pic->output_changed(pic->opaque, out);
	}
}

/* Reset one chip to the state ICW1 leaves (before ICW2-4). */
static void chip_init_reset(struct i8259_chip *c)
{
	c->imr = 0;
	c->isr = 0;
	/* The edge sense latches are cleared; level inputs still high keep requesting. */
	c->irr = c->lines & c->elcr;
	c->lowest_prio = 7;
	c->auto_eoi = c->rotate_on_aeoi = c->special_mask = c->poll = c->read_isr = false;
	c->sfnm = false;
}

/* Reset both chips to a BIOS-initialised state. */
void i8259_init(struct i8259 *pic, void (*output_changed)(void *opaque, bool level), void *opaque)
{
	static const uint8_t base[2] = {0x08, 0x70}, imr[2] = {0xfb, 0xff},
			     elcr_mask[2] = {0xf8, 0xde};

	memset(pic, 0, sizeof(*pic));
	pic->output_changed = output_changed;
	pic->opaque = opaque;
	for (unsigned i = 0; i < 2; i++) {
		struct i8259_chip *c = &pic->chip[i];
		chip_init_reset(c);
		c->vector_base = base[i];
		c->imr = imr[i];
		c->elcr_mask = elcr_mask[i];
	}
}

/* An input line (IRQ 0-15) changed. */
void i8259_set_irq(struct i8259 *pic, unsigned irq, bool level)
{
	if (irq >= 16)
		return;
	chip_set_line(&pic->chip[irq >> 3], irq & 7, level);
	pic_update(pic);
}

/* Is the master's INT output asserted? */
bool i8259_pending(const struct i8259 *pic)
{
	return pic->output;
}

/* Acknowledge input irq of one chip: IRR to ISR (or straight through in auto-EOI). */
static void chip_ack(struct i8259_chip *c, unsigned irq)
{
	uint8_t bit = 1u << irq;

	if (!(c->elcr & bit))
		c->irr &= ~bit;
	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->lowest_prio = irq;
	} else {
		c->isr |= bit;
	}
}

/* INTA cycle: the vector of the highest request (through the slave for IR2). */
int i8259_ack(struct i8259 *pic)
{
	struct i8259_chip *m = &pic->chip[0], *s = &pic->chip[1];
	int irq = chip_request(m, true), vector;

	if (irq < 0)
		return -1;
	chip_ack(m, (unsigned)irq);
	if (irq == I8259_CASCADE_IRQ) {
		int sirq = chip_request(s, false);
		if (sirq >= 0) {
			chip_ack(s, (unsigned)sirq);
			vector = s->vector_base + sirq;
		} else {
			vector = s->vector_base + 7; /* spurious IRQ15 */
		}
	} else {
		vector = m->vector_base + irq;
	}
	pic_update(pic);
	return vector;
}

/* Poll command: acknowledge like INTA and report 0x80 | input, or 0 if nothing. */
static uint8_t chip_poll(struct i8259 *pic, unsigned chip)
{
	struct i8259_chip *c = &pic->chip[chip];
	int irq = chip_request(c, chip == 0);

	if (irq < 0)
		return 0;
	chip_ack(c, (unsigned)irq);
	pic_update(pic);
	return 0x80 | (uint8_t)irq;
}

/* Port read: IRR/ISR (or a poll result) at the command port, IMR at the data port. */
uint8_t i8259_read(struct i8259 *pic, unsigned chip, unsigned offset)
{
	struct i8259_chip *c = &pic->chip[chip & 1];

	if (offset & 1)
		return c->imr;
	if (c->poll) {
		c->poll = false;
		return chip_poll(pic, chip & 1);
	}
	return c->read_isr ? c->isr : c->irr;
}

/* OCW2: end of interrupt and priority rotation. */
static void chip_ocw2(struct i8259_chip *c, uint8_t value)
{
	unsigned level = value & 7;
	int irq;

	switch ((enum ocw2_cmd)(value >> 5)) {
	case OCW2_ROTATE_AEOI_CLEAR:
		c->rotate_on_aeoi = false;
		break;
	case OCW2_ROTATE_AEOI_SET:
		c->rotate_on_aeoi = true;
		break;
	case OCW2_EOI:
	case OCW2_ROTATE_EOI:
		irq = highest_in(c, c->isr);
		if (irq < 0)
			break;
		c->isr &= ~(1u << irq);
		if (value >> 5 == OCW2_ROTATE_EOI)
			c->lowest_prio = (uint8_t)irq;
		break;
	case OCW2_SPECIFIC_EOI:
		c->isr &= ~(1u << level);
		break;
	case OCW2_ROTATE_SPECIFIC_EOI:
		c->isr &= ~(1u << level);
		c->lowest_prio = (uint8_t)level;
		break;
	case OCW2_SET_PRIORITY:
		c->lowest_prio = (uint8_t)level;
		break;
	case OCW2_NOP:
		break;
	}
}

/* Command port: ICW1, OCW2 or OCW3. */
static void chip_write_command(struct i8259_chip *c, uint8_t value)
{
	if (value & ICW1_INIT) {
		chip_init_reset(c);
		c->need_icw4 = value & ICW1_ICW4;
		c->single = value & ICW1_SINGLE;
		c->init_step = 2;
	} else if (value & OCW3_SEL) {
		if (value & OCW3_POLL)
			c->poll = true;
		if (value & OCW3_RR)
			c->read_isr = value & OCW3_RIS;
		if (value & OCW3_ESMM)
			c->special_mask = value & OCW3_SMM;
	} else {
		chip_ocw2(c, value);
	}
}

/* Data port: ICW2-4 during initialisation, else OCW1 (the mask). */
static void chip_write_data(struct i8259_chip *c, unsigned chip, uint8_t value)
{
	switch (c->init_step) {
	case 2:
		c->vector_base = value & 0xf8;
		c->init_step = !c->single ? 3 : c->need_icw4 ? 4 : 0;
		break;
	case 3: /* ICW3: the cascade wiring is fixed (slave on IR2) */
		c->init_step = c->need_icw4 ? 4 : 0;
		break;
	case 4:
		if (!(value & ICW4_8086))
			log_debug("i8259 %s: 8080 mode requested, staying in 8086 mode",
				  chip ? "slave" : "master");
		c->auto_eoi = value & ICW4_AEOI;
		c->sfnm = value & ICW4_SFNM;
		c->init_step = 0;
		break;
	default:
		c->imr = value;
		break;
	}
}

/* Port write: command (ICW1/OCW2/OCW3) or data (ICW2-4/OCW1). */
void i8259_write(struct i8259 *pic, unsigned chip, unsigned offset, uint8_t value)
{
	struct i8259_chip *c = &pic->chip[chip & 1];

	if (offset & 1)
		chip_write_data(c, chip & 1, value);
	else
		chip_write_command(c, value);
	pic_update(pic);
}

/* ELCR read. */
uint8_t i8259_elcr_read(struct i8259 *pic, unsigned chip)
{
	return pic->chip[chip & 1].elcr;
}

/* ELCR write: select edge or level per input. */
void i8259_elcr_write(struct i8259 *pic, unsigned chip, uint8_t value)
{
	struct i8259_chip *c = &pic->chip[chip & 1];

	c->elcr = value & c->elcr_mask;
	/* Level inputs request exactly while high; edge inputs keep their latched requests. */
	c->irr = (c->irr & ~c->elcr) | (c->lines & c->elcr);
	pic_update(pic);
}
