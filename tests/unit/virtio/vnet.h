/*
 * The guest side of a virtio-net NIC for the tests: bring the device up on a
 * back end, post receive buffers, send frames and wait for received ones.
 */
#ifndef BERTH_TESTS_VIRTIO_VNET_H
#define BERTH_TESTS_VIRTIO_VNET_H

#include "vdriver.h"
#include "vmm/virtio/net.h"

#define QSIZE 16
#define RXQ   0
#define TXQ   1
#define HDR   12
#define RXBUF 2048

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static struct vdriver drv;
static struct virtio_net *net;
static uint64_t rx_bufs[QSIZE];

/* Plug a NIC on spec, bring the driver up and post QSIZE receive buffers. */
static inline void attach(const char *spec)
{
	vd_vm_new(&drv);
	net = virtio_net_new(drv.vm, drv.host, spec, guest_mac);
	assert_non_null(net);
	vd_attach(&drv, (unsigned)pci_dev_slot(virtio_pci_dev(virtio_net_transport(net))));
	assert_true(vd_negotiate(&drv, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5) | (1ULL << 16)));
	vd_msix_enable(&drv, 3);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	vd_queue_setup(&drv, RXQ, QSIZE, 1);
	vd_queue_setup(&drv, TXQ, QSIZE, 2);
	vd_driver_ok(&drv);
}

static inline void post_rx_buffers(uint32_t size)
{
	for (unsigned i = 0; i < QSIZE; i++) {
		struct vd_buf b;

		rx_bufs[i] = vd_alloc(&drv, size, 16);
		b = (struct vd_buf){rx_bufs[i], size, true};
		vd_publish(&drv, RXQ, vd_chain(&drv, RXQ, &b, 1));
	}
	vd_kick(&drv, RXQ);
}

static inline int setup(void **state)
{
	(void)state;
	attach("user");
	post_rx_buffers(RXBUF);
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	vd_detach(&drv);
	virtio_net_free(net);
	vd_vm_free(&drv);
	return 0;
}

/* Send one frame (header + frame in two buffers) and wait for the device to take it. */
static inline void send_frame(const uint8_t *frame, size_t len)
{
	uint64_t hdr = vd_alloc(&drv, HDR, 8), data = vd_alloc(&drv, len, 8);
	struct vd_buf b[2] = {{hdr, HDR, false}, {data, (uint32_t)len, false}};
	uint16_t target = drv.q[TXQ].avail_idx + 1;

	memcpy(vd_ptr(&drv, data), frame, len);
	vd_publish(&drv, TXQ, vd_chain(&drv, TXQ, b, 2));
	vd_kick(&drv, TXQ);
	assert_true(vd_wait_used(&drv, TXQ, target));
}

/*
 * Wait up to ms for the next received frame that satisfies match (any when NULL);
 * copies it (without the header) into out and returns its length, 0 on timeout.
 */
static inline size_t recv_frame_within(uint8_t *out, bool (*match)(const uint8_t *, size_t),
				       unsigned ms)
{
	uint64_t end = vd_now_ms() + ms;

	while (vd_now_ms() < end) {
		uint16_t used = __atomic_load_n(&vd_used(&drv, RXQ)[1], __ATOMIC_ACQUIRE);

		while (drv.q[RXQ].used_seen != used) {
			uint32_t id, len;
			const uint8_t *p;
			struct vd_buf b;

			vd_used_elem(&drv, RXQ, drv.q[RXQ].used_seen++, &id, &len);
			assert_true(len >= HDR && len <= RXBUF);
			p = vd_ptr(&drv, vd_desc_table(&drv, RXQ)[id].addr);
			/* num_buffers is 1 without mergeable buffers. */
			assert_int_equal(p[10] | p[11] << 8, 1);
			memcpy(out, p + HDR, len - HDR);
			/* Give the buffer back. */
			b = (struct vd_buf){vd_desc_table(&drv, RXQ)[id].addr, RXBUF, true};
			vd_publish(&drv, RXQ, vd_chain(&drv, RXQ, &b, 1));
			vd_kick(&drv, RXQ);
			if (!match || match(out, len - HDR))
				return len - HDR;
		}
		vd_sleep_ms(1);
	}
	return 0;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline size_t recv_frame(uint8_t *out, bool (*match)(const uint8_t *, size_t))
{
	return recv_frame_within(out, match, VD_TIMEOUT_MS);
}

#endif
