/*
 * net: the event loop (epoll, or io_uring with epoll inside), timers,
 * listening sockets and connections.
 *
 * The loop is level-triggered: a handler that leaves bytes unread is called
 * again, so fairness between clients is the reader's choice (it reads at
 * most one buffer per wakeup). Writes are done eagerly from the server's
 * before-sleep hook; the writable event is only armed for a socket whose
 * kernel buffer filled up, so the common request/response path costs
 * epoll_wait + read + write and nothing else.
 *
 * With io_uring (ev_create's ring, where the kernel allows it), plain
 * client sockets are read by multishot receives instead (ev_recv_start):
 * their bytes arrive with the ring's completions, one system call per
 * round for all of them; see ev.c.
 *
 * A connection is an fd plus a small table of functions (plain TCP, or
 * TLS in tls.c) so the server never calls read(2)/write(2) directly.
 */
#ifndef SURGE_NET_H
#define SURGE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define EV_READABLE 1
#define EV_WRITABLE 2
/* With EV_READABLE|EV_WRITABLE in ev_add: the registration is edge
 * triggered (EPOLLET). The handler must then read until a short read or
 * EAGAIN, or ask for level triggering back with ev_set_edge(false) while it
 * leaves input in the socket: epoll does not re-check an edge-triggered file
 * it has reported, which is what saves the work. */
#define EV_EDGE 4

typedef struct ev_loop ev_loop;
typedef void ev_file_fn(ev_loop *l, int fd, void *data, int mask);
typedef void ev_hook_fn(ev_loop *l, void *data);
/* A receive's completion: n > 0 bytes at buf (valid during the call),
 * 0 at end of file, -errno on an error (then no more come). */
typedef void ev_recv_fn(ev_loop *l, int fd, void *data, const char *buf, ssize_t n);

/* setsize: the largest fd + 1 the loop will handle. ring: wait in an
 * io_uring, if the kernel allows it (else epoll alone, as ev_backend
 * tells). NULL on failure. */
ev_loop *ev_create(int setsize, bool ring);
/* With the ring: after a round that completed n > 1 receives, the next
 * wait sleeps until min(n, 16) complete or us microseconds pass, instead
 * of waking for the first (0: off, the default). Fewer wake-ups under
 * load, for up to us of added latency; nothing without the ring. */
void ev_set_wait_batch(ev_loop *l, int us);
/* "io_uring" or "epoll". */
const char *ev_backend(const ev_loop *l);
/* Receives from fd (a stream socket) with the ring until ev_recv_stop:
 * fn gets the bytes as they arrive. -1 without a ring, or when fd is out
 * of range or already receiving. Stop before closing fd. */
int ev_recv_start(ev_loop *l, int fd, ev_recv_fn *fn, void *data);
void ev_recv_stop(ev_loop *l, int fd);
void ev_destroy(ev_loop *l);
/* Registers fn for the events in mask (adds to what is registered).
 * Returns 0, or -1 if fd is out of range or epoll refuses. */
int ev_add(ev_loop *l, int fd, int mask, ev_file_fn *fn, void *data);
void ev_del(ev_loop *l, int fd, int mask);
int ev_mask(ev_loop *l, int fd);
void ev_set_edge(ev_loop *l, int fd, bool edge);
void ev_set_before_sleep(ev_loop *l, ev_hook_fn *fn, void *data);
/* Called after the handlers of each epoll_wait round have run. */
void ev_set_after_events(ev_loop *l, ev_hook_fn *fn, void *data);
/* Runs until ev_stop(); calls before_sleep before each wait, and the tick
 * every period_ms (a timerfd wakes the wait for it; the wait is timed only
 * when ev_set_next_wakeup asked for an earlier wake-up). */
void ev_run(ev_loop *l, int period_ms, ev_hook_fn *tick, void *tick_data);
void ev_stop(ev_loop *l);
/* One non-blocking pass, for a caller busy outside the loop (start-up
 * loading): waits for nothing, calls the handlers of the ready fds, and
 * runs no before_sleep hook and no tick. Returns the number of events
 * handled, or -1 (doing nothing) when called from inside a handler. */
int ev_poll_once(ev_loop *l);
/* Wake the next wait no later than this monotonic time (0: no request). */
void ev_set_next_wakeup(ev_loop *l, uint64_t us);
/* Monotonic time the last wait returned (0 before the first). */
uint64_t ev_last_wake_us(const ev_loop *l);
/* A handler's clock reading: the loop uses the latest one of a round of
 * events instead of reading the clock again after it. */
void ev_note_time(ev_loop *l, uint64_t now_us);
/* Changes the tick period (takes effect from the next tick). */
void ev_set_period(ev_loop *l, int period_ms);
uint64_t ev_iterations(const ev_loop *l);

/* ---- sockets ---- */
/* Listens on addr:port (IPv4 or IPv6 literal, or "*" / "::*"). Returns the
 * fd or -1 with errbuf filled. */
int net_listen(const char *addr, int port, int backlog, char *errbuf, size_t errlen);
/* Accepts one connection: returns fd or -1 (errno EAGAIN when none). The
 * peer's address as "ip:port" goes to ip (IPv6 without brackets, as Redis). */
int net_accept(int lfd, char *ip, size_t iplen, int *port);
int net_set_nonblock(int fd);
int net_set_nodelay(int fd);
int net_local_addr(int fd, char *ip, size_t iplen, int *port);
bool net_is_loopback(const char *ip);

/* ---- connections ---- */
typedef struct conn conn;
typedef struct conn_type {
    const char *name;
    ssize_t (*read)(conn *c, void *buf, size_t n);
    ssize_t (*writev)(conn *c, const struct iovec *iov, int n);
    void (*close)(conn *c);
    /* Optional (NULL for plain TCP): bytes already decrypted inside the
     * connection, which epoll will not signal; whether the last read
     * needs the socket writable to make progress (TLS handshake). */
    size_t (*pending)(conn *c);
    bool (*want_write)(conn *c);
} conn_type;

struct conn {
    const conn_type *type;
    int fd;
};

conn *conn_plain_new(int fd);
static inline ssize_t conn_read(conn *c, void *buf, size_t n) {
    return c->type->read(c, buf, n);
}
static inline ssize_t conn_writev(conn *c, const struct iovec *iov, int n) {
    return c->type->writev(c, iov, n);
}
static inline void conn_close(conn *c) {
    c->type->close(c);
}
static inline size_t conn_pending(conn *c) {
    return c->type->pending ? c->type->pending(c) : 0;
}
static inline bool conn_want_write(conn *c) {
    return c->type->want_write && c->type->want_write(c);
}

/* ---- TLS (tls.c, OpenSSL) ---- */
enum { TLS_AUTH_NO, TLS_AUTH_YES, TLS_AUTH_OPTIONAL };
typedef struct tls_options {
    const char *cert_file, *key_file, *key_pass; /* key_pass: NULL or "" if none */
    const char *ca_cert_file, *ca_cert_dir;
    int auth_clients;         /* TLS_AUTH_* */
    const char *protocols;    /* "TLSv1.2 TLSv1.3" */
    const char *ciphers;      /* TLS 1.2 and below; NULL/"" = OpenSSL's default */
    const char *ciphersuites; /* TLS 1.3 */
    bool prefer_server_ciphers;
} tls_options;
/* Builds a server context and makes it current for new connections; the
 * old one stays with the connections made from it. 0, or -1 with err. */
int tls_configure(const tls_options *o, char *err, size_t errlen);
bool tls_enabled(void);
void tls_shutdown(void);
/* A TLS connection in the accept state (NULL if no context): reads and
 * writes drive the handshake and fail with EAGAIN until it completes. */
conn *conn_tls_new(int fd);
bool conn_is_tls(const conn *c);
/* True for a TLS connection whose handshake is older than timeout_us. */
bool conn_tls_handshake_expired(const conn *c, uint64_t now_us, uint64_t timeout_us);
/* "TLSv1.3" once the handshake is done, else NULL. */
const char *conn_tls_version(const conn *c);

#endif
