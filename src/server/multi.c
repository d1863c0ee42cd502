/*
 * Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 *
 * MULTI puts the client in queuing mode: the dispatcher still applies every
 * check from the command's row (arity, auth, OOM, ...), and a command that
 * fails them marks the transaction dirty (EXEC then answers EXECABORT); a
 * command that passes is copied into the client's queue and answered
 * +QUEUED. EXEC runs the queue back to back, inside one event-loop turn, so
 * no other client's command interleaves: that is the isolation guarantee.
 *
 * WATCH is optimistic locking. Each database has a table (dict) from
 * watched key to the clients watching it; every change to a key goes
 * through server_key_modified() -> watch_touch_key(), which marks those
 * clients CL_DIRTY_CAS, and so do expiry and eviction (through the keyspace
 * hook), FLUSHDB/FLUSHALL and SWAPDB (watch_touch_db). A watched key that
 * was live when watched and is logically expired at EXEC also counts as
 * changed, as in Redis 7. EXEC of a dirty transaction answers a null array.
 * EXEC and DISCARD always forget the watched keys.
 */
#include "config.h"
#include "server.h"

#include <string.h>

typedef struct wlist {
    int n, cap;
    client **c;
} wlist;

/* ---- queuing ---- */

bool multi_queue_or_run(client *c, const cmd_def *d) {
    if (c->mq_len == c->mq_cap) {
        c->mq_cap = c->mq_cap ? c->mq_cap * 2 : 8;
        c->mq = sg_realloc(c->mq, sizeof(mcmd) * (size_t)c->mq_cap);
    }
    mcmd *m = &c->mq[c->mq_len++];
    m->d = d;
    m->argc = c->argc;
    m->argv = sg_malloc(sizeof(sstr *) * (size_t)c->argc);
    for (int i = 0; i < c->argc; i++) m->argv[i] = sstr_new(c->argv[i], c->argvlen[i]);
    reply_status(c, "QUEUED");
    return true;
}

void multi_discard(client *c) {
    for (int i = 0; i < c->mq_len; i++) {
        for (int j = 0; j < c->mq[i].argc; j++) sstr_free(c->mq[i].argv[j]);
        sg_free(c->mq[i].argv);
    }
    sg_free(c->mq);
    c->mq = NULL;
    c->mq_len = c->mq_cap = 0;
    c->flags &= ~(CL_MULTI | CL_DIRTY_EXEC | CL_DIRTY_CAS);
}

void multi_command(client *c) {
    if (c->flags & CL_MULTI) {
        reply_error(c, "ERR MULTI calls can not be nested");
        return;
    }
    c->flags |= CL_MULTI;
    reply_ok(c);
}

void discard_command(client *c) {
    if (!(c->flags & CL_MULTI)) {
        reply_error(c, "ERR DISCARD without MULTI");
        return;
    }
    multi_discard(c);
    watch_unwatch_all(c);
    reply_ok(c);
}

static bool watched_key_expired(client *c) {
    server *s = c->srv;
    ks_set_now(s->ks, sg_mstime());
    for (int i = 0; i < c->wk_len; i++) {
        watched_key *w = &c->wk[i];
        if (w->expired_at_watch) continue;
        kdb *db = ks_db(s->ks, w->dbid);
        kref r;
        /* Look without expiring: the key may be past its TTL but not yet
         * deleted; that still changed what the client saw. */
        kentry *e = kdb_lookup_read(db, w->key->buf, w->key->len, &r,
                                    LOOKUP_NOTOUCH | LOOKUP_NOSTATS | LOOKUP_NOEXPIRE);
        if (e && ks_is_expired(s->ks, e)) return true;
    }
    return false;
}

void exec_command(client *c) {
    if (!(c->flags & CL_MULTI)) {
        reply_error(c, "ERR EXEC without MULTI");
        return;
    }
    if (c->flags & CL_DIRTY_EXEC) {
        reply_error(c, "EXECABORT Transaction discarded because of previous errors.");
        multi_discard(c);
        watch_unwatch_all(c);
        return;
    }
    if ((c->flags & CL_DIRTY_CAS) || watched_key_expired(c)) {
        reply_null_array(c);
        multi_discard(c);
        watch_unwatch_all(c);
        return;
    }
    watch_unwatch_all(c); /* our own writes must not abort anything */
    mcmd *q = c->mq;
    int n = c->mq_len;
    c->mq = NULL;
    c->mq_len = c->mq_cap = 0;
    c->flags &= ~CL_MULTI;
    int saved_argc = c->argc;
    char **saved_argv = c->argv;
    size_t *saved_lens = c->argvlen;
    const cmd_def *saved_cmd = c->cmd;
    reply_array(c, n);
    c->in_exec = true;
    for (int i = 0; i < n; i++) {
        char **argv = sg_malloc(sizeof(char *) * (size_t)q[i].argc);
        size_t *lens = sg_malloc(sizeof(size_t) * (size_t)q[i].argc);
        for (int j = 0; j < q[i].argc; j++) {
            argv[j] = q[i].argv[j]->buf;
            lens[j] = q[i].argv[j]->len;
        }
        c->argc = q[i].argc;
        c->argv = argv;
        c->argvlen = lens;
        call_command(c, q[i].d);
        sg_free(argv);
        sg_free(lens);
        for (int j = 0; j < q[i].argc; j++) sstr_free(q[i].argv[j]);
        sg_free(q[i].argv);
    }
    sg_free(q);
    c->in_exec = false;
    c->argc = saved_argc;
    c->argv = saved_argv;
    c->argvlen = saved_lens;
    c->cmd = saved_cmd;
}

/* ---- WATCH ---- */

static dict *watched_db(server *s, int dbid, bool create) {
    if (!s->watched) {
        if (!create) return NULL;
        s->watched = sg_calloc(sizeof(dict *) * (size_t)ks_ndb(s->ks));
    }
    if (!s->watched[dbid] && create) s->watched[dbid] = dict_new(DICT_VAL_NONE);
    return s->watched[dbid];
}

static void watch_key(client *c, const char *key, size_t klen) {
    for (int i = 0; i < c->wk_len; i++)
        if (c->wk[i].dbid == c->dbid && c->wk[i].key->len == klen &&
            !memcmp(c->wk[i].key->buf, key, klen))
            return;
    server *s = c->srv;
    dict *d = watched_db(s, c->dbid, true);
    bool created;
    dict_entry *e = dict_add(d, key, klen, &created);
    wlist *wl = e->v.p;
    if (!wl) wl = e->v.p = sg_calloc(sizeof(wlist));
    if (wl->n == wl->cap) {
        wl->cap = wl->cap ? wl->cap * 2 : 4;
        wl->c = sg_realloc(wl->c, sizeof(client *) * (size_t)wl->cap);
    }
    wl->c[wl->n++] = c;
    if (c->wk_len == c->wk_cap) {
        c->wk_cap = c->wk_cap ? c->wk_cap * 2 : 4;
        c->wk = sg_realloc(c->wk, sizeof(watched_key) * (size_t)c->wk_cap);
    }
    watched_key *w = &c->wk[c->wk_len++];
    w->dbid = c->dbid;
    w->key = sstr_new(key, klen);
    kref r;
    kentry *ke =
        kdb_lookup_read(c->db, key, klen, &r, LOOKUP_NOTOUCH | LOOKUP_NOSTATS | LOOKUP_NOEXPIRE);
    w->expired_at_watch = ke && ks_is_expired(s->ks, ke);
    if (c->wk_len == 1) s->watching_clients++;
}

void watch_unwatch_all(client *c) {
    server *s = c->srv;
    for (int i = 0; i < c->wk_len; i++) {
        watched_key *w = &c->wk[i];
        dict *d = watched_db(s, w->dbid, false);
        dict_entry *e = d ? dict_find(d, w->key->buf, w->key->len) : NULL;
        if (e) {
            wlist *wl = e->v.p;
            for (int k = 0; k < wl->n; k++) {
                if (wl->c[k] == c) {
                    wl->c[k] = wl->c[--wl->n];
                    break;
                }
            }
            if (wl->n == 0) {
                sg_free(wl->c);
                sg_free(wl);
                dict_delete(d, w->key->buf, w->key->len);
            }
        }
        sstr_free(w->key);
    }
    if (c->wk_len) s->watching_clients--;
    sg_free(c->wk);
    c->wk = NULL;
    c->wk_len = c->wk_cap = 0;
}

void watch_touch_key(server *s, int dbid, const char *key, size_t klen) {
    dict *d = watched_db(s, dbid, false);
    if (!d) return;
    dict_entry *e = dict_find(d, key, klen);
    if (!e) return;
    wlist *wl = e->v.p;
    for (int k = 0; k < wl->n; k++) wl->c[k]->flags |= CL_DIRTY_CAS;
}

void watch_touch_db(server *s, int dbid, int other_dbid) {
    dict *d = watched_db(s, dbid, false);
    if (!d || !dict_size(d)) return;
    kdb *db = ks_db(s->ks, dbid);
    kdb *other = other_dbid >= 0 ? ks_db(s->ks, other_dbid) : NULL;
    uint64_t pos = 0;
    for (dict_entry *e; (e = dict_next(d, &pos));) {
        bool hit = kdb_exists(db, e->key, e->klen) || (other && kdb_exists(other, e->key, e->klen));
        if (!hit) continue;
        wlist *wl = e->v.p;
        for (int k = 0; k < wl->n; k++) wl->c[k]->flags |= CL_DIRTY_CAS;
    }
}

void server_keyspace_event(void *ctx, kdb *db, const char *key, size_t klen, int why) {
    server *s = ctx;
    if (why == KS_EVENT_NEW) { /* only with notify-keyspace-events n */
        notify_keyspace_event(s, NOTIFY_NEW, "new", kdb_id(db), key, klen);
        return;
    }
    if (why == KS_EVENT_MISS) { /* only with notify-keyspace-events m */
        notify_keyspace_event(s, NOTIFY_KEY_MISS, "keymiss", kdb_id(db), key, klen);
        return;
    }
    if (s->watching_clients) watch_touch_key(s, kdb_id(db), key, klen);
    tracking_key_modified(s, kdb_id(db), key, klen);
    notify_keyspace_event(s, why == KS_EVENT_EXPIRED ? NOTIFY_EXPIRED : NOTIFY_EVICTED,
                          why == KS_EVENT_EXPIRED ? "expired" : "evicted", kdb_id(db), key, klen);
    aof_key_removed(s, kdb_id(db), key, klen, why);
}

void watch_command(client *c) {
    if (c->flags & CL_MULTI) {
        reply_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    /* Watching is pointless once the transaction is known to fail. */
    if (!(c->flags & CL_DIRTY_CAS))
        for (int i = 1; i < c->argc; i++) watch_key(c, c->argv[i], c->argvlen[i]);
    reply_ok(c);
}

void unwatch_command(client *c) {
    watch_unwatch_all(c);
    c->flags &= ~CL_DIRTY_CAS;
    reply_ok(c);
}
