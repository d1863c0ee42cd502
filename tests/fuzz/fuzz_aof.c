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

typedef struct seen {
    const char *base;
    size_t n, records;
    sstr *reframed;
} seen;

static int on_record(void *ctx, const char *p, size_t len, size_t off) {
    seen *s = ctx;
    FUZZ_CHECK(p >= s->base && p + len <= s->base + s->n && off < s->n);
    s->records++;
    s->reframed = aof_frame_record(s->reframed, p, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
