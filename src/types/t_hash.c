/*
 * Hash commands: HSET/HGET and friends, counters (HINCRBY, HINCRBYFLOAT),
 * whole-hash reads, HRANDFIELD and HSCAN, with Redis 7.0's replies, error
 * texts and argument-checking order.
 *
 * Encodings. A hash is one of two objects behind its key entry:
 *
 *   ENC_LISTPACK  a pack of alternating field, value entries, in insertion
 *                 order (an update rewrites the value in place):
 *
 *                   +-----+--------+--------+--------+--------+-----+
 *                   | hdr | field0 | value0 | field1 | value1 | ... |
 *                   +-----+--------+--------+--------+--------+-----+
 *
 *   ENC_HASHTABLE a dict with DICT_VAL_STR values (each field and its value
 *                 in one dict entry).
 *
 * A new hash starts packed. It becomes a hashtable, for good, when it would
 * hold more than hash-max-listpack-entries fields, or when a field or value
 * longer than hash-max-listpack-value bytes is about to be written (HSET
 * looks at all of its arguments before writing any, as Redis's
 * hashTypeTryConversion does; the counters check the field and the new
 * value), or when the pack would pass 1 GB. Redis 7.0 never converts a hash
 * back, so neither does Surge: OBJECT ENCODING matches Redis after any
 * sequence of commands.
 *
 * Invariants: a hash key is never empty (the command that removes the last
 * field deletes the key); a packed hash holds an even number of entries and
 * no field twice; every pointer change of the object is stored back with
 * kentry_set_ptr before the command returns.
 *
 * Random fields (HRANDFIELD) follow Redis's four cases: a negative count
 * samples with repetition; a count at least the size returns the whole hash
 * in its iteration order; otherwise a uniform sample without repetition.
 * Loops that produce one reply element per step stop early when the client
 * is being closed (output-buffer limit) or its replies are discarded, so a
 * count of -2^63 cannot hold the server.
 */
#include "../server/config.h"
#include "../server/server.h"
#include "../persist/serialize.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Redis's LISTPACK_MAX_SAFETY_SIZE: a pack never grows past this. */
#define HASH_PACK_SAFETY_BYTES (1ULL << 30)

/* ---- the object layer ---------------------------------------------------- */

static bool too_long_for_pack(size_t n) {
    return (unsigned long long)n > (unsigned long long)cfg.hash_max_listpack_value;
}

static uint64_t hash_len(const kentry *e) {
    if (kentry_enc(e) == ENC_LISTPACK) return pack_count(kentry_ptr(e)) / 2;
    return dict_size(kentry_ptr(e));
}

/* Converts a packed hash to a hashtable (no-op for a hashtable). */
static void hash_convert(kentry *e) {
    if (kentry_enc(e) != ENC_LISTPACK) return;
    pack *p = kentry_ptr(e);
    dict *d = dict_new(DICT_VAL_STR);
    for (size_t off = pack_first(p); off != PACK_END;) {
        size_t fl, vl, voff = pack_next(p, off);
        const char *f = pack_get(p, off, &fl);
        const char *v = pack_get(p, voff, &vl);
        bool created;
        dict_set_str(d, f, fl, v, vl, &created);
        sg_assert(created);
        off = pack_next(p, voff);
    }
    pack_free(p);
    kentry_set_ptr(e, d);
    kentry_set_enc(e, ENC_HASHTABLE);
}

/* Redis's hashTypeTryConversion: before a write of argv[start..end]
 * (fields and values), converts when one of them is too long for the pack
 * or the pack would pass its safety size. */
static void hash_try_conversion(kentry *e, const client *c, int start, int end) {
    if (kentry_enc(e) != ENC_LISTPACK) return;
    unsigned long long sum = 0;
    for (int i = start; i <= end; i++) {
        if (too_long_for_pack(c->argvlen[i])) {
            hash_convert(e);
            return;
        }
        sum += c->argvlen[i];
    }
    if (pack_bytes(kentry_ptr(e)) + sum > HASH_PACK_SAFETY_BYTES) hash_convert(e);
}

/* The value of field f, or false when absent. *v points into the object
 * and stays valid until the hash is modified. */
static bool hash_get(const kentry *e, const char *f, size_t fl, const char **v, size_t *vl) {
    if (kentry_enc(e) == ENC_LISTPACK) {
        const pack *p = kentry_ptr(e);
        size_t off = pack_find(p, pack_first(p), f, fl, 1);
        if (off == PACK_END) return false;
        *v = pack_get(p, pack_next(p, off), vl);
        return true;
    }
    dict_entry *de = dict_find(kentry_ptr(e), f, fl);
    if (!de) return false;
    *v = dict_entry_str(de, vl);
    return true;
}

static bool hash_exists(const kentry *e, const char *f, size_t fl) {
    const char *v;
    size_t vl;
    return hash_get(e, f, fl, &v, &vl);
}

/* Sets field f to v (both copied); converts the encoding as Redis's
 * hashTypeSet does. Returns true when the field existed (an update). */
static bool hash_set(kentry *e, const char *f, size_t fl, const char *v, size_t vl) {
    if (kentry_enc(e) == ENC_LISTPACK && (too_long_for_pack(fl) || too_long_for_pack(vl)))
        hash_convert(e);
    if (kentry_enc(e) == ENC_LISTPACK) {
        pack *p = kentry_ptr(e);
        size_t off = pack_find(p, pack_first(p), f, fl, 1);
        bool update = off != PACK_END;
        if (update) {
            p = pack_replace(p, pack_next(p, off), v, vl);
        } else {
            p = pack_append(p, f, fl);
            p = pack_append(p, v, vl);
        }
        kentry_set_ptr(e, p);
        if ((unsigned long long)pack_count(p) / 2 >
            (unsigned long long)cfg.hash_max_listpack_entries)
            hash_convert(e);
        return update;
    }
    bool created;
    dict_set_str(kentry_ptr(e), f, fl, v, vl, &created);
    return !created;
}

/* Removes field f; returns whether it was there. The caller deletes the
 * key when the hash becomes empty. */
static bool hash_delete(kentry *e, const char *f, size_t fl) {
    if (kentry_enc(e) == ENC_LISTPACK) {
        pack *p = kentry_ptr(e);
        size_t off = pack_find(p, pack_first(p), f, fl, 1);
        if (off == PACK_END) return false;
        kentry_set_ptr(e, pack_delete(p, off, 2, NULL));
        return true;
    }
    return dict_delete(kentry_ptr(e), f, fl);
}

/* Iteration over (field, value) pairs in the object's order. The hash must
 * not change while an iterator is in use. */
typedef struct hash_iter {
    const kentry *e;
    size_t off;   /* listpack: offset of the next field */
    uint64_t pos; /* hashtable: dict_next position */
    const char *f, *v;
    size_t fl, vl;
} hash_iter;

static void hash_iter_init(hash_iter *it, const kentry *e) {
    memset(it, 0, sizeof(*it));
    it->e = e;
    if (kentry_enc(e) == ENC_LISTPACK) it->off = pack_first(kentry_ptr(e));
}

static bool hash_iter_next(hash_iter *it) {
    if (kentry_enc(it->e) == ENC_LISTPACK) {
        const pack *p = kentry_ptr(it->e);
        if (it->off == PACK_END) return false;
        size_t voff = pack_next(p, it->off);
        it->f = pack_get(p, it->off, &it->fl);
        it->v = pack_get(p, voff, &it->vl);
        it->off = pack_next(p, voff);
        return true;
    }
    dict_entry *de = dict_next(kentry_ptr(it->e), &it->pos);
    if (!de) return false;
    it->f = de->key;
    it->fl = de->klen;
    it->v = dict_entry_str(de, &it->vl);
    return true;
}

/* ---- keyspace hooks -------------------------------------------------------- */

static void hash_free(void *ptr, int enc) {
    if (enc == ENC_LISTPACK)
        pack_free(ptr);
    else
        dict_free(ptr);
}

static void *hash_dup(const void *ptr, int enc) {
    return enc == ENC_LISTPACK ? (void *)pack_dup(ptr) : (void *)dict_dup(ptr);
}

static size_t hash_mem(const void *ptr, int enc) {
    return enc == ENC_LISTPACK ? sg_alloc_size(ptr) : dict_mem(ptr);
}

/* XOR over pairs of H(H(field) || value): independent of order and
 * encoding. */
static void hash_digest_pair(uint8_t out[20], const char *f, size_t fl, const char *v, size_t vl) {
    uint8_t d[20];
    ks_digest_bytes(f, fl, d);
    ks_digest_mix(d, v, vl);
    for (int i = 0; i < 20; i++) out[i] ^= d[i];
}

static void hash_digest(const void *ptr, int enc, uint8_t out[20]) {
    memset(out, 0, 20);
    if (enc == ENC_LISTPACK) {
        const pack *p = ptr;
        for (size_t off = pack_first(p); off != PACK_END;) {
            size_t fl, vl, voff = pack_next(p, off);
            const char *f = pack_get(p, off, &fl);
            const char *v = pack_get(p, voff, &vl);
            hash_digest_pair(out, f, fl, v, vl);
            off = pack_next(p, voff);
        }
        return;
    }
    uint64_t pos = 0;
    for (dict_entry *de; (de = dict_next(ptr, &pos));) {
        size_t vl;
        const char *v = dict_entry_str(de, &vl);
        hash_digest_pair(out, de->key, de->klen, v, vl);
    }
}

static const ks_type_ops hash_ops = {
    .name = "hash", .free = hash_free, .dup = hash_dup, .mem = hash_mem, .digest = hash_digest};

void hash_type_register(void) {
    ks_register_type(OBJ_HASH, &hash_ops);
}

/* ---- command helpers -------------------------------------------------------- */

/* Adds an empty packed hash under argv[1] (absent) and returns it. Redis
 * creates the key before writing; every caller writes at least one field
 * right after, so no empty hash is ever visible. */
static kentry *hash_create(client *c) {
    kentry *e = kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_HASH, ENC_LISTPACK, pack_new(), -1);
    kdb_add(c->db, e);
    return e;
}

static void hash_changed(client *c, long long dirty, const char *event) {
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_HASH, event, c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, dirty);
}

/* True when nothing this command still writes can reach the client: a
 * reply loop may stop (the client is being closed, or replies are off). */
static bool reply_discarded(const client *c) {
    return (c->flags & (CL_REPLY_OFF | CL_REPLY_SKIP | CL_CLOSE_ASAP)) || !c->conn;
}

/* ---- HSET, HMSET, HSETNX ---------------------------------------------------- */

/* HSET key field value [field value ...] -> fields created.
 * HMSET is the same command replying OK. */
static void hset_generic(client *c, bool hmset) {
    if (c->argc % 2 == 1) {
        reply_errorf(c, "ERR wrong number of arguments for '%s' command", hmset ? "hmset" : "hset");
        return;
    }
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    if (!e) e = hash_create(c);
    hash_try_conversion(e, c, 2, c->argc - 1);
    long long created = 0;
    for (int i = 2; i < c->argc; i += 2)
        created += !hash_set(e, c->argv[i], c->argvlen[i], c->argv[i + 1], c->argvlen[i + 1]);
    hash_changed(c, (c->argc - 2) / 2, "hset");
    if (hmset)
        reply_ok(c);
    else
        reply_int(c, created);
}

void hset_command(client *c) {
    hset_generic(c, false);
}

void hmset_command(client *c) {
    hset_generic(c, true);
}

void hsetnx_command(client *c) {
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    if (e && hash_exists(e, c->argv[2], c->argvlen[2])) {
        reply_int(c, 0);
        return;
    }
    if (!e) e = hash_create(c);
    hash_try_conversion(e, c, 2, 3);
    hash_set(e, c->argv[2], c->argvlen[2], c->argv[3], c->argvlen[3]);
    hash_changed(c, 1, "hset");
    reply_int(c, 1);
}

/* ---- reads ------------------------------------------------------------------ */

void hget_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    const char *v;
    size_t vl;
    if (e && hash_get(e, c->argv[2], c->argvlen[2], &v, &vl))
        reply_bulk(c, v, vl);
    else
        reply_null(c);
}

void hmget_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        const char *v;
        size_t vl;
        if (e && hash_get(e, c->argv[i], c->argvlen[i], &v, &vl))
            reply_bulk(c, v, vl);
        else
            reply_null(c);
    }
}

void hexists_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    reply_int(c, e && hash_exists(e, c->argv[2], c->argvlen[2]));
}

void hlen_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    reply_int(c, e ? (long long)hash_len(e) : 0);
}

void hstrlen_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    const char *v;
    size_t vl;
    if (e && hash_get(e, c->argv[2], c->argvlen[2], &v, &vl))
        reply_int(c, (long long)vl);
    else
        reply_int(c, 0);
}

enum { HASH_FIELDS = 1, HASH_VALUES = 2 };

/* HKEYS, HVALS, HGETALL. HGETALL replies a map (RESP3) or a flat array;
 * a missing key is an empty map or array. */
static void hgetall_generic(client *c, int what) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    long long n = e ? (long long)hash_len(e) : 0;
    if (what == (HASH_FIELDS | HASH_VALUES))
        reply_map(c, n);
    else
        reply_array(c, n);
    if (!e) return;
    hash_iter it;
    hash_iter_init(&it, e);
    while (hash_iter_next(&it)) {
        if (what & HASH_FIELDS) reply_bulk(c, it.f, it.fl);
        if (what & HASH_VALUES) reply_bulk(c, it.v, it.vl);
    }
}

void hkeys_command(client *c) {
    hgetall_generic(c, HASH_FIELDS);
}

void hvals_command(client *c) {
    hgetall_generic(c, HASH_VALUES);
}

void hgetall_command(client *c) {
    hgetall_generic(c, HASH_FIELDS | HASH_VALUES);
}

/* ---- HDEL ------------------------------------------------------------------ */

void hdel_command(client *c) {
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_HASH, &r, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    long long deleted = 0;
    bool emptied = false;
    for (int i = 2; i < c->argc; i++) {
        if (!hash_delete(e, c->argv[i], c->argvlen[i])) continue;
        deleted++;
        if (hash_len(e) == 0) {
            kdb_delete(&r);
            emptied = true;
            break;
        }
    }
    if (deleted) hash_changed(c, deleted, "hdel");
    if (emptied)
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1], c->argvlen[1]);
    reply_int(c, deleted);
}

/* ---- counters --------------------------------------------------------------- */

void hincrby_command(client *c) {
    long long incr, value = 0;
    if (!arg_ll_or_reply(c, 3, &incr, NULL)) return;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    const char *v;
    size_t vl;
    if (e && hash_get(e, c->argv[2], c->argvlen[2], &v, &vl) && !sg_str2ll(v, vl, &value)) {
        reply_error(c, "ERR hash value is not an integer");
        return;
    }
    if ((incr < 0 && value < 0 && incr < LLONG_MIN - value) ||
        (incr > 0 && value > 0 && incr > LLONG_MAX - value)) {
        reply_error(c, ERR_OVERFLOW);
        return;
    }
    value += incr;
    char buf[SG_LONG_STR_SIZE];
    int n = sg_ll2str(buf, sizeof(buf), value);
    if (!e) e = hash_create(c);
    hash_set(e, c->argv[2], c->argvlen[2], buf, (size_t)n);
    hash_changed(c, 1, "hincrby");
    reply_int(c, value);
}

void hincrbyfloat_command(client *c) {
    long double incr, value = 0;
    if (!arg_ld_or_reply(c, 3, &incr, NULL)) return;
    if (isnan(incr) || isinf(incr)) {
        reply_error(c, "ERR value is NaN or Infinity");
        return;
    }
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    const char *v;
    size_t vl;
    if (e && hash_get(e, c->argv[2], c->argvlen[2], &v, &vl) && !sg_str2ld(v, vl, &value)) {
        reply_error(c, "ERR hash value is not a float");
        return;
    }
    value += incr;
    char buf[SG_MAX_DOUBLE_CHARS];
    int n;
    if (isnan(value) || isinf(value) || (n = sg_ld2str(buf, sizeof(buf), value)) == 0) {
        reply_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    if (!e) e = hash_create(c);
    hash_set(e, c->argv[2], c->argvlen[2], buf, (size_t)n);
    hash_changed(c, 1, "hincrbyfloat");
    /* Logged as the HSET of the result (as Redis propagates it), so a replay
     * does not depend on long double arithmetic. */
    const char *pargv[4] = {"HSET", c->argv[1], c->argv[2], buf};
    size_t plens[4] = {4, c->argvlen[1], c->argvlen[2], (size_t)n};
    server_propagate_override(c, 4, pargv, plens);
    reply_bulk(c, buf, (size_t)n);
}

/* ---- HRANDFIELD ------------------------------------------------------------- */

/* A uniformly random dict entry: a random cell, accepted when occupied
 * (dicts stay at least 1/8 full, so a few tries suffice); dict_random, which
 * favours entries after long gaps, only as a fallback. */
static dict_entry *dict_fair_random(const dict *d) {
    for (int tries = 0; tries < 64; tries++) {
        uint64_t start = sg_rand64() & d->mask, pos = start;
        dict_entry *de = dict_next(d, &pos);
        if (de && pos == start + 1) return de;
    }
    return dict_random(d);
}

/* One reply element: the field, or in RESP3 with values a [field, value]
 * pair, in RESP2 with values the field then the value. */
static void reply_pair(client *c, bool withvalues, const char *f, size_t fl, const char *v,
                       size_t vl) {
    if (withvalues && c->resp > 2) reply_array(c, 2);
    reply_bulk(c, f, fl);
    if (withvalues) reply_bulk(c, v, vl);
}

static void reply_pair_dict(client *c, bool withvalues, const dict_entry *de) {
    size_t vl;
    const char *v = dict_entry_str(de, &vl);
    reply_pair(c, withvalues, de->key, de->klen, v, vl);
}

static void reply_pair_pack(client *c, bool withvalues, const pack *p, size_t off) {
    size_t fl, vl;
    const char *f = pack_get(p, off, &fl);
    const char *v = pack_get(p, pack_next(p, off), &vl);
    reply_pair(c, withvalues, f, fl, v, vl);
}

/* Offsets of the fields of a packed hash (caller frees). */
static size_t *pack_field_offsets(const pack *p, size_t n) {
    size_t *offs = sg_malloc(sizeof(size_t) * (n ? n : 1));
    size_t i = 0;
    for (size_t off = pack_first(p); off != PACK_END && i < n; i++) {
        offs[i] = off;
        off = pack_next(p, pack_next(p, off));
    }
    return offs;
}

/* count elements with repetition (negative count, or 1). */
static void hrandfield_repeat(client *c, const kentry *e, unsigned long long count,
                              bool withvalues) {
    reply_array(c, (long long)(withvalues && c->resp == 2 ? count * 2 : count));
    uint64_t size = hash_len(e);
    if (kentry_enc(e) == ENC_LISTPACK) {
        const pack *p = kentry_ptr(e);
        size_t *offs = pack_field_offsets(p, size);
        while (count-- && !reply_discarded(c))
            reply_pair_pack(c, withvalues, p, offs[sg_rand_range(size)]);
        sg_free(offs);
        return;
    }
    while (count-- && !reply_discarded(c))
        reply_pair_dict(c, withvalues, dict_fair_random(kentry_ptr(e)));
}

/* count distinct elements, 1 < count < size. */
static void hrandfield_unique(client *c, const kentry *e, uint64_t count, bool withvalues) {
    uint64_t size = hash_len(e);
    reply_array(c, (long long)(withvalues && c->resp == 2 ? count * 2 : count));
    if (kentry_enc(e) == ENC_LISTPACK) {
        /* Selection sampling (Knuth's algorithm S): a uniform subset, in
         * pack order. */
        const pack *p = kentry_ptr(e);
        uint64_t need = count, left = size;
        for (size_t off = pack_first(p); off != PACK_END && need; left--) {
            if (sg_rand_range(left) < need) {
                reply_pair_pack(c, withvalues, p, off);
                need--;
            }
            off = pack_next(p, pack_next(p, off));
        }
        return;
    }
    const dict *d = kentry_ptr(e);
    if (count * 3 > size) {
        /* Many of them: a partial Fisher-Yates shuffle of all entries. */
        dict_entry **all = sg_malloc(sizeof(dict_entry *) * size);
        uint64_t pos = 0, n = 0;
        for (dict_entry *de; (de = dict_next(d, &pos)) && n < size;) all[n++] = de;
        for (uint64_t i = 0; i < count; i++) {
            uint64_t j = i + sg_rand_range(n - i);
            dict_entry *t = all[i];
            all[i] = all[j];
            all[j] = t;
            reply_pair_dict(c, withvalues, all[i]);
        }
        sg_free(all);
        return;
    }
    /* Few of them: random picks, duplicates skipped through a set of the
     * entries' addresses. */
    dict *seen = dict_new(DICT_VAL_NONE);
    for (uint64_t got = 0; got < count;) {
        dict_entry *de = dict_fair_random(d);
        bool created;
        dict_add(seen, (const char *)&de, sizeof(de), &created);
        if (!created) continue;
        reply_pair_dict(c, withvalues, de);
        got++;
    }
    dict_free(seen);
}

/* HRANDFIELD key [count [WITHVALUES]] */
void hrandfield_command(client *c) {
    bool wrong;
    if (c->argc >= 3) {
        long long l;
        if (!arg_ll_or_reply(c, 2, &l, NULL)) return;
        if (l < -LLONG_MAX) {
            reply_errorf(c, "ERR value is out of range, value must between %lld and %lld",
                         -LLONG_MAX, LLONG_MAX);
            return;
        }
        /* strcasecmp as Redis: the argument is NUL-terminated. */
        if (c->argc > 4 || (c->argc == 4 && strcasecmp(c->argv[3], "withvalues"))) {
            reply_syntax_error(c);
            return;
        }
        bool withvalues = c->argc == 4;
        if (withvalues && (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2)) {
            reply_error(c, "ERR value is out of range");
            return;
        }
        kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
        if (wrong) return;
        if (!e || l == 0) {
            reply_array(c, 0);
            return;
        }
        unsigned long long count = l < 0 ? (unsigned long long)-l : (unsigned long long)l;
        uint64_t size = hash_len(e);
        if (l < 0 || count == 1) {
            hrandfield_repeat(c, e, count, withvalues);
        } else if (count >= size) {
            reply_array(c, (long long)(withvalues && c->resp == 2 ? size * 2 : size));
            hash_iter it;
            hash_iter_init(&it, e);
            while (hash_iter_next(&it)) reply_pair(c, withvalues, it.f, it.fl, it.v, it.vl);
        } else {
            hrandfield_unique(c, e, count, withvalues);
        }
        return;
    }
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_null(c);
        return;
    }
    if (kentry_enc(e) == ENC_LISTPACK) {
        const pack *p = kentry_ptr(e);
        size_t fl;
        const char *f = pack_get(p, pack_seek(p, (long long)sg_rand_range(hash_len(e)) * 2), &fl);
        reply_bulk(c, f, fl);
        return;
    }
    dict_entry *de = dict_fair_random(kentry_ptr(e));
    reply_bulk(c, de->key, de->klen);
}

/* ---- HSCAN ------------------------------------------------------------------ */

typedef struct scan_item {
    const char *p;
    size_t n;
} scan_item;

typedef struct scan_collector {
    const char *pat; /* NULL: everything */
    size_t plen;
    scan_item *items; /* field, value, field, value ... */
    size_t n, cap;
    unsigned long long visited; /* elements seen (2 per pair), matched or not */
} scan_collector;

static void scan_add(scan_collector *sc, const char *f, size_t fl, const char *v, size_t vl) {
    sc->visited += 2;
    if (sc->pat && !sg_glob_match(sc->pat, sc->plen, f, fl, false)) return;
    if (sc->n + 2 > sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 32;
        sc->items = sg_realloc(sc->items, sizeof(scan_item) * sc->cap);
    }
    sc->items[sc->n++] = (scan_item){f, fl};
    sc->items[sc->n++] = (scan_item){v, vl};
}

static void scan_visit(void *ctx, dict_entry *de) {
    size_t vl;
    const char *v = dict_entry_str(de, &vl);
    scan_add(ctx, de->key, de->klen, v, vl);
}

/* HSCAN key cursor [MATCH pattern] [COUNT count]. A packed hash is returned
 * whole with cursor 0, whatever the cursor; a hashtable is walked with
 * dict_scan until about COUNT elements (fields and values) were seen. A
 * missing key answers [0, []] before the options are looked at, as Redis. */
void hscan_command(client *c) {
    uint64_t cursor;
    if (!arg_cursor_or_reply(c, 2, &cursor)) return;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_HASH, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_array(c, 2);
        reply_bulk(c, "0", 1);
        reply_array(c, 0);
        return;
    }
    long long count = 10;
    scan_collector sc = {0};
    for (int i = 3; i < c->argc; i += 2) {
        int left = c->argc - i;
        if (!strcasecmp(c->argv[i], "count") && left >= 2) {
            if (!arg_ll_or_reply(c, i + 1, &count, NULL)) return;
            if (count < 1) {
                reply_syntax_error(c);
                return;
            }
        } else if (!strcasecmp(c->argv[i], "match") && left >= 2) {
            bool all = c->argvlen[i + 1] == 1 && c->argv[i + 1][0] == '*';
            sc.pat = all ? NULL : c->argv[i + 1];
            sc.plen = all ? 0 : c->argvlen[i + 1];
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (kentry_enc(e) == ENC_LISTPACK) {
        hash_iter it;
        hash_iter_init(&it, e);
        while (hash_iter_next(&it)) scan_add(&sc, it.f, it.fl, it.v, it.vl);
        cursor = 0;
    } else {
        const dict *d = kentry_ptr(e);
        unsigned long long maxit = (unsigned long long)count > ULLONG_MAX / 10
                                       ? ULLONG_MAX
                                       : (unsigned long long)count * 10;
        do {
            cursor = dict_scan(d, cursor, scan_visit, &sc);
        } while (cursor && maxit-- && sc.visited < (unsigned long long)count);
    }
    char buf[SG_LONG_STR_SIZE];
    int n = sg_ull2str(buf, sizeof(buf), cursor);
    reply_array(c, 2);
    reply_bulk(c, buf, (size_t)n);
    reply_array(c, (long long)sc.n);
    for (size_t i = 0; i < sc.n; i++) reply_bulk(c, sc.items[i].p, sc.items[i].n);
    sg_free(sc.items);
}

/* ---- DUMP/RESTORE surface (persist/serialize.c) ------------------------------
 * The one exported pair: walk the (field, value) pairs of a hash object, and
 * build a hash object from pairs (the encoding chosen as a sequence of HSETs
 * would). Returns NULL on a duplicate field. */
void hash_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx) {
    if (enc == ENC_LISTPACK) {
        const pack *p = ptr;
        for (size_t off = pack_first(p); off != PACK_END;) {
            size_t fl, vl, voff = pack_next(p, off);
            const char *f = pack_get(p, off, &fl), *v = pack_get(p, voff, &vl);
            fn(ctx, f, fl, v, vl, 0);
            off = pack_next(p, voff);
        }
        return;
    }
    uint64_t pos = 0;
    for (dict_entry *de; (de = dict_next(ptr, &pos));) {
        size_t vl;
        const char *v = dict_entry_str(de, &vl);
        fn(ctx, de->key, de->klen, v, vl, 0);
    }
}

void *hash_type_build(const persist_elem *v, size_t n, int *enc) {
    bool packed = (unsigned long long)n <= (unsigned long long)cfg.hash_max_listpack_entries;
    unsigned long long sum = 0;
    for (size_t i = 0; packed && i < n; i++) {
        if (too_long_for_pack(v[i].al) || too_long_for_pack(v[i].bl)) packed = false;
        sum += v[i].al + v[i].bl;
    }
    if (sum > HASH_PACK_SAFETY_BYTES) packed = false;
    if (packed) {
        pack *p = pack_new();
        for (size_t i = 0; i < n; i++) {
            if (pack_find(p, pack_first(p), v[i].a, v[i].al, 1) != PACK_END) {
                pack_free(p);
                return NULL;
            }
            p = pack_append(p, v[i].a, v[i].al);
            p = pack_append(p, v[i].b, v[i].bl);
        }
        *enc = ENC_LISTPACK;
        return p;
    }
    dict *d = dict_new(DICT_VAL_STR);
    for (size_t i = 0; i < n; i++) {
        bool created;
        dict_set_str(d, v[i].a, v[i].al, v[i].b, v[i].bl, &created);
        if (!created) {
            dict_free(d);
            return NULL;
        }
    }
    *enc = ENC_HASHTABLE;
    return d;
}
