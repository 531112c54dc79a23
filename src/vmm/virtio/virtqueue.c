/*
 * The split virtqueue core shared by every virtio device. See virtqueue.h for
 * the rules enforced on the guest.
 *
 * Guest-shared words are read exactly once, with atomic loads, into locals
 * that are then checked and used: the guest may rewrite its rings at any time
 * and must never get a value past a check. The host is little-endian like
 * virtio 1.x, so ring fields need no byte swapping.
 */
#include "vmm/virtio/virtqueue.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq {
	struct vm *vm;
	unsigned index;
	uint16_t max_size;
	virtq_error_cb on_error;
	void *opaque;

	struct virtq_params params;
	bool enabled, broken;
	bool event_idx, indirect;
	uint32_t generation;

	/* Host views of the rings, valid while enabled. */
	struct virtq_desc *desc;
	uint16_t *avail;     /* flags, idx, ring[size], used_event */
	uint16_t *used;	     /* flags, idx, then ring entries; avail_event last */
	uint16_t last_avail; /* next avail slot to consume */
	uint16_t used_idx;   /* our copy of used->idx */
	uint16_t signalled;  /* used_idx when the driver was last notified */
	bool signalled_valid;

	/* Scratch for the chain being walked (the lock serialises pops). */
	struct iovec seg_iov[VIRTQ_MAX_SEGS];
	uint64_t seg_gpa[VIRTQ_MAX_SEGS];
	bool seg_write[VIRTQ_MAX_SEGS];
};

#define AVAIL_FLAGS 0
#define AVAIL_IDX   1
#define AVAIL_RING  2
#define USED_FLAGS  0
#define USED_IDX    1
#define USED_RING   2 /* in uint16_t units: entries start at byte 4 */

/* ---- guest-shared loads and stores ---- */

static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Copy one descriptor out of guest memory, each field read once. */
static struct virtq_desc desc_load(const struct virtq_desc *d)
{
	struct virtq_desc v;

	v.addr = __atomic_load_n(&d->addr, __ATOMIC_RELAXED);
	v.len = __atomic_load_n(&d->len, __ATOMIC_RELAXED);
	v.flags = __atomic_load_n(&d->flags, __ATOMIC_RELAXED);
	v.next = __atomic_load_n(&d->next, __ATOMIC_RELAXED);
	return v;
}

static uint16_t *used_event_ptr(struct virtq *vq)
{
	return &vq->avail[AVAIL_RING + vq->params.size];
}

static uint16_t *avail_event_ptr(struct virtq *vq)
{
	return &vq->used[USED_RING + 4 * vq->params.size];
}

/* ---- errors ---- */

/* The guest broke the rules: stop the queue and tell the transport (once). */
static void fail(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct virtq *vq, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (vq->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vq->broken = true;
	if (vq->on_error)
		vq->on_error(vq->opaque, vq, msg);
}

/* ---- life cycle ---- */

struct virtq *virtq_new(struct vm *vm, unsigned index, uint16_t max_size, virtq_error_cb on_error,
			void *opaque)
{
	struct virtq *vq;

	if (!max_size || (max_size & (max_size - 1)) || max_size > VIRTQ_MAX_SIZE) {
		log_error("virtqueue %u: size %u is not a power of two up to %u", index, max_size,
			  VIRTQ_MAX_SIZE);
		return NULL;
	}
	vq = xcalloc(1, sizeof(*vq));
	vq->vm = vm;
	vq->index = index;
	vq->max_size = max_size;
	vq->on_error = on_error;
	vq->opaque = opaque;
	virtq_reset(vq);
	return vq;
}

void virtq_free(struct virtq *vq)
{
	free(vq);
}

void virtq_reset(struct virtq *vq)
{
	memset(&vq->params, 0, sizeof(vq->params));
	vq->params.size = vq->max_size;
	vq->enabled = vq->broken = false;
	vq->event_idx = vq->indirect = false;
	vq->desc = NULL;
	vq->avail = vq->used = NULL;
	vq->last_avail = vq->used_idx = vq->signalled = 0;
	vq->signalled_valid = false;
	vq->generation++;
}

struct virtq_params *virtq_params(struct virtq *vq)
{
	return &vq->params;
}

uint16_t virtq_max_size(const struct virtq *vq)
{
	return vq->max_size;
}

bool virtq_enabled(const struct virtq *vq)
{
	return vq->enabled;
}

bool virtq_broken(const struct virtq *vq)
{
	return vq->broken;
}

void virtq_stop(struct virtq *vq)
{
	vq->broken = true;
}

unsigned virtq_index(const struct virtq *vq)
{
	return vq->index;
}

uint32_t virtq_generation(const struct virtq *vq)
{
	return vq->generation;
}

/* Host pointer to a ring of len bytes at gpa with the given alignment, or NULL. */
static void *ring_map(struct virtq *vq, const char *what, uint64_t gpa, uint64_t len,
		      unsigned align)
{
	void *p;

	if (gpa & (align - 1)) {
		fail(vq, "%s ring at %#llx is not %u-byte aligned", what, (unsigned long long)gpa,
		     align);
		return NULL;
	}
	p = vm_gpa_to_hva(vq->vm, gpa, len);
	if (!p)
		fail(vq, "%s ring [%#llx, +%#llx) is not in guest RAM", what,
		     (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

bool virtq_enable(struct virtq *vq, uint64_t features)
{
	uint16_t n = vq->params.size;

	if (vq->broken)
		return false;
	if (!n || (n & (n - 1)) || n > vq->max_size) {
		fail(vq, "queue size %u is not a power of two up to %u", n, vq->max_size);
		return false;
	}
	vq->desc = ring_map(vq, "descriptor", vq->params.desc, 16ULL * n, 16);
	vq->avail = vq->desc ? ring_map(vq, "driver", vq->params.avail, 6ULL + 2ULL * n, 2) : NULL;
	vq->used = vq->avail ? ring_map(vq, "device", vq->params.used, 6ULL + 8ULL * n, 4) : NULL;
	if (!vq->used)
		return false;
	vq->event_idx = features & (1ULL << VIRTIO_F_EVENT_IDX);
	vq->indirect = features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	/* A queue starts at index 0; the used ring's header is the device's to initialise. */
	vq->last_avail = vq->used_idx = 0;
	store16(&vq->used[USED_FLAGS], 0);
	store16(&vq->used[USED_IDX], 0);
	if (vq->event_idx)
		store16(avail_event_ptr(vq), vq->last_avail);
	vm_ram_written(vq->vm, vq->params.used, 6ULL + 8ULL * n);
	vq->signalled_valid = false;
	vq->enabled = true;
	return true;
}

/* ---- taking chains ---- */

/* How many chains the driver has made available; fails the queue on nonsense. */
static bool avail_count(struct virtq *vq, uint16_t *count)
{
	uint16_t idx = __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vq->last_avail);

	if (n > vq->params.size) {
		fail(vq, "avail index jumped from %u to %u (queue size %u)", vq->last_avail, idx,
		     vq->params.size);
		return false;
	}
	*count = n;
	return true;
}

bool virtq_has_avail(struct virtq *vq)
{
	uint16_t n;

	if (!vq->enabled || vq->broken)
		return false;
	return avail_count(vq, &n) && n;
}

/* State of one chain walk. */
struct walk {
	unsigned nseg;
	uint64_t out_len, in_len;
	bool seen_write;
};

/* Record one buffer; false (queue failed) if it breaks a rule. */
static bool walk_add(struct virtq *vq, struct walk *w, const struct virtq_desc *d)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	void *p;

	if (w->nseg == VIRTQ_MAX_SEGS) {
		fail(vq, "chain has more than %u buffers", VIRTQ_MAX_SEGS);
		return false;
	}
	if (!write && w->seen_write) {
		fail(vq, "device-readable buffer after a device-writable one");
		return false;
	}
	p = d->len ? vm_gpa_to_hva(vq->vm, d->addr, d->len) : NULL;
	if (d->len && !p) {
		fail(vq, "buffer [%#llx, +%#x) is not in guest RAM", (unsigned long long)d->addr,
		     d->len);
		return false;
	}
	if (write)
		w->in_len += d->len;
	else
		w->out_len += d->len;
	if (w->in_len > UINT32_MAX || w->out_len > UINT32_MAX) {
		fail(vq, "chain's total length exceeds 4 GiB");
		return false;
	}
	w->seen_write |= write;
	vq->seg_iov[w->nseg] = (struct iovec){.iov_base = p, .iov_len = d->len};
	vq->seg_gpa[w->nseg] = d->addr;
	vq->seg_write[w->nseg] = write;
	w->nseg++;
	return true;
}

/* Walk an indirect table (already known to be in RAM, len a multiple of 16). */
static bool walk_indirect(struct virtq *vq, struct walk *w, const struct virtq_desc *ind)
{
	const struct virtq_desc *table;
	uint32_t count = ind->len / sizeof(struct virtq_desc);
	uint32_t i = 0;

	table = vm_gpa_to_hva(vq->vm, ind->addr, ind->len);
	for (uint32_t steps = 0;; steps++) {
		struct virtq_desc d;

		if (steps == count) {
			fail(vq, "indirect chain loops or is longer than its %u-entry table",
			     count);
			return false;
		}
		d = desc_load(&table[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			fail(vq, "nested indirect descriptor");
			return false;
		}
		if (!walk_add(vq, w, &d))
			return false;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		if (d.next >= count) {
			fail(vq, "indirect descriptor %u: next %u is outside the %u-entry table", i,
			     d.next, count);
			return false;
		}
		i = d.next;
	}
}

/* Walk the chain at head into the scratch arrays; false if the queue failed. */
static bool walk_chain(struct virtq *vq, uint16_t head, struct walk *w)
{
	uint16_t size = vq->params.size;
	unsigned i = head;

	memset(w, 0, sizeof(*w));
	if (head >= size) {
		fail(vq, "head descriptor %u is outside the %u-entry table", head, size);
		return false;
	}
	for (unsigned steps = 0;; steps++) {
		struct virtq_desc d;

		if (steps == size) {
			fail(vq, "descriptor chain from %u loops or is longer than the queue",
			     head);
			return false;
		}
		d = desc_load(&vq->desc[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				fail(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
				return false;
			}
			if (d.flags & VIRTQ_DESC_F_NEXT) {
				fail(vq, "indirect descriptor %u also has NEXT set", i);
				return false;
			}
			if (!d.len || d.len % sizeof(struct virtq_desc)) {
				fail(vq, "indirect table length %u is not a multiple of 16", d.len);
				return false;
			}
			if (!vm_gpa_to_hva(vq->vm, d.addr, d.len)) {
				fail(vq, "indirect table [%#llx, +%#x) is not in guest RAM",
				     (unsigned long long)d.addr, d.len);
				return false;
			}
			return walk_indirect(vq, w, &d);
		}
		if (!walk_add(vq, w, &d))
			return false;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		if (d.next >= size) {
			fail(vq, "descriptor %u: next %u is outside the %u-entry table", i, d.next,
			     size);
			return false;
		}
		i = d.next;
	}
}

/* With event index: ask to be kicked at the next buffer the driver adds. */
static void publish_avail_event(struct virtq *vq)
{
	if (vq->event_idx) {
		store16(avail_event_ptr(vq), vq->last_avail);
		vm_ram_written(vq->vm, vq->params.used + 4 + 8ULL * vq->params.size, 2);
	}
}

struct virtq_elem *virtq_pop(struct virtq *vq)
{
	struct virtq_elem *e;
	struct walk w;
	uint16_t n, head;
	unsigned o = 0, in = 0;

	if (!vq->enabled || vq->broken || !avail_count(vq, &n))
		return NULL;
	if (!n) {
		/* Re-check after publishing avail_event: the driver may have just added one. */
		publish_avail_event(vq);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!avail_count(vq, &n) || !n)
			return NULL;
	}
	head = load16(&vq->avail[AVAIL_RING + (vq->last_avail & (vq->params.size - 1))]);
	if (!walk_chain(vq, head, &w))
		return NULL;
	vq->last_avail++;
	publish_avail_event(vq);

	e = xmalloc(sizeof(*e) + w.nseg * (sizeof(struct iovec) + sizeof(uint64_t)));
	e->head = head;
	e->generation = vq->generation;
	e->out_len = w.out_len;
	e->in_len = w.in_len;
	e->nout = e->nin = 0;
	for (unsigned i = 0; i < w.nseg; i++)
		e->nin += vq->seg_write[i];
	e->nout = w.nseg - e->nin;
	e->out = e->iov;
	e->in = e->iov + e->nout;
	e->in_gpa = (uint64_t *)(e->iov + w.nseg);
	for (unsigned i = 0; i < w.nseg; i++) {
		if (vq->seg_write[i]) {
			e->in_gpa[in] = vq->seg_gpa[i];
			e->in[in++] = vq->seg_iov[i];
		} else {
			e->out[o++] = vq->seg_iov[i];
		}
	}
	return e;
}

/* ---- returning chains ---- */

void virtq_discard(struct virtq_elem *elem)
{
	free(elem);
}

void virtq_unpop(struct virtq *vq, struct virtq_elem *elem)
{
	if (elem->generation == vq->generation && vq->enabled) {
		vq->last_avail--;
		publish_avail_event(vq);
	}
	free(elem);
}

void virtq_push(struct virtq *vq, struct virtq_elem *elem, uint32_t len)
{
	struct virtq_used_elem *ring;
	uint64_t left = MIN((uint64_t)len, elem->in_len);
	unsigned slot;

	if (elem->generation != vq->generation || !vq->enabled) {
		free(elem);
		return;
	}
	/* The soft CPU caches decoded code: tell it which RAM the device wrote. */
	for (unsigned i = 0; i < elem->nin && left; i++) {
		uint64_t n = MIN(left, (uint64_t)elem->in[i].iov_len);
		vm_ram_written(vq->vm, elem->in_gpa[i], n);
		left -= n;
	}
	slot = vq->used_idx & (vq->params.size - 1);
	ring = (struct virtq_used_elem *)&vq->used[USED_RING];
	__atomic_store_n(&ring[slot].id, elem->head, __ATOMIC_RELAXED);
	__atomic_store_n(&ring[slot].len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* The entry must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used[USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
	vm_ram_written(vq->vm, vq->params.used + 4 + 8ULL * slot, 8);
	vm_ram_written(vq->vm, vq->params.used + 2, 2);
	free(elem);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, now = vq->used_idx, event;
	bool valid;

	if (!vq->enabled)
		return false;
	/* Order our used->idx store before reading the driver's suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled;
	valid = vq->signalled_valid;
	vq->signalled = now;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	event = load16(used_event_ptr(vq));
	/* Notify if used_event lies in [old, now): the driver asked for one in between. */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

/* ---- iovec helpers ---- */

/* Copy between buf and the iovec's bytes from offset off on: into the iovec if to_iov. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len;
		uint8_t *base = iov[i].iov_base;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		seg = MIN(seg - off, len - done);
		if (to_iov)
			memcpy(base + off, buf + done, seg);
		else
			memcpy(buf + done, base + off, seg);
		done += seg;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

/* buf is only read from here. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)buf, len, true);
}
