#include "daemon/network_conf.h"
#include "daemon/xmlutil.h"
#include "common/util.h"
#include "daemon/fileutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names: letters, digits, '_', '-', '.', not starting with '.' or '-'. */
static bool name_chars_ok(const char *name, size_t max)
{
	size_t len = strlen(name);

	if (!len || len > max || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

/* Is name usable as a network name (also a file name)? */
bool network_name_valid(const char *name)
{
	return name_chars_ok(name, NET_NAME_MAX);
}

/* Is name usable as a bridge device name? */
bool network_bridge_name_valid(const char *name)
{
	return name_chars_ok(name, NET_BRIDGE_MAX);
}

/* Parse a dotted IPv4 address attribute of n into out; err names what is wrong. */
static int parse_ipv4(xmlNodePtr n, const char *attr_name, const char *where, bool required,
		      struct in_addr *out, bool *present, struct berr *err)
{
	char *v = xml_attr(n, attr_name);
	int ret = 0;

	if (present)
		*present = v != NULL;
	if (!v) {
		if (required) {
			berr_set(err, BERR_INVALID, "%s: the %s attribute is missing", where,
				 attr_name);
			return -1;
		}
		return 0;
	}
	if (inet_pton(AF_INET, v, out) != 1) {
		berr_set(err, BERR_INVALID, "%s: %s='%s' is not an IPv4 address", where, attr_name,
			 v);
		ret = -1;
	}
	free(v);
	return ret;
}

/* Is a inside the subnet and neither its network nor its broadcast address? */
static bool host_in_subnet(const struct network_def *def, struct in_addr a)
{
	uint32_t ip = ntohl(a.s_addr), mask = ntohl(def->netmask.s_addr),
		 net = ntohl(def->addr.s_addr) & mask;

	return (ip & mask) == net && ip != net && ip != (net | ~mask);
}

/* Parse xx:xx:xx:xx:xx:xx into lower case; -1 unless a unicast MAC. */
static int normalise_mac(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[17] = '\0';
	/* The low bit of the first octet marks multicast. */
	return (strtoul((char[]){out[0], out[1], 0}, NULL, 16) & 1) ? -1 : 0;
}

/* <dhcp>: <range start end/> and <host mac ip [name]/>. */
static int parse_dhcp(struct network_def *def, xmlNodePtr dhcp, struct strlist *warnings,
		      struct berr *err)
{
	for (xmlNodePtr n = dhcp->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xml_is_elem(n, "range")) {
			struct net_dhcp_range r;
			if (parse_ipv4(n, "start", "<dhcp><range>", true, &r.start, NULL, err) <
				0 ||
			    parse_ipv4(n, "end", "<dhcp><range>", true, &r.end, NULL, err) < 0)
				return -1;
			if (!host_in_subnet(def, r.start) || !host_in_subnet(def, r.end)) {
				berr_set(err, BERR_INVALID,
					 "<dhcp><range>: the range is not inside the subnet of "
					 "<ip address='%s'>",
					 inet_ntoa(def->addr));
				return -1;
			}
			if (ntohl(r.start.s_addr) > ntohl(r.end.s_addr)) {
				berr_set(err, BERR_INVALID, "<dhcp><range>: start is after end");
				return -1;
			}
			if (ntohl(def->addr.s_addr) >= ntohl(r.start.s_addr) &&
			    ntohl(def->addr.s_addr) <= ntohl(r.end.s_addr)) {
				berr_set(err, BERR_INVALID,
					 "<dhcp><range>: the range holds the bridge's own "
					 "address %s",
					 inet_ntoa(def->addr));
				return -1;
			}
			def->ranges = xrealloc(def->ranges, (def->nranges + 1) * sizeof(r));
			def->ranges[def->nranges++] = r;
		} else if (xml_is_elem(n, "host")) {
			struct net_dhcp_host h = {0};
			char *mac = xml_attr(n, "mac");
			if (!mac || normalise_mac(mac, h.mac) < 0) {
				berr_set(err, BERR_INVALID,
					 "<dhcp><host>: mac='%s' is not a unicast MAC address",
					 mac ? mac : "");
				free(mac);
				return -1;
			}
			free(mac);
			if (parse_ipv4(n, "ip", "<dhcp><host>", true, &h.ip, NULL, err) < 0)
				return -1;
			if (!host_in_subnet(def, h.ip) || h.ip.s_addr == def->addr.s_addr) {
				berr_set(err, BERR_INVALID,
					 "<dhcp><host mac='%s'>: ip %s is not a free host address "
					 "of the subnet",
					 h.mac, inet_ntoa(h.ip));
				return -1;
			}
			for (size_t i = 0; i < def->nhosts; i++)
				if (!strcmp(def->hosts[i].mac, h.mac) ||
				    def->hosts[i].ip.s_addr == h.ip.s_addr) {
					berr_set(err, BERR_INVALID,
						 "<dhcp><host mac='%s'>: its MAC or IP is already "
						 "given to another host",
						 h.mac);
					return -1;
				}
			h.name = xml_attr(n, "name");
			if (h.name && (!h.name[0] || strpbrk(h.name, ", \t\n#"))) {
				berr_set(err, BERR_INVALID,
					 "<dhcp><host>: name '%s' is not a host name", h.name);
				free(h.name);
				return -1;
			}
			def->hosts = xrealloc(def->hosts, (def->nhosts + 1) * sizeof(h));
			def->hosts[def->nhosts++] = h;
		} else {
			strlist_add(warnings, "<dhcp><%s>: not supported by berth, dropped",
				    (const char *)n->name);
		}
	}
	return 0;
}

/* <ip address netmask|prefix>: the bridge's IPv4 address and subnet. */
static int parse_ip(struct network_def *def, xmlNodePtr ip, struct strlist *warnings,
		    struct berr *err)
{
	char *family = xml_attr(ip, "family"), *prefix = xml_attr(ip, "prefix");
	bool has_mask;
	int ret = -1;

	if (def->has_ip) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<ip>: berth supports one IPv4 address per network");
		goto out;
	}
	if (family && strcmp(family, "ipv4")) {
		berr_set(err, BERR_UNSUPPORTED, "<ip family='%s'>: berth supports IPv4 only",
			 family);
		goto out;
	}
	if (parse_ipv4(ip, "address", "<ip>", true, &def->addr, NULL, err) < 0 ||
	    parse_ipv4(ip, "netmask", "<ip>", false, &def->netmask, &has_mask, err) < 0)
		goto out;
	if (has_mask == (prefix != NULL)) {
		berr_set(err, BERR_INVALID, "<ip>: give exactly one of netmask and prefix");
		goto out;
	}
	if (prefix) {
		char *end;
		unsigned long p = strtoul(prefix, &end, 10);
		if (!*prefix || *end || p < 1 || p > 30) {
			berr_set(err, BERR_INVALID, "<ip>: prefix='%s' is not 1 to 30", prefix);
			goto out;
		}
		def->prefix = (unsigned)p;
		def->netmask.s_addr = htonl(~0u << (32 - p));
	} else {
		uint32_t m = ntohl(def->netmask.s_addr);
		def->prefix = (unsigned)__builtin_popcount(m);
		if (def->prefix < 1 || def->prefix > 30 || m != ~0u << (32 - def->prefix)) {
			berr_set(err, BERR_INVALID,
				 "<ip>: netmask %s is not a contiguous mask of 1 to 30 bits",
				 inet_ntoa(def->netmask));
			goto out;
		}
	}
	if (!host_in_subnet(def, def->addr)) {
		berr_set(err, BERR_INVALID,
			 "<ip>: %s is the network or broadcast address of its subnet",
			 inet_ntoa(def->addr));
		goto out;
	}
	def->has_ip = true;
	for (xmlNodePtr n = ip->children; n; n = n->next) {
		if (xml_is_elem(n, "dhcp")) {
			if (parse_dhcp(def, n, warnings, err) < 0)
				goto out;
		} else if (n->type == XML_ELEMENT_NODE) {
			strlist_add(warnings, "<ip><%s>: not supported by berth, dropped",
				    (const char *)n->name);
		}
	}
	ret = 0;
out:
	free(family);
	free(prefix);
	return ret;
}

/* <forward>: none means isolated; mode nat (libvirt's default mode) is supported. */
static int parse_forward(struct network_def *def, xmlNodePtr n, struct berr *err)
{
	char *mode = xml_attr(n, "mode"), *dev = xml_attr(n, "dev");
	int ret = 0;

	if (mode && strcmp(mode, "nat")) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<forward mode='%s'>: berth supports mode 'nat' or no <forward> "
			 "(isolated)",
			 mode);
		ret = -1;
	} else if (dev) {
		berr_set(err, BERR_UNSUPPORTED, "<forward dev='%s'>: berth NATs through any uplink",
			 dev);
		ret = -1;
	}
	def->forward = NET_FORWARD_NAT;
	free(mode);
	free(dev);
	return ret;
}

/* The children of <network>. */
static int parse_root(struct network_def *def, xmlNodePtr root, struct strlist *warnings,
		      struct berr *err)
{
	bool have_name = false, have_uuid = false, have_bridge = false, have_fwd = false;

	for (xmlNodePtr n = root->children; n; n = n->next) {
		char *v = NULL;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xml_is_elem(n, "name") && !have_name) {
			v = xml_text(n);
			if (!network_name_valid(v)) {
				berr_set(err, BERR_INVALID,
					 "<name>%s</name>: a network name is 1 to %d letters, "
					 "digits, '_', '-' or '.', not starting with '.' or '-'",
					 v, NET_NAME_MAX);
				free(v);
				return -1;
			}
			snprintf(def->name, sizeof(def->name), "%s", v);
			have_name = true;
		} else if (xml_is_elem(n, "uuid") && !have_uuid) {
			v = xml_text(n);
			if (uuid_parse(v, def->uuid) < 0) {
				berr_set(err, BERR_INVALID, "<uuid>%s</uuid>: not a UUID", v);
				free(v);
				return -1;
			}
			have_uuid = true;
		} else if (xml_is_elem(n, "bridge") && !have_bridge) {
			v = xml_attr(n, "name");
			if (v && !network_bridge_name_valid(v)) {
				berr_set(err, BERR_INVALID,
					 "<bridge name='%s'>: not a valid device name (1 to %d "
					 "letters, digits, '_', '-' or '.')",
					 v, NET_BRIDGE_MAX);
				free(v);
				return -1;
			}
			if (v)
				snprintf(def->bridge, sizeof(def->bridge), "%s", v);
			have_bridge = true;
		} else if (xml_is_elem(n, "forward") && !have_fwd) {
			if (parse_forward(def, n, err) < 0)
				return -1;
			have_fwd = true;
		} else if (xml_is_elem(n, "ip")) {
			if (parse_ip(def, n, warnings, err) < 0)
				return -1;
		} else if (xml_is_elem(n, "name") || xml_is_elem(n, "uuid") || xml_is_elem(n, "bridge") ||
			   xml_is_elem(n, "forward")) {
			berr_set(err, BERR_INVALID, "<%s> appears twice", (const char *)n->name);
			return -1;
		} else {
			strlist_add(warnings, "<%s>: not supported by berth, dropped",
				    (const char *)n->name);
		}
		free(v);
	}
	if (!have_name) {
		berr_set(err, BERR_INVALID, "<network> has no <name>");
		return -1;
	}
	if (!have_uuid && uuid_generate(def->uuid, err) < 0)
		return -1;
	if (def->forward == NET_FORWARD_NAT && !def->has_ip) {
		berr_set(err, BERR_INVALID, "<forward mode='nat'> needs an <ip> to NAT from");
		return -1;
	}
	return 0;
}

/* Parse and check a network definition. */
struct network_def *network_def_parse(const char *xml, size_t len, struct strlist *warnings,
				      struct berr *err)
{
	struct network_def *def = xcalloc(1, sizeof(*def));
	xmlDocPtr doc;
	xmlNodePtr root;
	const xmlError *xe;

	doc = xmlReadMemory(xml, (int)MIN(len, (size_t)INT32_MAX), "network.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		xe = xmlGetLastError();
		berr_set(err, BERR_INVALID, "malformed network XML: %s",
			 xe && xe->message ? xe->message : "parse error");
		/* libxml2's messages end with a newline. */
		if (strlen(err->msg) && err->msg[strlen(err->msg) - 1] == '\n')
			err->msg[strlen(err->msg) - 1] = '\0';
		goto fail;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !xml_is_elem(root, "network")) {
		berr_set(err, BERR_INVALID, "the root element must be <network>, not <%s>",
			 root ? (const char *)root->name : "");
		goto fail;
	}
	if (parse_root(def, root, warnings, err) < 0)
		goto fail;
	xmlFreeDoc(doc);
	return def;
fail:
	if (doc)
		xmlFreeDoc(doc);
	network_def_free(def);
	return NULL;
}

/* Add <name attr=value/> under parent. */
static xmlNodePtr add_elem(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

static void add_prop(xmlNodePtr n, const char *name, const char *value)
{
	xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

/* The definition as libvirt network XML. */
char *network_def_format(const struct network_def *def)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr root = xmlNewDocNode(doc, NULL, (const xmlChar *)"network", NULL), n, ip, dhcp;
	char uuid[DOM_UUID_STRLEN], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	xmlBufferPtr buf = xmlBufferCreate();
	char *out;

	xmlDocSetRootElement(doc, root);
	add_elem(root, "name", def->name);
	uuid_format(def->uuid, uuid);
	add_elem(root, "uuid", uuid);
	if (def->forward == NET_FORWARD_NAT) {
		n = add_elem(root, "forward", NULL);
		add_prop(n, "mode", "nat");
	}
	if (def->bridge[0]) {
		n = add_elem(root, "bridge", NULL);
		add_prop(n, "name", def->bridge);
	}
	if (def->has_ip) {
		ip = add_elem(root, "ip", NULL);
		inet_ntop(AF_INET, &def->addr, a, sizeof(a));
		inet_ntop(AF_INET, &def->netmask, b, sizeof(b));
		add_prop(ip, "address", a);
		add_prop(ip, "netmask", b);
		if (def->nranges || def->nhosts) {
			dhcp = add_elem(ip, "dhcp", NULL);
			for (size_t i = 0; i < def->nranges; i++) {
				n = add_elem(dhcp, "range", NULL);
				inet_ntop(AF_INET, &def->ranges[i].start, a, sizeof(a));
				inet_ntop(AF_INET, &def->ranges[i].end, b, sizeof(b));
				add_prop(n, "start", a);
				add_prop(n, "end", b);
			}
			for (size_t i = 0; i < def->nhosts; i++) {
				n = add_elem(dhcp, "host", NULL);
				add_prop(n, "mac", def->hosts[i].mac);
				if (def->hosts[i].name)
					add_prop(n, "name", def->hosts[i].name);
				inet_ntop(AF_INET, &def->hosts[i].ip, a, sizeof(a));
				add_prop(n, "ip", a);
			}
		}
	}
	xmlNodeDump(buf, doc, root, 0, 1);
	out = xasprintf("%s\n", (const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return out;
}

void network_def_free(struct network_def *def)
{
	if (!def)
		return;
	for (size_t i = 0; i < def->nhosts; i++)
		free(def->hosts[i].name);
	free(def->hosts);
	free(def->ranges);
	free(def);
}

/* "a.b.c.d/prefix" of the subnet. */
void network_subnet(const struct network_def *def, char *out, size_t len)
{
	struct in_addr net = {.s_addr = def->addr.s_addr & def->netmask.s_addr};
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &net, a, sizeof(a));
	snprintf(out, len, "%s/%u", a, def->prefix);
}
