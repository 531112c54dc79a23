/*
 * berthd's core: the daemon context, the hypervisor driver interface (a table
 * of function pointers, like libvirt's drivers) and the domain operations the
 * API server calls. Every operation returns 0 or -1 with err set.
 */
#ifndef BERTH_DAEMON_BERTHD_H
#define BERTH_DAEMON_BERTHD_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/domain.h"
#include "daemon/error.h"

struct berthd;
struct evloop;
struct network_table;

/*
 * A hypervisor driver: runs and controls the VMs of domains. Calls on a
 * domain are made with dom->job held, except console_path and run_info,
 * which are made with dom->lock held (and dom->priv set): the driver sets and
 * clears dom->priv under dom->lock.
 */
struct hv_driver {
	const char *name;
	/* Start the VM of dom->live; on success the domain is running. */
	int (*start)(struct berthd *d, struct domain *dom, struct berr *err);
	/* Ask the guest to power off (ACPI power button). */
	int (*shutdown)(struct berthd *d, struct domain *dom, struct berr *err);
	/* Stop the VM now; returns once its process is gone and cleaned up. */
	int (*destroy)(struct berthd *d, struct domain *dom, struct berr *err);
	int (*reset)(struct berthd *d, struct domain *dom, struct berr *err);
	int (*suspend)(struct berthd *d, struct domain *dom, struct berr *err);
	int (*resume)(struct berthd *d, struct domain *dom, struct berr *err);
	/* The UNIX socket of the serial console (caller frees). */
	int (*console_path)(struct berthd *d, struct domain *dom, char **path, struct berr *err);
	/* Details for dominfo: pid, accelerator... (a new object, or NULL). */
	json_t *(*run_info)(struct berthd *d, struct domain *dom);
	/* At start-up: take back the VMs that kept running while berthd was down. */
	void (*adopt_all)(struct berthd *d);
	/* At exit: let go of running VMs (they keep running). */
	void (*release_all)(struct berthd *d);
};

extern const struct hv_driver vmm_driver;

/* How a VM process ended, as the driver saw it. */
enum dom_exit {
	DOM_EXIT_POWEROFF, /* the guest powered off */
	DOM_EXIT_RESET,	   /* the machine reset and on_reboot is destroy (--no-reboot) */
	DOM_EXIT_SHUTDOWN, /* ended on request (quit, SIGTERM): not a guest action */
	DOM_EXIT_CRASHED,  /* died: a signal, a failure, or vanished while berthd was down */
};

struct node_info {
	char cpu_model[64];
	unsigned cpus;
	unsigned mhz;
	unsigned sockets, cores_per_socket, threads_per_core;
	uint64_t memory; /* bytes */
};

struct berthd {
	bool system;	     /* system instance (root) or a user's session */
	char *config_dir;    /* persistent definitions: NAME.xml */
	char *autostart_dir; /* NAME: present when the domain autostarts */
	char *net_config_dir;	 /* network definitions: NAME.xml */
	char *net_autostart_dir; /* NAME: present when the network autostarts */
	char *run_dir;	     /* sockets, state files of running VMs */
	char *log_dir;	     /* NAME.log: berth-vmm's output */
	char *vmm_path;	     /* the berth-vmm executable */
	uid_t owner;	     /* who may use the read-write socket (with root) */
	const struct hv_driver *drv;

	struct node_info node;
	uint64_t reserve; /* host memory kept back from VMs */
	pthread_mutex_t res_lock;
	uint64_t mem_running; /* memory held by active domains (res_lock) */

	struct domain_list domains;
	struct network_table *nets; /* network.c */
	pthread_mutex_t define_lock; /* serialises define, create and undefine */
	atomic_int next_id;

	/* Process supervision runs on this loop's thread. */
	struct evloop *loop;
	pthread_t loop_thread;
	atomic_bool stopping; /* berthd is exiting: VM exits are left to the next berthd */
	atomic_int exit_jobs; /* threads handling a VM exit right now */
};

/* node.c */
int node_info_read(struct node_info *n, struct berr *err);
/* Reserve memory for a domain about to start; fails with how much is free. */
int node_admit(struct berthd *d, struct domain *dom, uint64_t memory, struct berr *err);
void node_release(struct berthd *d, struct domain *dom);
json_t *node_info_json(struct berthd *d);

/* lifecycle.c: the operations of the API. key is a name, UUID or id. */
int berthd_init_domains(struct berthd *d);
void berthd_autostart(struct berthd *d);
json_t *dom_list(struct berthd *d, bool all);
int dom_define(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err);
int dom_create(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err);
int dom_undefine(struct berthd *d, const char *key, struct berr *err);
int dom_start(struct berthd *d, const char *key, struct berr *err);
int dom_shutdown(struct berthd *d, const char *key, struct berr *err);
int dom_destroy(struct berthd *d, const char *key, struct berr *err);
int dom_reboot(struct berthd *d, const char *key, struct berr *err);
int dom_reset(struct berthd *d, const char *key, struct berr *err);
int dom_suspend(struct berthd *d, const char *key, struct berr *err);
int dom_resume(struct berthd *d, const char *key, struct berr *err);
int dom_set_autostart(struct berthd *d, const char *key, bool on, struct berr *err);
char *dom_get_xml(struct berthd *d, const char *key, bool inactive, struct berr *err);
json_t *dom_info(struct berthd *d, const char *key, struct berr *err);
char *dom_console(struct berthd *d, const char *key, struct berr *err);

/*
 * Called by the driver, with dom->job held, when a VM process has ended and
 * the driver has cleaned up after it: applies on_poweroff / on_crash.
 */
void dom_process_ended(struct berthd *d, struct domain *dom, enum dom_exit how);
/* A running domain found again at start-up (driver's adopt_all, no job held). */
int dom_adopted(struct berthd *d, struct domain_def *live, bool paused, int id, struct domain **out,
		struct berr *err);

#endif
