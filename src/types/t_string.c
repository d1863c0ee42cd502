/*
 * String commands: GET/SET and their variants, ranges, counters, LCS.
 *
 * Values follow Redis's encoding rules because OBJECT ENCODING shows them:
 * a SET value that is a canonical 64-bit decimal of at most 20 bytes is
 * "int", other values of at most 44 bytes are "embstr", longer ones and
 * anything APPEND or SETRANGE touched are "raw". In Surge, int and embstr
 * both live inside the key entry (one allocation); raw values are a
 * separate growable buffer so APPEND is amortized O(1).
 *
 * Hot paths avoid allocation: overwriting a small value with one that fits
 * the entry's allocation (INCR, SET of a same-size value) rewrites it in
 * place.
 *
 * Sizes from clients are checked before anything is allocated: SETRANGE and
 * APPEND refuse results over proto-max-bulk-len, LCS refuses a table over
 * proto-max-bulk-len.
 */
#include "../server/config.h"
#include "../server/server.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static int str_enc(const char *v, size_t n) {
    long long ll;
    if (n <= 20 && sg_str2ll(v, n, &ll)) return ENC_INT;
    return n <= KS_EMBSTR_MAX ? ENC_EMBSTR : ENC_RAW;
}

/* Stores key=val with the given encoding. expire: absolute ms, or -1 for
 * none; keepttl keeps an existing key's TTL instead. */
static void set_key(client *c, const char *key, size_t klen, const char *val, size_t vlen, int enc,
                    bool keepttl, int64_t expire) {
    kdb *db = c->db;
    kref r;
    kentry *old = kdb_lookup_write(db, key, klen, &r);
    if (old) {
        int64_t oldexp = kentry_expire(old);
        int64_t exp = expire >= 0 ? expire : keepttl ? oldexp : -1;
        if ((exp >= 0) == (oldexp >= 0) && kentry_type(old) == OBJ_STRING &&
            kentry_str_set_inplace(old, val, vlen, enc)) {
            if (exp != oldexp) kdb_set_expire(&r, exp);
            kdb_touch(db, r.e);
        } else {
            kentry *ne = kentry_new_str(key, klen, val, vlen, enc, exp);
            kentry_set_lru(ne, kentry_lru(old));
            kdb_replace(&r, ne);
            kentry_free(old);
            kdb_touch(db, ne);
        }
    } else {
        kdb_add(db, kentry_new_str(key, klen, val, vlen, enc, expire));
    }
    server_key_modified(c, db, key, klen);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "set", kdb_id(db), key, klen);
    if (expire >= 0) notify_keyspace_event(c->srv, NOTIFY_GENERIC, "expire", kdb_id(db), key, klen);
    server_dirty(c->srv, 1);
}

static bool get_string_or_reply(client *c, int i, const char **v, size_t *n, bool *found) {
    bool wrong;
    kentry *e = lookup_read_typed(c, i, OBJ_STRING, NULL, &wrong);
    if (wrong) return false;
    *found = e != NULL;
    if (e) *v = kentry_str(e, n);
    return true;
}

void get_command(client *c) {
    const char *v;
    size_t n;
    bool found;
    if (!get_string_or_reply(c, 1, &v, &n, &found)) return;
    if (!found)
        reply_null(c);
    else
        reply_bulk(c, v, n);
}

/* ---- SET and friends ---- */

enum {
    SF_NX = 1,
    SF_XX = 2,
    SF_GET = 4,
    SF_KEEPTTL = 8,
    SF_EX = 16,
    SF_PX = 32,
    SF_EXAT = 64,
    SF_PXAT = 128,
    SF_PERSIST = 256
};
#define SF_ANY_EXPIRE (SF_EX | SF_PX | SF_EXAT | SF_PXAT)

/* Parses SET/GETEX options from argv[from..] (syntax only). *expire_arg is
 * the index of the expire value, or -1. Replies and returns false on error. */
static bool parse_set_options(client *c, int from, bool getex, int *flags, int *expire_arg) {
    int fl = 0;
    *expire_arg = -1;
    for (int j = from; j < c->argc; j++) {
        const char *a = c->argv[j];
        bool has_next = j + 1 < c->argc;
        if (!getex && !strcasecmp(a, "nx") && !(fl & (SF_XX))) {
            fl |= SF_NX;
        } else if (!getex && !strcasecmp(a, "xx") && !(fl & SF_NX)) {
            fl |= SF_XX;
        } else if (!getex && !strcasecmp(a, "get")) {
            fl |= SF_GET;
        } else if (!getex && !strcasecmp(a, "keepttl") && !(fl & (SF_ANY_EXPIRE | SF_PERSIST))) {
            fl |= SF_KEEPTTL;
        } else if (getex && !strcasecmp(a, "persist") && !(fl & (SF_ANY_EXPIRE | SF_KEEPTTL))) {
            fl |= SF_PERSIST;
        } else if (!strcasecmp(a, "ex") && !(fl & (SF_ANY_EXPIRE | SF_KEEPTTL | SF_PERSIST)) &&
                   has_next) {
            fl |= SF_EX;
            *expire_arg = ++j;
        } else if (!strcasecmp(a, "px") && !(fl & (SF_ANY_EXPIRE | SF_KEEPTTL | SF_PERSIST)) &&
                   has_next) {
            fl |= SF_PX;
            *expire_arg = ++j;
        } else if (!strcasecmp(a, "exat") && !(fl & (SF_ANY_EXPIRE | SF_KEEPTTL | SF_PERSIST)) &&
                   has_next) {
            fl |= SF_EXAT;
            *expire_arg = ++j;
        } else if (!strcasecmp(a, "pxat") && !(fl & (SF_ANY_EXPIRE | SF_KEEPTTL | SF_PERSIST)) &&
                   has_next) {
            fl |= SF_PXAT;
            *expire_arg = ++j;
        } else {
            reply_syntax_error(c);
            return false;
        }
    }
    *flags = fl;
    return true;
}

/* Converts the expire argument to an absolute ms time (Redis's checks and
 * texts). *expire is -1 when there is no expire argument. */
static bool expire_from_arg_or_reply(client *c, int flags, int expire_arg, const char *cmdname,
                                     int64_t *expire) {
    *expire = -1;
    if (expire_arg < 0) return true;
    long long v;
    if (!arg_ll_or_reply(c, expire_arg, &v, NULL)) return false;
    bool secs = flags & (SF_EX | SF_EXAT);
    if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", cmdname);
        return false;
    }
    if (secs) v *= 1000;
    if (flags & (SF_EX | SF_PX)) {
        int64_t now = ks_now(c->srv->ks);
        if (v > LLONG_MAX - now) {
            reply_errorf(c, "ERR invalid expire time in '%s' command", cmdname);
            return false;
        }
        v += now;
    }
    *expire = v;
    return true;
}

static void set_generic(client *c, int flags, int64_t expire, int valarg) {
    const char *key = c->argv[1];
    size_t klen = c->argvlen[1];
    if (flags & SF_GET) {
        bool wrong;
        kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
        if (wrong) return;
        if (e) {
            size_t n;
            const char *v = kentry_str(e, &n);
            reply_bulk(c, v, n);
        } else {
            reply_null(c);
        }
    }
    if (flags & (SF_NX | SF_XX)) { /* a plain SET looks the key up once, in set_key */
        bool found = kdb_exists(c->db, key, klen);
        if (((flags & SF_NX) && found) || ((flags & SF_XX) && !found)) {
            if (!(flags & SF_GET)) reply_null(c);
            return;
        }
    }
    const char *v = c->argv[valarg];
    size_t n = c->argvlen[valarg];
    set_key(c, key, klen, v, n, str_enc(v, n), flags & SF_KEEPTTL, expire);
    if (!(flags & SF_GET)) reply_ok(c);
}

void set_command(client *c) {
    int flags, expire_arg;
    int64_t expire;
    if (!parse_set_options(c, 3, false, &flags, &expire_arg)) return;
    if (!expire_from_arg_or_reply(c, flags, expire_arg, "set", &expire)) return;
    set_generic(c, flags, expire, 2);
}

void setnx_command(client *c) {
    if (kdb_exists(c->db, c->argv[1], c->argvlen[1])) {
        reply_int(c, 0);
        return;
    }
    set_key(c, c->argv[1], c->argvlen[1], c->argv[2], c->argvlen[2],
            str_enc(c->argv[2], c->argvlen[2]), false, -1);
    reply_int(c, 1);
}

static void setex_generic(client *c, bool ms) {
    long long v;
    if (!arg_ll_or_reply(c, 2, &v, NULL)) return;
    if (v <= 0 || (!ms && v > LLONG_MAX / 1000)) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", ms ? "psetex" : "setex");
        return;
    }
    if (!ms) v *= 1000;
    int64_t now = ks_now(c->srv->ks);
    if (v > LLONG_MAX - now) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", ms ? "psetex" : "setex");
        return;
    }
    set_key(c, c->argv[1], c->argvlen[1], c->argv[3], c->argvlen[3],
            str_enc(c->argv[3], c->argvlen[3]), false, now + v);
    reply_ok(c);
}

void setex_command(client *c) {
    setex_generic(c, false);
}

void psetex_command(client *c) {
    setex_generic(c, true);
}

void getset_command(client *c) {
    set_generic(c, SF_GET, -1, 2);
}

void getdel_command(client *c) {
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    if (!e) {
        reply_null(c);
        return;
    }
    size_t n;
    const char *v = kentry_str(e, &n);
    reply_bulk(c, v, n);
    kdb_delete(&r);
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
}

void getex_command(client *c) {
    int flags, expire_arg;
    int64_t expire;
    if (!parse_set_options(c, 2, true, &flags, &expire_arg)) return;
    bool wrong;
    kref r;
    kentry *e = lookup_read_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    if (!e) {
        reply_null(c);
        return;
    }
    if (!expire_from_arg_or_reply(c, flags, expire_arg, "getex", &expire)) return;
    size_t n;
    const char *v = kentry_str(e, &n);
    reply_bulk(c, v, n);
    if (expire >= 0) {
        bool del = expire <= ks_now(c->srv->ks);
        if (del)
            kdb_delete(&r);
        else
            kdb_set_expire(&r, expire);
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, del ? "del" : "expire", c->dbid, c->argv[1],
                              c->argvlen[1]);
        server_dirty(c->srv, 1);
    } else if ((flags & SF_PERSIST) && kentry_has_ttl(e)) {
        kdb_persist(&r);
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "persist", c->dbid, c->argv[1],
                              c->argvlen[1]);
        server_dirty(c->srv, 1);
    }
}

void mget_command(client *c) {
    reply_array(c, c->argc - 1);
    for (int i = 1; i < c->argc; i++) {
        kentry *e = kdb_lookup_read(c->db, c->argv[i], c->argvlen[i], NULL, 0);
        if (!e || kentry_type(e) != OBJ_STRING) {
            reply_null(c);
            continue;
        }
        size_t n;
        const char *v = kentry_str(e, &n);
        reply_bulk(c, v, n);
    }
}

static void mset_generic(client *c, bool nx) {
    if (c->argc % 2 == 0) {
        reply_errorf(c, "ERR wrong number of arguments for '%s' command", nx ? "msetnx" : "mset");
        return;
    }
    if (nx) {
        for (int i = 1; i < c->argc; i += 2) {
            if (kdb_exists(c->db, c->argv[i], c->argvlen[i])) {
                reply_int(c, 0);
                return;
            }
        }
    }
    for (int i = 1; i < c->argc; i += 2)
        set_key(c, c->argv[i], c->argvlen[i], c->argv[i + 1], c->argvlen[i + 1],
                str_enc(c->argv[i + 1], c->argvlen[i + 1]), false, -1);
    if (nx)
        reply_int(c, 1);
    else
        reply_ok(c);
}

void mset_command(client *c) {
    mset_generic(c, false);
}

void msetnx_command(client *c) {
    mset_generic(c, true);
}

/* ---- APPEND, SETRANGE, GETRANGE, STRLEN ---- */

static bool check_len_or_reply(client *c, unsigned long long total) {
    if (total > cfg.proto_max_bulk_len) {
        reply_error(c, ERR_STRING_TOO_BIG);
        return false;
    }
    return true;
}

/* Makes ref's string value raw (a growable sstr) and returns it (shared
 * with the bitmap and HyperLogLog commands through server.h). */
sstr *str_make_raw(kref *r) {
    kentry *e = r->e;
    if (kentry_enc(e) == ENC_RAW) return kentry_ptr(e);
    size_t n, kl;
    const char *v = kentry_str(e, &n);
    const char *k = kentry_key(e, &kl);
    sstr *s = sstr_new(v, n);
    kentry *ne = kentry_new_ptr(k, kl, OBJ_STRING, ENC_RAW, s, kentry_expire(e));
    kentry_set_lru(ne, kentry_lru(e));
    kdb_replace(r, ne);
    kentry_free(e);
    return s;
}

void append_command(client *c) {
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    size_t total;
    if (!e) {
        const char *v = c->argv[2];
        size_t n = c->argvlen[2];
        kdb_add(c->db, kentry_new_str(c->argv[1], c->argvlen[1], v, n, str_enc(v, n), -1));
        total = n;
    } else {
        size_t cur;
        kentry_str(e, &cur);
        if (!check_len_or_reply(c, (unsigned long long)cur + c->argvlen[2])) return;
        sstr *s = str_make_raw(&r);
        sstr *ns = sstr_cat(s, c->argv[2], c->argvlen[2]);
        if (ns != s) kentry_set_ptr(r.e, ns);
        total = ns->len;
    }
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "append", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_int(c, (long long)total);
}

void strlen_command(client *c) {
    const char *v;
    size_t n;
    bool found;
    if (!get_string_or_reply(c, 1, &v, &n, &found)) return;
    reply_int(c, found ? (long long)n : 0);
}

void setrange_command(client *c) {
    long long off;
    if (!arg_ll_or_reply(c, 2, &off, NULL)) return;
    if (off < 0) {
        reply_error(c, "ERR offset is out of range");
        return;
    }
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    size_t vlen = c->argvlen[3];
    size_t cur = 0;
    if (e) kentry_str(e, &cur);
    if (vlen == 0) {
        reply_int(c, (long long)cur);
        return;
    }
    if (!check_len_or_reply(c, (unsigned long long)off + vlen)) return;
    if (!e) {
        sstr *s = sstr_new_cap((size_t)off + vlen);
        s = sstr_grow_zero(s, (size_t)off + vlen);
        memcpy(s->buf + off, c->argv[3], vlen);
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_STRING, ENC_RAW, s, -1));
        cur = s->len;
    } else {
        sstr *s = str_make_raw(&r);
        sstr *ns = sstr_grow_zero(s, (size_t)off + vlen);
        memcpy(ns->buf + off, c->argv[3], vlen);
        if (ns != s) kentry_set_ptr(r.e, ns);
        cur = ns->len;
    }
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "setrange", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_int(c, (long long)cur);
}

void getrange_command(client *c) {
    long long start, end;
    if (!arg_ll_or_reply(c, 2, &start, NULL) || !arg_ll_or_reply(c, 3, &end, NULL)) return;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_bulk(c, "", 0);
        return;
    }
    size_t n;
    const char *v = kentry_str(e, &n);
    long long len = (long long)n;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(c, "", 0);
        return;
    }
    if (start < 0) start = len + start;
    if (end < 0) end = len + end;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= len) end = len - 1;
    if (start > end || len == 0) {
        reply_bulk(c, "", 0);
        return;
    }
    reply_bulk(c, v + start, (size_t)(end - start + 1));
}

void substr_command(client *c) {
    getrange_command(c);
}

/* ---- counters ---- */

static void incr_generic(client *c, long long by) {
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    long long cur = 0;
    if (e) {
        size_t n;
        const char *v = kentry_str(e, &n);
        if (!sg_str2ll(v, n, &cur)) {
            reply_error(c, ERR_NOT_INT);
            return;
        }
    }
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
        (by > 0 && cur > 0 && by > LLONG_MAX - cur)) {
        reply_error(c, ERR_OVERFLOW);
        return;
    }
    long long nv = cur + by;
    char buf[32];
    int n = sg_ll2str(buf, sizeof(buf), nv);
    if (e && kentry_str_set_inplace(e, buf, (size_t)n, ENC_INT)) {
        kdb_touch(c->db, e);
    } else if (e) {
        kentry *ne =
            kentry_new_str(c->argv[1], c->argvlen[1], buf, (size_t)n, ENC_INT, kentry_expire(e));
        kentry_set_lru(ne, kentry_lru(e));
        kdb_replace(&r, ne);
        kentry_free(e);
    } else {
        kdb_add(c->db, kentry_new_str(c->argv[1], c->argvlen[1], buf, (size_t)n, ENC_INT, -1));
    }
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "incrby", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_int(c, nv);
}

void incr_command(client *c) {
    incr_generic(c, 1);
}

void decr_command(client *c) {
    incr_generic(c, -1);
}

void incrby_command(client *c) {
    long long by;
    if (!arg_ll_or_reply(c, 2, &by, NULL)) return;
    incr_generic(c, by);
}

void decrby_command(client *c) {
    long long by;
    if (!arg_ll_or_reply(c, 2, &by, NULL)) return;
    if (by == LLONG_MIN) {
        reply_error(c, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -by);
}

void incrbyfloat_command(client *c) {
    long double by, cur = 0;
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return;
    if (e) {
        size_t n;
        const char *v = kentry_str(e, &n);
        if (!sg_str2ld(v, n, &cur)) {
            reply_error(c, ERR_NOT_FLOAT);
            return;
        }
    }
    if (!arg_ld_or_reply(c, 2, &by, NULL)) return;
    long double nv = cur + by;
    char buf[SG_MAX_DOUBLE_CHARS];
    int n;
    if (isnan(nv) || isinf(nv) || (n = sg_ld2str(buf, sizeof(buf), nv)) == 0) {
        reply_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    int enc = (size_t)n <= KS_EMBSTR_MAX ? ENC_EMBSTR : ENC_RAW;
    if (e) {
        kentry *ne =
            kentry_new_str(c->argv[1], c->argvlen[1], buf, (size_t)n, enc, kentry_expire(e));
        kentry_set_lru(ne, kentry_lru(e));
        kdb_replace(&r, ne);
        kentry_free(e);
    } else {
        kdb_add(c->db, kentry_new_str(c->argv[1], c->argvlen[1], buf, (size_t)n, enc, -1));
    }
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "incrbyfloat", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_bulk(c, buf, (size_t)n);
}

/* ---- LCS ---- */

typedef struct lcs_range {
    long long a0, a1, b0, b1;
} lcs_range;

void lcs_command(client *c) {
    bool getlen = false, getidx = false, withmatchlen = false;
    long long minmatchlen = 0;
    kentry *ea = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], NULL, 0);
    kentry *eb = kdb_lookup_read(c->db, c->argv[2], c->argvlen[2], NULL, 0);
    if ((ea && kentry_type(ea) != OBJ_STRING) || (eb && kentry_type(eb) != OBJ_STRING)) {
        reply_error(c, "ERR The specified keys must contain string values");
        return;
    }
    for (int j = 3; j < c->argc; j++) {
        if (arg_is(c, j, "idx"))
            getidx = true;
        else if (arg_is(c, j, "len"))
            getlen = true;
        else if (arg_is(c, j, "withmatchlen"))
            withmatchlen = true;
        else if (arg_is(c, j, "minmatchlen") && j + 1 < c->argc) {
            if (!arg_ll_or_reply(c, j + 1, &minmatchlen, NULL)) return;
            if (minmatchlen < 0) minmatchlen = 0;
            j++;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (getlen && getidx) {
        reply_error(c, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    size_t alen = 0, blen = 0;
    const char *a = ea ? kentry_str(ea, &alen) : "";
    const char *b = eb ? kentry_str(eb, &blen) : "";
    if (alen >= UINT32_MAX - 1 || blen >= UINT32_MAX - 1) {
        reply_error(c, "ERR String too long for LCS");
        return;
    }
    unsigned long long cells = (unsigned long long)(alen + 1) * (blen + 1);
    if (cells > cfg.proto_max_bulk_len / sizeof(uint32_t)) {
        reply_error(c, "ERR Insufficient memory, transient memory for LCS exceeds "
                       "proto-max-bulk-len");
        return;
    }
    uint32_t *dp = sg_malloc(sizeof(uint32_t) * cells);
#define LCS(i, j) dp[(j) + (i) * (blen + 1)]
    for (size_t i = 0; i <= alen; i++) {
        for (size_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS(i, j) = LCS(i - 1, j - 1) + 1;
            else
                LCS(i, j) = LCS(i - 1, j) > LCS(i, j - 1) ? LCS(i - 1, j) : LCS(i, j - 1);
        }
    }
    uint32_t idx = LCS(alen, blen);
    if (getlen) {
        reply_int(c, idx);
        sg_free(dp);
        return;
    }
    char *result = getidx ? NULL : sg_malloc(idx + 1);
    lcs_range *ranges = NULL;
    size_t nranges = 0, rcap = 0;
    long long i = (long long)alen, j = (long long)blen;
    long long as = (long long)alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
    uint32_t k = idx;
    while (i > 0 && j > 0) {
        bool emit = false;
        if (a[i - 1] == b[j - 1]) {
            if (result) result[k - 1] = a[i - 1];
            if (as == (long long)alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--;
                bs--;
            } else {
                emit = true;
            }
            if (as == 0 || bs == 0) emit = true;
            k--;
            i--;
            j--;
        } else {
            uint32_t l1 = LCS(i - 1, j), l2 = LCS(i, j - 1);
            if (l1 > l2)
                i--;
            else
                j--;
            if (as != (long long)alen) emit = true;
        }
        if (emit) {
            long long mlen = ae - as + 1;
            if (getidx && (minmatchlen == 0 || mlen >= minmatchlen)) {
                if (nranges == rcap) {
                    rcap = rcap ? rcap * 2 : 16;
                    ranges = sg_realloc(ranges, sizeof(lcs_range) * rcap);
                }
                ranges[nranges++] = (lcs_range){as, ae, bs, be};
            }
            as = (long long)alen;
        }
    }
#undef LCS
    sg_free(dp);
    if (!getidx) {
        reply_bulk(c, result, idx);
        sg_free(result);
        return;
    }
    reply_map(c, 2);
    reply_bulk_cstr(c, "matches");
    reply_array(c, (long long)nranges);
    for (size_t m = 0; m < nranges; m++) {
        reply_array(c, withmatchlen ? 3 : 2);
        reply_array(c, 2);
        reply_int(c, ranges[m].a0);
        reply_int(c, ranges[m].a1);
        reply_array(c, 2);
        reply_int(c, ranges[m].b0);
        reply_int(c, ranges[m].b1);
        if (withmatchlen) reply_int(c, ranges[m].a1 - ranges[m].a0 + 1);
    }
    reply_bulk_cstr(c, "len");
    reply_int(c, idx);
    sg_free(ranges);
}
