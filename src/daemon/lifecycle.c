/*
 * Domain operations: what the API offers, on top of the domain list, the
 * definitions on disk, host admission and the hypervisor driver.
 */
#include "daemon/berthd.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/fileutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CRASH_RESTART_MAX 5
#define CRASH_QUICK_NS	  (10ULL * 1000000000ULL)

/* Look key up; the domain comes back referenced, or NULL with err set. */
static struct domain *lookup(struct berthd *d, const char *key, struct berr *err)
{
	struct domain *dom = domain_list_lookup(&d->domains, key);

	if (!dom)
		berr_set(err, BERR_NOT_FOUND, "domain '%s' not found", key);
	return dom;
}

/* Where a domain's definition lives. */
static char *config_path(struct berthd *d, const char *name)
{
	return xasprintf("%s/%s.xml", d->config_dir, name);
}

/* The marker that says a domain autostarts. */
static char *autostart_path(struct berthd *d, const char *name)
{
	return xasprintf("%s/%s", d->autostart_dir, name);
}

/* Write a definition to the configuration directory, atomically. */
static int save_def(struct berthd *d, const struct domain_def *def, struct berr *err)
{
	char *xml = domain_def_format(def), *path = config_path(d, def->name);
	int ret = atomic_write_file(path, xml, strlen(xml), 0600, err);

	free(xml);
	free(path);
	return ret;
}

/* A deep copy of a definition (through its XML: the document is the definition). */
static struct domain_def *copy_def(const struct domain_def *def, struct berr *err)
{
	char *xml = domain_def_format(def);
	struct domain_def *copy = domain_def_parse(xml, strlen(xml), NULL, err);

	free(xml);
	return copy;
}

/* Record a new state and its reason. */
static void set_state(struct domain *dom, enum dom_state state, const char *reason)
{
	pthread_mutex_lock(&dom->lock);
	dom->state = state;
	dom->reason = reason;
	pthread_mutex_unlock(&dom->lock);
}

/* The VM is gone (job held): give back its memory, forget the run, record the state. */
static void clear_run(struct berthd *d, struct domain *dom, enum dom_state state,
		      const char *reason)
{
	struct domain_def *live;

	node_release(d, dom);
	pthread_mutex_lock(&dom->lock);
	dom->state = state;
	dom->reason = reason;
	dom->id = -1;
	live = dom->live;
	dom->live = NULL;
	pthread_mutex_unlock(&dom->lock);
	domain_def_free(live);
	dom->fake_reboot = false;
}

/* The VM is gone (job held): back to inactive, forget a transient domain. */
static void set_inactive(struct berthd *d, struct domain *dom, enum dom_state state,
			 const char *reason)
{
	clear_run(d, dom, state, reason);
	if (!dom->persistent && state == DOM_STATE_SHUTOFF)
		domain_list_remove(&d->domains, dom);
}

/* Start dom's VM (job held): admission, then the driver. */
static int do_start(struct berthd *d, struct domain *dom, struct berr *err)
{
	struct domain_def *live;

	pthread_mutex_lock(&dom->lock);
	live = copy_def(dom->def, err);
	pthread_mutex_unlock(&dom->lock);
	if (!live)
		return -1;
	if (node_admit(d, dom, live->memory, err) < 0) {
		domain_def_free(live);
		return -1;
	}
	pthread_mutex_lock(&dom->lock);
	dom->live = live;
	dom->id = atomic_fetch_add(&d->next_id, 1);
	pthread_mutex_unlock(&dom->lock);
	if (d->drv->start(d, dom, err) < 0) {
		pthread_mutex_lock(&dom->lock);
		dom->live = NULL;
		dom->id = -1;
		pthread_mutex_unlock(&dom->lock);
		domain_def_free(live);
		node_release(d, dom);
		return -1;
	}
	dom->started_ns = clock_ns();
	set_state(dom, DOM_STATE_RUNNING, "booted");
	log_info("domain %s started (id %d)", dom->name, dom->id);
	return 0;
}

/* Take the job of a domain that is still listed; fails if it was undefined meanwhile. */
static int job_begin(struct domain *dom, struct berr *err)
{
	bool listed;

	pthread_mutex_lock(&dom->job);
	pthread_mutex_lock(&dom->lock);
	listed = dom->listed;
	pthread_mutex_unlock(&dom->lock);
	if (!listed) {
		pthread_mutex_unlock(&dom->job);
		berr_set(err, BERR_NOT_FOUND, "domain '%s' not found", dom->name);
		return -1;
	}
	return 0;
}

/* Release a domain's job. */
static void job_end(struct domain *dom)
{
	pthread_mutex_unlock(&dom->job);
}

/* Fail unless the domain has a running or paused VM. */
static int require_active(struct domain *dom, struct berr *err)
{
	if (!domain_is_active(dom)) {
		berr_set(err, BERR_CONFLICT, "domain '%s' is not running", dom->name);
		return -1;
	}
	return 0;
}

/* A VM ended: apply on_poweroff / on_crash (job held). */
void dom_process_ended(struct berthd *d, struct domain *dom, enum dom_exit how)
{
	bool restart = false, quick = clock_ns() - dom->started_ns < CRASH_QUICK_NS;
	enum dom_state state = DOM_STATE_SHUTOFF;
	const char *reason = "shutdown";
	struct berr err = {0};

	switch (how) {
	case DOM_EXIT_POWEROFF:
		restart =
		    dom->fake_reboot || (dom->live && dom->live->on_poweroff == DOM_ACTION_RESTART);
		break;
	case DOM_EXIT_SHUTDOWN:
	case DOM_EXIT_RESET:
		restart = dom->fake_reboot;
		break;
	case DOM_EXIT_CRASHED:
		reason = "crashed";
		restart = dom->live && dom->live->on_crash == DOM_ACTION_RESTART;
		if (dom->live && dom->live->on_crash == DOM_ACTION_PRESERVE)
			state = DOM_STATE_CRASHED;
		dom->restarts = quick ? dom->restarts + 1 : 0;
		if (restart && dom->restarts > CRASH_RESTART_MAX) {
			log_error("domain %s crashed %d times in a row right after starting: "
				  "not restarting it",
				  dom->name, dom->restarts);
			restart = false;
		}
		break;
	}
	log_info("domain %s %s%s", dom->name, how == DOM_EXIT_CRASHED ? "crashed" : "stopped",
		 restart ? ", restarting it" : "");
	/* A transient domain that restarts must stay listed: keep it active in between. */
	if (restart) {
		clear_run(d, dom, DOM_STATE_SHUTOFF, reason);
		if (do_start(d, dom, &err) == 0)
			return;
		log_error("domain %s: restarting: %s", dom->name, err.msg);
	}
	set_inactive(d, dom, state, reason);
}

/* Record a VM found running at start-up (no job: the API is not serving yet). */
int dom_adopted(struct berthd *d, struct domain_def *live, bool paused, int id, struct domain **out,
		struct berr *err)
{
	struct domain *dom = domain_list_find(&d->domains, live->name, live->uuid);

	if (dom && (strcmp(dom->name, live->name) || memcmp(dom->uuid, live->uuid, 16))) {
		berr_set(err, BERR_CONFLICT,
			 "running VM '%s' does not match the definition of domain '%s'", live->name,
			 dom->name);
		domain_unref(dom);
		return -1;
	}
	if (!dom) {
		struct domain_def *def = copy_def(live, err);
		if (!def)
			return -1;
		dom = domain_new(def, false);
		if (domain_list_add(&d->domains, dom, err) < 0) {
			domain_unref(dom);
			return -1;
		}
	}
	if (node_admit(d, dom, live->memory, err) < 0)
		log_warn("domain %s: running beyond the host's limit: %s", dom->name, err->msg);
	pthread_mutex_lock(&dom->lock);
	dom->live = live;
	dom->id = id;
	dom->state = paused ? DOM_STATE_PAUSED : DOM_STATE_RUNNING;
	dom->reason = paused ? "user" : "booted";
	pthread_mutex_unlock(&dom->lock);
	dom->started_ns = clock_ns();
	if (id >= atomic_load(&d->next_id))
		atomic_store(&d->next_id, id + 1);
	*out = dom;
	return 0;
}

/* Load every persistent definition; a broken file is reported and skipped. */
int berthd_init_domains(struct berthd *d)
{
	DIR *dir = opendir(d->config_dir);
	struct dirent *e;

	if (!dir) {
		log_error("reading %s: %s", d->config_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		struct berr err = {0};
		struct domain_def *def;
		struct domain *dom;
		char *path, *xml, *as;
		size_t xml_len;

		if (len < 5 || strcmp(e->d_name + len - 4, ".xml") || e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", d->config_dir, e->d_name);
		xml = read_file(path, &xml_len);
		if (!xml) {
			log_error("reading %s: %s", path, strerror(errno));
			free(path);
			continue;
		}
		def = domain_def_parse(xml, xml_len, NULL, &err);
		free(xml);
		if (def && (strlen(def->name) != len - 4 || strncmp(def->name, e->d_name, len - 4)))
			berr_set(&err, BERR_INVALID, "it defines domain '%s'", def->name);
		if (berr_isset(&err)) {
			log_error("definition %s skipped: %s", path, err.msg);
			domain_def_free(def);
			free(path);
			continue;
		}
		dom = domain_new(def, true);
		as = autostart_path(d, def->name);
		dom->autostart = access(as, F_OK) == 0;
		free(as);
		if (domain_list_add(&d->domains, dom, &err) < 0)
			log_error("definition %s skipped: %s", path, err.msg);
		domain_unref(dom);
		free(path);
	}
	closedir(dir);
	d->drv->adopt_all(d);
	return 0;
}

/* Start every inactive persistent domain marked autostart. */
void berthd_autostart(struct berthd *d)
{
	size_t n;
	struct domain **doms = domain_list_snapshot(&d->domains, &n);

	for (size_t i = 0; i < n; i++) {
		struct berr err = {0};
		bool want;

		pthread_mutex_lock(&doms[i]->lock);
		want = doms[i]->autostart && doms[i]->persistent;
		pthread_mutex_unlock(&doms[i]->lock);
		if (!want || domain_is_active(doms[i]))
			continue;
		if (dom_start(d, doms[i]->name, &err) < 0)
			log_error("autostart of domain %s failed: %s", doms[i]->name, err.msg);
	}
	domain_list_free_snapshot(doms, n);
}

/* One row of the list. */
static json_t *dom_summary(struct domain *dom)
{
	char uuid[DOM_UUID_STRLEN];
	json_t *o;

	uuid_format(dom->uuid, uuid);
	pthread_mutex_lock(&dom->lock);
	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "name", dom->name, "uuid", uuid, "state",
		      dom_state_name(dom->state), "reason", dom->reason, "persistent",
		      dom->persistent, "autostart", dom->autostart);
	/* A domain being started has an id already, but is not running yet. */
	json_object_set_new(o, "id",
			    dom->id >= 0 && dom->state != DOM_STATE_SHUTOFF &&
				    dom->state != DOM_STATE_CRASHED
				? json_integer(dom->id)
				: json_null());
	pthread_mutex_unlock(&dom->lock);
	return o;
}

/* The list endpoint: active domains, or all of them. */
json_t *dom_list(struct berthd *d, bool all)
{
	size_t n;
	struct domain **doms = domain_list_snapshot(&d->domains, &n);
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		if (all || domain_is_active(doms[i]))
			json_array_append_new(arr, dom_summary(doms[i]));
	domain_list_free_snapshot(doms, n);
	return arr;
}

/* Warnings as a JSON array of strings. */
static json_t *warnings_json(struct strlist *w)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < w->count; i++)
		json_array_append_new(arr, json_string(w->items[i]));
	return arr;
}

/* Define a domain, or redefine an existing one with the same name and UUID. */
int dom_define(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err)
{
	struct strlist warnings = {0};
	struct domain_def *def = domain_def_parse(xml, len, &warnings, err);
	struct domain *dom = NULL;
	char uuid[DOM_UUID_STRLEN];
	int ret = -1;

	if (!def)
		return -1;
	uuid_format(def->uuid, uuid);
	pthread_mutex_lock(&d->define_lock);
	dom = domain_list_find(&d->domains, def->name, def->uuid);
	if (dom && strcmp(dom->name, def->name)) {
		berr_set(err, BERR_CONFLICT, "domain '%s' already has UUID %s", dom->name, uuid);
		goto out;
	}
	if (dom && memcmp(dom->uuid, def->uuid, 16)) {
		char other[DOM_UUID_STRLEN];
		uuid_format(dom->uuid, other);
		berr_set(err, BERR_CONFLICT, "domain '%s' already exists with UUID %s", dom->name,
			 other);
		goto out;
	}
	if (dom) {
		/* A new definition of an existing domain: used from its next start. */
		if (job_begin(dom, err) < 0)
			goto out;
		if (save_def(d, def, err) == 0) {
			struct domain_def *old;
			pthread_mutex_lock(&dom->lock);
			old = dom->def;
			dom->def = def;
			dom->persistent = true;
			pthread_mutex_unlock(&dom->lock);
			domain_def_free(old);
			def = NULL;
			ret = 0;
		}
		job_end(dom);
	} else {
		if (save_def(d, def, err) < 0)
			goto out;
		dom = domain_new(def, true);
		def = NULL;
		if (domain_list_add(&d->domains, dom, err) < 0) {
			char *path = config_path(d, dom->name);
			remove_file_durable(path, NULL);
			free(path);
			goto out;
		}
		ret = 0;
	}
	if (ret == 0) {
		log_info("domain %s defined", dom->name);
		*result = json_pack("{s:s,s:s,s:o}", "name", dom->name, "uuid", uuid, "warnings",
				    warnings_json(&warnings));
	}
out:
	pthread_mutex_unlock(&d->define_lock);
	domain_unref(dom);
	domain_def_free(def);
	strlist_clear(&warnings);
	return ret;
}

/* Define a transient domain and start it. */
int dom_create(struct berthd *d, const char *xml, size_t len, json_t **result, struct berr *err)
{
	struct strlist warnings = {0};
	struct domain_def *def = domain_def_parse(xml, len, &warnings, err);
	struct domain *dom;
	char uuid[DOM_UUID_STRLEN];
	int ret = -1;

	if (!def)
		return -1;
	uuid_format(def->uuid, uuid);
	dom = domain_new(def, false);
	pthread_mutex_lock(&d->define_lock);
	if (domain_list_add(&d->domains, dom, err) < 0) {
		pthread_mutex_unlock(&d->define_lock);
		goto out;
	}
	pthread_mutex_lock(&dom->job);
	pthread_mutex_unlock(&d->define_lock);
	if (do_start(d, dom, err) < 0)
		domain_list_remove(&d->domains, dom);
	else
		ret = 0;
	pthread_mutex_unlock(&dom->job);
	if (ret == 0)
		*result = json_pack("{s:s,s:s,s:i,s:o}", "name", dom->name, "uuid", uuid, "id",
				    dom->id, "warnings", warnings_json(&warnings));
out:
	domain_unref(dom);
	strlist_clear(&warnings);
	return ret;
}

/* Remove a persistent definition (a running domain becomes transient). */
int dom_undefine(struct berthd *d, const char *key, struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	char *path = NULL, *as = NULL;
	int ret = -1;

	if (!dom)
		return -1;
	pthread_mutex_lock(&d->define_lock);
	if (job_begin(dom, err) < 0)
		goto out_unlock;
	if (!dom->persistent) {
		berr_set(err, BERR_CONFLICT,
			 "domain '%s' is transient: it has no definition to remove", dom->name);
		goto out;
	}
	as = autostart_path(d, dom->name);
	path = config_path(d, dom->name);
	if (remove_file_durable(as, err) < 0 || remove_file_durable(path, err) < 0)
		goto out;
	pthread_mutex_lock(&dom->lock);
	dom->persistent = false;
	dom->autostart = false;
	pthread_mutex_unlock(&dom->lock);
	/* A running domain stays, as a transient one, until it stops. */
	if (!domain_is_active(dom))
		domain_list_remove(&d->domains, dom);
	log_info("domain %s undefined", dom->name);
	ret = 0;
out:
	job_end(dom);
out_unlock:
	pthread_mutex_unlock(&d->define_lock);
	free(as);
	free(path);
	domain_unref(dom);
	return ret;
}

/*
 * The frame of an operation on one domain: look it up, take its job, check
 * that it is active when active_only, run fn, release the job.
 */
static int job_op(struct berthd *d, const char *key, bool active_only,
		  int (*fn)(struct berthd *d, struct domain *dom, struct berr *err),
		  struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	int ret = -1;

	if (!dom)
		return -1;
	if (job_begin(dom, err) == 0) {
		if (!active_only || require_active(dom, err) == 0)
			ret = fn(d, dom, err);
		job_end(dom);
	}
	domain_unref(dom);
	return ret;
}

/* Start an inactive domain. */
static int op_start(struct berthd *d, struct domain *dom, struct berr *err)
{
	if (domain_is_active(dom)) {
		berr_set(err, BERR_CONFLICT, "domain '%s' is already active", dom->name);
		return -1;
	}
	return do_start(d, dom, err);
}

/* Stop the VM now (or clear a preserved crash: nothing runs, just the state). */
static int op_destroy(struct berthd *d, struct domain *dom, struct berr *err)
{
	bool crashed;

	pthread_mutex_lock(&dom->lock);
	crashed = dom->state == DOM_STATE_CRASHED;
	pthread_mutex_unlock(&dom->lock);
	if (!crashed && (require_active(dom, err) < 0 || d->drv->destroy(d, dom, err) < 0))
		return -1;
	set_inactive(d, dom, DOM_STATE_SHUTOFF, "destroyed");
	if (!crashed)
		log_info("domain %s destroyed", dom->name);
	return 0;
}

/* Ask the guest to power off. */
static int op_shutdown(struct berthd *d, struct domain *dom, struct berr *err)
{
	return d->drv->shutdown(d, dom, err);
}

/* Power off, then start again once the guest has (fake reboot, as libvirt). */
static int op_reboot(struct berthd *d, struct domain *dom, struct berr *err)
{
	if (d->drv->shutdown(d, dom, err) < 0)
		return -1;
	dom->fake_reboot = true;
	return 0;
}

/* Reset the machine now. */
static int op_reset(struct berthd *d, struct domain *dom, struct berr *err)
{
	return d->drv->reset(d, dom, err);
}

/* Pause the vCPUs. */
static int op_suspend(struct berthd *d, struct domain *dom, struct berr *err)
{
	if (d->drv->suspend(d, dom, err) < 0)
		return -1;
	set_state(dom, DOM_STATE_PAUSED, "user");
	return 0;
}

/* Resume the vCPUs. */
static int op_resume(struct berthd *d, struct domain *dom, struct berr *err)
{
	if (d->drv->resume(d, dom, err) < 0)
		return -1;
	set_state(dom, DOM_STATE_RUNNING, "unpaused");
	return 0;
}

/* The start endpoint. */
int dom_start(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, false, op_start, err);
}

/* The destroy endpoint. */
int dom_destroy(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, false, op_destroy, err);
}

/* The shutdown endpoint. */
int dom_shutdown(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, true, op_shutdown, err);
}

/* The reboot endpoint. */
int dom_reboot(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, true, op_reboot, err);
}

/* The reset endpoint. */
int dom_reset(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, true, op_reset, err);
}

/* The suspend endpoint. */
int dom_suspend(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, true, op_suspend, err);
}

/* The resume endpoint. */
int dom_resume(struct berthd *d, const char *key, struct berr *err)
{
	return job_op(d, key, true, op_resume, err);
}

/* Mark or unmark a persistent domain for autostart. */
int dom_set_autostart(struct berthd *d, const char *key, bool on, struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	char *path = NULL;
	int ret = -1;

	if (!dom)
		return -1;
	if (job_begin(dom, err) < 0)
		goto out;
	if (!dom->persistent) {
		berr_set(err, BERR_CONFLICT, "domain '%s' is transient: it cannot autostart",
			 dom->name);
		goto out_job;
	}
	path = autostart_path(d, dom->name);
	ret = on ? atomic_write_file(path, "", 0, 0600, err) : remove_file_durable(path, err);
	if (ret == 0) {
		pthread_mutex_lock(&dom->lock);
		dom->autostart = on;
		pthread_mutex_unlock(&dom->lock);
	}
out_job:
	job_end(dom);
out:
	free(path);
	domain_unref(dom);
	return ret;
}

/* The live definition, or the persistent one. */
char *dom_get_xml(struct berthd *d, const char *key, bool inactive, struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	char *xml;

	if (!dom)
		return NULL;
	pthread_mutex_lock(&dom->lock);
	xml = domain_def_format(dom->live && !inactive ? dom->live : dom->def);
	pthread_mutex_unlock(&dom->lock);
	domain_unref(dom);
	return xml;
}

/* Everything dominfo, domblklist and domiflist show. */
static json_t *def_json(const struct domain_def *def)
{
	json_t *disks = json_array(), *nets = json_array(), *o;

	for (size_t i = 0; i < def->ndisks; i++)
		json_array_append_new(
		    disks, json_pack("{s:s,s:s,s:s,s:s,s:b}", "target", def->disks[i].target,
				     "source", def->disks[i].file, "format",
				     dom_disk_format_name(def->disks[i].format), "bus", "virtio",
				     "readonly", def->disks[i].readonly));
	for (size_t i = 0; i < def->nnets; i++) {
		json_t *n = json_pack("{s:s,s:s,s:s}", "type", dom_net_type_name(def->nets[i].type),
				      "model", "virtio", "mac", def->nets[i].mac);
		json_object_set_new(n, "source",
				    def->nets[i].source ? json_string(def->nets[i].source)
							: json_null());
		json_array_append_new(nets, n);
	}
	o = json_pack("{s:s,s:s,s:I,s:I,s:i,s:s,s:s,s:s,s:o,s:o}", "virt_type",
		      def->virt == DOM_VIRT_KVM ? "kvm" : "qemu", "os_type", "hvm", "memory",
		      (json_int_t)def->memory, "current_memory", (json_int_t)def->current_memory,
		      "vcpus", def->vcpus, "on_poweroff", dom_action_name(def->on_poweroff),
		      "on_reboot", dom_action_name(def->on_reboot), "on_crash",
		      dom_action_name(def->on_crash), "disks", disks, "interfaces", nets);
	json_object_set_new(o, "title", def->title ? json_string(def->title) : json_null());
	json_object_set_new(o, "description",
			    def->description ? json_string(def->description) : json_null());
	json_object_set_new(o, "serial",
			    json_pack("{s:s,s:s*}", "type", dom_chr_type_name(def->serial.type),
				      "path", def->serial.path));
	return o;
}

/* Everything known about one domain. */
json_t *dom_info(struct berthd *d, const char *key, struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	json_t *o, *conf, *run = NULL;

	if (!dom)
		return NULL;
	o = dom_summary(dom);
	pthread_mutex_lock(&dom->lock);
	conf = def_json(dom->live ? dom->live : dom->def);
	if (dom->priv && d->drv->run_info)
		run = d->drv->run_info(d, dom);
	pthread_mutex_unlock(&dom->lock);
	json_object_update(o, conf);
	json_decref(conf);
	json_object_set_new(o, "run", run ? run : json_null());
	domain_unref(dom);
	return o;
}

/* The serial console's socket path of a running domain. */
char *dom_console(struct berthd *d, const char *key, struct berr *err)
{
	struct domain *dom = lookup(d, key, err);
	char *path = NULL;

	if (!dom)
		return NULL;
	pthread_mutex_lock(&dom->lock);
	if (!dom->priv)
		berr_set(err, BERR_CONFLICT, "domain '%s' is not running", dom->name);
	else
		d->drv->console_path(d, dom, &path, err);
	pthread_mutex_unlock(&dom->lock);
	domain_unref(dom);
	return path;
}
