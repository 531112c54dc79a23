#include "cli/client.h"
#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_MAX_REPLY (64 * 1024 * 1024)

struct client {
	char *socket;
};

/* The socket of an instance: system (/run/berth) or the user's session. */
static char *instance_socket(bool system, bool read_only)
{
	const char *file = read_only ? "berthd-ro.sock" : "berthd.sock";
	char *s;

	if (system) {
		if (asprintf(&s, "/run/berth/%s", file) < 0)
			s = NULL;
	} else if (getenv("XDG_RUNTIME_DIR")) {
		if (asprintf(&s, "%s/berth/%s", getenv("XDG_RUNTIME_DIR"), file) < 0)
			s = NULL;
	} else if (asprintf(&s, "/tmp/berth-%u/%s", (unsigned)getuid(), file) < 0) {
		s = NULL;
	}
	if (!s)
		die("out of memory");
	return s;
}

/* The socket path a connection URI names. */
static char *resolve_uri(const char *uri, bool read_only)
{
	const char *q;
	bool system;

	if (!uri)
		uri = getenv("BERTH_DEFAULT_URI");
	if (!uri)
		return instance_socket(geteuid() == 0, read_only);
	if (uri[0] == '/')
		return xstrdup(uri);
	if (!strncmp(uri, "berth:///", 9))
		uri += 9;
	else if (!strncmp(uri, "qemu:///", 8))
		uri += 8;
	else
		die("unsupported connection URI '%s' (berth:///system, berth:///session, or a "
		    "socket path)",
		    uri);
	if (!strncmp(uri, "system", 6) && (uri[6] == '\0' || uri[6] == '?'))
		system = true;
	else if (!strncmp(uri, "session", 7) && (uri[7] == '\0' || uri[7] == '?'))
		system = false;
	else
		die("unsupported connection URI: instance '%s' (system or session)", uri);
	q = strstr(uri, "?socket=");
	if (q)
		return xstrdup(q + 8);
	return instance_socket(system, read_only);
}

/* A client for the daemon a URI names (no connection yet). */
struct client *client_open(const char *uri, bool read_only)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->socket = resolve_uri(uri, read_only);
	return c;
}

/* Free a client. */
void client_close(struct client *c)
{
	if (!c)
		return;
	free(c->socket);
	free(c);
}

/* The socket path in use. */
const char *client_socket(const struct client *c)
{
	return c->socket;
}

/* Connect to a UNIX stream socket: the fd, or -1 with errno set. */
int client_connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Connect to berthd's socket; -1 (reported) on failure. */
static int connect_daemon(struct client *c)
{
	int fd = client_connect_unix(c->socket);

	if (fd < 0 && errno == ENAMETOOLONG)
		fprintf(stderr, "error: socket path %s is too long\n", c->socket);
	else if (fd < 0)
		fprintf(stderr, "error: failed to connect to berthd at %s: %s\n", c->socket,
			strerror(errno));
	return fd;
}

/* Read the whole answer (the server closes after it: Connection: close). */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t r;
		if (n + 1 == cap) {
			if (cap >= CLIENT_MAX_REPLY) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Split an HTTP/1.1 answer into status and body. The body is what follows the
 * header, bounded by Content-Length when the server gives one.
 */
static int parse_response(char *raw, size_t len, struct response *resp)
{
	char *end = memmem(raw, len, "\r\n\r\n", 4), *line, *save = NULL;
	size_t body_len;
	long status;

	if (!end || strncmp(raw, "HTTP/1.", 7) || len < 12)
		return -1;
	*end = '\0';
	status = strtol(raw + 9, NULL, 10);
	if (status < 100 || status > 599)
		return -1;
	body_len = len - (end + 4 - raw);
	for (line = strtok_r(raw, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!strncasecmp(line, "Content-Length:", 15)) {
			unsigned long cl = strtoul(line + 15, NULL, 10);
			if (cl > body_len)
				return -1; /* cut short */
			body_len = cl;
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
			return -1; /* berthd never sends chunked answers to HTTP/1.1 close requests
				    */
		}
	}
	resp->status = status;
	resp->body = xmalloc(body_len + 1);
	memcpy(resp->body, end + 4, body_len);
	resp->body[body_len] = '\0';
	resp->len = body_len;
	return 0;
}

/* One HTTP/1.1 request on a new connection; the answer in *resp. */
int client_request(struct client *c, const char *method, const char *path, const char *body,
		   size_t len, const char *content_type, struct response *resp)
{
	char *head = NULL, *raw = NULL;
	size_t raw_len;
	int fd, n, ret = -1;

	memset(resp, 0, sizeof(*resp));
	fd = connect_daemon(c);
	if (fd < 0)
		return -1;
	n = asprintf(&head,
		     "%s /v1/%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		     "Content-Length: %zu\r\n%s%s%s\r\n",
		     method, path, body ? len : 0, body ? "Content-Type: " : "",
		     body ? content_type : "", body ? "\r\n" : "");
	if (n < 0)
		die("out of memory");
	if (write_all(fd, head, n) < 0 || (body && write_all(fd, body, len) < 0)) {
		fprintf(stderr, "error: sending to berthd at %s: %s\n", c->socket, strerror(errno));
		goto out;
	}
	raw = read_all(fd, &raw_len);
	if (!raw) {
		fprintf(stderr, "error: reading berthd's answer: %s\n", strerror(errno));
		goto out;
	}
	if (parse_response(raw, raw_len, resp) < 0) {
		fprintf(stderr, "error: berthd sent a malformed HTTP answer to %s /v1/%s\n", method,
			path);
		goto out;
	}
	ret = 0;
out:
	free(head);
	free(raw);
	close(fd);
	if (ret < 0)
		response_free(resp);
	return ret;
}

/* Free an answer's body. */
void response_free(struct response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

/* berthd's error message from a failed answer's JSON body, or the body as it is. */
void client_print_error(const struct response *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *msg =
	    json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	fprintf(stderr, "error: %s\n", msg ? msg : r->body);
	json_decref(j);
}

/* A JSON request; prints berthd's error message on failure. */
json_t *client_call(struct client *c, const char *method, const char *path, json_t *body)
{
	struct response r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *j = NULL;

	if (client_request(c, method, path, text, text ? strlen(text) : 0, "application/json", &r) <
	    0)
		goto out;
	if (r.status / 100 != 2)
		client_print_error(&r);
	else if (!(j = json_loadb(r.body, r.len, 0, NULL)))
		fprintf(stderr, "error: berthd sent a malformed answer to %s %s\n", method, path);
	response_free(&r);
out:
	free(text);
	return j;
}

/* Percent-encode a path component. */
char *client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *p = out;

	/* RFC 3986 unreserved characters pass; everything else is %XX. */
	for (; *s; s++) {
		unsigned char ch = *s;
		if (isalnum(ch) || strchr("-._~", ch)) {
			*p++ = ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}
