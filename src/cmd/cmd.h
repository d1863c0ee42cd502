/*
 * cmd: the command table. One row of metadata per command and subcommand,
 * generated into commands.def from Redis's own published metadata
 * (scripts/gen_commands.py) and read by the server's dispatcher, by COMMAND,
 * and later by ACL, cluster routing and surge-proxy. This layer holds no
 * handlers: the server binds a handler to each row by id, so a command is
 * either in the table with a handler or absent (unknown command).
 *
 * Key positions come two ways, as in Redis 7: the legacy (first, last, step)
 * triple, and key specs (begin_search + find_keys), which also cover
 * commands whose keys move (keynum arguments, keywords). cmd_get_keys() reads
 * the key specs, so every user of key positions sees the same keys.
 */
#ifndef SURGE_CMD_H
#define SURGE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Command flags, in the order Redis lists them in COMMAND INFO. */
#define CMD_FLAG_LIST(X)                                                                           \
    X(WRITE, "write")                                                                              \
    X(READONLY, "readonly")                                                                        \
    X(DENYOOM, "denyoom")                                                                          \
    X(MODULE, "module")                                                                            \
    X(ADMIN, "admin")                                                                              \
    X(PUBSUB, "pubsub")                                                                            \
    X(NOSCRIPT, "noscript")                                                                        \
    X(BLOCKING, "blocking")                                                                        \
    X(LOADING, "loading")                                                                          \
    X(STALE, "stale")                                                                              \
    X(SKIP_MONITOR, "skip_monitor")                                                                \
    X(SKIP_SLOWLOG, "skip_slowlog")                                                                \
    X(ASKING, "asking")                                                                            \
    X(FAST, "fast")                                                                                \
    X(NO_AUTH, "no_auth")                                                                          \
    X(MAY_REPLICATE, "may_replicate")                                                              \
    X(SENTINEL, "sentinel")                                                                        \
    X(ONLY_SENTINEL, "only_sentinel")                                                              \
    X(NO_MANDATORY_KEYS, "no_mandatory_keys")                                                      \
    X(PROTECTED, "protected")                                                                      \
    X(NO_ASYNC_LOADING, "no_async_loading")                                                        \
    X(NO_MULTI, "no_multi")                                                                        \
    X(MOVABLEKEYS, "movablekeys")                                                                  \
    X(ALLOW_BUSY, "allow_busy")

enum {
#define X(sym, name) CF_BIT_##sym,
    CMD_FLAG_LIST(X)
#undef X
        CF_BIT__COUNT
};
#define X(sym, name) static const uint32_t CF_##sym = 1u << CF_BIT_##sym;
CMD_FLAG_LIST(X)
#undef X

/* ACL categories, in Redis's order. */
#define ACL_CAT_LIST(X)                                                                            \
    X(KEYSPACE, "keyspace")                                                                        \
    X(READ, "read")                                                                                \
    X(WRITE, "write")                                                                              \
    X(SET, "set")                                                                                  \
    X(SORTEDSET, "sortedset")                                                                      \
    X(LIST, "list")                                                                                \
    X(HASH, "hash")                                                                                \
    X(STRING, "string")                                                                            \
    X(BITMAP, "bitmap")                                                                            \
    X(HYPERLOGLOG, "hyperloglog")                                                                  \
    X(GEO, "geo")                                                                                  \
    X(STREAM, "stream")                                                                            \
    X(PUBSUB, "pubsub")                                                                            \
    X(ADMIN, "admin")                                                                              \
    X(FAST, "fast")                                                                                \
    X(SLOW, "slow")                                                                                \
    X(BLOCKING, "blocking")                                                                        \
    X(DANGEROUS, "dangerous")                                                                      \
    X(CONNECTION, "connection")                                                                    \
    X(TRANSACTION, "transaction")                                                                  \
    X(SCRIPTING, "scripting")

enum {
#define X(sym, name) ACL_BIT_##sym,
    ACL_CAT_LIST(X)
#undef X
        ACL_BIT__COUNT
};
#define X(sym, name) static const uint32_t ACL_##sym = 1u << ACL_BIT_##sym;
ACL_CAT_LIST(X)
#undef X

extern const char *const cmd_flag_names[CF_BIT__COUNT];
extern const char *const cmd_acl_names[ACL_BIT__COUNT];

/* Ids: one per row, CMDID_<id> (e.g. CMDID_get, CMDID_client_list). */
enum cmd_id {
#define CMD(id, ...)         CMDID_##id,
#define CONTAINER(id, ...)   CMDID_##id,
#define SUB(parent, id, ...) CMDID_##id,
#include "commands.def"
#undef CMD
#undef CONTAINER
#undef SUB
    CMDID__COUNT
};

/* Key spec flags (Redis 7 names). */
#define KS_FLAG_LIST(X)                                                                            \
    X(RO, "RO")                                                                                    \
    X(RW, "RW")                                                                                    \
    X(OW, "OW")                                                                                    \
    X(RM, "RM")                                                                                    \
    X(ACCESS, "access")                                                                            \
    X(UPDATE, "update")                                                                            \
    X(INSERT, "insert")                                                                            \
    X(DELETE, "delete")                                                                            \
    X(NOT_KEY, "not_key")                                                                          \
    X(INCOMPLETE, "incomplete")                                                                    \
    X(VARIABLE_FLAGS, "variable_flags")
enum {
#define X(sym, name) KS_BIT_##sym,
    KS_FLAG_LIST(X)
#undef X
        KS_BIT__COUNT
};
extern const char *const cmd_ks_flag_names[KS_BIT__COUNT];

enum { KS_BS_INDEX, KS_BS_KEYWORD, KS_BS_UNKNOWN };
enum { KS_FK_RANGE, KS_FK_KEYNUM, KS_FK_UNKNOWN };

typedef struct cmd_keyspec {
    uint32_t flags; /* 1 << KS_BIT_* */
    int bs_type;
    int bs_index;        /* INDEX: position of the first key */
    char bs_keyword[24]; /* KEYWORD: search for this word... */
    int bs_startfrom;    /* ...starting here (negative: from the end) */
    int fk_type;
    int fk_lastkey, fk_keystep, fk_limit;       /* RANGE */
    int fk_keynumidx, fk_firstkey, fk_keystep2; /* KEYNUM */
    char *notes;                                /* NULL when none */
} cmd_keyspec;

typedef struct cmd_def {
    int id;
    const char *name;     /* "get", or "list" for "client|list" */
    const char *fullname; /* "get", "client|list" */
    int arity;            /* N exact, -N at least N (name included) */
    uint32_t flags;
    uint32_t acl;
    int first, last, step;
    const char *keyspecs_src;
    const char *tips; /* space-separated */
    const char *group, *since, *complexity, *summary;
    struct cmd_def *parent;
    struct cmd_def **subs; /* NULL-terminated; NULL when none */
    int nsubs;
    cmd_keyspec *keyspecs;
    int nkeyspecs;
} cmd_def;

/* Builds the table and its name index; idempotent. */
void cmd_table_init(void);
cmd_def *cmd_by_id(int id);
/* Top-level lookup, case-insensitive. NULL if no such command. */
cmd_def *cmd_lookup(const char *name, size_t len);
/* Subcommand of a container, case-insensitive. NULL if none. */
cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name, size_t len);
/* Iteration over top-level commands: i from 0 while non-NULL. */
cmd_def *cmd_top(int i);
int cmd_top_count(void);

/* True if argc satisfies the row's arity. */
static inline bool cmd_arity_ok(const cmd_def *c, int argc) {
    return c->arity > 0 ? argc == c->arity : argc >= -c->arity;
}

/* Key extraction from the key specs. Writes up to max positions (argument
 * indexes) into pos and, when flags is non-NULL, each key's spec flags.
 * Returns the number of keys, or -1 if argv does not fit the spec (a bad
 * keynum, for example). */
typedef struct cmd_argv_view {
    int argc;
    const char *const *argv;
    const size_t *lens;
} cmd_argv_view;
int cmd_get_keys(const cmd_def *c, int argc, const char *const *argv, const size_t *lens, int *pos,
                 uint32_t *flags, int max);

#endif
