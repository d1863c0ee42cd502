/*
 * Blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...): the machinery shared by
 * every blocking handler.
 *
 * A blocking handler first tries to serve its command like the
 * non-blocking variant. If nothing is there, it calls block_on_keys() and
 * returns without a reply. The dispatcher then keeps the command pending
 * (the same mechanism as CLIENT PAUSE), so the client's later input waits
 * behind it, and the command simply runs again when one of its keys
 * changes:
 *
 *   handler finds nothing -> block_on_keys(keys, deadline)
 *        |                         client registered per (db, key), FIFO
 *        v
 *   a write touches a key -> server_key_modified -> block_signal_key
 *        |                         (db, key) queued as ready
 *        v
 *   before sleeping: block_handle_ready() re-runs, in blocking order, the
 *   pending command of each client blocked on a ready key. A client that is
 *   served leaves every list; one that finds nothing again keeps its place
 *   (so service order is the order clients blocked, as in Redis).
 *
 *   deadline passes -> the timeout reply (null array or null) is sent, the
 *   command is dropped, the client's following input is processed.
 *
 * Inside MULTI/EXEC a blocking command never blocks: it answers as if it
 * had timed out (Redis's behaviour).
 */
#include "config.h"
#include "server.h"

#include <math.h>
#include <string.h>

typedef struct blist {
    int n, cap;
    client **c;
} blist;

typedef struct ready_key {
    int dbid;
    sstr *key;
} ready_key;

static dict **blocking; /* per db: key -> blist */
static client **blocked;
static size_t nblocked, blockedcap;
static ready_key *ready;
static size_t nready, readycap;

size_t block_count(void) {
    return nblocked;
}

bool block_timeout_or_reply(client *c, int i, uint64_t *deadline_us) {
    long double secs;
    if (!sg_str2ld(c->argv[i], c->argvlen[i], &secs)) {
        reply_error(c, "ERR timeout is not a float or out of range");
        return false;
    }
    long double ms = ceill(secs * 1000.0L);
    if (!(ms >= 0) || ms > (long double)(LLONG_MAX / 1000)) { /* Redis: overflow reads negative */
        reply_error(c, "ERR timeout is negative");
        return false;
    }
    *deadline_us = ms == 0 ? 0 : sg_monotonic_us() + (uint64_t)ms * 1000;
    return true;
}

static void blist_remove(blist *l, client *c) {
    for (int i = 0; i < l->n; i++) {
        if (l->c[i] == c) {
            memmove(l->c + i, l->c + i + 1, sizeof(client *) * (size_t)(l->n - i - 1));
            l->n--;
            return;
        }
    }
}

void block_on_keys(client *c, int nkeys, char **keys, size_t *lens, uint64_t deadline_us,
                   int timeout_reply) {
    c->block_again = true;
    if (c->in_exec) { /* MULTI/EXEC: no blocking, answer as a timeout */
        c->block_again = false;
        if (timeout_reply == BLOCK_REPLY_NULL)
            reply_null(c);
        else
            reply_null_array(c);
        return;
    }
    if (c->blocked) return; /* still waiting: keep its place in the lists */
    server *s = c->srv;
    if (!blocking) blocking = sg_calloc(sizeof(dict *) * (size_t)ks_ndb(s->ks));
    if (!blocking[c->dbid]) blocking[c->dbid] = dict_new(DICT_VAL_NONE);
    c->blocked = true;
    c->block_deadline_us = deadline_us;
    c->block_reply = timeout_reply;
    c->block_dbid = c->dbid;
    c->bkeys = sg_malloc(sizeof(sstr *) * (size_t)nkeys);
    c->nbkeys = 0;
    for (int i = 0; i < nkeys; i++) {
        bool dup = false;
        for (int k = 0; k < c->nbkeys && !dup; k++)
            dup = c->bkeys[k]->len == lens[i] && !memcmp(c->bkeys[k]->buf, keys[i], lens[i]);
        if (dup) continue;
        c->bkeys[c->nbkeys++] = sstr_new(keys[i], lens[i]);
        dict_entry *e = dict_add(blocking[c->dbid], keys[i], lens[i], NULL);
        blist *l = e->v.p;
        if (!l) l = e->v.p = sg_calloc(sizeof(blist));
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 4;
            l->c = sg_realloc(l->c, sizeof(client *) * (size_t)l->cap);
        }
        l->c[l->n++] = c;
    }
    if (nblocked == blockedcap) {
        blockedcap = blockedcap ? blockedcap * 2 : 16;
        blocked = sg_realloc(blocked, sizeof(client *) * blockedcap);
    }
    blocked[nblocked++] = c;
}

void block_unblock(client *c) {
    if (!c->blocked) return;
    dict *d = blocking ? blocking[c->block_dbid] : NULL;
    for (int i = 0; i < c->nbkeys; i++) {
        dict_entry *e = d ? dict_find(d, c->bkeys[i]->buf, c->bkeys[i]->len) : NULL;
        if (e) {
            blist *l = e->v.p;
            blist_remove(l, c);
            if (l->n == 0) {
                sg_free(l->c);
                sg_free(l);
                dict_delete(d, c->bkeys[i]->buf, c->bkeys[i]->len);
            }
        }
        sstr_free(c->bkeys[i]);
    }
    sg_free(c->bkeys);
    c->bkeys = NULL;
    c->nbkeys = 0;
    c->blocked = false;
    for (size_t i = 0; i < nblocked; i++) {
        if (blocked[i] == c) {
            memmove(blocked + i, blocked + i + 1, sizeof(client *) * (nblocked - i - 1));
            nblocked--;
            break;
        }
    }
}

void block_signal_key(int dbid, const char *key, size_t klen) {
    if (!blocking || !blocking[dbid] || !dict_find(blocking[dbid], key, klen)) return;
    for (size_t i = 0; i < nready; i++)
        if (ready[i].dbid == dbid && ready[i].key->len == klen &&
            !memcmp(ready[i].key->buf, key, klen))
            return;
    if (nready == readycap) {
        readycap = readycap ? readycap * 2 : 16;
        ready = sg_realloc(ready, sizeof(ready_key) * readycap);
    }
    ready[nready].dbid = dbid;
    ready[nready].key = sstr_new(key, klen);
    nready++;
}

void block_handle_ready(server *s) {
    SG_UNUSED(s);
    while (nready) {
        ready_key rk = ready[0];
        memmove(ready, ready + 1, sizeof(ready_key) * (nready - 1));
        nready--;
        dict_entry *e = blocking && blocking[rk.dbid]
                            ? dict_find(blocking[rk.dbid], rk.key->buf, rk.key->len)
                            : NULL;
        if (e) {
            /* Snapshot: serving a client changes the list. */
            blist *l = e->v.p;
            int n = l->n;
            client **snap = sg_memdup(l->c, sizeof(client *) * (size_t)n);
            for (int i = 0; i < n; i++) {
                client *c = snap[i];
                if (c->blocked && !(c->flags & CL_CLOSE_ASAP)) client_process_pending_input(c);
                /* the key may be gone from the table now */
                if (!blocking[rk.dbid] || !dict_find(blocking[rk.dbid], rk.key->buf, rk.key->len))
                    break;
            }
            sg_free(snap);
        }
        sstr_free(rk.key);
    }
}

/* Times out due clients; returns the nearest remaining deadline (0: none). */
uint64_t block_handle_timeouts(server *s) {
    SG_UNUSED(s);
    uint64_t now = sg_monotonic_us(), next = 0;
    for (size_t i = 0; i < nblocked;) {
        client *c = blocked[i];
        if (c->block_deadline_us && c->block_deadline_us <= now) {
            int r = c->block_reply;
            block_unblock(c); /* removes it from `blocked` */
            if (r == BLOCK_REPLY_NULL)
                reply_null(c);
            else
                reply_null_array(c);
            client_drop_pending(c);
            continue;
        }
        if (c->block_deadline_us && (!next || c->block_deadline_us < next))
            next = c->block_deadline_us;
        i++;
    }
    return next;
}
