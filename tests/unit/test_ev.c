/* Unit tests for the event loop's io_uring receives (src/net/ev.c): bytes
 * and end of file reach the handler, a stopped receive's fd number reused
 * at once gets none of the old one's completions, files in epoll keep
 * working inside the ring (level-triggered ones re-reported while ready),
 * and a loop without the ring refuses receives. Skips the ring tests where
 * the kernel refuses io_uring. */
#include "../../src/base/base.h"
#include "../../src/net/net.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

typedef struct sink {
    char buf[1 << 16];
    size_t len;
    int eofs, errors, calls;
} sink;

static void on_recv(ev_loop *l, int fd, void *data, const char *buf, ssize_t n) {
    SG_UNUSED(l);
    SG_UNUSED(fd);
    sink *k = data;
    k->calls++;
    if (n > 0) {
        if (k->len + (size_t)n <= sizeof(k->buf)) memcpy(k->buf + k->len, buf, (size_t)n);
        k->len += (size_t)n;
    } else if (n == 0) {
        k->eofs++;
    } else {
        k->errors++;
    }
}

/* Polls until cond or about 2 s. */
#define POLL_UNTIL(l, cond)                                                                        \
    do {                                                                                           \
        for (int i_ = 0; i_ < 2000 && !(cond); i_++) {                                             \
            ev_poll_once(l);                                                                       \
            if (!(cond)) usleep(1000);                                                             \
        }                                                                                          \
    } while (0)

static ev_loop *ring_loop(void) {
    ev_loop *l = ev_create(1024, true);
    if (l && strcmp(ev_backend(l), "io_uring") != 0) {
        printf("  (io_uring refused here: ring tests skipped)\n");
        ev_destroy(l);
        return NULL;
    }
    return l;
}

TEST(recv_bytes_and_eof) {
    ev_loop *l = ring_loop();
    if (!l) return;
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    static sink k;
    memset(&k, 0, sizeof(k));
    CHECK_EQ(ev_recv_start(l, sv[0], on_recv, &k), 0);
    CHECK_EQ(ev_recv_start(l, sv[0], on_recv, &k), -1); /* already receiving */
    CHECK(write(sv[1], "hello ", 6) == 6);
    POLL_UNTIL(l, k.len == 6);
    CHECK(write(sv[1], "world", 5) == 5);
    POLL_UNTIL(l, k.len == 11);
    CHECK_MEM_EQ(k.buf, 11, "hello world");
    /* more than one receive buffer (4 KB) at once, in order */
    static char big[20000];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
    CHECK(write(sv[1], big, sizeof(big)) == (ssize_t)sizeof(big));
    POLL_UNTIL(l, k.len == 11 + sizeof(big));
    CHECK(k.len == 11 + sizeof(big) && memcmp(k.buf + 11, big, sizeof(big)) == 0);
    close(sv[1]);
    POLL_UNTIL(l, k.eofs == 1);
    CHECK_EQ(k.eofs, 1);
    CHECK_EQ(k.errors, 0);
    ev_recv_stop(l, sv[0]);
    close(sv[0]);
    ev_destroy(l);
}

TEST(stopped_fd_reused_gets_no_stale_bytes) {
    ev_loop *l = ring_loop();
    if (!l) return;
    static sink a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    for (int round = 0; round < 50; round++) {
        int s1[2], s2[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s1) == 0);
        a.len = 0;
        a.calls = 0;
        CHECK_EQ(ev_recv_start(l, s1[0], on_recv, &a), 0);
        /* bytes waiting, the receive queued but not run: then stopped */
        CHECK(write(s1[1], "old", 3) == 3);
        if (round % 2) ev_poll_once(l);
        ev_recv_stop(l, s1[0]);
        int fd = s1[0];
        close(s1[0]);
        close(s1[1]);
        /* the next socket takes the same fd number */
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s2) == 0);
        REQUIRE(s2[0] == fd || s2[1] == fd);
        int mine = s2[0] == fd ? s2[0] : s2[1], peer = s2[0] == fd ? s2[1] : s2[0];
        b.len = 0;
        CHECK_EQ(ev_recv_start(l, mine, on_recv, &b), 0);
        CHECK(write(peer, "new", 3) == 3);
        POLL_UNTIL(l, b.len == 3);
        for (int i = 0; i < 5; i++) ev_poll_once(l);
        CHECK_EQ(b.len, 3);
        CHECK_MEM_EQ(b.buf, 3, "new");
        CHECK(a.len == 0 || (a.len == 3 && memcmp(a.buf, "old", 3) == 0));
        ev_recv_stop(l, mine);
        close(mine);
        close(peer);
    }
    ev_destroy(l);
}

static int pipe_calls;
static void read_one_byte(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(data);
    SG_UNUSED(mask);
    char c;
    if (read(fd, &c, 1) == 1) pipe_calls++;
}

TEST(epoll_files_inside_the_ring) {
    ev_loop *l = ring_loop();
    if (!l) return;
    int p[2];
    REQUIRE(pipe2(p, O_NONBLOCK) == 0);
    pipe_calls = 0;
    CHECK_EQ(ev_add(l, p[0], EV_READABLE, read_one_byte, NULL), 0);
    /* Level triggered, one byte read per call: the file stays ready after
     * the first report, which the ring's poll of the epoll fd does not
     * repeat; the loop must ask epoll again. */
    CHECK(write(p[1], "xyz", 3) == 3);
    POLL_UNTIL(l, pipe_calls == 3);
    CHECK_EQ(pipe_calls, 3);
    ev_del(l, p[0], EV_READABLE);
    close(p[0]);
    close(p[1]);
    ev_destroy(l);
}

static int ticks;
static void stop_when_read(ev_loop *l, void *data) {
    SG_UNUSED(data);
    if (pipe_calls == 3) ev_stop(l);
}
static void count_tick(ev_loop *l, void *data) {
    SG_UNUSED(data);
    if (++ticks == 2) ev_stop(l); /* what a loop that waits for nothing new comes to */
}

/* The same through ev_run, which sleeps in the ring between rounds: the
 * bytes left in the pipe must be served without waiting for the tick. */
TEST(level_triggered_file_in_ev_run) {
    ev_loop *l = ring_loop();
    if (!l) return;
    int p[2];
    REQUIRE(pipe2(p, O_NONBLOCK) == 0);
    pipe_calls = 0;
    ticks = 0;
    CHECK_EQ(ev_add(l, p[0], EV_READABLE, read_one_byte, NULL), 0);
    CHECK(write(p[1], "xyz", 3) == 3);
    ev_set_before_sleep(l, stop_when_read, NULL);
    ev_run(l, 5000, count_tick, NULL);
    CHECK_EQ(pipe_calls, 3);
    CHECK_EQ(ticks, 0);
    close(p[0]);
    close(p[1]);
    ev_destroy(l);
}

TEST(no_ring_means_epoll) {
    ev_loop *l = ev_create(1024, false);
    REQUIRE(l != NULL);
    CHECK_STR_EQ(ev_backend(l), "epoll");
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    static sink k;
    CHECK_EQ(ev_recv_start(l, sv[0], on_recv, &k), -1);
    ev_recv_stop(l, sv[0]); /* harmless */
    close(sv[0]);
    close(sv[1]);
    ev_destroy(l);
}
