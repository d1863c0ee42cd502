/*
 * Connection commands: PING, ECHO, SELECT, QUIT, RESET, HELLO, AUTH and the
 * CLIENT family.
 *
 * Authentication is security/acl.c's: users, SHA-256 password hashes
 * compared in constant time; `requirepass` is the default user's password.
 */
#include "../security/acl.h"
#include "config.h"
#include "server.h"

#include <string.h>
#include <strings.h>

void ping_command(client *c) {
    if (c->argc > 2) {
        reply_error(c, "ERR wrong number of arguments for 'ping' command");
        return;
    }
    if (c->resp < 3 && pubsub_subscribed(c)) { /* RESP2 subscribed context */
        reply_array(c, 2);
        reply_bulk(c, "pong", 4);
        if (c->argc == 1)
            reply_bulk(c, "", 0);
        else
            reply_bulk(c, c->argv[1], c->argvlen[1]);
        return;
    }
    if (c->argc == 1)
        reply_status(c, "PONG");
    else
        reply_bulk(c, c->argv[1], c->argvlen[1]);
}

void echo_command(client *c) {
    reply_bulk(c, c->argv[1], c->argvlen[1]);
}

void select_command(client *c) {
    long long id;
    if (!sg_str2ll(c->argv[1], c->argvlen[1], &id) || id < INT32_MIN || id > INT32_MAX) {
        reply_error(c, ERR_NOT_INT);
        return;
    }
    if (id < 0 || id >= ks_ndb(c->srv->ks)) {
        reply_error(c, ERR_DB_INDEX);
        return;
    }
    c->dbid = (int)id;
    c->db = ks_db(c->srv->ks, c->dbid);
    reply_ok(c);
}

void quit_command(client *c) {
    c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP);
    reply_ok(c);
    c->flags |= CL_CLOSE_AFTER_REPLY;
}

/* Checks user/password (security/acl.c); returns true and binds c to the
 * user, or replies WRONGPASS and returns false. */
static bool try_auth(client *c, const char *user, size_t ulen, const char *pass, size_t plen) {
    return acl_auth_or_reply(c, user, ulen, pass, plen);
}

void auth_command(client *c) {
    c->redact = ~1ULL; /* every argument */
    if (c->argc > 3) {
        reply_syntax_error(c);
        return;
    }
    if (c->argc == 2) {
        if (acl_default_nopass()) {
            reply_error(c, "ERR AUTH <password> called without any password configured for the "
                           "default user. Are you sure your configuration is correct?");
            return;
        }
        if (try_auth(c, "default", 7, c->argv[1], c->argvlen[1])) reply_ok(c);
        return;
    }
    if (try_auth(c, c->argv[1], c->argvlen[1], c->argv[2], c->argvlen[2])) reply_ok(c);
}

static bool valid_name(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '!' || s[i] > '~') return false;
    return true;
}

static bool set_name_or_reply(client *c, const char *s, size_t n) {
    if (!valid_name(s, n)) {
        reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    sstr_free(c->name);
    c->name = n ? sstr_new(s, n) : NULL;
    return true;
}

void hello_command(client *c) {
    long long ver = 0;
    int next = 1;
    if (c->argc >= 2) {
        if (!sg_str2ll(c->argv[1], c->argvlen[1], &ver)) {
            reply_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        next = 2;
        if (ver < 2 || ver > 3) {
            reply_error(c, "NOPROTO unsupported protocol version");
            return;
        }
    }
    int auth_at = -1, name_at = -1;
    for (int j = next; j < c->argc; j++) {
        int left = c->argc - j - 1;
        if (!strcasecmp(c->argv[j], "auth") && left >= 2) {
            auth_at = j;
            j += 2;
        } else if (!strcasecmp(c->argv[j], "setname") && left >= 1) {
            name_at = j;
            j += 1;
        } else {
            reply_errorf(c, "ERR Syntax error in HELLO option '%s'", c->argv[j]);
            return;
        }
    }
    if (auth_at >= 0) c->redact |= (1ULL << (auth_at + 1)) | (1ULL << (auth_at + 2));
    if (auth_at >= 0 && !try_auth(c, c->argv[auth_at + 1], c->argvlen[auth_at + 1],
                                  c->argv[auth_at + 2], c->argvlen[auth_at + 2]))
        return;
    if (client_auth_required(c)) {
        reply_error(c, "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO AUTH <user> <pass> option can be used to authenticate "
                       "the client and select the RESP protocol version at the same time");
        return;
    }
    if (name_at >= 0 && !set_name_or_reply(c, c->argv[name_at + 1], c->argvlen[name_at + 1]))
        return;
    if (ver) c->resp = (int)ver;
    reply_map(c, 7);
    reply_bulk_cstr(c, "server");
    reply_bulk_cstr(c, "redis");
    reply_bulk_cstr(c, "version");
    reply_bulk_cstr(c, SURGE_REDIS_VERSION);
    reply_bulk_cstr(c, "proto");
    reply_int(c, c->resp);
    reply_bulk_cstr(c, "id");
    reply_int(c, (long long)c->id);
    reply_bulk_cstr(c, "mode");
    reply_bulk_cstr(c, "standalone");
    reply_bulk_cstr(c, "role");
    reply_bulk_cstr(c, "master");
    reply_bulk_cstr(c, "modules");
    reply_array(c, 0);
}

void reset_command(client *c) {
    c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT | CL_NO_EVICT);
    if (c->flags & CL_MONITOR) {
        server *s = c->srv;
        for (size_t i = 0; i < s->nmonitors; i++) {
            if (s->monitors[i] == c) {
                s->monitors[i] = s->monitors[--s->nmonitors];
                break;
            }
        }
        c->flags &= ~CL_MONITOR;
    }
    multi_discard(c);
    watch_unwatch_all(c);
    pubsub_client_free(c);
    tracking_client_free(c);
    c->dbid = 0;
    c->db = ks_db(c->srv->ks, 0);
    c->resp = 2;
    sstr_free(c->name);
    c->name = NULL;
    acl_client_init(c); /* back to the default user */
    reply_status(c, "RESET");
}

/* ---- CLIENT ---- */

void client_id_command(client *c) {
    reply_int(c, (long long)c->id);
}

void client_setname_command(client *c) {
    if (set_name_or_reply(c, c->argv[2], c->argvlen[2])) reply_ok(c);
}

void client_getname_command(client *c) {
    if (c->name)
        reply_bulk(c, c->name->buf, c->name->len);
    else
        reply_null(c);
}

void client_setinfo_command(client *c) {
    sstr **slot;
    if (!strcasecmp(c->argv[2], "lib-name"))
        slot = &c->lib_name;
    else if (!strcasecmp(c->argv[2], "lib-ver"))
        slot = &c->lib_ver;
    else {
        reply_errorf(c, "ERR Unrecognized option '%s'", c->argv[2]);
        return;
    }
    if (!valid_name(c->argv[3], c->argvlen[3])) {
        reply_errorf(c, "ERR %s cannot contain spaces, newlines or special characters.",
                     c->argv[2]);
        return;
    }
    sstr_free(*slot);
    *slot = c->argvlen[3] ? sstr_new(c->argv[3], c->argvlen[3]) : NULL;
    reply_ok(c);
}

void client_list_command(client *c) {
    server *s = c->srv;
    uint64_t *ids = NULL;
    int nids = 0;
    for (int j = 2; j < c->argc; j++) {
        if (arg_is(c, j, "type") && j + 1 < c->argc) {
            const char *t = c->argv[j + 1];
            if (strcasecmp(t, "normal") && strcasecmp(t, "master") && strcasecmp(t, "replica") &&
                strcasecmp(t, "slave") && strcasecmp(t, "pubsub")) {
                reply_errorf(c, "ERR Unknown client type '%s'", t);
                sg_free(ids);
                return;
            }
            if (strcasecmp(t, "normal")) { /* no replicas or subscribers yet */
                sg_free(ids);
                reply_verbatim(c, "", 0, "txt");
                return;
            }
            j++;
        } else if (arg_is(c, j, "id") && j + 1 < c->argc) {
            ids = sg_realloc(ids, sizeof(uint64_t) * (size_t)(c->argc));
            for (j = j + 1; j < c->argc; j++) {
                long long v;
                if (!sg_str2ll(c->argv[j], c->argvlen[j], &v)) {
                    reply_error(c, "ERR Invalid client ID");
                    sg_free(ids);
                    return;
                }
                ids[nids++] = v > 0 ? (uint64_t)v : 0; /* no client has id <= 0 */
            }
        } else {
            reply_syntax_error(c);
            sg_free(ids);
            return;
        }
    }
    sstr *o = sstr_new("", 0);
    for (client *x = s->clients; x; x = x->next) {
        if (x->flags & CL_CLOSE_ASAP) continue;
        if (ids) {
            bool hit = false;
            for (int k = 0; k < nids; k++) hit |= ids[k] == x->id;
            if (!hit) continue;
        }
        o = client_info_line(x, o);
        o = sstr_cat(o, "\n", 1);
    }
    reply_verbatim(c, o->buf, o->len, "txt");
    sstr_free(o);
    sg_free(ids);
}

void client_info_command(client *c) {
    sstr *o = client_info_line(c, sstr_new("", 0));
    o = sstr_cat(o, "\n", 1);
    reply_verbatim(c, o->buf, o->len, "txt");
    sstr_free(o);
}

static void kill_client(client *self, client *x) {
    if (x == self)
        self->flags |= CL_CLOSE_AFTER_REPLY;
    else
        client_close_async(x);
}

void client_kill_command(client *c) {
    server *s = c->srv;
    if (c->argc == 3) { /* old form: CLIENT KILL addr:port */
        for (client *x = s->clients; x; x = x->next) {
            if (!(x->flags & CL_CLOSE_ASAP) && !strcmp(x->addr, c->argv[2])) {
                kill_client(c, x);
                reply_ok(c);
                return;
            }
        }
        reply_error(c, "ERR No such client");
        return;
    }
    long long id = 0, maxage = 0;
    const char *addr = NULL, *laddr = NULL, *user = NULL;
    bool skipme = true, type_normal = true;
    for (int j = 2; j < c->argc; j += 2) {
        if (j + 1 >= c->argc) {
            reply_syntax_error(c);
            return;
        }
        const char *v = c->argv[j + 1];
        if (arg_is(c, j, "id")) {
            if (!sg_str2ll(v, c->argvlen[j + 1], &id) || id <= 0) {
                reply_error(c, "ERR client-id should be greater than 0");
                return;
            }
        } else if (arg_is(c, j, "type")) {
            if (!strcasecmp(v, "normal"))
                type_normal = true;
            else if (!strcasecmp(v, "master") || !strcasecmp(v, "replica") ||
                     !strcasecmp(v, "slave") || !strcasecmp(v, "pubsub"))
                type_normal = false;
            else {
                reply_errorf(c, "ERR Unknown client type '%s'", v);
                return;
            }
        } else if (arg_is(c, j, "addr")) {
            addr = v;
        } else if (arg_is(c, j, "laddr")) {
            laddr = v;
        } else if (arg_is(c, j, "user")) {
            user = v;
        } else if (arg_is(c, j, "skipme")) {
            if (!strcasecmp(v, "yes"))
                skipme = true;
            else if (!strcasecmp(v, "no"))
                skipme = false;
            else {
                reply_syntax_error(c);
                return;
            }
        } else if (arg_is(c, j, "maxage")) {
            if (!sg_str2ll(v, c->argvlen[j + 1], &maxage) || maxage < 0) {
                reply_syntax_error(c);
                return;
            }
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (user && !acl_user_exists(user)) {
        reply_errorf(c, "ERR No such user '%s'", user);
        return;
    }
    long long killed = 0;
    int64_t now = sg_mstime();
    for (client *x = s->clients; x; x = x->next) {
        if (x->flags & CL_CLOSE_ASAP) continue;
        if (id && x->id != (uint64_t)id) continue;
        if (addr && strcmp(x->addr, addr)) continue;
        if (laddr && strcmp(x->laddr, laddr)) continue;
        if (user && strcmp(acl_client_username(x), user)) continue;
        if (!type_normal) continue;
        if (skipme && x == c) continue;
        if (maxage && (now - x->ctime_ms) / 1000 < maxage) continue;
        kill_client(c, x);
        killed++;
    }
    reply_int(c, killed);
}

void client_pause_command(client *c) {
    long long ms;
    if (!sg_str2ll(c->argv[2], c->argvlen[2], &ms)) {
        reply_error(c, "ERR timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        reply_error(c, "ERR timeout is negative");
        return;
    }
    bool writes_only = false;
    if (c->argc == 4) {
        if (arg_is(c, 3, "write"))
            writes_only = true;
        else if (!arg_is(c, 3, "all")) {
            reply_error(c, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    } else if (c->argc > 4) {
        reply_error(c, "ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try "
                       "CLIENT HELP.");
        return;
    }
    server *s = c->srv;
    int64_t until = sg_mstime() + ms;
    /* A longer or stricter pause wins over a running one, as in Redis. */
    if (!s->paused || until > s->pause_until_ms) s->pause_until_ms = until;
    s->pause_writes_only = s->paused ? (s->pause_writes_only && writes_only) : writes_only;
    s->paused = true;
    reply_ok(c);
}

void client_unpause_command(client *c) {
    server *s = c->srv;
    if (s->paused) {
        s->paused = false;
        s->resume_clients = true;
    }
    reply_ok(c);
}

void client_reply_command(client *c) {
    if (arg_is(c, 2, "on")) {
        c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP_NEXT | CL_REPLY_SKIP);
        reply_ok(c);
    } else if (arg_is(c, 2, "off")) {
        c->flags |= CL_REPLY_OFF;
    } else if (arg_is(c, 2, "skip")) {
        if (!(c->flags & CL_REPLY_OFF)) c->flags |= CL_REPLY_SKIP_NEXT;
    } else {
        reply_syntax_error(c);
    }
}

void client_no_evict_command(client *c) {
    if (arg_is(c, 2, "on"))
        c->flags |= CL_NO_EVICT;
    else if (arg_is(c, 2, "off"))
        c->flags &= ~CL_NO_EVICT;
    else {
        reply_syntax_error(c);
        return;
    }
    reply_ok(c);
}

void client_help_command(client *c) {
    static const char *const help[] = {
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "    * ID <client-id>",
        "      Kill connections by client id.",
        "    * MAXAGE <maxage>",
        "      Kill connections older than the specified age.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        NULL};
    reply_help(c, "CLIENT", help);
}
