#include "vmm/hw/chardev.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01

enum chardev_kind { CHR_NULL, CHR_STDIO, CHR_FILE, CHR_UNIX };

struct chardev {
	struct vm *vm;
	enum chardev_kind kind;
	const struct chardev_frontend *fe;
	void *fe_opaque;

	int out_fd;	 /* stdout or the file; -1 for null/unix */
	bool out_failed; /* a write error was reported: stop trying */

	/* Input: the fd being read (stdin or the socket client), loop thread only. */
	int in_fd;
	bool rx_paused;		 /* polling stopped because the front end was full */
	atomic_bool want_wakeup; /* the front end must call us back when it has room */
	bool escape;		 /* stdio on a tty: Ctrl-A seen, next byte is a command */
	bool tty;

	/* unix: the listening socket and its connected client. */
	int listen_fd;
	char *path;
	pthread_mutex_t client_lock; /* client_fd as seen by writers on other threads */
	int client_fd;
	uint64_t dropped;
};

/* ---- the host terminal (stdio on a tty) ---- */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction saved_actions[ARRAY_SIZE(fatal_signals)];
static struct termios saved_termios;
static atomic_bool termios_changed;
static bool stdio_in_use;

/* Put the terminal back as we found it (idempotent, async-signal-safe). */
static void terminal_restore(void)
{
	if (atomic_exchange(&termios_changed, false))
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

/* A fatal signal: restore the terminal, then let the previous handler act. */
static void terminal_fatal_signal(int sig)
{
	terminal_restore();
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &saved_actions[i], NULL);
	raise(sig);
}

/* Raw input (no echo, no line editing, no signals) so every key reaches the guest. */
static int terminal_make_raw(void)
{
	static bool hooks_installed;
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
		log_error("serial stdio: reading terminal attributes: %s", strerror(errno));
		return -1;
	}
	t = saved_termios;
	t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!hooks_installed) {
		struct sigaction sa = {.sa_handler = terminal_fatal_signal};

		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++)
			sigaction(fatal_signals[i], &sa, &saved_actions[i]);
		atexit(terminal_restore);
		hooks_installed = true;
	}
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) {
		log_error("serial stdio: setting raw mode: %s", strerror(errno));
		return -1;
	}
	atomic_store(&termios_changed, true);
	return 0;
}

/* ---- input ---- */

/* How much the front end can take right now. */
static size_t frontend_room(struct chardev *chr)
{
	if (!chr->fe)
		return 0;
	return chr->fe->can_read(chr->fe_opaque);
}

static void input_ready(void *opaque, int fd, uint32_t events);

/*
 * Stop (or restart) watching the input fd. Stopping removes it from the loop
 * altogether: a hangup would otherwise be reported over and over while unread
 * data waits for the front end, and that data must still be delivered.
 */
static void input_poll(struct chardev *chr, bool on)
{
	if (chr->in_fd < 0 || chr->rx_paused == !on)
		return;
	if (!on) {
		evloop_del_fd(chr->vm->loop, chr->in_fd);
		chr->rx_paused = true;
	} else if (evloop_add_fd(chr->vm->loop, chr->in_fd, EPOLLIN, input_ready, chr) == 0) {
		chr->rx_paused = false;
	}
}

/* On the loop thread, after the front end said it has room again. */
static void input_resume(void *opaque)
{
	input_poll(opaque, true);
}

/* Close the socket client (loop thread). */
static void client_disconnect(struct chardev *chr)
{
	int fd = chr->client_fd;

	if (fd < 0)
		return;
	evloop_del_fd(chr->vm->loop, fd);
	pthread_mutex_lock(&chr->client_lock);
	chr->client_fd = -1;
	pthread_mutex_unlock(&chr->client_lock);
	close(fd);
	chr->in_fd = -1;
	chr->rx_paused = false;
	chr->escape = false;
	if (chr->dropped)
		log_debug("serial %s: %llu output bytes dropped while the client lagged", chr->path,
			  (unsigned long long)chr->dropped);
	log_info("serial %s: console client disconnected", chr->path);
}

/* The input fd reached end of file or failed: stop reading it. */
static void input_closed(struct chardev *chr)
{
	if (chr->kind == CHR_UNIX) {
		client_disconnect(chr);
		return;
	}
	evloop_del_fd(chr->vm->loop, chr->in_fd);
	chr->in_fd = -1;
}

/* Interpret the Ctrl-A escape on a terminal; returns how many bytes remain in buf. */
static size_t input_escapes(struct chardev *chr, uint8_t *buf, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (!chr->escape) {
			if (c == CTRL_A)
				chr->escape = true;
			else
				buf[out++] = c;
			continue;
		}
		chr->escape = false;
		switch (c) {
		case 'x':
		case 'X':
			log_info("quit requested from the console (Ctrl-A x)");
			vm_request_stop(chr->vm, VM_STOP_SIGNAL, 0);
			break;
		case 'h':
		case 'H':
		case '?':
			fprintf(stderr, "\r\nCtrl-A x   quit berth-vmm\r\n"
					"Ctrl-A C-a send Ctrl-A to the guest\r\n");
			break;
		case CTRL_A:
			buf[out++] = c;
			break;
		default:
			break; /* unknown escapes are swallowed, like QEMU's */
		}
	}
	return out;
}

/* Input is readable on the stdin or client fd (loop thread). */
static void input_ready(void *opaque, int fd, uint32_t events)
{
	struct chardev *chr = opaque;
	uint8_t buf[256];
	size_t room;
	ssize_t n;

	if (!(events & EPOLLIN)) {
		if (events & (EPOLLHUP | EPOLLERR))
			input_closed(chr);
		return;
	}
	room = frontend_room(chr);
	if (!room) {
		/* Ask for a call back, then re-check to close the race with it. */
		atomic_store(&chr->want_wakeup, true);
		room = frontend_room(chr);
		if (!room) {
			input_poll(chr, false);
			return;
		}
	}
	n = read(fd, buf, MIN(room, sizeof(buf)));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_warn("serial: reading input: %s", strerror(errno));
		input_closed(chr);
		return;
	}
	if (n == 0) {
		input_closed(chr);
		return;
	}
	if (chr->tty)
		n = (ssize_t)input_escapes(chr, buf, (size_t)n);
	if (n > 0)
		chr->fe->read(chr->fe_opaque, buf, (size_t)n);
}

/* Start reading fd as input (loop thread or before the loop runs). */
static int input_watch(struct chardev *chr, int fd)
{
	if (evloop_add_fd(chr->vm->loop, fd, EPOLLIN, input_ready, chr) < 0)
		return -1;
	chr->in_fd = fd;
	chr->rx_paused = false;
	return 0;
}

/* A client connects to the unix socket (loop thread). */
static void client_accept(void *opaque, int fd, uint32_t events)
{
	static const char busy[] = "berth-vmm: the console is already in use\r\n";
	struct chardev *chr = opaque;
	int c;

	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("serial %s: accept: %s", chr->path, strerror(errno));
		return;
	}
	if (chr->client_fd >= 0) {
		if (send(c, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("serial %s: telling a second client: %s", chr->path,
				  strerror(errno));
		close(c);
		return;
	}
	if (input_watch(chr, c) < 0) {
		close(c);
		return;
	}
	pthread_mutex_lock(&chr->client_lock);
	chr->client_fd = c;
	chr->dropped = 0;
	pthread_mutex_unlock(&chr->client_lock);
	log_info("serial %s: console client connected", chr->path);
}

/* ---- output ---- */

/* Write to stdout or the file; on failure report once and go quiet. */
static void output_fd(struct chardev *chr, const uint8_t *buf, size_t len)
{
	if (chr->out_failed)
		return;
	if (write_all(chr->out_fd, buf, len) < 0) {
		log_warn("serial: writing output: %s; further output is discarded",
			 strerror(errno));
		chr->out_failed = true;
	}
}

/* Send to the socket client without blocking; what does not fit is dropped. */
static void output_client(struct chardev *chr, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&chr->client_lock);
	if (chr->client_fd >= 0) {
		ssize_t n = send(chr->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		/* Errors other than a full buffer surface as a hangup on the loop thread. */
		chr->dropped += n < 0 ? len : len - (size_t)n;
	}
	pthread_mutex_unlock(&chr->client_lock);
}

void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
	switch (chr->kind) {
	case CHR_STDIO:
	case CHR_FILE:
		output_fd(chr, buf, len);
		break;
	case CHR_UNIX:
		output_client(chr, buf, len);
		break;
	case CHR_NULL:
		break;
	}
}

void chardev_accept_input(struct chardev *chr)
{
	if (atomic_exchange(&chr->want_wakeup, false))
		evloop_call(chr->vm->loop, input_resume, chr);
}

size_t chardev_feed(struct chardev *chr, const uint8_t *buf, size_t len)
{
	size_t n = MIN(frontend_room(chr), len);

	if (n)
		chr->fe->read(chr->fe_opaque, buf, n);
	return n;
}

void chardev_set_frontend(struct chardev *chr, const struct chardev_frontend *fe, void *opaque)
{
	chr->fe = fe;
	chr->fe_opaque = opaque;
}

/* ---- construction ---- */

/* Is fd something epoll can watch (not a regular file or /dev/null)? */
static bool fd_pollable(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok;

	if (ep < 0)
		return false;
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return ok;
}

static int open_stdio(struct chardev *chr)
{
	if (stdio_in_use) {
		log_error("serial stdio: stdio is already used by another character device");
		return -1;
	}
	chr->out_fd = STDOUT_FILENO;
	chr->tty = isatty(STDIN_FILENO);
	if (chr->tty && terminal_make_raw() < 0)
		return -1;
	if (fd_pollable(STDIN_FILENO) && input_watch(chr, STDIN_FILENO) < 0) {
		terminal_restore();
		return -1;
	}
	stdio_in_use = true;
	return 0;
}

static int open_file(struct chardev *chr, const char *path)
{
	chr->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
	if (chr->out_fd < 0) {
		log_error("serial file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_unix(struct chardev *chr, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;

	if (!*path || strlen(path) >= sizeof(addr.sun_path)) {
		log_error("serial unix socket path '%s': must be 1 to %zu bytes long", path,
			  sizeof(addr.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("serial unix socket %s: the path exists and is not a socket",
				  path);
			return -1;
		}
		unlink(path); /* a stale socket from an earlier run */
	}
	strcpy(addr.sun_path, path);
	chr->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (chr->listen_fd < 0) {
		log_error("serial unix socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	if (bind(chr->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		log_error("serial unix socket %s: bind: %s", path, strerror(errno));
		goto fail_close;
	}
	chr->path = xstrdup(path);
	if (chmod(path, 0600) < 0 || listen(chr->listen_fd, 4) < 0) {
		log_error("serial unix socket %s: %s", path, strerror(errno));
		goto fail_unlink;
	}
	if (evloop_add_fd(chr->vm->loop, chr->listen_fd, EPOLLIN, client_accept, chr) < 0)
		goto fail_unlink;
	return 0;
fail_unlink:
	unlink(path);
	free(chr->path);
	chr->path = NULL;
fail_close:
	close(chr->listen_fd);
	chr->listen_fd = -1;
	return -1;
}

struct chardev *chardev_new(struct vm *vm, const char *spec)
{
	struct chardev *chr = xcalloc(1, sizeof(*chr));
	int r;

	chr->vm = vm;
	chr->out_fd = chr->in_fd = chr->listen_fd = chr->client_fd = -1;
	pthread_mutex_init(&chr->client_lock, NULL);
	if (!strcmp(spec, "null")) {
		chr->kind = CHR_NULL;
		r = 0;
	} else if (!strcmp(spec, "stdio")) {
		chr->kind = CHR_STDIO;
		r = open_stdio(chr);
	} else if (!strncmp(spec, "file:", 5)) {
		chr->kind = CHR_FILE;
		r = open_file(chr, spec + 5);
	} else if (!strncmp(spec, "unix:", 5)) {
		chr->kind = CHR_UNIX;
		r = open_unix(chr, spec + 5);
	} else {
		log_error("serial '%s': unknown back end (use stdio, null, file:PATH or unix:PATH)",
			  spec);
		r = -1;
	}
	if (r < 0) {
		pthread_mutex_destroy(&chr->client_lock);
		free(chr);
		return NULL;
	}
	return chr;
}

void chardev_free(struct chardev *chr)
{
	if (!chr)
		return;
	switch (chr->kind) {
	case CHR_STDIO:
		if (chr->in_fd >= 0)
			evloop_del_fd(chr->vm->loop, chr->in_fd);
		terminal_restore();
		stdio_in_use = false;
		break;
	case CHR_FILE:
		close(chr->out_fd);
		break;
	case CHR_UNIX:
		client_disconnect(chr);
		evloop_del_fd(chr->vm->loop, chr->listen_fd);
		close(chr->listen_fd);
		unlink(chr->path);
		free(chr->path);
		break;
	case CHR_NULL:
		break;
	}
	pthread_mutex_destroy(&chr->client_lock);
	free(chr);
}
