/*
 * Helpers shared by command handlers: argument parsing that replies its own
 * errors (the _or_reply convention), typed lookups, and the hooks that
 * record that a key changed.
 */
#include "config.h"
#include "server.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool arg_ll_or_reply(client *c, int i, long long *v, const char *err) {
    if (sg_str2ll(c->argv[i], c->argvlen[i], v)) return true;
    reply_error(c, err ? err : ERR_NOT_INT);
    return false;
}

bool arg_ll_range_or_reply(client *c, int i, long long *v, long long min, long long max,
                           const char *err) {
    if (!arg_ll_or_reply(c, i, v, err)) return false;
    if (*v < min || *v > max) {
        reply_error(c, err ? err : ERR_NOT_INT);
        return false;
    }
    return true;
}

bool arg_ld_or_reply(client *c, int i, long double *v, const char *err) {
    if (sg_str2ld(c->argv[i], c->argvlen[i], v)) return true;
    reply_error(c, err ? err : ERR_NOT_FLOAT);
    return false;
}

bool arg_cursor_or_reply(client *c, int i, uint64_t *out) {
    const char *s = c->argv[i]; /* NUL-terminated by the parser */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (isspace((unsigned char)s[0]) || *end != '\0' || errno == ERANGE) {
        reply_error(c, "ERR invalid cursor");
        return false;
    }
    *out = v;
    return true;
}

bool arg_is(const client *c, int i, const char *word) {
    return i < c->argc && !strcasecmp(c->argv[i], word) && strlen(word) == c->argvlen[i];
}

kentry *lookup_read_typed(client *c, int i, int type, kref *ref, bool *wrong) {
    kentry *e = kdb_lookup_read(c->db, c->argv[i], c->argvlen[i], ref, 0);
    *wrong = false;
    if (e && kentry_type(e) != type) {
        *wrong = true;
        reply_wrongtype(c);
        return NULL;
    }
    return e;
}

kentry *lookup_write_typed(client *c, int i, int type, kref *ref, bool *wrong) {
    kentry *e = kdb_lookup_write(c->db, c->argv[i], c->argvlen[i], ref);
    *wrong = false;
    if (e && kentry_type(e) != type) {
        *wrong = true;
        reply_wrongtype(c);
        return NULL;
    }
    return e;
}

void server_key_modified(client *c, kdb *db, const char *key, size_t klen) {
    if (c->srv->watching_clients) watch_touch_key(c->srv, kdb_id(db), key, klen);
    if (block_count()) block_signal_key(kdb_id(db), key, klen);
    tracking_key_modified(c->srv, kdb_id(db), key, klen);
}

void server_dirty(server *s, long long n) {
    s->dirty += (uint64_t)n;
}

bool server_oom(const server *s) {
    SG_UNUSED(s);
    return cfg.maxmemory && sg_used_memory() > cfg.maxmemory;
}
