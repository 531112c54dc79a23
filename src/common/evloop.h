/*
 * The I/O thread's event loop: epoll over file descriptors, plus one-shot and
 * periodic timers (timerfd). Callbacks run on the loop's thread only.
 * evloop_wake(), evloop_stop(), evloop_call() and evloop_timer_arm/disarm()
 * (timerfd_settime underneath) are safe from other threads.
 */
#ifndef BERTH_COMMON_EVLOOP_H
#define BERTH_COMMON_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct ev_timer;

/* events is a mask of EPOLLIN/EPOLLOUT/...; the callback gets what fired. */
typedef void (*ev_fd_cb)(void *opaque, int fd, uint32_t events);
typedef void (*ev_timer_cb)(void *opaque);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, ev_fd_cb cb, void *opaque);
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);
void evloop_del_fd(struct evloop *loop, int fd);

/* A timer fires after delay_ns, then every period_ns if that is non-zero. */
struct ev_timer *evloop_timer_new(struct evloop *loop, ev_timer_cb cb, void *opaque);
void evloop_timer_arm(struct ev_timer *t, uint64_t delay_ns, uint64_t period_ns);
void evloop_timer_disarm(struct ev_timer *t);
void evloop_timer_free(struct ev_timer *t);

/* Run until evloop_stop(); returns 0, or -1 if epoll itself failed. */
int evloop_run(struct evloop *loop);
/* Ask the loop to return from evloop_run (any thread, async-signal-safe). */
void evloop_stop(struct evloop *loop);
/* Make a blocked epoll_wait return so the loop re-checks its state (any thread). */
void evloop_wake(struct evloop *loop);
/* Call fn(opaque) on the loop's thread at its next iteration (any thread). */
void evloop_call(struct evloop *loop, void (*fn)(void *), void *opaque);

#endif
