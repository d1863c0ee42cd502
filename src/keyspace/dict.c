/*
 * dict: open-addressing hash table for collection members. See dict.h and,
 * for the probing/scan invariants it shares, keyspace.c.
 */
#include "dict.h"

#include <stddef.h>
#include <string.h>

#define D_PTRMASK ((uintptr_t)0x0000FFFFFFFFFFFFULL)
#define D_MIN_CAP 8
#define D_KEY_OFF offsetof(dict_entry, key)

/* Bytes an entry uses: header, member and (DICT_VAL_STR) value. */
static inline size_t entry_len(const dict *d, const dict_entry *e) {
    return D_KEY_OFF + e->klen + (d->valkind == DICT_VAL_STR ? (size_t)e->v.vlen : 0);
}

static inline dict_entry *cell_entry(uintptr_t c) {
    return (dict_entry *)(c & D_PTRMASK);
}

static inline uintptr_t make_cell(dict_entry *e, uint64_t h) {
    sg_assert(((uintptr_t)e & ~D_PTRMASK) == 0);
    return ((uintptr_t)(h & 0xFFFF) << 48) | (uintptr_t)e;
}

static inline uint64_t home_of(uintptr_t c, uint64_t mask) {
    if (mask <= 0xFFFF) return (c >> 48) & mask;
    dict_entry *e = cell_entry(c);
    return sg_hash(e->key, e->klen) & mask;
}

dict *dict_new(int valkind) {
    dict *d = sg_calloc(sizeof(dict));
    d->cells = sg_calloc(sizeof(uintptr_t) * D_MIN_CAP);
    d->mask = D_MIN_CAP - 1;
    d->valkind = valkind;
    return d;
}

void dict_free(dict *d) {
    if (!d) return;
    for (uint64_t i = 0; i <= d->mask; i++)
        if (d->cells[i]) sg_free(cell_entry(d->cells[i]));
    sg_free(d->cells);
    sg_free(d);
}

static void place(dict *d, uintptr_t c, uint64_t home) {
    uint64_t p = home & d->mask;
    while (d->cells[p]) p = (p + 1) & d->mask;
    d->cells[p] = c;
}

static void resize(dict *d, uint64_t cap) {
    uintptr_t *old = d->cells;
    uint64_t oldmask = d->mask;
    d->cells = sg_calloc(sizeof(uintptr_t) * cap);
    d->mask = cap - 1;
    for (uint64_t i = 0; i <= oldmask; i++) {
        uintptr_t c = old[i];
        if (!c) continue;
        uint64_t h =
            d->mask <= 0xFFFF ? (c >> 48) : sg_hash(cell_entry(c)->key, cell_entry(c)->klen);
        place(d, c, h);
    }
    sg_free(old);
}

dict *dict_dup(const dict *d) {
    dict *n = sg_calloc(sizeof(dict));
    n->cells = sg_calloc(sizeof(uintptr_t) * (d->mask + 1));
    n->mask = d->mask;
    n->used = d->used;
    n->valkind = d->valkind;
    for (uint64_t i = 0; i <= d->mask; i++) {
        uintptr_t c = d->cells[i];
        if (!c) continue;
        dict_entry *e = cell_entry(c);
        dict_entry *ne = sg_memdup(e, entry_len(d, e));
        n->cells[i] = (c & ~D_PTRMASK) | (uintptr_t)ne;
    }
    return n;
}

static uintptr_t *find_cell(const dict *d, const char *k, size_t n, uint64_t h) {
    uintptr_t tag = (uintptr_t)(h & 0xFFFF) << 48;
    uint64_t p = h & d->mask;
    for (uint64_t i = 0; i <= d->mask; i++, p = (p + 1) & d->mask) {
        uintptr_t c = d->cells[p];
        if (!c) return NULL;
        if ((c & ~D_PTRMASK) == tag) {
            dict_entry *e = cell_entry(c);
            if (e->klen == n && memcmp(e->key, k, n) == 0) return &d->cells[p];
        }
    }
    return NULL;
}

dict_entry *dict_find(const dict *d, const char *k, size_t n) {
    uintptr_t *c = find_cell(d, k, n, sg_hash(k, n));
    return c ? cell_entry(*c) : NULL;
}

dict_entry *dict_add(dict *d, const char *k, size_t n, bool *created) {
    uint64_t h = sg_hash(k, n);
    uintptr_t *c = find_cell(d, k, n, h);
    if (c) {
        if (created) *created = false;
        return cell_entry(*c);
    }
    if ((d->used + 1) * 4 > (d->mask + 1) * 3) resize(d, (d->mask + 1) * 2);
    sg_assert(n < UINT32_MAX);
    dict_entry *e = sg_malloc(D_KEY_OFF + n);
    memset(&e->v, 0, sizeof(e->v));
    e->klen = (uint32_t)n;
    memcpy(e->key, k, n);
    place(d, make_cell(e, h), h);
    d->used++;
    if (created) *created = true;
    return e;
}

bool dict_delete(dict *d, const char *k, size_t n) {
    uintptr_t *c = find_cell(d, k, n, sg_hash(k, n));
    if (!c) return false;
    sg_free(cell_entry(*c));
    uint64_t hole = (uint64_t)(c - d->cells), mask = d->mask;
    uint64_t q = (hole + 1) & mask;
    while (d->cells[q]) {
        uint64_t home = home_of(d->cells[q], mask);
        if (((q - home) & mask) >= ((q - hole) & mask)) {
            d->cells[hole] = d->cells[q];
            hole = q;
        }
        q = (q + 1) & mask;
    }
    d->cells[hole] = 0;
    d->used--;
    if (d->mask + 1 > D_MIN_CAP && d->used * 8 < d->mask + 1) {
        uint64_t cap = D_MIN_CAP;
        while (cap < d->used * 2) cap *= 2;
        resize(d, cap);
    }
    return true;
}

dict_entry *dict_set_str(dict *d, const char *k, size_t n, const char *v, size_t vn,
                         bool *created) {
    sg_assert(d->valkind == DICT_VAL_STR);
    uint64_t h = sg_hash(k, n);
    uintptr_t *c = find_cell(d, k, n, h);
    size_t need = D_KEY_OFF + n + vn;
    dict_entry *e;
    if (c) {
        e = cell_entry(*c);
        size_t have = sg_alloc_size(e);
        /* Reallocate when the value does not fit, or when a much shorter
         * one would leave a block of another size class mostly unused. */
        if (need > have || need + 32 <= have) {
            e = sg_realloc(e, need);
            *c = (*c & ~D_PTRMASK) | (uintptr_t)e;
            sg_assert(((uintptr_t)e & ~D_PTRMASK) == 0);
        }
        if (created) *created = false;
    } else {
        if ((d->used + 1) * 4 > (d->mask + 1) * 3) resize(d, (d->mask + 1) * 2);
        sg_assert(n < UINT32_MAX);
        e = sg_malloc(need);
        e->klen = (uint32_t)n;
        memcpy(e->key, k, n);
        place(d, make_cell(e, h), h);
        d->used++;
        if (created) *created = true;
    }
    e->v.vlen = vn;
    if (vn) memcpy(e->key + n, v, vn);
    return e;
}

dict_entry *dict_next(const dict *d, uint64_t *pos) {
    while (*pos <= d->mask) {
        uintptr_t c = d->cells[(*pos)++];
        if (c) return cell_entry(c);
    }
    return NULL;
}

static inline uint64_t rev64(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    return __builtin_bswap64(v);
}

uint64_t dict_scan(const dict *d, uint64_t v, dict_scan_fn *fn, void *ctx) {
    uint64_t mask = d->mask, b = v & mask, p = b;
    for (uint64_t i = 0; i <= mask; i++, p = (p + 1) & mask) {
        uintptr_t c = d->cells[p];
        if (!c) break;
        if (home_of(c, mask) == b) fn(ctx, cell_entry(c));
    }
    v |= ~mask;
    v = rev64(v);
    v++;
    return rev64(v);
}

/* Uniform: draw cells until an occupied one turns up (the table is at
 * least 1/8 full, so this takes a few draws); scanning forward from a
 * random cell instead would favour entries that follow empty runs. */
dict_entry *dict_random(const dict *d) {
    if (!d->used) return NULL;
    for (int tries = 0; tries < 1000; tries++) {
        uintptr_t c = d->cells[sg_rand64() & d->mask];
        if (c) return cell_entry(c);
    }
    uint64_t p = sg_rand64() & d->mask;
    for (uint64_t i = 0; i <= d->mask; i++, p = (p + 1) & d->mask)
        if (d->cells[p]) return cell_entry(d->cells[p]);
    return NULL;
}

size_t dict_mem(const dict *d) {
    size_t n = sg_alloc_size(d) + sg_alloc_size(d->cells);
    for (uint64_t i = 0; i <= d->mask; i++) {
        uintptr_t c = d->cells[i];
        if (!c) continue;
        n += sg_alloc_size(cell_entry(c));
    }
    return n;
}

bool dict_check(const dict *d) {
    uint64_t n = 0;
    for (uint64_t i = 0; i <= d->mask; i++) {
        uintptr_t c = d->cells[i];
        if (!c) continue;
        n++;
        dict_entry *e = cell_entry(c);
        if (find_cell(d, e->key, e->klen, sg_hash(e->key, e->klen)) != &d->cells[i]) return false;
        if (entry_len(d, e) > sg_alloc_size(e)) return false;
    }
    return n == d->used;
}
