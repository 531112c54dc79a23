/* raw driver and generic block-layer checks: I/O, bounds, read-only, discard, zeroes, resize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block/block.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char file[64];
static char errbuf[512];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(file, sizeof(file), "/tmp/berth-raw-XXXXXX");
	fd = mkstemp(file);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return unlink(file);
}

static void test_create_rw(void **state)
{
	struct blk_create_opts o = {.format = "raw", .size = 3 * MiB};
	uint8_t buf[10000], rd[10000];
	struct blockdev *bs;

	(void)state;
	assert_int_equal(blk_create(file, &o, errbuf, sizeof(errbuf)), 0);
	bs = blk_open(file, "raw", 0, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	assert_int_equal(blk_size(bs), 3 * MiB);
	assert_string_equal(blk_format(bs), "raw");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13);
	assert_int_equal(blk_pwrite(bs, 12345, buf, sizeof(buf)), 0);
	assert_int_equal(blk_pread(bs, 12345, rd, sizeof(rd)), 0);
	assert_memory_equal(rd, buf, sizeof(buf));
	/* Requests past the end are refused, not truncated. */
	assert_int_equal(blk_pread(bs, 3 * MiB - 10, rd, 11), -ERANGE);
	assert_int_equal(blk_pwrite(bs, UINT64_MAX - 5, buf, 10), -ERANGE);
	assert_int_equal(blk_flush(bs), 0);
	/* Vectors: consecutive on disk; the whole request is bounds-checked. */
	{
		uint8_t a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8}, out[8];
		struct iovec w[] = {{a, 3}, {NULL, 0}, {b, 5}};
		struct iovec r[] = {{out, 2}, {out + 2, 6}};

		assert_int_equal(blk_pwritev(bs, 100, w, 3), 0);
		assert_int_equal(blk_preadv(bs, 100, r, 2), 0);
		for (int i = 0; i < 8; i++)
			assert_int_equal(out[i], i + 1);
		assert_int_equal(blk_pwritev(bs, 3 * MiB - 7, w, 3), -ERANGE);
	}
	/* Zeroes and discard of the whole written range. */
	assert_int_equal(blk_write_zeroes(bs, 12345, 100), 0);
	assert_int_equal(blk_pread(bs, 12345, rd, 200), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rd[i], 0);
	assert_memory_equal(rd + 100, buf + 100, 100);
	assert_int_equal(blk_resize(bs, MiB, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_size(bs), MiB);
	assert_int_equal(blk_close(bs), 0);

	bs = blk_open(file, "raw", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	assert_true(blk_is_readonly(bs));
	assert_int_equal(blk_pwrite(bs, 0, buf, 1), -EROFS);
	assert_int_equal(blk_discard(bs, 0, 4096), -EROFS);
	assert_int_equal(blk_pread(bs, 12445, rd, 100), 0);
	assert_memory_equal(rd, buf + 100, 100);
	blk_close(bs);
}

static void test_bad_open(void **state)
{
	(void)state;
	assert_null(blk_open("/nonexistent/x.img", "raw", 0, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "cannot open"));
	assert_null(blk_open(file, "vmdk", 0, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "unknown image format"));
	/* A raw file is not a qcow2 image. */
	assert_null(blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "qcow2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_rw),
	    cmocka_unit_test(test_bad_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
