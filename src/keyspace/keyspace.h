/*
 * keyspace: databases of keys, split into 16384 hash slots, each slot with
 * its own table; compact key entries; expiry; eviction. Knows no sockets,
 * no commands and no configuration: the server passes settings in.
 *
 * A key entry (kentry) is one allocation holding the key, its metadata and,
 * for small strings, the value itself:
 *
 *   +------+-------+---------+-----------------+--------+-----+------------+
 *   | t|e  | flags | lru(24) | [expire int64]  | keylen | key | value      |
 *   | 1 B  | 1 B   | 3 B     | only with a TTL | varint |     | see below  |
 *   +------+-------+---------+-----------------+--------+-----+------------+
 *
 *   value, by encoding:  EMBSTR/INT: varint length + bytes (INT holds the
 *   decimal text; it only changes what OBJECT ENCODING reports);
 *   RAW and every non-string type: an 8-byte pointer to the value object.
 *
 * So a 16-byte key with a 16-byte value is a 39-byte allocation (a 40-byte
 * block: entries are only 8-byte aligned), and a TTL costs 8 bytes only on
 * keys that have one.
 *
 * Tables are open-addressing with linear probing over tagged pointers:
 * each 8-byte cell holds the entry pointer (8-byte aligned) with bit 0 set
 * when the entry has a TTL, bits 1-2 and 48-63 holding 18 bits of the
 * key's hash, so
 * most probe mismatches and the expiry scan never touch the entry itself.
 * Deletion shifts followers back (no tombstones). Growth is incremental: a
 * second table is allocated and cells move over a few at a time on each
 * insertion and in the background, so no insertion pays for a whole rehash.
 * See keyspace.c for the invariants.
 *
 * Pointer validity: a kentry pointer and a kref stay valid until the next
 * insertion into, deletion from, or modification of the same database.
 */
#ifndef SURGE_KEYSPACE_H
#define SURGE_KEYSPACE_H

#include "../base/base.h"
#include "dict.h"
#include "pack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { OBJ_STRING = 0, OBJ_LIST = 1, OBJ_SET = 2, OBJ_ZSET = 3, OBJ_HASH = 4, OBJ__COUNT = 16 };
enum {
    ENC_RAW = 0,
    ENC_INT = 1,
    ENC_EMBSTR = 2,
    ENC_HASHTABLE = 3, /* dict */
    ENC_QUICKLIST = 4,
    ENC_INTSET = 6,
    ENC_SKIPLIST = 7,
    ENC_LISTPACK = 8, /* pack */
    ENC__COUNT = 16
};
#define KS_EMBSTR_MAX 44 /* longest string kept inside the entry */

typedef struct kentry kentry; /* opaque; accessors below */
typedef struct ktable ktable;

/* Per-type hooks, registered by the layer that implements each type. */
typedef struct ks_type_ops {
    const char *name;                        /* TYPE reply: "string", "list", ... */
    void (*free)(void *ptr, int enc);        /* free the value object */
    void *(*dup)(const void *ptr, int enc);  /* deep copy (COPY) */
    size_t (*mem)(const void *ptr, int enc); /* bytes held by the value */
    void (*digest)(const void *ptr, int enc, uint8_t out[20]); /* order-free value digest */
} ks_type_ops;
void ks_register_type(int type, const ks_type_ops *ops);
const ks_type_ops *ks_type(int type);
const char *ks_encoding_name(int type, int enc);

/* ---- entries ---- */
kentry *kentry_new_str(const char *key, size_t klen, const char *val, size_t vlen, int enc,
                       int64_t expire);
/* Takes ownership of ptr (an sstr* for OBJ_STRING/ENC_RAW). */
kentry *kentry_new_ptr(const char *key, size_t klen, int type, int enc, void *ptr, int64_t expire);
/* New entry with another key and the same value (ownership of a pointer
 * value moves); the old entry is freed without its value. */
kentry *kentry_rekey(kentry *e, const char *key, size_t klen);
kentry *kentry_dup(const kentry *e, const char *key, size_t klen); /* deep copy */
void kentry_free(kentry *e);                                       /* with the value */

const char *kentry_key(const kentry *e, size_t *len);
int kentry_type(const kentry *e);
int kentry_enc(const kentry *e);
bool kentry_has_ttl(const kentry *e);
int64_t kentry_expire(const kentry *e); /* -1 when none */
/* String value bytes for OBJ_STRING (any encoding). */
const char *kentry_str(const kentry *e, size_t *len);
void *kentry_ptr(const kentry *e); /* RAW sstr* or the type's object */
/* Rewrites an inline string value in place when the new value fits the
 * entry's allocation; returns false (nothing changed) otherwise. */
bool kentry_str_set_inplace(kentry *e, const char *val, size_t vlen, int enc);
void kentry_set_ptr(kentry *e, void *ptr); /* for pointer encodings only */
/* Changes the encoding of a pointer-encoded value (listpack -> hashtable
 * and back); the caller has already converted the object. */
void kentry_set_enc(kentry *e, int enc);
size_t kentry_mem(const kentry *e); /* allocation + value bytes */
uint32_t kentry_lru(const kentry *e);
void kentry_set_lru(kentry *e, uint32_t v);

/* ---- databases ---- */
typedef struct kdb kdb;
typedef struct keyspace keyspace;

typedef struct kref {
    kdb *db;
    ktable *t;
    uintptr_t *cell;
    kentry *e;
    unsigned slot;
} kref;

enum {
    KS_POLICY_NOEVICTION,
    KS_POLICY_ALLKEYS_LRU,
    KS_POLICY_ALLKEYS_LFU,
    KS_POLICY_ALLKEYS_RANDOM,
    KS_POLICY_VOLATILE_LRU,
    KS_POLICY_VOLATILE_LFU,
    KS_POLICY_VOLATILE_RANDOM,
    KS_POLICY_VOLATILE_TTL
};

typedef struct ks_settings {
    int policy;               /* KS_POLICY_* */
    int lfu_log_factor;       /* lfu-log-factor */
    int lfu_decay_time;       /* lfu-decay-time, minutes */
    int samples;              /* maxmemory-samples */
    int active_expire_effort; /* 1..10 */
    bool report_new;          /* kdb_add calls the hook with KS_EVENT_NEW */
    bool report_miss;         /* read misses call the hook with KS_EVENT_MISS */
} ks_settings;

typedef struct ks_stats {
    uint64_t expired_keys;
    uint64_t evicted_keys;
    uint64_t hits, misses;
    uint64_t expire_cycle_us;
    uint64_t expired_stale_perc_x100; /* last cycle's expired/sampled */
    uint64_t eviction_us;
} ks_stats;

/* Called when a key disappears by expiry or eviction (keyspace events,
 * WATCH, tracking), and, only with settings.report_new, when kdb_add adds a
 * key (KS_EVENT_NEW, for the "new" keyspace notification). May be NULL. */
typedef void ks_key_event_fn(void *ctx, kdb *db, const char *key, size_t klen, int why);
enum { KS_EVENT_EXPIRED, KS_EVENT_EVICTED, KS_EVENT_NEW, KS_EVENT_MISS };

keyspace *ks_create(int ndb);
void ks_destroy(keyspace *ks);
void ks_set_hook(keyspace *ks, ks_key_event_fn *fn, void *ctx);
ks_settings *ks_settings_of(keyspace *ks);
ks_stats *ks_stats_of(keyspace *ks);
int ks_ndb(const keyspace *ks);
kdb *ks_db(keyspace *ks, int idx);
int kdb_id(const kdb *db);
/* Cached "now" in ms, refreshed by ks_set_now() once per command, so a
 * command sees one consistent time (as Redis does). */
void ks_set_now(keyspace *ks, int64_t now_ms);
int64_t ks_now(const keyspace *ks);

uint64_t kdb_size(const kdb *db);
uint64_t kdb_expires(const kdb *db);
uint64_t kdb_avg_ttl(const kdb *db);
uint64_t kdb_slot_size(const kdb *db, unsigned slot);

/* NONOTIFY: a miss counts in the stats but publishes no "keymiss" (OBJECT). */
enum { LOOKUP_NOTOUCH = 1, LOOKUP_NOSTATS = 2, LOOKUP_NOEXPIRE = 4, LOOKUP_NONOTIFY = 8 };
/* Finds a live key: an expired one is deleted on the spot (lazy expiry) and
 * reported missing. Updates LRU/LFU unless NOTOUCH, hit/miss stats for reads
 * unless NOSTATS. Returns the entry (and fills *ref) or NULL. */
kentry *kdb_lookup_read(kdb *db, const char *key, size_t klen, kref *ref, int flags);
kentry *kdb_lookup_write(kdb *db, const char *key, size_t klen, kref *ref);
/* True if the key exists (live), without touching it. */
bool kdb_exists(kdb *db, const char *key, size_t klen);
/* Prefetches the lookup chains of up to KDB_PREFETCH_MAX keys (hint only). */
#define KDB_PREFETCH_MAX 16
void kdb_prefetch(kdb *db, const char *const *keys, const size_t *lens, int n);
/* Adds e; its key must not be present. */
void kdb_add(kdb *db, kentry *e);
/* Replaces ref's entry with ne (same key); the old entry is NOT freed. */
void kdb_replace(kref *ref, kentry *ne);
/* Removes ref's entry; returns it to the caller (who frees or reuses it). */
kentry *kdb_unlink(kref *ref);
void kdb_delete(kref *ref); /* unlink and free */
/* Sets or clears the TTL of ref's entry (may move it; ref is updated). */
void kdb_set_expire(kref *ref, int64_t when_ms);
void kdb_persist(kref *ref);
/* Touches LRU/LFU as an access would. */
void kdb_touch(kdb *db, kentry *e);
uint32_t ks_lfu_freq(keyspace *ks, const kentry *e); /* OBJECT FREQ */
uint64_t ks_idle_ms(keyspace *ks, const kentry *e);  /* OBJECT IDLETIME (ms) */
bool ks_is_expired(const keyspace *ks, const kentry *e);

void kdb_flush(kdb *db);       /* frees everything now */
void kdb_flush_async(kdb *db); /* detaches; freed by ks_background_step */
void ks_swapdb(keyspace *ks, int a, int b);
/* Frees detached tables a slice at a time; returns true while work is left. */
bool ks_background_step(keyspace *ks, uint64_t budget_us);
uint64_t ks_lazyfree_pending(const keyspace *ks);

/* Iteration over every live entry of a db (expired ones skipped, not
 * deleted). The callback must not modify the db. */
typedef void kdb_visit_fn(void *ctx, kentry *e);
void kdb_foreach(kdb *db, kdb_visit_fn *fn, void *ctx);

/* Every entry of one slot of a db, expired ones included (a snapshot
 * writes them with their TTL; loading drops what is expired by then). The
 * callback must not modify the db. */
void kdb_foreach_slot(kdb *db, unsigned slot, kdb_visit_fn *fn, void *ctx);

/* Snapshot guard: while set, before any change to a key of a slot whose
 * bit is set in pending (SG_SLOTS bits) — an add, a write lookup, a
 * replace, an unlink, an expiry, an eviction, a TTL change — fn(ctx, db,
 * slot, key, klen) runs; before a flush or a SWAPDB, fn(ctx, NULL,
 * SG_SLOTS, NULL, 0). fn saves the key's current value (or the whole slot),
 * so a point-in-time image survives later writes. fn must not change the
 * keyspace. fn NULL: off. */
typedef void ks_guard_fn(void *ctx, kdb *db, unsigned slot, const char *key, size_t klen);
void ks_set_guard(keyspace *ks, const uint64_t *pending, ks_guard_fn *fn, void *ctx);

/* SCAN: visits entries of a bounded number of table cells starting at
 * cursor; returns the next cursor (0 when done). An entry present for the
 * whole iteration is visited at least once, across table growth and
 * shrinking. The callback must not modify the db. */
uint64_t kdb_scan(kdb *db, uint64_t cursor, size_t count, kdb_visit_fn *fn, void *ctx);

/* A random live key (NULL if the db is empty). */
kentry *kdb_random(kdb *db);

/* Expiry in the background: examines TTL-tagged cells across dbs for at most
 * budget_us, deleting expired keys. Returns keys expired. */
uint64_t ks_active_expire(keyspace *ks, uint64_t budget_us);
/* Eviction: deletes keys by policy until freed >= want bytes or nothing is
 * left to evict. Returns bytes freed (by used_memory difference). */
size_t ks_evict(keyspace *ks, size_t want);

/* Incremental rehash work for tables in the middle of a resize. */
void ks_rehash_step(keyspace *ks, uint64_t budget_us);

/* Order-independent digest of a db's contents (DEBUG DIGEST): 20 bytes. */
void kdb_digest(kdb *db, uint8_t out[20]);
/* Digest building blocks for types' digest hooks: 20-byte SipHash-based
 * digests with fixed keys (comparable across restarts). _mix is
 * order-dependent (out = H(out || data)); XOR digests for order-free sets. */
void ks_digest_bytes(const void *p, size_t n, uint8_t out[20]);
void ks_digest_mix(uint8_t out[20], const void *p, size_t n);
/* Value digest of one key (DEBUG DIGEST-VALUE). */
void kentry_digest(const kentry *e, bool with_key, uint8_t out[20]);

/* Consistency check of every table (tests and DEBUG): aborts on failure. */
void ks_check(keyspace *ks);

/* varint helpers (LEB128), shared with serializers. */
size_t ks_varint_len(uint64_t v);
size_t ks_varint_put(uint8_t *p, uint64_t v);
size_t ks_varint_get(const uint8_t *p, uint64_t *v);

#endif
