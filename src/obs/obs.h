/*
 * obs: how the server reports itself. Latency histograms per command (INFO
 * latencystats, LATENCY HISTOGRAM, /metrics), the slow log (SLOWLOG), the
 * latency monitor (LATENCY LATEST/HISTORY/RESET), and the Prometheus
 * /metrics endpoint.
 *
 * The data structures here (obs.c) know nothing of clients or sockets;
 * the commands (obs_cmds.c) and the HTTP endpoint (metrics.c) read the
 * server through server.h, as a layer above it.
 *
 * Cost on the command path: one histogram update (an index computed with a
 * count-leading-zeros, one increment) and one fixed-bucket counter for
 * Prometheus, only when latency-tracking is on; a slow-log check (one
 * comparison). bench/ measures the difference with tracking on and off.
 */
#ifndef SURGE_OBS_H
#define SURGE_OBS_H

#include "../base/base.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- log-linear histogram of microseconds ----
 * Values below 16 are exact; above, each power of two is split into 16
 * buckets (at most ~6% relative error), up to 2^44 us. */
#define OBS_HIST_SUB     16
#define OBS_HIST_BUCKETS (OBS_HIST_SUB + 40 * OBS_HIST_SUB)
typedef struct obs_hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t max_us;
    uint64_t b[OBS_HIST_BUCKETS];
} obs_hist;

void obs_hist_add(obs_hist *h, uint64_t us);
/* The value at percentile p (0..100): the midpoint of the bucket holding
 * it, clamped to the maximum seen. 0 if empty. */
double obs_hist_percentile(const obs_hist *h, double p);
/* Bucket bounds: values v with lower <= v < upper fall into bucket i. */
void obs_hist_bucket_bounds(int i, uint64_t *lower, uint64_t *upper);
/* Cumulative count of values < upper_us (exact at bucket bounds). */
uint64_t obs_hist_count_below(const obs_hist *h, uint64_t upper_us);

/* ---- fixed Prometheus buckets (seconds) for command durations ---- */
#define OBS_PROM_BUCKETS 19
extern const uint64_t obs_prom_bounds_us[OBS_PROM_BUCKETS]; /* le, in us; +Inf implied */
static inline int obs_prom_index(uint64_t us) {
    int i = 0;
    while (i < OBS_PROM_BUCKETS && us > obs_prom_bounds_us[i]) i++;
    return i; /* OBS_PROM_BUCKETS means +Inf only */
}

/* ---- slow log ---- */
#define SLOWLOG_MAX_ARGC   32
#define SLOWLOG_MAX_ARGLEN 128
typedef struct slowlog_entry {
    uint64_t id;
    int64_t time; /* Unix seconds */
    uint64_t duration_us;
    int argc;
    sstr **argv;
    sstr *peer;
    sstr *name;
} slowlog_entry;

typedef struct slowlog {
    slowlog_entry *e; /* ring buffer, newest at (head - 1) */
    size_t cap, len, head;
    uint64_t next_id;
} slowlog;

/* Adds an entry (arguments truncated as Redis does: at most 32 arguments,
 * each at most 128 bytes with a "... (N more bytes)" note). max_len 0
 * keeps nothing. */
void slowlog_push(slowlog *s, size_t max_len, int argc, char **argv, const size_t *argvlen,
                  uint64_t redact, uint64_t duration_us, const char *peer, const char *name);
const slowlog_entry *slowlog_get(const slowlog *s, size_t i); /* 0 = newest */
void slowlog_reset(slowlog *s);
void slowlog_trim(slowlog *s, size_t max_len);

/* ---- latency monitor ---- */
#define LATENCY_SAMPLES 160
typedef struct latency_sample {
    int64_t time; /* Unix seconds */
    uint32_t ms;
} latency_sample;

typedef struct latency_event {
    char name[32];
    latency_sample s[LATENCY_SAMPLES];
    int idx; /* next slot */
    int used;
    uint32_t max_ms;
    struct latency_event *next;
} latency_event;

typedef struct latency_monitor {
    latency_event *events;
} latency_monitor;

/* Records ms for the event (merging samples of the same second by max). */
void latency_add(latency_monitor *m, const char *event, uint32_t ms, int64_t now_s);
latency_event *latency_find(latency_monitor *m, const char *event);
/* Resets the named events (all when n == 0); returns how many were reset. */
int latency_reset(latency_monitor *m, int n, char **names);
int latency_count(const latency_monitor *m);

#endif
