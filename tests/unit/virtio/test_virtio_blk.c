/*
 * virtio-blk driven by the C guest driver on temporary raw and qcow2 images:
 * configuration, read, write (checked host-side), flush, discard,
 * write-zeroes, read-only disks, out-of-range sectors, GET_ID, unknown
 * requests and malformed ones.
 */
#include "vdriver.h"
#include "block/block.h"
#include "vmm/virtio/blk.h"

#include <fcntl.h>
#include <unistd.h>

#define DISK_SIZE (1 * MiB)
#define SECTORS	  (DISK_SIZE / 512)
#define QSIZE	  16

#define T_IN	       0
#define T_OUT	       1
#define T_FLUSH	       4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13
#define S_OK	       0
#define S_IOERR	       1
#define S_UNSUPP       2

#define F_RO	       (1ULL << 5)
#define F_BLK_SIZE     (1ULL << 6)
#define F_FLUSH	       (1ULL << 9)
#define F_DISCARD      (1ULL << 13)
#define F_WRITE_ZEROES (1ULL << 14)
#define F_SEG_MAX      (1ULL << 2)

static struct vdriver drv;
static struct virtio_blk *blk;
static char path[64];

/* Byte i of the image as created. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

static void make_raw(void)
{
	uint8_t *buf = xmalloc(DISK_SIZE);
	int fd;

	snprintf(path, sizeof(path), "/tmp/berth-vblk-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < DISK_SIZE; i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, DISK_SIZE), DISK_SIZE);
	close(fd);
	free(buf);
}

/* Plug the disk and bring the driver up with features (masked by what is offered). */
static void attach(const char *format, bool readonly, uint64_t want)
{
	uint64_t offered;

	vd_vm_new(&drv);
	blk = virtio_blk_new(drv.vm, drv.host, path, format, readonly,
			     "berth-test-serial-0123456789");
	assert_non_null(blk);
	vd_attach(&drv, (unsigned)pci_dev_slot(virtio_pci_dev(virtio_blk_transport(blk))));
	offered = vd_device_features(&drv);
	assert_true(vd_negotiate(&drv, (1ULL << VIRTIO_F_VERSION_1) | (want & offered)));
	vd_msix_enable(&drv, 2);
	vd_common_write(&drv, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	vd_queue_setup(&drv, 0, QSIZE, 1);
	vd_driver_ok(&drv);
}

static void detach(void)
{
	vd_detach(&drv);
	virtio_blk_free(blk);
	vd_vm_free(&drv);
}

static int setup_raw(void **state)
{
	(void)state;
	make_raw();
	attach("raw", false, ~0ULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	detach();
	unlink(path);
	return 0;
}

struct req {
	uint32_t type;
	uint64_t sector;
	const void *out; /* data after the header */
	uint32_t out_len;
	uint32_t in_len; /* data before the status byte */
	uint8_t *in;	 /* filled with what the device wrote */
	uint32_t used_len;
};

/* Send one request as header, data, status buffers; returns the status byte. */
static uint8_t request(struct req *r)
{
	uint64_t hdr = vd_alloc(&drv, 16, 8), status = vd_alloc(&drv, 1, 1), data = 0;
	struct vd_buf b[3];
	unsigned n = 0;
	uint16_t head, target;
	uint32_t id;
	uint8_t *h = vd_ptr(&drv, hdr);

	memcpy(h, &r->type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &r->sector, 8);
	*(uint8_t *)vd_ptr(&drv, status) = 0xff;
	b[n++] = (struct vd_buf){hdr, 16, false};
	if (r->out_len) {
		data = vd_alloc(&drv, r->out_len, 8);
		memcpy(vd_ptr(&drv, data), r->out, r->out_len);
		b[n++] = (struct vd_buf){data, r->out_len, false};
	} else if (r->in_len) {
		data = vd_alloc(&drv, r->in_len, 8);
		memset(vd_ptr(&drv, data), 0xee, r->in_len);
		b[n++] = (struct vd_buf){data, r->in_len, true};
	}
	b[n++] = (struct vd_buf){status, 1, true};
	head = vd_chain(&drv, 0, b, n);
	target = drv.q[0].avail_idx + 1;
	vd_publish(&drv, 0, head);
	vd_kick(&drv, 0);
	assert_true(vd_wait_used(&drv, 0, target));
	vd_used_elem(&drv, 0, target - 1, &id, &r->used_len);
	assert_int_equal(id, head);
	if (r->in)
		memcpy(r->in, vd_ptr(&drv, data), r->in_len);
	return *(uint8_t *)vd_ptr(&drv, status);
}

static uint8_t rw(uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	struct req r = {.type = type, .sector = sector};

	if (type == T_OUT) {
		r.out = buf;
		r.out_len = len;
	} else {
		r.in = buf;
		r.in_len = len;
	}
	return request(&r);
}

static uint8_t discard(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
	uint8_t seg[16];
	struct req r = {.type = type, .out = seg, .out_len = 16};

	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &n, 4);
	memcpy(seg + 12, &flags, 4);
	return request(&r);
}

/* The image's bytes as the host sees them. */
static void host_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_config(void **state)
{
	uint64_t f;

	(void)state;
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 0, 8), SECTORS);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 12, 4),
			 254); /* seg_max: queue size - 2 */
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 20, 4), 512); /* blk_size */
	assert_true(vm_mmio_read(drv.vm, drv.device + 36, 4) > 0);	 /* max_discard_sectors */
	assert_true(vm_mmio_read(drv.vm, drv.device + 40, 4) > 0);	 /* max_discard_seg */
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 56, 1), 1);	 /* may unmap */
	f = vd_device_features(&drv);
	assert_true(f & F_FLUSH);
	assert_true(f & F_DISCARD);
	assert_true(f & F_WRITE_ZEROES);
	assert_true(f & F_SEG_MAX);
	assert_true(f & F_BLK_SIZE);
	assert_false(f & F_RO);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 0x20, 1), 0); /* writeback */
}

static void test_read(void **state)
{
	uint8_t buf[1536];

	(void)state;
	assert_int_equal(rw(T_IN, 5, buf, sizeof(buf)), S_OK);
	for (unsigned i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], pattern(5 * 512 + i));
	/* The last sector is readable. */
	assert_int_equal(rw(T_IN, SECTORS - 1, buf, 512), S_OK);
	assert_int_equal(buf[511], pattern(DISK_SIZE - 1));
}

static void test_write_and_flush(void **state)
{
	uint8_t data[1024], back[1024];
	struct req r = {.type = T_FLUSH};

	(void)state;
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x5a ^ i);
	assert_int_equal(rw(T_OUT, 10, data, sizeof(data)), S_OK);
	assert_int_equal(request(&r), S_OK);
	assert_int_equal(r.used_len, 1);
	host_read(10 * 512, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	/* Neighbours untouched. */
	host_read(9 * 512, back, 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(back[i], pattern(9 * 512 + i));
	/* And the guest reads it back. */
	memset(back, 0, sizeof(back));
	assert_int_equal(rw(T_IN, 10, back, sizeof(back)), S_OK);
	assert_memory_equal(back, data, sizeof(data));
}

static void test_used_length(void **state)
{
	uint8_t buf[512];
	struct req r = {.type = T_IN, .sector = 0, .in = buf, .in_len = 512};

	(void)state;
	assert_int_equal(request(&r), S_OK);
	assert_int_equal(r.used_len, 513); /* data + status */
	r.sector = SECTORS;
	assert_int_equal(request(&r), S_IOERR);
	assert_int_equal(r.used_len, 1);
}

static void test_out_of_range(void **state)
{
	uint8_t buf[1024] = {0};

	(void)state;
	assert_int_equal(rw(T_IN, SECTORS, buf, 512), S_IOERR);
	assert_int_equal(rw(T_IN, SECTORS - 1, buf, 1024), S_IOERR);
	assert_int_equal(rw(T_OUT, SECTORS - 1, buf, 1024), S_IOERR);
	assert_int_equal(rw(T_IN, UINT64_MAX / 256, buf, 512), S_IOERR);
	assert_int_equal(rw(T_OUT, UINT64_MAX, buf, 512), S_IOERR);
	/* Not a whole number of sectors. */
	assert_int_equal(rw(T_IN, 0, buf, 100), S_IOERR);
	assert_int_equal(discard(T_DISCARD, SECTORS - 1, 2, 0), S_IOERR);
	/* The disk is intact. */
	host_read(DISK_SIZE - 512, buf, 512);
	assert_int_equal(buf[0], pattern(DISK_SIZE - 512));
}

static void test_discard_and_write_zeroes(void **state)
{
	uint8_t buf[4096], zero[4096] = {0};

	(void)state;
	assert_int_equal(discard(T_WRITE_ZEROES, 16, 8, 0), S_OK);
	assert_int_equal(rw(T_IN, 16, buf, 4096), S_OK);
	assert_memory_equal(buf, zero, 4096);
	host_read(16 * 512, buf, 4096);
	assert_memory_equal(buf, zero, 4096);
	assert_int_equal(discard(T_WRITE_ZEROES, 64, 8, 1), S_OK); /* unmap allowed */
	host_read(64 * 512, buf, 4096);
	assert_memory_equal(buf, zero, 4096);
	/* Discard succeeds; raw images punch a hole, which reads as zeroes. */
	assert_int_equal(discard(T_DISCARD, 128, 8, 0), S_OK);
	assert_int_equal(rw(T_IN, 128, buf, 4096), S_OK);
	assert_memory_equal(buf, zero, 4096);
	/* Discard must not carry the unmap flag; unknown flags are refused. */
	assert_int_equal(discard(T_DISCARD, 128, 8, 1), S_UNSUPP);
	assert_int_equal(discard(T_WRITE_ZEROES, 128, 8, 2), S_UNSUPP);
	/* Data outside the ranges survived. */
	host_read(24 * 512, buf, 512);
	assert_int_equal(buf[0], pattern(24 * 512));
}

static void test_get_id_and_unsupported(void **state)
{
	uint8_t id[20];
	struct req r = {.type = T_GET_ID, .in = id, .in_len = 20};

	(void)state;
	assert_int_equal(request(&r), S_OK);
	assert_memory_equal(id, "berth-test-serial-01", 20);
	assert_int_equal(r.used_len, 21);
	r = (struct req){.type = 99, .in = id, .in_len = 20};
	assert_int_equal(request(&r), S_UNSUPP);
}

static void test_missing_header_needs_reset(void **state)
{
	uint64_t hdr = vd_alloc(&drv, 8, 8), status = vd_alloc(&drv, 1, 1);
	struct vd_buf b[2] = {{hdr, 8, false}, {status, 1, true}};

	(void)state;
	vd_publish(&drv, 0, vd_chain(&drv, 0, b, 2));
	vd_kick(&drv, 0);
	assert_true(vd_wait_needs_reset(&drv));
	assert_int_equal(vd_msi_count(&drv, 0x40), 1);
}

static int setup_readonly(void **state)
{
	(void)state;
	make_raw();
	attach("raw", true, ~0ULL);
	return 0;
}

static void test_readonly(void **state)
{
	uint8_t data[512], back[512];
	struct req r = {.type = T_FLUSH};

	(void)state;
	assert_true(vd_device_features(&drv) & F_RO);
	assert_false(vd_device_features(&drv) & F_DISCARD);
	memset(data, 0x11, sizeof(data));
	assert_int_equal(rw(T_OUT, 0, data, 512), S_IOERR);
	assert_int_equal(discard(T_DISCARD, 0, 1, 0), S_UNSUPP);
	assert_int_equal(discard(T_WRITE_ZEROES, 0, 1, 0), S_UNSUPP);
	assert_int_equal(request(&r), S_OK);
	host_read(0, back, 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(back[i], pattern(i));
	assert_int_equal(rw(T_IN, 0, back, 512), S_OK);
	assert_int_equal(back[100], pattern(100));
}

static int setup_no_flush(void **state)
{
	(void)state;
	make_raw();
	attach("raw", false, 0);
	return 0;
}

static void test_write_through_without_flush_feature(void **state)
{
	uint8_t data[512], back[512];

	(void)state;
	memset(data, 0x77, sizeof(data));
	assert_int_equal(rw(T_OUT, 3, data, 512), S_OK);
	host_read(3 * 512, back, 512);
	assert_memory_equal(back, data, 512);
	/* Discard was not negotiated. */
	assert_int_equal(discard(T_DISCARD, 0, 1, 0), S_UNSUPP);
}

static int setup_qcow2(void **state)
{
	struct blk_create_opts o = {.format = "qcow2", .size = DISK_SIZE};
	char err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/berth-vblk-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(blk_create(path, &o, err, sizeof(err)), 0);
	attach("qcow2", false, ~0ULL);
	return 0;
}

static void test_qcow2(void **state)
{
	uint8_t data[2048], back[2048], zero[2048] = {0};
	struct blk_check_result res;
	struct blockdev *bs;
	char err[256];
	struct req r = {.type = T_FLUSH};

	(void)state;
	assert_int_equal(rw(T_IN, 100, back, sizeof(back)), S_OK);
	assert_memory_equal(back, zero, sizeof(back));
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	assert_int_equal(rw(T_OUT, 100, data, sizeof(data)), S_OK);
	assert_int_equal(request(&r), S_OK);
	assert_int_equal(rw(T_IN, 100, back, sizeof(back)), S_OK);
	assert_memory_equal(back, data, sizeof(data));
	/* The running disk holds the image lock: a second writer is refused... */
	assert_null(blk_open(path, "qcow2", 0, err, sizeof(err)));
	/* ...and a lock-free reader (qemu-img -U) sees the flushed data. */
	bs = blk_open(path, "qcow2", BLK_RDONLY | BLK_FORCE_SHARE, err, sizeof(err));
	assert_non_null(bs);
	assert_int_equal(blk_pread(bs, 100 * 512, back, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	blk_close(bs);
	detach();
	bs = blk_open(path, "qcow2", 0, err, sizeof(err));
	assert_non_null(bs);
	assert_int_equal(blk_check(bs, BLK_REPAIR_NONE, &res), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	blk_close(bs);
	/* Re-attach so teardown has something to detach. */
	attach("qcow2", false, ~0ULL);
}

static void test_bad_image(void **state)
{
	struct vdriver d;

	(void)state;
	vd_vm_new(&d);
	assert_null(virtio_blk_new(d.vm, d.host, "/nonexistent/disk.img", "raw", false, "x"));
	assert_null(virtio_blk_new(d.vm, d.host, "/dev/null", "qcow2", false, "x"));
	vd_vm_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_read, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_write_and_flush, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_used_length, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_range, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_discard_and_write_zeroes, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_get_id_and_unsupported, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_header_needs_reset, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly, setup_readonly, teardown),
	    cmocka_unit_test_setup_teardown(test_write_through_without_flush_feature,
					    setup_no_flush, teardown),
	    cmocka_unit_test_setup_teardown(test_qcow2, setup_qcow2, teardown),
	    cmocka_unit_test(test_bad_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
