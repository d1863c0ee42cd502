/*
 * Databases, per-slot tables, expiry and eviction.
 *
 * A database is 16384 slot tables, created when a slot gets its first key
 * and freed when it loses its last, plus bitmaps of the slots that hold keys
 * and that hold keys with a TTL, so sparse databases cost almost nothing and
 * whole-slot work (counting, scanning, later migrating and snapshotting) is
 * local.
 *
 * Tables: open addressing, linear probing, tagged cells (ks_internal.h).
 *
 * Invariants (checked by ks_check):
 *  I1. Outside a resize, cells[1] is NULL, rehashidx is -1 and cells[0] holds
 *      no tombstones; every entry at position p with home h has every cell in
 *      the cyclic range [h, p) occupied (linear probing without holes),
 *      which backward-shift deletion maintains.
 *  I2. During a resize, cells [0, rehashidx) of the old table are empty
 *      (moved); lookups in the old table jump over them to rehashidx, so I1
 *      holds in the old table with "moved" counted as occupied. The old table
 *      takes no insertions (they go to the new table) and deletions there
 *      leave tombstones (KT_TOMB), which lookups pass over. The new table
 *      obeys I1 on its own.
 *  I3. used[0] + used[1] is the number of entries; the cell TTL bit equals
 *      kentry_has_ttl(); nvolatile counts TTL cells.
 *
 * Growth: a table grows (doubles) when an insertion would take it past 3/4
 * full, and shrinks when a deletion leaves it under 1/8. Tables of up to
 * KT_SYNC_RESIZE cells resize at once (a few microseconds); bigger ones
 * resize incrementally: every insertion moves KT_STEP cells and the server's
 * cron moves more within a time budget. So no single command pays for a
 * large rehash, whatever the key distribution (even all keys under one
 * {hash tag}, i.e. in one slot).
 *
 * SCAN visits a table by home bucket: for a cursor value c it emits the
 * entries whose home is c, which sit in the run of occupied cells starting
 * at c. Cursors advance in reverse-binary order over the bucket index, so, as
 * with Redis's dictScan, an entry present for the whole iteration is emitted
 * at least once even if the table grows or shrinks between calls.
 */
#include "ks_internal.h"

#include <string.h>

#define KT_MIN_CAP     4
#define KT_SYNC_RESIZE 4096
#define KT_STEP        16
#define LFU_INIT_VAL   5
#define EVPOOL_SIZE    16

struct kdb {
    keyspace *ks;
    int id;
    uint64_t keys;
    uint64_t expires;
    unsigned expire_slot; /* active-expiry cursor */
    uint64_t avg_ttl;
    uint64_t nonempty[SG_SLOTS / 64];
    uint64_t volatile_slots[SG_SLOTS / 64];
    ktable *slots[SG_SLOTS];
    /* Per slot, the table's cells and size packed in one word (fast_word),
     * or 0 when the slot has no table or its table is resizing: a lookup
     * reads this and the cells, not the table header, one dependent cache
     * miss less. Kept by kt_sync_fast wherever cells[0] or the resize state
     * changes. */
    uint64_t fast[SG_SLOTS];
};

typedef struct evcand {
    uint64_t score; /* higher: evict first */
    int db;
    sstr *key;
} evcand;

struct keyspace {
    int ndb;
    kdb **dbs;
    ks_settings set;
    ks_stats stats;
    int64_t now_ms;
    ks_key_event_fn *hook;
    void *hook_ctx;
    ktable *rehashing; /* tables in an incremental resize */
    int no_resize;     /* >0 while iterating cells in place */
    int expire_db;
    ktable **lazy; /* detached tables waiting to be freed */
    size_t nlazy, lazycap;
    uint64_t lazy_pending; /* entries in them */
    evcand pool[EVPOOL_SIZE];
    /* Snapshot guard (ks_set_guard): slots with a bit set in guard_pending
     * are written out by guard_fn before their first change. */
    const uint64_t *guard_pending;
    ks_guard_fn *guard_fn;
    void *guard_ctx;
};

/* Before any change to a key of slot (ks_set_guard). */
static inline bool guard_on(const keyspace *ks, unsigned slot) {
    return SG_UNLIKELY(ks->guard_fn != NULL) && ((ks->guard_pending[slot / 64] >> (slot % 64)) & 1);
}

static inline void guard_key(kdb *db, unsigned slot, const char *key, size_t klen) {
    if (guard_on(db->ks, slot)) db->ks->guard_fn(db->ks->guard_ctx, db, slot, key, klen);
}

static inline void guard_entry(kdb *db, unsigned slot, const kentry *e) {
    if (guard_on(db->ks, slot)) {
        size_t kl;
        const char *k = kentry_key(e, &kl);
        db->ks->guard_fn(db->ks->guard_ctx, db, slot, k, kl);
    }
}

/* Before a change to every key (flush, SWAPDB). */
static inline void guard_all(keyspace *ks) {
    if (SG_UNLIKELY(ks->guard_fn != NULL)) ks->guard_fn(ks->guard_ctx, NULL, SG_SLOTS, NULL, 0);
}

void ks_set_guard(keyspace *ks, const uint64_t *pending, ks_guard_fn *fn, void *ctx) {
    ks->guard_pending = pending;
    ks->guard_fn = fn;
    ks->guard_ctx = ctx;
}

/* ---- cells ---- */

static inline kentry *cell_entry(uintptr_t c) {
    return (kentry *)(c & KT_PTRMASK);
}

static inline bool cell_live(uintptr_t c) {
    return (c & KT_PTRMASK) != 0;
}

static inline uintptr_t make_cell(kentry *e, uint64_t h) {
    uintptr_t p = (uintptr_t)e;
    sg_assert((p & ~KT_PTRMASK) == 0);
    return ((uintptr_t)(h & 0xFFFF) << 48) | p | (uintptr_t)((h >> 62) << 1) |
           (kentry_has_ttl(e) ? KT_TTL : 0);
}

static inline uintptr_t hash_tag(uint64_t h) {
    return ((uintptr_t)(h & 0xFFFF) << 48) | (uintptr_t)((h >> 62) << 1);
}

static inline uint64_t entry_hash(const kentry *e) {
    size_t kl;
    const char *k = kentry_key(e, &kl);
    return sg_hash(k, kl);
}

static inline uint64_t cell_home(uintptr_t c, uint64_t mask) {
    if (mask <= 0xFFFF) return (c >> 48) & mask;
    return entry_hash(cell_entry(c)) & mask;
}

static inline bool key_eq(const kentry *e, const char *key, size_t klen) {
    size_t kl;
    const char *k = kentry_key(e, &kl);
    return kl == klen && memcmp(k, key, klen) == 0;
}

/* ---- tables ---- */

static ktable *kt_new(uint64_t cap) {
    ktable *t = sg_calloc(sizeof(ktable));
    t->cells[0] = sg_calloc(sizeof(uintptr_t) * cap);
    t->mask[0] = cap - 1;
    t->rehashidx = -1;
    return t;
}

static inline bool kt_resizing(const ktable *t) {
    return t->rehashidx >= 0;
}

/* kdb.fast word: cells address (below 2^58) | log2(capacity) << 58. */
#define FAST_SHIFT 58

static inline uint64_t fast_word(const ktable *t) {
    if (kt_resizing(t)) return 0;
    uint64_t p = (uint64_t)(uintptr_t)t->cells[0];
    sg_assert(p < (1ULL << FAST_SHIFT));
    return p | ((uint64_t)__builtin_ctzll(t->mask[0] + 1) << FAST_SHIFT);
}

static inline uintptr_t *fast_cells(uint64_t f) {
    return (uintptr_t *)(uintptr_t)(f & ((1ULL << FAST_SHIFT) - 1));
}

static inline uint64_t fast_mask(uint64_t f) {
    return (1ULL << (f >> FAST_SHIFT)) - 1;
}

static inline void kt_sync_fast(ktable *t) {
    if (t->fast) *t->fast = fast_word(t);
}

static inline uint64_t kt_count(const ktable *t) {
    return t->used[0] + t->used[1];
}

/* Finds key; returns the cell or NULL. *ti is the table index. */
static uintptr_t *kt_find(ktable *t, const char *key, size_t klen, uint64_t h, int *ti) {
    uintptr_t tag = hash_tag(h);
    for (int i = 0; i < 2; i++) {
        uintptr_t *cells = t->cells[i];
        if (!cells) break;
        uint64_t mask = t->mask[i];
        bool skip = i == 0 && kt_resizing(t);
        uint64_t lo = skip ? (uint64_t)t->rehashidx : 0;
        uint64_t lim = mask + 1 - lo, n = 0;
        uint64_t p = h & mask;
        while (n++ < lim) {
            if (p < lo) p = lo;
            uintptr_t c = cells[p];
            if (c == 0) break;
            if ((c & KT_TAGMASK) == tag && cell_live(c) && key_eq(cell_entry(c), key, klen)) {
                if (ti) *ti = i;
                return &cells[p];
            }
            p = (p + 1) & mask;
        }
    }
    return NULL;
}

/* Places a cell in table i, which must have no tombstones and room. */
static void kt_place(ktable *t, int i, uintptr_t c, uint64_t home) {
    uint64_t mask = t->mask[i];
    uint64_t p = home & mask;
    while (t->cells[i][p] != 0) p = (p + 1) & mask;
    t->cells[i][p] = c;
    t->used[i]++;
}

static void rehash_list_remove(keyspace *ks, ktable *t) {
    if (!t->in_rehash_list) return;
    for (ktable **pp = &ks->rehashing; *pp; pp = &(*pp)->next_rehashing) {
        if (*pp == t) {
            *pp = t->next_rehashing;
            break;
        }
    }
    t->in_rehash_list = false;
    t->next_rehashing = NULL;
}

/* Moves up to n cells from the old table; finishes the resize at the end. */
static void kt_rehash(keyspace *ks, ktable *t, uint64_t n) {
    if (!kt_resizing(t)) return;
    uint64_t mask0 = t->mask[0], mask1 = t->mask[1];
    while (n-- && (uint64_t)t->rehashidx <= mask0) {
        uintptr_t c = t->cells[0][t->rehashidx];
        if (cell_live(c)) {
            uint64_t home = mask1 <= 0xFFFF ? (c >> 48) : entry_hash(cell_entry(c));
            kt_place(t, 1, c, home);
            t->used[0]--;
        }
        t->cells[0][t->rehashidx] = 0;
        t->rehashidx++;
    }
    if ((uint64_t)t->rehashidx > mask0) {
        sg_assert(t->used[0] == 0);
        sg_free(t->cells[0]);
        t->cells[0] = t->cells[1];
        t->mask[0] = t->mask[1];
        t->used[0] = t->used[1];
        t->cells[1] = NULL;
        t->mask[1] = 0;
        t->used[1] = 0;
        t->rehashidx = -1;
        rehash_list_remove(ks, t);
        kt_sync_fast(t);
    }
}

static void kt_start_resize(keyspace *ks, ktable *t, uint64_t cap) {
    sg_assert(!kt_resizing(t));
    if (cap < KT_MIN_CAP) cap = KT_MIN_CAP;
    if (cap == t->mask[0] + 1) return;
    t->cells[1] = sg_calloc(sizeof(uintptr_t) * cap);
    t->mask[1] = cap - 1;
    t->used[1] = 0;
    t->rehashidx = 0;
    kt_sync_fast(t); /* 0: lookups take the full path during the move */
    if (t->mask[0] + 1 <= KT_SYNC_RESIZE && cap <= KT_SYNC_RESIZE) {
        kt_rehash(ks, t, UINT64_MAX);
    } else {
        t->next_rehashing = ks->rehashing;
        ks->rehashing = t;
        t->in_rehash_list = true;
    }
}

static void kt_insert(keyspace *ks, ktable *t, kentry *e, uint64_t h) {
    if (kt_resizing(t)) {
        kt_rehash(ks, t, KT_STEP);
        /* Everything must fit the new table when the move completes: finish
         * early once all entries would fill it past 3/4 (then grow from
         * there). This also covers a shrink racing with insertions. */
        if (kt_resizing(t) && (kt_count(t) + 1) * 4 > (t->mask[1] + 1) * 3)
            kt_rehash(ks, t, UINT64_MAX);
    }
    if (!kt_resizing(t) && (t->used[0] + 1) * 4 > (t->mask[0] + 1) * 3)
        kt_start_resize(ks, t, (t->mask[0] + 1) * 2);
    int i = kt_resizing(t) ? 1 : 0;
    kt_place(t, i, make_cell(e, h), h);
    if (kentry_has_ttl(e)) t->nvolatile++;
}

/* Removes the cell at c (in table i). */
static void kt_remove(keyspace *ks, ktable *t, uintptr_t *c) {
    int i = (c >= t->cells[0] && c <= t->cells[0] + t->mask[0]) ? 0 : 1;
    if (*c & KT_TTL) t->nvolatile--;
    t->used[i]--;
    if (i == 0 && kt_resizing(t)) {
        *c = KT_TOMB;
    } else {
        /* Backward shift: pull followers into the hole while their home
         * allows, so no probe sequence ever crosses an empty cell. */
        uintptr_t *cells = t->cells[i];
        uint64_t mask = t->mask[i];
        uint64_t hole = (uint64_t)(c - cells);
        uint64_t q = (hole + 1) & mask;
        while (cells[q] != 0) {
            uint64_t home = cell_home(cells[q], mask);
            if (((q - home) & mask) >= ((q - hole) & mask)) {
                cells[hole] = cells[q];
                hole = q;
            }
            q = (q + 1) & mask;
        }
        cells[hole] = 0;
    }
    if (!ks->no_resize && !kt_resizing(t) && t->mask[0] + 1 > KT_MIN_CAP &&
        t->used[0] * 8 < t->mask[0] + 1) {
        uint64_t cap = KT_MIN_CAP;
        while (cap < t->used[0] * 2) cap *= 2;
        kt_start_resize(ks, t, cap);
    }
}

static void kt_free(keyspace *ks, ktable *t, bool entries) {
    if (!t) return;
    if (t->fast) *t->fast = 0;
    rehash_list_remove(ks, t);
    for (int i = 0; i < 2; i++) {
        if (!t->cells[i]) continue;
        if (entries)
            for (uint64_t p = 0; p <= t->mask[i]; p++)
                if (cell_live(t->cells[i][p])) kentry_free(cell_entry(t->cells[i][p]));
        sg_free(t->cells[i]);
    }
    sg_free(t);
}

/* ---- keyspace and dbs ---- */

keyspace *ks_create(int ndb) {
    keyspace *ks = sg_calloc(sizeof(keyspace));
    ks->ndb = ndb;
    ks->dbs = sg_calloc(sizeof(kdb *) * (size_t)ndb);
    for (int i = 0; i < ndb; i++) {
        ks->dbs[i] = sg_calloc(sizeof(kdb));
        ks->dbs[i]->ks = ks;
        ks->dbs[i]->id = i;
    }
    ks->set.policy = KS_POLICY_NOEVICTION;
    ks->set.lfu_log_factor = 10;
    ks->set.lfu_decay_time = 1;
    ks->set.samples = 5;
    ks->set.active_expire_effort = 1;
    ks->now_ms = sg_mstime();
    return ks;
}

void ks_destroy(keyspace *ks) {
    if (!ks) return;
    for (int i = 0; i < ks->ndb; i++) {
        kdb_flush(ks->dbs[i]);
        sg_free(ks->dbs[i]);
    }
    while (ks_background_step(ks, UINT64_MAX)) {
    }
    for (int i = 0; i < EVPOOL_SIZE; i++) sstr_free(ks->pool[i].key);
    sg_free(ks->lazy);
    sg_free(ks->dbs);
    sg_free(ks);
}

void ks_set_hook(keyspace *ks, ks_key_event_fn *fn, void *ctx) {
    ks->hook = fn;
    ks->hook_ctx = ctx;
}

ks_settings *ks_settings_of(keyspace *ks) {
    return &ks->set;
}

ks_stats *ks_stats_of(keyspace *ks) {
    return &ks->stats;
}

int ks_ndb(const keyspace *ks) {
    return ks->ndb;
}

kdb *ks_db(keyspace *ks, int idx) {
    return idx >= 0 && idx < ks->ndb ? ks->dbs[idx] : NULL;
}

int kdb_id(const kdb *db) {
    return db->id;
}

void ks_set_now(keyspace *ks, int64_t now_ms) {
    ks->now_ms = now_ms;
}

int64_t ks_now(const keyspace *ks) {
    return ks->now_ms;
}

uint64_t kdb_size(const kdb *db) {
    return db->keys;
}

uint64_t kdb_expires(const kdb *db) {
    return db->expires;
}

uint64_t kdb_avg_ttl(const kdb *db) {
    return db->avg_ttl;
}

uint64_t kdb_slot_size(const kdb *db, unsigned slot) {
    return slot < SG_SLOTS && db->slots[slot] ? kt_count(db->slots[slot]) : 0;
}

static inline void bit_set(uint64_t *bm, unsigned i, bool on) {
    if (on)
        bm[i >> 6] |= 1ULL << (i & 63);
    else
        bm[i >> 6] &= ~(1ULL << (i & 63));
}

/* Next set bit at or after i, or SG_SLOTS. */
static unsigned bit_next(const uint64_t *bm, unsigned i) {
    while (i < SG_SLOTS) {
        uint64_t w = bm[i >> 6] >> (i & 63);
        if (w) return i + (unsigned)__builtin_ctzll(w);
        i = (i | 63) + 1;
    }
    return SG_SLOTS;
}

static void slot_update_bits(kdb *db, unsigned slot) {
    ktable *t = db->slots[slot];
    bit_set(db->nonempty, slot, t && kt_count(t) > 0);
    bit_set(db->volatile_slots, slot, t && t->nvolatile > 0);
}

static void slot_maybe_free(kdb *db, unsigned slot) {
    ktable *t = db->slots[slot];
    if (t && kt_count(t) == 0 && !db->ks->no_resize) {
        kt_free(db->ks, t, false);
        db->slots[slot] = NULL;
    }
    slot_update_bits(db, slot);
}

/* ---- LRU / LFU ---- */

static inline uint32_t lru_clock(const keyspace *ks) {
    return (uint32_t)((ks->now_ms / 1000) & 0xFFFFFF);
}

static inline bool policy_lfu(const keyspace *ks) {
    return ks->set.policy == KS_POLICY_ALLKEYS_LFU || ks->set.policy == KS_POLICY_VOLATILE_LFU;
}

static inline uint32_t lfu_minutes(const keyspace *ks) {
    return (uint32_t)((ks->now_ms / 60000) & 0xFFFF);
}

static uint32_t lfu_decr(const keyspace *ks, const kentry *e) {
    uint32_t v = kentry_lru(e);
    uint32_t ldt = v >> 8, counter = v & 255;
    uint32_t now = lfu_minutes(ks);
    uint32_t elapsed = now >= ldt ? now - ldt : 65535 - ldt + now;
    uint32_t periods = ks->set.lfu_decay_time ? elapsed / (uint32_t)ks->set.lfu_decay_time : 0;
    return periods > counter ? 0 : counter - periods;
}

uint32_t ks_lfu_freq(keyspace *ks, const kentry *e) {
    return lfu_decr(ks, e);
}

uint64_t ks_idle_ms(keyspace *ks, const kentry *e) {
    uint32_t now = lru_clock(ks), lru = kentry_lru(e);
    uint32_t secs = now >= lru ? now - lru : (0xFFFFFF - lru) + now;
    return (uint64_t)secs * 1000;
}

static void entry_init_lru(keyspace *ks, kentry *e) {
    if (policy_lfu(ks))
        kentry_set_lru(e, (lfu_minutes(ks) << 8) | LFU_INIT_VAL);
    else
        kentry_set_lru(e, lru_clock(ks));
}

void kdb_touch(kdb *db, kentry *e) {
    keyspace *ks = db->ks;
    if (policy_lfu(ks)) {
        uint32_t counter = lfu_decr(ks, e);
        if (counter < 255) {
            double r = (double)(sg_rand64() >> 11) / (double)(1ULL << 53);
            double base = counter > LFU_INIT_VAL ? counter - LFU_INIT_VAL : 0;
            if (r < 1.0 / (base * ks->set.lfu_log_factor + 1)) counter++;
        }
        kentry_set_lru(e, (lfu_minutes(ks) << 8) | counter);
    } else {
        kentry_set_lru(e, lru_clock(ks));
    }
}

/* ---- lookups and changes ---- */

/* Expired once now is past the deadline (Redis: now > when). */
bool ks_is_expired(const keyspace *ks, const kentry *e) {
    return kentry_has_ttl(e) && kentry_expire(e) < ks->now_ms;
}

/* Probe of a table outside a resize, from its kdb.fast word. */
static uintptr_t *fast_find(uint64_t f, const char *key, size_t klen, uint64_t h) {
    uintptr_t *cells = fast_cells(f);
    uint64_t mask = fast_mask(f), p = h & mask;
    uintptr_t tag = hash_tag(h);
    for (uint64_t n = 0; n <= mask; n++, p = (p + 1) & mask) {
        uintptr_t c = cells[p];
        if (c == 0) break;
        if ((c & KT_TAGMASK) == tag && cell_live(c) && key_eq(cell_entry(c), key, klen))
            return &cells[p];
    }
    return NULL;
}

static bool find_ref(kdb *db, const char *key, size_t klen, kref *ref) {
    unsigned slot = sg_key_slot(key, klen);
    uint64_t f = db->fast[slot];
    uintptr_t *c;
    ktable *t;
    if (SG_LIKELY(f != 0)) { /* no table header read on this path */
        c = fast_find(f, key, klen, sg_hash(key, klen));
        if (!c) return false;
        t = db->slots[slot];
    } else {
        t = db->slots[slot];
        if (!t) return false;
        c = kt_find(t, key, klen, sg_hash(key, klen), NULL);
        if (!c) return false;
    }
    ref->db = db;
    ref->t = t;
    ref->cell = c;
    ref->e = cell_entry(*c);
    ref->slot = slot;
    return true;
}

/* Batch prefetch for pipelined commands: the lookup chain fast[slot] ->
 * cell -> entry is three dependent loads, each a likely cache miss on a
 * large keyspace. Walking n keys through it stage by stage (all fast
 * words, then all cells, then all entries) lets the misses of different
 * keys overlap, so the lookups that follow hit the cache. Only hints:
 * nothing is written, and a table in a resize is skipped. */
void kdb_prefetch(kdb *db, const char *const *keys, const size_t *lens, int n) {
    unsigned slot[KDB_PREFETCH_MAX];
    uint64_t h[KDB_PREFETCH_MAX];
    const uintptr_t *cell[KDB_PREFETCH_MAX], *cell_end[KDB_PREFETCH_MAX];
    if (n > KDB_PREFETCH_MAX) n = KDB_PREFETCH_MAX;
    for (int i = 0; i < n; i++) {
        slot[i] = sg_key_slot(keys[i], lens[i]);
        __builtin_prefetch(&db->fast[slot[i]]);
    }
    for (int i = 0; i < n; i++) h[i] = sg_hash(keys[i], lens[i]);
    for (int i = 0; i < n; i++) {
        uint64_t f = db->fast[slot[i]];
        cell[i] = NULL;
        if (!f) continue; /* no table, or one in a resize: not worth it */
        const uintptr_t *cells = fast_cells(f);
        cell[i] = &cells[h[i] & fast_mask(f)];
        /* The probe below stays in the cell's cache line and the table. */
        const uintptr_t *line_end = (const uintptr_t *)(((uintptr_t)cell[i] | 63) + 1);
        const uintptr_t *table_end = cells + fast_mask(f) + 1;
        cell_end[i] = line_end < table_end ? line_end : table_end;
        __builtin_prefetch(cell[i]);
    }
    for (int i = 0; i < n; i++) {
        if (!cell[i]) continue;
        /* The first tag match from the home cell, within its cache line. */
        uintptr_t tag = hash_tag(h[i]);
        for (const uintptr_t *c = cell[i]; c < cell_end[i] && *c != 0; c++) {
            if ((*c & KT_TAGMASK) == tag && cell_live(*c)) {
                const char *e = (const char *)cell_entry(*c);
                __builtin_prefetch(e);
                __builtin_prefetch(e + 47);
                break;
            }
        }
    }
}

static void expire_now(kref *ref) {
    kdb *db = ref->db;
    keyspace *ks = db->ks;
    ks->stats.expired_keys++;
    if (ks->hook) {
        size_t kl;
        const char *k = kentry_key(ref->e, &kl);
        ks->hook(ks->hook_ctx, db, k, kl, KS_EVENT_EXPIRED);
    }
    kdb_delete(ref);
}

static kentry *lookup(kdb *db, const char *key, size_t klen, kref *ref, int flags) {
    kref tmp;
    if (!ref) ref = &tmp;
    if (!find_ref(db, key, klen, ref)) return NULL;
    if (!(flags & LOOKUP_NOEXPIRE) && (*ref->cell & KT_TTL) && ks_is_expired(db->ks, ref->e)) {
        expire_now(ref);
        return NULL;
    }
    if (!(flags & LOOKUP_NOTOUCH)) kdb_touch(db, ref->e);
    return ref->e;
}

kentry *kdb_lookup_read(kdb *db, const char *key, size_t klen, kref *ref, int flags) {
    kentry *e = lookup(db, key, klen, ref, flags);
    if (!(flags & LOOKUP_NOSTATS)) {
        if (e) {
            db->ks->stats.hits++;
        } else {
            db->ks->stats.misses++;
            if (db->ks->set.report_miss && db->ks->hook && !(flags & LOOKUP_NONOTIFY))
                db->ks->hook(db->ks->hook_ctx, db, key, klen, KS_EVENT_MISS);
        }
    }
    return e;
}

kentry *kdb_lookup_write(kdb *db, const char *key, size_t klen, kref *ref) {
    if (SG_UNLIKELY(db->ks->guard_fn != NULL)) guard_key(db, sg_key_slot(key, klen), key, klen);
    return lookup(db, key, klen, ref, 0);
}

bool kdb_exists(kdb *db, const char *key, size_t klen) {
    return lookup(db, key, klen, NULL, LOOKUP_NOTOUCH) != NULL;
}

void kdb_add(kdb *db, kentry *e) {
    size_t kl;
    const char *k = kentry_key(e, &kl);
    unsigned slot = sg_key_slot(k, kl);
    guard_key(db, slot, k, kl);
    ktable *t = db->slots[slot];
    if (!t) {
        t = db->slots[slot] = kt_new(KT_MIN_CAP);
        t->fast = &db->fast[slot];
        kt_sync_fast(t);
        bit_set(db->nonempty, slot, true);
    }
    entry_init_lru(db->ks, e);
    kt_insert(db->ks, t, e, sg_hash(k, kl));
    db->keys++;
    if (kentry_has_ttl(e)) {
        db->expires++;
        bit_set(db->volatile_slots, slot, true);
    }
    if (db->ks->set.report_new && db->ks->hook)
        db->ks->hook(db->ks->hook_ctx, db, k, kl, KS_EVENT_NEW);
}

void kdb_replace(kref *ref, kentry *ne) {
    guard_entry(ref->db, ref->slot, ne); /* same key; ref->e may be freed already */
    uintptr_t old = *ref->cell;
    bool had = (old & KT_TTL) != 0, has = kentry_has_ttl(ne);
    *ref->cell = (old & KT_TAGMASK) | (uintptr_t)ne | (has ? KT_TTL : 0);
    if (had != has) {
        ref->t->nvolatile += has ? 1 : -1;
        ref->db->expires += has ? 1 : -1;
        slot_update_bits(ref->db, ref->slot);
    }
    ref->e = ne;
}

kentry *kdb_unlink(kref *ref) {
    guard_entry(ref->db, ref->slot, ref->e);
    kdb *db = ref->db;
    kentry *e = ref->e;
    if (*ref->cell & KT_TTL) db->expires--;
    kt_remove(db->ks, ref->t, ref->cell);
    db->keys--;
    slot_maybe_free(db, ref->slot);
    ref->cell = NULL;
    ref->e = NULL;
    return e;
}

void kdb_delete(kref *ref) {
    kentry_free(kdb_unlink(ref));
}

void kdb_set_expire(kref *ref, int64_t when_ms) {
    guard_entry(ref->db, ref->slot, ref->e);
    kentry *e = ref->e;
    if (kentry_has_ttl(e)) {
        kentry_set_expire_inplace(e, when_ms);
        return;
    }
    size_t kl;
    const char *k = kentry_key(e, &kl);
    kentry *n = kentry_rebuild(e, k, kl, when_ms);
    sg_free(e); /* the value moved to n */
    kdb_replace(ref, n);
}

void kdb_persist(kref *ref) {
    kentry *e = ref->e;
    if (!kentry_has_ttl(e)) return;
    size_t kl;
    const char *k = kentry_key(e, &kl);
    kentry *n = kentry_rebuild(e, k, kl, -1);
    sg_free(e);
    kdb_replace(ref, n);
}

/* ---- flushing ---- */

void kdb_flush(kdb *db) {
    guard_all(db->ks);
    for (unsigned s = bit_next(db->nonempty, 0); s < SG_SLOTS; s = bit_next(db->nonempty, s + 1)) {
        kt_free(db->ks, db->slots[s], true);
        db->slots[s] = NULL;
    }
    for (unsigned s = 0; s < SG_SLOTS; s++) { /* empty tables kept by no_resize */
        if (db->slots[s]) {
            kt_free(db->ks, db->slots[s], true);
            db->slots[s] = NULL;
        }
    }
    memset(db->nonempty, 0, sizeof(db->nonempty));
    memset(db->volatile_slots, 0, sizeof(db->volatile_slots));
    db->keys = db->expires = 0;
    db->expire_slot = 0;
    db->avg_ttl = 0;
}

void kdb_flush_async(kdb *db) {
    keyspace *ks = db->ks;
    guard_all(ks);
    for (unsigned s = 0; s < SG_SLOTS; s++) {
        ktable *t = db->slots[s];
        if (!t) continue;
        rehash_list_remove(ks, t);
        if (ks->nlazy == ks->lazycap) {
            ks->lazycap = ks->lazycap ? ks->lazycap * 2 : 64;
            ks->lazy = sg_realloc(ks->lazy, sizeof(ktable *) * ks->lazycap);
        }
        ks->lazy[ks->nlazy++] = t;
        db->fast[s] = 0;
        t->fast = NULL;
        ks->lazy_pending += kt_count(t);
        db->slots[s] = NULL;
    }
    memset(db->nonempty, 0, sizeof(db->nonempty));
    memset(db->volatile_slots, 0, sizeof(db->volatile_slots));
    db->keys = db->expires = 0;
    db->expire_slot = 0;
    db->avg_ttl = 0;
}

uint64_t ks_lazyfree_pending(const keyspace *ks) {
    return ks->lazy_pending;
}

bool ks_background_step(keyspace *ks, uint64_t budget_us) {
    uint64_t start = sg_monotonic_us();
    while (ks->nlazy) {
        ktable *t = ks->lazy[ks->nlazy - 1];
        /* Free from the end of each cell array, shrinking it logically. */
        for (int i = 1; i >= 0; i--) {
            if (!t->cells[i]) continue;
            while (t->mask[i] != UINT64_MAX) {
                uint64_t p = t->mask[i];
                if (cell_live(t->cells[i][p])) {
                    kentry_free(cell_entry(t->cells[i][p]));
                    ks->lazy_pending--;
                }
                t->cells[i][p] = 0;
                if (p == 0) {
                    t->mask[i] = UINT64_MAX;
                    break;
                }
                t->mask[i]--;
                if ((p & 255) == 0 && sg_monotonic_us() - start > budget_us) return true;
            }
            sg_free(t->cells[i]);
            t->cells[i] = NULL;
        }
        sg_free(t);
        ks->nlazy--;
    }
    return false;
}

void ks_swapdb(keyspace *ks, int a, int b) {
    guard_all(ks);
    kdb *x = ks->dbs[a], *y = ks->dbs[b];
    ks->dbs[a] = y;
    ks->dbs[b] = x;
    x->id = b;
    y->id = a;
}

/* ---- iteration ---- */

void kdb_foreach(kdb *db, kdb_visit_fn *fn, void *ctx) {
    for (unsigned s = bit_next(db->nonempty, 0); s < SG_SLOTS; s = bit_next(db->nonempty, s + 1)) {
        ktable *t = db->slots[s];
        for (int i = 0; i < 2; i++) {
            if (!t->cells[i]) continue;
            for (uint64_t p = 0; p <= t->mask[i]; p++) {
                uintptr_t c = t->cells[i][p];
                if (!cell_live(c)) continue;
                kentry *e = cell_entry(c);
                if ((c & KT_TTL) && ks_is_expired(db->ks, e)) continue;
                fn(ctx, e);
            }
        }
    }
}

void kdb_foreach_slot(kdb *db, unsigned slot, kdb_visit_fn *fn, void *ctx) {
    ktable *t = slot < SG_SLOTS ? db->slots[slot] : NULL;
    if (!t) return;
    for (int i = 0; i < 2; i++) {
        if (!t->cells[i]) continue;
        for (uint64_t p = 0; p <= t->mask[i]; p++) {
            uintptr_t c = t->cells[i][p];
            if (cell_live(c)) fn(ctx, cell_entry(c));
        }
    }
}

typedef struct scan_ctx {
    kdb_visit_fn *fn;
    void *ctx;
    size_t emitted;
    keyspace *ks;
} scan_ctx;

static void scan_bucket(ktable *t, int i, uint64_t b, scan_ctx *sc) {
    uintptr_t *cells = t->cells[i];
    uint64_t mask = t->mask[i];
    bool skip = i == 0 && kt_resizing(t);
    uint64_t lo = skip ? (uint64_t)t->rehashidx : 0;
    uint64_t lim = mask + 1 - lo, n = 0, p = b;
    while (n++ < lim) {
        if (p < lo) p = lo;
        uintptr_t c = cells[p];
        if (c == 0) break;
        if (cell_live(c) && cell_home(c, mask) == b) {
            kentry *e = cell_entry(c);
            if (!((c & KT_TTL) && ks_is_expired(sc->ks, e))) {
                sc->fn(sc->ctx, e);
                sc->emitted++;
            }
        }
        p = (p + 1) & mask;
    }
}

static inline uint64_t rev64(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    return __builtin_bswap64(v);
}

static uint64_t kt_scan(ktable *t, uint64_t v, scan_ctx *sc) {
    if (!kt_resizing(t)) {
        uint64_t m0 = t->mask[0];
        scan_bucket(t, 0, v & m0, sc);
        v |= ~m0;
        v = rev64(v);
        v++;
        return rev64(v);
    }
    int small = t->mask[0] <= t->mask[1] ? 0 : 1, large = 1 - small;
    uint64_t m0 = t->mask[small], m1 = t->mask[large];
    scan_bucket(t, small, v & m0, sc);
    do {
        scan_bucket(t, large, v & m1, sc);
        v |= ~m1;
        v = rev64(v);
        v++;
        v = rev64(v);
    } while (v & (m0 ^ m1));
    return v;
}

uint64_t kdb_scan(kdb *db, uint64_t cursor, size_t count, kdb_visit_fn *fn, void *ctx) {
    scan_ctx sc = {fn, ctx, 0, db->ks};
    unsigned slot = (unsigned)(cursor & (SG_SLOTS - 1));
    uint64_t v = cursor >> 14;
    if (count == 0) count = 1;
    uint64_t maxiter = count * 10;
    while (slot < SG_SLOTS) {
        ktable *t = db->slots[slot];
        if (!t || kt_count(t) == 0) {
            slot = bit_next(db->nonempty, slot + 1);
            v = 0;
            continue;
        }
        v = kt_scan(t, v, &sc);
        if (v == 0) slot = bit_next(db->nonempty, slot + 1);
        if (sc.emitted >= count || --maxiter == 0) break;
    }
    if (slot >= SG_SLOTS) return 0;
    return (v << 14) | slot;
}

/* First live cell at or after a random position (with the TTL bit if
 * want_ttl). NULL if none found in the table. */
static uintptr_t *kt_random_cell(ktable *t, bool want_ttl) {
    int i = 0;
    if (kt_resizing(t) && t->used[1] &&
        (t->used[0] == 0 || sg_rand64() % kt_count(t) >= t->used[0]))
        i = 1;
    uint64_t mask = t->mask[i];
    uint64_t p = sg_rand64() & mask;
    for (uint64_t n = 0; n <= mask; n++, p = (p + 1) & mask) {
        uintptr_t c = t->cells[i][p];
        if (cell_live(c) && (!want_ttl || (c & KT_TTL))) return &t->cells[i][p];
    }
    return NULL;
}

static bool random_ref(kdb *db, bool want_ttl, kref *ref) {
    const uint64_t *bm = want_ttl ? db->volatile_slots : db->nonempty;
    unsigned s = bit_next(bm, (unsigned)(sg_rand64() & (SG_SLOTS - 1)));
    if (s >= SG_SLOTS) s = bit_next(bm, 0);
    if (s >= SG_SLOTS) return false;
    ktable *t = db->slots[s];
    uintptr_t *c = kt_random_cell(t, want_ttl);
    if (!c && want_ttl && kt_resizing(t)) c = kt_random_cell(t, true);
    if (!c) return false;
    ref->db = db;
    ref->t = t;
    ref->cell = c;
    ref->e = cell_entry(*c);
    ref->slot = s;
    return true;
}

/* Draws until a live key turns up, deleting expired ones on the way (as
 * Redis does), so the work is bounded by the keys that had to go anyway. */
kentry *kdb_random(kdb *db) {
    while (db->keys) {
        kref r;
        if (!random_ref(db, false, &r)) return NULL;
        if ((*r.cell & KT_TTL) && ks_is_expired(db->ks, r.e)) {
            expire_now(&r);
            continue;
        }
        return r.e;
    }
    return NULL;
}

/* ---- active expiry ---- */

static uint64_t expire_slot_cells(kdb *db, unsigned slot, uint64_t *sampled) {
    keyspace *ks = db->ks;
    ktable *t = db->slots[slot];
    uint64_t expired = 0;
    ks->no_resize++;
    for (int i = 0; i < 2 && t->nvolatile; i++) {
        if (!t->cells[i]) continue;
        for (uint64_t p = 0; p <= t->mask[i] && t->nvolatile; p++) {
            uintptr_t c = t->cells[i][p];
            if (!(c & KT_TTL) || !cell_live(c)) continue;
            (*sampled)++;
            kentry *e = cell_entry(c);
            if (kentry_expire(e) >= ks->now_ms) continue;
            kref r = {db, t, &t->cells[i][p], e, slot};
            expire_now(&r);
            expired++;
            if (t->cells[i][p] != 0 && t->cells[i][p] != KT_TOMB) p--; /* a follower moved here */
        }
    }
    ks->no_resize--;
    if (kt_count(t) == 0)
        slot_maybe_free(db, slot);
    else
        slot_update_bits(db, slot);
    return expired;
}

uint64_t ks_active_expire(keyspace *ks, uint64_t budget_us) {
    uint64_t start = sg_monotonic_us(), expired = 0, sampled = 0;
    int64_t saved_now = ks->now_ms;
    ks->now_ms = sg_mstime();
    for (int d = 0; d < ks->ndb; d++) {
        kdb *db = ks->dbs[ks->expire_db];
        unsigned s = db->expires ? bit_next(db->volatile_slots, db->expire_slot) : SG_SLOTS;
        unsigned n = 0;
        uint64_t ttl_sum = 0, ttl_n = 0;
        while (s < SG_SLOTS) {
            ktable *t = db->slots[s];
            /* Sample a TTL for the average estimate (INFO keyspace avg_ttl). */
            uintptr_t *rc = kt_random_cell(t, true);
            if (rc) {
                int64_t left = kentry_expire(cell_entry(*rc)) - ks->now_ms;
                if (left > 0) {
                    ttl_sum += (uint64_t)left;
                    ttl_n++;
                }
            }
            expired += expire_slot_cells(db, s, &sampled);
            db->expire_slot = s + 1;
            if ((++n & 15) == 0 && sg_monotonic_us() - start > budget_us) goto out;
            s = bit_next(db->volatile_slots, s + 1);
        }
        db->expire_slot = 0;
        if (ttl_n) {
            uint64_t avg = ttl_sum / ttl_n;
            db->avg_ttl = db->avg_ttl ? (db->avg_ttl / 50) * 49 + avg / 50 : avg;
        }
        if (!db->expires) db->avg_ttl = 0;
        ks->expire_db = (ks->expire_db + 1) % ks->ndb;
    }
out:
    ks->stats.expire_cycle_us += sg_monotonic_us() - start;
    ks->stats.expired_stale_perc_x100 = sampled ? expired * 10000 / sampled : 0;
    if (saved_now > ks->now_ms) ks->now_ms = saved_now;
    return expired;
}

/* ---- eviction ---- */

static uint64_t evict_score(keyspace *ks, const kentry *e) {
    switch (ks->set.policy) {
    case KS_POLICY_ALLKEYS_LRU:
    case KS_POLICY_VOLATILE_LRU:
        return ks_idle_ms(ks, e);
    case KS_POLICY_ALLKEYS_LFU:
    case KS_POLICY_VOLATILE_LFU:
        return 255 - ks_lfu_freq(ks, e);
    case KS_POLICY_VOLATILE_TTL:
        return UINT64_MAX - (uint64_t)kentry_expire(e);
    default:
        return 0;
    }
}

static void pool_insert(keyspace *ks, int db, const kentry *e, uint64_t score) {
    evcand *pool = ks->pool;
    size_t kl;
    const char *k = kentry_key(e, &kl);
    /* Already there? */
    for (int i = 0; i < EVPOOL_SIZE; i++)
        if (pool[i].key && pool[i].db == db && pool[i].key->len == kl &&
            !memcmp(pool[i].key->buf, k, kl))
            return;
    /* Pool sorted ascending by score; slot 0 is the worst candidate. */
    int i = 0;
    while (i < EVPOOL_SIZE && pool[i].key && pool[i].score < score) i++;
    if (i == 0 && pool[EVPOOL_SIZE - 1].key) return; /* full, and worse than everything kept */
    if (i < EVPOOL_SIZE && !pool[EVPOOL_SIZE - 1].key) {
        memmove(pool + i + 1, pool + i, sizeof(evcand) * (size_t)(EVPOOL_SIZE - i - 1));
    } else {
        i--;
        sstr_free(pool[0].key);
        memmove(pool, pool + 1, sizeof(evcand) * (size_t)i);
    }
    pool[i].key = sstr_new(k, kl);
    pool[i].db = db;
    pool[i].score = score;
}

/* Deletes the key at r as an eviction (stats, hook); returns its bytes. */
static size_t evict_ref(keyspace *ks, kref *r) {
    ks->stats.evicted_keys++;
    if (ks->hook) {
        size_t kl;
        const char *k = kentry_key(r->e, &kl);
        ks->hook(ks->hook_ctx, r->db, k, kl, KS_EVENT_EVICTED);
    }
    size_t bytes = kentry_mem(r->e);
    kdb_delete(r);
    return bytes;
}

/* Evicts one key by policy; returns the bytes its entry held, 0 if none. */
static size_t evict_one(keyspace *ks) {
    int pol = ks->set.policy;
    bool volatile_only = pol >= KS_POLICY_VOLATILE_LRU;
    if (pol == KS_POLICY_ALLKEYS_RANDOM || pol == KS_POLICY_VOLATILE_RANDOM) {
        for (int d = 0; d < ks->ndb; d++) {
            kdb *db = ks->dbs[(ks->expire_db + d) % ks->ndb];
            if (!(volatile_only ? db->expires : db->keys)) continue;
            kref r;
            if (!random_ref(db, volatile_only, &r)) continue;
            return evict_ref(ks, &r);
        }
        return 0;
    }
    for (int round = 0; round < 4; round++) {
        for (int d = 0; d < ks->ndb; d++) {
            kdb *db = ks->dbs[d];
            if (!(volatile_only ? db->expires : db->keys)) continue;
            for (int n = 0; n < ks->set.samples; n++) {
                kref r;
                if (!random_ref(db, volatile_only, &r)) break;
                pool_insert(ks, d, r.e, evict_score(ks, r.e));
            }
        }
        for (int i = EVPOOL_SIZE - 1; i >= 0; i--) {
            evcand *c = &ks->pool[i];
            if (!c->key) continue;
            kdb *db = ks->dbs[c->db];
            kref r;
            bool found = find_ref(db, c->key->buf, c->key->len, &r);
            sstr_free(c->key);
            c->key = NULL;
            if (!found || (volatile_only && !kentry_has_ttl(r.e))) continue;
            return evict_ref(ks, &r);
        }
    }
    return 0;
}

/* Counts what each deleted entry held, not the drop in used_memory, which
 * the eviction pool's own bookkeeping would distort. */
size_t ks_evict(keyspace *ks, size_t want) {
    uint64_t start = sg_monotonic_us();
    size_t freed = 0;
    if (ks->set.policy == KS_POLICY_NOEVICTION) return 0;
    while (freed < want) {
        size_t n = evict_one(ks);
        if (!n) break;
        freed += n;
    }
    ks->stats.eviction_us += sg_monotonic_us() - start;
    return freed;
}

void ks_rehash_step(keyspace *ks, uint64_t budget_us) {
    uint64_t start = sg_monotonic_us();
    while (ks->rehashing) {
        kt_rehash(ks, ks->rehashing, 1024);
        if (sg_monotonic_us() - start > budget_us) break;
    }
}

/* ---- digest and checks ---- */

typedef struct digest_ctx {
    uint8_t acc[20];
} digest_ctx;

static void digest_visit(void *ctx, kentry *e) {
    digest_ctx *d = ctx;
    uint8_t h[20];
    kentry_digest(e, true, h);
    for (int i = 0; i < 20; i++) d->acc[i] ^= h[i];
}

void kdb_digest(kdb *db, uint8_t out[20]) {
    digest_ctx d;
    memset(&d, 0, sizeof(d));
    kdb_foreach(db, digest_visit, &d);
    memcpy(out, d.acc, 20);
}

void ks_check(keyspace *ks) {
    for (int d = 0; d < ks->ndb; d++) {
        kdb *db = ks->dbs[d];
        uint64_t keys = 0, expires = 0;
        for (unsigned s = 0; s < SG_SLOTS; s++) {
            ktable *t = db->slots[s];
            bool bit = (db->nonempty[s >> 6] >> (s & 63)) & 1;
            if (!t) {
                sg_assert(!bit);
                sg_assert(db->fast[s] == 0);
                continue;
            }
            sg_assert(bit == (kt_count(t) > 0));
            uint64_t used[2] = {0, 0}, vol = 0;
            for (int i = 0; i < 2; i++) {
                if (!t->cells[i]) continue;
                for (uint64_t p = 0; p <= t->mask[i]; p++) {
                    uintptr_t c = t->cells[i][p];
                    if (c == KT_TOMB) sg_assert(i == 0 && kt_resizing(t));
                    if (!cell_live(c)) continue;
                    kentry *e = cell_entry(c);
                    size_t kl;
                    const char *k = kentry_key(e, &kl);
                    sg_assert(sg_key_slot(k, kl) == s);
                    sg_assert(((c & KT_TTL) != 0) == kentry_has_ttl(e));
                    if (c & KT_TTL) vol++;
                    int ti = -1;
                    sg_assert(kt_find(t, k, kl, sg_hash(k, kl), &ti) == &t->cells[i][p]);
                    sg_assert(ti == i);
                    used[i]++;
                }
            }
            sg_assert(used[0] == t->used[0] && used[1] == t->used[1]);
            sg_assert(vol == t->nvolatile);
            if (!kt_resizing(t)) sg_assert(t->cells[1] == NULL);
            sg_assert(t->fast == &db->fast[s] && db->fast[s] == fast_word(t));
            keys += used[0] + used[1];
            expires += vol;
        }
        sg_assert(keys == db->keys);
        sg_assert(expires == db->expires);
    }
}
