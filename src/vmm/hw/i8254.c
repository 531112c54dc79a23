/*
 * 8254 PIT. Each channel remembers when counting from its reload value began
 * (start_ns); its count and output at any time follow from the elapsed input
 * clock ticks and the mode. A channel's gate (only channel 2's can change, via
 * port 0x61) suspends counting in modes 0/4, restarts it in modes 2/3 and
 * triggers it in modes 1/5.
 */
#include "vmm/hw/i8254.h"

#include <string.h>

#define NS_PER_SEC	   1000000000ULL
#define REFRESH_NS	   15085 /* port 0x61 bit 4 toggles every 15.085 us */
#define PORT61_GATE2	   0x01
#define PORT61_WRITABLE	   0x0f
#define PORT61_REFRESH	   0x10
#define PORT61_OUT2	   0x20
#define CONTROL_PORT	   3
#define READBACK_NO_COUNT  0x20
#define READBACK_NO_STATUS 0x10

/* Input clock ticks in [start, now). */
static uint64_t ticks_between(uint64_t start, uint64_t now)
{
	if (now <= start)
		return 0;
	return (uint64_t)((unsigned __int128)(now - start) * I8254_HZ / NS_PER_SEC);
}

/* Nanoseconds from the start of counting until tick t has elapsed. */
static uint64_t tick_to_ns(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)t * NS_PER_SEC + I8254_HZ - 1) / I8254_HZ);
}

/* The counter range: 2^16 binary, 10^4 BCD. */
static uint32_t modulus(const struct i8254_channel *ch)
{
	return ch->bcd ? 10000 : 0x10000;
}

/* Four BCD digits to binary (digits above 9 count as their value). */
static uint32_t bcd_to_bin(uint16_t v)
{
	return (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 + (v >> 4 & 0xf) * 10 + (v & 0xf);
}

/* Binary 0-9999 to four BCD digits. */
static uint16_t bin_to_bcd(uint32_t v)
{
	v %= 10000;
	return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

/* Ticks counted since the channel was loaded or triggered (stopped while frozen). */
static uint64_t elapsed(const struct i8254_channel *ch, uint64_t now_ns)
{
	if (!ch->counting)
		return 0;
	return ticks_between(ch->start_ns, ch->frozen ? ch->frozen_ns : now_ns);
}

/* Does this mode repeat (rate generator, square wave)? */
static bool periodic(const struct i8254_channel *ch)
{
	return ch->mode == 2 || ch->mode == 3;
}

/* Tick of the first rising output edge after counting starts. */
static uint64_t first_edge(const struct i8254_channel *ch)
{
	/* Modes 4/5 strobe the output low for the tick after terminal count. */
	return ch->mode >= 4 ? (uint64_t)ch->reload + 1 : ch->reload;
}

/* The counting element's value at now_ns. */
uint16_t i8254_count(const struct i8254_channel *ch, uint64_t now_ns)
{
	uint64_t n = ch->reload, e = elapsed(ch, now_ns), m = modulus(ch);
	uint64_t v;

	if (!ch->loaded)
		return 0;
	if (!ch->counting)
		v = n;
	else if (ch->mode == 2)
		v = n - e % n;
	else if (ch->mode == 3)
		v = (n - 2 * (e % n) % n) & ~1ULL; /* counts down by two in each half */
	else
		v = (n + m - e % m) % m; /* wraps past zero and keeps counting */
	return ch->bcd ? bin_to_bcd((uint32_t)v) : (uint16_t)v;
}

/* The OUT pin at now_ns. */
bool i8254_output(const struct i8254_channel *ch, uint64_t now_ns)
{
	uint64_t n = ch->reload, e = elapsed(ch, now_ns);

	if (!ch->counting)
		return ch->mode != 0; /* mode 0 goes low on the control word */
	switch (ch->mode) {
	case 0:
	case 1:
		return e >= n;
	case 2:
		return ch->frozen || n == 1 || e % n != n - 1;
	case 3:
		return ch->frozen || e % n < (n + 1) / 2;
	default:
		return e != n;
	}
}

/* Begin counting from the reload value now (gate low: suspended until it rises). */
static void channel_start(struct i8254_channel *ch, uint64_t now_ns)
{
	ch->counting = true;
	ch->start_ns = now_ns;
	ch->frozen = !ch->gate && ch->mode != 1 && ch->mode != 5;
	ch->frozen_ns = now_ns;
	ch->next_edge = first_edge(ch);
}

/* A complete count was written. */
static void channel_load(struct i8254 *pit, struct i8254_channel *ch, uint16_t raw, uint64_t now_ns)
{
	uint32_t n = ch->bcd ? bcd_to_bin(raw) : raw, m = modulus(ch);

	if (n > m)
		n %= m; /* non-decimal digits in BCD mode */
	ch->reload = n ? n : m;
	ch->loaded = true;
	ch->null_count = false;
	/* Modes 1 and 5 wait for a gate trigger; the others start at once. */
	if (ch->mode != 1 && ch->mode != 5)
		channel_start(ch, now_ns);
	if (ch == &pit->ch[0] && pit->reprogrammed)
		pit->reprogrammed(pit->opaque);
}

/* The gate input changed. */
static void channel_set_gate(struct i8254_channel *ch, bool level, uint64_t now_ns)
{
	if (level == ch->gate)
		return;
	ch->gate = level;
	switch (ch->mode) {
	case 0:
	case 4: /* gate low suspends counting */
		if (!ch->counting)
			break;
		if (!level) {
			ch->frozen = true;
			ch->frozen_ns = now_ns;
		} else if (ch->frozen) {
			ch->start_ns += now_ns - ch->frozen_ns;
			ch->frozen = false;
		}
		break;
	case 2:
	case 3: /* gate low stops counting with the output high; rising reloads */
		if (!ch->counting)
			break;
		if (!level) {
			ch->frozen = true;
			ch->frozen_ns = now_ns;
		} else {
			channel_start(ch, now_ns);
		}
		break;
	default: /* modes 1/5: a rising gate (re)triggers */
		if (level && ch->loaded)
			channel_start(ch, now_ns);
		break;
	}
}

/* Counter latch command (or read-back): freeze the count for reading. */
static void latch_count(struct i8254_channel *ch, uint64_t now_ns)
{
	if (ch->count_latched)
		return; /* a second latch before the first is read is ignored */
	ch->latched_count = i8254_count(ch, now_ns);
	ch->count_latched = true;
	ch->latch_msb = false;
}

/* Read-back status latch: OUT, null count, access, mode, BCD. */
static void latch_status(struct i8254_channel *ch, uint64_t now_ns)
{
	if (ch->status_latched)
		return;
	ch->latched_status = (uint8_t)(i8254_output(ch, now_ns) << 7 | ch->null_count << 6 |
				       ch->access << 4 | ch->mode << 1 | ch->bcd);
	ch->status_latched = true;
}

/* Port 0x43: control word, counter latch or read-back command. */
static void write_control(struct i8254 *pit, uint8_t value, uint64_t now_ns)
{
	unsigned sel = value >> 6, access = (value >> 4) & 3, mode = (value >> 1) & 7;
	struct i8254_channel *ch;

	if (sel == 3) {
		for (unsigned i = 0; i < 3; i++) {
			if (!(value & (2u << i)))
				continue;
			if (!(value & READBACK_NO_COUNT))
				latch_count(&pit->ch[i], now_ns);
			if (!(value & READBACK_NO_STATUS))
				latch_status(&pit->ch[i], now_ns);
		}
		return;
	}
	ch = &pit->ch[sel];
	if (access == 0) {
		latch_count(ch, now_ns);
		return;
	}
	ch->access = (uint8_t)access;
	ch->mode = (uint8_t)(mode > 5 ? mode - 4 : mode); /* 6, 7 alias 2, 3 */
	ch->bcd = value & 1;
	ch->loaded = ch->counting = ch->frozen = false;
	ch->null_count = true;
	ch->write_msb = ch->read_msb = false;
	ch->next_edge = UINT64_MAX;
	if (sel == 0 && pit->reprogrammed)
		pit->reprogrammed(pit->opaque);
}

/* A byte written to a counter port, per the access mode. */
static void write_counter(struct i8254 *pit, struct i8254_channel *ch, uint8_t value,
			  uint64_t now_ns)
{
	switch (ch->access) {
	case 1:
		channel_load(pit, ch, value, now_ns);
		break;
	case 2:
		channel_load(pit, ch, (uint16_t)(value << 8), now_ns);
		break;
	default:
		if (!ch->write_msb) {
			ch->write_lsb = value;
			ch->write_msb = true;
			if (ch->mode == 0) /* writing the first byte stops counting */
				ch->counting = false;
		} else {
			ch->write_msb = false;
			channel_load(pit, ch, (uint16_t)(ch->write_lsb | value << 8), now_ns);
		}
		break;
	}
}

/* Port write to 0x40-0x43. */
void i8254_write(struct i8254 *pit, unsigned offset, uint8_t value, uint64_t now_ns)
{
	offset &= 3;
	if (offset == CONTROL_PORT)
		write_control(pit, value, now_ns);
	else
		write_counter(pit, &pit->ch[offset], value, now_ns);
}

/* Port read from 0x40-0x42: latched status, latched count or the live count. */
uint8_t i8254_read(struct i8254 *pit, unsigned offset, uint64_t now_ns)
{
	struct i8254_channel *ch;
	uint16_t v;

	offset &= 3;
	if (offset == CONTROL_PORT)
		return 0xff; /* the control register is write-only */
	ch = &pit->ch[offset];
	if (ch->status_latched) {
		ch->status_latched = false;
		return ch->latched_status;
	}
	if (ch->count_latched) {
		v = ch->latched_count;
		if (ch->access == 3 && !ch->latch_msb) {
			ch->latch_msb = true;
			return (uint8_t)v;
		}
		ch->count_latched = false;
		return (uint8_t)(ch->access == 2 || ch->access == 3 ? v >> 8 : v);
	}
	v = i8254_count(ch, now_ns);
	switch (ch->access) {
	case 1:
		return (uint8_t)v;
	case 2:
		return (uint8_t)(v >> 8);
	default:
		ch->read_msb = !ch->read_msb;
		return (uint8_t)(ch->read_msb ? v : v >> 8);
	}
}

/* Port 0x61 read: gate and speaker bits, refresh toggle, OUT2. */
uint8_t i8254_port61_read(struct i8254 *pit, uint64_t now_ns)
{
	uint8_t v = pit->port61;

	if ((now_ns / REFRESH_NS) & 1)
		v |= PORT61_REFRESH;
	if (i8254_output(&pit->ch[2], now_ns))
		v |= PORT61_OUT2;
	return v;
}

/* Port 0x61 write: channel 2 gate, speaker enable and NMI bits. */
void i8254_port61_write(struct i8254 *pit, uint8_t value, uint64_t now_ns)
{
	pit->port61 = value & PORT61_WRITABLE;
	channel_set_gate(&pit->ch[2], value & PORT61_GATE2, now_ns);
}

/* Advance channel 0 to now_ns, pulsing IRQ0 on a rising edge. */
uint64_t i8254_poll(struct i8254 *pit, uint64_t now_ns)
{
	struct i8254_channel *ch = &pit->ch[0];
	uint64_t e;

	if (!ch->counting || ch->frozen || ch->next_edge == UINT64_MAX)
		return UINT64_MAX;
	e = elapsed(ch, now_ns);
	if (e >= ch->next_edge) {
		/* Edges missed since the last poll are coalesced into one interrupt. */
		ch->next_edge = periodic(ch) ? (e / ch->reload + 1) * ch->reload : UINT64_MAX;
		if (pit->irq)
			pit->irq(pit->opaque);
	}
	if (ch->next_edge == UINT64_MAX)
		return UINT64_MAX;
	return ch->start_ns + tick_to_ns(ch->next_edge);
}

/* Reset: channels idle (no count loaded), gates of channels 0/1 high. */
void i8254_init(struct i8254 *pit, void (*irq)(void *opaque), void (*reprogrammed)(void *opaque),
		void *opaque)
{
	memset(pit, 0, sizeof(*pit));
	pit->irq = irq;
	pit->reprogrammed = reprogrammed;
	pit->opaque = opaque;
	for (unsigned i = 0; i < 3; i++) {
		struct i8254_channel *ch = &pit->ch[i];
		ch->mode = 3;
		ch->access = 3;
		ch->gate = i != 2; /* channels 0 and 1 are gated on; 2 via port 0x61 */
		ch->next_edge = UINT64_MAX;
	}
}
