/*
 * berth console: berthd names the serial console's UNIX socket (only on the
 * read-write socket), the CLI relays the terminal to it in raw mode. Ctrl+]
 * detaches, as in virsh.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x1d /* Ctrl+] */

/* Copy between the terminal and the socket until Ctrl+], or either side closes. */
static void relay(int sock)
{
	struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				{.fd = sock, .events = POLLIN}};
	char buf[4096];

	for (;;) {
		ssize_t n;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (fds[1].revents) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0 || write_all(STDOUT_FILENO, buf, n) < 0)
				return;
		}
		if (fds[0].revents) {
			char *esc;
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				return;
			esc = memchr(buf, ESCAPE_CHAR, n);
			if (esc)
				n = esc - buf;
			if (n && write_all(sock, buf, n) < 0)
				return;
			if (esc)
				return;
		}
	}
}

/* Attach the terminal to a domain's serial console. */
int console_attach(struct client *c, const char *domain)
{
	char *path = object_path("domains", domain, "/console");
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO);
	json_t *j;
	int sock;

	j = client_call(c, "GET", path, NULL);
	free(path);
	if (!j)
		return 1;
	sock = client_connect_unix(json_string_value(json_object_get(j, "path")) ?: "");
	if (sock < 0) {
		fprintf(stderr, "error: connecting to the console of '%s' at %s: %s\n", domain,
			json_string_value(json_object_get(j, "path")) ?: "(none)", strerror(errno));
		json_decref(j);
		return 1;
	}
	json_decref(j);
	printf("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", domain);
	fflush(stdout);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	} else {
		tty = false;
	}
	relay(sock);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	close(sock);
	if (tty)
		putchar('\n');
	return 0;
}
