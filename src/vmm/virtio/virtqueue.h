/*
 * Split virtqueues (virtio 1.x, section 2.7): the descriptor table, the
 * driver (avail) ring and the device (used) ring in guest RAM, with indirect
 * descriptors and event-index notification suppression.
 *
 * Everything the guest writes is treated as hostile. A queue is set up only
 * when its rings lie wholly in RAM, and every chain is checked before a device
 * sees it: descriptor indexes in range, no loops, no chain longer than the
 * queue (or than VIRTQ_MAX_SEGS buffers through indirect tables), buffers
 * wholly in RAM, readable buffers before writable ones, total lengths that fit
 * in 32 bits, indirect tables only where negotiated, a multiple of 16 bytes,
 * not nested and not chained, and an avail index that never runs more than the
 * queue size ahead. A violation marks the queue broken and calls its error
 * callback once (the transport then sets DEVICE_NEEDS_RESET); a broken queue
 * yields nothing until it is reset.
 *
 * Locking: every call must be made with vm->lock held. Guest RAM is not
 * locked; an element's iovecs point straight into it and stay valid after the
 * lock is dropped (guest RAM never moves), so devices may do their I/O
 * unlocked and complete the element later, after checking virtq_generation().
 */
#ifndef BERTH_VMM_VIRTIO_VIRTQUEUE_H
#define BERTH_VMM_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;

#define VIRTQ_MAX_SIZE 32768 /* largest queue size the split layout allows */
#define VIRTQ_MAX_SEGS 1024  /* most buffers one element may have (with indirect tables) */

/* Descriptor flags and ring flags. */
#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Transport feature bits the queue core implements. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

struct virtq;

/* One request: out (device-readable) buffers first, then in (device-writable). */
struct virtq_elem {
	uint16_t head;	     /* index of the chain's first descriptor */
	uint32_t generation; /* virtq_generation() when popped */
	unsigned nout, nin;
	uint64_t out_len, in_len; /* total bytes of each kind */
	struct iovec *out, *in;	  /* point into iov[] */
	uint64_t *in_gpa;	  /* guest address of each in buffer */
	struct iovec iov[];	  /* nout + nin entries, then in_gpa */
};

/* Called once when the guest breaks the rules; msg says how. */
typedef void (*virtq_error_cb)(void *opaque, struct virtq *vq, const char *msg);

/* A queue of at most max_size entries (a power of two); starts disabled. */
struct virtq *virtq_new(struct vm *vm, unsigned index, uint16_t max_size, virtq_error_cb on_error,
			void *opaque);
void virtq_free(struct virtq *vq);

/* The driver-visible parameters (what the transport's registers hold). */
struct virtq_params {
	uint16_t size;
	uint64_t desc, avail, used; /* guest physical addresses */
};

/* Back to the reset state: disabled, size max_size, addresses 0. */
void virtq_reset(struct virtq *vq);
/* Parameters while the queue is disabled (ignored once enabled). */
struct virtq_params *virtq_params(struct virtq *vq);
uint16_t virtq_max_size(const struct virtq *vq);
/*
 * Enable the queue with its parameters and the negotiated features. Checks
 * size and ring placement; on a violation the queue is broken (error callback)
 * and false is returned.
 */
bool virtq_enable(struct virtq *vq, uint64_t features);
bool virtq_enabled(const struct virtq *vq);
bool virtq_broken(const struct virtq *vq);
/* Stop yielding requests until the next reset (the device needs a reset). */
void virtq_stop(struct virtq *vq);
unsigned virtq_index(const struct virtq *vq);
/* Changes on every reset: an element popped before a reset must not be pushed. */
uint32_t virtq_generation(const struct virtq *vq);

/*
 * Take the next available chain, validated. Returns NULL when the ring is
 * empty, the queue is disabled or broken (then the error callback has run).
 * The element is malloc'ed: give it back with virtq_push() or virtq_discard().
 */
struct virtq_elem *virtq_pop(struct virtq *vq);
/* Is there anything to pop (without consuming)? False when disabled or broken. */
bool virtq_has_avail(struct virtq *vq);
/*
 * Return elem to the driver with len bytes written to its in buffers (from the
 * start), and free it. Dropped silently if the queue was reset since the pop.
 */
void virtq_push(struct virtq *vq, struct virtq_elem *elem, uint32_t len);
/* Undo a pop (the element goes back to the ring) and free elem. */
void virtq_unpop(struct virtq *vq, struct virtq_elem *elem);
/* Free an element without completing it. */
void virtq_discard(struct virtq_elem *elem);
/*
 * Should the driver be interrupted for the completions pushed since the last
 * call that said yes? Implements VIRTQ_AVAIL_F_NO_INTERRUPT and used_event.
 */
bool virtq_should_notify(struct virtq *vq);

/* Copy between an iovec array and a flat buffer, from byte offset off; return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);

#endif
