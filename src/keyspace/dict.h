/*
 * dict: the hash table of large collections (hash fields, set members,
 * sorted-set members), OBJECT ENCODING "hashtable".
 *
 * Open addressing with linear probing over tagged pointers, as the
 * keyspace's tables: a cell holds the entry's address and 16 bits of the
 * member's hash (SipHash with the per-process key), so probes rarely touch
 * an entry that does not match, and homes are known without rehashing in
 * tables up to 65536 cells. Deletion shifts followers back (no tombstones).
 * Resizing is done at once (grow at 3/4, shrink under 1/8).
 *
 * An entry is one allocation: the value word, the member's length and
 * bytes, and, in DICT_VAL_STR dicts, the value's bytes right after the
 * member's (so a hash field costs one allocation, not two):
 *
 *   +-------------------------------+-----------+--------+-----------+
 *   | v: score / pointer / vlen (8) | klen (4)  | member | [value]   |
 *   +-------------------------------+-----------+--------+-----------+
 *
 * A DICT_VAL_STR entry is reallocated when its value no longer fits (or
 * leaves much of the block unused), so the entry's address changes on
 * dict_set_str; the other kinds' entries never move while they live (the
 * sorted set's skiplist points at them).
 */
#ifndef SURGE_DICT_H
#define SURGE_DICT_H

#include "../base/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { DICT_VAL_NONE, DICT_VAL_STR, DICT_VAL_DOUBLE };

typedef struct dict_entry {
    union {
        uint64_t vlen; /* DICT_VAL_STR: length of the value after the key */
        double d;
        void *p; /* DICT_VAL_NONE dicts may hang their own pointer here */
    } v;
    uint32_t klen;
    char key[];
} dict_entry;

typedef struct dict {
    uintptr_t *cells;
    uint64_t mask;
    uint64_t used;
    int valkind;
} dict;

dict *dict_new(int valkind);
void dict_free(dict *d);
dict *dict_dup(const dict *d);
static inline uint64_t dict_size(const dict *d) {
    return d->used;
}
dict_entry *dict_find(const dict *d, const char *k, size_t n);
/* Returns the entry for k, creating it (value zeroed) when absent; *created
 * says which. */
dict_entry *dict_add(dict *d, const char *k, size_t n, bool *created);
bool dict_delete(dict *d, const char *k, size_t n);
/* DICT_VAL_STR only: sets member k's value to a copy of v, adding the
 * member when absent (*created, if not NULL, says which). Returns the
 * entry, which may have moved: entry pointers taken before are stale. */
dict_entry *dict_set_str(dict *d, const char *k, size_t n, const char *v, size_t vn, bool *created);
/* The value of a DICT_VAL_STR entry (empty until dict_set_str). */
static inline const char *dict_entry_str(const dict_entry *e, size_t *len) {
    *len = (size_t)e->v.vlen;
    return e->key + e->klen;
}
/* Iteration over all entries: pos starts at 0; returns NULL at the end.
 * The dict must not change during iteration. */
dict_entry *dict_next(const dict *d, uint64_t *pos);
/* SCAN with Redis's guarantee (see keyspace.c); returns the next cursor. */
typedef void dict_scan_fn(void *ctx, dict_entry *e);
uint64_t dict_scan(const dict *d, uint64_t cursor, dict_scan_fn *fn, void *ctx);
dict_entry *dict_random(const dict *d);
size_t dict_mem(const dict *d);
bool dict_check(const dict *d);

#endif
