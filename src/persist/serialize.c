/*
 * Value serialization (DUMP/RESTORE): see serialize.h for the framing.
 *
 * Body by type (the type byte is the OBJ_* value; "str" is a varint length
 * followed by that many bytes; varints are LEB128, at most 10 bytes, the
 * value in 64 bits):
 *
 *   OBJ_STRING (0)  str                         any encoding (int, embstr,
 *                                               raw; HLLs and bitmaps too)
 *   OBJ_LIST   (1)  varint count, count x str   head to tail
 *   OBJ_SET    (2)  varint count, count x str   members, any order
 *   OBJ_ZSET   (3)  varint count, count x (str member, 8-byte LE IEEE-754
 *                   score)                      ascending (score, member)
 *   OBJ_HASH   (4)  varint count, count x (str field, str value)
 *
 * The encoding is not recorded: RESTORE picks it from the size thresholds
 * (*-max-listpack-*, set-max-intset-entries) as a sequence of writes
 * would, so a round trip keeps OBJECT ENCODING for values built normally.
 *
 * Validation, before anything is built: CRC64 (Jones, sg_crc64) of all the
 * bytes before it, then the version, then the body: every length and count
 * inside the bytes that remain (a count can never exceed the bytes left,
 * so a hostile count cannot cause a large allocation), no bytes left over,
 * collections not empty, sorted-set scores not NaN and strictly ascending
 * by (score, member); duplicate members or fields are caught by the types'
 * builders. Any failure is an error, never a crash.
 */
#include "serialize.h"

#include <math.h>
#include <string.h>

#define ERR_FRAME "DUMP payload version or checksum are wrong"
#define ERR_DATA  "Bad data format"

/* ---- writing ---- */

static void count_elem(void *ctx, const char *a, size_t al, const char *b, size_t bl,
                       double score) {
    SG_UNUSED(a);
    SG_UNUSED(al);
    SG_UNUSED(b);
    SG_UNUSED(bl);
    SG_UNUSED(score);
    (*(uint64_t *)ctx)++;
}

typedef void foreach_fn(const void *ptr, int enc, persist_elem_fn *fn, void *ctx);
typedef void *build_fn(const persist_elem *v, size_t n, int *enc);

static foreach_fn *foreach_of(int type) {
    switch (type) {
    case OBJ_LIST:
        return list_type_walk;
    case OBJ_SET:
        return set_type_walk;
    case OBJ_ZSET:
        return zset_type_walk;
    case OBJ_HASH:
        return hash_type_walk;
    default:
        return NULL;
    }
}

static build_fn *build_of(int type) {
    switch (type) {
    case OBJ_LIST:
        return list_type_build;
    case OBJ_SET:
        return set_type_build;
    case OBJ_ZSET:
        return zset_type_build;
    case OBJ_HASH:
        return hash_type_build;
    default:
        return NULL;
    }
}

/* Streaming: the body goes out through a sink in pieces, so a snapshot
 * never holds a whole large value's encoding in memory. */
typedef struct sink_ctx {
    persist_sink_fn *put;
    void *ctx;
    int type;
    uint64_t bytes; /* sizing pass: bytes counted, nothing written */
    bool sizing;
} sink_ctx;

static void sink_bytes(sink_ctx *k, const void *p, size_t n) {
    if (k->sizing)
        k->bytes += n;
    else
        k->put(k->ctx, p, n);
}

static void sink_varint(sink_ctx *k, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        if (v) byte |= 0x80;
        b[n++] = byte;
    } while (v);
    sink_bytes(k, b, n);
}

static void sink_str(sink_ctx *k, const char *p, size_t n) {
    sink_varint(k, n);
    sink_bytes(k, p, n);
}

static void sink_elem(void *ctx, const char *a, size_t al, const char *b, size_t bl, double score) {
    sink_ctx *k = ctx;
    sink_str(k, a, al);
    if (k->type == OBJ_HASH) sink_str(k, b, bl);
    if (k->type == OBJ_ZSET) {
        uint64_t bits;
        memcpy(&bits, &score, 8);
        uint8_t le[8];
        for (int i = 0; i < 8; i++) le[i] = (uint8_t)(bits >> (8 * i));
        sink_bytes(k, le, 8);
    }
}

static void body_walk(const kentry *e, sink_ctx *k) {
    int type = kentry_type(e);
    uint8_t tb = (uint8_t)type;
    k->type = type;
    sink_bytes(k, &tb, 1);
    if (type == OBJ_STRING) {
        size_t n;
        const char *p = kentry_str(e, &n);
        sink_str(k, p, n);
        return;
    }
    foreach_fn *fe = foreach_of(type);
    sg_assert(fe);
    uint64_t count = 0;
    fe(kentry_ptr(e), kentry_enc(e), count_elem, &count);
    sink_varint(k, count);
    fe(kentry_ptr(e), kentry_enc(e), sink_elem, k);
}

uint64_t persist_body_len(const kentry *e) {
    sink_ctx k = {NULL, NULL, 0, 0, true};
    body_walk(e, &k);
    return k.bytes;
}

void persist_write_body(const kentry *e, persist_sink_fn *put, void *ctx) {
    sink_ctx k = {put, ctx, 0, 0, false};
    body_walk(e, &k);
}

static void sstr_sink(void *ctx, const void *p, size_t n) {
    sstr **o = ctx;
    *o = sstr_cat(*o, p, n);
}

sstr *persist_dump_value(const kentry *e) {
    sstr *o = sstr_new_cap(64);
    persist_write_body(e, sstr_sink, &o);
    uint8_t tail[10];
    tail[0] = SURGE_DUMP_VERSION & 0xff;
    tail[1] = (SURGE_DUMP_VERSION >> 8) & 0xff;
    o = sstr_cat(o, tail, 2);
    uint64_t crc = sg_crc64(0, o->buf, o->len);
    for (int i = 0; i < 8; i++) tail[i] = (uint8_t)(crc >> (8 * i));
    return sstr_cat(o, tail, 8);
}

/* ---- reading ---- */

typedef struct rd {
    const uint8_t *p;
    size_t n, pos;
} rd;

static bool get_varint(rd *r, uint64_t *v) {
    uint64_t out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->pos >= r->n) return false;
        uint8_t b = r->p[r->pos++];
        if (shift == 63 && (b & 0x7e)) return false; /* over 64 bits */
        out |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = out;
            return true;
        }
    }
    return false;
}

static bool get_str(rd *r, const char **p, size_t *n) {
    uint64_t len;
    if (!get_varint(r, &len) || len > r->n - r->pos) return false;
    *p = (const char *)r->p + r->pos;
    *n = (size_t)len;
    r->pos += (size_t)len;
    return true;
}

static bool get_double(rd *r, double *d) {
    if (r->n - r->pos < 8) return false;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += 8;
    memcpy(d, &bits, 8);
    return true;
}

static int elem_cmp(const persist_elem *x, const persist_elem *y) {
    if (x->score < y->score) return -1;
    if (x->score > y->score) return 1;
    int c = memcmp(x->a, y->a, x->al < y->al ? x->al : y->al);
    if (c) return c;
    return x->al < y->al ? -1 : x->al > y->al ? 1 : 0;
}

int persist_restore_value(const char *key, size_t klen, const char *p, size_t n, int64_t expire,
                          kentry **out, const char **err) {
    *out = NULL;
    /* Framing: type byte, at least an empty body, version, CRC. */
    if (n < 1 + 2 + 8) {
        *err = ERR_FRAME;
        return -1;
    }
    const uint8_t *u = (const uint8_t *)p;
    uint64_t crc = 0;
    for (int i = 0; i < 8; i++) crc |= (uint64_t)u[n - 8 + (size_t)i] << (8 * i);
    unsigned version = u[n - 10] | (unsigned)u[n - 9] << 8;
    if (version != SURGE_DUMP_VERSION || sg_crc64(0, p, n - 8) != crc) {
        *err = ERR_FRAME;
        return -1;
    }
    return persist_build_body(key, klen, p, n - 10, expire, out, err);
}

int persist_build_body(const char *key, size_t klen, const char *p, size_t n, int64_t expire,
                       kentry **out, const char **err) {
    *out = NULL;
    *err = ERR_DATA;
    if (n < 1) return -1;
    const uint8_t *u = (const uint8_t *)p;
    rd r = {u, n, 1};
    int type = u[0];
    if (type == OBJ_STRING) {
        const char *s;
        size_t sl;
        if (!get_str(&r, &s, &sl) || r.pos != r.n) return -1;
        long long ll;
        int enc = sl <= 20 && sg_str2ll(s, sl, &ll) ? ENC_INT
                  : sl <= KS_EMBSTR_MAX             ? ENC_EMBSTR
                                                    : ENC_RAW;
        *out = kentry_new_str(key, klen, s, sl, enc, expire);
        return 0;
    }
    build_fn *build = build_of(type);
    if (!build) return -1;
    uint64_t count;
    /* Each element takes at least one byte (two for a hash pair, nine for
     * a sorted-set element), so count is bounded by what is left. */
    if (!get_varint(&r, &count) || count == 0 || count > r.n - r.pos) return -1;
    persist_elem *v = sg_malloc(sizeof(persist_elem) * (size_t)count);
    int rc = -1;
    for (uint64_t i = 0; i < count; i++) {
        persist_elem *x = &v[i];
        memset(x, 0, sizeof(*x));
        if (!get_str(&r, &x->a, &x->al)) goto done;
        if (type == OBJ_HASH && !get_str(&r, &x->b, &x->bl)) goto done;
        if (type == OBJ_ZSET) {
            if (!get_double(&r, &x->score) || isnan(x->score)) goto done;
            if (i && elem_cmp(&v[i - 1], x) >= 0) goto done;
        }
    }
    if (r.pos != r.n) goto done;
    int enc;
    void *obj = build(v, (size_t)count, &enc);
    if (!obj) goto done;
    *out = kentry_new_ptr(key, klen, type, enc, obj, expire);
    rc = 0;
done:
    sg_free(v);
    return rc;
}
