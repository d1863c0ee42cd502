/*
 * The configuration table and everything that reads it: the config file,
 * `--directive value` arguments, CONFIG GET/SET/REWRITE, the generated
 * reference in docs/configuration.md (surge-server --config-reference).
 *
 * Each row: name, type, where the value lives, default, bounds or enum
 * values, flags (immutable: only at start-up), a one-line description, and
 * an optional hook run after a runtime change. Errors use Redis's texts so
 * tools that parse them keep working.
 */
#include "config.h"
#include "server.h"
#include "../persist/crypt.h"
#include "../persist/persist.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

config cfg;

enum { T_BOOL, T_INT, T_MEM, T_ENUM, T_STR, T_SPECIAL };
#define F_IMMUTABLE 1
#define F_SENSITIVE 2
#define F_HIDDEN    4 /* debugging knob, as Redis's: CONFIG GET by exact name only, not in docs */

typedef struct enum_val {
    const char *name;
    int val;
} enum_val;

typedef struct cfg_row cfg_row;
struct cfg_row {
    const char *name;
    int type;
    void *ptr;
    const char *def;
    long long min, max;
    const enum_val *enums;
    int flags;
    const char *desc;
    /* T_SPECIAL: parse (0 ok, -1 with err) and format. */
    int (*parse)(const cfg_row *r, int argc, char **argv, char *err, size_t errlen);
    sstr *(*format)(const cfg_row *r);
};

static const enum_val policy_enum[] = {{"volatile-lru", KS_POLICY_VOLATILE_LRU},
                                       {"volatile-lfu", KS_POLICY_VOLATILE_LFU},
                                       {"volatile-random", KS_POLICY_VOLATILE_RANDOM},
                                       {"volatile-ttl", KS_POLICY_VOLATILE_TTL},
                                       {"allkeys-lru", KS_POLICY_ALLKEYS_LRU},
                                       {"allkeys-lfu", KS_POLICY_ALLKEYS_LFU},
                                       {"allkeys-random", KS_POLICY_ALLKEYS_RANDOM},
                                       {"noeviction", KS_POLICY_NOEVICTION},
                                       {NULL, 0}};
static const enum_val loglevel_enum[] = {{"debug", SG_LOG_DEBUG},
                                         {"verbose", SG_LOG_VERBOSE},
                                         {"notice", SG_LOG_NOTICE},
                                         {"warning", SG_LOG_WARNING},
                                         {NULL, 0}};
static const enum_val appendfsync_enum[] = {{"always", AOF_FSYNC_ALWAYS},
                                            {"everysec", AOF_FSYNC_EVERYSEC},
                                            {"no", AOF_FSYNC_NO},
                                            {NULL, 0}};
static const enum_val snapcodec_enum[] = {{"lz4", 1}, {"zstd", 2}, {NULL, 0}};
static const enum_val logfmt_enum[] = {{"text", 0}, {"json", 1}, {NULL, 0}};
static const enum_val tls_auth_enum[] = {
    {"no", TLS_AUTH_NO}, {"yes", TLS_AUTH_YES}, {"optional", TLS_AUTH_OPTIONAL}, {NULL, 0}};
static const enum_val debug_enum[] = {
    {"no", DEBUG_CMD_NO}, {"yes", DEBUG_CMD_YES}, {"local", DEBUG_CMD_LOCAL}, {NULL, 0}};

static int obl_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen);
static sstr *obl_format(const cfg_row *r);
static int pct_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen);
static sstr *pct_format(const cfg_row *r);
static int nke_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen);
static sstr *nke_format(const cfg_row *r);
static int save_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen);
static sstr *save_format(const cfg_row *r);

#define INT_ROW(n, field, d, lo, hi, fl, ds)                                                       \
    { n, T_INT, &cfg.field, d, lo, hi, NULL, fl, ds, NULL, NULL }
#define MEM_ROW(n, field, d, lo, hi, fl, ds)                                                       \
    { n, T_MEM, &cfg.field, d, lo, hi, NULL, fl, ds, NULL, NULL }
#define BOOL_ROW(n, field, d, fl, ds)                                                              \
    { n, T_BOOL, &cfg.field, d, 0, 1, NULL, fl, ds, NULL, NULL }
#define STR_ROW(n, field, d, fl, ds)                                                               \
    { n, T_STR, &cfg.field, d, 0, 0, NULL, fl, ds, NULL, NULL }
#define ENUM_ROW(n, field, d, e, fl, ds)                                                           \
    { n, T_ENUM, &cfg.field, d, 0, 0, e, fl, ds, NULL, NULL }

extern long long loading_key_load_delay, loading_events_interval_bytes; /* server/loading.c */

static const cfg_row rows[] = {
    STR_ROW("bind", bind, "127.0.0.1 -::1", F_IMMUTABLE,
            "Addresses to listen on, space-separated; a leading '-' makes one optional."),
    INT_ROW("port", port, "6379", 0, 65535, F_IMMUTABLE, "TCP port (0: no TCP listener)."),
    BOOL_ROW("protected-mode", protected_mode, "yes", 0,
             "With no password set, refuse clients that are not on loopback."),
    BOOL_ROW("io-uring", io_uring, "yes", F_IMMUTABLE,
             "Receive from plain TCP clients through io_uring where the kernel allows it "
             "(Linux 6.1 or later, io_uring not disabled); otherwise, or with no, epoll."),
    INT_ROW("io-uring-wait-batch-us", io_uring_wait_batch_us, "0", 0, 1000, 0,
            "With io_uring, under load: after a round that received from n > 1 clients, sleep "
            "until min(n, 16) have sent or this many microseconds pass (0: wake for the first). "
            "Fewer wake-ups per request, for up to this much added latency."),
    INT_ROW("tcp-backlog", tcp_backlog, "511", 0, 65535, F_IMMUTABLE, "listen(2) backlog."),
    INT_ROW("timeout", timeout, "0", 0, 2147483647, 0,
            "Close a client idle for this many seconds (0: never)."),
    INT_ROW("tcp-keepalive", tcp_keepalive, "300", 0, 2147483647, 0,
            "TCP keepalive period in seconds (0: off)."),
    INT_ROW("databases", databases, "16", 1, 1024, F_IMMUTABLE,
            "Number of databases (SELECT 0..N-1)."),
    STR_ROW("dir", dir, "./data", F_IMMUTABLE,
            "Working directory for data files; created at start-up if missing."),
    STR_ROW("requirepass", requirepass, "", F_SENSITIVE,
            "Password of the default user (empty: no password)."),
    INT_ROW("maxclients", maxclients, "10000", 1, 4294967295LL, 0,
            "Most simultaneous clients; more are refused with an error."),
    MEM_ROW("maxmemory", maxmemory, "0", 0, LLONG_MAX, 0,
            "Memory limit for data (0: none); beyond it the eviction policy applies."),
    ENUM_ROW("maxmemory-policy", maxmemory_policy, "noeviction", policy_enum, 0,
             "What to do at maxmemory: evict by LRU/LFU/random/TTL, or refuse writes."),
    INT_ROW("maxmemory-samples", maxmemory_samples, "5", 1, 2147483647, 0,
            "Keys sampled per eviction round (more: closer to true LRU/LFU)."),
    INT_ROW("lfu-log-factor", lfu_log_factor, "10", 0, 2147483647, 0,
            "LFU counter logarithm factor."),
    INT_ROW("lfu-decay-time", lfu_decay_time, "1", 0, 2147483647, 0,
            "Minutes for the LFU counter to decay by one."),
    INT_ROW("active-expire-effort", active_expire_effort, "1", 1, 10, 0,
            "CPU share given to expiring keys in the background (1..10)."),
    INT_ROW("hz", hz, "10", 0, 2147483647, 0,
            "Background task frequency per second (clamped to 1..500)."),
    {"client-output-buffer-limit", T_SPECIAL, NULL,
     "normal 268435456 67108864 60 replica 268435456 67108864 60 pubsub 33554432 8388608 60", 0, 0,
     NULL, 0,
     "Per class (normal, replica, pubsub): hard limit, soft limit, soft seconds. "
     "Finite for normal clients too, unlike Redis.",
     obl_parse, obl_format},
    MEM_ROW("client-query-buffer-limit", client_query_buffer_limit, "1073741824", 1048576,
            LLONG_MAX, 0, "Largest query buffer of one client."),
    MEM_ROW("proto-max-bulk-len", proto_max_bulk_len, "536870912", 1048576, LLONG_MAX, 0,
            "Largest bulk string accepted in a request, and largest string value."),
    ENUM_ROW("loglevel", loglevel, "notice", loglevel_enum, 0, "Log verbosity."),
    STR_ROW("logfile", logfile, "", F_IMMUTABLE, "Log file (empty: standard output)."),
    ENUM_ROW("log-format", log_format, "text", logfmt_enum, 0,
             "Log line format: Redis-like text, or one JSON object per line."),
    ENUM_ROW("enable-debug-command", enable_debug_command, "local", debug_enum, F_IMMUTABLE,
             "Allow DEBUG: no, yes, or local (loopback clients only)."),
    BOOL_ROW("lazyfree-lazy-user-flush", lazyfree_lazy_user_flush, "no", 0,
             "FLUSHALL/FLUSHDB without SYNC/ASYNC free memory in the background."),
    STR_ROW("pidfile", pidfile, "", F_IMMUTABLE, "Write the process id to this file."),
    INT_ROW("slowlog-log-slower-than", slowlog_log_slower_than, "10000", LLONG_MIN, LLONG_MAX, 0,
            "Log commands slower than this many microseconds in SLOWLOG (negative: off, 0: all)."),
    INT_ROW("slowlog-max-len", slowlog_max_len, "128", 0, LONG_MAX, 0,
            "Entries kept in the slow log."),
    INT_ROW("latency-monitor-threshold", latency_monitor_threshold, "0", 0, LLONG_MAX, 0,
            "Record events slower than this many milliseconds for LATENCY (0: off)."),
    BOOL_ROW("latency-tracking", latency_tracking, "yes", 0,
             "Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM, /metrics)."),
    {"latency-tracking-info-percentiles", T_SPECIAL, NULL, "50 99 99.9", 0, 0, NULL, 0,
     "Percentiles reported by INFO latencystats.", pct_parse, pct_format},
    INT_ROW("metrics-port", metrics_port, "9121", 0, 65535, F_IMMUTABLE,
            "Port of the Prometheus /metrics HTTP endpoint (0: off). Failing to bind it is "
            "logged, not fatal."),
    STR_ROW("metrics-bind", metrics_bind, "127.0.0.1", F_IMMUTABLE,
            "Address of the /metrics endpoint (one address)."),
    INT_ROW("hash-max-listpack-entries", hash_max_listpack_entries, "512", 0, LLONG_MAX, 0,
            "Hashes with at most this many fields use the packed encoding."),
    INT_ROW("hash-max-listpack-value", hash_max_listpack_value, "64", 0, LLONG_MAX, 0,
            "...and no field or value longer than this many bytes."),
    INT_ROW("set-max-intset-entries", set_max_intset_entries, "512", 0, LLONG_MAX, 0,
            "Sets of at most this many integers use the intset encoding."),
    INT_ROW("zset-max-listpack-entries", zset_max_listpack_entries, "128", 0, LLONG_MAX, 0,
            "Sorted sets with at most this many members use the packed encoding."),
    INT_ROW("zset-max-listpack-value", zset_max_listpack_value, "64", 0, LLONG_MAX, 0,
            "...and no member longer than this many bytes."),
    INT_ROW("list-max-listpack-size", list_max_listpack_size, "-2", -5, LLONG_MAX, 0,
            "Quicklist node size: positive = entries per node, -1..-5 = 4/8/16/32/64 KB."),
    {"key-load-delay", T_INT, &loading_key_load_delay, "0", INT_MIN, INT_MAX, NULL, F_HIDDEN,
     "Microseconds slept per key or record loaded at start-up (negative -N: 1 us every N).", NULL,
     NULL},
    {"loading-process-events-interval-bytes", T_INT, &loading_events_interval_bytes, "2097152",
     1024, INT_MAX, NULL, F_HIDDEN, "While loading, answer clients at least every this many bytes.",
     NULL, NULL},
    /* -- rows of the modules above the core: keep each group together -- */
    /* notify (src/server/notify.c) */
    {"notify-keyspace-events", T_SPECIAL, NULL, "", 0, 0, NULL, 0,
     "Keyspace notification classes, Redis's flag letters (see docs/notifications.md).", nke_parse,
     nke_format},
    /* tracking (src/server/tracking.c) */
    INT_ROW("tracking-table-max-keys", tracking_table_max_keys, "1000000", 0, LLONG_MAX, 0,
            "Keys remembered for CLIENT TRACKING (default mode); above it keys are "
            "invalidated at random. 0: no limit."),
    /* persistence (src/persist) */
    BOOL_ROW("appendonly", appendonly, "no", 0,
             "Log every write to the append-only file and replay it at start-up."),
    ENUM_ROW("appendfsync", appendfsync, "everysec", appendfsync_enum, 0,
             "When the log is fsynced: always (before the reply), everysec, no (the kernel)."),
    STR_ROW("appendfilename", appendfilename, "appendonly.aof", F_IMMUTABLE,
            "Base name of the append-only files."),
    STR_ROW("appenddirname", appenddirname, "appendonlydir", F_IMMUTABLE,
            "Directory of the append-only files, inside dir."),
    INT_ROW("auto-aof-rewrite-percentage", auto_aof_rewrite_percentage, "100", 0, 2147483647, 0,
            "Rewrite the log when it grew this much over its size after the last rewrite (0: "
            "never)."),
    MEM_ROW("auto-aof-rewrite-min-size", auto_aof_rewrite_min_size, "64mb", 0, LLONG_MAX, 0,
            "...and is at least this big."),
    {"save", T_SPECIAL, NULL, "3600 1 300 100 60 10000", 0, 0, NULL, 0,
     "Snapshot schedule: pairs <seconds> <changes> (a background save when at least <changes> "
     "writes happened and <seconds> passed since the last save); \"\" disables. In a config "
     "file, successive `save` lines add pairs.",
     save_parse, save_format},
    STR_ROW("dbfilename", dbfilename, "dump.rdb", F_IMMUTABLE,
            "Snapshot file name, inside dir (Surge's own format, not Redis's RDB); a file "
            "name, not a path."),
    BOOL_ROW("rdbcompression", rdbcompression, "yes", 0,
             "Compress snapshot blocks (with snapshot-compression)."),
    ENUM_ROW("snapshot-compression", snapshot_compression, "lz4", snapcodec_enum, 0,
             "Snapshot block compression: lz4 (fast) or zstd (smaller)."),
    BOOL_ROW("stop-writes-on-bgsave-error", stop_writes_on_bgsave_error, "yes", 0,
             "Refuse writes (-MISCONF) while the last background save failed and saves are "
             "scheduled."),
    INT_ROW("rdb-key-save-delay", rdb_key_save_delay, "0", 0, 1000000, 0,
            "Testing only: microseconds to sleep per key written to a snapshot (slows saves "
            "down so tests can write while one runs)."),
    {"encryption-key-file", T_STR, &crypt_cfg_key_file, "", 0, 0, NULL, 0,
     "Key for encryption at rest: 64 hex digits or 32 raw bytes (empty: no encryption). CONFIG "
     "SET loads it or refuses; see docs/encryption.md.",
     NULL, NULL},
    {"encryption-old-key-files", T_STR, &crypt_cfg_old_key_files, "", 0, 0, NULL, 0,
     "Older key files, space-separated, used only to read files they encrypted (key rotation).",
     NULL, NULL},
    /* acl (src/security/acl.c) */
    STR_ROW("aclfile", aclfile, "", F_IMMUTABLE, "File of users (ACL SAVE/LOAD); empty: none."),
    INT_ROW("acllog-max-len", acllog_max_len, "128", 0, LLONG_MAX, 0, "Entries kept in ACL LOG."),
    /* tls (src/net/tls.c) */
    INT_ROW("tls-port", tls_port, "0", 0, 65535, F_IMMUTABLE,
            "TLS port, beside `port` or instead of it when port is 0 (0: no TLS listener)."),
    STR_ROW("tls-cert-file", tls_cert_file, "", 0,
            "Server certificate (PEM, may hold the chain). CONFIG SET reloads the context."),
    STR_ROW("tls-key-file", tls_key_file, "", 0, "Private key of the server certificate (PEM)."),
    STR_ROW("tls-key-file-pass", tls_key_file_pass, "", F_SENSITIVE,
            "Passphrase of tls-key-file, if it is encrypted."),
    STR_ROW("tls-ca-cert-file", tls_ca_cert_file, "", 0,
            "CA certificate(s) that client certificates must chain to (PEM)."),
    STR_ROW("tls-ca-cert-dir", tls_ca_cert_dir, "", 0,
            "Directory of CA certificates (OpenSSL c_rehash layout)."),
    ENUM_ROW("tls-auth-clients", tls_auth_clients, "yes", tls_auth_enum, 0,
             "Client certificates: yes (required), optional (verified if sent), no."),
    STR_ROW("tls-protocols", tls_protocols, "", 0,
            "Protocol versions accepted, space-separated (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3; "
            "empty: TLSv1.2 TLSv1.3)."),
    STR_ROW("tls-ciphers", tls_ciphers, "", 0,
            "OpenSSL cipher list for TLS 1.2 and below (empty: OpenSSL's default)."),
    STR_ROW("tls-ciphersuites", tls_ciphersuites, "", 0,
            "OpenSSL ciphersuites for TLS 1.3 (empty: OpenSSL's default)."),
    BOOL_ROW("tls-prefer-server-ciphers", tls_prefer_server_ciphers, "no", 0,
             "Choose the cipher by the server's order rather than the client's."),
    INT_ROW("tls-handshake-timeout", tls_handshake_timeout, "5000", 0, 2147483647, 0,
            "Close a TLS connection whose handshake is not done within this many ms (0: never)."),
    INT_ROW("list-compress-depth", list_compress_depth, "0", 0, LLONG_MAX, 0,
            "Quicklist nodes kept uncompressed at each end (accepted; compression is not "
            "implemented, nodes are never compressed)."),
};
#define NROWS ((int)SG_ARRAY_LEN(rows))

/* Old names Redis still accepts (ziplist was renamed listpack in 7.0). */
static const char *aliases[][2] = {
    {"hash-max-ziplist-entries", "hash-max-listpack-entries"},
    {"hash-max-ziplist-value", "hash-max-listpack-value"},
    {"zset-max-ziplist-entries", "zset-max-listpack-entries"},
    {"zset-max-ziplist-value", "zset-max-listpack-value"},
    {"list-max-ziplist-size", "list-max-listpack-size"},
};

static const cfg_row *find_row(const char *name, size_t len) {
    for (int i = 0; i < NROWS; i++)
        if (strlen(rows[i].name) == len && !strncasecmp(rows[i].name, name, len)) return &rows[i];
    for (size_t a = 0; a < SG_ARRAY_LEN(aliases); a++)
        if (strlen(aliases[a][0]) == len && !strncasecmp(aliases[a][0], name, len))
            return find_row(aliases[a][1], strlen(aliases[a][1]));
    return NULL;
}

const char *config_policy_name(int policy) {
    for (const enum_val *e = policy_enum; e->name; e++)
        if (e->val == policy) return e->name;
    return "?";
}

bool config_is_sensitive(const char *name, size_t len) {
    const cfg_row *r = find_row(name, len);
    return r && (r->flags & F_SENSITIVE);
}

bool config_parse_memory(const char *s, unsigned long long *out) {
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == 0) return false;
    unsigned long long mul = 1;
    const char *u = s + i;
    if (!*u || !strcasecmp(u, "b"))
        mul = 1;
    else if (!strcasecmp(u, "k"))
        mul = 1000;
    else if (!strcasecmp(u, "kb"))
        mul = 1024;
    else if (!strcasecmp(u, "m"))
        mul = 1000 * 1000;
    else if (!strcasecmp(u, "mb"))
        mul = 1024 * 1024;
    else if (!strcasecmp(u, "g"))
        mul = 1000ULL * 1000 * 1000;
    else if (!strcasecmp(u, "gb"))
        mul = 1024ULL * 1024 * 1024;
    else
        return false;
    unsigned long long v;
    if (!sg_str2ull(s, i, &v)) {
        /* allow leading zeros like "0100"? Redis uses strtoull: accept digits */
        errno = 0;
        char *end;
        v = strtoull(s, &end, 10);
        if (errno || end != s + i) return false;
    }
    if (v > ULLONG_MAX / mul) return false;
    *out = v * mul;
    return true;
}

static int set_value(const cfg_row *r, int argc, char **argv, char *err, size_t errlen) {
    if (r->type == T_SPECIAL) return r->parse(r, argc, argv, err, errlen);
    if (argc != 1) {
        snprintf(err, errlen, "wrong number of arguments");
        return -1;
    }
    const char *v = argv[0];
    switch (r->type) {
    case T_BOOL:
        if (!strcasecmp(v, "yes"))
            *(bool *)r->ptr = true;
        else if (!strcasecmp(v, "no"))
            *(bool *)r->ptr = false;
        else {
            snprintf(err, errlen, "argument must be 'yes' or 'no'");
            return -1;
        }
        return 0;
    case T_INT: {
        long long x;
        if (!sg_str2ll(v, strlen(v), &x)) {
            snprintf(err, errlen, "argument couldn't be parsed into an integer");
            return -1;
        }
        if (x < r->min || x > r->max) {
            snprintf(err, errlen, "argument must be between %lld and %lld inclusive", r->min,
                     r->max);
            return -1;
        }
        *(long long *)r->ptr = x;
        return 0;
    }
    case T_MEM: {
        unsigned long long x;
        if (!config_parse_memory(v, &x)) {
            snprintf(err, errlen, "argument must be a memory value");
            return -1;
        }
        if ((long long)x < r->min || x > (unsigned long long)r->max) {
            snprintf(err, errlen, "argument must be between %lld and %lld inclusive", r->min,
                     r->max);
            return -1;
        }
        *(unsigned long long *)r->ptr = x;
        return 0;
    }
    case T_ENUM:
        for (const enum_val *e = r->enums; e->name; e++) {
            if (!strcasecmp(e->name, v)) {
                *(int *)r->ptr = e->val;
                return 0;
            }
        }
        {
            size_t o = (size_t)snprintf(err, errlen, "argument(s) must be one of the following: ");
            for (const enum_val *e = r->enums; e->name && o < errlen; e++)
                o += (size_t)snprintf(err + o, errlen - o, "%s%s", e->name, e[1].name ? ", " : "");
        }
        return -1;
    case T_STR: {
        char **p = r->ptr;
        free(*p);
        *p = strdup(v);
        return 0;
    }
    }
    return -1;
}

static sstr *format_value(const cfg_row *r) {
    switch (r->type) {
    case T_BOOL:
        return sstr_new(*(bool *)r->ptr ? "yes" : "no", *(bool *)r->ptr ? 3 : 2);
    case T_INT:
        return sstr_catfmt(sstr_new("", 0), "%lld", *(long long *)r->ptr);
    case T_MEM:
        return sstr_catfmt(sstr_new("", 0), "%llu", *(unsigned long long *)r->ptr);
    case T_ENUM:
        for (const enum_val *e = r->enums; e->name; e++)
            if (e->val == *(int *)r->ptr) return sstr_new(e->name, strlen(e->name));
        return sstr_new("", 0);
    case T_STR: {
        const char *s = *(char **)r->ptr;
        return sstr_new(s ? s : "", s ? strlen(s) : 0);
    }
    case T_SPECIAL:
        return r->format(r);
    }
    return sstr_new("", 0);
}

/* client-output-buffer-limit: "<class> <hard> <soft> <secs>" repeated. */
static int obl_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen) {
    SG_UNUSED(r);
    /* A single argument holding the whole list (CONFIG SET, quoted line). */
    char *words[64];
    int n = 0;
    char *copy = NULL;
    if (argc == 1) {
        copy = strdup(argv[0]);
        char *save = NULL;
        for (char *t = strtok_r(copy, " \t", &save); t && n < 64; t = strtok_r(NULL, " \t", &save))
            words[n++] = t;
    } else {
        for (int i = 0; i < argc && n < 64; i++) words[n++] = argv[i];
    }
    obuf_limit tmp[OBL__COUNT];
    memcpy(tmp, cfg.obuf_limits, sizeof(tmp));
    int rc = 0;
    if (n % 4 != 0 || n == 0) {
        snprintf(err, errlen, "Wrong number of arguments in buffer limit configuration.");
        rc = -1;
        goto done;
    }
    for (int i = 0; i < n; i += 4) {
        int cls;
        if (!strcasecmp(words[i], "normal"))
            cls = OBL_NORMAL;
        else if (!strcasecmp(words[i], "replica") || !strcasecmp(words[i], "slave"))
            cls = OBL_REPLICA;
        else if (!strcasecmp(words[i], "pubsub"))
            cls = OBL_PUBSUB;
        else {
            snprintf(err, errlen, "Invalid client class specified in buffer limit configuration.");
            rc = -1;
            goto done;
        }
        unsigned long long hard, soft;
        long long secs;
        if (!config_parse_memory(words[i + 1], &hard) ||
            !config_parse_memory(words[i + 2], &soft) ||
            !sg_str2ll(words[i + 3], strlen(words[i + 3]), &secs) || secs < 0) {
            snprintf(err, errlen,
                     "Error in hard, soft or soft_seconds setting in buffer limit "
                     "configuration.");
            rc = -1;
            goto done;
        }
        tmp[cls].hard = hard;
        tmp[cls].soft = soft;
        tmp[cls].soft_secs = secs;
    }
    memcpy(cfg.obuf_limits, tmp, sizeof(tmp));
done:
    free(copy);
    return rc;
}

static sstr *obl_format(const cfg_row *r) {
    SG_UNUSED(r);
    static const char *names[] = {"normal", "slave", "pubsub"};
    sstr *s = sstr_new("", 0);
    for (int i = 0; i < OBL__COUNT; i++)
        s = sstr_catfmt(s, "%s%s %llu %llu %lld", i ? " " : "", names[i], cfg.obuf_limits[i].hard,
                        cfg.obuf_limits[i].soft, cfg.obuf_limits[i].soft_secs);
    return s;
}

/* latency-tracking-info-percentiles: up to 16 numbers in [0, 100]. */
static int pct_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen) {
    SG_UNUSED(r);
    double v[16];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        char *copy = strdup(argv[i]);
        char *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            double d;
            if (n == 16 || !sg_str2d(t, strlen(t), &d) || d < 0 || d > 100) {
                snprintf(err, errlen,
                         "latency-tracking-info-percentiles must be a list of "
                         "numbers between 0 and 100");
                free(copy);
                return -1;
            }
            v[n++] = d;
        }
        free(copy);
    }
    memcpy(cfg.latency_percentiles, v, sizeof(double) * (size_t)n);
    cfg.nlatency_percentiles = n;
    return 0;
}

static sstr *pct_format(const cfg_row *r) {
    SG_UNUSED(r);
    sstr *s = sstr_new("", 0);
    for (int i = 0; i < cfg.nlatency_percentiles; i++) {
        char b[64];
        snprintf(b, sizeof(b), "%.15g", cfg.latency_percentiles[i]);
        s = sstr_catfmt(s, "%s%s", i ? " " : "", b);
    }
    return s;
}

/* notify-keyspace-events: the letters are parsed in notify.c. */
/* `save`: CONFIG SET and the default give the whole list in one argument
 * (it replaces the list); config-file lines and --save give words, and
 * after the first such line replaced the default, later ones add pairs,
 * as Redis reads `save 900 1` / `save 300 10` lines. */
static bool save_is_default = true;

static int save_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen) {
    char *words[64];
    int n = 0;
    char *copy = NULL;
    bool whole = argc == 1;
    if (whole) {
        copy = strdup(argv[0]);
        char *sp = NULL;
        for (char *t = strtok_r(copy, " \t", &sp); t; t = strtok_r(NULL, " \t", &sp)) {
            if (n == 64) break;
            words[n++] = t;
        }
    } else {
        for (int i = 0; i < argc && n < 64; i++) words[n++] = argv[i];
    }
    struct save_param p[16];
    int np = 0, rc = -1;
    if (n % 2 || n / 2 > 16) {
        snprintf(err, errlen, "Invalid save parameters");
        goto out;
    }
    for (int i = 0; i < n; i += 2) {
        long long secs, ch;
        if (!sg_str2ll(words[i], strlen(words[i]), &secs) ||
            !sg_str2ll(words[i + 1], strlen(words[i + 1]), &ch) || secs < 0 || ch < 0) {
            snprintf(err, errlen, "Invalid save parameters");
            goto out;
        }
        p[np].seconds = secs;
        p[np].changes = ch;
        np++;
    }
    SG_UNUSED(r);
    if (!whole && !save_is_default) {
        if (cfg.nsave_params + np > 16) {
            snprintf(err, errlen, "Too many save parameters");
            goto out;
        }
        memcpy(cfg.save_params + cfg.nsave_params, p, sizeof(p[0]) * (size_t)np);
        cfg.nsave_params += np;
    } else {
        memcpy(cfg.save_params, p, sizeof(p[0]) * (size_t)np);
        cfg.nsave_params = np;
    }
    save_is_default = whole;
    rc = 0;
out:
    free(copy);
    return rc;
}

static sstr *save_format(const cfg_row *r) {
    SG_UNUSED(r);
    sstr *o = sstr_new("", 0);
    for (int i = 0; i < cfg.nsave_params; i++)
        o = sstr_catfmt(o, "%s%lld %lld", i ? " " : "", cfg.save_params[i].seconds,
                        cfg.save_params[i].changes);
    return o;
}

static int nke_parse(const cfg_row *r, int argc, char **argv, char *err, size_t errlen) {
    SG_UNUSED(r);
    int flags = argc == 1 ? notify_flags_parse(argv[0], strlen(argv[0])) : -1;
    if (flags < 0) {
        snprintf(err, errlen, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        return -1;
    }
    cfg.notify_keyspace_events = flags;
    return 0;
}

static sstr *nke_format(const cfg_row *r) {
    SG_UNUSED(r);
    char b[32];
    size_t n = notify_flags_format(cfg.notify_keyspace_events, b, sizeof(b));
    return sstr_new(b, n);
}

void config_init_defaults(void) {
    for (int i = 0; i < NROWS; i++) {
        char err[256];
        char *argv[1] = {(char *)rows[i].def};
        if (set_value(&rows[i], 1, argv, err, sizeof(err)) != 0)
            sg_panic("bad default for %s: %s", rows[i].name, err);
    }
}

int config_apply_arg(const char *name, int argc, char **argv, char *err, size_t errlen) {
    const cfg_row *r = find_row(name, strlen(name));
    if (!r) {
        snprintf(err, errlen, "Bad directive or wrong number of arguments");
        return -1;
    }
    char e[256];
    if (set_value(r, argc, argv, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    return 0;
}

/* Splits a config line into words with quoting (reuses the RESP inline
 * splitter's rules through a tiny local version). */
static int split_line(char *line, char **words, int max) {
    int n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char *out = p, *start = p;
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            while (*p && *p != q) {
                if (*p == '\\' && p[1] && q == '"') {
                    p++;
                    switch (*p) {
                    case 'n':
                        *out++ = '\n';
                        break;
                    case 't':
                        *out++ = '\t';
                        break;
                    case 'r':
                        *out++ = '\r';
                        break;
                    default:
                        *out++ = *p;
                        break;
                    }
                    p++;
                } else {
                    *out++ = *p++;
                }
            }
            if (*p != q) return -1;
            p++;
            if (*p && !isspace((unsigned char)*p)) return -1;
        } else {
            while (*p && !isspace((unsigned char)*p)) *out++ = *p++;
        }
        bool end = *p == '\0';
        *out = '\0';
        words[n++] = start;
        if (end) break;
        p++;
    }
    return n;
}

int config_load_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "Fatal error, can't open config file '%s': %s", path,
                 strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    int rc = 0;
    /* Whole lines (getline), so a long line is never split into two
     * directives; a line over 1 MB is refused. */
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 1024 * 1024) {
            snprintf(err, errlen, "config file '%s' line %d: line too long", path, lineno);
            rc = -1;
            break;
        }
        if (strlen(line) != (size_t)len) {
            snprintf(err, errlen, "config file '%s' line %d: NUL byte in line", path, lineno);
            rc = -1;
            break;
        }
        char *words[64];
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '#' || *p == '\0') continue;
        int n = split_line(p, words, 64);
        if (n < 0) {
            snprintf(err, errlen, "config file line %d: unbalanced quotes", lineno);
            rc = -1;
            break;
        }
        if (n == 0) continue;
        char e[256];
        if (config_apply_arg(words[0], n - 1, words + 1, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "config file '%s' line %d: '%s': %s", path, lineno, words[0], e);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int config_get_matching(const char *pattern, size_t plen, char ***names, char ***values) {
    int n = 0;
    int nalias = (int)SG_ARRAY_LEN(aliases);
    *names = sg_malloc(sizeof(char *) * (size_t)(NROWS + nalias));
    *values = sg_malloc(sizeof(char *) * (size_t)(NROWS + nalias));
    for (int i = 0; i < NROWS + nalias; i++) { /* aliases answer under their own name */
        const char *name = i < NROWS ? rows[i].name : aliases[i - NROWS][0];
        const cfg_row *r = i < NROWS ? &rows[i] : find_row(name, strlen(name));
        if (!sg_glob_match(pattern, plen, name, strlen(name), true)) continue;
        if ((r->flags & F_HIDDEN) && (strlen(name) != plen || strncasecmp(name, pattern, plen)))
            continue; /* a hidden row answers its exact name only */
        sstr *v = format_value(r);
        (*names)[n] = sg_strdup(name);
        (*values)[n] = sg_strdup(v->buf);
        sstr_free(v);
        n++;
    }
    return n;
}

void config_free_pairs(int n, char **names, char **values) {
    for (int i = 0; i < n; i++) {
        sg_free(names[i]);
        sg_free(values[i]);
    }
    sg_free(names);
    sg_free(values);
}

int config_set_pairs(int npairs, char **names, size_t *nlens, char **values, size_t *vlens,
                     char *err, size_t errlen) {
    const cfg_row *rs[64];
    sstr *old[64];
    if (npairs > 64) {
        snprintf(err, errlen, "ERR too many parameters");
        return -1;
    }
    for (int i = 0; i < npairs; i++) {
        rs[i] = find_row(names[i], nlens[i]);
        if (!rs[i]) {
            snprintf(err, errlen,
                     "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                     (int)nlens[i], names[i]);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (rs[j] == rs[i]) {
                snprintf(err, errlen,
                         "ERR CONFIG SET failed (possibly related to argument '%.*s') - duplicate "
                         "parameter",
                         (int)nlens[i], names[i]);
                return -1;
            }
        }
        if (rs[i]->flags & F_IMMUTABLE) {
            snprintf(err, errlen,
                     "ERR CONFIG SET failed (possibly related to argument '%.*s') - can't set "
                     "immutable config",
                     (int)nlens[i], names[i]);
            return -1;
        }
        (void)vlens;
    }
    int done = 0, rc = 0;
    for (; done < npairs; done++) {
        old[done] = format_value(rs[done]);
        char e[256];
        char *argv[1] = {values[done]};
        if (set_value(rs[done], 1, argv, e, sizeof(e)) != 0) {
            snprintf(err, errlen,
                     "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                     (int)nlens[done], names[done], e);
            rc = -1;
            sstr_free(old[done]);
            break;
        }
    }
    for (int i = 0; rc == 0 && i < npairs; i++) { /* tls: rebuild the context once, or refuse */
        char e[256];
        if (strncmp(rs[i]->name, "tls-", 4) != 0) continue;
        if (tls_server_reload(e, sizeof(e)) != 0) {
            snprintf(err, errlen,
                     "ERR CONFIG SET failed (possibly related to argument '%.*s') - Unable to "
                     "update TLS configuration: %s",
                     (int)nlens[i], names[i], e);
            rc = -1;
        }
        break;
    }
    for (int i = 0; rc == 0 && i < npairs; i++) { /* encryption keys: load them, or refuse */
        char e[512];
        if (strncmp(rs[i]->name, "encryption-", 11) != 0) continue;
        if (crypt_config_changed(e, sizeof(e)) != 0) {
            snprintf(err, errlen,
                     "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                     (int)nlens[i], names[i], e);
            rc = -1;
        }
        break;
    }
    if (rc != 0) { /* roll back what was applied */
        for (int i = done - 1; i >= 0; i--) {
            char e[256];
            char *argv[1] = {old[i]->buf};
            set_value(rs[i], 1, argv, e, sizeof(e));
        }
    }
    for (int i = 0; i < done; i++) sstr_free(old[i]);
    return rc;
}

static bool is_default(const cfg_row *r) {
    sstr *v = format_value(r);
    /* Compare with the default, normalized through a parse/format round trip. */
    bool same;
    if (r->type == T_SPECIAL || r->type == T_MEM || r->type == T_ENUM || r->type == T_BOOL) {
        /* Parse the default into a scratch copy of cfg, then format it. */
        config saved = cfg;
        char e[256];
        char *argv[1] = {(char *)r->def};
        set_value(r, 1, argv, e, sizeof(e));
        sstr *d = format_value(r);
        same = d->len == v->len && !memcmp(d->buf, v->buf, v->len);
        sstr_free(d);
        if (r->type == T_STR) free(*(char **)r->ptr);
        cfg = saved;
    } else {
        same = strcmp(v->buf, r->def) == 0;
    }
    sstr_free(v);
    return same;
}

static sstr *quote_value(sstr *out, const char *v) {
    bool plain = *v != '\0';
    for (const char *p = v; *p; p++)
        if (isspace((unsigned char)*p) || *p == '"' || *p == '\'' || *p == '\\' ||
            !isprint((unsigned char)*p))
            plain = false;
    if (plain) return sstr_cat(out, v, strlen(v));
    out = sstr_cat(out, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            out = sstr_catfmt(out, "\\%c", *p);
        else if (*p == '\n')
            out = sstr_cat(out, "\\n", 2);
        else
            out = sstr_cat(out, p, 1);
    }
    return sstr_cat(out, "\"", 1);
}

int config_rewrite(const char *path, char *err, size_t errlen) {
    if (!path) {
        snprintf(err, errlen, "ERR The server is running without a config file");
        return -1;
    }
    sstr *out = sstr_new("", 0);
    bool seen[NROWS];
    memset(seen, 0, sizeof(seen));
    FILE *f = fopen(path, "r");
    if (f) {
        char *line = NULL, *copy = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) >= 0) {
            free(copy);
            copy = strdup(line);
            char *p = copy;
            while (isspace((unsigned char)*p)) p++;
            char *words[64];
            int n = (*p == '#' || !*p) ? 0 : split_line(p, words, 64);
            const cfg_row *r = n > 0 ? find_row(words[0], strlen(words[0])) : NULL;
            if (!r) { /* comments stay; a line we can't parse becomes one (as Redis) */
                bool keep = n == 0;
                if (!keep) out = sstr_cat(out, "# ??? ", 6);
                out = sstr_cat(out, line, strlen(line));
                continue;
            }
            int idx = (int)(r - rows);
            if (seen[idx]) continue; /* drop duplicates */
            seen[idx] = true;
            sstr *v = format_value(r);
            out = sstr_catfmt(out, "%s ", r->name);
            out = quote_value(out, v->buf);
            out = sstr_cat(out, "\n", 1);
            sstr_free(v);
        }
        free(line);
        free(copy);
        fclose(f);
    }
    bool header = false;
    for (int i = 0; i < NROWS; i++) {
        if (seen[i] || is_default(&rows[i])) continue;
        if (!header) {
            out = sstr_catfmt(out, "# Generated by CONFIG REWRITE\n");
            header = true;
        }
        sstr *v = format_value(&rows[i]);
        out = sstr_catfmt(out, "%s ", rows[i].name);
        out = quote_value(out, v->buf);
        out = sstr_cat(out, "\n", 1);
        sstr_free(v);
    }
    /* Atomic replace: temp file, fsync, rename, fsync the directory. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = -1;
    if (fd >= 0) {
        if (persist_write_all(fd, out->buf, out->len) == 0 && fsync(fd) == 0 && close(fd) == 0) {
            fd = -1;
            if (rename(tmp, path) == 0) {
                rc = 0;
                persist_fsync_parent(path); /* best effort: the file is in place */
            }
        }
        if (fd >= 0) close(fd);
    }
    if (rc != 0) {
        snprintf(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
        unlink(tmp);
    }
    sstr_free(out);
    return rc;
}

void config_write_markdown(FILE *out) {
    fprintf(out, "# Configuration reference\n\n"
                 "Generated from the configuration table in `src/server/config.c` by\n"
                 "`surge-server --config-reference`; do not edit by hand.\n\n"
                 "Directives are read from the config file (`surge-server /path/surge.conf`),\n"
                 "from the command line (`--port 7000`), and, unless marked immutable, changed\n"
                 "at runtime with `CONFIG SET`. Memory values take Redis's units: `k`=1000,\n"
                 "`kb`=1024, `m`, `mb`, `g`, `gb`.\n\n"
                 "| directive | type | default | bounds / values | runtime | description |\n"
                 "|---|---|---|---|---|---|\n");
    static const char *tn[] = {"bool", "integer", "memory", "enum", "string", "special"};
    for (int i = 0; i < NROWS; i++) {
        const cfg_row *r = &rows[i];
        if (r->flags & F_HIDDEN) continue;
        char bounds[512] = "";
        if (r->type == T_INT || r->type == T_MEM) {
            snprintf(bounds, sizeof(bounds), "%lld .. %lld", r->min, r->max);
        } else if (r->type == T_ENUM) {
            size_t o = 0;
            for (const enum_val *e = r->enums; e->name; e++)
                o += (size_t)snprintf(bounds + o, sizeof(bounds) - o, "%s%s", o ? ", " : "",
                                      e->name);
        } else if (r->type == T_BOOL) {
            snprintf(bounds, sizeof(bounds), "yes, no");
        }
        fprintf(out, "| `%s` | %s | `%s` | %s | %s | %s |\n", r->name, tn[r->type],
                *r->def ? r->def : "\"\"", bounds, (r->flags & F_IMMUTABLE) ? "no" : "yes",
                r->desc);
    }
}
