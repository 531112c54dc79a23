#include "vmm/hw/mc146818.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <time.h>

/* Registers. */
#define RTC_SEC	       0x00
#define RTC_SEC_ALARM  0x01
#define RTC_MIN	       0x02
#define RTC_MIN_ALARM  0x03
#define RTC_HOUR       0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_WDAY       0x06
#define RTC_MDAY       0x07
#define RTC_MONTH      0x08
#define RTC_YEAR       0x09
#define RTC_REG_A      0x0a
#define RTC_REG_B      0x0b
#define RTC_REG_C      0x0c
#define RTC_REG_D      0x0d
#define RTC_CENTURY    0x32

#define REG_A_UIP 0x80
#define REG_A_DV  0x70
#define REG_A_RS  0x0f
#define DV_NORMAL 0x20 /* 32.768 kHz time base, divider running */

#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_B_DM  0x04 /* binary (1) or BCD (0) */
#define REG_B_24H 0x02

#define REG_C_IRQF 0x80
#define REG_C_PF   0x40
#define REG_C_AF   0x20
#define REG_C_UF   0x10

#define REG_D_VRT 0x80

#define NS_PER_SEC  1000000000LL
#define UIP_NS	    244000LL /* update cycle: UIP is set this long before it */
#define NMI_DISABLE 0x80

struct mc146818 {
	struct vm *vm;
	uint8_t index;
	bool nmi_masked;
	bool irq_level;
	uint8_t cmos[128];  /* registers and memory; time registers valid while SET */
	int64_t offset_sec; /* guest time = host real time + offset */
	int64_t pf_epoch;   /* monotonic ns: the periodic flag counts from here */
	int64_t uf_epoch;   /* guest second of the last update-ended flag */
	struct ev_timer *periodic, *update;
};

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Is the divider chain running (time advancing, interrupts possible)? */
static bool clock_running(const struct mc146818 *rtc)
{
	return (rtc->cmos[RTC_REG_A] & REG_A_DV) == DV_NORMAL &&
	       !(rtc->cmos[RTC_REG_B] & REG_B_SET);
}

static int64_t guest_seconds(const struct mc146818 *rtc)
{
	return realtime_ns() / NS_PER_SEC + rtc->offset_sec;
}

static uint8_t to_reg(const struct mc146818 *rtc, unsigned v)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* Decode a register; bad BCD digits are taken at face value, never trusted. */
static unsigned from_reg(const struct mc146818 *rtc, uint8_t v)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_DM)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(const struct mc146818 *rtc, unsigned h)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_24H)
		return to_reg(rtc, h);
	return (uint8_t)(to_reg(rtc, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static unsigned hour_from_reg(const struct mc146818 *rtc, uint8_t v)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_24H)
		return from_reg(rtc, v);
	return from_reg(rtc, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

/* Write the guest's current time into the time registers. */
static void time_to_regs(struct mc146818 *rtc, int64_t secs)
{
	time_t t = (time_t)secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	rtc->cmos[RTC_SEC] = to_reg(rtc, (unsigned)tm.tm_sec);
	rtc->cmos[RTC_MIN] = to_reg(rtc, (unsigned)tm.tm_min);
	rtc->cmos[RTC_HOUR] = hour_to_reg(rtc, (unsigned)tm.tm_hour);
	rtc->cmos[RTC_WDAY] = to_reg(rtc, (unsigned)tm.tm_wday + 1);
	rtc->cmos[RTC_MDAY] = to_reg(rtc, (unsigned)tm.tm_mday);
	rtc->cmos[RTC_MONTH] = to_reg(rtc, (unsigned)tm.tm_mon + 1);
	rtc->cmos[RTC_YEAR] = to_reg(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	rtc->cmos[RTC_CENTURY] = to_reg(rtc, (unsigned)(tm.tm_year + 1900) / 100);
}

/* The time the guest wrote into the registers, in seconds since the epoch. */
static int64_t regs_to_time(const struct mc146818 *rtc)
{
	struct tm tm = {0};
	unsigned century = from_reg(rtc, rtc->cmos[RTC_CENTURY]);

	if (century < 19 || century > 99)
		century = 20;
	tm.tm_sec = (int)MIN(from_reg(rtc, rtc->cmos[RTC_SEC]), 59u);
	tm.tm_min = (int)MIN(from_reg(rtc, rtc->cmos[RTC_MIN]), 59u);
	tm.tm_hour = (int)MIN(hour_from_reg(rtc, rtc->cmos[RTC_HOUR]), 23u);
	tm.tm_mday = (int)MAX(MIN(from_reg(rtc, rtc->cmos[RTC_MDAY]), 31u), 1u);
	tm.tm_mon = (int)MAX(MIN(from_reg(rtc, rtc->cmos[RTC_MONTH]), 12u), 1u) - 1;
	tm.tm_year = (int)(century * 100 + MIN(from_reg(rtc, rtc->cmos[RTC_YEAR]), 99u)) - 1900;
	return (int64_t)timegm(&tm);
}

static bool is_time_reg(unsigned reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR || reg == RTC_WDAY ||
	       reg == RTC_MDAY || reg == RTC_MONTH || reg == RTC_YEAR || reg == RTC_CENTURY;
}

/* Periodic interrupt period from register A's rate bits; 0 when off. */
static int64_t periodic_ns(const struct mc146818 *rtc)
{
	unsigned rs = rtc->cmos[RTC_REG_A] & REG_A_RS;

	if (!rs || (rtc->cmos[RTC_REG_A] & REG_A_DV) != DV_NORMAL)
		return 0;
	if (rs < 3)
		rs += 7; /* rates 1 and 2 repeat rates 8 and 9 */
	return (int64_t)((NS_PER_SEC << (rs - 1)) / 32768);
}

/* Raise or lower the IRQ line from the flags in C and the enables in B. */
static void update_irq(struct mc146818 *rtc)
{
	uint8_t b = rtc->cmos[RTC_REG_B], c = rtc->cmos[RTC_REG_C] & ~REG_C_IRQF;
	bool level = (c & REG_C_PF && b & REG_B_PIE) || (c & REG_C_AF && b & REG_B_AIE) ||
		     (c & REG_C_UF && b & REG_B_UIE);

	rtc->cmos[RTC_REG_C] = (uint8_t)(c | (level ? REG_C_IRQF : 0));
	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		vm_set_irq(rtc->vm, PC_RTC_IRQ, level);
	}
}

/* Does the alarm match the time now in the registers? 0xc0-0xff means "any". */
static bool alarm_matches(const struct mc146818 *rtc)
{
	static const unsigned pairs[3][2] = {
	    {RTC_SEC_ALARM, RTC_SEC}, {RTC_MIN_ALARM, RTC_MIN}, {RTC_HOUR_ALARM, RTC_HOUR}};

	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		uint8_t alarm = rtc->cmos[pairs[i][0]];
		if ((alarm & 0xc0) != 0xc0 && alarm != rtc->cmos[pairs[i][1]])
			return false;
	}
	return true;
}

/* An update cycle ended at guest second secs: latch UF and AF. */
static void update_cycle(struct mc146818 *rtc, int64_t secs)
{
	rtc->uf_epoch = secs;
	time_to_regs(rtc, secs);
	rtc->cmos[RTC_REG_C] |= REG_C_UF;
	if (alarm_matches(rtc))
		rtc->cmos[RTC_REG_C] |= REG_C_AF;
}

/* Arm (or stop) the timers that deliver interrupts the guest enabled. */
static void rearm_timers(struct mc146818 *rtc)
{
	uint8_t b = rtc->cmos[RTC_REG_B];
	int64_t period = periodic_ns(rtc);

	if (rtc->periodic) {
		if (period && (b & REG_B_PIE))
			evloop_timer_arm(rtc->periodic, (uint64_t)period, (uint64_t)period);
		else
			evloop_timer_disarm(rtc->periodic);
	}
	if (rtc->update) {
		if (clock_running(rtc) && (b & (REG_B_UIE | REG_B_AIE)))
			evloop_timer_arm(rtc->update,
					 (uint64_t)(NS_PER_SEC - realtime_ns() % NS_PER_SEC), 0);
		else
			evloop_timer_disarm(rtc->update);
	}
}

/* Periodic timer (I/O thread). */
static void periodic_fired(void *opaque)
{
	struct mc146818 *rtc = opaque;

	pthread_mutex_lock(&rtc->vm->lock);
	rtc->cmos[RTC_REG_C] |= REG_C_PF;
	update_irq(rtc);
	pthread_mutex_unlock(&rtc->vm->lock);
}

/* Second boundary (I/O thread): the update cycle ends. */
static void update_fired(void *opaque)
{
	struct mc146818 *rtc = opaque;

	pthread_mutex_lock(&rtc->vm->lock);
	if (clock_running(rtc)) {
		update_cycle(rtc, guest_seconds(rtc));
		update_irq(rtc);
	}
	rearm_timers(rtc);
	pthread_mutex_unlock(&rtc->vm->lock);
}

/* Flags that became due while their timers were not running (polling guests). */
static void catch_up_flags(struct mc146818 *rtc)
{
	int64_t period = periodic_ns(rtc), now = (int64_t)clock_ns(), secs;

	if (period && now - rtc->pf_epoch >= period) {
		rtc->cmos[RTC_REG_C] |= REG_C_PF;
		rtc->pf_epoch = now;
	}
	if (clock_running(rtc)) {
		secs = guest_seconds(rtc);
		if (secs != rtc->uf_epoch)
			update_cycle(rtc, secs);
	}
}

static uint8_t cmos_read(struct mc146818 *rtc, unsigned reg)
{
	uint8_t v;

	if (is_time_reg(reg) && clock_running(rtc))
		time_to_regs(rtc, guest_seconds(rtc));
	switch (reg) {
	case RTC_REG_A:
		v = rtc->cmos[RTC_REG_A] & ~REG_A_UIP;
		if (clock_running(rtc) && realtime_ns() % NS_PER_SEC >= NS_PER_SEC - UIP_NS)
			v |= REG_A_UIP;
		return v;
	case RTC_REG_C:
		catch_up_flags(rtc);
		update_irq(rtc);
		v = rtc->cmos[RTC_REG_C];
		rtc->cmos[RTC_REG_C] = 0;
		rtc->pf_epoch = (int64_t)clock_ns();
		update_irq(rtc);
		return v;
	default:
		return rtc->cmos[reg];
	}
}

/*
 * Registers A and B can stop the clock (DV, SET) or restart it: the time
 * registers hold the frozen time while it is stopped, and the guest time
 * continues from them when it runs again.
 */
static void write_control(struct mc146818 *rtc, unsigned reg, uint8_t val)
{
	bool was_running = clock_running(rtc);

	if (was_running)
		time_to_regs(rtc, guest_seconds(rtc));
	if (reg == RTC_REG_A) {
		rtc->cmos[RTC_REG_A] = val & ~REG_A_UIP;
		rtc->pf_epoch = (int64_t)clock_ns();
	} else {
		rtc->cmos[RTC_REG_B] =
		    (val & REG_B_SET) ? val & ~REG_B_UIE : val; /* SET clears UIE */
	}
	if (!was_running && clock_running(rtc)) {
		rtc->offset_sec = regs_to_time(rtc) - realtime_ns() / NS_PER_SEC;
		rtc->uf_epoch = guest_seconds(rtc);
	}
	update_irq(rtc);
	rearm_timers(rtc);
}

static void cmos_write(struct mc146818 *rtc, unsigned reg, uint8_t val)
{
	switch (reg) {
	case RTC_REG_A:
	case RTC_REG_B:
		write_control(rtc, reg, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		if (is_time_reg(reg) && clock_running(rtc)) {
			/* Setting one field of a running clock moves the clock. */
			time_to_regs(rtc, guest_seconds(rtc));
			rtc->cmos[reg] = val;
			rtc->offset_sec = regs_to_time(rtc) - realtime_ns() / NS_PER_SEC;
			rtc->uf_epoch = guest_seconds(rtc);
			break;
		}
		rtc->cmos[reg] = val;
		break;
	}
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct mc146818 *rtc = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++) {
		uint8_t b = 0xff; /* the index port is write-only */
		if (offset + i == 1)
			b = cmos_read(rtc, rtc->index);
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void rtc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct mc146818 *rtc = opaque;

	for (unsigned i = 0; i < size && offset + i < 2; i++) {
		uint8_t b = (uint8_t)(value >> (8 * i));
		if (offset + i == 0) {
			rtc->index = b & 0x7f;
			rtc->nmi_masked = b & NMI_DISABLE;
		} else {
			cmos_write(rtc, rtc->index, b);
		}
	}
}

static const struct io_ops rtc_ops = {.read = rtc_read, .write = rtc_write};

static void put16(uint8_t *cmos, unsigned reg, uint64_t v)
{
	v = MIN(v, 0xffffu);
	cmos[reg] = (uint8_t)v;
	cmos[reg + 1] = (uint8_t)(v >> 8);
}

/* Memory sizes and machine facts as PC firmware reads them. */
static void init_cmos(struct mc146818 *rtc)
{
	struct vm *vm = rtc->vm;
	uint8_t *c = rtc->cmos;
	uint64_t high64k = vm->high_ram_size / (64 * KiB);
	unsigned sum = 0;

	c[RTC_REG_A] = DV_NORMAL | 0x06; /* 1024 Hz periodic rate */
	c[RTC_REG_B] = REG_B_24H;
	c[RTC_REG_D] = REG_D_VRT;
	c[0x14] = 0x02; /* equipment: math coprocessor */
	put16(c, 0x15, 640);
	if (vm->low_ram_size > 1 * MiB) {
		put16(c, 0x17, (vm->low_ram_size - 1 * MiB) / KiB);
		put16(c, 0x30, (vm->low_ram_size - 1 * MiB) / KiB);
	}
	if (vm->low_ram_size > 16 * MiB)
		put16(c, 0x34, (vm->low_ram_size - 16 * MiB) / (64 * KiB));
	high64k = MIN(high64k, 0xffffffu);
	c[0x5b] = (uint8_t)high64k;
	c[0x5c] = (uint8_t)(high64k >> 8);
	c[0x5d] = (uint8_t)(high64k >> 16);
	c[0x5f] = (uint8_t)(vm->ncpus > 0 ? vm->ncpus - 1 : 0);
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += c[i];
	c[0x2e] = (uint8_t)(sum >> 8);
	c[0x2f] = (uint8_t)sum;
}

struct mc146818 *mc146818_new(struct vm *vm)
{
	struct mc146818 *rtc = xcalloc(1, sizeof(*rtc));

	rtc->vm = vm;
	init_cmos(rtc);
	rtc->pf_epoch = (int64_t)clock_ns();
	rtc->uf_epoch = guest_seconds(rtc);
	time_to_regs(rtc, rtc->uf_epoch);
	if (vm->loop) {
		rtc->periodic = evloop_timer_new(vm->loop, periodic_fired, rtc);
		rtc->update = evloop_timer_new(vm->loop, update_fired, rtc);
		if (!rtc->periodic || !rtc->update)
			goto fail;
	}
	if (iobus_add(&vm->pio, PC_RTC_PORT, 2, &rtc_ops, rtc, "mc146818") < 0)
		goto fail;
	return rtc;
fail:
	evloop_timer_free(rtc->periodic);
	evloop_timer_free(rtc->update);
	free(rtc);
	return NULL;
}

void mc146818_free(struct mc146818 *rtc)
{
	if (!rtc)
		return;
	iobus_del(&rtc->vm->pio, PC_RTC_PORT, rtc);
	evloop_timer_free(rtc->periodic);
	evloop_timer_free(rtc->update);
	free(rtc);
}

bool mc146818_nmi_masked(const struct mc146818 *rtc)
{
	return rtc->nmi_masked;
}
