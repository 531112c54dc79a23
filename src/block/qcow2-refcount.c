/*
 * qcow2 refcounts: the refcount table and all refcount blocks live in memory while the image is
 * writable (a few bytes per cluster of file), changes are written back in the order described
 * in qcow2.h, and cluster allocation searches them for free space.
 */
#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Read entry i of a refcount block in the image's refcount width. */
static uint64_t rb_get(const struct qcow2 *s, const uint8_t *b, uint64_t i)
{
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

	switch (s->refcount_order) {
	case 6:
		memcpy(&v64, b + i * 8, 8);
		return be64toh(v64);
	case 5:
		memcpy(&v32, b + i * 4, 4);
		return be32toh(v32);
	case 4:
		memcpy(&v16, b + i * 2, 2);
		return be16toh(v16);
	case 3:
		return b[i];
	default: {
		uint64_t bit = i * s->refcount_bits;

		return (b[bit / 8] >> (bit % 8)) & s->refcount_max;
	}
	}
}

/* Store entry i of a refcount block; value must fit the width. */
static void rb_set(const struct qcow2 *s, uint8_t *b, uint64_t i, uint64_t v)
{
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

	switch (s->refcount_order) {
	case 6:
		v64 = htobe64(v);
		memcpy(b + i * 8, &v64, 8);
		break;
	case 5:
		v32 = htobe32((uint32_t)v);
		memcpy(b + i * 4, &v32, 4);
		break;
	case 4:
		v16 = htobe16((uint16_t)v);
		memcpy(b + i * 2, &v16, 2);
		break;
	case 3:
		b[i] = (uint8_t)v;
		break;
	default: {
		uint64_t bit = i * s->refcount_bits;
		uint8_t mask = (uint8_t)(s->refcount_max << (bit % 8));

		b[bit / 8] = (uint8_t)((b[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
		break;
	}
	}
}

/* Read the refcount table and every refcount block it points at, validating each offset. */
int qcow2_load_refcounts(struct qcow2 *s)
{
	uint64_t bytes = (uint64_t)s->rt_clusters * s->cluster_size;
	uint64_t *raw;
	int ret;

	if (s->rc_loaded)
		return 0;
	if (!s->rt_clusters || bytes > QCOW2_MAX_REFTABLE_BYTES)
		return qcow2_corrupt(s, "refcount table size %u clusters is invalid",
				     s->rt_clusters);
	ret = qcow2_valid_offset(s, s->rt_offset, bytes);
	if (ret < 0)
		return qcow2_corrupt(s, "refcount table offset %#llx is invalid",
				     (unsigned long long)s->rt_offset);
	s->rt_entries = bytes / 8;
	raw = xmalloc(bytes);
	ret = blk_file_pread(s->bs, s->rt_offset, raw, bytes);
	if (ret < 0) {
		free(raw);
		return ret;
	}
	s->rt = raw;
	s->rb = xcalloc(s->rt_entries, sizeof(*s->rb));
	s->rb_dirty = xcalloc(s->rt_entries, sizeof(*s->rb_dirty));
	s->rc_loaded = true;
	for (uint64_t i = 0; i < s->rt_entries; i++) {
		uint64_t off = be64toh(raw[i]);

		s->rt[i] = off;
		if (!off)
			continue;
		if ((off & ~QCOW2_RT_OFFSET_MASK) || qcow2_valid_offset(s, off, s->cluster_size)) {
			ret = qcow2_corrupt(s, "refcount block %llu offset %#llx is invalid",
					    (unsigned long long)i, (unsigned long long)off);
			goto fail;
		}
		s->rb[i] = xmalloc(s->cluster_size);
		ret = blk_file_pread(s->bs, off, s->rb[i], s->cluster_size);
		if (ret < 0)
			goto fail;
		s->alloc_end = ((i + 1) << s->rb_bits);
	}
	/* Tighten alloc_end to the last cluster actually in use. */
	while (s->alloc_end && !qcow2_rc_get(s, s->alloc_end - 1))
		s->alloc_end--;
	s->free_hint = 1;
	return 0;
fail:
	qcow2_free_refcounts(s);
	return ret;
}

void qcow2_free_refcounts(struct qcow2 *s)
{
	if (s->rb)
		for (uint64_t i = 0; i < s->rt_entries; i++)
			free(s->rb[i]);
	free(s->rb);
	free(s->rb_dirty);
	free(s->rt);
	free(s->pending_free);
	s->rb = NULL;
	s->rb_dirty = NULL;
	s->rt = NULL;
	s->pending_free = NULL;
	s->n_pending = s->cap_pending = 0;
	s->rc_loaded = false;
}

uint64_t qcow2_rc_get(struct qcow2 *s, uint64_t cluster)
{
	uint64_t i = cluster >> s->rb_bits;

	if (i >= s->rt_entries || !s->rb[i])
		return 0;
	return rb_get(s, s->rb[i], cluster & ((1ULL << s->rb_bits) - 1));
}

static int grow_reftable(struct qcow2 *s, uint64_t min_entries);

/*
 * Create refcount block i. It goes in the first cluster of the range it covers (all of which
 * are free, since nothing can count them yet), or just after [avoid, avoid+n) when that range
 * is being allocated. The block is synced before the table entry that points at it.
 */
static int new_refblock(struct qcow2 *s, uint64_t i, uint64_t avoid, uint64_t n)
{
	uint64_t first = i << s->rb_bits, cand = first ? first : 1;
	uint8_t *buf;
	uint64_t be;
	int ret;

	if (i >= s->rt_entries)
		return grow_reftable(s, i + 1);
	if (cand >= avoid && cand < avoid + n)
		cand = avoid + n;
	if ((cand >> s->rb_bits) != i) {
		log_error("%s: allocation of %llu clusters is too large", s->bs->filename,
			  (unsigned long long)n);
		return -EFBIG;
	}
	buf = xcalloc(1, s->cluster_size);
	rb_set(s, buf, cand - first, 1);
	ret = blk_file_pwrite(s->bs, cand << s->cluster_bits, buf, s->cluster_size);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	s->file_end = MAX(s->file_end, (cand + 1) << s->cluster_bits);
	be = htobe64(cand << s->cluster_bits);
	ret = blk_file_pwrite(s->bs, s->rt_offset + i * 8, &be, 8);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	s->rt[i] = cand << s->cluster_bits;
	s->rb[i] = buf;
	s->rc_unsynced = true;
	s->alloc_end = MAX(s->alloc_end, cand + 1);
	return 0;
}

/*
 * Replace the refcount table with a larger one at the end of the image. New refcount blocks the
 * table's own clusters need are placed right after it. Order: blocks, table, sync, header, sync,
 * then the old table is freed.
 */
static int grow_reftable(struct qcow2 *s, uint64_t min_entries)
{
	uint64_t per_cluster = s->cluster_size / 8;
	uint64_t t =
	    MAX((uint64_t)s->rt_clusters * 2, (min_entries + per_cluster - 1) / per_cluster);
	uint64_t start = MAX((s->file_end + s->cluster_size - 1) >> s->cluster_bits, s->alloc_end);
	uint64_t b = 0, first_b, last_b, new_entries, total, k;
	uint64_t *new_rt = NULL, *be_rt = NULL, old_off = s->rt_offset,
		 old_clusters = s->rt_clusters;
	uint8_t **new_rb = NULL;
	bool *new_dirty;
	uint8_t hdr[12];
	int ret = 0;

	/* Find a table size and block count that describe themselves. */
	for (;;) {
		uint64_t need = 0;

		total = t + b;
		first_b = start >> s->rb_bits;
		last_b = (start + total - 1) >> s->rb_bits;
		if (last_b >= t * per_cluster) {
			t = (last_b + per_cluster) / per_cluster;
			continue;
		}
		for (uint64_t j = first_b; j <= last_b; j++)
			if (j >= s->rt_entries || !s->rb[j])
				need++;
		if (need == b)
			break;
		b = need;
	}
	if (t * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES) {
		log_error("%s: refcount table would exceed %llu bytes", s->bs->filename,
			  (unsigned long long)QCOW2_MAX_REFTABLE_BYTES);
		return -EFBIG;
	}
	new_entries = t * per_cluster;
	new_rt = xcalloc(new_entries, 8);
	memcpy(new_rt, s->rt, s->rt_entries * 8);
	new_rb = xcalloc(new_entries, sizeof(*new_rb));
	memcpy(new_rb, s->rb, s->rt_entries * sizeof(*new_rb));
	new_dirty = xcalloc(new_entries, sizeof(*new_dirty));
	memcpy(new_dirty, s->rb_dirty, s->rt_entries * sizeof(*new_dirty));
	k = 0;
	for (uint64_t j = first_b; j <= last_b; j++) {
		if (j < s->rt_entries && s->rb[j])
			continue;
		new_rt[j] = (start + t + k++) << s->cluster_bits;
		new_rb[j] = xcalloc(1, s->cluster_size);
	}
	/* Count the new table and blocks, in the new blocks or the existing ones. */
	for (uint64_t c = start; c < start + total; c++) {
		uint64_t j = c >> s->rb_bits;

		if (j < s->rt_entries && s->rb[j]) {
			ret = qcow2_rc_add(s, c, 1);
			if (ret < 0)
				goto fail;
		} else {
			rb_set(s, new_rb[j], c & ((1ULL << s->rb_bits) - 1), 1);
		}
	}
	for (uint64_t j = first_b; j <= last_b && !ret; j++)
		if (j >= s->rt_entries || !s->rb[j])
			ret = blk_file_pwrite(s->bs, new_rt[j], new_rb[j], s->cluster_size);
	if (!ret)
		ret = qcow2_rc_writeback(s);
	be_rt = xmalloc(t * s->cluster_size);
	for (uint64_t j = 0; j < new_entries; j++)
		be_rt[j] = htobe64(new_rt[j]);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (!ret)
		ret = blk_file_pwrite(s->bs, start << s->cluster_bits, be_rt, t * s->cluster_size);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (ret < 0)
		goto fail;
	put_be64(hdr, start << s->cluster_bits);
	put_be32(hdr + 8, (uint32_t)t);
	ret = qcow2_update_header(s, QCOW2_HDR_REFTABLE, hdr, 12);
	if (ret < 0)
		goto fail;
	free(be_rt);
	free(s->rt);
	free(s->rb);
	free(s->rb_dirty);
	s->rt = new_rt;
	s->rb = new_rb;
	s->rb_dirty = new_dirty;
	s->rt_entries = new_entries;
	s->rt_offset = start << s->cluster_bits;
	s->rt_clusters = (uint32_t)t;
	s->alloc_end = MAX(s->alloc_end, start + total);
	s->file_end = MAX(s->file_end, (start + total) << s->cluster_bits);
	return qcow2_free_now(s, old_off, old_clusters << s->cluster_bits);
fail:
	for (uint64_t j = first_b; j <= last_b; j++)
		if (j >= s->rt_entries || !s->rb[j])
			free(new_rb[j]);
	free(new_rb);
	free(new_dirty);
	free(new_rt);
	free(be_rt);
	return ret;
}

/* Set a refcount, creating its block if needed. */
int qcow2_rc_set(struct qcow2 *s, uint64_t cluster, uint64_t value)
{
	uint64_t i = cluster >> s->rb_bits;
	int ret;

	if (value > s->refcount_max) {
		log_error("%s: refcount of cluster %#llx would overflow %u bits", s->bs->filename,
			  (unsigned long long)(cluster << s->cluster_bits), s->refcount_bits);
		return -ERANGE;
	}
	while (i >= s->rt_entries || !s->rb[i]) {
		if (!value)
			return 0;
		ret = new_refblock(s, i, cluster, 1);
		if (ret < 0)
			return ret;
	}
	rb_set(s, s->rb[i], cluster & ((1ULL << s->rb_bits) - 1), value);
	s->rb_dirty[i] = true;
	s->rc_dirty = true;
	s->rc_unsynced = true;
	if (!value && cluster < s->free_hint)
		s->free_hint = MAX(cluster, 1);
	if (value && cluster >= s->alloc_end)
		s->alloc_end = cluster + 1;
	return 0;
}

/* Change a refcount by delta; dropping below zero means the image is corrupt. */
int qcow2_rc_add(struct qcow2 *s, uint64_t cluster, int delta)
{
	uint64_t v = qcow2_rc_get(s, cluster);

	if (delta < 0 && v < (uint64_t)-delta)
		return qcow2_corrupt(s, "refcount of cluster %#llx would drop below zero",
				     (unsigned long long)(cluster << s->cluster_bits));
	return qcow2_rc_set(s, cluster, v + delta);
}

/* First run of n free clusters at or after the hint. */
static int find_free(struct qcow2 *s, uint64_t n, uint64_t *start)
{
	uint64_t limit = QCOW2_L2E_OFFSET_MASK >> s->cluster_bits, run = 0;

	for (uint64_t c = MAX(s->free_hint, 1); c < limit; c++) {
		if (qcow2_rc_get(s, c)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			*start = c + 1 - n;
			return 0;
		}
	}
	log_error("%s: image is full", s->bs->filename);
	return -ENOSPC;
}

/* Allocate n contiguous clusters with refcount 1 (in memory; written back later). */
int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *offset)
{
	uint64_t start;
	bool retry;
	int ret;

	do {
		retry = false;
		ret = find_free(s, n, &start);
		if (ret < 0)
			return ret;
		for (uint64_t j = start >> s->rb_bits; j <= (start + n - 1) >> s->rb_bits; j++) {
			if (j < s->rt_entries && s->rb[j])
				continue;
			ret = new_refblock(s, j, start, n);
			if (ret < 0)
				return ret;
			retry = true;
			break;
		}
	} while (retry);
	for (uint64_t c = start; c < start + n; c++) {
		ret = qcow2_rc_add(s, c, 1);
		if (ret < 0)
			return ret;
	}
	if (n == 1)
		s->free_hint = start + 1;
	*offset = start << s->cluster_bits;
	return 0;
}

/* Allocate size bytes for a compressed cluster, packing them after the previous one. */
int qcow2_alloc_bytes(struct qcow2 *s, uint64_t size, uint64_t *offset)
{
	uint64_t off = s->cwrite_off;
	int ret;

	if (off && (off & (s->cluster_size - 1)) &&
	    (off >> s->cluster_bits) == ((off + size - 1) >> s->cluster_bits) &&
	    qcow2_rc_get(s, off >> s->cluster_bits)) {
		ret = qcow2_rc_add(s, off >> s->cluster_bits, 1);
		if (ret < 0)
			return ret;
	} else {
		ret =
		    qcow2_alloc_clusters(s, (size + s->cluster_size - 1) >> s->cluster_bits, &off);
		if (ret < 0)
			return ret;
	}
	*offset = off;
	s->cwrite_off = off + size;
	return 0;
}

/* The host byte range an L2 entry holds a reference on. */
void qcow2_entry_range(struct qcow2 *s, uint64_t l2e, uint64_t *start, uint64_t *len)
{
	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t coff = l2e & s->coffset_mask;
		uint64_t nsec = ((l2e >> s->csize_shift) & s->csize_mask) + 1;

		*start = coff & ~511ULL;
		*len = nsec * 512;
	} else {
		*start = l2e & QCOW2_L2E_OFFSET_MASK;
		*len = s->cluster_size;
	}
}

/* Drop one reference on every cluster in [offset, offset+len) once tables are synced. */
int qcow2_free_later(struct qcow2 *s, uint64_t offset, uint64_t len)
{
	for (uint64_t c = offset >> s->cluster_bits; c <= (offset + len - 1) >> s->cluster_bits;
	     c++) {
		if (s->n_pending == s->cap_pending) {
			s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 64;
			s->pending_free =
			    xrealloc(s->pending_free, s->cap_pending * sizeof(*s->pending_free));
		}
		s->pending_free[s->n_pending++] = c;
	}
	if (s->n_pending >= 65536)
		return qcow2_metadata_flush(s);
	return 0;
}

/* Drop one reference on every cluster in the range now (nothing on disk refers to it). */
int qcow2_free_now(struct qcow2 *s, uint64_t offset, uint64_t len)
{
	int ret;

	for (uint64_t c = offset >> s->cluster_bits; c <= (offset + len - 1) >> s->cluster_bits;
	     c++) {
		ret = qcow2_rc_add(s, c, -1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Write every dirty refcount block (no sync). */
int qcow2_rc_writeback(struct qcow2 *s)
{
	int ret;

	if (!s->rc_dirty)
		return 0;
	for (uint64_t i = 0; i < s->rt_entries; i++) {
		if (!s->rb_dirty[i])
			continue;
		ret = blk_file_pwrite(s->bs, s->rt[i], s->rb[i], s->cluster_size);
		if (ret < 0)
			return ret;
		s->rb_dirty[i] = false;
	}
	s->rc_dirty = false;
	return 0;
}

/* Refcounts to disk and synced: the precondition for writing any L2 table. */
int qcow2_rc_flush(struct qcow2 *s)
{
	int ret = qcow2_rc_writeback(s);

	if (ret < 0)
		return ret;
	if (s->rc_unsynced) {
		ret = blk_file_sync(s->bs);
		if (ret < 0)
			return ret;
		s->rc_unsynced = false;
		s->data_unsynced = false;
	}
	return 0;
}

/*
 * Bring all metadata to stable storage in dependency order: refcounts, L2 tables, L1 table;
 * then release the clusters that lost their last reference and write those refcounts too.
 */
int qcow2_metadata_flush(struct qcow2 *s)
{
	int ret;

	if (!s->rc_loaded)
		return 0;
	ret = qcow2_rc_flush(s);
	if (!ret)
		ret = qcow2_l2_writeback_all(s);
	if (ret < 0)
		return ret;
	if (s->l2_unsynced || s->data_unsynced) {
		ret = blk_file_sync(s->bs);
		if (ret < 0)
			return ret;
		s->l2_unsynced = false;
		s->data_unsynced = false;
	}
	if (s->l1_dirty) {
		ret = qcow2_write_l1(s, s->l1_offset, s->l1, s->l1_size);
		if (!ret)
			ret = blk_file_sync(s->bs);
		if (ret < 0)
			return ret;
		s->l1_dirty = false;
	}
	if (s->n_pending) {
		for (size_t i = 0; i < s->n_pending; i++) {
			ret = qcow2_rc_add(s, s->pending_free[i], -1);
			if (ret < 0)
				return ret;
		}
		s->n_pending = 0;
		s->dbuf_entry = 0;
		ret = qcow2_rc_flush(s);
	}
	return ret;
}
