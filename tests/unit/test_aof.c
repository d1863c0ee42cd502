/*
 * Unit tests of the append-only log's record framing (src/persist/aof.c):
 * a log cut at every byte offset scans as its whole-record prefix plus a torn
 * tail, and any single flipped byte before the last record is corruption,
 * never a torn tail or a silently different record.
 */
#include "../../src/persist/persist.h"
#include "test.h"

static const char *cmds[] = {
    "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n",
    "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n",
    "*4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n$100\r\n"
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
    "890123456789\r\n",
    "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$0\r\n\r\n",
};
#define NCMDS ((int)(sizeof(cmds) / sizeof(cmds[0])))

static sstr *build(size_t *ends) {
    sstr *s = sstr_new("", 0);
    for (int i = 0; i < NCMDS; i++) {
        s = aof_frame_record(s, cmds[i], strlen(cmds[i]));
        ends[i] = s->len;
    }
    return s;
}

static int count_cb(void *ctx, const char *p, size_t n, size_t off) {
    (void)off;
    int *k = ctx;
    CHECK_EQ(n, strlen(cmds[*k]));
    CHECK(memcmp(p, cmds[*k], n) == 0);
    (*k)++;
    return 0;
}

TEST(whole_log_scans) {
    size_t ends[NCMDS];
    sstr *s = build(ends);
    aof_scan_result r;
    int k = 0;
    CHECK_EQ(aof_scan(s->buf, s->len, count_cb, &k, &r), 0);
    CHECK_EQ(k, NCMDS);
    CHECK_EQ(r.good, s->len);
    CHECK(!r.torn && !r.corrupt);
    sstr_free(s);
}

TEST(torn_at_every_offset) {
    size_t ends[NCMDS];
    sstr *s = build(ends);
    for (size_t cut = 0; cut <= s->len; cut++) {
        aof_scan_result r;
        int k = 0;
        CHECK_EQ(aof_scan(s->buf, cut, count_cb, &k, &r), 0);
        CHECK(!r.corrupt);
        size_t want = 0;
        int whole = 0;
        for (int i = 0; i < NCMDS; i++)
            if (ends[i] <= cut) {
                want = ends[i];
                whole = i + 1;
            }
        CHECK_EQ(r.good, want);
        CHECK_EQ(k, whole);
        CHECK_EQ(r.torn, cut != want);
    }
    sstr_free(s);
}

TEST(flipped_byte_is_corruption) {
    size_t ends[NCMDS];
    sstr *s = build(ends);
    size_t last_start = ends[NCMDS - 2];
    for (size_t i = 0; i < last_start; i++) {
        for (int bit = 0; bit < 8; bit++) {
            s->buf[i] ^= (char)(1 << bit);
            aof_scan_result r;
            aof_scan(s->buf, s->len, NULL, NULL, &r);
            if (!r.corrupt) fprintf(stderr, "  offset %zu bit %d not detected\n", i, bit);
            CHECK(r.corrupt);
            CHECK(!r.torn);
            CHECK(r.good <= i);
            s->buf[i] ^= (char)(1 << bit);
        }
    }
    sstr_free(s);
}
