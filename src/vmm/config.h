/* berth-vmm's command line, parsed into one struct (QEMU-like options). */
#ifndef BERTH_VMM_CONFIG_H
#define BERTH_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#define VMM_MAX_DISKS 16
#define VMM_MAX_NETS  8
#define VMM_NET_SPEC_MAX 256

struct vmm_disk_config {
	const char *path;
	const char *format; /* "raw" or "qcow2"; NULL: raw */
	bool readonly;
};

struct vmm_net_config {
	/* The back end: "user[,hostfwd=...]" or "tap,ifname=NAME" (without mac=). */
	char spec[VMM_NET_SPEC_MAX];
	bool has_mac; /* mac=XX:XX:XX:XX:XX:XX was given */
	uint8_t mac[6];
};

struct vmm_config {
	const char *name;
	const char *accel; /* "kvm", "soft" or "auto" */
	uint64_t memory;   /* bytes */
	int cpus;
	const char *kernel, *initrd, *append;
	const char *serial;  /* "stdio", "file:PATH", "unix:PATH", "null" */
	const char *control; /* control socket path or NULL */
	bool debug_exit;
	uint16_t debug_exit_port;
	unsigned debug_exit_size; /* 1, 2 or 4 bytes (QEMU's iosize) */
	bool no_reboot;
	struct vmm_disk_config disks[VMM_MAX_DISKS];
	int ndisks;
	struct vmm_net_config nets[VMM_MAX_NETS];
	int nnets;
	bool virtio_rng;            /* --device virtio-rng */
	const char *virtio_console; /* --device virtio-console[,chardev=SPEC]: SPEC, or NULL */
};

enum config_result { CONFIG_OK, CONFIG_HELP, CONFIG_ERROR };

/*
 * Parse argv into *cfg (defaults filled in). On CONFIG_ERROR, err holds one
 * line saying what is wrong. Strings in cfg point into argv (--net specs are
 * copied, their mac= option taken out).
 */
enum config_result config_parse(int argc, char **argv, struct vmm_config *cfg, char *err,
				size_t errlen);
void config_usage(FILE *out, const char *prog);

#endif
