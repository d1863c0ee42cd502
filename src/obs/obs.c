/*
 * Histograms, slow log and latency monitor. See obs.h.
 *
 * The histogram index of v >= 16 is 16 * (p - 3) + (v >> (p - 4)) - 16
 * where p = floor(log2 v): the top 5 bits of v pick one of 16 buckets in
 * its power of two. No floating point and no loop on the hot path.
 */
#include "obs.h"

#include <string.h>
#include <strings.h>

const uint64_t obs_prom_bounds_us[OBS_PROM_BUCKETS] = {
    10,    25,    50,     100,    250,    500,     1000,    2500,    5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

static inline int hist_index(uint64_t v) {
    if (v < OBS_HIST_SUB) return (int)v;
    int p = 63 - __builtin_clzll(v);
    int idx = OBS_HIST_SUB * (p - 3) + (int)(v >> (p - 4)) - OBS_HIST_SUB;
    return idx < OBS_HIST_BUCKETS ? idx : OBS_HIST_BUCKETS - 1;
}

void obs_hist_bucket_bounds(int i, uint64_t *lower, uint64_t *upper) {
    if (i < OBS_HIST_SUB) {
        *lower = (uint64_t)i;
        *upper = (uint64_t)i + 1;
        return;
    }
    int p = i / OBS_HIST_SUB + 3;
    uint64_t sub = (uint64_t)(i % OBS_HIST_SUB) + OBS_HIST_SUB;
    *lower = sub << (p - 4);
    *upper = (sub + 1) << (p - 4);
}

void obs_hist_add(obs_hist *h, uint64_t us) {
    h->b[hist_index(us)]++;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

double obs_hist_percentile(const obs_hist *h, double p) {
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < OBS_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            obs_hist_bucket_bounds(i, &lo, &hi);
            double mid = i < OBS_HIST_SUB ? (double)lo : ((double)lo + (double)hi) / 2.0;
            return mid > (double)h->max_us ? (double)h->max_us : mid;
        }
    }
    return (double)h->max_us;
}

uint64_t obs_hist_count_below(const obs_hist *h, uint64_t upper_us) {
    uint64_t n = 0;
    for (int i = 0; i < OBS_HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        obs_hist_bucket_bounds(i, &lo, &hi);
        if (hi > upper_us) break;
        n += h->b[i];
    }
    return n;
}

/* ---- slow log ---- */

static void entry_free(slowlog_entry *e) {
    for (int i = 0; i < e->argc; i++) sstr_free(e->argv[i]);
    sg_free(e->argv);
    sstr_free(e->peer);
    sstr_free(e->name);
    memset(e, 0, sizeof(*e));
}

void slowlog_trim(slowlog *s, size_t max_len) {
    while (s->len > max_len) {
        size_t oldest = (s->head + s->cap - s->len) % s->cap;
        entry_free(&s->e[oldest]);
        s->len--;
    }
}

/* redact: bit i set = argument i is a secret, logged as "(redacted)". */
void slowlog_push(slowlog *s, size_t max_len, int argc, char **argv, const size_t *argvlen,
                  uint64_t redact, uint64_t duration_us, const char *peer, const char *name) {
    if (max_len == 0) {
        slowlog_trim(s, 0);
        return;
    }
    if (s->cap != max_len) { /* re-pack into a ring of the new size */
        slowlog_entry *ne = sg_calloc(sizeof(slowlog_entry) * max_len);
        size_t keep = s->len < max_len ? s->len : max_len;
        for (size_t i = 0; i < s->len; i++) {
            size_t from = (s->head + s->cap - s->len + i) % s->cap;
            if (i < s->len - keep)
                entry_free(&s->e[from]);
            else
                ne[i - (s->len - keep)] = s->e[from];
        }
        sg_free(s->e);
        s->e = ne;
        s->cap = max_len;
        s->len = keep;
        s->head = keep % max_len;
    }
    if (s->len == s->cap) {
        entry_free(&s->e[s->head]);
        s->len--;
    }
    slowlog_entry *e = &s->e[s->head];
    e->id = s->next_id++;
    e->time = sg_mstime() / 1000;
    e->duration_us = duration_us;
    int n = argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : argc;
    e->argc = n;
    e->argv = sg_malloc(sizeof(sstr *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (i < 64 && (redact >> i) & 1) {
            e->argv[i] = sstr_new("(redacted)", 10);
        } else if (n == SLOWLOG_MAX_ARGC && i == n - 1 && argc > SLOWLOG_MAX_ARGC) {
            e->argv[i] = sstr_catfmt(sstr_new("", 0), "... (%d more arguments)",
                                     argc - SLOWLOG_MAX_ARGC + 1);
        } else if (argvlen[i] > SLOWLOG_MAX_ARGLEN) {
            e->argv[i] = sstr_new(argv[i], SLOWLOG_MAX_ARGLEN);
            e->argv[i] =
                sstr_catfmt(e->argv[i], "... (%zu more bytes)", argvlen[i] - SLOWLOG_MAX_ARGLEN);
        } else {
            e->argv[i] = sstr_new(argv[i], argvlen[i]);
        }
    }
    e->peer = sstr_new(peer, strlen(peer));
    e->name = sstr_new(name ? name : "", name ? strlen(name) : 0);
    s->head = (s->head + 1) % s->cap;
    s->len++;
}

const slowlog_entry *slowlog_get(const slowlog *s, size_t i) {
    if (i >= s->len) return NULL;
    return &s->e[(s->head + s->cap - 1 - i) % s->cap];
}

void slowlog_reset(slowlog *s) {
    slowlog_trim(s, 0);
}

/* ---- latency monitor ---- */

latency_event *latency_find(latency_monitor *m, const char *event) {
    for (latency_event *e = m->events; e; e = e->next)
        if (!strcmp(e->name, event)) return e;
    return NULL;
}

void latency_add(latency_monitor *m, const char *event, uint32_t ms, int64_t now_s) {
    latency_event *e = latency_find(m, event);
    if (!e) {
        e = sg_calloc(sizeof(latency_event));
        snprintf(e->name, sizeof(e->name), "%s", event);
        e->next = m->events;
        m->events = e;
    }
    if (ms > e->max_ms) e->max_ms = ms;
    int prev = (e->idx + LATENCY_SAMPLES - 1) % LATENCY_SAMPLES;
    if (e->used && e->s[prev].time == now_s) {
        if (ms > e->s[prev].ms) e->s[prev].ms = ms;
        return;
    }
    e->s[e->idx].time = now_s;
    e->s[e->idx].ms = ms;
    e->idx = (e->idx + 1) % LATENCY_SAMPLES;
    if (e->used < LATENCY_SAMPLES) e->used++;
}

int latency_reset(latency_monitor *m, int n, char **names) {
    int count = 0;
    for (latency_event **pp = &m->events; *pp;) {
        latency_event *e = *pp;
        bool hit = n == 0;
        for (int i = 0; i < n && !hit; i++) hit = !strcasecmp(e->name, names[i]);
        if (hit) {
            *pp = e->next;
            sg_free(e);
            count++;
        } else {
            pp = &e->next;
        }
    }
    return count;
}

int latency_count(const latency_monitor *m) {
    int n = 0;
    for (const latency_event *e = m->events; e; e = e->next) n++;
    return n;
}
