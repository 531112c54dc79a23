/*
 * The berth CLI's connection to berthd: HTTP/1.1 over a UNIX socket, one
 * request per connection. A small client of its own rather than libcurl: a
 * CLI run is dominated by its start-up, and libcurl's 30-odd shared libraries
 * cost more than berthd takes to answer (see bench/control).
 */
#ifndef BERTH_CLI_CLIENT_H
#define BERTH_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct client;

/*
 * Resolve a connection URI: berth:///system, berth:///session (qemu:// is
 * accepted too), either with ?socket=PATH, or a socket path. NULL (uri)
 * means $BERTH_DEFAULT_URI, else system for root and session otherwise.
 * read_only picks the read-only socket.
 */
struct client *client_open(const char *uri, bool read_only);
void client_close(struct client *c);
const char *client_socket(const struct client *c);

struct response {
	long status; /* HTTP status, 0 when the request failed */
	char *body;  /* NUL-terminated */
	size_t len;
};

/* Send one request. Returns 0 with *resp filled, -1 (reported) when berthd is unreachable. */
int client_request(struct client *c, const char *method, const char *path, const char *body,
		   size_t len, const char *content_type, struct response *resp);
void response_free(struct response *resp);
/* Print "error: " and berthd's message from a failed answer (its body when it has none). */
void client_print_error(const struct response *r);

/*
 * A request whose answer is JSON: returns the parsed body of a 2xx answer
 * (a new reference), or NULL after printing berthd's error message.
 */
json_t *client_call(struct client *c, const char *method, const char *path, json_t *body);

/* Connect to a UNIX stream socket: the fd, or -1 with errno set (nothing printed). */
int client_connect_unix(const char *path);

/* URL-escape a domain name or other path component (caller frees). */
char *client_escape(const char *s);

#endif
