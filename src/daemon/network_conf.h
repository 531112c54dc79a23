/*
 * Virtual network definitions in libvirt's network XML: a name, a UUID, a
 * bridge, <forward mode='nat'/> or none (isolated), and one IPv4 <ip> with
 * DHCP ranges and static hosts. network_def_parse() checks everything berth
 * relies on (addresses inside the subnet, ranges in order, unique hosts);
 * elements berth does not act on (<dns>, <domain>, <mac>...) are dropped with
 * a warning. network_def_format() writes the definition back as libvirt would.
 */
#ifndef BERTH_DAEMON_NETWORK_CONF_H
#define BERTH_DAEMON_NETWORK_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/domain_conf.h"
#include "daemon/error.h"

#define NET_NAME_MAX   DOM_NAME_MAX /* domains refer to networks by name */
#define NET_BRIDGE_MAX 15	    /* IFNAMSIZ - 1 */

enum net_forward { NET_FORWARD_NONE, NET_FORWARD_NAT };

struct net_dhcp_range {
	struct in_addr start, end;
};

struct net_dhcp_host {
	char mac[18]; /* lower case xx:xx:xx:xx:xx:xx */
	struct in_addr ip;
	char *name; /* or NULL */
};

struct network_def {
	char name[NET_NAME_MAX + 1];
	unsigned char uuid[16];
	char bridge[NET_BRIDGE_MAX + 1]; /* empty: the daemon picks one */
	enum net_forward forward;
	bool has_ip;
	struct in_addr addr, netmask; /* the bridge's address and its subnet */
	unsigned prefix;
	struct net_dhcp_range *ranges;
	size_t nranges;
	struct net_dhcp_host *hosts;
	size_t nhosts;
};

/* Parse and check a network definition; NULL with err set on any problem. */
struct network_def *network_def_parse(const char *xml, size_t len, struct strlist *warnings,
				      struct berr *err);
/* The definition as libvirt network XML (indented, no declaration). Caller frees. */
char *network_def_format(const struct network_def *def);
void network_def_free(struct network_def *def);

/* Is name usable as a network name (also a file name)? */
bool network_name_valid(const char *name);
/* Is name usable as a bridge device name? */
bool network_bridge_name_valid(const char *name);
/* "a.b.c.d/prefix" of the subnet (out holds at least 19 bytes). */
void network_subnet(const struct network_def *def, char *out, size_t len);

#endif
