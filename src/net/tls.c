/*
 * TLS connections over OpenSSL. See net.h.
 *
 * One SSL_CTX is current at a time; tls_configure() builds a new one from
 * tls_options and swaps it in only when it is complete, so a bad
 * certificate leaves the old one serving. Each SSL holds a reference to the
 * context it was made from: connections made before a reload keep theirs.
 *
 * Non-blocking handshake: a new conn starts in the handshake state; every
 * read or write call first advances SSL_do_handshake(). Until it completes,
 * reads and writes fail with EAGAIN, so the server never sees request bytes
 * from an unauthenticated peer. A failure (plaintext on the TLS port, a
 * client certificate the CA does not vouch for) is logged at verbose level
 * and reported as EPROTO, which makes the server close the connection.
 *
 * SSL_ERROR_WANT_READ / WANT_WRITE map to EAGAIN. When a read needs the
 * socket writable (a handshake flight the kernel buffer did not take),
 * conn_want_write() says so and the server arms the writable event. Bytes
 * already decrypted inside OpenSSL are not signalled by epoll:
 * conn_pending() reports them so the server reads again.
 */
#include "net.h"
#include "../base/base.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

typedef struct tls_conn {
    conn base; /* first: a tls_conn is a conn */
    SSL *ssl;
    bool handshake_done;
    bool read_want_write;
    uint64_t created_us;
} tls_conn;

static SSL_CTX *cur_ctx;

static void log_ssl_errors(const char *what) {
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        sg_log(SG_LOG_VERBOSE, "TLS %s: %s", what, buf);
    }
}

/* The reason of the first queued OpenSSL error, for messages; clears all. */
static void last_ssl_error(char *out, size_t n) {
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, n);
    else
        snprintf(out, n, "unknown error");
    ERR_clear_error();
}

/* Maps an SSL I/O failure to errno; returns -1. */
static ssize_t fail_io(tls_conn *t, int ret, bool reading) {
    int err = SSL_get_error(t->ssl, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading) t->read_want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify: an orderly end */
    case SSL_ERROR_SYSCALL:
        if (errno == 0) errno = ECONNRESET;
        log_ssl_errors(t->handshake_done ? "I/O error" : "handshake failed");
        return -1;
    default:
        log_ssl_errors(t->handshake_done ? "error" : "handshake failed");
        errno = EPROTO;
        return -1;
    }
}

/* Advances the handshake: 1 done, 0 in progress (errno EAGAIN), -1 error. */
static int advance_handshake(tls_conn *t, bool reading) {
    if (t->handshake_done) return 1;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->handshake_done = true;
        sg_log(SG_LOG_DEBUG, "TLS handshake done fd=%d %s", t->base.fd, SSL_get_version(t->ssl));
        return 1;
    }
    int err = SSL_get_error(t->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (err == SSL_ERROR_WANT_WRITE && reading) t->read_want_write = true;
        errno = EAGAIN;
        return 0;
    }
    char reason[256];
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
    sg_log(SG_LOG_VERBOSE, "TLS handshake failed fd=%d: %s", t->base.fd, reason);
    errno = EPROTO;
    return -1;
}

static ssize_t tls_read(conn *c, void *buf, size_t n) {
    tls_conn *t = (tls_conn *)c;
    t->read_want_write = false;
    int h = advance_handshake(t, true);
    if (h <= 0) return -1;
    size_t got = 0;
    /* Drain the decrypted record as far as the buffer allows. */
    while (got < n) {
        ERR_clear_error();
        errno = 0;
        size_t want = n - got > INT32_MAX ? INT32_MAX : n - got;
        int r = SSL_read(t->ssl, (char *)buf + got, (int)want);
        if (r <= 0) {
            if (got) return (ssize_t)got;
            return fail_io(t, r, true);
        }
        got += (size_t)r;
        if (SSL_pending(t->ssl) <= 0) break;
    }
    return (ssize_t)got;
}

static ssize_t tls_writev(conn *c, const struct iovec *iov, int n) {
    tls_conn *t = (tls_conn *)c;
    int h = advance_handshake(t, false);
    if (h <= 0) return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left) {
            ERR_clear_error();
            errno = 0;
            int chunk = left > (1 << 30) ? (1 << 30) : (int)left;
            int r = SSL_write(t->ssl, p, chunk);
            if (r <= 0) {
                /* Partial progress is success; the caller retries the
                 * rest with the same bytes (SSL_write's retry rule). */
                if (total) return (ssize_t)total;
                ssize_t rv = fail_io(t, r, false);
                if (rv == 0) { /* peer closed while we write */
                    errno = EPIPE;
                    return -1;
                }
                return rv;
            }
            total += (size_t)r;
            p += r;
            left -= (size_t)r;
        }
    }
    return (ssize_t)total;
}

static void tls_close(conn *c) {
    tls_conn *t = (tls_conn *)c;
    if (t->ssl) {
        if (t->handshake_done) {
            ERR_clear_error();
            SSL_shutdown(t->ssl); /* best effort close_notify, never waits */
        }
        ERR_clear_error();
        SSL_free(t->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    sg_free(t);
}

static size_t tls_pending(conn *c) {
    tls_conn *t = (tls_conn *)c;
    if (!t->handshake_done) return 0;
    int p = SSL_pending(t->ssl);
    return p > 0 ? (size_t)p : 0;
}

static bool tls_want_write(conn *c) {
    return ((tls_conn *)c)->read_want_write;
}

static const conn_type tls_type = {"tls",     tls_read,    tls_writev,
                                   tls_close, tls_pending, tls_want_write};

bool tls_enabled(void) {
    return cur_ctx != NULL;
}

conn *conn_tls_new(int fd) {
    if (!cur_ctx) return NULL;
    SSL *ssl = SSL_new(cur_ctx); /* holds a reference to the context */
    if (!ssl) {
        log_ssl_errors("SSL_new");
        return NULL;
    }
    if (!SSL_set_fd(ssl, fd)) {
        log_ssl_errors("SSL_set_fd");
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    tls_conn *t = sg_calloc(sizeof(tls_conn));
    t->base.type = &tls_type;
    t->base.fd = fd;
    t->ssl = ssl;
    t->created_us = sg_monotonic_us();
    return &t->base;
}

bool conn_is_tls(const conn *c) {
    return c && c->type == &tls_type;
}

bool conn_tls_handshake_expired(const conn *c, uint64_t now_us, uint64_t timeout_us) {
    if (!conn_is_tls(c)) return false;
    const tls_conn *t = (const tls_conn *)c;
    return !t->handshake_done && timeout_us && now_us - t->created_us > timeout_us;
}

const char *conn_tls_version(const conn *c) {
    if (!conn_is_tls(c)) return NULL;
    const tls_conn *t = (const tls_conn *)c;
    return t->handshake_done ? SSL_get_version(t->ssl) : NULL;
}

/* ---- context ---- */

static int pass_cb(char *buf, int size, int rwflag, void *u) {
    SG_UNUSED(rwflag);
    const char *pass = u;
    if (!pass) return 0;
    size_t n = strlen(pass);
    if ((int)n > size) n = (size_t)size;
    memcpy(buf, pass, n);
    return (int)n;
}

/* "TLSv1.2 TLSv1.3" -> SSL_OP_NO_* bits to set; -1 on an unknown name or an
 * empty set. */
static int parse_protocols(const char *s, long *no_ops, char *err, size_t errlen) {
    long all = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3;
    if (!s || !*s) s = "TLSv1.2 TLSv1.3";
    long allowed = 0;
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", s);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
        if (!strcasecmp(w, "TLSv1"))
            allowed |= SSL_OP_NO_TLSv1;
        else if (!strcasecmp(w, "TLSv1.1"))
            allowed |= SSL_OP_NO_TLSv1_1;
        else if (!strcasecmp(w, "TLSv1.2"))
            allowed |= SSL_OP_NO_TLSv1_2;
        else if (!strcasecmp(w, "TLSv1.3"))
            allowed |= SSL_OP_NO_TLSv1_3;
        else {
            snprintf(err, errlen, "Invalid tls-protocols specified: %s", w);
            return -1;
        }
    }
    if (!allowed) {
        snprintf(err, errlen, "No protocols in tls-protocols");
        return -1;
    }
    *no_ops = all & ~allowed;
    return 0;
}

int tls_configure(const tls_options *o, char *err, size_t errlen) {
    static bool inited;
    if (!inited) {
        OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
        inited = true;
    }
    char reason[256];
    if (!o->cert_file || !*o->cert_file) {
        snprintf(err, errlen, "No tls-cert-file configured");
        return -1;
    }
    if (!o->key_file || !*o->key_file) {
        snprintf(err, errlen, "No tls-key-file configured");
        return -1;
    }
    bool have_ca = (o->ca_cert_file && *o->ca_cert_file) || (o->ca_cert_dir && *o->ca_cert_dir);
    if (!have_ca && o->auth_clients != TLS_AUTH_NO) {
        snprintf(err, errlen,
                 "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when "
                 "tls-auth-clients is yes or optional");
        return -1;
    }
    long no_ops;
    if (parse_protocols(o->protocols, &no_ops, err, errlen) != 0) return -1;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        last_ssl_error(reason, sizeof(reason));
        snprintf(err, errlen, "Failed to create the TLS context: %s", reason);
        return -1;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE | no_ops);
    if (o->prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"surge", 5);
    SSL_CTX_set_default_passwd_cb(ctx, pass_cb);
    SSL_CTX_set_default_passwd_cb_userdata(
        ctx, (void *)(o->key_pass && *o->key_pass ? o->key_pass : NULL));
    const char *what = NULL;
    const char *file = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) <= 0) {
        what = "load certificate";
        file = o->cert_file;
    } else if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) <= 0) {
        what = "load private key";
        file = o->key_file;
    } else if (!SSL_CTX_check_private_key(ctx)) {
        what = "match the private key to the certificate";
        file = o->key_file;
    } else if (have_ca && SSL_CTX_load_verify_locations(
                              ctx, o->ca_cert_file && *o->ca_cert_file ? o->ca_cert_file : NULL,
                              o->ca_cert_dir && *o->ca_cert_dir ? o->ca_cert_dir : NULL) <= 0) {
        what = "configure CA certificate(s)";
        file = o->ca_cert_file && *o->ca_cert_file ? o->ca_cert_file : o->ca_cert_dir;
    } else if (o->ciphers && *o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers)) {
        what = "configure ciphers";
        file = o->ciphers;
    } else if (o->ciphersuites && *o->ciphersuites &&
               !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites)) {
        what = "configure ciphersuites";
        file = o->ciphersuites;
    }
    if (what) {
        last_ssl_error(reason, sizeof(reason));
        snprintf(err, errlen, "Failed to %s '%s': %s", what, file, reason);
        SSL_CTX_free(ctx);
        return -1;
    }
    int mode = SSL_VERIFY_NONE;
    if (o->auth_clients == TLS_AUTH_YES)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    else if (o->auth_clients == TLS_AUTH_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (cur_ctx) SSL_CTX_free(cur_ctx); /* live connections keep their reference */
    cur_ctx = ctx;
    return 0;
}

void tls_shutdown(void) {
    if (cur_ctx) SSL_CTX_free(cur_ctx);
    cur_ctx = NULL;
}
