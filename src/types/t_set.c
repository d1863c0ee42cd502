/*
 * t_set: the set type (SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
 * SRANDMEMBER SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
 * SDIFFSTORE SSCAN) with Redis 7.0's semantics, replies and error texts.
 *
 * Encodings, as Redis 7.0 (OBJECT ENCODING is compared with Redis):
 *
 *   intset     a sorted array of integers, every element stored with the
 *              smallest width (2, 4 or 8 bytes) that fits the widest one;
 *              membership by binary search. Used while every member is a
 *              canonical decimal integer (sg_str2ll: no '+', no leading
 *              zeros, no "-0") and the set holds at most
 *              set-max-intset-entries members (capped at 2^30, as Redis).
 *
 *                +-------+-----+--------------------------------+
 *                | width | len | len elements of width bytes    |
 *                | u32   | u32 | ascending, host byte order     |
 *                +-------+-----+--------------------------------+
 *
 *   hashtable  a dict (src/keyspace/dict.h) with DICT_VAL_NONE values.
 *
 * A set goes from intset to hashtable when a non-integer member is added
 * or when it grows past the threshold, and never back, except that results
 * built fresh are encoded from scratch: the *STORE commands and SPOP with a
 * count that keeps few members build a new set starting as an intset, just
 * as Redis does (so SDIFFSTORE, whose second algorithm first copies the
 * whole first set, can give a hashtable holding a few integers, exactly as
 * Redis does). The width of an intset never shrinks on removal.
 *
 * Reply order: Redis returns an intset's members in ascending order and
 * builds SUNION/SDIFF results in a temporary set that starts as an intset;
 * this file does the same, so replies of integer sets match Redis byte for
 * byte. Hashtable order is unspecified (it differs from Redis's).
 *
 * Inside a command a set value is handled as a `setv` (encoding + object
 * pointer); an operation that may reallocate or convert it updates the
 * setv, and the caller stores the result back into the key entry with
 * set_store_back(). Members travel as `selem`s: either bytes (from a client
 * argument or a dict entry) or an integer taken from an intset, formatted
 * only when bytes are needed.
 *
 * Invariants: a stored set is never empty (the key is deleted when its last
 * member goes); an intset's elements are strictly ascending and each fits
 * its width; an intset-encoded set has at most the threshold's members at
 * the time of its last insertion.
 */
#include "../server/config.h"
#include "../server/server.h"
#include "../persist/serialize.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INTSET_MAX_CAP        (1ULL << 30) /* Redis's cap on set-max-intset-entries */
#define SPOP_MOVE_STRATEGY    5            /* Redis's SPOP_MOVE_STRATEGY_MUL */
#define SRANDMEMBER_SUB_STRAT 3            /* Redis's SRANDMEMBER_SUB_STRATEGY_MUL */
#define SSCAN_MAX_COUNT       (1ULL << 40) /* keeps count * 10 from wrapping */

/* ======================================================================
 * intset
 * ====================================================================== */

typedef struct intset {
    uint32_t width; /* bytes per element: 2, 4 or 8 */
    uint32_t len;
    uint8_t data[];
} intset;

static uint32_t is_width_for(int64_t v) {
    if (v < INT32_MIN || v > INT32_MAX) return 8;
    if (v < INT16_MIN || v > INT16_MAX) return 4;
    return 2;
}

static int64_t is_get_w(const intset *is, uint32_t i, uint32_t w) {
    const uint8_t *p = is->data + (size_t)i * w;
    if (w == 8) {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    if (w == 4) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    int16_t v;
    memcpy(&v, p, 2);
    return v;
}

static int64_t is_get(const intset *is, uint32_t i) {
    return is_get_w(is, i, is->width);
}

static void is_set(intset *is, uint32_t i, int64_t v) {
    uint8_t *p = is->data + (size_t)i * is->width;
    if (is->width == 8) {
        memcpy(p, &v, 8);
    } else if (is->width == 4) {
        int32_t x = (int32_t)v;
        memcpy(p, &x, 4);
    } else {
        int16_t x = (int16_t)v;
        memcpy(p, &x, 2);
    }
}

static size_t is_bytes(uint32_t width, uint32_t len) {
    return sizeof(intset) + (size_t)len * width;
}

static intset *is_new(void) {
    intset *is = sg_malloc(sizeof(intset));
    is->width = 2;
    is->len = 0;
    return is;
}

/* Binary search: true if v is present; *pos is its index, or where it
 * would be inserted. */
static bool is_search(const intset *is, int64_t v, uint32_t *pos) {
    uint32_t lo = 0, hi = is->len;
    if (is->len && v > is_get(is, is->len - 1)) {
        *pos = is->len;
        return false;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t m = is_get(is, mid);
        if (m == v) {
            *pos = mid;
            return true;
        }
        if (m < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return false;
}

static bool is_find(const intset *is, int64_t v) {
    uint32_t pos;
    if (is_width_for(v) > is->width) return false;
    return is_search(is, v, &pos);
}

/* Adds v, widening every element first when v needs a wider width (a value
 * that needs it is smaller or larger than all present ones, so it goes at
 * one end). Returns the (possibly moved) intset; *added says whether v was
 * new. */
static intset *is_add(intset *is, int64_t v, bool *added) {
    uint32_t w = is_width_for(v);
    *added = true;
    if (w > is->width) {
        uint32_t oldw = is->width, n = is->len;
        is = sg_realloc(is, is_bytes(w, n + 1));
        is->width = w;
        bool front = v < 0;
        for (uint32_t i = n; i-- > 0;) is_set(is, i + (front ? 1 : 0), is_get_w(is, i, oldw));
        is_set(is, front ? 0 : n, v);
        is->len = n + 1;
        return is;
    }
    uint32_t pos;
    if (is_search(is, v, &pos)) {
        *added = false;
        return is;
    }
    sg_assert(is->len < UINT32_MAX);
    is = sg_realloc(is, is_bytes(is->width, is->len + 1));
    memmove(is->data + (size_t)(pos + 1) * is->width, is->data + (size_t)pos * is->width,
            (size_t)(is->len - pos) * is->width);
    is_set(is, pos, v);
    is->len++;
    return is;
}

static intset *is_remove(intset *is, int64_t v, bool *removed) {
    uint32_t pos;
    *removed = false;
    if (is_width_for(v) > is->width || !is_search(is, v, &pos)) return is;
    memmove(is->data + (size_t)pos * is->width, is->data + (size_t)(pos + 1) * is->width,
            (size_t)(is->len - pos - 1) * is->width);
    is->len--;
    *removed = true;
    return sg_realloc(is, is_bytes(is->width, is->len));
}

/* ======================================================================
 * set values: an intset or a dict behind one small interface
 * ====================================================================== */

typedef struct setv {
    int enc; /* ENC_INTSET or ENC_HASHTABLE */
    void *p; /* intset * or dict * */
} setv;

/* A member: bytes (p, n), or an intset integer (p == NULL, value in ll). */
typedef struct selem {
    const char *p;
    size_t n;
    long long ll;
} selem;

static selem selem_bytes(const char *p, size_t n) {
    return (selem){p, n, 0};
}

/* The member's bytes; an integer is formatted into buf. */
static const char *selem_str(const selem *e, char buf[SG_LONG_STR_SIZE], size_t *n) {
    if (e->p) {
        *n = e->n;
        return e->p;
    }
    *n = (size_t)sg_ll2str(buf, SG_LONG_STR_SIZE, e->ll);
    return buf;
}

/* True (with *v) when the member is a canonical integer. */
static bool selem_int(const selem *e, long long *v) {
    if (!e->p) {
        *v = e->ll;
        return true;
    }
    return sg_str2ll(e->p, e->n, v) != 0;
}

static uint64_t intset_max_entries(void) {
    long long m = cfg.set_max_intset_entries;
    if (m < 0) return 0;
    return (unsigned long long)m > INTSET_MAX_CAP ? INTSET_MAX_CAP : (uint64_t)m;
}

static uint64_t set_size(setv s) {
    return s.enc == ENC_INTSET ? ((intset *)s.p)->len : dict_size((dict *)s.p);
}

static setv set_new_intset(void) {
    return (setv){ENC_INTSET, is_new()};
}

/* Redis's setTypeCreate(): the encoding that can hold `first`. */
static setv set_new_for(const selem *first) {
    long long v;
    if (selem_int(first, &v)) return set_new_intset();
    return (setv){ENC_HASHTABLE, dict_new(DICT_VAL_NONE)};
}

static void set_free_value(setv s) {
    if (s.enc == ENC_INTSET)
        sg_free(s.p);
    else
        dict_free(s.p);
}

static void set_to_dict(setv *s) {
    intset *is = s->p;
    dict *d = dict_new(DICT_VAL_NONE);
    char buf[SG_LONG_STR_SIZE];
    for (uint32_t i = 0; i < is->len; i++) {
        int n = sg_ll2str(buf, sizeof(buf), is_get(is, i));
        dict_add(d, buf, (size_t)n, NULL);
    }
    sg_free(is);
    s->enc = ENC_HASHTABLE;
    s->p = d;
}

static bool set_contains(setv s, const selem *e) {
    if (s.enc == ENC_INTSET) {
        long long v;
        return selem_int(e, &v) && is_find(s.p, v);
    }
    char buf[SG_LONG_STR_SIZE];
    size_t n;
    const char *p = selem_str(e, buf, &n);
    return dict_find(s.p, p, n) != NULL;
}

/* Redis's setTypeAdd(): may widen, reallocate or convert *s. */
static bool set_add(setv *s, const selem *e) {
    long long v;
    if (s->enc == ENC_INTSET) {
        if (selem_int(e, &v)) {
            bool added;
            s->p = is_add(s->p, v, &added);
            if (added && ((intset *)s->p)->len > intset_max_entries()) set_to_dict(s);
            return added;
        }
        set_to_dict(s);
    }
    char buf[SG_LONG_STR_SIZE];
    size_t n;
    const char *p = selem_str(e, buf, &n);
    bool created;
    dict_add(s->p, p, n, &created);
    return created;
}

static bool set_remove(setv *s, const selem *e) {
    if (s->enc == ENC_INTSET) {
        long long v;
        bool removed = false;
        if (selem_int(e, &v)) s->p = is_remove(s->p, v, &removed);
        return removed;
    }
    char buf[SG_LONG_STR_SIZE];
    size_t n;
    const char *p = selem_str(e, buf, &n);
    return dict_delete(s->p, p, n);
}

/* A uniformly random entry of a non-empty dict. dict_random() returns the
 * first entry at or after a random cell, which favours entries that follow
 * runs of empty cells; this draws a random cell and keeps it only when it is
 * occupied (dict_next() from that cell stops right after it exactly then).
 * The table is at least 1/8 full except at its minimum size, so a few draws
 * suffice; after 64 misses it falls back to dict_random(). */
static dict_entry *dict_fair_random(const dict *d) {
    for (int tries = 0; tries < 64; tries++) {
        uint64_t cell = sg_rand64() & d->mask, pos = cell;
        dict_entry *de = dict_next(d, &pos);
        if (de && pos == cell + 1) return de;
    }
    return dict_random(d);
}

/* A random member of a non-empty set. A dict member's bytes stay valid
 * until the set changes. */
static selem set_random(setv s) {
    if (s.enc == ENC_INTSET) {
        intset *is = s.p;
        return (selem){NULL, 0, is_get(is, (uint32_t)sg_rand_range(is->len))};
    }
    dict_entry *de = dict_fair_random(s.p);
    sg_assert(de != NULL);
    return selem_bytes(de->key, de->klen);
}

/* Iteration in the encoding's order (ascending for an intset). The set
 * must not change while an iterator is in use. */
typedef struct set_iter {
    setv s;
    uint64_t pos;
} set_iter;

static bool set_next(set_iter *it, selem *out) {
    if (it->s.enc == ENC_INTSET) {
        intset *is = it->s.p;
        if (it->pos >= is->len) return false;
        *out = (selem){NULL, 0, is_get(is, (uint32_t)it->pos++)};
        return true;
    }
    dict_entry *de = dict_next(it->s.p, &it->pos);
    if (!de) return false;
    *out = selem_bytes(de->key, de->klen);
    return true;
}

/* ======================================================================
 * keyspace hooks
 * ====================================================================== */

static void set_hook_free(void *ptr, int enc) {
    set_free_value((setv){enc, ptr});
}

static void *set_hook_dup(const void *ptr, int enc) {
    if (enc == ENC_INTSET) {
        const intset *is = ptr;
        return sg_memdup(is, is_bytes(is->width, is->len));
    }
    return dict_dup(ptr);
}

static size_t set_hook_mem(const void *ptr, int enc) {
    return enc == ENC_INTSET ? sg_alloc_size(ptr) : dict_mem(ptr);
}

/* XOR of the members' digests: independent of order and encoding. */
static void set_hook_digest(const void *ptr, int enc, uint8_t out[20]) {
    memset(out, 0, 20);
    set_iter it = {{enc, (void *)ptr}, 0};
    selem e;
    while (set_next(&it, &e)) {
        char buf[SG_LONG_STR_SIZE];
        size_t n;
        const char *p = selem_str(&e, buf, &n);
        uint8_t d[20];
        ks_digest_bytes(p, n, d);
        for (int i = 0; i < 20; i++) out[i] ^= d[i];
    }
}

void set_type_register(void) {
    static const ks_type_ops ops = {
        .name = "set",
        .free = set_hook_free,
        .dup = set_hook_dup,
        .mem = set_hook_mem,
        .digest = set_hook_digest,
    };
    ks_register_type(OBJ_SET, &ops);
}

/* ======================================================================
 * command helpers
 * ====================================================================== */

static setv set_of(const kentry *e) {
    return (setv){kentry_enc(e), kentry_ptr(e)};
}

/* Records s (the value of e after an operation) in the entry. */
static void set_store_back(kentry *e, setv s) {
    if (kentry_ptr(e) != s.p) kentry_set_ptr(e, s.p);
    if (kentry_enc(e) != s.enc) kentry_set_enc(e, s.enc);
}

static void reply_selem(client *c, const selem *e) {
    if (e->p)
        reply_bulk(c, e->p, e->n);
    else
        reply_bulk_ll(c, e->ll);
}

/* Replies every member of s as a RESP3 set (array in RESP2). */
static void reply_set_members(client *c, setv s) {
    reply_set(c, (long long)set_size(s));
    set_iter it = {s, 0};
    selem e;
    while (set_next(&it, &e)) reply_selem(c, &e);
}

/* Redis's setKey() for a set result: replaces any value at key (of any
 * type, dropping its TTL) with s, which the db then owns. */
static void store_set_key(client *c, const char *key, size_t klen, setv s) {
    kref r;
    kentry *old = kdb_lookup_write(c->db, key, klen, &r);
    kentry *ne = kentry_new_ptr(key, klen, OBJ_SET, s.enc, s.p, -1);
    if (old) { /* overwrite, as Redis's setKey: no "new" event */
        kentry_set_lru(ne, kentry_lru(old));
        kdb_replace(&r, ne);
        kentry_free(old);
    } else {
        kdb_add(c->db, ne);
    }
}

/* Deletes key if present; returns whether it was. */
static bool delete_key(client *c, const char *key, size_t klen) {
    kref r;
    if (!kdb_lookup_write(c->db, key, klen, &r)) return false;
    kdb_delete(&r);
    return true;
}

/* Stores a *STORE result (or deletes dst when it is empty) and replies the
 * cardinality, as Redis's sinterGenericCommand / sunionDiffGenericCommand. */
static void store_result(client *c, const char *dst, size_t dlen, setv result, const char *event) {
    uint64_t n = set_size(result);
    if (n > 0) {
        store_set_key(c, dst, dlen, result);
        server_key_modified(c, c->db, dst, dlen);
        notify_keyspace_event(c->srv, NOTIFY_SET, event, c->dbid, dst, dlen);
        server_dirty(c->srv, 1);
        reply_int(c, (long long)n);
        return;
    }
    set_free_value(result);
    reply_int(c, 0);
    if (delete_key(c, dst, dlen)) {
        server_key_modified(c, c->db, dst, dlen);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, dst, dlen);
        server_dirty(c->srv, 1);
    }
}

/* Stop condition of the one unbounded reply here, SRANDMEMBER with a
 * negative count (up to 2^63-1 members): true once nothing more can reach
 * the client (closed by an output-buffer limit, CLIENT REPLY OFF/SKIP). With
 * no output limit configured (Redis's default for normal clients), Redis
 * grows until the kernel kills it; Surge instead closes the client when the
 * pending reply passes SRANDMEMBER_MAX_PENDING. */
#define SRANDMEMBER_MAX_PENDING (1ULL << 30)
static bool reply_stopped(client *c) {
    if (c->flags & (CL_CLOSE_ASAP | CL_REPLY_OFF | CL_REPLY_SKIP)) return true;
    if (client_output_bytes(c) <= SRANDMEMBER_MAX_PENDING) return false;
    sg_log(SG_LOG_WARNING,
           "Client id=%llu addr=%s closed: SRANDMEMBER reply over %llu bytes pending",
           (unsigned long long)c->id, c->addr, (unsigned long long)SRANDMEMBER_MAX_PENDING);
    client_close_async(c);
    return true;
}

/* ======================================================================
 * SADD SREM SMOVE SISMEMBER SMISMEMBER SCARD SMEMBERS
 * ====================================================================== */

void sadd_command(client *c) {
    kref ref;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    long long added = 0;
    if (!e) {
        selem first = selem_bytes(c->argv[2], c->argvlen[2]);
        setv s = set_new_for(&first);
        for (int j = 2; j < c->argc; j++) {
            selem m = selem_bytes(c->argv[j], c->argvlen[j]);
            if (set_add(&s, &m)) added++;
        }
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_SET, s.enc, s.p, -1));
    } else {
        setv s = set_of(e);
        for (int j = 2; j < c->argc; j++) {
            selem m = selem_bytes(c->argv[j], c->argvlen[j]);
            if (set_add(&s, &m)) added++;
        }
        set_store_back(e, s);
    }
    if (added) {
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_SET, "sadd", c->dbid, c->argv[1], c->argvlen[1]);
        server_dirty(c->srv, added);
    }
    reply_int(c, added);
}

void srem_command(client *c) {
    kref ref;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    setv s = set_of(e);
    long long deleted = 0;
    bool emptied = false;
    for (int j = 2; j < c->argc; j++) {
        selem m = selem_bytes(c->argv[j], c->argvlen[j]);
        if (!set_remove(&s, &m)) continue;
        deleted++;
        if (set_size(s) == 0) {
            emptied = true;
            break;
        }
    }
    set_store_back(e, s);
    if (emptied) kdb_delete(&ref);
    if (deleted) {
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_SET, "srem", c->dbid, c->argv[1], c->argvlen[1]);
        if (emptied)
            notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1],
                                  c->argvlen[1]);
        server_dirty(c->srv, deleted);
    }
    reply_int(c, deleted);
}

/* SMOVE source destination member */
void smove_command(client *c) {
    kdb *db = c->db;
    const char *src = c->argv[1], *dst = c->argv[2];
    size_t slen = c->argvlen[1], dlen = c->argvlen[2];
    kref sref, dref;
    kentry *se = kdb_lookup_write(db, src, slen, &sref);
    kentry *de = kdb_lookup_write(db, dst, dlen, &dref);
    if (!se) {
        reply_int(c, 0);
        return;
    }
    /* The second lookup may have deleted an expired destination: find the
     * source again so that its ref is current. */
    se = kdb_lookup_read(db, src, slen, &sref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    sg_assert(se != NULL);
    if (kentry_type(se) != OBJ_SET || (de && kentry_type(de) != OBJ_SET)) {
        reply_wrongtype(c);
        return;
    }
    selem m = selem_bytes(c->argv[3], c->argvlen[3]);
    if (de && slen == dlen && memcmp(src, dst, slen) == 0) {
        reply_int(c, set_contains(set_of(se), &m) ? 1 : 0);
        return;
    }
    setv s = set_of(se);
    if (!set_remove(&s, &m)) {
        reply_int(c, 0);
        return;
    }
    set_store_back(se, s);
    bool emptied = set_size(s) == 0;
    if (emptied) kdb_delete(&sref);
    server_key_modified(c, db, src, slen);
    notify_keyspace_event(c->srv, NOTIFY_SET, "srem", kdb_id(db), src, slen);
    if (emptied) notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", kdb_id(db), src, slen);
    server_dirty(c->srv, 1);

    de = kdb_lookup_read(db, dst, dlen, &dref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    bool added;
    if (!de) {
        setv d = set_new_for(&m);
        added = set_add(&d, &m);
        kdb_add(db, kentry_new_ptr(dst, dlen, OBJ_SET, d.enc, d.p, -1));
    } else {
        setv d = set_of(de);
        added = set_add(&d, &m);
        set_store_back(de, d);
    }
    if (added) {
        server_key_modified(c, db, dst, dlen);
        notify_keyspace_event(c->srv, NOTIFY_SET, "sadd", kdb_id(db), dst, dlen);
        server_dirty(c->srv, 1);
    }
    reply_int(c, 1);
}

void sismember_command(client *c) {
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    selem m = selem_bytes(c->argv[2], c->argvlen[2]);
    reply_int(c, e && set_contains(set_of(e), &m) ? 1 : 0);
}

void smismember_command(client *c) {
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    reply_array(c, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        selem m = selem_bytes(c->argv[j], c->argvlen[j]);
        reply_int(c, e && set_contains(set_of(e), &m) ? 1 : 0);
    }
}

void scard_command(client *c) {
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    reply_int(c, e ? (long long)set_size(set_of(e)) : 0);
}

/* ======================================================================
 * SINTER SINTERCARD SINTERSTORE SMEMBERS
 * ====================================================================== */

/* One source of a multi-key operation: its value (p NULL: no such key) and
 * its position among the arguments (a tie-breaker that makes the
 * cardinality sort stable, as glibc's qsort is for Redis). */
typedef struct set_src {
    setv s;
    int idx;
} set_src;

/* Looks up keys argv[first .. first+n-1]; a missing key gets p == NULL.
 * Replies WRONGTYPE and returns NULL at the first key of another type.
 * The values stay valid for the rest of the command as long as the db is
 * not modified (the lookups only delete expired keys, never one returned
 * earlier). */
static set_src *lookup_sources_or_reply(client *c, int first, int n, int *missing) {
    set_src *v = sg_malloc(sizeof(set_src) * (size_t)n);
    *missing = 0;
    for (int j = 0; j < n; j++) {
        kref r;
        kentry *e = kdb_lookup_read(c->db, c->argv[first + j], c->argvlen[first + j], &r, 0);
        v[j].idx = j;
        if (!e) {
            v[j].s = (setv){0, NULL};
            (*missing)++;
            continue;
        }
        if (kentry_type(e) != OBJ_SET) {
            sg_free(v);
            reply_wrongtype(c);
            return NULL;
        }
        v[j].s = set_of(e);
    }
    return v;
}

static int cmp_card_asc(const void *a, const void *b) {
    const set_src *x = a, *y = b;
    uint64_t sx = set_size(x->s), sy = set_size(y->s);
    if (sx != sy) return sx < sy ? -1 : 1;
    return x->idx - y->idx;
}

static int cmp_card_desc(const void *a, const void *b) {
    const set_src *x = a, *y = b;
    uint64_t sx = x->s.p ? set_size(x->s) : 0, sy = y->s.p ? set_size(y->s) : 0;
    if (sx != sy) return sx > sy ? -1 : 1;
    return x->idx - y->idx;
}

enum { INTER_REPLY, INTER_CARD, INTER_STORE };

/* Redis's sinterGenericCommand(): keys argv[first .. first+n-1]; mode says
 * what to do with the intersection; limit (INTER_CARD) stops counting there,
 * 0 for no limit; dst is the destination key of INTER_STORE. */
static void sinter_generic(client *c, int first, int n, int mode, unsigned long long limit,
                           const char *dst, size_t dlen) {
    int missing;
    set_src *v = lookup_sources_or_reply(c, first, n, &missing);
    if (!v) return;
    if (missing) {
        sg_free(v);
        if (mode == INTER_STORE) {
            if (delete_key(c, dst, dlen)) {
                server_key_modified(c, c->db, dst, dlen);
                notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, dst, dlen);
                server_dirty(c->srv, 1);
            }
            reply_int(c, 0);
        } else if (mode == INTER_CARD) {
            reply_int(c, 0);
        } else {
            reply_set(c, 0);
        }
        return;
    }
    qsort(v, (size_t)n, sizeof(set_src), cmp_card_asc);

    setv result = {0, NULL};
    selem *found = NULL; /* INTER_REPLY: members to reply */
    size_t nfound = 0, capfound = 0;
    unsigned long long card = 0;
    if (mode == INTER_STORE) result = set_new_intset();

    set_iter it = {v[0].s, 0};
    selem e;
    while (set_next(&it, &e)) {
        int j;
        for (j = 1; j < n; j++) {
            if (v[j].s.p == v[0].s.p) continue;
            if (!set_contains(v[j].s, &e)) break;
        }
        if (j < n) continue;
        if (mode == INTER_CARD) {
            card++;
            if (limit && card >= limit) break;
        } else if (mode == INTER_REPLY) {
            if (nfound == capfound) {
                capfound = capfound ? capfound * 2 : 16;
                found = sg_realloc(found, sizeof(selem) * capfound);
            }
            found[nfound++] = e;
        } else {
            set_add(&result, &e);
        }
    }
    sg_free(v);

    if (mode == INTER_CARD) {
        reply_int(c, (long long)card);
    } else if (mode == INTER_REPLY) {
        reply_set(c, (long long)nfound);
        for (size_t i = 0; i < nfound; i++) reply_selem(c, &found[i]);
        sg_free(found);
    } else {
        store_result(c, dst, dlen, result, "sinterstore");
    }
}

void smembers_command(client *c) {
    sinter_generic(c, 1, 1, INTER_REPLY, 0, NULL, 0);
}

void sinter_command(client *c) {
    sinter_generic(c, 1, c->argc - 1, INTER_REPLY, 0, NULL, 0);
}

void sinterstore_command(client *c) {
    sinter_generic(c, 2, c->argc - 2, INTER_STORE, 0, c->argv[1], c->argvlen[1]);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit] */
void sintercard_command(client *c) {
    long long numkeys, limit = 0;
    if (!sg_str2ll(c->argv[1], c->argvlen[1], &numkeys) || numkeys < 1) {
        reply_error(c, "ERR numkeys should be greater than 0");
        return;
    }
    if (numkeys > c->argc - 2) {
        reply_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    for (int j = 2 + (int)numkeys; j < c->argc; j++) {
        if (arg_is(c, j, "limit") && j + 1 < c->argc) {
            j++;
            if (!sg_str2ll(c->argv[j], c->argvlen[j], &limit) || limit < 0) {
                reply_error(c, "ERR LIMIT can't be negative");
                return;
            }
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    sinter_generic(c, 2, (int)numkeys, INTER_CARD, (unsigned long long)limit, NULL, 0);
}

/* ======================================================================
 * SUNION SUNIONSTORE SDIFF SDIFFSTORE
 * ====================================================================== */

enum { OP_UNION, OP_DIFF };

/* Redis's sunionDiffGenericCommand() result: a new set that starts as an
 * intset (so its encoding and order are Redis's), built with the same
 * algorithm Redis picks, which decides the encoding of a DIFF result. */
static setv union_diff(set_src *v, int n, int op) {
    setv dst = set_new_intset();
    bool sameset = false;
    for (int j = 1; j < n; j++)
        if (v[j].s.p && v[j].s.p == v[0].s.p) sameset = true;

    if (op == OP_UNION) {
        for (int j = 0; j < n; j++) {
            if (!v[j].s.p) continue;
            set_iter it = {v[j].s, 0};
            selem e;
            while (set_next(&it, &e)) set_add(&dst, &e);
        }
        return dst;
    }
    if (!v[0].s.p || sameset) return dst;

    /* Algorithm 1 walks the first set probing the others (O(N*M)); algorithm
     * 2 copies the first set and removes the others' members (O(total)). */
    unsigned long long work1 = 0, work2 = 0;
    for (int j = 0; j < n; j++) {
        if (!v[j].s.p) continue;
        work1 += set_size(v[0].s);
        work2 += set_size(v[j].s);
    }
    work1 /= 2;
    if (work1 <= work2) {
        if (n > 1) qsort(v + 1, (size_t)n - 1, sizeof(set_src), cmp_card_desc);
        set_iter it = {v[0].s, 0};
        selem e;
        while (set_next(&it, &e)) {
            int j;
            for (j = 1; j < n; j++) {
                if (!v[j].s.p) continue;
                if (v[j].s.p == v[0].s.p || set_contains(v[j].s, &e)) break;
            }
            if (j == n) set_add(&dst, &e);
        }
        return dst;
    }
    for (int j = 0; j < n; j++) {
        if (!v[j].s.p) continue;
        set_iter it = {v[j].s, 0};
        selem e;
        while (set_next(&it, &e)) {
            if (j == 0)
                set_add(&dst, &e);
            else
                set_remove(&dst, &e);
        }
        if (set_size(dst) == 0) break;
    }
    return dst;
}

static void sunion_diff_generic(client *c, int first, int n, int op, const char *dst, size_t dlen) {
    int missing;
    set_src *v = lookup_sources_or_reply(c, first, n, &missing);
    if (!v) return;
    setv result = union_diff(v, n, op);
    sg_free(v);
    if (!dst) {
        reply_set_members(c, result);
        set_free_value(result);
        return;
    }
    store_result(c, dst, dlen, result, op == OP_UNION ? "sunionstore" : "sdiffstore");
}

void sunion_command(client *c) {
    sunion_diff_generic(c, 1, c->argc - 1, OP_UNION, NULL, 0);
}

void sunionstore_command(client *c) {
    sunion_diff_generic(c, 2, c->argc - 2, OP_UNION, c->argv[1], c->argvlen[1]);
}

void sdiff_command(client *c) {
    sunion_diff_generic(c, 1, c->argc - 1, OP_DIFF, NULL, 0);
}

void sdiffstore_command(client *c) {
    sunion_diff_generic(c, 2, c->argc - 2, OP_DIFF, c->argv[1], c->argvlen[1]);
}

/* ======================================================================
 * SPOP SRANDMEMBER
 * ====================================================================== */

/* SPOP key count: Redis 7.0's three cases. */
/* The log records SPOP's effect, not the random choice (src/persist):
 * "SREM key member" per popped member, or "DEL key" (member NULL). */
static void spop_propagate(client *c, const char *cmd, const char *member, size_t n) {
    const char *argv[3] = {cmd, c->argv[1], member};
    size_t lens[3] = {strlen(cmd), c->argvlen[1], n};
    server_propagate_override(c, member ? 3 : 2, argv, lens);
}

static void spop_with_count(client *c) {
    long long count;
    if (!sg_str2ll(c->argv[2], c->argvlen[2], &count) || count < 0) {
        reply_error(c, "ERR value is out of range, must be positive");
        return;
    }
    kref ref;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e || count == 0) {
        reply_set(c, 0);
        return;
    }
    setv s = set_of(e);
    uint64_t size = set_size(s);

    if ((uint64_t)count >= size) {
        /* Case 1: everything. Redis replies through its SUNION code, that is
         * in the order of a freshly built set. */
        set_src one = {s, 0};
        setv all = union_diff(&one, 1, OP_UNION);
        reply_set_members(c, all);
        set_free_value(all);
        spop_propagate(c, "DEL", NULL, 0);
        kdb_delete(&ref);
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_SET, "spop", c->dbid, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1], c->argvlen[1]);
        server_dirty(c->srv, (long long)size);
        return;
    }

    uint64_t remaining = size - (uint64_t)count;
    reply_set(c, count);
    if (remaining * SPOP_MOVE_STRATEGY > (uint64_t)count) {
        /* Case 2: few to pop: pop them one at a time. */
        for (long long i = 0; i < count; i++) {
            selem m = set_random(s);
            char buf[SG_LONG_STR_SIZE];
            size_t n;
            const char *p = selem_str(&m, buf, &n);
            reply_bulk(c, p, n);
            spop_propagate(c, "SREM", p, n);
            /* m may point into the dict entry being deleted: remove by the
             * integer, or by a copy of the bytes. */
            if (!m.p) {
                set_remove(&s, &m);
            } else {
                sstr *copy = sstr_new(p, n);
                selem k = selem_bytes(copy->buf, copy->len);
                set_remove(&s, &k);
                sstr_free(copy);
            }
        }
        set_store_back(e, s);
    } else {
        /* Case 3: few to keep: move the kept members to a new set (built
         * fresh, so possibly an intset again), reply what is left. */
        setv keep = {0, NULL};
        for (uint64_t i = 0; i < remaining; i++) {
            selem m = set_random(s);
            char buf[SG_LONG_STR_SIZE];
            size_t n;
            const char *p = selem_str(&m, buf, &n);
            sstr *copy = sstr_new(p, n);
            selem k = selem_bytes(copy->buf, copy->len);
            if (!keep.p) keep = set_new_for(&k);
            set_add(&keep, &k);
            set_remove(&s, &k);
            sstr_free(copy);
        }
        set_iter it = {s, 0};
        selem m;
        while (set_next(&it, &m)) {
            reply_selem(c, &m);
            char buf[SG_LONG_STR_SIZE];
            size_t n;
            const char *p = selem_str(&m, buf, &n);
            spop_propagate(c, "SREM", p, n);
        }
        set_free_value(s);
        kentry_set_ptr(e, keep.p);
        kentry_set_enc(e, keep.enc);
    }
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_SET, "spop", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, count);
}

/* SPOP key [count] */
void spop_command(client *c) {
    if (c->argc == 3) {
        spop_with_count(c);
        return;
    }
    if (c->argc > 3) {
        reply_syntax_error(c);
        return;
    }
    kref ref;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e) {
        reply_null(c);
        return;
    }
    setv s = set_of(e);
    selem m = set_random(s);
    char buf[SG_LONG_STR_SIZE];
    size_t n;
    const char *p = selem_str(&m, buf, &n);
    sstr *copy = sstr_new(p, n);
    selem k = selem_bytes(copy->buf, copy->len);
    set_remove(&s, &k);
    spop_propagate(c, "SREM", copy->buf, copy->len);
    reply_bulk(c, copy->buf, copy->len);
    sstr_free(copy);
    set_store_back(e, s);
    bool emptied = set_size(s) == 0;
    if (emptied) kdb_delete(&ref);
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_SET, "spop", c->dbid, c->argv[1], c->argvlen[1]);
    if (emptied)
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
}

/* SRANDMEMBER key count: Redis 7.0's four cases; replies are arrays. */
static void srandmember_with_count(client *c) {
    long long l;
    if (!arg_ll_or_reply(c, 2, &l, NULL)) return;
    if (l == LLONG_MIN) {
        reply_error(c, "ERR value is out of range, value must between -9223372036854775807 and "
                       "9223372036854775807");
        return;
    }
    bool uniq = l >= 0;
    uint64_t count = (uint64_t)(l >= 0 ? l : -l);
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e || count == 0) {
        reply_array(c, 0);
        return;
    }
    setv s = set_of(e);
    uint64_t size = set_size(s);

    if (!uniq || count == 1) {
        /* Case 1: repeats allowed. The reply can be huge: stop once it can
         * no longer reach the client (output limit, CLIENT REPLY OFF). */
        reply_array(c, (long long)count);
        while (count-- && !reply_stopped(c)) {
            selem m = set_random(s);
            reply_selem(c, &m);
        }
        return;
    }
    if (count >= size) {
        /* Case 2: the whole set. */
        reply_array(c, (long long)size);
        set_iter it = {s, 0};
        selem m;
        while (set_next(&it, &m)) reply_selem(c, &m);
        return;
    }
    if (count * SRANDMEMBER_SUB_STRAT > size) {
        /* Case 3: count is close to size: take every member, shuffle the
         * first count into place (partial Fisher-Yates). */
        selem *all = sg_malloc(sizeof(selem) * size);
        set_iter it = {s, 0};
        uint64_t i = 0;
        while (set_next(&it, &all[i])) i++;
        for (i = 0; i < count; i++) {
            uint64_t j = i + sg_rand_range(size - i);
            selem t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        reply_array(c, (long long)count);
        for (i = 0; i < count; i++) reply_selem(c, &all[i]);
        sg_free(all);
        return;
    }
    /* Case 4: a big set: draw until count distinct members are found. */
    dict *seen = dict_new(DICT_VAL_NONE);
    while (dict_size(seen) < count) {
        selem m = set_random(s);
        char buf[SG_LONG_STR_SIZE];
        size_t n;
        const char *p = selem_str(&m, buf, &n);
        dict_add(seen, p, n, NULL);
    }
    reply_array(c, (long long)count);
    uint64_t pos = 0;
    dict_entry *de;
    while ((de = dict_next(seen, &pos)) != NULL) reply_bulk(c, de->key, de->klen);
    dict_free(seen);
}

/* SRANDMEMBER key [count] */
void srandmember_command(client *c) {
    if (c->argc == 3) {
        srandmember_with_count(c);
        return;
    }
    if (c->argc > 3) {
        reply_syntax_error(c);
        return;
    }
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e) {
        reply_null(c);
        return;
    }
    selem m = set_random(set_of(e));
    reply_selem(c, &m);
}

/* ======================================================================
 * SSCAN
 * ====================================================================== */

/* Members visited by dict_scan; the pattern is applied afterwards, since
 * Redis counts visited members, matching or not, against COUNT. */
typedef struct sscan_state {
    dict_entry **found;
    size_t n, cap;
} sscan_state;

static void sscan_visit(void *ctx, dict_entry *de) {
    sscan_state *st = ctx;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->found = sg_realloc(st->found, sizeof(dict_entry *) * st->cap);
    }
    st->found[st->n++] = de;
}

/* SSCAN key cursor [MATCH pattern] [COUNT count]
 * Reply: [next cursor as a bulk string, [members...]]. An intset is
 * returned whole with cursor 0, as Redis does. */
void sscan_command(client *c) {
    uint64_t cursor;
    if (!arg_cursor_or_reply(c, 2, &cursor)) return;
    kref ref;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_SET, &ref, &wrong);
    if (wrong) return;
    if (!e) {
        reply_array(c, 2);
        reply_bulk(c, "0", 1);
        reply_array(c, 0);
        return;
    }
    long long count = 10;
    const char *pat = NULL; /* NULL: every member */
    size_t plen = 0;
    sscan_state st = {0};
    for (int i = 3; i < c->argc; i += 2) {
        bool more = i + 1 < c->argc;
        if (arg_is(c, i, "count") && more) {
            if (!arg_ll_or_reply(c, i + 1, &count, NULL)) return;
            if (count < 1) {
                reply_syntax_error(c);
                return;
            }
        } else if (arg_is(c, i, "match") && more) {
            bool all = c->argvlen[i + 1] == 1 && c->argv[i + 1][0] == '*';
            pat = all ? NULL : c->argv[i + 1];
            plen = all ? 0 : c->argvlen[i + 1];
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    setv s = set_of(e);
    if (s.enc == ENC_INTSET) {
        /* Two passes (count the matches, then reply them) so that nothing
         * is allocated per member. */
        intset *is = s.p;
        char buf[SG_LONG_STR_SIZE];
        uint32_t kept = is->len;
        if (pat) {
            kept = 0;
            for (uint32_t i = 0; i < is->len; i++) {
                int n = sg_ll2str(buf, sizeof(buf), is_get(is, i));
                if (sg_glob_match(pat, plen, buf, (size_t)n, false)) kept++;
            }
        }
        reply_array(c, 2);
        reply_bulk(c, "0", 1);
        reply_array(c, kept);
        for (uint32_t i = 0; i < is->len; i++) {
            int n = sg_ll2str(buf, sizeof(buf), is_get(is, i));
            if (!pat || sg_glob_match(pat, plen, buf, (size_t)n, false))
                reply_bulk(c, buf, (size_t)n);
        }
        return;
    }
    if ((unsigned long long)count > SSCAN_MAX_COUNT) count = (long long)SSCAN_MAX_COUNT;
    uint64_t budget = (uint64_t)count * 10;
    do {
        cursor = dict_scan(s.p, cursor, sscan_visit, &st);
    } while (cursor && budget-- && st.n < (uint64_t)count);
    if (pat) {
        size_t kept = 0;
        for (size_t i = 0; i < st.n; i++)
            if (sg_glob_match(pat, plen, st.found[i]->key, st.found[i]->klen, false))
                st.found[kept++] = st.found[i];
        st.n = kept;
    }
    char buf[SG_LONG_STR_SIZE];
    int n = sg_ull2str(buf, sizeof(buf), cursor);
    reply_array(c, 2);
    reply_bulk(c, buf, (size_t)n);
    reply_array(c, (long long)st.n);
    for (size_t i = 0; i < st.n; i++) reply_bulk(c, st.found[i]->key, st.found[i]->klen);
    sg_free(st.found);
}

/* ---- read access for other types' commands (ZUNION/ZINTER/ZDIFF take
 * plain sets as inputs with every member scoring 1) ---- */

uint64_t set_type_card(const void *ptr, int enc);
bool set_type_contains(const void *ptr, int enc, const char *m, size_t n);
void set_type_foreach(const void *ptr, int enc, void (*fn)(void *, const char *, size_t),
                      void *ctx);

uint64_t set_type_card(const void *ptr, int enc) {
    return set_size((setv){enc, (void *)(uintptr_t)ptr});
}

bool set_type_contains(const void *ptr, int enc, const char *m, size_t n) {
    selem e = selem_bytes(m, n);
    return set_contains((setv){enc, (void *)(uintptr_t)ptr}, &e);
}

void set_type_foreach(const void *ptr, int enc, void (*fn)(void *, const char *, size_t),
                      void *ctx) {
    set_iter it = {{enc, (void *)(uintptr_t)ptr}, 0};
    selem e;
    char buf[SG_LONG_STR_SIZE];
    while (set_next(&it, &e)) {
        size_t n;
        const char *p = selem_str(&e, buf, &n);
        fn(ctx, p, n);
    }
}

/* ======================================================================
 * DUMP/RESTORE surface (persist/serialize.c): the one exported pair, a
 * walk over the members and a build from members (encoding chosen as a
 * sequence of SADDs would). Returns NULL on a duplicate member.
 * ====================================================================== */

void set_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx) {
    set_iter it = {{enc, (void *)ptr}, 0};
    selem e;
    while (set_next(&it, &e)) {
        char buf[SG_LONG_STR_SIZE];
        size_t n;
        const char *p = selem_str(&e, buf, &n);
        fn(ctx, p, n, NULL, 0, 0);
    }
}

void *set_type_build(const persist_elem *v, size_t n, int *enc) {
    if (!n) return NULL;
    selem first = selem_bytes(v[0].a, v[0].al);
    setv s = set_new_for(&first);
    for (size_t i = 0; i < n; i++) {
        selem e = selem_bytes(v[i].a, v[i].al);
        if (!set_add(&s, &e)) {
            set_free_value(s);
            return NULL;
        }
    }
    *enc = s.enc;
    return s.p;
}
