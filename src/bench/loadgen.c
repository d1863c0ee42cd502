/*
 * Key distributions, command mixes and the open-loop schedule of
 * surge-bench. See loadgen.h.
 */
#include "loadgen.h"
#include "../base/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const lg_cmd_names[LG__COUNT] = {"get",  "set",  "incr", "lpush",
                                             "hset", "sadd", "zadd", "ping"};

int lg_keys_init(lg_keys *k, uint64_t n, double s) {
    memset(k, 0, sizeof(*k));
    if (n == 0) return -1;
    k->n = n;
    if (s <= 0) return 0;
    k->cdf = sg_malloc(sizeof(double) * n);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        k->cdf[i] = sum;
    }
    for (uint64_t i = 0; i < n; i++) k->cdf[i] /= sum;
    return 0;
}

void lg_keys_free(lg_keys *k) {
    sg_free(k->cdf);
    k->cdf = NULL;
}

uint64_t lg_keys_pick(const lg_keys *k, double u) {
    if (!k->cdf) {
        uint64_t i = (uint64_t)(u * (double)k->n);
        return i < k->n ? i : k->n - 1;
    }
    uint64_t lo = 0, hi = k->n - 1;
    while (lo < hi) { /* first index with cdf > u */
        uint64_t mid = lo + (hi - lo) / 2;
        if (k->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int lg_mix_parse(lg_mix *m, const char *spec, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    char *copy = strdup(spec);
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        long w = 1;
        if (colon) {
            *colon = '\0';
            char *end;
            w = strtol(colon + 1, &end, 10);
            if (*end || w <= 0 || w > 1000000) {
                snprintf(err, errlen, "bad weight in '%s'", spec);
                rc = -1;
                break;
            }
        }
        int cmd = -1;
        for (int i = 0; i < LG__COUNT; i++)
            if (!strcasecmp(tok, lg_cmd_names[i])) cmd = i;
        if (cmd < 0 || m->n == LG__COUNT) {
            snprintf(err, errlen, "unknown command '%s' (get set incr lpush hset sadd zadd ping)",
                     tok);
            rc = -1;
            break;
        }
        m->total += (uint32_t)w;
        m->cmd[m->n] = cmd;
        m->cum[m->n] = m->total;
        m->n++;
    }
    free(copy);
    if (rc == 0 && m->n == 0) {
        snprintf(err, errlen, "empty command mix");
        rc = -1;
    }
    return rc;
}

int lg_mix_pick(const lg_mix *m, uint32_t r) {
    for (int i = 0; i < m->n; i++)
        if (r < m->cum[i]) return m->cmd[i];
    return m->cmd[m->n - 1];
}

uint64_t lg_due_count(const lg_sched *s, uint64_t now_us) {
    if (now_us < s->start_us) return 0;
    double n = (double)(now_us - s->start_us) * s->rate / 1e6;
    return (uint64_t)floor(n) + 1;
}
