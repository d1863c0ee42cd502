/*
 * The configuration table: every directive once, with its type, default,
 * bounds and whether CONFIG SET may change it. The config file, the command
 * line, CONFIG GET/SET/REWRITE and docs/configuration.md all read this one
 * table (config.c); the values live in the struct below.
 */
#ifndef SURGE_CONFIG_H
#define SURGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct obuf_limit {
    unsigned long long hard, soft;
    long long soft_secs;
} obuf_limit;

enum { OBL_NORMAL, OBL_REPLICA, OBL_PUBSUB, OBL__COUNT };
enum { DEBUG_CMD_NO, DEBUG_CMD_YES, DEBUG_CMD_LOCAL };
enum { AOF_FSYNC_NO, AOF_FSYNC_EVERYSEC, AOF_FSYNC_ALWAYS };

typedef struct config {
    char *bind; /* space-separated addresses */
    long long port;
    bool protected_mode;
    long long tcp_backlog;
    long long timeout; /* idle seconds, 0 = never */
    long long tcp_keepalive;
    long long databases;
    char *dir;
    char *requirepass;
    long long maxclients;
    unsigned long long maxmemory;
    int maxmemory_policy;
    long long maxmemory_samples;
    long long lfu_log_factor;
    long long lfu_decay_time;
    long long active_expire_effort;
    long long hz;
    obuf_limit obuf_limits[OBL__COUNT];
    unsigned long long client_query_buffer_limit;
    unsigned long long proto_max_bulk_len;
    int loglevel;
    char *logfile;
    int log_format; /* 0 text, 1 json */
    int enable_debug_command;
    bool lazyfree_lazy_user_flush;
    char *pidfile;
    long long slowlog_log_slower_than; /* us; negative disables, 0 logs all */
    long long slowlog_max_len;
    long long latency_monitor_threshold; /* ms; 0 disables */
    bool latency_tracking;
    bool io_uring; /* read plain TCP clients through io_uring where the kernel allows */
    long long io_uring_wait_batch_us; /* ev_set_wait_batch */
    double latency_percentiles[16];
    int nlatency_percentiles;
    long long metrics_port; /* 0 disables the /metrics endpoint */
    char *metrics_bind;
    /* packed encodings of small collections (Redis's thresholds) */
    long long hash_max_listpack_entries, hash_max_listpack_value;
    long long set_max_intset_entries;
    long long zset_max_listpack_entries, zset_max_listpack_value;
    long long list_max_listpack_size, list_compress_depth;
    /* acl (src/security/acl.c) */
    char *aclfile;
    long long acllog_max_len;
    int notify_keyspace_events; /* NOTIFY_* flags (server.h), 0: off */
    /* persistence (src/persist) */
    bool appendonly;
    int appendfsync; /* AOF_FSYNC_* */
    char *appendfilename, *appenddirname;
    long long auto_aof_rewrite_percentage;
    unsigned long long auto_aof_rewrite_min_size;
    struct save_param {
        long long seconds, changes;
    } save_params[16]; /* `save`: snapshot after seconds if at least changes */
    int nsave_params;
    char *dbfilename;
    bool rdbcompression;
    int snapshot_compression; /* SNAP_CODEC_* (persist/snapshot.h) */
    bool stop_writes_on_bgsave_error;
    long long rdb_key_save_delay;      /* testing: microseconds slept per key saved */
    long long tracking_table_max_keys; /* 0: no limit */

    /* tls (src/net/tls.c, src/server/tls_server.c) */
    long long tls_port; /* 0: no TLS listener */
    char *tls_cert_file, *tls_key_file, *tls_key_file_pass;
    char *tls_ca_cert_file, *tls_ca_cert_dir;
    int tls_auth_clients; /* TLS_AUTH_* (net.h) */
    char *tls_protocols, *tls_ciphers, *tls_ciphersuites;
    bool tls_prefer_server_ciphers;
    long long tls_handshake_timeout; /* ms */
} config;

extern config cfg;

void config_init_defaults(void);
/* CONFIG GET: appends name/value pairs matching the glob to the arrays
 * (caller frees with config_free_pairs). Returns the count. */
int config_get_matching(const char *pattern, size_t plen, char ***names, char ***values);
void config_free_pairs(int n, char **names, char **values);
/* CONFIG SET with several name/value pairs, all or nothing. Returns 0 or -1
 * with Redis's error text in err. */
int config_set_pairs(int npairs, char **names, size_t *nlens, char **values, size_t *vlens,
                     char *err, size_t errlen);
int config_rewrite(const char *path, char *err, size_t errlen);
bool config_parse_memory(const char *s, unsigned long long *out);
/* True for directives whose values are secrets (requirepass). */
bool config_is_sensitive(const char *name, size_t len);
const char *config_policy_name(int policy);

#endif
