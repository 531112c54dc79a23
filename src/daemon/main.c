/*
 * berthd: the management daemon (libvirtd's role). Runs in the foreground
 * unless -d; as root it is the system instance (/var/lib/berth, /run/berth),
 * as anyone else a session instance in the user's XDG directories.
 * Stopping berthd leaves the VMs running; the next berthd adopts them.
 */
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/api.h"
#include "daemon/berthd.h"
#include "daemon/fileutil.h"
#include "daemon/network.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <libxml/parser.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_RESERVE (1 * GiB)

/* berthd --help. */
static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: berthd [OPTIONS]\n"
	    "The berth management daemon: VM definitions, lifecycle, API.\n\n"
	    "  -d, --daemon          detach and run in the background\n"
	    "      --system          system instance (default for root)\n"
	    "      --session         session instance of the calling user (default otherwise)\n"
	    "      --state-dir DIR   keep everything under DIR (domains, networks, run, log...)\n"
	    "      --vmm PATH        the berth-vmm executable (default: next to berthd, or $PATH)\n"
	    "      --reserve SIZE    host memory kept back from VMs (default 1G)\n"
	    "  -v, --verbose         debug messages\n"
	    "  -h, --help            this help\n");
}

/* berth-vmm: $BERTH_VMM, next to us, in the build tree's sibling directory, or on $PATH. */
static char *find_vmm(void)
{
	char self[PATH_MAX], *dir, *cand, *path, *save = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv("BERTH_VMM");

	if (env)
		return xstrdup(env);
	if (n > 0) {
		self[n] = '\0';
		dir = dirname(self);
		cand = xasprintf("%s/berth-vmm", dir);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		cand = xasprintf("%s/../vmm/berth-vmm", dir);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
	}
	path = xstrdup(getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin");
	for (char *p = strtok_r(path, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		cand = xasprintf("%s/berth-vmm", p);
		if (access(cand, X_OK) == 0) {
			free(path);
			return cand;
		}
		free(cand);
	}
	free(path);
	return xstrdup("/usr/local/bin/berth-vmm");
}

/* The directories of a system or session instance, or all under one state dir. */
static void set_dirs(struct berthd *d, const char *state_dir)
{
	const char *home = getenv("HOME") ? getenv("HOME") : "/";
	char *config, *state;

	if (state_dir) {
		d->config_dir = xasprintf("%s/domains", state_dir);
		d->autostart_dir = xasprintf("%s/autostart", state_dir);
		d->net_config_dir = xasprintf("%s/networks", state_dir);
		d->net_autostart_dir = xasprintf("%s/networks/autostart", state_dir);
		d->run_dir = xasprintf("%s/run", state_dir);
		d->log_dir = xasprintf("%s/log", state_dir);
	} else if (d->system) {
		d->config_dir = xstrdup("/var/lib/berth/domains");
		d->autostart_dir = xstrdup("/var/lib/berth/autostart");
		d->net_config_dir = xstrdup("/var/lib/berth/networks");
		d->net_autostart_dir = xstrdup("/var/lib/berth/networks/autostart");
		d->run_dir = xstrdup("/run/berth");
		d->log_dir = xstrdup("/var/log/berth");
	} else {
		config = getenv("XDG_CONFIG_HOME") ? xstrdup(getenv("XDG_CONFIG_HOME"))
						   : xasprintf("%s/.config", home);
		state = getenv("XDG_STATE_HOME") ? xstrdup(getenv("XDG_STATE_HOME"))
						 : xasprintf("%s/.local/state", home);
		d->config_dir = xasprintf("%s/berth/domains", config);
		d->autostart_dir = xasprintf("%s/berth/autostart", config);
		d->net_config_dir = xasprintf("%s/berth/networks", config);
		d->net_autostart_dir = xasprintf("%s/berth/networks/autostart", config);
		d->log_dir = xasprintf("%s/berth/log", state);
		d->run_dir = getenv("XDG_RUNTIME_DIR")
				 ? xasprintf("%s/berth", getenv("XDG_RUNTIME_DIR"))
				 : xasprintf("/tmp/berth-%u", (unsigned)getuid());
		free(config);
		free(state);
	}
}

/* One berthd per run directory: hold a lock on its pid file for our lifetime. */
static int lock_pidfile(struct berthd *d)
{
	char *path = xasprintf("%s/berthd.pid", d->run_dir), buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		log_error("opening %s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("another berthd is running on %s (%s is locked)", d->run_dir, path);
		goto fail;
	}
	snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, strlen(buf), 0) < 0)
		log_warn("writing %s: %s", path, strerror(errno));
	free(path);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	free(path);
	return -1;
}

/* The supervision loop's thread. */
static void *loop_thread(void *arg)
{
	struct berthd *d = arg;

	if (evloop_run(d->loop) < 0)
		log_error("the supervision loop failed: VM exits are no longer noticed");
	return NULL;
}

/* -d: fork; the parent exits once the child says it serves (or failed). */
static int detach(int *ready_fd)
{
	int pipefd[2];
	pid_t pid;
	char status = 1;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(pipefd[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	*ready_fd = pipefd[1];
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	return 0;
}

/* -d: tell the waiting parent whether we serve (0) or failed. */
static void report_ready(int *ready_fd, char status)
{
	int devnull;

	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &status, 1) < 0)
		log_debug("telling the parent we are up: %s", strerror(errno));
	close(*ready_fd);
	*ready_fd = -1;
	if (status)
		return;
	/* From here on, a detached berthd logs to its log directory. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		close(devnull);
	}
}

/* Parse options, load and adopt, serve until SIGTERM/SIGINT. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"daemon", no_argument, NULL, 'd'},
	    {"system", no_argument, NULL, 'S'},
	    {"session", no_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'D'},
	    {"vmm", required_argument, NULL, 'V'},
	    {"reserve", required_argument, NULL, 'r'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct berthd d = {0};
	const char *state_dir = NULL;
	bool background = false;
	char *rw_path, *ro_path;
	struct berr err = {0};
	struct api *api;
	sigset_t sigs;
	int c, sig, lockfd, ready_fd = -1, logfd;

	log_init(argv[0], NULL);
	/*
	 * One malloc arena for every thread: API workers and exit threads come and
	 * go, and each would otherwise leave an arena of its own (up to 128 KiB
	 * resident apiece) behind; berthd's threads rarely allocate at once. And
	 * give freed memory back sooner than glibc's default, which keeps up to
	 * 128 KiB free at the top of the heap.
	 */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_TRIM_THRESHOLD, 32 * 1024);
	mallopt(M_TOP_PAD, 0);
	d.system = geteuid() == 0;
	d.reserve = DEFAULT_RESERVE;
	while ((c = getopt_long(argc, argv, "dvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			background = true;
			break;
		case 'S':
			d.system = true;
			break;
		case 's':
			d.system = false;
			break;
		case 'D':
			state_dir = optarg;
			break;
		case 'V':
			d.vmm_path = xstrdup(optarg);
			break;
		case 'r':
			if (parse_size(optarg, MiB, &d.reserve) < 0)
				die("--reserve: malformed size '%s'", optarg);
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (d.system && geteuid() != 0)
		die("the system instance needs root (use --session)");
	d.owner = getuid();
	set_dirs(&d, state_dir);
	if (!d.vmm_path)
		d.vmm_path = find_vmm();
	umask(0022);
	if (mkdir_p(d.config_dir, 0700, &err) < 0 || mkdir_p(d.autostart_dir, 0700, &err) < 0 ||
	    mkdir_p(d.run_dir, 0755, &err) < 0 || mkdir_p(d.log_dir, 0700, &err) < 0)
		die("%s", err.msg);
	if (background)
		detach(&ready_fd);
	lockfd = lock_pidfile(&d);
	if (lockfd < 0) {
		report_ready(&ready_fd, 1);
		return 1;
	}
	if (background) {
		char *log = xasprintf("%s/berthd.log", d.log_dir);
		logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (logfd >= 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
			close(logfd);
		}
		free(log);
	}

	/* Signals: SIGTERM/SIGINT/SIGHUP end berthd (VMs keep running), through sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	xmlInitParser();
	if (node_info_read(&d.node, &err) < 0)
		die("%s", err.msg);
	d.drv = &vmm_driver;
	pthread_mutex_init(&d.res_lock, NULL);
	pthread_mutex_init(&d.define_lock, NULL);
	domain_list_init(&d.domains);
	atomic_init(&d.next_id, 1);
	d.loop = evloop_new();
	if (!d.loop || pthread_create(&d.loop_thread, NULL, loop_thread, &d))
		die("cannot start the supervision loop");
	if (network_init(&d) < 0)
		die("cannot load the network definitions");
	if (berthd_init_domains(&d) < 0)
		die("cannot load the domain definitions");

	rw_path = xasprintf("%s/berthd.sock", d.run_dir);
	ro_path = xasprintf("%s/berthd-ro.sock", d.run_dir);
	api = api_start(&d, rw_path, ro_path);
	if (!api) {
		report_ready(&ready_fd, 1);
		return 1;
	}
	log_info("serving %s instance on %s (read-only: %s), berth-vmm: %s",
		 d.system ? "system" : "session", rw_path, ro_path, d.vmm_path);
	network_autostart(&d);
	berthd_autostart(&d);
	report_ready(&ready_fd, 0);

	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP);
	log_info("terminating on signal %d; running VMs keep running", sig);

	api_stop(api);
	/* Let exits being handled finish (their clean-up runs on the loop), then stop it. */
	atomic_store(&d.stopping, true);
	for (int i = 0; i < 3000 && atomic_load(&d.exit_jobs); i++)
		usleep(10000);
	evloop_stop(d.loop);
	pthread_join(d.loop_thread, NULL);
	d.drv->release_all(&d);
	network_release_all(&d);
	evloop_free(d.loop);
	domain_list_destroy(&d.domains);
	xmlCleanupParser();
	free(rw_path);
	free(ro_path);
	free(d.config_dir);
	free(d.autostart_dir);
	free(d.net_config_dir);
	free(d.net_autostart_dir);
	free(d.run_dir);
	free(d.log_dir);
	free(d.vmm_path);
	close(lockfd);
	return 0;
}
