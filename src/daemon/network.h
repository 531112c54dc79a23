/*
 * Virtual networks (libvirt's <network>): persistent definitions kept like
 * domains (NAME.xml, atomic writes, an autostart marker), and while active a
 * Linux bridge with the network's address, a dnsmasq serving DHCP (and DNS)
 * on it, and an nftables table of berth's own (masquerading for forward mode
 * nat, dropping forwarded traffic for isolated networks).
 *
 * Run-time files live in RUN/networks: NAME.state (what a restarted berthd
 * needs to take the network back), NAME.conf (dnsmasq's configuration), NAME.pid and NAME.leases (dnsmasq's). Starting a network
 * needs root. One mutex serialises every network operation.
 */
#ifndef BERTH_DAEMON_NETWORK_H
#define BERTH_DAEMON_NETWORK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/error.h"

struct berthd;

/* Load the definitions and take back the networks left running. 0 or -1. */
int network_init(struct berthd *d);
/* Start the inactive networks marked autostart (before the domains). */
void network_autostart(struct berthd *d);
/* At exit: forget the networks (they keep running for the next berthd). */
void network_release_all(struct berthd *d);

/* The operations of the API; key is a name or UUID. */
json_t *net_list(struct berthd *d, bool all);
int net_define(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err);
int net_undefine(struct berthd *d, const char *key, struct berr *err);
int net_start(struct berthd *d, const char *key, struct berr *err);
int net_destroy(struct berthd *d, const char *key, struct berr *err);
int net_set_autostart(struct berthd *d, const char *key, bool on, struct berr *err);
char *net_get_xml(struct berthd *d, const char *key, struct berr *err);
json_t *net_info(struct berthd *d, const char *key, struct berr *err);

/* The bridge of an active network, for a domain's interface (caller frees). */
char *network_bridge(struct berthd *d, const char *name, struct berr *err);

#endif
