/*
 * fuzz_snapshot: the snapshot reader (snap_scan_fd in
 * src/persist/snapshot.c), which start-up and surge-check run on files
 * from disk, and the value builder it feeds (persist_build_body in
 * src/persist/serialize.c).
 *
 * The input goes to a memfd and is scanned from there; every record the
 * scan yields is built into an entry. The first input byte picks the mode
 * (its value modulo 3):
 *
 *   0  the rest is a snapshot file as is (mostly exercises the header and
 *      block checks: XXH3 checksums stop nearly every mutation);
 *   1  the same, but the harness first recomputes the header checksum and,
 *      walking the blocks by their stored lengths, every block header's and
 *      block's checksum, so damaged lengths, codecs, compressed data and
 *      records get past the checksums;
 *   2  the next byte is options (bits 0-1 codec: 0 none, 1 lz4, 2 zstd,
 *      3 none; bit 2 encrypt with a fixed key; bits 3-7 v: the record
 *      stream is cut into blocks of 4*v*v bytes, v = 0 one block), the
 *      rest is a raw record stream, which the harness frames into a valid
 *      file (header, 'D' blocks, 'E' block with the right counts).
 *
 * The key the harness encrypts with (bytes 7*i+1) is also installed as the
 * server's key, so encrypted files in modes 0 and 1 decrypt.
 *
 * Seeds (tests/fuzz/corpus/fuzz_snapshot/) are small snapshots the server
 * wrote (empty; every type; lz4, zstd, none; encrypted), in modes 0 and 1,
 * and their record streams in mode 2.
 *
 * Properties, beyond "no crash, no read outside the buffer, no leak"
 * (ASan, UBSan): a failure comes with a reason and an offset inside the
 * file; a success read the whole file and reported as many keys as it
 * passed records; in mode 2 no failure is about framing (block headers,
 * checksums, decompression, decryption, end-block counts), only about
 * records; an entry built from a record writes back (persist_write_body)
 * a body of persist_body_len bytes that builds again to an entry with the
 * same type, encoding and value digest, and (except for hashtable-encoded
 * sets and hashes, written in table order) to the same bytes.
 */
#include "../../src/persist/serialize.h"
#include "../../src/persist/snapshot.h"
#include "../../src/server/config.h"

#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_snapshot: property failed: %s (%s:%d)\n", #cond, __FILE__,       \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_MAX_INPUT (1u << 18)

void types_register(void);

static crypt_key fuzz_key;

static void init_once(void) {
    static int done;
    if (done) return;
    done = 1;
    config_init_defaults();
    cfg.loglevel = SG_LOG_WARNING;
    sg_hash_seed_init();
    types_register();
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(i * 7 + 1);
    crypt_key_from_bytes(&fuzz_key, raw);
    /* Encrypted seed files (modes 0 and 1) were written under this key. */
    FUZZ_CHECK(crypt_set_keys(&fuzz_key, NULL, 0) == 0);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- a growable byte buffer ---- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void buf_put(void *ctx, const void *p, size_t n) {
    buf *b = ctx;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        FUZZ_CHECK(b->p != NULL);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* ---- the record callback ---- */

typedef struct scan_ctx {
    uint64_t records;
} scan_ctx;

static void check_entry(const snap_record *r, kentry *e) {
    buf body = {0};
    persist_write_body(e, buf_put, &body);
    FUZZ_CHECK(body.len == persist_body_len(e));
    kentry *e2 = NULL;
    const char *err = NULL;
    FUZZ_CHECK(persist_build_body(r->key, r->klen, (const char *)body.p, body.len, r->expire, &e2,
                                  &err) == 0);
    FUZZ_CHECK(kentry_type(e) == kentry_type(e2) && kentry_enc(e) == kentry_enc(e2));
    uint8_t a[20], b[20];
    kentry_digest(e, false, a);
    kentry_digest(e2, false, b);
    FUZZ_CHECK(!memcmp(a, b, 20));
    if (kentry_enc(e) != ENC_HASHTABLE) {
        buf body2 = {0};
        persist_write_body(e2, buf_put, &body2);
        FUZZ_CHECK(body2.len == body.len && !memcmp(body2.p, body.p, body.len));
        free(body2.p);
    }
    free(body.p);
    kentry_free(e2);
}

static int on_record(void *ctx, const snap_record *r) {
    scan_ctx *s = ctx;
    s->records++;
    FUZZ_CHECK(r->db >= 0 && r->expire >= -1);
    kentry *e = NULL;
    const char *err = NULL;
    if (persist_build_body(r->key, r->klen, r->body, r->blen, r->expire, &e, &err) != 0) {
        FUZZ_CHECK(e == NULL && err != NULL);
        return 0;
    }
    FUZZ_CHECK(e != NULL);
    check_entry(r, e);
    kentry_free(e);
    return 0;
}

/* Scans file[0..n) from a memfd. Returns snap_scan_fd's result. */
static int scan(const uint8_t *file, size_t n, const crypt_key *key, snap_scan_result *res,
                scan_ctx *sc) {
    int fd = memfd_create("fuzz_snapshot", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, file + off, n - off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
    memset(sc, 0, sizeof(*sc));
    int rc = snap_scan_fd(fd, key, on_record, sc, NULL, res);
    close(fd);
    if (getenv("FUZZ_SNAPSHOT_VERBOSE")) /* to see what a seed or crash input does */
        fprintf(stderr, "fuzz_snapshot: %zu bytes: rc %d, %llu keys, %s at %llu\n", n, rc,
                (unsigned long long)res->keys, rc ? res->why : "ok",
                (unsigned long long)res->bad_off);
    FUZZ_CHECK(rc == 0 || rc == -1); /* on_record never stops the scan */
    if (rc == 0) {
        FUZZ_CHECK(res->file_bytes == n);
        FUZZ_CHECK(res->keys == sc->records);
    } else {
        FUZZ_CHECK(res->why != NULL);
        FUZZ_CHECK(res->bad_off <= n);
    }
    return rc;
}

/* ---- mode 1: recompute the checksums ---- */

static void fix_checksums(uint8_t *f, size_t n) {
    if (n < SNAP_HDR_LEN) return;
    put_le(f + 32, XXH3_64bits(f, 32), 8);
    size_t off = SNAP_HDR_LEN;
    while (n - off >= SNAP_BLK_HDR) {
        uint8_t *h = f + off;
        put_le(h + 12, XXH3_64bits(h, 12) & 0xffffffffu, 4);
        size_t slen = (size_t)get_le(h + 8, 4);
        size_t avail = n - off - SNAP_BLK_HDR;
        if (slen > avail) break;
        put_le(h + 16, XXH3_64bits(h + SNAP_BLK_HDR, slen), 8);
        off += SNAP_BLK_HDR + slen;
    }
}

/* ---- mode 2: frame a record stream ---- */

typedef struct framer {
    buf out;
    int codec;
    const crypt_key *key;
    uint64_t index; /* blocks written, 'E' included */
} framer;

static void frame_block(framer *f, uint8_t kind, const uint8_t *raw, size_t rawlen) {
    uint8_t *comp = NULL;
    const uint8_t *stored = raw;
    size_t slen = rawlen;
    if (f->codec == SNAP_CODEC_LZ4) {
        int cap = LZ4_compressBound((int)rawlen);
        comp = malloc((size_t)cap + 1);
        int c = LZ4_compress_default((const char *)raw, (char *)comp, (int)rawlen, cap);
        FUZZ_CHECK(c > 0 || rawlen == 0);
        stored = comp;
        slen = (size_t)c;
    } else if (f->codec == SNAP_CODEC_ZSTD) {
        static ZSTD_CCtx *zc;
        if (!zc) zc = ZSTD_createCCtx();
        size_t cap = ZSTD_compressBound(rawlen);
        comp = malloc(cap);
        size_t c = ZSTD_compressCCtx(zc, comp, cap, raw, rawlen, 1);
        FUZZ_CHECK(!ZSTD_isError(c));
        stored = comp;
        slen = c;
    }
    uint8_t h[SNAP_BLK_HDR];
    memset(h, 0, sizeof(h));
    h[0] = kind;
    h[1] = (uint8_t)f->codec;
    put_le(h + 4, rawlen, 4);
    put_le(h + 8, slen + (f->key ? CRYPT_OVERHEAD : 0), 4);
    uint8_t *sealed = NULL;
    if (f->key) {
        uint8_t aad[20];
        memcpy(aad, h, 12);
        put_le(aad + 12, f->index, 8);
        sealed = malloc(slen + CRYPT_OVERHEAD);
        FUZZ_CHECK(crypt_seal(f->key, aad, sizeof(aad), stored, slen, sealed) == 0);
        stored = sealed;
        slen += CRYPT_OVERHEAD;
    }
    put_le(h + 12, XXH3_64bits(h, 12) & 0xffffffffu, 4);
    put_le(h + 16, XXH3_64bits(stored, slen), 8);
    buf_put(&f->out, h, sizeof(h));
    buf_put(&f->out, stored, slen);
    f->index++;
    free(comp);
    free(sealed);
}

static size_t varint_put(uint8_t *p, uint64_t v) {
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (v) b |= 0x80;
        p[n++] = b;
    } while (v);
    return n;
}

/* Frames recs[0..n) into f->out (reset first); returns the offset of the
 * end block. */
static size_t frame_file(framer *f, const uint8_t *recs, size_t n, size_t split, uint64_t keys) {
    f->out.len = 0;
    f->index = 0;
    uint8_t hdr[SNAP_HDR_LEN];
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, SNAP_MAGIC, 8);
    put_le(hdr + 8, SNAP_VERSION, 2);
    put_le(hdr + 10, f->key ? 1 : 0, 2);
    put_le(hdr + 16, 1700000000000ull, 8);
    if (f->key) memcpy(hdr + 24, f->key->id, CRYPT_KEY_ID);
    put_le(hdr + 32, XXH3_64bits(hdr, 32), 8);
    buf_put(&f->out, hdr, sizeof(hdr));
    uint64_t blocks = 0;
    for (size_t off = 0; off < n; off += split) {
        size_t take = n - off < split ? n - off : split;
        frame_block(f, 'D', recs + off, take);
        blocks++;
    }
    uint8_t end[32];
    size_t e = 0;
    e += varint_put(end + e, keys);
    e += varint_put(end + e, blocks);
    e += varint_put(end + e, n);
    size_t end_off = f->out.len;
    frame_block(f, 'E', end, e);
    return end_off;
}

static bool is_record_error(const char *why) {
    static const char *const ok[] = {
        "unknown record type", "bad record flags",   "bad expire time",
        "malformed length",    "bad database index", "a record is cut short by the end block"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(why, ok[i])) return true;
    return false;
}

static void run_framed(const uint8_t *data, size_t size) {
    if (size < 1) return;
    uint8_t opt = data[0];
    const uint8_t *recs = data + 1;
    size_t n = size - 1;
    framer f = {0};
    f.codec = (opt & 3) == 3 ? SNAP_CODEC_NONE : (opt & 3);
    f.key = (opt & 4) ? &fuzz_key : NULL;
    size_t v = opt >> 3;
    size_t split = v ? 4 * v * v : (n ? n : 1);
    if (n / split > 4096) split = n / 4096 + 1; /* bounded work per input */
    snap_scan_result res;
    scan_ctx sc;
    /* First pass with a key count of 0 to learn how many records there are;
     * then the real count, which must make the end block agree. */
    size_t end_off = frame_file(&f, recs, n, split, 0);
    int rc = scan(f.out.p, f.out.len, f.key, &res, &sc);
    if (rc != 0 && res.bad_off == end_off && res.keys != 0) {
        end_off = frame_file(&f, recs, n, split, res.keys);
        rc = scan(f.out.p, f.out.len, f.key, &res, &sc);
    }
    if (rc != 0) {
        if (!is_record_error(res.why))
            fprintf(stderr, "fuzz_snapshot: framed file refused: %s at %llu\n", res.why,
                    (unsigned long long)res.bad_off);
        FUZZ_CHECK(is_record_error(res.why));
    }
    free(f.out.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    snap_scan_result res;
    scan_ctx sc;
    switch (data[0] % 3) {
    case 0:
        scan(data + 1, size - 1, NULL, &res, &sc);
        break;
    case 1: {
        uint8_t *f = malloc(size - 1 ? size - 1 : 1);
        memcpy(f, data + 1, size - 1);
        fix_checksums(f, size - 1);
        scan(f, size - 1, NULL, &res, &sc);
        free(f);
        break;
    }
    default:
        run_framed(data + 1, size - 1);
        break;
    }
    return 0;
}
