/*
 * TAP back end: frames go to and come from a Linux TAP interface
 * (/dev/net/tun, IFF_TAP | IFF_NO_PI, no virtio-net header). Reading stops
 * while the guest has no receive buffers and resumes when it posts some, so
 * nothing is read only to be dropped.
 */
#include "vmm/net/net.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct tap_net {
	struct netdev nd;
	int fd;
	bool paused; /* not polling: the guest has no receive buffers */
	char ifname[IFNAMSIZ];
	uint8_t buf[NET_MAX_FRAME];
};

/* Read frames while the guest can take them. */
static void on_readable(void *opaque, int fd, uint32_t events)
{
	struct tap_net *t = opaque;

	(void)events;
	for (;;) {
		ssize_t n;

		if (!t->nd.fe->can_receive(t->nd.fe_opaque)) {
			if (evloop_mod_fd(t->nd.vm->loop, fd, 0) == 0)
				t->paused = true;
			return;
		}
		n = read(fd, t->buf, sizeof(t->buf));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("tap %s: read: %s", t->ifname, strerror(errno));
			return;
		}
		if (n == 0)
			return;
		t->nd.fe->receive(t->nd.fe_opaque, t->buf, (size_t)n);
	}
}

static void tap_resume(struct netdev *nd)
{
	struct tap_net *t = container_of(nd, struct tap_net, nd);

	if (t->paused && evloop_mod_fd(nd->vm->loop, t->fd, EPOLLIN) == 0)
		t->paused = false;
}

static void tap_send(struct netdev *nd, const uint8_t *frame, size_t len)
{
	struct tap_net *t = container_of(nd, struct tap_net, nd);

	/* A full queue on the host side drops the frame, like a busy wire. */
	if (write(t->fd, frame, len) < 0 && errno != EAGAIN && errno != EIO)
		log_warn("tap %s: write: %s", t->ifname, strerror(errno));
}

static void tap_free(struct netdev *nd)
{
	struct tap_net *t = container_of(nd, struct tap_net, nd);

	if (t->fd >= 0) {
		evloop_del_fd(nd->vm->loop, t->fd);
		close(t->fd);
	}
	free(t);
}

static const struct netdev_ops tap_ops = {
    .send = tap_send,
    .resume = tap_resume,
    .free = tap_free,
};

struct netdev *net_tap_new(struct vm *vm, const char *opts, const struct netdev_frontend *fe,
			   void *opaque)
{
	struct tap_net *t = xcalloc(1, sizeof(*t));
	struct ifreq ifr;

	t->nd.ops = &tap_ops;
	t->nd.vm = vm;
	t->nd.fe = fe;
	t->nd.fe_opaque = opaque;
	t->fd = -1;
	if (strncmp(opts, "ifname=", 7) || !opts[7] || strchr(opts, ',') ||
	    strlen(opts + 7) >= IFNAMSIZ) {
		log_error("--net tap,%s: expected tap,ifname=NAME (NAME at most %d characters)",
			  opts, IFNAMSIZ - 1);
		goto fail;
	}
	strcpy(t->ifname, opts + 7);
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_error("tap %s: cannot open /dev/net/tun: %s", t->ifname, strerror(errno));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, t->ifname, strlen(t->ifname));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		log_error("tap %s: cannot attach to the interface: %s%s", t->ifname,
			  strerror(errno),
			  errno == EPERM ? " (root or CAP_NET_ADMIN is needed)" : "");
		goto fail;
	}
	if (evloop_add_fd(vm->loop, t->fd, EPOLLIN, on_readable, t) < 0) {
		close(t->fd);
		t->fd = -1;
		goto fail;
	}
	return &t->nd;
fail:
	tap_free(&t->nd);
	return NULL;
}
