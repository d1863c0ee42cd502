/*
 * ACLs: users, passwords, and what each user may run and touch, with Redis
 * 7.0's grammar (ACL SETUSER rules), replies (ACL GETUSER/LIST/LOG) and
 * checks.
 *
 * Model
 * -----
 * A user has flags (on/off, nopass, sanitize-payload), a list of password
 * hashes (SHA-256, lowercase hex, compared in constant time) and a list of
 * selectors. Selector 0 is the root selector, set by rules outside
 * parentheses; `(...)` appends another one. A command is allowed when any
 * selector allows it:
 *
 *     user --+-- root selector   commands bitmap (by command id)
 *            |                   first-args per command (+select|0)
 *            |                   key patterns with R/W flags, or allkeys
 *            |                   channel patterns, or allchannels
 *            +-- (selector 1) ...
 *
 * The bitmap is indexed by cmd_def id, subcommands included; `+@all` also
 * sets `future`, which is how the description tells "+@all -x" from
 * "-@all +everything-else" (Redis's reserved bit).
 *
 * Checks (acl_check_or_reply, ACL DRYRUN): the command bit (or a matching
 * first argument), then every key that cmd_get_keys finds, with the access
 * each key spec declares (access = read; insert, delete, update = write),
 * then the channels of PUBLISH/SPUBLISH/(S|P)SUBSCRIBE. Key positions come
 * from the same key specs the handlers' callers use, so a command cannot
 * reach a key the check did not see. When several selectors fail, the error
 * reported is Redis's: the "largest" error kind, then the last position.
 *
 * Rules are applied to a copy of the user and committed only if all of them
 * parse (ACL SETUSER is all or nothing). Users live in an array sorted by
 * name (ACL LIST and USERS order). Clients point at their user; deleting a
 * user (DELUSER, LOAD) closes its clients and clears the pointer first.
 *
 * Descriptions (GETUSER, LIST, SAVE) follow 7.0's algorithm: start from
 * +@all or -@all, add the categories that cover more than they miss, then
 * single commands for the difference, then first-args. One change: only
 * categories that the rules named are candidates. Redis weighs every
 * category over its full command table; Surge implements a subset, so an
 * unnamed category can look "mostly covered" here when it is not in Redis,
 * and naming only named ones keeps the descriptions equal to Redis's.
 */
#include "acl.h"

#include "../server/config.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum {
    USER_ON = 1 << 0,
    USER_NOPASS = 1 << 1,
    USER_SANITIZE = 1 << 2,
    USER_SKIP_SANITIZE = 1 << 3
};
enum { SEL_ROOT = 1 << 0, SEL_ALLKEYS = 1 << 1, SEL_ALLCHANNELS = 1 << 2 };
enum { PERM_R = 1 << 0, PERM_W = 1 << 1, PERM_RW = PERM_R | PERM_W };
enum { ACL_OK, ACL_DENIED_CMD, ACL_DENIED_KEY, ACL_DENIED_AUTH, ACL_DENIED_CHANNEL };
/* errno-like rule errors, mapped to Redis's texts by rule_error() */
enum {
    E_OK,
    E_NOENT,
    E_INVAL,
    E_ALLKEYS,
    E_ALLCHANNELS,
    E_NOPASSWD,
    E_BADHASH,
    E_CHILD,
};

typedef struct keypat {
    int flags; /* PERM_* */
    char *pat;
} keypat;

typedef struct selector {
    int flags;
    bool future;
    uint32_t cats; /* categories named by rules since the last +@all/-@all */
    uint8_t allowed[CMDID__COUNT];
    char **firstargs[CMDID__COUNT]; /* NULL-terminated lists, or NULL */
    keypat *keys;
    int nkeys;
    char **chans;
    int nchans;
} selector;

typedef struct acl_user {
    char *name;
    int flags;
    char (*pw)[65];
    int npw;
    selector **sels;
    int nsels;
} acl_user;

typedef struct log_entry {
    long long count;
    int reason, context;
    char *object, *username, *cinfo;
    int64_t ctime;
} log_entry;

static acl_user **users;
static int nusers;
static acl_user *default_user;
static log_entry **alog; /* newest first */
static int nlog;
static char *applied_requirepass;

/* ---- small helpers ---- */

static void sha256_hex(const char *p, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        sg_log(SG_LOG_WARNING, "SHA-256 failed in libcrypto");
        abort();
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* Constant-time equality of two 64-char hex hashes. */
static bool hash_eq(const char *a, const char *b) {
    volatile unsigned char diff = 0;
    for (int i = 0; i < 64; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool valid_hash(const char *s, size_t n) {
    if (n != 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* ---- selectors ---- */

static selector *sel_new(int flags) {
    selector *s = sg_calloc(sizeof(selector));
    s->flags = flags;
    return s;
}

static void firstargs_free(selector *s, int id) {
    if (!s->firstargs[id]) return;
    for (char **p = s->firstargs[id]; *p; p++) sg_free(*p);
    sg_free(s->firstargs[id]);
    s->firstargs[id] = NULL;
}

static void keys_reset(selector *s) {
    for (int i = 0; i < s->nkeys; i++) sg_free(s->keys[i].pat);
    sg_free(s->keys);
    s->keys = NULL;
    s->nkeys = 0;
}

static void chans_reset(selector *s) {
    for (int i = 0; i < s->nchans; i++) sg_free(s->chans[i]);
    sg_free(s->chans);
    s->chans = NULL;
    s->nchans = 0;
}

static void sel_free(selector *s) {
    if (!s) return;
    for (int i = 0; i < CMDID__COUNT; i++) firstargs_free(s, i);
    keys_reset(s);
    chans_reset(s);
    sg_free(s);
}

static selector *sel_dup(const selector *o) {
    selector *s = sg_malloc(sizeof(selector));
    *s = *o;
    for (int i = 0; i < CMDID__COUNT; i++) {
        if (!o->firstargs[i]) continue;
        int n = 0;
        while (o->firstargs[i][n]) n++;
        s->firstargs[i] = sg_malloc(sizeof(char *) * (size_t)(n + 1));
        for (int j = 0; j < n; j++) s->firstargs[i][j] = sg_strdup(o->firstargs[i][j]);
        s->firstargs[i][n] = NULL;
    }
    s->keys = o->nkeys ? sg_malloc(sizeof(keypat) * (size_t)o->nkeys) : NULL;
    for (int i = 0; i < o->nkeys; i++) {
        s->keys[i].flags = o->keys[i].flags;
        s->keys[i].pat = sg_strdup(o->keys[i].pat);
    }
    s->chans = o->nchans ? sg_malloc(sizeof(char *) * (size_t)o->nchans) : NULL;
    for (int i = 0; i < o->nchans; i++) s->chans[i] = sg_strdup(o->chans[i]);
    return s;
}

/* Sets or clears one command's bit; a container takes its subcommands along. */
static void sel_change_perm(selector *s, const cmd_def *d, bool allow) {
    s->allowed[d->id] = allow;
    firstargs_free(s, d->id);
    for (int i = 0; i < d->nsubs; i++) sel_change_perm(s, d->subs[i], allow);
}

static void sel_set_category(selector *s, uint32_t cat, bool allow) {
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_def *d = cmd_by_id(i);
        if (d && (d->acl & cat)) {
            s->allowed[i] = allow;
            firstargs_free(s, i);
        }
    }
}

static void sel_all(selector *s, bool allow) {
    memset(s->allowed, allow, sizeof(s->allowed));
    s->future = allow;
    s->cats = 0;
    for (int i = 0; i < CMDID__COUNT; i++) firstargs_free(s, i);
}

static int category_bit(const char *name) {
    for (int b = 0; b < ACL_BIT__COUNT; b++)
        if (!strcasecmp(cmd_acl_names[b], name)) return b;
    return -1;
}

/* "get", "client|id": the command by its full name. */
static const cmd_def *lookup_fullname(const char *name) {
    const char *bar = strchr(name, '|');
    if (!bar) {
        const cmd_def *d = cmd_lookup(name, strlen(name));
        return d;
    }
    const cmd_def *p = cmd_lookup(name, (size_t)(bar - name));
    if (!p || !p->nsubs || strchr(bar + 1, '|')) return NULL;
    return cmd_lookup_sub(p, bar + 1, strlen(bar + 1));
}

static void add_firstarg(selector *s, int id, const char *arg) {
    int n = 0;
    if (s->firstargs[id])
        for (; s->firstargs[id][n]; n++)
            if (!strcasecmp(s->firstargs[id][n], arg)) return;
    s->firstargs[id] = sg_realloc(s->firstargs[id], sizeof(char *) * (size_t)(n + 2));
    s->firstargs[id][n] = sg_strdup(arg);
    s->firstargs[id][n + 1] = NULL;
}

/* One rule on a selector. Returns E_*. */
static int sel_apply(selector *s, const char *op, size_t oplen) {
    if (!strcasecmp(op, "allkeys") || !strcmp(op, "~*")) {
        keys_reset(s);
        s->flags |= SEL_ALLKEYS;
    } else if (!strcasecmp(op, "resetkeys")) {
        keys_reset(s);
        s->flags &= ~SEL_ALLKEYS;
    } else if (!strcasecmp(op, "allchannels") || !strcmp(op, "&*")) {
        chans_reset(s);
        s->flags |= SEL_ALLCHANNELS;
    } else if (!strcasecmp(op, "resetchannels")) {
        chans_reset(s);
        s->flags &= ~SEL_ALLCHANNELS;
    } else if (!strcasecmp(op, "allcommands") || !strcasecmp(op, "+@all")) {
        sel_all(s, true);
    } else if (!strcasecmp(op, "nocommands") || !strcasecmp(op, "-@all")) {
        sel_all(s, false);
    } else if (op[0] == '~' || op[0] == '%') {
        if (s->flags & SEL_ALLKEYS) return E_ALLKEYS;
        int flags = 0;
        size_t off = 1;
        if (op[0] == '%') {
            for (; off < oplen; off++) {
                char ch = op[off];
                if ((ch == 'R' || ch == 'r') && !(flags & PERM_R))
                    flags |= PERM_R;
                else if ((ch == 'W' || ch == 'w') && !(flags & PERM_W))
                    flags |= PERM_W;
                else if (ch == '~') {
                    off++;
                    break;
                } else
                    return E_INVAL;
            }
        } else {
            flags = PERM_RW;
        }
        if (!flags) return E_INVAL;
        const char *pat = off < oplen ? op + off : ""; /* "~" and "%R": the empty pattern */
        for (int i = 0; i < s->nkeys; i++) {
            if (!strcmp(s->keys[i].pat, pat)) {
                s->keys[i].flags |= flags;
                return E_OK;
            }
        }
        s->keys = sg_realloc(s->keys, sizeof(keypat) * (size_t)(s->nkeys + 1));
        s->keys[s->nkeys].flags = flags;
        s->keys[s->nkeys].pat = sg_strdup(pat);
        s->nkeys++;
        s->flags &= ~SEL_ALLKEYS;
    } else if (op[0] == '&') {
        if (s->flags & SEL_ALLCHANNELS) return E_ALLCHANNELS;
        for (int i = 0; i < s->nchans; i++)
            if (!strcmp(s->chans[i], op + 1)) return E_OK;
        s->chans = sg_realloc(s->chans, sizeof(char *) * (size_t)(s->nchans + 1));
        s->chans[s->nchans++] = sg_strdup(op + 1);
    } else if ((op[0] == '+' || op[0] == '-') && op[1] == '@') {
        int b = category_bit(op + 2);
        if (b < 0) return E_NOENT;
        sel_set_category(s, 1u << b, op[0] == '+');
        s->cats |= 1u << b;
    } else if (op[0] == '+' || op[0] == '-') {
        bool allow = op[0] == '+';
        const char *bar = strrchr(op + 1, '|');
        if (!bar) {
            const cmd_def *d = lookup_fullname(op + 1);
            if (!d) return E_NOENT;
            sel_change_perm(s, d, allow);
            return E_OK;
        }
        if (!allow) {
            const cmd_def *d = lookup_fullname(op + 1);
            if (!d) return E_NOENT;
            sel_change_perm(s, d, false);
            return E_OK;
        }
        char *copy = sg_strdup(op + 1);
        char *sub = strrchr(copy, '|');
        *sub++ = '\0';
        const cmd_def *d = lookup_fullname(copy);
        int rc = E_OK;
        if (!d)
            rc = E_NOENT;
        else if (d->parent)
            rc = E_CHILD;
        else if (!*sub)
            rc = E_INVAL;
        else if (d->nsubs) {
            const cmd_def *sd = cmd_lookup_sub(d, sub, strlen(sub));
            if (!sd)
                rc = E_NOENT;
            else
                sel_change_perm(s, sd, true);
        } else {
            add_firstarg(s, d->id, sub);
        }
        sg_free(copy);
        return rc;
    } else {
        return E_INVAL;
    }
    return E_OK;
}

/* Splits "a b c" (a selector's inside) on spaces and applies each rule. */
static int sel_apply_all(selector *s, const char *text, size_t len) {
    char *buf = sg_malloc(len + 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
    int rc = E_OK;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok && rc == E_OK;
         tok = strtok_r(NULL, " \t", &save))
        rc = sel_apply(s, tok, strlen(tok));
    sg_free(buf);
    return rc;
}

/* ---- users ---- */

static acl_user *user_new(const char *name) {
    acl_user *u = sg_calloc(sizeof(acl_user));
    u->name = sg_strdup(name);
    u->sels = sg_malloc(sizeof(selector *));
    u->sels[0] = sel_new(SEL_ROOT);
    u->nsels = 1;
    return u;
}

static void user_free(acl_user *u) {
    if (!u) return;
    for (int i = 0; i < u->nsels; i++) sel_free(u->sels[i]);
    sg_free(u->sels);
    sg_free(u->pw);
    sg_free(u->name);
    sg_free(u);
}

static acl_user *user_dup(const acl_user *o) {
    acl_user *u = sg_calloc(sizeof(acl_user));
    u->name = sg_strdup(o->name);
    u->flags = o->flags;
    u->npw = o->npw;
    if (o->npw) {
        u->pw = sg_malloc(sizeof(*u->pw) * (size_t)o->npw);
        memcpy(u->pw, o->pw, sizeof(*u->pw) * (size_t)o->npw);
    }
    u->nsels = o->nsels;
    u->sels = sg_malloc(sizeof(selector *) * (size_t)o->nsels);
    for (int i = 0; i < o->nsels; i++) u->sels[i] = sel_dup(o->sels[i]);
    return u;
}

/* Moves src's contents into dst (which keeps its identity), frees src. */
static void user_replace(acl_user *dst, acl_user *src) {
    for (int i = 0; i < dst->nsels; i++) sel_free(dst->sels[i]);
    sg_free(dst->sels);
    sg_free(dst->pw);
    dst->flags = src->flags;
    dst->pw = src->pw;
    dst->npw = src->npw;
    dst->sels = src->sels;
    dst->nsels = src->nsels;
    sg_free(src->name);
    sg_free(src);
}

static void user_clear_selectors(acl_user *u) {
    for (int i = 1; i < u->nsels; i++) sel_free(u->sels[i]);
    u->nsels = 1;
}

static void pw_add(acl_user *u, const char *hex) {
    for (int i = 0; i < u->npw; i++)
        if (!strcmp(u->pw[i], hex)) return;
    u->pw = sg_realloc(u->pw, sizeof(*u->pw) * (size_t)(u->npw + 1));
    memcpy(u->pw[u->npw++], hex, 65);
}

static bool pw_del(acl_user *u, const char *hex) {
    for (int i = 0; i < u->npw; i++) {
        if (!strcmp(u->pw[i], hex)) {
            memmove(u->pw + i, u->pw + i + 1, sizeof(*u->pw) * (size_t)(u->npw - i - 1));
            u->npw--;
            return true;
        }
    }
    return false;
}

/* One ACL SETUSER argument (a selector "(...)" is one argument). */
static int user_apply(acl_user *u, const char *op, size_t oplen) {
    if (!strcasecmp(op, "on")) {
        u->flags |= USER_ON;
    } else if (!strcasecmp(op, "off")) {
        u->flags &= ~USER_ON;
    } else if (!strcasecmp(op, "skip-sanitize-payload")) {
        u->flags = (u->flags | USER_SKIP_SANITIZE) & ~USER_SANITIZE;
    } else if (!strcasecmp(op, "sanitize-payload")) {
        u->flags = (u->flags | USER_SANITIZE) & ~USER_SKIP_SANITIZE;
    } else if (!strcasecmp(op, "nopass")) {
        u->flags |= USER_NOPASS;
        u->npw = 0;
    } else if (!strcasecmp(op, "resetpass")) {
        u->flags &= ~USER_NOPASS;
        u->npw = 0;
    } else if (op[0] == '>' || op[0] == '<') {
        char hex[65];
        sha256_hex(op + 1, oplen - 1, hex);
        if (op[0] == '>') {
            pw_add(u, hex);
            u->flags &= ~USER_NOPASS;
        } else if (!pw_del(u, hex)) {
            return E_NOPASSWD;
        }
    } else if (op[0] == '#' || op[0] == '!') {
        if (!valid_hash(op + 1, oplen - 1)) return E_BADHASH;
        if (op[0] == '#') {
            pw_add(u, op + 1);
            u->flags &= ~USER_NOPASS;
        } else if (!pw_del(u, op + 1)) {
            return E_NOPASSWD;
        }
    } else if (op[0] == '(' && oplen >= 2 && op[oplen - 1] == ')') {
        selector *s = sel_new(0);
        int rc = sel_apply_all(s, op + 1, oplen - 2);
        if (rc != E_OK) {
            sel_free(s);
            return rc;
        }
        u->sels = sg_realloc(u->sels, sizeof(selector *) * (size_t)(u->nsels + 1));
        u->sels[u->nsels++] = s;
    } else if (!strcasecmp(op, "clearselectors")) {
        user_clear_selectors(u);
    } else if (!strcasecmp(op, "reset")) {
        u->flags &= ~USER_NOPASS;
        u->npw = 0;
        sel_apply(u->sels[0], "resetkeys", 9);
        sel_apply(u->sels[0], "resetchannels", 13);
        u->flags &= ~USER_ON;
        u->flags = (u->flags | USER_SANITIZE) & ~USER_SKIP_SANITIZE;
        user_clear_selectors(u);
        sel_all(u->sels[0], false);
    } else {
        return sel_apply(u->sels[0], op, oplen);
    }
    return E_OK;
}

static const char *rule_error(int e) {
    switch (e) {
    case E_NOENT:
        return "Unknown command or category name in ACL";
    case E_ALLKEYS:
        return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
               "does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
    case E_ALLCHANNELS:
        return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and "
               "does not have any effect. Try 'resetchannels' to start with an empty list of "
               "channels";
    case E_NOPASSWD:
        return "The password you are trying to remove from the user does not exist";
    case E_BADHASH:
        return "The password hash must be exactly 64 characters and contain only lowercase "
               "hexadecimal characters";
    case E_CHILD:
        return "Allowing first-arg of a subcommand is not supported";
    default:
        return "Syntax error";
    }
}

static int user_index(const char *name, bool *found) {
    int lo = 0, hi = nusers;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int r = strcmp(users[mid]->name, name);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static acl_user *user_get(const char *name) {
    bool found;
    int i = user_index(name, &found);
    return found ? users[i] : NULL;
}

static void user_insert(acl_user *u) {
    bool found;
    int i = user_index(u->name, &found);
    users = sg_realloc(users, sizeof(acl_user *) * (size_t)(nusers + 1));
    memmove(users + i + 1, users + i, sizeof(acl_user *) * (size_t)(nusers - i));
    users[i] = u;
    nusers++;
}

/* Closes every client bound to u and unbinds it (u is about to go). */
static void kill_user_clients(acl_user *u, client *self) {
    if (!srv) return;
    for (client *x = srv->clients; x; x = x->next) {
        if (x->user != u) continue;
        x->user = NULL;
        x->flags &= ~CL_AUTHENTICATED;
        if (x == self)
            x->flags |= CL_CLOSE_AFTER_REPLY;
        else
            client_close_async(x);
    }
}

static void make_default(acl_user *u) {
    u->flags = USER_ON | USER_NOPASS;
    sel_all(u->sels[0], true);
    u->sels[0]->flags |= SEL_ALLKEYS | SEL_ALLCHANNELS;
}

void acl_init(void) {
    if (default_user) return;
    cmd_table_init();
    default_user = user_new("default");
    make_default(default_user);
    user_insert(default_user);
    acl_sync_requirepass();
}

void acl_sync_requirepass(void) {
    if (!default_user) {
        acl_init();
        return;
    }
    const char *rp = cfg.requirepass ? cfg.requirepass : "";
    if (applied_requirepass && !strcmp(applied_requirepass, rp)) return;
    sg_free(applied_requirepass);
    applied_requirepass = sg_strdup(rp);
    default_user->npw = 0;
    default_user->flags &= ~USER_NOPASS;
    if (rp[0]) {
        char hex[65];
        sha256_hex(rp, strlen(rp), hex);
        pw_add(default_user, hex);
    } else {
        default_user->flags |= USER_NOPASS;
    }
}

bool acl_default_nopass(void) {
    acl_init();
    return (default_user->flags & USER_NOPASS) && (default_user->flags & USER_ON);
}

void acl_client_init(client *c) {
    acl_init();
    c->user = default_user;
    if (acl_default_nopass())
        c->flags |= CL_AUTHENTICATED;
    else
        c->flags &= ~CL_AUTHENTICATED;
}

const char *acl_client_username(const client *c) {
    return c->user ? c->user->name : "default";
}

bool acl_user_exists(const char *name) {
    acl_init();
    return user_get(name) != NULL;
}

/* ---- descriptions ---- */

static sstr *cat_keypat(sstr *o, const keypat *k) {
    if (k->flags == PERM_R)
        o = sstr_cat(o, "%R~", 3);
    else if (k->flags == PERM_W)
        o = sstr_cat(o, "%W~", 3);
    else
        o = sstr_cat(o, "~", 1);
    return sstr_cat(o, k->pat, strlen(k->pat));
}

static sstr *describe_keys(const selector *s, sstr *o) {
    if (s->flags & SEL_ALLKEYS) return sstr_cat(o, "~*", 2);
    for (int i = 0; i < s->nkeys; i++) {
        if (i) o = sstr_cat(o, " ", 1);
        o = cat_keypat(o, &s->keys[i]);
    }
    return o;
}

static sstr *describe_channels(const selector *s, sstr *o) {
    if (s->flags & SEL_ALLCHANNELS) return sstr_cat(o, "&*", 2);
    for (int i = 0; i < s->nchans; i++) {
        if (i) o = sstr_cat(o, " ", 1);
        o = sstr_catfmt(o, "&%s", s->chans[i]);
    }
    return o;
}

static void count_category(const selector *s, uint32_t cat, long *on, long *off) {
    *on = *off = 0;
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_def *d = cmd_by_id(i);
        if (!d || !(d->acl & cat)) continue;
        if (s->allowed[i])
            (*on)++;
        else
            (*off)++;
    }
}

/* Redis 7.0's ACLDescribeSelectorCommandRules. */
static sstr *describe_commands(const selector *s, sstr *o) {
    selector *fake = sel_new(0), *temp = sel_new(0);
    bool additive = !s->future;
    o = sstr_cat(o, additive ? "-@all " : "+@all ", 6);
    sel_all(fake, !additive);
    memcpy(temp->allowed, s->allowed, sizeof(s->allowed));
    for (int b = 0; b < ACL_BIT__COUNT; b++) {
        long on, off;
        if (!(s->cats & (1u << b))) continue;
        count_category(temp, 1u << b, &on, &off);
        if ((additive && on > off) || (!additive && off > on)) {
            sel_set_category(fake, 1u << b, additive);
            sel_set_category(temp, 1u << b, !additive);
            o = sstr_catfmt(o, "%c@%s ", additive ? '+' : '-', cmd_acl_names[b]);
        }
    }
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_def *d = cmd_by_id(i);
        if (!d) continue;
        bool ub = s->allowed[i], fb = fake->allowed[i];
        if (ub != fb) {
            o = sstr_catfmt(o, "%c%s ", ub ? '+' : '-', d->fullname);
            sel_change_perm(fake, d, ub); /* a container takes its subcommands along */
        }
        if (!ub && s->firstargs[i])
            for (char **p = s->firstargs[i]; *p; p++)
                o = sstr_catfmt(o, "+%s|%s ", d->fullname, *p);
    }
    sel_free(fake);
    sel_free(temp);
    o->len--; /* the final space */
    o->buf[o->len] = '\0';
    return o;
}

static sstr *describe_selector(const selector *s, sstr *o) {
    if (s->flags & SEL_ALLKEYS)
        o = sstr_cat(o, "~* ", 3);
    else
        for (int i = 0; i < s->nkeys; i++) o = sstr_cat(cat_keypat(o, &s->keys[i]), " ", 1);
    if (s->flags & SEL_ALLCHANNELS)
        o = sstr_cat(o, "&* ", 3);
    else {
        o = sstr_cat(o, "resetchannels ", 14);
        for (int i = 0; i < s->nchans; i++) o = sstr_catfmt(o, "&%s ", s->chans[i]);
    }
    return describe_commands(s, o);
}

static sstr *describe_user(const acl_user *u, sstr *o) {
    o = sstr_cat(o, u->flags & USER_ON ? "on " : "off ", u->flags & USER_ON ? 3 : 4);
    if (u->flags & USER_NOPASS) o = sstr_cat(o, "nopass ", 7);
    if (u->flags & USER_SKIP_SANITIZE) o = sstr_cat(o, "skip-sanitize-payload ", 22);
    if (u->flags & USER_SANITIZE) o = sstr_cat(o, "sanitize-payload ", 17);
    for (int i = 0; i < u->npw; i++) o = sstr_catfmt(o, "#%s ", u->pw[i]);
    o = describe_selector(u->sels[0], o);
    for (int i = 1; i < u->nsels; i++) {
        o = sstr_cat(o, " (", 2);
        o = describe_selector(u->sels[i], o);
        o = sstr_cat(o, ")", 1);
    }
    return o;
}

/* ---- checks ---- */

static bool key_allowed(const selector *s, const char *k, size_t klen, uint32_t ksflags) {
    if (s->flags & SEL_ALLKEYS) return true;
    int need = 0;
    if (ksflags & (1u << KS_BIT_ACCESS)) need |= PERM_R;
    if (ksflags & ((1u << KS_BIT_INSERT) | (1u << KS_BIT_DELETE) | (1u << KS_BIT_UPDATE)))
        need |= PERM_W;
    for (int i = 0; i < s->nkeys; i++) {
        if ((s->keys[i].flags & need) != need) continue;
        if (sg_glob_match(s->keys[i].pat, strlen(s->keys[i].pat), k, klen, false)) return true;
    }
    return false;
}

static bool channel_allowed(const selector *s, const char *ch, size_t len, bool is_pattern) {
    if (s->flags & SEL_ALLCHANNELS) return true;
    for (int i = 0; i < s->nchans; i++) {
        size_t plen = strlen(s->chans[i]);
        if (is_pattern) {
            if (plen == len && !memcmp(s->chans[i], ch, len)) return true;
        } else if (sg_glob_match(s->chans[i], plen, ch, len, false)) {
            return true;
        }
    }
    return false;
}

typedef struct keycache {
    bool init;
    int n;
    int *pos;
    uint32_t *flags;
} keycache;

static int selector_check(const selector *s, const cmd_def *d, int argc, char **argv, size_t *lens,
                          int *errpos, keycache *kc) {
    if (!s->allowed[d->id]) {
        char **fa = s->firstargs[d->id];
        int idx = d->parent ? 2 : 1;
        if (!fa || argc <= idx) return ACL_DENIED_CMD;
        bool hit = false;
        for (; *fa && !hit; fa++) hit = !strcasecmp(*fa, argv[idx]);
        if (!hit) return ACL_DENIED_CMD;
    }
    if (!(s->flags & SEL_ALLKEYS)) {
        if (!kc->init) {
            kc->init = true;
            kc->pos = sg_malloc(sizeof(int) * (size_t)(argc + 1));
            kc->flags = sg_malloc(sizeof(uint32_t) * (size_t)(argc + 1));
            kc->n = cmd_get_keys(d, argc, (const char *const *)argv, lens, kc->pos, kc->flags,
                                 argc + 1);
            if (kc->n < 0) kc->n = 0; /* the command itself refuses these arguments */
        }
        for (int j = 0; j < kc->n; j++) {
            int p = kc->pos[j];
            if (!key_allowed(s, argv[p], lens[p], kc->flags[j])) {
                *errpos = p;
                return ACL_DENIED_KEY;
            }
        }
    }
    if (!(s->flags & SEL_ALLCHANNELS)) {
        int first = 1, last = 0;
        bool pattern = false;
        switch (d->id) {
        case CMDID_publish:
        case CMDID_spublish:
            last = 1;
            break;
        case CMDID_subscribe:
        case CMDID_ssubscribe:
            last = argc - 1;
            break;
        case CMDID_psubscribe:
            last = argc - 1;
            pattern = true;
            break;
        default:
            break;
        }
        for (int j = first; j <= last && j < argc; j++) {
            if (!channel_allowed(s, argv[j], lens[j], pattern)) {
                *errpos = j;
                return ACL_DENIED_CHANNEL;
            }
        }
    }
    return ACL_OK;
}

static int user_check(const acl_user *u, const cmd_def *d, int argc, char **argv, size_t *lens,
                      int *errpos) {
    *errpos = 0;
    if (!u) return ACL_DENIED_CMD; /* its user was deleted: the client is closing */
    int relevant = ACL_DENIED_CMD, last = 0;
    keycache kc = {0};
    int rc = -1;
    for (int i = 0; i < u->nsels; i++) {
        int pos = 0;
        int r = selector_check(u->sels[i], d, argc, argv, lens, &pos, &kc);
        if (r == ACL_OK) {
            rc = ACL_OK;
            break;
        }
        if (r > relevant || (r == relevant && pos > last)) {
            relevant = r;
            last = pos;
        }
    }
    sg_free(kc.pos);
    sg_free(kc.flags);
    if (rc == ACL_OK) return ACL_OK;
    *errpos = last;
    return relevant;
}

static sstr *error_message(int r, const cmd_def *d, const char *arg, bool verbose, sstr *o) {
    switch (r) {
    case ACL_DENIED_CMD:
        return sstr_catfmt(o, "%s user has no permissions to run the '%s' command",
                           verbose ? "This" : "this", d->fullname);
    case ACL_DENIED_KEY:
        if (verbose)
            return sstr_catfmt(o, "This user has no permissions to access the '%s' key", arg);
        return sstr_catfmt(o, "this user has no permissions to access one of the keys used as "
                              "arguments");
    default:
        if (verbose)
            return sstr_catfmt(o, "This user has no permissions to access the '%s' channel", arg);
        return sstr_catfmt(o, "this user has no permissions to access one of the channels used "
                              "as arguments");
    }
}

/* ---- ACL LOG ---- */

enum { CTX_TOPLEVEL, CTX_MULTI };

static void log_free(log_entry *e) {
    sg_free(e->object);
    sg_free(e->username);
    sg_free(e->cinfo);
    sg_free(e);
}

static void log_add(client *c, int reason, const char *object, const char *username) {
    int ctx = (c->flags & CL_MULTI) ? CTX_MULTI : CTX_TOPLEVEL;
    int64_t now = sg_mstime();
    sstr *ci = client_info_line(c, sstr_new("", 0));
    for (int i = 0; i < nlog && i < 10; i++) {
        log_entry *e = alog[i];
        if (e->reason == reason && e->context == ctx && now - e->ctime <= 60000 &&
            !strcmp(e->object, object) && !strcmp(e->username, username)) {
            e->count++;
            e->ctime = now;
            sg_free(e->cinfo);
            e->cinfo = sg_strdup(ci->buf);
            sstr_free(ci);
            memmove(alog + 1, alog, sizeof(log_entry *) * (size_t)i);
            alog[0] = e;
            return;
        }
    }
    log_entry *e = sg_calloc(sizeof(log_entry));
    e->count = 1;
    e->reason = reason;
    e->context = ctx;
    e->object = sg_strdup(object);
    e->username = sg_strdup(username);
    e->cinfo = sg_strdup(ci->buf);
    e->ctime = now;
    sstr_free(ci);
    alog = sg_realloc(alog, sizeof(log_entry *) * (size_t)(nlog + 1));
    memmove(alog + 1, alog, sizeof(log_entry *) * (size_t)nlog);
    alog[0] = e;
    nlog++;
    long long max = cfg.acllog_max_len;
    while (nlog > 0 && nlog > max) log_free(alog[--nlog]);
}

static void log_reset(void) {
    for (int i = 0; i < nlog; i++) log_free(alog[i]);
    nlog = 0;
}

/* ---- hooks ---- */

bool acl_check_or_reply(client *c, const cmd_def *d) {
    int pos;
    int r = user_check(c->user, d, c->argc, c->argv, c->argvlen, &pos);
    if (r == ACL_OK) return true;
    const char *object = r == ACL_DENIED_CMD ? d->fullname : c->argv[pos];
    log_add(c, r, object, acl_client_username(c));
    bool exec_abort = d->id == CMDID_exec; /* Redis aborts the transaction */
    const char *pre = exec_abort ? "EXECABORT Transaction discarded because of: " : "";
    sstr *m = sstr_new(pre, strlen(pre));
    m = sstr_cat(m, "NOPERM ", 7);
    m = error_message(r, d, c->argv[pos], false, m);
    reply_error(c, m->buf);
    sstr_free(m);
    if (exec_abort && (c->flags & CL_MULTI)) {
        multi_discard(c);
        watch_unwatch_all(c);
    }
    return false;
}

bool acl_auth_or_reply(client *c, const char *user, size_t ulen, const char *pass, size_t plen) {
    acl_init();
    char *name = sg_malloc(ulen + 1);
    memcpy(name, user, ulen);
    name[ulen] = '\0';
    acl_user *u = memchr(user, '\0', ulen) ? NULL : user_get(name);
    bool ok = false;
    if (u && (u->flags & USER_ON)) {
        if (u->flags & USER_NOPASS) {
            ok = true;
        } else {
            char hex[65];
            sha256_hex(pass, plen, hex);
            bool hit = false;
            for (int i = 0; i < u->npw; i++) hit |= hash_eq(hex, u->pw[i]);
            ok = hit;
        }
    }
    if (ok) {
        c->user = u;
        c->flags |= CL_AUTHENTICATED;
    } else {
        sg_log(SG_LOG_VERBOSE, "Failed authentication from %s", c->addr);
        log_add(c, ACL_DENIED_AUTH, c->argc ? c->argv[0] : "auth", name);
        reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
    }
    sg_free(name);
    return ok;
}

/* ---- ACL SETUSER argument merging: "(a" "b)" -> "(a b)" ---- */

/* Returns the merged argument list (caller frees each and the array), or
 * NULL with *bad set to the index of an unterminated selector. */
static char **merge_selector_args(int argc, char **argv, size_t *lens, int *nout, int *bad) {
    char **out = sg_malloc(sizeof(char *) * (size_t)(argc + 1));
    int n = 0;
    sstr *acc = NULL;
    int start = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        size_t l = lens[i];
        if (acc) {
            acc = sstr_cat(acc, " ", 1);
            acc = sstr_cat(acc, a, l);
            if (l && a[l - 1] == ')') {
                out[n++] = sg_strdup(acc->buf);
                sstr_free(acc);
                acc = NULL;
            }
        } else if (l && a[0] == '(') {
            if (l > 1 && a[l - 1] == ')') {
                out[n++] = sg_strdup(a);
            } else {
                acc = sstr_new(a, l);
                start = i;
            }
        } else {
            out[n++] = sg_strdup(a);
        }
    }
    if (acc) {
        sstr_free(acc);
        for (int i = 0; i < n; i++) sg_free(out[i]);
        sg_free(out);
        *bad = start;
        return NULL;
    }
    *nout = n;
    return out;
}

static void free_args(char **a, int n) {
    for (int i = 0; i < n; i++) sg_free(a[i]);
    sg_free(a);
}

/* Applies rules to a copy of u (or a new user); on success returns the
 * staged user, else NULL with the failing rule and error. */
static acl_user *stage_user(const char *name, acl_user *u, int n, char **ops, int *bad, int *err) {
    acl_user *t = u ? user_dup(u) : user_new(name);
    for (int i = 0; i < n; i++) {
        int rc = user_apply(t, ops[i], strlen(ops[i]));
        if (rc != E_OK) {
            *bad = i;
            *err = rc;
            user_free(t);
            return NULL;
        }
    }
    return t;
}

static bool valid_username(const char *s, size_t n) {
    if (memchr(s, '\0', n)) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ') return false;
    return true;
}

/* ---- ACL file ---- */

static const char *NO_ACLFILE =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users "
    "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
    "configuration file set) in order to store users in the Redis configuration.";

static bool aclfile_set(void) {
    return cfg.aclfile && cfg.aclfile[0];
}

static int acl_save(void) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", cfg.aclfile, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        sg_log(SG_LOG_WARNING, "Opening temp ACL file for ACL SAVE: %s", strerror(errno));
        return -1;
    }
    bool ok = true;
    for (int i = 0; i < nusers; i++) {
        sstr *o = describe_user(users[i], sstr_catfmt(sstr_new("", 0), "user %s ", users[i]->name));
        ok &= fprintf(f, "%s\n", o->buf) >= 0;
        sstr_free(o);
    }
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, cfg.aclfile) != 0) {
        sg_log(SG_LOG_WARNING, "Writing the ACL file %s: %s", cfg.aclfile, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Reads cfg.aclfile into a new user set. All or nothing: on any error the
 * current users stay and err describes the first problem. */
static int acl_load(client *self, sstr **err) {
    FILE *f = fopen(cfg.aclfile, "r");
    if (!f) {
        *err = sstr_catfmt(sstr_new("", 0), "Error loading ACLs, opening file '%s': %s",
                           cfg.aclfile, strerror(errno));
        return -1;
    }
    acl_user **nu = NULL;
    int nn = 0;
    char line[65536];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
            line[--l] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        char *toks[4096];
        size_t tl[4096];
        int nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(p, " \t", &save); t && nt < 4096;
             t = strtok_r(NULL, " \t", &save)) {
            toks[nt] = t;
            tl[nt++] = strlen(t);
        }
        if (strcmp(toks[0], "user") || nt < 2) {
            *err = sstr_catfmt(sstr_new("", 0), "%s:%d should start with user keyword", cfg.aclfile,
                               lineno);
            rc = -1;
            break;
        }
        for (int i = 0; i < nn; i++) {
            if (!strcmp(nu[i]->name, toks[1])) {
                *err = sstr_catfmt(sstr_new("", 0), "%s:%d: Duplicate user '%s' found", cfg.aclfile,
                                   lineno, toks[1]);
                rc = -1;
            }
        }
        if (rc) break;
        int nops = 0, bad = 0, e = 0;
        char **ops = merge_selector_args(nt - 2, toks + 2, tl + 2, &nops, &bad);
        if (!ops) {
            *err = sstr_catfmt(sstr_new("", 0), "%s:%d: Unmatched parenthesis in acl selector",
                               cfg.aclfile, lineno);
            rc = -1;
            break;
        }
        acl_user *u = stage_user(toks[1], NULL, nops, ops, &bad, &e);
        if (!u) {
            *err = sstr_catfmt(sstr_new("", 0), "%s:%d: %s. ", cfg.aclfile, lineno, rule_error(e));
            rc = -1;
        } else {
            nu = sg_realloc(nu, sizeof(acl_user *) * (size_t)(nn + 1));
            nu[nn++] = u;
        }
        free_args(ops, nops);
    }
    fclose(f);
    if (rc != 0) {
        for (int i = 0; i < nn; i++) user_free(nu[i]);
        sg_free(nu);
        return -1;
    }
    /* Commit: the default user keeps its identity, the others are replaced
     * and their clients closed. */
    acl_user *newdef = NULL;
    for (int i = 0; i < nn; i++)
        if (!strcmp(nu[i]->name, "default")) newdef = nu[i];
    for (int i = 0; i < nusers; i++) {
        if (users[i] == default_user) continue;
        kill_user_clients(users[i], self);
        user_free(users[i]);
    }
    nusers = 0;
    if (newdef) {
        user_replace(default_user, newdef);
    } else {
        acl_user *d = user_new("default");
        make_default(d);
        user_replace(default_user, d);
    }
    user_insert(default_user);
    for (int i = 0; i < nn; i++)
        if (nu[i] != newdef) user_insert(nu[i]);
    sg_free(nu);
    return 0;
}

int acl_load_at_startup(void) {
    acl_init();
    if (!aclfile_set()) return 0;
    sstr *err = NULL;
    if (acl_load(NULL, &err) != 0) {
        sg_log(SG_LOG_WARNING, "Aborting Surge startup because of ACL errors: %s", err->buf);
        sstr_free(err);
        return -1;
    }
    return 0;
}

/* ---- the ACL command ---- */

static void reply_selector_fields(client *c, const selector *s, bool with_commands) {
    if (with_commands) {
        reply_bulk_cstr(c, "commands");
        sstr *o = describe_commands(s, sstr_new("", 0));
        reply_bulk(c, o->buf, o->len);
        sstr_free(o);
    }
    reply_bulk_cstr(c, "keys");
    sstr *k = describe_keys(s, sstr_new("", 0));
    reply_bulk(c, k->buf, k->len);
    sstr_free(k);
    reply_bulk_cstr(c, "channels");
    sstr *ch = describe_channels(s, sstr_new("", 0));
    reply_bulk(c, ch->buf, ch->len);
    sstr_free(ch);
}

void acl_setuser_command(client *c) {
    acl_init();
    c->redact = ~3ULL; /* passwords may be among the rules */
    const char *name = c->argv[2];
    if (!valid_username(name, c->argvlen[2])) {
        reply_error(c, "ERR Usernames can't contain spaces or null characters");
        return;
    }
    int n = 0, bad = 0, err = 0;
    char **ops = merge_selector_args(c->argc - 3, c->argv + 3, c->argvlen + 3, &n, &bad);
    if (!ops) {
        reply_errorf(c, "ERR Unmatched parenthesis in acl selector starting at '%s'.",
                     c->argv[bad + 3]);
        return;
    }
    acl_user *u = user_get(name);
    acl_user *t = stage_user(name, u, n, ops, &bad, &err);
    if (!t) {
        reply_errorf(c, "ERR Error in ACL SETUSER modifier '%s': %s", ops[bad], rule_error(err));
        free_args(ops, n);
        return;
    }
    free_args(ops, n);
    if (u)
        user_replace(u, t);
    else
        user_insert(t);
    reply_ok(c);
}

void acl_getuser_command(client *c) {
    acl_init();
    acl_user *u = user_get(c->argv[2]);
    if (!u) {
        reply_null(c);
        return;
    }
    reply_map(c, 6);
    reply_bulk_cstr(c, "flags");
    int nf = 1 + !!(u->flags & USER_NOPASS) + !!(u->flags & USER_SKIP_SANITIZE) +
             !!(u->flags & USER_SANITIZE);
    reply_set(c, nf);
    reply_bulk_cstr(c, u->flags & USER_ON ? "on" : "off");
    if (u->flags & USER_NOPASS) reply_bulk_cstr(c, "nopass");
    if (u->flags & USER_SKIP_SANITIZE) reply_bulk_cstr(c, "skip-sanitize-payload");
    if (u->flags & USER_SANITIZE) reply_bulk_cstr(c, "sanitize-payload");
    reply_bulk_cstr(c, "passwords");
    reply_array(c, u->npw);
    for (int i = 0; i < u->npw; i++) reply_bulk(c, u->pw[i], 64);
    reply_selector_fields(c, u->sels[0], true);
    reply_bulk_cstr(c, "selectors");
    reply_array(c, u->nsels - 1);
    for (int i = 1; i < u->nsels; i++) {
        reply_map(c, 3);
        reply_selector_fields(c, u->sels[i], true);
    }
}

void acl_deluser_command(client *c) {
    acl_init();
    long long deleted = 0;
    for (int j = 2; j < c->argc; j++) {
        if (!strcmp(c->argv[j], "default")) {
            reply_error(c, "ERR The 'default' user cannot be removed");
            return;
        }
    }
    for (int j = 2; j < c->argc; j++) {
        bool found;
        int i = user_index(c->argv[j], &found);
        if (!found) continue;
        acl_user *u = users[i];
        memmove(users + i, users + i + 1, sizeof(acl_user *) * (size_t)(nusers - i - 1));
        nusers--;
        kill_user_clients(u, c);
        user_free(u);
        deleted++;
    }
    reply_int(c, deleted);
}

void acl_list_command(client *c) {
    acl_init();
    reply_array(c, nusers);
    for (int i = 0; i < nusers; i++) {
        sstr *o = describe_user(users[i], sstr_catfmt(sstr_new("", 0), "user %s ", users[i]->name));
        reply_bulk(c, o->buf, o->len);
        sstr_free(o);
    }
}

void acl_users_command(client *c) {
    acl_init();
    reply_array(c, nusers);
    for (int i = 0; i < nusers; i++) reply_bulk_cstr(c, users[i]->name);
}

void acl_whoami_command(client *c) {
    reply_bulk_cstr(c, acl_client_username(c));
}

void acl_cat_command(client *c) {
    if (c->argc == 2) {
        reply_array(c, ACL_BIT__COUNT);
        for (int b = 0; b < ACL_BIT__COUNT; b++) reply_bulk_cstr(c, cmd_acl_names[b]);
        return;
    }
    int b = category_bit(c->argv[2]);
    if (b < 0) {
        reply_errorf(c, "ERR Unknown category '%.128s'", c->argv[2]);
        return;
    }
    long long n = 0;
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_def *d = cmd_by_id(i);
        if (d && (d->acl & (1u << b))) n++;
    }
    reply_array(c, n);
    for (int i = 0; i < CMDID__COUNT; i++) {
        const cmd_def *d = cmd_by_id(i);
        if (d && (d->acl & (1u << b))) reply_bulk_cstr(c, d->fullname);
    }
}

void acl_log_command(client *c) {
    long long count = 10;
    if (c->argc == 3) {
        if (arg_is(c, 2, "reset")) {
            log_reset();
            reply_ok(c);
            return;
        }
        if (!arg_ll_or_reply(c, 2, &count, NULL)) return;
        if (count < 0) count = 0;
    }
    static const char *const reasons[] = {"", "command", "key", "auth", "channel"};
    long long n = count < nlog ? count : nlog;
    int64_t now = sg_mstime();
    reply_array(c, n);
    for (long long i = 0; i < n; i++) {
        log_entry *e = alog[i];
        reply_map(c, 7);
        reply_bulk_cstr(c, "count");
        reply_int(c, e->count);
        reply_bulk_cstr(c, "reason");
        reply_bulk_cstr(c, reasons[e->reason]);
        reply_bulk_cstr(c, "context");
        reply_bulk_cstr(c, e->context == CTX_MULTI ? "multi" : "toplevel");
        reply_bulk_cstr(c, "object");
        reply_bulk_cstr(c, e->object);
        reply_bulk_cstr(c, "username");
        reply_bulk_cstr(c, e->username);
        reply_bulk_cstr(c, "age-seconds");
        reply_double(c, (double)(now - e->ctime) / 1000.0);
        reply_bulk_cstr(c, "client-info");
        reply_bulk_cstr(c, e->cinfo);
    }
}

void acl_save_command(client *c) {
    if (!aclfile_set()) {
        reply_error(c, NO_ACLFILE);
        return;
    }
    if (acl_save() != 0) {
        reply_error(c, "ERR There was an error trying to save the ACLs. Please check the server "
                       "logs for more information");
        return;
    }
    reply_ok(c);
}

void acl_load_command(client *c) {
    if (!aclfile_set()) {
        reply_error(c, NO_ACLFILE);
        return;
    }
    sstr *err = NULL;
    if (acl_load(c, &err) != 0) {
        reply_errorf(c, "ERR %s", err->buf);
        sstr_free(err);
        return;
    }
    reply_ok(c);
}

void acl_genpass_command(client *c) {
    long long bits = 256;
    if (c->argc == 3 &&
        (!sg_str2ll(c->argv[2], c->argvlen[2], &bits) || bits <= 0 || bits > 4096)) {
        reply_error(c, "ERR ACL GENPASS argument must be the number of bits for the output "
                       "password, a positive number up to 4096");
        return;
    }
    size_t chars = (size_t)(bits + 3) / 4;
    unsigned char raw[512];
    sg_random_bytes(raw, (chars + 1) / 2);
    char out[1025];
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < chars; i++) out[i] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
    reply_bulk(c, out, chars);
}

void acl_dryrun_command(client *c) {
    acl_init();
    acl_user *u = user_get(c->argv[2]);
    if (!u) {
        reply_errorf(c, "ERR User '%.128s' not found", c->argv[2]);
        return;
    }
    int argc = c->argc - 3;
    char **argv = c->argv + 3;
    size_t *lens = c->argvlen + 3;
    const cmd_def *d = cmd_lookup(argv[0], lens[0]);
    if (d && d->nsubs && argc >= 2) d = cmd_lookup_sub(d, argv[1], lens[1]);
    if (!d) {
        reply_errorf(c, "ERR Command '%.128s' not found", argv[0]);
        return;
    }
    if (!cmd_arity_ok(d, argc)) {
        reply_errorf(c, "ERR wrong number of arguments for '%s' command", d->fullname);
        return;
    }
    int pos;
    int r = user_check(u, d, argc, argv, lens, &pos);
    if (r != ACL_OK) {
        sstr *m = error_message(r, d, argv[pos], true, sstr_new("", 0));
        reply_bulk(c, m->buf, m->len);
        sstr_free(m);
        return;
    }
    reply_ok(c);
}

void acl_help_command(client *c) {
    static const char *const help[] = {
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        NULL};
    reply_help(c, "ACL", help);
}
