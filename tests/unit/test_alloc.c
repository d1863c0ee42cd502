/* Unit tests for src/base/alloc.c: the slab for small blocks, its fallback
 * to malloc, and used_memory accounting across both. */
#include "../../src/base/base.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* True when this binary's small blocks come from the slab (not in
 * sanitizer builds, nor with SURGE_SLAB=0 in the environment). */
static bool slab_on(void) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    const char *env = getenv("SURGE_SLAB");
    return !env || atoi(env) >= 256;
#endif
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31 + i);
}

static bool filled(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i)) return false;
    return true;
}

TEST(alignment_and_sizes) {
    size_t mem0 = sg_used_memory();
    void *v[600];
    for (size_t n = 0; n < 600; n++) {
        v[n] = sg_malloc(n);
        CHECK_EQ((uintptr_t)v[n] & 15, 0);
        CHECK(sg_alloc_size(v[n]) >= n);
        if (slab_on() && n >= 1 && n <= 256) CHECK_EQ(sg_alloc_size(v[n]), (n + 15) / 16 * 16);
        fill(v[n], n, (unsigned)n);
    }
    for (size_t n = 0; n < 600; n++) {
        CHECK(filled(v[n], n, (unsigned)n));
        sg_free(v[n]);
    }
    CHECK_EQ(sg_used_memory(), mem0);
}

TEST(no_header_on_small_blocks) {
    if (!slab_on()) return;
    /* 27 and 39 bytes: the sizes of key entries; glibc takes 48 for both. */
    char *a = sg_malloc(27), *b = sg_malloc(27);
    CHECK_EQ(sg_alloc_size(a), 32);
    CHECK_EQ(sg_alloc_size(b), 32);
    CHECK(a != b);
    sg_free(a);
    sg_free(b);
}

TEST(realloc_across_classes_and_malloc) {
    size_t mem0 = sg_used_memory();
    unsigned char *p = sg_malloc(10);
    fill(p, 10, 1);
    size_t sizes[] = {12, 16, 17, 100, 255, 256, 257, 1000, 5000, 300, 200, 40, 8, 70000, 20};
    size_t have = 10;
    for (size_t i = 0; i < SG_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        p = sg_realloc(p, n);
        size_t keep = n < have ? n : have;
        CHECK(filled(p, keep, 1));
        CHECK_EQ((uintptr_t)p & 15, 0);
        CHECK(sg_alloc_size(p) >= n);
        CHECK_EQ(sg_used_memory() - mem0, sg_alloc_size(p));
        fill(p, n, 1);
        have = n;
    }
    sg_free(p);
    CHECK_EQ(sg_used_memory(), mem0);
    p = sg_realloc(NULL, 5); /* NULL: a plain allocation */
    CHECK(p != NULL);
    sg_free(p);
}

TEST(calloc_zeroes_recycled_blocks) {
    for (int round = 0; round < 3; round++) {
        unsigned char *v[64];
        for (int i = 0; i < 64; i++) {
            v[i] = sg_calloc(48);
            for (int k = 0; k < 48; k++) CHECK_EQ(v[i][k], 0);
            memset(v[i], 0xAB, 48);
        }
        for (int i = 0; i < 64; i++) sg_free(v[i]);
    }
}

/* Enough blocks to fill hundreds of pages, freed in an interleaved order
 * (pages go from full to partly free to empty; most empty pages go back to
 * the kernel), then reused by another class: contents never mix. */
TEST(many_pages_freed_and_reused) {
    size_t mem0 = sg_used_memory();
    enum { N = 300000 };
    unsigned char **v = sg_malloc(sizeof(*v) * N);
    for (size_t i = 0; i < N; i++) {
        v[i] = sg_malloc(48);
        fill(v[i], 48, (unsigned)i);
    }
    for (size_t i = 0; i < N; i += 2) sg_free(v[i]);
    for (size_t i = 0; i < N; i += 2) {
        v[i] = sg_malloc(40); /* the same class: fills the holes */
        fill(v[i], 40, (unsigned)i);
    }
    for (size_t i = 0; i < N; i++) CHECK(filled(v[i], i % 2 ? 48 : 40, (unsigned)i));
    for (size_t i = 0; i < N; i++) sg_free(v[i]);
    for (size_t i = 0; i < N; i++) {
        v[i] = sg_calloc(100); /* another class, on pages given back */
        for (int k = 0; k < 100; k += 33) CHECK_EQ(v[i][k], 0);
        fill(v[i], 100, (unsigned)i);
    }
    for (size_t i = 0; i < N; i++) CHECK(filled(v[i], 100, (unsigned)i));
    for (size_t i = 0; i < N; i++) sg_free(v[i]);
    sg_free(v);
    CHECK_EQ(sg_used_memory(), mem0);
}

TEST(sstr_uses_block_size) {
    sstr *s = sstr_new("abc", 3);
    CHECK_EQ(s->cap, sg_alloc_size(s) - sizeof(sstr) - 1);
    s = sstr_cat(s, "defghijklmnopqrstuvwxyz0123456789", 33);
    CHECK_EQ(s->len, 36);
    CHECK(memcmp(s->buf, "abcdefghijklmnopqrstuvwxyz0123456789", 37) == 0);
    sstr_free(s);
}
