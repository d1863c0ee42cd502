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
 * load the dataset (clients are answered meanwhile, see loading.c); run
 * the loop. SIGTERM/SIGINT set a flag that the loop checks before it
 * sleeps, so shutdown happens between commands, never inside one.
 */
#include "../persist/crypt.h"
#include "../security/acl.h"
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

static void on_signal(int sig) {
    server_got_signal = sig;
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
    if (strchr(cfg.dbfilename, '/') || !cfg.dbfilename[0]) { /* Redis's check */
        fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n>>> 'dbfilename'\n"
                        "dbfilename can't be a path, just a filename\n");
        return -1;
    }
    return 0;
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
    sg_clock_init(); /* before any thread starts */
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
    ks_set_hook(srv->ks, server_keyspace_event, srv);
    config_apply_settings(srv);
    if (acl_load_at_startup() != 0) return 1;
    char kerr[600];
    if (crypt_load_config(kerr, sizeof(kerr)) != 0) return 1; /* logged */
    srv->loop = ev_create((int)cfg.maxclients + 1024, cfg.io_uring);
    if (!srv->loop) {
        sg_log(SG_LOG_WARNING, "Failed creating the event loop: %s", strerror(errno));
        return 1;
    }
    ev_set_wait_batch(srv->loop, (int)cfg.io_uring_wait_batch_us);
    if (cfg.io_uring && strcmp(ev_backend(srv->loop), "io_uring") != 0)
        sg_log(SG_LOG_NOTICE, "io_uring unavailable (%s): clients are read with epoll",
               strerror(errno));
    ev_set_after_events(srv->loop, server_after_events, srv); /* clients read in a round */

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
            ev_add(srv->loop, fd, EV_READABLE, server_accept_handler, srv);
        }
        free(binds);
        if (srv->nlisteners == 0) {
            sg_log(SG_LOG_WARNING, "No address to listen on");
            return 1;
        }
    }
    if (tls_server_listen(srv) != 0) return 1; /* tls-port (tls_server.c) */
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
           "maxmemory-policy=%s maxclients=%lld requirepass=%s",
           SURGE_VERSION, (int)getpid(), cfg.port, cfg.bind, cfg.databases, cfg.dir, cfg.maxmemory,
           config_policy_name(cfg.maxmemory_policy), cfg.maxclients,
           cfg.requirepass && cfg.requirepass[0] ? "set" : "unset");
    /* Loading: the listeners are open, clients get -LOADING (loading.c).
     * appendonly is read once: CONFIG SET during the load must not make
     * both sources load. */
    bool aof_at_start = cfg.appendonly;
    if (aof_load_at_startup(srv) != 0 || (!aof_at_start && snapshot_load_at_startup(srv) != 0)) {
        if (cfg.pidfile && cfg.pidfile[0]) unlink(cfg.pidfile);
#ifdef SURGE_FREE_AT_EXIT
        ks_destroy(srv->ks); /* what was loaded before the failure (leak checks) */
#endif
        return 1;
    }
    srv->startup_memory = sg_used_memory();
    sg_log(SG_LOG_NOTICE, "Ready to accept connections tcp");
    ev_set_before_sleep(srv->loop, server_before_sleep, srv);
    int hz = cfg.hz < 1 ? 1 : cfg.hz > 500 ? 500 : (int)cfg.hz;
    ev_run(srv->loop, 1000 / hz, server_cron, srv);
    return srv->exit_code;
}
