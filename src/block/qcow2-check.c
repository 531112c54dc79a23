/*
 * qcow2 consistency check: count every reference the metadata makes (header, L1/L2 tables of the
 * active state and of each snapshot, data clusters, refcount structures, snapshot table) and
 * compare with the stored refcounts. Stored > counted is a leak; stored < counted, references
 * outside the file, misaligned tables and wrong COPIED flags are corruption. Repair sets the
 * stored refcounts to the counts (leaks only, or everything) and fixes COPIED flags.
 */
#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
	struct qcow2 *s;
	uint64_t nb;	 /* clusters in the file */
	uint64_t *count; /* references found per cluster */
	uint64_t corruptions, leaks, errors;
	uint64_t allocated;
	uint64_t reported;
	bool quiet;
};

#define MAX_REPORTS 100

static void report(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet || ++c->reported > MAX_REPORTS + 1)
		return;
	if (c->reported == MAX_REPORTS + 1) {
		fprintf(stderr, "(further problems not listed)\n");
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Count one reference on every cluster in [off, off+len). */
static void ref(struct check *c, uint64_t off, uint64_t len, const char *what)
{
	struct qcow2 *s = c->s;

	for (uint64_t i = off >> s->cluster_bits; i <= (off + len - 1) >> s->cluster_bits; i++) {
		if (i >= c->nb) {
			report(c, "ERROR %s at %#llx is beyond the end of the image file", what,
			       (unsigned long long)(i << s->cluster_bits));
			c->corruptions++;
			continue;
		}
		c->count[i]++;
	}
}

/* Count the references of one L1 table and everything below it. */
static void walk(struct check *c, const uint64_t *l1, uint32_t n, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t *t = xmalloc(s->cluster_size);

	for (uint32_t i = 0; i < n; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;

		if (!l2off)
			continue;
		if (l1[i] & QCOW2_L1E_RESERVED) {
			report(c, "ERROR L1 entry %u has reserved bits set: %#llx", i,
			       (unsigned long long)l1[i]);
			c->corruptions++;
		}
		if (l2off & (s->cluster_size - 1)) {
			report(c, "ERROR L2 table at %#llx is not cluster-aligned",
			       (unsigned long long)l2off);
			c->corruptions++;
			continue;
		}
		ref(c, l2off, s->cluster_size, "L2 table");
		if (l2off >= s->file_end)
			continue;
		if (blk_file_pread(s->bs, l2off, t, s->cluster_size) < 0) {
			c->errors++;
			continue;
		}
		for (uint32_t j = 0; j < s->l2_entries; j++) {
			uint64_t e = be64toh(t[j]), start, len;

			if (e & QCOW2_OFLAG_COMPRESSED) {
				if (e & QCOW2_OFLAG_COPIED) {
					report(
					    c,
					    "ERROR compressed cluster entry %#llx has COPIED set",
					    (unsigned long long)e);
					c->corruptions++;
				}
			} else if (!(e & QCOW2_L2E_OFFSET_MASK)) {
				continue;
			} else if (e & (s->cluster_size - 1) & QCOW2_L2E_OFFSET_MASK) {
				report(c, "ERROR data cluster at %#llx is not cluster-aligned",
				       (unsigned long long)(e & QCOW2_L2E_OFFSET_MASK));
				c->corruptions++;
				continue;
			}
			if (active)
				c->allocated++;
			qcow2_entry_range(s, e, &start, &len);
			ref(c, start, len, "data cluster");
		}
	}
	free(t);
}

/* Count everything and compare with the stored refcounts; optionally repair. */
static int run(struct check *c, enum blk_repair repair)
{
	struct qcow2 *s = c->s;
	uint64_t l1_bytes = ALIGN_UP((uint64_t)s->l1_size * 8, (uint64_t)s->cluster_size);
	uint64_t limit;
	int ret = 0;

	c->nb = (s->file_end + s->cluster_size - 1) >> s->cluster_bits;
	c->count = xcalloc(MAX(c->nb, 1), sizeof(*c->count));
	ref(c, 0, s->cluster_size, "header");
	if (s->l1_size)
		ref(c, s->l1_offset, l1_bytes, "L1 table");
	walk(c, s->l1, s->l1_size, true);
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *p = &s->snaps[i];
		uint64_t *l1;

		if (!p->l1_size)
			continue;
		ref(c, p->l1_offset, ALIGN_UP((uint64_t)p->l1_size * 8, (uint64_t)s->cluster_size),
		    "snapshot L1 table");
		if (qcow2_read_l1(s, p->l1_offset, p->l1_size, &l1) < 0) {
			c->errors++;
			continue;
		}
		walk(c, l1, p->l1_size, false);
		free(l1);
	}
	if (s->nb_snapshots)
		ref(c, s->snapshots_offset, qcow2_snapshot_table_size(s->snaps, s->nb_snapshots),
		    "snapshot table");
	ref(c, s->rt_offset, (uint64_t)s->rt_clusters * s->cluster_size, "refcount table");
	for (uint64_t i = 0; i < s->rt_entries; i++)
		if (s->rt[i])
			ref(c, s->rt[i], s->cluster_size, "refcount block");

	limit = MAX(c->nb, s->alloc_end);
	for (uint64_t i = 0; i < limit; i++) {
		uint64_t stored = qcow2_rc_get(s, i), counted = i < c->nb ? c->count[i] : 0;

		if (stored == counted)
			continue;
		if (stored > counted) {
			report(c, "Leaked cluster %llu refcount=%llu reference=%llu",
			       (unsigned long long)i, (unsigned long long)stored,
			       (unsigned long long)counted);
			c->leaks++;
			if (repair == BLK_REPAIR_NONE)
				continue;
		} else {
			report(c, "ERROR cluster %llu refcount=%llu reference=%llu",
			       (unsigned long long)i, (unsigned long long)stored,
			       (unsigned long long)counted);
			c->corruptions++;
			if (repair != BLK_REPAIR_ALL)
				continue;
		}
		ret = qcow2_rc_set(s, i, counted);
		if (ret < 0)
			break;
	}
	free(c->count);
	c->count = NULL;
	return ret;
}

/* Active L1/L2 entries must carry COPIED exactly when their cluster's refcount is 1. */
static int check_copied(struct check *c, bool repair)
{
	struct qcow2 *s = c->s;
	uint64_t *t = xmalloc(s->cluster_size);
	int ret = 0;

	for (uint32_t i = 0; i < s->l1_size && !ret; i++) {
		uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
		bool one, dirty = false;

		if (!l2off || qcow2_valid_offset(s, l2off, s->cluster_size))
			continue;
		one = qcow2_rc_get(s, l2off >> s->cluster_bits) == 1;
		if (one != !!(s->l1[i] & QCOW2_OFLAG_COPIED)) {
			report(c, "ERROR OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%llx", i,
			       (unsigned long long)s->l1[i]);
			c->corruptions++;
			if (repair) {
				s->l1[i] ^= QCOW2_OFLAG_COPIED;
				s->l1_dirty = true;
			}
		}
		if (blk_file_pread(s->bs, l2off, t, s->cluster_size) < 0) {
			c->errors++;
			continue;
		}
		for (uint32_t j = 0; j < s->l2_entries; j++) {
			uint64_t e = be64toh(t[j]), off = e & QCOW2_L2E_OFFSET_MASK;

			if ((e & QCOW2_OFLAG_COMPRESSED) || !off)
				continue;
			one = qcow2_rc_get(s, off >> s->cluster_bits) == 1;
			if (one == !!(e & QCOW2_OFLAG_COPIED))
				continue;
			report(c, "ERROR OFLAG_COPIED data cluster: l2_entry=%llx refcount=%llu",
			       (unsigned long long)e,
			       (unsigned long long)qcow2_rc_get(s, off >> s->cluster_bits));
			c->corruptions++;
			if (repair) {
				t[j] = htobe64(e ^ QCOW2_OFLAG_COPIED);
				dirty = true;
			}
		}
		if (dirty)
			ret = blk_file_pwrite(s->bs, l2off, t, s->cluster_size);
	}
	free(t);
	if (!ret && repair && s->l1_dirty) {
		ret = qcow2_write_l1(s, s->l1_offset, s->l1, s->l1_size);
		s->l1_dirty = false;
	}
	return ret;
}

/* Clear the dirty and corrupt header bits after a successful repair. */
static int clear_flags(struct qcow2 *s)
{
	uint64_t v;

	if (s->version < 3 || !(s->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT)))
		return 0;
	s->incompat &= ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
	v = htobe64(s->incompat);
	return qcow2_update_header(s, QCOW2_HDR_INCOMPAT, &v, 8);
}

/* One full pass: refcounts, then COPIED flags. */
static int pass(struct qcow2 *s, enum blk_repair repair, bool quiet, struct check *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->s = s;
	c->quiet = quiet;
	ret = run(c, repair);
	if (!ret && repair != BLK_REPAIR_NONE) {
		ret = qcow2_rc_writeback(s);
		if (!ret)
			ret = blk_file_sync(s->bs);
	}
	if (!ret)
		ret = check_copied(c, repair == BLK_REPAIR_ALL);
	if (!ret && repair != BLK_REPAIR_NONE)
		ret = blk_file_sync(s->bs);
	return ret;
}

int qcow2_check(struct blockdev *bs, enum blk_repair repair, struct blk_check_result *res)
{
	struct qcow2 *s = qcow2_state(bs);
	struct check c, after;
	int ret;

	if (!s->rc_loaded) {
		ret = qcow2_load_refcounts(s);
		if (ret < 0) {
			res->check_errors = 1;
			res->corruptions = 1;
			return 0;
		}
	}
	if (!(bs->flags & BLK_RDONLY)) {
		ret = qcow2_metadata_flush(s);
		if (ret < 0)
			return ret;
		qcow2_l2_cache_drop(s);
	}
	ret = pass(s, repair, false, &c);
	if (ret < 0)
		return ret;
	res->corruptions = c.corruptions;
	res->leaks = c.leaks;
	res->check_errors = c.errors;
	if (repair != BLK_REPAIR_NONE && (c.corruptions || c.leaks)) {
		/* Repairs can allocate refcount blocks: count again until stable. */
		for (int i = 0; i < 4; i++) {
			ret = pass(s, repair, true, &after);
			if (ret < 0)
				return ret;
			if (!after.corruptions && !after.leaks)
				break;
		}
		ret = pass(s, BLK_REPAIR_NONE, true, &after);
		if (ret < 0)
			return ret;
		res->corruptions_fixed = c.corruptions - MIN(c.corruptions, after.corruptions);
		res->leaks_fixed = c.leaks - MIN(c.leaks, after.leaks);
		res->corruptions = after.corruptions;
		res->leaks = after.leaks;
	}
	if (repair == BLK_REPAIR_ALL && !res->corruptions && !res->leaks) {
		ret = clear_flags(s);
		if (ret < 0)
			return ret;
		s->broken = false;
	}
	res->allocated_clusters = c.allocated;
	res->total_clusters = (bs->size + s->cluster_size - 1) >> s->cluster_bits;
	res->image_end_offset = s->alloc_end << s->cluster_bits;
	return 0;
}
