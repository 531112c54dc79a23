#include "daemon/tap.h"
#include "common/util.h"
#include "daemon/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint tap_counter;

/* Open /dev/net/tun bound to name (creating the device if need be). */
static int tun_open(const char *name, struct berr *err)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		berr_set(err, BERR_INTERNAL, "opening /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI; /* as berth-vmm opens it */
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		berr_set(err, BERR_INTERNAL, "creating tap device %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A new persistent TAP device, up, on bridge. */
char *tap_create_on_bridge(const char *bridge, struct berr *err)
{
	struct ifreq ifr = {0};
	char name[IFNAMSIZ];
	int fd = -1, sock = -1;

	/* A free name: bvnet0, bvnet1... (TUNSETIFF on an existing tap would share it). */
	for (int tries = 0; tries < 1000; tries++) {
		snprintf(name, sizeof(name), "bvnet%u", atomic_fetch_add(&tap_counter, 1));
		if (if_nametoindex(name) == 0)
			break;
	}
	fd = tun_open(name, err);
	if (fd < 0)
		return NULL;
	if (ioctl(fd, TUNSETPERSIST, 1) < 0) {
		berr_set(err, BERR_INTERNAL, "making tap %s persistent: %s", name, strerror(errno));
		goto fail;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		berr_set(err, BERR_INTERNAL, "socket: %s", strerror(errno));
		goto fail_persist;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	ifr.ifr_ifindex = if_nametoindex(name);
	if (!ifr.ifr_ifindex || ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
		berr_set(err, BERR_INTERNAL, "adding %s to bridge %s: %s", name, bridge,
			 strerror(errno));
		goto fail_persist;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)) {
		berr_set(err, BERR_INTERNAL, "bringing %s up: %s", name, strerror(errno));
		goto fail_persist;
	}
	close(sock);
	close(fd);
	return xstrdup(name);
fail_persist:
	ioctl(fd, TUNSETPERSIST, 0);
fail:
	if (sock >= 0)
		close(sock);
	close(fd);
	return NULL;
}

/* Remove a persistent TAP device. */
int tap_delete(const char *name, struct berr *err)
{
	int fd = tun_open(name, err);

	if (fd < 0)
		return -1;
	if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
		berr_set(err, BERR_INTERNAL, "removing tap %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
