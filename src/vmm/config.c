#include "vmm/config.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_NAME = 256, OPT_ACCEL, OPT_MEMORY, OPT_CPUS, OPT_KERNEL, OPT_INITRD, OPT_APPEND,
	OPT_SERIAL, OPT_DEVICE, OPT_CONTROL, OPT_DISK, OPT_NET, OPT_NO_REBOOT, OPT_HELP,
};

static const struct option long_opts[] = {
	{"name", required_argument, NULL, OPT_NAME},
	{"accel", required_argument, NULL, OPT_ACCEL},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"append", required_argument, NULL, OPT_APPEND},
	{"serial", required_argument, NULL, OPT_SERIAL},
	{"device", required_argument, NULL, OPT_DEVICE},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"disk", required_argument, NULL, OPT_DISK},
	{"net", required_argument, NULL, OPT_NET},
	{"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

void config_usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s --kernel PATH [options]\n"
		"Run one virtual machine (an x86-64 PC).\n\n"
		"  --name NAME            name shown in process listings and logs\n"
		"  --accel kvm|soft|auto  CPU accelerator (default auto: kvm if it can run the\n"
		"                         guest, otherwise the soft x86-64 emulator)\n"
		"  --memory SIZE          guest RAM, e.g. 512M, 2G (default 512M; bare number = MiB)\n"
		"  --cpus N               number of vCPUs (default 1)\n"
		"  --kernel PATH          Linux bzImage or Multiboot kernel to boot\n"
		"  --initrd PATH          initramfs (Linux) or modules, comma-separated (Multiboot)\n"
		"  --append STRING        kernel command line\n"
		"  --serial stdio|file:PATH|unix:PATH|null\n"
		"                         COM1 back end (default stdio)\n"
		"  --device isa-debug-exit[,iobase=0xf4][,iosize=1|2|4]\n"
		"                         a write of v to the port exits with status (v << 1) | 1\n"
		"  --device virtio-rng    a virtio entropy source (host getrandom)\n"
		"  --device virtio-console[,chardev=stdio|file:PATH|unix:PATH|null]\n"
		"                         a virtio console, the guest's hvc0 (default chardev null)\n"
		"  --disk PATH[,format=raw|qcow2][,readonly]\n"
		"                         a virtio disk (repeatable: vda, vdb, ...)\n"
		"  --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT][,mac=MAC] | tap,ifname=NAME[,mac=MAC]\n"
		"                         a virtio network interface (repeatable); MAC is a\n"
		"                         unicast XX:XX:XX:XX:XX:XX (default 52:54:00:12:34:56+N)\n"
		"  --control PATH         control socket (line-delimited JSON commands)\n"
		"  --no-reboot            exit instead of rebooting when the guest resets\n"
		"  --help                 show this help\n",
		prog);
}

static enum config_result fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum config_result fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CONFIG_ERROR;
}

/* "isa-debug-exit[,iobase=N][,iosize=N]" */
static enum config_result parse_device(const char *arg, struct vmm_config *cfg, char *err,
				       size_t errlen)
{
	char buf[256], *save, *tok;

	if (strlen(arg) >= sizeof(buf))
		return fail(err, errlen, "--device: argument too long");
	strcpy(buf, arg);
	tok = strtok_r(buf, ",", &save);
	if (tok && !strcmp(tok, "virtio-rng")) {
		if (strtok_r(NULL, ",", &save))
			return fail(err, errlen, "--device virtio-rng: takes no options");
		cfg->virtio_rng = true;
		return CONFIG_OK;
	}
	if (tok && !strcmp(tok, "virtio-console")) {
		/* The chardev spec is the rest of arg (it points into argv). */
		if (!strcmp(arg, "virtio-console"))
			cfg->virtio_console = "null";
		else if (!strncmp(arg, "virtio-console,chardev=", 23) && arg[23])
			cfg->virtio_console = arg + 23;
		else
			return fail(err, errlen, "--device virtio-console: bad options '%s'", arg);
		return CONFIG_OK;
	}
	if (!tok || strcmp(tok, "isa-debug-exit"))
		return fail(err, errlen,
			    "--device: unknown device '%s' (known: isa-debug-exit, virtio-rng, "
			    "virtio-console)",
			    tok ? tok : "");
	cfg->debug_exit = true;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *end;
		unsigned long v;

		if (!strncmp(tok, "iobase=", 7)) {
			errno = 0;
			v = strtoul(tok + 7, &end, 0);
			if (errno || end == tok + 7 || *end || v > 0xffff)
				return fail(err, errlen, "--device isa-debug-exit: bad iobase '%s'",
					    tok + 7);
			cfg->debug_exit_port = v;
		} else if (!strncmp(tok, "iosize=", 7)) {
			v = strtoul(tok + 7, &end, 0);
			if (*end || (v != 1 && v != 2 && v != 4))
				return fail(err, errlen, "--device isa-debug-exit: bad iosize '%s'",
					    tok + 7);
			cfg->debug_exit_size = v;
		} else {
			return fail(err, errlen, "--device isa-debug-exit: unknown option '%s'", tok);
		}
	}
	return CONFIG_OK;
}

/* "PATH[,format=raw|qcow2][,readonly]"; the options are cut off arg in place. */
static enum config_result parse_disk(char *arg, struct vmm_config *cfg, char *err, size_t errlen)
{
	struct vmm_disk_config *d;
	char *opt, *save;

	if (cfg->ndisks == VMM_MAX_DISKS)
		return fail(err, errlen, "--disk: at most %d disks", VMM_MAX_DISKS);
	d = &cfg->disks[cfg->ndisks];
	opt = strchr(arg, ',');
	if (opt)
		*opt++ = '\0';
	if (!*arg)
		return fail(err, errlen, "--disk: missing path");
	d->path = arg;
	for (char *tok = opt ? strtok_r(opt, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "format=raw") || !strcmp(tok, "format=qcow2"))
			d->format = tok + 7;
		else if (!strcmp(tok, "readonly") || !strcmp(tok, "readonly=on"))
			d->readonly = true;
		else
			return fail(err, errlen, "--disk %s: unknown option '%s'", arg, tok);
	}
	cfg->ndisks++;
	return CONFIG_OK;
}

/* Parse "XX:XX:XX:XX:XX:XX" (six hex octets) into mac; -1 if malformed. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi, lo;

		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -1;
		hi = isdigit((unsigned char)s[0]) ? s[0] - '0' : (tolower(s[0]) - 'a' + 10);
		lo = isdigit((unsigned char)s[1]) ? s[1] - '0' : (tolower(s[1]) - 'a' + 10);
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return -1;
	}
	return *s ? -1 : 0;
}

/* --net BACKEND[,OPTS][,mac=MAC]: the back end's spec, with mac= taken out. */
static enum config_result parse_net(const char *arg, struct vmm_config *cfg, char *err,
				    size_t errlen)
{
	struct vmm_net_config *n = &cfg->nets[cfg->nnets];
	char copy[VMM_NET_SPEC_MAX], *tok, *save = NULL;
	size_t len = 0;

	if (cfg->nnets == VMM_MAX_NETS)
		return fail(err, errlen, "--net: at most %d interfaces", VMM_MAX_NETS);
	if (strcmp(arg, "user") && strncmp(arg, "user,", 5) && strncmp(arg, "tap,", 4))
		return fail(err, errlen, "--net: unknown back end '%s' (user or tap,ifname=NAME)",
			    arg);
	if (strlen(arg) >= sizeof(copy))
		return fail(err, errlen, "--net: spec longer than %d characters", VMM_NET_SPEC_MAX - 1);
	strcpy(copy, arg);
	memset(n, 0, sizeof(*n));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "mac=", 4)) {
			if (parse_mac(tok + 4, n->mac) < 0)
				return fail(err, errlen,
					    "--net %s: malformed mac '%s' (six hex octets "
					    "XX:XX:XX:XX:XX:XX)",
					    arg, tok + 4);
			if (n->mac[0] & 1)
				return fail(err, errlen,
					    "--net %s: mac %s is a multicast address (the first "
					    "octet must be even)",
					    arg, tok + 4);
			n->has_mac = true;
			continue;
		}
		len += (size_t)snprintf(n->spec + len, sizeof(n->spec) - len, "%s%s",
					len ? "," : "", tok);
	}
	cfg->nnets++;
	return CONFIG_OK;
}

enum config_result config_parse(int argc, char **argv, struct vmm_config *cfg, char *err,
				size_t errlen)
{
	enum config_result r;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->accel = "auto";
	cfg->memory = 512 * MiB;
	cfg->cpus = 1;
	cfg->serial = "stdio";
	cfg->debug_exit_port = 0xf4;
	cfg->debug_exit_size = 1;
	optind = 1;
	opterr = 0;

	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_NAME:
			cfg->name = optarg;
			break;
		case OPT_ACCEL:
			if (strcmp(optarg, "kvm") && strcmp(optarg, "soft") && strcmp(optarg, "auto"))
				return fail(err, errlen,
					    "--accel: unknown accelerator '%s' (kvm, soft or auto)",
					    optarg);
			cfg->accel = optarg;
			break;
		case OPT_MEMORY:
			if (parse_size(optarg, MiB, &cfg->memory) < 0)
				return fail(err, errlen, "--memory: malformed size '%s'", optarg);
			if (cfg->memory < 2 * MiB || cfg->memory % (4 * KiB))
				return fail(err, errlen,
					    "--memory: %s is not a multiple of 4 KiB of at least 2M",
					    optarg);
			break;
		case OPT_CPUS: {
			char *end;
			long n;
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || n < 1 || n > 64)
				return fail(err, errlen, "--cpus: '%s' is not a number from 1 to 64",
					    optarg);
			cfg->cpus = n;
			break;
		}
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_APPEND:
			cfg->append = optarg;
			break;
		case OPT_SERIAL:
			if (strcmp(optarg, "stdio") && strcmp(optarg, "null") &&
			    !((!strncmp(optarg, "file:", 5) || !strncmp(optarg, "unix:", 5)) &&
			      optarg[5]))
				return fail(err, errlen,
					    "--serial: unknown back end '%s' (stdio, file:PATH, "
					    "unix:PATH or null)",
					    optarg);
			cfg->serial = optarg;
			break;
		case OPT_DEVICE:
			if ((r = parse_device(optarg, cfg, err, errlen)) != CONFIG_OK)
				return r;
			break;
		case OPT_CONTROL:
			cfg->control = optarg;
			break;
		case OPT_DISK:
			if ((r = parse_disk(optarg, cfg, err, errlen)) != CONFIG_OK)
				return r;
			break;
		case OPT_NET:
			if ((r = parse_net(optarg, cfg, err, errlen)) != CONFIG_OK)
				return r;
			break;
		case OPT_NO_REBOOT:
			cfg->no_reboot = true;
			break;
		case OPT_HELP:
		case 'h':
			return CONFIG_HELP;
		case ':':
			return fail(err, errlen, "option %s needs an argument", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s' (see --help)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
	if (!cfg->kernel)
		return fail(err, errlen, "no kernel given: use --kernel PATH (see --help)");
	return CONFIG_OK;
}
