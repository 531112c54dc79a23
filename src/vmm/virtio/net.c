/* virtio-net: receive queue 0, transmit queue 1, every frame behind a 12-byte header. */
#include "vmm/virtio/net.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/net/net.h"
#include "vmm/virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define NET_QUEUE_SIZE 256
#define RX_QUEUE       0
#define TX_QUEUE       1
#define RX_BACKLOG     64  /* frames held while the guest has no receive buffer */
#define TX_BUDGET      256 /* frames sent per turn before letting other work run */

/* struct virtio_net_hdr as virtio 1.x defines it (num_buffers always present). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
} __attribute__((packed));

struct virtio_net {
	struct vm *vm;
	struct virtio_pci *vp;
	struct netdev *nd;
	struct virtio_net_config config;
	uint8_t txbuf[NET_MAX_FRAME];
	/* Frames waiting for receive buffers, oldest first (vm->lock). */
	struct {
		uint8_t *data;
		size_t len;
	} backlog[RX_BACKLOG];
	unsigned backlog_head, backlog_count;
};

/* ---- transmit (I/O thread, no lock held on entry) ---- */

/*
 * Take one frame from the transmit queue into txbuf; returns its length, 0
 * for a frame dropped (too big), or -1 when there is nothing (more) to send.
 */
static long take_frame(struct virtio_net *n)
{
	struct virtq *vq = virtio_pci_queue(n->vp, TX_QUEUE);
	struct virtq_elem *e;
	long len = -1;

	pthread_mutex_lock(&n->vm->lock);
	if (!virtio_pci_running(n->vp) || !(e = virtq_pop(vq)))
		goto out;
	if (e->out_len < sizeof(struct virtio_net_hdr)) {
		virtio_pci_needs_reset(n->vp, "transmit buffer without a virtio-net header");
		virtq_discard(e);
		goto out;
	}
	len = (long)(e->out_len - sizeof(struct virtio_net_hdr));
	if (len > NET_MAX_FRAME)
		len = 0; /* nothing sane sends that: drop it */
	else
		iov_to_buf(e->out, e->nout, sizeof(struct virtio_net_hdr), n->txbuf, (size_t)len);
	virtq_push(vq, e, 0);
	virtio_pci_notify(n->vp, TX_QUEUE);
out:
	pthread_mutex_unlock(&n->vm->lock);
	return len;
}

static void transmit(struct virtio_net *n)
{
	for (int i = 0; i < TX_BUDGET; i++) {
		long len = take_frame(n);

		if (len < 0)
			return;
		if (len > 0)
			netdev_send(n->nd, n->txbuf, (size_t)len);
	}
	/* More may be waiting: continue on a later loop iteration. */
	virtio_pci_requeue(n->vp, TX_QUEUE);
}

/* ---- receive (the back end calls these on the I/O thread, no lock held) ---- */

/*
 * Put one frame in the next receive buffer (vm->lock held). Returns 1 when
 * delivered, 0 when the guest has no buffer posted, -1 when the frame was
 * dropped because it does not fit (without mergeable buffers it must fit one).
 */
static int deliver(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	struct virtq *vq = virtio_pci_queue(n->vp, RX_QUEUE);
	struct virtio_net_hdr hdr = {.num_buffers = 1};
	struct virtq_elem *e;

	if (!virtio_pci_running(n->vp) || !(e = virtq_pop(vq)))
		return 0;
	if (e->in_len < sizeof(hdr) + len) {
		log_debug("virtio-net: %zu-byte frame does not fit a %llu-byte buffer", len,
			  (unsigned long long)e->in_len);
		virtq_unpop(vq, e);
		return -1;
	}
	iov_from_buf(e->in, e->nin, 0, &hdr, sizeof(hdr));
	iov_from_buf(e->in, e->nin, sizeof(hdr), frame, len);
	virtq_push(vq, e, (uint32_t)(sizeof(hdr) + len));
	return 1;
}

/* Drop every held frame (vm->lock held). */
static void backlog_clear(struct virtio_net *n)
{
	while (n->backlog_count) {
		free(n->backlog[n->backlog_head].data);
		n->backlog_head = (n->backlog_head + 1) % RX_BACKLOG;
		n->backlog_count--;
	}
}

/* Move held frames into receive buffers while there are some (vm->lock held). */
static bool backlog_flush(struct virtio_net *n)
{
	bool any = false;

	while (n->backlog_count) {
		unsigned h = n->backlog_head;
		int r = deliver(n, n->backlog[h].data, n->backlog[h].len);

		if (r == 0)
			break;
		any |= r > 0;
		free(n->backlog[h].data);
		n->backlog_head = (h + 1) % RX_BACKLOG;
		n->backlog_count--;
	}
	return any;
}

/* Only back ends that can hold frames themselves (TAP) ask: no buffer, no frame. */
static bool can_receive(void *opaque)
{
	struct virtio_net *n = opaque;
	bool yes;

	pthread_mutex_lock(&n->vm->lock);
	yes = virtio_pci_running(n->vp) && !n->backlog_count &&
	      virtq_has_avail(virtio_pci_queue(n->vp, RX_QUEUE));
	pthread_mutex_unlock(&n->vm->lock);
	return yes;
}

/* A frame for the guest: into a buffer now, else held (in order) until the guest posts one. */
static void receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct virtio_net *n = opaque;
	bool delivered = false;

	pthread_mutex_lock(&n->vm->lock);
	if (!virtio_pci_running(n->vp))
		goto out;
	if (!n->backlog_count) {
		int r = deliver(n, frame, len);

		delivered = r > 0;
		if (r != 0)
			goto out;
	}
	if (n->backlog_count < RX_BACKLOG) {
		unsigned t = (n->backlog_head + n->backlog_count++) % RX_BACKLOG;

		n->backlog[t].data = xmalloc(len);
		n->backlog[t].len = len;
		memcpy(n->backlog[t].data, frame, len);
	}
	delivered |= backlog_flush(n);
out:
	if (delivered)
		virtio_pci_notify(n->vp, RX_QUEUE);
	pthread_mutex_unlock(&n->vm->lock);
}

static const struct netdev_frontend net_frontend = {
    .can_receive = can_receive,
    .receive = receive,
};

static void queue_notify(void *opaque, unsigned q)
{
	struct virtio_net *n = opaque;

	bool empty;

	if (q == TX_QUEUE) {
		transmit(n);
		return;
	}
	/* New receive buffers: held frames first, then the back end may send more. */
	pthread_mutex_lock(&n->vm->lock);
	if (backlog_flush(n))
		virtio_pci_notify(n->vp, RX_QUEUE);
	empty = !n->backlog_count;
	pthread_mutex_unlock(&n->vm->lock);
	if (empty)
		netdev_resume(n->nd);
}

static void reset(void *opaque)
{
	backlog_clear(opaque);
}

static const struct virtio_dev_ops net_ops = {
    .queue_notify = queue_notify,
    .reset = reset,
};

/* ---- creation ---- */

struct virtio_net *virtio_net_new(struct vm *vm, struct pci_host *host, const char *netdev_spec,
				  const uint8_t mac[6])
{
	struct virtio_net *n = xcalloc(1, sizeof(*n));
	struct virtio_pci_desc desc = {
	    .name = "virtio-net",
	    .device_type = VIRTIO_ID_NET,
	    .class_code = 0x020000, /* Ethernet controller */
	    .features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS),
	    .nqueues = 2,
	    .queue_size = NET_QUEUE_SIZE,
	    .config = &n->config,
	    .config_size = sizeof(n->config),
	    .ops = &net_ops,
	    .opaque = n,
	};

	n->vm = vm;
	memcpy(n->config.mac, mac, 6);
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->config.max_virtqueue_pairs = 1;
	n->vp = virtio_pci_new(vm, host, &desc);
	if (!n->vp)
		goto fail;
	n->nd = netdev_new(vm, netdev_spec, &net_frontend, n);
	if (!n->nd)
		goto fail;
	return n;
fail:
	virtio_pci_free(n->vp);
	free(n);
	return NULL;
}

void virtio_net_free(struct virtio_net *n)
{
	if (!n)
		return;
	netdev_free(n->nd);
	virtio_pci_free(n->vp);
	backlog_clear(n);
	free(n);
}

struct virtio_pci *virtio_net_transport(struct virtio_net *n)
{
	return n->vp;
}
