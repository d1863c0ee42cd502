/*
 * persist: durability. For now the append-only log (aof.c): every command
 * that changed data is appended to a log file in RESP form, inside checksummed
 * records, and replayed at start-up. See aof.c for the file formats and
 * docs/persistence.md for what each fsync policy can lose.
 *
 * The core reaches this module only through the hooks declared in
 * src/server/server.h (aof_after_command, aof_key_removed, aof_before_sleep,
 * aof_cron, aof_load_at_startup, aof_shutdown, aof_info, aof_refuse_writes,
 * server_propagate_override); this header adds what tests and tools use.
 */
#ifndef SURGE_PERSIST_H
#define SURGE_PERSIST_H

#include "../server/server.h"
#include "crypt.h"

#include <stddef.h>
#include <stdint.h>

/* ---- record framing (see aof.c) ----
 *
 *   #<len> <crc64 of payload, 16 hex> <hcrc, 8 hex>\r\n<payload: len bytes>
 *   %<len> <crc64 of payload, 16 hex> <hcrc, 8 hex>\r\n<payload: len bytes>
 *
 * hcrc is the low 32 bits of CRC64 over the header text before it
 * ("#<len> <crc64>"), so a damaged length is caught before it is trusted.
 * '#' records hold the RESP commands; '%' records are encrypted (crypt.h):
 * payload = key id (8 bytes) + crypt_seal(RESP commands) with the additional
 * data AOF_AAD_LABEL followed by the key id. The CRC covers the stored
 * payload, so damage is found without the key. */
#define AOF_HDR_MAX   64          /* longest header line, \r\n included */
#define AOF_AAD_LABEL "surge-aof" /* 9 bytes, then the key id */

/* Appends one framed record holding payload to out, encrypted with the
 * current key when there is one (crypt_current); returns out (may move).
 * Aborts (sg_panic) when OpenSSL fails to encrypt: plaintext is never
 * written in place of a record that should have been sealed. */
sstr *aof_frame_record(sstr *out, const char *payload, size_t len);
/* The same with an explicit key: NULL frames a plain '#' record. */
sstr *aof_frame_record_key(sstr *out, const char *payload, size_t len, const crypt_key *k);

/* Result of scanning a log image. */
typedef struct aof_scan_result {
    size_t good;                  /* bytes of whole, valid records from the start */
    size_t records;               /* how many */
    bool torn;                    /* the bytes after `good` are an incomplete last record */
    bool corrupt;                 /* the record at `good` is damaged (mid-file) */
    const char *why;              /* for corrupt: what is wrong */
    size_t encrypted;             /* how many of `records` were '%' records */
    bool no_key;                  /* corrupt because the record at `good` is */
    uint8_t key_id[CRYPT_KEY_ID]; /* ...encrypted with this key, not loaded */
} aof_scan_result;

/* Called once per valid record, in order, with the plaintext (an encrypted
 * record is opened first: the payload then points into a buffer that lives
 * until the callback returns); a non-zero return stops the scan (it is
 * returned by aof_scan). */
typedef int aof_record_fn(void *ctx, const char *payload, size_t len, size_t offset);

/* Walks the records of a log image (p, n). Fills *r; returns 0, or the
 * callback's non-zero result. Never reads outside [p, p+n). Encrypted
 * records are opened with crypt_find(their key id), with or without a
 * callback: an unknown key id (no_key) and a record that does not
 * authenticate are corrupt. */
int aof_scan(const char *p, size_t n, aof_record_fn *fn, void *ctx, aof_scan_result *r);

/* A record's payload is one or more commands, each a RESP array of bulk
 * strings as in Redis's AOF. The loader and surge-check read them with
 * these: the "*<argc>\r\n" header (1 <= argc <= 1M) and one
 * "$<len>\r\n<bytes>\r\n" bulk at *pos, which they advance. false when
 * malformed or cut short. */
bool aof_read_argc(const char *p, size_t n, size_t *pos, long long *argc);
bool aof_read_bulk(const char *p, size_t n, size_t *pos, const char **s, size_t *len);

/* fileio.c: writes all of p (EINTR retried; a write of 0 bytes is ENOSPC)
 * and fsyncs a directory (after a rename or create in it). 0 or -1 with
 * errno. */
int persist_write_all(int fd, const void *p, size_t n);
int persist_fsync_dir(const char *dir);
/* fsyncs the directory that holds path ("." for a bare name). */
int persist_fsync_parent(const char *path);

/* Runs a rewrite (compaction) now: a new base file from the dataset, a new
 * empty incremental file, then the manifest. Returns 0 or -1 (logged). */
int aof_rewrite_now(server *s);

#endif
