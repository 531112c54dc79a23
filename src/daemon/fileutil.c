#include "daemon/fileutil.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* asprintf that never fails (out of memory is fatal). */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		die("out of memory formatting a string");
	return s;
}

/* fsync the directory that holds path, so a rename or unlink in it is durable. */
static int fsync_parent(const char *path, struct berr *err)
{
	char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fsync(fd) < 0) {
		berr_set(err, BERR_INTERNAL, "syncing directory %s: %s", dir, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

/* Write temp, fsync, rename, fsync the directory. */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode, struct berr *err)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);

	if (fd < 0) {
		berr_set(err, BERR_INTERNAL, "creating %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		berr_set(err, BERR_INTERNAL, "writing %s: %s", tmp, strerror(errno));
		goto fail_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		berr_set(err, BERR_INTERNAL, "writing %s: %s", tmp, strerror(errno));
		goto fail_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		berr_set(err, BERR_INTERNAL, "renaming %s to %s: %s", tmp, path, strerror(errno));
		goto fail_unlink;
	}
	free(tmp);
	return fsync_parent(path, err);
fail_unlink:
	unlink(tmp);
fail:
	if (fd >= 0)
		close(fd);
	free(tmp);
	return -1;
}

/* unlink, then fsync the directory. */
int remove_file_durable(const char *path, struct berr *err)
{
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		berr_set(err, BERR_INTERNAL, "removing %s: %s", path, strerror(errno));
		return -1;
	}
	return fsync_parent(path, err);
}

/* Create path and its missing parents. */
int mkdir_p(const char *path, mode_t mode, struct berr *err)
{
	char *copy = xstrdup(path);
	int ret = 0;

	for (char *p = copy + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			berr_set(err, BERR_INTERNAL, "creating directory %s: %s", copy,
				 strerror(errno));
			ret = -1;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(copy);
	return ret;
}

/* One read of a file of /proc/PID, as much as fits. */
ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * Field 22 of /proc/PID/stat: the process start time in clock ticks since
 * boot; -1 for a process that has ended (a zombie nobody reaped included).
 */
int proc_start_time(pid_t pid, unsigned long long *out)
{
	char buf[1024], *p;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return -1;
	/* The command name may hold spaces and parentheses: skip past the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	if (p[0] != ' ' || p[1] == 'Z' || p[1] == 'X') /* field 3: the state */
		return -1;
	for (int field = 3; field < 22; field++) { /* p is at the space before field 3 */
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	return sscanf(p, " %llu", out) == 1 ? 0 : -1;
}

/*
 * posix_spawn with what berthd's children need: their own session (a
 * terminal's Ctrl+C at berthd must not reach them), and none of the signals
 * berthd blocks for sigwait (SIGTERM...) or ignores (SIGPIPE) carried over.
 */
int spawn_detached(pid_t *pid, const char *path, char *const argv[], int outfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	posix_spawn_file_actions_adddup2(&fa, outfd, 2);
	posix_spawnattr_init(&attr);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETSIGMASK);
	e = posix_spawn(pid, path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}
