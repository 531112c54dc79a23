/* TAP devices for <interface type='bridge'>: created by berthd, opened by berth-vmm. */
#ifndef BERTH_DAEMON_TAP_H
#define BERTH_DAEMON_TAP_H

#include "daemon/error.h"

/* Create a persistent TAP device ("bvnetN"), attach it to bridge and bring it up. */
char *tap_create_on_bridge(const char *bridge, struct berr *err);
/* Remove a TAP device created by tap_create_on_bridge. */
int tap_delete(const char *name, struct berr *err);

#endif
