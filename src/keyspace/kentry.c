/*
 * Key entries: layout, constructors, accessors, LRU/LFU fields, digests.
 * The layout is drawn in keyspace.h. Offsets are computed, not stored:
 *
 *   off 0  type (low 4 bits) | encoding (high 4 bits)
 *   off 1  flags: KE_TTL when an 8-byte expire follows the header
 *   off 2  lru/lfu, 24 bits little-endian
 *   off 5  [expire, int64 Unix ms, unaligned]      only if KE_TTL
 *   ...    key length (LEB128 varint), key bytes
 *   ...    value: inline (varint length + bytes) or an unaligned pointer
 *
 * Entries are allocated with sg_malloc_align8: 8-byte aligned and rounded
 * to 8 bytes (a 39-byte entry takes 40), and the table uses the low 3 bits
 * of their addresses as tags (keyspace.c).
 */
#include "ks_internal.h"

#include <string.h>

static const ks_type_ops *type_ops[OBJ__COUNT];

void ks_register_type(int type, const ks_type_ops *ops) {
    sg_assert(type >= 0 && type < OBJ__COUNT);
    type_ops[type] = ops;
}

const ks_type_ops *ks_type(int type) {
    return type >= 0 && type < OBJ__COUNT ? type_ops[type] : NULL;
}

const char *ks_encoding_name(int type, int enc) {
    if (type == OBJ_STRING) {
        switch (enc) {
        case ENC_INT:
            return "int";
        case ENC_EMBSTR:
            return "embstr";
        default:
            return "raw";
        }
    }
    static const char *names[] = {"raw",     "int",    "embstr",   "hashtable", "quicklist",
                                  "ziplist", "intset", "skiplist", "listpack",  "stream"};
    return enc >= 0 && (size_t)enc < SG_ARRAY_LEN(names) ? names[enc] : "unknown";
}

size_t ks_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t ks_varint_put(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t ks_varint_get(const uint8_t *p, uint64_t *v) {
    uint64_t r = 0;
    size_t n = 0;
    int shift = 0;
    while (p[n] & 0x80) {
        r |= (uint64_t)(p[n] & 0x7f) << shift;
        shift += 7;
        n++;
    }
    r |= (uint64_t)p[n] << shift;
    *v = r;
    return n + 1;
}

static inline bool enc_inline(int type, int enc) {
    return type == OBJ_STRING && (enc == ENC_EMBSTR || enc == ENC_INT);
}

static inline size_t key_off(const kentry *e) {
    return KE_HDR + ((KB(e)[1] & KE_TTL) ? 8 : 0);
}

static inline size_t val_off(const kentry *e) {
    uint64_t kl;
    size_t o = key_off(e);
    o += ks_varint_get(KB(e) + o, &kl);
    return o + kl;
}

static kentry *alloc_entry(int type, int enc, int64_t expire, const char *key, size_t klen,
                           size_t valbytes) {
    size_t n = KE_HDR + (expire >= 0 ? 8 : 0) + ks_varint_len(klen) + klen + valbytes;
    kentry *e = sg_malloc_align8(n);
    sg_assert(((uintptr_t)e & 7) == 0);
    KB(e)[0] = (uint8_t)((type & 15) | ((enc & 15) << 4));
    KB(e)[1] = expire >= 0 ? KE_TTL : 0;
    KB(e)[2] = KB(e)[3] = KB(e)[4] = 0;
    size_t o = KE_HDR;
    if (expire >= 0) {
        memcpy(KB(e) + o, &expire, 8);
        o += 8;
    }
    o += ks_varint_put(KB(e) + o, klen);
    memcpy(KB(e) + o, key, klen);
    return e;
}

kentry *kentry_new_str(const char *key, size_t klen, const char *val, size_t vlen, int enc,
                       int64_t expire) {
    if (enc != ENC_RAW && vlen > KS_EMBSTR_MAX) enc = ENC_RAW;
    if (enc == ENC_RAW)
        return kentry_new_ptr(key, klen, OBJ_STRING, ENC_RAW, sstr_new(val, vlen), expire);
    kentry *e = alloc_entry(OBJ_STRING, enc, expire, key, klen, ks_varint_len(vlen) + vlen);
    size_t o = val_off(e);
    o += ks_varint_put(KB(e) + o, vlen);
    if (vlen) memcpy(KB(e) + o, val, vlen);
    return e;
}

kentry *kentry_new_ptr(const char *key, size_t klen, int type, int enc, void *ptr, int64_t expire) {
    kentry *e = alloc_entry(type, enc, expire, key, klen, sizeof(void *));
    memcpy(KB(e) + val_off(e), &ptr, sizeof(void *));
    return e;
}

const char *kentry_key(const kentry *e, size_t *len) {
    uint64_t kl;
    size_t o = key_off(e);
    o += ks_varint_get(KB(e) + o, &kl);
    *len = (size_t)kl;
    return (const char *)KB(e) + o;
}

int kentry_type(const kentry *e) {
    return KB(e)[0] & 15;
}

int kentry_enc(const kentry *e) {
    return KB(e)[0] >> 4;
}

bool kentry_has_ttl(const kentry *e) {
    return (KB(e)[1] & KE_TTL) != 0;
}

int64_t kentry_expire(const kentry *e) {
    if (!(KB(e)[1] & KE_TTL)) return -1;
    int64_t v;
    memcpy(&v, KB(e) + KE_HDR, 8);
    return v;
}

void kentry_set_expire_inplace(kentry *e, int64_t when) {
    sg_assert(KB(e)[1] & KE_TTL);
    memcpy(KB(e) + KE_HDR, &when, 8);
}

const char *kentry_str(const kentry *e, size_t *len) {
    size_t o = val_off(e);
    if (enc_inline(kentry_type(e), kentry_enc(e))) {
        uint64_t vl;
        o += ks_varint_get(KB(e) + o, &vl);
        *len = (size_t)vl;
        return (const char *)KB(e) + o;
    }
    sstr *s;
    memcpy(&s, KB(e) + o, sizeof(s));
    *len = s->len;
    return s->buf;
}

bool kentry_str_set_inplace(kentry *e, const char *val, size_t vlen, int enc) {
    if (!enc_inline(kentry_type(e), kentry_enc(e)) || !enc_inline(OBJ_STRING, enc) ||
        vlen > KS_EMBSTR_MAX)
        return false;
    size_t o = val_off(e);
    if (o + ks_varint_len(vlen) + vlen > sg_alloc_size(e)) return false;
    o += ks_varint_put(KB(e) + o, vlen);
    memmove(KB(e) + o, val, vlen);
    KB(e)[0] = (uint8_t)((OBJ_STRING & 15) | ((enc & 15) << 4));
    return true;
}

void kentry_set_enc(kentry *e, int enc) {
    sg_assert(!enc_inline(kentry_type(e), kentry_enc(e)) && !enc_inline(kentry_type(e), enc));
    KB(e)[0] = (uint8_t)((kentry_type(e) & 15) | ((enc & 15) << 4));
}

void *kentry_ptr(const kentry *e) {
    if (enc_inline(kentry_type(e), kentry_enc(e))) return NULL;
    void *p;
    memcpy(&p, KB(e) + val_off(e), sizeof(p));
    return p;
}

void kentry_set_ptr(kentry *e, void *ptr) {
    sg_assert(!enc_inline(kentry_type(e), kentry_enc(e)));
    memcpy(KB(e) + val_off(e), &ptr, sizeof(ptr));
}

size_t kentry_alloc_len(const kentry *e) {
    size_t o = val_off(e);
    if (enc_inline(kentry_type(e), kentry_enc(e))) {
        uint64_t vl;
        o += ks_varint_get(KB(e) + o, &vl);
        return o + vl;
    }
    return o + sizeof(void *);
}

static void free_value(kentry *e) {
    if (enc_inline(kentry_type(e), kentry_enc(e))) return;
    void *p = kentry_ptr(e);
    if (kentry_type(e) == OBJ_STRING) {
        sstr_free(p);
        return;
    }
    const ks_type_ops *ops = ks_type(kentry_type(e));
    sg_assert(ops && ops->free);
    ops->free(p, kentry_enc(e));
}

void kentry_free(kentry *e) {
    if (!e) return;
    free_value(e);
    sg_free(e);
}

/* Copies header and value of e under a new key (and optionally a new
 * expire state: -2 keeps e's). */
kentry *kentry_rebuild(const kentry *e, const char *key, size_t klen, int64_t expire) {
    if (expire == -2) expire = kentry_expire(e);
    size_t vo = val_off(e);
    size_t vbytes = kentry_alloc_len(e) - vo;
    kentry *n = alloc_entry(kentry_type(e), kentry_enc(e), expire, key, klen, vbytes);
    KB(n)[2] = KB(e)[2];
    KB(n)[3] = KB(e)[3];
    KB(n)[4] = KB(e)[4];
    memcpy(KB(n) + val_off(n), KB(e) + vo, vbytes);
    return n;
}

kentry *kentry_rekey(kentry *e, const char *key, size_t klen) {
    kentry *n = kentry_rebuild(e, key, klen, -2);
    sg_free(e);
    return n;
}

kentry *kentry_dup(const kentry *e, const char *key, size_t klen) {
    kentry *n = kentry_rebuild(e, key, klen, -2);
    if (!enc_inline(kentry_type(e), kentry_enc(e))) {
        void *p = kentry_ptr(e), *q;
        if (kentry_type(e) == OBJ_STRING) {
            const sstr *s = p;
            q = sstr_new(s->buf, s->len);
        } else {
            const ks_type_ops *ops = ks_type(kentry_type(e));
            sg_assert(ops && ops->dup);
            q = ops->dup(p, kentry_enc(e));
        }
        kentry_set_ptr(n, q);
    }
    return n;
}

size_t kentry_mem(const kentry *e) {
    size_t n = sg_alloc_size(e);
    if (!enc_inline(kentry_type(e), kentry_enc(e))) {
        void *p = kentry_ptr(e);
        if (kentry_type(e) == OBJ_STRING) {
            n += sg_alloc_size(p);
        } else {
            const ks_type_ops *ops = ks_type(kentry_type(e));
            if (ops && ops->mem) n += ops->mem(p, kentry_enc(e));
        }
    }
    return n;
}

uint32_t kentry_lru(const kentry *e) {
    return (uint32_t)KB(e)[2] | ((uint32_t)KB(e)[3] << 8) | ((uint32_t)KB(e)[4] << 16);
}

void kentry_set_lru(kentry *e, uint32_t v) {
    KB(e)[2] = (uint8_t)v;
    KB(e)[3] = (uint8_t)(v >> 8);
    KB(e)[4] = (uint8_t)(v >> 16);
}

/* ---- digests ----
 * 20-byte digests built from SipHash with fixed keys (not the per-process
 * hash seed), so a digest is comparable across restarts and machines. */
static const uint8_t dkeys[3][16] = {
    {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x69, 0x67, 0x65, 0x73, 0x74, 0x30, 0, 0, 0, 1},
    {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x69, 0x67, 0x65, 0x73, 0x74, 0x31, 0, 0, 0, 2},
    {0x53, 0x75, 0x72, 0x67, 0x65, 0x44, 0x69, 0x67, 0x65, 0x73, 0x74, 0x32, 0, 0, 0, 3},
};

void ks_digest_bytes(const void *p, size_t n, uint8_t out[20]) {
    uint64_t a = sg_siphash(p, n, dkeys[0]);
    uint64_t b = sg_siphash(p, n, dkeys[1]);
    uint64_t c = sg_siphash(p, n, dkeys[2]);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
    memcpy(out + 16, &c, 4);
}

/* out = H(out || data): order-dependent mixing. */
void ks_digest_mix(uint8_t out[20], const void *p, size_t n) {
    uint8_t buf[20 + 64];
    if (n <= 64) {
        memcpy(buf, out, 20);
        memcpy(buf + 20, p, n);
        ks_digest_bytes(buf, 20 + n, out);
    } else {
        uint8_t h[20];
        ks_digest_bytes(p, n, h);
        memcpy(buf, out, 20);
        memcpy(buf + 20, h, 20);
        ks_digest_bytes(buf, 40, out);
    }
}

void kentry_digest(const kentry *e, bool with_key, uint8_t out[20]) {
    memset(out, 0, 20);
    if (with_key) {
        size_t kl;
        const char *k = kentry_key(e, &kl);
        ks_digest_mix(out, k, kl);
    }
    uint8_t t = (uint8_t)kentry_type(e);
    ks_digest_mix(out, &t, 1);
    if (kentry_type(e) == OBJ_STRING) {
        size_t vl;
        const char *v = kentry_str(e, &vl);
        ks_digest_mix(out, v, vl);
    } else {
        const ks_type_ops *ops = ks_type(kentry_type(e));
        uint8_t vd[20] = {0};
        if (ops && ops->digest) ops->digest(kentry_ptr(e), kentry_enc(e), vd);
        ks_digest_mix(out, vd, 20);
    }
    int64_t exp = kentry_expire(e);
    if (exp >= 0) ks_digest_mix(out, &exp, 8);
}
