/*
 * crypt: encryption at rest (see crypt.h for the sealed layout and
 * docs/encryption.md for the operator's view).
 *
 * Sealing. AES-256-GCM through OpenSSL's EVP interface: a fresh cipher
 * context per call (so sealing is safe from any thread), a 12-byte nonce
 * from RAND_bytes, a 16-byte tag, and additional authenticated data chosen
 * by the caller to bind the sealed bytes to their place (aof.c: a domain
 * label and the key id; snapshot.c: the block header and index). Opening
 * checks the tag before anything is returned as plaintext; on failure the
 * output buffer holds nothing the caller may use.
 *
 * Keys. A key file holds 32 bytes, either raw (a file of exactly 32 bytes)
 * or as 64 hexadecimal digits with optional whitespace around them (what
 * `openssl rand -hex 32` writes). Anything else is refused with a message
 * that says what was found. A key file that group or others may read is
 * accepted with a warning in the log: refusing would take the server down
 * over a permission an operator may have chosen on purpose (a dedicated
 * group, a secrets mount that ignores modes).
 *
 * The key id is the first 8 bytes of SHA-256("surge-key-id" || key): files
 * name the key that sealed them, so a reader can pick the right key among
 * several (rotation) and report a missing key by its id.
 *
 * State. One current key (seals and opens) and up to CRYPT_MAX_OLD_KEYS
 * older keys (open only), installed all at once by crypt_load_config or
 * crypt_set_keys: a failed load changes nothing. The configuration strings
 * live here (crypt_cfg_*) but are parsed and stored by the config table in
 * src/server/config.c, which calls crypt_config_changed after CONFIG SET
 * (a no-op until start-up has loaded the keys, as TLS does with its files).
 *
 * Invariants: nold <= CRYPT_MAX_OLD_KEYS; every installed key's id is
 * derived from its bytes; an installed key never changes or moves (see
 * keyring); key bytes that leave scope are cleansed.
 */
#include "crypt.h"

#include "../base/base.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define KEY_FILE_MAX 4096 /* a key file longer than this is not a key file */

char *crypt_cfg_key_file;
char *crypt_cfg_old_key_files;

/* The installed keys. A new set is a new keyring; the one it replaces is
 * kept (never freed, never changed), so a key pointer handed out stays
 * valid and keeps its bytes: a save that runs across many event-loop
 * iterations finishes with the key it started with. */
typedef struct keyring {
    crypt_key cur;
    bool has_cur;
    size_t nold;
    crypt_key olds[CRYPT_MAX_OLD_KEYS];
    struct keyring *retired; /* the set this one replaced */
} keyring;
static keyring *ring;
static bool loaded_once; /* crypt_load_config ran (start-up is over) */

/* ---- keys ---- */

void crypt_key_from_bytes(crypt_key *out, const uint8_t raw[32]) {
    static const char label[] = "surge-key-id";
    uint8_t buf[sizeof(label) - 1 + 32];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    memcpy(buf, label, sizeof(label) - 1);
    memcpy(buf + sizeof(label) - 1, raw, 32);
    if (EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
        sg_panic("crypt: SHA-256 failed in OpenSSL");
    memcpy(out->key, raw, 32);
    memcpy(out->id, md, CRYPT_KEY_ID);
    OPENSSL_cleanse(buf, sizeof(buf));
}

void crypt_key_id_hex(const uint8_t id[CRYPT_KEY_ID], char out[2 * CRYPT_KEY_ID + 1]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < CRYPT_KEY_ID; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * CRYPT_KEY_ID] = 0;
}

static int hexdigit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses a key file's contents; 0, or -1 with a message (no path) in err. */
static int parse_key(const uint8_t *p, size_t n, uint8_t raw[32], char *err, size_t errlen) {
    if (n == 32) { /* raw bytes, unless they are all hex digits (a 128-bit key in hex) */
        size_t h = 0;
        while (h < 32 && hexdigit(p[h]) >= 0) h++;
        if (h == 32) {
            snprintf(err, errlen,
                     "not a key: 32 hexadecimal digits is a 128-bit key (expected 64 hexadecimal "
                     "digits, or exactly 32 raw bytes)");
            return -1;
        }
        memcpy(raw, p, 32);
        return 0;
    }
    size_t a = 0, b = n;
    while (a < b && isspace(p[a])) a++;
    while (b > a && isspace(p[b - 1])) b--;
    if (n == 0 || a == b) {
        snprintf(err, errlen, "the file is empty (expected 64 hexadecimal digits or 32 raw bytes)");
        return -1;
    }
    for (size_t i = a; i < b; i++) {
        if (hexdigit(p[i]) < 0) {
            snprintf(err, errlen,
                     "not a key: byte %zu is not a hexadecimal digit (expected 64 hexadecimal "
                     "digits, or exactly 32 raw bytes; a %zu-byte file is neither)",
                     i, n);
            return -1;
        }
    }
    if (b - a != 64) {
        snprintf(err, errlen,
                 "not a key: %zu hexadecimal digits (expected 64 hexadecimal digits, or exactly "
                 "32 raw bytes)",
                 b - a);
        return -1;
    }
    for (int i = 0; i < 32; i++)
        raw[i] =
            (uint8_t)(hexdigit(p[a + 2 * (size_t)i]) << 4 | hexdigit(p[a + 2 * (size_t)i + 1]));
    return 0;
}

int crypt_key_load(const char *path, crypt_key *out, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0) {
        snprintf(err, errlen, "can't open the key file '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the key file '%s' is not a regular file", path);
        close(fd);
        return -1;
    }
    uint8_t buf[KEY_FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "can't read the key file '%s': %s", path, strerror(errno));
            close(fd);
            OPENSSL_cleanse(buf, sizeof(buf));
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    int rc = -1;
    uint8_t raw[32];
    char why[200];
    if (n > KEY_FILE_MAX) {
        snprintf(err, errlen,
                 "the key file '%s' is too long to be a key (expected 64 hexadecimal digits or "
                 "32 raw bytes)",
                 path);
    } else if (parse_key(buf, n, raw, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "the key file '%s': %s", path, why);
    } else {
        crypt_key_from_bytes(out, raw);
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            sg_log(SG_LOG_WARNING,
                   "The key file '%s' is accessible by group or others (mode %04o); "
                   "chmod 600 it",
                   path, (unsigned)(st.st_mode & 07777));
        rc = 0;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

/* ---- sealing ---- */

static void log_openssl(const char *what) {
    unsigned long e = ERR_get_error();
    char msg[256] = "unknown error";
    if (e) ERR_error_string_n(e, msg, sizeof(msg));
    ERR_clear_error();
    sg_log(SG_LOG_WARNING, "crypt: %s failed: %s", what, msg);
}

int crypt_seal(const crypt_key *k, const void *aad, size_t aadlen, const void *in, size_t n,
               void *out) {
    uint8_t *o = out;
    if (n > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX) {
        sg_log(SG_LOG_WARNING, "crypt: seal of %zu bytes refused (too long)", n);
        return -1;
    }
    if (RAND_bytes(o, CRYPT_NONCE) != 1) {
        log_openssl("RAND_bytes");
        return -1;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, rc = -1;
    if (!ctx) {
        log_openssl("EVP_CIPHER_CTX_new");
        return -1;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPT_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, o) != 1 ||
        (aadlen && EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
        (n && EVP_EncryptUpdate(ctx, o + CRYPT_NONCE, &len, in, (int)n) != 1) ||
        EVP_EncryptFinal_ex(ctx, o + CRYPT_NONCE + n, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG, o + CRYPT_NONCE + n) != 1) {
        log_openssl("AES-256-GCM encryption");
        goto done;
    }
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int crypt_open(const crypt_key *k, const void *aad, size_t aadlen, const void *in, size_t n,
               void *out) {
    const uint8_t *p = in;
    if (n < CRYPT_OVERHEAD || n - CRYPT_OVERHEAD > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX)
        return -1;
    size_t clen = n - CRYPT_OVERHEAD;
    uint8_t tag[CRYPT_TAG];
    memcpy(tag, p + CRYPT_NONCE + clen, CRYPT_TAG); /* the ctrl takes a non-const pointer */
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, rc = -1;
    if (!ctx) {
        log_openssl("EVP_CIPHER_CTX_new");
        return -1;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPT_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, p) != 1 ||
        (aadlen && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
        (clen && EVP_DecryptUpdate(ctx, out, &len, p + CRYPT_NONCE, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG, tag) != 1)
        goto done;
    /* The tag check: on failure the plaintext written so far is wiped. */
    if (EVP_DecryptFinal_ex(ctx, (uint8_t *)out + clen, &len) != 1) {
        if (clen) OPENSSL_cleanse(out, clen);
        goto done;
    }
    rc = 0;
done:
    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* ---- the server's keys ---- */

const crypt_key *crypt_current(void) {
    return ring && ring->has_cur ? &ring->cur : NULL;
}

const crypt_key *crypt_find(const uint8_t id[CRYPT_KEY_ID]) {
    if (!ring) return NULL;
    if (ring->has_cur && !memcmp(ring->cur.id, id, CRYPT_KEY_ID)) return &ring->cur;
    for (size_t i = 0; i < ring->nold; i++)
        if (!memcmp(ring->olds[i].id, id, CRYPT_KEY_ID)) return &ring->olds[i];
    return NULL;
}

int crypt_set_keys(const crypt_key *current, const crypt_key *old, size_t n) {
    if (n > CRYPT_MAX_OLD_KEYS) return -1;
    keyring *k = sg_calloc(sizeof(*k));
    k->has_cur = current != NULL;
    if (current) k->cur = *current;
    if (n) memcpy(k->olds, old, n * sizeof(*old));
    k->nold = n;
    k->retired = ring;
    ring = k;
    return 0;
}

int crypt_config_changed(char *err, size_t errlen) {
    return loaded_once ? crypt_load_config(err, errlen) : 0;
}

int crypt_load_config(char *err, size_t errlen) {
    crypt_key nc, no[CRYPT_MAX_OLD_KEYS];
    size_t nn = 0;
    bool hc = false;
    char why[512];
    int rc = -1;
    char *list = NULL;
    const char *kf = crypt_cfg_key_file ? crypt_cfg_key_file : "";
    if (*kf) {
        if (crypt_key_load(kf, &nc, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "encryption-key-file: %s", why);
            goto done;
        }
        hc = true;
    }
    list = sg_strdup(crypt_cfg_old_key_files ? crypt_cfg_old_key_files : "");
    char *save = NULL;
    for (char *t = strtok_r(list, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (nn == CRYPT_MAX_OLD_KEYS) {
            snprintf(err, errlen, "encryption-old-key-files: more than %d files",
                     CRYPT_MAX_OLD_KEYS);
            goto done;
        }
        if (crypt_key_load(t, &no[nn], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "encryption-old-key-files: %s", why);
            goto done;
        }
        nn++;
    }
    char was[2 * CRYPT_KEY_ID + 1] = "", now[2 * CRYPT_KEY_ID + 1] = "";
    if (crypt_current()) crypt_key_id_hex(crypt_current()->id, was);
    if (hc) crypt_key_id_hex(nc.id, now);
    crypt_set_keys(hc ? &nc : NULL, no, nn);
    if (hc)
        sg_log(SG_LOG_NOTICE,
               "Encryption at rest: on, key id %s (encryption-key-file %s), %zu older key(s) "
               "for reading",
               now, kf, nn);
    else if (nn || *was)
        sg_log(SG_LOG_WARNING,
               "Encryption at rest: off (no encryption-key-file); new data is written in "
               "plaintext, %zu older key(s) for reading",
               nn);
    if (*was && strcmp(was, now) != 0)
        sg_log(SG_LOG_WARNING,
               "The encryption key changed (key id %s -> %s): files written before need the old "
               "key in encryption-old-key-files to be read until BGREWRITEAOF rewrites them",
               was, *now ? now : "none");
    rc = 0;
done:
    if (rc != 0)
        sg_log(SG_LOG_WARNING, "Can't load the encryption keys: %s%s", err,
               loaded_once ? "" : "; refusing to start");
    else
        loaded_once = true;
    sg_free(list);
    OPENSSL_cleanse(&nc, sizeof(nc));
    OPENSSL_cleanse(no, sizeof(no));
    return rc;
}
