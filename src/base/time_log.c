/*
 * Clocks, randomness and logging.
 *
 * Expiry is stored as absolute Unix milliseconds (sg_mstime), so a restart or
 * a replica sees the same deadline. Timeouts and latency use the monotonic
 * clock, which does not jump when the wall clock is set.
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int64_t sg_ustime(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int64_t sg_mstime(void) {
    return sg_ustime() / 1000;
}

static uint64_t posix_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The TSC clock. The server reads the monotonic clock about once per
 * command (durations, the cached time for expiry); clock_gettime (the
 * vDSO's fenced TSC read, seqlock and conversion) was about a tenth of the
 * server's user time per request at pipeline 1, a plain rdtsc about half
 * of that (docs/performance.md). An invariant TSC (constant_tsc and
 * nonstop_tsc) ticks at a fixed rate in every power state, so a plain
 * rdtsc scaled by a rate measured at start-up serves instead. Each thread
 * re-anchors its reading to CLOCK_MONOTONIC every 10 ms of ticks, so the
 * rate's error (about 1e-4 from a 2 ms calibration) stays under a
 * microsecond and the clock never drifts from the kernel's; a re-anchor
 * that lands behind the last value returned holds the clock still instead
 * of stepping back. A TSC that goes backwards (a migration between
 * unsynchronised sockets) shows as a huge delta and re-anchors too. */
#if defined(__x86_64__)
#include <x86intrin.h>
static uint64_t tsc_mult;   /* 2^32 / ticks per microsecond; 0: clock_gettime */
static uint64_t tsc_resync; /* ticks in 10 ms */
static _Thread_local struct { uint64_t tsc, us, last; } anchor;

static bool cpu_has_invariant_tsc(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[4096];
    bool ok = false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
        break;
    }
    fclose(f);
    return ok;
}

void sg_clock_init(void) {
    const char *env = getenv("SURGE_CLOCK");
    if ((env && strcmp(env, "posix") == 0) || !cpu_has_invariant_tsc()) return;
    uint64_t us0 = posix_monotonic_us(), t0 = __rdtsc(), us1, t1;
    do {
        us1 = posix_monotonic_us();
        t1 = __rdtsc();
    } while (us1 - us0 < 2000);
    uint64_t per_us = (t1 - t0) / (us1 - us0);
    if (t1 <= t0 || per_us < 100 || per_us > 20000) return; /* not a sane TSC */
    tsc_resync = (t1 - t0) * 10000 / (us1 - us0);
    tsc_mult = (uint64_t)((((unsigned __int128)(us1 - us0)) << 32) / (t1 - t0));
}

const char *sg_clock_name(void) {
    static char name[48];
    if (!tsc_mult) return "POSIX clock_gettime";
    snprintf(name, sizeof(name), "X86 TSC @ %llu ticks/us",
             (unsigned long long)(tsc_resync / 10000));
    return name;
}

uint64_t sg_monotonic_us(void) {
    if (!tsc_mult) return posix_monotonic_us();
    uint64_t d = __rdtsc() - anchor.tsc;
    if (SG_UNLIKELY(d > tsc_resync)) {
        anchor.us = posix_monotonic_us();
        anchor.tsc = __rdtsc();
        d = 0;
    }
    uint64_t us = anchor.us + ((d * tsc_mult) >> 32);
    if (us < anchor.last) us = anchor.last;
    anchor.last = us;
    return us;
}
#else
void sg_clock_init(void) {}

const char *sg_clock_name(void) {
    return "POSIX clock_gettime";
}

uint64_t sg_monotonic_us(void) {
    return posix_monotonic_us();
}
#endif

void sg_random_bytes(void *dst, size_t n) {
    uint8_t *p = dst;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r <= 0) break;
        p += r;
        n -= (size_t)r;
    }
    if (n) { /* getrandom unavailable: weak fallback, still distinct per process */
        uint64_t x = (uint64_t)sg_ustime() ^ ((uint64_t)getpid() << 32);
        while (n--) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *p++ = (uint8_t)x;
        }
    }
}

/* xoshiro256** (Blackman & Vigna), seeded from getrandom on first use. */
static uint64_t rs[4];
static bool rs_seeded;

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t sg_rand64(void) {
    if (SG_UNLIKELY(!rs_seeded)) {
        sg_random_bytes(rs, sizeof(rs));
        rs[0] |= 1;
        rs_seeded = true;
    }
    uint64_t r = rotl(rs[1] * 5, 7) * 9;
    uint64_t t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

static FILE *log_out;
static int log_level = SG_LOG_NOTICE;
static bool log_json;

void sg_log_configure(FILE *out, int level, bool json) {
    log_out = out;
    log_level = level;
    log_json = json;
}

void sg_log_set_level(int level, bool json) {
    log_level = level;
    log_json = json;
}

int sg_log_level(void) {
    return log_level;
}

void sg_logv(int level, const char *fmt, va_list ap) {
    if (level < log_level) return;
    FILE *out = log_out ? log_out : stdout;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char ts[64];
    size_t n = strftime(ts, sizeof(ts), "%d %b %Y %H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03d", (int)(tv.tv_usec / 1000));
    static const char *names[] = {"debug", "verbose", "notice", "warning"};
    static const char marks[] = ".-*#";
    if (log_json) {
        fprintf(out, "{\"ts\":%lld.%03d,\"pid\":%d,\"level\":\"%s\",\"msg\":\"",
                (long long)tv.tv_sec, (int)(tv.tv_usec / 1000), (int)getpid(), names[level]);
        /* Valid UTF-8 passes through; control characters are escaped; an
         * invalid byte becomes U+FFFD, so every line is JSON and UTF-8. */
        const unsigned char *p = (const unsigned char *)msg;
        while (*p) {
            unsigned char c = *p;
            if (c == '"' || c == '\\') {
                fprintf(out, "\\%c", c);
                p++;
            } else if (c < 0x20 || c == 0x7f) {
                fprintf(out, "\\u%04x", c);
                p++;
            } else if (c < 0x80) {
                fputc(c, out);
                p++;
            } else {
                int seq = (c & 0xE0) == 0xC0   ? 2
                          : (c & 0xF0) == 0xE0 ? 3
                          : (c & 0xF8) == 0xF0 ? 4
                                               : 0;
                bool ok = seq > 0 && !(seq == 2 && c < 0xC2) && !(seq == 4 && c > 0xF4);
                for (int k = 1; ok && k < seq; k++) ok = (p[k] & 0xC0) == 0x80;
                if (ok) {
                    fwrite(p, 1, (size_t)seq, out);
                    p += seq;
                } else {
                    fputs("\\ufffd", out);
                    p++;
                }
            }
        }
        fputs("\"}\n", out);
    } else {
        fprintf(out, "%d:M %s %c %s\n", (int)getpid(), ts, marks[level], msg);
    }
    fflush(out);
}

void sg_log(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sg_logv(level, fmt, ap);
    va_end(ap);
}
