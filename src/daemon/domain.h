/*
 * Domain objects: a definition plus its run-time state, reference counted and
 * kept in the daemon's domain list.
 *
 * Locking, outermost first: dom->job (held for a whole operation: start,
 * destroy, handling an exit...), then the list lock, then dom->lock (held
 * briefly to read or write the fields it protects). Never take the job of a
 * domain while holding its lock or the list lock.
 */
#ifndef BERTH_DAEMON_DOMAIN_H
#define BERTH_DAEMON_DOMAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/domain_conf.h"
#include "daemon/error.h"

enum dom_state {
	DOM_STATE_SHUTOFF,
	DOM_STATE_RUNNING,
	DOM_STATE_PAUSED,
	DOM_STATE_CRASHED, /* the VM process died and on_crash is preserve */
};

struct domain {
	pthread_mutex_t job;
	pthread_mutex_t lock;
	atomic_int refs;
	char name[DOM_NAME_MAX + 1]; /* never change: a redefinition keeps both */
	unsigned char uuid[16];

	/* Protected by lock (written with job held too). */
	struct domain_def *def;	 /* the definition (persistent, or the transient one) */
	struct domain_def *live; /* what the running VM was started with, else NULL */
	bool persistent;
	bool autostart;
	bool listed; /* still in the domain list */
	enum dom_state state;
	const char *reason; /* why it is in this state: "booted", "shutdown", "crashed"... */
	int id;		    /* -1 when inactive */

	/* Protected by job. */
	uint64_t mem_held;   /* host memory counted against the admission limit */
	bool fake_reboot;    /* a reboot request: start again when the guest powers off */
	unsigned restarts;   /* consecutive automatic restarts after quick crashes */
	uint64_t started_ns; /* clock_ns() when the VM last started */
	void *priv;	     /* the driver's per-run state */
};

struct domain *domain_new(struct domain_def *def, bool persistent);
struct domain *domain_ref(struct domain *dom);
void domain_unref(struct domain *dom);
bool domain_is_active(struct domain *dom); /* takes dom->lock */
const char *dom_state_name(enum dom_state s);

struct domain_list {
	pthread_mutex_t lock;
	struct domain **items;
	size_t count;
};

void domain_list_init(struct domain_list *l);
void domain_list_destroy(struct domain_list *l);
/* By name, UUID or (for an active domain) numeric id; a new reference or NULL. */
struct domain *domain_list_lookup(struct domain_list *l, const char *key);
/* Exactly by name or by UUID (either matching); a new reference or NULL. */
struct domain *domain_list_find(struct domain_list *l, const char *name,
				const unsigned char uuid[16]);
/* Add dom (taking a reference); fails if its name or UUID is taken. */
int domain_list_add(struct domain_list *l, struct domain *dom, struct berr *err);
void domain_list_remove(struct domain_list *l, struct domain *dom);
/* Every domain, each with a new reference; sorted by name. */
struct domain **domain_list_snapshot(struct domain_list *l, size_t *count);
void domain_list_free_snapshot(struct domain **doms, size_t count);

#endif
