/* Private to the keyspace module: entry layout and table structures. */
#ifndef SURGE_KS_INTERNAL_H
#define SURGE_KS_INTERNAL_H

#include "keyspace.h"

#define KE_HDR 5
#define KE_TTL 0x01

struct kentry {
    uint8_t hdr; /* the first byte of a variable-length layout; see kentry.c */
};
/* Byte view of an entry (the layout is variable, so no struct fields). */
#define KB(e) ((uint8_t *)(uintptr_t)(e))

kentry *kentry_rebuild(const kentry *e, const char *key, size_t klen, int64_t expire);
void kentry_set_expire_inplace(kentry *e, int64_t when);
size_t kentry_alloc_len(const kentry *e);

/* Table cell: [63..48] low 16 hash bits | [47..3] entry address (entries
 * are 8-byte aligned) | [2..1] 2 high hash bits | [0] entry has a TTL. 0
 * is an empty cell; KT_TOMB (address 0, non-zero) is a deleted cell, used
 * only in the old table during an incremental resize. */
#define KT_TTL     ((uintptr_t)1)
#define KT_TOMB    ((uintptr_t)2)
#define KT_PTRMASK ((uintptr_t)0x0000FFFFFFFFFFF8ULL)
#define KT_TAGMASK ((uintptr_t)0xFFFF000000000006ULL)

struct ktable {
    uintptr_t *cells[2]; /* [1] is the new table while resizing */
    uint64_t mask[2];
    uint64_t used[2];
    int64_t rehashidx; /* next cell of [0] to move; -1 when not resizing */
    uint64_t nvolatile;
    struct ktable *next_rehashing; /* list of tables in a resize */
    bool in_rehash_list;
    uint64_t *fast; /* the database's kdb.fast word for this table, or NULL */
};

#endif
