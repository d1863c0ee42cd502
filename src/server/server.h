/*
 * server: the process. Clients and their buffers, the dispatcher, the
 * configuration table, introspection commands, the periodic cron.
 *
 * Command handlers (here and in src/types/) have the signature
 * `void <id>_command(client *c)` where <id> is the row's id in
 * src/cmd/commands.def; they read c->argv/c->argvlen, work on c->db through
 * the keyspace API, and answer through the reply_* functions below. The
 * dispatcher has already applied arity, authentication, OOM and loading
 * checks from the command's row, so a handler does only its own work.
 *
 * There is one struct server per process (srv), passed around as c->srv;
 * nothing below this layer sees it.
 */
#ifndef SURGE_SERVER_H
#define SURGE_SERVER_H

#include "../base/base.h"
#include "../cmd/cmd.h"
#include "../keyspace/keyspace.h"
#include "../net/net.h"
#include "../obs/obs.h"
#include "../resp/resp.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define SURGE_VERSION       "0.1.0"
#define SURGE_REDIS_VERSION "7.0.15" /* the Redis version whose behaviour we follow */
#define CLIENT_OBUF_SIZE    (16 * 1024)
#define CLIENT_READ_SIZE    (16 * 1024)
#define MAX_LISTENERS       16

/* Pre-authentication caps (RELIABILITY.md): unauthenticated clients get far
 * lower limits than authenticated ones. */
#define UNAUTH_MAX_ARGS     10
#define UNAUTH_MAX_BULK     16384
#define UNAUTH_MAX_QUERYBUF (1024 * 1024)
#define UNAUTH_MAX_OUTPUT   (64 * 1024)

enum client_flag {
    CL_CLOSE_AFTER_REPLY = 1 << 0, /* QUIT, protocol error: flush then close */
    CL_CLOSE_ASAP = 1 << 1,        /* close at the next opportunity, no flush */
    CL_PENDING_WRITE = 1 << 2,     /* queued in srv->pending_writes */
    CL_MONITOR = 1 << 3,
    CL_REPLY_OFF = 1 << 4,
    CL_REPLY_SKIP = 1 << 5,      /* skip the reply of the current command */
    CL_REPLY_SKIP_NEXT = 1 << 6, /* set by CLIENT REPLY SKIP for the next one */
    CL_NO_EVICT = 1 << 7,
    CL_AUTHENTICATED = 1 << 8,
    CL_FREE_PENDING = 1 << 9, /* in the close list */
    CL_EXECUTING = 1 << 10,
    CL_PROTECTED_CLOSE = 1 << 11,
    CL_MULTI = 1 << 12,      /* inside MULTI: commands are queued */
    CL_DIRTY_CAS = 1 << 13,  /* a WATCHed key changed: EXEC fails */
    CL_DIRTY_EXEC = 1 << 14, /* a command was refused while queuing */
};

typedef struct mcmd {
    const cmd_def *d;
    int argc;
    sstr **argv;
} mcmd;

typedef struct watched_key {
    int dbid;
    sstr *key;
    bool expired_at_watch; /* the key was logically expired when watched */
} watched_key;

typedef struct rblock {
    struct rblock *next;
    size_t size, used;
    char buf[];
} rblock;

typedef struct server server;

typedef struct client {
    uint64_t id;
    server *srv;
    conn *conn;
    int flags;
    int resp; /* 2 or 3 */
    int dbid;
    kdb *db; /* refreshed from dbid before each command (SWAPDB) */
    /* query buffer and parser */
    char *qbuf;
    size_t qlen, qcap;
    size_t qbuf_peak;
    resp_parser parser;
    /* the command being executed */
    int argc;
    char **argv;
    size_t *argvlen;
    int argv_cap;
    const cmd_def *cmd, *lastcmd;
    /* replies: a fixed buffer, then a list of blocks */
    char obuf[CLIENT_OBUF_SIZE];
    size_t olen;  /* bytes in obuf */
    size_t osent; /* bytes of obuf (then of the head block) already written */
    rblock *rhead, *rtail;
    size_t rbytes;               /* bytes held in blocks */
    uint64_t obuf_soft_since_ms; /* when the soft limit was first exceeded */
    /* identity */
    sstr *name;
    sstr *lib_name, *lib_ver;
    char addr[64];
    char laddr[64];
    bool local;
    bool edge;    /* plain TCP: the socket is registered edge triggered (see read_handler) */
    bool ring;    /* plain TCP: read by the loop's io_uring (ring_read) */
    bool batched; /* in this round's batch of clients to run (networking.c) */
    int64_t ctime_ms;
    uint64_t last_interaction_us;
    struct client *next_pending;
    struct client *prev, *next; /* all clients */
    uint64_t net_in, net_out;
    uint64_t commands_processed;
    bool pending_cmd; /* a parsed command waits for CLIENT UNPAUSE */
    /* transactions */
    mcmd *mq;
    int mq_len, mq_cap;
    watched_key *wk;
    int wk_len, wk_cap;
    /* pub/sub (pubsub.c) */
    dict *subs, *ssubs; /* channels, shard channels */
    sstr **psubs;       /* patterns */
    size_t npsubs, psubcap;
    /* blocking commands (block.c) */
    bool blocked;     /* waiting on keys; its command is pending */
    bool block_again; /* set by block_on_keys during the current run */
    bool in_exec;     /* running EXEC's queue: never block */
    int block_reply;  /* BLOCK_REPLY_* sent on timeout */
    int block_dbid;
    uint64_t block_deadline_us; /* monotonic; 0 = no timeout */
    sstr **bkeys;
    int nbkeys;
    uint64_t redact;       /* bit i: argv[i] is a secret (slowlog, MONITOR) */
    struct acl_user *user; /* security/acl.c; NULL once its user is deleted */
    struct trk_state *trk; /* client-side caching (tracking.c); NULL when unused */
} client;

typedef struct cmd_stats {
    uint64_t calls, usec, rejected, failed;
} cmd_stats;

typedef struct err_stat {
    char name[32];
    uint64_t count;
    struct err_stat *next;
} err_stat;

struct server {
    ev_loop *loop;
    keyspace *ks;
    int listeners[MAX_LISTENERS];
    int nlisteners;
    client *clients; /* doubly linked */
    uint64_t nclients;
    uint64_t next_client_id;
    client *pending_writes;
    client **to_close;
    size_t nto_close, to_close_cap;
    client **monitors;
    size_t nmonitors, monitors_cap;
    client **by_fd; /* fd -> client, for the event loop */
    int by_fd_size;
    bool shutdown_asap;
    int shutdown_signal;
    int exit_code;
    /* pause */
    int64_t pause_until_ms;
    bool pause_writes_only;
    bool paused;
    bool resume_clients;   /* resume held commands in before-sleep */
    uint64_t dirty;        /* changes since start (no persistence yet) */
    size_t startup_memory; /* used_memory once initialized */
    /* stats */
    int64_t start_ms;
    uint64_t start_us;
    char run_id[41];
    uint64_t stat_numcommands, stat_numconnections, stat_rejected_conn;
    uint64_t stat_net_input, stat_net_output;
    uint64_t stat_unexpected_error_replies, stat_total_error_replies;
    uint64_t stat_client_qbuf_limit_disconnections, stat_client_outbuf_limit_disconnections;
    uint64_t stat_io_reads, stat_io_writes;
    size_t peak_memory;
    int64_t peak_memory_time;
    cmd_stats cstats[CMDID__COUNT];
    err_stat *errors;
    uint64_t errors_count;
    uint64_t cron_loops;
    int64_t cached_ms;
    /* instantaneous ops */
    uint64_t inst_last_cmds, inst_last_in, inst_last_out;
    uint64_t inst_last_us;
    double inst_ops, inst_in_kbps, inst_out_kbps;
    /* config file */
    char *config_file;
    char executable[1024];
    /* observability (src/obs) */
    obs_hist *cmd_hist[CMDID__COUNT]; /* allocated on a command's first call */
    uint64_t cmd_prom[CMDID__COUNT][OBS_PROM_BUCKETS + 1];
    uint64_t loop_prom[OBS_PROM_BUCKETS + 1]; /* event-loop iteration time */
    uint64_t loop_sum_us, loop_count;
    slowlog slowlog;
    latency_monitor latency;
    int metrics_fd;
    uint64_t metrics_scrapes, metrics_rejected;
    int metrics_conns;
    dict **watched; /* per db: key -> wlist of clients WATCHing it (lazy) */
    uint64_t watching_clients;
    client *current_client; /* the client whose command runs now (tracking NOLOOP) */
};

extern server *srv; /* the one server; main.c and signal handlers use it */
extern volatile sig_atomic_t server_got_signal; /* set by SIGTERM/SIGINT */
void server_accept_handler(ev_loop *l, int fd, void *data, int mask);
extern int debug_active_expire_disabled;
/* DEBUG SET-ACTIVE-EXPIRE 0 */ /* the one server; only main.c and signal handlers use it */

/* ---- replies ---- */
void reply_raw(client *c, const void *p, size_t n);
void reply_status(client *c, const char *s); /* "+s\r\n" */
void reply_ok(client *c);
/* msg starts with the error code: "ERR syntax error", "WRONGTYPE ...".
 * \r and \n inside are replaced so the reply stays one frame. */
void reply_error(client *c, const char *msg);
void reply_errorf(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_int(client *c, long long v);
void reply_bulk(client *c, const void *p, size_t n);
void reply_bulk_cstr(client *c, const char *s);
void reply_bulk_ll(client *c, long long v);
void reply_null(client *c);       /* $-1 / _ */
void reply_null_array(client *c); /* *-1 / _ */
void reply_array(client *c, long long n);
void reply_map(client *c, long long n); /* n pairs */
void reply_set(client *c, long long n);
void reply_double(client *c, double d);
void reply_bool(client *c, bool v);
void reply_verbatim(client *c, const char *p, size_t n, const char *ext);
void reply_help(client *c, const char *cmdname, const char *const *lines);
void reply_syntax_error(client *c);
void reply_subcommand_error(client *c);
void reply_wrongtype(client *c);

/* Common error texts (Redis's). */
#define ERR_SYNTAX         "ERR syntax error"
#define ERR_NOT_INT        "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT      "ERR value is not a valid float"
#define ERR_WRONGTYPE      "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_NO_KEY         "ERR no such key"
#define ERR_OOM            "OOM command not allowed when used memory > 'maxmemory'."
#define ERR_OVERFLOW       "ERR increment or decrement would overflow"
#define ERR_STRING_TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
#define ERR_DB_INDEX       "ERR DB index is out of range"

/* ---- argument helpers (reply the error themselves: _or_reply) ---- */
bool arg_ll_or_reply(client *c, int i, long long *v, const char *err);
bool arg_ll_range_or_reply(client *c, int i, long long *v, long long min, long long max,
                           const char *err);
bool arg_ld_or_reply(client *c, int i, long double *v, const char *err);
bool arg_is(const client *c, int i, const char *word); /* case-insensitive */
/* A SCAN-family cursor with Redis's strtoul() rules ("", "+5" and "-1" are
 * cursors; a leading space, trailing bytes or > 2^64-1 are not): replies
 * "ERR invalid cursor" and returns false otherwise. */
bool arg_cursor_or_reply(client *c, int i, uint64_t *out);
/* Looks the key up for writing/reading and checks its type; replies
 * WRONGTYPE and returns NULL with *wrong set when the type differs. */
kentry *lookup_read_typed(client *c, int i, int type, kref *ref, bool *wrong);
kentry *lookup_write_typed(client *c, int i, int type, kref *ref, bool *wrong);

/* String values for bit-level commands: converts ref's string to the raw
 * (growable sstr) encoding and returns it; after growing it with sstr_*
 * calls, store the new pointer with kentry_set_ptr(ref->e, s). */
sstr *str_make_raw(kref *r);

/* ---- transactions (multi.c) ---- */
void multi_discard(client *c);     /* drops queued commands and flags */
void watch_unwatch_all(client *c); /* forgets every watched key */
void watch_touch_key(server *s, int dbid, const char *key, size_t klen);
/* FLUSHDB/FLUSHALL/SWAPDB: every watched key of the db that exists (or
 * existed) counts as modified. Call before flushing. */
void watch_touch_db(server *s, int dbid, int other_dbid); /* other: SWAPDB peer or -1 */
/* Keyspace hook: a key expired or was evicted (WATCH, notifications). */
void server_keyspace_event(void *ctx, kdb *db, const char *key, size_t klen, int why);
bool multi_queue_or_run(client *c, const cmd_def *d); /* true if queued */
/* Runs a command whose checks have passed (also used by EXEC). */
void call_command(client *c, const cmd_def *d);

/* ---- pub/sub (pubsub.c) ---- */
void reply_push(client *c, long long n); /* RESP3 push header, RESP2 array */
bool pubsub_subscribed(const client *c);
bool pubsub_context_allows(const client *c, const cmd_def *d);
void pubsub_client_free(client *c);
long long pubsub_publish(int shard, const char *ch, size_t clen, const char *msg, size_t mlen);
uint64_t pubsub_channel_count(void);
uint64_t pubsub_pattern_count(void);

/* ---- blocking commands (block.c) ---- */
enum { BLOCK_REPLY_NULL_ARRAY, BLOCK_REPLY_NULL };
/* Parses a timeout in seconds (float) into a monotonic deadline (0: wait
 * forever); replies Redis's errors and returns false on bad input. */
bool block_timeout_or_reply(client *c, int i, uint64_t *deadline_us);
/* For a blocking handler that found nothing to serve: blocks c on the keys
 * until one changes (the command then runs again) or the deadline passes
 * (then timeout_reply is sent). Inside EXEC it replies the timeout at once. */
void block_on_keys(client *c, int nkeys, char **keys, size_t *lens, uint64_t deadline_us,
                   int timeout_reply);
void block_unblock(client *c);
void block_signal_key(int dbid, const char *key, size_t klen);
void block_handle_ready(server *s);
uint64_t block_handle_timeouts(server *s); /* returns the next deadline, 0 if none */
size_t block_count(void);
void client_drop_pending(client *c); /* forget the pending command, go on reading */

/* ---- hooks into modules above the core (each implemented in its own
 * file; the core calls them at fixed points) ---- */
/* security/acl.c: may the client run this command on these keys/channels?
 * Replies NOPERM and returns false when not. */
bool acl_check_or_reply(client *c, const cmd_def *d);
void acl_client_init(client *c); /* new connection: default user */
/* server/tracking.c: client-side caching (CLIENT TRACKING) */
void tracking_after_command(client *c, const cmd_def *d); /* remember keys read */
void tracking_key_modified(server *s, int dbid, const char *key, size_t klen);
void tracking_db_flushed(server *s, int dbid); /* -1: all databases */
void tracking_client_free(client *c);
void tracking_before_sleep(server *s); /* BCAST batches, tracking-table-max-keys */
/* CLIENT LIST: appends the tracking flag letters (t, R, B) to flags; returns
 * the redir= value (-1 when not tracking). */
long long tracking_client_list_info(const client *c, char *flags, int *nflags);
void tracking_stats(uint64_t *clients, uint64_t *keys, uint64_t *items, uint64_t *prefixes);
/* server/notify.c: keyspace notifications (notify-keyspace-events); the
 * classes are Redis's (K E g $ l s h z x e t m n). */
enum {
    NOTIFY_KEYSPACE = 1 << 0,  /* K */
    NOTIFY_KEYEVENT = 1 << 1,  /* E */
    NOTIFY_GENERIC = 1 << 2,   /* g */
    NOTIFY_STRING = 1 << 3,    /* $ */
    NOTIFY_LIST = 1 << 4,      /* l */
    NOTIFY_SET = 1 << 5,       /* s */
    NOTIFY_HASH = 1 << 6,      /* h */
    NOTIFY_ZSET = 1 << 7,      /* z */
    NOTIFY_EXPIRED = 1 << 8,   /* x */
    NOTIFY_EVICTED = 1 << 9,   /* e */
    NOTIFY_STREAM = 1 << 10,   /* t */
    NOTIFY_KEY_MISS = 1 << 11, /* m */
    NOTIFY_NEW = 1 << 12,      /* n */
};
void notify_keyspace_event(server *s, int type, const char *event, int dbid, const char *key,
                           size_t klen);
/* notify-keyspace-events letters <-> flags: parse returns -1 on a bad
 * letter; format writes Redis's canonical string, returns its length. */
int notify_flags_parse(const char *s, size_t len);
size_t notify_flags_format(int flags, char *out, size_t outlen);
/* persist/aof.c: the append-only log */
void aof_after_command(client *c, const cmd_def *d, uint64_t dirty_before);
void aof_key_removed(server *s, int dbid, const char *key, size_t klen, int why);
void aof_before_sleep(server *s); /* write (and fsync per policy) before replies go */
/* Whether replies must wait for aof_before_sleep (the log is on). */
bool aof_holds_replies(void);
void aof_cron(server *s);
int aof_load_at_startup(server *s); /* 0, or -1 (logged): refuse to start */
void aof_shutdown(server *s);
sstr *aof_info(server *s, sstr *o); /* INFO persistence: the aof_* fields */
bool aof_is_loading(void);          /* INFO loading */
bool aof_rewrite_in_progress(void); /* its snapshot is being written */
/* NULL, or the -MISCONF error text while the log can't be written: the
 * dispatcher then refuses commands flagged `write`. */
const char *aof_refuse_writes(void);
/* For handlers with random effects (SPOP): replaces what the log records for
 * the current command; the first call drops the command itself, each call
 * adds one command. The bytes are copied. */
void server_propagate_override(client *c, int argc, const char **argv, const size_t *lens);
/* persist/snapshot.c: snapshots (SAVE, BGSAVE, the save schedule) */
int snapshot_load_at_startup(server *s);                 /* with appendonly no: 0, or -1 (logged) */
void snapshot_before_write(client *c, const cmd_def *d); /* dispatch, before a write */
void snapshot_before_sleep(server *s);                   /* a slice of a background save */
void snapshot_cron(server *s);                           /* the save schedule */
int snapshot_shutdown(server *s, bool nosave, bool save); /* 0, or -1: don't exit */
sstr *snapshot_info(server *s, sstr *o);                  /* INFO persistence: rdb_* */
void snapshot_after_flushall(server *s); /* with save points: save the empty dataset */
int snapshot_debug_reload(server *s, bool save, bool flush, bool merge, const char **err);
/* NULL, or the -MISCONF text while the last background save failed. */
const char *snapshot_refuse_writes(void);
/* server/loading.c: serving clients while the dataset loads. The loaders
 * (snapshot and log) call begin with the bytes they will read, progress as
 * they go (cheap: every few ms it answers clients, data commands get
 * -LOADING), end when done. INFO reports loading:1 meanwhile. */
void server_loading_begin(server *s, uint64_t total_bytes);
void server_loading_progress(server *s, uint64_t loaded_bytes);
void server_loading_end(server *s);
bool server_is_loading(void);
/* server/tls_server.c: TLS from the tls-* directives (net/tls.c does the I/O) */
int tls_server_reload(char *err, size_t errlen); /* 0, or -1 and the old context stays */
int tls_server_listen(server *s);                /* start-up: tls-port listeners; 0 or -1 */
void server_tls_accept_handler(ev_loop *l, int fd, void *data, int mask);

/* ---- server services for handlers ---- */
void server_key_modified(client *c, kdb *db, const char *key, size_t klen);
void server_dirty(server *s, long long n);
bool server_oom(const server *s);

/* ---- clients ---- */
client *client_create(server *s, conn *cn, const char *ip, int port);
void client_close_async(client *c);
void client_free(client *c);
size_t client_output_bytes(const client *c);
sstr *client_info_line(client *c, sstr *out);
bool client_auth_required(const client *c);

/* ---- dispatch ---- */
/* Returns false if the command was held back by CLIENT PAUSE. */
bool dispatch_command(client *c);
/* Command lookup with a one-entry cache of the last name (dispatch.c). */
const cmd_def *dispatch_lookup(const char *name, size_t len);
/* Ends the chained command clock: the next command reads the clock for its
 * start (other work or waiting came between). */
void dispatch_clock_break(void);
void client_process_pending_input(client *c);
void server_flush_pending_writes(server *s);
void server_free_closed_clients(server *s);
void server_init_handlers(void);
bool server_has_handler(const cmd_def *d);
void feed_monitors(client *c);

/* ---- config ---- */
int config_load_file(const char *path, char *err, size_t errlen);
int config_apply_arg(const char *name, int argc, char **argv, char *err, size_t errlen);
void config_apply_settings(server *s); /* pushes config into keyspace etc. */
void config_write_markdown(FILE *out);

/* ---- cron ---- */
void server_cron(ev_loop *l, void *data);
void server_before_sleep(ev_loop *l, void *data);
/* After each round of events: runs the input of the clients read in it,
 * their next keys prefetched together (networking.c). */
void server_after_events(ev_loop *l, void *data);
void server_shutdown(server *s, bool nosave);
sstr *server_info(server *s, client *c, int argc, char **argv, size_t *argvlen);

/* ---- /metrics endpoint (src/obs/metrics.c) ---- */
int metrics_start(server *s); /* 0, or -1 (logged) when the port can't be bound */
void metrics_cron(server *s);
void metrics_stop(server *s);
sstr *metrics_render(server *s);

#endif
