/*
 * berth create-vm: write a domain's XML from a few options and define it
 * (virt-install's job for a direct-kernel-boot guest).
 */
#include "cli/cli.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xml_out {
	char *buf;
	size_t len;
};

static void out(struct xml_out *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append formatted text. */
static void out(struct xml_out *x, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		exit(1);
	x->buf = xrealloc(x->buf, x->len + n + 1);
	memcpy(x->buf + x->len, s, n + 1);
	x->len += n;
	free(s);
}

/* Escape text for XML content and attribute values (caller frees). */
static char *esc(const char *s)
{
	struct xml_out x = {xstrdup(""), 0};

	for (; *s; s++) {
		switch (*s) {
		case '&':
			out(&x, "&amp;");
			break;
		case '<':
			out(&x, "&lt;");
			break;
		case '>':
			out(&x, "&gt;");
			break;
		case '\'':
			out(&x, "&apos;");
			break;
		case '"':
			out(&x, "&quot;");
			break;
		default:
			out(&x, "%c", *s);
			break;
		}
	}
	return x.buf;
}

/* A qcow2 image starts with "QFI\xfb". */
static const char *guess_format(const char *path)
{
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool qcow2 = false;

	if (fd >= 0) {
		qcow2 = read(fd, magic, 4) == 4 && !memcmp(magic, "QFI\xfb", 4);
		close(fd);
	}
	return qcow2 ? "qcow2" : "raw";
}

/* --disk PATH[,format=F][,readonly] (path=PATH and readonly=on are accepted too). */
static int add_disk(struct xml_out *x, const char *spec, int index)
{
	char *copy = xstrdup(spec), *save = NULL, *path = NULL, *e;
	const char *format = NULL;
	bool readonly = false;
	int ret = -1;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!path && !strchr(tok, '='))
			path = tok;
		else if (!strncmp(tok, "path=", 5))
			path = tok + 5;
		else if (!strncmp(tok, "format=", 7))
			format = tok + 7;
		else if (!strcmp(tok, "readonly") || !strcmp(tok, "readonly=on") ||
			 !strcmp(tok, "readonly=yes"))
			readonly = true;
		else {
			fprintf(stderr, "error: --disk %s: unknown option '%s'\n", spec, tok);
			goto done;
		}
	}
	if (!path || path[0] != '/') {
		fprintf(stderr, "error: --disk %s: an absolute path is required\n", spec);
		goto done;
	}
	if (index >= 26) {
		fprintf(stderr, "error: --disk: at most 26 disks\n");
		goto done;
	}
	e = esc(path);
	out(x,
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='%s'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vd%c' bus='virtio'/>\n%s"
	    "    </disk>\n",
	    format ? format : guess_format(path), e, 'a' + index,
	    readonly ? "      <readonly/>\n" : "");
	free(e);
	ret = 0;
done:
	free(copy);
	return ret;
}

/* --network user | bridge=BR | network=NET [,mac=MAC] */
static int add_network(struct xml_out *x, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL, *e;
	const char *type = NULL, *source = NULL, *mac = NULL;
	int ret = -1;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "user"))
			type = "user";
		else if (!strncmp(tok, "bridge=", 7))
			type = "bridge", source = tok + 7;
		else if (!strncmp(tok, "network=", 8))
			type = "network", source = tok + 8;
		else if (!strncmp(tok, "mac=", 4))
			mac = tok + 4;
		else if (!strncmp(tok, "model=", 6) && !strcmp(tok + 6, "virtio"))
			;
		else {
			fprintf(stderr, "error: --network %s: unknown option '%s'\n", spec, tok);
			goto done;
		}
	}
	if (!type) {
		fprintf(stderr, "error: --network %s: say user, bridge=NAME or network=NAME\n",
			spec);
		goto done;
	}
	out(x, "    <interface type='%s'>\n", type);
	if (source) {
		e = esc(source);
		out(x, "      <source %s='%s'/>\n", type, e);
		free(e);
	}
	if (mac) {
		e = esc(mac);
		out(x, "      <mac address='%s'/>\n", e);
		free(e);
	}
	out(x, "      <model type='virtio'/>\n    </interface>\n");
	ret = 0;
done:
	free(copy);
	return ret;
}

/* --console pty | file:PATH | unix:PATH | none */
static int add_console(struct xml_out *x, const char *spec)
{
	char *e;

	if (!strcmp(spec, "none"))
		return 0;
	if (!strcmp(spec, "pty")) {
		out(x, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
		       "    <console type='pty'>\n      <target type='serial' port='0'/>\n"
		       "    </console>\n");
		return 0;
	}
	if ((!strncmp(spec, "file:", 5) || !strncmp(spec, "unix:", 5)) && spec[5] == '/') {
		bool file = spec[0] == 'f';
		e = esc(spec + 5);
		out(x,
		    "    <serial type='%s'>\n      <source %spath='%s'/>\n"
		    "      <target port='0'/>\n    </serial>\n",
		    file ? "file" : "unix", file ? "" : "mode='bind' ", e);
		free(e);
		return 0;
	}
	fprintf(stderr, "error: --console %s: pty, file:PATH, unix:PATH or none\n", spec);
	return -1;
}

/* Is a an on_* action berth knows? */
static bool action_ok(const char *a)
{
	return !strcmp(a, "destroy") || !strcmp(a, "restart") || !strcmp(a, "preserve");
}

/* berth create-vm NAME ...: write the XML, define it (and start it). */
int cmd_create_vm(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"memory", required_argument, NULL, 'm'},
	    {"vcpus", required_argument, NULL, 'c'},
	    {"kernel", required_argument, NULL, 'k'},
	    {"initrd", required_argument, NULL, 'i'},
	    {"append", required_argument, NULL, 'a'},
	    {"disk", required_argument, NULL, 'd'},
	    {"network", required_argument, NULL, 'n'},
	    {"virt-type", required_argument, NULL, 't'},
	    {"console", required_argument, NULL, 'C'},
	    {"on-poweroff", required_argument, NULL, 'P'},
	    {"on-reboot", required_argument, NULL, 'R'},
	    {"on-crash", required_argument, NULL, 'X'},
	    {"print-xml", no_argument, NULL, 'p'},
	    {"start", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *memory = NULL, *kernel = NULL, *initrd = NULL, *append = NULL;
	const char *virt = access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "qemu";
	const char *console = "pty", *on_poweroff = "destroy", *on_reboot = "restart";
	const char *on_crash = "destroy", *name;
	const char *disks[26], *nets[8];
	int ndisks = 0, nnets = 0, opt, ret = 1;
	unsigned long vcpus = 1;
	struct xml_out x = {xstrdup(""), 0};
	uint64_t mem;
	char *e, *defined, *end;
	bool print = false, start = false;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			memory = optarg;
			break;
		case 'c':
			vcpus = strtoul(optarg, &end, 10);
			if (*end || !vcpus || vcpus > 64) {
				fprintf(stderr, "error: --vcpus %s: a number from 1 to 64\n",
					optarg);
				goto done;
			}
			break;
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'a':
			append = optarg;
			break;
		case 'd':
			if (ndisks == (int)ARRAY_SIZE(disks)) {
				fprintf(stderr, "error: too many --disk\n");
				goto done;
			}
			disks[ndisks++] = optarg;
			break;
		case 'n':
			if (nnets == (int)ARRAY_SIZE(nets)) {
				fprintf(stderr, "error: too many --network\n");
				goto done;
			}
			nets[nnets++] = optarg;
			break;
		case 't':
			virt = optarg;
			break;
		case 'C':
			console = optarg;
			break;
		case 'P':
			on_poweroff = optarg;
			break;
		case 'R':
			on_reboot = optarg;
			break;
		case 'X':
			on_crash = optarg;
			break;
		case 'p':
			print = true;
			break;
		case 's':
			start = true;
			break;
		default:
			goto done;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr,
			"error: usage: berth create-vm NAME --memory SIZE --kernel PATH ... "
			"(see 'berth help create-vm')\n");
		goto done;
	}
	name = argv[optind];
	if (!memory || !kernel) {
		fprintf(stderr, "error: create-vm needs --memory and --kernel\n");
		goto done;
	}
	if (parse_size(memory, MiB, &mem) < 0 || mem < 2 * MiB || mem % KiB) {
		fprintf(stderr, "error: --memory %s: a size such as 512 (MiB), 512M or 2G\n",
			memory);
		goto done;
	}
	if (strcmp(virt, "kvm") && strcmp(virt, "qemu")) {
		fprintf(stderr, "error: --virt-type %s: kvm or qemu\n", virt);
		goto done;
	}
	if (!action_ok(on_poweroff) || !action_ok(on_reboot) || !action_ok(on_crash)) {
		fprintf(stderr, "error: --on-*: destroy, restart or preserve\n");
		goto done;
	}
	e = esc(name);
	out(&x, "<domain type='%s'>\n  <name>%s</name>\n", virt, e);
	free(e);
	out(&x,
	    "  <memory unit='KiB'>%llu</memory>\n  <currentMemory "
	    "unit='KiB'>%llu</currentMemory>\n",
	    (unsigned long long)(mem / KiB), (unsigned long long)(mem / KiB));
	out(&x, "  <vcpu placement='static'>%lu</vcpu>\n", vcpus);
	out(&x, "  <os>\n    <type arch='x86_64'>hvm</type>\n");
	e = esc(kernel);
	out(&x, "    <kernel>%s</kernel>\n", e);
	free(e);
	if (initrd) {
		e = esc(initrd);
		out(&x, "    <initrd>%s</initrd>\n", e);
		free(e);
	}
	if (append) {
		e = esc(append);
		out(&x, "    <cmdline>%s</cmdline>\n", e);
		free(e);
	}
	out(&x,
	    "  </os>\n  <on_poweroff>%s</on_poweroff>\n  <on_reboot>%s</on_reboot>\n"
	    "  <on_crash>%s</on_crash>\n  <devices>\n",
	    on_poweroff, on_reboot, on_crash);
	for (int i = 0; i < ndisks; i++)
		if (add_disk(&x, disks[i], i) < 0)
			goto done;
	for (int i = 0; i < nnets; i++)
		if (add_network(&x, nets[i]) < 0)
			goto done;
	if (add_console(&x, console) < 0)
		goto done;
	out(&x, "  </devices>\n</domain>\n");
	if (print) {
		fputs(x.buf, stdout);
		ret = 0;
		goto done;
	}
	defined = define_xml(c, "domains", x.buf, x.len);
	if (!defined)
		goto done;
	printf("Domain '%s' defined\n", defined);
	ret = 0;
	if (start)
		ret = name_action(c, "domains", defined, "POST", "/start", "Domain '%s' started");
	free(defined);
done:
	free(x.buf);
	return ret;
}
