/* File and process helpers for berthd: atomic replacement, directory set-up, spawning. */
#ifndef BERTH_DAEMON_FILEUTIL_H
#define BERTH_DAEMON_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "daemon/error.h"

/*
 * Replace path with data so that a crash at any point leaves either the old
 * or the new content: write a temporary file in the same directory, fsync it,
 * rename it over path, fsync the directory.
 */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode,
		      struct berr *err);
/* Remove path (absent is fine) and fsync its directory. */
int remove_file_durable(const char *path, struct berr *err);
/* mkdir -p with mode for the directories it creates. */
int mkdir_p(const char *path, mode_t mode, struct berr *err);
/* Read /proc/PID/NAME into buf, NUL-terminated: the bytes read, or -1. */
ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t size);
/* Field 22 of /proc/PID/stat: when pid started (clock ticks since boot). 0, or -1
 * when it has ended (zombies included). */
int proc_start_time(pid_t pid, unsigned long long *out);
/*
 * Start path (argv, berthd's environment) in a session of its own, stdin on
 * /dev/null, stdout and stderr on outfd, every signal at its default and
 * unblocked. 0, or an errno value.
 */
int spawn_detached(pid_t *pid, const char *path, char *const argv[], int outfd);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
