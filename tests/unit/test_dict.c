/* Unit tests for src/keyspace/dict.c: members with values stored in the
 * entry (DICT_VAL_STR), growth, shrinking, dup, scan and accounting. */
#include "../../src/keyspace/dict.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static size_t fld(char *buf, unsigned i) {
    return (size_t)snprintf(buf, 32, "f:%06u", i);
}

/* Value i of generation g: lengths vary from 0 to 70 bytes, so updates
 * both grow and shrink entries. */
static size_t val(char *buf, unsigned i, unsigned g) {
    size_t n = (i * 7 + g * 13) % 71;
    for (size_t k = 0; k < n; k++) buf[k] = (char)('a' + (i + g + k) % 26);
    return n;
}

static bool has(const dict *d, unsigned i, unsigned g) {
    char f[32], v[80];
    size_t fl = fld(f, i), vl = val(v, i, g), got;
    const dict_entry *e = dict_find(d, f, fl);
    if (!e) return false;
    const char *s = dict_entry_str(e, &got);
    return got == vl && memcmp(s, v, vl) == 0;
}

TEST(str_values_set_update_delete) {
    size_t mem0 = sg_used_memory();
    dict *d = dict_new(DICT_VAL_STR);
    enum { N = 5000 };
    char f[32], v[80];
    for (unsigned i = 0; i < N; i++) {
        bool created = false;
        size_t fl = fld(f, i), vl = val(v, i, 0);
        dict_entry *e = dict_set_str(d, f, fl, v, vl, &created);
        CHECK(created);
        CHECK_EQ(e->klen, fl);
        CHECK(memcmp(e->key, f, fl) == 0);
    }
    CHECK_EQ(dict_size(d), N);
    CHECK(dict_check(d));
    for (unsigned g = 1; g < 4; g++) {
        for (unsigned i = 0; i < N; i++) {
            bool created = true;
            size_t fl = fld(f, i), vl = val(v, i, g);
            dict_set_str(d, f, fl, v, vl, &created);
            CHECK(!created);
        }
        CHECK(dict_check(d));
        for (unsigned i = 0; i < N; i++) CHECK(has(d, i, g));
    }
    CHECK_EQ(dict_size(d), N);
    /* Every entry is one block, counted by dict_mem. */
    size_t sum = sg_alloc_size(d) + sg_alloc_size(d->cells);
    uint64_t pos = 0;
    for (dict_entry *e; (e = dict_next(d, &pos));) sum += sg_alloc_size(e);
    CHECK_EQ(dict_mem(d), sum);
    CHECK_EQ(sg_used_memory() - mem0, sum);
    for (unsigned i = 0; i < N; i += 2) CHECK(dict_delete(d, f, fld(f, i)));
    CHECK(!dict_delete(d, f, fld(f, 0)));
    CHECK(dict_check(d));
    for (unsigned i = 0; i < N; i++) CHECK_EQ(has(d, i, 3), i % 2 == 1);
    dict_free(d);
    CHECK_EQ(sg_used_memory(), mem0);
}

TEST(str_value_added_empty_then_set) {
    dict *d = dict_new(DICT_VAL_STR);
    bool created;
    dict_entry *e = dict_add(d, "k", 1, &created);
    size_t n = 99;
    CHECK(created);
    dict_entry_str(e, &n);
    CHECK_EQ(n, 0);
    e = dict_set_str(d, "k", 1, "value", 5, &created);
    CHECK(!created);
    CHECK(memcmp(dict_entry_str(e, &n), "value", 5) == 0 && n == 5);
    /* A long value, then a short one: the entry shrinks back. */
    char big[300];
    memset(big, 'x', sizeof(big));
    e = dict_set_str(d, "k", 1, big, sizeof(big), NULL);
    CHECK(sg_alloc_size(e) >= 12 + 1 + sizeof(big));
    e = dict_set_str(d, "k", 1, "v", 1, NULL);
    CHECK(sg_alloc_size(e) < 64);
    CHECK(dict_find(d, "k", 1) == e);
    CHECK(dict_check(d));
    dict_free(d);
}

TEST(str_dup_is_deep) {
    dict *d = dict_new(DICT_VAL_STR);
    char f[32], v[80];
    for (unsigned i = 0; i < 300; i++) dict_set_str(d, f, fld(f, i), v, val(v, i, 0), NULL);
    dict *c = dict_dup(d);
    CHECK(dict_check(c));
    CHECK_EQ(dict_size(c), 300);
    for (unsigned i = 0; i < 300; i++) dict_set_str(d, f, fld(f, i), v, val(v, i, 1), NULL);
    for (unsigned i = 0; i < 300; i++) {
        CHECK(has(c, i, 0));
        CHECK(has(d, i, 1));
    }
    CHECK_EQ(dict_mem(c) > 0, 1);
    dict_free(d);
    dict_free(c);
}

static void count_visit(void *ctx, dict_entry *e) {
    SG_UNUSED(e);
    (*(unsigned *)ctx)++;
}

TEST(scan_and_random_with_str_values) {
    dict *d = dict_new(DICT_VAL_STR);
    char f[32], v[80];
    for (unsigned i = 0; i < 1000; i++) dict_set_str(d, f, fld(f, i), v, val(v, i, 0), NULL);
    unsigned seen = 0;
    uint64_t cur = 0;
    do cur = dict_scan(d, cur, count_visit, &seen);
    while (cur != 0);
    CHECK_EQ(seen, 1000);
    for (int i = 0; i < 100; i++) {
        dict_entry *e = dict_random(d);
        REQUIRE(e != NULL);
        CHECK(dict_find(d, e->key, e->klen) == e);
    }
    dict_free(d);
}

TEST(double_values_do_not_move) {
    dict *d = dict_new(DICT_VAL_DOUBLE);
    dict_entry *first = dict_add(d, "m0", 2, NULL);
    first->v.d = 1.5;
    char f[32];
    for (unsigned i = 1; i < 2000; i++) dict_add(d, f, fld(f, i), NULL)->v.d = i;
    CHECK(dict_find(d, "m0", 2) == first);
    CHECK(first->v.d == 1.5);
    CHECK(dict_check(d));
    dict_free(d);
}
