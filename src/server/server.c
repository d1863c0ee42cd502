/*
 * The server process's periodic and per-iteration work: accepting clients
 * (maxclients and protected-mode refusals), the cron (expiry, rehashing,
 * background frees, client timeouts, metrics deadlines, statistics), the
 * before-sleep hook (signals, resumed clients, writing replies, freeing
 * closed clients), shutdown, and pushing configuration into the layers
 * below. main.c only parses arguments and starts the loop.
 */
#include "../security/acl.h"
#include "config.h"
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

server *srv;
volatile sig_atomic_t server_got_signal;

static void accept_clients(server *s, int fd, bool tls) {
    for (int i = 0; i < 1000; i++) {
        char ip[64];
        int port = 0;
        int cfd = net_accept(fd, ip, sizeof(ip), &port);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sg_log(SG_LOG_WARNING, "Accepting client connection: %s", strerror(errno));
            return;
        }
        net_set_nodelay(cfd);
        if (s->nclients >= (uint64_t)cfg.maxclients) {
            static const char msg[] = "-ERR max number of clients reached\r\n";
            if (!tls && write(cfd, msg, sizeof(msg) - 1) < 0) { /* best effort */
            }
            close(cfd);
            s->stat_rejected_conn++;
            continue;
        }
        if (cfg.protected_mode && acl_default_nopass() && !net_is_loopback(ip)) {
            static const char msg[] =
                "-DENIED Redis is running in protected mode because protected mode is enabled "
                "and no password is set for the default user. In this mode connections are only "
                "accepted from the loopback interface. If you want to connect from external "
                "computers to Redis you may adopt one of the following solutions: 1) Just disable "
                "protected mode sending the command 'CONFIG SET protected-mode no' from the "
                "loopback interface by connecting to Redis from the same host the server is "
                "running, however MAKE SURE Redis is not publicly accessible from internet if "
                "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively "
                "you can just disable the protected mode by editing the Redis configuration "
                "file, and setting the protected mode option to 'no', and then restarting the "
                "server. 3) If you started the server manually just for testing, restart it with "
                "the '--protected-mode no' option. 4) Set up an authentication password for the "
                "default user. NOTE: You only need to do one of the above things in order for "
                "the server to start accepting connections from the outside.\r\n";
            if (!tls && write(cfd, msg, sizeof(msg) - 1) < 0) { /* best effort */
            }
            close(cfd);
            s->stat_rejected_conn++;
            continue;
        }
        conn *cn = tls ? conn_tls_new(cfd) : conn_plain_new(cfd);
        if (!cn) { /* TLS context unavailable: logged by tls.c */
            close(cfd);
            s->stat_rejected_conn++;
            continue;
        }
        s->stat_numconnections++;
        if (!client_create(s, cn, ip, port)) {
            sg_log(SG_LOG_WARNING, "Registering fd event for the new client: %s", strerror(errno));
        }
    }
}

void server_accept_handler(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(mask);
    accept_clients(data, fd, false);
}

void server_tls_accept_handler(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(mask);
    accept_clients(data, fd, true);
}

static void update_instantaneous(server *s) {
    uint64_t now = sg_monotonic_us();
    if (!s->inst_last_us) {
        s->inst_last_us = now;
        return;
    }
    uint64_t dt = now - s->inst_last_us;
    if (dt < 100000) return;
    double secs = (double)dt / 1e6;
    s->inst_ops = (double)(s->stat_numcommands - s->inst_last_cmds) / secs;
    s->inst_in_kbps = (double)(s->stat_net_input - s->inst_last_in) / secs / 1024;
    s->inst_out_kbps = (double)(s->stat_net_output - s->inst_last_out) / secs / 1024;
    s->inst_last_cmds = s->stat_numcommands;
    s->inst_last_in = s->stat_net_input;
    s->inst_last_out = s->stat_net_output;
    s->inst_last_us = now;
}

static void clients_cron(server *s) {
    uint64_t now = sg_monotonic_us();
    s->cached_ms = sg_mstime();
    for (client *c = s->clients; c; c = c->next) {
        if (c->flags & CL_CLOSE_ASAP) continue;
        if (conn_tls_handshake_expired(c->conn, now, (uint64_t)cfg.tls_handshake_timeout * 1000)) {
            sg_log(SG_LOG_VERBOSE, "TLS handshake timeout, closing id=%llu addr=%s",
                   (unsigned long long)c->id, c->addr);
            client_close_async(c);
            continue;
        }
        if (cfg.timeout && !(c->flags & CL_MONITOR) &&
            now - c->last_interaction_us > (uint64_t)cfg.timeout * 1000000) {
            sg_log(SG_LOG_VERBOSE, "Closing idle client id=%llu", (unsigned long long)c->id);
            client_close_async(c);
            continue;
        }
        /* The soft output limit is time-based: check it even when idle. */
        if (c->rbytes) reply_raw(c, "", 0);
        /* Shrink an idle, empty, big query buffer. */
        if (c->qlen == 0 && c->qcap > CLIENT_READ_SIZE * 2 && !c->pending_cmd) {
            sg_free(c->qbuf);
            c->qbuf = NULL;
            c->qcap = 0;
        }
    }
}

void server_cron(ev_loop *l, void *data) {
    server *s = data;
    s->cron_loops++;
    s->cached_ms = sg_mstime();
    ks_set_now(s->ks, s->cached_ms);
    int hz = cfg.hz < 1 ? 1 : cfg.hz > 500 ? 500 : (int)cfg.hz;
    /* Expiry: up to 25% of a tick's time at effort 1, scaled to 40% at 10. */
    uint64_t tick_us = 1000000u / (uint64_t)hz;
    uint64_t budget = tick_us * (uint64_t)(25 + (cfg.active_expire_effort - 1) * 15 / 9) / 100;
    if (!debug_active_expire_disabled) {
        uint64_t t0 = sg_monotonic_us();
        ks_active_expire(s->ks, budget);
        uint64_t ms = (sg_monotonic_us() - t0) / 1000;
        if (cfg.latency_monitor_threshold && ms >= (uint64_t)cfg.latency_monitor_threshold)
            latency_add(&s->latency, "expire-cycle", (uint32_t)ms, s->cached_ms / 1000);
    }
    ks_rehash_step(s->ks, 1000);
    ks_background_step(s->ks, 2000);
    clients_cron(s);
    metrics_cron(s);
    aof_cron(s);
    snapshot_cron(s);
    update_instantaneous(s);
    size_t used = sg_used_memory();
    if (used > s->peak_memory) {
        s->peak_memory = used;
        s->peak_memory_time = s->cached_ms;
    }
    ev_set_period(l, 1000 / hz);
    if (s->paused && s->pause_until_ms && s->cached_ms >= s->pause_until_ms) {
        s->paused = false;
        for (client *c = s->clients; c; c = c->next) client_process_pending_input(c);
    }
}

void server_before_sleep(ev_loop *l, void *data) {
    server *s = data;
    uint64_t woke = ev_last_wake_us(l);
    if (woke) { /* time this loop iteration spent working */
        uint64_t us = sg_monotonic_us() - woke;
        s->loop_prom[obs_prom_index(us)]++;
        s->loop_sum_us += us;
        s->loop_count++;
    }
    if (server_got_signal && !s->shutdown_asap) {
        sg_log(SG_LOG_WARNING, "Received %s scheduling shutdown...",
               server_got_signal == SIGINT ? "SIGINT" : "SIGTERM");
        /* With save points, a final snapshot first; if it fails, keep
         * running (as Redis does) rather than lose the data. */
        if (snapshot_shutdown(s, false, false) == 0)
            s->shutdown_asap = true;
        else
            server_got_signal = 0;
    }
    if (s->shutdown_asap) {
        server_shutdown(s, false);
        ev_stop(l);
        return;
    }
    if (s->resume_clients && !s->paused) {
        s->resume_clients = false;
        for (client *c = s->clients; c; c = c->next) client_process_pending_input(c);
    }
    tracking_before_sleep(s); /* BCAST invalidations, table limit */
    if (block_count()) {
        block_handle_ready(s);
        ev_set_next_wakeup(l, block_handle_timeouts(s));
    }
    snapshot_before_sleep(s); /* a slice of a background save */
    aof_before_sleep(s);      /* the log is written (and fsynced per policy) before replies */
    server_flush_pending_writes(s);
    server_free_closed_clients(s);
    if (ks_lazyfree_pending(s->ks)) ks_background_step(s->ks, 1000);
}

void server_shutdown(server *s, bool nosave) {
    SG_UNUSED(nosave);
    sg_log(SG_LOG_WARNING, "User requested shutdown...");
    /* The log first (replies must not leave before it is on disk), then
     * what clients are owed, best effort, then close. */
    aof_shutdown(s);
    server_flush_pending_writes(s);
    while (s->clients) client_free(s->clients);
    metrics_stop(s);
    for (int i = 0; i < s->nlisteners; i++) close(s->listeners[i]);
    s->nlisteners = 0;
    if (cfg.pidfile && cfg.pidfile[0]) unlink(cfg.pidfile);
#ifdef SURGE_FREE_AT_EXIT
    /* Sanitizer builds free the dataset so LeakSanitizer reports only real
     * leaks; release builds leave it to the kernel (fast exit). */
    ks_destroy(s->ks);
    s->ks = NULL;
#endif
    sg_log(SG_LOG_WARNING, "Surge is now ready to exit, bye bye...");
}

void config_apply_settings(server *s) {
    ks_settings *ks = ks_settings_of(s->ks);
    ks->policy = cfg.maxmemory_policy;
    ks->lfu_log_factor = (int)cfg.lfu_log_factor;
    ks->lfu_decay_time = (int)cfg.lfu_decay_time;
    ks->samples = (int)cfg.maxmemory_samples;
    ks->active_expire_effort = (int)cfg.active_expire_effort;
    ks->report_new = (cfg.notify_keyspace_events & NOTIFY_NEW) != 0;
    ks->report_miss = (cfg.notify_keyspace_events & NOTIFY_KEY_MISS) != 0;
    sg_log_set_level(cfg.loglevel, cfg.log_format);
    acl_sync_requirepass();
    if (s->loop) ev_set_wait_batch(s->loop, (int)cfg.io_uring_wait_batch_us);
}
