/*
 * Network back ends for a guest NIC: user-mode networking (libslirp) and TAP.
 *
 *   user[,hostfwd=PROTO:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *        NAT to the host's network, no privileges needed. The guest network is
 *        10.0.2.0/24: gateway 10.0.2.2 (which also reaches the host's
 *        loopback), DNS 10.0.2.3, DHCP hands out 10.0.2.15. Each hostfwd (PROTO
 *        tcp or udp, repeatable) forwards a host port to a guest port;
 *        HOSTADDR defaults to any address, GUESTADDR to 10.0.2.15.
 *   tap,ifname=NAME
 *        An existing or new TAP interface (root or CAP_NET_ADMIN), e.g. one
 *        enslaved to a bridge.
 *
 * Threads: everything runs on the I/O thread (vm->loop). The back end hands
 * received frames to the front end with no lock held; the front end calls
 * netdev_send() and netdev_resume() from the I/O thread with no lock held.
 */
#ifndef BERTH_VMM_NET_NET_H
#define BERTH_VMM_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct netdev;

#define NET_MAX_FRAME 65536 /* largest Ethernet frame either side passes on */

struct netdev_frontend {
	/*
	 * Can the guest take a frame now? Back ends that can hold frames (TAP)
	 * ask first and stop reading while the answer is no.
	 */
	bool (*can_receive)(void *opaque);
	/*
	 * A frame for the guest (Ethernet header first, no FCS). Back ends that
	 * cannot hold frames (slirp) call it anyway: the front end keeps a few
	 * until the guest posts buffers and drops the rest.
	 */
	void (*receive)(void *opaque, const uint8_t *frame, size_t len);
};

struct netdev_ops {
	void (*send)(struct netdev *nd, const uint8_t *frame, size_t len);
	void (*resume)(struct netdev *nd);
	void (*free)(struct netdev *nd);
};

/* The part every back end starts with. */
struct netdev {
	const struct netdev_ops *ops;
	struct vm *vm;
	const struct netdev_frontend *fe;
	void *fe_opaque;
};

/* Open the back end spec describes (see above). NULL after logging. */
struct netdev *netdev_new(struct vm *vm, const char *spec, const struct netdev_frontend *fe,
			  void *opaque);
/* A frame from the guest (I/O thread). Dropped when the back end cannot take it. */
void netdev_send(struct netdev *nd, const uint8_t *frame, size_t len);
/* The front end has room again after can_receive() said no. */
void netdev_resume(struct netdev *nd);
void netdev_free(struct netdev *nd);

/* The back ends (options: spec after "user" / "tap", may be empty). */
struct netdev *net_slirp_new(struct vm *vm, const char *opts, const struct netdev_frontend *fe,
			     void *opaque);
struct netdev *net_tap_new(struct vm *vm, const char *opts, const struct netdev_frontend *fe,
			   void *opaque);

#endif
