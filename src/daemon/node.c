/*
 * Host resources: what the host has (CPUs, memory) and the admission rule:
 * the memory of active VMs may not exceed the host's memory minus a reserve.
 */
#include "daemon/berthd.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fill n from /proc/cpuinfo, /proc/meminfo and sysconf. */
int node_info_read(struct node_info *n, struct berr *err)
{
	FILE *f;
	char line[512];
	unsigned long long kib = 0;
	unsigned siblings = 0, cores = 0;
	char physical_ids[64] = {0};

	memset(n, 0, sizeof(*n));
	n->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	f = fopen("/proc/meminfo", "re");
	if (!f) {
		berr_set(err, BERR_INTERNAL, "reading /proc/meminfo: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	fclose(f);
	n->memory = kib * KiB;
	snprintf(n->cpu_model, sizeof(n->cpu_model), "x86_64");
	f = fopen("/proc/cpuinfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			double mhz;
			unsigned v;
			if (!n->mhz && sscanf(line, "cpu MHz : %lf", &mhz) == 1)
				n->mhz = (unsigned)mhz;
			else if (sscanf(line, "siblings : %u", &v) == 1)
				siblings = v;
			else if (sscanf(line, "cpu cores : %u", &v) == 1)
				cores = v;
			else if (sscanf(line, "physical id : %u", &v) == 1 &&
				 v < sizeof(physical_ids))
				physical_ids[v] = 1;
		}
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(physical_ids); i++)
		n->sockets += physical_ids[i];
	if (!n->sockets)
		n->sockets = 1;
	n->cores_per_socket = cores ? cores : n->cpus / n->sockets;
	n->threads_per_core = (cores && siblings >= cores) ? siblings / cores : 1;
	if (!n->cores_per_socket)
		n->cores_per_socket = 1;
	return 0;
}

/* Count a domain's memory against the limit, or refuse with what is free. */
int node_admit(struct berthd *d, struct domain *dom, uint64_t memory, struct berr *err)
{
	uint64_t limit = d->node.memory > d->reserve ? d->node.memory - d->reserve : 0;
	int ret = 0;

	pthread_mutex_lock(&d->res_lock);
	if (d->mem_running + memory > limit) {
		uint64_t free_mem = limit > d->mem_running ? limit - d->mem_running : 0;
		berr_set(err, BERR_NO_RESOURCES,
			 "not enough host memory to start '%s': it needs %llu MiB, %llu MiB free "
			 "(host %llu MiB - reserve %llu MiB - running VMs %llu MiB)",
			 dom->name, (unsigned long long)(memory / MiB),
			 (unsigned long long)(free_mem / MiB),
			 (unsigned long long)(d->node.memory / MiB),
			 (unsigned long long)(d->reserve / MiB),
			 (unsigned long long)(d->mem_running / MiB));
		ret = -1;
	} else {
		d->mem_running += memory;
		dom->mem_held = memory;
	}
	pthread_mutex_unlock(&d->res_lock);
	return ret;
}

/* Give back what a domain held (idempotent). */
void node_release(struct berthd *d, struct domain *dom)
{
	pthread_mutex_lock(&d->res_lock);
	d->mem_running -= dom->mem_held;
	dom->mem_held = 0;
	pthread_mutex_unlock(&d->res_lock);
}

/* The node endpoint. */
json_t *node_info_json(struct berthd *d)
{
	uint64_t limit = d->node.memory > d->reserve ? d->node.memory - d->reserve : 0;
	uint64_t used;

	pthread_mutex_lock(&d->res_lock);
	used = d->mem_running;
	pthread_mutex_unlock(&d->res_lock);
	return json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "cpu_model",
			 d->node.cpu_model, "cpus", d->node.cpus, "mhz", d->node.mhz, "sockets",
			 d->node.sockets, "cores_per_socket", d->node.cores_per_socket,
			 "threads_per_core", d->node.threads_per_core, "numa_cells", 1, "memory",
			 (json_int_t)d->node.memory, "reserve", (json_int_t)d->reserve,
			 "memory_running", (json_int_t)used, "memory_free",
			 (json_int_t)(limit > used ? limit - used : 0));
}
