/* virtio-console: guest output reaches the chardev, chardev input fills receive buffers. */
#include "vdriver.h"
#include "vmm/hw/chardev.h"
#include "vmm/virtio/console.h"

#include <unistd.h>

#define QSIZE 8
#define RXQ   0
#define TXQ   1

static struct vdriver drv;
static struct chardev *chr;
static struct virtio_console *con;
static char path[64];

static int setup(void **state)
{
	char spec[80];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/berth-vcon-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", path);
	vd_vm_new(&drv);
	chr = chardev_new(drv.vm, spec);
	assert_non_null(chr);
	con = virtio_console_new(drv.vm, drv.host, chr);
	assert_non_null(con);
	vd_attach(&drv, (unsigned)pci_dev_slot(virtio_pci_dev(virtio_console_transport(con))));
	assert_int_equal(vd_cfg_read(&drv, PCI_DEVICE_ID, 2), 0x1043);
	assert_true(vd_negotiate(&drv, 1ULL << VIRTIO_F_VERSION_1));
	vd_queue_setup(&drv, RXQ, QSIZE, VIRTIO_MSI_NO_VECTOR);
	vd_queue_setup(&drv, TXQ, QSIZE, VIRTIO_MSI_NO_VECTOR);
	vd_driver_ok(&drv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vd_detach(&drv);
	virtio_console_free(con);
	chardev_free(chr);
	vd_vm_free(&drv);
	unlink(path);
	return 0;
}

static void test_output(void **state)
{
	const char *msg = "hello from hvc0\n";
	uint64_t a = vd_alloc(&drv, 6, 1), b = vd_alloc(&drv, 64, 1);
	struct vd_buf bufs[2] = {{a, 6, false}, {b, (uint32_t)strlen(msg) - 6, false}};
	char got[64] = {0};
	size_t len;
	char *file;

	(void)state;
	memcpy(vd_ptr(&drv, a), msg, 6);
	memcpy(vd_ptr(&drv, b), msg + 6, strlen(msg) - 6);
	vd_publish(&drv, TXQ, vd_chain(&drv, TXQ, bufs, 2));
	vd_kick(&drv, TXQ);
	assert_true(vd_wait_used(&drv, TXQ, 1));
	file = read_file(path, &len);
	assert_non_null(file);
	assert_int_equal(len, strlen(msg));
	memcpy(got, file, len);
	assert_string_equal(got, msg);
	free(file);
}

static void test_input_and_flow_control(void **state)
{
	uint64_t a = vd_alloc(&drv, 4, 1), b = vd_alloc(&drv, 16, 1);
	struct vd_buf ba = {a, 4, true}, bb = {b, 16, true};
	uint32_t id, len;

	(void)state;
	/* No receive buffer posted: the console takes nothing. */
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"xyz", 3), 0);
	vd_publish(&drv, RXQ, vd_chain(&drv, RXQ, &ba, 1));
	vd_publish(&drv, RXQ, vd_chain(&drv, RXQ, &bb, 1));
	vd_kick(&drv, RXQ);
	/* The first buffer holds 4 bytes: that is what one feed can take. */
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"abcdefgh", 8), 4);
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"efgh", 4), 4);
	assert_true(vd_wait_used(&drv, RXQ, 2));
	vd_used_elem(&drv, RXQ, 0, &id, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_ptr(&drv, a), "abcd", 4);
	vd_used_elem(&drv, RXQ, 1, &id, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_ptr(&drv, b), "efgh", 4);
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"z", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_and_flow_control, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
