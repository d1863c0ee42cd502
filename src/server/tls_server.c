/*
 * TLS glue between the tls-* directives and net/tls.c: builds the context
 * at start-up and again after CONFIG SET of any tls-* directive (a failed
 * rebuild refuses the CONFIG SET and keeps the old context), and opens the
 * tls-port listeners on every `bind` address. See docs/tls.md.
 */
#include "config.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

int tls_server_reload(char *err, size_t errlen) {
    if (!cfg.tls_port) return 0; /* TLS off: values are only stored */
    tls_options o = {
        .cert_file = cfg.tls_cert_file,
        .key_file = cfg.tls_key_file,
        .key_pass = cfg.tls_key_file_pass,
        .ca_cert_file = cfg.tls_ca_cert_file,
        .ca_cert_dir = cfg.tls_ca_cert_dir,
        .auth_clients = cfg.tls_auth_clients,
        .protocols = cfg.tls_protocols,
        .ciphers = cfg.tls_ciphers,
        .ciphersuites = cfg.tls_ciphersuites,
        .prefer_server_ciphers = cfg.tls_prefer_server_ciphers,
    };
    if (tls_configure(&o, err, errlen) != 0) return -1;
    sg_log(SG_LOG_VERBOSE, "TLS context (re)loaded from %s", cfg.tls_cert_file);
    return 0;
}

int tls_server_listen(server *s) {
    if (!cfg.tls_port) return 0;
    char err[512];
    if (tls_server_reload(err, sizeof(err)) != 0) {
        sg_log(SG_LOG_WARNING, "Failed to configure TLS: %s", err);
        return -1;
    }
    int before = s->nlisteners;
    char *binds = strdup(cfg.bind);
    char *save = NULL;
    for (char *a = strtok_r(binds, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
        bool optional = a[0] == '-';
        const char *addr = optional ? a + 1 : a;
        int fd = net_listen(addr, (int)cfg.tls_port, (int)cfg.tcp_backlog, err, sizeof(err));
        if (fd < 0) {
            if (optional) {
                sg_log(SG_LOG_NOTICE, "Optional TLS bind %s:%lld skipped: %s", addr, cfg.tls_port,
                       err);
                continue;
            }
            sg_log(SG_LOG_WARNING, "Failed listening on %s:%lld (TLS): %s", addr, cfg.tls_port,
                   err);
            free(binds);
            return -1;
        }
        if (s->nlisteners == MAX_LISTENERS) {
            sg_log(SG_LOG_WARNING, "Too many bind addresses");
            free(binds);
            return -1;
        }
        s->listeners[s->nlisteners++] = fd;
        ev_add(s->loop, fd, EV_READABLE, server_tls_accept_handler, s);
    }
    free(binds);
    if (s->nlisteners == before) {
        sg_log(SG_LOG_WARNING, "No address to listen on for TLS");
        return -1;
    }
    sg_log(SG_LOG_NOTICE, "Ready to accept connections tls on port %lld", cfg.tls_port);
    return 0;
}
