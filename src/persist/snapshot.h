/*
 * snapshot: point-in-time images of the whole dataset (SAVE, BGSAVE, the
 * `save` schedule, the base file of the append-only log), written without
 * fork and loaded at start-up. See snapshot.c for how the event loop writes
 * one slot at a time while it keeps serving clients.
 *
 * File format (all integers little-endian):
 *
 *   file header, 40 bytes
 *     0   8  magic "SURGESNP"
 *     8   2  format version (SNAP_VERSION)
 *    10   2  flags: bit 0 = blocks are encrypted (crypt.h)
 *    12   4  reserved, 0
 *    16   8  creation time, Unix ms (the point in time of the image)
 *    24   8  key id of the encryption key (crypt.h), zeros when not encrypted
 *    32   8  XXH3-64 of bytes 0..31
 *
 *   blocks, each a 24-byte header and `stored` bytes
 *     0   1  kind: 'D' data, 'E' end (the last block of a complete file)
 *     1   1  codec of the stored bytes: 0 none, 1 lz4, 2 zstd
 *     2   2  reserved, 0
 *     4   4  raw length: bytes after decryption and decompression
 *              (at most SNAP_BLOCK_MAX)
 *     8   4  stored length (at most SNAP_BLOCK_MAX + 64 KB)
 *    12   4  low 32 bits of XXH3-64 of header bytes 0..11 (a damaged
 *              length is caught before it is trusted)
 *    16   8  XXH3-64 of the stored bytes
 *   encrypted files: stored = crypt_seal(compressed bytes), with the
 *   additional data = header bytes 0..11 followed by the block's index
 *   (8 bytes, counting from 0), so blocks cannot be reordered.
 *
 *   The raw contents of the 'D' blocks, concatenated, are a stream of
 *   records (a record may span blocks):
 *     'K' varint db, 1 byte flags (bit 0: has expire), [8-byte expire,
 *         absolute Unix ms], str key, varint body length, body
 *   where body is the value as serialize.h encodes it without its version
 *   and CRC (type byte + type-specific body), str is a varint length and
 *   the bytes, varints LEB128.
 *
 *   The 'E' block's raw contents: varint number of keys, varint number of
 *   'D' blocks, varint total raw bytes of the 'D' blocks. Nothing may
 *   follow it. A file without it is incomplete and is refused.
 */
#ifndef SURGE_SNAPSHOT_H
#define SURGE_SNAPSHOT_H

#include "../server/server.h"
#include "crypt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC      "SURGESNP"
#define SNAP_VERSION    1
#define SNAP_HDR_LEN    40
#define SNAP_BLK_HDR    24
#define SNAP_BLOCK_MAX  (1u << 20)   /* raw bytes per block, at most */
#define SNAP_BLOCK_SIZE (256u << 10) /* raw bytes per block the writer aims at */

enum { SNAP_CODEC_NONE = 0, SNAP_CODEC_LZ4 = 1, SNAP_CODEC_ZSTD = 2 };

/* ---- reading (loader, surge-check) ---- */

typedef struct snap_record {
    int db;
    int64_t expire; /* absolute ms, -1 none */
    const char *key;
    size_t klen;
    const char *body; /* type byte + body (serialize.h) */
    size_t blen;
} snap_record;

/* Called per record in file order; non-zero stops the scan and is returned. */
typedef int snap_record_fn(void *ctx, const snap_record *r);

typedef struct snap_scan_result {
    uint64_t created_ms;
    bool encrypted;
    uint8_t key_id[CRYPT_KEY_ID];
    uint64_t keys, blocks, raw_bytes, file_bytes;
    uint64_t codec_blocks[3]; /* blocks per codec */
    const char *why;          /* on failure: what is wrong (static text) */
    uint64_t bad_off;         /* on failure: file offset of the bad block or record */
} snap_scan_result;

/* Reads a snapshot from fd (from its current offset to its end), checking
 * every header, checksum and record, and calls fn per record. key: the key
 * to decrypt with (NULL: use crypt_find on the file's key id). progress
 * (may be NULL) is called after each block with the bytes read so far.
 * Returns 0; -1 with r->why and r->bad_off; or fn's non-zero result. */
int snap_scan_fd(int fd, const crypt_key *key, snap_record_fn *fn, void *ctx,
                 void (*progress)(void *ctx, uint64_t bytes), snap_scan_result *r);

/* Loads a snapshot file into the (empty) keyspace of s. Keys already
 * expired are skipped. 0, or -1 (logged, naming the file and offset). */
int snap_load_file(server *s, const char *path, snap_scan_result *r);

/* True if the file begins with the snapshot magic (the append-only log's
 * base file may be a snapshot or a log). */
bool snap_is_snapshot(const char *path);

/* ---- writing ---- */

/* Writes the whole dataset to path now (blocking: SAVE, shutdown, the
 * log's base file): path.tmp, fsync, rename, fsync of the directory.
 * 0, or -1 (logged; errno kept). */
int snap_save(server *s, const char *path);

/* A background (forkless) save: begins now, written slot by slot from the
 * event loop (snapshot_before_sleep) and before any write to a slot not yet
 * written. done(ctx, ok) runs when the file is renamed into place (ok) or
 * the save failed. One at a time: returns -1 with errno EBUSY if a save
 * is running. */
int snap_bg_start(server *s, const char *path, void (*done)(server *s, void *ctx, bool ok),
                  void *ctx);
bool snap_bg_running(void);
/* Writes what a running background save has left, now, and finishes it
 * (its done callback runs). */
void snap_bg_finish_now(server *s);
/* Abandons a running background save (its temporary file is removed). */
void snap_bg_abort(server *s);

#endif
