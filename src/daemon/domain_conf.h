/*
 * Domain definitions: libvirt domain XML read and written with libxml2.
 *
 * domain_def_parse() checks a document against what berth honours and fills a
 * struct domain_def with it. The document itself is kept (def->doc): elements
 * berth has no use for stay in it and are named in warnings, so dumpxml gives
 * back what was defined (plus a generated uuid and MAC addresses where they
 * were missing). Anything berth cannot honour is refused with an error that
 * names it. Nothing is dropped silently.
 */
#ifndef BERTH_DAEMON_DOMAIN_CONF_H
#define BERTH_DAEMON_DOMAIN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "daemon/error.h"

#define DOM_NAME_MAX	64
#define DOM_VCPUS_MAX	64
#define DOM_UUID_STRLEN 37 /* with the terminating NUL */

enum dom_virt { DOM_VIRT_KVM, DOM_VIRT_QEMU };
enum dom_action { DOM_ACTION_DESTROY, DOM_ACTION_RESTART, DOM_ACTION_PRESERVE };
enum dom_disk_format { DOM_DISK_RAW, DOM_DISK_QCOW2 };
enum dom_net_type { DOM_NET_USER, DOM_NET_NETWORK, DOM_NET_BRIDGE };
enum dom_chr_type { DOM_CHR_NONE, DOM_CHR_PTY, DOM_CHR_FILE, DOM_CHR_UNIX };

struct dom_disk {
	char *file;   /* absolute path of the image */
	char *target; /* "vda" */
	enum dom_disk_format format;
	bool readonly;
};

struct dom_net {
	enum dom_net_type type;
	char *source; /* network or bridge name; NULL for user */
	char mac[18]; /* "52:54:00:xx:xx:xx" */
};

/* The serial port (COM1); <console> is another view of it. */
struct dom_chr {
	enum dom_chr_type type;
	char *path; /* file or unix socket path; NULL for pty */
};

struct domain_def {
	enum dom_virt virt;
	char *name;
	unsigned char uuid[16];
	char *title, *description;
	uint64_t memory;	 /* bytes (<memory>) */
	uint64_t current_memory; /* bytes (<currentMemory>, or memory) */
	unsigned vcpus;
	char *kernel, *initrd, *cmdline;
	enum dom_action on_poweroff, on_reboot, on_crash;
	struct dom_disk *disks;
	size_t ndisks;
	struct dom_net *nets;
	size_t nnets;
	struct dom_chr serial;
	xmlDocPtr doc; /* the whole document, as stored and dumped */
};

/* A growing list of messages (the warnings of a parse). */
struct strlist {
	char **items;
	size_t count;
};
void strlist_add(struct strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strlist_clear(struct strlist *l);

/*
 * Parse and check a definition. Warnings (may be NULL) receive one line per
 * element kept without effect. Returns NULL with err set on any problem.
 */
struct domain_def *domain_def_parse(const char *xml, size_t len, struct strlist *warnings,
				    struct berr *err);
/* The document as XML text (no declaration, indented). Caller frees. */
char *domain_def_format(const struct domain_def *def);
void domain_def_free(struct domain_def *def);

/* Is name usable as a domain name (also a file name)? */
bool domain_name_valid(const char *name);

void uuid_format(const unsigned char uuid[16], char out[DOM_UUID_STRLEN]);
/* Accepts the 36-character form (and 32 hex digits). Returns 0 or -1. */
int uuid_parse(const char *s, unsigned char out[16]);
/* A random (version 4) UUID. */
int uuid_generate(unsigned char out[16], struct berr *err);

const char *dom_action_name(enum dom_action a);
const char *dom_disk_format_name(enum dom_disk_format f);
const char *dom_net_type_name(enum dom_net_type t);
const char *dom_chr_type_name(enum dom_chr_type t);

#endif
