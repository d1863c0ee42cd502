/*
 * The Prometheus /metrics endpoint: text exposition format 0.0.4, served
 * from the event loop by a deliberately small HTTP responder.
 *
 * Why not an HTTP library: the endpoint answers exactly one request shape
 * (GET /metrics) and nothing else, so the responder is a bounded state
 * machine, fuzzed with the rest of the parsers:
 *
 *   READING  -- request head (at most 8 KB, 5 s) --> WRITING --> closed
 *      |-- no "\r\n\r\n" within 8 KB  -> 431, closed
 *      |-- not GET/HEAD               -> 405, closed
 *      |-- path other than /metrics   -> 404, closed
 *      `-- deadline passed            -> closed
 *
 * At most METRICS_MAX_CONNS connections at once (more are closed on
 * accept). The body is rendered when the request is complete; rendering is
 * proportional to the number of commands and databases in use, not to the
 * number of keys, so a scrape never stalls the command path.
 *
 * Names: where redis_exporter has a metric of the same meaning, its exact
 * name and labels (so Grafana dashboard 763 and common alert rules work);
 * Surge's own metrics are surge_* with base units and _total counters.
 */
#include "../server/config.h"
#include "../server/server.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define METRICS_MAX_CONNS   32
#define METRICS_MAX_REQUEST 8192
#define METRICS_DEADLINE_US 5000000

typedef struct mconn {
    int fd;
    server *s;
    uint64_t started_us;
    size_t rlen;
    char req[METRICS_MAX_REQUEST];
    sstr *out;
    size_t sent;
    struct mconn *next;
} mconn;

static mconn *conns;

/* ---- rendering ---- */

static sstr *family(sstr *o, const char *name, const char *type, const char *help) {
    return sstr_catfmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static sstr *gauge(sstr *o, const char *name, const char *help, double v) {
    o = family(o, name, "gauge", help);
    return sstr_catfmt(o, "%s %.17g\n", name, v);
}

static sstr *counter(sstr *o, const char *name, const char *help, double v) {
    o = family(o, name, "counter", help);
    return sstr_catfmt(o, "%s %.17g\n", name, v);
}

/* Label values are escaped as the exposition format requires. */
static sstr *label_value(sstr *o, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            o = sstr_cat(o, "\\\\", 2);
        else if (*p == '"')
            o = sstr_cat(o, "\\\"", 2);
        else if (*p == '\n')
            o = sstr_cat(o, "\\n", 2);
        else
            o = sstr_cat(o, p, 1);
    }
    return o;
}

static const char *policy_name(int p) {
    switch (p) {
    case KS_POLICY_ALLKEYS_LRU:
        return "allkeys-lru";
    case KS_POLICY_ALLKEYS_LFU:
        return "allkeys-lfu";
    case KS_POLICY_ALLKEYS_RANDOM:
        return "allkeys-random";
    case KS_POLICY_VOLATILE_LRU:
        return "volatile-lru";
    case KS_POLICY_VOLATILE_LFU:
        return "volatile-lfu";
    case KS_POLICY_VOLATILE_RANDOM:
        return "volatile-random";
    case KS_POLICY_VOLATILE_TTL:
        return "volatile-ttl";
    default:
        return "noeviction";
    }
}

static sstr *histogram(sstr *o, const char *name, const char *labels, const uint64_t *buckets,
                       double sum_s) {
    uint64_t cum = 0;
    for (int i = 0; i < OBS_PROM_BUCKETS; i++) {
        cum += buckets[i];
        o = sstr_catfmt(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
                        (double)obs_prom_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += buckets[OBS_PROM_BUCKETS];
    o = sstr_catfmt(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
                    (unsigned long long)cum);
    if (*labels) {
        o = sstr_catfmt(o, "%s_sum{%s} %.17g\n", name, labels, sum_s);
        o = sstr_catfmt(o, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
    } else {
        o = sstr_catfmt(o, "%s_sum %.17g\n%s_count %llu\n", name, sum_s, name,
                        (unsigned long long)cum);
    }
    return o;
}

sstr *metrics_render(server *s) {
    sstr *o = sstr_new_cap(16384);
    ks_stats *ks = ks_stats_of(s->ks);
    int64_t now = sg_mstime();
    size_t used = sg_used_memory(), rss = sg_rss_bytes();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    o = gauge(o, "redis_up", "1 if the server is up.", 1);
    o = gauge(o, "redis_uptime_in_seconds", "Seconds since the server started.",
              (double)((now - s->start_ms) / 1000));
    o = family(o, "redis_instance_info", "gauge", "Information about the instance (always 1).");
    o = sstr_catfmt(o,
                    "redis_instance_info{role=\"master\",redis_version=\"%s\",surge_version=\"%s\","
                    "redis_mode=\"standalone\",maxmemory_policy=\"%s\",tcp_port=\"%lld\","
                    "run_id=\"%s\"} 1\n",
                    SURGE_REDIS_VERSION, SURGE_VERSION, policy_name(cfg.maxmemory_policy), cfg.port,
                    s->run_id);
    o = gauge(o, "redis_connected_clients", "Connected clients.", (double)s->nclients);
    o = gauge(o, "redis_blocked_clients", "Clients blocked in a blocking command.",
              (double)block_count());
    o = gauge(o, "redis_max_clients", "The maxclients setting.", (double)cfg.maxclients);
    o = gauge(o, "redis_config_maxclients", "The maxclients setting.", (double)cfg.maxclients);
    o = gauge(o, "redis_memory_used_bytes", "Bytes allocated by the server (used_memory).",
              (double)used);
    o = gauge(o, "redis_memory_used_rss_bytes", "Resident set size of the process.", (double)rss);
    o = gauge(o, "redis_memory_used_peak_bytes", "Peak of used_memory.",
              (double)(s->peak_memory > used ? s->peak_memory : used));
    o = gauge(o, "redis_memory_max_bytes", "The maxmemory setting (0: no limit).",
              (double)cfg.maxmemory);
    o = gauge(o, "redis_config_maxmemory", "The maxmemory setting (0: no limit).",
              (double)cfg.maxmemory);
    o = gauge(o, "redis_mem_fragmentation_ratio", "RSS divided by used_memory.",
              used ? (double)rss / (double)used : 0);
    o = counter(o, "redis_commands_processed_total", "Commands processed.",
                (double)s->stat_numcommands);
    o = counter(o, "redis_connections_received_total", "Connections accepted.",
                (double)s->stat_numconnections);
    o = counter(o, "redis_rejected_connections_total",
                "Connections refused (maxclients, "
                "protected mode).",
                (double)s->stat_rejected_conn);
    o = counter(o, "redis_net_input_bytes_total", "Bytes read from clients.",
                (double)s->stat_net_input);
    o = counter(o, "redis_net_output_bytes_total", "Bytes written to clients.",
                (double)s->stat_net_output);
    o = counter(o, "redis_keyspace_hits_total", "Successful key lookups by reads.",
                (double)ks->hits);
    o = counter(o, "redis_keyspace_misses_total", "Failed key lookups by reads.",
                (double)ks->misses);
    o = counter(o, "redis_evicted_keys_total", "Keys evicted by maxmemory.",
                (double)ks->evicted_keys);
    o = counter(o, "redis_expired_keys_total", "Keys deleted because their TTL passed.",
                (double)ks->expired_keys);
    o = counter(o, "redis_cpu_sys_seconds_total", "System CPU time of the process.",
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    o = counter(o, "redis_cpu_user_seconds_total", "User CPU time of the process.",
                (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);

    /* Per command, as redis_exporter names them from INFO commandstats. */
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"redis_commands_total", "counter", "Calls per command."},
        {"redis_commands_duration_seconds_total", "counter", "Seconds spent per command."},
        {"redis_commands_failed_calls_total", "counter", "Calls that replied an error."},
        {"redis_commands_rejected_calls_total", "counter",
         "Calls refused before running (arity, auth, OOM, ...)."},
    };
    for (size_t f = 0; f < SG_ARRAY_LEN(fams); f++) {
        o = family(o, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < CMDID__COUNT; i++) {
            const cmd_stats *st = &s->cstats[i];
            if (!st->calls && !st->rejected) continue;
            double v = f == 0   ? (double)st->calls
                       : f == 1 ? (double)st->usec / 1e6
                       : f == 2 ? (double)st->failed
                                : (double)st->rejected;
            o = sstr_catfmt(o, "%s{cmd=\"%s\"} %.17g\n", fams[f].name, cmd_by_id(i)->fullname, v);
        }
    }
    o = family(o, "redis_errors_total", "counter", "Error replies by error code.");
    for (err_stat *e = s->errors; e; e = e->next) {
        o = sstr_catfmt(o, "redis_errors_total{err=\"");
        o = label_value(o, e->name);
        o = sstr_catfmt(o, "\"} %llu\n", (unsigned long long)e->count);
    }
    static const char *dbf[][2] = {
        {"redis_db_keys", "Keys per database."},
        {"redis_db_keys_expiring", "Keys with a TTL per database."},
        {"redis_db_avg_ttl_seconds", "Estimated average TTL of keys with one, per database."},
    };
    for (int f = 0; f < 3; f++) {
        o = family(o, dbf[f][0], "gauge", dbf[f][1]);
        for (int d = 0; d < ks_ndb(s->ks); d++) {
            kdb *db = ks_db(s->ks, d);
            if (!kdb_size(db)) continue;
            double v = f == 0   ? (double)kdb_size(db)
                       : f == 1 ? (double)kdb_expires(db)
                                : (double)kdb_avg_ttl(db) / 1000.0;
            o = sstr_catfmt(o, "%s{db=\"db%d\"} %.17g\n", dbf[f][0], d, v);
        }
    }

    /* Surge's own. */
    o = family(o, "surge_command_duration_seconds", "histogram",
               "Command execution time (latency-tracking), per command.");
    for (int i = 0; i < CMDID__COUNT; i++) {
        const obs_hist *h = s->cmd_hist[i];
        if (!h || !h->count) continue;
        char labels[160];
        snprintf(labels, sizeof(labels), "cmd=\"%s\"", cmd_by_id(i)->fullname);
        o = histogram(o, "surge_command_duration_seconds", labels, s->cmd_prom[i],
                      (double)h->sum_us / 1e6);
    }
    o = family(o, "surge_event_loop_iteration_seconds", "histogram",
               "Time the event loop spent working per iteration (reading, executing, writing).");
    o = histogram(o, "surge_event_loop_iteration_seconds", "", s->loop_prom,
                  (double)s->loop_sum_us / 1e6);
    o = counter(o, "surge_expire_cycle_seconds_total",
                "Seconds spent expiring keys in the "
                "background.",
                (double)ks->expire_cycle_us / 1e6);
    o = counter(o, "surge_eviction_seconds_total", "Seconds spent evicting keys.",
                (double)ks->eviction_us / 1e6);
    o = gauge(o, "surge_expired_stale_ratio",
              "Share of TTL keys found expired by the last "
              "background sweep.",
              (double)ks->expired_stale_perc_x100 / 10000.0);
    o = counter(o, "surge_client_output_buffer_limit_disconnections_total",
                "Clients closed for exceeding an output buffer limit.",
                (double)s->stat_client_outbuf_limit_disconnections);
    o = counter(o, "surge_client_query_buffer_limit_disconnections_total",
                "Clients closed for exceeding the query buffer limit.",
                (double)s->stat_client_qbuf_limit_disconnections);
    o = counter(o, "surge_error_replies_total", "Error replies sent.",
                (double)s->stat_total_error_replies);
    o = gauge(o, "surge_slowlog_length", "Entries in the slow log.", (double)s->slowlog.len);
    o = gauge(o, "surge_lazyfree_pending_objects", "Keys waiting to be freed in the background.",
              (double)ks_lazyfree_pending(s->ks));
    o = counter(o, "surge_metrics_scrapes_total", "Requests answered by this endpoint.",
                (double)s->metrics_scrapes + 1);
    return o;
}

/* ---- HTTP ---- */

static void mconn_close(mconn *m) {
    for (mconn **pp = &conns; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    ev_del(m->s->loop, m->fd, EV_READABLE | EV_WRITABLE);
    close(m->fd);
    m->s->metrics_conns--;
    sstr_free(m->out);
    sg_free(m);
}

static void mconn_write(ev_loop *l, int fd, void *data, int mask);

static void respond(mconn *m, const char *status, const char *ctype, const char *body, size_t n,
                    bool head) {
    m->out = sstr_catfmt(sstr_new("", 0),
                         "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n",
                         status, ctype, n);
    if (!head) m->out = sstr_cat(m->out, body, n);
    ev_del(m->s->loop, m->fd, EV_READABLE);
    ev_add(m->s->loop, m->fd, EV_WRITABLE, mconn_write, m);
}

static void mconn_write(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(mask);
    mconn *m = data;
    while (m->sent < m->out->len) {
        ssize_t w = write(fd, m->out->buf + m->sent, m->out->len - m->sent);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            break;
        }
        m->sent += (size_t)w;
    }
    mconn_close(m);
}

static void handle_request(mconn *m) {
    const char *r = m->req;
    const char *sp = memchr(r, ' ', m->rlen);
    if (!sp) {
        respond(m, "400 Bad Request", "text/plain", "bad request\n", 12, false);
        return;
    }
    size_t mlen = (size_t)(sp - r);
    bool get = mlen == 3 && !memcmp(r, "GET", 3), head = mlen == 4 && !memcmp(r, "HEAD", 4);
    if (!get && !head) {
        respond(m, "405 Method Not Allowed", "text/plain", "only GET\n", 9, false);
        return;
    }
    const char *path = sp + 1;
    const char *end = memchr(path, ' ', m->rlen - (size_t)(path - r));
    if (!end) {
        respond(m, "400 Bad Request", "text/plain", "bad request\n", 12, false);
        return;
    }
    size_t plen = (size_t)(end - path);
    const char *q = memchr(path, '?', plen);
    if (q) plen = (size_t)(q - path);
    if (!(plen == 8 && !memcmp(path, "/metrics", 8))) {
        respond(m, "404 Not Found", "text/plain", "try /metrics\n", 13, head);
        return;
    }
    sstr *body = metrics_render(m->s);
    m->s->metrics_scrapes++;
    respond(m, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body->buf, body->len, head);
    sstr_free(body);
}

static void mconn_read(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(mask);
    mconn *m = data;
    ssize_t n = read(fd, m->req + m->rlen, sizeof(m->req) - 1 - m->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        mconn_close(m);
        return;
    }
    m->rlen += (size_t)n;
    m->req[m->rlen] = '\0';
    if (memmem(m->req, m->rlen, "\r\n\r\n", 4) || memmem(m->req, m->rlen, "\n\n", 2)) {
        handle_request(m);
    } else if (m->rlen >= sizeof(m->req) - 1) {
        respond(m, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10, false);
    }
}

static void metrics_accept(ev_loop *l, int lfd, void *data, int mask) {
    SG_UNUSED(mask);
    server *s = data;
    for (int i = 0; i < 16; i++) {
        char ip[64];
        int port;
        int fd = net_accept(lfd, ip, sizeof(ip), &port);
        if (fd < 0) return;
        if (s->metrics_conns >= METRICS_MAX_CONNS) {
            s->metrics_rejected++;
            close(fd);
            continue;
        }
        mconn *m = sg_calloc(sizeof(mconn));
        m->fd = fd;
        m->s = s;
        m->started_us = sg_monotonic_us();
        m->next = conns;
        conns = m;
        s->metrics_conns++;
        if (ev_add(l, fd, EV_READABLE, mconn_read, m) != 0) mconn_close(m);
    }
}

int metrics_start(server *s) {
    s->metrics_fd = -1;
    if (!cfg.metrics_port) return 0;
    char err[256];
    int fd = net_listen(cfg.metrics_bind, (int)cfg.metrics_port, 64, err, sizeof(err));
    if (fd < 0) {
        sg_log(SG_LOG_WARNING, "Metrics endpoint disabled: can't listen on %s:%lld: %s",
               cfg.metrics_bind, cfg.metrics_port, err);
        return -1;
    }
    s->metrics_fd = fd;
    ev_add(s->loop, fd, EV_READABLE, metrics_accept, s);
    sg_log(SG_LOG_NOTICE, "Prometheus metrics on http://%s:%lld/metrics", cfg.metrics_bind,
           cfg.metrics_port);
    return 0;
}

void metrics_cron(server *s) {
    SG_UNUSED(s);
    uint64_t now = sg_monotonic_us();
    for (mconn *m = conns, *next; m; m = next) {
        next = m->next;
        if (now - m->started_us > METRICS_DEADLINE_US) mconn_close(m);
    }
}

void metrics_stop(server *s) {
    while (conns) mconn_close(conns);
    if (s->metrics_fd >= 0) {
        ev_del(s->loop, s->metrics_fd, EV_READABLE);
        close(s->metrics_fd);
        s->metrics_fd = -1;
    }
}
