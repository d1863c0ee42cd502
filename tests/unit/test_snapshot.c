/*
 * Unit tests for the snapshot reader (src/persist/snapshot.c): files built
 * by hand byte by byte, as snapshot.h documents the format, read through
 * snap_scan_fd from a memfd.
 */
#include "../../src/persist/snapshot.h"
#include "test.h"

#include <sys/mman.h>
#include <xxhash.h>

static void le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A file image under construction. */
typedef struct img {
    uint8_t b[4096];
    size_t n;
} img;

static void header(img *m) {
    memset(m->b, 0, 40);
    memcpy(m->b, SNAP_MAGIC, 8);
    le(m->b + 8, SNAP_VERSION, 2);
    le(m->b + 16, 1700000000000ull, 8);
    le(m->b + 32, XXH3_64bits(m->b, 32), 8);
    m->n = 40;
}

static void block(img *m, uint8_t kind, const void *raw, size_t len) {
    uint8_t *h = m->b + m->n;
    memset(h, 0, SNAP_BLK_HDR);
    h[0] = kind;
    le(h + 4, len, 4);
    le(h + 8, len, 4);
    le(h + 12, XXH3_64bits(h, 12) & 0xffffffffu, 4);
    le(h + 16, XXH3_64bits(raw, len), 8);
    memcpy(h + SNAP_BLK_HDR, raw, len);
    m->n += SNAP_BLK_HDR + len;
}

static int count_fn(void *ctx, const snap_record *r) {
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static int scan(const img *m, snap_scan_result *r, int *records) {
    int fd = memfd_create("snap", 0);
    if (fd < 0 || write(fd, m->b, m->n) != (ssize_t)m->n) {
        CHECK(!"memfd");
        return -2;
    }
    lseek(fd, 0, SEEK_SET);
    *records = 0;
    int rc = snap_scan_fd(fd, NULL, count_fn, records, NULL, r);
    close(fd);
    return rc;
}

/* One string key "k" = "v" in db 0: 'K', db 0, flags 0, key, body. */
static const uint8_t one_key[] = {'K', 0, 0, 1, 'k', 3, 0 /* OBJ_STRING */, 1, 'v'};

TEST(one_key_file_reads) {
    img m;
    header(&m);
    block(&m, 'D', one_key, sizeof(one_key));
    uint8_t end[] = {1, 1, sizeof(one_key)};
    block(&m, 'E', end, sizeof(end));
    snap_scan_result r;
    int n;
    CHECK_EQ(scan(&m, &r, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(r.keys, 1);
    CHECK_EQ(r.created_ms, 1700000000000ull);
}

/* Found by fuzz_snapshot: an empty data block made pend_add memcpy from a
 * NULL buffer (undefined behaviour). It is harmless data: the file reads. */
TEST(empty_data_block) {
    img m;
    header(&m);
    block(&m, 'D', "", 0);
    uint8_t end[] = {0, 1, 0};
    block(&m, 'E', end, sizeof(end));
    snap_scan_result r;
    int n;
    CHECK_EQ(scan(&m, &r, &n), 0);
    CHECK_EQ(n, 0);
}

TEST(damage_is_refused) {
    img good;
    header(&good);
    block(&good, 'D', one_key, sizeof(one_key));
    uint8_t end[] = {1, 1, sizeof(one_key)};
    block(&good, 'E', end, sizeof(end));
    snap_scan_result r;
    int n;
    for (size_t i = 0; i < good.n; i++) { /* every byte flipped: never read as valid */
        img m = good;
        m.b[i] ^= 0x20;
        CHECK(scan(&m, &r, &n) != 0);
    }
    for (size_t len = 0; len < good.n; len++) { /* every truncation */
        img m = good;
        m.n = len;
        CHECK(scan(&m, &r, &n) != 0);
    }
    img m = good; /* end block counts that do not match */
    m.n -= SNAP_BLK_HDR + sizeof(end);
    uint8_t bad_end[] = {2, 1, sizeof(one_key)};
    block(&m, 'E', bad_end, sizeof(bad_end));
    CHECK(scan(&m, &r, &n) != 0);
    m = good; /* trailing bytes */
    m.b[m.n++] = 0;
    CHECK(scan(&m, &r, &n) != 0);
}
