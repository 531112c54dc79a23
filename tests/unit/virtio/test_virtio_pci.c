/*
 * virtio-pci transport and the queue core seen from a guest driver: identity
 * and capabilities, feature negotiation, queue setup, data flow with MSI-X and
 * INTx, the device configuration (BAR and PCI_CFG window), and hostile rings:
 * every violation must set DEVICE_NEEDS_RESET and send a configuration
 * interrupt, never crash or hang, and a reset must bring the device back.
 */
#include "vdriver.h"

#include <pthread.h>

#define ECHO_QUEUES 2
#define ECHO_QSIZE  8
#define ECHO_FILL   0xa5

#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define F_INDIRECT  (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ULL << VIRTIO_F_EVENT_IDX)
#define F_ECHO_TEST (1ULL << 3) /* a device feature the echo device offers */

/*
 * The device under test: it fills every in buffer with ECHO_FILL, reports
 * the in length as written, and remembers how many out bytes it saw.
 */
struct echo {
	struct vm *vm;
	struct virtio_pci *vp;
	uint8_t config[8];
	uint64_t out_bytes;
	unsigned resets;
};

static void echo_notify(void *opaque, unsigned q)
{
	struct echo *e = opaque;
	struct virtq *vq;
	struct virtq_elem *el;

	pthread_mutex_lock(&e->vm->lock);
	vq = virtio_pci_queue(e->vp, q);
	while (virtio_pci_running(e->vp) && (el = virtq_pop(vq))) {
		for (unsigned i = 0; i < el->nin; i++)
			memset(el->in[i].iov_base, ECHO_FILL, el->in[i].iov_len);
		e->out_bytes += el->out_len;
		virtq_push(vq, el, (uint32_t)el->in_len);
		virtio_pci_notify(e->vp, q);
	}
	pthread_mutex_unlock(&e->vm->lock);
}

static void echo_reset(void *opaque)
{
	struct echo *e = opaque;

	e->resets++;
}

static void echo_config_write(void *opaque, unsigned off, unsigned size, uint32_t value)
{
	struct echo *e = opaque;

	/* Only byte 4 is writable. */
	if (off == 4 && size == 1)
		e->config[4] = (uint8_t)value;
}

static const struct virtio_dev_ops echo_ops = {
    .queue_notify = echo_notify,
    .reset = echo_reset,
    .config_write = echo_config_write,
};

static struct vdriver drv;
static struct echo echo;

static int setup(void **state)
{
	struct virtio_pci_desc desc = {
	    .name = "echo",
	    .device_type = VIRTIO_ID_RNG,
	    .class_code = 0xff0000,
	    .features = F_ECHO_TEST,
	    .nqueues = ECHO_QUEUES,
	    .queue_size = ECHO_QSIZE,
	    .config = echo.config,
	    .config_size = sizeof(echo.config),
	    .ops = &echo_ops,
	    .opaque = &echo,
	};

	(void)state;
	vd_vm_new(&drv);
	memset(&echo, 0, sizeof(echo));
	memcpy(echo.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	echo.vm = drv.vm;
	echo.vp = virtio_pci_new(drv.vm, drv.host, &desc);
	assert_non_null(echo.vp);
	vd_attach(&drv, (unsigned)pci_dev_slot(virtio_pci_dev(echo.vp)));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vd_detach(&drv);
	virtio_pci_free(echo.vp);
	vd_vm_free(&drv);
	return 0;
}

/* Negotiate, set up both queues (vectors 1 and 2, config vector 0), DRIVER_OK. */
static void bring_up(uint64_t features, bool msix)
{
	assert_true(vd_negotiate(&drv, F_VERSION_1 | features));
	if (msix) {
		vd_msix_enable(&drv, ECHO_QUEUES + 1);
		vd_common_write(&drv, VIRTIO_PCI_COMMON_MSIX, 0, 2);
		assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	}
	for (unsigned q = 0; q < ECHO_QUEUES; q++)
		vd_queue_setup(&drv, q, ECHO_QSIZE, msix ? q + 1 : VIRTIO_MSI_NO_VECTOR);
	vd_driver_ok(&drv);
	assert_int_equal(vd_status(&drv) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
}

/* One out buffer of 16 bytes and one in buffer of 32, through queue q; checks the result. */
static void roundtrip(unsigned q)
{
	uint64_t out = vd_alloc(&drv, 16, 8), in = vd_alloc(&drv, 32, 8);
	struct vd_buf b[] = {{out, 16, false}, {in, 32, true}};
	uint16_t head = vd_chain(&drv, q, b, 2), target = drv.q[q].avail_idx + 1;
	uint32_t id, len;
	uint8_t *p = vd_ptr(&drv, in);

	vd_publish(&drv, q, head);
	vd_kick(&drv, q);
	assert_true(vd_wait_used(&drv, q, target));
	vd_used_elem(&drv, q, target - 1, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(p[i], ECHO_FILL);
}

static void test_identity_and_capabilities(void **state)
{
	uint32_t bar_lo;

	(void)state;
	assert_int_equal(vd_cfg_read(&drv, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_int_equal(vd_cfg_read(&drv, PCI_REVISION_ID, 1), 1);
	assert_int_equal(vd_cfg_read(&drv, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_true(vd_cfg_read(&drv, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(drv.notify_mult, VIRTIO_PCI_NOTIFY_MULT);
	assert_int_equal(drv.common - drv.bar, VIRTIO_PCI_COMMON_OFF);
	assert_int_equal(drv.device - drv.bar, VIRTIO_PCI_DEVICE_OFF);
	assert_int_equal(vd_cfg_read(&drv, drv.cap[VIRTIO_PCI_CAP_DEVICE_CFG] + 12, 4), 8);
	/* BAR 0 is a 64-bit memory BAR of 32 KiB. */
	vd_cfg_write(&drv, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	bar_lo = vd_cfg_read(&drv, PCI_BASE_ADDRESS_0, 4);
	assert_int_equal(bar_lo & 0x6, 0x4);
	assert_int_equal(~(bar_lo & ~15u) + 1, VIRTIO_PCI_BAR_SIZE);
	vd_cfg_write(&drv, PCI_BASE_ADDRESS_0, 4, (uint32_t)drv.bar);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_NUMQ, 2), ECHO_QUEUES);
	/* A queue that does not exist reads size 0. */
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SELECT, ECHO_QUEUES, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
}

static void test_feature_negotiation(void **state)
{
	uint64_t f;

	(void)state;
	f = vd_device_features(&drv);
	assert_true(f & F_VERSION_1);
	assert_true(f & F_INDIRECT);
	assert_true(f & F_EVENT_IDX);
	assert_true(f & F_ECHO_TEST);
	/* A legacy driver (no VERSION_1) is refused, so is a feature never offered. */
	assert_false(vd_negotiate(&drv, F_ECHO_TEST));
	assert_false(vd_negotiate(&drv, F_VERSION_1 | (1ULL << 20)));
	assert_true(vd_negotiate(&drv, F_VERSION_1 | F_ECHO_TEST));
	vd_common_write(&drv, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_GF, 4), F_ECHO_TEST);
	/* Features cannot change once FEATURES_OK is set. */
	vd_common_write(&drv, VIRTIO_PCI_COMMON_GF, 0, 4);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_GF, 4), F_ECHO_TEST);
	/* Reset clears the status and calls the device. */
	vd_common_write(&drv, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	assert_int_equal(vd_status(&drv), 0);
	assert_true(echo.resets >= 1);
}

static void test_queue_registers(void **state)
{
	(void)state;
	assert_true(vd_negotiate(&drv, F_VERSION_1));
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_SIZE, 2), ECHO_QSIZE);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_DESCLO, 0x12345000, 4);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_DESCHI, 0x1, 4);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0x12345000);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0x1);
	/* MSI-X vectors out of range read back as NO_VECTOR. */
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_MSIX, 99, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
	/* Once enabled, the queue's parameters are frozen. */
	vd_queue_setup(&drv, 0, 4, 1);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SIZE, 2, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_SIZE, 2), 4);
	assert_false(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_data_flow_msix(void **state)
{
	(void)state;
	bring_up(0, true);
	roundtrip(0);
	roundtrip(1);
	roundtrip(1);
	assert_int_equal(echo.out_bytes, 48);
	assert_int_equal(vd_msi_count(&drv, 0x41), 1);
	assert_int_equal(vd_msi_count(&drv, 0x42), 2);
	assert_int_equal(vd_msi_count(&drv, 0x40), 0); /* no config interrupt */
	/* Many rounds wrap the 8-entry ring several times. */
	for (int i = 0; i < 20; i++)
		roundtrip(0);
	assert_int_equal(vd_msi_count(&drv, 0x41), 21);
}

static void test_data_flow_intx(void **state)
{
	unsigned gsi;

	(void)state;
	bring_up(0, false);
	gsi = pc_pci_intx_gsi(drv.slot, 0);
	roundtrip(0);
	pthread_mutex_lock(&drv.vm->lock);
	assert_true(fake.level[gsi]);
	pthread_mutex_unlock(&drv.vm->lock);
	/* Reading the ISR acknowledges: queue bit, then 0, line low. */
	assert_int_equal(vm_mmio_read(drv.vm, drv.isr, 1), VIRTIO_ISR_QUEUE);
	assert_int_equal(vm_mmio_read(drv.vm, drv.isr, 1), 0);
	pthread_mutex_lock(&drv.vm->lock);
	assert_false(fake.level[gsi]);
	pthread_mutex_unlock(&drv.vm->lock);
	assert_int_equal(fake.nmsi, 0);
}

static void test_interrupt_suppression(void **state)
{
	uint16_t *avail;

	(void)state;
	/* Without event index: VIRTQ_AVAIL_F_NO_INTERRUPT silences the queue. */
	bring_up(0, true);
	avail = vd_avail(&drv, 0);
	avail[0] = 1;
	roundtrip(0);
	assert_int_equal(vd_msi_count(&drv, 0x41), 0);
	avail[0] = 0;
	roundtrip(0);
	assert_int_equal(vd_msi_count(&drv, 0x41), 1);
}

static void test_event_index(void **state)
{
	uint16_t *avail, *used;

	(void)state;
	bring_up(F_EVENT_IDX, true);
	avail = vd_avail(&drv, 0);
	used = vd_used(&drv, 0);
	/* The first completion always interrupts; the device publishes avail_event. */
	roundtrip(0);
	assert_int_equal(vd_msi_count(&drv, 0x41), 1);
	assert_int_equal(used[2 + 4 * ECHO_QSIZE], 1);
	/* used_event = 5: no interrupt until the used index passes 5. */
	avail[2 + ECHO_QSIZE] = 5;
	for (int i = 0; i < 4; i++)
		roundtrip(0);
	assert_int_equal(vd_msi_count(&drv, 0x41), 1);
	roundtrip(0); /* used idx 5 -> 6 crosses used_event */
	assert_int_equal(vd_msi_count(&drv, 0x41), 2);
	assert_int_equal(used[2 + 4 * ECHO_QSIZE], 6);
}

static void test_indirect_descriptors(void **state)
{
	uint64_t table, out, in;
	struct vd_desc *t;
	struct vd_buf b;
	uint16_t head;
	uint32_t id, len;

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 3 * 16, 16);
	out = vd_alloc(&drv, 10, 1);
	in = vd_alloc(&drv, 100, 1);
	t = vd_ptr(&drv, table);
	t[0] = (struct vd_desc){out, 10, 1, 2};
	t[2] = (struct vd_desc){in, 60, 3, 1};
	t[1] = (struct vd_desc){in + 60, 40, 2, 0};
	b = (struct vd_buf){table, 3 * 16, false};
	head = vd_chain(&drv, 0, &b, 1);
	vd_desc_table(&drv, 0)[head].flags = 4;
	vd_publish(&drv, 0, head);
	vd_kick(&drv, 0);
	assert_true(vd_wait_used(&drv, 0, 1));
	vd_used_elem(&drv, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 100);
	assert_int_equal(echo.out_bytes, 10);
	assert_int_equal(((uint8_t *)vd_ptr(&drv, in))[99], ECHO_FILL);
}

static void test_device_config(void **state)
{
	unsigned c;

	(void)state;
	assert_int_equal(vm_mmio_read(drv.vm, drv.device, 4), 0x44332211);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 6, 2), 0x8877);
	/* Out of range reads 0; writes go through the device's filter. */
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 8, 4), 0);
	vm_mmio_write(drv.vm, drv.device + 4, 0x99, 1);
	vm_mmio_write(drv.vm, drv.device + 0, 0, 4);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device, 8), 0x8877669944332211ULL);
	/* The PCI_CFG capability window reaches the same registers. */
	c = drv.cap[VIRTIO_PCI_CAP_PCI_CFG];
	vd_cfg_write(&drv, c + 4, 1, 0);
	vd_cfg_write(&drv, c + 8, 4, VIRTIO_PCI_DEVICE_OFF + 4);
	vd_cfg_write(&drv, c + 12, 4, 2);
	assert_int_equal(vd_cfg_read(&drv, c + 16, 4), 0x6699);
	/* And the common configuration: writing status through the window. */
	vd_cfg_write(&drv, c + 8, 4, VIRTIO_PCI_COMMON_STATUS);
	vd_cfg_write(&drv, c + 12, 4, 1);
	vd_cfg_write(&drv, c + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vd_status(&drv), VIRTIO_STATUS_ACKNOWLEDGE);
	/* A misaligned window does nothing. */
	vd_cfg_write(&drv, c + 8, 4, VIRTIO_PCI_DEVICE_OFF + 1);
	vd_cfg_write(&drv, c + 12, 4, 2);
	assert_int_equal(vd_cfg_read(&drv, c + 16, 4), 0);
}

/* ---- hostile drivers ---- */

/*
 * After the test broke a rule on queue 0: the device must report
 * DEVICE_NEEDS_RESET with a configuration interrupt (vector 0), complete
 * nothing, ignore further kicks, and work again after a reset.
 */
static void expect_needs_reset(void)
{
	uint16_t used_before = vd_used(&drv, 0)[1];

	assert_true(vd_wait_needs_reset(&drv));
	assert_int_equal(vd_msi_count(&drv, 0x40), 1);
	vd_kick(&drv, 0);
	vd_kick(&drv, 1);
	vd_sleep_ms(20);
	assert_int_equal(vd_used(&drv, 0)[1], used_before);
	/* Reading the status again does not clear it; a reset does. */
	assert_true(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
	bring_up(F_INDIRECT, true);
	assert_false(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
	roundtrip(0);
	roundtrip(1);
}

/* Publish a chain written by hand into descriptors 0..n-1 and kick. */
static void send_raw(const struct vd_desc *d, unsigned n, uint16_t head)
{
	struct vd_desc *t = vd_desc_table(&drv, 0);

	for (unsigned i = 0; i < n; i++)
		t[i] = d[i];
	vd_publish(&drv, 0, head);
	vd_kick(&drv, 0);
}

static void test_bad_head_index(void **state)
{
	(void)state;
	bring_up(F_INDIRECT, true);
	send_raw(NULL, 0, ECHO_QSIZE); /* head 8 of an 8-entry table */
	expect_needs_reset();
}

static void test_bad_next_index(void **state)
{
	uint64_t buf;

	(void)state;
	bring_up(F_INDIRECT, true);
	buf = vd_alloc(&drv, 64, 8);
	send_raw((struct vd_desc[]){{buf, 8, 1, 0xffff}}, 1, 0);
	expect_needs_reset();
}

static void test_chain_loop(void **state)
{
	uint64_t buf;

	(void)state;
	bring_up(F_INDIRECT, true);
	buf = vd_alloc(&drv, 64, 8);
	/* 0 -> 1 -> 2 -> 0 ...: the walk must stop after the queue size. */
	send_raw((struct vd_desc[]){{buf, 8, 1, 1}, {buf, 8, 1, 2}, {buf, 8, 1, 0}}, 3, 0);
	expect_needs_reset();
}

static void test_self_loop(void **state)
{
	uint64_t buf;

	(void)state;
	bring_up(F_INDIRECT, true);
	buf = vd_alloc(&drv, 64, 8);
	send_raw((struct vd_desc[]){{buf, 8, 3, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_buffer_outside_ram(void **state)
{
	(void)state;
	bring_up(F_INDIRECT, true);
	/* In the PCI hole, far above RAM. */
	send_raw((struct vd_desc[]){{PC_PCI_MMIO_BASE, 16, 2, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_buffer_crossing_ram_end(void **state)
{
	(void)state;
	bring_up(F_INDIRECT, true);
	send_raw((struct vd_desc[]){{VD_RAM_SIZE - 8, 16, 2, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_address_wraps(void **state)
{
	(void)state;
	bring_up(F_INDIRECT, true);
	/* addr + len overflows 64 bits. */
	send_raw((struct vd_desc[]){{0xfffffffffffffff0ULL, 0x100, 2, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_total_length_overflow(void **state)
{
	uint64_t table;
	struct vd_desc *t;
	unsigned n = 300; /* 300 x 16 MiB > 4 GiB, all inside RAM */

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 16ULL * n, 16);
	t = vd_ptr(&drv, table);
	for (unsigned i = 0; i < n; i++)
		t[i] = (struct vd_desc){0, (uint32_t)VD_RAM_SIZE, (uint16_t)(2 | (i + 1 < n)),
					(uint16_t)(i + 1)};
	send_raw((struct vd_desc[]){{table, 16 * n, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_avail_index_jump(void **state)
{
	uint16_t *avail;

	(void)state;
	bring_up(F_INDIRECT, true);
	avail = vd_avail(&drv, 0);
	__atomic_store_n(&avail[1], ECHO_QSIZE + 1, __ATOMIC_RELEASE);
	vd_kick(&drv, 0);
	expect_needs_reset();
}

static void test_write_then_read_order(void **state)
{
	uint64_t buf;

	(void)state;
	bring_up(F_INDIRECT, true);
	buf = vd_alloc(&drv, 64, 8);
	send_raw((struct vd_desc[]){{buf, 8, 3, 1}, {buf + 8, 8, 0, 0}}, 2, 0);
	expect_needs_reset();
}

static void test_indirect_misaligned_length(void **state)
{
	uint64_t table;

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 64, 16);
	send_raw((struct vd_desc[]){{table, 24, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_indirect_nested(void **state)
{
	uint64_t table, inner;
	struct vd_desc *t;

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 32, 16);
	inner = vd_alloc(&drv, 16, 16);
	t = vd_ptr(&drv, table);
	t[0] = (struct vd_desc){inner, 16, 4, 0};
	send_raw((struct vd_desc[]){{table, 32, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_indirect_with_next(void **state)
{
	uint64_t table, buf;
	struct vd_desc *t;

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 16, 16);
	buf = vd_alloc(&drv, 16, 16);
	t = vd_ptr(&drv, table);
	t[0] = (struct vd_desc){buf, 16, 2, 0};
	send_raw((struct vd_desc[]){{table, 16, 5, 1}, {buf, 16, 2, 0}}, 2, 0);
	expect_needs_reset();
}

static void test_indirect_not_negotiated(void **state)
{
	uint64_t table, buf;
	struct vd_desc *t;

	(void)state;
	bring_up(0, true);
	table = vd_alloc(&drv, 16, 16);
	buf = vd_alloc(&drv, 16, 16);
	t = vd_ptr(&drv, table);
	t[0] = (struct vd_desc){buf, 16, 2, 0};
	send_raw((struct vd_desc[]){{table, 16, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_indirect_loop(void **state)
{
	uint64_t table, buf;
	struct vd_desc *t;

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 32, 16);
	buf = vd_alloc(&drv, 16, 16);
	t = vd_ptr(&drv, table);
	t[0] = (struct vd_desc){buf, 16, 3, 1};
	t[1] = (struct vd_desc){buf, 16, 3, 0};
	send_raw((struct vd_desc[]){{table, 32, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_indirect_too_many_buffers(void **state)
{
	uint64_t table, buf;
	struct vd_desc *t;
	unsigned n = VIRTQ_MAX_SEGS + 1; /* a valid chain, but longer than any device takes */

	(void)state;
	bring_up(F_INDIRECT, true);
	table = vd_alloc(&drv, 16ULL * n, 16);
	buf = vd_alloc(&drv, 16, 16);
	t = vd_ptr(&drv, table);
	for (unsigned i = 0; i < n; i++)
		t[i] = (struct vd_desc){buf, 1, (uint16_t)(2 | (i + 1 < n)), (uint16_t)(i + 1)};
	send_raw((struct vd_desc[]){{table, 16 * n, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_indirect_table_outside_ram(void **state)
{
	(void)state;
	bring_up(F_INDIRECT, true);
	send_raw((struct vd_desc[]){{VD_RAM_SIZE - 16, 32, 4, 0}}, 1, 0);
	expect_needs_reset();
}

static void test_requeue_runs_the_queue_again(void **state)
{
	uint64_t in;
	struct vd_buf b;

	(void)state;
	bring_up(0, true);
	vd_sleep_ms(20); /* DRIVER_OK rang every doorbell once: let that pass */
	in = vd_alloc(&drv, 16, 8);
	b = (struct vd_buf){in, 16, true};
	/* Published but not kicked: a requeue (what a device does after its budget) runs it. */
	vd_publish(&drv, 0, vd_chain(&drv, 0, &b, 1));
	vd_sleep_ms(20);
	assert_int_equal(vd_used(&drv, 0)[1], 0);
	virtio_pci_requeue(echo.vp, 0);
	assert_true(vd_wait_used(&drv, 0, 1));
	assert_int_equal(((uint8_t *)vd_ptr(&drv, in))[15], ECHO_FILL);
}

static void test_needs_reset_with_intx(void **state)
{
	unsigned gsi = pc_pci_intx_gsi(drv.slot, 0);

	(void)state;
	bring_up(F_INDIRECT, false);
	send_raw(NULL, 0, ECHO_QSIZE);
	assert_true(vd_wait_needs_reset(&drv));
	/* Without MSI-X the configuration interrupt is ISR bit 1 on INTA#. */
	pthread_mutex_lock(&drv.vm->lock);
	assert_true(fake.level[gsi]);
	pthread_mutex_unlock(&drv.vm->lock);
	assert_int_equal(vm_mmio_read(drv.vm, drv.isr, 1), VIRTIO_ISR_CONFIG);
	pthread_mutex_lock(&drv.vm->lock);
	assert_false(fake.level[gsi]);
	pthread_mutex_unlock(&drv.vm->lock);
	/* The driver cannot clear DEVICE_NEEDS_RESET short of a reset. */
	vd_common_write(&drv, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_true(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	assert_int_equal(vd_status(&drv), 0);
}

static void test_driver_cannot_set_needs_reset(void **state)
{
	(void)state;
	bring_up(0, true);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_STATUS, vd_status(&drv) | VIRTIO_STATUS_NEEDS_RESET,
			1);
	assert_false(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
	roundtrip(0);
}

static void test_no_dma_without_bus_master(void **state)
{
	uint64_t in;
	struct vd_buf b;

	(void)state;
	bring_up(0, true);
	vd_cfg_write(&drv, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	in = vd_alloc(&drv, 16, 8);
	b = (struct vd_buf){in, 16, true};
	vd_publish(&drv, 0, vd_chain(&drv, 0, &b, 1));
	vd_kick(&drv, 0);
	vd_sleep_ms(50);
	assert_int_equal(vd_used(&drv, 0)[1], 0);
	assert_int_equal(((uint8_t *)vd_ptr(&drv, in))[0], 0);
}

static void test_rings_outside_ram(void **state)
{
	(void)state;
	assert_true(vd_negotiate(&drv, F_VERSION_1));
	vd_msix_enable(&drv, ECHO_QUEUES + 1);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_DESCLO, VD_RAM_SIZE - 64, 4);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x1000, 4);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_USEDLO, 0x2000, 4);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
	vd_driver_ok(&drv);
	/* DRIVER_OK came after the error: no interrupt was owed before it. */
	bring_up(F_INDIRECT, true);
	roundtrip(0);
}

static void test_bad_queue_size(void **state)
{
	(void)state;
	assert_true(vd_negotiate(&drv, F_VERSION_1));
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_SIZE, 3, 2);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(vd_common_read(&drv, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_and_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_negotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_flow_msix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_flow_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interrupt_suppression, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_descriptors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_head_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_next_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_crossing_ram_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_address_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_total_length_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_avail_index_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_then_read_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_misaligned_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_nested, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_with_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_too_many_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_table_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requeue_runs_the_queue_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_needs_reset_with_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_driver_cannot_set_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_dma_without_bus_master, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rings_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_size, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
