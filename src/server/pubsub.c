/*
 * Pub/Sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs,
 * PUBLISH, SPUBLISH, PUBSUB.
 *
 * The server keeps, per namespace (global channels, shard channels), a dict
 * from channel to the list of subscribed clients, and a flat list of
 * (pattern, client) pairs for pattern subscriptions. Each client keeps its
 * own subscriptions (dicts, so unsubscribing all is proportional to what it
 * holds). PUBLISH costs O(subscribers of the channel + patterns).
 *
 * Messages are RESP3 push frames (>) for RESP3 clients and arrays for RESP2
 * clients. A RESP2 client with any subscription is in the subscribed
 * context: only (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET are accepted (the
 * dispatcher checks pubsub_context_allows()).
 *
 * A subscriber that does not read is disconnected at the pubsub class of
 * client-output-buffer-limit (networking.c), so a slow reader cannot make
 * the server buffer without bound.
 */
#include "config.h"
#include "server.h"

#include <string.h>
#include <strings.h>

typedef struct clist {
    int n, cap;
    client **c;
} clist;

typedef struct psub {
    sstr *pattern;
    client *c;
} psub;

static dict *chans[2]; /* [0] global channels, [1] shard channels: name -> clist */
static psub *pats;
static size_t npats, patcap;

static void clist_add(clist *l, client *c) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->c = sg_realloc(l->c, sizeof(client *) * (size_t)l->cap);
    }
    l->c[l->n++] = c;
}

static bool clist_del(clist *l, client *c) {
    for (int i = 0; i < l->n; i++) {
        if (l->c[i] == c) {
            l->c[i] = l->c[--l->n];
            return true;
        }
    }
    return false;
}

static dict **client_dict(client *c, int shard) {
    return shard ? &c->ssubs : &c->subs;
}

long long pubsub_count(const client *c) {
    return (long long)((c->subs ? dict_size(c->subs) : 0) + c->npsubs);
}

static long long shard_count(const client *c) {
    return (long long)(c->ssubs ? dict_size(c->ssubs) : 0);
}

bool pubsub_subscribed(const client *c) {
    return pubsub_count(c) + shard_count(c) > 0;
}

void reply_push(client *c, long long n) {
    char buf[32];
    size_t l = resp_fmt_header(buf, c->resp >= 3 ? '>' : '*', n);
    reply_raw(c, buf, l);
}

static void confirm(client *c, const char *kind, const char *ch, size_t len, long long count) {
    reply_push(c, 3);
    reply_bulk_cstr(c, kind);
    if (ch)
        reply_bulk(c, ch, len);
    else
        reply_null(c);
    reply_int(c, count);
}

static bool subscribe(client *c, int shard, const char *ch, size_t len) {
    dict **mine = client_dict(c, shard);
    if (!*mine) *mine = dict_new(DICT_VAL_NONE);
    bool created;
    dict_add(*mine, ch, len, &created);
    if (!created) return false;
    if (!chans[shard]) chans[shard] = dict_new(DICT_VAL_NONE);
    dict_entry *e = dict_add(chans[shard], ch, len, NULL);
    if (!e->v.p) e->v.p = sg_calloc(sizeof(clist));
    clist_add(e->v.p, c);
    return true;
}

static bool unsubscribe(client *c, int shard, const char *ch, size_t len) {
    dict **mine = client_dict(c, shard);
    if (!*mine || !dict_delete(*mine, ch, len)) return false;
    dict_entry *e = chans[shard] ? dict_find(chans[shard], ch, len) : NULL;
    if (e) {
        clist *l = e->v.p;
        clist_del(l, c);
        if (l->n == 0) {
            sg_free(l->c);
            sg_free(l);
            dict_delete(chans[shard], ch, len);
        }
    }
    return true;
}

static void unsubscribe_all(client *c, int shard, bool notify) {
    dict **mine = client_dict(c, shard);
    const char *kind = shard ? "sunsubscribe" : "unsubscribe";
    if (!*mine || !dict_size(*mine)) {
        if (notify) confirm(c, kind, NULL, 0, shard ? shard_count(c) : pubsub_count(c));
        return;
    }
    while (dict_size(*mine)) {
        uint64_t pos = 0;
        dict_entry *e = dict_next(*mine, &pos);
        sstr *name = sstr_new(e->key, e->klen);
        unsubscribe(c, shard, name->buf, name->len);
        if (notify)
            confirm(c, kind, name->buf, name->len, shard ? shard_count(c) : pubsub_count(c));
        sstr_free(name);
    }
}

static bool psubscribe(client *c, const char *p, size_t len) {
    for (size_t i = 0; i < c->npsubs; i++)
        if (c->psubs[i]->len == len && !memcmp(c->psubs[i]->buf, p, len)) return false;
    if (c->npsubs == c->psubcap) {
        c->psubcap = c->psubcap ? c->psubcap * 2 : 4;
        c->psubs = sg_realloc(c->psubs, sizeof(sstr *) * c->psubcap);
    }
    c->psubs[c->npsubs++] = sstr_new(p, len);
    if (npats == patcap) {
        patcap = patcap ? patcap * 2 : 16;
        pats = sg_realloc(pats, sizeof(psub) * patcap);
    }
    pats[npats].pattern = sstr_new(p, len);
    pats[npats].c = c;
    npats++;
    return true;
}

static bool punsubscribe(client *c, const char *p, size_t len) {
    bool found = false;
    for (size_t i = 0; i < c->npsubs; i++) {
        if (c->psubs[i]->len == len && !memcmp(c->psubs[i]->buf, p, len)) {
            sstr_free(c->psubs[i]);
            memmove(c->psubs + i, c->psubs + i + 1, sizeof(sstr *) * (c->npsubs - i - 1));
            c->npsubs--;
            found = true;
            break;
        }
    }
    if (!found) return false;
    for (size_t i = 0; i < npats; i++) {
        if (pats[i].c == c && pats[i].pattern->len == len &&
            !memcmp(pats[i].pattern->buf, p, len)) {
            sstr_free(pats[i].pattern);
            pats[i] = pats[--npats];
            break;
        }
    }
    return true;
}

void pubsub_client_free(client *c) {
    unsubscribe_all(c, 0, false);
    unsubscribe_all(c, 1, false);
    while (c->npsubs) {
        sstr *p = sstr_new(c->psubs[0]->buf, c->psubs[0]->len);
        punsubscribe(c, p->buf, p->len);
        sstr_free(p);
    }
    dict_free(c->subs);
    dict_free(c->ssubs);
    sg_free(c->psubs);
    c->subs = c->ssubs = NULL;
    c->psubs = NULL;
    c->psubcap = 0;
}

bool pubsub_context_allows(const client *c, const cmd_def *d) {
    if (c->resp >= 3 || !pubsub_subscribed(c)) return true;
    switch (d->id) {
    case CMDID_subscribe:
    case CMDID_unsubscribe:
    case CMDID_psubscribe:
    case CMDID_punsubscribe:
    case CMDID_ssubscribe:
    case CMDID_sunsubscribe:
    case CMDID_ping:
    case CMDID_quit:
    case CMDID_reset:
        return true;
    default:
        return false;
    }
}

void subscribe_command(client *c) {
    for (int i = 1; i < c->argc; i++) {
        subscribe(c, 0, c->argv[i], c->argvlen[i]);
        confirm(c, "subscribe", c->argv[i], c->argvlen[i], pubsub_count(c));
    }
}

void ssubscribe_command(client *c) {
    for (int i = 1; i < c->argc; i++) {
        subscribe(c, 1, c->argv[i], c->argvlen[i]);
        confirm(c, "ssubscribe", c->argv[i], c->argvlen[i], shard_count(c));
    }
}

void unsubscribe_command(client *c) {
    if (c->argc == 1) {
        unsubscribe_all(c, 0, true);
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        unsubscribe(c, 0, c->argv[i], c->argvlen[i]);
        confirm(c, "unsubscribe", c->argv[i], c->argvlen[i], pubsub_count(c));
    }
}

void sunsubscribe_command(client *c) {
    if (c->argc == 1) {
        unsubscribe_all(c, 1, true);
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        unsubscribe(c, 1, c->argv[i], c->argvlen[i]);
        confirm(c, "sunsubscribe", c->argv[i], c->argvlen[i], shard_count(c));
    }
}

void psubscribe_command(client *c) {
    for (int i = 1; i < c->argc; i++) {
        psubscribe(c, c->argv[i], c->argvlen[i]);
        confirm(c, "psubscribe", c->argv[i], c->argvlen[i], pubsub_count(c));
    }
}

void punsubscribe_command(client *c) {
    if (c->argc == 1) {
        if (!c->npsubs) {
            confirm(c, "punsubscribe", NULL, 0, pubsub_count(c));
            return;
        }
        while (c->npsubs) {
            sstr *p = sstr_new(c->psubs[0]->buf, c->psubs[0]->len);
            punsubscribe(c, p->buf, p->len);
            confirm(c, "punsubscribe", p->buf, p->len, pubsub_count(c));
            sstr_free(p);
        }
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        punsubscribe(c, c->argv[i], c->argvlen[i]);
        confirm(c, "punsubscribe", c->argv[i], c->argvlen[i], pubsub_count(c));
    }
}

/* Delivers msg on channel; returns the number of receivers. Also used for
 * keyspace notifications. */
long long pubsub_publish(int shard, const char *ch, size_t clen, const char *msg, size_t mlen) {
    long long n = 0;
    dict_entry *e = chans[shard] ? dict_find(chans[shard], ch, clen) : NULL;
    if (e) {
        clist *l = e->v.p;
        for (int i = 0; i < l->n; i++) {
            client *s = l->c[i];
            reply_push(s, 3);
            reply_bulk_cstr(s, shard ? "smessage" : "message");
            reply_bulk(s, ch, clen);
            reply_bulk(s, msg, mlen);
            n++;
        }
    }
    if (!shard) {
        for (size_t i = 0; i < npats; i++) {
            psub *p = &pats[i];
            if (!sg_glob_match(p->pattern->buf, p->pattern->len, ch, clen, false)) continue;
            reply_push(p->c, 4);
            reply_bulk_cstr(p->c, "pmessage");
            reply_bulk(p->c, p->pattern->buf, p->pattern->len);
            reply_bulk(p->c, ch, clen);
            reply_bulk(p->c, msg, mlen);
            n++;
        }
    }
    return n;
}

void publish_command(client *c) {
    reply_int(c, pubsub_publish(0, c->argv[1], c->argvlen[1], c->argv[2], c->argvlen[2]));
}

void spublish_command(client *c) {
    reply_int(c, pubsub_publish(1, c->argv[1], c->argvlen[1], c->argv[2], c->argvlen[2]));
}

static void channels_generic(client *c, int shard) {
    const char *pat = c->argc == 3 ? c->argv[2] : NULL;
    size_t plen = c->argc == 3 ? c->argvlen[2] : 0;
    if (c->argc > 3) {
        reply_errorf(c,
                     "ERR Unknown subcommand or wrong number of arguments for '%s'. Try PUBSUB "
                     "HELP.",
                     c->argv[1]);
        return;
    }
    uint64_t n = 0, pos = 0;
    dict_entry **list = NULL;
    if (chans[shard]) {
        list = sg_malloc(sizeof(dict_entry *) * (dict_size(chans[shard]) + 1));
        for (dict_entry *e; (e = dict_next(chans[shard], &pos));)
            if (!pat || sg_glob_match(pat, plen, e->key, e->klen, false)) list[n++] = e;
    }
    reply_array(c, (long long)n);
    for (uint64_t i = 0; i < n; i++) reply_bulk(c, list[i]->key, list[i]->klen);
    sg_free(list);
}

void pubsub_channels_command(client *c) {
    channels_generic(c, 0);
}

void pubsub_shardchannels_command(client *c) {
    channels_generic(c, 1);
}

static void numsub_generic(client *c, int shard) {
    reply_map(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        dict_entry *e = chans[shard] ? dict_find(chans[shard], c->argv[i], c->argvlen[i]) : NULL;
        reply_bulk(c, c->argv[i], c->argvlen[i]);
        reply_int(c, e ? ((clist *)e->v.p)->n : 0);
    }
}

void pubsub_numsub_command(client *c) {
    numsub_generic(c, 0);
}

void pubsub_shardnumsub_command(client *c) {
    numsub_generic(c, 1);
}

void pubsub_numpat_command(client *c) {
    /* distinct patterns, as Redis counts them */
    long long n = 0;
    for (size_t i = 0; i < npats; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = pats[j].pattern->len == pats[i].pattern->len &&
                   !memcmp(pats[j].pattern->buf, pats[i].pattern->buf, pats[i].pattern->len);
        n += !seen;
    }
    reply_int(c, n);
}

void pubsub_help_command(client *c) {
    static const char *const help[] = {
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: "
        "'*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        NULL};
    reply_help(c, "PUBSUB", help);
}

uint64_t pubsub_channel_count(void) {
    return chans[0] ? dict_size(chans[0]) : 0;
}

uint64_t pubsub_pattern_count(void) {
    return npats;
}
