/*
 * The 8254 programmable interval timer at ports 0x40-0x43, clocked at
 * 1.193182 MHz, and the PC's port 0x61 (channel 2 gate, speaker enable, and
 * the channel 2 output and refresh toggle read back).
 *
 * Counters are computed from time (nanoseconds passed in by the caller), not
 * ticked. Channel 0's output drives IRQ0: i8254_poll() reports each rising
 * edge through the irq callback (as a pulse) and returns the next one's time.
 * The caller serialises every call (soft_chipset's lock).
 */
#ifndef BERTH_VMM_HW_I8254_H
#define BERTH_VMM_HW_I8254_H

#include <stdbool.h>
#include <stdint.h>

#define I8254_PORT     0x40 /* channels 0-2 at 0x40-0x42, control word at 0x43 */
#define I8254_PORT_LEN 4
#define I8254_PORT61   0x61
#define I8254_HZ       1193182ULL

struct i8254_channel {
	uint8_t mode;	/* 0-5 */
	uint8_t access; /* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;
	bool gate;
	bool loaded;	 /* a count has been written since the control word */
	bool counting;	 /* counting from reload since start_ns (modes 1/5: triggered) */
	bool frozen;	 /* gate low suspends counting since frozen_ns */
	bool null_count; /* control word written, count not yet loaded */
	uint32_t reload; /* the count: 1..0x10000 (binary) or 1..10000 (BCD) */
	uint64_t start_ns;
	uint64_t frozen_ns;
	uint64_t next_edge; /* counter tick of the next rising output edge, or UINT64_MAX */

	bool write_msb; /* access 3: the next data write is the MSB */
	uint8_t write_lsb;
	bool read_msb; /* access 3: the next unlatched read is the MSB */
	bool count_latched, latch_msb;
	uint16_t latched_count;
	bool status_latched;
	uint8_t latched_status;
};

struct i8254 {
	struct i8254_channel ch[3];
	uint8_t port61;			    /* writable bits of port 0x61 */
	void (*irq)(void *opaque);	    /* channel 0 output rose */
	void (*reprogrammed)(void *opaque); /* channel 0 changed: the next deadline moved */
	void *opaque;
};

void i8254_init(struct i8254 *pit, void (*irq)(void *opaque), void (*reprogrammed)(void *opaque),
		void *opaque);
/* Port access at offset 0-3 from 0x40. */
uint8_t i8254_read(struct i8254 *pit, unsigned offset, uint64_t now_ns);
void i8254_write(struct i8254 *pit, unsigned offset, uint8_t value, uint64_t now_ns);
/* Port 0x61. */
uint8_t i8254_port61_read(struct i8254 *pit, uint64_t now_ns);
void i8254_port61_write(struct i8254 *pit, uint8_t value, uint64_t now_ns);
/* Report channel 0's rising edges up to now_ns; return the next one's time or UINT64_MAX. */
uint64_t i8254_poll(struct i8254 *pit, uint64_t now_ns);
/* Channel state at now_ns, for the register interface and tests. */
uint16_t i8254_count(const struct i8254_channel *ch, uint64_t now_ns);
bool i8254_output(const struct i8254_channel *ch, uint64_t now_ns);

#endif
