/*
 * fuzz_resp: the RESP request parser (src/resp) fed the way the server feeds
 * it, in pieces.
 *
 * Input layout: the first 4 bytes are a chunking header, the rest is the byte
 * stream a client sends. Header byte i (used cyclically) is the size of the
 * next read; 0 means "everything that is left". So "\0\0\0\0" + stream parses
 * the whole stream at once and "\1\1\1\1" + stream delivers it byte by byte.
 * An input shorter than the header is parsed whole. Every input runs twice:
 * with the limits of an authenticated client (INT32_MAX arguments, 512 MB
 * bulks) and with those of a client that has not authenticated (10
 * arguments, 16 KB bulks), as process_input() in src/server/networking.c sets
 * them.
 *
 * Each "read" mimics read_handler()/process_input(): the query buffer grows
 * to exactly the bytes held (a fresh allocation every time, so ASan catches
 * any read past len and any pointer kept into the old buffer), resp_parse
 * runs until it needs more, and the unparsed tail is moved to the front
 * followed by resp_parser_rebase().
 *
 * Invariants checked (abort() on violation, which libFuzzer reports):
 *   - RESP_COMMAND: argc >= 1; cmd_start <= pos <= len; every argument span
 *     lies inside the command just parsed, and so does the byte after it
 *     (build_argv() NUL-terminates arguments in place there);
 *   - a multibulk command respects the limits it was parsed under;
 *   - resp_parser_want() never asks for more than a capped bulk plus CRLF;
 *   - RESP_ERROR: an error text that is one line (it is sent as "-ERR ...").
 * The parser is freed at the end: LeakSanitizer checks nothing else remains.
 */
#include "../../src/resp/resp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR           4
#define FUZZ_MAX_BULK (512LL * 1024 * 1024)
#define UNAUTH_ARGS   10    /* UNAUTH_MAX_ARGS in src/server/server.h */
#define UNAUTH_BULK   16384 /* UNAUTH_MAX_BULK */

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_resp: invariant failed: %s (%s:%d)\n", #cond, __FILE__,          \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_command(const resp_parser *p, char *buf, size_t len, const resp_limits *lim) {
    FUZZ_CHECK(p->argc >= 1);
    FUZZ_CHECK(p->argv != NULL);
    FUZZ_CHECK(p->argc <= p->argcap);
    FUZZ_CHECK(p->cmd_start <= p->pos && p->pos <= len);
    if (p->reqtype == RESP_REQ_MULTIBULK) {
        FUZZ_CHECK(p->argc <= lim->max_args);
    }
    for (int i = 0; i < p->argc; i++) {
        size_t off = p->argv[i].off, alen = p->argv[i].len;
        FUZZ_CHECK(off <= p->pos - p->cmd_start);
        FUZZ_CHECK(alen <= p->pos - p->cmd_start - off);
        /* The server writes a NUL just after each argument. */
        FUZZ_CHECK(p->cmd_start + off + alen < p->pos);
        if (p->reqtype == RESP_REQ_MULTIBULK) {
            FUZZ_CHECK((long long)alen <= lim->max_bulk);
        }
    }
    /* As build_argv() does, after all spans were read. */
    for (int i = 0; i < p->argc; i++) buf[p->cmd_start + p->argv[i].off + p->argv[i].len] = '\0';
}

static void run(const uint8_t *hdr, size_t hlen, const uint8_t *data, size_t size,
                const resp_limits *lim) {
    resp_parser p;
    resp_parser_init(&p);
    char *buf = NULL;
    size_t len = 0; /* bytes held in buf */
    size_t fed = 0; /* bytes of data delivered so far */
    size_t turn = 0;
    int done = 0;
    while (fed < size && !done) {
        size_t chunk = size - fed;
        if (hlen > 0) {
            size_t h = hdr[turn++ % hlen];
            if (h != 0 && h < chunk) chunk = h;
        }
        /* A new, exactly sized buffer per read: any stale pointer or any read
         * past len is caught. */
        char *nbuf = malloc(len + chunk);
        FUZZ_CHECK(nbuf != NULL);
        if (len) memcpy(nbuf, buf, len);
        memcpy(nbuf + len, data + fed, chunk);
        free(buf);
        buf = nbuf;
        len += chunk;
        fed += chunk;

        for (;;) {
            int r = resp_parse(&p, buf, len, lim);
            FUZZ_CHECK(p.cmd_start <= p.pos && p.pos <= len);
            if (r == RESP_NEED_MORE) {
                size_t want = resp_parser_want(&p, len);
                FUZZ_CHECK(want <= (size_t)lim->max_bulk + 2);
                break;
            }
            if (r == RESP_ERROR) {
                FUZZ_CHECK(p.err != NULL);
                FUZZ_CHECK(strpbrk(p.err, "\r\n") == NULL);
                done = 1; /* the server replies and closes */
                break;
            }
            FUZZ_CHECK(r == RESP_COMMAND);
            check_command(&p, buf, len, lim);
            resp_parser_consume(&p);
        }
        /* Compact: keep only the unparsed tail, as process_input() does. */
        size_t start = p.cmd_start;
        if (!done && start > 0) {
            FUZZ_CHECK(start <= len);
            if (start < len) memmove(buf, buf + start, len - start);
            len -= start;
            resp_parser_rebase(&p);
            FUZZ_CHECK(p.cmd_start == 0 && p.pos <= len);
        }
    }
    free(buf);
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *hdr = data;
    size_t hlen = HDR;
    if (size < HDR) {
        hlen = 0;
    } else {
        data += HDR;
        size -= HDR;
    }
    static const resp_limits authed = {
        .max_args = INT32_MAX,
        .max_bulk = FUZZ_MAX_BULK,
        .args_err = "Protocol error: unauthenticated multibulk length",
        .bulk_err = NULL,
    };
    static const resp_limits unauthed = {
        .max_args = UNAUTH_ARGS,
        .max_bulk = UNAUTH_BULK,
        .args_err = "Protocol error: unauthenticated multibulk length",
        .bulk_err = "Protocol error: unauthenticated bulk length",
    };
    run(hdr, hlen, data, size, &authed);
    run(hdr, hlen, data, size, &unauthed);
    return 0;
}
