/*
 * Event loop over epoll and the periodic tick, optionally waiting in an
 * io_uring that receives from plain client sockets. See net.h.
 *
 * With the ring (ev_create(.., true) on a kernel that has what it needs:
 * 6.1's deferred task running, multishot receive and provided buffers):
 *
 *   io_uring_enter(wait)  --> recv completions: ev_recv_fn(data)  (no syscall each)
 *                         --> the epoll fd's poll completion: epoll_wait(0), handlers
 *   after_events, before_sleep, tick as with epoll alone
 *
 * Files registered with ev_add (listeners, the timerfd, TLS clients,
 * sockets waiting to be writable, the metrics endpoint) stay in epoll; the
 * epoll fd itself is polled by the ring (multishot), so one wait covers
 * both. A poll completion comes on each new readiness only, while epoll
 * re-reports level-triggered files that stay ready: after a round in which
 * epoll_wait found anything, the next one asks epoll again before sleeping.
 *
 * Receives are multishot: armed once per connection, they complete each
 * time bytes arrive, into a buffer the kernel takes from a ring of
 * EV_RBUF_N buffers of EV_RBUF_SIZE bytes shared by all connections. The
 * handler copies the bytes out and the buffer goes back to the ring at the
 * end of the round. When the ring runs dry a receive ends with ENOBUFS and
 * is armed again for the next wait (the bytes wait in the socket, which is
 * the back-pressure epoll gave). A stopped receive is cancelled; its fd
 * number may be reused at once, so completions carry a per-fd generation
 * and stale ones are dropped. Replies are still written with send(2) by
 * the caller: an asynchronous send would pin reply buffers until its
 * completion, for no measured gain (see docs/performance.md).
 *
 * Batched waits (ev_set_wait_batch, off unless asked for): after a round
 * that completed n > 1 receives, the wait asks the kernel for min(n, 16)
 * completions or a timeout; with deferred task running the loop is not
 * woken before then, so a busy server sleeps and wakes less often, and a
 * request may wait up to the timeout. Measured in docs/performance.md.
 */
#include "net.h"
#include "../base/base.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

typedef struct ev_file {
    int mask;
    ev_file_fn *fn;
    void *data;
    ev_recv_fn *recv_fn; /* multishot receive armed (ring only) */
    void *recv_data;
    uint32_t gen; /* generation of the receive, in its completions */
} ev_file;

/* The receive buffers: EV_RBUF_N (a power of two) x EV_RBUF_SIZE, 1 MB.
 * 16 KB, the size of a read on the epoll path, so that a request of up to
 * 16 KB arrives in one completion; 64 of them, since the kernel runs at
 * most about 20 receives per wait (IO_LOCAL_TW_DEFAULT_MAX) and at
 * pipeline 1 each takes one buffer. */
#define EV_RBUF_N     64
#define EV_RBUF_SIZE  16384
#define EV_RBUF_GROUP 0
/* ev_set_wait_batch: the most receives a wait holds out for. */
#define EV_BATCH_MAX 16

/* Completion tags: kind in the top byte, generation, fd. */
enum { UD_RECV = 1, UD_EPOLL = 2, UD_CANCEL = 3 };
#define UD(kind, gen, fd)                                                                          \
    (((uint64_t)(kind) << 56) | ((uint64_t)((gen)&0xffffff) << 32) | (uint32_t)(fd))

typedef struct ev_ring {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *bufs;
    bool epoll_armed; /* the epoll fd's multishot poll is in the ring */
    bool epoll_again; /* the last epoll_wait found events: ask again before sleeping */
    int batch_us;     /* ev_set_wait_batch */
    int round_recvs;  /* receive completions in the last round */
    int *rearm;       /* receives to arm again at the end of a round */
    int nrearm, rearm_cap;
} ev_ring;

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
    ev_ring *r;      /* NULL: epoll alone */
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

/* Hands every queued entry to the kernel, or stops the server: a queued
 * receive must not outlive its fd (see ev_recv_stop). */
static void ring_submit_all(ev_ring *r) {
    for (int i = 0; i < 100 && io_uring_sq_ready(&r->ring); i++) {
        int rc = io_uring_submit(&r->ring);
        if (rc < 0 && rc != -EAGAIN && rc != -EINTR && rc != -EBUSY)
            sg_panic("io_uring_submit: %s", strerror(-rc));
    }
    if (io_uring_sq_ready(&r->ring)) sg_panic("io_uring_submit: the queue stays full");
}

/* A free submission entry. When the queue is full it is handed to the
 * kernel first; a ring that takes nothing more is as broken as an epoll fd
 * that fails its wait, and stops the server the same way. */
static struct io_uring_sqe *ring_sqe(ev_ring *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        ring_submit_all(r);
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

static void ring_arm_epoll(ev_loop *l) {
    struct io_uring_sqe *sqe = ring_sqe(l->r);
    io_uring_prep_poll_multishot(sqe, l->epfd, POLLIN);
    io_uring_sqe_set_data64(sqe, UD(UD_EPOLL, 0, l->epfd));
    l->r->epoll_armed = true;
}

static void ring_free(ev_ring *r) {
    if (!r) return;
    io_uring_queue_exit(&r->ring); /* cancels what is in flight */
    free(r->br);
    sg_free(r->bufs);
    sg_free(r->rearm);
    sg_free(r);
}

/* The ring, or NULL (errno set) where the kernel lacks a feature or
 * refuses io_uring (sysctl kernel.io_uring_disabled, a seccomp filter). */
static ev_ring *ring_create(void) {
    ev_ring *r = sg_calloc(sizeof(ev_ring));
    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 4096;
    int rc = io_uring_queue_init_params(256, &r->ring, &p);
    if (rc < 0) {
        sg_free(r);
        errno = -rc;
        return NULL;
    }
    if (!(p.features & IORING_FEAT_EXT_ARG)) {
        io_uring_queue_exit(&r->ring);
        sg_free(r);
        errno = ENOSYS;
        return NULL;
    }
    /* The ring's own fd registered: each io_uring_enter skips the fd
     * table lookup (fails harmlessly on kernels before 5.18). */
    io_uring_register_ring_fd(&r->ring);
    size_t brsz = sizeof(struct io_uring_buf) * EV_RBUF_N;
    void *br = NULL;
    if (posix_memalign(&br, 4096, brsz) != 0) sg_panic("out of memory");
    r->br = br;
    memset(r->br, 0, brsz);
    r->bufs = sg_malloc((size_t)EV_RBUF_N * EV_RBUF_SIZE);
    io_uring_buf_ring_init(r->br);
    struct io_uring_buf_reg reg = {0};
    reg.ring_addr = (uint64_t)(uintptr_t)r->br;
    reg.ring_entries = EV_RBUF_N;
    reg.bgid = EV_RBUF_GROUP;
    rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (rc < 0) {
        ring_free(r);
        errno = -rc;
        return NULL;
    }
    for (int i = 0; i < EV_RBUF_N; i++)
        io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * EV_RBUF_SIZE, EV_RBUF_SIZE,
                              (unsigned short)i, io_uring_buf_ring_mask(EV_RBUF_N), i);
    io_uring_buf_ring_advance(r->br, EV_RBUF_N);
    return r;
}

ev_loop *ev_create(int setsize, bool ring) {
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
    if (ring) {
        l->r = ring_create();
        if (l->r) ring_arm_epoll(l);
    }
    return l;
}

void ev_set_wait_batch(ev_loop *l, int us) {
    if (l->r) l->r->batch_us = us > 0 ? us : 0;
}

const char *ev_backend(const ev_loop *l) {
    return l->r ? "io_uring" : "epoll";
}

void ev_destroy(ev_loop *l) {
    if (!l) return;
    ring_free(l->r);
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

static void ring_arm_recv(ev_loop *l, int fd) {
    struct io_uring_sqe *sqe = ring_sqe(l->r);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = EV_RBUF_GROUP;
    io_uring_sqe_set_data64(sqe, UD(UD_RECV, l->files[fd].gen, fd));
}

int ev_recv_start(ev_loop *l, int fd, ev_recv_fn *fn, void *data) {
    if (!l->r || fd < 0 || fd >= l->setsize || l->files[fd].recv_fn) return -1;
    ev_file *f = &l->files[fd];
    f->recv_fn = fn;
    f->recv_data = data;
    f->gen++;
    ring_arm_recv(l, fd);
    return 0;
}

void ev_recv_stop(ev_loop *l, int fd) {
    if (!l->r || fd < 0 || fd >= l->setsize || !l->files[fd].recv_fn) return;
    ev_file *f = &l->files[fd];
    /* Submitted now, while fd is still this socket: a receive queued and
     * not yet submitted would otherwise be submitted on whatever socket
     * reuses the fd number after the caller closes it, and take its bytes
     * under the old generation. The ring holds a reference to the socket
     * until the cancel completes (within this call, or the next wait). */
    struct io_uring_sqe *sqe = ring_sqe(l->r);
    io_uring_prep_cancel64(sqe, UD(UD_RECV, f->gen, fd), 0);
    io_uring_sqe_set_data64(sqe, UD(UD_CANCEL, 0, fd));
    ring_submit_all(l->r);
    f->recv_fn = NULL;
    f->recv_data = NULL;
    f->gen++; /* what is still on its way is stale */
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

/* epoll_wait into l->events: the number of events, 0 when interrupted. */
static int epoll_ready(ev_loop *l, int timeout) {
    int n = epoll_wait(l->epfd, l->events, 1024, timeout);
    if (n < 0) {
        if (errno != EINTR) sg_panic("epoll_wait: %s", strerror(errno));
        n = 0;
    }
    return n;
}

/* Calls the handlers of the n events epoll_wait left in l->events. */
static void dispatch_files(ev_loop *l, int n) {
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
}

/* Handles the completions waiting in the ring: receives go to their
 * handlers, their buffers back to the ring, receives that ended for want of
 * a buffer are armed again. Returns the number of completions; *ep: the
 * epoll fd is readable. */
static int ring_reap(ev_loop *l, bool *ep) {
    ev_ring *r = l->r;
    int n = 0, nret = 0; /* nret: buffers handed back, published below */
    r->round_recvs = 0;
    r->nrearm = 0;
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
        uint64_t ud = cqe->user_data;
        int res = cqe->res;
        unsigned flags = cqe->flags;
        io_uring_cqe_seen(&r->ring, cqe);
        n++;
        int kind = (int)(ud >> 56), fd = (int)(uint32_t)ud;
        if (kind == UD_EPOLL) {
            *ep = true;
            if (!(flags & IORING_CQE_F_MORE)) r->epoll_armed = false;
            continue;
        }
        if (kind != UD_RECV) continue;
        r->round_recvs++;
        char *buf = NULL;
        unsigned bid = 0;
        if (flags & IORING_CQE_F_BUFFER) {
            bid = flags >> IORING_CQE_BUFFER_SHIFT;
            buf = r->bufs + (size_t)bid * EV_RBUF_SIZE;
        }
        ev_file *f = &l->files[fd];
        uint32_t gen = (uint32_t)(ud >> 32) & 0xffffff;
        if (f->recv_fn && gen == (f->gen & 0xffffff)) {
            /* Out of buffers, or a transient error the kernel does not
             * give a multishot receive today but might: armed again. */
            bool again = res == -ENOBUFS || res == -EINTR || res == -EAGAIN;
            if (again || (res > 0 && !(flags & IORING_CQE_F_MORE))) {
                /* Armed again after the buffers go back (below): armed
                 * now, it could fail the same way at once. */
                if (r->nrearm == r->rearm_cap) {
                    r->rearm_cap = r->rearm_cap ? r->rearm_cap * 2 : 64;
                    r->rearm = sg_realloc(r->rearm, sizeof(int) * (size_t)r->rearm_cap);
                }
                r->rearm[r->nrearm++] = fd;
            }
            if (!again) f->recv_fn(l, fd, f->recv_data, buf, res);
        }
        if (buf) {
            io_uring_buf_ring_add(r->br, buf, EV_RBUF_SIZE, (unsigned short)bid,
                                  io_uring_buf_ring_mask(EV_RBUF_N), nret++);
        }
    }
    if (nret) io_uring_buf_ring_advance(r->br, nret);
    for (int i = 0; i < r->nrearm; i++) {
        ev_file *f = &l->files[r->rearm[i]];
        if (f->recv_fn) { /* the handler may have stopped it */
            f->gen++;
            ring_arm_recv(l, r->rearm[i]);
        }
    }
    return n;
}

/* One round of events: what the ring completed, then epoll's ready files
 * when the ring said so (or epoll had some last round), then after_events.
 * Returns the number of events. */
static int round_ring(ev_loop *l) {
    bool ep = false;
    int n = ring_reap(l, &ep);
    if (ep || l->r->epoll_again) {
        int k = epoll_ready(l, 0);
        l->r->epoll_again = k > 0;
        dispatch_files(l, k);
        n += k;
    }
    return n;
}

static int dispatch(ev_loop *l, int n) {
    l->dispatching++;
    if (l->r)
        n = round_ring(l);
    else
        dispatch_files(l, n);
    /* Still "dispatching": a handler's work deferred to here may not poll. */
    if (n > 0 && l->after_events) l->after_events(l, l->after_events_data);
    l->dispatching--;
    return n;
}

/* Submits what is queued and waits for a completion, at most timeout ms
 * (-1: no limit, 0: not at all). */
static void ring_wait(ev_loop *l, int timeout) {
    ev_ring *r = l->r;
    if (!r->epoll_armed) ring_arm_epoll(l);
    if (r->epoll_again) timeout = 0;
    int rc;
    if (timeout == 0) {
        rc = io_uring_submit_and_get_events(&r->ring);
    } else {
        unsigned want = 1;
        bool timed = timeout > 0;
        struct __kernel_timespec ts = {timeout / 1000, (long long)(timeout % 1000) * 1000000};
        if (r->batch_us > 0 && r->round_recvs > 1 &&
            (!timed || (long long)timeout * 1000 > r->batch_us)) {
            /* Busy: sleep until as many receives as last round completed,
             * or batch_us. The kernel wakes the loop only then (its
             * deferred task work counts them), not on each one. */
            want = r->round_recvs < EV_BATCH_MAX ? (unsigned)r->round_recvs : EV_BATCH_MAX;
            ts = (struct __kernel_timespec){0, (long long)r->batch_us * 1000};
            timed = true;
        }
        struct io_uring_cqe *cqe;
        rc = timed ? io_uring_submit_and_wait_timeout(&r->ring, &cqe, want, &ts, NULL)
                   : io_uring_submit_and_wait(&r->ring, 1);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        sg_panic("io_uring_enter: %s", strerror(-rc));
}

int ev_poll_once(ev_loop *l) {
    if (l->dispatching) return -1; /* l->events is in use by the caller's caller */
    int n = 0;
    if (l->r) {
        ring_wait(l, 0);
        l->r->epoll_again = true; /* look at epoll too: a pass waits for nothing */
    } else {
        n = epoll_ready(l, 0);
    }
    l->last_wake_us = sg_monotonic_us(); /* handlers read it */
    return dispatch(l, n);
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
        int n = 0;
        if (l->r)
            ring_wait(l, timeout);
        else
            n = epoll_ready(l, timeout);
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
