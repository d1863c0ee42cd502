/* Unit tests for src/resp: the request parser and reply header formatting. */
#include "../../src/base/base.h"
#include "../../src/resp/resp.h"
#include "test.h"

#include <limits.h>
#include <string.h>

static const resp_limits big_limits = {
    .max_args = INT_MAX,
    .max_bulk = 512LL * 1024 * 1024,
    .args_err = "Protocol error: too many args",
    .bulk_err = NULL,
};

/* A growable query buffer, as a client connection keeps one. */
typedef struct qbuf {
    char *buf;
    size_t len, cap;
} qbuf;

static void qb_append(qbuf *q, const void *p, size_t n) {
    if (q->len + n + 1 > q->cap) {
        q->cap = (q->len + n + 1) * 2;
        q->buf = sg_realloc(q->buf, q->cap);
    }
    memcpy(q->buf + q->len, p, n);
    q->len += n;
    q->buf[q->len] = '\0';
}

static void qb_free(qbuf *q) {
    sg_free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* Argument i of the current command. */
static const char *arg(const resp_parser *p, const char *buf, int i) {
    return buf + p->cmd_start + p->argv[i].off;
}
#define CHECK_ARG(p, buf, i, lit) CHECK_MEM_EQ(arg((p), (buf), (i)), (p)->argv[i].len, lit)

/* Parses one whole buffer that must hold exactly one command. */
static int parse_all(resp_parser *p, const char *text, size_t n, qbuf *q) {
    memset(q, 0, sizeof(*q));
    qb_append(q, text, n);
    resp_parser_init(p);
    return resp_parse(p, q->buf, q->len, &big_limits);
}
#define PARSE(p, lit, q) parse_all((p), (lit), sizeof(lit) - 1, (q))

/* ---- multibulk ---- */

TEST(multibulk_complete) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 0, "SET");
    CHECK_ARG(&p, q.buf, 1, "key");
    CHECK_ARG(&p, q.buf, 2, "value");
    CHECK_EQ(p.pos, q.len);
    resp_parser_consume(&p);
    CHECK_EQ(p.argc, 0);
    CHECK_EQ(p.cmd_start, q.len);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_NEED_MORE);
    resp_parser_free(&p);
    qb_free(&q);

    /* Binary-safe bulks: CR, LF and NUL inside, and an empty one. */
    static const char bin[] = "*3\r\n$4\r\na\r\nb\r\n$0\r\n\r\n$3\r\n\0\0\0\r\n";
    CHECK_EQ(parse_all(&p, bin, sizeof(bin) - 1, &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 0, "a\r\nb");
    CHECK_EQ(p.argv[1].len, 0);
    CHECK_EQ(p.argv[2].len, 3);
    CHECK(memcmp(arg(&p, q.buf, 2), "\0\0\0", 3) == 0);
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(multibulk_many_args) {
    /* More arguments than the initial argv capacity. */
    qbuf q = {0};
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "*%d\r\n", 5000);
    qb_append(&q, tmp, (size_t)n);
    for (int i = 0; i < 5000; i++) {
        char a[16];
        int al = snprintf(a, sizeof(a), "%d", i);
        n = snprintf(tmp, sizeof(tmp), "$%d\r\n%s\r\n", al, a);
        qb_append(&q, tmp, (size_t)n);
    }
    resp_parser p;
    resp_parser_init(&p);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_COMMAND);
    CHECK_EQ(p.argc, 5000);
    bool ok = true;
    for (int i = 0; i < p.argc && i < 5000; i++) {
        char a[16];
        int al = snprintf(a, sizeof(a), "%d", i);
        ok &= p.argv[i].len == (size_t)al && memcmp(arg(&p, q.buf, i), a, (size_t)al) == 0;
    }
    CHECK(ok);
    resp_parser_consume(&p); /* drops the big argv */
    CHECK(p.argcap <= 1024);
    resp_parser_free(&p);
    qb_free(&q);
}

/* Feeds text one chunk at a time (chunk sizes from the pattern), growing the
 * buffer (realloc may move it) and compacting consumed bytes as a server
 * does; collects every command's arguments joined with '|'. */
static void feed_split(const char *text, size_t n, const size_t *chunks, size_t nchunks, sstr **out,
                       int *ncmds, int *err) {
    qbuf q = {0};
    resp_parser p;
    resp_parser_init(&p);
    size_t off = 0, ci = 0;
    *err = 0;
    while (off < n) {
        size_t c = chunks[ci++ % nchunks];
        if (c > n - off) c = n - off;
        qb_append(&q, text + off, c);
        off += c;
        for (;;) {
            int r = resp_parse(&p, q.buf, q.len, &big_limits);
            if (r == RESP_NEED_MORE) break;
            if (r != RESP_COMMAND) {
                *err = r;
                goto done;
            }
            for (int i = 0; i < p.argc; i++) {
                if (i) *out = sstr_cat(*out, "|", 1);
                *out = sstr_cat(*out, arg(&p, q.buf, i), p.argv[i].len);
            }
            *out = sstr_cat(*out, "\n", 1);
            (*ncmds)++;
            resp_parser_consume(&p);
        }
        /* Compact: move the unparsed tail to the front. */
        size_t start = p.cmd_start;
        if (start > 0) {
            memmove(q.buf, q.buf + start, q.len - start);
            q.len -= start;
            resp_parser_rebase(&p);
        }
    }
done:
    resp_parser_free(&p);
    qb_free(&q);
}

static const char pipeline[] =
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n"
    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    "*0\r\n"
    "*-1\r\n"
    "*1\r\n$4\r\nPING\r\n"
    "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
    "*4\r\n$4\r\nMSET\r\n$12\r\nlong_key_abc\r\n$4\r\na\r\nb\r\n$2\r\nzz\r\n";
static const char pipeline_expect[] = "SET|k|0123456789\n"
                                      "GET|k\n"
                                      "PING\n"
                                      "ECHO|\n"
                                      "MSET|long_key_abc|a\r\nb|zz\n";

TEST(multibulk_pipelined_whole) {
    sstr *out = sstr_new(NULL, 0);
    int ncmds = 0, err = 0;
    size_t all = sizeof(pipeline) - 1;
    feed_split(pipeline, sizeof(pipeline) - 1, &all, 1, &out, &ncmds, &err);
    CHECK_EQ(err, 0);
    CHECK_EQ(ncmds, 5);
    CHECK_MEM_EQ(out->buf, out->len, pipeline_expect);
    sstr_free(out);
}

TEST(multibulk_split_every_boundary) {
    size_t n = sizeof(pipeline) - 1;
    /* Two chunks split at every position. */
    for (size_t cut = 1; cut < n; cut++) {
        sstr *out = sstr_new(NULL, 0);
        int ncmds = 0, err = 0;
        size_t chunks[2] = {cut, n};
        feed_split(pipeline, n, chunks, 2, &out, &ncmds, &err);
        if (err || ncmds != 5 || out->len != sizeof(pipeline_expect) - 1 ||
            memcmp(out->buf, pipeline_expect, out->len) != 0) {
            fprintf(stderr, "  split at byte %zu\n", cut);
            CHECK_EQ(err, 0);
            CHECK_EQ(ncmds, 5);
            CHECK_MEM_EQ(out->buf, out->len, pipeline_expect);
            sstr_free(out);
            break;
        }
        sstr_free(out);
    }
    /* One byte per call, and a few irregular chunk patterns. */
    static const size_t pats[][4] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {13, 1, 4, 2}, {3, 3, 3, 3}};
    for (size_t i = 0; i < SG_ARRAY_LEN(pats); i++) {
        sstr *out = sstr_new(NULL, 0);
        int ncmds = 0, err = 0;
        feed_split(pipeline, n, pats[i], 4, &out, &ncmds, &err);
        CHECK_EQ(err, 0);
        CHECK_EQ(ncmds, 5);
        CHECK_MEM_EQ(out->buf, out->len, pipeline_expect);
        sstr_free(out);
    }
}

TEST(multibulk_want) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "*2\r\n$3\r\nGET\r\n$100\r\n0123456789", &q), RESP_NEED_MORE);
    CHECK_EQ(resp_parser_want(&p, q.len), 100 + 2 - 10);
    qb_append(&q, "0123456789", 10);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_NEED_MORE);
    CHECK_EQ(resp_parser_want(&p, q.len), 100 + 2 - 20);
    resp_parser_free(&p);
    qb_free(&q);
    /* Nothing known yet. */
    CHECK_EQ(PARSE(&p, "*2\r\n$3\r\nGE", &q), RESP_NEED_MORE);
    CHECK_EQ(resp_parser_want(&p, q.len), 3 + 2 - 2);
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "PIN", &q), RESP_NEED_MORE);
    CHECK_EQ(resp_parser_want(&p, q.len), 0);
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(multibulk_empty_skipped) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "*0\r\n", &q), RESP_NEED_MORE);
    CHECK_EQ(p.pos, q.len);
    CHECK_EQ(p.cmd_start, q.len); /* the caller may drop those bytes */
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "*-1\r\n", &q), RESP_NEED_MORE);
    CHECK_EQ(p.cmd_start, q.len);
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "*0\r\n*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 1);
    CHECK_ARG(&p, q.buf, 0, "PING");
    resp_parser_free(&p);
    qb_free(&q);
}

/* ---- inline ---- */

TEST(inline_basic) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "SET key value\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 0, "SET");
    CHECK_ARG(&p, q.buf, 1, "key");
    CHECK_ARG(&p, q.buf, 2, "value");
    CHECK_EQ(p.pos, q.len);
    resp_parser_free(&p);
    qb_free(&q);
    /* Bare LF, extra spaces and tabs. */
    CHECK_EQ(PARSE(&p, "  PING \t  arg  \n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 2);
    CHECK_ARG(&p, q.buf, 0, "PING");
    CHECK_ARG(&p, q.buf, 1, "arg");
    resp_parser_free(&p);
    qb_free(&q);
    /* No newline yet. */
    CHECK_EQ(PARSE(&p, "PING", &q), RESP_NEED_MORE);
    qb_append(&q, "\r", 1);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_NEED_MORE);
    qb_append(&q, "\n", 1);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_COMMAND);
    CHECK_EQ(p.argc, 1);
    CHECK_ARG(&p, q.buf, 0, "PING");
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(inline_quotes) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "SET \"hello world\" 'single quoted'\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 1, "hello world");
    CHECK_ARG(&p, q.buf, 2, "single quoted");
    resp_parser_free(&p);
    qb_free(&q);

    /* Double-quote escapes: \x41, \n, \t, \", \\ ; \xZZ is not hex. */
    CHECK_EQ(PARSE(&p, "ECHO \"\\x41\\x62c\\n\\t\\\"\\\\\" \"\\xZZ\" \"\\x4\"\r\n", &q),
             RESP_COMMAND);
    CHECK_EQ(p.argc, 4);
    CHECK_ARG(&p, q.buf, 1, "Abc\n\t\"\\");
    CHECK_ARG(&p, q.buf, 2, "xZZ");
    CHECK_ARG(&p, q.buf, 3, "x4");
    resp_parser_free(&p);
    qb_free(&q);

    /* \x00 yields a NUL byte inside the argument. */
    CHECK_EQ(PARSE(&p, "ECHO \"a\\x00b\"\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 2);
    CHECK_EQ(p.argv[1].len, 3);
    CHECK(memcmp(arg(&p, q.buf, 1), "a\0b", 3) == 0);
    resp_parser_free(&p);
    qb_free(&q);

    /* Single quotes: only \' is an escape. */
    CHECK_EQ(PARSE(&p, "ECHO 'it\\'s' 'a\\nb'\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 1, "it's");
    CHECK_ARG(&p, q.buf, 2, "a\\nb");
    resp_parser_free(&p);
    qb_free(&q);

    /* Empty quoted arguments are arguments. */
    CHECK_EQ(PARSE(&p, "SET k \"\"\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_EQ(p.argv[2].len, 0);
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "SET k ''\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_EQ(p.argv[2].len, 0);
    resp_parser_free(&p);
    qb_free(&q);

    /* A quote may start in the middle of a word (sdssplitargs). */
    CHECK_EQ(PARSE(&p, "ECHO ab\"c d\"\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 2);
    CHECK_ARG(&p, q.buf, 1, "abc d");
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(inline_unbalanced_quotes) {
    static const char *bad[] = {
        "SET \"unterminated\r\n",    "SET 'unterminated\r\n",
        "SET \"closed\"nospace\r\n", /* a closing quote must be followed by a space */
        "SET 'closed'x\r\n",         "ECHO \"ends with backslash\\\r\n",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
        resp_parser p;
        qbuf q;
        int r = parse_all(&p, bad[i], strlen(bad[i]), &q);
        if (r != RESP_ERROR) fprintf(stderr, "  input %zu: %s", i, bad[i]);
        CHECK_EQ(r, RESP_ERROR);
        if (r == RESP_ERROR) CHECK_STR_EQ(p.err, "Protocol error: unbalanced quotes in request");
        resp_parser_free(&p);
        qb_free(&q);
    }
}

TEST(inline_empty_lines_skipped) {
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "\r\n\r\n\n   \r\n\t\nPING\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 1);
    CHECK_ARG(&p, q.buf, 0, "PING");
    CHECK_EQ(p.pos, q.len);
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "\r\n\r\n", &q), RESP_NEED_MORE);
    CHECK_EQ(p.pos, q.len);
    CHECK_EQ(p.argc, 0);
    qb_append(&q, "ECHO x\n", 7);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_COMMAND);
    CHECK_EQ(p.argc, 2);
    CHECK_ARG(&p, q.buf, 1, "x");
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(inline_and_multibulk_mixed) {
    static const char text[] =
        "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO \"x y\"\n\r\n*1\r\n$4\r\nQUIT\r\n";
    static const char expect[] = "PING\nECHO|hi\nECHO|x y\nQUIT\n";
    size_t n = sizeof(text) - 1;
    for (size_t cut = 1; cut <= n; cut++) {
        sstr *out = sstr_new(NULL, 0);
        int ncmds = 0, err = 0;
        size_t chunks[2] = {cut, n};
        feed_split(text, n, chunks, 2, &out, &ncmds, &err);
        if (err || ncmds != 4 || out->len != sizeof(expect) - 1 ||
            memcmp(out->buf, expect, out->len) != 0) {
            fprintf(stderr, "  split at byte %zu\n", cut);
            CHECK_EQ(err, 0);
            CHECK_EQ(ncmds, 4);
            CHECK_MEM_EQ(out->buf, out->len, expect);
            sstr_free(out);
            break;
        }
        sstr_free(out);
    }
}

TEST(inline_too_big) {
    resp_parser p;
    resp_parser_init(&p);
    qbuf q = {0};
    char chunk[4096];
    memset(chunk, 'a', sizeof(chunk));
    int r = RESP_NEED_MORE;
    size_t fed = 0;
    while (r == RESP_NEED_MORE && fed < 4 * RESP_INLINE_MAX) {
        qb_append(&q, chunk, sizeof(chunk));
        fed += sizeof(chunk);
        r = resp_parse(&p, q.buf, q.len, &big_limits);
    }
    CHECK_EQ(r, RESP_ERROR);
    if (r == RESP_ERROR) CHECK_STR_EQ(p.err, "Protocol error: too big inline request");
    CHECK(fed > RESP_INLINE_MAX);
    CHECK(fed <= RESP_INLINE_MAX + sizeof(chunk));
    resp_parser_free(&p);
    qb_free(&q);
    /* Exactly at the limit, not yet an error. */
    resp_parser_init(&p);
    char *big = sg_malloc(RESP_INLINE_MAX);
    memset(big, 'b', RESP_INLINE_MAX);
    qb_append(&q, big, RESP_INLINE_MAX);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_NEED_MORE);
    qb_append(&q, "\r\n", 2); /* and a long line that does end is a command */
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_COMMAND);
    CHECK_EQ(p.argc, 1);
    CHECK_EQ(p.argv[0].len, RESP_INLINE_MAX);
    sg_free(big);
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(inline_http) {
    /* resp.h no longer has RESP_HTTP: an HTTP request line parses as an
     * inline command and the dispatcher recognizes "POST" / "Host:" (in any
     * case, inline or multibulk, as Redis does). */
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "POST / HTTP/1.1\r\n", &q), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q.buf, 0, "POST");
    CHECK_ARG(&p, q.buf, 1, "/");
    CHECK_ARG(&p, q.buf, 2, "HTTP/1.1");
    resp_parser_free(&p);
    qb_free(&q);
    CHECK_EQ(PARSE(&p, "Host: localhost:6379\r\n", &q), RESP_COMMAND);
    CHECK_ARG(&p, q.buf, 0, "Host:");
    resp_parser_free(&p);
    qb_free(&q);
}

/* ---- errors ---- */

static void expect_error(const char *text, const resp_limits *lim, const char *msg) {
    resp_parser p;
    qbuf q = {0};
    qb_append(&q, text, strlen(text));
    resp_parser_init(&p);
    int r = resp_parse(&p, q.buf, q.len, lim);
    if (r != RESP_ERROR || !p.err || strcmp(p.err, msg) != 0)
        fprintf(stderr, "  input: \"%s\" -> %d \"%s\"\n", text, r, p.err ? p.err : "(null)");
    CHECK_EQ(r, RESP_ERROR);
    CHECK(p.err != NULL);
    if (p.err) CHECK_STR_EQ(p.err, msg);
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(errors_redis_texts) {
    expect_error("*3000000000\r\n", &big_limits, "Protocol error: invalid multibulk length");
    expect_error("*abc\r\n", &big_limits, "Protocol error: invalid multibulk length");
    expect_error("*\r\n", &big_limits, "Protocol error: invalid multibulk length");
    expect_error("*1x\r\n", &big_limits, "Protocol error: invalid multibulk length");
    expect_error("*99999999999999999999999\r\n", &big_limits,
                 "Protocol error: invalid multibulk length");
    expect_error("*1\r\n$blabla\r\n", &big_limits, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$-1\r\n", &big_limits, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$\r\n", &big_limits, "Protocol error: invalid bulk length");
    expect_error("*2\r\n$3\r\nGET\r\nx\r\n", &big_limits, "Protocol error: expected '$', got 'x'");
    expect_error("*1\r\n:1\r\n", &big_limits, "Protocol error: expected '$', got ':'");
    /* Non-printable bytes are shown as a space. */
    expect_error("*1\r\n\x01\r\n", &big_limits, "Protocol error: expected '$', got ' '");
    /* A bulk larger than max_bulk with no custom text: Redis's generic one. */
    resp_limits lim = big_limits;
    lim.max_bulk = 10;
    expect_error("*1\r\n$11\r\n", &lim, "Protocol error: invalid bulk length");
}

TEST(error_stops_pipeline) {
    /* The error is reported before the valid command behind it. */
    resp_parser p;
    qbuf q;
    CHECK_EQ(PARSE(&p, "*x\r\n*1\r\n$4\r\nPING\r\n", &q), RESP_ERROR);
    CHECK_STR_EQ(p.err, "Protocol error: invalid multibulk length");
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(errors_too_big_count_lines) {
    /* A count line that never ends. */
    qbuf q = {0};
    qb_append(&q, "*", 1);
    char *digits = sg_malloc(RESP_INLINE_MAX + 10);
    memset(digits, '1', RESP_INLINE_MAX + 10);
    qb_append(&q, digits, RESP_INLINE_MAX + 10);
    resp_parser p;
    resp_parser_init(&p);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_ERROR);
    CHECK_STR_EQ(p.err, "Protocol error: too big mbulk count string");
    resp_parser_free(&p);
    qb_free(&q);
    qb_append(&q, "*1\r\n$", 5);
    qb_append(&q, digits, RESP_INLINE_MAX + 10);
    resp_parser_init(&p);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_ERROR);
    CHECK_STR_EQ(p.err, "Protocol error: too big bulk count string");
    resp_parser_free(&p);
    qb_free(&q);
    sg_free(digits);
}

TEST(limits_custom_texts) {
    resp_limits lim = {
        .max_args = 10,
        .max_bulk = 16384,
        .args_err = "Protocol error: unauthenticated multibulk length",
        .bulk_err = "Protocol error: unauthenticated bulk length",
    };
    expect_error("*11\r\n", &lim, "Protocol error: unauthenticated multibulk length");
    expect_error("*1\r\n$16385\r\n", &lim, "Protocol error: unauthenticated bulk length");
    /* A malformed length is still the generic error. */
    expect_error("*1\r\n$abc\r\n", &lim, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$-5\r\n", &lim, "Protocol error: invalid bulk length");
    /* At the limits: accepted. */
    resp_parser p;
    resp_parser_init(&p);
    qbuf q = {0};
    char hdr[32];
    int n = snprintf(hdr, sizeof(hdr), "*10\r\n$16384\r\n");
    qb_append(&q, hdr, (size_t)n);
    char *v = sg_malloc(16384);
    memset(v, 'v', 16384);
    qb_append(&q, v, 16384);
    qb_append(&q, "\r\n", 2);
    for (int i = 0; i < 9; i++) qb_append(&q, "$1\r\na\r\n", 7);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &lim), RESP_COMMAND);
    CHECK_EQ(p.argc, 10);
    CHECK_EQ(p.argv[0].len, 16384);
    sg_free(v);
    resp_parser_free(&p);
    qb_free(&q);
}

TEST(limits_checked_before_data) {
    /* A huge declared bulk is refused from its header alone: nothing else
     * needs to arrive (so nothing is buffered for it). */
    resp_limits lim = big_limits;
    lim.max_bulk = 1000;
    lim.bulk_err = "Protocol error: bulk too big";
    expect_error("*1\r\n$1000000000\r\n", &lim, "Protocol error: bulk too big");
    lim.max_args = 1000;
    lim.args_err = "Protocol error: too many";
    expect_error("*1001\r\n", &lim, "Protocol error: too many");
}

/* ---- rebase ---- */

TEST(rebase_keeps_spans) {
    /* Two commands; the second is half-received. Consume the first, move
     * the tail to the front of a fresh buffer, rebase, finish the second. */
    static const char first[] = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n";
    static const char second_a[] = "*3\r\n$3\r\nSET\r\n$5\r\nmykey\r\n$5\r\nva";
    static const char second_b[] = "lue\r\n";
    qbuf q = {0};
    qb_append(&q, first, sizeof(first) - 1);
    qb_append(&q, second_a, sizeof(second_a) - 1);
    resp_parser p;
    resp_parser_init(&p);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_COMMAND);
    CHECK_ARG(&p, q.buf, 1, "foo");
    resp_parser_consume(&p);
    CHECK_EQ(resp_parse(&p, q.buf, q.len, &big_limits), RESP_NEED_MORE);
    CHECK_EQ(p.argc, 2); /* SET and mykey are already parsed */
    CHECK_EQ(p.cmd_start, sizeof(first) - 1);

    qbuf q2 = {0};
    qb_append(&q2, q.buf + p.cmd_start, q.len - p.cmd_start);
    memset(q.buf, '#', q.len); /* the old bytes are gone */
    qb_free(&q);
    resp_parser_rebase(&p);
    CHECK_EQ(p.cmd_start, 0);
    CHECK_ARG(&p, q2.buf, 0, "SET");
    CHECK_ARG(&p, q2.buf, 1, "mykey");
    qb_append(&q2, second_b, sizeof(second_b) - 1);
    CHECK_EQ(resp_parse(&p, q2.buf, q2.len, &big_limits), RESP_COMMAND);
    CHECK_EQ(p.argc, 3);
    CHECK_ARG(&p, q2.buf, 0, "SET");
    CHECK_ARG(&p, q2.buf, 1, "mykey");
    CHECK_ARG(&p, q2.buf, 2, "value");
    CHECK_EQ(p.pos, q2.len);
    resp_parser_free(&p);
    qb_free(&q2);
}

/* ---- reply headers ---- */

TEST(fmt_header) {
    char b[32];
    size_t n = resp_fmt_header(b, '*', 3);
    CHECK_MEM_EQ(b, n, "*3\r\n");
    n = resp_fmt_header(b, '$', 0);
    CHECK_MEM_EQ(b, n, "$0\r\n");
    n = resp_fmt_header(b, '$', -1);
    CHECK_MEM_EQ(b, n, "$-1\r\n");
    n = resp_fmt_header(b, '%', 12);
    CHECK_MEM_EQ(b, n, "%12\r\n");
    n = resp_fmt_int(b, LLONG_MIN);
    CHECK_MEM_EQ(b, n, ":-9223372036854775808\r\n");
    n = resp_fmt_int(b, LLONG_MAX);
    CHECK_MEM_EQ(b, n, ":9223372036854775807\r\n");
    n = resp_fmt_int(b, 0);
    CHECK_MEM_EQ(b, n, ":0\r\n");
}
