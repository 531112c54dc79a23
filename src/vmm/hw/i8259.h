/*
 * The 8259A programmable interrupt controller pair of the PC: a master at
 * ports 0x20-0x21 and a slave at 0xa0-0xa1 cascaded on the master's IR2, with
 * the edge/level control registers (ELCR) at 0x4d0-0x4d1.
 *
 * The caller serialises every call (soft_chipset's lock). The master's INT
 * output is reported through the output callback whenever it changes; the
 * CPU side acknowledges with i8259_ack().
 */
#ifndef BERTH_VMM_HW_I8259_H
#define BERTH_VMM_HW_I8259_H

#include <stdbool.h>
#include <stdint.h>

#define I8259_MASTER_PORT 0x20
#define I8259_SLAVE_PORT  0xa0
#define I8259_ELCR_PORT	  0x4d0
#define I8259_CASCADE_IRQ 2

struct i8259_chip {
	uint8_t irr, isr, imr;
	uint8_t lines;	     /* input levels as last driven */
	uint8_t elcr;	     /* 1 = level-triggered input */
	uint8_t elcr_mask;   /* inputs that may be level-triggered */
	uint8_t vector_base; /* ICW2 (low three bits clear) */
	uint8_t lowest_prio; /* rotation: the lowest-priority input */
	uint8_t init_step;   /* 0 = ready; 2/3/4 = expecting that ICW */
	bool need_icw4, single, auto_eoi, rotate_on_aeoi, special_mask, poll, read_isr;
	bool sfnm; /* special fully nested mode (master only matters) */
};

struct i8259 {
	struct i8259_chip chip[2]; /* master, slave */
	bool output;		   /* master INT as last reported */
	void (*output_changed)(void *opaque, bool level);
	void *opaque;
};

/* Reset to the state a PC BIOS leaves: vectors 0x08/0x70, all lines masked but the cascade. */
void i8259_init(struct i8259 *pic, void (*output_changed)(void *opaque, bool level), void *opaque);
/* Drive input irq (0-15) to level. */
void i8259_set_irq(struct i8259 *pic, unsigned irq, bool level);
/* Is the master's INT output asserted? */
bool i8259_pending(const struct i8259 *pic);
/* Interrupt acknowledge cycle: the vector to take, or -1 if INT is not asserted. */
int i8259_ack(struct i8259 *pic);
/* Port access: chip 0 (master) or 1 (slave); offset 0 = command, 1 = data. */
uint8_t i8259_read(struct i8259 *pic, unsigned chip, unsigned offset);
void i8259_write(struct i8259 *pic, unsigned chip, unsigned offset, uint8_t value);
/* ELCR for chip 0 or 1. */
uint8_t i8259_elcr_read(struct i8259 *pic, unsigned chip);
void i8259_elcr_write(struct i8259 *pic, unsigned chip, uint8_t value);

#endif
