/* Unit tests for src/base: numbers, glob, hashing, sstr, accounted allocation. */
#include "../../src/base/base.h"
#include "test.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* ---- sg_str2ll ---- */

static int s2ll(const char *s, long long *out) {
    return sg_str2ll(s, strlen(s), out);
}

TEST(str2ll_accepts) {
    long long v = 12345;
    CHECK(s2ll("0", &v) && v == 0);
    CHECK(s2ll("1", &v) && v == 1);
    CHECK(s2ll("-1", &v) && v == -1);
    CHECK(s2ll("1234567890", &v) && v == 1234567890LL);
    CHECK(s2ll("-1234567890", &v) && v == -1234567890LL);
    CHECK(s2ll("9223372036854775807", &v) && v == LLONG_MAX);
    CHECK(s2ll("-9223372036854775808", &v) && v == LLONG_MIN);
    CHECK(s2ll("9223372036854775806", &v) && v == LLONG_MAX - 1);
    CHECK(s2ll("-9223372036854775807", &v) && v == LLONG_MIN + 1);
    /* Only len bytes are read: a longer buffer is fine. */
    CHECK(sg_str2ll("42xyz", 2, &v) && v == 42);
}

TEST(str2ll_rejects) {
    long long v = 777;
    const char *bad[] = {
        "",   /* empty */
        "-",  /* sign only */
        "-0", /* negative zero */
        "00",
        "01",
        "007",
        "-01",
        "-00", /* leading zeros */
        "+1",
        "+0", /* explicit plus */
        " 1",
        "1 ",
        " ",
        "1 2", /* spaces */
        "\t1",
        "1\n",
        "1a",
        "a1",
        "0x10",
        "1.0",
        "1e3",
        "--1",
        "-+1",
        "9223372036854775808",   /* LLONG_MAX + 1 */
        "-9223372036854775809",  /* LLONG_MIN - 1 */
        "18446744073709551615",  /* ULLONG_MAX */
        "18446744073709551616",  /* ULLONG_MAX + 1 */
        "99999999999999999999",  /* 20 digits, overflow */
        "100000000000000000000", /* 21 digits */
        "-100000000000000000000",
        "123456789012345678901234567890",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
        v = 777;
        int ok = s2ll(bad[i], &v);
        if (ok) fprintf(stderr, "  accepted \"%s\" as %lld\n", bad[i], v);
        CHECK(!ok);
    }
    /* Embedded NUL is not a digit. */
    CHECK(!sg_str2ll("1\0"
                     "2",
                     3, &v));
}

TEST(str2ull) {
    unsigned long long u = 0;
    CHECK(sg_str2ull("18446744073709551615", 20, &u) && u == ULLONG_MAX);
    CHECK(!sg_str2ull("18446744073709551616", 20, &u));
    CHECK(!sg_str2ull("-1", 2, &u));
    CHECK(!sg_str2ull("01", 2, &u));
    CHECK(sg_str2ull("0", 1, &u) && u == 0);
}

/* ---- sg_ll2str ---- */

TEST(ll2str_round_trip) {
    const long long vals[] = {0,
                              1,
                              -1,
                              9,
                              10,
                              -10,
                              99,
                              100,
                              12345678,
                              -987654321,
                              LLONG_MAX,
                              LLONG_MIN,
                              LLONG_MAX - 1,
                              LLONG_MIN + 1,
                              1000000000000000000LL,
                              -1000000000000000000LL};
    for (size_t i = 0; i < SG_ARRAY_LEN(vals); i++) {
        char buf[SG_LONG_STR_SIZE];
        char ref[64];
        int n = sg_ll2str(buf, sizeof(buf), vals[i]);
        snprintf(ref, sizeof(ref), "%lld", vals[i]);
        CHECK_EQ(n, strlen(ref));
        CHECK_STR_EQ(buf, ref);
        long long back = 0;
        CHECK(sg_str2ll(buf, (size_t)n, &back));
        CHECK_EQ(back, vals[i]);
    }
    char buf[SG_LONG_STR_SIZE];
    CHECK_EQ(sg_ll2str(buf, sizeof(buf), LLONG_MIN), 20);
    CHECK_STR_EQ(buf, "-9223372036854775808");
    /* Too small a buffer is refused, not overrun. */
    char small[3];
    CHECK_EQ(sg_ll2str(small, sizeof(small), 123), 0);
    CHECK_EQ(sg_ll2str(small, sizeof(small), -12), 0);
    CHECK_EQ(sg_ll2str(small, sizeof(small), 12), 2);
    CHECK_STR_EQ(small, "12");
    char u[SG_LONG_STR_SIZE];
    CHECK_EQ(sg_ull2str(u, sizeof(u), ULLONG_MAX), 20);
    CHECK_STR_EQ(u, "18446744073709551615");
}

TEST(digits10) {
    CHECK_EQ(sg_digits10(0), 1);
    CHECK_EQ(sg_digits10(9), 1);
    CHECK_EQ(sg_digits10(10), 2);
    CHECK_EQ(sg_digits10(999), 3);
    CHECK_EQ(sg_digits10(1000), 4);
    CHECK_EQ(sg_digits10(UINT64_MAX), 20);
}

/* ---- long doubles (INCRBYFLOAT) ---- */

static int s2ld(const char *s, long double *out) {
    return sg_str2ld(s, strlen(s), out);
}

TEST(str2ld_ld2str) {
    char buf[SG_MAX_DOUBLE_CHARS];
    long double a = 0, b = 0;
    /* INCRBYFLOAT 10.5 by 0.1 -> "10.6" (Redis's documented example). */
    CHECK(s2ld("10.5", &a));
    CHECK(s2ld("0.1", &b));
    int n = sg_ld2str(buf, sizeof(buf), a + b);
    CHECK(n > 0);
    CHECK_STR_EQ(buf, "10.6");
    CHECK_EQ(n, 4);
    /* 5.0e3 + 2.0e2 -> "5200" */
    CHECK(s2ld("5.0e3", &a));
    CHECK(s2ld("2.0e2", &b));
    sg_ld2str(buf, sizeof(buf), a + b);
    CHECK_STR_EQ(buf, "5200");
    /* Trailing zeros and a bare point go. */
    CHECK(s2ld("3.0", &a));
    sg_ld2str(buf, sizeof(buf), a);
    CHECK_STR_EQ(buf, "3");
    CHECK(s2ld("-3.50", &a));
    sg_ld2str(buf, sizeof(buf), a);
    CHECK_STR_EQ(buf, "-3.5");
    sg_ld2str(buf, sizeof(buf), 0.0L);
    CHECK_STR_EQ(buf, "0");
    sg_ld2str(buf, sizeof(buf), -0.0L);
    CHECK_STR_EQ(buf, "0");
    sg_ld2str(buf, sizeof(buf), 100.0L);
    CHECK_STR_EQ(buf, "100"); /* zeros before the point stay */
    /* 1e400 overflows a double but not a long double. */
    CHECK(s2ld("1e400", &a));
    CHECK(isfinite(a) && a > 1e300L);
    n = sg_ld2str(buf, sizeof(buf), a);
    CHECK(n > 400);
    CHECK(buf[0] == '1');
    CHECK(strchr(buf, '.') == NULL);
    /* Infinity and NaN cannot be formatted. */
    CHECK_EQ(sg_ld2str(buf, sizeof(buf), (long double)INFINITY), 0);
    CHECK_EQ(sg_ld2str(buf, sizeof(buf), (long double)NAN), 0);
    /* A buffer too small is refused. */
    char tiny[4];
    CHECK_EQ(sg_ld2str(tiny, sizeof(tiny), 12345.0L), 0);
}

TEST(str2ld_rejects) {
    long double v;
    CHECK(!s2ld("", &v));
    CHECK(!s2ld(" 1", &v));
    CHECK(!s2ld("1 ", &v));
    CHECK(!s2ld("1x", &v));
    CHECK(!s2ld("nan", &v));
    CHECK(!s2ld("abc", &v));
    CHECK(!s2ld("1e999999", &v));  /* overflow even for a long double */
    CHECK(!s2ld("1e-999999", &v)); /* underflow to zero */
    CHECK(s2ld("-1.5", &v) && v == -1.5L);
    CHECK(s2ld(".5", &v) && v == 0.5L);
    double d;
    CHECK(sg_str2d("1.5", 3, &d) && d == 1.5);
    CHECK(!sg_str2d("1e400", 5, &d)); /* overflows a double */
    CHECK(sg_str2d("inf", 3, &d) && isinf(d));
    CHECK(!sg_str2d("nan", 3, &d));
    CHECK(!sg_str2d(" 1", 2, &d));
    /* The integer fast path agrees with strtod, sign of zero included. */
    static const char *const ints[] = {"0",
                                       "-0",
                                       "+7",
                                       "000000010128",
                                       "-42",
                                       "999999999999999",
                                       "-123456789012345",
                                       "1234567890123456",
                                       "9007199254740993",
                                       "12a",
                                       "-",
                                       "+",
                                       "1 ",
                                       "0x10"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char *end;
        double want = strtod(ints[i], &end);
        bool valid = *end == '\0' && end != ints[i];
        double got = -1;
        int ok = sg_str2d(ints[i], strlen(ints[i]), &got);
        CHECK_EQ(ok, valid);
        if (valid) CHECK(got == want && signbit(got) == signbit(want));
    }
}

/* ---- glob ---- */

static bool gm(const char *pat, const char *s) {
    return sg_glob_match(pat, strlen(pat), s, strlen(s), false);
}
static bool gmi(const char *pat, const char *s) {
    return sg_glob_match(pat, strlen(pat), s, strlen(s), true);
}

TEST(glob_basic) {
    CHECK(gm("*", ""));
    CHECK(gm("*", "anything"));
    CHECK(gm("", ""));
    CHECK(!gm("", "a"));
    CHECK(!gm("a", ""));
    CHECK(gm("hello", "hello"));
    CHECK(!gm("hello", "hell"));
    CHECK(!gm("hello", "helloo"));
    CHECK(gm("h?llo", "hello"));
    CHECK(gm("h?llo", "hallo"));
    CHECK(!gm("h?llo", "hllo"));
    CHECK(gm("h*llo", "hllo"));
    CHECK(gm("h*llo", "heeeello"));
    CHECK(gm("*llo", "hello"));
    CHECK(gm("he*", "hello"));
    CHECK(gm("**", "x"));
    CHECK(gm("a*b*c", "aXXbYYc"));
    CHECK(!gm("a*b*c", "aXXbYY"));
    CHECK(gm("a*b", "abab"));
    CHECK(!gm("?", ""));
    CHECK(gm("???", "abc"));
    CHECK(!gm("???", "ab"));
    CHECK(gm("user:*:name", "user:1000:name"));
    CHECK(!gm("user:*:name", "user:1000:email"));
}

TEST(glob_classes) {
    CHECK(gm("h[ae]llo", "hello"));
    CHECK(gm("h[ae]llo", "hallo"));
    CHECK(!gm("h[ae]llo", "hillo"));
    CHECK(gm("h[^e]llo", "hallo"));
    CHECK(!gm("h[^e]llo", "hello"));
    CHECK(gm("h[a-b]llo", "hallo"));
    CHECK(gm("h[a-b]llo", "hbllo"));
    CHECK(!gm("h[a-b]llo", "hcllo"));
    CHECK(gm("[a-z]", "m"));
    CHECK(!gm("[a-z]", "M"));
    CHECK(gm("[z-a]", "m")); /* reversed range, as Redis swaps it */
    CHECK(gm("[0-9][0-9]", "42"));
    CHECK(!gm("[0-9][0-9]", "4x"));
    CHECK(gm("[^0-9]", "x"));
    CHECK(!gm("[^0-9]", "5"));
    CHECK(gm("[abc]*", "cat"));
    CHECK(!gm("[]", "a"));   /* an empty class matches nothing */
    CHECK(gm("[\\]]", "]")); /* escaped ] inside a class */
    CHECK(gm("[\\-]", "-"));
    CHECK(gm("[a\\-z]", "-"));
    CHECK(!gm("[a\\-z]", "m")); /* escaped -, not a range */
    CHECK(gm("*[xyz]", "aaay"));
    CHECK(!gm("*[xyz]", "aaaa"));
}

TEST(glob_escapes) {
    CHECK(gm("\\*", "*"));
    CHECK(!gm("\\*", "a"));
    CHECK(gm("\\?", "?"));
    CHECK(!gm("\\?", "x"));
    CHECK(gm("a\\[b", "a[b"));
    CHECK(gm("\\\\", "\\"));
    CHECK(gm("foo\\*bar", "foo*bar"));
    CHECK(!gm("foo\\*bar", "fooXbar"));
    CHECK(gm("*\\*", "abc*"));
    CHECK(!gm("*\\*", "abc"));
    /* A lone trailing backslash matches itself. */
    CHECK(gm("a\\", "a\\"));
}

TEST(glob_nocase) {
    CHECK(gmi("HeLLo", "hello"));
    CHECK(!gm("HeLLo", "hello"));
    CHECK(gmi("h*O", "HELLO"));
    CHECK(gmi("[A-Z]x", "qX"));
    CHECK(!gm("[A-Z]x", "qx"));
    CHECK(gmi("[^a]", "B"));
    CHECK(!gmi("[^a]", "A"));
    CHECK(gmi("?ELLO", "hello"));
}

TEST(glob_binary) {
    /* Lengths are explicit: NUL bytes are ordinary. */
    const char s[] = {'a', 0, 'b'};
    CHECK(sg_glob_match("a?b", 3, s, 3, false));
    CHECK(sg_glob_match("a*", 2, s, 3, false));
    CHECK(!sg_glob_match("ab", 2, s, 3, false));
}

TEST(glob_pathological) {
    /* Exponential for a naive backtracking matcher. Just has to finish. */
    char pat[64];
    size_t pl = 0;
    for (int i = 0; i < 20; i++) {
        pat[pl++] = '*';
        pat[pl++] = 'a';
    }
    pat[pl++] = '*';
    pat[pl++] = 'b';
    static char s[20000];
    memset(s, 'a', sizeof(s));
    CHECK(!sg_glob_match(pat, pl, s, sizeof(s), false));
    s[sizeof(s) - 1] = 'b';
    CHECK(sg_glob_match(pat, pl, s, sizeof(s), false));
    /* Redis's own regression pattern. */
    const char *p2 = "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    memset(s, 'a', sizeof(s));
    CHECK(!sg_glob_match(p2, strlen(p2), s, 5000, false));
}

/* ---- hashing ---- */

TEST(crc16) {
    CHECK_EQ(sg_crc16("123456789", 9), 0x31C3);
    CHECK_EQ(sg_crc16("", 0), 0);
}

static unsigned slot(const char *k) {
    return sg_key_slot(k, strlen(k));
}

TEST(key_slot) {
    CHECK_EQ(slot("foo"), 12182);
    CHECK_EQ(slot("bar"), 5061);
    CHECK_EQ(slot("123456789"), 0x31C3 & 16383);
    CHECK_EQ(slot("{user1000}.following"), slot("{user1000}.followers"));
    CHECK_EQ(slot("{user1000}.following"), slot("user1000"));
    CHECK_EQ(slot("foo{bar}zap"), slot("bar"));
    /* "{}" is no tag: the whole key hashes. */
    CHECK_EQ(slot("foo{}{bar}"), sg_crc16("foo{}{bar}", 10) & 16383);
    /* The tag runs from the first '{' to the first '}' after it. */
    CHECK_EQ(slot("foo{{bar}}zap"), sg_crc16("{bar", 4) & 16383);
    CHECK_EQ(slot("foo{bar}{zap}"), slot("bar"));
    /* No closing brace: whole key. */
    CHECK_EQ(slot("foo{bar"), sg_crc16("foo{bar", 7) & 16383);
    CHECK_EQ(slot(""), 0);
    for (int i = 0; i < 1000; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "key:%d", i);
        CHECK(sg_key_slot(k, (size_t)n) < SG_SLOTS);
    }
}

TEST(crc64_jones) {
    CHECK_EQ(sg_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);
    CHECK_EQ(sg_crc64(0, "", 0), 0);
    /* Incremental: the same as one call. */
    uint64_t c = sg_crc64(0, "1234", 4);
    c = sg_crc64(c, "56789", 5);
    CHECK_EQ(c, 0xe9c6d914c4b8d9caULL);
    /* Redis's crc64 test vector for a longer text (sizeof: with the NUL). */
    static const char li[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed "
                             "do eiusmod tempor incididunt ut labore et dolore magna "
                             "aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
                             "ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis "
                             "aute irure dolor in reprehenderit in voluptate velit esse "
                             "cillum dolore eu fugiat nulla pariatur. Excepteur sint "
                             "occaecat cupidatat non proident, sunt in culpa qui officia "
                             "deserunt mollit anim id est laborum.";
    CHECK_EQ(sg_crc64(0, li, sizeof(li)), 0xc7794709e69683b3ULL);
}

TEST(siphash13_vectors) {
    /* SipHash-1-3 reference outputs (veorq/SipHash, variant c=1 d=3) for the
     * all-zero key and the messages 00, 00 01, 00 01 02, ... */
    static const uint64_t want[] = {
        0xd1fba762150c532cULL, 0x68a914128e01e473ULL, 0x010bac45c41e3669ULL, 0x4d4c9a4a8ef6e0adULL,
        0x7cc43f98813e4dbdULL, 0x5abe2169dff36275ULL, 0xe3c25f87624f1cdbULL, 0x2f098ab0c751325aULL,
        0xead411e67ebe2eeaULL, 0x75927f9d95124362ULL, 0xaf9f77a65ab51a1dULL, 0xfe64ce8b6617fcffULL,
        0xa6baf4fb0f9fe1c2ULL, 0xa0cf3211850f8e0dULL, 0x7f86049379fbfe67ULL,
    };
    uint8_t key[16] = {0};
    uint8_t msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    for (size_t n = 0; n < SG_ARRAY_LEN(want); n++) {
        uint64_t h = sg_siphash(msg, n, key);
        if (h != want[n]) fprintf(stderr, "  length %zu\n", n);
        CHECK_EQ(h, want[n]);
    }
}

TEST(siphash_keyed) {
    uint8_t k1[16], k2[16];
    for (int i = 0; i < 16; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(i * 7 + 1);
    }
    const char *m = "hello world";
    uint64_t a = sg_siphash(m, strlen(m), k1);
    CHECK_EQ(sg_siphash(m, strlen(m), k1), a); /* deterministic */
    CHECK(sg_siphash(m, strlen(m), k2) != a);  /* keyed */
    CHECK(sg_siphash("hello worle", 11, k1) != a);
    /* sg_hash uses the process key: set it and compare. */
    sg_hash_seed_set(k1);
    CHECK_EQ(sg_hash(m, strlen(m)), a);
    CHECK_EQ(sg_hash_nocase("HeLLo WoRLD", 11), a);
    CHECK(sg_hash("HeLLo WoRLD", 11) != a);
    /* nocase across an 8-byte block boundary and the tail */
    const char *lo = "abcdefghijklmnopq", *up = "ABCDEFGHIJKLMNOPQ";
    CHECK_EQ(sg_hash_nocase(lo, 17), sg_hash_nocase(up, 17));
    CHECK_EQ(sg_hash_nocase(up, 17), sg_hash(lo, 17));
    sg_hash_seed_set(k2);
    CHECK_EQ(sg_hash(m, strlen(m)), sg_siphash(m, strlen(m), k2));
}

/* ---- sstr ---- */

TEST(sstr_basics) {
    sstr *s = sstr_new("abc", 3);
    CHECK_EQ(s->len, 3);
    CHECK(s->cap >= 3);
    CHECK_STR_EQ(s->buf, "abc");
    s = sstr_cat(s, "def", 3);
    CHECK_EQ(s->len, 6);
    CHECK_STR_EQ(s->buf, "abcdef");
    /* Binary safe. */
    s = sstr_cat(s, "\0x", 2);
    CHECK_EQ(s->len, 8);
    CHECK(memcmp(s->buf, "abcdef\0x", 8) == 0);
    CHECK(s->buf[8] == '\0');
    sstr_free(s);

    s = sstr_new(NULL, 0);
    CHECK_EQ(s->len, 0);
    CHECK(s->buf[0] == '\0');
    /* Grow a byte at a time past several reallocations. */
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        s = sstr_cat(s, &c, 1);
        CHECK(s->cap >= s->len);
    }
    CHECK_EQ(s->len, 10000);
    bool ok = true;
    for (int i = 0; i < 10000; i++) ok &= s->buf[i] == (char)('a' + i % 26);
    CHECK(ok);
    CHECK(s->buf[10000] == '\0');
    CHECK(sstr_alloc_size(s) >= sizeof(sstr) + s->cap + 1);
    sstr_free(s);
}

TEST(sstr_reserve_grow) {
    sstr *s = sstr_new_cap(0);
    CHECK_EQ(s->len, 0);
    s = sstr_reserve(s, 100);
    CHECK(s->cap - s->len >= 100);
    size_t cap = s->cap;
    s = sstr_reserve(s, 10); /* already enough: unchanged */
    CHECK_EQ(s->cap, cap);
    s = sstr_cat(s, "xy", 2);
    s = sstr_grow_zero(s, 50);
    CHECK_EQ(s->len, 50);
    CHECK(s->buf[0] == 'x' && s->buf[1] == 'y');
    bool zero = true;
    for (int i = 2; i <= 50; i++) zero &= s->buf[i] == 0;
    CHECK(zero);
    s = sstr_grow_zero(s, 10); /* never shrinks */
    CHECK_EQ(s->len, 50);
    s = sstr_grow_zero(s, 3 << 20); /* past the 1 MB doubling limit */
    CHECK_EQ(s->len, 3u << 20);
    CHECK(s->buf[(3 << 20) - 1] == 0 && s->buf[3 << 20] == 0);
    sstr_free(s);
}

TEST(sstr_catfmt) {
    sstr *s = sstr_new("n=", 2);
    s = sstr_catfmt(s, "%d,%s,%lld", 42, "x", LLONG_MIN);
    CHECK_STR_EQ(s->buf, "n=42,x,-9223372036854775808");
    CHECK_EQ(s->len, strlen(s->buf));
    /* Longer than the internal 256-byte scratch buffer. */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t before = s->len;
    s = sstr_catfmt(s, "[%s]", big);
    CHECK_EQ(s->len, before + 1001);
    CHECK(s->buf[before] == '[' && s->buf[s->len - 1] == ']' && s->buf[s->len] == '\0');
    CHECK(s->buf[before + 1] == 'q' && s->buf[before + 999] == 'q');
    s = sstr_catfmt(s, "%s", "");
    CHECK_EQ(s->len, before + 1001);
    sstr_free(s);
}

/* ---- accounted allocation ---- */

TEST(alloc_accounting) {
    size_t base = sg_used_memory();
    void *p = sg_malloc(1000);
    size_t after = sg_used_memory();
    CHECK(after >= base + 1000);
    CHECK_EQ(after - base, sg_alloc_size(p));
    memset(p, 1, 1000);
    p = sg_realloc(p, 100000);
    CHECK(sg_used_memory() >= base + 100000);
    CHECK_EQ(sg_used_memory() - base, sg_alloc_size(p));
    p = sg_realloc(p, 10);
    CHECK_EQ(sg_used_memory() - base, sg_alloc_size(p));
    sg_free(p);
    CHECK_EQ(sg_used_memory(), base);

    char *z = sg_calloc(333);
    bool zero = true;
    for (int i = 0; i < 333; i++) zero &= z[i] == 0;
    CHECK(zero);
    CHECK(sg_used_memory() >= base + 333);
    char *d = sg_strdup("duplicate");
    CHECK_STR_EQ(d, "duplicate");
    void *m = sg_memdup("a\0b", 3);
    CHECK(memcmp(m, "a\0b", 3) == 0);
    void *r = sg_realloc(NULL, 64); /* realloc(NULL) is malloc */
    CHECK(sg_used_memory() >= base + 333 + 10 + 3 + 64);
    sg_free(z);
    sg_free(d);
    sg_free(m);
    sg_free(r);
    sg_free(NULL);
    CHECK_EQ(sg_used_memory(), base);
    CHECK_EQ(sg_alloc_size(NULL), 0);

    /* malloc(0) still hands out (and accounts) a block. */
    void *e = sg_malloc(0);
    CHECK(e != NULL);
    sg_free(e);
    CHECK_EQ(sg_used_memory(), base);

    /* sstr goes through the same counter. */
    sstr *s = sstr_new_cap(5000);
    CHECK(sg_used_memory() >= base + 5000);
    sstr_free(s);
    CHECK_EQ(sg_used_memory(), base);
}

TEST(rand_range) {
    CHECK_EQ(sg_rand_range(0), 0);
    bool seen[10] = {false};
    for (int i = 0; i < 2000; i++) {
        uint64_t r = sg_rand_range(10);
        CHECK(r < 10);
        if (r < 10) seen[r] = true;
    }
    int n = 0;
    for (int i = 0; i < 10; i++) n += seen[i];
    CHECK_EQ(n, 10);
    uint8_t a[32] = {0}, b[32] = {0};
    sg_random_bytes(a, sizeof(a));
    sg_random_bytes(b, sizeof(b));
    CHECK(memcmp(a, b, sizeof(a)) != 0);
}

TEST(clocks) {
    int64_t ms = sg_mstime(), us = sg_ustime();
    CHECK(ms > 1600000000000LL); /* after 2020 */
    CHECK(us / 1000 >= ms - 1000 && us / 1000 <= ms + 1000);
    uint64_t m1 = sg_monotonic_us(), m2 = sg_monotonic_us();
    CHECK(m2 >= m1);
}

/* The slicing-by-4 CRC16 equals the byte-at-a-time definition. */
static uint16_t crc16_bytewise(const uint8_t *b, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(b[i] << 8);
        for (int k = 0; k < 8; k++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

TEST(crc16_slicing_matches_bytewise) {
    uint8_t buf[300];
    for (size_t n = 0; n <= sizeof(buf); n++) {
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(sg_rand64() & 0xff);
        CHECK_EQ(sg_crc16(buf, n), crc16_bytewise(buf, n));
    }
}

TEST(str2ull_twenty_digits) {
    unsigned long long v;
    CHECK(sg_str2ull("18446744073709551615", 20, &v) && v == ULLONG_MAX);
    CHECK(!sg_str2ull("18446744073709551616", 20, &v));
    CHECK(!sg_str2ull("99999999999999999999", 20, &v));
    CHECK(sg_str2ull("9999999999999999999", 19, &v) && v == 9999999999999999999ULL);
    CHECK(!sg_str2ull("1234567890123456789x", 20, &v));
}
