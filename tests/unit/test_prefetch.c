/* Unit tests for kdb_prefetch (src/keyspace/keyspace.c): a hint that must
 * neither change the keyspace nor read out of bounds, whatever state the
 * tables are in (empty slots, missing keys, a table in an incremental
 * resize, a repeated key). Run under ASan to check the bounds. */
#include "../../src/base/base.h"
#include "../../src/keyspace/keyspace.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static void add(kdb *db, const char *k) {
    kdb_add(db, kentry_new_str(k, strlen(k), "v", 1, ENC_EMBSTR, -1));
}

/* Keys "<prefix><i>" for i in [from, from + n). */
static void prefetch_all(kdb *db, const char *prefix, int from, int n) {
    char bufs[KDB_PREFETCH_MAX + 4][32];
    const char *keys[KDB_PREFETCH_MAX + 4];
    size_t lens[KDB_PREFETCH_MAX + 4];
    for (int i = 0; i < n && i < KDB_PREFETCH_MAX + 4; i++) {
        lens[i] = (size_t)snprintf(bufs[i], sizeof(bufs[i]), "%s%d", prefix, from + i);
        keys[i] = bufs[i];
    }
    kdb_prefetch(db, keys, lens, n); /* n over the maximum is clamped */
}

TEST(prefetch_empty_and_missing) {
    keyspace *ks = ks_create(1);
    kdb *db = ks_db(ks, 0);
    prefetch_all(db, "missing:", 0, KDB_PREFETCH_MAX);
    add(db, "present");
    const char *keys[3] = {"present", "present", "absent"};
    size_t lens[3] = {7, 7, 6};
    kdb_prefetch(db, keys, lens, 3);
    kdb_prefetch(db, keys, lens, 0);
    CHECK_EQ(kdb_size(db), 1);
    ks_check(ks);
    ks_destroy(ks);
}

TEST(prefetch_during_resize) {
    keyspace *ks = ks_create(1);
    kdb *db = ks_db(ks, 0);
    /* One {tag}: every key in one slot, so the table grows past the
     * synchronous limit and resizes incrementally. */
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "{t}k%d", i);
        add(db, k);
        if (i % 997 == 0) prefetch_all(db, "{t}k", i, KDB_PREFETCH_MAX + 4);
    }
    prefetch_all(db, "{t}k", 0, KDB_PREFETCH_MAX);
    prefetch_all(db, "k", 0, KDB_PREFETCH_MAX);
    CHECK_EQ(kdb_size(db), 20000);
    ks_check(ks);
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "{t}k%d", i);
        CHECK(kdb_exists(db, k, strlen(k)));
    }
    ks_destroy(ks);
}

TEST(prefetch_small_full_tables) {
    /* Many slots with a few keys each: tables of the minimum size, some of
     * them full up to their last cell, so a probe that ran on to the end of
     * a cache line would read past the cells (ASan). */
    keyspace *ks = ks_create(1);
    kdb *db = ks_db(ks, 0);
    char k[32];
    for (int i = 0; i < 40000; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        add(db, k);
    }
    for (int i = 0; i < 40000; i += KDB_PREFETCH_MAX) prefetch_all(db, "key:", i, KDB_PREFETCH_MAX);
    for (int i = 0; i < 40000; i += KDB_PREFETCH_MAX)
        prefetch_all(db, "nokey:", i, KDB_PREFETCH_MAX);
    CHECK_EQ(kdb_size(db), 40000);
    ks_check(ks);
    ks_destroy(ks);
}
