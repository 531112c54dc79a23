/*
 * The berth-vmm driver: each running domain is one berth-vmm process that
 * berthd spawns, then controls over its control socket.
 *
 * Supervision: a pidfd per VM, watched on the supervision loop's thread,
 * plus one long-lived connection to the control socket that receives events
 * (SHUTDOWN says why the VM is ending). When a pidfd fires, a short-lived
 * thread takes the domain's job and handles the exit, so a slow restart
 * never blocks the loop.
 *
 * Re-adoption: every running VM has a state file in the run directory (pid,
 * process start time, socket paths, id and the live definition). A restarted
 * berthd checks each against /proc and takes the VM back without touching it.
 */
#include "daemon/berthd.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/fileutil.h"
#include "daemon/monitor.h"
#include "daemon/network.h"
#include "daemon/tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_NS    (15ULL * 1000000000ULL)
#define TERM_GRACE_MS	    3000
#define KILL_WAIT_MS	    5000
#define RECONNECT_PERIOD_NS (20ULL * 1000000ULL)
#define RECONNECT_TRIES	    500 /* 10 s: a reset re-executes berth-vmm */

struct vmm_proc {
	struct berthd *d;
	struct domain *dom; /* a reference */
	unsigned gen;
	pid_t pid;
	int pidfd;
	unsigned long long start_time; /* /proc/PID/stat field 22 */
	bool child;		       /* ours to reap */
	char *ctl_path, *console_path, *state_path, *log_path;
	char accel[16];
	off_t log_start; /* where this run's output begins in the log */
	char **taps;
	size_t ntaps;

	/* Supervision loop thread only. */
	int evfd;
	/*
	 * malloc'd, not part of the calloc'd record: only the bytes events fill
	 * become resident, not all of its MONITOR_MAX_LINE per running VM.
	 */
	struct line_buf *lb;
	struct ev_timer *reconnect;
	int reconnect_tries;
	bool exited;

	pthread_mutex_t mu; /* guards the SHUTDOWN reason, read by the exit thread */
	char shutdown_reason[32];
};

static atomic_uint proc_gen;

/* A process record of a new generation, with no process, domain or paths yet. */
static struct vmm_proc *proc_alloc(struct berthd *d)
{
	struct vmm_proc *p = xcalloc(1, sizeof(*p));

	p->d = d;
	p->gen = atomic_fetch_add(&proc_gen, 1) + 1;
	p->pidfd = -1;
	p->evfd = -1;
	p->lb = xmalloc(sizeof(*p->lb));
	p->lb->len = 0;
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

/* A process record for dom's next run (paths in the run and log directories). */
static struct vmm_proc *proc_new(struct berthd *d, struct domain *dom)
{
	struct vmm_proc *p = proc_alloc(d);

	p->dom = domain_ref(dom);
	p->ctl_path = xasprintf("%s/%s.ctl", d->run_dir, dom->name);
	p->state_path = xasprintf("%s/%s.state", d->run_dir, dom->name);
	p->log_path = xasprintf("%s/%s.log", d->log_dir, dom->name);
	return p;
}

/* Free a process record (loop thread, or before it was ever attached). */
static void proc_free(struct vmm_proc *p)
{
	if (p->reconnect)
		evloop_timer_free(p->reconnect);
	if (p->evfd >= 0)
		close(p->evfd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	for (size_t i = 0; i < p->ntaps; i++)
		free(p->taps[i]);
	free(p->taps);
	free(p->ctl_path);
	free(p->console_path);
	free(p->state_path);
	free(p->log_path);
	free(p->lb);
	pthread_mutex_destroy(&p->mu);
	domain_unref(p->dom);
	free(p);
}

/* ---- supervision loop thread ---- */

static void on_event_data(void *opaque, int fd, uint32_t events);

struct exit_job {
	struct berthd *d;
	struct domain *dom;
	unsigned gen;
};

static void *exit_thread(void *arg);

/* Read what the event connection has; record SHUTDOWN. Returns false on EOF or error. */
static bool read_events(struct vmm_proc *p)
{
	for (;;) {
		size_t consumed = 0;
		int overflow;
		char *line;
		ssize_t n = recv(p->evfd, p->lb->buf + p->lb->len, sizeof(p->lb->buf) - p->lb->len,
				 MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		p->lb->len += n;
		while ((line = line_buf_next(p->lb, &consumed, &overflow))) {
			json_t *msg = json_loads(line, 0, NULL);
			const char *ev = json_string_value(json_object_get(msg, "event"));
			if (ev && !strcmp(ev, "SHUTDOWN")) {
				const char *r = json_string_value(
				    json_object_get(json_object_get(msg, "data"), "reason"));
				pthread_mutex_lock(&p->mu);
				snprintf(p->shutdown_reason, sizeof(p->shutdown_reason), "%s",
					 r ? r : "unknown");
				pthread_mutex_unlock(&p->mu);
			} else if (ev) {
				log_debug("domain %s: event %s", p->dom->name, ev);
			}
			json_decref(msg);
		}
		line_buf_consume(p->lb, consumed);
		if (overflow)
			log_warn("domain %s: over-long line on the control socket dropped",
				 p->dom->name);
	}
}

/* Close the event connection (loop thread). */
static void close_events(struct vmm_proc *p)
{
	if (p->evfd < 0)
		return;
	evloop_del_fd(p->d->loop, p->evfd);
	close(p->evfd);
	p->evfd = -1;
	p->lb->len = 0;
}

/* The event connection is gone but the process lives: berth-vmm is rebooting. */
static void try_reconnect(void *opaque)
{
	struct vmm_proc *p = opaque;
	int fd;

	if (p->exited || p->evfd >= 0) {
		evloop_timer_disarm(p->reconnect);
		return;
	}
	fd = monitor_connect(p->ctl_path);
	if (fd >= 0) {
		if (evloop_add_fd(p->d->loop, fd, EPOLLIN, on_event_data, p) < 0) {
			close(fd);
			return;
		}
		p->evfd = fd;
		pthread_mutex_lock(&p->mu);
		p->shutdown_reason[0] = '\0'; /* the reset's SHUTDOWN is history */
		pthread_mutex_unlock(&p->mu);
		evloop_timer_disarm(p->reconnect);
		return;
	}
	if (++p->reconnect_tries >= RECONNECT_TRIES) {
		log_warn("domain %s: cannot reconnect to %s: %s", p->dom->name, p->ctl_path,
			 strerror(errno));
		evloop_timer_disarm(p->reconnect);
	}
}

/* Events arrived, or the connection closed (berth-vmm rebooting or gone). */
static void on_event_data(void *opaque, int fd, uint32_t events)
{
	struct vmm_proc *p = opaque;
	(void)fd;
	(void)events;

	if (read_events(p))
		return;
	close_events(p);
	if (p->exited)
		return;
	if (!p->reconnect)
		p->reconnect = evloop_timer_new(p->d->loop, try_reconnect, p);
	p->reconnect_tries = 0;
	if (p->reconnect)
		evloop_timer_arm(p->reconnect, RECONNECT_PERIOD_NS, RECONNECT_PERIOD_NS);
}

/* The process ended: collect its last events, then hand over to an exit thread. */
static void on_pidfd(void *opaque, int fd, uint32_t events)
{
	struct vmm_proc *p = opaque;
	struct exit_job *job;
	pthread_attr_t attr;
	pthread_t t;
	(void)events;

	evloop_del_fd(p->d->loop, fd);
	p->exited = true;
	if (atomic_load(&p->d->stopping))
		return; /* its state file stays: the next berthd sees it ended */
	if (p->evfd >= 0) {
		read_events(p);
		close_events(p);
	}
	job = xmalloc(sizeof(*job));
	job->d = p->d;
	job->dom = domain_ref(p->dom);
	job->gen = p->gen;
	atomic_fetch_add(&p->d->exit_jobs, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, exit_thread, job)) {
		log_error("domain %s: cannot start a thread to handle its exit; handling it here",
			  p->dom->name);
		exit_thread(job);
	}
	pthread_attr_destroy(&attr);
}

/* Start watching a VM's pidfd and event connection (loop thread). */
static void proc_attach(void *opaque)
{
	struct vmm_proc *p = opaque;

	if (evloop_add_fd(p->d->loop, p->pidfd, EPOLLIN, on_pidfd, p) < 0)
		log_error("domain %s: cannot watch its process", p->dom->name);
	if (p->evfd >= 0 && evloop_add_fd(p->d->loop, p->evfd, EPOLLIN, on_event_data, p) < 0)
		close_events(p);
}

/* Stop watching a VM and free its record (loop thread). */
static void proc_detach(void *opaque)
{
	struct vmm_proc *p = opaque;

	if (!p->exited)
		evloop_del_fd(p->d->loop, p->pidfd);
	close_events(p);
	proc_free(p);
}

/* ---- helpers ---- */

/* Is pid a berth-vmm (its argv[0] names it)? */
static bool proc_is_vmm(pid_t pid)
{
	char buf[4096];
	const char *base;

	if (proc_read(pid, "cmdline", buf, sizeof(buf)) <= 0)
		return false;
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	return !strcmp(base, "berth-vmm");
}

/* The last lines berth-vmm wrote to its log: the reason a start failed. */
static void log_tail(const char *path, off_t from, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;
	char *p;

	out[0] = '\0';
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size - from > (off_t)len - 1)
		from = st.st_size - (off_t)len + 1;
	n = pread(fd, out, len - 1, from);
	close(fd);
	if (n <= 0)
		return;
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	for (p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

/* Remove a stale socket, never any other kind of file. */
static void unlink_socket(const char *path)
{
	struct stat st;

	if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}

/* Wait up to timeout_ms for the process to end; 0 once it has. */
static int wait_pidfd(int pidfd, int timeout_ms)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
	uint64_t deadline = clock_ns() + (uint64_t)timeout_ms * 1000000ULL;

	for (;;) {
		uint64_t now = clock_ns();
		int r;
		if (now >= deadline)
			return -1;
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Reap our child; returns its wait status or -1 when it is not ours. */
static int reap(struct vmm_proc *p)
{
	siginfo_t si = {0};

	if (!p->child)
		return -1;
	if (waitid(P_PIDFD, p->pidfd, &si, WEXITED) < 0)
		return -1;
	return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

/* Forget a VM whose process is gone (job held): files, taps, the supervision record. */
static void proc_cleanup(struct berthd *d, struct domain *dom, struct vmm_proc *p)
{
	struct berr err = {0};

	remove_file_durable(p->state_path, &err);
	unlink_socket(p->ctl_path);
	if (p->console_path && dom->live && dom->live->serial.type == DOM_CHR_PTY)
		unlink_socket(p->console_path);
	for (size_t i = 0; i < p->ntaps; i++)
		tap_delete(p->taps[i], NULL);
	pthread_mutex_lock(&dom->lock);
	dom->priv = NULL;
	pthread_mutex_unlock(&dom->lock);
	evloop_call(d->loop, proc_detach, p);
}

/* Handle a VM's end: why it ended, clean up, then on_poweroff / on_crash. */
static void *exit_thread(void *arg)
{
	struct exit_job *job = arg;
	struct domain *dom = job->dom;
	struct vmm_proc *p;
	enum dom_exit how = DOM_EXIT_CRASHED;
	char reason[32];
	int status;

	pthread_mutex_lock(&dom->job);
	p = dom->priv;
	if (!p || p->gen != job->gen)
		goto out; /* destroyed meanwhile, or already restarted */
	status = reap(p);
	pthread_mutex_lock(&p->mu);
	snprintf(reason, sizeof(reason), "%s", p->shutdown_reason);
	pthread_mutex_unlock(&p->mu);
	if (!strcmp(reason, "poweroff") || !strcmp(reason, "debug-exit"))
		how = DOM_EXIT_POWEROFF;
	else if (!strcmp(reason, "reset"))
		how = DOM_EXIT_RESET;
	else if (!strcmp(reason, "signal"))
		how = DOM_EXIT_SHUTDOWN;
	else if (!reason[0] && status == 0)
		how = DOM_EXIT_POWEROFF;
	if (how == DOM_EXIT_CRASHED) {
		char tail[256];
		log_tail(p->log_path, p->log_start, tail, sizeof(tail));
		log_warn("domain %s: berth-vmm (pid %d) died (%s%s, exit %d): %s", dom->name,
			 p->pid, reason[0] ? "reason " : "no shutdown event", reason, status, tail);
	}
	proc_cleanup(job->d, dom, p);
	dom_process_ended(job->d, dom, how);
out:
	pthread_mutex_unlock(&dom->job);
	domain_unref(dom);
	atomic_fetch_sub(&job->d->exit_jobs, 1);
	free(job);
	return NULL;
}

/* ---- start ---- */

struct argv_buf {
	char **v;
	size_t n;
};

/* Append a (malloc'd) argument. */
static void arg_add(struct argv_buf *a, char *s)
{
	a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* Free the arguments. */
static void argv_free(struct argv_buf *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/* berth-vmm's command line for a definition; sets up tap devices for bridges. */
static int build_argv(struct berthd *d, struct vmm_proc *p, const struct domain_def *def,
		      struct argv_buf *a, struct berr *err)
{
	arg_add(a, xstrdup(d->vmm_path));
	arg_add(a, xstrdup("--name"));
	arg_add(a, xstrdup(def->name));
	arg_add(a, xstrdup("--accel"));
	arg_add(a, xstrdup(def->virt == DOM_VIRT_KVM ? "kvm" : "soft"));
	arg_add(a, xstrdup("--memory"));
	arg_add(a, def->memory % MiB ? xasprintf("%lluK", (unsigned long long)(def->memory / KiB))
				     : xasprintf("%lluM", (unsigned long long)(def->memory / MiB)));
	arg_add(a, xstrdup("--cpus"));
	arg_add(a, xasprintf("%u", def->vcpus));
	arg_add(a, xstrdup("--kernel"));
	arg_add(a, xstrdup(def->kernel));
	if (def->initrd) {
		arg_add(a, xstrdup("--initrd"));
		arg_add(a, xstrdup(def->initrd));
	}
	if (def->cmdline) {
		arg_add(a, xstrdup("--append"));
		arg_add(a, xstrdup(def->cmdline));
	}
	arg_add(a, xstrdup("--control"));
	arg_add(a, xstrdup(p->ctl_path));
	if (def->on_reboot == DOM_ACTION_DESTROY)
		arg_add(a, xstrdup("--no-reboot"));
	arg_add(a, xstrdup("--serial"));
	switch (def->serial.type) {
	case DOM_CHR_NONE:
		arg_add(a, xstrdup("null"));
		break;
	case DOM_CHR_PTY:
		p->console_path = xasprintf("%s/%s.console", d->run_dir, def->name);
		arg_add(a, xasprintf("unix:%s", p->console_path));
		break;
	case DOM_CHR_FILE:
		arg_add(a, xasprintf("file:%s", def->serial.path));
		break;
	case DOM_CHR_UNIX:
		p->console_path = xstrdup(def->serial.path);
		arg_add(a, xasprintf("unix:%s", def->serial.path));
		break;
	}
	for (size_t i = 0; i < def->ndisks; i++) {
		arg_add(a, xstrdup("--disk"));
		arg_add(a, xasprintf("%s,format=%s%s", def->disks[i].file,
				     dom_disk_format_name(def->disks[i].format),
				     def->disks[i].readonly ? ",readonly" : ""));
	}
	for (size_t i = 0; i < def->nnets; i++) {
		const struct dom_net *n = &def->nets[i];
		char *tap, *bridge;

		arg_add(a, xstrdup("--net"));
		switch (n->type) {
		case DOM_NET_USER:
			arg_add(a, xasprintf("user,mac=%s", n->mac));
			break;
		case DOM_NET_NETWORK:
		case DOM_NET_BRIDGE:
			/* A virtual network's interfaces are TAPs on its bridge. */
			bridge = n->type == DOM_NET_NETWORK ? network_bridge(d, n->source, err)
							    : xstrdup(n->source);
			if (!bridge)
				return -1;
			tap = tap_create_on_bridge(bridge, err);
			free(bridge);
			if (!tap)
				return -1;
			p->taps = xrealloc(p->taps, (p->ntaps + 1) * sizeof(*p->taps));
			p->taps[p->ntaps++] = tap;
			arg_add(a, xasprintf("tap,ifname=%s,mac=%s", tap, n->mac));
			break;
		}
	}
	return 0;
}

/* Write the state file that lets a restarted berthd adopt this VM. */
static int write_state(struct vmm_proc *p, struct domain *dom, struct berr *err)
{
	char *xml = domain_def_format(dom->live), *s;
	json_t *taps = json_array(), *st;
	int ret;

	for (size_t i = 0; i < p->ntaps; i++)
		json_array_append_new(taps, json_string(p->taps[i]));
	st = json_pack("{s:i,s:I,s:s,s:s*,s:s,s:I,s:i,s:o,s:s}", "pid", p->pid, "start_time",
		       (json_int_t)p->start_time, "control", p->ctl_path, "console",
		       p->console_path, "log", p->log_path, "log_start", (json_int_t)p->log_start,
		       "id", dom->id, "taps", taps, "xml", xml);
	s = json_dumps(st, JSON_INDENT(1));
	ret = atomic_write_file(p->state_path, s, strlen(s), 0600, err);
	free(s);
	json_decref(st);
	free(xml);
	return ret;
}

/* berth-vmm has exited during its start: reap it and report why, from its log. */
static void exited_while_starting(struct vmm_proc *p, struct berr *err)
{
	char tail[512];
	int status = reap(p);

	log_tail(p->log_path, p->log_start, tail, sizeof(tail));
	berr_set(err, BERR_INTERNAL, "berth-vmm exited while starting (status %d): %s", status,
		 tail[0] ? tail : "no output");
}

/* Wait until berth-vmm listens on its control socket (or dies, or takes too long). */
static int wait_for_control(struct vmm_proc *p, struct berr *err)
{
	uint64_t deadline = clock_ns() + START_TIMEOUT_NS;
	int delay_ms = 1;

	for (;;) {
		char tail[512];
		int fd = monitor_connect(p->ctl_path);

		if (fd >= 0) {
			p->evfd = fd;
			return 0;
		}
		if (wait_pidfd(p->pidfd, delay_ms) == 0) {
			exited_while_starting(p, err);
			return -1;
		}
		if (clock_ns() > deadline) {
			log_tail(p->log_path, p->log_start, tail, sizeof(tail));
			berr_set(err, BERR_INTERNAL,
				 "berth-vmm did not open its control socket %s in time: %s",
				 p->ctl_path, tail[0] ? tail : "no output");
			return -1;
		}
		delay_ms = MIN(delay_ms * 2, 20);
	}
}

/* Open the VM's log for appending, mark where this run begins, note the time. */
static int open_run_log(struct vmm_proc *p, struct berr *err)
{
	int fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	char line[128];
	time_t now = time(NULL);
	struct tm tm;

	if (fd < 0) {
		berr_set(err, BERR_INTERNAL, "opening log %s: %s", p->log_path, strerror(errno));
		return -1;
	}
	gmtime_r(&now, &tm);
	strftime(line, sizeof(line), "berthd: starting berth-vmm at %FT%TZ\n", &tm);
	if (write_all(fd, line, strlen(line)) < 0)
		log_warn("writing %s: %s", p->log_path, strerror(errno));
	p->log_start = lseek(fd, 0, SEEK_END);
	return fd;
}

/* Spawn berth-vmm for dom->live and wait until it is under control. */
static int vmm_start(struct berthd *d, struct domain *dom, struct berr *err)
{
	struct vmm_proc *p = proc_new(d, dom);
	struct argv_buf a = {0};
	json_t *status;
	int logfd = -1, e;

	if (build_argv(d, p, dom->live, &a, err) < 0)
		goto fail;
	unlink_socket(p->ctl_path);
	if (dom->live->serial.type == DOM_CHR_PTY)
		unlink_socket(p->console_path);
	logfd = open_run_log(p, err);
	if (logfd < 0)
		goto fail;

	e = spawn_detached(&p->pid, d->vmm_path, a.v, logfd);
	close(logfd);
	logfd = -1;
	if (e) {
		berr_set(err, BERR_INTERNAL, "starting %s: %s", d->vmm_path, strerror(e));
		goto fail;
	}
	p->child = true;
	p->pidfd = pidfd_open(p->pid, 0);
	if (p->pidfd < 0) {
		berr_set(err, BERR_INTERNAL, "pidfd_open(%d): %s", p->pid, strerror(errno));
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		goto fail;
	}
	if (proc_start_time(p->pid, &p->start_time) < 0) {
		/* Most likely it has already exited (a zombie has no start time to read). */
		if (wait_pidfd(p->pidfd, 0) == 0) {
			exited_while_starting(p, err);
			goto fail;
		}
		berr_set(err, BERR_INTERNAL, "reading /proc/%d/stat: %s", p->pid, strerror(errno));
		goto fail_kill;
	}
	/* Recorded before anything else can go wrong: a berthd killed from here on
	 * leaves a VM the next one adopts, never one nobody knows about. */
	if (write_state(p, dom, err) < 0)
		goto fail_kill;
	if (wait_for_control(p, err) < 0)
		goto fail_state;
	status = monitor_command(p->ctl_path, "query-status", NULL, MONITOR_TIMEOUT_MS, err);
	if (!status)
		goto fail_state;
	snprintf(p->accel, sizeof(p->accel), "%s",
		 json_string_value(json_object_get(status, "accelerator")) ?: "unknown");
	json_decref(status);
	argv_free(&a);
	pthread_mutex_lock(&dom->lock);
	dom->priv = p;
	pthread_mutex_unlock(&dom->lock);
	evloop_call(d->loop, proc_attach, p);
	return 0;

fail_state:
	remove_file_durable(p->state_path, NULL);
fail_kill:
	if (p->pidfd >= 0) {
		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		wait_pidfd(p->pidfd, KILL_WAIT_MS);
		reap(p);
	}
fail:
	if (logfd >= 0)
		close(logfd);
	unlink_socket(p->ctl_path);
	for (size_t i = 0; i < p->ntaps; i++)
		tap_delete(p->taps[i], NULL);
	argv_free(&a);
	proc_free(p);
	return -1;
}

/* ---- control ---- */

static struct vmm_proc *proc_of(struct domain *dom)
{
	return dom->priv;
}

/* A control command without arguments or interesting result. */
static int simple_command(struct domain *dom, const char *cmd, struct berr *err)
{
	json_t *r = monitor_command(proc_of(dom)->ctl_path, cmd, NULL, MONITOR_TIMEOUT_MS, err);

	if (!r)
		return -1;
	json_decref(r);
	return 0;
}

/* Press the ACPI power button. */
static int vmm_shutdown(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	return simple_command(dom, "system_powerdown", err);
}

/* Reset the machine. */
static int vmm_reset(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	return simple_command(dom, "system_reset", err);
}

/* Pause the vCPUs. */
static int vmm_suspend(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	return simple_command(dom, "stop", err);
}

/* Resume the vCPUs. */
static int vmm_resume(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	return simple_command(dom, "cont", err);
}

/* SIGTERM (berth-vmm stops cleanly, flushing disks), then SIGKILL if it lingers. */
static int vmm_destroy(struct berthd *d, struct domain *dom, struct berr *err)
{
	struct vmm_proc *p = proc_of(dom);

	if (pidfd_send_signal(p->pidfd, SIGTERM, NULL, 0) < 0 && errno != ESRCH) {
		berr_set(err, BERR_INTERNAL, "signalling berth-vmm (pid %d): %s", p->pid,
			 strerror(errno));
		return -1;
	}
	if (wait_pidfd(p->pidfd, TERM_GRACE_MS) < 0) {
		log_warn("domain %s: berth-vmm (pid %d) ignored SIGTERM, killing it", dom->name,
			 p->pid);
		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		if (wait_pidfd(p->pidfd, KILL_WAIT_MS) < 0) {
			berr_set(err, BERR_INTERNAL, "berth-vmm (pid %d) does not die", p->pid);
			return -1;
		}
	}
	reap(p);
	proc_cleanup(d, dom, p);
	return 0;
}

/* The serial console's UNIX socket (dom->lock held). */
static int vmm_console_path(struct berthd *d, struct domain *dom, char **path, struct berr *err)
{
	struct vmm_proc *p = proc_of(dom);
	(void)d;

	if (!p->console_path) {
		if (dom->live->serial.type == DOM_CHR_FILE)
			berr_set(err, BERR_UNSUPPORTED,
				 "domain '%s' writes its serial console to the file %s", dom->name,
				 dom->live->serial.path);
		else
			berr_set(err, BERR_UNSUPPORTED, "domain '%s' has no serial console",
				 dom->name);
		return -1;
	}
	*path = xstrdup(p->console_path);
	return 0;
}

/* pid, accelerator and paths for dominfo (dom->lock held). */
static json_t *vmm_run_info(struct berthd *d, struct domain *dom)
{
	struct vmm_proc *p = proc_of(dom);
	(void)d;

	return json_pack("{s:i,s:s,s:s,s:s,s:s*}", "pid", p->pid, "accelerator", p->accel,
			 "control", p->ctl_path, "log", p->log_path, "console", p->console_path);
}

/* ---- re-adoption ---- */

/* Take back the VM of one state file; false if it is gone. */
static bool adopt_one(struct berthd *d, const char *state_path, json_t *st)
{
	struct berr err = {0};
	struct domain_def *live;
	struct domain *dom = NULL;
	struct vmm_proc *p;
	json_t *status, *taps;
	const char *xml = json_string_value(json_object_get(st, "xml"));
	pid_t pid = json_integer_value(json_object_get(st, "pid"));
	unsigned long long start_time = json_integer_value(json_object_get(st, "start_time")),
			   now_start;
	bool paused;

	if (!xml || pid <= 0 || !json_string_value(json_object_get(st, "control"))) {
		log_error("state file %s is malformed: ignored", state_path);
		return false;
	}
	if (proc_start_time(pid, &now_start) < 0 || now_start != start_time || !proc_is_vmm(pid)) {
		log_debug("state file %s: process %d is gone", state_path, pid);
		return false;
	}
	live = domain_def_parse(xml, strlen(xml), NULL, &err);
	if (!live) {
		log_error("state file %s: %s", state_path, err.msg);
		return false;
	}
	p = proc_alloc(d);
	p->pid = pid;
	p->start_time = start_time;
	p->ctl_path = xstrdup(json_string_value(json_object_get(st, "control")));
	p->state_path = xstrdup(state_path);
	p->log_path = xstrdup(json_string_value(json_object_get(st, "log")) ?: "/dev/null");
	p->log_start = json_integer_value(json_object_get(st, "log_start"));
	if (json_string_value(json_object_get(st, "console")))
		p->console_path = xstrdup(json_string_value(json_object_get(st, "console")));
	taps = json_object_get(st, "taps");
	for (size_t i = 0; i < json_array_size(taps); i++) {
		const char *t = json_string_value(json_array_get(taps, i));
		if (!t)
			continue;
		p->taps = xrealloc(p->taps, (p->ntaps + 1) * sizeof(*p->taps));
		p->taps[p->ntaps++] = xstrdup(t);
	}
	p->pidfd = pidfd_open(pid, 0);
	if (p->pidfd < 0) {
		log_error("adopting pid %d: pidfd_open: %s", pid, strerror(errno));
		goto fail;
	}
	/* A VM berthd was starting when it died may not be listening yet. */
	if (wait_for_control(p, &err) < 0) {
		log_error("adopting domain %s (pid %d): %s", live->name, pid, err.msg);
		goto fail;
	}
	status = monitor_command(p->ctl_path, "query-status", NULL, MONITOR_TIMEOUT_MS, &err);
	if (!status) {
		log_error("adopting domain %s (pid %d): %s", live->name, pid, err.msg);
		goto fail;
	}
	paused = json_is_false(json_object_get(status, "running"));
	snprintf(p->accel, sizeof(p->accel), "%s",
		 json_string_value(json_object_get(status, "accelerator")) ?: "unknown");
	json_decref(status);
	if (dom_adopted(d, live, paused, json_integer_value(json_object_get(st, "id")), &dom,
			&err) < 0) {
		log_error("adopting domain %s (pid %d): %s", live->name, pid, err.msg);
		goto fail;
	}
	live = NULL;
	p->dom = dom; /* the reference from dom_adopted */
	pthread_mutex_lock(&dom->lock);
	dom->priv = p;
	pthread_mutex_unlock(&dom->lock);
	evloop_call(d->loop, proc_attach, p);
	log_info("domain %s (pid %d) adopted", dom->name, pid);
	return true;
fail : {
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	/* Still running but out of reach: leave it and its state file alone. */
	bool alive = p->pidfd >= 0 && poll(&pfd, 1, 0) == 0;

	domain_def_free(live);
	proc_free(p);
	return alive;
}
}

/* Adopt the VMs of every state file; clean up after those that ended. */
static void vmm_adopt_all(struct berthd *d)
{
	DIR *dir = opendir(d->run_dir);
	struct dirent *e;

	if (!dir) {
		log_error("reading %s: %s", d->run_dir, strerror(errno));
		return;
	}
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		char *path, *name, *ctl, *console;
		struct domain *dom;
		json_t *st;

		if (len < 7 || strcmp(e->d_name + len - 6, ".state") || e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", d->run_dir, e->d_name);
		st = json_load_file(path, 0, NULL);
		if (st && adopt_one(d, path, st)) {
			json_decref(st);
			free(path);
			continue;
		}
		/* The VM ended while berthd was away: clean up after it. */
		if (st) {
			json_t *taps = json_object_get(st, "taps");
			for (size_t i = 0; i < json_array_size(taps); i++)
				if (json_string_value(json_array_get(taps, i)))
					tap_delete(json_string_value(json_array_get(taps, i)),
						   NULL);
		}
		name = xasprintf("%.*s", (int)(len - 6), e->d_name);
		ctl = xasprintf("%s/%s.ctl", d->run_dir, name);
		console = xasprintf("%s/%s.console", d->run_dir, name);
		unlink_socket(ctl);
		unlink_socket(console);
		log_warn("domain %s stopped while berthd was not running", name);
		dom = domain_list_lookup(&d->domains, name);
		if (dom) {
			pthread_mutex_lock(&dom->lock);
			dom->reason = "crashed";
			pthread_mutex_unlock(&dom->lock);
			domain_unref(dom);
		}
		remove_file_durable(path, NULL);
		json_decref(st);
		free(ctl);
		free(console);
		free(name);
		free(path);
	}
	closedir(dir);
}

/* Let go of every VM (they keep running; a new berthd adopts them). */
static void vmm_release_all(struct berthd *d)
{
	size_t n;
	struct domain **doms = domain_list_snapshot(&d->domains, &n);

	for (size_t i = 0; i < n; i++) {
		struct vmm_proc *p;
		pthread_mutex_lock(&doms[i]->lock);
		p = doms[i]->priv;
		doms[i]->priv = NULL;
		pthread_mutex_unlock(&doms[i]->lock);
		if (p)
			proc_free(p); /* the loop has stopped: nothing watches it any more */
	}
	domain_list_free_snapshot(doms, n);
}

const struct hv_driver vmm_driver = {
    .name = "berth-vmm",
    .start = vmm_start,
    .shutdown = vmm_shutdown,
    .destroy = vmm_destroy,
    .reset = vmm_reset,
    .suspend = vmm_suspend,
    .resume = vmm_resume,
    .console_path = vmm_console_path,
    .run_info = vmm_run_info,
    .adopt_all = vmm_adopt_all,
    .release_all = vmm_release_all,
};
