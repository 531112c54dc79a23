#include "daemon/domain.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new inactive domain owning def, with one reference. */
struct domain *domain_new(struct domain_def *def, bool persistent)
{
	struct domain *dom = xcalloc(1, sizeof(*dom));

	pthread_mutex_init(&dom->job, NULL);
	pthread_mutex_init(&dom->lock, NULL);
	atomic_init(&dom->refs, 1);
	dom->def = def;
	snprintf(dom->name, sizeof(dom->name), "%s", def->name);
	memcpy(dom->uuid, def->uuid, 16);
	dom->persistent = persistent;
	dom->state = DOM_STATE_SHUTOFF;
	dom->reason = "unknown";
	dom->id = -1;
	return dom;
}

/* Take a reference. */
struct domain *domain_ref(struct domain *dom)
{
	atomic_fetch_add(&dom->refs, 1);
	return dom;
}

/* Drop a reference; the last one frees the domain. */
void domain_unref(struct domain *dom)
{
	if (!dom || atomic_fetch_sub(&dom->refs, 1) != 1)
		return;
	domain_def_free(dom->def);
	domain_def_free(dom->live);
	pthread_mutex_destroy(&dom->job);
	pthread_mutex_destroy(&dom->lock);
	free(dom);
}

/* Does the domain have a VM (running or paused)? */
bool domain_is_active(struct domain *dom)
{
	bool active;

	pthread_mutex_lock(&dom->lock);
	active = dom->state == DOM_STATE_RUNNING || dom->state == DOM_STATE_PAUSED;
	pthread_mutex_unlock(&dom->lock);
	return active;
}

/* The state as virsh prints it. */
const char *dom_state_name(enum dom_state s)
{
	static const char *const names[] = {"shut off", "running", "paused", "crashed"};
	return names[s];
}

/* An empty domain list. */
void domain_list_init(struct domain_list *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->items = NULL;
	l->count = 0;
}

/* Drop every domain of the list. */
void domain_list_destroy(struct domain_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		domain_unref(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
	pthread_mutex_destroy(&l->lock);
}

/* Does dom answer to key (name, UUID, or id while active)? Called with the list lock. */
static bool domain_matches(struct domain *dom, const char *key, const unsigned char *uuid, long id)
{
	bool match;

	pthread_mutex_lock(&dom->lock);
	match = !strcmp(dom->name, key) || (uuid && !memcmp(dom->uuid, uuid, 16)) ||
		(id >= 0 && dom->id == id);
	pthread_mutex_unlock(&dom->lock);
	return match;
}

/* Find a domain by name, UUID or id. */
struct domain *domain_list_lookup(struct domain_list *l, const char *key)
{
	unsigned char uuid[16];
	bool is_uuid = uuid_parse(key, uuid) == 0;
	char *end;
	long id = strtol(key, &end, 10);
	struct domain *found = NULL;

	if (!*key || *end || id < 0)
		id = -1;
	pthread_mutex_lock(&l->lock);
	/* A name match wins over an id match, as in virsh. */
	for (size_t i = 0; i < l->count && !found; i++)
		if (domain_matches(l->items[i], key, is_uuid ? uuid : NULL, -1))
			found = l->items[i];
	for (size_t i = 0; i < l->count && !found && id >= 0; i++)
		if (domain_matches(l->items[i], "", NULL, id))
			found = l->items[i];
	if (found)
		domain_ref(found);
	pthread_mutex_unlock(&l->lock);
	return found;
}

/* Find a domain by exact name or UUID (for conflicts). */
struct domain *domain_list_find(struct domain_list *l, const char *name,
				const unsigned char uuid[16])
{
	struct domain *found = NULL;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->count && !found; i++)
		if (!strcmp(l->items[i]->name, name) || !memcmp(l->items[i]->uuid, uuid, 16))
			found = domain_ref(l->items[i]);
	pthread_mutex_unlock(&l->lock);
	return found;
}

/* Add a domain whose name and UUID are free. */
int domain_list_add(struct domain_list *l, struct domain *dom, struct berr *err)
{
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->count; i++) {
		struct domain *o = l->items[i];
		if (!strcmp(o->name, dom->name))
			berr_set(err, BERR_CONFLICT, "domain '%s' already exists", dom->name);
		else if (!memcmp(o->uuid, dom->uuid, 16))
			berr_set(err, BERR_CONFLICT, "domain '%s' already has this UUID", o->name);
		if (berr_isset(err)) {
			ret = -1;
			goto out;
		}
	}
	l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count++] = domain_ref(dom);
	pthread_mutex_lock(&dom->lock);
	dom->listed = true;
	pthread_mutex_unlock(&dom->lock);
out:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/* Take a domain out of the list (dropping the list's reference). */
void domain_list_remove(struct domain_list *l, struct domain *dom)
{
	bool found = false;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i] == dom) {
			memmove(&l->items[i], &l->items[i + 1], (l->count - i - 1) * sizeof(dom));
			l->count--;
			found = true;
			break;
		}
	if (found) {
		pthread_mutex_lock(&dom->lock);
		dom->listed = false;
		pthread_mutex_unlock(&dom->lock);
	}
	pthread_mutex_unlock(&l->lock);
	if (found)
		domain_unref(dom);
}

/* qsort order: by name. */
static int cmp_by_name(const void *a, const void *b)
{
	const struct domain *x = *(struct domain *const *)a, *y = *(struct domain *const *)b;
	return strcmp(x->name, y->name);
}

/* Referenced copies of every listed domain, sorted by name. */
struct domain **domain_list_snapshot(struct domain_list *l, size_t *count)
{
	struct domain **doms;

	pthread_mutex_lock(&l->lock);
	doms = xmalloc((l->count ? l->count : 1) * sizeof(*doms));
	for (size_t i = 0; i < l->count; i++)
		doms[i] = domain_ref(l->items[i]);
	*count = l->count;
	pthread_mutex_unlock(&l->lock);
	qsort(doms, *count, sizeof(*doms), cmp_by_name);
	return doms;
}

/* Release a snapshot. */
void domain_list_free_snapshot(struct domain **doms, size_t count)
{
	for (size_t i = 0; i < count; i++)
		domain_unref(doms[i]);
	free(doms);
}
