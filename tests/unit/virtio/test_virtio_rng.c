/* virtio-rng: buffers come back full of random bytes, at most 64 KiB per request. */
#include "vdriver.h"
#include "vmm/virtio/rng.h"

#define QSIZE 8

static struct vdriver drv;
static struct virtio_rng *rng;

static int setup(void **state)
{
	(void)state;
	vd_vm_new(&drv);
	rng = virtio_rng_new(drv.vm, drv.host);
	assert_non_null(rng);
	vd_attach(&drv, (unsigned)pci_dev_slot(virtio_pci_dev(virtio_rng_transport(rng))));
	assert_int_equal(vd_cfg_read(&drv, PCI_DEVICE_ID, 2), 0x1044);
	assert_true(vd_negotiate(&drv, 1ULL << VIRTIO_F_VERSION_1));
	vd_queue_setup(&drv, 0, QSIZE, VIRTIO_MSI_NO_VECTOR);
	vd_driver_ok(&drv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vd_detach(&drv);
	virtio_rng_free(rng);
	vd_vm_free(&drv);
	return 0;
}

/* Post one device-writable buffer of len bytes; returns its guest address. */
static uint64_t request(uint32_t len, uint32_t *used_len)
{
	uint64_t gpa = vd_alloc(&drv, len, 8);
	struct vd_buf b = {gpa, len, true};
	uint16_t target = drv.q[0].avail_idx + 1;
	uint32_t id;

	vd_publish(&drv, 0, vd_chain(&drv, 0, &b, 1));
	vd_kick(&drv, 0);
	assert_true(vd_wait_used(&drv, 0, target));
	vd_used_elem(&drv, 0, target - 1, &id, used_len);
	return gpa;
}

static void test_fills_buffers(void **state)
{
	uint32_t len1, len2;
	uint64_t a, b;
	uint8_t zero[64] = {0};

	(void)state;
	a = request(64, &len1);
	b = request(64, &len2);
	assert_int_equal(len1, 64);
	assert_int_equal(len2, 64);
	assert_memory_not_equal(vd_ptr(&drv, a), zero, 64);
	assert_memory_not_equal(vd_ptr(&drv, a), vd_ptr(&drv, b), 64);
	/* INTx (no MSI-X): the ISR says a queue interrupt is pending. */
	assert_int_equal(vm_mmio_read(drv.vm, drv.isr, 1), VIRTIO_ISR_QUEUE);
}

static void test_large_request_is_capped(void **state)
{
	uint32_t len;
	uint64_t a;
	uint8_t *p;

	(void)state;
	a = request(1 * MiB, &len);
	assert_int_equal(len, 64 * 1024);
	p = vd_ptr(&drv, a);
	/* Past the cap the buffer is untouched (vd_alloc zeroed it). */
	for (unsigned i = 64 * 1024; i < 64 * 1024 + 256; i++)
		assert_int_equal(p[i], 0);
}

static void test_readable_buffer_gets_nothing(void **state)
{
	uint64_t gpa = vd_alloc(&drv, 16, 8);
	struct vd_buf b = {gpa, 16, false};
	uint32_t id, len;

	(void)state;
	vd_publish(&drv, 0, vd_chain(&drv, 0, &b, 1));
	vd_kick(&drv, 0);
	assert_true(vd_wait_used(&drv, 0, 1));
	vd_used_elem(&drv, 0, 0, &id, &len);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fills_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_request_is_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_buffer_gets_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
