/*
 * Event loop over epoll and the periodic tick. See net.h.
 */
#include "net.h"
#include "../base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

typedef struct ev_file {
    int mask;
    ev_file_fn *fn;
    void *data;
} ev_file;

struct ev_loop {
    int epfd;
    int setsize;
    ev_file *files;
    struct epoll_event *events;
    ev_hook_fn *before_sleep;
    void *before_sleep_data;
    ev_hook_fn *after_events; /* after each round of handlers */
    void *after_events_data;
    bool stop;
    int period_ms;
    uint64_t last_wake_us;
    uint64_t noted_us; /* latest clock reading a handler reported, or 0 */
    uint64_t next_wakeup_us;
    uint64_t iterations;
    int dispatching; /* >0 while handlers run: ev_poll_once refuses to nest */
    int tfd;         /* timerfd for the tick, or -1 */
    uint64_t tfd_at; /* the monotonic µs it is armed for */
    bool tick_due;   /* it fired */
};

/* The tick's timer. Waiting in epoll_wait with a timeout arms and cancels
 * a kernel timer on every sleep, and at pipeline 1 the loop sleeps every
 * few requests; a timerfd armed once per tick lets those waits be
 * untimed. */
static void timer_fired(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(data);
    SG_UNUSED(mask);
    uint64_t n;
    if (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n)) l->tick_due = true;
}

ev_loop *ev_create(int setsize) {
    ev_loop *l = sg_calloc(sizeof(ev_loop));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        sg_free(l);
        return NULL;
    }
    l->setsize = setsize;
    l->files = sg_calloc(sizeof(ev_file) * (size_t)setsize);
    l->events = sg_calloc(sizeof(struct epoll_event) * 1024);
    l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (l->tfd >= 0 && ev_add(l, l->tfd, EV_READABLE, timer_fired, NULL) != 0) {
        close(l->tfd);
        l->tfd = -1;
    }
    return l;
}

void ev_destroy(ev_loop *l) {
    if (!l) return;
    close(l->epfd);
    if (l->tfd >= 0) close(l->tfd);
    sg_free(l->files);
    sg_free(l->events);
    sg_free(l);
}

static uint32_t epoll_bits(int mask) {
    return ((mask & EV_READABLE) ? EPOLLIN : 0) | ((mask & EV_WRITABLE) ? EPOLLOUT : 0) |
           ((mask & EV_EDGE) ? EPOLLET : 0);
}

int ev_add(ev_loop *l, int fd, int mask, ev_file_fn *fn, void *data) {
    if (fd < 0 || fd >= l->setsize) return -1;
    ev_file *f = &l->files[fd];
    int op = f->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int nm = f->mask | mask;
    if (nm == f->mask && f->fn == fn) return 0;
    struct epoll_event ee = {0};
    ee.events = epoll_bits(nm);
    ee.data.fd = fd;
    if (epoll_ctl(l->epfd, op, fd, &ee) < 0) return -1;
    f->mask = nm;
    f->fn = fn;
    f->data = data;
    return 0;
}

void ev_del(ev_loop *l, int fd, int mask) {
    if (fd < 0 || fd >= l->setsize) return;
    ev_file *f = &l->files[fd];
    if (!f->mask) return;
    int nm = f->mask & ~mask;
    if (!(nm & (EV_READABLE | EV_WRITABLE))) nm = 0;
    struct epoll_event ee = {0};
    ee.events = epoll_bits(nm);
    ee.data.fd = fd;
    epoll_ctl(l->epfd, nm ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &ee);
    f->mask = nm;
}

/* Switches a registered file between edge and level triggering. A switch to
 * edge triggering reports the file once more if it is ready now (epoll
 * re-checks on EPOLL_CTL_MOD), so no input is stranded. */
void ev_set_edge(ev_loop *l, int fd, bool edge) {
    if (fd < 0 || fd >= l->setsize) return;
    ev_file *f = &l->files[fd];
    if (!f->mask || !!(f->mask & EV_EDGE) == edge) return;
    int nm = edge ? f->mask | EV_EDGE : f->mask & ~EV_EDGE;
    struct epoll_event ee = {0};
    ee.events = epoll_bits(nm);
    ee.data.fd = fd;
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ee) == 0) f->mask = nm;
}

int ev_mask(ev_loop *l, int fd) {
    return fd >= 0 && fd < l->setsize ? l->files[fd].mask : 0;
}

void ev_set_before_sleep(ev_loop *l, ev_hook_fn *fn, void *data) {
    l->before_sleep = fn;
    l->before_sleep_data = data;
}

void ev_set_after_events(ev_loop *l, ev_hook_fn *fn, void *data) {
    l->after_events = fn;
    l->after_events_data = data;
}

void ev_set_period(ev_loop *l, int period_ms) {
    l->period_ms = period_ms > 0 ? period_ms : 1;
}

void ev_note_time(ev_loop *l, uint64_t now_us) {
    l->noted_us = now_us;
}

uint64_t ev_last_wake_us(const ev_loop *l) {
    return l->last_wake_us;
}

void ev_set_next_wakeup(ev_loop *l, uint64_t us) {
    l->next_wakeup_us = us;
}

void ev_stop(ev_loop *l) {
    l->stop = true;
}

uint64_t ev_iterations(const ev_loop *l) {
    return l->iterations;
}

/* Calls the handlers of the n events epoll_wait left in l->events. */
static void dispatch(ev_loop *l, int n) {
    l->dispatching++;
    for (int i = 0; i < n; i++) {
        struct epoll_event *e = &l->events[i];
        int fd = e->data.fd;
        ev_file *f = &l->files[fd];
        int mask = 0;
        if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) mask |= EV_READABLE;
        if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) mask |= EV_WRITABLE;
        mask &= f->mask;
        if (mask && f->fn) f->fn(l, fd, f->data, mask);
    }
    /* Still "dispatching": a handler's work deferred to here may not poll. */
    if (n > 0 && l->after_events) l->after_events(l, l->after_events_data);
    l->dispatching--;
}

int ev_poll_once(ev_loop *l) {
    if (l->dispatching) return -1; /* l->events is in use by the caller's caller */
    int n = epoll_wait(l->epfd, l->events, 1024, 0);
    if (n < 0) {
        if (errno != EINTR) sg_panic("epoll_wait: %s", strerror(errno));
        return 0;
    }
    if (n > 0) l->last_wake_us = sg_monotonic_us(); /* handlers read it */
    dispatch(l, n);
    return n;
}

void ev_run(ev_loop *l, int period_ms, ev_hook_fn *tick, void *tick_data) {
    l->period_ms = period_ms > 0 ? period_ms : 1;
    uint64_t next_tick = sg_monotonic_us() + (uint64_t)l->period_ms * 1000;
    while (!l->stop) {
        l->iterations++;
        if (l->before_sleep) l->before_sleep(l, l->before_sleep_data);
        if (l->stop) break;
        uint64_t now = sg_monotonic_us();
        uint64_t until = next_tick;
        if (l->next_wakeup_us && l->next_wakeup_us < until) until = l->next_wakeup_us;
        l->next_wakeup_us = 0;
        int timeout = now >= until ? 0 : (int)((until - now + 999) / 1000);
        if (l->tfd >= 0 && until == next_tick && timeout > 0) { /* the timer wakes us */
            if (l->tfd_at != next_tick) {
                struct itimerspec its = {{0, 0}, {0, 0}};
                its.it_value.tv_sec = (time_t)(next_tick / 1000000);
                its.it_value.tv_nsec = (long)(next_tick % 1000000) * 1000;
                if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
                    l->tfd_at = next_tick;
            }
            if (l->tfd_at == next_tick) timeout = -1;
        }
        int n = epoll_wait(l->epfd, l->events, 1024, timeout);
        if (n < 0 && errno != EINTR) sg_panic("epoll_wait: %s", strerror(errno));
        l->last_wake_us = sg_monotonic_us();
        l->noted_us = 0;
        dispatch(l, n);
        /* The handlers' last reading (a command's end) saves a clock read. */
        now = l->noted_us ? l->noted_us : sg_monotonic_us();
        if (now >= next_tick || l->tick_due) {
            l->tick_due = false;
            next_tick = now + (uint64_t)l->period_ms * 1000;
            if (tick) tick(l, tick_data);
        }
    }
}
