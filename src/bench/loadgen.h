/*
 * loadgen: the parts of surge-bench that decide what to send and when,
 * free of sockets so they can be unit-tested.
 *
 *  - key choice: uniform, or Zipfian with exponent s over N keys (an
 *    inverse-CDF table and a binary search: exact, O(log N) per draw);
 *  - command mix: weighted choice among GET/SET/INCR/... ("get:90,set:10");
 *  - open-loop schedule: request i is due at start + i / rate. Latency is
 *    measured from that intended time, not from when the request was
 *    actually written, so a server stall shows up in the percentiles for
 *    every request it delayed (no coordinated omission).
 */
#ifndef SURGE_LOADGEN_H
#define SURGE_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lg_keys {
    uint64_t n;
    double *cdf; /* NULL for uniform */
} lg_keys;

/* s <= 0 means uniform. Returns 0, or -1 for n == 0. */
int lg_keys_init(lg_keys *k, uint64_t n, double s);
void lg_keys_free(lg_keys *k);
/* u in [0, 1): the key index for that quantile. */
uint64_t lg_keys_pick(const lg_keys *k, double u);

enum { LG_GET, LG_SET, LG_INCR, LG_LPUSH, LG_HSET, LG_SADD, LG_ZADD, LG_PING, LG__COUNT };
extern const char *const lg_cmd_names[LG__COUNT];

typedef struct lg_mix {
    int n;
    int cmd[LG__COUNT];
    uint32_t cum[LG__COUNT]; /* cumulative weights */
    uint32_t total;
} lg_mix;

/* Parses "get:90,set:10" (weights are positive integers; a bare name has
 * weight 1). Returns 0, or -1 with err filled. */
int lg_mix_parse(lg_mix *m, const char *spec, char *err, size_t errlen);
int lg_mix_pick(const lg_mix *m, uint32_t r); /* r uniform in [0, total) */

/* Open-loop schedule. */
typedef struct lg_sched {
    uint64_t start_us;
    double rate; /* requests per second, > 0 */
} lg_sched;
static inline uint64_t lg_due_us(const lg_sched *s, uint64_t i) {
    return s->start_us + (uint64_t)((double)i * 1e6 / s->rate);
}
/* Requests due by now_us (i.e. the count whose due time <= now). */
uint64_t lg_due_count(const lg_sched *s, uint64_t now_us);

#endif
