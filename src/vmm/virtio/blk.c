/*
 * virtio-blk: one request queue, requests of the form
 *   [header: type, reserved, sector][data...][status byte]
 * (out buffers first, the status byte last in the in buffers).
 */
#include "vmm/virtio/blk.h"
#include "block/block.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feature bits (section 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values. */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK		  0
#define VIRTIO_BLK_S_IOERR	  1
#define VIRTIO_BLK_S_UNSUPP	  2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_WZ_UNMAP 1

#define SECTOR		    512ULL
#define QUEUE_SIZE	    256
#define MAX_DISCARD_SECTORS 0x400000u /* 2 GiB per segment */
#define MAX_DISCARD_SEGS    32
#define BATCH		    32 /* requests taken from the ring per lock hold */
#define BATCHES_PER_TURN    8  /* then the rest of the I/O thread gets a turn */

/* struct virtio_blk_config, the fields up to write_zeroes_may_unmap. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct virtio_blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct virtio_blk {
	struct vm *vm;
	struct virtio_pci *vp;
	struct blockdev *bs;
	bool readonly;
	uint64_t sectors;
	char serial[VIRTIO_BLK_ID_BYTES];
	char name[64];
	struct virtio_blk_config config;
};

/* What handling one request produced. */
struct blk_result {
	uint32_t written; /* bytes written to the in buffers, status byte included */
	const char *bad;  /* the request itself is malformed: the device needs a reset */
};

/* ---- request handling (I/O thread, vm->lock NOT held) ---- */

/* Is [sector, sector + bytes) inside the disk? bytes must be whole sectors. */
static bool range_ok(struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	return bytes % SECTOR == 0 && sector <= b->sectors && bytes / SECTOR <= b->sectors - sector;
}

/*
 * Read into or write from len bytes of iov starting skip bytes in, at byte
 * offset off of the image. Returns 0 or a negative errno (logged by the block layer).
 */
static int rw_iov(struct virtio_blk *b, bool write, uint64_t off, const struct iovec *iov,
		  unsigned n, uint64_t skip, uint64_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t seg = iov[i].iov_len;
		uint8_t *p = iov[i].iov_base;
		int r;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		p += skip;
		seg = MIN(seg - skip, len);
		skip = 0;
		r = write ? blk_pwrite(b->bs, off, p, seg) : blk_pread(b->bs, off, p, seg);
		if (r < 0)
			return r;
		off += seg;
		len -= seg;
	}
	return 0;
}

/* DISCARD and WRITE_ZEROES: a list of segments after the header. */
static uint8_t do_discard(struct virtio_blk *b, struct virtq_elem *e, bool zeroes)
{
	uint64_t bytes = e->out_len - sizeof(struct virtio_blk_req_hdr);
	uint64_t nseg = bytes / sizeof(struct virtio_blk_discard_seg);

	if (!nseg || bytes % sizeof(struct virtio_blk_discard_seg) || nseg > MAX_DISCARD_SEGS)
		return VIRTIO_BLK_S_UNSUPP;
	for (uint64_t i = 0; i < nseg; i++) {
		struct virtio_blk_discard_seg s;
		uint64_t off = sizeof(struct virtio_blk_req_hdr) + i * sizeof(s);
		int r;

		iov_to_buf(e->out, e->nout, off, &s, sizeof(s));
		if ((s.flags & ~(uint32_t)VIRTIO_BLK_WZ_UNMAP) || (!zeroes && s.flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (s.num_sectors > MAX_DISCARD_SECTORS ||
		    !range_ok(b, s.sector, (uint64_t)s.num_sectors * SECTOR))
			return VIRTIO_BLK_S_IOERR;
		if (!s.num_sectors)
			continue;
		r = zeroes ? blk_write_zeroes(b->bs, s.sector * SECTOR, s.num_sectors * SECTOR)
			   : blk_discard(b->bs, s.sector * SECTOR, s.num_sectors * SECTOR);
		if (r < 0)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static struct blk_result handle(struct virtio_blk *b, struct virtq_elem *e, uint64_t features)
{
	struct blk_result res = {.written = 1};
	struct virtio_blk_req_hdr h;
	uint64_t data_in, data_out;
	uint8_t status = VIRTIO_BLK_S_OK;

	if (e->out_len < sizeof(h) || e->in_len < 1) {
		res.bad = "request without header or status byte";
		return res;
	}
	iov_to_buf(e->out, e->nout, 0, &h, sizeof(h));
	data_in = e->in_len - 1;
	data_out = e->out_len - sizeof(h);

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (!range_ok(b, h.sector, data_in) ||
		    rw_iov(b, false, h.sector * SECTOR, e->in, e->nin, 0, data_in) < 0)
			status = VIRTIO_BLK_S_IOERR;
		else
			res.written += (uint32_t)data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->readonly || !range_ok(b, h.sector, data_out) ||
		    rw_iov(b, true, h.sector * SECTOR, e->out, e->nout, sizeof(h), data_out) < 0)
			status = VIRTIO_BLK_S_IOERR;
		/* Without FLUSH the driver assumes a write-through cache. */
		else if (!(features & (1ULL << VIRTIO_BLK_F_FLUSH)) && blk_flush(b->bs) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->readonly && blk_flush(b->bs) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = MIN(data_in, (uint64_t)VIRTIO_BLK_ID_BYTES);
		iov_from_buf(e->in, e->nin, 0, b->serial, n);
		res.written += (uint32_t)n;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool zeroes = h.type == VIRTIO_BLK_T_WRITE_ZEROES;
		unsigned bit = zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;

		if (!(features & (1ULL << bit)) || b->readonly)
			status = VIRTIO_BLK_S_UNSUPP;
		else
			status = do_discard(b, e, zeroes);
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	/* The status byte is the last byte of the in buffers. */
	iov_from_buf(e->in, e->nin, e->in_len - 1, &status, 1);
	if (status != VIRTIO_BLK_S_OK)
		res.written = 1;
	return res;
}

/* ---- the queue ---- */

/*
 * Drain the request queue: pop a batch, do the I/O unlocked, complete it.
 * After BATCHES_PER_TURN batches the queue is requeued on the loop, so a guest
 * that keeps the ring full cannot starve the other back ends.
 */
static void queue_notify(void *opaque, unsigned q)
{
	struct virtio_blk *b = opaque;
	struct virtq *vq = virtio_pci_queue(b->vp, 0);
	struct virtq_elem *batch[BATCH];
	struct blk_result res[BATCH];

	if (q != 0)
		return;
	pthread_mutex_lock(&b->vm->lock);
	for (unsigned turn = 0;; turn++) {
		uint64_t features = virtio_pci_features(b->vp);
		unsigned n = 0;

		if (!virtio_pci_running(b->vp))
			break;
		if (turn == BATCHES_PER_TURN) {
			virtio_pci_requeue(b->vp, 0);
			break;
		}
		while (n < BATCH && (batch[n] = virtq_pop(vq)))
			n++;
		if (!n)
			break;
		pthread_mutex_unlock(&b->vm->lock);
		for (unsigned i = 0; i < n; i++)
			res[i] = handle(b, batch[i], features);
		pthread_mutex_lock(&b->vm->lock);
		for (unsigned i = 0; i < n; i++) {
			if (res[i].bad) {
				if (batch[i]->generation == virtq_generation(vq))
					virtio_pci_needs_reset(b->vp, res[i].bad);
				virtq_discard(batch[i]);
			} else {
				virtq_push(vq, batch[i], res[i].written);
			}
		}
		virtio_pci_notify(b->vp, 0);
	}
	pthread_mutex_unlock(&b->vm->lock);
}

static const struct virtio_dev_ops blk_ops = {
    .queue_notify = queue_notify,
};

/* ---- creation ---- */

struct virtio_blk *virtio_blk_new(struct vm *vm, struct pci_host *host, const char *path,
				  const char *format, bool readonly, const char *serial)
{
	struct virtio_blk *b = xcalloc(1, sizeof(*b));
	struct virtio_pci_desc desc = {
	    .device_type = VIRTIO_ID_BLOCK,
	    .class_code = 0x018000, /* mass storage, other */
	    .nqueues = 1,
	    .queue_size = QUEUE_SIZE,
	    .config = &b->config,
	    .config_size = sizeof(b->config),
	    .ops = &blk_ops,
	    .opaque = b,
	};
	uint32_t align;
	char err[256];

	b->vm = vm;
	b->readonly = readonly;
	b->bs =
	    blk_open(path, format ? format : "raw", readonly ? BLK_RDONLY : 0, err, sizeof(err));
	if (!b->bs) {
		log_error("disk %s: %s", path, err);
		free(b);
		return NULL;
	}
	snprintf(b->name, sizeof(b->name), "virtio-blk %s", serial);
	/* Zero-padded, not NUL-terminated when it is 20 bytes long. */
	memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	b->sectors = blk_size(b->bs) / SECTOR;
	align = MAX(blk_cluster_size(b->bs) / (uint32_t)SECTOR, 1u);

	b->config.capacity = b->sectors;
	b->config.seg_max = QUEUE_SIZE - 2;
	b->config.blk_size = SECTOR;
	b->config.num_queues = 1;
	desc.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			(1ULL << VIRTIO_BLK_F_FLUSH);
	if (readonly) {
		desc.features |= 1ULL << VIRTIO_BLK_F_RO;
	} else {
		desc.features |=
		    (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
		b->config.max_discard_sectors = MAX_DISCARD_SECTORS;
		b->config.max_discard_seg = MAX_DISCARD_SEGS;
		b->config.discard_sector_alignment = align;
		b->config.max_write_zeroes_sectors = MAX_DISCARD_SECTORS;
		b->config.max_write_zeroes_seg = MAX_DISCARD_SEGS;
		b->config.write_zeroes_may_unmap = 1;
	}
	desc.name = b->name;
	b->vp = virtio_pci_new(vm, host, &desc);
	if (!b->vp) {
		blk_close(b->bs);
		free(b);
		return NULL;
	}
	return b;
}

void virtio_blk_free(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_free(b->vp);
	if (blk_close(b->bs) < 0)
		log_error("%s: closing the image failed", b->name);
	free(b);
}

struct virtio_pci *virtio_blk_transport(struct virtio_blk *b)
{
	return b->vp;
}
