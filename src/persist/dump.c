/*
 * DUMP and RESTORE (Redis 7.0's semantics; the payload format is Surge's
 * own, see serialize.c).
 *
 *   DUMP key
 *   RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
 *
 * RESTORE is logged deterministically: as "RESTORE key <absolute ms>
 * payload REPLACE ABSTTL" (ttl 0 when none), or as DEL when an already
 * expired restore only deleted the old key.
 */
#include "../server/server.h"
#include "serialize.h"

#include <string.h>

void dump_command(client *c) {
    kref ref;
    kentry *e = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], &ref, 0);
    if (!e) {
        reply_null(c);
        return;
    }
    sstr *payload = persist_dump_value(e);
    reply_bulk(c, payload->buf, payload->len);
    sstr_free(payload);
}

static bool policy_lfu(int policy) {
    return policy == KS_POLICY_ALLKEYS_LFU || policy == KS_POLICY_VOLATILE_LFU;
}

void restore_command(client *c) {
    bool replace = false, absttl = false;
    long long idle = -1, freq = -1, ttl;
    for (int j = 4; j < c->argc; j++) {
        int additional = c->argc - j - 1;
        if (arg_is(c, j, "replace")) {
            replace = true;
        } else if (arg_is(c, j, "absttl")) {
            absttl = true;
        } else if (arg_is(c, j, "idletime") && additional >= 1 && freq == -1) {
            if (!arg_ll_or_reply(c, j + 1, &idle, NULL)) return;
            if (idle < 0) {
                reply_error(c, "ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
            j++;
        } else if (arg_is(c, j, "freq") && additional >= 1 && idle == -1) {
            if (!arg_ll_or_reply(c, j + 1, &freq, NULL)) return;
            if (freq < 0 || freq > 255) {
                reply_error(c, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            j++;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    const char *key = c->argv[1];
    size_t klen = c->argvlen[1];
    kref ref;
    if (!replace && kdb_lookup_write(c->db, key, klen, &ref)) {
        reply_error(c, "BUSYKEY Target key name already exists.");
        return;
    }
    if (!arg_ll_or_reply(c, 2, &ttl, NULL)) return;
    if (ttl < 0) {
        reply_error(c, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    kentry *ne;
    const char *err;
    if (persist_restore_value(key, klen, c->argv[3], c->argvlen[3], -1, &ne, &err) != 0) {
        reply_errorf(c, "ERR %s", err);
        return;
    }
    keyspace *ks = c->srv->ks;
    int64_t now = ks_now(ks);
    bool deleted = false;
    if (replace && kdb_lookup_write(c->db, key, klen, &ref)) {
        kdb_delete(&ref);
        deleted = true;
    }
    if (ttl && !absttl) ttl += now;
    if (ttl && ttl <= now) { /* already expired: nothing to create */
        kentry_free(ne);
        if (deleted) {
            const char *argv[] = {"DEL", key};
            size_t lens[] = {3, klen};
            server_propagate_override(c, 2, argv, lens);
            server_key_modified(c, c->db, key, klen);
            notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, key, klen);
            server_dirty(c->srv, 1);
        }
        reply_ok(c);
        return;
    }
    kdb_add(c->db, ne);
    if (ttl) {
        kref r;
        if (kdb_lookup_write(c->db, key, klen, &r)) kdb_set_expire(&r, ttl);
    }
    if (idle >= 0 || freq >= 0) {
        kentry *e = kdb_lookup_read(c->db, key, klen, &ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
        int policy = ks_settings_of(ks)->policy;
        if (e && freq >= 0 && policy_lfu(policy)) {
            uint32_t minutes = (uint32_t)((now / 60000) & 0xFFFF);
            kentry_set_lru(e, (minutes << 8) | (uint32_t)freq);
        } else if (e && idle >= 0 && !policy_lfu(policy)) {
            uint64_t secs = (uint64_t)(now / 1000) - (uint64_t)idle;
            kentry_set_lru(e, (uint32_t)(secs & 0xFFFFFF));
        }
    }
    char num[SG_LONG_STR_SIZE];
    int nl = sg_ll2str(num, sizeof(num), ttl);
    const char *argv[] = {"RESTORE", key, num, c->argv[3], "REPLACE", "ABSTTL"};
    size_t lens[] = {7, klen, (size_t)nl, c->argvlen[3], 7, 6};
    server_propagate_override(c, ttl ? 6 : 5, argv, lens);
    server_key_modified(c, c->db, key, klen);
    notify_keyspace_event(c->srv, NOTIFY_GENERIC, "restore", c->dbid, key, klen);
    server_dirty(c->srv, 1);
    reply_ok(c);
}
