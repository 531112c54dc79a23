/*
 * berth: the command-line client (virsh's role). Every command is one or a
 * few requests to berthd's API; output follows virsh's so scripts written for
 * one read the other. Exit status: 0 on success, 1 on any error.
 */
#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct command commands[] = {
    {"list", cmd_list, "list domains", "[--all] [--inactive] [--name] [--uuid]"},
    {"define", cmd_define, "define a domain from an XML file", "FILE"},
    {"undefine", cmd_undefine, "remove a domain's definition", "DOMAIN"},
    {"create", cmd_create, "start a transient domain from an XML file", "FILE [--console]"},
    {"start", cmd_start, "start a defined domain", "DOMAIN [--console]"},
    {"shutdown", cmd_shutdown, "ask the guest to power off (ACPI)", "DOMAIN"},
    {"destroy", cmd_destroy, "stop a domain now", "DOMAIN"},
    {"reboot", cmd_reboot, "ask the guest to reboot (power off, then start)", "DOMAIN"},
    {"reset", cmd_reset, "reset a domain as if the reset line were pulled", "DOMAIN"},
    {"suspend", cmd_suspend, "pause a domain's vCPUs", "DOMAIN"},
    {"resume", cmd_resume, "resume a paused domain", "DOMAIN"},
    {"autostart", cmd_autostart, "start a domain with berthd", "DOMAIN [--disable]"},
    {"dominfo", cmd_dominfo, "domain information", "DOMAIN"},
    {"domstate", cmd_domstate, "domain state", "DOMAIN [--reason]"},
    {"dumpxml", cmd_dumpxml, "domain XML", "DOMAIN [--inactive]"},
    {"domblklist", cmd_domblklist, "the domain's disks", "DOMAIN [--details]"},
    {"domiflist", cmd_domiflist, "the domain's network interfaces", "DOMAIN"},
    {"console", cmd_console, "attach to the serial console (Ctrl+] detaches)", "DOMAIN"},
    {"edit", cmd_edit, "edit a domain's XML with $EDITOR", "DOMAIN"},
    {"nodeinfo", cmd_nodeinfo, "host CPUs, memory, reserve and what VMs hold", ""},
    {"create-vm", cmd_create_vm, "write and define a domain (virt-install's job)",
     "NAME --memory SIZE [--vcpus N] --kernel PATH [--initrd PATH] [--append STR]\n"
     "            [--disk PATH[,format=raw|qcow2][,readonly]]... "
     "[--network user|bridge=BR|network=NET]...\n"
     "            [--virt-type kvm|qemu] [--console pty|file:PATH|unix:PATH|none]\n"
     "            [--on-poweroff A] [--on-reboot A] [--on-crash A] [--print-xml] [--start]"},
    {"version", cmd_version, "berthd's version and instance", ""},
    {"net-define", cmd_net_define, "define a virtual network from an XML file", "FILE"},
    {"net-undefine", cmd_net_undefine, "remove an inactive network's definition", "NETWORK"},
    {"net-start", cmd_net_start, "start a network (bridge, DHCP, NAT)", "NETWORK"},
    {"net-destroy", cmd_net_destroy, "stop a network", "NETWORK"},
    {"net-list", cmd_net_list, "list networks", "[--all] [--inactive]"},
    {"net-dumpxml", cmd_net_dumpxml, "network XML", "NETWORK"},
    {"net-autostart", cmd_net_autostart, "start a network with berthd", "NETWORK [--disable]"},
    {"net-info", cmd_net_info, "network information", "NETWORK"},
};

/* berth --help */
static void usage(FILE *out)
{
	fprintf(out, "Usage: berth [-c URI] [-r] COMMAND [ARGS]\n\n"
		     "  -c, --connect URI   berth:///system or berth:///session (optionally\n"
		     "                      ?socket=PATH), or the path of berthd's socket\n"
		     "  -r, --readonly      use the read-only socket\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'berth help COMMAND' shows a command's arguments.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Global options, then the command. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"readonly", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *uri = NULL;
	bool read_only = false;
	const struct command *cmd;
	struct client *c;
	int opt, ret;

	log_init("berth", NULL);
	/* Stop at the command: its own options follow it. */
	while ((opt = getopt_long(argc, argv, "+c:rh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			uri = optarg;
			break;
		case 'r':
			read_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[optind], "help")) {
		if (optind + 1 < argc && (cmd = find_command(argv[optind + 1]))) {
			printf("berth %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
			return 0;
		}
		usage(stdout);
		return 0;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "error: unknown command: '%s' (see 'berth --help')\n",
			argv[optind]);
		return 1;
	}
	c = client_open(uri, read_only);
	optind++;
	ret = cmd->fn(c, argc - optind + 1, argv + optind - 1);
	client_close(c);
	return ret;
}
