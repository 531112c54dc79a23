/*
 * The soft accelerator's board-level interrupt wiring: the IOAPIC, the 8259
 * pair and the 8254 behind one lock, registered on the VM's buses.
 *
 * GSI n drives IOAPIC pin n and, for ISA IRQs, 8259 input n, except that the
 * PIT's IRQ0 is GSI 2 (IOAPIC pin 2, the MADT's override) while it stays on
 * 8259 input 0; IRQ2 is the cascade and never a GSI. The 8259's INT output
 * goes to every local APIC's LINT0 (only the BSP's is set to ExtINT).
 *
 * Lock order: vm->lock (held around bus dispatch), then cs->lock, then one
 * lapic's lock. Every entry point here takes cs->lock, so interrupts may be
 * raised from any thread with or without vm->lock.
 */
#include "vmm/accel/soft/chipset.h"
#include "vmm/hw/i8254.h"
#include "vmm/hw/i8259.h"
#include "vmm/hw/ioapic.h"
#include "vmm/machine/pc.h"
#include "common/log.h"
#include "common/util.h"

#include <stdatomic.h>
#include <stdlib.h>

/* The bus ranges the chipset answers; each has its own opaque naming it. */
enum chipset_port_kind {
	PORT_IOAPIC,
	PORT_PIC_MASTER,
	PORT_PIC_SLAVE,
	PORT_ELCR,
	PORT_PIT,
	PORT_61,
	PORT_COUNT
};

struct chipset_port {
	struct soft_chipset *cs;
	enum chipset_port_kind kind;
};

struct soft_chipset {
	struct vm *vm;
	struct chipset_port ports[PORT_COUNT];
	pthread_mutex_t lock;
	struct ioapic ioapic;
	struct i8259 pic;
	struct i8254 pit;
	atomic_bool pic_output; /* the 8259's INT, readable without the lock */
};

/* The 8259 input a GSI reaches, or -1. */
static int gsi_to_pic_irq(unsigned gsi)
{
	if (gsi == PC_PIT_GSI)
		return PC_PIT_IRQ;
	if (gsi >= 16 || gsi == PC_PIT_IRQ)
		return -1; /* GSI 0 is unused: IRQ0 is GSI 2 */
	return (int)gsi;
}

/* Drive a GSI with the chipset lock held. */
static void set_irq_locked(struct soft_chipset *cs, unsigned gsi, bool level)
{
	int irq = gsi_to_pic_irq(gsi);

	ioapic_set_irq(&cs->ioapic, gsi, level);
	if (irq >= 0)
		i8259_set_irq(&cs->pic, (unsigned)irq, level);
}

/* 8259 INT changed: tell every LAPIC's LINT0. */
static void pic_output_changed(void *opaque, bool level)
{
	struct soft_chipset *cs = opaque;
	struct soft_vm *sv = soft_vm_of(cs->vm);

	atomic_store(&cs->pic_output, level);
	for (int i = 0; sv && i < cs->vm->ncpus && i < VM_MAX_VCPUS; i++)
		if (sv->lapics[i])
			lapic_set_lint(sv->lapics[i], 0, level);
}

/* PIT channel 0 output edge: a pulse on IRQ0. */
static void pit_irq(void *opaque)
{
	struct soft_chipset *cs = opaque;

	set_irq_locked(cs, PC_PIT_GSI, true);
	set_irq_locked(cs, PC_PIT_GSI, false);
}

/* PIT channel 0 reprogrammed: wake the vCPUs so whoever polls sees the new deadline. */
static void pit_reprogrammed(void *opaque)
{
	struct soft_chipset *cs = opaque;
	struct soft_vm *sv = soft_vm_of(cs->vm);

	for (int i = 0; sv && i < cs->vm->ncpus && i < VM_MAX_VCPUS; i++)
		if (sv->lapics[i])
			lapic_kick(sv->lapics[i]);
}

/* --- bus callbacks --- */

/* Bus read callback for every chipset range. */
static uint64_t chipset_read(void *opaque, uint64_t offset, unsigned size)
{
	struct chipset_port *port = opaque;
	struct soft_chipset *cs = port->cs;
	uint64_t v;

	pthread_mutex_lock(&cs->lock);
	switch (port->kind) {
	case PORT_IOAPIC:
		v = ioapic_read(&cs->ioapic, offset, size);
		break;
	case PORT_PIC_MASTER:
	case PORT_PIC_SLAVE:
		v = i8259_read(&cs->pic, port->kind == PORT_PIC_SLAVE, (unsigned)offset);
		break;
	case PORT_ELCR:
		v = i8259_elcr_read(&cs->pic, (unsigned)offset);
		break;
	case PORT_PIT:
		v = i8254_read(&cs->pit, (unsigned)offset, soft_now_ns());
		break;
	default:
		v = i8254_port61_read(&cs->pit, soft_now_ns());
		break;
	}
	pthread_mutex_unlock(&cs->lock);
	return v;
}

/* Bus write callback for every chipset range. */
static void chipset_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct chipset_port *port = opaque;
	struct soft_chipset *cs = port->cs;

	pthread_mutex_lock(&cs->lock);
	switch (port->kind) {
	case PORT_IOAPIC:
		ioapic_write(&cs->ioapic, offset, value, size);
		break;
	case PORT_PIC_MASTER:
	case PORT_PIC_SLAVE:
		i8259_write(&cs->pic, port->kind == PORT_PIC_SLAVE, (unsigned)offset,
			    (uint8_t)value);
		break;
	case PORT_ELCR:
		i8259_elcr_write(&cs->pic, (unsigned)offset, (uint8_t)value);
		break;
	case PORT_PIT:
		i8254_write(&cs->pit, (unsigned)offset, (uint8_t)value, soft_now_ns());
		break;
	default:
		i8254_port61_write(&cs->pit, (uint8_t)value, soft_now_ns());
		break;
	}
	pthread_mutex_unlock(&cs->lock);
}

static const struct io_ops chipset_ops = {chipset_read, chipset_write};

/* Everything the chipset puts on the buses, indexed by enum chipset_port_kind. */
static const struct chipset_range {
	bool mmio;
	uint64_t base, len;
	const char *name;
} chipset_ranges[PORT_COUNT] = {
    [PORT_IOAPIC] = {true, PC_IOAPIC_BASE, IOAPIC_MMIO_LEN, "ioapic"},
    [PORT_PIC_MASTER] = {false, I8259_MASTER_PORT, 2, "i8259-master"},
    [PORT_PIC_SLAVE] = {false, I8259_SLAVE_PORT, 2, "i8259-slave"},
    [PORT_ELCR] = {false, I8259_ELCR_PORT, 2, "elcr"},
    [PORT_PIT] = {false, I8254_PORT, I8254_PORT_LEN, "i8254"},
    [PORT_61] = {false, I8254_PORT61, 1, "port61"},
};

/* The bus a chipset range lives on. */
static struct io_bus *range_bus(struct vm *vm, unsigned kind)
{
	return chipset_ranges[kind].mmio ? &vm->mmio : &vm->pio;
}

/* Create the IOAPIC, PIC and PIT and put them on the buses. */
struct soft_chipset *soft_chipset_new(struct vm *vm)
{
	struct soft_chipset *cs = xcalloc(1, sizeof(*cs));
	unsigned i;

	cs->vm = vm;
	pthread_mutex_init(&cs->lock, NULL);
	ioapic_init(&cs->ioapic, vm);
	i8259_init(&cs->pic, pic_output_changed, cs);
	i8254_init(&cs->pit, pit_irq, pit_reprogrammed, cs);
	for (i = 0; i < PORT_COUNT; i++) {
		const struct chipset_range *r = &chipset_ranges[i];

		cs->ports[i] = (struct chipset_port){cs, (enum chipset_port_kind)i};
		if (iobus_add(range_bus(vm, i), r->base, r->len, &chipset_ops, &cs->ports[i],
			      r->name) < 0)
			goto fail;
	}
	return cs;

fail:
	log_error("soft chipset: cannot register %s", chipset_ranges[i].name);
	while (i-- > 0)
		iobus_del(range_bus(vm, i), chipset_ranges[i].base, &cs->ports[i]);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
	return NULL;
}

/* Take the chips off the buses and free them. */
void soft_chipset_free(struct soft_chipset *cs)
{
	if (!cs)
		return;
	for (unsigned i = 0; i < PORT_COUNT; i++)
		iobus_del(range_bus(cs->vm, i), chipset_ranges[i].base, &cs->ports[i]);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
}

/* A device drove a GSI. */
void soft_chipset_set_irq(struct soft_chipset *cs, unsigned gsi, bool level)
{
	if (gsi >= PC_IOAPIC_PINS) {
		log_error("soft chipset: GSI %u does not exist (%d pins)", gsi, PC_IOAPIC_PINS);
		return;
	}
	pthread_mutex_lock(&cs->lock);
	set_irq_locked(cs, gsi, level);
	pthread_mutex_unlock(&cs->lock);
}

/* A LAPIC EOI'd a level-triggered vector. */
void soft_chipset_eoi(struct soft_chipset *cs, uint8_t vector)
{
	pthread_mutex_lock(&cs->lock);
	ioapic_eoi(&cs->ioapic, vector);
	pthread_mutex_unlock(&cs->lock);
}

/* ExtINT acknowledge: the PIC's vector, or -1. */
int soft_chipset_pic_ack(struct soft_chipset *cs)
{
	int v;

	pthread_mutex_lock(&cs->lock);
	v = i8259_ack(&cs->pic);
	pthread_mutex_unlock(&cs->lock);
	return v;
}

/* Is the PIC's INT asserted (lock-free)? */
bool soft_chipset_pic_pending(struct soft_chipset *cs)
{
	return atomic_load_explicit(&cs->pic_output, memory_order_acquire);
}

/* Advance the PIT; returns its next deadline. */
uint64_t soft_chipset_poll(struct soft_chipset *cs, uint64_t now_ns)
{
	uint64_t next;

	pthread_mutex_lock(&cs->lock);
	next = i8254_poll(&cs->pit, now_ns);
	pthread_mutex_unlock(&cs->lock);
	return next;
}
