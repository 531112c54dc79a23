#include "daemon/network.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/berthd.h"
#include "daemon/fileutil.h"
#include "daemon/network_conf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DNSMASQ_TERM_MS 3000

struct network {
	struct network_def *def;  /* the persistent definition */
	struct network_def *live; /* what the active network was started with, else NULL */
	bool autostart;
	pid_t dnsmasq;			  /* 0: none */
	unsigned long long dnsmasq_start; /* its /proc start time */
};

struct network_table {
	pthread_mutex_t lock;
	struct network **items;
	size_t count;
	char *run_dir; /* RUN/networks */
};

/* ---- files ---- */

static char *config_path(struct berthd *d, const char *name)
{
	return xasprintf("%s/%s.xml", d->net_config_dir, name);
}

static char *autostart_path(struct berthd *d, const char *name)
{
	return xasprintf("%s/%s", d->net_autostart_dir, name);
}

/* RUN/networks/NAME.EXT */
static char *run_path(struct berthd *d, const char *name, const char *ext)
{
	return xasprintf("%s/%s.%s", d->nets->run_dir, name, ext);
}

/* ---- running host tools ---- */

/* The path of an administration tool (berthd's $PATH may lack the sbin directories). */
static char *tool_path(const char *name)
{
	static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char *p = xasprintf("%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup(name);
}

/*
 * Run a tool to completion; on failure err quotes its command and the first
 * line it printed. The output goes to a memfd, so a tool that daemonizes
 * (dnsmasq) cannot keep us waiting on a pipe.
 */
static int run_tool(const char *const *args, struct berr *err)
{
	char *path = tool_path(args[0]), out[512] = "", cmd[256] = "";
	int memfd = memfd_create("berthd-tool", MFD_CLOEXEC), e, status;
	ssize_t n;
	pid_t pid;

	for (size_t i = 0, len = 0; args[i] && len < sizeof(cmd); i++)
		len +=
		    (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i ? " " : "", args[i]);
	if (memfd < 0) {
		berr_set(err, BERR_INTERNAL, "memfd_create: %s", strerror(errno));
		free(path);
		return -1;
	}
	e = spawn_detached(&pid, path, (char *const *)args, memfd);
	free(path);
	if (e) {
		berr_set(err, BERR_INTERNAL, "running %s: %s (is %s installed?)", cmd, strerror(e),
			 args[0]);
		close(memfd);
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = pread(memfd, out, sizeof(out) - 1, 0);
	close(memfd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		berr_set(err, BERR_INTERNAL, "%s failed: %s", cmd, out[0] ? out : "no output");
		return -1;
	}
	return 0;
}

/* ---- the parts of an active network ---- */

/* The nftables table of a network: berth_ and its UUID's hex digits. */
static void nft_table_name(const struct network_def *def, char out[40])
{
	int len = snprintf(out, 40, "berth_");

	for (int i = 0; i < 16; i++)
		len += snprintf(out + len, 40 - len, "%02x", def->uuid[i]);
}

/* Create the bridge, give it the address, bring it up. */
static int bridge_up(const struct network_def *def, struct berr *err)
{
	char cidr[32], a[INET_ADDRSTRLEN];

	if (if_nametoindex(def->bridge)) {
		berr_set(err, BERR_CONFLICT,
			 "network '%s': a device named %s exists already on this host", def->name,
			 def->bridge);
		return -1;
	}
	if (run_tool((const char *[]){"ip", "link", "add", def->bridge, "type", "bridge", NULL},
		     err) < 0)
		return -1;
	if (def->has_ip) {
		inet_ntop(AF_INET, &def->addr, a, sizeof(a));
		snprintf(cidr, sizeof(cidr), "%s/%u", a, def->prefix);
		if (run_tool(
			(const char *[]){"ip", "address", "add", cidr, "dev", def->bridge, NULL},
			err) < 0)
			goto fail;
	}
	if (run_tool((const char *[]){"ip", "link", "set", def->bridge, "up", NULL}, err) < 0)
		goto fail;
	return 0;
fail:
	run_tool((const char *[]){"ip", "link", "del", def->bridge, NULL}, NULL);
	return -1;
}

/* Remove the bridge (absent is fine; a failure is logged by run_tool). */
static void bridge_down(const char *bridge)
{
	struct berr err = {0};

	if (if_nametoindex(bridge))
		run_tool((const char *[]){"ip", "link", "del", bridge, NULL}, &err);
}

/*
 * The network's nftables table. nat: masquerade what leaves the subnet,
 * let the guests out and only replies back in. Isolated: nothing is
 * forwarded to or from the bridge.
 */
static int firewall_up(struct berthd *d, const struct network_def *def, struct berr *err)
{
	char table[40], subnet[32], *rules, *path = run_path(d, def->name, "nft");
	int ret = -1;

	nft_table_name(def, table);
	network_subnet(def, subnet, sizeof(subnet));
	if (def->forward == NET_FORWARD_NAT) {
		rules =
		    xasprintf("table ip %s {\n"
			      "\tcomment \"berth network %s\"\n"
			      "\tchain postrouting {\n"
			      "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
			      "\t\tip saddr %s ip daddr != %s masquerade\n"
			      "\t}\n"
			      "\tchain forward {\n"
			      "\t\ttype filter hook forward priority filter; policy accept;\n"
			      "\t\tiifname \"%s\" ip saddr %s accept\n"
			      "\t\tiifname \"%s\" drop\n"
			      "\t\toifname \"%s\" ip daddr %s ct state established,related accept\n"
			      "\t\toifname \"%s\" drop\n"
			      "\t}\n"
			      "}\n",
			      table, def->name, subnet, subnet, def->bridge, subnet, def->bridge,
			      def->bridge, subnet, def->bridge);
	} else {
		rules = xasprintf("table ip %s {\n"
				  "\tcomment \"berth network %s\"\n"
				  "\tchain forward {\n"
				  "\t\ttype filter hook forward priority filter; policy accept;\n"
				  "\t\tiifname \"%s\" drop\n"
				  "\t\toifname \"%s\" drop\n"
				  "\t}\n"
				  "}\n",
				  table, def->name, def->bridge, def->bridge);
	}
	if (atomic_write_file(path, rules, strlen(rules), 0600, err) < 0 ||
	    run_tool((const char *[]){"nft", "-f", path, NULL}, err) < 0)
		goto out;
	if (def->forward == NET_FORWARD_NAT) {
		int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "1\n", 2) != 2) {
			berr_set(err, BERR_INTERNAL, "enabling IPv4 forwarding: %s",
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			run_tool((const char *[]){"nft", "delete", "table", "ip", table, NULL},
				 NULL);
			goto out;
		}
		close(fd);
	}
	ret = 0;
out:
	unlink(path);
	free(rules);
	free(path);
	return ret;
}

/* Remove the network's table (absent is fine; a failure is logged by run_tool). */
static void firewall_down(const struct network_def *def)
{
	struct berr err = {0};
	char table[40];

	nft_table_name(def, table);
	if (run_tool((const char *[]){"nft", "list", "table", "ip", table, NULL}, NULL) < 0)
		return;
	run_tool((const char *[]){"nft", "delete", "table", "ip", table, NULL}, &err);
}

/* Is pid the dnsmasq we started (same start time, and named dnsmasq)? */
static bool dnsmasq_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;
	char comm[32];

	if (pid <= 0 || proc_start_time(pid, &now) < 0 || now != start)
		return false;
	return proc_read(pid, "comm", comm, sizeof(comm)) > 0 && !strncmp(comm, "dnsmasq", 7);
}

/* Append a printf-formatted line to a growing string. */
static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...)
{
	va_list ap;
	char *line, *t;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		die("out of memory formatting a string");
	va_end(ap);
	t = xasprintf("%s%s", *s, line);
	free(line);
	free(*s);
	*s = t;
}

/*
 * Write dnsmasq's configuration, start it, read its pid file. Static hosts
 * go into the configuration itself: dnsmasq reads it before dropping root,
 * so the run directory's permissions never keep them from it.
 */
static int dnsmasq_start(struct berthd *d, struct network *net, struct berr *err)
{
	const struct network_def *def = net->live;
	char *conf = run_path(d, def->name, "conf"), *pidf = run_path(d, def->name, "pid"),
	     *leases = run_path(d, def->name, "leases"), *text = xstrdup(""), *arg = NULL,
	     *pidtext = NULL, a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
	size_t len;
	int ret = -1;
	long pid;

	inet_ntop(AF_INET, &def->addr, a, sizeof(a));
	inet_ntop(AF_INET, &def->netmask, m, sizeof(m));
	append(&text,
	       "# Written by berthd for network '%s': changes are overwritten.\n"
	       "strict-order\n"
	       "pid-file=%s\n"
	       "except-interface=lo\n"
	       "bind-interfaces\n"
	       "interface=%s\n"
	       "listen-address=%s\n"
	       "dhcp-no-override\n"
	       "dhcp-authoritative\n"
	       "dhcp-leasefile=%s\n",
	       def->name, pidf, def->bridge, a, leases);
	for (size_t i = 0; i < def->nranges; i++) {
		inet_ntop(AF_INET, &def->ranges[i].start, a, sizeof(a));
		inet_ntop(AF_INET, &def->ranges[i].end, b, sizeof(b));
		append(&text, "dhcp-range=%s,%s,%s\n", a, b, m);
	}
	if (!def->nranges && def->nhosts) {
		/* Static hosts only: DHCP for them, nobody else. */
		struct in_addr net_addr = {.s_addr = def->addr.s_addr & def->netmask.s_addr};
		inet_ntop(AF_INET, &net_addr, a, sizeof(a));
		append(&text, "dhcp-range=%s,static,%s\n", a, m);
	}
	for (size_t i = 0; i < def->nhosts; i++) {
		inet_ntop(AF_INET, &def->hosts[i].ip, a, sizeof(a));
		append(&text, "dhcp-host=%s,%s%s%s\n", def->hosts[i].mac, a,
		       def->hosts[i].name ? "," : "", def->hosts[i].name ? def->hosts[i].name : "");
	}
	unlink(pidf);
	if (atomic_write_file(conf, text, strlen(text), 0644, err) < 0)
		goto out;
	arg = xasprintf("--conf-file=%s", conf);
	if (run_tool((const char *[]){"dnsmasq", arg, NULL}, err) < 0)
		goto out;
	/* dnsmasq's parent exits once the daemon runs, after writing the pid file. */
	pidtext = read_file(pidf, &len);
	if (!pidtext || (pid = strtol(pidtext, NULL, 10)) <= 0 ||
	    proc_start_time((pid_t)pid, &net->dnsmasq_start) < 0) {
		berr_set(err, BERR_INTERNAL, "network '%s': dnsmasq left no usable pid file %s",
			 def->name, pidf);
		goto out;
	}
	net->dnsmasq = (pid_t)pid;
	ret = 0;
out:
	free(pidtext);
	free(arg);
	free(text);
	free(conf);
	free(pidf);
	free(leases);
	return ret;
}

/* Wait up to ms for dnsmasq to end (it is not our child: watch /proc). */
static bool dnsmasq_wait_gone(struct network *net, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		if (!dnsmasq_alive(net->dnsmasq, net->dnsmasq_start))
			return true;
		usleep(10000);
	}
	return !dnsmasq_alive(net->dnsmasq, net->dnsmasq_start);
}

/* Stop dnsmasq (SIGTERM, then SIGKILL) and remove its files. */
static void dnsmasq_stop(struct berthd *d, struct network *net, const char *name)
{
	static const char *const exts[] = {"conf", "pid", "leases"};
	int pidfd = -1;

	/* A pidfd, so a recycled pid can never receive our signals. */
	if (net->dnsmasq && (pidfd = pidfd_open(net->dnsmasq, 0)) >= 0 &&
	    dnsmasq_alive(net->dnsmasq, net->dnsmasq_start)) {
		pidfd_send_signal(pidfd, SIGTERM, NULL, 0);
		if (!dnsmasq_wait_gone(net, DNSMASQ_TERM_MS)) {
			log_warn("network '%s': dnsmasq (pid %d) ignored SIGTERM, killing it", name,
				 net->dnsmasq);
			pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
			dnsmasq_wait_gone(net, DNSMASQ_TERM_MS);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	net->dnsmasq = 0;
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		char *p = run_path(d, name, exts[i]);
		unlink(p);
		free(p);
	}
}

/* Record an active network for a restarted berthd. */
static int write_state(struct berthd *d, struct network *net, struct berr *err)
{
	char *xml = network_def_format(net->live), *path = run_path(d, net->live->name, "state"),
	     *s;
	json_t *st = json_pack("{s:i,s:I,s:s}", "dnsmasq_pid", (int)net->dnsmasq, "dnsmasq_start",
			       (json_int_t)net->dnsmasq_start, "xml", xml);
	int ret;

	s = json_dumps(st, JSON_INDENT(1));
	ret = atomic_write_file(path, s, strlen(s), 0600, err);
	free(s);
	json_decref(st);
	free(xml);
	free(path);
	return ret;
}

/*
 * What a state file records: net->live and its dnsmasq. -1 when the file
 * cannot be read, or with err set when it holds no usable definition.
 */
static int read_state(const char *path, struct network *net, struct berr *err)
{
	json_t *st = json_load_file(path, 0, NULL);
	const char *xml = json_string_value(json_object_get(st, "xml"));

	if (!st)
		return -1;
	net->live = xml ? network_def_parse(xml, strlen(xml), NULL, err) : NULL;
	if (!net->live) {
		berr_set(err, BERR_INVALID, "no definition");
	} else {
		net->dnsmasq = (pid_t)json_integer_value(json_object_get(st, "dnsmasq_pid"));
		net->dnsmasq_start = json_integer_value(json_object_get(st, "dnsmasq_start"));
	}
	json_decref(st);
	return net->live ? 0 : -1;
}

/* Tear down everything of an active network (lock held). */
static void network_teardown(struct berthd *d, struct network *net)
{
	char *state = run_path(d, net->live->name, "state");

	dnsmasq_stop(d, net, net->live->name);
	firewall_down(net->live);
	bridge_down(net->live->bridge);
	remove_file_durable(state, NULL);
	free(state);
	network_def_free(net->live);
	net->live = NULL;
}

/* A deep copy of a definition, through its XML. */
static struct network_def *copy_def(const struct network_def *def, struct berr *err)
{
	char *xml = network_def_format(def);
	struct network_def *copy = network_def_parse(xml, strlen(xml), NULL, err);

	free(xml);
	return copy;
}

/* Bring a network up: bridge, firewall, dnsmasq, state file (lock held). */
static int network_bring_up(struct berthd *d, struct network *net, struct berr *err)
{
	if (geteuid() != 0) {
		berr_set(err, BERR_DENIED,
			 "starting network '%s' needs root (it creates bridge %s); this berthd "
			 "runs as uid %u",
			 net->def->name, net->def->bridge, (unsigned)geteuid());
		return -1;
	}
	net->live = copy_def(net->def, err);
	if (!net->live)
		return -1;
	if (bridge_up(net->live, err) < 0)
		goto fail_def;
	if (net->live->has_ip && firewall_up(d, net->live, err) < 0)
		goto fail_bridge;
	if (net->live->has_ip && dnsmasq_start(d, net, err) < 0)
		goto fail_fw;
	if (write_state(d, net, err) < 0)
		goto fail_dnsmasq;
	log_info("network '%s' started on bridge %s", net->live->name, net->live->bridge);
	return 0;
fail_dnsmasq:
	dnsmasq_stop(d, net, net->live->name);
fail_fw:
	firewall_down(net->live);
fail_bridge:
	bridge_down(net->live->bridge);
fail_def:
	network_def_free(net->live);
	net->live = NULL;
	return -1;
}

/* ---- the table ---- */

/* By name or UUID (lock held). */
static struct network *find(struct berthd *d, const char *key)
{
	unsigned char uuid[16];
	bool is_uuid = uuid_parse(key, uuid) == 0;

	for (size_t i = 0; i < d->nets->count; i++) {
		struct network *n = d->nets->items[i];
		if (!strcmp(n->def->name, key) || (is_uuid && !memcmp(n->def->uuid, uuid, 16)))
			return n;
	}
	return NULL;
}

/* By key, or NULL with a not-found error (lock held). */
static struct network *lookup(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n = find(d, key);

	if (!n)
		berr_set(err, BERR_NOT_FOUND, "network '%s' not found", key);
	return n;
}

/* Is a bridge name used by another network (lock held)? */
static bool bridge_taken(struct berthd *d, const char *bridge, const struct network *except)
{
	for (size_t i = 0; i < d->nets->count; i++) {
		struct network *n = d->nets->items[i];
		if (n != except && (!strcmp(n->def->bridge, bridge) ||
				    (n->live && !strcmp(n->live->bridge, bridge))))
			return true;
	}
	return false;
}

/* Give a definition without <bridge name> a free one: bvbr0, bvbr1... (lock held). */
static void pick_bridge(struct berthd *d, struct network_def *def, const struct network *except)
{
	for (unsigned i = 0; !def->bridge[0]; i++) {
		char name[NET_BRIDGE_MAX + 1];
		snprintf(name, sizeof(name), "bvbr%u", i);
		if (!bridge_taken(d, name, except) && !if_nametoindex(name))
			snprintf(def->bridge, sizeof(def->bridge), "%s", name);
	}
}

/* Add a network to the table (lock held). */
static struct network *table_add(struct berthd *d, struct network_def *def)
{
	struct network *n = xcalloc(1, sizeof(*n));

	n->def = def;
	d->nets->items = xrealloc(d->nets->items, (d->nets->count + 1) * sizeof(n));
	d->nets->items[d->nets->count++] = n;
	return n;
}

static void network_free(struct network *n)
{
	network_def_free(n->def);
	network_def_free(n->live);
	free(n);
}

/* Take back a network berthd left running, or clean up after it (lock held). */
static void adopt(struct berthd *d, struct network *net)
{
	char *path = run_path(d, net->def->name, "state");
	struct berr err = {0};

	if (read_state(path, net, &err) < 0) {
		if (berr_isset(&err)) {
			log_error("network '%s': state file %s is unusable: %s", net->def->name,
				  path, err.msg);
			remove_file_durable(path, NULL);
		}
		goto out;
	}
	if (!if_nametoindex(net->live->bridge)) {
		log_warn("network '%s': its bridge %s vanished while berthd was away; stopped",
			 net->def->name, net->live->bridge);
		network_teardown(d, net);
		goto out;
	}
	if (net->live->has_ip && !dnsmasq_alive(net->dnsmasq, net->dnsmasq_start)) {
		log_warn("network '%s': dnsmasq ended while berthd was away; restarting it",
			 net->def->name);
		if (dnsmasq_start(d, net, &err) < 0 || write_state(d, net, &err) < 0)
			log_error("network '%s': %s", net->def->name, err.msg);
	}
	log_info("network '%s' (bridge %s) adopted", net->def->name, net->live->bridge);
out:
	free(path);
}

/*
 * Tear down what an active network left behind when its definition is gone
 * (removed while berthd was away): its state file says what to undo (lock held).
 */
static void clean_orphans(struct berthd *d)
{
	DIR *dir = opendir(d->nets->run_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		struct network net = {0};
		struct berr err = {0};
		char *path, *name;

		if (len < 7 || strcmp(e->d_name + len - 6, ".state") || e->d_name[0] == '.')
			continue;
		name = xasprintf("%.*s", (int)(len - 6), e->d_name);
		if (find(d, name)) {
			free(name);
			continue;
		}
		path = xasprintf("%s/%s", d->nets->run_dir, e->d_name);
		if (read_state(path, &net, &err) == 0 && !strcmp(net.live->name, name)) {
			log_warn("network '%s' is no longer defined: tearing down bridge %s", name,
				 net.live->bridge);
			network_teardown(d, &net);
		} else {
			network_def_free(net.live);
			log_error("state file %s is unusable: removed", path);
			remove_file_durable(path, NULL);
		}
		free(path);
		free(name);
	}
	closedir(dir);
}

/* Load the definitions and take back the networks left running. */
int network_init(struct berthd *d)
{
	struct berr err = {0};
	DIR *dir;
	struct dirent *e;

	d->nets = xcalloc(1, sizeof(*d->nets));
	pthread_mutex_init(&d->nets->lock, NULL);
	d->nets->run_dir = xasprintf("%s/networks", d->run_dir);
	if (mkdir_p(d->net_config_dir, 0700, &err) < 0 ||
	    mkdir_p(d->net_autostart_dir, 0700, &err) < 0 ||
	    mkdir_p(d->nets->run_dir, 0755, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	dir = opendir(d->net_config_dir);
	if (!dir) {
		log_error("reading %s: %s", d->net_config_dir, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&d->nets->lock);
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name), xml_len;
		struct network_def *def;
		struct network *net;
		char *path, *xml, *as;

		if (len < 5 || strcmp(e->d_name + len - 4, ".xml") || e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", d->net_config_dir, e->d_name);
		xml = read_file(path, &xml_len);
		memset(&err, 0, sizeof(err));
		def = xml ? network_def_parse(xml, xml_len, NULL, &err) : NULL;
		if (!xml)
			berr_set(&err, BERR_INTERNAL, "%s", strerror(errno));
		else if (def &&
			 (strlen(def->name) != len - 4 || strncmp(def->name, e->d_name, len - 4)))
			berr_set(&err, BERR_INVALID, "it defines network '%s'", def->name);
		else if (def && (find(d, def->name) || !def->bridge[0]))
			berr_set(&err, BERR_INVALID, "duplicate name or no bridge");
		free(xml);
		if (berr_isset(&err)) {
			log_error("network definition %s skipped: %s", path, err.msg);
			network_def_free(def);
			free(path);
			continue;
		}
		net = table_add(d, def);
		as = autostart_path(d, def->name);
		net->autostart = access(as, F_OK) == 0;
		free(as);
		adopt(d, net);
		free(path);
	}
	closedir(dir);
	clean_orphans(d);
	pthread_mutex_unlock(&d->nets->lock);
	return 0;
}

/* Start the inactive networks marked autostart. */
void network_autostart(struct berthd *d)
{
	pthread_mutex_lock(&d->nets->lock);
	for (size_t i = 0; i < d->nets->count; i++) {
		struct network *n = d->nets->items[i];
		struct berr err = {0};

		if (n->autostart && !n->live && network_bring_up(d, n, &err) < 0)
			log_error("autostarting network '%s': %s", n->def->name, err.msg);
	}
	pthread_mutex_unlock(&d->nets->lock);
}

/* Forget every network (they keep running). */
void network_release_all(struct berthd *d)
{
	if (!d->nets)
		return;
	for (size_t i = 0; i < d->nets->count; i++)
		network_free(d->nets->items[i]);
	free(d->nets->items);
	free(d->nets->run_dir);
	pthread_mutex_destroy(&d->nets->lock);
	free(d->nets);
	d->nets = NULL;
}

/* ---- API operations ---- */

/* A network's summary for lists and net-info (lock held). */
static json_t *summary(const struct network *n)
{
	char uuid[DOM_UUID_STRLEN];
	const struct network_def *def = n->live ? n->live : n->def;

	uuid_format(n->def->uuid, uuid);
	return json_pack("{s:s,s:s,s:b,s:b,s:b,s:s,s:s}", "name", n->def->name, "uuid", uuid,
			 "active", n->live != NULL, "persistent", 1, "autostart", n->autostart,
			 "bridge", def->bridge, "forward",
			 def->forward == NET_FORWARD_NAT ? "nat" : "none");
}

json_t *net_list(struct berthd *d, bool all)
{
	json_t *list = json_array();

	pthread_mutex_lock(&d->nets->lock);
	for (size_t i = 0; i < d->nets->count; i++)
		if (all || d->nets->items[i]->live)
			json_array_append_new(list, summary(d->nets->items[i]));
	pthread_mutex_unlock(&d->nets->lock);
	return list;
}

int net_define(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err)
{
	struct strlist warnings = {0};
	struct network_def *def = network_def_parse(xml, len, &warnings, err);
	struct network *n;
	char uuid[DOM_UUID_STRLEN], *path = NULL, *text = NULL;
	json_t *w;

	if (!def)
		return -1;
	uuid_format(def->uuid, uuid);
	pthread_mutex_lock(&d->nets->lock);
	n = find(d, def->name);
	if (!n)
		n = find(d, uuid);
	if (n && strcmp(n->def->name, def->name)) {
		berr_set(err, BERR_CONFLICT, "network '%s' already has UUID %s", n->def->name,
			 uuid);
		goto fail;
	}
	if (n && memcmp(n->def->uuid, def->uuid, 16)) {
		berr_set(err, BERR_CONFLICT, "network '%s' already exists with another UUID",
			 def->name);
		goto fail;
	}
	if (def->bridge[0] && bridge_taken(d, def->bridge, n)) {
		berr_set(err, BERR_CONFLICT, "bridge %s is already used by another network",
			 def->bridge);
		goto fail;
	}
	if (!def->bridge[0] && n)
		snprintf(def->bridge, sizeof(def->bridge), "%s", n->def->bridge);
	pick_bridge(d, def, n);
	text = network_def_format(def);
	path = config_path(d, def->name);
	if (atomic_write_file(path, text, strlen(text), 0600, err) < 0)
		goto fail;
	if (n) {
		/* A redefinition: an active network uses it from its next start. */
		network_def_free(n->def);
		n->def = def;
	} else {
		table_add(d, def);
	}
	pthread_mutex_unlock(&d->nets->lock);
	w = json_array();
	for (size_t i = 0; i < warnings.count; i++)
		json_array_append_new(w, json_string(warnings.items[i]));
	strlist_clear(&warnings);
	*result = json_pack("{s:s,s:s,s:o}", "name", def->name, "uuid", uuid, "warnings", w);
	free(text);
	free(path);
	return 0;
fail:
	pthread_mutex_unlock(&d->nets->lock);
	strlist_clear(&warnings);
	network_def_free(def);
	free(text);
	free(path);
	return -1;
}

int net_undefine(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n;
	char *path, *as;
	int ret = -1;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (!n)
		goto out;
	if (n->live) {
		berr_set(err, BERR_CONFLICT, "network '%s' is active: destroy it first",
			 n->def->name);
		goto out;
	}
	path = config_path(d, n->def->name);
	as = autostart_path(d, n->def->name);
	ret = remove_file_durable(path, err);
	if (ret == 0)
		remove_file_durable(as, NULL);
	free(path);
	free(as);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < d->nets->count; i++)
		if (d->nets->items[i] == n) {
			memmove(&d->nets->items[i], &d->nets->items[i + 1],
				(d->nets->count - i - 1) * sizeof(n));
			d->nets->count--;
			break;
		}
	network_free(n);
out:
	pthread_mutex_unlock(&d->nets->lock);
	return ret;
}

int net_start(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n;
	int ret = -1;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (n && n->live)
		berr_set(err, BERR_CONFLICT, "network '%s' is already active", n->def->name);
	else if (n)
		ret = network_bring_up(d, n, err);
	pthread_mutex_unlock(&d->nets->lock);
	return ret;
}

int net_destroy(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n;
	int ret = -1;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (n && !n->live) {
		berr_set(err, BERR_CONFLICT, "network '%s' is not active", n->def->name);
	} else if (n) {
		log_info("network '%s' (bridge %s) destroyed", n->def->name, n->live->bridge);
		network_teardown(d, n);
		ret = 0;
	}
	pthread_mutex_unlock(&d->nets->lock);
	return ret;
}

int net_set_autostart(struct berthd *d, const char *key, bool on, struct berr *err)
{
	struct network *n;
	char *path;
	int ret = -1;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (n) {
		path = autostart_path(d, n->def->name);
		ret =
		    on ? atomic_write_file(path, "", 0, 0600, err) : remove_file_durable(path, err);
		if (ret == 0)
			n->autostart = on;
		free(path);
	}
	pthread_mutex_unlock(&d->nets->lock);
	return ret;
}

char *net_get_xml(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n;
	char *xml = NULL;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (n)
		xml = network_def_format(n->live ? n->live : n->def);
	pthread_mutex_unlock(&d->nets->lock);
	return xml;
}

json_t *net_info(struct berthd *d, const char *key, struct berr *err)
{
	struct network *n;
	json_t *j = NULL;

	pthread_mutex_lock(&d->nets->lock);
	n = lookup(d, key, err);
	if (n) {
		j = summary(n);
		if (n->live && n->dnsmasq)
			json_object_set_new(j, "dnsmasq_pid", json_integer(n->dnsmasq));
	}
	pthread_mutex_unlock(&d->nets->lock);
	return j;
}

/* The bridge of an active network, for a domain's interface. */
char *network_bridge(struct berthd *d, const char *name, struct berr *err)
{
	struct network *n;
	char *bridge = NULL;

	pthread_mutex_lock(&d->nets->lock);
	n = find(d, name);
	if (!n)
		berr_set(err, BERR_NOT_FOUND, "network '%s' not found", name);
	else if (!n->live)
		berr_set(err, BERR_CONFLICT, "network '%s' is not active (start it with net-start)",
			 name);
	else
		bridge = xstrdup(n->live->bridge);
	pthread_mutex_unlock(&d->nets->lock);
	return bridge;
}
