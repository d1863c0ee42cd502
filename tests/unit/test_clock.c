/* Unit tests for the monotonic clock in src/base/time_log.c: sg_monotonic_us
 * never goes backwards (one thread, several at once), keeps pace with
 * CLOCK_MONOTONIC, and sg_clock_name names the clock in use. */
#include "../../src/base/base.h"
#include "test.h"

#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <time.h>

#define READINGS 1000000

static uint64_t posix_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Number of readings that went below the one before. */
static long backward_steps(long n) {
    long bad = 0;
    uint64_t prev = sg_monotonic_us();
    for (long i = 0; i < n; i++) {
        uint64_t now = sg_monotonic_us();
        if (now < prev) bad++;
        prev = now;
    }
    return bad;
}

TEST(monotonic_one_thread) {
    sg_clock_init();
    uint64_t start = sg_monotonic_us();
    CHECK_EQ(backward_steps(READINGS), 0);
    /* A million readings span several 10 ms re-anchorings of the TSC. */
    CHECK(sg_monotonic_us() >= start);
}

static void *reader(void *arg) {
    long *bad = arg;
    *bad = backward_steps(READINGS);
    return NULL;
}

TEST(monotonic_four_threads) {
    sg_clock_init();
    pthread_t th[4];
    long bad[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&th[i], NULL, reader, &bad[i]) == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) CHECK_EQ(bad[i], 0);
}

/* Across a ~50 ms sleep the clock advances as much as CLOCK_MONOTONIC does,
 * within 5 ms. The readings of the two clocks are paired tightly, and the
 * first pairing is retried if the thread was descheduled between them. */
TEST(advances_with_clock_monotonic) {
    sg_clock_init();
    int ok = 0;
    for (int attempt = 0; attempt < 5 && !ok; attempt++) {
        uint64_t p0 = posix_us(), m0 = sg_monotonic_us(), p0b = posix_us();
        struct timespec ts = {0, 50 * 1000 * 1000};
        while (nanosleep(&ts, &ts) != 0) {
        }
        uint64_t p1 = posix_us(), m1 = sg_monotonic_us(), p1b = posix_us();
        if (p0b - p0 > 1000 || p1b - p1 > 1000) continue; /* preempted: pair again */
        int64_t dm = (int64_t)(m1 - m0), dp = (int64_t)(p1 - p0);
        CHECK(dp >= 50000);
        if (dm - dp > 5000 || dp - dm > 5000) {
            fprintf(stderr, "clock %s advanced %lld us, CLOCK_MONOTONIC %lld us\n", sg_clock_name(),
                    (long long)dm, (long long)dp);
            continue;
        }
        ok = 1;
    }
    CHECK(ok);
}

TEST(clock_name_forms) {
    sg_clock_init();
    const char *name = sg_clock_name();
    REQUIRE(name != NULL);
    regex_t re;
    REQUIRE(regcomp(&re, "^(POSIX clock_gettime|X86 TSC @ [0-9]+ ticks/us)$", REG_EXTENDED) == 0);
    int m = regexec(&re, name, 0, NULL, 0);
    regfree(&re);
    if (m != 0) fprintf(stderr, "sg_clock_name: \"%s\"\n", name);
    CHECK(m == 0);
}
