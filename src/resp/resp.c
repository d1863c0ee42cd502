/*
 * RESP request parser and reply header formatting. See resp.h.
 *
 * State machine of the parser (one per client):
 *
 *   NONE --'*'--> MULTIBULK: read "*<count>\r\n", then per argument
 *                 "$<len>\r\n" (bulk_len = -1 -> len) and len+2 bytes.
 *   NONE --other--> INLINE: wait for '\n', split the line like a shell.
 *
 * Every size is checked before use: counts against lim->max_args and
 * INT_MAX, lengths against lim->max_bulk, header lines against
 * RESP_INLINE_MAX (a line that never ends is an error, not a buffer).
 */
#include "resp.h"
#include "../base/base.h"

#include <ctype.h>
#include <stdlib.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

void resp_parser_init(resp_parser *p) {
    memset(p, 0, sizeof(*p));
    p->bulk_len = -1;
}

void resp_parser_free(resp_parser *p) {
    sg_free(p->argv);
    p->argv = NULL;
    p->argcap = 0;
}

static void push_arg(resp_parser *p, size_t off, size_t len) {
    if (p->argc == p->argcap) {
        int ncap = p->argcap ? p->argcap * 2 : 8;
        p->argv = sg_realloc(p->argv, sizeof(resp_span) * (size_t)ncap);
        p->argcap = ncap;
    }
    p->argv[p->argc].off = off - p->cmd_start;
    p->argv[p->argc].len = len;
    p->argc++;
}

void resp_parser_consume(resp_parser *p) {
    p->reqtype = RESP_REQ_NONE;
    p->argc = 0;
    p->mb_left = 0;
    p->bulk_len = -1;
    p->cmd_start = p->pos;
    /* Don't let one huge command pin a huge argv forever. */
    if (p->argcap > 1024) {
        sg_free(p->argv);
        p->argv = NULL;
        p->argcap = 0;
    }
}

void resp_parser_rebase(resp_parser *p) {
    p->pos -= p->cmd_start;
    p->cmd_start = 0;
}

size_t resp_parser_want(const resp_parser *p, size_t len) {
    if (p->reqtype == RESP_REQ_MULTIBULK && p->bulk_len >= 0) {
        size_t need = (size_t)p->bulk_len + 2;
        size_t have = len - p->pos;
        return need > have ? need - have : 0;
    }
    return 0;
}

static int fail(resp_parser *p, const char *msg) {
    p->err = msg;
    return RESP_ERROR;
}

/* Splits an inline line in place with redis-cli/sds quoting rules:
 * "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes'
 * with \' only, and a closing quote must be followed by a space or the end.
 * Returns 0, or -1 on unbalanced quotes. */
static int split_inline(resp_parser *p, char *buf, size_t start, size_t end) {
    /* The line ends at its first NUL, as Redis's C-string splitter sees it. */
    const char *nul = memchr(buf + start, '\0', end - start);
    if (nul) end = (size_t)(nul - buf);
    size_t i = start;
    while (1) {
        while (i < end && isspace((unsigned char)buf[i])) i++;
        if (i >= end) return 0;
        size_t out = i, arg_start = i;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (i >= end) return -1;
                if (buf[i] == '\\' && i + 3 < end && buf[i + 1] == 'x' &&
                    isxdigit((unsigned char)buf[i + 2]) && isxdigit((unsigned char)buf[i + 3])) {
                    char h[3] = {buf[i + 2], buf[i + 3], 0};
                    buf[out++] = (char)strtol(h, NULL, 16);
                    i += 4;
                    continue;
                } else if (buf[i] == '\\' && i + 1 < end) {
                    char c;
                    i++;
                    switch (buf[i]) {
                    case 'n':
                        c = '\n';
                        break;
                    case 'r':
                        c = '\r';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    case 'b':
                        c = '\b';
                        break;
                    case 'a':
                        c = '\a';
                        break;
                    default:
                        c = buf[i];
                        break;
                    }
                    buf[out++] = c;
                } else if (buf[i] == '"') {
                    if (i + 1 < end && !isspace((unsigned char)buf[i + 1])) return -1;
                    done = 1;
                } else {
                    buf[out++] = buf[i];
                }
            } else if (insq) {
                if (i >= end) return -1;
                if (buf[i] == '\\' && i + 1 < end && buf[i + 1] == '\'') {
                    i++;
                    buf[out++] = '\'';
                } else if (buf[i] == '\'') {
                    if (i + 1 < end && !isspace((unsigned char)buf[i + 1])) return -1;
                    done = 1;
                } else {
                    buf[out++] = buf[i];
                }
            } else {
                if (i >= end) {
                    done = 1;
                    break;
                }
                switch (buf[i]) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    buf[out++] = buf[i];
                    break;
                }
                if (done) break;
            }
            i++;
        }
        push_arg(p, arg_start, out - arg_start);
    }
}

static int parse_inline(resp_parser *p, char *buf, size_t len) {
    char *nl = memchr(buf + p->pos, '\n', len - p->pos);
    if (!nl) {
        if (len - p->pos > RESP_INLINE_MAX)
            return fail(p, "Protocol error: too big inline request");
        return RESP_NEED_MORE;
    }
    size_t end = (size_t)(nl - buf);
    size_t line_end = end;
    if (line_end > p->pos && buf[line_end - 1] == '\r') line_end--;
    size_t start = p->pos;
    p->pos = end + 1;
    if (split_inline(p, buf, start, line_end) < 0)
        return fail(p, "Protocol error: unbalanced quotes in request");
    return p->argc > 0 ? RESP_COMMAND : RESP_NEED_MORE;
}

/* Reads the decimal after buf[p->pos] (a '*' or '$') up to "\r\n".
 * Returns 1 with *out set, 0 if the line is incomplete, -1 if too long. */
static int read_count_line(resp_parser *p, const char *buf, size_t len, long long *out, int *ok) {
    const char *cr = memchr(buf + p->pos, '\r', len - p->pos);
    if (!cr) return len - p->pos > RESP_INLINE_MAX ? -1 : 0;
    size_t crpos = (size_t)(cr - buf);
    if (crpos + 1 >= len) return 0; /* need the '\n' too */
    *ok = sg_str2ll(buf + p->pos + 1, crpos - p->pos - 1, out);
    p->pos = crpos + 2;
    return 1;
}

static int parse_multibulk(resp_parser *p, char *buf, size_t len, const resp_limits *lim) {
    if (p->mb_left == 0 && p->argc == 0) {
        long long n = 0;
        int ok = 0;
        int r = read_count_line(p, buf, len, &n, &ok);
        if (r < 0) return fail(p, "Protocol error: too big mbulk count string");
        if (r == 0) return RESP_NEED_MORE;
        if (!ok || n > INT_MAX) return fail(p, "Protocol error: invalid multibulk length");
        if (n > lim->max_args) return fail(p, lim->args_err);
        if (n <= 0) { /* "*0" and "*-1" are skipped, as Redis does */
            p->reqtype = RESP_REQ_NONE;
            p->cmd_start = p->pos;
            return RESP_NEED_MORE;
        }
        p->mb_left = n;
    }
    while (p->mb_left > 0) {
        if (p->bulk_len < 0) {
            if (p->pos >= len) return RESP_NEED_MORE;
            if (buf[p->pos] != '$') {
                unsigned char c = (unsigned char)buf[p->pos];
                snprintf(p->errbuf, sizeof(p->errbuf), "Protocol error: expected '$', got '%c'",
                         isprint(c) ? c : ' ');
                p->err = p->errbuf;
                return RESP_ERROR;
            }
            long long n = 0;
            int ok = 0;
            int r = read_count_line(p, buf, len, &n, &ok);
            if (r < 0) return fail(p, "Protocol error: too big bulk count string");
            if (r == 0) return RESP_NEED_MORE;
            if (!ok || n < 0 || n > lim->max_bulk) {
                if (ok && n >= 0 && lim->bulk_err) return fail(p, lim->bulk_err);
                return fail(p, "Protocol error: invalid bulk length");
            }
            p->bulk_len = n;
        }
        if (len - p->pos < (size_t)p->bulk_len + 2) return RESP_NEED_MORE;
        push_arg(p, p->pos, (size_t)p->bulk_len);
        p->pos += (size_t)p->bulk_len + 2;
        p->bulk_len = -1;
        p->mb_left--;
    }
    return RESP_COMMAND;
}

int resp_parse(resp_parser *p, char *buf, size_t len, const resp_limits *lim) {
    while (p->pos < len) {
        if (p->reqtype == RESP_REQ_NONE) {
            p->cmd_start = p->pos;
            p->argc = 0;
            p->reqtype = buf[p->pos] == '*' ? RESP_REQ_MULTIBULK : RESP_REQ_INLINE;
        }
        int r = p->reqtype == RESP_REQ_MULTIBULK ? parse_multibulk(p, buf, len, lim)
                                                 : parse_inline(p, buf, len);
        if (r != RESP_NEED_MORE) return r;
        /* An empty inline line or "*0": keep going with the next request. */
        if (p->reqtype == RESP_REQ_INLINE && p->argc == 0 && p->pos > p->cmd_start &&
            buf[p->pos - 1] == '\n') {
            p->reqtype = RESP_REQ_NONE;
            continue;
        }
        if (p->reqtype == RESP_REQ_NONE) continue;
        return RESP_NEED_MORE;
    }
    return RESP_NEED_MORE;
}

size_t resp_fmt_header(char *dst, char type, long long n) {
    dst[0] = type;
    size_t l = (size_t)sg_ll2str(dst + 1, 24, n);
    dst[1 + l] = '\r';
    dst[2 + l] = '\n';
    return l + 3;
}

/* Reads a line starting at buf[pos] (after the type byte); returns the
 * position after "\r\n", or 0 if incomplete, and the number in *n. */
static size_t scan_line(const char *buf, size_t len, size_t pos, long long *n, bool *ok) {
    const char *cr = memchr(buf + pos, '\r', len - pos);
    if (!cr || (size_t)(cr - buf) + 1 >= len) return 0;
    size_t end = (size_t)(cr - buf);
    *ok = sg_str2ll(buf + pos, end - pos, n) != 0;
    return end + 2;
}

long long resp_reply_scan(const char *buf, size_t len, int *is_error) {
    long long pending[RESP_MAX_DEPTH]; /* items still expected per level */
    int depth = 0;
    size_t pos = 0;
    if (is_error) *is_error = len && (buf[0] == '-' || buf[0] == '!');
    do {
        if (pos >= len) return 0;
        char t = buf[pos];
        long long n = 0;
        bool ok = true;
        size_t next;
        switch (t) {
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(': {
            const char *cr = memchr(buf + pos, '\r', len - pos);
            if (!cr || (size_t)(cr - buf) + 1 >= len) return 0;
            pos = (size_t)(cr - buf) + 2;
            break;
        }
        case '$':
        case '!':
        case '=':
            next = scan_line(buf, len, pos + 1, &n, &ok);
            if (!next) return 0;
            if (!ok || n < -1) return -1;
            pos = next;
            if (n >= 0) {
                if (len - pos < (size_t)n + 2) return 0;
                pos += (size_t)n + 2;
            }
            break;
        case '*':
        case '%':
        case '~':
        case '>':
        case '|':
            next = scan_line(buf, len, pos + 1, &n, &ok);
            if (!next) return 0;
            if (!ok || n < -1) return -1;
            pos = next;
            if (n > 0) {
                if (depth == RESP_MAX_DEPTH) return -1;
                if (n > (LLONG_MAX / 2)) return -1;
                pending[depth++] = (t == '%' || t == '|') ? n * 2 : n;
                /* an attribute precedes the reply it annotates */
                if (t == '|') pending[depth - 1]++;
                continue;
            }
            break;
        default:
            return -1;
        }
        /* one item completed: pop finished levels */
        while (depth > 0 && --pending[depth - 1] == 0) depth--;
    } while (depth > 0);
    return (long long)pos;
}
