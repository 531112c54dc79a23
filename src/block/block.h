/*
 * Block layer: byte-addressed access to disk images (raw, qcow2), shared by berth-vmm and
 * berth-img.
 *
 * Threading: a struct blockdev is not thread-safe. All calls on one blockdev (and on the
 * backing chain it opened) must come from one thread at a time; berth-vmm's virtio-blk calls
 * it from its I/O thread only. Different blockdevs are independent.
 *
 * Errors: functions returning int give 0 on success or a negative errno. I/O-time errors are
 * logged once where they happen (with the image name); blk_open and the image-management calls
 * write a one-line message into the caller's err buffer instead of logging.
 *
 * Durability: a write is on stable storage once a later blk_flush() returned 0. qcow2 metadata is
 * written so that a process killed at any moment leaves at most leaked clusters behind.
 */
#ifndef BERTH_BLOCK_BLOCK_H
#define BERTH_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLK_RDONLY   (1 << 0) /* open read-only; writes fail with -EROFS */
#define BLK_NOCACHE  (1 << 1) /* O_DIRECT on the image file (cache=none) */
#define BLK_NO_FLUSH (1 << 2) /* ignore flushes (cache=unsafe); for tests and benchmarks */
#define BLK_NO_BACKING                                                                             \
	(1 << 3)		 /* do not open the backing file (metadata-only use: info, check)  \
				  */
#define BLK_REPAIR_OPEN (1 << 4) /* allow opening dirty/corrupt qcow2 read-write, for repair */
#define BLK_FORCE_SHARE (1 << 5) /* take no image lock (qemu-img -U): may see inconsistent data */

/* Largest chain of backing files followed before giving up. */
#define BLK_MAX_BACKING_DEPTH 64

/*
 * Image locking: every open takes QEMU-compatible OFD locks on the image file (bytes 100+ and
 * 200+, see QEMU's file-posix), so berth and QEMU both refuse to open an image for writing while
 * anything else has it open, and to open it at all while something writes to it. Readers
 * (including backing files shared by several overlays) coexist.
 */
struct blockdev;

/*
 * Open an image. format is "raw" or "qcow2" and is never guessed. A qcow2 image's backing file is
 * opened read-only with the format recorded in its header; blk_open_ex() lets the caller supply
 * backing_format for images that do not record one. Returns NULL with a message in err.
 */
struct blockdev *blk_open(const char *path, const char *format, int flags, char *err,
			  size_t errlen);
struct blockdev *blk_open_ex(const char *path, const char *format, const char *backing_format,
			     int flags, char *err, size_t errlen);
/* Flush (when writable) and release everything, including the backing chain. */
int blk_close(struct blockdev *bs);

int blk_pread(struct blockdev *bs, uint64_t offset, void *buf, size_t len);
int blk_pwrite(struct blockdev *bs, uint64_t offset, const void *buf, size_t len);
/* Scatter-gather forms (e.g. for virtio-blk descriptor chains): the segments are consecutive
 * on the disk, starting at offset. The whole request is checked against the disk size first. */
int blk_preadv(struct blockdev *bs, uint64_t offset, const struct iovec *iov, int iovcnt);
int blk_pwritev(struct blockdev *bs, uint64_t offset, const struct iovec *iov, int iovcnt);
/* Make every completed write durable. */
int blk_flush(struct blockdev *bs);
/* Let the image forget [offset, offset+len): afterwards it reads as zeroes or as the backing
 * file (qcow2 v2 with a backing file). Parts that cannot be discarded are left untouched. */
int blk_discard(struct blockdev *bs, uint64_t offset, uint64_t len);
/* Make [offset, offset+len) read as zeroes, freeing space where the format can. */
int blk_write_zeroes(struct blockdev *bs, uint64_t offset, uint64_t len);
/* Write one whole cluster compressed (qcow2 only, cluster-aligned, unallocated cluster); falls
 * back to a plain write when the data does not compress. Used by convert -c. */
int blk_write_compressed(struct blockdev *bs, uint64_t offset, const void *buf, size_t len);

uint64_t blk_size(const struct blockdev *bs);
bool blk_is_readonly(const struct blockdev *bs);
const char *blk_filename(const struct blockdev *bs);
const char *blk_format(const struct blockdev *bs);
/* Cluster size for qcow2, 0 for raw. */
uint32_t blk_cluster_size(const struct blockdev *bs);
/* Grow or shrink the virtual disk. */
int blk_resize(struct blockdev *bs, uint64_t new_size, char *err, size_t errlen);

/*
 * Allocation status of [offset, offset+len) in this image alone (not its backing chain):
 * *pnum gets the length of the run starting at offset with the same status.
 */
enum blk_status {
	BLK_STATUS_DATA,    /* allocated here, data */
	BLK_STATUS_ZERO,    /* reads as zeroes, decided here */
	BLK_STATUS_BACKING, /* not allocated here: comes from the backing file (or zeroes) */
};
/*
 * Does [offset, offset+len) read as zeroes through the whole backing chain, as far as the
 * allocation metadata tells (data that happens to be zero counts as data)? *pnum gets the
 * length of the leading run that has the returned answer.
 */
int blk_chain_zero(struct blockdev *bs, uint64_t offset, uint64_t len, bool *zero, uint64_t *pnum);
int blk_block_status(struct blockdev *bs, uint64_t offset, uint64_t len, enum blk_status *status,
		     uint64_t *pnum);

/* Image creation. */
struct blk_create_opts {
	const char *format;	  /* "raw" or "qcow2" */
	uint64_t size;		  /* virtual size; 0 with a backing file means "same as backing" */
	uint32_t cluster_size;	  /* qcow2: 512..2M, power of two; 0 = 64 KiB */
	const char *backing_file; /* qcow2: NULL for none; stored as given */
	const char *backing_format; /* required with backing_file */
	int compat;		    /* qcow2: 2 (0.10) or 3 (1.1); 0 = 3 */
	int compression_type;	    /* qcow2 v3: 0 zlib, 1 zstd */
};
int blk_create(const char *path, const struct blk_create_opts *opts, char *err, size_t errlen);

/* Information for berth-img info. Strings point into the blockdev and live as long as it. */
struct blk_snapshot_info {
	char *id;
	char *name;
	uint64_t vm_state_size;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t disk_size;
	uint64_t icount; /* UINT64_MAX when not recorded */
};
struct blk_info {
	const char *format;
	uint64_t virtual_size;
	uint32_t cluster_size;
	int qcow2_version;
	int refcount_bits;
	int compression_type; /* 0 zlib, 1 zstd */
	bool dirty, corrupt, lazy_refcounts;
	const char *backing_file;      /* as recorded, or NULL */
	const char *backing_format;    /* as recorded, or NULL */
	const char *backing_full_path; /* resolved against the image directory, or NULL */
};
void blk_get_info(struct blockdev *bs, struct blk_info *info);

/* Internal snapshots (qcow2 only). The list is owned by the blockdev and valid until the next
 * snapshot call. name matches either the ID or the name of a snapshot. */
int blk_snapshot_list(struct blockdev *bs, const struct blk_snapshot_info **list, int *count);
int blk_snapshot_create(struct blockdev *bs, const char *name, char *err, size_t errlen);
int blk_snapshot_apply(struct blockdev *bs, const char *name, char *err, size_t errlen);
int blk_snapshot_delete(struct blockdev *bs, const char *name, char *err, size_t errlen);

/* Consistency check (qcow2 only). */
enum blk_repair { BLK_REPAIR_NONE, BLK_REPAIR_LEAKS, BLK_REPAIR_ALL };
struct blk_check_result {
	uint64_t corruptions; /* errors found (before repair) */
	uint64_t leaks;	      /* leaked clusters found (before repair) */
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t check_errors; /* internal errors that stopped parts of the check */
	uint64_t allocated_clusters, total_clusters;
	uint64_t image_end_offset;
};
/* The check reports each problem on stderr (one line each); bs must be writable to repair. */
int blk_check(struct blockdev *bs, enum blk_repair repair, struct blk_check_result *res);

#endif
