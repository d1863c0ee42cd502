/*
 * LD_PRELOAD shim for the tests: io_uring refused, as a kernel with
 * kernel.io_uring_disabled=2 or a container's seccomp filter refuses it.
 * liburing's ring set-up is replaced by one that fails with EPERM; the
 * server must fall back to epoll and say so (test_netio.py).
 */
#include <errno.h>

struct io_uring;
struct io_uring_params;

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
                               struct io_uring_params *p);

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
                               struct io_uring_params *p) {
    (void)entries;
    (void)ring;
    (void)p;
    return -EPERM;
}
