/*
 * qcow2 driver internals (QEMU's docs/interop/qcow2.txt): on-disk constants and the in-memory
 * state shared by qcow2.c (header, mapping, I/O), qcow2-refcount.c (refcounts, allocation,
 * metadata write-back order), qcow2-snapshot.c and qcow2-check.c.
 *
 * Write ordering (crash safety): refcount blocks reach the disk (and are synced) before any L2
 * table that references newly counted clusters; L2 tables are synced before L1 entries that
 * point at them; a cluster whose last reference is removed is only decremented once the tables
 * without the reference are on disk. A crash at any point therefore leaves refcounts that are at
 * least the true count: leaks, never corruption.
 */
#ifndef BERTH_BLOCK_QCOW2_H
#define BERTH_BLOCK_QCOW2_H

#include "block/blockdrv.h"

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define QCOW2_MAGIC 0x514649fbU

#define QCOW2_OFLAG_COPIED     (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO       1ULL
#define QCOW2_L1E_OFFSET_MASK  0x00fffffffffffe00ULL
#define QCOW2_L2E_OFFSET_MASK  0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED     0x7f000000000001ffULL
#define QCOW2_L2E_RESERVED     0x3f000000000001feULL
#define QCOW2_RT_OFFSET_MASK   0xfffffffffffffe00ULL

#define QCOW2_INCOMPAT_DIRTY	    (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT	    (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2	    (1ULL << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

#define QCOW2_EXT_END		 0x00000000U
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE	 0x6803f857U

/* Header field offsets. */
#define QCOW2_HDR_SIZE	    24
#define QCOW2_HDR_L1	    36 /* l1_size (u32) followed by l1_table_offset (u64) */
#define QCOW2_HDR_REFTABLE  48 /* offset (u64) followed by clusters (u32) */
#define QCOW2_HDR_SNAPSHOTS 60 /* nb_snapshots (u32) followed by snapshots_offset (u64) */
#define QCOW2_HDR_INCOMPAT  72
#define QCOW2_HDR_AUTOCLEAR 88
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

/* Limits on values read from the file (the same ones QEMU enforces). */
#define QCOW2_MAX_L1_BYTES	 (32ULL << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8ULL << 20)
#define QCOW2_MAX_SNAPSHOTS	 65536
#define QCOW2_MAX_SNAPSHOT_TABLE (64ULL << 20)
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
#define QCOW2_MAX_BACKING_NAME	 1023

/* Big-endian fields of the on-disk structures, at any alignment. */
static inline uint16_t get_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

struct qcow2_l2 {
	uint64_t offset;  /* host offset of the table */
	uint64_t *table;  /* big-endian entries as on disk */
	int64_t l1_index; /* -1 when the slot is free */
	uint64_t lru;
	bool dirty;
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint32_t vm_state_size;
	uint32_t extra_size;
	uint8_t *extra; /* extra data as on disk (preserved when the table is rewritten) */
	uint64_t disk_size;
	uint64_t icount;
};

struct qcow2 {
	struct blockdev *bs;
	struct blockdev *backing;
	int version;
	uint32_t cluster_bits, cluster_size;
	uint32_t l2_bits, l2_entries;
	uint32_t refcount_order, refcount_bits, rb_bits; /* rb_bits: log2 entries per block */
	uint64_t refcount_max;
	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	int compression_type;
	uint32_t csize_shift;
	uint64_t csize_mask, coffset_mask;
	uint64_t file_end; /* bytes the image file is known to span */

	/* active L1 table, host-endian */
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1;
	bool l1_dirty;

	/* L2 cache */
	struct qcow2_l2 *l2c;
	unsigned l2c_n;
	int32_t *l2_slot; /* per L1 index: cache slot or -1 */
	uint32_t l2_slot_n;
	uint64_t lru_clock;
	bool l2_unsynced; /* L2 tables written since the last sync */

	/* refcounts (loaded in read-write mode or for check) */
	bool rc_loaded;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt; /* host-endian table */
	uint8_t **rb; /* loaded blocks, NULL where rt[i] == 0 */
	bool *rb_dirty;
	bool rc_dirty;		/* some block is dirty in memory */
	bool rc_unsynced;	/* refcount changes not yet on stable storage */
	uint64_t free_hint;	/* no free cluster below this index */
	uint64_t alloc_end;	/* no cluster at or above this index is allocated */
	uint64_t *pending_free; /* host offsets whose refcount drops once the tables are synced */
	size_t n_pending, cap_pending;
	bool data_unsynced;

	/* compressed clusters */
	uint8_t *cbuf;	     /* compressed input */
	uint8_t *dbuf;	     /* decompressed cluster cache */
	uint64_t dbuf_entry; /* L2 entry dbuf holds, 0 for none */
	uint64_t cwrite_off; /* next free byte for compressed writes, 0 when none */

	/* snapshots */
	uint64_t snapshots_offset;
	uint32_t nb_snapshots;
	struct qcow2_snapshot *snaps;
	struct blk_snapshot_info *snap_info;

	/* backing file */
	char *backing_name;
	char *backing_format;
	char *backing_path;

	uint8_t *tmp; /* one cluster of scratch space */
	bool broken;  /* metadata inconsistency seen: refuse further writes */
};

static inline struct qcow2 *qcow2_state(struct blockdev *bs)
{
	return bs->opaque;
}

/* qcow2.c */
int qcow2_corrupt(struct qcow2 *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qcow2_update_header(struct qcow2 *s, uint32_t off, const void *be_data, size_t len);
int qcow2_set_size(struct qcow2 *s, uint64_t size);
int qcow2_valid_offset(struct qcow2 *s, uint64_t off, uint64_t len);
void qcow2_l2_cache_drop(struct qcow2 *s);
int qcow2_l2_writeback_all(struct qcow2 *s);
int qcow2_write_l1(struct qcow2 *s, uint64_t offset, const uint64_t *l1, uint32_t n);
int qcow2_read_l1(struct qcow2 *s, uint64_t offset, uint32_t n, uint64_t **out);
int qcow2_grow_l1(struct qcow2 *s, uint32_t min_size);
uint64_t qcow2_l1_needed(struct qcow2 *s, uint64_t size);

/* qcow2-refcount.c */
int qcow2_load_refcounts(struct qcow2 *s);
void qcow2_free_refcounts(struct qcow2 *s);
uint64_t qcow2_rc_get(struct qcow2 *s, uint64_t cluster);
int qcow2_rc_set(struct qcow2 *s, uint64_t cluster, uint64_t value);
int qcow2_rc_add(struct qcow2 *s, uint64_t cluster, int delta);
int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *offset);
int qcow2_alloc_bytes(struct qcow2 *s, uint64_t size, uint64_t *offset);
int qcow2_free_later(struct qcow2 *s, uint64_t offset, uint64_t len);
int qcow2_free_now(struct qcow2 *s, uint64_t offset, uint64_t len);
int qcow2_rc_writeback(struct qcow2 *s);
int qcow2_rc_flush(struct qcow2 *s);
int qcow2_metadata_flush(struct qcow2 *s);
void qcow2_entry_range(struct qcow2 *s, uint64_t l2e, uint64_t *start, uint64_t *len);

/* qcow2-snapshot.c */
int qcow2_read_snapshots(struct qcow2 *s, char *err, size_t errlen);
void qcow2_free_snapshots(struct qcow2 *s);
uint64_t qcow2_snapshot_table_size(const struct qcow2_snapshot *sn, uint32_t n);
int qcow2_snapshot_list(struct blockdev *bs, const struct blk_snapshot_info **list, int *count);
int qcow2_snapshot_create(struct blockdev *bs, const char *name, char *err, size_t errlen);
int qcow2_snapshot_apply(struct blockdev *bs, const char *name, char *err, size_t errlen);
int qcow2_snapshot_delete(struct blockdev *bs, const char *name, char *err, size_t errlen);

/* qcow2-check.c */
int qcow2_check(struct blockdev *bs, enum blk_repair repair, struct blk_check_result *res);

#endif
