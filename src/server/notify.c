/*
 * Keyspace notifications: Redis's `notify-keyspace-events`.
 *
 * When a command changes a key, its handler calls notify_keyspace_event()
 * with a class (NOTIFY_STRING, NOTIFY_LIST, ...), an event name ("set",
 * "lpush", "del", ...) and the key. If the class is enabled, the event goes
 * out through ordinary pub/sub, on up to two channels:
 *
 *     __keyspace@<db>__:<key>     message: <event>   (flag K)
 *     __keyevent@<db>__:<event>   message: <key>     (flag E)
 *
 * keyspace first, then keyevent, exactly as Redis 7.0 does, so a subscriber
 * sees the same message sequence from either server. The core reports
 * "expired" and "evicted" itself (multi.c, server_keyspace_event); command
 * handlers report everything else next to their server_key_modified() call.
 *
 * The configured value is a set of flag letters (see docs/notifications.md).
 * Parsing and formatting follow Redis's keyspaceEventsStringToFlags() and
 * keyspaceEventsFlagsToString() letter for letter, including their quirks:
 * "A" is g$lshzxetd (not m, not n), and when every "A" class is set the
 * formatted string is "A" followed by K, E, m only, so an enabled n is not
 * shown (Redis 7.0 prints "AKEm" for "KEAmn").
 *
 * Invariant: with the default "" (cfg.notify_keyspace_events == 0) the
 * function returns after one test, so notifications cost nothing when off.
 */
#include "config.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

/* Module events ('d'): accepted and shown like Redis, never raised. */
#define NOTIFY_MODULE (1 << 13)
#define NOTIFY_ALL                                                                                 \
    (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH | NOTIFY_ZSET |       \
     NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE)

int notify_flags_parse(const char *s, size_t len) {
    int flags = 0;
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case 'A':
            flags |= NOTIFY_ALL;
            break;
        case 'g':
            flags |= NOTIFY_GENERIC;
            break;
        case '$':
            flags |= NOTIFY_STRING;
            break;
        case 'l':
            flags |= NOTIFY_LIST;
            break;
        case 's':
            flags |= NOTIFY_SET;
            break;
        case 'h':
            flags |= NOTIFY_HASH;
            break;
        case 'z':
            flags |= NOTIFY_ZSET;
            break;
        case 'x':
            flags |= NOTIFY_EXPIRED;
            break;
        case 'e':
            flags |= NOTIFY_EVICTED;
            break;
        case 'K':
            flags |= NOTIFY_KEYSPACE;
            break;
        case 'E':
            flags |= NOTIFY_KEYEVENT;
            break;
        case 't':
            flags |= NOTIFY_STREAM;
            break;
        case 'm':
            flags |= NOTIFY_KEY_MISS;
            break;
        case 'd':
            flags |= NOTIFY_MODULE;
            break;
        case 'n':
            flags |= NOTIFY_NEW;
            break;
        default:
            return -1;
        }
    }
    return flags;
}

size_t notify_flags_format(int flags, char *out, size_t outlen) {
    static const struct {
        int flag;
        char letter;
    } order[] = {{NOTIFY_GENERIC, 'g'}, {NOTIFY_STRING, '$'},  {NOTIFY_LIST, 'l'},
                 {NOTIFY_SET, 's'},     {NOTIFY_HASH, 'h'},    {NOTIFY_ZSET, 'z'},
                 {NOTIFY_EXPIRED, 'x'}, {NOTIFY_EVICTED, 'e'}, {NOTIFY_STREAM, 't'},
                 {NOTIFY_MODULE, 'd'},  {NOTIFY_NEW, 'n'}};
    char buf[32];
    size_t n = 0;
    if ((flags & NOTIFY_ALL) == NOTIFY_ALL) {
        buf[n++] = 'A';
    } else {
        for (size_t i = 0; i < SG_ARRAY_LEN(order); i++)
            if (flags & order[i].flag) buf[n++] = order[i].letter;
    }
    if (flags & NOTIFY_KEYSPACE) buf[n++] = 'K';
    if (flags & NOTIFY_KEYEVENT) buf[n++] = 'E';
    if (flags & NOTIFY_KEY_MISS) buf[n++] = 'm';
    if (outlen) {
        size_t c = n < outlen - 1 ? n : outlen - 1;
        memcpy(out, buf, c);
        out[c] = '\0';
    }
    return n;
}

static void publish(const char *prefix, int dbid, const char *suffix, size_t slen, const char *msg,
                    size_t mlen) {
    char small[256];
    char head[48];
    int hl = snprintf(head, sizeof(head), "__%s@%d__:", prefix, dbid);
    size_t clen = (size_t)hl + slen;
    char *ch = clen <= sizeof(small) ? small : sg_malloc(clen);
    memcpy(ch, head, (size_t)hl);
    memcpy(ch + hl, suffix, slen);
    pubsub_publish(0, ch, clen, msg, mlen);
    if (ch != small) sg_free(ch);
}

void notify_keyspace_event(server *s, int type, const char *event, int dbid, const char *key,
                           size_t klen) {
    SG_UNUSED(s);
    int flags = cfg.notify_keyspace_events;
    if (!(flags & type)) return;
    size_t elen = strlen(event);
    if (flags & NOTIFY_KEYSPACE) publish("keyspace", dbid, key, klen, event, elen);
    if (flags & NOTIFY_KEYEVENT) publish("keyevent", dbid, event, elen, key, klen);
}
