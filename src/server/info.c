/*
 * INFO and the memory reports (MEMORY STATS, MEMORY DOCTOR): the server's
 * view of itself, in the text and field names that Redis 7.0 uses, so that
 * redis-cli, redis-py, exporters and dashboards read Surge unchanged.
 *
 * Sections are a table: name (as INFO takes it), title (as "# Title" shows
 * it), which selections include it, and a generator that appends the
 * section's "field:value\r\n" lines to an sstr. INFO's arguments select rows;
 * the output always follows the table's order, whatever the order of the
 * arguments, exactly as Redis does:
 *
 *   server clients memory persistence stats replication cpu modules
 *   commandstats errorstats cluster keyspace
 *
 *   INFO / INFO default   every row but commandstats
 *   INFO all / everything every row
 *   INFO <name> ...       the named rows, case-insensitive; unknown names are
 *                         ignored, and if nothing matched the text is empty
 *
 * Output layout, byte for byte Redis's:
 *
 *   "# Server\r\n" "redis_version:7.0.15\r\n" ... "\r\n"      blank line
 *   "# Clients\r\n" ...                                     between sections
 *   ... the last field line ends in "\r\n", no blank line after it
 *
 * What is reported. A field appears only when Surge has a real source for
 * it: a counter in struct server, the keyspace's ks_stats, the allocator's
 * accounting (sg_used_memory), /proc, getrusage, uname. Fields that describe
 * a feature Surge does not have are reported as the fact they are (no
 * persistence: loading:0, aof_enabled:0, rdb_bgsave_in_progress:0; no
 * replication: role:master, connected_slaves:0; no pub/sub yet:
 * pubsub_channels:0 ...). Fields that would need a number Surge does not
 * track are left out rather than made up: used_memory_startup (the server
 * does not record its memory after start-up), the allocator_* family (libc
 * malloc exposes no arena statistics), latencystats (no per-command
 * histograms).
 *
 * Memory accounting. used_memory is the exact sum of live allocations
 * (base/alloc.c). The overhead is what client connections hold (query
 * buffers, reply blocks, argv arrays, names), measured per client with
 * malloc_usable_size; the keyspace does not yet expose the size of its
 * tables, so table cells count as dataset. dataset = used - overhead.
 * MEMORY STATS and MEMORY DOCTOR live here because they read the same
 * metrics as INFO memory (mem_collect).
 *
 * Cost: every section is O(1) in the number of keys. The clients, memory
 * and stats sections walk the client list (O(clients)); commandstats walks
 * the command table; errorstats sorts at most a few hundred entries.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include "config.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Redis's bytesToHuman: "512B", "1.00K", "1.23M", ... */
static void bytes_human(char *buf, size_t len, unsigned long long n) {
    static const char units[] = "KMGTP";
    double d = (double)n;
    if (n >= 1024) {
        for (int i = 0; units[i]; i++) {
            d /= 1024;
            if (d < 1024) {
                snprintf(buf, len, "%.2f%c", d, units[i]);
                return;
            }
        }
    }
    snprintf(buf, len, "%lluB", n); /* small, or beyond P (as Redis) */
}

/* Bytes held by one client connection (structure, buffers, names). */
static size_t client_mem(const client *c) {
    size_t n = sg_alloc_size(c) + sg_alloc_size(c->qbuf) + sg_alloc_size(c->argv) +
               sg_alloc_size(c->argvlen) + sg_alloc_size(c->parser.argv);
    for (const rblock *b = c->rhead; b; b = b->next) n += sg_alloc_size(b);
    if (c->name) n += sstr_alloc_size(c->name);
    if (c->lib_name) n += sstr_alloc_size(c->lib_name);
    if (c->lib_ver) n += sstr_alloc_size(c->lib_ver);
    return n;
}

typedef struct mem_metrics {
    size_t used, rss, peak;
    size_t clients_normal; /* all client connections */
    size_t overhead, dataset;
    size_t max_client_obuf, total_client_obuf;
    uint64_t keys;
    double peak_perc, dataset_perc, frag;
} mem_metrics;

static void mem_collect(server *s, mem_metrics *m) {
    memset(m, 0, sizeof(*m));
    m->used = sg_used_memory();
    m->rss = sg_rss_bytes();
    m->peak = s->peak_memory > m->used ? s->peak_memory : m->used;
    for (const client *c = s->clients; c; c = c->next) {
        m->clients_normal += client_mem(c);
        size_t ob = client_output_bytes(c);
        m->total_client_obuf += ob;
        if (ob > m->max_client_obuf) m->max_client_obuf = ob;
    }
    m->overhead = m->clients_normal < m->used ? m->clients_normal : m->used;
    m->dataset = m->used - m->overhead;
    for (int i = 0; i < ks_ndb(s->ks); i++) m->keys += kdb_size(ks_db(s->ks, i));
    m->peak_perc = m->peak ? (double)m->used * 100 / (double)m->peak : 0;
    m->dataset_perc = m->used ? (double)m->dataset * 100 / (double)m->used : 0;
    m->frag = m->used ? (double)m->rss / (double)m->used : 0;
}

static size_t total_system_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : 0;
}

/* The maxmemory-policy name as CONFIG GET shows it (one table of names). */
static sstr *policy_name(void) {
    char **names, **values;
    int n = config_get_matching("maxmemory-policy", 16, &names, &values);
    sstr *out = sstr_new(n ? values[0] : "", n ? strlen(values[0]) : 0);
    config_free_pairs(n, names, values);
    return out;
}

static sstr *cat_human(sstr *o, const char *field, unsigned long long v) {
    char h[32];
    bytes_human(h, sizeof(h), v);
    return sstr_catfmt(o, "%s:%llu\r\n%s_human:%s\r\n", field, v, field, h);
}

static int hz_effective(void) {
    return cfg.hz < 1 ? 1 : cfg.hz > 500 ? 500 : (int)cfg.hz;
}

/* ---- sections ---- */

static sstr *gen_server(server *s, sstr *o) {
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof(u));
    int64_t now_us = sg_ustime();
    long long uptime = (now_us / 1000 - s->start_ms) / 1000;
    if (uptime < 0) uptime = 0;
    static const char build_src[] = SURGE_VERSION " " __VERSION__;
    uint64_t build_id = sg_crc64(0, build_src, sizeof(build_src) - 1);
    o = sstr_catfmt(o,
                    "redis_version:%s\r\n"
                    "surge_version:%s\r\n"
                    "redis_git_sha1:00000000\r\n"
                    "redis_git_dirty:0\r\n"
                    "redis_build_id:%llx\r\n"
                    "redis_mode:standalone\r\n"
                    "os:%s %s %s\r\n"
                    "arch_bits:%d\r\n"
                    "monotonic_clock:%s\r\n"
                    "multiplexing_api:%s\r\n"
                    "atomicvar_api:c11-builtin\r\n"
                    "gcc_version:%d.%d.%d\r\n"
                    "process_id:%ld\r\n"
                    "process_supervised:no\r\n"
                    "run_id:%s\r\n"
                    "tcp_port:%lld\r\n"
                    "server_time_usec:%lld\r\n"
                    "uptime_in_seconds:%lld\r\n"
                    "uptime_in_days:%lld\r\n"
                    "hz:%d\r\n"
                    "configured_hz:%lld\r\n"
                    "lru_clock:%lld\r\n"
                    "executable:%s\r\n"
                    "config_file:%s\r\n"
                    "io_threads_active:0\r\n",
                    SURGE_REDIS_VERSION, SURGE_VERSION, (unsigned long long)build_id, u.sysname,
                    u.release, u.machine, (int)(sizeof(long) * 8), sg_clock_name(),
                    s->loop ? ev_backend(s->loop) : "epoll",
#ifdef __GNUC__
                    __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
#else
                    0, 0, 0,
#endif
                    (long)getpid(), s->run_id, cfg.port, (long long)now_us, uptime, uptime / 86400,
                    hz_effective(), cfg.hz, (long long)((now_us / 1000000) & 0xFFFFFF),
                    s->executable, s->config_file ? s->config_file : "");
    return o;
}

static sstr *gen_clients(server *s, sstr *o) {
    size_t max_in = 0, max_out = 0;
    uint64_t trk_clients, trk_keys, trk_items, trk_prefixes;
    tracking_stats(&trk_clients, &trk_keys, &trk_items, &trk_prefixes);
    for (const client *c = s->clients; c; c = c->next) {
        size_t in = sg_alloc_size(c->qbuf), out = client_output_bytes(c);
        if (in > max_in) max_in = in;
        if (out > max_out) max_out = out;
    }
    return sstr_catfmt(o,
                       "connected_clients:%llu\r\n"
                       "cluster_connections:0\r\n"
                       "maxclients:%lld\r\n"
                       "client_recent_max_input_buffer:%zu\r\n"
                       "client_recent_max_output_buffer:%zu\r\n"
                       "blocked_clients:%zu\r\n"
                       "tracking_clients:%llu\r\n"
                       "clients_in_timeout_table:%zu\r\n",
                       (unsigned long long)s->nclients, cfg.maxclients, max_in, max_out,
                       block_count(), (unsigned long long)trk_clients, block_count());
}

static sstr *gen_memory(server *s, sstr *o) {
    mem_metrics m;
    mem_collect(s, &m);
    size_t sysmem = total_system_memory();
    sstr *pol = policy_name();
    o = cat_human(o, "used_memory", m.used);
    o = cat_human(o, "used_memory_rss", m.rss);
    o = cat_human(o, "used_memory_peak", m.peak);
    o = sstr_catfmt(o,
                    "used_memory_peak_perc:%.2f%%\r\n"
                    "used_memory_overhead:%zu\r\n"
                    "used_memory_dataset:%zu\r\n"
                    "used_memory_dataset_perc:%.2f%%\r\n",
                    m.peak_perc, m.overhead, m.dataset, m.dataset_perc);
    o = cat_human(o, "total_system_memory", sysmem);
    o = cat_human(o, "maxmemory", cfg.maxmemory);
    o = sstr_catfmt(o,
                    "maxmemory_policy:%s\r\n"
                    "mem_fragmentation_ratio:%.2f\r\n"
                    "mem_fragmentation_bytes:%lld\r\n"
                    "mem_not_counted_for_evict:0\r\n"
                    "mem_replication_backlog:0\r\n"
                    "mem_total_replication_buffers:0\r\n"
                    "mem_clients_slaves:0\r\n"
                    "mem_clients_normal:%zu\r\n"
                    "mem_cluster_links:0\r\n"
                    "mem_aof_buffer:0\r\n"
                    "mem_allocator:%s\r\n"
                    "active_defrag_running:0\r\n"
                    "lazyfree_pending_objects:%llu\r\n",
                    pol->buf, m.frag, (long long)m.rss - (long long)m.used, m.clients_normal,
                    sg_allocator_name(), (unsigned long long)ks_lazyfree_pending(s->ks));
    sstr_free(pol);
    return o;
}

sstr *server_loading_info(sstr *o); /* server/loading.c */

static sstr *gen_persistence(server *s, sstr *o) {
    /* The rdb_* fields come from src/persist/snapshot.c, aof_* from aof.c. */
    o = sstr_catfmt(o,
                    "loading:%d\r\n"
                    "async_loading:0\r\n",
                    server_is_loading() ? 1 : 0);
    o = snapshot_info(s, o);
    o = aof_info(s, o);
    return server_loading_info(o); /* loading_* while loading, last as in Redis */
}

static sstr *gen_stats(server *s, sstr *o) {
    const ks_stats *ks = ks_stats_of(s->ks);
    uint64_t trk_clients, trk_keys, trk_items, trk_prefixes;
    tracking_stats(&trk_clients, &trk_keys, &trk_items, &trk_prefixes);
    return sstr_catfmt(
        o,
        "total_connections_received:%llu\r\n"
        "total_commands_processed:%llu\r\n"
        "instantaneous_ops_per_sec:%lld\r\n"
        "total_net_input_bytes:%llu\r\n"
        "total_net_output_bytes:%llu\r\n"
        "total_net_repl_input_bytes:0\r\n"
        "total_net_repl_output_bytes:0\r\n"
        "instantaneous_input_kbps:%.2f\r\n"
        "instantaneous_output_kbps:%.2f\r\n"
        "instantaneous_input_repl_kbps:0.00\r\n"
        "instantaneous_output_repl_kbps:0.00\r\n"
        "rejected_connections:%llu\r\n"
        "sync_full:0\r\n"
        "sync_partial_ok:0\r\n"
        "sync_partial_err:0\r\n"
        "expired_keys:%llu\r\n"
        "expired_stale_perc:%.2f\r\n"
        "expire_cycle_cpu_milliseconds:%llu\r\n"
        "evicted_keys:%llu\r\n"
        "evicted_clients:0\r\n"
        "keyspace_hits:%llu\r\n"
        "keyspace_misses:%llu\r\n"
        "pubsub_channels:%llu\r\n"
        "pubsub_patterns:%llu\r\n"
        "pubsubshard_channels:0\r\n"
        "latest_fork_usec:0\r\n"
        "total_forks:0\r\n"
        "tracking_total_keys:%llu\r\n"
        "tracking_total_items:%llu\r\n"
        "tracking_total_prefixes:%llu\r\n"
        "unexpected_error_replies:%llu\r\n"
        "total_error_replies:%llu\r\n"
        "dump_payload_sanitizations:0\r\n"
        "total_reads_processed:%llu\r\n"
        "total_writes_processed:%llu\r\n"
        "io_threaded_reads_processed:0\r\n"
        "io_threaded_writes_processed:0\r\n"
        "client_query_buffer_limit_disconnections:%llu\r\n"
        "client_output_buffer_limit_disconnections:%llu\r\n",
        (unsigned long long)s->stat_numconnections, (unsigned long long)s->stat_numcommands,
        (long long)(s->inst_ops + 0.5), (unsigned long long)s->stat_net_input,
        (unsigned long long)s->stat_net_output, s->inst_in_kbps, s->inst_out_kbps,
        (unsigned long long)s->stat_rejected_conn, (unsigned long long)ks->expired_keys,
        (double)ks->expired_stale_perc_x100 / 100.0,
        (unsigned long long)(ks->expire_cycle_us / 1000), (unsigned long long)ks->evicted_keys,
        (unsigned long long)ks->hits, (unsigned long long)ks->misses,
        (unsigned long long)pubsub_channel_count(), (unsigned long long)pubsub_pattern_count(),
        (unsigned long long)trk_keys, (unsigned long long)trk_items,
        (unsigned long long)trk_prefixes, (unsigned long long)s->stat_unexpected_error_replies,
        (unsigned long long)s->stat_total_error_replies, (unsigned long long)s->stat_io_reads,
        (unsigned long long)s->stat_io_writes,
        (unsigned long long)s->stat_client_qbuf_limit_disconnections,
        (unsigned long long)s->stat_client_outbuf_limit_disconnections);
}

static sstr *gen_replication(server *s, sstr *o) {
    return sstr_catfmt(o,
                       "role:master\r\n"
                       "connected_slaves:0\r\n"
                       "master_failover_state:no-failover\r\n"
                       "master_replid:%s\r\n"
                       "master_replid2:0000000000000000000000000000000000000000\r\n"
                       "master_repl_offset:0\r\n"
                       "second_repl_offset:-1\r\n"
                       "repl_backlog_active:0\r\n"
                       "repl_backlog_first_byte_offset:0\r\n"
                       "repl_backlog_histlen:0\r\n",
                       s->run_id);
}

static sstr *cat_tv(sstr *o, const char *field, struct timeval tv) {
    return sstr_catfmt(o, "%s:%ld.%06ld\r\n", field, (long)tv.tv_sec, (long)tv.tv_usec);
}

static sstr *gen_cpu(server *s, sstr *o) {
    SG_UNUSED(s);
    struct rusage self, children, thread;
    memset(&self, 0, sizeof(self));
    memset(&children, 0, sizeof(children));
    memset(&thread, 0, sizeof(thread));
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    getrusage(RUSAGE_THREAD, &thread);
    o = cat_tv(o, "used_cpu_sys", self.ru_stime);
    o = cat_tv(o, "used_cpu_user", self.ru_utime);
    o = cat_tv(o, "used_cpu_sys_children", children.ru_stime);
    o = cat_tv(o, "used_cpu_user_children", children.ru_utime);
    o = cat_tv(o, "used_cpu_sys_main_thread", thread.ru_stime);
    o = cat_tv(o, "used_cpu_user_main_thread", thread.ru_utime);
    return o;
}

static sstr *gen_modules(server *s, sstr *o) {
    SG_UNUSED(s);
    return o; /* no modules: the section is its title alone, as in Redis */
}

static sstr *gen_commandstats(server *s, sstr *o) {
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_stats *st = &s->cstats[i];
        if (!st->calls && !st->rejected && !st->failed) continue;
        const cmd_def *d = cmd_by_id(i);
        o = sstr_catfmt(o,
                        "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                        "failed_calls=%llu\r\n",
                        d->fullname, (unsigned long long)st->calls, (unsigned long long)st->usec,
                        st->calls ? (double)st->usec / (double)st->calls : 0.0,
                        (unsigned long long)st->rejected, (unsigned long long)st->failed);
    }
    return o;
}

static int cmp_err(const void *a, const void *b) {
    const err_stat *x = *(const err_stat *const *)a, *y = *(const err_stat *const *)b;
    return strcmp(x->name, y->name);
}

static sstr *gen_errorstats(server *s, sstr *o) {
    size_t n = 0;
    for (const err_stat *e = s->errors; e; e = e->next) n++;
    if (!n) return o;
    const err_stat **v = sg_malloc(sizeof(*v) * n);
    n = 0;
    for (const err_stat *e = s->errors; e; e = e->next) v[n++] = e;
    qsort(v, n, sizeof(*v), cmp_err); /* Redis keeps them in a radix tree: sorted */
    for (size_t i = 0; i < n; i++)
        o = sstr_catfmt(o, "errorstat_%s:count=%llu\r\n", v[i]->name,
                        (unsigned long long)v[i]->count);
    sg_free(v);
    return o;
}

static sstr *gen_cluster(server *s, sstr *o) {
    SG_UNUSED(s);
    return sstr_catfmt(o, "cluster_enabled:0\r\n");
}

static sstr *gen_keyspace(server *s, sstr *o) {
    for (int i = 0; i < ks_ndb(s->ks); i++) {
        const kdb *db = ks_db(s->ks, i);
        uint64_t keys = kdb_size(db), expires = kdb_expires(db);
        if (!keys && !expires) continue;
        o = sstr_catfmt(o, "db%d:keys=%llu,expires=%llu,avg_ttl=%llu\r\n", i,
                        (unsigned long long)keys, (unsigned long long)expires,
                        (unsigned long long)kdb_avg_ttl(db));
    }
    return o;
}

/* ---- the section table ---- */

#define SEC_DEFAULT 1 /* in INFO / INFO default */
#define SEC_ALL     2 /* in INFO all / everything */

/* latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=.. per called command. */
static sstr *gen_latencystats(server *s, sstr *o) {
    for (int i = 0; i < CMDID__COUNT; i++) {
        const obs_hist *h = s->cmd_hist[i];
        if (!h || !h->count) continue;
        o = sstr_catfmt(o, "latency_percentiles_usec_%s:", cmd_by_id(i)->fullname);
        for (int k = 0; k < cfg.nlatency_percentiles; k++) {
            char p[64];
            snprintf(p, sizeof(p), "%.15g", cfg.latency_percentiles[k]);
            o = sstr_catfmt(o, "%sp%s=%.3f", k ? "," : "", p,
                            obs_hist_percentile(h, cfg.latency_percentiles[k]));
        }
        o = sstr_cat(o, "\r\n", 2);
    }
    return o;
}

typedef struct info_section {
    const char *name;  /* INFO argument */
    const char *title; /* "# <title>" */
    int flags;
    sstr *(*gen)(server *s, sstr *o);
} info_section;

static const info_section sections[] = {
    {"server", "Server", SEC_DEFAULT | SEC_ALL, gen_server},
    {"clients", "Clients", SEC_DEFAULT | SEC_ALL, gen_clients},
    {"memory", "Memory", SEC_DEFAULT | SEC_ALL, gen_memory},
    {"persistence", "Persistence", SEC_DEFAULT | SEC_ALL, gen_persistence},
    {"stats", "Stats", SEC_DEFAULT | SEC_ALL, gen_stats},
    {"replication", "Replication", SEC_DEFAULT | SEC_ALL, gen_replication},
    {"cpu", "CPU", SEC_DEFAULT | SEC_ALL, gen_cpu},
    {"modules", "Modules", SEC_DEFAULT | SEC_ALL, gen_modules},
    {"commandstats", "Commandstats", SEC_ALL, gen_commandstats},
    {"errorstats", "Errorstats", SEC_DEFAULT | SEC_ALL, gen_errorstats},
    {"latencystats", "Latencystats", SEC_ALL, gen_latencystats},
    {"cluster", "Cluster", SEC_DEFAULT | SEC_ALL, gen_cluster},
    {"keyspace", "Keyspace", SEC_DEFAULT | SEC_ALL, gen_keyspace},
};
#define NSECTIONS ((int)SG_ARRAY_LEN(sections))

static bool word_is(const char *p, size_t n, const char *w) {
    return strlen(w) == n && !strncasecmp(p, w, n);
}

/*
 * Builds the INFO text. argv[0..argc) are the section arguments only (not
 * the command name); argc 0 means "default". Names are case-insensitive;
 * unknown ones are ignored. c may be NULL (it is not read today). Returns a
 * new sstr owned by the caller; never NULL (possibly empty).
 */
sstr *server_info(server *s, client *c, int argc, char **argv, size_t *argvlen) {
    SG_UNUSED(c);
    bool want[NSECTIONS];
    memset(want, 0, sizeof(want));
    if (argc == 0) {
        for (int i = 0; i < NSECTIONS; i++) want[i] = sections[i].flags & SEC_DEFAULT;
    }
    for (int a = 0; a < argc; a++) {
        int mask = 0;
        if (word_is(argv[a], argvlen[a], "default"))
            mask = SEC_DEFAULT;
        else if (word_is(argv[a], argvlen[a], "all") || word_is(argv[a], argvlen[a], "everything"))
            mask = SEC_ALL;
        for (int i = 0; i < NSECTIONS; i++) {
            if (mask ? (sections[i].flags & mask) != 0
                     : word_is(argv[a], argvlen[a], sections[i].name))
                want[i] = true;
        }
    }
    sstr *o = sstr_new_cap(4096);
    int n = 0;
    for (int i = 0; i < NSECTIONS; i++) {
        if (!want[i]) continue;
        if (n++) o = sstr_cat(o, "\r\n", 2);
        o = sstr_catfmt(o, "# %s\r\n", sections[i].title);
        o = sections[i].gen(s, o);
    }
    return o;
}

/* ---- MEMORY STATS ---- */

typedef struct stat_field {
    const char *name;
    bool is_double;
    long long i;
    double d;
} stat_field;

void memory_stats_command(client *c) {
    mem_metrics m;
    mem_collect(c->srv, &m);
    size_t net = m.used; /* no start-up baseline is recorded: see the header */
    const stat_field f[] = {
        {"peak.allocated", false, (long long)m.peak, 0},
        {"total.allocated", false, (long long)m.used, 0},
        {"replication.backlog", false, 0, 0},
        {"clients.slaves", false, 0, 0},
        {"clients.normal", false, (long long)m.clients_normal, 0},
        {"cluster.links", false, 0, 0},
        {"aof.buffer", false, 0, 0},
        {"lua.caches", false, 0, 0},
        {"functions.caches", false, 0, 0},
        {"overhead.total", false, (long long)m.overhead, 0},
        {"keys.count", false, (long long)m.keys, 0},
        {"keys.bytes-per-key", false, m.keys ? (long long)(net / m.keys) : 0, 0},
        {"dataset.bytes", false, (long long)m.dataset, 0},
        {"dataset.percentage", true, 0, m.dataset_perc},
        {"peak.percentage", true, 0, m.peak_perc},
        {"fragmentation", true, 0, m.frag},
        {"fragmentation.bytes", false, (long long)m.rss - (long long)m.used, 0},
    };
    reply_map(c, (long long)SG_ARRAY_LEN(f));
    for (size_t i = 0; i < SG_ARRAY_LEN(f); i++) {
        reply_bulk_cstr(c, f[i].name);
        if (f[i].is_double)
            reply_double(c, f[i].d);
        else
            reply_int(c, f[i].i);
    }
}

/* ---- MEMORY DOCTOR ---- */

#define DOCTOR_EMPTY_BYTES (5u << 20) /* below this, nothing to diagnose */

void memory_doctor_command(client *c) {
    server *s = c->srv;
    mem_metrics m;
    mem_collect(s, &m);
    const char *text;
    sstr *report = NULL;
    if (m.used < DOCTOR_EMPTY_BYTES) {
        text = "Hi Sam, this instance is empty or is using very little memory, my issues "
               "detector can't be used in these conditions. Please, leave for your mission on "
               "Earth and fill it with some data. The new Sam and I will be back to our "
               "programming as soon as I finished rebooting.\n";
    } else {
        bool big_peak = (double)m.peak / (double)m.used > 1.5;
        bool high_frag = m.frag > 1.4 && m.rss > m.used && m.rss - m.used > (10u << 20);
        size_t nclients = s->nclients ? (size_t)s->nclients : 1;
        bool big_clients = m.total_client_obuf / nclients > 200 * 1024;
        if (!big_peak && !high_frag && !big_clients) {
            text = "Hi Sam, I can't find any memory issue in your instance. I can only account "
                   "for what occurs on this base.\n";
        } else {
            static const char head[] =
                "Sam, I detected a few issues in this instance memory implants:\n\n";
            report = sstr_new(head, sizeof(head) - 1);
            if (big_peak)
                report = sstr_catfmt(
                    report,
                    " * Peak memory: In the past this instance used more than 150%% the memory "
                    "that is currently using (peak %zu bytes, now %zu). The allocator is normally "
                    "not able to release memory after a peak, so you can expect to see a big "
                    "fragmentation ratio, however this is actually harmless and is only due to "
                    "the memory peak. If the memory peak was only occasional and you want to try "
                    "to reclaim memory, please try the MEMORY PURGE command, otherwise the only "
                    "other option is to shutdown and restart the instance.\n\n",
                    m.peak, m.used);
            if (high_frag)
                report = sstr_catfmt(
                    report,
                    " * High total RSS: This instance has a memory fragmentation and RSS overhead "
                    "greater than 1.4 (%.2f: the Resident Set Size of the process is much larger "
                    "than the sum of the logical allocations). This is usually due either to a "
                    "large peak memory (check if there is a peak memory entry above in the "
                    "report) or to a workload that fragments memory a lot. MEMORY PURGE may give "
                    "some of it back. Note: the allocator in use is \"libc\".\n\n",
                    m.frag);
            if (big_clients)
                report = sstr_catfmt(
                    report,
                    " * Big client buffers: The clients output buffers are in average greater "
                    "than 200 KB (%zu bytes in all over %llu clients). Maybe your "
                    "client-output-buffer-limit setting is too generous, or clients read their "
                    "replies too slowly.\n\n",
                    m.total_client_obuf, (unsigned long long)s->nclients);
            report = sstr_catfmt(report, "I'm here to keep you safe, Sam. I want to help you.\n");
            text = report->buf;
        }
    }
    reply_verbatim(c, text, strlen(text), "txt");
    sstr_free(report);
}
