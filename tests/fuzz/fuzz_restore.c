/*
 * fuzz_restore: RESTORE's payload validator and value builder
 * (persist_restore_value in src/persist/serialize.c), which takes bytes
 * from any client.
 *
 * The first input byte picks the mode: even, the rest is a payload as is
 * (mostly exercises the framing checks); odd, the rest is a type byte and
 * body, to which the version and a correct CRC64 are appended, so the body
 * validator and the types' builders see hostile contents. Properties,
 * beyond "no crash, no read outside the buffer, no leak" (ASan): an error
 * comes with one of the two documented messages and no entry; a success
 * yields an entry whose DUMP restores again to an entry with the same
 * value digest, type and encoding, and (except for hashtable-encoded sets
 * and hashes, dumped in table order) whose DUMP is the same bytes.
 */
#include "../../src/persist/serialize.h"
#include "../../src/server/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_restore: property failed: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

void types_register(void);

static void init_once(void) {
    static int done;
    if (done) return;
    done = 1;
    config_init_defaults();
    cfg.loglevel = SG_LOG_WARNING;
    sg_hash_seed_init();
    types_register();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    if (size < 1 || size > 1 << 16) return 0;
    sstr *p = sstr_new(data + 1, size - 1);
    if (data[0] & 1) {
        uint8_t tail[8] = {SURGE_DUMP_VERSION & 0xff, SURGE_DUMP_VERSION >> 8};
        p = sstr_cat(p, tail, 2);
        uint64_t crc = sg_crc64(0, p->buf, p->len);
        for (int i = 0; i < 8; i++) tail[i] = (uint8_t)(crc >> (8 * i));
        p = sstr_cat(p, tail, 8);
    }
    kentry *e = NULL;
    const char *err = NULL;
    int rc = persist_restore_value("k", 1, p->buf, p->len, -1, &e, &err);
    if (rc != 0) {
        FUZZ_CHECK(e == NULL && err);
        FUZZ_CHECK(!strcmp(err, "DUMP payload version or checksum are wrong") ||
                   !strcmp(err, "Bad data format"));
    } else {
        FUZZ_CHECK(e != NULL);
        sstr *d1 = persist_dump_value(e);
        kentry *e2 = NULL;
        FUZZ_CHECK(persist_restore_value("k", 1, d1->buf, d1->len, -1, &e2, &err) == 0);
        FUZZ_CHECK(kentry_type(e) == kentry_type(e2) && kentry_enc(e) == kentry_enc(e2));
        uint8_t a[20], b[20];
        kentry_digest(e, false, a);
        kentry_digest(e2, false, b);
        FUZZ_CHECK(!memcmp(a, b, 20));
        sstr *d2 = persist_dump_value(e2);
        /* Sets and hashes in a hashtable dump in table order, which
         * depends on the insertion history; the rest dump in value order. */
        if (kentry_enc(e) != ENC_HASHTABLE)
            FUZZ_CHECK(d1->len == d2->len && !memcmp(d1->buf, d2->buf, d1->len));
        sstr_free(d1);
        sstr_free(d2);
        kentry_free(e2);
        kentry_free(e);
    }
    sstr_free(p);
    return 0;
}
