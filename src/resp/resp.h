/*
 * resp: the Redis protocol, without I/O and without any knowledge of
 * commands.
 *
 * Request side: an incremental parser that cuts complete commands out of a
 * client's query buffer. It understands multibulk requests (RESP arrays of
 * bulk strings, what every client library sends) and inline requests (a
 * text line, what telnet and redis-cli's interactive mode send). Arguments
 * are returned as spans (offset, length) relative to the start of the
 * current command in the buffer: nothing is copied, and the caller may move
 * the unconsumed tail of its buffer (compaction) without invalidating them.
 *
 * Hard limits come in with every call (resp_limits), so a client that has
 * not authenticated gets much lower ones. Lengths and counts are checked
 * before anything is reserved for them; the first error sticks and carries
 * Redis's exact text. After an error the connection must be closed.
 *
 * Reply side: small formatting primitives for RESP2 and RESP3 headers; the
 * server's reply buffers call them. resp knows the protocol versions' shapes
 * (a RESP3 map is %N, in RESP2 it is an array of 2N) but not where bytes go.
 */
#ifndef SURGE_RESP_H
#define SURGE_RESP_H

#include <stddef.h>
#include <stdint.h>

#define RESP_INLINE_MAX (64 * 1024) /* longest inline line / count line */

typedef struct resp_span {
    size_t off; /* from the start of the command in the buffer */
    size_t len;
} resp_span;

typedef struct resp_limits {
    long long max_args;   /* largest multibulk count accepted */
    long long max_bulk;   /* largest bulk length accepted */
    const char *args_err; /* error text when max_args is exceeded */
    const char *bulk_err; /* error text when max_bulk is exceeded */
} resp_limits;

enum resp_status {
    RESP_NEED_MORE = 0, /* no complete command yet: read more bytes */
    RESP_COMMAND = 1,   /* argc/argv hold a complete command */
    RESP_ERROR = -1,    /* protocol error: reply p->err and close */
};

enum resp_reqtype { RESP_REQ_NONE, RESP_REQ_MULTIBULK, RESP_REQ_INLINE };

typedef struct resp_parser {
    int reqtype;
    long long mb_left;  /* bulks still expected in the current multibulk */
    long long bulk_len; /* -1 until the current bulk's $ line is read */
    size_t cmd_start;   /* buffer offset where the current command starts */
    size_t pos;         /* next byte to parse */
    int argc;
    int argcap;
    resp_span *argv;
    const char *err; /* static text, or points into errbuf */
    char errbuf[64];
} resp_parser;

void resp_parser_init(resp_parser *p);
void resp_parser_free(resp_parser *p);

/* Parses from p->pos in buf[0..len). Returns RESP_COMMAND when a whole
 * command is available (argc >= 1), RESP_NEED_MORE when the buffer ends
 * first, or RESP_ERROR. Inline arguments are unescaped in place,
 * hence buf is writable. Call resp_parser_consume() after handling a command
 * and before parsing again. */
int resp_parse(resp_parser *p, char *buf, size_t len, const resp_limits *lim);
void resp_parser_consume(resp_parser *p);
/* The caller moved buf[cmd_start..] to buf[0..]: rebase offsets. */
void resp_parser_rebase(resp_parser *p);
/* Bytes the parser knows it needs past p->pos to make progress with a bulk
 * (0 if unknown). Lets the reader size one big read for a big value. */
size_t resp_parser_want(const resp_parser *p, size_t len);

/* ---- reply scanning (client side: surge-bench, later the proxy) ----
 * Finds the end of the first complete reply in buf[0..len) without building
 * it: nested aggregates (RESP2 and RESP3: * % ~ > | and attributes) are
 * walked with an explicit stack of at most RESP_MAX_DEPTH levels. Returns
 * the reply's length, 0 if incomplete, or -1 if malformed. *is_error is set
 * for a top-level '-' or '!' reply. */
#define RESP_MAX_DEPTH 64
long long resp_reply_scan(const char *buf, size_t len, int *is_error);

/* ---- reply formatting ---- */
/* Writes "<type><n>\r\n" into dst (at least 32 bytes); returns the length. */
size_t resp_fmt_header(char *dst, char type, long long n);
/* Writes ":<n>\r\n". */
static inline size_t resp_fmt_int(char *dst, long long n) {
    return resp_fmt_header(dst, ':', n);
}

#endif
