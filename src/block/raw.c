/* raw: the image file is the disk, byte for byte. */
#include "block/blockdrv.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The virtual size is the file size. */
static int raw_open(struct blockdev *bs, const char *backing_format, char *err, size_t errlen)
{
	uint64_t size;
	int ret;

	(void)backing_format;
	ret = blk_file_size(bs, &size);
	if (ret < 0)
		return blk_seterr(err, errlen, ret, "cannot get size of '%s'", bs->filename);
	bs->size = size;
	return 0;
}

static void raw_close(struct blockdev *bs)
{
	(void)bs;
}

static int raw_pread(struct blockdev *bs, uint64_t off, void *buf, size_t len)
{
	return blk_file_pread(bs, off, buf, len);
}

static int raw_pwrite(struct blockdev *bs, uint64_t off, const void *buf, size_t len)
{
	return blk_file_pwrite(bs, off, buf, len);
}

static int raw_flush(struct blockdev *bs)
{
	return blk_file_sync(bs);
}

/* Punch a hole; file systems without hole support keep the data, which discard allows. */
static int raw_discard(struct blockdev *bs, uint64_t off, uint64_t len)
{
	if (fallocate(bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0 &&
	    errno != EOPNOTSUPP) {
		log_error("%s: discard at %#llx failed: %s", bs->filename, (unsigned long long)off,
			  strerror(errno));
		return -errno;
	}
	return 0;
}

/* Holes read as zeroes; fall back to writing zero buffers where punching is unsupported. */
static int raw_write_zeroes(struct blockdev *bs, uint64_t off, uint64_t len)
{
	static const char zeroes[65536];
	int ret;

	if (!fallocate(bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
		return 0;
	while (len) {
		size_t n = len < sizeof(zeroes) ? len : sizeof(zeroes);

		ret = blk_file_pwrite(bs, off, zeroes, n);
		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_resize(struct blockdev *bs, uint64_t size, char *err, size_t errlen)
{
	if (ftruncate(bs->fd, size) < 0)
		return blk_seterr(err, errlen, -errno, "cannot resize '%s': %s", bs->filename,
				  strerror(errno));
	bs->size = size;
	return 0;
}

/* Report holes as zero runs with SEEK_DATA/SEEK_HOLE. */
static int raw_block_status(struct blockdev *bs, uint64_t off, uint64_t len,
			    enum blk_status *status, uint64_t *pnum)
{
	off_t data = lseek(bs->fd, off, SEEK_DATA);
	off_t hole;

	if (data < 0 && errno == ENXIO) {
		*status = BLK_STATUS_ZERO;
		*pnum = len;
		return 0;
	}
	if (data < 0)
		goto all_data;
	if ((uint64_t)data > off) {
		*status = BLK_STATUS_ZERO;
		*pnum = (uint64_t)data - off < len ? (uint64_t)data - off : len;
		return 0;
	}
	hole = lseek(bs->fd, off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		goto all_data;
	*status = BLK_STATUS_DATA;
	*pnum = (uint64_t)hole - off < len ? (uint64_t)hole - off : len;
	return 0;
all_data:
	*status = BLK_STATUS_DATA;
	*pnum = len;
	return 0;
}

/* A raw image is a sparse file of the requested size. */
static int raw_create(const char *path, const struct blk_create_opts *o, char *err, size_t errlen)
{
	int fd;

	if (o->backing_file)
		return blk_seterr(err, errlen, -EINVAL, "raw images cannot have a backing file");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return blk_seterr(err, errlen, -errno, "cannot create '%s': %s", path,
				  strerror(errno));
	if (ftruncate(fd, o->size) < 0) {
		int ret = -errno;

		close(fd);
		return blk_seterr(err, errlen, ret, "cannot size '%s': %s", path, strerror(-ret));
	}
	close(fd);
	return 0;
}

static void raw_get_info(struct blockdev *bs, struct blk_info *info)
{
	(void)bs;
	(void)info;
}

const struct blk_driver blk_raw_driver = {
    .name = "raw",
    .open = raw_open,
    .close = raw_close,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .resize = raw_resize,
    .block_status = raw_block_status,
    .create = raw_create,
    .get_info = raw_get_info,
};
