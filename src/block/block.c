/* Block layer core: format lookup, open/close, request bounds checks, file I/O helpers. */
#include "block/blockdrv.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIRECT_ALIGN 4096

static const struct blk_driver *const drivers[] = {&blk_raw_driver, &blk_qcow2_driver};

/* Write a one-line message into the caller's buffer and hand back ret. */
int blk_seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Find the driver for a format name. */
static const struct blk_driver *find_driver(const char *format)
{
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if (format && !strcmp(drivers[i]->name, format))
			return drivers[i];
	return NULL;
}

/* QEMU's lock bytes: permission i held at 100 + i, permission i not shared at 200 + i. */
#define LOCK_PERM_BASE	 100
#define LOCK_SHARED_BASE 200
#define PERM_READ	 0 /* consistent read */
#define PERM_WRITE	 1

/* Does another open file description hold a lock on byte off? */
static bool byte_locked(int fd, off_t off)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

static int lock_byte(int fd, off_t off)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	return fcntl(fd, F_OFD_SETLK, &fl);
}

/*
 * Readers hold "consistent read" and refuse to share writing; writers also hold "write". A
 * writer therefore excludes everyone else, and a reader excludes writers.
 */
static int lock_image(struct blockdev *bs, char *err, size_t errlen)
{
	bool write = !(bs->flags & BLK_RDONLY);

	if (bs->flags & BLK_FORCE_SHARE)
		return 0;
	if (byte_locked(bs->fd, LOCK_PERM_BASE + PERM_WRITE) ||
	    (write && byte_locked(bs->fd, LOCK_SHARED_BASE + PERM_WRITE)))
		return blk_seterr(err, errlen, -EBUSY,
				  "'%s' is in use by another process (image lock held)",
				  bs->filename);
	if (lock_byte(bs->fd, LOCK_PERM_BASE + PERM_READ) ||
	    lock_byte(bs->fd, LOCK_SHARED_BASE + PERM_WRITE) ||
	    (write && lock_byte(bs->fd, LOCK_PERM_BASE + PERM_WRITE))) {
		if (errno == EINVAL || errno == ENOLCK || errno == EOPNOTSUPP)
			return 0; /* file system without locks: proceed unlocked, like QEMU */
		return blk_seterr(err, errlen, -errno, "cannot lock '%s': %s", bs->filename,
				  strerror(errno));
	}
	return 0;
}

/* Common open path for top images and backing files. */
static struct blockdev *open_image(struct blockdev *parent, const char *path, const char *format,
				   const char *backing_format, int flags, char *err, size_t errlen)
{
	const struct blk_driver *drv = find_driver(format);
	struct blockdev *bs;
	struct stat st;
	int ret;

	if (!drv) {
		blk_seterr(err, errlen, -EINVAL, "unknown image format '%s' (use raw or qcow2)",
			   format ? format : "(none)");
		return NULL;
	}
	bs = xcalloc(1, sizeof(*bs));
	bs->drv = drv;
	bs->filename = xstrdup(path);
	bs->flags = flags;
	bs->parent = parent;
	bs->depth = parent ? parent->depth + 1 : 0;
	bs->direct_fd = -1;
	bs->fd = open(path, ((flags & BLK_RDONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (bs->fd < 0) {
		blk_seterr(err, errlen, -errno, "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(bs->fd, &st) < 0) {
		blk_seterr(err, errlen, -errno, "cannot stat '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		blk_seterr(err, errlen, -EINVAL, "'%s' is not a regular file or block device",
			   path);
		goto fail;
	}
	bs->dev = st.st_dev;
	bs->ino = st.st_ino;
	for (struct blockdev *p = parent; p; p = p->parent) {
		if (p->dev == bs->dev && p->ino == bs->ino) {
			blk_seterr(err, errlen, -ELOOP,
				   "backing chain loop: '%s' is its own backing file", path);
			goto fail;
		}
	}
	ret = lock_image(bs, err, errlen);
	if (ret < 0)
		goto fail;
	if (flags & BLK_NOCACHE) {
		bs->direct_fd =
		    open(path, ((flags & BLK_RDONLY) ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
		if (bs->direct_fd < 0) {
			blk_seterr(err, errlen, -errno, "cannot open '%s' with O_DIRECT: %s", path,
				   strerror(errno));
			goto fail;
		}
	}
	ret = drv->open(bs, backing_format, err, errlen);
	if (ret < 0)
		goto fail;
	return bs;
fail:
	if (bs->fd >= 0)
		close(bs->fd);
	if (bs->direct_fd >= 0)
		close(bs->direct_fd);
	free(bs->filename);
	free(bs);
	return NULL;
}

struct blockdev *blk_open(const char *path, const char *format, int flags, char *err, size_t errlen)
{
	return open_image(NULL, path, format, NULL, flags, err, errlen);
}

struct blockdev *blk_open_ex(const char *path, const char *format, const char *backing_format,
			     int flags, char *err, size_t errlen)
{
	return open_image(NULL, path, format, backing_format, flags, err, errlen);
}

/* Backing files are read-only, share the overlay's cache mode, and have a bounded depth. */
struct blockdev *blk_open_backing(struct blockdev *parent, const char *path, const char *format,
				  char *err, size_t errlen)
{
	if (parent->depth + 1 >= BLK_MAX_BACKING_DEPTH) {
		blk_seterr(err, errlen, -ELOOP, "backing chain deeper than %d images at '%s'",
			   BLK_MAX_BACKING_DEPTH, path);
		return NULL;
	}
	return open_image(parent, path, format, NULL,
			  BLK_RDONLY |
			      (parent->flags & (BLK_NOCACHE | BLK_NO_FLUSH | BLK_FORCE_SHARE)),
			  err, errlen);
}

int blk_close(struct blockdev *bs)
{
	int ret = 0;

	if (!bs)
		return 0;
	if (!(bs->flags & BLK_RDONLY))
		ret = bs->drv->flush(bs);
	bs->drv->close(bs);
	if (bs->direct_fd >= 0)
		close(bs->direct_fd);
	close(bs->fd);
	free(bs->filename);
	free(bs);
	return ret;
}

/* Reject requests that reach past the end of the disk. */
static int check_range(struct blockdev *bs, uint64_t off, uint64_t len)
{
	if (off > bs->size || len > bs->size - off)
		return -ERANGE;
	return 0;
}

int blk_pread(struct blockdev *bs, uint64_t offset, void *buf, size_t len)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0 || !len)
		return ret;
	return bs->drv->pread(bs, offset, buf, len);
}

int blk_pwrite(struct blockdev *bs, uint64_t offset, const void *buf, size_t len)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0 || !len)
		return ret;
	if (bs->flags & BLK_RDONLY)
		return -EROFS;
	return bs->drv->pwrite(bs, offset, buf, len);
}

/* Total length of a vector, or -ERANGE when it overflows. */
static int iov_length(const struct iovec *iov, int iovcnt, uint64_t *len)
{
	*len = 0;
	if (iovcnt < 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - *len)
			return -ERANGE;
		*len += iov[i].iov_len;
	}
	return 0;
}

int blk_preadv(struct blockdev *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
	uint64_t len;
	int ret = iov_length(iov, iovcnt, &len);

	if (!ret)
		ret = check_range(bs, offset, len);
	for (int i = 0; !ret && i < iovcnt; i++) {
		if (iov[i].iov_len)
			ret = bs->drv->pread(bs, offset, iov[i].iov_base, iov[i].iov_len);
		offset += iov[i].iov_len;
	}
	return ret;
}

int blk_pwritev(struct blockdev *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
	uint64_t len;
	int ret = iov_length(iov, iovcnt, &len);

	if (!ret)
		ret = check_range(bs, offset, len);
	if (!ret && (bs->flags & BLK_RDONLY))
		ret = -EROFS;
	for (int i = 0; !ret && i < iovcnt; i++) {
		if (iov[i].iov_len)
			ret = bs->drv->pwrite(bs, offset, iov[i].iov_base, iov[i].iov_len);
		offset += iov[i].iov_len;
	}
	return ret;
}

int blk_flush(struct blockdev *bs)
{
	if (bs->flags & BLK_RDONLY)
		return 0;
	return bs->drv->flush(bs);
}

int blk_discard(struct blockdev *bs, uint64_t offset, uint64_t len)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0 || !len)
		return ret;
	if (bs->flags & BLK_RDONLY)
		return -EROFS;
	return bs->drv->discard(bs, offset, len);
}

int blk_write_zeroes(struct blockdev *bs, uint64_t offset, uint64_t len)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0 || !len)
		return ret;
	if (bs->flags & BLK_RDONLY)
		return -EROFS;
	return bs->drv->write_zeroes(bs, offset, len);
}

int blk_write_compressed(struct blockdev *bs, uint64_t offset, const void *buf, size_t len)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0 || !len)
		return ret;
	if (bs->flags & BLK_RDONLY)
		return -EROFS;
	if (!bs->drv->write_compressed)
		return bs->drv->pwrite(bs, offset, buf, len);
	return bs->drv->write_compressed(bs, offset, buf, len);
}

uint64_t blk_size(const struct blockdev *bs)
{
	return bs->size;
}

bool blk_is_readonly(const struct blockdev *bs)
{
	return bs->flags & BLK_RDONLY;
}

const char *blk_filename(const struct blockdev *bs)
{
	return bs->filename;
}

const char *blk_format(const struct blockdev *bs)
{
	return bs->drv->name;
}

uint32_t blk_cluster_size(const struct blockdev *bs)
{
	struct blk_info info;

	blk_get_info((struct blockdev *)bs, &info);
	return info.cluster_size;
}

int blk_resize(struct blockdev *bs, uint64_t new_size, char *err, size_t errlen)
{
	if (bs->flags & BLK_RDONLY)
		return blk_seterr(err, errlen, -EROFS, "'%s' is read-only", bs->filename);
	return bs->drv->resize(bs, new_size, err, errlen);
}

int blk_block_status(struct blockdev *bs, uint64_t offset, uint64_t len, enum blk_status *status,
		     uint64_t *pnum)
{
	int ret = check_range(bs, offset, len);

	if (ret < 0)
		return ret;
	if (!len) {
		*pnum = 0;
		*status = BLK_STATUS_DATA;
		return 0;
	}
	return bs->drv->block_status(bs, offset, len, status, pnum);
}

int blk_chain_zero(struct blockdev *bs, uint64_t offset, uint64_t len, bool *zero, uint64_t *pnum)
{
	enum blk_status st;
	uint64_t n, bsize;
	int ret = blk_block_status(bs, offset, len, &st, &n);

	if (ret < 0)
		return ret;
	*zero = st == BLK_STATUS_ZERO || (st == BLK_STATUS_BACKING && !bs->backing);
	*pnum = n;
	if (st != BLK_STATUS_BACKING || !bs->backing)
		return 0;
	/* Not allocated here: ask the backing file (past its end everything is zero). */
	bsize = blk_size(bs->backing);
	if (offset >= bsize) {
		*zero = true;
		return 0;
	}
	return blk_chain_zero(bs->backing, offset, MIN(n, bsize - offset), zero, pnum);
}

int blk_create(const char *path, const struct blk_create_opts *opts, char *err, size_t errlen)
{
	const struct blk_driver *drv = find_driver(opts->format);

	if (!drv)
		return blk_seterr(err, errlen, -EINVAL, "unknown image format '%s'",
				  opts->format ? opts->format : "(none)");
	return drv->create(path, opts, err, errlen);
}

void blk_get_info(struct blockdev *bs, struct blk_info *info)
{
	memset(info, 0, sizeof(*info));
	info->format = bs->drv->name;
	info->virtual_size = bs->size;
	bs->drv->get_info(bs, info);
}

int blk_snapshot_list(struct blockdev *bs, const struct blk_snapshot_info **list, int *count)
{
	if (!bs->drv->snapshot_list) {
		*list = NULL;
		*count = 0;
		return 0;
	}
	return bs->drv->snapshot_list(bs, list, count);
}

/* Snapshot and check operations exist for qcow2 only. */
static int need_op(struct blockdev *bs, const void *op, bool write, char *err, size_t errlen)
{
	if (!op)
		return blk_seterr(err, errlen, -ENOTSUP, "format '%s' does not support this",
				  bs->drv->name);
	if (write && (bs->flags & BLK_RDONLY))
		return blk_seterr(err, errlen, -EROFS, "'%s' is read-only", bs->filename);
	return 0;
}

int blk_snapshot_create(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	int ret = need_op(bs, bs->drv->snapshot_create, true, err, errlen);

	return ret < 0 ? ret : bs->drv->snapshot_create(bs, name, err, errlen);
}

int blk_snapshot_apply(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	int ret = need_op(bs, bs->drv->snapshot_apply, true, err, errlen);

	return ret < 0 ? ret : bs->drv->snapshot_apply(bs, name, err, errlen);
}

int blk_snapshot_delete(struct blockdev *bs, const char *name, char *err, size_t errlen)
{
	int ret = need_op(bs, bs->drv->snapshot_delete, true, err, errlen);

	return ret < 0 ? ret : bs->drv->snapshot_delete(bs, name, err, errlen);
}

int blk_check(struct blockdev *bs, enum blk_repair repair, struct blk_check_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!bs->drv->check)
		return -ENOTSUP;
	if (repair != BLK_REPAIR_NONE && (bs->flags & BLK_RDONLY))
		return -EROFS;
	return bs->drv->check(bs, repair, res);
}

/* Aligned requests may go through the O_DIRECT descriptor. */
static int io_fd(struct blockdev *bs, uint64_t off, const void *buf, size_t len)
{
	if (bs->direct_fd >= 0 && !(off % DIRECT_ALIGN) && !(len % DIRECT_ALIGN) &&
	    !((uintptr_t)buf % DIRECT_ALIGN))
		return bs->direct_fd;
	return bs->fd;
}

/* Transfer the whole range, retrying short transfers and falling back from O_DIRECT on EINVAL. */
static int file_io(struct blockdev *bs, uint64_t off, char *p, size_t len, bool is_write)
{
	int fd = io_fd(bs, off, p, len);

	while (len) {
		ssize_t n = is_write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && fd != bs->fd) {
				fd = bs->fd;
				continue;
			}
			log_error("%s: %s of %zu bytes at %#llx failed: %s", bs->filename,
				  is_write ? "write" : "read", len, (unsigned long long)off,
				  strerror(errno));
			return -errno;
		}
		if (n == 0 && !is_write) {
			memset(p, 0, len); /* past the end of the file reads as zeroes */
			return 0;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int blk_file_pread(struct blockdev *bs, uint64_t off, void *buf, size_t len)
{
	return file_io(bs, off, buf, len, false);
}

/* The buffer is only read from: pwrite() takes it as const. */
int blk_file_pwrite(struct blockdev *bs, uint64_t off, const void *buf, size_t len)
{
	return file_io(bs, off, (char *)buf, len, true);
}

int blk_file_sync(struct blockdev *bs)
{
	if (bs->flags & BLK_NO_FLUSH)
		return 0;
	if (fdatasync(bs->fd) < 0) {
		log_error("%s: fdatasync failed: %s", bs->filename, strerror(errno));
		return -errno;
	}
	return 0;
}

int blk_file_size(struct blockdev *bs, uint64_t *size)
{
	off_t end = lseek(bs->fd, 0, SEEK_END);

	if (end < 0) {
		log_error("%s: cannot get file size: %s", bs->filename, strerror(errno));
		return -errno;
	}
	*size = end;
	return 0;
}
