/*
 * SLOWLOG and LATENCY, with Redis 7's reply shapes.
 *
 *   SLOWLOG GET [count]  entries newest first: id, Unix time, microseconds,
 *                        arguments, client address, client name
 *   LATENCY LATEST       per event: name, time of the latest sample, latest
 *                        and all-time maximum milliseconds
 *   LATENCY HISTORY e    time/milliseconds pairs of event e (160 at most)
 *   LATENCY HISTOGRAM    per command: calls and a power-of-two microsecond
 *                        histogram (cumulative), from the latency-tracking
 *                        histograms
 */
#include "../server/config.h"
#include "../server/server.h"

#include <string.h>
#include <strings.h>

void slowlog_get_command(client *c) {
    slowlog *sl = &c->srv->slowlog;
    long long count = 10;
    if (c->argc == 3) {
        if (!sg_str2ll(c->argv[2], c->argvlen[2], &count) || count < -1) {
            reply_error(c, "ERR count should be greater than or equal to -1");
            return;
        }
        if (count == -1) count = (long long)sl->len;
    } else if (c->argc > 3) {
        reply_error(c, "ERR unknown subcommand or wrong number of arguments for 'GET'. Try "
                       "SLOWLOG HELP.");
        return;
    }
    if ((size_t)count > sl->len) count = (long long)sl->len;
    reply_array(c, count);
    for (long long i = 0; i < count; i++) {
        const slowlog_entry *e = slowlog_get(sl, (size_t)i);
        reply_array(c, 6);
        reply_int(c, (long long)e->id);
        reply_int(c, e->time);
        reply_int(c, (long long)e->duration_us);
        reply_array(c, e->argc);
        for (int j = 0; j < e->argc; j++) reply_bulk(c, e->argv[j]->buf, e->argv[j]->len);
        reply_bulk(c, e->peer->buf, e->peer->len);
        reply_bulk(c, e->name->buf, e->name->len);
    }
}

void slowlog_len_command(client *c) {
    reply_int(c, (long long)c->srv->slowlog.len);
}

void slowlog_reset_command(client *c) {
    slowlog_reset(&c->srv->slowlog);
    reply_ok(c);
}

void slowlog_help_command(client *c) {
    static const char *const help[] = {
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        NULL};
    reply_help(c, "SLOWLOG", help);
}

void latency_latest_command(client *c) {
    latency_monitor *m = &c->srv->latency;
    reply_array(c, latency_count(m));
    for (latency_event *e = m->events; e; e = e->next) {
        int last = (e->idx + LATENCY_SAMPLES - 1) % LATENCY_SAMPLES;
        reply_array(c, 4);
        reply_bulk_cstr(c, e->name);
        reply_int(c, e->s[last].time);
        reply_int(c, e->s[last].ms);
        reply_int(c, e->max_ms);
    }
}

void latency_history_command(client *c) {
    latency_event *e = latency_find(&c->srv->latency, c->argv[2]);
    if (!e) {
        reply_array(c, 0);
        return;
    }
    reply_array(c, e->used);
    for (int i = 0; i < e->used; i++) {
        int k = (e->idx + LATENCY_SAMPLES - e->used + i) % LATENCY_SAMPLES;
        reply_array(c, 2);
        reply_int(c, e->s[k].time);
        reply_int(c, e->s[k].ms);
    }
}

void latency_reset_command(client *c) {
    reply_int(c, latency_reset(&c->srv->latency, c->argc - 2, c->argv + 2));
}

static void histogram_reply(client *c, const cmd_def *d, const obs_hist *h) {
    reply_bulk_cstr(c, d->fullname);
    reply_map(c, 2);
    reply_bulk_cstr(c, "calls");
    reply_int(c, (long long)h->count);
    reply_bulk_cstr(c, "histogram_usec");
    /* Power-of-two upper bounds, cumulative, only where the count grows. */
    uint64_t bounds[64], counts[64];
    int n = 0;
    uint64_t prev = 0;
    for (uint64_t ub = 1; n < 64; ub <<= 1) {
        uint64_t cnt = obs_hist_count_below(h, ub + 1);
        if (cnt > prev) {
            bounds[n] = ub;
            counts[n] = cnt;
            n++;
            prev = cnt;
        }
        if (cnt >= h->count || ub > (1ULL << 42)) break;
    }
    reply_map(c, n);
    for (int i = 0; i < n; i++) {
        reply_int(c, (long long)bounds[i]);
        reply_int(c, (long long)counts[i]);
    }
}

void latency_histogram_command(client *c) {
    server *s = c->srv;
    const cmd_def *pick[CMDID__COUNT];
    int n = 0;
    if (c->argc == 2) {
        for (int i = 0; i < CMDID__COUNT; i++)
            if (s->cmd_hist[i] && s->cmd_hist[i]->count) pick[n++] = cmd_by_id(i);
    } else {
        for (int j = 2; j < c->argc; j++) {
            const cmd_def *d = NULL;
            char *bar = strchr(c->argv[j], '|');
            if (bar) {
                const cmd_def *p = cmd_lookup(c->argv[j], (size_t)(bar - c->argv[j]));
                if (p) d = cmd_lookup_sub(p, bar + 1, strlen(bar + 1));
            } else {
                d = cmd_lookup(c->argv[j], c->argvlen[j]);
            }
            if (!d) continue;
            /* A container stands for its subcommands (LATENCY HISTOGRAM config). */
            int nsub = d->nsubs ? d->nsubs : 1;
            for (int k = 0; k < nsub; k++) {
                const cmd_def *x = d->nsubs ? d->subs[k] : d;
                if (!s->cmd_hist[x->id] || !s->cmd_hist[x->id]->count) continue;
                bool dup = false;
                for (int m = 0; m < n; m++) dup |= pick[m] == x;
                if (!dup) pick[n++] = x;
            }
        }
    }
    reply_map(c, n);
    for (int i = 0; i < n; i++) histogram_reply(c, pick[i], s->cmd_hist[pick[i]->id]);
}

void latency_help_command(client *c) {
    static const char *const help[] = {
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the "
        "specified command names.",
        "    If no commands are specified then all histograms are replied.",
        NULL};
    reply_help(c, "LATENCY", help);
}
