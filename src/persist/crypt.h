/*
 * crypt: encryption at rest. AES-256-GCM through OpenSSL, one key read
 * from a file (`encryption-key-file`), used for snapshot blocks
 * (snapshot.c) and append-only log records (aof.c).
 *
 * A sealed buffer is
 *
 *   +----------+-------------------+--------+
 *   | nonce    | ciphertext        | tag    |
 *   | 12 B     | as long as input  | 16 B   |
 *   +----------+-------------------+--------+
 *
 * The nonce is 12 random bytes per seal (RAND_bytes): with 2^32 seals per
 * key the chance of a repeat stays below 2^-32, far beyond the life of a
 * key here (docs/encryption.md says to rotate keys). Additional
 * authenticated data binds a sealed buffer to its place (a block's header
 * and index), so blocks cannot be swapped or replayed unnoticed.
 *
 * Every file names its key by a key id: the first 8 bytes of
 * SHA-256("surge-key-id" || key), so a wrong key is reported as such
 * ("encrypted with another key") instead of as corruption.
 */
#ifndef SURGE_CRYPT_H
#define SURGE_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_NONCE    12
#define CRYPT_TAG      16
#define CRYPT_OVERHEAD (CRYPT_NONCE + CRYPT_TAG)
#define CRYPT_KEY_ID   8

typedef struct crypt_key {
    uint8_t key[32];
    uint8_t id[CRYPT_KEY_ID];
} crypt_key;

/* Reads a key file: 64 hexadecimal digits (surrounding whitespace allowed)
 * or exactly 32 raw bytes. 0, or -1 with a message in err. */
int crypt_key_load(const char *path, crypt_key *out, char *err, size_t errlen);
/* Key from 32 raw bytes (tests, tools). */
void crypt_key_from_bytes(crypt_key *out, const uint8_t raw[32]);

/* Seals in[0..n) into out (n + CRYPT_OVERHEAD bytes). 0, or -1 (OpenSSL
 * failure, logged). */
int crypt_seal(const crypt_key *k, const void *aad, size_t aadlen, const void *in, size_t n,
               void *out);
/* Opens a sealed buffer in[0..n) into out (n - CRYPT_OVERHEAD bytes).
 * 0, or -1 when it is too short or does not authenticate. */
int crypt_open(const crypt_key *k, const void *aad, size_t aadlen, const void *in, size_t n,
               void *out);

/* The server's keys, from the configuration: the current key (writes and
 * reads) and older keys (reads only, for rotation). NULL / 0 when
 * encryption is off. A returned pointer stays valid, and its key
 * unchanged, for the life of the process, even after CONFIG SET installs
 * other keys: hold it for the whole of one file. */
const crypt_key *crypt_current(void);
/* The key with this id (current or old), or NULL. */
const crypt_key *crypt_find(const uint8_t id[CRYPT_KEY_ID]);
/* Loads the keys named by the configuration; 0, or -1 (logged). Called at
 * start-up and when CONFIG SET changes a key file. */
int crypt_load_config(char *err, size_t errlen);

/* ---- additions: configuration values, tests, messages ---- */

/* The values of the `encryption-key-file` and `encryption-old-key-files`
 * rows (src/server/config.c owns the strings: heap copies it replaces on
 * every set). crypt_load_config reads them; nothing else should. */
extern char *crypt_cfg_key_file;
extern char *crypt_cfg_old_key_files;

#define CRYPT_MAX_OLD_KEYS 16 /* most keys in encryption-old-key-files */

/* Installs keys directly, bypassing the configuration (tests, fuzz
 * targets, tools): current may be NULL (encryption off), old[0..nold) are
 * for reading only. Copies them. 0, or -1 when nold > CRYPT_MAX_OLD_KEYS. */
int crypt_set_keys(const crypt_key *current, const crypt_key *old, size_t nold);

/* The CONFIG SET hook (src/server/config.c) after a key row changed: once
 * crypt_load_config has run (the server started), the same as it; before
 * (start-up has not loaded keys yet; tools, fuzz targets) the values are
 * only stored and 0 is returned. */
int crypt_config_changed(char *err, size_t errlen);

/* Formats a key id as 16 lowercase hex digits and a NUL into out. */
void crypt_key_id_hex(const uint8_t id[CRYPT_KEY_ID], char out[2 * CRYPT_KEY_ID + 1]);

#endif
