/*
 * berth-vmm's control socket server (see control.h). Each client has a line
 * buffer bounded by CONTROL_MAX_LINE and an output queue bounded by
 * CONTROL_MAX_OUTPUT: a client that sends an over-long line, or stops reading
 * while output piles up, is disconnected, so no client can exhaust memory.
 */
#include "vmm/control.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/hw/acpi_pm.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_MAX_LINE    (64 * 1024)
#define CONTROL_MAX_OUTPUT  (1024 * 1024)
#define CONTROL_MAX_CLIENTS 64

struct control_client {
	struct control *ctl;
	int fd;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	bool want_out; /* EPOLLOUT is armed */
	bool dead;     /* dropped while in use: closed from its own callback */
	struct control_client *next;
};

struct control {
	struct vm *vm;
	struct evloop *loop;
	int listen_fd;
	char *path;
	char *serial_path;
	struct control_client *clients;
	int nclients;
	/* An event a command raised: sent after the command's reply. */
	const char *deferred_event;
	json_t *deferred_data;
};

static void client_close(struct control_client *c);

/* Queue bytes for a client; false if the client was dropped for not reading. */
static bool client_queue(struct control_client *c, const char *buf, size_t len)
{
	if (c->out_len + len > CONTROL_MAX_OUTPUT) {
		log_warn("control: client not reading its replies, disconnecting it");
		return false;
	}
	if (c->out_len + len > c->out_cap) {
		c->out_cap = MAX(c->out_cap * 2, c->out_len + len);
		c->out = xrealloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return true;
}

/* Write what the socket takes now; arm EPOLLOUT for the rest. Returns -1 if the peer is gone. */
static int client_flush(struct control_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -1;
		memmove(c->out, c->out + n, c->out_len - n);
		c->out_len -= n;
	}
	if (!!c->out_len != c->want_out) {
		c->want_out = c->out_len != 0;
		evloop_mod_fd(c->ctl->loop, c->fd, EPOLLIN | (c->want_out ? EPOLLOUT : 0));
	}
	return 0;
}

/* Serialize msg (consumed) as one line to one client; false if the client must go. */
static bool client_send(struct control_client *c, json_t *msg)
{
	char *s = c->dead ? NULL : json_dumps(msg, JSON_COMPACT);
	bool ok = false;

	json_decref(msg);
	if (!s)
		return false;
	if (client_queue(c, s, strlen(s)) && client_queue(c, "\n", 1))
		ok = client_flush(c) == 0;
	free(s);
	return ok;
}

static json_t *error_reply(const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* {"error": {"class": cls, "desc": ...}} */
static json_t *error_reply(const char *cls, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	return json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);
}

/* {"return": ret} (ret consumed; NULL means {}). */
static json_t *ok_reply(json_t *ret)
{
	return json_pack("{s:o}", "return", ret ? ret : json_object());
}

/* Are the vCPUs paused (or being paused)? */
static bool vm_paused(struct vm *vm)
{
	return atomic_load(&vm->pause_requested);
}

/* QMP's event timestamp. */
static json_t *timestamp_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return json_pack("{s:I,s:I}", "seconds", (json_int_t)tv.tv_sec, "microseconds",
			 (json_int_t)tv.tv_usec);
}

/* query-status: who and what this VM is, and whether it runs. */
static json_t *cmd_query_status(struct control *ctl, json_t *args)
{
	struct vm *vm = ctl->vm;
	(void)args;

	return ok_reply(json_pack("{s:s,s:b,s:s,s:I,s:s,s:I,s:i}", "name", vm->name ? vm->name : "",
				  "running", !vm_paused(vm), "status",
				  vm_paused(vm) ? "paused" : "running", "pid", (json_int_t)getpid(),
				  "accelerator", vm->accel ? vm->accel->name : "none", "memory",
				  (json_int_t)vm->ram_size, "cpus", vm->ncpus));
}

/* system_powerdown: press the ACPI power button; the guest decides what to do. */
static json_t *cmd_system_powerdown(struct control *ctl, json_t *args)
{
	struct vm *vm = ctl->vm;
	(void)args;

	if (!vm->pc || !vm->pc->acpi_pm)
		return error_reply("GenericError", "this machine has no ACPI power button");
	acpi_pm_power_button(vm->pc->acpi_pm); /* takes vm->lock itself */
	return ok_reply(NULL);
}

/* system_reset: a hard reset, as if the reset line were pulled. */
static json_t *cmd_system_reset(struct control *ctl, json_t *args)
{
	(void)args;
	vm_request_stop(ctl->vm, VM_STOP_RESET, 0);
	ctl->deferred_event = "RESET";
	ctl->deferred_data = json_pack("{s:b}", "guest", false);
	return ok_reply(NULL);
}

/* stop: pause every vCPU; returns once they are all parked. */
static json_t *cmd_stop(struct control *ctl, json_t *args)
{
	(void)args;
	if (!vm_paused(ctl->vm)) {
		vm_pause(ctl->vm);
		ctl->deferred_event = "STOP";
	}
	return ok_reply(NULL);
}

/* cont: resume paused vCPUs. */
static json_t *cmd_cont(struct control *ctl, json_t *args)
{
	(void)args;
	if (vm_paused(ctl->vm)) {
		vm_resume(ctl->vm);
		ctl->deferred_event = "RESUME";
	}
	return ok_reply(NULL);
}

/* quit: end berth-vmm as SIGTERM would. */
static json_t *cmd_quit(struct control *ctl, json_t *args)
{
	(void)args;
	vm_request_stop(ctl->vm, VM_STOP_SIGNAL, 0);
	return ok_reply(NULL);
}

/* query-serial: where the serial console can be reached. */
static json_t *cmd_query_serial(struct control *ctl, json_t *args)
{
	(void)args;
	if (!ctl->serial_path)
		return ok_reply(json_pack("{s:n}", "path"));
	return ok_reply(json_pack("{s:s}", "path", ctl->serial_path));
}

static const struct {
	const char *name;
	json_t *(*fn)(struct control *ctl, json_t *args);
} commands[] = {
    {"query-status", cmd_query_status},
    {"system_powerdown", cmd_system_powerdown},
    {"system_reset", cmd_system_reset},
    {"stop", cmd_stop},
    {"cont", cmd_cont},
    {"quit", cmd_quit},
    {"query-serial", cmd_query_serial},
};

/* Parse one request line and build its reply (with the request's id, if any). */
static json_t *handle_line(struct control *ctl, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *reply = NULL, *id = NULL, *args;
	const char *cmd;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return error_reply("GenericError", "invalid JSON: %s", jerr.text);
	if (!json_is_object(req)) {
		reply = error_reply("GenericError", "a request must be a JSON object");
		goto out;
	}
	id = json_object_get(req, "id");
	cmd = json_string_value(json_object_get(req, "execute"));
	args = json_object_get(req, "arguments");
	if (!cmd) {
		reply = error_reply("GenericError", "missing string member \"execute\"");
		goto out;
	}
	if (args && !json_is_object(args)) {
		reply = error_reply("GenericError", "\"arguments\" must be an object");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, cmd)) {
			reply = commands[i].fn(ctl, args);
			goto out;
		}
	reply = error_reply("CommandNotFound", "the command %s has not been found", cmd);
out:
	if (id)
		json_object_set(reply, "id", id);
	json_decref(req);
	return reply;
}

/* Answer every complete line in the client's buffer. False if the client must go. */
static bool client_process(struct control_client *c)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(c->in + start, '\n', c->in_len - start))) {
		size_t len = nl - (c->in + start);
		bool sent = !len || client_send(c, handle_line(c->ctl, c->in + start, len));

		if (c->ctl->deferred_event) {
			const char *ev = c->ctl->deferred_event;
			c->ctl->deferred_event = NULL;
			control_emit_event(c->ctl, ev, c->ctl->deferred_data);
			c->ctl->deferred_data = NULL;
		}
		if (!sent || c->dead)
			return false;
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len >= CONTROL_MAX_LINE) {
		client_send(c, error_reply("GenericError", "request longer than %d bytes",
					   CONTROL_MAX_LINE));
		return false;
	}
	return true;
}

/* A client's socket is readable or writable. */
static void client_event(void *opaque, int fd, uint32_t events)
{
	struct control_client *c = opaque;
	ssize_t n;

	if (c->dead)
		goto drop;
	if (events & EPOLLOUT) {
		if (client_flush(c) < 0)
			goto drop;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		n = recv(fd, c->in + c->in_len, CONTROL_MAX_LINE - c->in_len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			goto drop;
		c->in_len += n;
		if (!client_process(c))
			goto drop;
	}
	return;
drop:
	client_close(c);
}

/* Disconnect and free a client. */
static void client_close(struct control_client *c)
{
	struct control *ctl = c->ctl;

	for (struct control_client **pp = &ctl->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ctl->nclients--;
	evloop_del_fd(ctl->loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* A new client on the listening socket. */
static void accept_client(void *opaque, int fd, uint32_t events)
{
	struct control *ctl = opaque;
	struct control_client *c;
	int cfd;
	(void)events;

	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept: %s", strerror(errno));
		return;
	}
	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		log_warn("control: %d clients connected already, refusing another",
			 CONTROL_MAX_CLIENTS);
		close(cfd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->fd = cfd;
	c->in = xmalloc(CONTROL_MAX_LINE);
	if (evloop_add_fd(ctl->loop, cfd, EPOLLIN, client_event, c) < 0) {
		close(cfd);
		free(c->in);
		free(c);
		return;
	}
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nclients++;
}

/* Listen on path (see control.h). */
struct control *control_new(struct vm *vm, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct control *ctl;
	struct stat st;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket path %s: longer than %zu bytes", path,
			  sizeof(addr.sun_path) - 1);
		return NULL;
	}
	strcpy(addr.sun_path, path);
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->vm = vm;
	ctl->loop = vm->loop;
	ctl->path = xstrdup(path);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->listen_fd < 0) {
		log_error("control socket: %s", strerror(errno));
		goto fail;
	}
	/* Replace a socket left behind by an earlier run, never any other file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(ctl->listen_fd, 16) < 0) {
		log_error("control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	if (evloop_add_fd(ctl->loop, ctl->listen_fd, EPOLLIN, accept_client, ctl) < 0)
		goto fail_unlink;
	return ctl;
fail_unlink:
	unlink(path);
fail:
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	free(ctl->path);
	free(ctl);
	return NULL;
}

/* Close every client and the socket. */
void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	/* Give each client's pending output (e.g. SHUTDOWN) one blocking chance. */
	while (ctl->clients) {
		struct control_client *c = ctl->clients;
		if (c->out_len) {
			struct timeval tv = {.tv_usec = 100000};
			int flags = fcntl(c->fd, F_GETFL);
			setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
			if (send(c->fd, c->out, c->out_len, MSG_NOSIGNAL) < 0)
				log_debug("control: flushing output: %s", strerror(errno));
		}
		client_close(c);
	}
	evloop_del_fd(ctl->loop, ctl->listen_fd);
	close(ctl->listen_fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl->serial_path);
	free(ctl);
}

/* Send an event to every client. */
void control_emit_event(struct control *ctl, const char *event, json_t *data)
{
	json_t *msg = json_pack("{s:s,s:o,s:o}", "event", event, "data",
				data ? data : json_object(), "timestamp", timestamp_now());
	struct control_client *c, *next;

	/*
	 * A client that cannot take the event is shut down, not freed: the
	 * command that raised the event may be running on its behalf. Its
	 * callback sees the hang-up and closes it.
	 */
	for (c = ctl->clients; c; c = next) {
		next = c->next;
		if (!c->dead && !client_send(c, json_incref(msg))) {
			c->dead = true;
			shutdown(c->fd, SHUT_RDWR);
		}
	}
	json_decref(msg);
}

/* SHUTDOWN with the reason berth-vmm stops. */
void control_emit_shutdown(struct control *ctl)
{
	static const char *const reasons[] = {
	    [VM_RUNNING] = "none",	 [VM_STOP_POWEROFF] = "poweroff",
	    [VM_STOP_RESET] = "reset",	 [VM_STOP_DEBUG_EXIT] = "debug-exit",
	    [VM_STOP_SIGNAL] = "signal", [VM_STOP_ERROR] = "error",
	};
	int r = atomic_load(&ctl->vm->stop_reason);
	bool guest = r == VM_STOP_POWEROFF || r == VM_STOP_RESET || r == VM_STOP_DEBUG_EXIT;

	if (r < 0 || r >= (int)ARRAY_SIZE(reasons))
		r = VM_STOP_ERROR;
	control_emit_event(ctl, "SHUTDOWN",
			   json_pack("{s:s,s:b,s:i}", "reason", reasons[r], "guest", guest,
				     "exit-status", atomic_load(&ctl->vm->exit_status)));
}

/* What query-serial reports. */
void control_set_serial_path(struct control *ctl, const char *path)
{
	free(ctl->serial_path);
	ctl->serial_path = path ? xstrdup(path) : NULL;
}
