/* Unit tests for surge-bench's load-generation logic (src/bench/loadgen.c)
 * and the reply scanner it counts replies with (resp_reply_scan). */
#include "../../src/bench/loadgen.h"
#include "../../src/obs/obs.h"
#include "../../src/resp/resp.h"
#include "test.h"

#include <string.h>

TEST(uniform_keys_cover_range) {
    lg_keys k;
    CHECK_EQ(lg_keys_init(&k, 10, 0), 0);
    CHECK_EQ(lg_keys_pick(&k, 0.0), 0);
    CHECK_EQ(lg_keys_pick(&k, 0.999999), 9);
    CHECK_EQ(lg_keys_pick(&k, 0.55), 5);
    lg_keys_free(&k);
    CHECK_EQ(lg_keys_init(&k, 0, 0), -1);
}

TEST(zipf_is_skewed_and_monotonic) {
    lg_keys k;
    CHECK_EQ(lg_keys_init(&k, 1000, 0.99), 0);
    /* The first key alone holds a large share; picks are monotonic in u. */
    uint64_t prev = 0;
    int first = 0;
    for (int i = 0; i < 10000; i++) {
        double u = i / 10000.0;
        uint64_t p = lg_keys_pick(&k, u);
        CHECK(p >= prev);
        CHECK(p < 1000);
        prev = p;
        first += p == 0;
    }
    CHECK(first > 1000); /* ~13% of the mass for s=0.99, n=1000 */
    CHECK(first < 2000);
    lg_keys_free(&k);
}

TEST(mix_parse_and_pick) {
    lg_mix m;
    char err[128];
    CHECK_EQ(lg_mix_parse(&m, "get:90,set:10", err, sizeof(err)), 0);
    CHECK_EQ(m.total, 100);
    CHECK_EQ(lg_mix_pick(&m, 0), LG_GET);
    CHECK_EQ(lg_mix_pick(&m, 89), LG_GET);
    CHECK_EQ(lg_mix_pick(&m, 90), LG_SET);
    CHECK_EQ(lg_mix_pick(&m, 99), LG_SET);
    CHECK_EQ(lg_mix_parse(&m, "incr", err, sizeof(err)), 0);
    CHECK_EQ(m.total, 1);
    CHECK_EQ(lg_mix_parse(&m, "get:0", err, sizeof(err)), -1);
    CHECK_EQ(lg_mix_parse(&m, "flushall", err, sizeof(err)), -1);
    CHECK_EQ(lg_mix_parse(&m, "", err, sizeof(err)), -1);
}

TEST(open_loop_schedule) {
    lg_sched s = {1000000, 1000.0}; /* 1000 req/s from t=1 s */
    CHECK_EQ(lg_due_us(&s, 0), 1000000);
    CHECK_EQ(lg_due_us(&s, 1), 1001000);
    CHECK_EQ(lg_due_us(&s, 1000), 2000000);
    CHECK_EQ(lg_due_count(&s, 999999), 0);
    CHECK_EQ(lg_due_count(&s, 1000000), 1);
    CHECK_EQ(lg_due_count(&s, 1000999), 1);
    CHECK_EQ(lg_due_count(&s, 1001000), 2);
    CHECK_EQ(lg_due_count(&s, 2000000), 1001);
}

TEST(histogram_percentiles) {
    obs_hist h;
    memset(&h, 0, sizeof(h));
    for (uint64_t v = 1; v <= 1000; v++) obs_hist_add(&h, v);
    CHECK_EQ(h.count, 1000);
    double p50 = obs_hist_percentile(&h, 50), p99 = obs_hist_percentile(&h, 99);
    CHECK(p50 > 470 && p50 < 530); /* within the ~6% bucket resolution */
    CHECK(p99 > 930 && p99 <= 1000);
    CHECK(obs_hist_percentile(&h, 100) <= 1000);
    CHECK_EQ(obs_hist_count_below(&h, 16), 15);
    /* exact below 16, and every bucket's bounds contain its values */
    for (uint64_t v = 0; v < 5000; v += 7) {
        obs_hist one;
        memset(&one, 0, sizeof(one));
        obs_hist_add(&one, v);
        for (int i = 0; i < OBS_HIST_BUCKETS; i++) {
            if (!one.b[i]) continue;
            uint64_t lo, hi;
            obs_hist_bucket_bounds(i, &lo, &hi);
            CHECK(lo <= v && v < hi);
        }
    }
}

TEST(reply_scan_shapes) {
    int err = 0;
    CHECK_EQ(resp_reply_scan("+OK\r\n", 5, &err), 5);
    CHECK_EQ(err, 0);
    CHECK_EQ(resp_reply_scan("-ERR x\r\n", 8, &err), 8);
    CHECK_EQ(err, 1);
    CHECK_EQ(resp_reply_scan("$3\r\nabc\r\n", 9, &err), 9);
    CHECK_EQ(resp_reply_scan("$3\r\nab", 6, &err), 0);
    CHECK_EQ(resp_reply_scan("$-1\r\n", 5, &err), 5);
    const char *arr = "*2\r\n$1\r\na\r\n*1\r\n:5\r\n";
    CHECK_EQ(resp_reply_scan(arr, strlen(arr), &err), (long long)strlen(arr));
    CHECK_EQ(resp_reply_scan(arr, strlen(arr) - 1, &err), 0);
    const char *map = "%1\r\n+k\r\n,1.5\r\n";
    CHECK_EQ(resp_reply_scan(map, strlen(map), &err), (long long)strlen(map));
    CHECK_EQ(resp_reply_scan("*0\r\n", 4, &err), 4);
    CHECK_EQ(resp_reply_scan("_\r\n:1\r\n", 7, &err), 3); /* first reply only */
    CHECK_EQ(resp_reply_scan("?\r\n", 3, &err), -1);
    CHECK_EQ(resp_reply_scan("$x\r\n", 4, &err), -1);
    /* nesting deeper than RESP_MAX_DEPTH is refused, not overflowed */
    char deep[4 * 100 + 8];
    size_t n = 0;
    for (int i = 0; i < 100; i++) n += (size_t)sprintf(deep + n, "*1\r\n");
    n += (size_t)sprintf(deep + n, ":1\r\n");
    CHECK_EQ(resp_reply_scan(deep, n, &err), -1);
}
