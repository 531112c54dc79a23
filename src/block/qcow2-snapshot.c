/*
 * qcow2 internal snapshots: the snapshot table, and create/apply/delete with the refcount updates
 * they imply. Every L1 table (active or snapshot) holds one reference on each L2 table it points
 * at and on each cluster those tables map, so a shared L2 table's clusters count once per L1.
 *
 * These run offline (berth-img) or from the owning thread. A crash in the middle leaves leaked
 * clusters; it can also leave COPIED flags that disagree with refcounts (as with QEMU), which
 * `check -r all` repairs.
 */
#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SN_HEADER 40

static void free_list(struct qcow2_snapshot *sn, uint32_t n)
{
	if (!sn)
		return;
	for (uint32_t i = 0; i < n; i++) {
		free(sn[i].id);
		free(sn[i].name);
		free(sn[i].extra);
	}
	free(sn);
}

void qcow2_free_snapshots(struct qcow2 *s)
{
	free_list(s->snaps, s->nb_snapshots);
	free(s->snap_info);
	s->snaps = NULL;
	s->snap_info = NULL;
}

/* Read a string of n bytes at off into a new NUL-terminated buffer. */
static int read_string(struct qcow2 *s, uint64_t off, uint32_t n, char **out)
{
	char *str = xmalloc(n + 1);
	int ret = blk_file_pread(s->bs, off, str, n);

	str[n] = 0;
	if (ret < 0 || strlen(str) != n) {
		free(str);
		return ret < 0 ? ret : -EINVAL;
	}
	*out = str;
	return 0;
}

/* Load and validate the snapshot table. */
int qcow2_read_snapshots(struct qcow2 *s, char *err, size_t errlen)
{
	uint64_t pos = s->snapshots_offset, end;
	struct qcow2_snapshot *sn;
	uint8_t h[SN_HEADER];
	int ret;

	s->snaps = NULL;
	if (!s->nb_snapshots)
		return 0;
	if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS || qcow2_valid_offset(s, pos, SN_HEADER))
		return blk_seterr(err, errlen, -EINVAL, "'%s': invalid snapshot table",
				  s->bs->filename);
	end = pos + QCOW2_MAX_SNAPSHOT_TABLE;
	sn = xcalloc(s->nb_snapshots, sizeof(*sn));
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *p = &sn[i];
		uint32_t id_len, name_len;

		ret = -EINVAL;
		if (pos + SN_HEADER > MIN(end, s->file_end))
			goto bad;
		ret = blk_file_pread(s->bs, pos, h, SN_HEADER);
		if (ret < 0)
			goto bad;
		p->l1_offset = get_be64(h);
		p->l1_size = get_be32(h + 8);
		id_len = get_be16(h + 12);
		name_len = get_be16(h + 14);
		p->date_sec = get_be32(h + 16);
		p->date_nsec = get_be32(h + 20);
		p->vm_clock_nsec = get_be64(h + 24);
		p->vm_state_size = get_be32(h + 32);
		p->extra_size = get_be32(h + 36);
		ret = -EINVAL;
		if (p->extra_size > QCOW2_MAX_SNAPSHOT_EXTRA ||
		    pos + SN_HEADER + p->extra_size + id_len + name_len > MIN(end, s->file_end))
			goto bad;
		if ((uint64_t)p->l1_size * 8 > QCOW2_MAX_L1_BYTES ||
		    (p->l1_size && qcow2_valid_offset(s, p->l1_offset, (uint64_t)p->l1_size * 8)))
			goto bad;
		p->extra = xcalloc(1, MAX(p->extra_size, 24));
		ret = blk_file_pread(s->bs, pos + SN_HEADER, p->extra, p->extra_size);
		if (ret < 0)
			goto bad;
		p->disk_size = p->extra_size >= 16 ? get_be64(p->extra + 8) : s->bs->size;
		p->icount = p->extra_size >= 24 ? get_be64(p->extra + 16) : UINT64_MAX;
		pos += SN_HEADER + p->extra_size;
		ret = read_string(s, pos, id_len, &p->id);
		if (ret < 0)
			goto bad;
		pos += id_len;
		ret = read_string(s, pos, name_len, &p->name);
		if (ret < 0)
			goto bad;
		pos += name_len;
		pos = ALIGN_UP(pos, 8ULL);
	}
	s->snaps = sn;
	return 0;
bad:
	free_list(sn, s->nb_snapshots);
	s->nb_snapshots = 0;
	return blk_seterr(err, errlen, ret, "'%s': invalid snapshot table entry", s->bs->filename);
}

int qcow2_snapshot_list(struct blockdev *bs, const struct blk_snapshot_info **list, int *count)
{
	struct qcow2 *s = qcow2_state(bs);

	free(s->snap_info);
	s->snap_info = xcalloc(MAX(s->nb_snapshots, 1), sizeof(*s->snap_info));
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *p = &s->snaps[i];
		struct blk_snapshot_info *o = &s->snap_info[i];

		o->id = p->id;
		o->name = p->name;
		o->vm_state_size = p->extra_size >= 8 ? get_be64(p->extra) : p->vm_state_size;
		o->date_sec = p->date_sec;
		o->date_nsec = p->date_nsec;
		o->vm_clock_nsec = p->vm_clock_nsec;
		o->disk_size = p->disk_size;
		o->icount = p->icount;
	}
	*list = s->snap_info;
	*count = (int)s->nb_snapshots;
	return 0;
}

/* Index of the snapshot whose ID or name is name, or -1. */
static int find_snapshot(struct qcow2 *s, const char *name)
{
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].id, name))
			return (int)i;
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].name, name))
			return (int)i;
	return -1;
}

/* Bytes a snapshot table takes on disk; in memory, entries say what is stored. */
uint64_t qcow2_snapshot_table_size(const struct qcow2_snapshot *sn, uint32_t n)
{
	uint64_t size = 0;

	for (uint32_t i = 0; i < n; i++)
		size = ALIGN_UP(size + SN_HEADER + sn[i].extra_size + strlen(sn[i].id) +
				    strlen(sn[i].name),
				8ULL);
	return size;
}

/*
 * Write a new snapshot table in fresh clusters, switch the header to it, and free the old one.
 * On success the in-memory list becomes sn.
 */
static int write_table(struct qcow2 *s, struct qcow2_snapshot *sn, uint32_t n)
{
	uint64_t old_off = s->snapshots_offset;
	uint64_t old_size = qcow2_snapshot_table_size(s->snaps, s->nb_snapshots);
	uint64_t size, off = 0, pos = 0;
	uint8_t *buf = NULL, hdr[12];
	int ret;

	/* Entries are stored with at least the 16 bytes of extra data v3 needs (disk size at 8). */
	for (uint32_t i = 0; i < n; i++) {
		if (sn[i].extra_size < 16) {
			put_be64(sn[i].extra + 8, sn[i].disk_size);
			sn[i].extra_size = 16;
		}
	}
	size = qcow2_snapshot_table_size(sn, n);
	if (size > QCOW2_MAX_SNAPSHOT_TABLE)
		return -EFBIG;
	if (n) {
		ret =
		    qcow2_alloc_clusters(s, (size + s->cluster_size - 1) >> s->cluster_bits, &off);
		if (ret < 0)
			return ret;
		buf = xcalloc(1, ALIGN_UP(size, (uint64_t)s->cluster_size));
		for (uint32_t i = 0; i < n; i++) {
			put_be64(buf + pos, sn[i].l1_offset);
			put_be32(buf + pos + 8, sn[i].l1_size);
			put_be16(buf + pos + 12, (uint16_t)strlen(sn[i].id));
			put_be16(buf + pos + 14, (uint16_t)strlen(sn[i].name));
			put_be32(buf + pos + 16, sn[i].date_sec);
			put_be32(buf + pos + 20, sn[i].date_nsec);
			put_be64(buf + pos + 24, sn[i].vm_clock_nsec);
			put_be32(buf + pos + 32, sn[i].vm_state_size);
			put_be32(buf + pos + 36, sn[i].extra_size);
			memcpy(buf + pos + SN_HEADER, sn[i].extra, sn[i].extra_size);
			pos += SN_HEADER + sn[i].extra_size;
			memcpy(buf + pos, sn[i].id, strlen(sn[i].id));
			pos += strlen(sn[i].id);
			memcpy(buf + pos, sn[i].name, strlen(sn[i].name));
			pos = ALIGN_UP(pos + strlen(sn[i].name), 8ULL);
		}
		ret = qcow2_metadata_flush(s);
		if (!ret)
			ret = blk_file_pwrite(s->bs, off, buf,
					      ALIGN_UP(size, (uint64_t)s->cluster_size));
		free(buf);
		s->file_end = MAX(s->file_end, off + ALIGN_UP(size, (uint64_t)s->cluster_size));
		if (!ret)
			ret = blk_file_sync(s->bs);
		if (ret < 0)
			return ret;
	} else {
		ret = qcow2_metadata_flush(s);
		if (ret < 0)
			return ret;
	}
	put_be32(hdr, n);
	put_be64(hdr + 4, off);
	ret = qcow2_update_header(s, QCOW2_HDR_SNAPSHOTS, hdr, 12);
	if (ret < 0)
		return ret;
	if (s->nb_snapshots && old_size)
		ret = qcow2_free_now(s, old_off, old_size);
	free(s->snaps);
	s->snaps = sn;
	s->nb_snapshots = n;
	s->snapshots_offset = off;
	return ret;
}

/* Add delta to the refcount of every L2 table an L1 table points at and every cluster they map. */
static int walk_l1(struct qcow2 *s, const uint64_t *l1, uint32_t n, int delta)
{
	uint64_t *l2 = xmalloc(s->cluster_size);
	int ret = 0;

	for (uint32_t i = 0; i < n && !ret; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;

		if (!l2off)
			continue;
		if (qcow2_valid_offset(s, l2off, s->cluster_size)) {
			ret = qcow2_corrupt(s, "L2 table offset %#llx is invalid",
					    (unsigned long long)l2off);
			break;
		}
		ret = blk_file_pread(s->bs, l2off, l2, s->cluster_size);
		for (uint32_t j = 0; j < s->l2_entries && !ret; j++) {
			uint64_t e = be64toh(l2[j]), start, len;

			if (!(e & QCOW2_OFLAG_COMPRESSED) && !(e & QCOW2_L2E_OFFSET_MASK))
				continue;
			qcow2_entry_range(s, e, &start, &len);
			for (uint64_t c = start >> s->cluster_bits;
			     c <= (start + len - 1) >> s->cluster_bits && !ret; c++)
				ret = qcow2_rc_add(s, c, delta);
		}
		if (!ret)
			ret = qcow2_rc_add(s, l2off >> s->cluster_bits, delta);
	}
	free(l2);
	return ret;
}

/* Set COPIED on active L1/L2 entries exactly where the refcount is 1. */
static int fix_copied(struct qcow2 *s)
{
	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
		uint64_t *t;
		uint64_t want;

		if (!l2off)
			continue;
		want = qcow2_rc_get(s, l2off >> s->cluster_bits) == 1 ? QCOW2_OFLAG_COPIED : 0;
		if ((s->l1[i] & QCOW2_OFLAG_COPIED) != want) {
			s->l1[i] = (s->l1[i] & ~QCOW2_OFLAG_COPIED) | want;
			s->l1_dirty = true;
		}
		t = xmalloc(s->cluster_size);
		if (qcow2_valid_offset(s, l2off, s->cluster_size) ||
		    blk_file_pread(s->bs, l2off, t, s->cluster_size) < 0) {
			free(t);
			return qcow2_corrupt(s, "cannot read L2 table at %#llx",
					     (unsigned long long)l2off);
		}
		{
			bool changed = false;

			for (uint32_t j = 0; j < s->l2_entries; j++) {
				uint64_t e = be64toh(t[j]), off = e & QCOW2_L2E_OFFSET_MASK, w = 0;

				if ((e & QCOW2_OFLAG_COMPRESSED) || !off)
					w = 0;
				else if (qcow2_rc_get(s, off >> s->cluster_bits) == 1)
					w = QCOW2_OFLAG_COPIED;
				if ((e & QCOW2_OFLAG_COPIED) != w) {
					t[j] = htobe64((e & ~QCOW2_OFLAG_COPIED) | w);
					changed = true;
				}
			}
			if (changed) {
				int ret = blk_file_pwrite(s->bs, l2off, t, s->cluster_size);

				if (ret < 0) {
					free(t);
					return ret;
				}
			}
		}
		free(t);
	}
	return 0;
}

/* Make sure every cached table is on disk and the cache is empty, so we can work on the file. */
static int settle(struct qcow2 *s)
{
	int ret = qcow2_metadata_flush(s);

	if (ret < 0)
		return ret;
	qcow2_l2_cache_drop(s);
	return 0;
}

/* Write the in-memory L1 back and sync, after COPIED fixes wrote L2 tables directly. */
static int finish(struct qcow2 *s)
{
	int ret = qcow2_rc_writeback(s);

	if (!ret)
		ret = blk_file_sync(s->bs);
	if (!ret)
		ret = fix_copied(s);
	if (!ret && s->l1_dirty)
		ret = qcow2_write_l1(s, s->l1_offset, s->l1, s->l1_size);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (!ret) {
		s->l1_dirty = false;
		s->rc_unsynced = false;
		ret = qcow2_metadata_flush(s);
	}
	return ret;
}

int qcow2_snapshot_create(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	struct qcow2 *s = qcow2_state(bs);
	struct qcow2_snapshot *sn, *p;
	uint64_t l1_off = 0, max_id = 0;
	uint64_t *l1copy;
	struct timespec ts;
	char idbuf[24];
	int ret;

	if (!name[0] || strlen(name) > 65535)
		return blk_seterr(err, errlen, -EINVAL, "invalid snapshot name");
	if (find_snapshot(s, name) >= 0)
		return blk_seterr(err, errlen, -EEXIST, "snapshot '%s' already exists", name);
	if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
		return blk_seterr(err, errlen, -EFBIG, "too many snapshots");
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		max_id = MAX(max_id, strtoull(s->snaps[i].id, NULL, 10));
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)max_id + 1);
	ret = settle(s);
	if (ret < 0)
		goto fail;
	/* Copy of the active L1 table (without COPIED flags) in new clusters. */
	l1copy = xcalloc(MAX(s->l1_size, 1), 8);
	for (uint32_t i = 0; i < s->l1_size; i++)
		l1copy[i] = s->l1[i] & ~QCOW2_OFLAG_COPIED;
	if (s->l1_size) {
		ret = qcow2_alloc_clusters(
		    s,
		    ALIGN_UP((uint64_t)s->l1_size * 8, (uint64_t)s->cluster_size) >>
			s->cluster_bits,
		    &l1_off);
		if (!ret)
			ret = qcow2_write_l1(s, l1_off, l1copy, s->l1_size);
	}
	free(l1copy);
	if (ret < 0)
		goto fail;
	/* References first (leaks on a crash), then COPIED flags, then the table. */
	ret = walk_l1(s, s->l1, s->l1_size, 1);
	if (!ret)
		ret = finish(s);
	if (ret < 0)
		goto fail;
	sn = xcalloc(s->nb_snapshots + 1, sizeof(*sn));
	for (uint32_t j = 0; j < s->nb_snapshots; j++)
		sn[j] = s->snaps[j];
	p = &sn[s->nb_snapshots];
	clock_gettime(CLOCK_REALTIME, &ts);
	p->l1_offset = l1_off;
	p->l1_size = s->l1_size;
	p->id = xstrdup(idbuf);
	p->name = xstrdup(name);
	p->date_sec = (uint32_t)ts.tv_sec;
	p->date_nsec = (uint32_t)ts.tv_nsec;
	p->extra_size = 16;
	p->extra = xcalloc(1, 24);
	p->disk_size = bs->size;
	p->icount = UINT64_MAX;
	put_be64(p->extra + 8, bs->size);
	ret = write_table(s, sn, s->nb_snapshots + 1);
	if (ret < 0) {
		free(p->id);
		free(p->name);
		free(p->extra);
		free(sn);
		goto fail;
	}
	return qcow2_metadata_flush(s);
fail:
	return blk_seterr(err, errlen, ret, "cannot create snapshot '%s': %s", name,
			  strerror(-ret));
}

int qcow2_snapshot_apply(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	struct qcow2 *s = qcow2_state(bs);
	int i = find_snapshot(s, name);
	uint64_t *sn_l1 = NULL, *old_l1;
	uint32_t old_size;
	struct qcow2_snapshot *p;
	int ret;

	if (i < 0)
		return blk_seterr(err, errlen, -ENOENT, "snapshot '%s' not found", name);
	p = &s->snaps[i];
	ret = settle(s);
	if (!ret)
		ret = qcow2_read_l1(s, p->l1_offset, p->l1_size, &sn_l1);
	if (!ret && p->l1_size > s->l1_size)
		ret = qcow2_grow_l1(s, p->l1_size);
	if (ret < 0)
		goto out;
	/* Take the snapshot's references, point the active L1 at its tables, drop the old ones. */
	ret = walk_l1(s, sn_l1, p->l1_size, 1);
	if (!ret)
		ret = qcow2_metadata_flush(s);
	if (ret < 0)
		goto out;
	old_size = s->l1_size;
	old_l1 = xmalloc((size_t)MAX(old_size, 1) * 8);
	memcpy(old_l1, s->l1, (size_t)old_size * 8);
	memset(s->l1, 0, (size_t)s->l1_size * 8);
	if (p->l1_size)
		memcpy(s->l1, sn_l1, (size_t)p->l1_size * 8);
	ret = qcow2_write_l1(s, s->l1_offset, s->l1, s->l1_size);
	if (!ret)
		ret = blk_file_sync(s->bs);
	if (!ret)
		ret = walk_l1(s, old_l1, old_size, -1);
	free(old_l1);
	if (!ret)
		ret = finish(s);
	if (!ret && p->disk_size != bs->size)
		ret = qcow2_set_size(s, p->disk_size);
out:
	free(sn_l1);
	if (ret < 0)
		return blk_seterr(err, errlen, ret, "cannot apply snapshot '%s': %s", name,
				  strerror(-ret));
	return 0;
}

int qcow2_snapshot_delete(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	struct qcow2 *s = qcow2_state(bs);
	int i = find_snapshot(s, name);
	struct qcow2_snapshot gone, *sn;
	uint64_t *sn_l1 = NULL;
	int ret;

	if (i < 0)
		return blk_seterr(err, errlen, -ENOENT, "snapshot '%s' not found", name);
	ret = settle(s);
	if (!ret)
		ret = qcow2_read_l1(s, s->snaps[i].l1_offset, s->snaps[i].l1_size, &sn_l1);
	if (ret < 0)
		goto out;
	/* Drop the entry from the table first; then its references (leaks on a crash). */
	gone = s->snaps[i];
	sn = xcalloc(MAX(s->nb_snapshots - 1, 1), sizeof(*sn));
	for (uint32_t j = 0, k = 0; j < s->nb_snapshots; j++)
		if (j != (uint32_t)i)
			sn[k++] = s->snaps[j];
	ret = write_table(s, sn, s->nb_snapshots - 1);
	if (ret < 0) {
		free(sn);
		goto out;
	}
	ret = walk_l1(s, sn_l1, gone.l1_size, -1);
	if (!ret && gone.l1_size)
		ret =
		    qcow2_free_now(s, gone.l1_offset,
				   ALIGN_UP((uint64_t)gone.l1_size * 8, (uint64_t)s->cluster_size));
	free(gone.id);
	free(gone.name);
	free(gone.extra);
	if (!ret)
		ret = finish(s);
out:
	free(sn_l1);
	if (ret < 0)
		return blk_seterr(err, errlen, ret, "cannot delete snapshot '%s': %s", name,
				  strerror(-ret));
	return 0;
}
