/*
 * Unit tests of encryption at rest (src/persist/crypt.c) and of the
 * encrypted records of the append-only log (aof.c): sealing round trips,
 * any altered byte, a different additional data or a different key fails
 * to open; key files in hex or raw form load and everything else is
 * refused; a log of encrypted records scans back to its plaintext, is torn
 * at every cut, corrupt at every flipped byte, and names a missing key.
 */
#include "../../src/persist/crypt.h"
#include "../../src/persist/persist.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void key_n(crypt_key *k, uint8_t seed) {
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(seed + i * 7);
    crypt_key_from_bytes(k, raw);
}

TEST(seal_open_round_trip) {
    crypt_key k;
    key_n(&k, 1);
    static const char aad[] = "header";
    for (size_t n = 0; n < 300; n += 37) {
        uint8_t in[300], sealed[300 + CRYPT_OVERHEAD], out[300 + 1];
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)(i * 13);
        REQUIRE(crypt_seal(&k, aad, sizeof(aad), in, n, sealed) == 0);
        REQUIRE(crypt_open(&k, aad, sizeof(aad), sealed, n + CRYPT_OVERHEAD, out) == 0);
        CHECK(n == 0 || memcmp(in, out, n) == 0);
        if (n >= 16) CHECK(memcmp(sealed + CRYPT_NONCE, in, 16) != 0); /* not the plaintext */
    }
}

TEST(seal_uses_a_fresh_nonce) {
    crypt_key k;
    key_n(&k, 2);
    uint8_t a[10 + CRYPT_OVERHEAD], b[10 + CRYPT_OVERHEAD];
    REQUIRE(crypt_seal(&k, NULL, 0, "same input", 10, a) == 0);
    REQUIRE(crypt_seal(&k, NULL, 0, "same input", 10, b) == 0);
    CHECK(memcmp(a, b, CRYPT_NONCE) != 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
}

TEST(any_altered_byte_fails) {
    crypt_key k;
    key_n(&k, 3);
    const char msg[] = "the quick brown fox";
    size_t n = sizeof(msg) - 1;
    uint8_t sealed[sizeof(msg) + CRYPT_OVERHEAD], out[sizeof(msg)];
    REQUIRE(crypt_seal(&k, "aad", 3, msg, n, sealed) == 0);
    for (size_t i = 0; i < n + CRYPT_OVERHEAD; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            sealed[i] ^= (uint8_t)(1 << bit);
            CHECK(crypt_open(&k, "aad", 3, sealed, n + CRYPT_OVERHEAD, out) != 0);
            sealed[i] ^= (uint8_t)(1 << bit);
        }
    }
    CHECK(crypt_open(&k, "aad", 3, sealed, n + CRYPT_OVERHEAD, out) == 0);
    /* cut short, or too short to hold a nonce and a tag */
    CHECK(crypt_open(&k, "aad", 3, sealed, n + CRYPT_OVERHEAD - 1, out) != 0);
    CHECK(crypt_open(&k, "aad", 3, sealed, CRYPT_OVERHEAD - 1, out) != 0);
}

TEST(wrong_aad_fails) {
    crypt_key k;
    key_n(&k, 4);
    uint8_t sealed[5 + CRYPT_OVERHEAD], out[5];
    REQUIRE(crypt_seal(&k, "block-1", 7, "hello", 5, sealed) == 0);
    CHECK(crypt_open(&k, "block-2", 7, sealed, sizeof(sealed), out) != 0);
    CHECK(crypt_open(&k, "block-1", 6, sealed, sizeof(sealed), out) != 0);
    CHECK(crypt_open(&k, NULL, 0, sealed, sizeof(sealed), out) != 0);
    CHECK(crypt_open(&k, "block-1", 7, sealed, sizeof(sealed), out) == 0);
    CHECK_MEM_EQ(out, 5, "hello");
}

TEST(wrong_key_fails) {
    crypt_key a, b;
    key_n(&a, 5);
    key_n(&b, 6);
    CHECK(memcmp(a.id, b.id, CRYPT_KEY_ID) != 0);
    uint8_t sealed[5 + CRYPT_OVERHEAD], out[5];
    REQUIRE(crypt_seal(&a, NULL, 0, "hello", 5, sealed) == 0);
    CHECK(crypt_open(&b, NULL, 0, sealed, sizeof(sealed), out) != 0);
    CHECK(crypt_open(&a, NULL, 0, sealed, sizeof(sealed), out) == 0);
}

TEST(key_id_is_sha256_prefix) {
    /* SHA-256("surge-key-id" || 32 zero bytes), first 8 bytes, computed
     * independently (python3 hashlib). */
    uint8_t zero[32] = {0};
    crypt_key k;
    crypt_key_from_bytes(&k, zero);
    char hex[2 * CRYPT_KEY_ID + 1];
    crypt_key_id_hex(k.id, hex);
    CHECK_STR_EQ(hex, "3981c37616249d11");
    CHECK(memcmp(k.key, zero, 32) == 0);
}

/* Writes n bytes to a fresh file in a temporary directory; returns its path
 * (static buffer). */
static const char *key_file(const void *p, size_t n, mode_t mode) {
    static char path[256];
    static int seq;
    snprintf(path, sizeof(path), "/tmp/test_crypt.%d.%d.key", (int)getpid(), seq++);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) return NULL;
    ssize_t w = write(fd, p, n);
    close(fd);
    chmod(path, mode);
    return w == (ssize_t)n ? path : NULL;
}

static const char HEX64[] = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

TEST(key_file_hex) {
    crypt_key k, want;
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)i;
    crypt_key_from_bytes(&want, raw);
    char err[512];
    const char *p = key_file(HEX64, 64, 0600);
    REQUIRE(p);
    CHECK(crypt_key_load(p, &k, err, sizeof(err)) == 0);
    CHECK(memcmp(&k, &want, sizeof(k)) == 0);
    unlink(p);
    char spaced[100];
    int n = snprintf(spaced, sizeof(spaced), "  \n%s\n\n", HEX64);
    p = key_file(spaced, (size_t)n, 0600);
    REQUIRE(p);
    memset(&k, 0, sizeof(k));
    CHECK(crypt_key_load(p, &k, err, sizeof(err)) == 0);
    CHECK(memcmp(&k, &want, sizeof(k)) == 0);
    unlink(p);
    /* group/other access is a warning, not a refusal */
    p = key_file(HEX64, 64, 0644);
    REQUIRE(p);
    CHECK(crypt_key_load(p, &k, err, sizeof(err)) == 0);
    unlink(p);
}

TEST(key_file_raw) {
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(200 + i); /* not hex digits */
    raw[5] = '\n';                                            /* whitespace is data here */
    crypt_key k, want;
    crypt_key_from_bytes(&want, raw);
    char err[512];
    const char *p = key_file(raw, 32, 0600);
    REQUIRE(p);
    CHECK(crypt_key_load(p, &k, err, sizeof(err)) == 0);
    CHECK(memcmp(&k, &want, sizeof(k)) == 0);
    unlink(p);
}

static void expect_refused(const void *data, size_t n, const char *needle) {
    crypt_key k;
    char err[512] = "";
    const char *p = key_file(data, n, 0600);
    REQUIRE(p);
    CHECK(crypt_key_load(p, &k, err, sizeof(err)) != 0);
    CHECK(strstr(err, p) != NULL); /* names the file */
    if (!strstr(err, needle)) {
        fprintf(stderr, "  message: %s (wanted \"%s\")\n", err, needle);
        CHECK(strstr(err, needle) != NULL);
    }
    unlink(p);
}

TEST(key_file_refused) {
    expect_refused("", 0, "empty");
    expect_refused(" \n\t\n", 4, "empty");
    expect_refused(HEX64, 62, "62 hexadecimal digits"); /* short */
    expect_refused(HEX64, 63, "63 hexadecimal digits"); /* odd */
    expect_refused("00"
                   "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F",
                   66, "66 hexadecimal digits"); /* long */
    expect_refused(HEX64, 32, "128-bit");        /* 32 hex digits */
    char bad[65];
    memcpy(bad, HEX64, 64);
    bad[10] = 'g';
    expect_refused(bad, 64, "byte 10 is not a hexadecimal digit");
    memcpy(bad, HEX64, 64);
    bad[32] = ' '; /* whitespace inside */
    expect_refused(bad, 64, "not a hexadecimal digit");
    uint8_t raw33[33] = {0};
    expect_refused(raw33, 33, "not a hexadecimal digit"); /* 33 raw bytes */
    char big[5000];
    memset(big, 'a', sizeof(big));
    expect_refused(big, sizeof(big), "too long");
    crypt_key k;
    char err[512];
    CHECK(crypt_key_load("/nonexistent/dir/key", &k, err, sizeof(err)) != 0);
    CHECK(strstr(err, "No such file") != NULL);
    CHECK(crypt_key_load("/tmp", &k, err, sizeof(err)) != 0);
    CHECK(strstr(err, "not a regular file") != NULL);
}

TEST(server_keys_from_config) {
    const char *cur = key_file(HEX64, 64, 0600);
    REQUIRE(cur);
    char curp[256];
    snprintf(curp, sizeof(curp), "%s", cur);
    uint8_t raw[32];
    memset(raw, 0x99, sizeof(raw));
    const char *old = key_file(raw, 32, 0600);
    REQUIRE(old);
    char oldp[256];
    snprintf(oldp, sizeof(oldp), "%s", old);
    crypt_key want_old;
    crypt_key_from_bytes(&want_old, raw);

    char err[512];
    crypt_cfg_key_file = strdup(curp);
    crypt_cfg_old_key_files = strdup(oldp);
    REQUIRE(crypt_load_config(err, sizeof(err)) == 0);
    const crypt_key *c = crypt_current();
    REQUIRE(c);
    CHECK(crypt_find(c->id) == c);
    CHECK(crypt_find(want_old.id) != NULL && crypt_find(want_old.id) != c);
    uint8_t none[CRYPT_KEY_ID] = {1, 2, 3};
    CHECK(crypt_find(none) == NULL);

    /* a bad file changes nothing */
    uint8_t id[CRYPT_KEY_ID];
    memcpy(id, c->id, sizeof(id));
    free(crypt_cfg_key_file);
    crypt_cfg_key_file = strdup("/nonexistent/key");
    CHECK(crypt_load_config(err, sizeof(err)) != 0);
    CHECK(strstr(err, "encryption-key-file") != NULL);
    REQUIRE(crypt_current());
    CHECK(memcmp(crypt_current()->id, id, sizeof(id)) == 0);
    free(crypt_cfg_key_file);
    crypt_cfg_key_file = strdup(curp);
    free(crypt_cfg_old_key_files);
    crypt_cfg_old_key_files = strdup("/nonexistent/old");
    CHECK(crypt_load_config(err, sizeof(err)) != 0);
    CHECK(strstr(err, "encryption-old-key-files") != NULL);
    CHECK(crypt_find(want_old.id) != NULL);

    /* off */
    free(crypt_cfg_key_file);
    free(crypt_cfg_old_key_files);
    crypt_cfg_key_file = strdup("");
    crypt_cfg_old_key_files = strdup("");
    CHECK(crypt_load_config(err, sizeof(err)) == 0);
    CHECK(crypt_current() == NULL);
    CHECK(crypt_find(id) == NULL);
    free(crypt_cfg_key_file);
    free(crypt_cfg_old_key_files);
    crypt_cfg_key_file = crypt_cfg_old_key_files = NULL;
    unlink(curp);
    unlink(oldp);
}

TEST(key_pointers_survive_a_change) {
    crypt_key a, b;
    key_n(&a, 20);
    key_n(&b, 21);
    REQUIRE(crypt_set_keys(&a, NULL, 0) == 0);
    const crypt_key *held = crypt_current();
    REQUIRE(held);
    REQUIRE(crypt_set_keys(&b, &a, 1) == 0);
    CHECK(memcmp(held, &a, sizeof(a)) == 0); /* a save in progress keeps its key */
    CHECK(crypt_current() && memcmp(crypt_current(), &b, sizeof(b)) == 0);
    CHECK(crypt_find(a.id) && memcmp(crypt_find(a.id), &a, sizeof(a)) == 0);
    CHECK(crypt_set_keys(NULL, NULL, CRYPT_MAX_OLD_KEYS + 1) != 0);
    CHECK(crypt_current() == crypt_find(b.id));
    crypt_set_keys(NULL, NULL, 0);
    CHECK(crypt_current() == NULL && crypt_find(b.id) == NULL);
    CHECK(memcmp(held, &a, sizeof(a)) == 0);
}

/* ---- encrypted log records (aof.c) ---- */

static const char *cmds[] = {
    "*3\r\n$3\r\nSET\r\n$6\r\nsecret\r\n$14\r\nDISTINCTIVE-42\r\n",
    "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n",
    "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$0\r\n\r\n",
};
#define NCMDS ((int)(sizeof(cmds) / sizeof(cmds[0])))

typedef struct seen {
    int k;
} seen;

static int check_cb(void *ctx, const char *p, size_t n, size_t off) {
    (void)off;
    seen *s = ctx;
    if (s->k >= NCMDS) return 1;
    CHECK_EQ(n, strlen(cmds[s->k]));
    CHECK(n == strlen(cmds[s->k]) && memcmp(p, cmds[s->k], n) == 0);
    s->k++;
    return 0;
}

/* The log: cmds[0] plain, the others encrypted with k. */
static sstr *build_log(const crypt_key *k, size_t *ends) {
    sstr *s = sstr_new("", 0);
    for (int i = 0; i < NCMDS; i++) {
        s = aof_frame_record_key(s, cmds[i], strlen(cmds[i]), i == 0 ? NULL : k);
        ends[i] = s->len;
    }
    return s;
}

TEST(encrypted_records_scan_to_plaintext) {
    crypt_key k;
    key_n(&k, 7);
    REQUIRE(crypt_set_keys(&k, NULL, 0) == 0);
    size_t ends[NCMDS];
    sstr *s = build_log(&k, ends);
    CHECK(s->buf[0] == '#' && s->buf[ends[0]] == '%');
    CHECK(memmem(s->buf + ends[0], s->len - ends[0], "ctr", 3) == NULL); /* no plaintext */
    seen sn = {0};
    aof_scan_result r;
    CHECK(aof_scan(s->buf, s->len, check_cb, &sn, &r) == 0);
    CHECK_EQ(sn.k, NCMDS);
    CHECK_EQ(r.records, NCMDS);
    CHECK_EQ(r.encrypted, NCMDS - 1);
    CHECK(!r.torn && !r.corrupt && r.good == s->len);
    /* aof_frame_record follows crypt_current() */
    sstr *t = aof_frame_record(sstr_new("", 0), "x", 1);
    CHECK(t->buf[0] == '%');
    CHECK_EQ(t->len - (size_t)(strchr(t->buf, '\n') - t->buf + 1),
             CRYPT_KEY_ID + 1 + CRYPT_OVERHEAD);
    sstr_free(t);
    crypt_set_keys(NULL, NULL, 0);
    t = aof_frame_record(sstr_new("", 0), "x", 1);
    CHECK(t->buf[0] == '#');
    sstr_free(t);
    sstr_free(s);
}

TEST(encrypted_log_cut_anywhere_is_torn) {
    crypt_key k;
    key_n(&k, 8);
    REQUIRE(crypt_set_keys(&k, NULL, 0) == 0);
    size_t ends[NCMDS];
    sstr *s = build_log(&k, ends);
    for (size_t cut = 0; cut < s->len; cut++) {
        aof_scan_result r;
        REQUIRE(aof_scan(s->buf, cut, NULL, NULL, &r) == 0);
        size_t want = 0, nrec = 0;
        for (int i = 0; i < NCMDS; i++)
            if (ends[i] <= cut) want = ends[i], nrec++;
        CHECK_EQ(r.good, want);
        CHECK_EQ(r.records, nrec);
        CHECK(!r.corrupt);
        CHECK(r.torn == (cut != want));
    }
    crypt_set_keys(NULL, NULL, 0);
    sstr_free(s);
}

TEST(encrypted_log_flipped_byte_is_corrupt) {
    crypt_key k;
    key_n(&k, 9);
    REQUIRE(crypt_set_keys(&k, NULL, 0) == 0);
    size_t ends[NCMDS];
    sstr *s = build_log(&k, ends);
    for (size_t i = 0; i < ends[NCMDS - 2]; i++) { /* every byte before the last record */
        s->buf[i] ^= 0x04;
        aof_scan_result r;
        seen sn = {0};
        REQUIRE(aof_scan(s->buf, s->len, check_cb, &sn, &r) == 0);
        CHECK(r.corrupt && !r.torn);
        CHECK(r.good < s->len);
        s->buf[i] ^= 0x04;
    }
    /* A damaged record whose CRC is made to match again: the tag catches it. */
    size_t start = ends[0], nl = start;
    while (s->buf[nl] != '\n') nl++;
    size_t payload = nl + 1, plen = ends[1] - payload;
    s->buf[payload + CRYPT_KEY_ID + CRYPT_NONCE + 2] ^= 1;
    sstr *fixed = sstr_new(s->buf, start);
    char h[AOF_HDR_MAX];
    int n = snprintf(h, sizeof(h), "%%%zu %016llx", plen,
                     (unsigned long long)sg_crc64(0, s->buf + payload, plen));
    n += snprintf(h + n, sizeof(h) - (size_t)n, " %08x\r\n", (uint32_t)sg_crc64(0, h, (size_t)n));
    fixed = sstr_cat(fixed, h, (size_t)n);
    fixed = sstr_cat(fixed, s->buf + payload, plen);
    aof_scan_result r;
    REQUIRE(aof_scan(fixed->buf, fixed->len, NULL, NULL, &r) == 0);
    CHECK(r.corrupt && !r.no_key && r.records == 1 && r.good == start);
    CHECK(r.why && strstr(r.why, "authenticate"));
    sstr_free(fixed);
    crypt_set_keys(NULL, NULL, 0);
    sstr_free(s);
}

TEST(encrypted_log_needs_its_key) {
    crypt_key k, other;
    key_n(&k, 10);
    key_n(&other, 11);
    size_t ends[NCMDS];
    sstr *s = build_log(&k, ends);
    aof_scan_result r;
    /* no key at all, or only another one: refused naming the key id */
    for (int round = 0; round < 2; round++) {
        crypt_set_keys(round ? &other : NULL, NULL, 0);
        seen sn = {0};
        REQUIRE(aof_scan(s->buf, s->len, check_cb, &sn, &r) == 0);
        CHECK(r.corrupt && r.no_key && !r.torn);
        CHECK_EQ(r.good, ends[0]);
        CHECK_EQ(sn.k, 1);
        CHECK(memcmp(r.key_id, k.id, CRYPT_KEY_ID) == 0);
    }
    /* as an old key (reads only) it is enough */
    crypt_set_keys(&other, &k, 1);
    seen sn = {0};
    REQUIRE(aof_scan(s->buf, s->len, check_cb, &sn, &r) == 0);
    CHECK(!r.corrupt && !r.torn && r.records == NCMDS);
    /* a key with the same id but other bytes does not authenticate */
    crypt_key forged = other;
    memcpy(forged.id, k.id, CRYPT_KEY_ID);
    crypt_set_keys(&forged, NULL, 0);
    REQUIRE(aof_scan(s->buf, s->len, NULL, NULL, &r) == 0);
    CHECK(r.corrupt && !r.no_key && r.good == ends[0]);
    crypt_set_keys(NULL, NULL, 0);
    sstr_free(s);
}

TEST(encrypted_record_too_short_is_corrupt) {
    char h[AOF_HDR_MAX];
    int n = snprintf(h, sizeof(h), "%%%d %016llx", 3, (unsigned long long)sg_crc64(0, "abc", 3));
    n += snprintf(h + n, sizeof(h) - (size_t)n, " %08x\r\n", (uint32_t)sg_crc64(0, h, (size_t)n));
    sstr *s = sstr_cat(sstr_new(h, (size_t)n), "abc", 3);
    aof_scan_result r;
    REQUIRE(aof_scan(s->buf, s->len, NULL, NULL, &r) == 0);
    CHECK(r.corrupt && r.good == 0);
    sstr_free(s);
}
