/*
 * Hashing.
 *
 * sg_hash() is SipHash-1-3 (Aumasson & Bernstein) keyed with 16 random bytes
 * drawn once per process, so nobody outside can craft keys that collide in
 * our tables (hash flooding). The 1-3 variant is the one Rust and Redis use
 * for hash tables: still keyed and unpredictable, cheaper than 2-4.
 *
 * sg_crc16() is CRC16/XMODEM (poly 0x1021, init 0), the function Redis
 * Cluster uses for key slots; sg_key_slot() applies the {hash tag} rule.
 * sg_crc64() is CRC-64/Jones (reflected poly 0xad93d23594c935a9), used for
 * checksums of serialized values.
 */
#include "base.h"

#include <ctype.h>
#include <string.h>

static uint8_t hash_key[16];

void sg_hash_seed_set(const uint8_t key[16]) {
    memcpy(hash_key, key, 16);
}

void sg_hash_seed_init(void) {
    sg_random_bytes(hash_key, sizeof(hash_key));
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v; /* little-endian hosts only (x86_64, aarch64) */
}

static uint64_t siphash13(const uint8_t *in, size_t inlen, const uint8_t k[16], bool nocase) {
    uint64_t k0 = load64(k), k1 = load64(k + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = ((uint64_t)inlen) << 56;
    size_t left = inlen & 7;
    const uint8_t *end = in + inlen - left;
    for (; in != end; in += 8) {
        uint64_t m;
        if (nocase) {
            uint8_t t[8];
            for (int i = 0; i < 8; i++) t[i] = (uint8_t)tolower(in[i]);
            m = load64(t);
        } else {
            m = load64(in);
        }
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < left; i++) {
        uint8_t c = nocase ? (uint8_t)tolower(in[i]) : in[i];
        b |= ((uint64_t)c) << (8 * i);
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t sg_siphash(const void *p, size_t n, const uint8_t key[16]) {
    return siphash13(p, n, key, false);
}

uint64_t sg_hash(const void *p, size_t n) {
    return siphash13(p, n, hash_key, false);
}

uint64_t sg_hash_nocase(const void *p, size_t n) {
    return siphash13(p, n, hash_key, true);
}

static uint16_t crc16_table[256];
/* Slicing-by-4 tables: crc16_slice[k][v] is the CRC contribution of byte v
 * followed by k zero bytes (the CRC is linear, so four bytes are folded in
 * with four lookups; XMODEM is MSB-first, so the register is XORed into the
 * first two bytes of each group). */
static uint16_t crc16_slice[4][256];
static uint64_t crc64_table[256];

__attribute__((constructor)) static void crc_tables_init(void) {
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int j = 0; j < 8; j++) c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
        crc16_table[i] = c;
        crc16_slice[0][i] = c;
        uint64_t d = i;
        for (int j = 0; j < 8; j++) d = (d & 1) ? (d >> 1) ^ 0x95ac9329ac4bc9b5ULL : d >> 1;
        crc64_table[i] = d;
    }
    for (int k = 1; k < 4; k++) /* each: the previous advanced by one zero byte */
        for (int v = 0; v < 256; v++) {
            uint16_t c = crc16_slice[k - 1][v];
            crc16_slice[k][v] = (uint16_t)((c << 8) ^ crc16_table[c >> 8]);
        }
}

uint16_t sg_crc16(const void *p, size_t n) {
    const uint8_t *b = p;
    uint16_t crc = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint8_t x0 = (uint8_t)(b[i] ^ (crc >> 8)), x1 = (uint8_t)(b[i + 1] ^ (crc & 0xff));
        crc = crc16_slice[3][x0] ^ crc16_slice[2][x1] ^ crc16_slice[1][b[i + 2]] ^
              crc16_slice[0][b[i + 3]];
    }
    for (; i < n; i++) crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ b[i]) & 0xff]);
    return crc;
}

uint64_t sg_crc64(uint64_t crc, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) crc = crc64_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

unsigned sg_key_slot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t s = (size_t)(open - key);
        const char *close = memchr(open + 1, '}', len - s - 1);
        if (close && close != open + 1)
            return sg_crc16(open + 1, (size_t)(close - open - 1)) & (SG_SLOTS - 1);
    }
    return sg_crc16(key, len) & (SG_SLOTS - 1);
}
