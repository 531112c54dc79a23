#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct ev_handler {
	int fd;
	ev_fd_cb cb;
	void *opaque;
	struct ev_handler *next;
};

struct ev_timer {
	struct evloop *loop;
	int fd;
	ev_timer_cb cb;
	void *opaque;
};

struct ev_call {
	void (*fn)(void *);
	void *opaque;
	struct ev_call *next;
};

struct evloop {
	int epfd;
	int wakefd;
	atomic_bool stop;
	struct ev_handler *handlers;
	pthread_mutex_t calls_lock;
	struct ev_call *calls;
};

static struct ev_handler *find_handler(struct evloop *loop, int fd)
{
	for (struct ev_handler *h = loop->handlers; h; h = h->next)
		if (h->fd == fd)
			return h;
	return NULL;
}

static void drain_wakefd(void *opaque, int fd, uint32_t events)
{
	uint64_t v;
	(void)opaque;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("event loop: reading wake eventfd: %s", strerror(errno));
}

struct evloop *evloop_new(void)
{
	struct evloop *loop = xcalloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0) {
		log_error("event loop: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&loop->calls_lock, NULL);
	if (evloop_add_fd(loop, loop->wakefd, EPOLLIN, drain_wakefd, loop) < 0)
		goto fail;
	return loop;
fail:
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop);
	return NULL;
}

void evloop_free(struct evloop *loop)
{
	struct ev_handler *h, *next;

	if (!loop)
		return;
	for (h = loop->handlers; h; h = next) {
		next = h->next;
		free(h);
	}
	for (struct ev_call *c = loop->calls, *cn; c; c = cn) {
		cn = c->next;
		free(c);
	}
	close(loop->epfd);
	close(loop->wakefd);
	pthread_mutex_destroy(&loop->calls_lock);
	free(loop);
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, ev_fd_cb cb, void *opaque)
{
	struct ev_handler *h = xcalloc(1, sizeof(*h));
	struct epoll_event ev = {.events = events, .data.ptr = h};

	h->fd = fd;
	h->cb = cb;
	h->opaque = opaque;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("event loop: adding fd %d: %s", fd, strerror(errno));
		free(h);
		return -1;
	}
	h->next = loop->handlers;
	loop->handlers = h;
	return 0;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
	struct ev_handler *h = find_handler(loop, fd);
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (!h || epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		log_error("event loop: modifying fd %d: %s", fd, h ? strerror(errno) : "not watched");
		return -1;
	}
	return 0;
}

void evloop_del_fd(struct evloop *loop, int fd)
{
	for (struct ev_handler **pp = &loop->handlers; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			struct ev_handler *h = *pp;
			*pp = h->next;
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
			/* A pending event for it in this batch is skipped by evloop_run's check. */
			free(h);
			return;
		}
	}
}

static void timer_fired(void *opaque, int fd, uint32_t events)
{
	struct ev_timer *t = opaque;
	uint64_t n;
	(void)events;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		t->cb(t->opaque);
}

struct ev_timer *evloop_timer_new(struct evloop *loop, ev_timer_cb cb, void *opaque)
{
	struct ev_timer *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	t->cb = cb;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0 || evloop_add_fd(loop, t->fd, EPOLLIN, timer_fired, t) < 0) {
		log_error("event loop: creating timer: %s", strerror(errno));
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

static struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL};
}

void evloop_timer_arm(struct ev_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
	struct itimerspec its = {.it_value = ns_to_ts(delay_ns ? delay_ns : 1),
				 .it_interval = ns_to_ts(period_ns)};
	timerfd_settime(t->fd, 0, &its, NULL);
}

void evloop_timer_disarm(struct ev_timer *t)
{
	struct itimerspec its = {0};
	timerfd_settime(t->fd, 0, &its, NULL);
}

void evloop_timer_free(struct ev_timer *t)
{
	if (!t)
		return;
	evloop_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}

void evloop_stop(struct evloop *loop)
{
	atomic_store(&loop->stop, true);
	evloop_wake(loop);
}

void evloop_wake(struct evloop *loop)
{
	uint64_t one = 1;
	if (write(loop->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
}

void evloop_call(struct evloop *loop, void (*fn)(void *), void *opaque)
{
	struct ev_call *c = xmalloc(sizeof(*c));

	c->fn = fn;
	c->opaque = opaque;
	pthread_mutex_lock(&loop->calls_lock);
	c->next = loop->calls;
	loop->calls = c;
	pthread_mutex_unlock(&loop->calls_lock);
	evloop_wake(loop);
}

/* Run deferred calls in the order they were queued. */
static void run_calls(struct evloop *loop)
{
	struct ev_call *list, *rev = NULL;

	pthread_mutex_lock(&loop->calls_lock);
	list = loop->calls;
	loop->calls = NULL;
	pthread_mutex_unlock(&loop->calls_lock);
	while (list) {
		struct ev_call *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct ev_call *next = rev->next;
		rev->fn(rev->opaque);
		free(rev);
		rev = next;
	}
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event evs[32];

	while (!atomic_load(&loop->stop)) {
		int n = epoll_wait(loop->epfd, evs, ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("event loop: epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;
			/* A callback may delete another handler of this batch: check it is live. */
			bool live = false;
			for (struct ev_handler *x = loop->handlers; x; x = x->next)
				if (x == h) {
					live = true;
					break;
				}
			if (live && h->cb)
				h->cb(h->opaque, h->fd, evs[i].events);
		}
		run_calls(loop);
	}
	return 0;
}
