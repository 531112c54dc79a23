/*
 * qcow2 driver tests: random I/O against an in-memory model (several cluster sizes, v2 and v3,
 * reopening in between), backing chains, snapshots, compressed clusters, resize, and malformed
 * images that must be rejected cleanly. Every test ends with a consistency check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block/block.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char errbuf[512];

static const char *path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/berth-qcow2-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void create_qcow2(const char *file, uint64_t size, uint32_t cs, int compat,
			 const char *backing, const char *bfmt)
{
	struct blk_create_opts o = {.format = "qcow2",
				    .size = size,
				    .cluster_size = cs,
				    .compat = compat,
				    .backing_file = backing,
				    .backing_format = bfmt};

	if (blk_create(file, &o, errbuf, sizeof(errbuf)) < 0)
		fail_msg("create %s: %s", file, errbuf);
}

static struct blockdev *open_rw(const char *file)
{
	struct blockdev *bs = blk_open(file, "qcow2", 0, errbuf, sizeof(errbuf));

	if (!bs)
		fail_msg("open %s: %s", file, errbuf);
	return bs;
}

/* The image must check clean: no corruption, no leak. */
static void assert_clean(const char *file)
{
	struct blockdev *bs =
	    blk_open(file, "qcow2", BLK_RDONLY | BLK_NO_BACKING, errbuf, sizeof(errbuf));
	struct blk_check_result r;

	assert_non_null(bs);
	assert_int_equal(blk_check(bs, BLK_REPAIR_NONE, &r), 0);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(r.leaks, 0);
	assert_int_equal(r.check_errors, 0);
	blk_close(bs);
}

static void assert_matches(struct blockdev *bs, const uint8_t *model, uint64_t size)
{
	uint8_t *buf = xmalloc(size);

	assert_int_equal(blk_pread(bs, 0, buf, size), 0);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != model[i])
			fail_msg("byte %llu is %#x, expected %#x", (unsigned long long)i, buf[i],
				 model[i]);
	free(buf);
}

/* Random writes, zeroes, discards and reads against a model, with flushes and reopens. */
static void random_io(uint32_t cs, int compat, bool with_backing)
{
	const uint64_t size = 6 * MiB + 1536;
	uint8_t *model = xcalloc(1, size), *buf = xmalloc(256 * KiB);
	const char *file = path("rand.qcow2");
	struct blockdev *bs;

	if (with_backing) {
		struct blockdev *base;
		uint8_t *pat = xmalloc(4 * MiB);

		create_qcow2(path("base.qcow2"), 4 * MiB, 4096, 3, NULL, NULL);
		base = open_rw(path("base.qcow2"));
		for (uint64_t i = 0; i < 4 * MiB; i++)
			pat[i] = (uint8_t)(i * 7 + 3);
		assert_int_equal(blk_pwrite(base, 0, pat, 4 * MiB), 0);
		memcpy(model, pat, 4 * MiB);
		assert_int_equal(blk_close(base), 0);
		free(pat);
		create_qcow2(file, size, cs, compat, "base.qcow2", "qcow2");
	} else {
		create_qcow2(file, size, cs, compat, NULL, NULL);
	}
	bs = open_rw(file);
	assert_int_equal(blk_size(bs), size);
	for (int op = 0; op < 600; op++) {
		uint64_t len = rnd() % (rnd() % 4 ? 9000 : 200 * KiB) + 1;
		uint64_t off = rnd() % (size - len + 1);
		int kind = (int)(rnd() % 10);

		if (kind < 5) {
			uint8_t v = (uint8_t)rnd();

			for (uint64_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(v + i);
			assert_int_equal(blk_pwrite(bs, off, buf, len), 0);
			memcpy(model + off, buf, len);
		} else if (kind == 5) {
			assert_int_equal(blk_write_zeroes(bs, off, len), 0);
			memset(model + off, 0, len);
		} else if (kind == 6) {
			/* Discard changes whole clusters only: they read as zero or backing. */
			assert_int_equal(blk_discard(bs, off, len), 0);
			assert_int_equal(blk_pread(bs, off, buf, len), 0);
			memcpy(model + off, buf, len);
		} else if (kind == 7) {
			assert_int_equal(blk_flush(bs), 0);
		} else if (kind == 8 && op % 7 == 0) {
			assert_int_equal(blk_close(bs), 0);
			assert_clean(file);
			bs = open_rw(file);
		} else {
			assert_int_equal(blk_pread(bs, off, buf, len), 0);
			assert_memory_equal(buf, model + off, len);
		}
	}
	assert_matches(bs, model, size);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	assert_matches(bs, model, size);
	assert_int_equal(blk_pwrite(bs, 0, buf, 1), -EROFS);
	blk_close(bs);
	free(model);
	free(buf);
}

static void test_random_64k(void **state)
{
	(void)state;
	random_io(65536, 3, false);
}

static void test_random_512(void **state)
{
	(void)state;
	random_io(512, 3, false);
}

static void test_random_4k_v2(void **state)
{
	(void)state;
	random_io(4096, 2, false);
}

static void test_random_backing_v3(void **state)
{
	(void)state;
	random_io(65536, 3, true);
}

static void test_random_backing_v2(void **state)
{
	(void)state;
	random_io(16384, 2, true);
}

/* Three-level chain with a raw base; the overlay is bigger than the base. */
static void test_backing_chain(void **state)
{
	uint8_t *buf = xmalloc(3 * MiB), expect[8192];
	struct blockdev *bs;
	int fd;

	(void)state;
	fd = open(path("base.raw"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	memset(buf, 0xaa, MiB);
	assert_int_equal(write_all(fd, buf, MiB), 0);
	close(fd);
	create_qcow2(path("mid.qcow2"), 2 * MiB, 4096, 3, "base.raw", "raw");
	bs = open_rw(path("mid.qcow2"));
	memset(buf, 0xbb, 100);
	assert_int_equal(blk_pwrite(bs, 5000, buf, 100), 0);
	assert_int_equal(blk_close(bs), 0);
	create_qcow2(path("top.qcow2"), 3 * MiB, 65536, 3, path("mid.qcow2"), "qcow2");
	bs = open_rw(path("top.qcow2"));
	assert_int_equal(blk_size(bs), 3 * MiB);
	memset(buf, 0xcc, 10);
	assert_int_equal(blk_pwrite(bs, 5050, buf, 10), 0);
	assert_int_equal(blk_pread(bs, 4096, expect, 8192), 0);
	for (int i = 0; i < 8192; i++) {
		uint64_t o = 4096 + i;
		uint8_t want = o >= 5050 && o < 5060 ? 0xcc : o >= 5000 && o < 5100 ? 0xbb : 0xaa;

		assert_int_equal(expect[i], want);
	}
	/* Allocation through the chain: data from the raw base, zero beyond it. */
	{
		uint64_t n;
		bool zero;

		assert_int_equal(blk_chain_zero(bs, 0, 3 * MiB, &zero, &n), 0);
		assert_false(zero);
		assert_true(n > 0 && n <= MiB);
		assert_int_equal(blk_chain_zero(bs, 2 * MiB, MiB, &zero, &n), 0);
		assert_true(zero);
		assert_int_equal(n, MiB);
		assert_int_equal(blk_chain_zero(bs, MiB + 65536, 4096, &zero, &n), 0);
		assert_true(zero);
	}
	/* Past the base (1 MiB) and past mid (2 MiB) everything reads as zero. */
	assert_int_equal(blk_pread(bs, MiB - 10, buf, 2 * MiB), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf[i], 0xaa);
	for (uint64_t i = 10; i < 2 * MiB; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(path("top.qcow2"));
	assert_clean(path("mid.qcow2"));
	free(buf);
}

/* a -> b -> a must fail with a loop error rather than recurse forever. */
static void test_backing_loop(void **state)
{
	struct blockdev *bs;

	(void)state;
	create_qcow2(path("loop-b.qcow2"), MiB, 65536, 3, NULL, NULL);
	create_qcow2(path("loop-a.qcow2"), MiB, 65536, 3, "loop-b.qcow2", "qcow2");
	create_qcow2(path("loop-c.qcow2"), MiB, 65536, 3, "loop-a.qcow2", "qcow2");
	rename(path("loop-c.qcow2"), path("loop-b.qcow2"));
	bs = blk_open(path("loop-a.qcow2"), "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_null(bs);
	assert_non_null(strstr(errbuf, "loop"));
}

/* Without a recorded backing format, the caller must give one: nothing is probed. */
static void test_backing_format_required(void **state)
{
	struct blockdev *bs;
	uint8_t hdr[4096];
	int fd;

	(void)state;
	create_qcow2(path("nf-base.qcow2"), MiB, 65536, 3, NULL, NULL);
	create_qcow2(path("nf.qcow2"), MiB, 65536, 3, "nf-base.qcow2", "qcow2");
	/* Turn the backing format extension into an unknown one. */
	fd = open(path("nf.qcow2"), O_RDWR);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	for (size_t i = 112; i + 4 <= sizeof(hdr); i += 8) {
		if (!memcmp(hdr + i, "\xe2\x79\x2a\xca", 4)) {
			hdr[i] = 0x12;
			break;
		}
	}
	assert_int_equal(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	bs = blk_open(path("nf.qcow2"), "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_null(bs);
	assert_non_null(strstr(errbuf, "format"));
	bs = blk_open_ex(path("nf.qcow2"), "qcow2", "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	blk_close(bs);
}

static void fill(uint8_t *buf, size_t len, uint8_t v)
{
	memset(buf, v, len);
}

/* Create, list, apply and delete snapshots; data follows, refcounts stay exact. */
static void test_snapshots(void **state)
{
	const char *file = path("snap.qcow2");
	const struct blk_snapshot_info *list;
	uint8_t *buf = xmalloc(MiB), *rd = xmalloc(2 * MiB);
	struct blockdev *bs;
	int n;

	(void)state;
	create_qcow2(file, 4 * MiB, 4096, 3, NULL, NULL);
	bs = open_rw(file);
	fill(buf, MiB, 1);
	assert_int_equal(blk_pwrite(bs, 0, buf, MiB), 0);
	assert_int_equal(blk_snapshot_create(bs, "one", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_snapshot_create(bs, "one", errbuf, sizeof(errbuf)), -EEXIST);
	fill(buf, MiB, 2);
	assert_int_equal(blk_pwrite(bs, 512 * KiB, buf, MiB), 0);
	assert_int_equal(blk_snapshot_create(bs, "two", errbuf, sizeof(errbuf)), 0);
	fill(buf, 4096, 3);
	assert_int_equal(blk_pwrite(bs, 100, buf, 4096), 0);
	assert_int_equal(blk_discard(bs, 0x100000, 0x10000), 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);

	bs = open_rw(file);
	assert_int_equal(blk_snapshot_list(bs, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "one");
	assert_string_equal(list[1].id, "2");
	assert_int_equal(blk_snapshot_apply(bs, "one", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_pread(bs, 0, rd, MiB), 0);
	fill(buf, MiB, 1);
	assert_memory_equal(rd, buf, MiB);
	assert_int_equal(blk_pread(bs, MiB, rd, 4096), 0);
	fill(buf, 4096, 0);
	assert_memory_equal(rd, buf, 4096);
	/* Writing after apply must not change snapshot "two". */
	fill(buf, 8192, 9);
	assert_int_equal(blk_pwrite(bs, 512 * KiB, buf, 8192), 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);

	bs = open_rw(file);
	assert_int_equal(blk_snapshot_apply(bs, "2", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_pread(bs, 0, rd, 1536 * KiB), 0);
	for (uint64_t i = 0; i < 1536 * KiB; i++)
		assert_int_equal(rd[i], i < 512 * KiB ? 1 : 2);
	assert_int_equal(blk_snapshot_delete(bs, "one", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_snapshot_delete(bs, "one", errbuf, sizeof(errbuf)), -ENOENT);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = open_rw(file);
	assert_int_equal(blk_snapshot_delete(bs, "two", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_pread(bs, 0, rd, 1536 * KiB), 0);
	for (uint64_t i = 0; i < 1536 * KiB; i++)
		assert_int_equal(rd[i], i < 512 * KiB ? 1 : 2);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	free(buf);
	free(rd);
}

/*
 * A v2 snapshot table may hold entries without extra data (old QEMU wrote them so). Rewriting
 * the table must free exactly the clusters the old one took, not what it would take padded.
 */
static void test_snapshot_no_extra(void **state)
{
	const char *file = path("snap-v2.qcow2");
	uint8_t hdr[12], *table = xcalloc(1, 1024), *out = xcalloc(1, 1024);
	uint32_t nb, opos = 0, ipos = 0;
	struct blk_check_result r;
	struct blockdev *bs;
	char name[8];
	uint64_t off;
	int fd;

	(void)state;
	/* Ten entries of 64 bytes (16 of extra data): the table takes two 512-byte clusters. */
	create_qcow2(file, MiB, 512, 2, NULL, NULL);
	bs = open_rw(file);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(blk_snapshot_create(bs, name, errbuf, sizeof(errbuf)), 0);
	}
	assert_int_equal(blk_close(bs), 0);

	/* Rewrite it in place without extra data: 480 bytes, so its second cluster leaks. */
	fd = open(file, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, 12, 60), 12);
	memcpy(&nb, hdr, 4);
	memcpy(&off, hdr + 4, 8);
	nb = be32toh(nb);
	off = be64toh(off);
	assert_int_equal(nb, 10);
	assert_int_equal(pread(fd, table, 640, (off_t)off), 640);
	for (uint32_t i = 0; i < nb; i++) {
		uint16_t idn, nmn;
		uint32_t extra;

		memcpy(&idn, table + ipos + 12, 2);
		memcpy(&nmn, table + ipos + 14, 2);
		memcpy(&extra, table + ipos + 36, 4);
		idn = be16toh(idn);
		nmn = be16toh(nmn);
		extra = be32toh(extra);
		assert_int_equal(extra, 16);
		memcpy(out + opos, table + ipos, 36);
		memcpy(out + opos + 40, table + ipos + 40 + extra, idn + nmn);
		opos = ALIGN_UP(opos + 40 + idn + nmn, 8U);
		ipos = ALIGN_UP(ipos + 40 + extra + idn + nmn, 8U);
	}
	assert_int_equal(ipos, 640);
	assert_int_equal(opos, 480);
	assert_int_equal(pwrite(fd, out, 640, (off_t)off), 640);
	close(fd);
	bs = blk_open(file, "qcow2", BLK_REPAIR_OPEN, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	assert_int_equal(blk_check(bs, BLK_REPAIR_LEAKS, &r), 0);
	assert_int_equal(r.leaks_fixed, 1);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);

	/* Replacing the one-cluster table must leave the cluster after it alone. */
	bs = open_rw(file);
	assert_int_equal(blk_snapshot_create(bs, "s10", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = open_rw(file);
	assert_int_equal(blk_snapshot_delete(bs, "s3", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	free(table);
	free(out);
}

/* Compressed clusters read back, and partial overwrites copy them correctly. */
static void test_compressed(void **state)
{
	const char *file = path("comp.qcow2");
	uint8_t *buf = xmalloc(65536), *rd = xmalloc(65536);
	struct blockdev *bs;

	(void)state;
	for (int type = 0; type < 2; type++) {
		struct blk_create_opts o = {.format = "qcow2",
					    .size = 2 * MiB,
					    .cluster_size = 65536,
					    .compression_type = type};

		assert_int_equal(blk_create(file, &o, errbuf, sizeof(errbuf)), 0);
		bs = open_rw(file);
		for (int c = 0; c < 20; c++) {
			for (int i = 0; i < 65536; i++)
				buf[i] = (uint8_t)((i / 100) * (c + 1));
			assert_int_equal(blk_write_compressed(bs, (uint64_t)c * 65536, buf, 65536),
					 0);
		}
		assert_int_equal(blk_close(bs), 0);
		assert_clean(file);
		bs = open_rw(file);
		for (int c = 0; c < 20; c++) {
			for (int i = 0; i < 65536; i++)
				buf[i] = (uint8_t)((i / 100) * (c + 1));
			assert_int_equal(blk_pread(bs, (uint64_t)c * 65536, rd, 65536), 0);
			assert_memory_equal(rd, buf, 65536);
		}
		memset(buf, 0xee, 10);
		assert_int_equal(blk_pwrite(bs, 3 * 65536 + 7, buf, 10), 0);
		assert_int_equal(blk_pread(bs, 3 * 65536, rd, 65536), 0);
		for (int i = 0; i < 65536; i++)
			assert_int_equal(rd[i], i >= 7 && i < 17 ? 0xee : (uint8_t)((i / 100) * 4));
		assert_int_equal(blk_discard(bs, 5 * 65536, 65536), 0);
		assert_int_equal(blk_close(bs), 0);
		assert_clean(file);
	}
	free(buf);
	free(rd);
}

static void test_resize(void **state)
{
	const char *file = path("resize.qcow2");
	uint8_t buf[4096], rd[4096];
	struct blockdev *bs;

	(void)state;
	create_qcow2(file, MiB, 512, 3, NULL, NULL);
	bs = open_rw(file);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, MiB - 4096, buf, 4096), 0);
	assert_int_equal(blk_resize(bs, 64 * MiB, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_size(bs), 64 * MiB);
	assert_int_equal(blk_pwrite(bs, 64 * MiB - 4096, buf, 4096), 0);
	assert_int_equal(blk_pread(bs, MiB - 4096, rd, 4096), 0);
	assert_memory_equal(rd, buf, 4096);
	assert_int_equal(blk_resize(bs, MiB - 1000, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_pread(bs, MiB - 4096, rd, 3096), 0);
	assert_memory_equal(rd, buf, 3096);
	assert_int_equal(blk_pread(bs, MiB - 4096, rd, 4096), -ERANGE);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = open_rw(file);
	assert_int_equal(blk_size(bs), MiB - 1000);
	assert_int_equal(blk_resize(bs, 2 * MiB, errbuf, sizeof(errbuf)), 0);
	/* The tail cut off by the shrink must not come back. */
	assert_int_equal(blk_pread(bs, MiB - 1000, rd, 1000), 0);
	memset(buf, 0, sizeof(buf));
	assert_memory_equal(rd, buf, 1000);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
}

/* Patch bytes of a file. */
static void patch(const char *file, uint64_t off, const void *data, size_t len)
{
	int fd = open(file, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
	close(fd);
}

static void patch_be32(const char *file, uint64_t off, uint32_t v)
{
	v = htobe32(v);
	patch(file, off, &v, 4);
}

static void patch_be64(const char *file, uint64_t off, uint64_t v)
{
	v = htobe64(v);
	patch(file, off, &v, 8);
}

/* Each broken header field gives a clean error. */
static void test_malformed_headers(void **state)
{
	static const struct {
		uint32_t off;
		int width;
		uint64_t value;
		const char *expect;
	} cases[] = {
	    {0, 4, 0x12345678, "magic"},
	    {4, 4, 4, "version"},
	    {20, 4, 8, "cluster bits"},
	    {20, 4, 40, "cluster bits"},
	    {36, 4, 0x7fffffff, "L1"},
	    {40, 8, 0x10001, "L1"},
	    {40, 8, 1ULL << 50, "L1"},
	    {48, 8, 0x10200, "refcount"},
	    {56, 4, 0, "refcount"},
	    {56, 4, 0x100000, "refcount"},
	    {32, 4, 1, "encrypted"},
	    {72, 8, 1ULL << 9, "unsupported"},
	    {72, 8, 1ULL << 4, "extended L2"},
	    {96, 4, 7, "refcount order"},
	    {100, 4, 50, "header length"},
	    {8, 8, 70000, "backing"},
	    {24, 8, 1ULL << 62, "size"},
	    {60, 4, 70000, "snapshot"},
	};
	const char *file = path("bad.qcow2");

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct blockdev *bs;

		create_qcow2(file, 16 * MiB, 65536, 3, NULL, NULL);
		if (cases[i].width == 4)
			patch_be32(file, cases[i].off, (uint32_t)cases[i].value);
		else
			patch_be64(file, cases[i].off, cases[i].value);
		if (cases[i].off == 8)
			patch_be32(file, 16, 10);
		errbuf[0] = 0;
		bs = blk_open(file, "qcow2", 0, errbuf, sizeof(errbuf));
		if (bs)
			fail_msg("case %zu (offset %u) opened", i, cases[i].off);
		if (!strstr(errbuf, cases[i].expect))
			fail_msg("case %zu: error '%s' lacks '%s'", i, errbuf, cases[i].expect);
	}
}

/* Random damage to header and tables: open may fail, but nothing may crash or hang. */
static void test_fuzz(void **state)
{
	const char *file = path("fuzz.qcow2");
	uint8_t *img, *buf = xmalloc(MiB);
	size_t len;

	(void)state;
	create_qcow2(file, 8 * MiB, 4096, 3, NULL, NULL);
	{
		struct blockdev *bs = open_rw(file);

		memset(buf, 0x42, MiB);
		assert_int_equal(blk_pwrite(bs, 0, buf, MiB), 0);
		assert_int_equal(blk_pwrite(bs, 5 * MiB, buf, 3000), 0);
		assert_int_equal(blk_snapshot_create(bs, "s", errbuf, sizeof(errbuf)), 0);
		assert_int_equal(blk_close(bs), 0);
	}
	img = read_file(file, &len);
	assert_non_null(img);
	for (int iter = 0; iter < 300; iter++) {
		uint8_t *copy = xmalloc(len);
		struct blockdev *bs;
		int fd;

		memcpy(copy, img, len);
		for (int k = 0; k < 1 + (int)(rnd() % 8); k++) {
			/* Hit the header often, the tables (first 64 KiB) otherwise. */
			size_t at = rnd() % 4 ? rnd() % 512 : rnd() % MIN(len, 65536);

			copy[at] ^= (uint8_t)(1u << (rnd() % 8));
		}
		fd = open(file, O_RDWR | O_TRUNC);
		assert_int_equal(write(fd, copy, len), (ssize_t)len);
		close(fd);
		free(copy);
		bs = blk_open(file, "qcow2", rnd() % 2 ? BLK_RDONLY : 0, errbuf, sizeof(errbuf));
		if (bs) {
			struct blk_check_result r;
			const struct blk_snapshot_info *l;
			int n;

			blk_pread(bs, 0, buf, MIN(blk_size(bs), MiB));
			if (!blk_is_readonly(bs)) {
				blk_pwrite(bs, rnd() % MIN(blk_size(bs), 8 * MiB), buf, 100);
				blk_snapshot_list(bs, &l, &n);
			}
			blk_check(bs, BLK_REPAIR_NONE, &r);
			blk_close(bs);
		}
	}
	free(img);
	free(buf);
}

/* A refcount found too low at run time marks the image corrupt until check -r all fixes it. */
static void test_corrupt_bit(void **state)
{
	const char *file = path("corrupt.qcow2");
	uint8_t buf[4096];
	struct blk_check_result r;
	struct blockdev *bs;
	uint16_t rc;
	int fd;

	(void)state;
	create_qcow2(file, 8 * MiB, 65536, 3, NULL, NULL);
	bs = open_rw(file);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf)), 0);
	assert_int_equal(blk_close(bs), 0);
	/* Layout of a new image: header, refcount table, refcount block, L1, then L2 and data. */
	fd = open(file, O_RDWR);
	assert_int_equal(pread(fd, &rc, 2, 2 * 65536 + 5 * 2), 2);
	assert_int_equal(be16toh(rc), 1);
	rc = 0;
	assert_int_equal(pwrite(fd, &rc, 2, 2 * 65536 + 5 * 2), 2);
	close(fd);

	bs = open_rw(file);
	/* A referenced cluster with refcount 0 could be handed out twice: refuse to write. */
	assert_int_equal(blk_pwrite(bs, 100, buf, 10), -EIO);
	assert_int_equal(blk_pwrite(bs, 3 * MiB, buf, 10), -EIO);
	blk_close(bs);
	assert_null(blk_open(file, "qcow2", 0, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "corrupt"));

	bs = blk_open(file, "qcow2", BLK_REPAIR_OPEN, errbuf, sizeof(errbuf));
	assert_non_null(bs);
	assert_int_equal(blk_check(bs, BLK_REPAIR_ALL, &r), 0);
	assert_true(r.corruptions_fixed > 0);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = open_rw(file);
	assert_int_equal(blk_pread(bs, 0, buf, 100), 0);
	assert_int_equal(buf[99], 0x11);
	assert_int_equal(blk_close(bs), 0);
}

/* Leaks are found, repaired by -r leaks, and the image is then clean. */
static void test_leak_repair(void **state)
{
	const char *file = path("leak.qcow2");
	struct blk_check_result r;
	struct blockdev *bs;
	uint16_t rc = htobe16(1);
	int fd;

	(void)state;
	create_qcow2(file, 8 * MiB, 65536, 3, NULL, NULL);
	fd = open(file, O_RDWR);
	/* Count clusters 40..42 that nothing references. */
	for (int c = 40; c < 43; c++)
		assert_int_equal(pwrite(fd, &rc, 2, 2 * 65536 + c * 2), 2);
	close(fd);
	bs = blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_int_equal(blk_check(bs, BLK_REPAIR_NONE, &r), 0);
	assert_int_equal(r.leaks, 3);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(blk_check(bs, BLK_REPAIR_LEAKS, &r), -EROFS);
	blk_close(bs);
	bs = blk_open(file, "qcow2", BLK_REPAIR_OPEN, errbuf, sizeof(errbuf));
	assert_int_equal(blk_check(bs, BLK_REPAIR_LEAKS, &r), 0);
	assert_int_equal(r.leaks_fixed, 3);
	assert_int_equal(r.leaks, 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
}

/*
 * A discard of more clusters than the pending-free list holds (64Ki) forces intermediate
 * flushes; with a snapshot sharing everything, nothing may be freed that it still uses.
 */
static void test_big_discard(void **state)
{
	const char *file = path("bigdiscard.qcow2");
	const uint64_t size = 40 * MiB;
	uint8_t *buf = xmalloc(size), *rd = xmalloc(size);
	struct blockdev *bs;

	(void)state;
	create_qcow2(file, size, 512, 3, NULL, NULL);
	bs = open_rw(file);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i / 512 * 31);
	assert_int_equal(blk_pwrite(bs, 0, buf, size), 0);
	assert_int_equal(blk_snapshot_create(bs, "all", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_discard(bs, 0, size), 0);
	assert_int_equal(blk_pread(bs, 0, rd, size), 0);
	for (uint64_t i = 0; i < size; i++)
		assert_int_equal(rd[i], 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	bs = open_rw(file);
	assert_int_equal(blk_snapshot_apply(bs, "all", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_pread(bs, 0, rd, size), 0);
	assert_memory_equal(rd, buf, size);
	assert_int_equal(blk_snapshot_delete(bs, "all", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(blk_discard(bs, 0, size), 0);
	assert_int_equal(blk_close(bs), 0);
	assert_clean(file);
	free(buf);
	free(rd);
}

/* Image locks: one writer excludes everything; readers share. */
static void test_locking(void **state)
{
	const char *file = path("lock.qcow2");
	struct blockdev *w, *r1, *r2;

	(void)state;
	create_qcow2(file, MiB, 65536, 3, NULL, NULL);
	w = open_rw(file);
	assert_null(blk_open(file, "qcow2", 0, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "in use"));
	assert_null(blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf)));
	r1 = blk_open(file, "qcow2", BLK_RDONLY | BLK_FORCE_SHARE, errbuf, sizeof(errbuf));
	assert_non_null(r1);
	blk_close(r1);
	blk_close(w);
	r1 = blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	r2 = blk_open(file, "qcow2", BLK_RDONLY, errbuf, sizeof(errbuf));
	assert_non_null(r1);
	assert_non_null(r2);
	assert_null(blk_open(file, "qcow2", 0, errbuf, sizeof(errbuf)));
	blk_close(r1);
	blk_close(r2);
	w = open_rw(file);
	blk_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_64k),
	    cmocka_unit_test(test_random_512),
	    cmocka_unit_test(test_random_4k_v2),
	    cmocka_unit_test(test_random_backing_v3),
	    cmocka_unit_test(test_random_backing_v2),
	    cmocka_unit_test(test_backing_chain),
	    cmocka_unit_test(test_backing_loop),
	    cmocka_unit_test(test_backing_format_required),
	    cmocka_unit_test(test_snapshots),
	    cmocka_unit_test(test_snapshot_no_extra),
	    cmocka_unit_test(test_compressed),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_malformed_headers),
	    cmocka_unit_test(test_fuzz),
	    cmocka_unit_test(test_corrupt_bit),
	    cmocka_unit_test(test_leak_repair),
	    cmocka_unit_test(test_locking),
	    cmocka_unit_test(test_big_discard),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
