/* Choosing a network back end from its spec. */
#include "vmm/net/net.h"
#include "common/log.h"

#include <string.h>

struct netdev *netdev_new(struct vm *vm, const char *spec, const struct netdev_frontend *fe,
			  void *opaque)
{
	if (!strcmp(spec, "user"))
		return net_slirp_new(vm, "", fe, opaque);
	if (!strncmp(spec, "user,", 5))
		return net_slirp_new(vm, spec + 5, fe, opaque);
	if (!strncmp(spec, "tap,", 4))
		return net_tap_new(vm, spec + 4, fe, opaque);
	log_error("--net %s: unknown back end (user[,hostfwd=...] or tap,ifname=NAME)", spec);
	return NULL;
}

void netdev_send(struct netdev *nd, const uint8_t *frame, size_t len)
{
	nd->ops->send(nd, frame, len);
}

void netdev_resume(struct netdev *nd)
{
	if (nd->ops->resume)
		nd->ops->resume(nd);
}

void netdev_free(struct netdev *nd)
{
	if (nd)
		nd->ops->free(nd);
}
