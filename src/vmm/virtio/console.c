/* virtio-console: port 0's receive queue (0) and transmit queue (1). */
#include "vmm/virtio/console.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/hw/chardev.h"
#include "vmm/virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_QUEUE_SIZE 128
#define RX_QUEUE	   0
#define TX_QUEUE	   1
#define TX_BUDGET	   64 /* transmit buffers per turn of the I/O thread */
#define TX_CHUNK	   4096

/* struct virtio_console_config */
struct virtio_console_config {
	uint16_t cols, rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

struct virtio_console {
	struct vm *vm;
	struct virtio_pci *vp;
	struct chardev *chr;
	struct virtio_console_config config;
};

/* Guest output: copy each transmit buffer to the chardev. */
static void transmit(struct virtio_console *c)
{
	struct virtq *vq = virtio_pci_queue(c->vp, TX_QUEUE);
	struct virtq_elem *e;
	uint8_t buf[TX_CHUNK];
	bool done = false;

	for (unsigned k = 0; virtio_pci_running(c->vp) && (e = virtq_pop(vq)); k++) {
		if (k == TX_BUDGET) {
			/* Enough for one turn of the I/O thread: continue later. */
			virtq_unpop(vq, e);
			virtio_pci_requeue(c->vp, TX_QUEUE);
			break;
		}
		for (uint64_t off = 0; off < e->out_len;) {
			size_t n = iov_to_buf(e->out, e->nout, off, buf, sizeof(buf));
			chardev_write(c->chr, buf, n);
			off += n;
		}
		virtq_push(vq, e, 0);
		done = true;
	}
	if (done)
		virtio_pci_notify(c->vp, TX_QUEUE);
}

static void queue_notify(void *opaque, unsigned q)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vm->lock);
	if (q == TX_QUEUE)
		transmit(c);
	pthread_mutex_unlock(&c->vm->lock);
	/* New receive buffers: the chardev may read again. */
	if (q == RX_QUEUE)
		chardev_accept_input(c->chr);
}

/* Room for input: the size of the next posted receive buffer (peeked, not taken). */
static size_t can_read(void *opaque)
{
	struct virtio_console *c = opaque;
	struct virtq *vq = virtio_pci_queue(c->vp, RX_QUEUE);
	struct virtq_elem *e;
	size_t n = 0;

	pthread_mutex_lock(&c->vm->lock);
	if (virtio_pci_running(c->vp) && (e = virtq_pop(vq))) {
		n = (size_t)MIN(e->in_len, (uint64_t)TX_CHUNK);
		virtq_unpop(vq, e);
	}
	pthread_mutex_unlock(&c->vm->lock);
	return n;
}

/* Deliver input into as many receive buffers as it needs; what does not fit is dropped. */
static void receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *c = opaque;
	struct virtq *vq = virtio_pci_queue(c->vp, RX_QUEUE);
	struct virtq_elem *e;
	bool done = false;

	pthread_mutex_lock(&c->vm->lock);
	while (len && virtio_pci_running(c->vp) && (e = virtq_pop(vq))) {
		size_t n = iov_from_buf(e->in, e->nin, 0, buf, len);
		virtq_push(vq, e, (uint32_t)n);
		buf += n;
		len -= n;
		done = true;
	}
	if (done)
		virtio_pci_notify(c->vp, RX_QUEUE);
	pthread_mutex_unlock(&c->vm->lock);
}

static const struct chardev_frontend console_frontend = {
    .can_read = can_read,
    .read = receive,
};

static const struct virtio_dev_ops console_ops = {
    .queue_notify = queue_notify,
};

struct virtio_console *virtio_console_new(struct vm *vm, struct pci_host *host, struct chardev *chr)
{
	struct virtio_console *c = xcalloc(1, sizeof(*c));
	struct virtio_pci_desc desc = {
	    .name = "virtio-console",
	    .device_type = VIRTIO_ID_CONSOLE,
	    .class_code = 0x078000, /* simple communication controller, other */
	    .nqueues = 2,
	    .queue_size = CONSOLE_QUEUE_SIZE,
	    .config = &c->config,
	    .config_size = sizeof(c->config),
	    .ops = &console_ops,
	    .opaque = c,
	};

	c->vm = vm;
	c->chr = chr;
	c->config.max_nr_ports = 1;
	c->vp = virtio_pci_new(vm, host, &desc);
	if (!c->vp) {
		free(c);
		return NULL;
	}
	chardev_set_frontend(chr, &console_frontend, c);
	return c;
}

void virtio_console_free(struct virtio_console *c)
{
	if (!c)
		return;
	chardev_set_frontend(c->chr, NULL, NULL);
	virtio_pci_free(c->vp);
	free(c);
}

struct virtio_pci *virtio_console_transport(struct virtio_console *c)
{
	return c->vp;
}
