/*
 * fuzz_aof: the append-only log's record scanner (aof_scan in
 * src/persist/aof.c), which start-up runs over files that may be torn or
 * damaged.
 *
 * The input is a log image. Properties, beyond "no crash, no read outside
 * the buffer" (ASan): the good prefix never passes the end; a result is
 * torn or corrupt or clean, never two of them; the callback sees exactly
 * `records` payloads, each inside the buffer; scanning the good prefix alone
 * is clean with the same count; and re-framing the payloads reproduces the
 * good prefix byte for byte (the format has one encoding per record).
 *
 * Encrypted ('%') records: the target installs FUZZ_KEY as a key for
 * reading (crypt_set_keys), so seeds sealed with it (corpus files named
 * enc_*) are opened and their plaintext handed to the callback, which then
 * lies in the scanner's buffer, not in the input. Sealing uses a random
 * nonce, so such a record is checked differently: sealing its plaintext
 * again gives a record of the same length that scans back to the same
 * plaintext, and the input's own bytes stand for it in the re-framed image.
 * Any other key id is refused as corrupt (no_key), never read.
 */
#include "../../src/persist/persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_aof: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The seeds' key: bytes 0, 1, ..., 31 (as the hex key file
 * 000102...1f). */
static crypt_key fuzz_key;

typedef struct seen {
    const char *base;
    size_t n, records;
    sstr *reframed;
} seen;

typedef struct one {
    const char *p;
    size_t len, records;
} one;

static int on_one(void *ctx, const char *p, size_t len, size_t off) {
    one *o = ctx;
    FUZZ_CHECK(off == 0 && o->records == 0);
    FUZZ_CHECK(len == o->len && memcmp(p, o->p, len) == 0);
    o->records++;
    return 0;
}

static int on_record(void *ctx, const char *p, size_t len, size_t off) {
    seen *s = ctx;
    FUZZ_CHECK(off < s->n && off == s->reframed->len);
    s->records++;
    if (s->base[off] != '%') {
        FUZZ_CHECK(p >= s->base && p + len <= s->base + s->n);
        s->reframed = aof_frame_record_key(s->reframed, p, len, NULL);
        return 0;
    }
    /* encrypted: seal the plaintext again and scan that alone */
    sstr *again = aof_frame_record_key(sstr_new("", 0), p, len, &fuzz_key);
    FUZZ_CHECK(again->buf[0] == '%' && off + again->len <= s->n);
    one o = {p, len, 0};
    aof_scan_result r;
    FUZZ_CHECK(aof_scan(again->buf, again->len, on_one, &o, &r) == 0);
    FUZZ_CHECK(o.records == 1 && r.records == 1 && r.encrypted == 1 && r.good == again->len);
    s->reframed = sstr_cat(s->reframed, s->base + off, again->len);
    sstr_free(again);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool keyed;
    if (!keyed) {
        uint8_t raw[32];
        for (int i = 0; i < 32; i++) raw[i] = (uint8_t)i;
        crypt_key_from_bytes(&fuzz_key, raw);
        FUZZ_CHECK(crypt_set_keys(NULL, &fuzz_key, 1) == 0); /* reads only */
        keyed = true;
    }
    const char *p = (const char *)data;
    seen s = {p, size, 0, sstr_new("", 0)};
    aof_scan_result r;
    FUZZ_CHECK(aof_scan(p, size, on_record, &s, &r) == 0);
    FUZZ_CHECK(r.good <= size);
    FUZZ_CHECK(!(r.torn && r.corrupt));
    FUZZ_CHECK((r.good == size) == (!r.torn && !r.corrupt));
    FUZZ_CHECK(s.records == r.records);
    FUZZ_CHECK(s.reframed->len == r.good && memcmp(s.reframed->buf, p, r.good) == 0);
    aof_scan_result again;
    FUZZ_CHECK(aof_scan(p, r.good, NULL, NULL, &again) == 0);
    FUZZ_CHECK(again.good == r.good && again.records == r.records && !again.torn && !again.corrupt);
    sstr_free(s.reframed);
    return 0;
}
