/*
 * fuzz_acl: ACL rule parsing (src/security/acl.c), driven through the ACL
 * command handlers the way a client would: ACL SETUSER, GETUSER, LIST,
 * DRYRUN, DELUSER.
 *
 * The input is split on spaces and 0 bytes into rule tokens, which are
 * applied with ACL SETUSER to a fresh user "fz" (the command merges "(...)"
 * selector tokens itself). Then the user is described (ACL GETUSER, ACL
 * LIST), a few fixed commands are checked against it (ACL DRYRUN), and it is
 * deleted (ACL DELUSER), so nothing outlives the run.
 *
 * The commands run on a private client with a placeholder connection whose
 * replies are captured, never sent (as the AOF rewrite's capture client).
 * Property, beyond ASan/UBSan/LSan: what ACL LIST shows for "fz" is accepted
 * back by ACL SETUSER for a second user "fz2", and ACL LIST then shows the
 * same rules for it (operators and ACL SAVE copy rules that way).
 */
#include "../../src/security/acl.h"
#include "../../src/server/config.h"
#include "../../src/server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_acl: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_ARGS 256

static client *fc;
static sstr *out;
static char *argv_buf[MAX_ARGS];
static size_t argv_len[MAX_ARGS];

static void init_once(void) {
    if (fc) return;
    config_init_defaults();
    cfg.loglevel = SG_LOG_WARNING; /* quiet */
    sg_hash_seed_init();
    server_init_handlers();
    srv = sg_calloc(sizeof(server));
    srv->ks = ks_create((int)cfg.databases);
    ks_set_hook(srv->ks, server_keyspace_event, srv);
    config_apply_settings(srv);
    acl_init();
    fc = sg_calloc(sizeof(client));
    fc->srv = srv;
    fc->resp = 2;
    fc->db = ks_db(srv->ks, 0);
    fc->argv_cap = MAX_ARGS;
    fc->argv = argv_buf;
    fc->argvlen = argv_len;
    snprintf(fc->addr, sizeof(fc->addr), "fuzz");
    static char dummy_conn;
    fc->conn = (conn *)(void *)&dummy_conn; /* replies are captured, never sent */
    fc->flags |= CL_PENDING_WRITE;          /* never queued for writing */
    acl_client_init(fc);
    FUZZ_CHECK(fc->flags & CL_AUTHENTICATED);
    out = sstr_new_cap(4096);
}

/* Runs argv (n args, NUL-terminated copies are made) and returns the reply. */
static const sstr *run(int n, const char *const *a, const size_t *l) {
    FUZZ_CHECK(n <= MAX_ARGS);
    for (int i = 0; i < n; i++) {
        argv_buf[i] = sg_malloc(l[i] + 1);
        memcpy(argv_buf[i], a[i], l[i]);
        argv_buf[i][l[i]] = '\0';
        argv_len[i] = l[i];
    }
    fc->argc = n;
    fc->olen = fc->osent = 0;
    dispatch_command(fc);
    out->len = 0;
    out = sstr_cat(out, fc->obuf, fc->olen);
    for (rblock *b = fc->rhead, *nx; b; b = nx) {
        nx = b->next;
        out = sstr_cat(out, b->buf, b->used);
        sg_free(b);
    }
    fc->rhead = fc->rtail = NULL;
    fc->rbytes = 0;
    fc->olen = fc->osent = 0;
    for (int i = 0; i < n; i++) sg_free(argv_buf[i]);
    FUZZ_CHECK(!(fc->flags & CL_CLOSE_ASAP));
    return out;
}

static const sstr *runv(const char *const *a, int n) {
    size_t l[16];
    for (int i = 0; i < n; i++) l[i] = strlen(a[i]);
    return run(n, a, l);
}

/* The ACL LIST line of user `name` (without "user <name> "), or NULL. */
static sstr *list_line(const char *name) {
    const char *cmd[] = {"acl", "list"};
    const sstr *r = runv(cmd, 2);
    char want[64];
    int wl = snprintf(want, sizeof(want), "user %s ", name);
    size_t pos = 0;
    FUZZ_CHECK(r->len > 0 && r->buf[0] == '*');
    while (pos < r->len) {
        const char *nl = memchr(r->buf + pos, '\n', r->len - pos);
        FUZZ_CHECK(nl);
        if (r->buf[pos] == '$') {
            long long blen = atoll(r->buf + pos + 1);
            size_t start = (size_t)(nl - r->buf) + 1;
            FUZZ_CHECK(blen >= 0 && start + (size_t)blen + 2 <= r->len);
            if ((size_t)blen >= (size_t)wl && !memcmp(r->buf + start, want, (size_t)wl))
                return sstr_new(r->buf + start + wl, (size_t)blen - (size_t)wl);
            pos = start + (size_t)blen + 2;
        } else {
            pos = (size_t)(nl - r->buf) + 1;
        }
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    const char *p = (const char *)data;
    const char *a[MAX_ARGS];
    size_t l[MAX_ARGS];
    int n = 0;
    a[n] = "acl", l[n++] = 3;
    a[n] = "setuser", l[n++] = 7;
    a[n] = "fz", l[n++] = 2;
    for (size_t i = 0; i < size && n < MAX_ARGS;) {
        while (i < size && (p[i] == ' ' || p[i] == '\0')) i++;
        size_t s = i;
        while (i < size && p[i] != ' ' && p[i] != '\0') i++;
        if (i > s) a[n] = p + s, l[n++] = i - s;
    }
    const sstr *r = run(n, a, l);
    bool ok = r->len >= 3 && !memcmp(r->buf, "+OK", 3);
    FUZZ_CHECK(ok || (r->len > 0 && r->buf[0] == '-'));

    const char *getuser[] = {"acl", "getuser", "fz"};
    r = runv(getuser, 3);
    FUZZ_CHECK(r->len > 0 && r->buf[0] == (ok ? '*' : '$'));

    sstr *line = list_line("fz");
    FUZZ_CHECK((line != NULL) == ok);
    if (line) {
        /* Permission checks of a few fixed commands. */
        static const char *const checks[][6] = {
            {"acl", "dryrun", "fz", "get", "foo", NULL},
            {"acl", "dryrun", "fz", "set", "foo", "bar"},
            {"acl", "dryrun", "fz", "publish", "ch", "msg"},
            {"acl", "dryrun", "fz", "copy", "a", "b"},
            {"acl", "dryrun", "fz", "client", "kill", "id"},
            {"acl", "dryrun", "fz", "lmove", "src", "dst"},
            {"acl", "dryrun", "fz", "ping", NULL, NULL},
        };
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            int k = 0;
            while (k < 6 && checks[i][k]) k++;
            if (!strcmp(checks[i][3], "lmove")) {
                const char *lm[] = {"acl", "dryrun", "fz", "lmove", "src", "dst", "left", "right"};
                size_t ll[8];
                for (int j = 0; j < 8; j++) ll[j] = strlen(lm[j]);
                r = run(8, lm, ll);
            } else {
                r = runv(checks[i], k);
            }
            FUZZ_CHECK(r->len > 0 && (r->buf[0] == '+' || r->buf[0] == '$' || r->buf[0] == '-'));
        }

        /* Round trip: ACL LIST's rules, applied to a fresh user, read back the same. */
        const char *b[MAX_ARGS + 8];
        size_t bl[MAX_ARGS + 8];
        int m = 0;
        b[m] = "acl", bl[m++] = 3;
        b[m] = "setuser", bl[m++] = 7;
        b[m] = "fz2", bl[m++] = 3;
        for (size_t i = 0; i < line->len && m < MAX_ARGS + 8;) {
            while (i < line->len && line->buf[i] == ' ') i++;
            size_t s = i;
            while (i < line->len && line->buf[i] != ' ') i++;
            if (i > s) b[m] = line->buf + s, bl[m++] = i - s;
        }
        /* A listed line longer than the buffer (each selector lists its own
         * resetchannels and -@all) is not round-tripped: m > MAX_ARGS below. */
        /* A '(' or ')' inside a key/channel pattern makes the line
         * ambiguous (as in Redis): no round trip then. */
        bool ambiguous = false;
        for (int k = 3; k < n && !ambiguous; k++) {
            size_t s0 = l[k] && a[k][0] == '(' ? 1 : 0;
            size_t e0 = l[k] && a[k][l[k] - 1] == ')' ? l[k] - 1 : l[k];
            for (size_t j = s0; j < e0 && !ambiguous; j++)
                ambiguous = a[k][j] == '(' || a[k][j] == ')';
        }
        /* A read-write "*" pattern listed beside other key patterns reads
         * back as allkeys, which drops or refuses the others: Redis 7.0
         * lists and re-reads such users the same way, so no round trip. */
        int npat = 0;
        bool star = false;
        for (int k = 0; k < m; k++) {
            /* inside a selector too: "(~*" opens one, "~*)" closes one */
            const char *t = b[k];
            size_t tl = bl[k];
            if (tl && t[0] == '(') t++, tl--;
            if (tl && t[tl - 1] == ')') tl--;
            if (tl && (t[0] == '~' || t[0] == '%')) npat++;
            if (tl == 2 && !memcmp(t, "~*", 2)) star = true;
        }
        if (star && npat > 1) ambiguous = true;
        if (m <= MAX_ARGS && !ambiguous) {
            r = run(m, b, bl);
            if (!(r->len >= 3 && !memcmp(r->buf, "+OK", 3))) {
                fprintf(stderr, "fuzz_acl: ACL SETUSER refused ACL LIST's rules '%s': %.*s\n",
                        line->buf, (int)r->len, r->buf);
                abort();
            }
            sstr *line2 = list_line("fz2");
            FUZZ_CHECK(line2);
            if (line2->len != line->len || memcmp(line2->buf, line->buf, line->len)) {
                fprintf(stderr, "fuzz_acl: rules '%s' read back as '%s'\n", line->buf, line2->buf);
                abort();
            }
            sstr_free(line2);
        }
        sstr_free(line);
    }

    const char *del[] = {"acl", "deluser", "fz", "fz2"};
    r = runv(del, 4);
    FUZZ_CHECK(r->len > 0 && r->buf[0] == ':');
    const char *users[] = {"acl", "users"};
    r = runv(users, 2);
    FUZZ_CHECK(r->len >= 4 && !memcmp(r->buf, "*1\r\n", 4));
    return 0;
}
