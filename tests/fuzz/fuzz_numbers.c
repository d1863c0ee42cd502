/*
 * fuzz_numbers: the number parsers and formatters of src/base, which every
 * numeric command argument and config value goes through.
 *
 * The input is the text to parse, not NUL-terminated (copied into a buffer
 * of its exact size so that reading past len is caught). Properties:
 *   - sg_str2ll accepts exactly the canonical decimal form: when it accepts,
 *     sg_ll2str gives back the same bytes (no '+', no leading zeros, no
 *     "-0", no spaces); the same for sg_str2ull / sg_ull2str;
 *   - sg_digits10 agrees with the formatted length;
 *   - a value accepted by both sg_str2ll and sg_str2ull is the same number;
 *   - sg_str2d: the shortest form written by sg_d2str parses back to the
 *     same double (what a client reads in a RESP3 double or ZSCORE);
 *   - sg_str2ld and sg_ld2str run to completion on whatever was accepted
 *     (INCRBYFLOAT's path), into a buffer of Redis's MAX_LONG_DOUBLE_CHARS.
 */
#include "../../src/base/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_numbers: property failed: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    FUZZ_CHECK(s != NULL);
    if (size) memcpy(s, data, size);

    char out[SG_LONG_STR_SIZE + 8];
    long long ll = 0;
    unsigned long long ull = 0;
    int ok_ll = sg_str2ll(s, size, &ll);
    int ok_ull = sg_str2ull(s, size, &ull);
    if (ok_ll) {
        int n = sg_ll2str(out, sizeof(out), ll);
        FUZZ_CHECK(n > 0 && (size_t)n == size && memcmp(out, s, size) == 0);
        FUZZ_CHECK(out[n] == '\0');
    }
    if (ok_ull) {
        int n = sg_ull2str(out, sizeof(out), ull);
        FUZZ_CHECK(n > 0 && (size_t)n == size && memcmp(out, s, size) == 0);
        FUZZ_CHECK(sg_digits10(ull) == (unsigned)n);
    }
    if (ok_ll && ok_ull) FUZZ_CHECK(ll >= 0 && (unsigned long long)ll == ull);
    if (ok_ll && ll >= 0) FUZZ_CHECK(ok_ull);

    double d = 0;
    if (sg_str2d(s, size, &d)) {
        FUZZ_CHECK(!isnan(d));
        char dbuf[128];
        int n = sg_d2str(dbuf, sizeof(dbuf), d);
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof(dbuf));
        double back = 0;
        FUZZ_CHECK(sg_str2d(dbuf, (size_t)n, &back));
        FUZZ_CHECK(memcmp(&back, &d, sizeof(d)) == 0 || back == d);
    }

    long double ld = 0;
    if (sg_str2ld(s, size, &ld)) {
        FUZZ_CHECK(!isnan(ld));
        char lbuf[SG_MAX_DOUBLE_CHARS];
        int n = sg_ld2str(lbuf, sizeof(lbuf), ld);
        FUZZ_CHECK(n >= 0 && (size_t)n < sizeof(lbuf));
        if (n > 0) {
            long double back = 0;
            FUZZ_CHECK(sg_str2ld(lbuf, (size_t)n, &back));
        }
    }

    free(s);
    return 0;
}
