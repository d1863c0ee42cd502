/*
 * fuzz_glob: sg_glob_match (src/base), the matcher behind KEYS, SCAN MATCH,
 * PSUBSCRIBE and CONFIG GET.
 *
 * Input layout: pattern, a 0 byte, string. Without a 0 byte the whole input
 * is matched against itself. Both the case-sensitive and the nocase variant
 * run. The promise under test is bounded work (len(pattern) * len(string),
 * no recursion): libFuzzer's -timeout flags a slow input, ASan a stack
 * overflow or an out-of-bounds read. The pattern and the string are copied
 * into buffers of their exact size so that a read one byte past either end
 * is caught (neither is NUL-terminated).
 *
 * Cheap properties that must hold whatever the algorithm:
 *   - "*" and a run of stars match everything;
 *   - a pattern with no special character (* ? [ \) matches exactly the
 *     string equal to it (case-sensitive variant).
 */
#include "../../src/base/base.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_glob: property failed: %s (%s:%d)\n", #cond, __FILE__,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const uint8_t *sp = nul ? nul + 1 : data;
    size_t slen = nul ? size - plen - 1 : size;

    /* Exact-size copies (malloc(0) may return NULL; keep one byte then). */
    char *pat = malloc(plen ? plen : 1);
    char *str = malloc(slen ? slen : 1);
    FUZZ_CHECK(pat && str);
    if (plen) memcpy(pat, data, plen);
    if (slen) memcpy(str, sp, slen);

    bool cs = sg_glob_match(pat, plen, str, slen, false);
    bool ci = sg_glob_match(pat, plen, str, slen, true);

    bool literal = true, all_stars = plen > 0;
    for (size_t i = 0; i < plen; i++) {
        char c = pat[i];
        if (c == '*' || c == '?' || c == '[' || c == '\\') literal = false;
        if (c != '*') all_stars = false;
    }
    if (all_stars) FUZZ_CHECK(cs && ci);
    if (literal) FUZZ_CHECK(cs == (plen == slen && (plen == 0 || memcmp(pat, str, plen) == 0)));

    free(pat);
    free(str);
    return 0;
}
