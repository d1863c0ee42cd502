/*
 * surge-server: start-up, the accept path, the periodic cron and the
 * before-sleep hook, and shutdown.
 *
 *   surge-server [config-file] [--directive value ...]
 *   surge-server --config-reference   (prints docs/configuration.md)
 *   surge-server --version
 *
 * Start-up: defaults, then the config file, then command-line directives
 * (later wins); make and enter `dir`; listen on every `bind` address;
 * run the loop. SIGTERM/SIGINT set a flag that the loop checks before it
 * sleeps, so shutdown happens between commands, never inside one.
 */
#include "config.h"
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

server *srv;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
}

static void accept_handler(ev_loop *l, int fd, void *data, int mask) {
    SG_UNUSED(l);
    SG_UNUSED(mask);
    server *s = data;
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
            if (write(cfd, msg, sizeof(msg) - 1) < 0) { /* best effort */
            }
            close(cfd);
            s->stat_rejected_conn++;
            continue;
        }
        if (cfg.protected_mode && !(cfg.requirepass && cfg.requirepass[0]) &&
            !net_is_loopback(ip)) {
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
            if (write(cfd, msg, sizeof(msg) - 1) < 0) { /* best effort */
            }
            close(cfd);
            s->stat_rejected_conn++;
            continue;
        }
        conn *cn = conn_plain_new(cfd);
        s->stat_numconnections++;
        if (!client_create(s, cn, ip, port)) {
            sg_log(SG_LOG_WARNING, "Registering fd event for the new client: %s", strerror(errno));
        }
    }
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
    if (got_signal && !s->shutdown_asap) {
        sg_log(SG_LOG_WARNING, "Received %s scheduling shutdown...",
               got_signal == SIGINT ? "SIGINT" : "SIGTERM");
        s->shutdown_asap = true;
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
    server_flush_pending_writes(s);
    server_free_closed_clients(s);
    if (ks_lazyfree_pending(s->ks)) ks_background_step(s->ks, 1000);
}

void server_shutdown(server *s, bool nosave) {
    SG_UNUSED(nosave);
    sg_log(SG_LOG_WARNING, "User requested shutdown...");
    /* Flush what clients are owed, best effort, then close. */
    server_flush_pending_writes(s);
    while (s->clients) client_free(s->clients);
    metrics_stop(s);
    for (int i = 0; i < s->nlisteners; i++) close(s->listeners[i]);
    s->nlisteners = 0;
    if (cfg.pidfile && cfg.pidfile[0]) unlink(cfg.pidfile);
    sg_log(SG_LOG_WARNING, "Surge is now ready to exit, bye bye...");
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
    return 0;
}

static void usage(void) {
    fprintf(stderr, "Usage: surge-server [/path/to/surge.conf] [--directive value ...]\n"
                    "       surge-server --config-reference\n"
                    "       surge-server -v | --version\n");
}

static int parse_args(int argc, char **argv) {
    char err[512];
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        srv->config_file = realpath(argv[i], NULL);
        if (!srv->config_file) {
            fprintf(stderr, "Fatal error, can't open config file '%s': %s\n", argv[i],
                    strerror(errno));
            return -1;
        }
        if (config_load_file(srv->config_file, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        i++;
    }
    while (i < argc) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "Unexpected argument '%s'\n", argv[i]);
            usage();
            return -1;
        }
        const char *name = argv[i] + 2;
        int j = i + 1;
        while (j < argc && strncmp(argv[j], "--", 2) != 0) j++;
        /* "--save ''" style: an empty value list means an empty string. */
        char *empty[1] = {""};
        int nvals = j - i - 1;
        if (config_apply_arg(name, nvals ? nvals : 1, nvals ? argv + i + 1 : empty, err,
                             sizeof(err)) != 0) {
            fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n>>> '%s'\n%s\n", name, err);
            return -1;
        }
        i = j;
    }
    return 0;
}

void config_apply_settings(server *s) {
    ks_settings *ks = ks_settings_of(s->ks);
    ks->policy = cfg.maxmemory_policy;
    ks->lfu_log_factor = (int)cfg.lfu_log_factor;
    ks->lfu_decay_time = (int)cfg.lfu_decay_time;
    ks->samples = (int)cfg.maxmemory_samples;
    ks->active_expire_effort = (int)cfg.active_expire_effort;
    sg_log_set_level(cfg.loglevel, cfg.log_format);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = (rlim_t)cfg.maxclients + 64;
    if (rl.rlim_cur >= want) return;
    rlim_t target = want < rl.rlim_max ? want : rl.rlim_max;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || target < want) {
        long long fit = (long long)target - 64;
        if (fit < 1) fit = 1;
        sg_log(SG_LOG_WARNING,
               "You requested maxclients of %lld requiring at least %llu max file "
               "descriptors; maxclients lowered to %lld.",
               cfg.maxclients, (unsigned long long)want, fit);
        cfg.maxclients = fit;
    }
}

int main(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
        printf("Surge server v=%s (Redis %s compatible)\n", SURGE_VERSION, SURGE_REDIS_VERSION);
        return 0;
    }
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage();
        return 0;
    }
    config_init_defaults();
    if (argc >= 2 && !strcmp(argv[1], "--config-reference")) {
        config_write_markdown(stdout);
        return 0;
    }
    sg_hash_seed_init();
    server_init_handlers();
    srv = sg_calloc(sizeof(server));
    if (readlink("/proc/self/exe", srv->executable, sizeof(srv->executable) - 1) < 0)
        snprintf(srv->executable, sizeof(srv->executable), "%s", argv[0]);
    if (parse_args(argc, argv) != 0) return 1;

    FILE *logf = NULL;
    if (cfg.logfile && cfg.logfile[0]) {
        logf = fopen(cfg.logfile, "a");
        if (!logf) {
            fprintf(stderr, "Can't open the log file: %s\n", strerror(errno));
            return 1;
        }
    }
    sg_log_configure(logf, cfg.loglevel, cfg.log_format);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    raise_fd_limit();
    if (mkdir_p(cfg.dir) != 0 || chdir(cfg.dir) != 0) {
        sg_log(SG_LOG_WARNING, "Can't chdir to '%s': %s", cfg.dir, strerror(errno));
        return 1;
    }
    uint8_t rid[20];
    sg_random_bytes(rid, sizeof(rid));
    for (int i = 0; i < 20; i++) snprintf(srv->run_id + i * 2, 3, "%02x", rid[i]);
    srv->start_ms = sg_mstime();
    srv->start_us = sg_monotonic_us();
    srv->cached_ms = srv->start_ms;
    srv->ks = ks_create((int)cfg.databases);
    config_apply_settings(srv);
    srv->loop = ev_create((int)cfg.maxclients + 1024);
    if (!srv->loop) {
        sg_log(SG_LOG_WARNING, "Failed creating the event loop: %s", strerror(errno));
        return 1;
    }

    if (cfg.port) {
        char *binds = strdup(cfg.bind);
        char *save = NULL;
        for (char *a = strtok_r(binds, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
            char err[256];
            int fd = net_listen(a, (int)cfg.port, (int)cfg.tcp_backlog, err, sizeof(err));
            if (fd < 0) {
                if (a[0] == '-') {
                    sg_log(SG_LOG_NOTICE, "Optional bind %s:%lld skipped: %s", a + 1, cfg.port,
                           err);
                    continue;
                }
                sg_log(SG_LOG_WARNING, "Failed listening on %s:%lld: %s", a, cfg.port, err);
                return 1;
            }
            if (srv->nlisteners == MAX_LISTENERS) {
                sg_log(SG_LOG_WARNING, "Too many bind addresses");
                return 1;
            }
            srv->listeners[srv->nlisteners++] = fd;
            ev_add(srv->loop, fd, EV_READABLE, accept_handler, srv);
        }
        free(binds);
        if (srv->nlisteners == 0) {
            sg_log(SG_LOG_WARNING, "No address to listen on");
            return 1;
        }
    }
    metrics_start(srv);
    if (cfg.pidfile && cfg.pidfile[0]) {
        FILE *pf = fopen(cfg.pidfile, "w");
        if (pf) {
            fprintf(pf, "%d\n", (int)getpid());
            fclose(pf);
        }
    }
    sg_log(SG_LOG_NOTICE,
           "Surge %s starting: pid=%d port=%lld bind=\"%s\" databases=%lld dir=%s maxmemory=%llu "
           "maxmemory-policy=%d maxclients=%lld requirepass=%s",
           SURGE_VERSION, (int)getpid(), cfg.port, cfg.bind, cfg.databases, cfg.dir, cfg.maxmemory,
           cfg.maxmemory_policy, cfg.maxclients,
           cfg.requirepass && cfg.requirepass[0] ? "set" : "unset");
    srv->startup_memory = sg_used_memory();
    sg_log(SG_LOG_NOTICE, "Ready to accept connections tcp");
    ev_set_before_sleep(srv->loop, server_before_sleep, srv);
    int hz = cfg.hz < 1 ? 1 : cfg.hz > 500 ? 500 : (int)cfg.hz;
    ev_run(srv->loop, 1000 / hz, server_cron, srv);
    return srv->exit_code;
}
