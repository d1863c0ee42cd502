/*
 * Server and introspection commands: INFO, TIME, CONFIG, MEMORY, MONITOR,
 * SHUTDOWN, DEBUG and COMMAND, with Redis 7.0's reply shapes and error
 * texts (the reference is Debian's redis-server 7.0.15; every shape below
 * was compared with it over RESP2 and RESP3).
 *
 * Most of these commands read tables that live elsewhere and only format
 * them: COMMAND reads the command table (src/cmd), CONFIG the configuration
 * table (config.c), INFO the server's counters (info.c builds the text).
 * The handlers own no state, with two exceptions: the MONITOR list in
 * struct server, and `debug_active_expire_disabled` below, which DEBUG
 * SET-ACTIVE-EXPIRE sets and the cron reads.
 *
 * COMMAND INFO, one entry per command (RESP3 types; RESP2 sends every
 * aggregate as an array, maps flattened):
 *
 *   *10  name (bulk, "config|get" for subcommands)   arity (int)
 *        flags (~ of +status)                        first, last, step (int)
 *        ACL categories (~ of +@name)                tips (~ of bulk)
 *        key specs (~ of %{flags, begin_search, find_keys})
 *        subcommands (* of entries like this one; ~0 when there are none)
 *
 *   begin_search: %{type: index,   spec: %{index}}
 *                 %{type: keyword, spec: %{keyword, startfrom}}
 *                 %{type: unknown, spec: %{}}
 *   find_keys:    %{type: range,   spec: %{lastkey, keystep, limit}}
 *                 %{type: keynum,  spec: %{keynumidx, firstkey, keystep}}
 *                 %{type: unknown, spec: %{}}
 *
 * Flags that Redis hides from COMMAND (may_replicate, sentinel,
 * only_sentinel, protected) are hidden here too. Command names given to
 * COMMAND INFO / DOCS may name a subcommand as "parent|sub", as in Redis.
 *
 * DEBUG is a table of subcommands (name, argument counts, handler); only
 * those that make sense without persistence or replication exist: SLEEP,
 * OBJECT, DIGEST, DIGEST-VALUE, SET-ACTIVE-EXPIRE, POPULATE, ERROR, LOG,
 * PROTOCOL, HELP. DEBUG OBJECT's serializedlength is the RDB length of a
 * string value without LZF compression (Surge writes no RDB); for other
 * types it is the value's memory size, an estimate. DEBUG DIGEST mixes each
 * non-empty database's digest with its index, then XORs them, so the same
 * data in another database gives another digest; all empty: 40 zeros.
 *
 * SHUTDOWN only asks: it sets shutdown_asap, and the loop's before-sleep
 * hook shuts down between commands. The client gets no reply, as in Redis.
 */
#include "config.h"
#include "server.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Set by DEBUG SET-ACTIVE-EXPIRE 0, cleared by 1: while set, the cron must
 * not expire keys in the background (lazy expiry on access still works). */
int debug_active_expire_disabled;

/* ---- small helpers ---- */

static bool arg_eq(const client *c, int i, const char *word) {
    return strlen(word) == c->argvlen[i] && !strncasecmp(c->argv[i], word, c->argvlen[i]);
}

static void reply_statusf(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_statusf(client *c, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    reply_status(c, buf);
}

static void hex20(const uint8_t d[20], char out[41]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        out[i * 2] = hx[d[i] >> 4];
        out[i * 2 + 1] = hx[d[i] & 15];
    }
    out[40] = '\0';
}

/* ---- TIME, INFO ---- */

void time_command(client *c) {
    int64_t us = sg_ustime();
    reply_array(c, 2);
    reply_bulk_ll(c, us / 1000000);
    reply_bulk_ll(c, us % 1000000);
}

void info_command(client *c) {
    sstr *text = server_info(c->srv, c, c->argc - 1, c->argv + 1, c->argvlen + 1);
    reply_verbatim(c, text->buf, text->len, "txt");
    sstr_free(text);
}

/* ---- CONFIG ---- */

static bool has_glob(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] == '*' || p[i] == '?' || p[i] == '[') return true;
    return false;
}

void config_get_command(client *c) {
    /* Matches across all patterns, each parameter once (first match wins).
     * An exact name is echoed as the client spelled it, as Redis does. */
    size_t n = 0, cap = 16;
    sstr **names = sg_malloc(sizeof(sstr *) * cap), **values = sg_malloc(sizeof(sstr *) * cap);
    for (int a = 2; a < c->argc; a++) {
        char **pn, **pv;
        int m = config_get_matching(c->argv[a], c->argvlen[a], &pn, &pv);
        bool glob = has_glob(c->argv[a], c->argvlen[a]);
        for (int j = 0; j < m; j++) {
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = names[k]->len == strlen(pn[j]) && !strcasecmp(names[k]->buf, pn[j]);
            if (dup) continue;
            if (n == cap) {
                cap *= 2;
                names = sg_realloc(names, sizeof(sstr *) * cap);
                values = sg_realloc(values, sizeof(sstr *) * cap);
            }
            names[n] = glob ? sstr_new(pn[j], strlen(pn[j])) : sstr_new(c->argv[a], c->argvlen[a]);
            values[n] = sstr_new(pv[j], strlen(pv[j]));
            n++;
        }
        config_free_pairs(m, pn, pv);
    }
    reply_map(c, (long long)n);
    for (size_t k = 0; k < n; k++) {
        reply_bulk(c, names[k]->buf, names[k]->len);
        reply_bulk(c, values[k]->buf, values[k]->len);
        sstr_free(names[k]);
        sstr_free(values[k]);
    }
    sg_free(names);
    sg_free(values);
}

void config_set_command(client *c) {
    if (c->argc & 1) { /* name/value pairs: argc is even */
        reply_syntax_error(c);
        return;
    }
    int npairs = (c->argc - 2) / 2;
    char **names = sg_malloc(sizeof(char *) * (size_t)npairs);
    char **values = sg_malloc(sizeof(char *) * (size_t)npairs);
    size_t *nlens = sg_malloc(sizeof(size_t) * (size_t)npairs);
    size_t *vlens = sg_malloc(sizeof(size_t) * (size_t)npairs);
    for (int i = 0; i < npairs; i++) {
        names[i] = c->argv[2 + 2 * i];
        nlens[i] = c->argvlen[2 + 2 * i];
        values[i] = c->argv[3 + 2 * i];
        vlens[i] = c->argvlen[3 + 2 * i];
    }
    char err[512];
    for (int i = 0; i < npairs; i++) /* secrets stay out of SLOWLOG and MONITOR */
        if (config_is_sensitive(names[i], nlens[i]) && 3 + 2 * i < 64)
            c->redact |= 1ULL << (3 + 2 * i);
    if (config_set_pairs(npairs, names, nlens, values, vlens, err, sizeof(err)) != 0) {
        reply_error(c, err);
    } else {
        config_apply_settings(c->srv);
        for (int i = 0; i < npairs; i++) /* one log line per change, never the value of a secret */
            sg_log(SG_LOG_NOTICE, "CONFIG SET %s by client id=%llu addr=%s", names[i],
                   (unsigned long long)c->id, c->addr);
        reply_ok(c);
    }
    sg_free(names);
    sg_free(values);
    sg_free(nlens);
    sg_free(vlens);
}

void config_resetstat_command(client *c) {
    server *s = c->srv;
    s->stat_numcommands = s->stat_numconnections = s->stat_rejected_conn = 0;
    s->stat_net_input = s->stat_net_output = 0;
    s->stat_unexpected_error_replies = s->stat_total_error_replies = 0;
    s->stat_client_qbuf_limit_disconnections = s->stat_client_outbuf_limit_disconnections = 0;
    s->stat_io_reads = s->stat_io_writes = 0;
    s->peak_memory = sg_used_memory();
    s->peak_memory_time = sg_mstime();
    memset(s->cstats, 0, sizeof(s->cstats));
    for (int i = 0; i < CMDID__COUNT; i++) {
        sg_free(s->cmd_hist[i]);
        s->cmd_hist[i] = NULL;
    }
    memset(s->cmd_prom, 0, sizeof(s->cmd_prom));
    for (err_stat *e = s->errors, *next; e; e = next) {
        next = e->next;
        sg_free(e);
    }
    s->errors = NULL;
    s->errors_count = 0;
    memset(ks_stats_of(s->ks), 0, sizeof(ks_stats));
    /* The instantaneous rates are deltas of the counters just zeroed. */
    s->inst_last_cmds = s->inst_last_in = s->inst_last_out = 0;
    s->inst_ops = s->inst_in_kbps = s->inst_out_kbps = 0;
    s->inst_last_us = sg_monotonic_us();
    reply_ok(c);
}

void config_rewrite_command(client *c) {
    char err[512];
    if (config_rewrite(c->srv->config_file, err, sizeof(err)) != 0) {
        sg_log(SG_LOG_WARNING, "CONFIG REWRITE failed: %s", err);
        reply_error(c, err);
        return;
    }
    sg_log(SG_LOG_NOTICE, "CONFIG REWRITE executed with success.");
    reply_ok(c);
}

void config_help_command(client *c) {
    static const char *const help[] = {
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        NULL,
    };
    reply_help(c, "CONFIG", help);
}

/* ---- MEMORY (STATS and DOCTOR are in info.c, with the metrics) ---- */

#define TABLE_CELL_BYTES sizeof(uintptr_t) /* a key's cell in its slot table */

void memory_usage_command(client *c) {
    for (int j = 3; j < c->argc; j++) {
        long long samples;
        if (arg_eq(c, j, "samples") && j + 1 < c->argc) {
            if (!sg_str2ll(c->argv[j + 1], c->argvlen[j + 1], &samples)) {
                reply_error(c, ERR_NOT_INT);
                return;
            }
            if (samples < 0) {
                reply_syntax_error(c);
                return;
            }
            j++; /* every value is measured whole: SAMPLES changes nothing */
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    kref ref;
    kentry *e =
        kdb_lookup_read(c->db, c->argv[2], c->argvlen[2], &ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    if (!e) {
        reply_null(c);
        return;
    }
    reply_int(c, (long long)(kentry_mem(e) + TABLE_CELL_BYTES));
}

void memory_malloc_stats_command(client *c) {
    reply_bulk_cstr(c, "Stats not supported for the current allocator");
}

void memory_purge_command(client *c) {
    sg_alloc_purge();
    reply_ok(c);
}

void memory_help_command(client *c) {
    static const char *const help[] = {
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        NULL,
    };
    reply_help(c, "MEMORY", help);
}

/* ---- MONITOR, SHUTDOWN ---- */

void monitor_command(client *c) {
    server *s = c->srv;
    if (c->flags & CL_MONITOR) return; /* already monitoring: Redis ignores it */
    if (s->nmonitors == s->monitors_cap) {
        s->monitors_cap = s->monitors_cap ? s->monitors_cap * 2 : 8;
        s->monitors = sg_realloc(s->monitors, sizeof(client *) * s->monitors_cap);
    }
    s->monitors[s->nmonitors++] = c;
    c->flags |= CL_MONITOR;
    reply_ok(c);
}

void shutdown_command(client *c) {
    bool nosave = false, save = false, abort_req = false;
    for (int i = 1; i < c->argc; i++) {
        if (arg_eq(c, i, "nosave"))
            nosave = true;
        else if (arg_eq(c, i, "save"))
            save = true;
        else if (arg_eq(c, i, "now") || arg_eq(c, i, "force"))
            continue; /* nothing to wait for */
        else if (arg_eq(c, i, "abort"))
            abort_req = true;
        else {
            reply_syntax_error(c);
            return;
        }
    }
    if ((abort_req && c->argc != 2) || (nosave && save)) {
        reply_syntax_error(c);
        return;
    }
    if (abort_req) { /* shutdown is immediate: there is never one to abort */
        reply_error(c, "ERR No shutdown in progress.");
        return;
    }
    if (snapshot_shutdown(c->srv, nosave, save) != 0) {
        reply_error(c, "ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    c->srv->shutdown_asap = true;
    c->flags |= CL_CLOSE_AFTER_REPLY; /* run nothing pipelined after it */
}

/* ---- DEBUG ---- */

/* RDB length of a string value, without LZF compression (rdbSaveLen plus
 * the integer encodings of rdbTryIntegerEncoding). */
static size_t rdb_string_len(const char *p, size_t n) {
    long long v;
    if (n <= 11 && sg_str2ll(p, n, &v)) {
        if (v >= -(1 << 7) && v <= (1 << 7) - 1) return 2;
        if (v >= -(1 << 15) && v <= (1 << 15) - 1) return 3;
        if (v >= -(1LL << 31) && v <= (1LL << 31) - 1) return 5;
    }
    size_t hdr = n < (1 << 6) ? 1 : n < (1 << 14) ? 2 : n <= UINT32_MAX ? 5 : 9;
    return hdr + n;
}

static void debug_object(client *c) {
    kref ref;
    kentry *e =
        kdb_lookup_read(c->db, c->argv[2], c->argvlen[2], &ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    if (!e) {
        reply_error(c, ERR_NO_KEY);
        return;
    }
    size_t ser;
    if (kentry_type(e) == OBJ_STRING) {
        size_t vl;
        const char *v = kentry_str(e, &vl);
        ser = rdb_string_len(v, vl);
    } else {
        ser = kentry_mem(e);
    }
    reply_statusf(c,
                  "Value at:%p refcount:1 encoding:%s serializedlength:%zu lru:%u "
                  "lru_seconds_idle:%llu",
                  (void *)e, ks_encoding_name(kentry_type(e), kentry_enc(e)), ser, kentry_lru(e),
                  (unsigned long long)(ks_idle_ms(c->srv->ks, e) / 1000));
}

static void debug_reload(client *c) {
    bool save = true, flush = true, merge = false;
    for (int i = 2; i < c->argc; i++) {
        if (arg_is(c, i, "merge")) {
            merge = true;
        } else if (arg_is(c, i, "noflush")) {
            flush = false;
        } else if (arg_is(c, i, "nosave")) {
            save = false;
        } else {
            reply_error(c, "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE "
                           "options.");
            return;
        }
    }
    const char *err;
    if (snapshot_debug_reload(c->srv, save, flush, merge, &err) != 0) {
        reply_error(c, err);
        return;
    }
    sg_log(SG_LOG_NOTICE, "DB reloaded by DEBUG RELOAD");
    reply_ok(c);
}

static void debug_digest(client *c) {
    static const uint8_t dbkeys[3][16] = {
        {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x42, 0x69, 0x64, 0x78, 0x30, 0, 0, 0, 0, 1},
        {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x42, 0x69, 0x64, 0x78, 0x31, 0, 0, 0, 0, 2},
        {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x42, 0x69, 0x64, 0x78, 0x32, 0, 0, 0, 0, 3},
    };
    keyspace *ks = c->srv->ks;
    uint8_t final[20] = {0};
    for (int i = 0; i < ks_ndb(ks); i++) {
        kdb *db = ks_db(ks, i);
        if (!kdb_size(db)) continue;
        uint8_t buf[24];
        uint32_t id = (uint32_t)i;
        kdb_digest(db, buf);
        memcpy(buf + 20, &id, 4);
        /* 20 bytes of H(db digest || db index), with fixed keys. */
        uint64_t h[3];
        for (int k = 0; k < 3; k++) h[k] = sg_siphash(buf, sizeof(buf), dbkeys[k]);
        uint8_t mixed[24];
        memcpy(mixed, h, sizeof(mixed));
        for (int k = 0; k < 20; k++) final[k] ^= mixed[k];
    }
    char hex[41];
    hex20(final, hex);
    reply_status(c, hex);
}

static void debug_digest_value(client *c) {
    reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        uint8_t d[20] = {0};
        kref ref;
        kentry *e = kdb_lookup_read(c->db, c->argv[i], c->argvlen[i], &ref,
                                    LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
        if (e) kentry_digest(e, false, d);
        char hex[41];
        hex20(d, hex);
        reply_status(c, hex);
    }
}

static void debug_sleep(client *c) {
    double secs = strtod(c->argv[2], NULL); /* as Redis: junk reads as 0 */
    if (secs > 0) {
        if (secs > 1e9) secs = 1e9;
        struct timespec ts;
        ts.tv_sec = (time_t)secs;
        ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    reply_ok(c);
}

static void debug_set_active_expire(client *c) {
    debug_active_expire_disabled = atoi(c->argv[2]) == 0;
    reply_ok(c);
}

static void debug_populate(client *c) {
    long long count, size = 0;
    if (!sg_str2ll(c->argv[2], c->argvlen[2], &count) || count < 0) {
        reply_error(c, "ERR value is out of range, must be positive");
        return;
    }
    if (c->argc == 5) {
        if (!sg_str2ll(c->argv[4], c->argvlen[4], &size) || size < 0) {
            reply_error(c, "ERR value is out of range, must be positive");
            return;
        }
        if ((unsigned long long)size > cfg.proto_max_bulk_len) {
            reply_error(c, ERR_STRING_TOO_BIG);
            return;
        }
    }
    const char *prefix = c->argc >= 4 ? c->argv[3] : "key";
    size_t plen = c->argc >= 4 ? c->argvlen[3] : 3;
    sstr *key = sstr_new(prefix, plen);
    char *val = size ? sg_malloc((size_t)size) : NULL;
    for (long long j = 0; j < count; j++) {
        key->len = plen;
        key = sstr_catfmt(key, ":%lld", j);
        kref ref;
        if (kdb_lookup_write(c->db, key->buf, key->len, &ref)) continue;
        char num[48];
        int nl = snprintf(num, sizeof(num), "value:%lld", j);
        const char *v = num;
        size_t vl = (size_t)nl;
        if (size) { /* exactly size bytes: the text, truncated or zero-padded */
            memset(val, 0, (size_t)size);
            memcpy(val, num, (size_t)size < vl ? (size_t)size : vl);
            v = val;
            vl = (size_t)size;
        }
        kdb_add(c->db, kentry_new_str(key->buf, key->len, v, vl, ENC_EMBSTR, -1));
        server_key_modified(c, c->db, key->buf, key->len); /* as Redis; no dirty++ */
    }
    sg_free(val);
    sstr_free(key);
    reply_ok(c);
}

static void debug_error(client *c) {
    reply_error(c, c->argv[2]);
}

static void debug_log(client *c) {
    sg_log(SG_LOG_WARNING, "DEBUG LOG: %s", c->argv[2]);
    reply_ok(c);
}

static void debug_protocol(client *c) {
    const char *t = c->argv[2];
    if (!strcasecmp(t, "string")) {
        reply_bulk_cstr(c, "Hello World");
    } else if (!strcasecmp(t, "integer")) {
        reply_int(c, 12345);
    } else if (!strcasecmp(t, "double")) {
        reply_double(c, 3.141);
    } else if (!strcasecmp(t, "bignum")) {
        static const char big[] = "1234567999999999999999999999999999999";
        if (c->resp >= 3) {
            reply_raw(c, "(", 1);
            reply_raw(c, big, sizeof(big) - 1);
            reply_raw(c, "\r\n", 2);
        } else {
            reply_bulk(c, big, sizeof(big) - 1);
        }
    } else if (!strcasecmp(t, "null")) {
        reply_null(c);
    } else if (!strcasecmp(t, "array") || !strcasecmp(t, "set")) {
        if (t[0] == 'a' || t[0] == 'A')
            reply_array(c, 3);
        else
            reply_set(c, 3);
        for (int j = 0; j < 3; j++) reply_int(c, j);
    } else if (!strcasecmp(t, "map")) {
        reply_map(c, 3);
        for (int j = 0; j < 3; j++) {
            reply_int(c, j);
            reply_bool(c, j == 1);
        }
    } else if (!strcasecmp(t, "attrib")) {
        if (c->resp >= 3) {
            reply_raw(c, "|1\r\n", 4);
            reply_bulk_cstr(c, "key-popularity");
            reply_array(c, 2);
            reply_bulk_cstr(c, "key:123");
            reply_int(c, 90);
        }
        reply_bulk_cstr(c, "Some real reply following the attribute");
    } else if (!strcasecmp(t, "push")) {
        if (c->resp < 3) {
            reply_error(c, "ERR RESP2 is not supported by this command");
            return;
        }
        reply_raw(c, ">2\r\n", 4);
        reply_bulk_cstr(c, "server-cpu-usage");
        reply_int(c, 42);
        reply_bulk_cstr(c, "Some real reply following the push reply");
    } else if (!strcasecmp(t, "true")) {
        reply_bool(c, true);
    } else if (!strcasecmp(t, "false")) {
        reply_bool(c, false);
    } else if (!strcasecmp(t, "verbatim")) {
        reply_verbatim(c, "This is a verbatim\nstring", 25, "txt");
    } else {
        reply_error(c, "ERR Wrong protocol type name. Please use one of the following: "
                       "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|"
                       "true|false");
    }
}

static void debug_help(client *c);

typedef struct debug_sub {
    const char *name;
    int min_argc, max_argc; /* whole command, DEBUG included; -1: no maximum */
    void (*fn)(client *c);
} debug_sub;

static const debug_sub debug_subs[] = {
    {"help", 2, 2, debug_help},
    {"sleep", 3, 3, debug_sleep},
    {"object", 3, 3, debug_object},
    {"digest", 2, 2, debug_digest},
    {"reload", 2, 5, debug_reload},
    {"digest-value", 2, -1, debug_digest_value},
    {"set-active-expire", 3, 3, debug_set_active_expire},
    {"populate", 3, 5, debug_populate},
    {"error", 3, 3, debug_error},
    {"log", 3, 3, debug_log},
    {"protocol", 3, 3, debug_protocol},
};

static void debug_help(client *c) {
    static const char *const help[] = {
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys make the load stop with an error (keys loaded before",
        "      the conflict stay).",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        NULL,
    };
    reply_help(c, "DEBUG", help);
}

/* The dispatcher refuses rows flagged protected when enable-debug-command
 * forbids them; DEBUG's row may lack the flag, so check here as well. */
static bool debug_allowed_or_reply(client *c) {
    if (cfg.enable_debug_command == DEBUG_CMD_YES ||
        (cfg.enable_debug_command == DEBUG_CMD_LOCAL && c->local))
        return true;
    reply_error(c, "ERR DEBUG command not allowed. If the enable-debug-command option is set to "
                   "\"local\", you can run it from a local connection, otherwise you need to set "
                   "this option in the configuration file, and then restart the server.");
    return false;
}

void debug_command(client *c) {
    if (!debug_allowed_or_reply(c)) return;
    for (size_t i = 0; i < SG_ARRAY_LEN(debug_subs); i++) {
        const debug_sub *d = &debug_subs[i];
        if (!arg_eq(c, 1, d->name)) continue;
        if (c->argc < d->min_argc || (d->max_argc >= 0 && c->argc > d->max_argc)) break;
        d->fn(c);
        return;
    }
    reply_errorf(c,
                 "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try DEBUG "
                 "HELP.",
                 c->argv[1]);
}

/* ---- COMMAND ---- */

static const uint32_t hidden_flags = (1u << CF_BIT_MAY_REPLICATE) | (1u << CF_BIT_SENTINEL) |
                                     (1u << CF_BIT_ONLY_SENTINEL) | (1u << CF_BIT_PROTECTED);

static int popcount32(uint32_t v) {
    return __builtin_popcount(v);
}

static void reply_cmd_flags(client *c, uint32_t flags) {
    flags &= ~hidden_flags;
    reply_set(c, popcount32(flags));
    for (int b = 0; b < CF_BIT__COUNT; b++)
        if (flags & (1u << b)) reply_status(c, cmd_flag_names[b]);
}

static void reply_acl_cats(client *c, uint32_t acl) {
    reply_set(c, popcount32(acl));
    for (int b = 0; b < ACL_BIT__COUNT; b++)
        if (acl & (1u << b)) reply_statusf(c, "@%s", cmd_acl_names[b]);
}

static void reply_keyspec_flags(client *c, uint32_t flags) {
    reply_set(c, popcount32(flags));
    for (int b = 0; b < KS_BIT__COUNT; b++)
        if (flags & (1u << b)) reply_status(c, cmd_ks_flag_names[b]);
}

static void reply_tips(client *c, const char *tips) {
    int n = 0;
    for (const char *p = tips; p && *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ') p++;
    }
    reply_set(c, n);
    for (const char *p = tips; n && *p;) {
        while (*p == ' ') p++;
        const char *start = p;
        while (*p && *p != ' ') p++;
        if (p > start) reply_bulk(c, start, (size_t)(p - start));
    }
}

static void reply_kv_int(client *c, const char *k, long long v) {
    reply_bulk_cstr(c, k);
    reply_int(c, v);
}

static void reply_keyspecs(client *c, const cmd_def *d) {
    reply_set(c, d->nkeyspecs);
    for (int i = 0; i < d->nkeyspecs; i++) {
        const cmd_keyspec *ks = &d->keyspecs[i];
        reply_map(c, ks->notes ? 4 : 3);
        if (ks->notes) {
            reply_bulk_cstr(c, "notes");
            reply_bulk_cstr(c, ks->notes);
        }
        reply_bulk_cstr(c, "flags");
        reply_keyspec_flags(c, ks->flags);

        reply_bulk_cstr(c, "begin_search");
        reply_map(c, 2);
        reply_bulk_cstr(c, "type");
        if (ks->bs_type == KS_BS_INDEX) {
            reply_bulk_cstr(c, "index");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 1);
            reply_kv_int(c, "index", ks->bs_index);
        } else if (ks->bs_type == KS_BS_KEYWORD) {
            reply_bulk_cstr(c, "keyword");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 2);
            reply_bulk_cstr(c, "keyword");
            reply_bulk_cstr(c, ks->bs_keyword);
            reply_kv_int(c, "startfrom", ks->bs_startfrom);
        } else {
            reply_bulk_cstr(c, "unknown");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 0);
        }

        reply_bulk_cstr(c, "find_keys");
        reply_map(c, 2);
        reply_bulk_cstr(c, "type");
        if (ks->fk_type == KS_FK_RANGE) {
            reply_bulk_cstr(c, "range");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 3);
            reply_kv_int(c, "lastkey", ks->fk_lastkey);
            reply_kv_int(c, "keystep", ks->fk_keystep);
            reply_kv_int(c, "limit", ks->fk_limit);
        } else if (ks->fk_type == KS_FK_KEYNUM) {
            reply_bulk_cstr(c, "keynum");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 3);
            reply_kv_int(c, "keynumidx", ks->fk_keynumidx);
            reply_kv_int(c, "firstkey", ks->fk_firstkey);
            reply_kv_int(c, "keystep", ks->fk_keystep2);
        } else {
            reply_bulk_cstr(c, "unknown");
            reply_bulk_cstr(c, "spec");
            reply_map(c, 0);
        }
    }
}

static void reply_command_info(client *c, const cmd_def *d) {
    reply_array(c, 10);
    reply_bulk_cstr(c, d->fullname);
    reply_int(c, d->arity);
    reply_cmd_flags(c, d->flags);
    reply_int(c, d->first);
    reply_int(c, d->last);
    reply_int(c, d->step);
    reply_acl_cats(c, d->acl);
    reply_tips(c, d->tips);
    reply_keyspecs(c, d);
    if (d->nsubs) {
        reply_array(c, d->nsubs);
        for (int i = 0; i < d->nsubs; i++) reply_command_info(c, d->subs[i]);
    } else {
        reply_set(c, 0);
    }
}

static bool nonempty(const char *s) {
    return s && *s;
}

static void reply_command_docs(client *c, const cmd_def *d) {
    int n = nonempty(d->summary) + nonempty(d->since) + nonempty(d->group) +
            nonempty(d->complexity) + (d->nsubs > 0);
    reply_map(c, n);
    if (nonempty(d->summary)) {
        reply_bulk_cstr(c, "summary");
        reply_bulk_cstr(c, d->summary);
    }
    if (nonempty(d->since)) {
        reply_bulk_cstr(c, "since");
        reply_bulk_cstr(c, d->since);
    }
    if (nonempty(d->group)) {
        reply_bulk_cstr(c, "group");
        reply_bulk_cstr(c, d->group);
    }
    if (nonempty(d->complexity)) {
        reply_bulk_cstr(c, "complexity");
        reply_bulk_cstr(c, d->complexity);
    }
    if (d->nsubs) {
        reply_bulk_cstr(c, "subcommands");
        reply_map(c, d->nsubs);
        for (int i = 0; i < d->nsubs; i++) {
            reply_bulk_cstr(c, d->subs[i]->fullname);
            reply_command_docs(c, d->subs[i]);
        }
    }
}

/* "get" or "config|get", case-insensitive, as Redis's lookupCommandBySds:
 * a '|' form must name a real subcommand of a container. */
static const cmd_def *lookup_by_fullname(const char *name, size_t len) {
    const char *bar = memchr(name, '|', len);
    if (!bar) return cmd_lookup(name, len);
    const cmd_def *base = cmd_lookup(name, (size_t)(bar - name));
    size_t rest = len - (size_t)(bar - name) - 1;
    if (!base || !base->nsubs || memchr(bar + 1, '|', rest)) return NULL;
    return cmd_lookup_sub(base, bar + 1, rest);
}

void command_command(client *c) {
    int n = cmd_top_count();
    reply_array(c, n);
    for (int i = 0; i < n; i++) reply_command_info(c, cmd_top(i));
}

void command_count_command(client *c) {
    reply_int(c, cmd_top_count());
}

void command_info_command(client *c) {
    if (c->argc == 2) {
        command_command(c);
        return;
    }
    reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        const cmd_def *d = lookup_by_fullname(c->argv[i], c->argvlen[i]);
        if (d)
            reply_command_info(c, d);
        else
            reply_null(c); /* $-1 in RESP2, as Redis */
    }
}

void command_docs_command(client *c) {
    if (c->argc == 2) {
        int n = cmd_top_count();
        reply_map(c, n);
        for (int i = 0; i < n; i++) {
            reply_bulk_cstr(c, cmd_top(i)->fullname);
            reply_command_docs(c, cmd_top(i));
        }
        return;
    }
    int found = 0;
    for (int i = 2; i < c->argc; i++)
        found += lookup_by_fullname(c->argv[i], c->argvlen[i]) != NULL;
    reply_map(c, found);
    for (int i = 2; i < c->argc; i++) {
        const cmd_def *d = lookup_by_fullname(c->argv[i], c->argvlen[i]);
        if (!d) continue;
        reply_bulk_cstr(c, d->fullname);
        reply_command_docs(c, d);
    }
}

enum { LIST_ALL, LIST_MODULE, LIST_ACLCAT, LIST_PATTERN };

typedef struct list_filter {
    int type;
    const char *arg;
    size_t len;
    uint32_t aclcat; /* LIST_ACLCAT: the category's bit, 0 if unknown */
} list_filter;

static bool list_keep(const list_filter *f, const cmd_def *d) {
    switch (f->type) {
    case LIST_MODULE:
        return false; /* no modules */
    case LIST_ACLCAT:
        return f->aclcat && (d->acl & f->aclcat);
    case LIST_PATTERN:
        return sg_glob_match(f->arg, f->len, d->fullname, strlen(d->fullname), true);
    default:
        return true;
    }
}

/* Counts (reply false) or replies (reply true) the commands f keeps, each
 * container followed by its subcommands, as Redis lists them. */
static int list_walk(client *c, const list_filter *f, bool reply) {
    int n = 0;
    for (int i = 0; cmd_top(i); i++) {
        const cmd_def *d = cmd_top(i);
        for (int k = -1; k < d->nsubs; k++) {
            const cmd_def *x = k < 0 ? d : d->subs[k];
            if (!list_keep(f, x)) continue;
            if (reply) reply_bulk_cstr(c, x->fullname);
            n++;
        }
    }
    return n;
}

void command_list_command(client *c) {
    list_filter f = {LIST_ALL, NULL, 0, 0};
    if (c->argc == 5 && arg_eq(c, 2, "filterby")) {
        f.arg = c->argv[4];
        f.len = c->argvlen[4];
        if (arg_eq(c, 3, "module")) {
            f.type = LIST_MODULE;
        } else if (arg_eq(c, 3, "aclcat")) {
            f.type = LIST_ACLCAT;
            for (int b = 0; b < ACL_BIT__COUNT; b++)
                if (strlen(cmd_acl_names[b]) == f.len &&
                    !strncasecmp(cmd_acl_names[b], f.arg, f.len))
                    f.aclcat = 1u << b;
        } else if (arg_eq(c, 3, "pattern")) {
            f.type = LIST_PATTERN;
        } else {
            reply_syntax_error(c);
            return;
        }
    } else if (c->argc != 2) {
        reply_syntax_error(c);
        return;
    }
    reply_array(c, list_walk(c, &f, false));
    list_walk(c, &f, true);
}

static void getkeys_generic(client *c, bool with_flags) {
    int argc = c->argc - 2;
    char **argv = c->argv + 2;
    size_t *lens = c->argvlen + 2;
    const cmd_def *d = cmd_lookup(argv[0], lens[0]);
    if (d && d->nsubs && argc >= 2) d = cmd_lookup_sub(d, argv[1], lens[1]);
    if (!d) {
        reply_error(c, "ERR Invalid command specified");
        return;
    }
    bool has_keys = false;
    for (int i = 0; i < d->nkeyspecs; i++)
        if (!(d->keyspecs[i].flags & (1u << KS_BIT_NOT_KEY))) has_keys = true;
    if (!has_keys) {
        reply_error(c, "ERR The command has no key arguments");
        return;
    }
    if (!cmd_arity_ok(d, argc)) {
        reply_error(c, "ERR Invalid number of arguments specified for command");
        return;
    }
    int *pos = sg_malloc(sizeof(int) * (size_t)argc);
    uint32_t *flags = sg_malloc(sizeof(uint32_t) * (size_t)argc);
    int n = cmd_get_keys(d, argc, (const char *const *)argv, lens, pos, flags, argc);
    if (n <= 0) {
        if (d->flags & CF_NO_MANDATORY_KEYS)
            reply_array(c, 0);
        else
            reply_error(c, "ERR Invalid arguments specified for command");
    } else {
        reply_array(c, n);
        for (int i = 0; i < n; i++) {
            if (with_flags) reply_array(c, 2);
            reply_bulk(c, argv[pos[i]], lens[pos[i]]);
            if (with_flags) reply_keyspec_flags(c, flags[i]);
        }
    }
    sg_free(pos);
    sg_free(flags);
}

void command_getkeys_command(client *c) {
    getkeys_generic(c, false);
}

void command_getkeysandflags_command(client *c) {
    getkeys_generic(c, true);
}

void command_help_command(client *c) {
    static const char *const help[] = {
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        NULL,
    };
    reply_help(c, "COMMAND", help);
}
