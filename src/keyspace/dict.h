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
 * An entry is one allocation: the value (a string, a score or nothing),
 * the member's length and bytes.
 */
#ifndef SURGE_DICT_H
#define SURGE_DICT_H

#include "../base/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { DICT_VAL_NONE, DICT_VAL_SSTR, DICT_VAL_DOUBLE };

typedef struct dict_entry {
    union {
        sstr *s;
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
/* Sets a string value, freeing the previous one. */
void dict_set_str(dict_entry *e, const char *v, size_t n);
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
