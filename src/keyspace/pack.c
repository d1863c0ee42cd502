/*
 * pack: compact contiguous string lists. Layout in pack.h.
 *
 * Invariant (checked by pack entries' round trip in the unit tests): walking
 * forward from PACK_HDR by entry sizes reaches exactly `bytes`, visiting
 * `count` entries, and walking backward by backlen visits the same entries.
 */
#include "pack.h"
#include "keyspace.h"

#include <string.h>

static inline uint32_t rd32(const pack *p, size_t o) {
    uint32_t v;
    memcpy(&v, p + o, 4);
    return v;
}

static inline void wr32(pack *p, size_t o, uint32_t v) {
    memcpy(p + o, &v, 4);
}

static inline size_t backlen_size(size_t b) {
    size_t n = 1;
    while (b >= 0x80) {
        b >>= 7;
        n++;
    }
    return n;
}

/* Writes backlen b so that its last byte is at dst[nb-1]. */
static void backlen_put(uint8_t *dst, size_t b) {
    size_t nb = backlen_size(b);
    for (size_t i = 0; i < nb; i++) {
        uint8_t byte = (uint8_t)((b >> (7 * i)) & 0x7f);
        if (i + 1 < nb) byte |= 0x80;
        dst[nb - 1 - i] = byte;
    }
}

/* Reads the backlen ending at p[end-1]; *nb gets its size. */
static size_t backlen_get(const pack *p, size_t end, size_t *nb) {
    size_t b = 0, i = 0;
    while (1) {
        uint8_t byte = p[end - 1 - i];
        b |= (size_t)(byte & 0x7f) << (7 * i);
        i++;
        if (!(byte & 0x80)) break;
    }
    *nb = i;
    return b;
}

static inline size_t entry_size_for(size_t n) {
    size_t body = ks_varint_len(n) + n;
    return body + backlen_size(body);
}

static size_t entry_size_at(const pack *p, size_t off) {
    uint64_t n;
    size_t h = ks_varint_get(p + off, &n);
    size_t body = h + (size_t)n;
    return body + backlen_size(body);
}

static void entry_write(uint8_t *dst, const char *s, size_t n) {
    size_t h = ks_varint_put(dst, n);
    if (n) memcpy(dst + h, s, n);
    backlen_put(dst + h + n, h + n);
}

pack *pack_new(void) {
    pack *p = sg_malloc(PACK_HDR);
    wr32(p, 0, PACK_HDR);
    wr32(p, 4, 0);
    return p;
}

void pack_free(pack *p) {
    sg_free(p);
}

pack *pack_dup(const pack *p) {
    return sg_memdup(p, pack_bytes(p));
}

uint32_t pack_count(const pack *p) {
    return rd32(p, 4);
}

size_t pack_bytes(const pack *p) {
    return rd32(p, 0);
}

size_t pack_first(const pack *p) {
    return pack_count(p) ? PACK_HDR : PACK_END;
}

size_t pack_last(const pack *p) {
    if (!pack_count(p)) return PACK_END;
    size_t end = pack_bytes(p), nb;
    size_t b = backlen_get(p, end, &nb);
    return end - nb - b;
}

size_t pack_next(const pack *p, size_t off) {
    size_t n = off + entry_size_at(p, off);
    return n >= pack_bytes(p) ? PACK_END : n;
}

size_t pack_prev(const pack *p, size_t off) {
    if (off <= PACK_HDR) return PACK_END;
    size_t nb;
    size_t b = backlen_get(p, off, &nb);
    return off - nb - b;
}

size_t pack_seek(const pack *p, long long i) {
    long long n = pack_count(p);
    if (i < 0) i += n;
    if (i < 0 || i >= n) return PACK_END;
    size_t off;
    if (i <= n / 2) {
        off = pack_first(p);
        while (i--) off = pack_next(p, off);
    } else {
        off = pack_last(p);
        for (long long k = n - 1; k > i; k--) off = pack_prev(p, off);
    }
    return off;
}

const char *pack_get(const pack *p, size_t off, size_t *len) {
    uint64_t n;
    size_t h = ks_varint_get(p + off, &n);
    *len = (size_t)n;
    return (const char *)p + off + h;
}

bool pack_entry_ll(const pack *p, size_t off, long long *v) {
    size_t n;
    const char *s = pack_get(p, off, &n);
    return sg_str2ll(s, n, v) != 0;
}

size_t pack_find(const pack *p, size_t off, const char *s, size_t n, unsigned skip) {
    while (off != PACK_END) {
        size_t l;
        const char *e = pack_get(p, off, &l);
        if (l == n && memcmp(e, s, n) == 0) return off;
        off = pack_next(p, off);
        for (unsigned k = 0; k < skip && off != PACK_END; k++) off = pack_next(p, off);
    }
    return PACK_END;
}

pack *pack_insert(pack *p, size_t off, const char *s, size_t n, size_t *where) {
    size_t bytes = pack_bytes(p);
    size_t at = off == PACK_END ? bytes : off;
    size_t es = entry_size_for(n);
    sg_assert(bytes + es < UINT32_MAX);
    p = sg_realloc(p, bytes + es);
    memmove(p + at + es, p + at, bytes - at);
    entry_write(p + at, s, n);
    wr32(p, 0, (uint32_t)(bytes + es));
    wr32(p, 4, pack_count(p) + 1);
    if (where) *where = at;
    return p;
}

pack *pack_append(pack *p, const char *s, size_t n) {
    return pack_insert(p, PACK_END, s, n, NULL);
}

pack *pack_prepend(pack *p, const char *s, size_t n) {
    return pack_insert(p, pack_first(p), s, n, NULL);
}

pack *pack_delete(pack *p, size_t off, size_t count, size_t *next) {
    size_t bytes = pack_bytes(p);
    size_t end = off, removed = 0;
    while (removed < count && end < bytes) {
        end += entry_size_at(p, end);
        removed++;
    }
    memmove(p + off, p + end, bytes - end);
    wr32(p, 0, (uint32_t)(bytes - (end - off)));
    wr32(p, 4, pack_count(p) - (uint32_t)removed);
    if (next) *next = off >= pack_bytes(p) ? PACK_END : off;
    return sg_realloc(p, pack_bytes(p));
}

pack *pack_replace(pack *p, size_t off, const char *s, size_t n) {
    size_t old = entry_size_at(p, off), es = entry_size_for(n);
    size_t bytes = pack_bytes(p);
    if (es > old) p = sg_realloc(p, bytes + es - old);
    memmove(p + off + es, p + off + old, bytes - off - old);
    entry_write(p + off, s, n);
    wr32(p, 0, (uint32_t)(bytes + es - old));
    if (es < old) p = sg_realloc(p, bytes + es - old);
    return p;
}
