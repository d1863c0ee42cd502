/*
 * fuzz_exec: command execution. Fuzzed argument vectors run through
 * dispatch_command (src/server/dispatch.c), so the arity, type, OOM and
 * transaction checks apply, against one live keyspace that persists across
 * inputs.
 *
 * The server is initialised once (config defaults, keyspace, command table,
 * ACL default user) and the commands run on a private client with no
 * connection, authenticated, as the AOF replay does: its replies are dropped
 * by reply_raw. The input is split into commands on '\n' and each command
 * into arguments on spaces and 0 bytes. Key arguments (cmd_get_keys) are
 * mapped to one of four names ("k0".."k3", by their first byte) so that
 * commands interact.
 *
 * Left out (they would end the process, wait on I/O, reconfigure the server
 * or change the client's own user): SHUTDOWN, DEBUG, MONITOR, the SUBSCRIBE
 * family, CLIENT KILL/PAUSE/UNPAUSE, CONFIG SET/REWRITE, BGREWRITEAOF, ACL
 * SETUSER/DELUSER/SAVE/LOAD. A blocking command that finds nothing blocks
 * the client (there is no event loop): it is unblocked at once with
 * block_unblock(). SRANDMEMBER, ZRANDMEMBER and HRANDFIELD with a negative
 * count below -100,000 are skipped: they pick |count| elements with
 * repetition, as in Redis; a real client's loop stops at its output-buffer
 * limit (reply_stopped), but this client drops its replies and has none, so
 * -2147483648 would be minutes of work (a fuzzer timeout, not a bug). Every
 * input ends with FLUSHALL (see the end).
 *
 * Properties, beyond ASan/UBSan/LSan: ks_check() (it aborts on an
 * inconsistent keyspace) every 16 inputs and after each FLUSHALL; the client
 * holds no reply bytes and is never blocked between commands.
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
            fprintf(stderr, "fuzz_exec: property failed: %s (%s:%d)\n", #cond, __FILE__,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_ARGS     64
#define MAX_COMMANDS 64

static client *fc;
static char *argv_buf[MAX_ARGS];
static size_t argv_len[MAX_ARGS];
static unsigned long long runs;

static void init_once(void) {
    if (fc) return;
    config_init_defaults();
    cfg.loglevel = SG_LOG_WARNING; /* quiet */
    /* Bounds what one command may build (SETRANGE/SETBIT offsets, APPEND):
     * the default 512 MB would take the fuzzer past -rss_limit_mb. */
    cfg.proto_max_bulk_len = 1024 * 1024;
    sg_hash_seed_init();
    server_init_handlers();
    srv = sg_calloc(sizeof(server));
    srv->start_ms = sg_mstime();
    srv->start_us = sg_monotonic_us();
    srv->cached_ms = srv->start_ms;
    snprintf(srv->run_id, sizeof(srv->run_id), "%040d", 0);
    srv->ks = ks_create((int)cfg.databases);
    ks_set_hook(srv->ks, server_keyspace_event, srv);
    config_apply_settings(srv);
    acl_init();
    fc = sg_calloc(sizeof(client));
    fc->id = ++srv->next_client_id;
    fc->srv = srv;
    fc->resp = 2;
    fc->db = ks_db(srv->ks, 0);
    fc->argv_cap = MAX_ARGS;
    fc->argv = argv_buf;
    fc->argvlen = argv_len;
    snprintf(fc->addr, sizeof(fc->addr), "fuzz");
    acl_client_init(fc);
    FUZZ_CHECK(fc->flags & CL_AUTHENTICATED);
}

static bool excluded(const cmd_def *d) {
    switch (d->id) {
    case CMDID_shutdown:
    case CMDID_debug:
    case CMDID_monitor:
    case CMDID_subscribe:
    case CMDID_psubscribe:
    case CMDID_ssubscribe:
    case CMDID_client_kill:
    case CMDID_client_pause:
    case CMDID_client_unpause:
    case CMDID_config_set:
    case CMDID_config_rewrite:
    case CMDID_bgrewriteaof:
    case CMDID_acl_setuser:
    case CMDID_acl_deluser:
    case CMDID_acl_save:
    case CMDID_acl_load:
        return true;
    default:
        return false;
    }
}

static void run_one(int argc) {
    const cmd_def *d = cmd_lookup(argv_buf[0], argv_len[0]);
    if (d && d->nsubs && argc >= 2) {
        const cmd_def *sub = cmd_lookup_sub(d, argv_buf[1], argv_len[1]);
        if (sub) d = sub;
    }
    if (d && excluded(d)) return;
    if (d && argc >= 3 &&
        (d->id == CMDID_srandmember || d->id == CMDID_zrandmember || d->id == CMDID_hrandfield)) {
        long long count;
        if (sg_str2ll(argv_buf[2], argv_len[2], &count) && count < -100000) return;
    }
    if (d && !d->nsubs && cmd_arity_ok(d, argc)) {
        int pos[MAX_ARGS];
        uint32_t kflags[MAX_ARGS];
        int nk =
            cmd_get_keys(d, argc, (const char *const *)argv_buf, argv_len, pos, kflags, MAX_ARGS);
        for (int i = 0; i < nk && i < MAX_ARGS; i++) {
            int k = pos[i];
            FUZZ_CHECK(k >= 1 && k < argc);
            char *a = argv_buf[k];
            unsigned char c0 = argv_len[k] ? (unsigned char)a[0] : 0;
            /* argv_buf[k] has room: every argument is at least 3 bytes. */
            a[0] = 'k';
            a[1] = (char)('0' + (c0 & 3));
            a[2] = '\0';
            argv_len[k] = 2;
        }
    }
    /* FLUSHALL/FLUSHDB ASYNC hand the old tables to a lazy free that needs
     * the event loop: run them synchronously. */
    if (d && (d->id == CMDID_flushall || d->id == CMDID_flushdb) && argc == 2 && argv_len[1] == 5) {
        memcpy(argv_buf[1], "sync", 5);
        argv_len[1] = 4;
    }
    fc->argc = argc;
    bool done = dispatch_command(fc);
    if (fc->blocked) {
        FUZZ_CHECK(!done);
        block_unblock(fc);
    }
    /* QUIT, "POST" and friends schedule a close: nothing closes a private
     * client, so forget it and go on. */
    fc->flags &= ~(CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_FREE_PENDING | CL_REPLY_OFF |
                   CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT);
    srv->nto_close = 0;
    FUZZ_CHECK(!fc->blocked && fc->olen == 0 && fc->rhead == NULL && fc->rbytes == 0);
    FUZZ_CHECK(srv->pending_writes == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    const char *p = (const char *)data;
    size_t i = 0;
    int ncmd = 0;
    while (i < size && ncmd < MAX_COMMANDS) {
        const char *nl = memchr(p + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - p) : size;
        int argc = 0;
        while (i < end && argc < MAX_ARGS) {
            while (i < end && (p[i] == ' ' || p[i] == '\0' || p[i] == '\r')) i++;
            size_t s = i;
            while (i < end && p[i] != ' ' && p[i] != '\0' && p[i] != '\r') i++;
            if (i == s) break;
            size_t n = i - s;
            argv_buf[argc] = sg_malloc(n + 3); /* room for a mapped key name */
            memcpy(argv_buf[argc], p + s, n);
            argv_buf[argc][n] = '\0';
            argv_len[argc] = n;
            argc++;
        }
        i = end + 1;
        if (argc) {
            run_one(argc);
            ncmd++;
        }
        for (int k = 0; k < argc; k++) sg_free(argv_buf[k]);
    }
    /* Leave no transaction or watch behind: each input starts clean, but on
     * the same keyspace. */
    multi_discard(fc);
    watch_unwatch_all(fc);
    fc->dbid = 0;
    runs++;
    if (runs % 16 == 0) ks_check(srv->ks);
    /* Entries live in the keyspace through pointers LeakSanitizer does not
     * follow (it then reports them as leaked after the input that made
     * them), so every input ends with a synchronous FLUSHALL. */
    argv_buf[0] = (char *)"flushall";
    argv_len[0] = 8;
    fc->argc = 1;
    dispatch_command(fc);
    ks_check(srv->ks);
    return 0;
}
