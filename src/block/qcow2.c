/*
 * qcow2 driver: header and extensions, L1/L2 mapping with an L2 table cache, reads (backing
 * chain, zero and compressed clusters), allocating writes with copy-on-write, discard, resize
 * and image creation. Refcounts are in qcow2-refcount.c, snapshots in qcow2-snapshot.c, the
 * consistency check in qcow2-check.c.
 */
#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define L2_CACHE_BYTES (32ULL << 20)

struct qcow2_header {
	uint32_t magic;
	uint32_t version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompatible_features;
	uint64_t compatible_features;
	uint64_t autoclear_features;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression_type;
};

static const struct {
	uint8_t type, bit;
	const char *name;
} feature_names[] = {
    {0, 0, "dirty bit"},	{0, 1, "corrupt bit"},	       {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},		{2, 1, "raw external data"},
};

/* Report an inconsistency in the image once and stop writing to it. */
int qcow2_corrupt(struct qcow2 *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: corrupt qcow2 image: %s", s->bs->filename, msg);
	s->broken = true;
	/* Like QEMU, mark it on disk so nothing writes to it again before a repair. */
	if (s->version >= 3 && !(s->bs->flags & (BLK_RDONLY | BLK_REPAIR_OPEN)) &&
	    !(s->incompat & QCOW2_INCOMPAT_CORRUPT)) {
		uint64_t be;

		s->incompat |= QCOW2_INCOMPAT_CORRUPT;
		be = htobe64(s->incompat);
		qcow2_update_header(s, QCOW2_HDR_INCOMPAT, &be, 8);
	}
	return -EIO;
}

/* A metadata structure of len bytes at off must be cluster-aligned and inside the file. */
int qcow2_valid_offset(struct qcow2 *s, uint64_t off, uint64_t len)
{
	if (!off || (off & (s->cluster_size - 1)) || off > s->file_end || len > s->file_end - off)
		return -EINVAL;
	return 0;
}

/* Write header bytes and sync them: header updates are commit points (table moves, size, flags). */
int qcow2_update_header(struct qcow2 *s, uint32_t off, const void *be_data, size_t len)
{
	int ret = blk_file_pwrite(s->bs, off, be_data, len);

	return ret < 0 ? ret : blk_file_sync(s->bs);
}

/* Record a new virtual size in the header (durably), then in bs. */
int qcow2_set_size(struct qcow2 *s, uint64_t size)
{
	uint8_t be[8];
	int ret;

	put_be64(be, size);
	ret = qcow2_update_header(s, QCOW2_HDR_SIZE, be, 8);
	if (!ret)
		s->bs->size = size;
	return ret;
}

uint64_t qcow2_l1_needed(struct qcow2 *s, uint64_t size)
{
	uint64_t per_l2 = (uint64_t)s->cluster_size << s->l2_bits;

	return (size + per_l2 - 1) / per_l2;
}

/* Read an L1 table (active or a snapshot's) into a new host-endian array. */
int qcow2_read_l1(struct qcow2 *s, uint64_t offset, uint32_t n, uint64_t **out)
{
	uint64_t *l1;
	int ret;

	*out = NULL;
	if ((uint64_t)n * 8 > QCOW2_MAX_L1_BYTES)
		return qcow2_corrupt(s, "L1 table of %u entries is too large", n);
	if (!n)
		return 0;
	if (qcow2_valid_offset(s, offset, (uint64_t)n * 8))
		return qcow2_corrupt(s, "L1 table offset %#llx is invalid",
				     (unsigned long long)offset);
	l1 = xmalloc((size_t)n * 8);
	ret = blk_file_pread(s->bs, offset, l1, (size_t)n * 8);
	if (ret < 0) {
		free(l1);
		return ret;
	}
	for (uint32_t i = 0; i < n; i++)
		l1[i] = be64toh(l1[i]);
	*out = l1;
	return 0;
}

/* Write an L1 table, padded with zeroes to whole clusters. */
int qcow2_write_l1(struct qcow2 *s, uint64_t offset, const uint64_t *l1, uint32_t n)
{
	uint64_t bytes = ALIGN_UP((uint64_t)n * 8, (uint64_t)s->cluster_size);
	uint64_t *buf;
	int ret;

	if (!n)
		return 0;
	buf = xcalloc(1, bytes);
	for (uint32_t i = 0; i < n; i++)
		buf[i] = htobe64(l1[i]);
	ret = blk_file_pwrite(s->bs, offset, buf, bytes);
	free(buf);
	s->file_end = MAX(s->file_end, offset + bytes);
	return ret;
}

/* Write one cached L2 table; refcounts it depends on must be synced first. */
static int l2_writeback(struct qcow2 *s, struct qcow2_l2 *e)
{
	int ret;

	if (!e->dirty)
		return 0;
	ret = qcow2_rc_flush(s);
	if (ret < 0)
		return ret;
	ret = blk_file_pwrite(s->bs, e->offset, e->table, s->cluster_size);
	if (ret < 0)
		return ret;
	s->file_end = MAX(s->file_end, e->offset + s->cluster_size);
	e->dirty = false;
	s->l2_unsynced = true;
	return 0;
}

int qcow2_l2_writeback_all(struct qcow2 *s)
{
	int ret;

	for (unsigned i = 0; i < s->l2c_n; i++) {
		if (s->l2c[i].l1_index < 0)
			continue;
		ret = l2_writeback(s, &s->l2c[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Forget every cached L2 table (after the L1 table was replaced); they must be clean. */
void qcow2_l2_cache_drop(struct qcow2 *s)
{
	for (unsigned i = 0; i < s->l2c_n; i++) {
		if (s->l2c[i].l1_index >= 0 && (uint64_t)s->l2c[i].l1_index < s->l2_slot_n)
			s->l2_slot[s->l2c[i].l1_index] = -1;
		s->l2c[i].l1_index = -1;
		s->l2c[i].dirty = false;
	}
}

/* Size the L2 cache and its index for the current L1 table. */
static void l2_cache_init(struct qcow2 *s)
{
	uint64_t n = L2_CACHE_BYTES / s->cluster_size;

	n = MAX(MIN(n, (uint64_t)s->l1_size), 4);
	s->l2c_n = (unsigned)n;
	s->l2c = xcalloc(n, sizeof(*s->l2c));
	for (unsigned i = 0; i < s->l2c_n; i++)
		s->l2c[i].l1_index = -1;
	s->l2_slot_n = s->l1_size;
	s->l2_slot = xmalloc(MAX(s->l1_size, 1) * sizeof(*s->l2_slot));
	for (uint32_t i = 0; i < s->l1_size; i++)
		s->l2_slot[i] = -1;
}

static void l2_cache_free(struct qcow2 *s)
{
	for (unsigned i = 0; i < s->l2c_n; i++)
		free(s->l2c[i].table);
	free(s->l2c);
	free(s->l2_slot);
	s->l2c = NULL;
	s->l2_slot = NULL;
	s->l2c_n = 0;
	s->l2_slot_n = 0;
}

/* Pick a cache slot, writing back the least recently used table if needed. */
static int l2_cache_victim(struct qcow2 *s, struct qcow2_l2 **out)
{
	struct qcow2_l2 *v = NULL;
	int ret;

	for (unsigned i = 0; i < s->l2c_n; i++) {
		struct qcow2_l2 *e = &s->l2c[i];

		if (e->l1_index < 0) {
			v = e;
			break;
		}
		if (!v || e->lru < v->lru)
			v = e;
	}
	if (v->l1_index >= 0) {
		ret = l2_writeback(s, v);
		if (ret < 0)
			return ret;
		s->l2_slot[v->l1_index] = -1;
		v->l1_index = -1;
	}
	if (!v->table)
		v->table = xmalloc(s->cluster_size);
	*out = v;
	return 0;
}

/* Install a table in the cache for L1 index idx. */
static void l2_cache_bind(struct qcow2 *s, struct qcow2_l2 *e, uint32_t idx, uint64_t off)
{
	e->offset = off;
	e->l1_index = idx;
	e->lru = ++s->lru_clock;
	e->dirty = false;
	s->l2_slot[idx] = (int32_t)(e - s->l2c);
}

/* The host cluster at off (referenced by a table being modified) must not be metadata we own. */
static bool overlaps_metadata(struct qcow2 *s, uint64_t off)
{
	uint64_t l1_bytes = ALIGN_UP((uint64_t)s->l1_size * 8, (uint64_t)s->cluster_size);
	uint64_t rt_bytes = (uint64_t)s->rt_clusters * s->cluster_size;

	if (off < s->cluster_size)
		return true;
	if (s->l1_size && off >= s->l1_offset && off < s->l1_offset + l1_bytes)
		return true;
	return off >= s->rt_offset && off < s->rt_offset + rt_bytes;
}

/* May this cluster be written in place? Only if this table is its sole owner. */
static bool owned_cluster(struct qcow2 *s, uint64_t entry)
{
	uint64_t off = entry & QCOW2_L2E_OFFSET_MASK;

	return (entry & QCOW2_OFLAG_COPIED) && off && !overlaps_metadata(s, off) &&
	       qcow2_rc_get(s, off >> s->cluster_bits) == 1;
}

/*
 * Find the L2 table for L1 index idx. With for_write, a missing table is allocated and a shared
 * one copied, so the result may be modified. *out is NULL when there is no table (reads).
 */
static int get_l2(struct qcow2 *s, uint32_t idx, bool for_write, struct qcow2_l2 **out)
{
	uint64_t l1e = s->l1[idx], off = l1e & QCOW2_L1E_OFFSET_MASK, new_off;
	struct qcow2_l2 *e = NULL;
	int ret;

	*out = NULL;
	if (s->l2_slot[idx] >= 0) {
		e = &s->l2c[s->l2_slot[idx]];
		e->lru = ++s->lru_clock;
		if (!for_write || owned_cluster(s, l1e))
			goto done;
	} else if (off) {
		if (l1e & QCOW2_L1E_RESERVED)
			return qcow2_corrupt(s, "L1 entry %u has reserved bits set (%#llx)", idx,
					     (unsigned long long)l1e);
		if (qcow2_valid_offset(s, off, s->cluster_size) || overlaps_metadata(s, off))
			return qcow2_corrupt(s, "L2 table offset %#llx is invalid",
					     (unsigned long long)off);
		ret = l2_cache_victim(s, &e);
		if (ret < 0)
			return ret;
		ret = blk_file_pread(s->bs, off, e->table, s->cluster_size);
		if (ret < 0)
			return ret;
		l2_cache_bind(s, e, idx, off);
		if (!for_write || owned_cluster(s, l1e))
			goto done;
	} else if (!for_write) {
		return 0;
	}
	if (s->broken)
		return -EIO;
	if (off && !qcow2_rc_get(s, off >> s->cluster_bits))
		return qcow2_corrupt(s, "L2 table %#llx is in use but has refcount 0",
				     (unsigned long long)off);
	/* Allocate a fresh table, or copy the shared one. */
	ret = qcow2_alloc_clusters(s, 1, &new_off);
	if (ret < 0)
		return ret;
	if (!e) {
		ret = l2_cache_victim(s, &e);
		if (ret < 0)
			return ret;
		memset(e->table, 0, s->cluster_size);
		l2_cache_bind(s, e, idx, new_off);
	} else {
		e->offset = new_off;
	}
	e->dirty = true;
	s->l1[idx] = new_off | QCOW2_OFLAG_COPIED;
	s->l1_dirty = true;
	/* Only once nothing in memory points at the old copy may it be released. */
	if (off) {
		ret = qcow2_free_later(s, off, s->cluster_size);
		if (ret < 0)
			return ret;
	}
done:
	*out = e;
	return 0;
}

/* Read guest bytes from the backing file; beyond its end (or without one) they are zero. */
static int read_backing(struct qcow2 *s, uint64_t off, void *buf, size_t len)
{
	uint64_t bsize = s->backing ? blk_size(s->backing) : 0;
	size_t n = off < bsize ? (size_t)MIN((uint64_t)len, bsize - off) : 0;

	if (s->backing_name && !s->backing) {
		log_error("%s: guest data needs the backing file, which was not opened",
			  s->bs->filename);
		return -EIO;
	}
	if (n) {
		int ret = blk_pread(s->backing, off, buf, n);

		if (ret < 0)
			return ret;
	}
	memset((char *)buf + n, 0, len - n);
	return 0;
}

/* Inflate one compressed cluster into s->dbuf (cached by L2 entry). */
static int read_compressed(struct qcow2 *s, uint64_t l2e)
{
	uint64_t coff = l2e & s->coffset_mask;
	uint64_t nsec = ((l2e >> s->csize_shift) & s->csize_mask) + 1;
	uint64_t clen = nsec * 512 - (coff & 511);
	int ret;

	if (s->dbuf_entry == l2e)
		return 0;
	if (!coff || coff >= s->file_end)
		return qcow2_corrupt(s, "compressed cluster offset %#llx is invalid",
				     (unsigned long long)coff);
	clen = MIN(clen, s->file_end - coff);
	ret = blk_file_pread(s->bs, coff, s->cbuf, clen);
	if (ret < 0)
		return ret;
	if (s->compression_type == 0) {
		z_stream z = {0};
		int zr;

		if (inflateInit2(&z, -12) != Z_OK)
			return -ENOMEM;
		z.next_in = s->cbuf;
		z.avail_in = (uInt)clen;
		z.next_out = s->dbuf;
		z.avail_out = s->cluster_size;
		zr = inflate(&z, Z_FINISH);
		inflateEnd(&z);
		if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR && zr != Z_OK) || z.avail_out)
			return qcow2_corrupt(s, "compressed cluster at %#llx does not inflate",
					     (unsigned long long)coff);
	} else {
		ZSTD_DCtx *dctx = ZSTD_createDCtx();
		ZSTD_inBuffer in = {s->cbuf, clen, 0};
		ZSTD_outBuffer out = {s->dbuf, s->cluster_size, 0};
		size_t zr = 0;

		if (!dctx)
			return -ENOMEM;
		while (out.pos < out.size && in.pos < in.size) {
			zr = ZSTD_decompressStream(dctx, &out, &in);
			if (ZSTD_isError(zr) || (!zr && out.pos < out.size))
				break;
		}
		ZSTD_freeDCtx(dctx);
		if (ZSTD_isError(zr) || out.pos != out.size)
			return qcow2_corrupt(s, "compressed cluster at %#llx does not decompress",
					     (unsigned long long)coff);
	}
	s->dbuf_entry = l2e;
	return 0;
}

/* Look up the L2 entry for a guest offset; *l2e is 0 where nothing is allocated. */
static int lookup(struct qcow2 *s, uint64_t off, uint64_t *l2e)
{
	uint64_t idx = off >> (s->cluster_bits + s->l2_bits);
	struct qcow2_l2 *e;
	int ret;

	*l2e = 0;
	if (idx >= s->l1_size)
		return qcow2_corrupt(s, "guest offset %#llx beyond the L1 table",
				     (unsigned long long)off);
	ret = get_l2(s, (uint32_t)idx, false, &e);
	if (ret < 0 || !e)
		return ret;
	*l2e = be64toh(e->table[(off >> s->cluster_bits) & (s->l2_entries - 1)]);
	return 0;
}

/* A normal data cluster (not compressed, not zero, allocated here). */
static bool plain_data(uint64_t l2e)
{
	return !(l2e & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO)) &&
	       (l2e & QCOW2_L2E_OFFSET_MASK);
}

/*
 * How many bytes from guest offset off (at most len) are plain data clusters laid out back to
 * back in the file, starting with entry l2e (already looked up); with owned, they must also be
 * writable in place. Lets one system call serve a multi-cluster request.
 */
static int contiguous_run(struct qcow2 *s, uint64_t off, uint64_t len, uint64_t l2e, bool owned,
			  size_t *run)
{
	uint64_t in = off & (s->cluster_size - 1);
	uint64_t base = (l2e & QCOW2_L2E_OFFSET_MASK) + in;
	size_t n = MIN(len, s->cluster_size - in);
	int ret;

	while (n < len) {
		uint64_t e;

		ret = lookup(s, off + n, &e);
		if (ret < 0)
			return ret;
		if (!plain_data(e) || (e & QCOW2_L2E_RESERVED) ||
		    (e & QCOW2_L2E_OFFSET_MASK) != base + n ||
		    (e & QCOW2_L2E_OFFSET_MASK) >= s->file_end || (owned && !owned_cluster(s, e)))
			break;
		n += MIN(len - n, s->cluster_size);
	}
	*run = n;
	return 0;
}

/* Read guest bytes starting in one cluster; *done gets how many were read. */
static int read_run(struct qcow2 *s, uint64_t off, void *buf, size_t len, size_t *done)
{
	uint64_t l2e, host, in = off & (s->cluster_size - 1);
	int ret = lookup(s, off, &l2e);

	*done = MIN(len, s->cluster_size - in);
	if (ret < 0)
		return ret;
	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		ret = read_compressed(s, l2e);
		if (ret < 0)
			return ret;
		memcpy(buf, s->dbuf + in, *done);
		return 0;
	}
	if (l2e & QCOW2_OFLAG_ZERO) {
		memset(buf, 0, *done);
		return 0;
	}
	host = l2e & QCOW2_L2E_OFFSET_MASK;
	if (!host)
		return read_backing(s, off, buf, *done);
	if ((l2e & QCOW2_L2E_RESERVED) || host >= s->file_end)
		return qcow2_corrupt(s, "L2 entry %#llx for guest offset %#llx is invalid",
				     (unsigned long long)l2e, (unsigned long long)off);
	ret = contiguous_run(s, off, len, l2e, false, done);
	if (ret < 0)
		return ret;
	return blk_file_pread(s->bs, host + in, buf, *done);
}

static int qcow2_pread(struct blockdev *bs, uint64_t off, void *buf, size_t len)
{
	struct qcow2 *s = qcow2_state(bs);
	char *p = buf;
	size_t n;
	int ret;

	while (len) {
		ret = read_run(s, off, p, len, &n);
		if (ret < 0)
			return ret;
		off += n;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Write part of one guest cluster. Owned clusters are written in place; anything else gets a
 * new cluster filled with the old contents (backing data, zeroes, decompressed or shared data)
 * around the new bytes, and the L2 entry is switched to it.
 */
static int write_cluster(struct qcow2 *s, uint64_t off, const void *buf, size_t len)
{
	uint64_t idx = off >> (s->cluster_bits + s->l2_bits), in = off & (s->cluster_size - 1);
	uint32_t l2i = (off >> s->cluster_bits) & (s->l2_entries - 1);
	uint64_t l2e, host, new_off, old_start, old_len, written_end;
	bool zero_fill = false;
	struct qcow2_l2 *e;
	int ret;

	if (s->broken)
		return -EIO;
	if (idx >= s->l1_size)
		return qcow2_corrupt(s, "guest offset %#llx beyond the L1 table",
				     (unsigned long long)off);
	ret = get_l2(s, (uint32_t)idx, true, &e);
	if (ret < 0)
		return ret;
	l2e = be64toh(e->table[l2i]);
	host = l2e & QCOW2_L2E_OFFSET_MASK;
	if (!(l2e & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO)) && host) {
		if (host >= s->file_end || (l2e & QCOW2_L2E_RESERVED))
			return qcow2_corrupt(s, "L2 entry %#llx for guest offset %#llx is invalid",
					     (unsigned long long)l2e, (unsigned long long)off);
		if (!qcow2_rc_get(s, host >> s->cluster_bits) || overlaps_metadata(s, host))
			return qcow2_corrupt(
			    s, "data cluster %#llx overlaps metadata or has refcount 0",
			    (unsigned long long)host);
		if (owned_cluster(s, l2e)) {
			ret = blk_file_pwrite(s->bs, host + in, buf, len);
			s->data_unsynced = true;
			s->file_end = MAX(s->file_end, host + in + len);
			return ret;
		}
	}
	ret = qcow2_alloc_clusters(s, 1, &new_off);
	if (ret < 0)
		return ret;
	if (len < s->cluster_size) {
		/* Gather what the rest of the cluster held before this write. */
		if (l2e & QCOW2_OFLAG_COMPRESSED) {
			ret = read_compressed(s, l2e);
			memcpy(s->tmp, s->dbuf, s->cluster_size);
		} else if (l2e & QCOW2_OFLAG_ZERO) {
			zero_fill = true;
		} else if (host) {
			ret = blk_file_pread(s->bs, host, s->tmp, s->cluster_size);
		} else if (s->backing_name) {
			ret = read_backing(s, off - in, s->tmp, s->cluster_size);
		} else {
			zero_fill = true;
		}
		if (ret < 0)
			goto fail;
	}
	if (len == s->cluster_size) {
		ret = blk_file_pwrite(s->bs, new_off, buf, len);
		written_end = new_off + len;
	} else if (zero_fill && new_off >= s->file_end) {
		/* Past the end of the file the rest of the cluster already reads as zeroes. */
		ret = blk_file_pwrite(s->bs, new_off + in, buf, len);
		written_end = new_off + in + len;
	} else {
		if (zero_fill)
			memset(s->tmp, 0, s->cluster_size);
		memcpy(s->tmp + in, buf, len);
		ret = blk_file_pwrite(s->bs, new_off, s->tmp, s->cluster_size);
		written_end = new_off + s->cluster_size;
	}
	if (ret < 0)
		goto fail;
	s->file_end = MAX(s->file_end, written_end);
	s->data_unsynced = true;
	e->table[l2i] = htobe64(new_off | QCOW2_OFLAG_COPIED);
	e->dirty = true;
	if (host || (l2e & QCOW2_OFLAG_COMPRESSED)) {
		qcow2_entry_range(s, l2e, &old_start, &old_len);
		ret = qcow2_free_later(s, old_start, old_len);
		if (ret < 0)
			return ret;
	}
	return 0;
fail:
	/* The new cluster is not referenced: give it back. */
	qcow2_rc_add(s, new_off >> s->cluster_bits, -1);
	return ret;
}

/* Owned clusters take the whole contiguous run in one write; others go one by one. */
static int qcow2_pwrite(struct blockdev *bs, uint64_t off, const void *buf, size_t len)
{
	struct qcow2 *s = qcow2_state(bs);
	const char *p = buf;
	uint64_t l2e;
	size_t n;
	int ret;

	while (len) {
		if (s->broken)
			return -EIO;
		ret = lookup(s, off, &l2e);
		if (ret < 0)
			return ret;
		if (plain_data(l2e) && !(l2e & QCOW2_L2E_RESERVED) &&
		    (l2e & QCOW2_L2E_OFFSET_MASK) < s->file_end && owned_cluster(s, l2e)) {
			uint64_t host =
			    (l2e & QCOW2_L2E_OFFSET_MASK) + (off & (s->cluster_size - 1));

			ret = contiguous_run(s, off, len, l2e, true, &n);
			if (!ret)
				ret = blk_file_pwrite(bs, host, p, n);
			s->data_unsynced = true;
			s->file_end = MAX(s->file_end, host + n);
		} else {
			n = MIN(len, s->cluster_size - (off & (s->cluster_size - 1)));
			ret = write_cluster(s, off, p, n);
		}
		if (ret < 0)
			return ret;
		off += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int qcow2_flush(struct blockdev *bs)
{
	struct qcow2 *s = qcow2_state(bs);
	int ret;

	/* After an inconsistency, write no more metadata: at worst that leaks clusters. */
	if (s->broken)
		return -EIO;
	/* The metadata syncs also cover data written before them. */
	ret = qcow2_metadata_flush(s);
	if (ret < 0)
		return ret;
	if (s->data_unsynced) {
		ret = blk_file_sync(bs);
		if (!ret)
			s->data_unsynced = false;
	}
	return ret;
}

/*
 * Make whole cluster at off read as zero (zero flag) or unallocated; the old host cluster is
 * released once the table is on disk.
 */
static int clear_cluster(struct qcow2 *s, uint64_t off, bool zero)
{
	uint64_t idx = off >> (s->cluster_bits + s->l2_bits);
	uint32_t l2i = (off >> s->cluster_bits) & (s->l2_entries - 1);
	uint64_t l2e, start, len, new_e;
	struct qcow2_l2 *e;
	int ret;

	ret = lookup(s, off, &l2e);
	if (ret < 0)
		return ret;
	new_e = zero ? QCOW2_OFLAG_ZERO : 0;
	if (l2e == new_e)
		return 0;
	if (!s->l1[idx] && !zero)
		return 0;
	ret = get_l2(s, (uint32_t)idx, true, &e);
	if (ret < 0)
		return ret;
	l2e = be64toh(e->table[l2i]);
	e->table[l2i] = htobe64(new_e);
	e->dirty = true;
	if ((l2e & QCOW2_OFLAG_COMPRESSED) || (l2e & QCOW2_L2E_OFFSET_MASK)) {
		qcow2_entry_range(s, l2e, &start, &len);
		ret = qcow2_free_later(s, start, len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Write zero bytes over [off, off+len) through the normal write path. */
static int write_zero_bytes(struct qcow2 *s, uint64_t off, uint64_t len)
{
	static const char zeroes[4096];
	int ret = 0;

	for (uint64_t done = 0; done < len && !ret; done += MIN(len - done, sizeof(zeroes)))
		ret = qcow2_pwrite(s->bs, off + done, zeroes, MIN(len - done, sizeof(zeroes)));
	return ret;
}

/*
 * Clear the whole clusters of the range (zero flag with zero, else unallocated); the partial head
 * and tail are written with zeroes when partial_zero is set, and left alone otherwise.
 */
static int for_clusters(struct qcow2 *s, uint64_t off, uint64_t len, bool zero, bool partial_zero)
{
	uint64_t end = off + len;
	int ret;

	while (off < end) {
		uint64_t cend = ALIGN_DOWN(off, (uint64_t)s->cluster_size) + s->cluster_size;
		uint64_t n = MIN(end, cend) - off;

		if (n == s->cluster_size) {
			ret = clear_cluster(s, off, zero);
		} else if (partial_zero) {
			ret = write_zero_bytes(s, off, n);
		} else {
			ret = 0;
		}
		if (ret < 0)
			return ret;
		off += n;
	}
	return 0;
}

/* Discard: unallocate, or zero-flag where a backing file would otherwise show through (v3). */
static int qcow2_discard(struct blockdev *bs, uint64_t off, uint64_t len)
{
	struct qcow2 *s = qcow2_state(bs);

	if (s->broken)
		return -EIO;
	return for_clusters(s, off, len, s->backing && s->version >= 3, false);
}

/* Zeroes: zero flag for whole clusters in v3 (or unallocated without backing in v2). */
static int qcow2_write_zeroes(struct blockdev *bs, uint64_t off, uint64_t len)
{
	struct qcow2 *s = qcow2_state(bs);

	if (s->broken)
		return -EIO;
	if (s->version < 3 && s->backing)
		return write_zero_bytes(s, off, len);
	return for_clusters(s, off, len, s->version >= 3, true);
}

/* Store one whole cluster deflated (or zstd) into an unallocated cluster. */
static int qcow2_write_compressed(struct blockdev *bs, uint64_t off, const void *buf, size_t len)
{
	struct qcow2 *s = qcow2_state(bs);
	uint64_t idx = off >> (s->cluster_bits + s->l2_bits), l2e, coff, nsec;
	uint32_t l2i = (off >> s->cluster_bits) & (s->l2_entries - 1);
	size_t clen, limit = s->cluster_size - 512;
	struct qcow2_l2 *e;
	int ret;

	if ((off & (s->cluster_size - 1)) || len != s->cluster_size)
		return qcow2_pwrite(bs, off, buf, len);
	ret = lookup(s, off, &l2e);
	if (ret < 0)
		return ret;
	if (l2e & ~QCOW2_OFLAG_ZERO)
		return qcow2_pwrite(bs, off, buf, len);
	if (s->compression_type == 0) {
		z_stream z = {0};
		int zr;

		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		z.next_in = (Bytef *)buf;
		z.avail_in = (uInt)len;
		z.next_out = s->cbuf;
		z.avail_out = (uInt)limit;
		zr = deflate(&z, Z_FINISH);
		clen = limit - z.avail_out;
		deflateEnd(&z);
		if (zr != Z_STREAM_END)
			return qcow2_pwrite(bs, off, buf, len);
	} else {
		clen = ZSTD_compress(s->cbuf, limit, buf, len, 1);
		if (ZSTD_isError(clen))
			return qcow2_pwrite(bs, off, buf, len);
	}
	ret = get_l2(s, (uint32_t)idx, true, &e);
	if (ret < 0)
		return ret;
	ret = qcow2_alloc_bytes(s, clen, &coff);
	if (ret < 0)
		return ret;
	ret = blk_file_pwrite(bs, coff, s->cbuf, clen);
	if (ret < 0)
		return ret;
	s->file_end = MAX(s->file_end, coff + clen);
	s->data_unsynced = true;
	s->dbuf_entry = 0;
	nsec = ((coff + clen - 1) >> 9) - (coff >> 9);
	e->table[l2i] = htobe64(QCOW2_OFLAG_COMPRESSED | (nsec << s->csize_shift) | coff);
	e->dirty = true;
	return 0;
}

static int qcow2_block_status(struct blockdev *bs, uint64_t off, uint64_t len,
			      enum blk_status *status, uint64_t *pnum)
{
	struct qcow2 *s = qcow2_state(bs);
	uint64_t done = 0;
	int ret;

	while (done < len) {
		uint64_t o = off + done, l2e, n;
		enum blk_status st;

		n = MIN(len - done, s->cluster_size - (o & (s->cluster_size - 1)));
		ret = lookup(s, o, &l2e);
		if (ret < 0)
			return ret;
		if (l2e & QCOW2_OFLAG_COMPRESSED)
			st = BLK_STATUS_DATA;
		else if (l2e & QCOW2_OFLAG_ZERO)
			st = BLK_STATUS_ZERO;
		else if (l2e & QCOW2_L2E_OFFSET_MASK)
			st = BLK_STATUS_DATA;
		else
			st = BLK_STATUS_BACKING;
		if (done && st != *status)
			break;
		*status = st;
		done += n;
	}
	*pnum = done;
	return 0;
}

/* Move the active L1 table to a bigger place: new table synced, header switched, old freed. */
int qcow2_grow_l1(struct qcow2 *s, uint32_t min_size)
{
	uint64_t bytes = (uint64_t)min_size * 8, new_off, old_off = s->l1_offset;
	uint64_t old_bytes = ALIGN_UP((uint64_t)s->l1_size * 8, (uint64_t)s->cluster_size);
	uint64_t *l1;
	int32_t *slots;
	uint8_t hdr[12];
	int ret;

	if (min_size <= s->l1_size)
		return 0;
	if (bytes > QCOW2_MAX_L1_BYTES) {
		log_error("%s: L1 table of %u entries would be too large", s->bs->filename,
			  min_size);
		return -EFBIG;
	}
	ret = qcow2_metadata_flush(s);
	if (ret < 0)
		return ret;
	ret = qcow2_alloc_clusters(s, ALIGN_UP(bytes, (uint64_t)s->cluster_size) >> s->cluster_bits,
				   &new_off);
	if (ret < 0)
		return ret;
	l1 = xcalloc(min_size, 8);
	if (s->l1_size)
		memcpy(l1, s->l1, (size_t)s->l1_size * 8);
	ret = qcow2_metadata_flush(s);
	if (!ret)
		ret = qcow2_write_l1(s, new_off, l1, min_size);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (ret < 0)
		goto fail;
	put_be32(hdr, min_size);
	put_be64(hdr + 4, new_off);
	ret = qcow2_update_header(s, QCOW2_HDR_L1, hdr, 12);
	if (ret < 0)
		goto fail;
	slots = xrealloc(s->l2_slot, (size_t)min_size * sizeof(*slots));
	for (uint32_t i = s->l1_size; i < min_size; i++)
		slots[i] = -1;
	s->l2_slot = slots;
	s->l2_slot_n = min_size;
	free(s->l1);
	s->l1 = l1;
	s->l1_offset = new_off;
	s->l1_size = min_size;
	if (old_bytes)
		ret = qcow2_free_now(s, old_off, old_bytes);
	return ret;
fail:
	free(l1);
	return ret;
}

static int qcow2_resize(struct blockdev *bs, uint64_t size, char *err, size_t errlen)
{
	struct qcow2 *s = qcow2_state(bs);
	uint64_t need = qcow2_l1_needed(s, size);
	int ret;

	if (s->broken)
		return blk_seterr(err, errlen, -EIO, "'%s' is corrupt", bs->filename);
	if (need * 8 > QCOW2_MAX_L1_BYTES)
		return blk_seterr(err, errlen, -EFBIG, "size %llu is too large for cluster size %u",
				  (unsigned long long)size, s->cluster_size);
	if (size < bs->size) {
		uint64_t aligned = ALIGN_UP(size, (uint64_t)s->cluster_size);

		if (s->nb_snapshots)
			return blk_seterr(err, errlen, -ENOTSUP,
					  "cannot shrink '%s': it has internal snapshots",
					  bs->filename);
		ret = 0;
		if (aligned > size)
			ret = qcow2_write_zeroes(bs, size, MIN(aligned, bs->size) - size);
		if (!ret && aligned < bs->size)
			ret = for_clusters(s, aligned, bs->size - aligned, false, false);
		if (!ret)
			ret = qcow2_metadata_flush(s);
	} else {
		ret = qcow2_grow_l1(s, (uint32_t)need);
		if (!ret)
			ret = qcow2_metadata_flush(s);
	}
	if (!ret)
		ret = qcow2_set_size(s, size);
	if (ret < 0)
		return blk_seterr(err, errlen, ret, "cannot resize '%s': %s", bs->filename,
				  strerror(-ret));
	return 0;
}

/* Name of an unknown incompatible feature bit, from the image's feature table if it has one. */
static const char *feature_name(const uint8_t *table, uint32_t tlen, int bit, char *buf,
				size_t buflen)
{
	for (uint32_t i = 0; i + 48 <= tlen; i += 48) {
		if (table[i] == 0 && table[i + 1] == bit) {
			snprintf(buf, buflen, "%.46s", (const char *)table + i + 2);
			return buf;
		}
	}
	snprintf(buf, buflen, "unknown feature bit %d", bit);
	return buf;
}

/* Parse the fixed header fields from the first bytes of the file. */
static void parse_header(const uint8_t *b, struct qcow2_header *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = get_be32(b);
	h->version = get_be32(b + 4);
	h->backing_file_offset = get_be64(b + 8);
	h->backing_file_size = get_be32(b + 16);
	h->cluster_bits = get_be32(b + 20);
	h->size = get_be64(b + 24);
	h->crypt_method = get_be32(b + 32);
	h->l1_size = get_be32(b + 36);
	h->l1_table_offset = get_be64(b + 40);
	h->refcount_table_offset = get_be64(b + 48);
	h->refcount_table_clusters = get_be32(b + 56);
	h->nb_snapshots = get_be32(b + 60);
	h->snapshots_offset = get_be64(b + 64);
	if (h->version >= 3) {
		h->incompatible_features = get_be64(b + 72);
		h->compatible_features = get_be64(b + 80);
		h->autoclear_features = get_be64(b + 88);
		h->refcount_order = get_be32(b + 96);
		h->header_length = get_be32(b + 100);
		if (h->header_length > 104)
			h->compression_type = b[104];
	} else {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER_LEN;
	}
}

/* Walk the header extensions in the first cluster. */
static int parse_extensions(struct qcow2 *s, const uint8_t *hc, const struct qcow2_header *h,
			    const uint8_t **ftable, uint32_t *ftlen, char *err, size_t errlen)
{
	uint64_t end = h->backing_file_offset ? h->backing_file_offset : s->cluster_size;
	uint64_t pos = h->header_length;

	*ftable = NULL;
	*ftlen = 0;
	while (pos + 8 <= end) {
		uint32_t type = get_be32(hc + pos), len = get_be32(hc + pos + 4);

		pos += 8;
		if (type == QCOW2_EXT_END)
			break;
		if (len > end - pos)
			return blk_seterr(err, errlen, -EINVAL,
					  "'%s': header extension %#x overruns the header",
					  s->bs->filename, type);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			if (!len || len > 32)
				return blk_seterr(err, errlen, -EINVAL,
						  "'%s': invalid backing format extension",
						  s->bs->filename);
			s->backing_format = xmalloc(len + 1);
			memcpy(s->backing_format, hc + pos, len);
			s->backing_format[len] = 0;
		} else if (type == QCOW2_EXT_FEATURE_TABLE) {
			*ftable = hc + pos;
			*ftlen = len;
		}
		pos += ALIGN_UP((uint64_t)len, 8ULL);
	}
	return 0;
}

/* Resolve the backing file name relative to the overlay's directory. */
static char *backing_path(const char *image, const char *name)
{
	char *copy, *dir, *path;
	size_t n;

	if (name[0] == '/')
		return xstrdup(name);
	copy = xstrdup(image);
	dir = dirname(copy);
	n = strlen(dir) + strlen(name) + 2;
	path = xmalloc(n);
	snprintf(path, n, "%s/%s", dir, name);
	free(copy);
	return path;
}

static void qcow2_close(struct blockdev *bs);

static int qcow2_open(struct blockdev *bs, const char *backing_format, char *err, size_t errlen)
{
	struct qcow2 *s = xcalloc(1, sizeof(*s));
	uint8_t first[QCOW2_V3_HEADER_LEN + 8] = {0};
	const uint8_t *ftable;
	uint8_t *hc = NULL;
	struct qcow2_header h;
	uint32_t ftlen;
	bool rw = !(bs->flags & BLK_RDONLY);
	int ret;

	s->bs = bs;
	bs->opaque = s;
	ret = blk_file_size(bs, &s->file_end);
	if (ret < 0) {
		ret = blk_seterr(err, errlen, ret, "cannot get size of '%s'", bs->filename);
		goto fail;
	}
	if (s->file_end < QCOW2_V2_HEADER_LEN) {
		ret = blk_seterr(err, errlen, -EINVAL, "'%s' is too small to be a qcow2 image",
				 bs->filename);
		goto fail;
	}
	ret = blk_file_pread(bs, 0, first, sizeof(first));
	if (ret < 0) {
		ret = blk_seterr(err, errlen, ret, "cannot read header of '%s'", bs->filename);
		goto fail;
	}
	parse_header(first, &h);
	ret = -EINVAL;
	if (h.magic != QCOW2_MAGIC) {
		blk_seterr(err, errlen, ret, "'%s' is not a qcow2 image (bad magic)", bs->filename);
		goto fail;
	}
	if (h.version != 2 && h.version != 3) {
		blk_seterr(err, errlen, -ENOTSUP, "'%s': unsupported qcow2 version %u",
			   bs->filename, h.version);
		ret = -ENOTSUP;
		goto fail;
	}
	if (h.cluster_bits < 9 || h.cluster_bits > 21) {
		blk_seterr(err, errlen, ret, "'%s': invalid cluster bits %u", bs->filename,
			   h.cluster_bits);
		goto fail;
	}
	s->version = (int)h.version;
	s->cluster_bits = h.cluster_bits;
	s->cluster_size = 1U << h.cluster_bits;
	s->l2_bits = s->cluster_bits - 3;
	s->l2_entries = 1U << s->l2_bits;
	if (h.version >= 3 && (h.header_length < QCOW2_V3_HEADER_LEN || (h.header_length & 7) ||
			       h.header_length > s->cluster_size)) {
		blk_seterr(err, errlen, ret, "'%s': invalid header length %u", bs->filename,
			   h.header_length);
		goto fail;
	}
	if (h.refcount_order > 6) {
		blk_seterr(err, errlen, ret, "'%s': invalid refcount order %u", bs->filename,
			   h.refcount_order);
		goto fail;
	}
	s->refcount_order = h.refcount_order;
	s->refcount_bits = 1U << h.refcount_order;
	s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ULL << s->refcount_bits) - 1;
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
	s->csize_shift = 62 - (s->cluster_bits - 8);
	s->csize_mask = (1ULL << (s->cluster_bits - 8)) - 1;
	s->coffset_mask = (1ULL << s->csize_shift) - 1;
	if (h.crypt_method) {
		blk_seterr(err, errlen, -ENOTSUP, "'%s': encrypted qcow2 images are not supported",
			   bs->filename);
		ret = -ENOTSUP;
		goto fail;
	}
	hc = xcalloc(1, s->cluster_size);
	ret = blk_file_pread(bs, 0, hc, s->cluster_size);
	if (ret < 0) {
		blk_seterr(err, errlen, ret, "cannot read header of '%s'", bs->filename);
		goto fail;
	}
	ret = -EINVAL;
	if (h.backing_file_offset &&
	    (h.backing_file_offset > s->cluster_size || !h.backing_file_size ||
	     h.backing_file_size > QCOW2_MAX_BACKING_NAME ||
	     h.backing_file_size > s->cluster_size - h.backing_file_offset ||
	     h.backing_file_offset < h.header_length)) {
		blk_seterr(err, errlen, ret, "'%s': invalid backing file name location",
			   bs->filename);
		goto fail;
	}
	ret = parse_extensions(s, hc, &h, &ftable, &ftlen, err, errlen);
	if (ret < 0)
		goto fail;
	ret = -EINVAL;
	s->incompat = h.incompatible_features;
	s->compat = h.compatible_features;
	s->autoclear = h.autoclear_features;
	{
		uint64_t unknown = s->incompat & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
						   QCOW2_INCOMPAT_COMPRESSION);
		char name[64];

		if (unknown) {
			int bit = __builtin_ctzll(unknown);

			blk_seterr(err, errlen, -ENOTSUP, "'%s': unsupported qcow2 feature: %s",
				   bs->filename,
				   feature_name(ftable, ftlen, bit, name, sizeof(name)));
			ret = -ENOTSUP;
			goto fail;
		}
	}
	s->compression_type = h.compression_type;
	if ((s->compression_type != 0) != !!(s->incompat & QCOW2_INCOMPAT_COMPRESSION) ||
	    s->compression_type > 1) {
		blk_seterr(err, errlen, ret, "'%s': invalid compression type %u", bs->filename,
			   h.compression_type);
		goto fail;
	}
	if (rw && !(bs->flags & BLK_REPAIR_OPEN) &&
	    (s->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))) {
		blk_seterr(err, errlen, -EPERM,
			   "'%s' is marked %s; repair it with 'berth-img check -r all' first",
			   bs->filename,
			   (s->incompat & QCOW2_INCOMPAT_CORRUPT) ? "corrupt" : "dirty");
		ret = -EPERM;
		goto fail;
	}
	/* Size and L1 table. */
	if (h.size > (1ULL << 61)) {
		blk_seterr(err, errlen, ret, "'%s': virtual size too large", bs->filename);
		goto fail;
	}
	bs->size = h.size;
	if ((uint64_t)h.l1_size * 8 > QCOW2_MAX_L1_BYTES ||
	    h.l1_size < qcow2_l1_needed(s, h.size)) {
		blk_seterr(err, errlen, ret, "'%s': L1 table size %u does not fit the disk size",
			   bs->filename, h.l1_size);
		goto fail;
	}
	if (h.l1_size && qcow2_valid_offset(s, h.l1_table_offset, (uint64_t)h.l1_size * 8)) {
		blk_seterr(err, errlen, ret, "'%s': invalid L1 table offset %#llx", bs->filename,
			   (unsigned long long)h.l1_table_offset);
		goto fail;
	}
	if (!h.refcount_table_clusters ||
	    (uint64_t)h.refcount_table_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES ||
	    qcow2_valid_offset(s, h.refcount_table_offset,
			       (uint64_t)h.refcount_table_clusters * s->cluster_size)) {
		blk_seterr(err, errlen, ret, "'%s': invalid refcount table", bs->filename);
		goto fail;
	}
	s->l1_offset = h.l1_table_offset;
	s->l1_size = h.l1_size;
	s->rt_offset = h.refcount_table_offset;
	s->rt_clusters = h.refcount_table_clusters;
	s->header_length = h.header_length;
	s->tmp = xmalloc(s->cluster_size);
	s->dbuf = xmalloc(s->cluster_size);
	s->cbuf = xmalloc(2 * (size_t)s->cluster_size);
	ret = qcow2_read_l1(s, s->l1_offset, s->l1_size, &s->l1);
	if (ret < 0) {
		blk_seterr(err, errlen, ret, "'%s': cannot read the L1 table", bs->filename);
		goto fail;
	}
	if (!s->l1)
		s->l1 = xcalloc(1, 8);
	l2_cache_init(s);
	s->nb_snapshots = h.nb_snapshots;
	s->snapshots_offset = h.snapshots_offset;
	ret = qcow2_read_snapshots(s, err, errlen);
	if (ret < 0)
		goto fail;
	if (rw) {
		ret = qcow2_load_refcounts(s);
		if (ret < 0) {
			blk_seterr(err, errlen, ret, "'%s': cannot load refcounts", bs->filename);
			goto fail;
		}
		if (s->autoclear) {
			/* We do not maintain what these bits describe (e.g. bitmaps): drop them. */
			uint8_t zero[8] = {0};

			ret = blk_file_pwrite(bs, QCOW2_HDR_AUTOCLEAR, zero, 8);
			if (ret < 0) {
				blk_seterr(err, errlen, ret, "cannot update header of '%s'",
					   bs->filename);
				goto fail;
			}
			s->autoclear = 0;
		}
	}
	/* Backing file: its format comes from the header or the caller, never from probing. */
	if (h.backing_file_offset) {
		s->backing_name = xmalloc(h.backing_file_size + 1);
		memcpy(s->backing_name, hc + h.backing_file_offset, h.backing_file_size);
		s->backing_name[h.backing_file_size] = 0;
		if (strlen(s->backing_name) != h.backing_file_size) {
			ret = blk_seterr(err, errlen, -EINVAL, "'%s': invalid backing file name",
					 bs->filename);
			goto fail;
		}
		s->backing_path = backing_path(bs->filename, s->backing_name);
		if (!s->backing_format && backing_format)
			s->backing_format = xstrdup(backing_format);
		if (bs->flags & BLK_NO_BACKING)
			goto done;
		if (!s->backing_format) {
			ret =
			    blk_seterr(err, errlen, -EINVAL,
				       "'%s' does not record the format of its backing file '%s'; "
				       "give it explicitly (-F)",
				       bs->filename, s->backing_name);
			goto fail;
		}
		s->backing = blk_open_backing(bs, s->backing_path, s->backing_format, err, errlen);
		bs->backing = s->backing;
		if (!s->backing) {
			ret = -EINVAL;
			goto fail;
		}
	}
done:
	free(hc);
	return 0;
fail:
	free(hc);
	qcow2_close(bs);
	return ret;
}

static void qcow2_close(struct blockdev *bs)
{
	struct qcow2 *s = qcow2_state(bs);

	if (!s)
		return;
	if (s->backing)
		blk_close(s->backing);
	l2_cache_free(s);
	qcow2_free_refcounts(s);
	qcow2_free_snapshots(s);
	free(s->l1);
	free(s->tmp);
	free(s->dbuf);
	free(s->cbuf);
	free(s->backing_name);
	free(s->backing_format);
	free(s->backing_path);
	free(s);
	bs->opaque = NULL;
}

static void qcow2_get_info(struct blockdev *bs, struct blk_info *info)
{
	struct qcow2 *s = qcow2_state(bs);

	info->cluster_size = s->cluster_size;
	info->qcow2_version = s->version;
	info->refcount_bits = (int)s->refcount_bits;
	info->compression_type = s->compression_type;
	info->dirty = s->incompat & QCOW2_INCOMPAT_DIRTY;
	info->corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
	info->lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->backing_file = s->backing_name;
	info->backing_format = s->backing_format;
	info->backing_full_path = s->backing_path;
}

/* Append a header extension to the header cluster being built; false if it does not fit. */
static bool put_ext(uint8_t *hc, uint32_t *pos, uint32_t limit, uint32_t type, const void *data,
		    uint32_t len)
{
	uint32_t padded = ALIGN_UP(len, 8U);

	if (*pos + 8 + padded > limit)
		return false;
	put_be32(hc + *pos, type);
	put_be32(hc + *pos + 4, len);
	memcpy(hc + *pos + 8, data, len);
	*pos += 8 + padded;
	return true;
}

/*
 * Create a qcow2 image: header cluster, one refcount table cluster and refcount block 0 counting
 * those three clusters. The L1 table is then allocated through the normal code path by growing
 * the empty image to its size.
 */
static int qcow2_create(const char *path, const struct blk_create_opts *o, char *err, size_t errlen)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536, pos, limit, hdr_len;
	int version = o->compat ? o->compat : 3;
	uint64_t size = o->size;
	uint8_t *buf = NULL, ftable[ARRAY_SIZE(feature_names) * 48];
	struct blockdev *bs = NULL;
	int fd = -1, ret;

	if (cs < 512 || cs > (2U << 20) || (cs & (cs - 1)))
		return blk_seterr(err, errlen, -EINVAL,
				  "cluster size must be a power of two between 512 and 2M");
	if (version != 2 && version != 3)
		return blk_seterr(err, errlen, -EINVAL, "compat must be 0.10 or 1.1");
	if (o->compression_type && version < 3)
		return blk_seterr(err, errlen, -EINVAL, "zstd compression needs compat=1.1");
	if (o->backing_file) {
		struct blockdev *back;
		char *bpath;

		if (!o->backing_format)
			return blk_seterr(err, errlen, -EINVAL,
					  "a backing file needs its format given (-F)");
		if (strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME || !o->backing_file[0])
			return blk_seterr(err, errlen, -EINVAL, "backing file name is invalid");
		/* The backing file must open (with the given format) and gives the default size. */
		bpath = backing_path(path, o->backing_file);
		back = blk_open(bpath, o->backing_format, BLK_RDONLY, err, errlen);
		free(bpath);
		if (!back)
			return -EINVAL;
		if (!size)
			size = blk_size(back);
		blk_close(back);
	}
	if (size > (1ULL << 61))
		return blk_seterr(err, errlen, -EINVAL, "size is too large");
	buf = xcalloc(3, cs);
	hdr_len = version >= 3 ? 112 : QCOW2_V2_HEADER_LEN;
	put_be32(buf, QCOW2_MAGIC);
	put_be32(buf + 4, (uint32_t)version);
	put_be32(buf + 20, (uint32_t)__builtin_ctz(cs));
	put_be64(buf + 48, cs); /* refcount table in cluster 1 */
	put_be32(buf + 56, 1);
	if (version >= 3) {
		put_be64(buf + 72, o->compression_type ? QCOW2_INCOMPAT_COMPRESSION : 0);
		put_be32(buf + 96, 4);
		put_be32(buf + 100, hdr_len);
		buf[104] = (uint8_t)o->compression_type;
	}
	pos = hdr_len;
	limit = cs - (o->backing_file ? (uint32_t)strlen(o->backing_file) : 0) - 8;
	if (o->backing_file && !put_ext(buf, &pos, limit, QCOW2_EXT_BACKING_FORMAT,
					o->backing_format, (uint32_t)strlen(o->backing_format))) {
		ret = blk_seterr(err, errlen, -EINVAL, "backing file name does not fit the header");
		goto out;
	}
	memset(ftable, 0, sizeof(ftable));
	for (size_t i = 0; i < ARRAY_SIZE(feature_names); i++) {
		ftable[i * 48] = feature_names[i].type;
		ftable[i * 48 + 1] = feature_names[i].bit;
		memcpy(ftable + i * 48 + 2, feature_names[i].name, strlen(feature_names[i].name));
	}
	if (version >= 3)
		put_ext(buf, &pos, limit, QCOW2_EXT_FEATURE_TABLE, ftable, sizeof(ftable));
	pos += 8; /* end-of-extensions marker (zeroes) */
	if (o->backing_file) {
		put_be64(buf + 8, pos);
		put_be32(buf + 16, (uint32_t)strlen(o->backing_file));
		memcpy(buf + pos, o->backing_file, strlen(o->backing_file));
	}
	put_be64(buf + cs, 2ULL * cs); /* refcount block 0 in cluster 2 */
	for (int i = 0; i < 3; i++)
		buf[2 * cs + i * 2 + 1] = 1;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = blk_seterr(err, errlen, -errno, "cannot create '%s': %s", path,
				 strerror(errno));
		goto out;
	}
	if (write_all(fd, buf, 3 * (size_t)cs) < 0 || fsync(fd) < 0) {
		ret =
		    blk_seterr(err, errlen, -errno, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	bs = blk_open_ex(path, "qcow2", o->backing_format, 0, err, errlen);
	if (!bs) {
		ret = -EIO;
		goto out;
	}
	ret = blk_resize(bs, size, err, errlen);
	if (ret < 0)
		goto out;
	ret = blk_close(bs);
	bs = NULL;
	if (ret < 0)
		blk_seterr(err, errlen, ret, "cannot write '%s'", path);
out:
	if (bs)
		blk_close(bs);
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

const struct blk_driver blk_qcow2_driver = {
    .name = "qcow2",
    .open = qcow2_open,
    .close = qcow2_close,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .write_compressed = qcow2_write_compressed,
    .resize = qcow2_resize,
    .block_status = qcow2_block_status,
    .create = qcow2_create,
    .get_info = qcow2_get_info,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
    .check = qcow2_check,
};
