/*
 * tracking: client-side caching (CLIENT TRACKING), with Redis 7.0's
 * semantics and wire format.
 *
 * A client that turns tracking on is told when a key it may hold in a local
 * cache changes. Two modes:
 *
 *   default  the server remembers, per key name, the ids of the clients that
 *            read it (tracking_after_command, on read-only commands, keys
 *            from the command table's key specs). When the key changes, each
 *            of them gets one invalidation and the key is forgotten: a client
 *            must read it again to hear about the next change. OPTIN (only
 *            reads right after CLIENT CACHING yes are remembered) and OPTOUT
 *            (all reads except right after CLIENT CACHING no) narrow it.
 *   BCAST    nothing is remembered per client; a client subscribes to key
 *            prefixes ("" = every key). Every change of a matching key is
 *            collected per prefix and sent, sorted and deduplicated, once per
 *            event-loop iteration (tracking_before_sleep).
 *
 * Like Redis, the table is global: a key name is tracked regardless of the
 * database it was read in, and a change in any database invalidates it.
 *
 *   table    key name -> idset (client ids). Ids, not pointers: clients
 *            that went away or turned tracking off are skipped lazily when
 *            the key is invalidated, as Redis does.
 *   by_id    client id -> client, for every client that has a trk_state
 *            (trackers and redirect targets); a client is removed when it is
 *            freed, so a lookup never returns a dangling pointer.
 *   prefixes sorted array of BCAST prefixes: the clients listening to each,
 *            and the keys changed since the last broadcast (key -> id of the
 *            client that changed it, for NOLOOP).
 *
 * Delivery (deliver): a RESP3 client gets `>2 "invalidate" <keys>`; with
 * REDIRECT the message goes to the target instead, as a push if it speaks
 * RESP3, or as a Pub/Sub message on __redis__:invalidate if it is a RESP2
 * client in subscribed mode (otherwise it is dropped). A flush sends a null
 * instead of the key array. If the redirect target is gone the tracker gets
 * `>2 "tracking-redir-broken" <id>` (RESP3 only) and the broken_redirect
 * flag.
 *
 * Invalidations for the client whose command is running are held until its
 * reply is written (the pending list, sent by tracking_after_command), so a
 * push never lands in the middle of a reply; NOLOOP drops them instead.
 *
 * Invariants: total_items == sum of idset sizes in table; a trk_state is
 * registered in by_id exactly while it exists; ntracking counts states with
 * on == true.
 */
#include "config.h"
#include "server.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static_assert(sizeof(void *) >= sizeof(uint64_t), "client ids are stored in pointers");

#define TRACKING_CHANNEL "__redis__:invalidate"

typedef struct trk_state {
    bool on, bcast, optin, optout, noloop;
    bool caching;      /* CLIENT CACHING yes/no given for the next command */
    bool broken_redir; /* the redirect target went away */
    uint64_t redirect; /* client id, 0: none */
    sstr **prefixes;   /* BCAST prefixes, sorted, no duplicates */
    size_t nprefixes;
    sstr **pending; /* keys (NULL: flush) held until the current reply is out */
    size_t npending, pending_cap;
} trk_state;

typedef struct idset {
    uint64_t *ids;
    uint32_t n, cap;
} idset;

typedef struct prefix_ent {
    sstr *p;
    client **cl; /* clients listening to this prefix */
    size_t ncl, clcap;
    dict *keys; /* changed since the last broadcast: key -> modifier id */
} prefix_ent;

static dict *table; /* key -> idset */
static dict *by_id; /* 8-byte client id -> client */
static prefix_ent *pfx;
static size_t npfx, pfxcap;
static uint64_t total_items, ntracking;

/* ---- small helpers ---- */

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int r = memcmp(a, b, al < bl ? al : bl);
    if (r) return r;
    return al < bl ? -1 : al > bl;
}

static client *client_by_id(uint64_t id) {
    if (!by_id) return NULL;
    dict_entry *e = dict_find(by_id, (const char *)&id, sizeof(id));
    return e ? e->v.p : NULL;
}

/* Returns c's state, creating and registering it on first use. */
static trk_state *state_of(client *c) {
    if (c->trk) return c->trk;
    c->trk = sg_calloc(sizeof(trk_state));
    if (!by_id) by_id = dict_new(DICT_VAL_NONE);
    bool created;
    dict_add(by_id, (const char *)&c->id, sizeof(c->id), &created)->v.p = c;
    return c->trk;
}

static void idset_add(idset *s, uint64_t id) {
    for (uint32_t i = 0; i < s->n; i++)
        if (s->ids[i] == id) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 2;
        s->ids = sg_realloc(s->ids, sizeof(uint64_t) * s->cap);
    }
    s->ids[s->n++] = id;
    total_items++;
}

static void idset_free(idset *s) {
    total_items -= s->n;
    sg_free(s->ids);
    sg_free(s);
}

static void table_free(dict *t) {
    if (!t) return;
    uint64_t pos = 0;
    for (dict_entry *e; (e = dict_next(t, &pos));) idset_free(e->v.p);
    dict_free(t);
}

/* ---- delivery ---- */

/* Sends one invalidation on behalf of tracker c: either the single key
 * (proto == NULL) or a ready RESP value (proto: the key array or a null).
 * Pushes are sent even under CLIENT REPLY OFF/SKIP, as Redis does. */
static void deliver(client *c, const char *key, size_t klen, const char *proto, size_t plen) {
    trk_state *t = c->trk;
    client *to = c;
    bool redirected = false;
    if (t->redirect) {
        to = client_by_id(t->redirect);
        if (!to) {
            t->broken_redir = true;
            if (c->resp > 2) {
                int saved = c->flags;
                c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP);
                reply_push(c, 2);
                reply_bulk_cstr(c, "tracking-redir-broken");
                reply_int(c, (long long)t->redirect);
                c->flags = (c->flags & ~(CL_REPLY_OFF | CL_REPLY_SKIP)) |
                           (saved & (CL_REPLY_OFF | CL_REPLY_SKIP));
            }
            return;
        }
        redirected = true;
    }
    int saved = to->flags;
    to->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP);
    if (to->resp > 2) {
        reply_push(to, 2);
        reply_bulk_cstr(to, "invalidate");
    } else if (redirected && pubsub_subscribed(to)) {
        reply_push(to, 3);
        reply_bulk_cstr(to, "message");
        reply_bulk_cstr(to, TRACKING_CHANNEL);
    } else {
        /* RESP2 without a subscribed redirect target: nowhere to send it. */
        to->flags = saved;
        return;
    }
    if (proto) {
        reply_raw(to, proto, plen);
    } else {
        reply_array(to, 1);
        reply_bulk(to, key, klen);
    }
    to->flags =
        (to->flags & ~(CL_REPLY_OFF | CL_REPLY_SKIP)) | (saved & (CL_REPLY_OFF | CL_REPLY_SKIP));
}

static void deliver_null(client *c) {
    if (c->resp > 2)
        deliver(c, NULL, 0, "_\r\n", 3);
    else
        deliver(c, NULL, 0, "$-1\r\n", 5);
}

static void pending_push(trk_state *t, sstr *key) {
    if (t->npending == t->pending_cap) {
        t->pending_cap = t->pending_cap ? t->pending_cap * 2 : 4;
        t->pending = sg_realloc(t->pending, sizeof(sstr *) * t->pending_cap);
    }
    t->pending[t->npending++] = key;
}

static void pending_clear(trk_state *t) {
    for (size_t i = 0; i < t->npending; i++) sstr_free(t->pending[i]);
    sg_free(t->pending);
    t->pending = NULL;
    t->npending = t->pending_cap = 0;
}

static void pending_flush(client *c) {
    trk_state *t = c->trk;
    sstr **keys = t->pending;
    size_t n = t->npending;
    t->pending = NULL;
    t->npending = t->pending_cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (t->on) {
            if (keys[i])
                deliver(c, keys[i]->buf, keys[i]->len, NULL, 0);
            else
                deliver_null(c);
        }
        sstr_free(keys[i]);
    }
    sg_free(keys);
}

/* ---- default mode ---- */

/* Tells every client that read key that it changed, and forgets the key. */
static void invalidate_key(server *s, const char *key, size_t klen) {
    dict_entry *e = table ? dict_find(table, key, klen) : NULL;
    if (!e) return;
    idset *ids = e->v.p;
    for (uint32_t i = 0; i < ids->n; i++) {
        client *t = client_by_id(ids->ids[i]);
        if (!t || !t->trk->on || t->trk->bcast) continue;
        if (t == s->current_client) {
            if (t->trk->noloop) continue;
            pending_push(t->trk, sstr_new(key, klen)); /* after its reply */
        } else {
            deliver(t, key, klen, NULL, 0);
        }
    }
    idset_free(ids);
    dict_delete(table, key, klen);
}

void tracking_after_command(client *c, const cmd_def *d) {
    trk_state *t = c->trk;
    if (SG_LIKELY(!t)) return;
    if (t->on && !t->bcast && (d->flags & CF_READONLY) && !(d->flags & CF_PUBSUB) &&
        !((t->optin && !t->caching) || (t->optout && t->caching))) {
        int stackpos[16];
        int *pos = c->argc <= 16 ? stackpos : sg_malloc(sizeof(int) * (size_t)c->argc);
        int n =
            cmd_get_keys(d, c->argc, (const char *const *)c->argv, c->argvlen, pos, NULL, c->argc);
        if (n > 0 && !table) table = dict_new(DICT_VAL_NONE);
        for (int i = 0; i < n; i++) {
            bool created;
            dict_entry *e = dict_add(table, c->argv[pos[i]], c->argvlen[pos[i]], &created);
            if (created) e->v.p = sg_calloc(sizeof(idset));
            idset_add(e->v.p, c->id);
        }
        if (pos != stackpos) sg_free(pos);
    }
    /* CLIENT CACHING lasts for the next command, or the whole MULTI/EXEC;
     * any CLIENT subcommand keeps it (Redis's resetClient). */
    if (t->caching && !(c->flags & CL_MULTI) && !c->in_exec &&
        !(d->parent && d->parent->id == CMDID_client))
        t->caching = false;
    /* The outermost command is done: send what was held for its reply. */
    if (t->npending && c->srv->current_client != c) pending_flush(c);
}

/* ---- BCAST ---- */

static size_t prefix_find(const char *p, size_t n, bool *found) {
    size_t lo = 0, hi = npfx;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = bytes_cmp(pfx[mid].p->buf, pfx[mid].p->len, p, n);
        if (!r) {
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

static void bcast_add_prefix(client *c, const char *p, size_t n) {
    trk_state *t = c->trk;
    /* the client's own sorted list */
    size_t lo = 0;
    while (lo < t->nprefixes && bytes_cmp(t->prefixes[lo]->buf, t->prefixes[lo]->len, p, n) < 0)
        lo++;
    if (lo < t->nprefixes && !bytes_cmp(t->prefixes[lo]->buf, t->prefixes[lo]->len, p, n))
        return; /* already registered */
    t->prefixes = sg_realloc(t->prefixes, sizeof(sstr *) * (t->nprefixes + 1));
    memmove(t->prefixes + lo + 1, t->prefixes + lo, sizeof(sstr *) * (t->nprefixes - lo));
    t->prefixes[lo] = sstr_new(p, n);
    t->nprefixes++;
    /* the global table */
    bool found;
    size_t i = prefix_find(p, n, &found);
    if (!found) {
        if (npfx == pfxcap) {
            pfxcap = pfxcap ? pfxcap * 2 : 4;
            pfx = sg_realloc(pfx, sizeof(prefix_ent) * pfxcap);
        }
        memmove(pfx + i + 1, pfx + i, sizeof(prefix_ent) * (npfx - i));
        memset(&pfx[i], 0, sizeof(prefix_ent));
        pfx[i].p = sstr_new(p, n);
        pfx[i].keys = dict_new(DICT_VAL_NONE);
        npfx++;
    }
    prefix_ent *pe = &pfx[i];
    if (pe->ncl == pe->clcap) {
        pe->clcap = pe->clcap ? pe->clcap * 2 : 4;
        pe->cl = sg_realloc(pe->cl, sizeof(client *) * pe->clcap);
    }
    pe->cl[pe->ncl++] = c;
}

static void bcast_remove_client(client *c) {
    trk_state *t = c->trk;
    for (size_t k = 0; k < t->nprefixes; k++) {
        bool found;
        size_t i = prefix_find(t->prefixes[k]->buf, t->prefixes[k]->len, &found);
        if (found) {
            prefix_ent *pe = &pfx[i];
            for (size_t j = 0; j < pe->ncl; j++) {
                if (pe->cl[j] == c) {
                    pe->cl[j] = pe->cl[--pe->ncl];
                    break;
                }
            }
            if (!pe->ncl) {
                sstr_free(pe->p);
                sg_free(pe->cl);
                dict_free(pe->keys);
                memmove(pfx + i, pfx + i + 1, sizeof(prefix_ent) * (npfx - i - 1));
                npfx--;
            }
        }
        sstr_free(t->prefixes[k]);
    }
    sg_free(t->prefixes);
    t->prefixes = NULL;
    t->nprefixes = 0;
}

static void bcast_remember(server *s, const char *key, size_t klen) {
    uint64_t by = s->current_client ? s->current_client->id : 0;
    for (size_t i = 0; i < npfx; i++) {
        prefix_ent *pe = &pfx[i];
        if (pe->p->len > klen || memcmp(pe->p->buf, key, pe->p->len)) continue;
        bool created;
        dict_add(pe->keys, key, klen, &created)->v.p = (void *)(uintptr_t)by;
    }
}

static int entry_cmp(const void *a, const void *b) {
    const dict_entry *x = *(dict_entry *const *)a, *y = *(dict_entry *const *)b;
    return bytes_cmp(x->key, x->klen, y->key, y->klen);
}

/* RESP array of the sorted keys, leaving out those changed by skip_id. */
static sstr *bcast_build(dict_entry **ents, size_t n, uint64_t skip_id, size_t *count) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!skip_id || (uint64_t)(uintptr_t)ents[i]->v.p != skip_id) k++;
    *count = k;
    if (!k) return NULL;
    sstr *o = sstr_catfmt(sstr_new_cap(64), "*%zu\r\n", k);
    for (size_t i = 0; i < n; i++) {
        if (skip_id && (uint64_t)(uintptr_t)ents[i]->v.p == skip_id) continue;
        o = sstr_catfmt(o, "$%u\r\n", (unsigned)ents[i]->klen);
        o = sstr_cat(o, ents[i]->key, ents[i]->klen);
        o = sstr_cat(o, "\r\n", 2);
    }
    return o;
}

static void bcast_send(void) {
    for (size_t i = 0; i < npfx; i++) {
        prefix_ent *pe = &pfx[i];
        size_t n = dict_size(pe->keys);
        if (!n) continue;
        dict_entry **ents = sg_malloc(sizeof(dict_entry *) * n);
        uint64_t pos = 0;
        size_t k = 0;
        for (dict_entry *e; (e = dict_next(pe->keys, &pos));) ents[k++] = e;
        qsort(ents, n, sizeof(*ents), entry_cmp);
        size_t cnt;
        sstr *all = bcast_build(ents, n, 0, &cnt);
        for (size_t j = 0; j < pe->ncl; j++) {
            client *c = pe->cl[j];
            if (c->trk->noloop) {
                sstr *own = bcast_build(ents, n, c->id, &cnt);
                if (own) deliver(c, NULL, 0, own->buf, own->len);
                sstr_free(own);
            } else {
                deliver(c, NULL, 0, all->buf, all->len);
            }
        }
        sstr_free(all);
        sg_free(ents);
        dict_free(pe->keys);
        pe->keys = dict_new(DICT_VAL_NONE);
    }
}

/* ---- table limit ---- */

static void limit_table(server *s) {
    static unsigned timeouts; /* rounds that ended still over the limit */
    if (!table || !cfg.tracking_table_max_keys) return;
    uint64_t max = (uint64_t)cfg.tracking_table_max_keys;
    if (dict_size(table) <= max) {
        timeouts = 0;
        return;
    }
    /* As Redis: effort grows with each round that could not finish. */
    for (int effort = 100 * (int)(timeouts + 1); effort > 0; effort--) {
        dict_entry *e = dict_random(table);
        if (!e) break;
        sstr *key = sstr_new(e->key, e->klen);
        invalidate_key(s, key->buf, key->len);
        sstr_free(key);
        if (dict_size(table) <= max) {
            timeouts = 0;
            return;
        }
    }
    timeouts++;
}

/* ---- hooks ---- */

void tracking_key_modified(server *s, int dbid, const char *key, size_t klen) {
    SG_UNUSED(dbid); /* the table is global, as Redis's */
    if (npfx) bcast_remember(s, key, klen);
    if (table && dict_size(table)) invalidate_key(s, key, klen);
}

void tracking_db_flushed(server *s, int dbid) {
    SG_UNUSED(dbid); /* Redis invalidates everything on any flush */
    if (ntracking) {
        for (client *c = s->clients; c; c = c->next) {
            if (!c->trk || !c->trk->on) continue;
            if (c == s->current_client)
                pending_push(c->trk, NULL);
            else
                deliver_null(c);
        }
    }
    table_free(table);
    table = NULL;
}

void tracking_before_sleep(server *s) {
    if (!ntracking) return;
    bcast_send();
    limit_table(s);
}

static void disable(client *c) {
    trk_state *t = c->trk;
    if (t->bcast) bcast_remove_client(c);
    if (t->on) ntracking--;
    t->on = t->bcast = t->optin = t->optout = t->noloop = t->caching = t->broken_redir = false;
    t->redirect = 0;
}

void tracking_client_free(client *c) {
    trk_state *t = c->trk;
    if (!t) return;
    disable(c);
    pending_clear(t);
    /* client_free closes the connection first; RESET keeps it (and the
     * client stays reachable as a redirect target). */
    if (c->conn) return;
    dict_delete(by_id, (const char *)&c->id, sizeof(c->id));
    sg_free(t);
    c->trk = NULL;
}

long long tracking_client_list_info(const client *c, char *flags, int *nflags) {
    const trk_state *t = c->trk;
    if (!t || !t->on) return -1;
    flags[(*nflags)++] = 't';
    if (t->broken_redir) flags[(*nflags)++] = 'R';
    if (t->bcast) flags[(*nflags)++] = 'B';
    return (long long)t->redirect;
}

void tracking_stats(uint64_t *clients, uint64_t *keys, uint64_t *items, uint64_t *prefixes) {
    *clients = ntracking;
    *keys = table ? dict_size(table) : 0;
    *items = total_items;
    *prefixes = npfx;
}

/* ---- commands ---- */

static bool prefixes_overlap(const sstr *a, const char *b, size_t bl) {
    size_t n = a->len < bl ? a->len : bl;
    return memcmp(a->buf, b, n) == 0;
}

/* Redis's checkPrefixCollisionsOrReply. */
static bool prefix_collisions_or_reply(client *c, int *pidx, int np) {
    trk_state *t = c->trk;
    for (int i = 0; i < np; i++) {
        const char *p = c->argv[pidx[i]];
        size_t pl = c->argvlen[pidx[i]];
        for (size_t k = 0; t && k < t->nprefixes; k++) {
            if (prefixes_overlap(t->prefixes[k], p, pl)) {
                reply_errorf(c,
                             "ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                             "Prefixes for a single client must not overlap.",
                             p, t->prefixes[k]->buf);
                return false;
            }
        }
        for (int j = i + 1; j < np; j++) {
            sstr *tmp = sstr_new(p, pl);
            bool hit = prefixes_overlap(tmp, c->argv[pidx[j]], c->argvlen[pidx[j]]);
            sstr_free(tmp);
            if (hit) {
                reply_errorf(c,
                             "ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                             "Prefixes for a single client must not overlap.",
                             p, c->argv[pidx[j]]);
                return false;
            }
        }
    }
    return true;
}

static client *find_client_scan(server *s, long long id) {
    if (id <= 0) return NULL;
    client *x = client_by_id((uint64_t)id);
    if (x) return x;
    for (x = s->clients; x; x = x->next)
        if (x->id == (uint64_t)id && !(x->flags & CL_CLOSE_ASAP)) return x;
    return NULL;
}

/* CLIENT TRACKING on|off [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
 * [OPTOUT] [NOLOOP]: option parsing and checks in Redis's order. */
void client_tracking_command(client *c) {
    long long redir = 0;
    bool bcast = false, optin = false, optout = false, noloop = false;
    int *pidx = sg_malloc(sizeof(int) * (size_t)c->argc);
    int np = 0;
    client *target = NULL;
    for (int j = 3; j < c->argc; j++) {
        bool more = j + 1 < c->argc;
        if (arg_is(c, j, "redirect") && more) {
            j++;
            if (redir != 0) {
                reply_error(c, "ERR A client can only redirect to a single other client");
                goto done;
            }
            if (!arg_ll_or_reply(c, j, &redir, NULL)) goto done;
            target = find_client_scan(c->srv, redir);
            if (!target) {
                reply_error(c, "ERR The client ID you want redirect to does not exist");
                goto done;
            }
        } else if (arg_is(c, j, "bcast")) {
            bcast = true;
        } else if (arg_is(c, j, "optin")) {
            optin = true;
        } else if (arg_is(c, j, "optout")) {
            optout = true;
        } else if (arg_is(c, j, "noloop")) {
            noloop = true;
        } else if (arg_is(c, j, "prefix") && more) {
            pidx[np++] = ++j;
        } else {
            reply_syntax_error(c);
            goto done;
        }
    }
    if (arg_is(c, 2, "on")) {
        trk_state *t = c->trk;
        bool on = t && t->on;
        if (!bcast && np) {
            reply_error(c, "ERR PREFIX option requires BCAST mode to be enabled");
            goto done;
        }
        if (on && t->bcast != bcast) {
            reply_error(c, "ERR You can't switch BCAST mode on/off before disabling tracking "
                           "for this client, and then re-enabling it with a different mode.");
            goto done;
        }
        if (bcast && (optin || optout)) {
            reply_error(c, "ERR OPTIN and OPTOUT are not compatible with BCAST");
            goto done;
        }
        if (optin && optout) {
            reply_error(c, "ERR You can't specify both OPTIN mode and OPTOUT mode");
            goto done;
        }
        if (on && ((optin && t->optout) || (optout && t->optin))) {
            reply_error(c, "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking "
                           "for this client, and then re-enabling it with a different mode.");
            goto done;
        }
        if (bcast && !prefix_collisions_or_reply(c, pidx, np)) goto done;
        /* Redis's enableTracking: flags are replaced, prefixes added. */
        if (target) state_of(target); /* reachable by id from now on */
        t = state_of(c);
        if (!t->on) ntracking++;
        t->on = true;
        t->broken_redir = t->optin = t->optout = t->noloop = false;
        t->redirect = (uint64_t)redir;
        if (bcast) {
            t->bcast = true;
            if (!np) bcast_add_prefix(c, "", 0);
            for (int i = 0; i < np; i++) bcast_add_prefix(c, c->argv[pidx[i]], c->argvlen[pidx[i]]);
        }
        t->optin = optin;
        t->optout = optout;
        t->noloop = noloop;
    } else if (arg_is(c, 2, "off")) {
        if (c->trk) disable(c);
    } else {
        reply_syntax_error(c);
        goto done;
    }
    reply_ok(c);
done:
    sg_free(pidx);
}

void client_caching_command(client *c) {
    trk_state *t = c->trk;
    if (!t || !t->on) {
        reply_error(c, "ERR CLIENT CACHING can be called only when the client is in tracking "
                       "mode with OPTIN or OPTOUT mode enabled");
        return;
    }
    if (arg_is(c, 2, "yes")) {
        if (!t->optin) {
            reply_error(c, "ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                           "OPTIN mode.");
            return;
        }
    } else if (arg_is(c, 2, "no")) {
        if (!t->optout) {
            reply_error(c, "ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                           "OPTOUT mode.");
            return;
        }
    } else {
        reply_syntax_error(c);
        return;
    }
    t->caching = true;
    reply_ok(c);
}

void client_getredir_command(client *c) {
    const trk_state *t = c->trk;
    reply_int(c, t && t->on ? (long long)t->redirect : -1);
}

void client_trackinginfo_command(client *c) {
    const trk_state *t = c->trk;
    const char *fl[8];
    int n = 0;
    fl[n++] = t && t->on ? "on" : "off";
    if (t && t->bcast) fl[n++] = "bcast";
    if (t && t->optin) {
        fl[n++] = "optin";
        if (t->caching) fl[n++] = "caching-yes";
    }
    if (t && t->optout) {
        fl[n++] = "optout";
        if (t->caching) fl[n++] = "caching-no";
    }
    if (t && t->noloop) fl[n++] = "noloop";
    if (t && t->broken_redir) fl[n++] = "broken_redirect";
    reply_map(c, 3);
    reply_bulk_cstr(c, "flags");
    reply_set(c, n);
    for (int i = 0; i < n; i++) reply_bulk_cstr(c, fl[i]);
    reply_bulk_cstr(c, "redirect");
    reply_int(c, t && t->on ? (long long)t->redirect : -1);
    reply_bulk_cstr(c, "prefixes");
    size_t np = t ? t->nprefixes : 0;
    reply_array(c, (long long)np);
    for (size_t i = 0; i < np; i++) reply_bulk(c, t->prefixes[i]->buf, t->prefixes[i]->len);
}
