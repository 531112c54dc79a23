/*
 * User-mode networking with libslirp, driven by the I/O thread's epoll loop.
 *
 * libslirp describes the sockets it wants watched through
 * slirp_pollfds_fill(); after every step we mirror that set into the event
 * loop (adding, changing and removing fds), and arm one timer for the timeout
 * it asks for. Any event or that timer runs a step: poll() the set without
 * waiting, hand the results to slirp_pollfds_poll(), and mirror again.
 */
#include "vmm/net/net.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define SLIRP_NET   "10.0.2.0"
#define SLIRP_MASK  "255.255.255.0"
#define SLIRP_HOST  "10.0.2.2"
#define SLIRP_DHCP  "10.0.2.15"
#define SLIRP_DNS   "10.0.2.3"
#define MAX_HOSTFWD 16

struct watched {
	int fd;
	uint32_t events;
};

struct slirp_net {
	struct netdev nd;
	Slirp *slirp;
	struct ev_timer *timer; /* slirp_pollfds_fill's timeout */
	bool step_queued;

	struct pollfd *pfds; /* the set of the last fill */
	size_t npfds, pfds_cap;
	struct watched *watched; /* what is registered on the loop */
	size_t nwatched, watched_cap;
};

struct slirp_timer {
	struct slirp_net *s;
	struct ev_timer *t;
	SlirpTimerId id;
	void *cb_opaque;
};

static void step(struct slirp_net *s);

/* ---- mirroring slirp's poll set into the event loop ---- */

/* poll(2) and epoll(7) share the bit values of IN, PRI and OUT. */
static uint32_t poll_to_epoll(short events)
{
	return (uint32_t)(events & (POLLIN | POLLPRI | POLLOUT));
}

static short to_poll(int events)
{
	short e = 0;

	if (events & SLIRP_POLL_IN)
		e |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		e |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		e |= POLLPRI;
	return e;
}

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_net *s = opaque;

	if (s->npfds == s->pfds_cap) {
		s->pfds_cap = s->pfds_cap ? 2 * s->pfds_cap : 16;
		s->pfds = xrealloc(s->pfds, s->pfds_cap * sizeof(*s->pfds));
	}
	s->pfds[s->npfds] = (struct pollfd){.fd = fd, .events = to_poll(events)};
	return (int)s->npfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_net *s = opaque;
	short r;
	int e = 0;

	if (idx < 0 || (size_t)idx >= s->npfds)
		return 0;
	r = s->pfds[idx].revents;
	if (r & POLLIN)
		e |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		e |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		e |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		e |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		e |= SLIRP_POLL_HUP;
	return e;
}

static void on_fd(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	step(opaque);
}

static void unwatch(struct slirp_net *s, size_t i)
{
	evloop_del_fd(s->nd.vm->loop, s->watched[i].fd);
	s->watched[i] = s->watched[--s->nwatched];
}

/* Make the loop watch exactly the fds (and events) of the last fill. */
static void sync_watch(struct slirp_net *s)
{
	struct evloop *loop = s->nd.vm->loop;

	for (size_t i = 0; i < s->nwatched;) {
		bool keep = false;

		for (size_t j = 0; j < s->npfds && !keep; j++)
			keep = s->pfds[j].fd == s->watched[i].fd;
		if (keep)
			i++;
		else
			unwatch(s, i);
	}
	for (size_t j = 0; j < s->npfds; j++) {
		int fd = s->pfds[j].fd;
		uint32_t ev = 0;
		size_t i;

		/* slirp may list an fd twice; watch the union. */
		for (size_t k = 0; k < s->npfds; k++)
			if (s->pfds[k].fd == fd)
				ev |= poll_to_epoll(s->pfds[k].events);
		for (i = 0; i < s->nwatched && s->watched[i].fd != fd; i++)
			;
		if (i < s->nwatched) {
			if (s->watched[i].events == ev)
				continue;
			evloop_del_fd(loop, fd);
			s->watched[i].events = ev;
		} else {
			if (s->nwatched == s->watched_cap) {
				s->watched_cap = s->watched_cap ? 2 * s->watched_cap : 16;
				s->watched =
				    xrealloc(s->watched, s->watched_cap * sizeof(*s->watched));
			}
			s->watched[s->nwatched++] = (struct watched){.fd = fd, .events = ev};
		}
		if (evloop_add_fd(loop, fd, ev, on_fd, s) < 0)
			unwatch(s, i);
	}
}

/* Ask slirp what to watch and for how long, and set the loop up accordingly. */
static void refill(struct slirp_net *s)
{
	uint32_t timeout = UINT32_MAX;

	s->npfds = 0;
	slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
	sync_watch(s);
	if (timeout == UINT32_MAX)
		evloop_timer_disarm(s->timer);
	else
		evloop_timer_arm(s->timer, (uint64_t)timeout * 1000000ULL, 0);
}

/* One round: see which sockets are ready, let slirp serve them, re-mirror. */
static void step(struct slirp_net *s)
{
	int n = 0;

	if (s->npfds) {
		n = poll(s->pfds, s->npfds, 0);
		if (n < 0 && errno != EINTR)
			log_warn("user network: poll: %s", strerror(errno));
	}
	if (n < 0)
		for (size_t i = 0; i < s->npfds; i++)
			s->pfds[i].revents = 0;
	slirp_pollfds_poll(s->slirp, n < 0, get_revents, s);
	refill(s);
}

static void on_timeout(void *opaque)
{
	step(opaque);
}

static void queued_step(void *opaque)
{
	struct slirp_net *s = opaque;

	s->step_queued = false;
	step(s);
}

/* ---- libslirp callbacks ---- */

static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_net *s = opaque;

	/* slirp cannot hold frames back: the front end queues a few, then drops. */
	if (len <= NET_MAX_FRAME)
		s->nd.fe->receive(s->nd.fe_opaque, buf, len);
	return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_warn("user network: guest error: %s", msg);
}

static int64_t clock_get_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)clock_ns();
}

static void slirp_timer_fired(void *opaque)
{
	struct slirp_timer *t = opaque;

	slirp_handle_timer(t->s->slirp, t->id, t->cb_opaque);
	refill(t->s);
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_net *s = opaque;
	struct slirp_timer *t = xcalloc(1, sizeof(*t));

	t->s = s;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->t = evloop_timer_new(s->nd.vm->loop, slirp_timer_fired, t);
	if (!t->t) {
		free(t);
		return NULL;
	}
	return t;
}

static void timer_free(void *timer, void *opaque)
{
	struct slirp_timer *t = timer;

	(void)opaque;
	if (!t)
		return;
	evloop_timer_free(t->t);
	free(t);
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;
	int64_t now = (int64_t)clock_ns(), at = expire_ms * 1000000;

	(void)opaque;
	if (t)
		evloop_timer_arm(t->t, at > now ? (uint64_t)(at - now) : 1, 0);
}

static void register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* slirp is about to close fd: stop watching it before the number is reused. */
static void unregister_poll_fd(int fd, void *opaque)
{
	struct slirp_net *s = opaque;

	for (size_t i = 0; i < s->nwatched; i++) {
		if (s->watched[i].fd == fd) {
			unwatch(s, i);
			break;
		}
	}
}

/* slirp's sockets can take more data: run a step soon. */
static void notify(void *opaque)
{
	struct slirp_net *s = opaque;

	if (!s->step_queued) {
		s->step_queued = true;
		evloop_call(s->nd.vm->loop, queued_step, s);
	}
}

static const SlirpCb slirp_callbacks = {
    .send_packet = send_packet,
    .guest_error = guest_error,
    .clock_get_ns = clock_get_ns,
    .timer_free = timer_free,
    .timer_mod = timer_mod,
    .register_poll_fd = register_poll_fd,
    .unregister_poll_fd = unregister_poll_fd,
    .notify = notify,
    .timer_new_opaque = timer_new_opaque,
};

/* ---- the netdev ---- */

static void slirp_send(struct netdev *nd, const uint8_t *frame, size_t len)
{
	struct slirp_net *s = container_of(nd, struct slirp_net, nd);

	slirp_input(s->slirp, frame, (int)len);
	refill(s);
}

static void slirp_net_free(struct netdev *nd)
{
	struct slirp_net *s = container_of(nd, struct slirp_net, nd);

	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->nwatched)
		unwatch(s, 0);
	evloop_timer_free(s->timer);
	free(s->pfds);
	free(s->watched);
	free(s);
}

static const struct netdev_ops slirp_ops = {
    .send = slirp_send,
    .free = slirp_net_free,
};

/* Parse "[ADDR]:PORT" into addr and port; an empty address means dflt. */
static bool parse_endpoint(const char *s, size_t len, struct in_addr dflt, struct in_addr *addr,
			   int *port)
{
	char buf[64], *colon, *end;
	unsigned long p;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	colon = strrchr(buf, ':');
	if (!colon)
		return false;
	*colon = '\0';
	if (!buf[0])
		*addr = dflt;
	else if (inet_pton(AF_INET, buf, addr) != 1)
		return false;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p == 0 || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

/* "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (or udp:). */
static int add_hostfwd(struct slirp_net *s, const char *spec)
{
	struct in_addr any = {.s_addr = htonl(INADDR_ANY)}, guest_dflt, haddr, gaddr;
	const char *rest, *dash;
	int udp, hport, gport;

	inet_pton(AF_INET, SLIRP_DHCP, &guest_dflt);
	if (!strncmp(spec, "tcp:", 4))
		udp = 0;
	else if (!strncmp(spec, "udp:", 4))
		udp = 1;
	else
		goto bad;
	rest = spec + 4;
	dash = strchr(rest, '-');
	if (!dash || !parse_endpoint(rest, (size_t)(dash - rest), any, &haddr, &hport) ||
	    !parse_endpoint(dash + 1, strlen(dash + 1), guest_dflt, &gaddr, &gport))
		goto bad;
	if (slirp_add_hostfwd(s->slirp, udp, haddr, hport, gaddr, gport) < 0) {
		log_error("--net user: hostfwd=%s: cannot listen on host port %d: %s", spec, hport,
			  strerror(errno));
		return -1;
	}
	return 0;
bad:
	log_error("--net user: bad hostfwd '%s' (expected tcp|udp:[HOSTADDR]:HOSTPORT-"
		  "[GUESTADDR]:GUESTPORT)",
		  spec);
	return -1;
}

struct netdev *net_slirp_new(struct vm *vm, const char *opts, const struct netdev_frontend *fe,
			     void *opaque)
{
	struct slirp_net *s = xcalloc(1, sizeof(*s));
	SlirpConfig cfg = {
	    .version = 4,
	    .in_enabled = true,
	    .vhostname = "berth",
	};
	char *copy = xstrdup(opts), *save, *tok;
	const char *fwd[MAX_HOSTFWD];
	int nfwd = 0;

	s->nd.ops = &slirp_ops;
	s->nd.vm = vm;
	s->nd.fe = fe;
	s->nd.fe_opaque = opaque;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "hostfwd=", 8) && nfwd < MAX_HOSTFWD) {
			fwd[nfwd++] = tok + 8;
		} else {
			log_error("--net user: %s option '%s'",
				  strncmp(tok, "hostfwd=", 8) ? "unknown" : "too many hostfwd",
				  tok);
			goto fail;
		}
	}
	inet_pton(AF_INET, SLIRP_NET, &cfg.vnetwork);
	inet_pton(AF_INET, SLIRP_MASK, &cfg.vnetmask);
	inet_pton(AF_INET, SLIRP_HOST, &cfg.vhost);
	inet_pton(AF_INET, SLIRP_DHCP, &cfg.vdhcp_start);
	inet_pton(AF_INET, SLIRP_DNS, &cfg.vnameserver);
	s->timer = evloop_timer_new(vm->loop, on_timeout, s);
	if (!s->timer)
		goto fail;
	s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
	if (!s->slirp) {
		log_error("--net user: libslirp failed to start");
		goto fail;
	}
	for (int i = 0; i < nfwd; i++)
		if (add_hostfwd(s, fwd[i]) < 0)
			goto fail;
	free(copy);
	refill(s);
	return &s->nd;
fail:
	free(copy);
	slirp_net_free(&s->nd);
	return NULL;
}
