/*
 * t_keys: the generic key commands. Everything that works on keys whatever
 * their type: existence and deletion (DEL UNLINK EXISTS TOUCH TYPE), names
 * (RENAME RENAMENX COPY MOVE), whole databases (SWAPDB DBSIZE FLUSHDB
 * FLUSHALL RANDOMKEY KEYS SCAN), expiry (EXPIRE PEXPIRE EXPIREAT PEXPIREAT
 * EXPIRETIME PEXPIRETIME TTL PTTL PERSIST) and OBJECT.
 *
 * Every reply, error text and argument rule follows Redis 7.0 (db.c,
 * expire.c, object.c), checked against Debian's redis-server 7.0.15. Where
 * Redis's behaviour depends on its object model, this file reproduces what
 * a user can see, not the mechanism:
 *
 *   - OBJECT REFCOUNT reports Redis's shared integers (0..9999, stored with
 *     refcount INT_MAX when maxmemory is off or the policy is not LRU/LFU)
 *     and 1 for everything else; Surge shares no values. Redis decides when
 *     it stores the value, Surge when asked, so the two differ only after
 *     CONFIG SET changed maxmemory or the policy, and for the destination
 *     of a COPY of such a value (Redis's copy is unshared: 1).
 *   - RENAME and MOVE keep the key's LRU/LFU field (Redis moves the same
 *     object), COPY starts a fresh one (Redis creates a new object).
 *   - UNLINK frees synchronously: the keyspace has no per-key lazy free yet.
 *     The reply and the keyspace afterwards are the same as Redis's.
 *
 * Lookups follow Redis's choice of flags, because they decide hit/miss
 * statistics and whether the access refreshes LRU/LFU:
 *
 *   command                     lookup               touches  counts stats
 *   EXISTS TYPE TTL OBJECT ...  read, NOTOUCH        no       yes
 *   TOUCH, COPY (source)        read                 yes      yes
 *   DEL RENAME MOVE EXPIRE ...  write                yes      no
 *
 * Pointer validity (keyspace.h): a kref or kentry pointer dies with the next
 * insertion into, deletion from or modification of the same database, and a
 * write lookup may itself delete an expired key. So whenever a command
 * looks up a second key of the same database (RENAME, COPY) it finds the
 * first one again before using it (relookup()), and it duplicates a value
 * before deleting anything.
 *
 * KEYS and SCAN never write replies from inside an iteration: the visitor
 * collects matching entries into an array (the callback must not modify the
 * database, and the reply needs the count first), then the handler replies
 * from the array while the database is unchanged.
 *
 * Every write reports the key through server_key_modified() and counts
 * server_dirty(), as Redis's signalModifiedKey() and server.dirty++.
 * FLUSHDB, FLUSHALL and SWAPDB count dirty but report no keys: there is no
 * per-database hook yet (Redis's signalFlushedDb/touchAllWatchedKeysInDb).
 *
 * Option words are matched with arg_is(), which compares whole arguments;
 * Redis's strcasecmp() stops at an embedded NUL ("nx\0zz" is NX there).
 */
#include "../server/config.h"
#include "../server/server.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERR_SAME_OBJECT "ERR source and destination objects are the same"
#define ERR_INT_RANGE   "ERR value is out of range, value must between -2147483648 and 2147483647"
#define ERR_LFU_NOT_SELECTED                                                                       \
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "      \
    "that when switching between policies at runtime LRU and LFU data will take some time to "     \
    "adjust."
#define ERR_LFU_SELECTED                                                                           \
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "       \
    "switching between policies at runtime LRU and LFU data will take some time to adjust."

#define SHARED_INTEGERS 10000        /* Redis's OBJ_SHARED_INTEGERS */
#define SHARED_REFCOUNT INT_MAX      /* Redis's OBJ_SHARED_REFCOUNT */
#define SCAN_MAX_COUNT  (1ULL << 40) /* keeps count * 10 inside kdb_scan from wrapping */

/* ---- helpers ---- */

/* Name TYPE and SCAN TYPE report for a value type. */
static const char *type_name(int type) {
    if (type == OBJ_STRING) return "string";
    const ks_type_ops *ops = ks_type(type);
    return ops && ops->name ? ops->name : "unknown";
}

static bool args_equal(const client *c, int i, int j) {
    return c->argvlen[i] == c->argvlen[j] && memcmp(c->argv[i], c->argv[j], c->argvlen[i]) == 0;
}

/* Redis's getIntFromObjectOrReply(): an int, or an error reply. msg replaces
 * both of Redis's default texts when non-NULL. */
static bool arg_int_or_reply(client *c, int i, int *out, const char *msg) {
    long long v;
    if (!sg_str2ll(c->argv[i], c->argvlen[i], &v)) {
        reply_error(c, msg ? msg : ERR_NOT_INT);
        return false;
    }
    if (v < INT_MIN || v > INT_MAX) {
        reply_error(c, msg ? msg : ERR_INT_RANGE);
        return false;
    }
    *out = (int)v;
    return true;
}

/* Database argument of COPY and MOVE: an int in range, else Redis's errors. */
static kdb *arg_db_or_reply(client *c, int i) {
    int id;
    if (!arg_int_or_reply(c, i, &id, NULL)) return NULL;
    kdb *db = ks_db(c->srv->ks, id);
    if (!db) reply_error(c, ERR_DB_INDEX);
    return db;
}

/* Finds again a key that the caller saw live earlier in this command,
 * without side effects (no touch, no stats, and it cannot have expired since
 * the command's time is fixed). Refreshes *ref after a change to the db. */
static kentry *relookup(kdb *db, const char *key, size_t klen, kref *ref) {
    kentry *e = kdb_lookup_read(db, key, klen, ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    sg_assert(e != NULL);
    return e;
}

/* Adds e to db keeping the LRU/LFU field it had (kdb_add resets it). */
static void add_keep_lru(kdb *db, kentry *e) {
    uint32_t lru = kentry_lru(e);
    kdb_add(db, e);
    kentry_set_lru(e, lru);
}

static bool policy_is_lfu(int policy) {
    return policy == KS_POLICY_ALLKEYS_LFU || policy == KS_POLICY_VOLATILE_LFU;
}

static bool policy_is_lru(int policy) {
    return policy == KS_POLICY_ALLKEYS_LRU || policy == KS_POLICY_VOLATILE_LRU;
}

/* ---- DEL UNLINK EXISTS TOUCH TYPE ---- */

static void del_generic(client *c) {
    long long deleted = 0;
    for (int j = 1; j < c->argc; j++) {
        kref ref;
        if (!kdb_lookup_write(c->db, c->argv[j], c->argvlen[j], &ref)) continue;
        kdb_delete(&ref);
        server_key_modified(c, c->db, c->argv[j], c->argvlen[j]);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[j], c->argvlen[j]);
        deleted++;
    }
    if (deleted) server_dirty(c->srv, deleted);
    reply_int(c, deleted);
}

void del_command(client *c) {
    del_generic(c);
}

void unlink_command(client *c) {
    del_generic(c);
}

void exists_command(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++)
        if (kdb_lookup_read(c->db, c->argv[j], c->argvlen[j], NULL, LOOKUP_NOTOUCH)) n++;
    reply_int(c, n);
}

void touch_command(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++)
        if (kdb_lookup_read(c->db, c->argv[j], c->argvlen[j], NULL, 0)) n++;
    reply_int(c, n);
}

void type_command(client *c) {
    kentry *e = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], NULL, LOOKUP_NOTOUCH);
    reply_status(c, e ? type_name(kentry_type(e)) : "none");
}

/* ---- RENAME RENAMENX COPY MOVE SWAPDB ---- */

static void rename_generic(client *c, bool nx) {
    kdb *db = c->db;
    const char *src = c->argv[1], *dst = c->argv[2];
    size_t slen = c->argvlen[1], dlen = c->argvlen[2];
    kref sref, dref;

    if (!kdb_lookup_write(db, src, slen, &sref)) {
        reply_error(c, ERR_NO_KEY);
        return;
    }
    if (args_equal(c, 1, 2)) { /* no-op, but only for an existing key */
        if (nx)
            reply_int(c, 0);
        else
            reply_ok(c);
        return;
    }
    if (kdb_lookup_write(db, dst, dlen, &dref)) {
        if (nx) {
            reply_int(c, 0);
            return;
        }
        kdb_delete(&dref);
    }
    relookup(db, src, slen, &sref); /* the lookup or delete above moved cells */
    kentry *e = kentry_rekey(kdb_unlink(&sref), dst, dlen); /* keeps the TTL */
    add_keep_lru(db, e);
    server_key_modified(c, db, src, slen);
    server_key_modified(c, db, dst, dlen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "rename_from", kdb_id(db), src, slen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "rename_to", kdb_id(db), dst, dlen);
    server_dirty(c->srv, 1);
    if (nx)
        reply_int(c, 1);
    else
        reply_ok(c);
}

void rename_command(client *c) {
    rename_generic(c, false);
}

void renamenx_command(client *c) {
    rename_generic(c, true);
}

/* COPY source destination [DB destination-db] [REPLACE] */
void copy_command(client *c) {
    kdb *src = c->db, *dst = c->db;
    bool replace = false;
    for (int j = 3; j < c->argc; j++) {
        int additional = c->argc - j - 1;
        if (arg_is(c, j, "replace")) {
            replace = true;
        } else if (arg_is(c, j, "db") && additional >= 1) {
            if (!(dst = arg_db_or_reply(c, j + 1))) return;
            j++;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    const char *key = c->argv[1], *newkey = c->argv[2];
    size_t klen = c->argvlen[1], nlen = c->argvlen[2];
    if (src == dst && args_equal(c, 1, 2)) {
        reply_error(c, ERR_SAME_OBJECT);
        return;
    }

    kref sref, dref;
    if (!kdb_lookup_read(src, key, klen, &sref, 0)) {
        reply_int(c, 0);
        return;
    }
    bool exists = kdb_lookup_write(dst, newkey, nlen, &dref) != NULL;
    if (exists && !replace) {
        reply_int(c, 0);
        return;
    }
    /* Duplicate before any deletion; in the same db the destination lookup
     * may have expired a key, so find the source again first. Finding it
     * changes nothing, so dref stays valid. */
    if (src == dst) relookup(src, key, klen, &sref);
    kentry *ne = kentry_dup(sref.e, newkey, nlen); /* value and TTL */
    if (exists) kdb_delete(&dref);
    kdb_add(dst, ne); /* a new object: fresh LRU/LFU, as in Redis */
    server_key_modified(c, dst, newkey, nlen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "copy_to", kdb_id(dst), newkey, nlen);
    server_dirty(c->srv, 1);
    reply_int(c, 1);
}

/* MOVE key db */
void move_command(client *c) {
    kdb *src = c->db, *dst = arg_db_or_reply(c, 2);
    if (!dst) return;
    if (src == dst) {
        reply_error(c, ERR_SAME_OBJECT);
        return;
    }
    const char *key = c->argv[1];
    size_t klen = c->argvlen[1];
    kref sref;
    if (!kdb_lookup_write(src, key, klen, &sref) || kdb_lookup_write(dst, key, klen, NULL)) {
        reply_int(c, 0);
        return;
    }
    /* sref is still valid: only dst changed since. */
    add_keep_lru(dst, kdb_unlink(&sref)); /* the same entry, TTL included */
    server_key_modified(c, src, key, klen);
    server_key_modified(c, dst, key, klen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "move_from", kdb_id(src), key, klen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "move_to", kdb_id(dst), key, klen);
    server_dirty(c->srv, 1);
    reply_int(c, 1);
}

/* SWAPDB index1 index2. Clients keep their index (dbid) and see the other
 * contents: the dispatcher maps dbid to a kdb before every command. */
void swapdb_command(client *c) {
    int a, b;
    if (!arg_int_or_reply(c, 1, &a, "ERR invalid first DB index")) return;
    if (!arg_int_or_reply(c, 2, &b, "ERR invalid second DB index")) return;
    keyspace *ks = c->srv->ks;
    if (!ks_db(ks, a) || !ks_db(ks, b)) {
        reply_error(c, ERR_DB_INDEX);
        return;
    }
    if (a != b) {
        watch_touch_db(c->srv, a, b);
        watch_touch_db(c->srv, b, a);
        ks_swapdb(ks, a, b);
    }
    c->db = ks_db(ks, c->dbid);
    server_dirty(c->srv, 1);
    reply_ok(c);
}

/* ---- expiry ---- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* Options after the time argument; Redis checks them before the time. */
static bool expire_flags_or_reply(client *c, int *flags) {
    *flags = 0;
    for (int j = 3; j < c->argc; j++) {
        if (arg_is(c, j, "nx"))
            *flags |= EXP_NX;
        else if (arg_is(c, j, "xx"))
            *flags |= EXP_XX;
        else if (arg_is(c, j, "gt"))
            *flags |= EXP_GT;
        else if (arg_is(c, j, "lt"))
            *flags |= EXP_LT;
        else {
            reply_errorf(c, "ERR Unsupported option %s", c->argv[j]);
            return false;
        }
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return false;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        reply_error(c, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

/* Whether the options let a key whose expire is cur (-1: none, that is
 * infinite) take the new time when. */
static bool expire_allowed(int flags, int64_t cur, int64_t when) {
    if ((flags & EXP_NX) && cur != -1) return false;
    if ((flags & EXP_XX) && cur == -1) return false;
    if ((flags & EXP_GT) && (cur == -1 || when <= cur)) return false;
    if ((flags & EXP_LT) && cur != -1 && when >= cur) return false;
    return true;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: key time [NX|XX|GT|LT ...].
 * basetime is added to the (possibly scaled) time: now for the relative
 * forms, 0 for the absolute ones. A resulting time not in the future
 * deletes the key and still answers 1. */
static void expire_generic(client *c, int64_t basetime, bool seconds, const char *name) {
    int flags;
    long long when;
    if (!expire_flags_or_reply(c, &flags)) return;
    if (!arg_ll_or_reply(c, 2, &when, NULL)) return;
    /* Negative times are allowed; only overflow is an error. */
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            reply_errorf(c, "ERR invalid expire time in '%s' command", name);
            return;
        }
        when *= 1000;
    }
    if (when > LLONG_MAX - basetime) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when += basetime;

    kdb *db = c->db;
    const char *key = c->argv[1];
    size_t klen = c->argvlen[1];
    kref ref;
    kentry *e = kdb_lookup_write(db, key, klen, &ref);
    if (!e || !expire_allowed(flags, kentry_expire(e), when)) {
        reply_int(c, 0);
        return;
    }
    bool del = when <= ks_now(c->srv->ks);
    if (del)
        kdb_delete(&ref);
    else
        kdb_set_expire(&ref, when);
    server_key_modified(c, db, key, klen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, del ? "del" : "expire", kdb_id(db), key, klen);
    server_dirty(c->srv, 1);
    reply_int(c, 1);
}

void expire_command(client *c) {
    expire_generic(c, ks_now(c->srv->ks), true, "expire");
}

void pexpire_command(client *c) {
    expire_generic(c, ks_now(c->srv->ks), false, "pexpire");
}

void expireat_command(client *c) {
    expire_generic(c, 0, true, "expireat");
}

void pexpireat_command(client *c) {
    expire_generic(c, 0, false, "pexpireat");
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for no TTL.
 * Seconds are rounded to nearest ((ms + 500) / 1000), for EXPIRETIME too,
 * exactly as Redis's ttlGenericCommand. */
static void ttl_generic(client *c, bool ms, bool absolute) {
    kentry *e = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], NULL, LOOKUP_NOTOUCH);
    if (!e) {
        reply_int(c, -2);
        return;
    }
    int64_t expire = kentry_expire(e);
    if (expire == -1) {
        reply_int(c, -1);
        return;
    }
    int64_t ttl = absolute ? expire : expire - ks_now(c->srv->ks);
    if (ttl < 0) ttl = 0;
    reply_int(c, ms ? ttl : (ttl + 500) / 1000);
}

void ttl_command(client *c) {
    ttl_generic(c, false, false);
}

void pttl_command(client *c) {
    ttl_generic(c, true, false);
}

void expiretime_command(client *c) {
    ttl_generic(c, false, true);
}

void pexpiretime_command(client *c) {
    ttl_generic(c, true, true);
}

void persist_command(client *c) {
    kref ref;
    kentry *e = kdb_lookup_write(c->db, c->argv[1], c->argvlen[1], &ref);
    if (!e || !kentry_has_ttl(e)) {
        reply_int(c, 0);
        return;
    }
    kdb_persist(&ref);
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "persist", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_int(c, 1);
}

/* ---- KEYS SCAN RANDOMKEY DBSIZE ---- */

/* Visitor state shared by KEYS and SCAN: filters, then the kept entries. */
typedef struct key_collector {
    const char *pat; /* NULL: every key */
    size_t plen;
    const char *type; /* SCAN TYPE, compared case-insensitively; NULL: any */
    kentry **keys;
    size_t n, cap;
} key_collector;

static void collect_visit(void *ctx, kentry *e) {
    key_collector *kc = ctx;
    if (kc->pat) {
        size_t kl;
        const char *k = kentry_key(e, &kl);
        if (!sg_glob_match(kc->pat, kc->plen, k, kl, false)) return;
    }
    if (kc->type && strcasecmp(kc->type, type_name(kentry_type(e))) != 0) return;
    if (kc->n == kc->cap) {
        kc->cap = kc->cap ? kc->cap * 2 : 64;
        kc->keys = sg_realloc(kc->keys, sizeof(kentry *) * kc->cap);
    }
    kc->keys[kc->n++] = e;
}

/* Replies the collected keys as an array and frees the collection. The
 * database must not have changed since the iteration. */
static void reply_collected(client *c, key_collector *kc) {
    reply_array(c, (long long)kc->n);
    for (size_t i = 0; i < kc->n; i++) {
        size_t kl;
        const char *k = kentry_key(kc->keys[i], &kl);
        reply_bulk(c, k, kl);
    }
    sg_free(kc->keys);
    kc->keys = NULL;
    kc->n = kc->cap = 0;
}

void keys_command(client *c) {
    key_collector kc = {0};
    bool all = c->argvlen[1] == 1 && c->argv[1][0] == '*';
    if (!all) {
        kc.pat = c->argv[1];
        kc.plen = c->argvlen[1];
    }
    kdb_foreach(c->db, collect_visit, &kc);
    reply_collected(c, &kc);
}

/* SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
 * Reply: [next cursor as a bulk string, [keys...]]. */
void scan_command(client *c) {
    uint64_t cursor;
    if (!arg_cursor_or_reply(c, 1, &cursor)) return;
    long long count = 10;
    key_collector kc = {0};
    for (int i = 2; i < c->argc; i += 2) {
        int left = c->argc - i;
        if (arg_is(c, i, "count") && left >= 2) {
            if (!arg_ll_or_reply(c, i + 1, &count, NULL)) return;
            if (count < 1) {
                reply_syntax_error(c);
                return;
            }
        } else if (arg_is(c, i, "match") && left >= 2) {
            bool all = c->argvlen[i + 1] == 1 && c->argv[i + 1][0] == '*';
            kc.pat = all ? NULL : c->argv[i + 1];
            kc.plen = all ? 0 : c->argvlen[i + 1];
        } else if (arg_is(c, i, "type") && left >= 2) {
            kc.type = c->argv[i + 1]; /* an unknown type matches nothing */
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if ((unsigned long long)count > SCAN_MAX_COUNT) count = (long long)SCAN_MAX_COUNT;
    uint64_t next = kdb_scan(c->db, cursor, (size_t)count, collect_visit, &kc);
    char buf[SG_LONG_STR_SIZE];
    int n = sg_ull2str(buf, sizeof(buf), next);
    reply_array(c, 2);
    reply_bulk(c, buf, (size_t)n);
    reply_collected(c, &kc);
}

/* A random live key, or nil. kdb_random() may hand back an expired entry
 * when every key has a TTL, or give up after deleting expired keys; Redis
 * (as a primary) keeps drawing until it finds a live key or the db is
 * empty, so this loop does the same. Each round deletes at least one key
 * or answers, so it ends. */
void randomkey_command(client *c) {
    kdb *db = c->db;
    keyspace *ks = c->srv->ks;
    for (;;) {
        uint64_t before = kdb_size(db);
        kentry *e = kdb_random(db);
        if (!e) {
            if (kdb_size(db) == 0 || kdb_size(db) >= before) break;
            continue;
        }
        size_t kl;
        const char *k = kentry_key(e, &kl);
        if (!ks_is_expired(ks, e)) {
            reply_bulk(c, k, kl);
            return;
        }
        sstr *copy = sstr_new(k, kl); /* the lookup below frees e */
        kdb_lookup_write(db, copy->buf, copy->len, NULL);
        sstr_free(copy);
    }
    reply_null(c);
}

void dbsize_command(client *c) {
    reply_int(c, (long long)kdb_size(c->db));
}

/* ---- FLUSHDB FLUSHALL ---- */

/* [SYNC|ASYNC]; without either, lazyfree-lazy-user-flush decides. */
static bool flush_mode_or_reply(client *c, bool *async) {
    if (c->argc == 1)
        *async = cfg.lazyfree_lazy_user_flush;
    else if (c->argc == 2 && arg_is(c, 1, "sync"))
        *async = false;
    else if (c->argc == 2 && arg_is(c, 1, "async"))
        *async = true;
    else {
        reply_syntax_error(c);
        return false;
    }
    return true;
}

/* Empties db; returns the number of keys it held. */
static uint64_t flush_db(kdb *db, bool async) {
    uint64_t n = kdb_size(db);
    if (async)
        kdb_flush_async(db);
    else
        kdb_flush(db);
    return n;
}

void flushdb_command(client *c) {
    bool async;
    if (!flush_mode_or_reply(c, &async)) return;
    watch_touch_db(c->srv, c->dbid, -1);
    server_dirty(c->srv, (long long)flush_db(c->db, async));
    tracking_db_flushed(c->srv, c->dbid);
    reply_ok(c);
}

void flushall_command(client *c) {
    bool async;
    if (!flush_mode_or_reply(c, &async)) return;
    keyspace *ks = c->srv->ks;
    uint64_t n = 0;
    for (int i = 0; i < ks_ndb(ks); i++) {
        watch_touch_db(c->srv, i, -1);
        n += flush_db(ks_db(ks, i), async);
    }
    server_dirty(c->srv, (long long)n + 1); /* Redis adds one for FLUSHALL itself */
    tracking_db_flushed(c->srv, -1);
    snapshot_after_flushall(c->srv);
    reply_ok(c);
}

/* ---- OBJECT ---- */

/* The key for OBJECT <sub> key, without touching it; replies nil if absent. */
static kentry *object_lookup_or_reply(client *c) {
    kentry *e =
        kdb_lookup_read(c->db, c->argv[2], c->argvlen[2], NULL, LOOKUP_NOTOUCH | LOOKUP_NONOTIFY);
    if (!e) reply_null(c);
    return e;
}

void object_encoding_command(client *c) {
    kentry *e = object_lookup_or_reply(c);
    if (e) reply_bulk_cstr(c, ks_encoding_name(kentry_type(e), kentry_enc(e)));
}

void object_freq_command(client *c) {
    kentry *e = object_lookup_or_reply(c);
    if (!e) return;
    if (!policy_is_lfu(cfg.maxmemory_policy)) {
        reply_error(c, ERR_LFU_NOT_SELECTED);
        return;
    }
    reply_int(c, (long long)ks_lfu_freq(c->srv->ks, e));
}

void object_idletime_command(client *c) {
    kentry *e = object_lookup_or_reply(c);
    if (!e) return;
    if (policy_is_lfu(cfg.maxmemory_policy)) {
        reply_error(c, ERR_LFU_SELECTED);
        return;
    }
    reply_int(c, (long long)(ks_idle_ms(c->srv->ks, e) / 1000));
}

/* Redis stores the strings "0".."9999" as shared integer objects (refcount
 * INT_MAX) unless maxmemory is set with an LRU/LFU policy, which needs a
 * per-key LRU field. That is what a Redis user sees, so that is the reply. */
void object_refcount_command(client *c) {
    kentry *e = object_lookup_or_reply(c);
    if (!e) return;
    long long refcount = 1;
    if (kentry_type(e) == OBJ_STRING && kentry_enc(e) == ENC_INT &&
        (cfg.maxmemory == 0 ||
         !(policy_is_lru(cfg.maxmemory_policy) || policy_is_lfu(cfg.maxmemory_policy)))) {
        size_t vl;
        const char *v = kentry_str(e, &vl);
        long long n;
        if (sg_str2ll(v, vl, &n) && n >= 0 && n < SHARED_INTEGERS) refcount = SHARED_REFCOUNT;
    }
    reply_int(c, refcount);
}

void object_help_command(client *c) {
    static const char *const help[] = {
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        NULL,
    };
    reply_help(c, "OBJECT", help);
}
