/*
 * Clients: accept, read and parse, reply buffers, write, limits, close.
 *
 * Life of a client (states are implied by flags, drawn here):
 *
 *   accepted --(protected mode / maxclients refusal)--> error sent, closed
 *      |
 *   reading: bytes -> qbuf (ring_read: copied from the loop's io_uring
 *      |  receive; read_handler: recv from an epoll-reported socket, TLS
 *      |  and `io-uring no`); after the round of events that read them, the
 *      |  clients' input runs (server_after_events): lookahead over the
 *      |  complete commands (look_ahead: their keys are prefetched together,
 *      |  their spans become argv) or resp_parse -> dispatch, repeatedly
 *      |  replies accumulate in obuf (16 KB) then in blocks
 *      |  right after its commands (or before sleeping, with the append-only
 *      |  log on) the server sends pending replies; if the socket is full,
 *      |  the writable event is armed until it drains
 *      |
 *   CLOSE_AFTER_REPLY (QUIT, protocol error): stop reading, flush, close
 *   CLOSE_ASAP (limits, CLIENT KILL, I/O error): close without flushing
 *
 * Limits: the query buffer is capped by client-query-buffer-limit (1 MB
 * before authentication); output by client-output-buffer-limit (64 KB
 * before authentication). A client over a limit is closed and logged; its
 * memory is freed at once, so one client cannot exhaust the server.
 */
#include "../security/acl.h"
#include "config.h"
#include "server.h"

#include <alloca.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void read_handler(ev_loop *l, int fd, void *data, int mask);
static void ring_read(ev_loop *l, int fd, void *data, const char *buf, ssize_t n);
static void write_handler(ev_loop *l, int fd, void *data, int mask);
static void client_event(ev_loop *l, int fd, void *data, int mask);
static int client_write(client *c);

/* Clients read in the current round of events, processed after the round
 * (server_after_events). */
static client **batch;
static size_t nbatch, batchcap;
static bool batch_running;

static void batch_add(client *c) {
    /* Read again in the same round: a TLS event's reads, or several
     * receives completed by the ring. */
    if (c->batched) return;
    c->batched = true;
    if (nbatch == batchcap) {
        batchcap = batchcap ? batchcap * 2 : 64;
        batch = sg_realloc(batch, sizeof(client *) * batchcap);
    }
    batch[nbatch++] = c;
}

bool client_auth_required(const client *c) {
    return !(c->flags & CL_AUTHENTICATED) && !acl_default_nopass();
}

client *client_create(server *s, conn *cn, const char *ip, int port) {
    client *c = sg_calloc(sizeof(client));
    c->id = ++s->next_client_id;
    c->srv = s;
    c->conn = cn;
    c->resp = 2;
    c->dbid = 0;
    c->db = ks_db(s->ks, 0);
    resp_parser_init(&c->parser);
    snprintf(c->addr, sizeof(c->addr), "%s:%d", ip, port); /* IPv6 unbracketed, as Redis */
    c->local = net_is_loopback(ip);
    char lip[48];
    int lport = 0;
    if (net_local_addr(cn->fd, lip, sizeof(lip), &lport) == 0)
        snprintf(c->laddr, sizeof(c->laddr), "%s:%d", lip, lport);
    c->ctime_ms = sg_mstime();
    c->last_interaction_us = sg_monotonic_us();
    if (!(cfg.requirepass && cfg.requirepass[0])) c->flags |= CL_AUTHENTICATED;
    acl_client_init(c);
    c->next = s->clients;
    if (s->clients) s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    if (cn->fd >= s->by_fd_size) {
        int n = s->by_fd_size ? s->by_fd_size : 1024;
        while (n <= cn->fd) n *= 2;
        s->by_fd = sg_realloc(s->by_fd, sizeof(client *) * (size_t)n);
        memset(s->by_fd + s->by_fd_size, 0, sizeof(client *) * (size_t)(n - s->by_fd_size));
        s->by_fd_size = n;
    }
    s->by_fd[cn->fd] = c;
    /* Plain sockets are read by the loop's io_uring where it has one
     * (ring_read), else edge triggered (read_handler); TLS ones level
     * triggered, since OpenSSL may hold decrypted bytes epoll cannot see. */
    if (!conn_is_tls(cn) && ev_recv_start(s->loop, cn->fd, ring_read, c) == 0) {
        c->ring = true;
        return c;
    }
    c->edge = !conn_is_tls(cn);
    if (ev_add(s->loop, cn->fd, EV_READABLE | (c->edge ? EV_EDGE : 0), client_event, c) != 0) {
        client_free(c);
        return NULL;
    }
    return c;
}

static void remove_from_array(client ***arr, size_t *n, client *c) {
    for (size_t i = 0; i < *n; i++) {
        if ((*arr)[i] == c) {
            (*arr)[i] = (*arr)[--*n];
            return;
        }
    }
}

void client_free(client *c) {
    server *s = c->srv;
    for (size_t i = 0; i < nbatch; i++)
        if (batch[i] == c) batch[i] = NULL;
    if (c->conn) {
        ev_del(s->loop, c->conn->fd, EV_READABLE | EV_WRITABLE);
        if (c->ring) ev_recv_stop(s->loop, c->conn->fd);
        if (c->conn->fd < s->by_fd_size) s->by_fd[c->conn->fd] = NULL;
        conn_close(c->conn);
        c->conn = NULL;
    }
    if (c->flags & CL_PENDING_WRITE) {
        for (client **pp = &s->pending_writes; *pp; pp = &(*pp)->next_pending) {
            if (*pp == c) {
                *pp = c->next_pending;
                break;
            }
        }
    }
    if (c->flags & CL_MONITOR) remove_from_array(&s->monitors, &s->nmonitors, c);
    multi_discard(c);
    watch_unwatch_all(c);
    pubsub_client_free(c);
    block_unblock(c);
    tracking_client_free(c);
    if (c->flags & CL_FREE_PENDING) remove_from_array(&s->to_close, &s->nto_close, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nclients--;
    for (rblock *b = c->rhead, *n; b; b = n) {
        n = b->next;
        sg_free(b);
    }
    resp_parser_free(&c->parser);
    sg_free(c->qbuf);
    sg_free(c->argv);
    sg_free(c->argvlen);
    sstr_free(c->name);
    sstr_free(c->lib_name);
    sstr_free(c->lib_ver);
    sg_free(c);
}

void client_close_async(client *c) {
    if (c->flags & CL_FREE_PENDING) return;
    c->flags |= CL_CLOSE_ASAP | CL_FREE_PENDING;
    server *s = c->srv;
    if (s->nto_close == s->to_close_cap) {
        s->to_close_cap = s->to_close_cap ? s->to_close_cap * 2 : 16;
        s->to_close = sg_realloc(s->to_close, sizeof(client *) * s->to_close_cap);
    }
    s->to_close[s->nto_close++] = c;
    /* Drop buffers now: a client closed for its limits must not keep them. */
    for (rblock *b = c->rhead, *n; b; b = n) {
        n = b->next;
        sg_free(b);
    }
    c->rhead = c->rtail = NULL;
    c->rbytes = 0;
    c->olen = c->osent = 0;
}

size_t client_output_bytes(const client *c) {
    return c->rbytes + (c->olen - c->osent);
}

/* ---- replies ---- */

static void mark_pending(client *c) {
    if (c->flags & CL_PENDING_WRITE) return;
    c->flags |= CL_PENDING_WRITE;
    c->next_pending = c->srv->pending_writes;
    c->srv->pending_writes = c;
}

static void check_output_limits(client *c) {
    size_t used = client_output_bytes(c);
    if (!(c->flags & CL_AUTHENTICATED)) {
        if (used > UNAUTH_MAX_OUTPUT) {
            sg_log(SG_LOG_NOTICE,
                   "Client id=%llu addr=%s closed for exceeding the "
                   "unauthenticated output limit",
                   (unsigned long long)c->id, c->addr);
            c->srv->stat_client_outbuf_limit_disconnections++;
            client_close_async(c);
        }
        return;
    }
    const obuf_limit *lim = &cfg.obuf_limits[pubsub_subscribed(c) ? OBL_PUBSUB : OBL_NORMAL];
    bool hard = lim->hard && used >= lim->hard;
    bool soft = false;
    if (lim->soft && used >= lim->soft) {
        uint64_t now = (uint64_t)c->srv->cached_ms;
        if (!c->obuf_soft_since_ms)
            c->obuf_soft_since_ms = now;
        else if (now - c->obuf_soft_since_ms >= (uint64_t)lim->soft_secs * 1000)
            soft = true;
    } else {
        c->obuf_soft_since_ms = 0;
    }
    if (hard || soft) {
        sg_log(SG_LOG_WARNING,
               "Client id=%llu addr=%s scheduled to be closed ASAP for overcoming of output "
               "buffer limits (%zu bytes)",
               (unsigned long long)c->id, c->addr, used);
        c->srv->stat_client_outbuf_limit_disconnections++;
        client_close_async(c);
    }
}

void reply_raw(client *c, const void *p, size_t n) {
    if (SG_UNLIKELY(c->flags & (CL_REPLY_OFF | CL_REPLY_SKIP | CL_CLOSE_ASAP))) return;
    if (!c->conn) return;
    mark_pending(c);
    if (!c->rhead) {
        size_t room = CLIENT_OBUF_SIZE - c->olen;
        size_t k = n < room ? n : room;
        memcpy(c->obuf + c->olen, p, k);
        c->olen += k;
        p = (const char *)p + k;
        n -= k;
        if (!n) return;
    }
    rblock *t = c->rtail;
    if (t && t->size > t->used) {
        size_t k = t->size - t->used;
        if (k > n) k = n;
        memcpy(t->buf + t->used, p, k);
        t->used += k;
        c->rbytes += k;
        p = (const char *)p + k;
        n -= k;
    }
    if (n) {
        size_t sz = n > CLIENT_OBUF_SIZE ? n : CLIENT_OBUF_SIZE;
        rblock *b = sg_malloc(sizeof(rblock) + sz);
        b->next = NULL;
        b->size = sg_alloc_size(b) - sizeof(rblock);
        b->used = n;
        memcpy(b->buf, p, n);
        if (c->rtail)
            c->rtail->next = b;
        else
            c->rhead = b;
        c->rtail = b;
        c->rbytes += n;
    }
    check_output_limits(c);
}

/* Reserve-and-write fast path for small replies. */
static inline void reply_small(client *c, const char *p, size_t n) {
    if (SG_LIKELY(!c->rhead && CLIENT_OBUF_SIZE - c->olen >= n &&
                  !(c->flags & (CL_REPLY_OFF | CL_REPLY_SKIP | CL_CLOSE_ASAP)) && c->conn)) {
        mark_pending(c);
        memcpy(c->obuf + c->olen, p, n);
        c->olen += n;
        return;
    }
    reply_raw(c, p, n);
}

void reply_status(client *c, const char *s) {
    char buf[256];
    size_t n = strlen(s);
    if (n + 3 > sizeof(buf)) {
        reply_raw(c, "+", 1);
        reply_raw(c, s, n);
        reply_raw(c, "\r\n", 2);
        return;
    }
    buf[0] = '+';
    memcpy(buf + 1, s, n);
    buf[n + 1] = '\r';
    buf[n + 2] = '\n';
    reply_small(c, buf, n + 3);
}

void reply_ok(client *c) {
    reply_small(c, "+OK\r\n", 5);
}

static void count_error(client *c, const char *msg) {
    server *s = c->srv;
    s->stat_total_error_replies++;
    char code[32];
    size_t i = 0;
    while (msg[i] && msg[i] != ' ' && i < sizeof(code) - 1) {
        code[i] = msg[i];
        i++;
    }
    code[i] = '\0';
    for (err_stat *e = s->errors; e; e = e->next) {
        if (!strcmp(e->name, code)) {
            e->count++;
            return;
        }
    }
    if (s->errors_count >= 128) return; /* bounded, like Redis's errorstats */
    err_stat *e = sg_calloc(sizeof(err_stat));
    memcpy(e->name, code, i + 1);
    e->count = 1;
    e->next = s->errors;
    s->errors = e;
    s->errors_count++;
}

int dispatch_errors_in_command; /* counted by dispatch for failed_calls */

void reply_error(client *c, const char *msg) {
    count_error(c, msg);
    dispatch_errors_in_command++;
    size_t n = strlen(msg);
    char *buf = n + 3 <= 512 ? alloca(n + 3) : sg_malloc(n + 3);
    buf[0] = '-';
    for (size_t i = 0; i < n; i++) buf[i + 1] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
    buf[n + 1] = '\r';
    buf[n + 2] = '\n';
    reply_raw(c, buf, n + 3);
    if (n + 3 > 512) sg_free(buf);
}

void reply_errorf(client *c, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    reply_error(c, buf);
}

void reply_int(client *c, long long v) {
    char buf[32];
    reply_small(c, buf, resp_fmt_int(buf, v));
}

void reply_bulk(client *c, const void *p, size_t n) {
    char buf[64];
    size_t h = resp_fmt_header(buf, '$', (long long)n);
    if (n <= 32) {
        memcpy(buf + h, p, n);
        buf[h + n] = '\r';
        buf[h + n + 1] = '\n';
        reply_small(c, buf, h + n + 2);
        return;
    }
    reply_small(c, buf, h);
    reply_raw(c, p, n);
    reply_small(c, "\r\n", 2);
}

void reply_bulk_cstr(client *c, const char *s) {
    if (!s)
        reply_null(c);
    else
        reply_bulk(c, s, strlen(s));
}

void reply_bulk_ll(client *c, long long v) {
    char buf[32];
    int n = sg_ll2str(buf, sizeof(buf), v);
    reply_bulk(c, buf, (size_t)n);
}

void reply_null(client *c) {
    if (c->resp >= 3)
        reply_small(c, "_\r\n", 3);
    else
        reply_small(c, "$-1\r\n", 5);
}

void reply_null_array(client *c) {
    if (c->resp >= 3)
        reply_small(c, "_\r\n", 3);
    else
        reply_small(c, "*-1\r\n", 5);
}

void reply_array(client *c, long long n) {
    char buf[32];
    reply_small(c, buf, resp_fmt_header(buf, '*', n));
}

void reply_map(client *c, long long n) {
    char buf[32];
    if (c->resp >= 3)
        reply_small(c, buf, resp_fmt_header(buf, '%', n));
    else
        reply_small(c, buf, resp_fmt_header(buf, '*', n * 2));
}

void reply_set(client *c, long long n) {
    char buf[32];
    reply_small(c, buf, resp_fmt_header(buf, c->resp >= 3 ? '~' : '*', n));
}

void reply_double(client *c, double d) {
    char num[64];
    int n = sg_d2str(num, sizeof(num), d);
    if (c->resp >= 3) {
        char buf[80];
        buf[0] = ',';
        memcpy(buf + 1, num, (size_t)n);
        buf[n + 1] = '\r';
        buf[n + 2] = '\n';
        reply_small(c, buf, (size_t)n + 3);
    } else {
        reply_bulk(c, num, (size_t)n);
    }
}

void reply_bool(client *c, bool v) {
    if (c->resp >= 3)
        reply_small(c, v ? "#t\r\n" : "#f\r\n", 4);
    else
        reply_small(c, v ? ":1\r\n" : ":0\r\n", 4);
}

void reply_verbatim(client *c, const char *p, size_t n, const char *ext) {
    if (c->resp < 3) {
        reply_bulk(c, p, n);
        return;
    }
    char buf[64];
    size_t h = resp_fmt_header(buf, '=', (long long)n + 4);
    reply_raw(c, buf, h);
    reply_raw(c, ext, 3);
    reply_raw(c, ":", 1);
    reply_raw(c, p, n);
    reply_raw(c, "\r\n", 2);
}

void reply_help(client *c, const char *cmdname, const char *const *lines) {
    int n = 0;
    while (lines[n]) n++;
    reply_array(c, n + 3);
    char head[128];
    snprintf(head, sizeof(head),
             "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", cmdname);
    reply_status(c, head);
    for (int i = 0; i < n; i++) reply_status(c, lines[i]);
    reply_status(c, "HELP");
    reply_status(c, "    Prints this help.");
}

void reply_syntax_error(client *c) {
    reply_error(c, ERR_SYNTAX);
}

void reply_wrongtype(client *c) {
    reply_error(c, ERR_WRONGTYPE);
}

void reply_subcommand_error(client *c) {
    char up[64];
    snprintf(up, sizeof(up), "%.*s", (int)(c->argvlen[0] < 60 ? c->argvlen[0] : 60), c->argv[0]);
    for (char *p = up; *p; p++) *p = (char)toupper((unsigned char)*p);
    reply_errorf(c, "ERR unknown subcommand '%.128s'. Try %s HELP.", c->argv[1], up);
}

/* ---- reading ---- */

/* argv from the parser's spans (valid across buffer moves). */
static void build_argv(client *c) {
    int argc = c->parser.argc;
    if (argc > c->argv_cap) {
        int cap = argc < 16 ? 16 : argc;
        c->argv = sg_realloc(c->argv, sizeof(char *) * (size_t)cap);
        c->argvlen = sg_realloc(c->argvlen, sizeof(size_t) * (size_t)cap);
        c->argv_cap = cap;
    }
    char *base = c->qbuf + c->parser.cmd_start;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = base + c->parser.argv[i].off;
        c->argvlen[i] = c->parser.argv[i].len;
        /* NUL-terminate in place: the byte after an argument is '\r', a
         * space or the line end, never part of a later argument. */
        c->argv[i][c->argvlen[i]] = '\0';
    }
    c->argc = argc;
}

/* Reads "<prefix><decimal>\r\n" at buf[*pos] in its plain form (no sign,
 * no leading zero, at most 10 digits); false if it is not there so. */
static inline __attribute__((always_inline)) bool
peek_count(const char *buf, size_t len, size_t *pos, char prefix, size_t *out) {
    size_t p = *pos, v = 0, digits = 0;
    if (p >= len || buf[p] != prefix) return false;
    for (p++; p < len && buf[p] >= '0' && buf[p] <= '9' && digits < 10; p++, digits++)
        v = v * 10 + (size_t)(buf[p] - '0');
    if (!digits || (digits > 1 && buf[*pos + 1] == '0')) return false;
    if (p + 1 >= len || buf[p] != '\r' || buf[p + 1] != '\n') return false;
    *pos = p + 2;
    *out = v;
    return true;
}

/* A command the lookahead found complete in the query buffer. */
#define FAST_MAX_ARGS 8
typedef struct ahead_cmd {
    size_t start, end; /* buffer offsets */
    int argc;
    size_t off[FAST_MAX_ARGS], len[FAST_MAX_ARGS]; /* the first arguments */
} ahead_cmd;

/* Lookahead over the query buffer from 'from' (a command boundary): up to
 * max complete RESP commands in their plain form (sizes within max_bulk,
 * CRLF after every bulk). It stops at anything else (a partial or inline
 * command, an unusual header), which resp_parse then handles with its
 * exact errors. The commands found are parsed once: their arguments are
 * taken from here (fast_argv), not from resp_parse, when they have at most
 * FAST_MAX_ARGS of them. */
static int look_ahead(const client *c, size_t from, size_t max_bulk, ahead_cmd *ac, int max) {
    const char *buf = c->qbuf;
    size_t len = c->qlen, pos = from;
    int n = 0;
    while (n < max) {
        size_t p = pos, argc, alen, i;
        if (!peek_count(buf, len, &p, '*', &argc) || argc == 0 || argc > 1024) break;
        ahead_cmd *a = &ac[n];
        for (i = 0; i < argc; i++) {
            if (!peek_count(buf, len, &p, '$', &alen) || alen > max_bulk || alen > len - p ||
                len - p - alen < 2 || buf[p + alen] != '\r' || buf[p + alen + 1] != '\n')
                break;
            if (i < FAST_MAX_ARGS) {
                a->off[i] = p;
                a->len[i] = alen;
            }
            p += alen + 2;
        }
        if (i < argc) break;
        a->start = pos;
        a->end = p;
        a->argc = (int)argc;
        pos = p;
        n++;
    }
    return n;
}

/* Prefetches the keys of the looked-ahead commands whose first key is
 * argv[1] (the row's first key index) together, so the cache misses of the
 * batch overlap instead of costing one lookup chain per command (as Valkey
 * 8 does). A run of commands on one key (LPUSH mylist ...) counts once, and
 * a single key is left alone: there is nothing to overlap. */
static void prefetch_keys(server *s, int dbid, const char *const *bufs, const ahead_cmd *ac,
                          int n) {
    const char *keys[KDB_PREFETCH_MAX];
    size_t lens[KDB_PREFETCH_MAX];
    int idx[KDB_PREFETCH_MAX], m = 0, k = 0;
    for (int i = 0; i < n && i < KDB_PREFETCH_MAX; i++) {
        if (ac[i].argc < 2) continue;
        const char *key = bufs[i] + ac[i].off[1];
        if (m && lens[m - 1] == ac[i].len[1] && !memcmp(keys[m - 1], key, ac[i].len[1])) continue;
        keys[m] = key;
        lens[m] = ac[i].len[1];
        idx[m] = i;
        m++;
    }
    if (m < 2) return;
    for (int j = 0; j < m; j++) {
        const ahead_cmd *a = &ac[idx[j]];
        const cmd_def *d = dispatch_lookup(bufs[idx[j]] + a->off[0], a->len[0]);
        if (d && d->first == 1 && !d->nsubs) {
            keys[k] = keys[j];
            lens[k] = lens[j];
            k++;
        }
    }
    if (k > 1) kdb_prefetch(ks_db(s->ks, dbid), keys, lens, k);
}

/* argv of a looked-ahead command (as build_argv does from the parser). */
static void fast_argv(client *c, const ahead_cmd *a) {
    if (a->argc > c->argv_cap) {
        c->argv = sg_realloc(c->argv, sizeof(char *) * 16);
        c->argvlen = sg_realloc(c->argvlen, sizeof(size_t) * 16);
        c->argv_cap = 16;
    }
    for (int i = 0; i < a->argc; i++) {
        c->argv[i] = c->qbuf + a->off[i];
        c->argvlen[i] = a->len[i];
        c->argv[i][a->len[i]] = '\0';
    }
    c->argc = a->argc;
}

/* Runs the complete commands in c's query buffer. first, if not NULL, is
 * the lookahead of the command at the parser's position, already made by
 * the caller (server_after_events), so it is not made twice. */
static void process_input_ahead(client *c, const ahead_cmd *first) {
    if (!batch_running) dispatch_clock_break(); /* time passed since the last command */
    if (c->pending_cmd) {
        build_argv(c);
        if (!dispatch_command(c)) return;
        c->pending_cmd = false;
        c->argc = 0;
        resp_parser_consume(&c->parser);
    }
    resp_limits lim;
    bool authed = c->flags & CL_AUTHENTICATED;
    lim.max_args = authed ? INT32_MAX : UNAUTH_MAX_ARGS;
    lim.max_bulk = authed ? (long long)cfg.proto_max_bulk_len : UNAUTH_MAX_BULK;
    lim.args_err = "Protocol error: unauthenticated multibulk length";
    lim.bulk_err = authed ? NULL : "Protocol error: unauthenticated bulk length";
    ahead_cmd ac[KDB_PREFETCH_MAX];
    int nac = 0, iac = 0; /* looked-ahead commands, the next one to run */
    if (first && authed) {
        ac[0] = *first;
        nac = 1;
    }
    while (!(c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP))) {
        bool at_start = c->parser.reqtype == RESP_REQ_NONE && !c->pending_cmd;
        if (iac == nac && at_start && authed) {
            nac = look_ahead(c, c->parser.cmd_start, (size_t)lim.max_bulk, ac, KDB_PREFETCH_MAX);
            iac = 0;
            if (nac > 1) {
                const char *bufs[KDB_PREFETCH_MAX];
                for (int i = 0; i < nac; i++) bufs[i] = c->qbuf;
                prefetch_keys(c->srv, c->dbid, bufs, ac, nac);
            }
        }
        const ahead_cmd *a = NULL;
        if (iac < nac) {
            if (at_start && ac[iac].start == c->parser.cmd_start)
                a = &ac[iac++];
            else
                iac = nac = 0; /* out of step: parse normally from here */
        }
        if (a && a->argc <= FAST_MAX_ARGS) {
            fast_argv(c, a);
            c->parser.pos = a->end;
        } else {
            int r = resp_parse(&c->parser, c->qbuf, c->qlen, &lim);
            if (r == RESP_NEED_MORE) break;
            if (r == RESP_ERROR) {
                char msg[128];
                snprintf(msg, sizeof(msg), "ERR %s", c->parser.err);
                sg_log(SG_LOG_VERBOSE, "Protocol error (%s) from client: id=%llu addr=%s",
                       c->parser.err, (unsigned long long)c->id, c->addr);
                reply_error(c, msg);
                c->flags |= CL_CLOSE_AFTER_REPLY;
                break;
            }
            build_argv(c);
        }
        if (!dispatch_command(c)) {    /* paused: keep it, resume later */
            if (c->parser.argc == 0) { /* taken from the lookahead: let the parser have it */
                c->parser.pos = c->parser.cmd_start;
                int r = resp_parse(&c->parser, c->qbuf, c->qlen, &lim);
                sg_assert(r == RESP_COMMAND);
            }
            c->pending_cmd = true;
            break;
        }
        c->argc = 0;
        resp_parser_consume(&c->parser);
    }
    /* Compact: keep only the unparsed tail. */
    size_t start = c->parser.cmd_start;
    if (start > 0) {
        if (start < c->qlen) memmove(c->qbuf, c->qbuf + start, c->qlen - start);
        c->qlen -= start;
        resp_parser_rebase(&c->parser);
    }
    /* Give back a big buffer once it is drained. */
    if (c->qlen == 0 && c->qcap > 64 * 1024) {
        sg_free(c->qbuf);
        c->qbuf = NULL;
        c->qcap = 0;
    }
}

static void process_input(client *c) {
    process_input_ahead(c, NULL);
}

/* Makes room in qbuf for a read of want bytes (and the NUL after them):
 * doubling while that stays near the limit, so a long pipeline or a large
 * bulk is copied O(1) times per byte. Returns the room. */
static size_t qbuf_reserve(client *c, size_t want, size_t limit) {
    if (c->qcap - c->qlen < want + 1) {
        size_t ncap = c->qlen + want + 1;
        if (ncap < c->qcap * 2 && c->qcap * 2 <= limit + CLIENT_READ_SIZE + 1) ncap = c->qcap * 2;
        c->qbuf = sg_realloc(c->qbuf, ncap);
        c->qcap = ncap;
    }
    return c->qcap - c->qlen - 1;
}

static size_t query_limit(const client *c) {
    return (c->flags & CL_AUTHENTICATED) ? cfg.client_query_buffer_limit : UNAUTH_MAX_QUERYBUF;
}

static size_t read_want(const client *c) {
    size_t want = CLIENT_READ_SIZE;
    size_t big = resp_parser_want(&c->parser, c->qlen);
    return big > want ? big : want;
}

/* A read returned 0 (end of file) or failed with err. */
static void read_failed(client *c, ssize_t n, int err) {
    if (n == 0) {
        sg_log(SG_LOG_VERBOSE, "Client closed connection id=%llu addr=%s",
               (unsigned long long)c->id, c->addr);
    } else {
        sg_log(SG_LOG_VERBOSE, "Reading from client: %s", strerror(err));
    }
    client_close_async(c);
}

/* n > 0 bytes were appended to qbuf: accounting, the limit, and the
 * client's turn to run. */
static void input_arrived(ev_loop *l, client *c, size_t n, size_t limit) {
    server *s = c->srv;
    s->stat_io_reads++;
    c->qlen += n;
    c->qbuf[c->qlen] = '\0';
    c->net_in += (uint64_t)n;
    s->stat_net_input += (uint64_t)n;
    c->last_interaction_us = ev_last_wake_us(l); /* no clock read per read */
    if (c->qlen > c->qbuf_peak) c->qbuf_peak = c->qlen;
    if (c->qlen > limit) {
        sg_log(SG_LOG_WARNING,
               "Closing client that reached max query buffer length: id=%llu "
               "addr=%s qbuf=%zu",
               (unsigned long long)c->id, c->addr, c->qlen);
        s->stat_client_qbuf_limit_disconnections++;
        client_close_async(c);
        return;
    }
    if (!batch_running) {
        batch_add(c); /* run by server_after_events, after this round */
    } else {
        process_input(c);
    }
}

static void read_handler(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(fd);
    SG_UNUSED(mask);
    client *c = data;
    if (c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP)) return;
    size_t limit = query_limit(c);
    size_t space = qbuf_reserve(c, read_want(c), limit);
    ssize_t n = conn_read(c->conn, c->qbuf + c->qlen, space);
    /* Edge triggering: epoll reports the socket once per arrival and does
     * not re-check it on the next wait, which saves a poll of every socket
     * it reported (most of them idle again at pipeline 1). A read that
     * filled the buffer may have left input behind: level triggering until
     * a short read, so the loop comes back for it after serving the others. */
    if (c->edge) {
        int e = errno;
        ev_set_edge(l, c->conn->fd, n < 0 ? e == EAGAIN : (size_t)n < space);
        errno = e;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            /* TLS: the handshake needs the socket writable to go on. */
            if (conn_want_write(c->conn)) ev_add(l, c->conn->fd, EV_WRITABLE, client_event, c);
            return;
        }
        read_failed(c, n, errno);
        return;
    }
    if (n == 0) {
        read_failed(c, 0, 0);
        return;
    }
    input_arrived(l, c, (size_t)n, limit);
}

/* A plain client's bytes from the io_uring receive (ev_recv_start): the
 * same as read_handler, with the kernel's buffer copied into qbuf. Input
 * after QUIT or a protocol error is dropped, as the epoll path leaves it
 * unread. */
static void ring_read(ev_loop *l, int fd, void *data, const char *buf, ssize_t n) {
    SG_UNUSED(fd);
    client *c = data;
    if (c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP)) return;
    if (n <= 0) {
        read_failed(c, n, (int)-n);
        return;
    }
    size_t limit = query_limit(c);
    size_t want = read_want(c);
    qbuf_reserve(c, (size_t)n > want ? (size_t)n : want, limit);
    memcpy(c->qbuf + c->qlen, buf, (size_t)n);
    input_arrived(l, c, (size_t)n, limit);
    /* The kernel completes up to 32 receives per socket and wait: a client
     * sending fast would pile up to 128 KB a round where a read takes 16 KB.
     * Past 64 KB its commands run now, so its buffer stays small. */
    if (c->batched && c->qlen >= 4 * CLIENT_READ_SIZE &&
        !(c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP)))
        process_input(c);
}

/* Runs the input of the clients read in this round of events: first the
 * keys of their next commands are prefetched together, KDB_PREFETCH_MAX
 * clients at a time, so that at pipeline 1 the lookups of different clients
 * overlap their cache misses the way pipelined commands of one client do.
 * Each client's commands still run in order, and every client read in the
 * round is served in the round, as before. */
void server_after_events(ev_loop *l, void *data) {
    SG_UNUSED(l);
    server *s = data;
    if (batch_running || !nbatch) return;
    batch_running = true;
    dispatch_clock_break(); /* the reads of this round came before */
    bool early = !aof_holds_replies();
    for (size_t i = 0; i < nbatch; i += KDB_PREFETCH_MAX) {
        size_t end = nbatch - i < KDB_PREFETCH_MAX ? nbatch : i + KDB_PREFETCH_MAX;
        ahead_cmd ac[KDB_PREFETCH_MAX];
        const ahead_cmd *first[KDB_PREFETCH_MAX] = {NULL}; /* per client, for process_input */
        if (end - i > 1) {
            const char *bufs[KDB_PREFETCH_MAX];
            int n = 0, dbid = -1;
            for (size_t j = i; j < end; j++) {
                client *c = batch[j];
                if (!c || c->pending_cmd || c->parser.reqtype != RESP_REQ_NONE ||
                    !(c->flags & CL_AUTHENTICATED))
                    continue;
                if (dbid < 0) dbid = c->dbid;
                if (c->dbid != dbid) continue; /* one database per batch: the usual case */
                if (look_ahead(c, c->parser.cmd_start, cfg.proto_max_bulk_len, &ac[n], 1)) {
                    first[j - i] = &ac[n];
                    bufs[n++] = c->qbuf;
                }
            }
            if (n > 1) prefetch_keys(s, dbid, bufs, ac, n);
        }
        for (size_t j = i; j < end; j++) {
            client *c = batch[j];
            if (c) c->batched = false;
            if (c && !(c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP))) {
                /* The lookahead holds while nothing else ran on c: commands
                 * of earlier clients in the batch can pause it (then the
                 * parser takes over, as for any paused command) but never
                 * read into its buffer. */
                const ahead_cmd *f = first[j - i];
                bool fresh = f && !c->pending_cmd && c->parser.reqtype == RESP_REQ_NONE &&
                             f->start == c->parser.cmd_start;
                process_input_ahead(c, fresh ? f : NULL);
                /* Its replies go now, not after the whole round: the client
                 * can send its next request while the server serves the
                 * others. The pending-writes pass finds it done (a partial
                 * write is finished there, with the writable event). Not
                 * with the append-only log on: no reply may leave before
                 * the log's write (and fsync) in before-sleep. */
                if (early && (c->flags & CL_PENDING_WRITE) && !(c->flags & CL_CLOSE_ASAP) &&
                    c->conn)
                    client_write(c);
            }
        }
    }
    nbatch = 0;
    batch_running = false;
}

void client_drop_pending(client *c) {
    if (!c->pending_cmd) return;
    c->pending_cmd = false;
    c->argc = 0;
    resp_parser_consume(&c->parser);
    client_process_pending_input(c);
}

/* Resumes input processing (after a pause ends). */
void client_process_pending_input(client *c) {
    if ((c->pending_cmd || c->qlen) && !(c->flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP)))
        process_input(c);
}

/* ---- writing ---- */

/* Writes as much as the socket takes. Returns 0, or -1 if the client was
 * closed for an error. */
static int client_write(client *c) {
    server *s = c->srv;
    while (c->olen > c->osent || c->rhead) {
        struct iovec iov[16];
        int n = 0;
        size_t total = 0;
        if (c->olen > c->osent) {
            iov[n].iov_base = c->obuf + c->osent;
            iov[n].iov_len = c->olen - c->osent;
            total += iov[n].iov_len;
            n++;
        }
        size_t hoff = c->olen > c->osent ? 0 : c->osent;
        for (rblock *b = c->rhead; b && n < 16 && total < 1024 * 1024; b = b->next) {
            size_t off = b == c->rhead ? hoff : 0;
            if (b->used == off) continue;
            iov[n].iov_base = b->buf + off;
            iov[n].iov_len = b->used - off;
            total += iov[n].iov_len;
            n++;
        }
        if (n == 0) break;
        ssize_t w = conn_writev(c->conn, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return 0;
            sg_log(SG_LOG_VERBOSE, "Error writing to client: %s", strerror(errno));
            client_close_async(c);
            return -1;
        }
        s->stat_io_writes++;
        c->net_out += (uint64_t)w;
        s->stat_net_output += (uint64_t)w;
        size_t left = (size_t)w;
        if (c->olen > c->osent) {
            size_t k = c->olen - c->osent;
            if (left >= k) {
                left -= k;
                c->olen = c->osent = 0;
            } else {
                c->osent += left;
                left = 0;
            }
        }
        /* osent now indexes the head block when obuf is empty. */
        while (left && c->rhead) {
            rblock *b = c->rhead;
            size_t k = b->used - c->osent;
            if (left >= k) {
                left -= k;
                c->rbytes -= b->used;
                c->rhead = b->next;
                if (!c->rhead) c->rtail = NULL;
                sg_free(b);
                c->osent = 0;
            } else {
                c->osent += left;
                left = 0;
            }
        }
        if ((size_t)w < total) return 0; /* socket full */
    }
    return 0;
}

static bool client_has_output(const client *c) {
    return c->olen > c->osent || c->rhead;
}

static void write_handler(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(mask);
    client *c = data;
    if (client_write(c) < 0) return;
    if (!client_has_output(c)) {
        ev_del(l, fd, EV_WRITABLE);
        if (c->flags & CL_CLOSE_AFTER_REPLY) client_close_async(c);
    }
}

void server_flush_pending_writes(server *s) {
    client *c = s->pending_writes;
    s->pending_writes = NULL;
    while (c) {
        client *next = c->next_pending;
        c->flags &= ~CL_PENDING_WRITE;
        c->next_pending = NULL;
        if (!(c->flags & CL_CLOSE_ASAP) && c->conn) {
            if (client_write(c) == 0) {
                if (client_has_output(c)) {
                    ev_add(s->loop, c->conn->fd, EV_WRITABLE, client_event, c);
                } else if (c->flags & CL_CLOSE_AFTER_REPLY) {
                    client_close_async(c);
                }
            }
        }
        c = next;
    }
}

static void client_event(ev_loop *l, int fd, void *data, int mask) {
    client *c = data;
    bool read_retry = c->conn && conn_want_write(c->conn); /* TLS handshake */
    if (mask & EV_WRITABLE) write_handler(l, fd, c, mask);
    if ((mask & EV_READABLE || read_retry) && !(c->flags & CL_CLOSE_ASAP))
        read_handler(l, fd, c, mask);
    /* TLS: bytes decrypted inside OpenSSL are not signalled by epoll. */
    while (c->conn && !(c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY)) && conn_pending(c->conn))
        read_handler(l, fd, c, mask);
}

void server_free_closed_clients(server *s) {
    while (s->nto_close) {
        client *c = s->to_close[s->nto_close - 1];
        c->flags &= ~CL_FREE_PENDING;
        s->nto_close--;
        client_free(c);
    }
}

sstr *client_info_line(client *c, sstr *o) {
    uint64_t now_us = sg_monotonic_us();
    int64_t now_ms = sg_mstime();
    char flags[16];
    int f = 0;
    if (c->flags & CL_MONITOR) flags[f++] = 'O';
    if (c->flags & CL_CLOSE_AFTER_REPLY) flags[f++] = 'c';
    if (c->flags & CL_CLOSE_ASAP) flags[f++] = 'A';
    if (c->flags & CL_NO_EVICT) flags[f++] = 'e';
    long long redir = tracking_client_list_info(c, flags, &f);
    if (!f) flags[f++] = 'N';
    flags[f] = '\0';
    size_t blocks = 0;
    for (rblock *b = c->rhead; b; b = b->next) blocks++;
    const char *cmd = c->lastcmd ? c->lastcmd->fullname : "NULL";
    size_t tot = sizeof(client) + c->qcap + c->rbytes + blocks * sizeof(rblock);
    o = sstr_catfmt(o,
                    "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%d "
                    "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0 "
                    "multi-mem=0 rbs=%zu rbp=%zu obl=%zu oll=%zu omem=%zu tot-mem=%zu "
                    "events=r%s cmd=%s user=%s redir=%lld resp=%d lib-name=%s lib-ver=%s",
                    (unsigned long long)c->id, c->addr, c->laddr, c->conn ? c->conn->fd : -1,
                    c->name ? c->name->buf : "", (long long)((now_ms - c->ctime_ms) / 1000),
                    (long long)((now_us - c->last_interaction_us) / 1000000), flags, c->dbid,
                    c->qlen, c->qcap > c->qlen ? c->qcap - c->qlen : 0, c->qcap, c->qbuf_peak,
                    c->olen, blocks, c->rbytes, tot, client_has_output(c) ? "w" : "", cmd,
                    acl_client_username(c), redir, c->resp, c->lib_name ? c->lib_name->buf : "",
                    c->lib_ver ? c->lib_ver->buf : "");
    return o;
}
