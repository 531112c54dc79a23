/* Block drivers: each format is an ops table plus its own state (bs->opaque). Internal to
 * src/block. */
#ifndef BERTH_BLOCK_BLOCKDRV_H
#define BERTH_BLOCK_BLOCKDRV_H

#include "block/block.h"

#include <stdarg.h>
#include <sys/types.h>

struct blk_driver {
	const char *name;
	/* Parse and validate the image; bs->fd is open. */
	int (*open)(struct blockdev *bs, const char *backing_format, char *err, size_t errlen);
	void (*close)(struct blockdev *bs);
	int (*pread)(struct blockdev *bs, uint64_t off, void *buf, size_t len);
	int (*pwrite)(struct blockdev *bs, uint64_t off, const void *buf, size_t len);
	int (*flush)(struct blockdev *bs);
	int (*discard)(struct blockdev *bs, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct blockdev *bs, uint64_t off, uint64_t len);
	int (*write_compressed)(struct blockdev *bs, uint64_t off, const void *buf, size_t len);
	int (*resize)(struct blockdev *bs, uint64_t size, char *err, size_t errlen);
	int (*block_status)(struct blockdev *bs, uint64_t off, uint64_t len,
			    enum blk_status *status, uint64_t *pnum);
	int (*create)(const char *path, const struct blk_create_opts *o, char *err, size_t errlen);
	void (*get_info)(struct blockdev *bs, struct blk_info *info);
	int (*snapshot_list)(struct blockdev *bs, const struct blk_snapshot_info **list,
			     int *count);
	int (*snapshot_create)(struct blockdev *bs, const char *name, char *err, size_t errlen);
	int (*snapshot_apply)(struct blockdev *bs, const char *name, char *err, size_t errlen);
	int (*snapshot_delete)(struct blockdev *bs, const char *name, char *err, size_t errlen);
	int (*check)(struct blockdev *bs, enum blk_repair repair, struct blk_check_result *res);
};

struct blockdev {
	const struct blk_driver *drv;
	void *opaque;
	char *filename;
	int fd;	       /* buffered file descriptor: metadata and unaligned I/O */
	int direct_fd; /* O_DIRECT descriptor with BLK_NOCACHE, else -1 */
	int flags;
	uint64_t size;		  /* virtual disk size */
	struct blockdev *parent;  /* the overlay that opened us as its backing file */
	struct blockdev *backing; /* our backing file, when the format has one and it is open */
	int depth;		  /* 0 for the top image */
	dev_t dev;
	ino_t ino;
};

extern const struct blk_driver blk_raw_driver;
extern const struct blk_driver blk_qcow2_driver;

/* Open a backing file for parent: read-only, explicit format, loop and depth checked. */
struct blockdev *blk_open_backing(struct blockdev *parent, const char *path, const char *format,
				  char *err, size_t errlen);

/* File I/O on bs's image file. blk_file_pread fills the part past end-of-file with zeroes. */
int blk_file_pread(struct blockdev *bs, uint64_t off, void *buf, size_t len);
int blk_file_pwrite(struct blockdev *bs, uint64_t off, const void *buf, size_t len);
int blk_file_sync(struct blockdev *bs);
int blk_file_size(struct blockdev *bs, uint64_t *size);

/* snprintf into an error buffer; returns -EINVAL-style code given. */
int blk_seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
