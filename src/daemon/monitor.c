#include "daemon/monitor.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connect to a control socket, non-blocking. */
int monitor_connect(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The next complete line, NUL-terminated in place. */
char *line_buf_next(struct line_buf *lb, size_t *consumed, int *overflow)
{
	char *nl = memchr(lb->buf + *consumed, '\n', lb->len - *consumed);
	char *line;

	*overflow = 0;
	if (!nl) {
		if (*consumed == 0 && lb->len == sizeof(lb->buf)) {
			/* No newline in a full buffer: drop it all. */
			lb->len = 0;
			*overflow = 1;
		}
		return NULL;
	}
	*nl = '\0';
	line = lb->buf + *consumed;
	*consumed = nl - lb->buf + 1;
	return line;
}

/* Drop the lines handed out so far. */
void line_buf_consume(struct line_buf *lb, size_t consumed)
{
	memmove(lb->buf, lb->buf + consumed, lb->len - consumed);
	lb->len -= consumed;
}

/* Wait for fd to be ready for events until deadline (clock_ns). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = clock_ns();
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* The reply that matches our id, skipping events sent meanwhile. */
static json_t *read_reply(int fd, const char *path, const char *cmd, uint64_t deadline,
			  struct berr *err)
{
	struct line_buf *lb = xmalloc(sizeof(*lb));
	json_t *reply = NULL;

	lb->len = 0;
	for (;;) {
		size_t consumed = 0;
		int overflow;
		char *line;
		ssize_t n;

		while ((line = line_buf_next(lb, &consumed, &overflow))) {
			json_t *msg = json_loads(line, 0, NULL);
			if (msg && json_object_get(msg, "id") &&
			    json_integer_value(json_object_get(msg, "id")) == 1) {
				reply = msg;
				goto out;
			}
			json_decref(msg);
		}
		line_buf_consume(lb, consumed);
		if (overflow) {
			berr_set(err, BERR_INTERNAL, "%s on %s: reply too long", cmd, path);
			goto out;
		}
		if (wait_fd(fd, POLLIN, deadline) < 0) {
			berr_set(err, BERR_INTERNAL, "%s on %s: %s", cmd, path,
				 errno == ETIMEDOUT ? "no reply in time" : strerror(errno));
			goto out;
		}
		n = recv(fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			berr_set(err, BERR_INTERNAL, "%s on %s: connection closed%s%s", cmd, path,
				 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto out;
		}
		lb->len += n;
	}
out:
	free(lb);
	return reply;
}

/* One command on a fresh connection, with a deadline. */
json_t *monitor_command(const char *path, const char *cmd, json_t *args, int timeout_ms,
			struct berr *err)
{
	uint64_t deadline = clock_ns() + (uint64_t)timeout_ms * 1000000ULL;
	json_t *req, *reply, *ret = NULL;
	char *line;
	size_t len, off = 0;
	int fd;

	fd = monitor_connect(path);
	if (fd < 0) {
		berr_set(err, BERR_INTERNAL, "connecting to control socket %s: %s", path,
			 strerror(errno));
		json_decref(args);
		return NULL;
	}
	req = json_pack("{s:s,s:i}", "execute", cmd, "id", 1);
	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	len = strlen(line);
	line[len++] = '\n'; /* json_dumps left room: replace the NUL, length tracked */
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline) == 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			berr_set(err, BERR_INTERNAL, "%s on %s: %s", cmd, path, strerror(errno));
			goto out;
		}
		off += n;
	}
	reply = read_reply(fd, path, cmd, deadline, err);
	if (!reply)
		goto out;
	if (json_is_object(json_object_get(reply, "return"))) {
		ret = json_incref(json_object_get(reply, "return"));
	} else {
		const char *desc =
		    json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
		berr_set(err, BERR_INTERNAL, "berth-vmm refused %s: %s", cmd,
			 desc ? desc : "malformed reply");
	}
	json_decref(reply);
out:
	free(line);
	close(fd);
	return ret;
}
