#include "vmm/hw/acpi_pm.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stdlib.h>

/* Offsets in the PM block. */
#define OFF_PM1_STS 0x00
#define OFF_PM1_EN  0x02
#define OFF_PM1_CNT 0x04
#define OFF_PM_TMR  0x08
#define OFF_GPE_STS 0x10
#define OFF_GPE_EN  0x14

#define PM1_TMR_STS    0x0001
#define PM1_BM_STS     0x0010
#define PM1_GBL_STS    0x0020
#define PM1_PWRBTN_STS 0x0100
#define PM1_SLPBTN_STS 0x0200
#define PM1_RTC_STS    0x0400
#define PM1_WAK_STS    0x8000
#define PM1_STS_MASK                                                                               \
	(PM1_TMR_STS | PM1_BM_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS |  \
	 PM1_WAK_STS)
#define PM1_EN_MASK (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS)

#define CNT_SCI_EN  0x0001
#define CNT_BM_RLD  0x0002
#define CNT_SLP_TYP 0x1c00
#define CNT_SLP_EN  0x2000
#define CNT_RW_MASK (CNT_SCI_EN | CNT_BM_RLD | CNT_SLP_TYP)

#define RST_SYS_RST  0x02
#define RST_RST_CPU  0x04
#define RST_FULL_RST 0x08

#define PM_TIMER_HZ 3579545ULL
#define TMR_BIT	    23 /* TMR_STS follows this bit of the 24-bit counter */

struct acpi_pm {
	struct vm *vm;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint32_t gpe_sts, gpe_en;
	uint8_t rst_cnt;
	bool sci_level;
	uint64_t tmr_start;   /* clock_ns() when the counter was 0 */
	uint64_t tmr_epoch;   /* counter >> TMR_BIT when TMR_STS was last latched */
	struct ev_timer *tmr; /* delivers TMR_STS when TMR_EN is set */
	bool warned_sleep;
};

/* Ticks of the 3.579545 MHz counter since reset (not yet truncated to 24 bits). */
static uint64_t pm_ticks(const struct acpi_pm *pm)
{
	uint64_t ns = clock_ns() - pm->tmr_start;

	return ns / 1000000000ULL * PM_TIMER_HZ + ns % 1000000000ULL * PM_TIMER_HZ / 1000000000ULL;
}

/* Latch TMR_STS if bit 23 has toggled since the last latch. */
static void sync_tmr_sts(struct acpi_pm *pm, uint64_t ticks)
{
	if (ticks >> TMR_BIT != pm->tmr_epoch) {
		pm->tmr_epoch = ticks >> TMR_BIT;
		pm->pm1_sts |= PM1_TMR_STS;
	}
}

static void update_sci(struct acpi_pm *pm)
{
	bool level = (pm->pm1_cnt & CNT_SCI_EN) &&
		     ((pm->pm1_sts & pm->pm1_en & PM1_EN_MASK) || (pm->gpe_sts & pm->gpe_en));

	if (level != pm->sci_level) {
		pm->sci_level = level;
		vm_set_irq(pm->vm, PC_ACPI_SCI_IRQ, level);
	}
}

/* Keep a timer running to the next bit 23 toggle while TMR_EN is set. */
static void rearm_tmr(struct acpi_pm *pm)
{
	uint64_t ticks, left;

	if (!pm->tmr)
		return;
	if (!(pm->pm1_en & PM1_TMR_STS)) {
		evloop_timer_disarm(pm->tmr);
		return;
	}
	ticks = pm_ticks(pm);
	left = (((ticks >> TMR_BIT) + 1) << TMR_BIT) - ticks;
	evloop_timer_arm(pm->tmr, (left * 1000000000ULL + PM_TIMER_HZ - 1) / PM_TIMER_HZ, 0);
}

/* The PM timer's bit 23 toggled (I/O thread). */
static void tmr_fired(void *opaque)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->vm->lock);
	sync_tmr_sts(pm, pm_ticks(pm));
	update_sci(pm);
	rearm_tmr(pm);
	pthread_mutex_unlock(&pm->vm->lock);
}

/* SLP_EN was written: enter the sleep state SLP_TYP names. */
static void sleep_request(struct acpi_pm *pm)
{
	unsigned typ = (pm->pm1_cnt & CNT_SLP_TYP) >> 10;

	if (typ == PC_ACPI_S5_TYP) {
		log_info("guest powered off (ACPI S5)");
		vm_request_stop(pm->vm, VM_STOP_POWEROFF, 0);
		return;
	}
	if (!pm->warned_sleep) {
		log_warn("guest asked for ACPI sleep type %u, which is not supported; waking it",
			 typ);
		pm->warned_sleep = true;
	}
	pm->pm1_sts |= PM1_WAK_STS;
}

static uint8_t byte_of(uint32_t v, unsigned i)
{
	return (uint8_t)(v >> (8 * i));
}

static uint8_t pm_read_byte(struct acpi_pm *pm, unsigned off, uint64_t ticks)
{
	switch (off) {
	case OFF_PM1_STS ... OFF_PM1_STS + 1:
		sync_tmr_sts(pm, ticks);
		return byte_of(pm->pm1_sts, off - OFF_PM1_STS);
	case OFF_PM1_EN ... OFF_PM1_EN + 1:
		return byte_of(pm->pm1_en, off - OFF_PM1_EN);
	case OFF_PM1_CNT ... OFF_PM1_CNT + 1:
		return byte_of(pm->pm1_cnt, off - OFF_PM1_CNT);
	case OFF_PM_TMR ... OFF_PM_TMR + 3:
		return byte_of((uint32_t)(ticks & 0xffffff), off - OFF_PM_TMR);
	case OFF_GPE_STS ... OFF_GPE_STS + 3:
		return byte_of(pm->gpe_sts, off - OFF_GPE_STS);
	case OFF_GPE_EN ... OFF_GPE_EN + 3:
		return byte_of(pm->gpe_en, off - OFF_GPE_EN);
	default:
		return 0;
	}
}

/* Replace byte i of *reg, keeping bits outside mask. */
static void set_byte16(uint16_t *reg, unsigned i, uint8_t v, uint16_t mask)
{
	uint16_t lane = (uint16_t)(0xff << (8 * i)) & mask;

	*reg = (uint16_t)((*reg & ~lane) | ((uint16_t)(v << (8 * i)) & lane));
}

static void set_byte32(uint32_t *reg, unsigned i, uint8_t v)
{
	*reg = (*reg & ~(0xffu << (8 * i))) | ((uint32_t)v << (8 * i));
}

/* Write one byte; returns true if it set SLP_EN. */
static bool pm_write_byte(struct acpi_pm *pm, unsigned off, uint8_t v, uint64_t ticks)
{
	switch (off) {
	case OFF_PM1_STS ... OFF_PM1_STS + 1:
		sync_tmr_sts(pm, ticks);
		pm->pm1_sts &= ~((uint16_t)(v << (8 * (off - OFF_PM1_STS))) & PM1_STS_MASK);
		break;
	case OFF_PM1_EN ... OFF_PM1_EN + 1:
		set_byte16(&pm->pm1_en, off - OFF_PM1_EN, v, PM1_EN_MASK);
		break;
	case OFF_PM1_CNT ... OFF_PM1_CNT + 1:
		set_byte16(&pm->pm1_cnt, off - OFF_PM1_CNT, v, CNT_RW_MASK);
		return off == OFF_PM1_CNT + 1 && (v << 8) & CNT_SLP_EN;
	case OFF_GPE_STS ... OFF_GPE_STS + 3:
		pm->gpe_sts &= ~((uint32_t)v << (8 * (off - OFF_GPE_STS)));
		break;
	case OFF_GPE_EN ... OFF_GPE_EN + 3:
		set_byte32(&pm->gpe_en, off - OFF_GPE_EN, v);
		break;
	default:
		break; /* the timer and reserved bytes are read-only */
	}
	return false;
}

static uint64_t pm_read(void *opaque, uint64_t offset, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint64_t ticks = pm_ticks(pm), v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)pm_read_byte(pm, (unsigned)offset + i, ticks) << (8 * i);
	update_sci(pm);
	return v;
}

static void pm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint64_t ticks = pm_ticks(pm);
	bool sleep = false;

	for (unsigned i = 0; i < size; i++)
		sleep |=
		    pm_write_byte(pm, (unsigned)offset + i, (uint8_t)(value >> (8 * i)), ticks);
	if (sleep)
		sleep_request(pm);
	update_sci(pm);
	rearm_tmr(pm);
}

static const struct io_ops pm_ops = {.read = pm_read, .write = pm_write};

static uint64_t rst_read(void *opaque, uint64_t offset, unsigned size)
{
	struct acpi_pm *pm = opaque;

	(void)offset;
	(void)size;
	return pm->rst_cnt;
}

static void rst_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct acpi_pm *pm = opaque;

	(void)offset;
	(void)size;
	pm->rst_cnt = (uint8_t)value & (RST_SYS_RST | RST_FULL_RST);
	if (value & RST_RST_CPU) {
		log_info("guest reset the machine through the reset control register");
		vm_request_stop(pm->vm, VM_STOP_RESET, 0);
	}
}

static const struct io_ops rst_ops = {.read = rst_read, .write = rst_write};

struct acpi_pm *acpi_pm_new(struct vm *vm)
{
	struct acpi_pm *pm = xcalloc(1, sizeof(*pm));

	pm->vm = vm;
	pm->pm1_cnt = CNT_SCI_EN;
	pm->tmr_start = clock_ns();
	if (vm->loop) {
		pm->tmr = evloop_timer_new(vm->loop, tmr_fired, pm);
		if (!pm->tmr)
			goto fail;
	}
	if (iobus_add(&vm->pio, PC_ACPI_PM_BASE, PC_ACPI_PM_LEN, &pm_ops, pm, "acpi-pm") < 0)
		goto fail;
	if (iobus_add(&vm->pio, PC_RESET_PORT, 1, &rst_ops, pm, "reset-control") < 0) {
		iobus_del(&vm->pio, PC_ACPI_PM_BASE, pm);
		goto fail;
	}
	return pm;
fail:
	evloop_timer_free(pm->tmr);
	free(pm);
	return NULL;
}

void acpi_pm_free(struct acpi_pm *pm)
{
	if (!pm)
		return;
	iobus_del(&pm->vm->pio, PC_ACPI_PM_BASE, pm);
	iobus_del(&pm->vm->pio, PC_RESET_PORT, pm);
	evloop_timer_free(pm->tmr);
	free(pm);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->vm->lock);
	pm->pm1_sts |= PM1_PWRBTN_STS;
	update_sci(pm);
	pthread_mutex_unlock(&pm->vm->lock);
}

void acpi_pm_gpe_set(struct acpi_pm *pm, unsigned bit)
{
	if (bit >= 32)
		return;
	pm->gpe_sts |= 1u << bit;
	update_sci(pm);
}
