/*
 * Client side of berth-vmm's control socket (src/vmm/control.h): commands on
 * short-lived connections, and a line splitter for the event connection.
 */
#ifndef BERTH_DAEMON_MONITOR_H
#define BERTH_DAEMON_MONITOR_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/error.h"

#define MONITOR_TIMEOUT_MS 5000
#define MONITOR_MAX_LINE   (64 * 1024)

/* Connect to a control socket (non-blocking fd, or -1 with errno). */
int monitor_connect(const char *path);
/*
 * Run one command on a new connection and return its "return" object (a new
 * reference), or NULL with err set (the command's own error, a timeout, or
 * the socket failing).
 */
json_t *monitor_command(const char *path, const char *cmd, json_t *args, int timeout_ms,
			struct berr *err);

/* Accumulates bytes read from a connection and hands out complete lines. */
struct line_buf {
	char buf[MONITOR_MAX_LINE];
	size_t len;
};
/*
 * Take the next complete line (NUL-terminated in place, valid until the next
 * call) or NULL. An over-long line is dropped and reported by *overflow.
 */
char *line_buf_next(struct line_buf *lb, size_t *consumed, int *overflow);
void line_buf_consume(struct line_buf *lb, size_t consumed);

#endif
