/*
 * surge-bench: a load generator for any RESP server (Surge, Redis), built on
 * the project's RESP code, that measures latency honestly.
 *
 *   surge-bench [-h host] [-p port] [-c conns] [-P pipeline] [-n requests |
 *               -d seconds] [--rate R] [-t get:90,set:10] [-r keyspace]
 *               [--dist uniform|zipf[:s]|seq] [-s value-size] [--seed N]
 *               [--output text|csv|json] [-q]
 *
 * Closed loop (default): every connection keeps `pipeline` requests in
 * flight and sends the next one as each reply arrives: the maximum
 * throughput the server sustains for that concurrency.
 *
 * Open loop (--rate R): requests are due at fixed times (R per second in
 * total, spread round-robin over the connections) whatever the server
 * does, and each request's latency is measured from its due time. When the
 * server stalls, requests pile up and their waiting time is counted, which
 * is what a user of a real service sees (no coordinated omission, unlike
 * redis-benchmark).
 *
 * One thread, one epoll set; latencies go into a log-linear histogram
 * (obs_hist, ~6% bucket resolution) in microseconds.
 */
#include "../base/base.h"
#include "../net/net.h"
#include "../obs/obs.h"
#include "../resp/resp.h"
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct bconn {
    int fd;
    sstr *out;
    size_t osent;
    char *in;
    size_t ilen, icap;
    uint64_t *due; /* ring of intended send times of in-flight requests */
    size_t ring, head, inflight;
    bool want_write;
} bconn;

typedef struct opts {
    const char *host;
    int port, conns, pipeline;
    uint64_t requests;
    double seconds, rate, zipf_s;
    uint64_t keyspace;
    size_t vsize;
    uint64_t seed;
    const char *mix, *output;
    bool quiet;
    bool seq; /* --dist seq */
} opts;

static opts O = {"127.0.0.1",     6379,   50,    1,    100000, 0, 0, 0, 100000, 16, 1,
                 "get:50,set:50", "text", false, false};
static lg_keys keys;
static lg_mix mix;
static char *value;
static obs_hist hist;
static uint64_t sent, done, errors;
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t xrand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static sstr *append_cmd(sstr *o, int argc, const char **argv, const size_t *lens) {
    o = sstr_catfmt(o, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        o = sstr_catfmt(o, "$%zu\r\n", lens[i]);
        o = sstr_cat(o, argv[i], lens[i]);
        o = sstr_cat(o, "\r\n", 2);
    }
    return o;
}

static void queue_request(bconn *c, uint64_t due_us) {
    int cmd = lg_mix_pick(&mix, (uint32_t)(xrand() % mix.total));
    static uint64_t seq_next; /* --dist seq: every key once, in order */
    uint64_t k = O.seq ? seq_next++ % O.keyspace
                       : lg_keys_pick(&keys, (double)(xrand() >> 11) / (double)(1ULL << 53));
    char key[48], member[32];
    static const char *prefix[LG__COUNT] = {"key",  "key", "counter", "list",
                                            "hash", "set", "zset",    ""};
    size_t kl =
        (size_t)snprintf(key, sizeof(key), "%s:%012llu", prefix[cmd], (unsigned long long)k);
    size_t ml =
        (size_t)snprintf(member, sizeof(member), "m:%llu", (unsigned long long)(xrand() % 1000));
    const char *argv[4];
    size_t lens[4];
    int argc = 0;
#define ARG(p, l) (argv[argc] = (p), lens[argc] = (l), argc++)
    switch (cmd) {
    case LG_GET:
        ARG("GET", 3);
        ARG(key, kl);
        break;
    case LG_SET:
        ARG("SET", 3);
        ARG(key, kl);
        ARG(value, O.vsize);
        break;
    case LG_INCR:
        ARG("INCR", 4);
        ARG(key, kl);
        break;
    case LG_LPUSH:
        ARG("LPUSH", 5);
        ARG(key, kl);
        ARG(value, O.vsize);
        break;
    case LG_HSET:
        ARG("HSET", 4);
        ARG(key, kl);
        ARG(member, ml);
        ARG(value, O.vsize);
        break;
    case LG_SADD:
        ARG("SADD", 4);
        ARG(key, kl);
        ARG(member, ml);
        break;
    case LG_ZADD:
        ARG("ZADD", 4);
        ARG(key, kl);
        ARG("1", 1);
        ARG(member, ml);
        break;
    default:
        ARG("PING", 4);
        break;
    }
#undef ARG
    c->out = append_cmd(c->out, argc, argv, lens);
    if (c->inflight == c->ring) { /* grow the ring (open loop under a stall) */
        size_t nr = c->ring * 2;
        uint64_t *n = sg_malloc(sizeof(uint64_t) * nr);
        for (size_t i = 0; i < c->inflight; i++) n[i] = c->due[(c->head + i) % c->ring];
        sg_free(c->due);
        c->due = n;
        c->ring = nr;
        c->head = 0;
    }
    c->due[(c->head + c->inflight) % c->ring] = due_us;
    c->inflight++;
    sent++;
}

static int connect_to(const char *host, int port) {
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    net_set_nodelay(fd);
    net_set_nonblock(fd);
    return fd;
}

static void flush_out(bconn *c) {
    while (c->osent < c->out->len) {
        ssize_t w = write(c->fd, c->out->buf + c->osent, c->out->len - c->osent);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            sg_panic("write: %s", strerror(errno));
        }
        c->osent += (size_t)w;
    }
    if (c->osent == c->out->len) {
        c->out->len = 0;
        c->osent = 0;
    }
}

static bool may_send(uint64_t now, uint64_t start) {
    if (O.seconds > 0) return now - start < (uint64_t)(O.seconds * 1e6);
    return sent < O.requests;
}

static void usage(void) {
    fprintf(stderr,
            "usage: surge-bench [-h host] [-p port] [-c conns] [-P pipeline] [-n requests | -d "
            "seconds]\n"
            "                   [--rate R] [-t get:90,set:10] [-r keyspace] [--dist "
            "uniform|zipf[:s]|seq]\n"
            "                   [-s value-size] [--seed N] [--output text|csv|json] [-q]\n");
}

static void report(uint64_t elapsed_us) {
    double secs = (double)elapsed_us / 1e6;
    double rps = secs > 0 ? (double)done / secs : 0;
    double p[5] = {obs_hist_percentile(&hist, 50), obs_hist_percentile(&hist, 90),
                   obs_hist_percentile(&hist, 99), obs_hist_percentile(&hist, 99.9),
                   (double)hist.max_us};
    const char *mode = O.rate > 0 ? "open" : "closed";
    if (!strcmp(O.output, "csv")) {
        printf("mode,mix,conns,pipeline,rate,requests,errors,seconds,rps,p50_us,p90_us,p99_us,"
               "p999_us,max_us\n");
        printf("%s,\"%s\",%d,%d,%.0f,%llu,%llu,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", mode, O.mix,
               O.conns, O.pipeline, O.rate, (unsigned long long)done, (unsigned long long)errors,
               secs, rps, p[0], p[1], p[2], p[3], p[4]);
    } else if (!strcmp(O.output, "json")) {
        printf("{\"mode\":\"%s\",\"mix\":\"%s\",\"conns\":%d,\"pipeline\":%d,\"rate\":%.0f,"
               "\"requests\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f,"
               "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,"
               "\"max\":%.1f}}\n",
               mode, O.mix, O.conns, O.pipeline, O.rate, (unsigned long long)done,
               (unsigned long long)errors, secs, rps, p[0], p[1], p[2], p[3], p[4]);
    } else {
        printf("%s loop, mix %s, %d connections, pipeline %d%s\n", mode, O.mix, O.conns, O.pipeline,
               O.rate > 0 ? "" : "");
        if (O.rate > 0) printf("target rate: %.0f requests/s\n", O.rate);
        printf("requests: %llu in %.3f s (%.1f/s), errors: %llu\n", (unsigned long long)done, secs,
               rps, (unsigned long long)errors);
        printf("latency (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p[0], p[1],
               p[2], p[3], p[4]);
    }
}

int main(int argc, char **argv) {
    static const struct option lopts[] = {
        {"rate", required_argument, NULL, 'R'}, {"dist", required_argument, NULL, 'D'},
        {"seed", required_argument, NULL, 'S'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'H'},       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h:p:c:P:n:d:t:r:s:q", lopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            O.host = optarg;
            break;
        case 'p':
            O.port = atoi(optarg);
            break;
        case 'c':
            O.conns = atoi(optarg);
            break;
        case 'P':
            O.pipeline = atoi(optarg);
            break;
        case 'n':
            O.requests = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            O.seconds = atof(optarg);
            break;
        case 't':
            O.mix = optarg;
            break;
        case 'r':
            O.keyspace = strtoull(optarg, NULL, 10);
            break;
        case 's':
            O.vsize = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            O.quiet = true;
            break;
        case 'R':
            O.rate = atof(optarg);
            break;
        case 'S':
            O.seed = strtoull(optarg, NULL, 10);
            break;
        case 'o':
            O.output = optarg;
            break;
        case 'D':
            if (!strncmp(optarg, "zipf", 4))
                O.zipf_s = optarg[4] == ':' ? atof(optarg + 5) : 0.99;
            else if (!strcmp(optarg, "uniform"))
                O.zipf_s = 0;
            else if (!strcmp(optarg, "seq"))
                O.seq = true; /* key 0, 1, 2, ...: the keyspace grows steadily */
            else {
                usage();
                return 2;
            }
            break;
        default:
            usage();
            return ch == 'H' ? 0 : 2;
        }
    }
    char err[128] = ""; /* set only when the mix is parsed and refused */
    if (O.conns < 1 || O.pipeline < 1 || O.keyspace < 1 || (O.seconds <= 0 && O.requests < 1) ||
        lg_mix_parse(&mix, O.mix, err, sizeof(err)) != 0 || O.vsize > (1u << 30)) {
        if (mix.n == 0 && strlen(err)) fprintf(stderr, "surge-bench: %s\n", err);
        usage();
        return 2;
    }
    rng ^= O.seed * 0x2545F4914F6CDD1DULL;
    lg_keys_init(&keys, O.keyspace, O.zipf_s);
    value = sg_malloc(O.vsize + 1);
    memset(value, 'x', O.vsize);
    bconn *cs = sg_calloc(sizeof(bconn) * (size_t)O.conns);
    int ep = epoll_create1(0);
    for (int i = 0; i < O.conns; i++) {
        cs[i].fd = connect_to(O.host, O.port);
        if (cs[i].fd < 0) {
            fprintf(stderr, "surge-bench: cannot connect to %s:%d: %s\n", O.host, O.port,
                    strerror(errno));
            return 1;
        }
        cs[i].out = sstr_new_cap(4096);
        cs[i].icap = 65536;
        cs[i].in = sg_malloc(cs[i].icap);
        cs[i].ring = (size_t)O.pipeline * 2;
        cs[i].due = sg_malloc(sizeof(uint64_t) * cs[i].ring);
        struct epoll_event ee = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ee);
    }
    uint64_t start = sg_monotonic_us();
    lg_sched sched = {start, O.rate};
    uint64_t issued = 0; /* open loop: requests scheduled so far */
    if (O.rate <= 0) {
        for (int i = 0; i < O.conns; i++)
            for (int k = 0; k < O.pipeline && may_send(start, start); k++)
                queue_request(&cs[i], start);
    }
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = sg_monotonic_us();
        if (O.rate > 0) {
            uint64_t due = lg_due_count(&sched, now);
            while (issued < due && may_send(lg_due_us(&sched, issued), start)) {
                queue_request(&cs[issued % (uint64_t)O.conns], lg_due_us(&sched, issued));
                issued++;
            }
        }
        for (int i = 0; i < O.conns; i++) {
            if (cs[i].out->len > cs[i].osent) flush_out(&cs[i]);
            bool pending = cs[i].out->len > cs[i].osent;
            if (pending != cs[i].want_write) {
                struct epoll_event ee = {.events = EPOLLIN | (pending ? EPOLLOUT : 0),
                                         .data.u32 = (uint32_t)i};
                epoll_ctl(ep, EPOLL_CTL_MOD, cs[i].fd, &ee);
                cs[i].want_write = pending;
            }
        }
        if (O.seconds <= 0 && done >= O.requests) break;
        int timeout = O.rate > 0 ? 1 : 100;
        int n = epoll_wait(ep, evs, 256, timeout);
        now = sg_monotonic_us();
        for (int e = 0; e < n; e++) {
            bconn *c = &cs[evs[e].data.u32];
            if (evs[e].events & EPOLLOUT) flush_out(c);
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            if (c->icap - c->ilen < 16384) {
                c->icap *= 2;
                c->in = sg_realloc(c->in, c->icap);
            }
            ssize_t r = read(c->fd, c->in + c->ilen, c->icap - c->ilen);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "surge-bench: connection closed by the server\n");
                return 1;
            }
            if (r < 0) continue;
            c->ilen += (size_t)r;
            size_t pos = 0;
            for (;;) {
                int is_err = 0;
                long long len = resp_reply_scan(c->in + pos, c->ilen - pos, &is_err);
                if (len < 0) {
                    fprintf(stderr, "surge-bench: malformed reply\n");
                    return 1;
                }
                if (len == 0) break;
                pos += (size_t)len;
                if (!c->inflight) {
                    fprintf(stderr, "surge-bench: unexpected reply\n");
                    return 1;
                }
                uint64_t due = c->due[c->head];
                c->head = (c->head + 1) % c->ring;
                c->inflight--;
                obs_hist_add(&hist, now > due ? now - due : 0);
                done++;
                if (is_err) errors++;
                if (O.rate <= 0 && may_send(now, start)) queue_request(c, now);
            }
            memmove(c->in, c->in + pos, c->ilen - pos);
            c->ilen -= pos;
        }
        if (O.seconds > 0 && now - start >= (uint64_t)(O.seconds * 1e6)) {
            /* duration mode: stop once the in-flight requests are answered */
            bool idle = true;
            for (int i = 0; i < O.conns; i++) idle &= cs[i].inflight == 0;
            if (idle) break;
        }
    }
    report(sg_monotonic_us() - start);
    for (int i = 0; i < O.conns; i++) close(cs[i].fd);
    return errors ? 3 : 0;
}
