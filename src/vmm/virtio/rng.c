/* virtio-rng: entropy from getrandom() into the guest's buffers. */
#include "vmm/virtio/rng.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RNG_QUEUE_SIZE	64
#define RNG_MAX_REQUEST (64 * 1024)
#define RNG_BUDGET	64 /* requests per turn of the I/O thread */

struct virtio_rng {
	struct vm *vm;
	struct virtio_pci *vp;
};

/* Fill up to RNG_MAX_REQUEST bytes of the element's in buffers; returns bytes written. */
static uint32_t fill(struct virtq_elem *e)
{
	uint64_t left = MIN(e->in_len, (uint64_t)RNG_MAX_REQUEST);
	uint32_t done = 0;

	for (unsigned i = 0; i < e->nin && left; i++) {
		size_t n = MIN(left, (uint64_t)e->in[i].iov_len), got = 0;

		while (got < n) {
			ssize_t r = getrandom((uint8_t *)e->in[i].iov_base + got, n - got, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				log_warn("virtio-rng: getrandom: %s", strerror(errno));
				return done;
			}
			got += (size_t)r;
			done += (uint32_t)r;
		}
		left -= n;
	}
	return done;
}

static void queue_notify(void *opaque, unsigned q)
{
	struct virtio_rng *r = opaque;
	struct virtq *vq = virtio_pci_queue(r->vp, 0);
	struct virtq_elem *e;
	bool done = false;

	if (q != 0)
		return;
	pthread_mutex_lock(&r->vm->lock);
	for (unsigned n = 0; virtio_pci_running(r->vp) && (e = virtq_pop(vq)); n++) {
		if (n == RNG_BUDGET) {
			/* Enough for one turn of the I/O thread: continue later. */
			virtq_unpop(vq, e);
			virtio_pci_requeue(r->vp, 0);
			break;
		}
		virtq_push(vq, e, fill(e));
		done = true;
	}
	if (done)
		virtio_pci_notify(r->vp, 0);
	pthread_mutex_unlock(&r->vm->lock);
}

static const struct virtio_dev_ops rng_ops = {
    .queue_notify = queue_notify,
};

struct virtio_rng *virtio_rng_new(struct vm *vm, struct pci_host *host)
{
	struct virtio_rng *r = xcalloc(1, sizeof(*r));
	struct virtio_pci_desc desc = {
	    .name = "virtio-rng",
	    .device_type = VIRTIO_ID_RNG,
	    .class_code = 0x00ff00, /* unclassified */
	    .nqueues = 1,
	    .queue_size = RNG_QUEUE_SIZE,
	    .ops = &rng_ops,
	    .opaque = r,
	};

	r->vm = vm;
	r->vp = virtio_pci_new(vm, host, &desc);
	if (!r->vp) {
		free(r);
		return NULL;
	}
	return r;
}

void virtio_rng_free(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_free(r->vp);
	free(r);
}

struct virtio_pci *virtio_rng_transport(struct virtio_rng *r)
{
	return r->vp;
}
