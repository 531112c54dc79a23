/*
 * libvirt domain XML for berth (see domain_conf.h). Each element is sorted
 * into one of three kinds: honoured (parsed into struct domain_def), kept
 * without effect (a warning names it) or refused (an error names it). Unknown
 * elements are refused: berth does not guess.
 */
#include "daemon/domain_conf.h"
#include "daemon/xmlutil.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#define DOM_XML_MAX (1024 * 1024)

/* Append a formatted message. */
void strlist_add(struct strlist *l, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!l)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count++] = xstrdup(buf);
}

/* Free every message. */
void strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static const char *const action_names[] = {
    [DOM_ACTION_DESTROY] = "destroy",
    [DOM_ACTION_RESTART] = "restart",
    [DOM_ACTION_PRESERVE] = "preserve",
};

/* The XML word of a lifecycle action. */
const char *dom_action_name(enum dom_action a)
{
	return action_names[a];
}

/* The XML word of a disk format. */
const char *dom_disk_format_name(enum dom_disk_format f)
{
	return f == DOM_DISK_QCOW2 ? "qcow2" : "raw";
}

/* The XML word of an interface type. */
const char *dom_net_type_name(enum dom_net_type t)
{
	static const char *const names[] = {"user", "network", "bridge"};
	return names[t];
}

/* The XML word of a serial port type. */
const char *dom_chr_type_name(enum dom_chr_type t)
{
	static const char *const names[] = {"none", "pty", "file", "unix"};
	return names[t];
}

/* Names double as file names: a conservative character set, no leading dot or dash. */
bool domain_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > DOM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-+:", *p))
			return false;
	return true;
}

/* The canonical 36-character form. */
void uuid_format(const unsigned char u[16], char out[DOM_UUID_STRLEN])
{
	snprintf(out, DOM_UUID_STRLEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
}

/* Parse 36 characters with dashes, or 32 hex digits. */
int uuid_parse(const char *s, unsigned char out[16])
{
	int n = 0;

	for (; *s && n < 32; s++) {
		if (*s == '-' && (n == 8 || n == 12 || n == 16 || n == 20))
			continue;
		if (!isxdigit((unsigned char)*s))
			return -1;
		int v =
		    isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
		if (n % 2 == 0)
			out[n / 2] = v << 4;
		else
			out[n / 2] |= v;
		n++;
	}
	return (n == 32 && !*s) ? 0 : -1;
}

/* A random (version 4) UUID. */
int uuid_generate(unsigned char u[16], struct berr *err)
{
	if (getrandom(u, 16, 0) != 16) {
		berr_set(err, BERR_INTERNAL, "generating a UUID: %s", strerror(errno));
		return -1;
	}
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	return 0;
}

/* Does attribute name of n equal value? */
static bool attr_is(xmlNodePtr n, const char *name, const char *value)
{
	char *v = xml_attr(n, name);
	bool eq = v && !strcmp(v, value);

	free(v);
	return eq;
}

/* The first child element called name, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (xml_is_elem(c, name))
			return c;
	return NULL;
}

/* Warn about every attribute of n not in allowed (NULL-terminated). */
static void warn_attrs(xmlNodePtr n, const char *where, const char *const *allowed,
		       struct strlist *warnings)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		bool known = false;
		for (const char *const *p = allowed; *p; p++)
			if (!a->ns && !strcmp((const char *)a->name, *p))
				known = true;
		if (!known)
			strlist_add(warnings, "%s: attribute %s='%s' has no effect on berth, kept",
				    where, a->name,
				    a->children && a->children->content
					? (const char *)a->children->content
					: "");
	}
}

/* Is s one of the NULL-terminated list? */
static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/*
 * Sort the children of n: honoured ones are left to the caller, kept ones
 * get a warning, anything else is refused. Returns -1 on a refused child.
 */
static int check_children(xmlNodePtr n, const char *where, const char *const *honoured,
			  const char *const *kept, struct strlist *warnings, struct berr *err)
{
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (c->ns) {
			berr_set(err, BERR_UNSUPPORTED,
				 "%s: <%s:%s> (namespace %s) cannot be honoured by berth", where,
				 c->ns->prefix ? (const char *)c->ns->prefix : "", c->name,
				 c->ns->href ? (const char *)c->ns->href : "");
			return -1;
		}
		if (in_list((const char *)c->name, honoured))
			continue;
		if (kept && in_list((const char *)c->name, kept)) {
			strlist_add(warnings, "%s: <%s> has no effect on berth, kept", where,
				    c->name);
			continue;
		}
		berr_set(err, BERR_UNSUPPORTED, "%s: <%s> is not supported by berth", where,
			 c->name);
		return -1;
	}
	return 0;
}

/* A libvirt scaled integer: value in unit (default KiB), to bytes. */
static int parse_scaled(xmlNodePtr n, const char *what, uint64_t *out, struct berr *err)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
	    {"b", 1},		{"bytes", 1},	     {"KB", 1000}, {"k", KiB},
	    {"KiB", KiB},	{"MB", 1000000},     {"M", MiB},   {"MiB", MiB},
	    {"GB", 1000000000}, {"G", GiB},	     {"GiB", GiB}, {"TB", 1000000000000ULL},
	    {"T", 1024 * GiB},	{"TiB", 1024 * GiB},
	};
	char *unit = xml_attr(n, "unit"), *val = xml_text(n), *end;
	uint64_t mult = 0, v;
	int ret = -1;

	if (!unit)
		mult = KiB;
	for (size_t i = 0; unit && i < ARRAY_SIZE(units); i++)
		if (!strcmp(unit, units[i].name))
			mult = units[i].mult;
	if (!mult) {
		berr_set(err, BERR_INVALID, "<%s>: unknown unit '%s'", what, unit);
		goto out;
	}
	errno = 0;
	v = strtoull(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno || v > UINT64_MAX / mult) {
		berr_set(err, BERR_INVALID, "<%s>: '%s' is not a valid size", what, val);
		goto out;
	}
	*out = v * mult;
	ret = 0;
out:
	free(unit);
	free(val);
	return ret;
}

/* <on_poweroff>, <on_reboot>, <on_crash>: destroy, restart (or preserve). */
static int parse_action(xmlNodePtr n, bool allow_preserve, enum dom_action *out, struct berr *err)
{
	char *v = xml_text(n);
	int ret = 0;

	if (!strcmp(v, "destroy"))
		*out = DOM_ACTION_DESTROY;
	else if (!strcmp(v, "restart"))
		*out = DOM_ACTION_RESTART;
	else if (allow_preserve && !strcmp(v, "preserve"))
		*out = DOM_ACTION_PRESERVE;
	else {
		berr_set(err, BERR_UNSUPPORTED, "<%s>%s</%s>: berth supports destroy, restart%s",
			 n->name, v, n->name, allow_preserve ? ", preserve" : "");
		ret = -1;
	}
	free(v);
	return ret;
}

/* <os>: hvm on x86_64, booting a kernel directly. */
static int parse_os(struct domain_def *def, xmlNodePtr os, struct strlist *warnings,
		    struct berr *err)
{
	static const char *const honoured[] = {"type", "kernel", "initrd", "cmdline", NULL};
	static const char *const kept[] = {"boot", "bootmenu", "smbios", "bios", NULL};
	static const char *const os_attrs[] = {NULL};
	static const char *const type_attrs[] = {"arch", "machine", NULL};
	xmlNodePtr type = child(os, "type"), k;
	char *v;

	if (check_children(os, "<os>", honoured, kept, warnings, err) < 0)
		return -1;
	if (xmlHasProp(os, (const xmlChar *)"firmware")) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<os firmware=...>: berth boots a kernel directly, without firmware");
		return -1;
	}
	warn_attrs(os, "<os>", os_attrs, warnings);
	if (!type) {
		berr_set(err, BERR_INVALID, "<os>: <type> is missing");
		return -1;
	}
	v = xml_text(type);
	if (strcmp(v, "hvm")) {
		berr_set(err, BERR_UNSUPPORTED, "<os><type>%s</type>: berth runs hvm guests only",
			 v);
		free(v);
		return -1;
	}
	free(v);
	v = xml_attr(type, "arch");
	if (v && strcmp(v, "x86_64")) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<os><type arch='%s'>: berth runs x86_64 guests only", v);
		free(v);
		return -1;
	}
	free(v);
	v = xml_attr(type, "machine");
	if (v)
		strlist_add(
		    warnings,
		    "<os><type machine='%s'>: has no effect, berth runs its own pc machine, kept",
		    v);
	free(v);
	warn_attrs(type, "<os><type>", type_attrs, warnings);
	k = child(os, "kernel");
	if (!k) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<os>: <kernel> is missing; berth boots a kernel directly (no firmware, "
			 "no disk boot)");
		return -1;
	}
	def->kernel = xml_text(k);
	if ((k = child(os, "initrd")))
		def->initrd = xml_text(k);
	if ((k = child(os, "cmdline")))
		def->cmdline = xml_text(k);
	if (def->kernel[0] != '/' || (def->initrd && def->initrd[0] != '/')) {
		berr_set(err, BERR_INVALID, "<os>: <kernel> and <initrd> must be absolute paths");
		return -1;
	}
	return 0;
}

/* <disk>: a file, raw or qcow2, on the virtio bus. */
static int parse_disk(struct domain_def *def, xmlNodePtr n, struct strlist *warnings,
		      struct berr *err)
{
	static const char *const honoured[] = {"driver", "source", "target", "readonly", NULL};
	static const char *const kept[] = {
	    "address",	    "alias",   "boot",	   "serial", "wwn",	"shareable", "iotune",
	    "backingStore", "blockio", "geometry", "vendor", "product", NULL};
	static const char *const disk_attrs[] = {"type", "device", NULL};
	static const char *const driver_attrs[] = {"name", "type", NULL};
	static const char *const target_attrs[] = {"dev", "bus", NULL};
	struct dom_disk d = {0};
	xmlNodePtr src = child(n, "source"), tgt = child(n, "target"), drv = child(n, "driver");
	char *type = xml_attr(n, "type"), *device = xml_attr(n, "device"), *v = NULL, where[96];
	int ret = -1;

	snprintf(where, sizeof(where), "<disk>");
	if (type && strcmp(type, "file")) {
		berr_set(err, BERR_UNSUPPORTED, "<disk type='%s'>: berth supports file disks only",
			 type);
		goto out;
	}
	if (device && strcmp(device, "disk")) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<disk device='%s'>: berth supports device='disk' only", device);
		goto out;
	}
	if (!tgt || !(d.target = xml_attr(tgt, "dev"))) {
		berr_set(err, BERR_INVALID, "<disk>: <target dev=...> is missing");
		goto out;
	}
	snprintf(where, sizeof(where), "<disk> %s", d.target);
	v = xml_attr(tgt, "bus");
	if (v ? strcmp(v, "virtio") : strncmp(d.target, "vd", 2)) {
		berr_set(err, BERR_UNSUPPORTED,
			 "%s: bus '%s' is not supported (berth has virtio disks only)", where,
			 v ? v : "(implied by the name)");
		goto out;
	}
	free(v);
	v = NULL;
	for (size_t i = 0; i < def->ndisks; i++)
		if (!strcmp(def->disks[i].target, d.target)) {
			berr_set(err, BERR_INVALID, "%s: target defined twice", where);
			goto out;
		}
	if (check_children(n, where, honoured, kept, warnings, err) < 0)
		goto out;
	warn_attrs(n, where, disk_attrs, warnings);
	warn_attrs(tgt, where, target_attrs, warnings);
	if (drv) {
		warn_attrs(drv, where, driver_attrs, warnings);
		v = xml_attr(drv, "name");
		if (v && strcmp(v, "qemu")) {
			berr_set(err, BERR_UNSUPPORTED, "%s: <driver name='%s'> is not supported",
				 where, v);
			goto out;
		}
		free(v);
		v = xml_attr(drv, "type");
		if (v && !strcmp(v, "qcow2"))
			d.format = DOM_DISK_QCOW2;
		else if (v && strcmp(v, "raw")) {
			berr_set(err, BERR_UNSUPPORTED,
				 "%s: format '%s' is not supported (raw, qcow2)", where, v);
			goto out;
		}
	}
	if (!src || !(d.file = xml_attr(src, "file"))) {
		berr_set(err, BERR_INVALID, "%s: <source file=...> is missing", where);
		goto out;
	}
	if (d.file[0] != '/') {
		berr_set(err, BERR_INVALID, "%s: source '%s' must be an absolute path", where,
			 d.file);
		goto out;
	}
	if (strchr(d.file, ',')) {
		berr_set(err, BERR_UNSUPPORTED,
			 "%s: source '%s': commas in disk paths are not supported", where, d.file);
		goto out;
	}
	d.readonly = child(n, "readonly") != NULL;
	def->disks = xrealloc(def->disks, (def->ndisks + 1) * sizeof(*def->disks));
	def->disks[def->ndisks++] = d;
	memset(&d, 0, sizeof(d));
	ret = 0;
out:
	free(d.file);
	free(d.target);
	free(type);
	free(device);
	free(v);
	return ret;
}

/* Parse xx:xx:xx:xx:xx:xx. */
static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = v[i];
	return 0;
}

/* <interface>: user, network or bridge, virtio, with a MAC (made up if absent). */
static int parse_interface(struct domain_def *def, xmlNodePtr n, struct strlist *warnings,
			   struct berr *err)
{
	static const char *const honoured[] = {"source", "mac", "model", NULL};
	static const char *const kept[] = {"address", "alias", "target", "boot",      "link",
					   "driver",  "mtu",   "rom",	 "bandwidth", NULL};
	static const char *const if_attrs[] = {"type", NULL};
	struct dom_net d = {0};
	xmlNodePtr src = child(n, "source"), mac = child(n, "mac"), model = child(n, "model");
	char *type = xml_attr(n, "type"), *v = NULL, where[64];
	unsigned char m[6];
	int ret = -1;

	snprintf(where, sizeof(where), "<interface> %zu", def->nnets);
	if (!type || !strcmp(type, "user"))
		d.type = DOM_NET_USER;
	else if (!strcmp(type, "network"))
		d.type = DOM_NET_NETWORK;
	else if (!strcmp(type, "bridge"))
		d.type = DOM_NET_BRIDGE;
	else {
		berr_set(err, BERR_UNSUPPORTED,
			 "<interface type='%s'>: not supported (user, network, bridge)", type);
		goto out;
	}
	if (check_children(n, where, honoured, kept, warnings, err) < 0)
		goto out;
	warn_attrs(n, where, if_attrs, warnings);
	if (d.type != DOM_NET_USER) {
		const char *key = d.type == DOM_NET_NETWORK ? "network" : "bridge";
		if (!src || !(d.source = xml_attr(src, key))) {
			berr_set(err, BERR_INVALID,
				 "<interface type='%s'>: <source %s=...> is missing", type, key);
			goto out;
		}
		/* A bridge is a device name (IFNAMSIZ); networks are named like domains. */
		if (!d.source[0] ||
		    strlen(d.source) > (d.type == DOM_NET_NETWORK ? DOM_NAME_MAX : 15) ||
		    strchr(d.source, '/') || strchr(d.source, ',')) {
			berr_set(err, BERR_INVALID, "<interface>: '%s' is not a valid %s name",
				 d.source, key);
			goto out;
		}
	}
	if (model) {
		v = xml_attr(model, "type");
		if (!v || strcmp(v, "virtio")) {
			berr_set(err, BERR_UNSUPPORTED,
				 "<interface>: model '%s' is not supported (berth has virtio only)",
				 v ? v : "");
			goto out;
		}
	} else {
		strlist_add(warnings, "%s: no <model>: berth gives it a virtio NIC", where);
	}
	if (mac) {
		free(v);
		v = xml_attr(mac, "address");
		if (!v || parse_mac(v, m) < 0 || (m[0] & 1)) {
			berr_set(err, BERR_INVALID,
				 "<interface>: '%s' is not a unicast MAC address", v ? v : "");
			goto out;
		}
		for (char *p = v; *p; p++)
			*p = tolower((unsigned char)*p);
		snprintf(d.mac, sizeof(d.mac), "%s", v);
	} else {
		/* Like libvirt: QEMU's OUI and random bytes, recorded in the definition. */
		if (getrandom(m, 3, 0) != 3) {
			berr_set(err, BERR_INTERNAL, "generating a MAC address: %s",
				 strerror(errno));
			goto out;
		}
		snprintf(d.mac, sizeof(d.mac), "52:54:00:%02x:%02x:%02x", m[0], m[1], m[2]);
		/* First in <interface>, where libvirt writes it. */
		mac = xmlNewDocNode(n->doc, NULL, (const xmlChar *)"mac", NULL);
		xmlNewProp(mac, (const xmlChar *)"address", (const xmlChar *)d.mac);
		if (n->children)
			xmlAddPrevSibling(n->children, mac);
		else
			xmlAddChild(n, mac);
	}
	def->nets = xrealloc(def->nets, (def->nnets + 1) * sizeof(*def->nets));
	def->nets[def->nnets++] = d;
	memset(&d, 0, sizeof(d));
	ret = 0;
out:
	free(d.source);
	free(type);
	free(v);
	return ret;
}

/* <serial> or <console>: both describe COM1 (one serial port in berth-vmm). */
static int parse_chr(struct domain_def *def, xmlNodePtr n, struct strlist *warnings,
		     struct berr *err)
{
	static const char *const honoured[] = {"source", "target", NULL};
	static const char *const kept[] = {"alias", "address", "log", "protocol", NULL};
	static const char *const chr_attrs[] = {"type", NULL};
	const char *what = (const char *)n->name;
	struct dom_chr c = {0};
	xmlNodePtr src = child(n, "source"), tgt = child(n, "target");
	char *type = xml_attr(n, "type"), *v = NULL;
	int ret = -1;

	if (!type || !strcmp(type, "pty"))
		c.type = DOM_CHR_PTY;
	else if (!strcmp(type, "file"))
		c.type = DOM_CHR_FILE;
	else if (!strcmp(type, "unix"))
		c.type = DOM_CHR_UNIX;
	else {
		berr_set(err, BERR_UNSUPPORTED, "<%s type='%s'>: not supported (pty, file, unix)",
			 what, type);
		goto out;
	}
	if (check_children(n, what, honoured, kept, warnings, err) < 0)
		goto out;
	warn_attrs(n, what, chr_attrs, warnings);
	if (tgt) {
		v = xml_attr(tgt, "type");
		if (v && strcmp(v, "serial") && strcmp(v, "isa-serial")) {
			berr_set(err, BERR_UNSUPPORTED,
				 "<%s><target type='%s'>: berth has one ISA serial port only", what,
				 v);
			goto out;
		}
		free(v);
		v = xml_attr(tgt, "port");
		if (v && strcmp(v, "0")) {
			berr_set(err, BERR_UNSUPPORTED,
				 "<%s><target port='%s'>: berth has one serial port (port 0)", what,
				 v);
			goto out;
		}
		if (child(tgt, "model") && !attr_is(child(tgt, "model"), "name", "isa-serial")) {
			berr_set(err, BERR_UNSUPPORTED, "<%s>: only model isa-serial is supported",
				 what);
			goto out;
		}
	}
	if (c.type != DOM_CHR_PTY) {
		if (!src || !(c.path = xml_attr(src, "path")) || c.path[0] != '/') {
			berr_set(err, BERR_INVALID,
				 "<%s type='%s'>: <source path=...> (absolute) is missing", what,
				 type);
			goto out;
		}
		if (c.type == DOM_CHR_UNIX && !attr_is(src, "mode", "bind")) {
			berr_set(err, BERR_UNSUPPORTED,
				 "<%s type='unix'>: berth-vmm listens on the socket: mode='bind' "
				 "is required",
				 what);
			goto out;
		}
	}
	if (def->serial.type != DOM_CHR_NONE) {
		/* A <console> next to a <serial> is the same port: they must agree. */
		bool same = def->serial.type == c.type &&
			    (!c.path || (def->serial.path && !strcmp(def->serial.path, c.path)));
		if (!xml_is_elem(n, "console") || !same) {
			berr_set(err, BERR_UNSUPPORTED,
				 "<%s>: berth-vmm has one serial port, already defined differently",
				 what);
			goto out;
		}
		ret = 0;
		goto out;
	}
	def->serial = c;
	memset(&c, 0, sizeof(c));
	ret = 0;
out:
	free(c.path);
	free(type);
	free(v);
	return ret;
}

/* <devices>: sort the children, then parse the honoured ones. */
static int parse_devices(struct domain_def *def, xmlNodePtr devs, struct strlist *warnings,
			 struct berr *err)
{
	static const char *const honoured[] = {"disk", "interface", "serial", "console", NULL};
	static const char *const kept[] = {"emulator", "controller", "memballoon", "input", "rng",
					   "channel",  "audio",	     "panic",	   NULL};

	if (check_children(devs, "<devices>", honoured, kept, warnings, err) < 0)
		return -1;
	for (xmlNodePtr n = devs->children; n; n = n->next) {
		int r = 0;
		if (xml_is_elem(n, "disk"))
			r = parse_disk(def, n, warnings, err);
		else if (xml_is_elem(n, "interface"))
			r = parse_interface(def, n, warnings, err);
		else if (xml_is_elem(n, "serial"))
			r = parse_chr(def, n, warnings, err);
		if (r < 0)
			return -1;
	}
	/* Consoles after serials, so a console that mirrors serial 0 is recognised. */
	for (xmlNodePtr n = devs->children; n; n = n->next)
		if (xml_is_elem(n, "console") && parse_chr(def, n, warnings, err) < 0)
			return -1;
	return 0;
}

/* <vcpu>: 1 to DOM_VCPUS_MAX, no hot-plug. */
static int parse_vcpu(struct domain_def *def, xmlNodePtr n, struct strlist *warnings,
		      struct berr *err)
{
	static const char *const vcpu_attrs[] = {"placement", "current", NULL};
	char *v = xml_text(n), *cur = xml_attr(n, "current"), *end;
	unsigned long val;
	int ret = -1;

	warn_attrs(n, "<vcpu>", vcpu_attrs, warnings);
	errno = 0;
	val = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || errno || val < 1 || val > DOM_VCPUS_MAX) {
		berr_set(err, BERR_INVALID, "<vcpu>%s</vcpu>: must be 1 to %d", v, DOM_VCPUS_MAX);
		goto out;
	}
	if (cur && strtoul(cur, NULL, 10) != val) {
		berr_set(
		    err, BERR_UNSUPPORTED,
		    "<vcpu current='%s'>: berth does not hot-plug vCPUs (current must equal %lu)",
		    cur, val);
		goto out;
	}
	def->vcpus = val;
	ret = 0;
out:
	free(v);
	free(cur);
	return ret;
}

/* Put <uuid> right after <name>, as libvirt writes it. */
static void add_uuid_elem(struct domain_def *def, xmlNodePtr root, xmlNodePtr name)
{
	char s[DOM_UUID_STRLEN];
	xmlNodePtr u;

	uuid_format(def->uuid, s);
	u = xmlNewDocNode(def->doc, NULL, (const xmlChar *)"uuid", (const xmlChar *)s);
	if (name)
		xmlAddNextSibling(name, u);
	else
		xmlAddChild(root, u);
}

/* <domain> and everything in it. */
static int parse_root(struct domain_def *def, xmlNodePtr root, struct strlist *warnings,
		      struct berr *err)
{
	static const char *const honoured[] = {
	    "name", "uuid", "title",	   "description", "metadata", "memory",	 "currentMemory",
	    "vcpu", "os",   "on_poweroff", "on_reboot",	  "on_crash", "devices", NULL};
	static const char *const kept[] = {
	    "features",	      "clock",	 "pm",	 "cpu",	  "resource",  "seclabel", "sysinfo",
	    "on_lockfailure", "keywrap", "perf", "genid", "iothreads", NULL};
	static const char *const root_attrs[] = {"type", "id", NULL};
	xmlNodePtr n;
	char *v;

	if (!xml_is_elem(root, "domain")) {
		berr_set(err, BERR_INVALID, "the document's root element is <%s>, not <domain>",
			 root->name);
		return -1;
	}
	v = xml_attr(root, "type");
	if (!v || (strcmp(v, "kvm") && strcmp(v, "qemu"))) {
		berr_set(err, BERR_UNSUPPORTED,
			 "<domain type='%s'>: berth runs kvm or qemu domains", v ? v : "");
		free(v);
		return -1;
	}
	def->virt = !strcmp(v, "kvm") ? DOM_VIRT_KVM : DOM_VIRT_QEMU;
	free(v);
	warn_attrs(root, "<domain>", root_attrs, warnings);
	if (check_children(root, "<domain>", honoured, kept, warnings, err) < 0)
		return -1;

	if (!(n = child(root, "name"))) {
		berr_set(err, BERR_INVALID, "<name> is missing");
		return -1;
	}
	def->name = xml_text(n);
	if (!domain_name_valid(def->name)) {
		berr_set(err, BERR_INVALID,
			 "<name>%s</name>: a name is 1-%d letters, digits or ._-+: and starts with "
			 "neither . nor -",
			 def->name, DOM_NAME_MAX);
		return -1;
	}
	if ((n = child(root, "uuid"))) {
		v = xml_text(n);
		if (uuid_parse(v, def->uuid) < 0) {
			berr_set(err, BERR_INVALID, "<uuid>%s</uuid>: not a UUID", v);
			free(v);
			return -1;
		}
		free(v);
	} else {
		if (uuid_generate(def->uuid, err) < 0)
			return -1;
		add_uuid_elem(def, root, child(root, "name"));
	}
	if ((n = child(root, "title")))
		def->title = xml_text(n);
	if ((n = child(root, "description")))
		def->description = xml_text(n);

	if (!(n = child(root, "memory"))) {
		berr_set(err, BERR_INVALID, "<memory> is missing");
		return -1;
	}
	if (parse_scaled(n, "memory", &def->memory, err) < 0)
		return -1;
	if (def->memory < 2 * MiB || def->memory % (4 * KiB)) {
		berr_set(err, BERR_INVALID,
			 "<memory>: %llu bytes: must be a multiple of 4 KiB and at least 2 MiB",
			 (unsigned long long)def->memory);
		return -1;
	}
	def->current_memory = def->memory;
	if ((n = child(root, "currentMemory"))) {
		if (parse_scaled(n, "currentMemory", &def->current_memory, err) < 0)
			return -1;
		if (def->current_memory > def->memory) {
			berr_set(err, BERR_INVALID, "<currentMemory> is larger than <memory>");
			return -1;
		}
		if (def->current_memory != def->memory)
			strlist_add(warnings, "<currentMemory>: has no effect (no balloon), the "
					      "guest gets all of <memory>");
	}
	def->vcpus = 1;
	if ((n = child(root, "vcpu")) && parse_vcpu(def, n, warnings, err) < 0)
		return -1;
	if (!(n = child(root, "os"))) {
		berr_set(err, BERR_INVALID, "<os> is missing");
		return -1;
	}
	if (parse_os(def, n, warnings, err) < 0)
		return -1;
	def->on_poweroff = DOM_ACTION_DESTROY;
	def->on_reboot = DOM_ACTION_RESTART;
	def->on_crash = DOM_ACTION_DESTROY;
	if ((n = child(root, "on_poweroff")) && parse_action(n, false, &def->on_poweroff, err) < 0)
		return -1;
	if ((n = child(root, "on_reboot")) && parse_action(n, false, &def->on_reboot, err) < 0)
		return -1;
	if ((n = child(root, "on_crash")) && parse_action(n, true, &def->on_crash, err) < 0)
		return -1;
	if ((n = child(root, "devices")) && parse_devices(def, n, warnings, err) < 0)
		return -1;
	/* Every element at most once where libvirt allows one. */
	for (const char *const *p = honoured; *p; p++) {
		int count = 0;
		for (n = root->children; n; n = n->next)
			count += xml_is_elem(n, *p);
		if (count > 1) {
			berr_set(err, BERR_INVALID, "<%s> appears %d times", *p, count);
			return -1;
		}
	}
	return 0;
}

/* Parse a document into a checked definition (see domain_conf.h). */
struct domain_def *domain_def_parse(const char *xml, size_t len, struct strlist *warnings,
				    struct berr *err)
{
	struct domain_def *def = xcalloc(1, sizeof(*def));
	xmlParserCtxtPtr ctxt = NULL;
	struct strlist local = {0};

	if (len > DOM_XML_MAX) {
		berr_set(err, BERR_INVALID, "definition of %zu bytes is larger than %d", len,
			 DOM_XML_MAX);
		goto fail;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		berr_set(err, BERR_INTERNAL, "out of memory creating an XML parser");
		goto fail;
	}
	def->doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
				     XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
					 XML_PARSE_NOWARNING);
	if (!def->doc || !xmlDocGetRootElement(def->doc)) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		berr_set(err, BERR_INVALID, "malformed XML: line %d: %s", e ? e->line : 0,
			 e && e->message ? e->message : "empty document\n");
		/* libxml2's messages end in a newline. */
		size_t l = strlen(err->msg);
		if (l && err->msg[l - 1] == '\n')
			err->msg[l - 1] = '\0';
		goto fail;
	}
	if (def->doc->intSubset) {
		berr_set(err, BERR_INVALID, "a DOCTYPE is not allowed in a domain definition");
		goto fail;
	}
	if (parse_root(def, xmlDocGetRootElement(def->doc), warnings ? warnings : &local, err) < 0)
		goto fail;
	xmlFreeParserCtxt(ctxt);
	strlist_clear(&local);
	return def;
fail:
	if (ctxt)
		xmlFreeParserCtxt(ctxt);
	strlist_clear(&local);
	if (warnings)
		strlist_clear(warnings);
	domain_def_free(def);
	return NULL;
}

/* The stored document as text. */
char *domain_def_format(const struct domain_def *def)
{
	xmlBufferPtr buf = xmlBufferCreate();
	char *out;

	xmlNodeDump(buf, def->doc, xmlDocGetRootElement(def->doc), 0, 1);
	out = xmalloc(xmlBufferLength(buf) + 2);
	memcpy(out, xmlBufferContent(buf), xmlBufferLength(buf));
	out[xmlBufferLength(buf)] = '\n';
	out[xmlBufferLength(buf) + 1] = '\0';
	xmlBufferFree(buf);
	return out;
}

/* Free a definition and its document. */
void domain_def_free(struct domain_def *def)
{
	if (!def)
		return;
	free(def->name);
	free(def->title);
	free(def->description);
	free(def->kernel);
	free(def->initrd);
	free(def->cmdline);
	for (size_t i = 0; i < def->ndisks; i++) {
		free(def->disks[i].file);
		free(def->disks[i].target);
	}
	free(def->disks);
	for (size_t i = 0; i < def->nnets; i++)
		free(def->nets[i].source);
	free(def->nets);
	free(def->serial.path);
	if (def->doc)
		xmlFreeDoc(def->doc);
	free(def);
}
