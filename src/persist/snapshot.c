/*
 * Snapshots without fork (SAVE, BGSAVE, the `save` schedule, shutdown).
 * The file format is documented in snapshot.h.
 *
 * Point in time without a child process (DESIGN.md decision 5). A
 * background save marks all 16384 slots pending and installs a keyspace
 * guard (ks_set_guard). Then:
 *   - each event-loop iteration writes pending slots, in order, for up to
 *     SLICE_US microseconds (the loop does not sleep while a save runs);
 *   - before anything changes a key of a pending slot (a command's write
 *     lookup, an add, a delete, an expiry, an eviction, a TTL change), the
 *     guard writes that key's current value to the file first and remembers
 *     the key, so the slot's walk skips it later; the dispatcher does the
 *     same for the keys of a write command before it runs, which covers
 *     handlers that change a value in place. A key created after the start
 *     is remembered too (and so left out). Past TOUCH_MAX keys in one slot,
 *     the guard writes the whole slot instead (bounded bookkeeping);
 *   - a flush or SWAPDB first writes every pending slot.
 * So every key is written as it was when the save began: the image is the
 * dataset at that instant, like a fork's, and the extra memory is one block
 * buffer (SNAP_BLOCK_SIZE raw + its compressed form) plus at most 16 bytes
 * per remembered key, whatever the dataset size or the write rate. A write
 * pays for serializing the one key it changes (its first change only); a
 * slot holding one huge key is still written in one go.
 *
 * Keys already expired when the save began are left out; keys that expire
 * later are written with their TTL and dropped when a load finds them
 * expired, as Redis does.
 *
 * Files are replaced atomically: the image goes to <name>.tmp (written
 * with periodic sync_file_range so writeback keeps up), fdatasync, rename
 * over <name>, fsync of the directory. A crash at any point leaves the
 * previous file untouched; the temporary file is removed at the next save.
 */
#include "snapshot.h"

#include "../server/config.h"
#include "persist.h"
#include "serialize.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <lz4.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#define SLICE_US      1000u      /* background writing per loop iteration */
#define SYNC_EVERY    (8u << 20) /* start writeback every 8 MB */
#define STORED_MAX    (SNAP_BLOCK_MAX + (64u << 10))
#define RETRY_DELAY_S 5 /* after a failed background save, as Redis */

/* ---- little-endian helpers ---- */

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* 1: *v read, *pos advanced; 0: needs more bytes; -1: malformed. */
static int varint_get(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
    uint64_t out = 0;
    size_t q = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (q >= n) return 0;
        uint8_t b = p[q++];
        if (shift == 63 && (b & 0x7e)) return -1;
        out |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = out;
            *pos = q;
            return 1;
        }
    }
    return -1;
}

/* ---- writer ----
 *
 * The writer's buffers and the touched-key sets are not data: like Redis's
 * fork (whose copy-on-write pages are not in used_memory) they stay out of
 * the accounted memory, so a save never makes maxmemory evict keys or
 * refuse writes. They are bounded (a few block buffers, at most 8 MB of
 * touched keys). */

static void *x_malloc(size_t n) {
    void *p = malloc(n);
    if (!p) sg_panic("out of memory allocating %zu bytes for a snapshot", n);
    return p;
}

static void *x_calloc(size_t n) {
    void *p = calloc(1, n);
    if (!p) sg_panic("out of memory allocating %zu bytes for a snapshot", n);
    return p;
}

static void *x_realloc(void *o, size_t n) {
    void *p = realloc(o, n);
    if (!p) sg_panic("out of memory allocating %zu bytes for a snapshot", n);
    return p;
}

static void x_free(void *p) {
    free(p);
}

typedef struct snap_writer {
    server *s;
    int fd;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    uint8_t *raw; /* the block being filled */
    size_t rawlen;
    uint8_t *cbuf; /* compressed */
    size_t ccap;
    uint8_t *ebuf; /* sealed */
    int codec;
    const crypt_key *key;
    ZSTD_CCtx *zc;
    uint64_t blocks, keys, rawtotal, off, synced;
    int64_t start_ms;
    int err; /* first errno */
} snap_writer;

static void w_write(snap_writer *w, const void *p, size_t n) {
    if (w->err) return;
    if (persist_write_all(w->fd, p, n) != 0) {
        w->err = errno ? errno : EIO;
        return;
    }
    w->off += n;
    if (w->off - w->synced >= SYNC_EVERY) {
        /* Start writeback of what is written so far, without waiting, so
         * the final fdatasync does not meet the whole file at once. */
        (void)sync_file_range(w->fd, (off64_t)w->synced, (off64_t)(w->off - w->synced),
                              SYNC_FILE_RANGE_WRITE);
        w->synced = w->off;
    }
}

static void emit_block(snap_writer *w, uint8_t kind, const uint8_t *raw, size_t rawlen) {
    if (w->err) return;
    const uint8_t *stored = raw;
    size_t slen = rawlen;
    int codec = SNAP_CODEC_NONE;
    if (w->codec == SNAP_CODEC_LZ4 && rawlen > 64) {
        int n = LZ4_compress_default((const char *)raw, (char *)w->cbuf, (int)rawlen, (int)w->ccap);
        if (n > 0 && (size_t)n < rawlen) {
            stored = w->cbuf;
            slen = (size_t)n;
            codec = SNAP_CODEC_LZ4;
        }
    } else if (w->codec == SNAP_CODEC_ZSTD && rawlen > 64) {
        size_t n = ZSTD_compressCCtx(w->zc, w->cbuf, w->ccap, raw, rawlen, 1);
        if (!ZSTD_isError(n) && n < rawlen) {
            stored = w->cbuf;
            slen = n;
            codec = SNAP_CODEC_ZSTD;
        }
    }
    uint8_t hdr[SNAP_BLK_HDR];
    memset(hdr, 0, sizeof(hdr));
    hdr[0] = kind;
    hdr[1] = (uint8_t)codec;
    put_le(hdr + 4, rawlen, 4);
    put_le(hdr + 8, slen + (w->key ? CRYPT_OVERHEAD : 0), 4);
    if (w->key) {
        uint8_t aad[20];
        memcpy(aad, hdr, 12);
        put_le(aad + 12, w->blocks, 8); /* index of this block, 'E' included */
        if (crypt_seal(w->key, aad, sizeof(aad), stored, slen, w->ebuf) != 0) {
            w->err = EIO;
            return;
        }
        stored = w->ebuf;
        slen += CRYPT_OVERHEAD;
    }
    put_le(hdr + 12, XXH3_64bits(hdr, 12) & 0xffffffffu, 4);
    put_le(hdr + 16, XXH3_64bits(stored, slen), 8);
    w_write(w, hdr, sizeof(hdr));
    w_write(w, stored, slen);
    w->blocks++;
}

static void flush_data(snap_writer *w) {
    if (!w->rawlen) return;
    emit_block(w, 'D', w->raw, w->rawlen);
    w->rawtotal += w->rawlen;
    w->rawlen = 0;
}

static void w_put(void *ctx, const void *p, size_t n) {
    snap_writer *w = ctx;
    const uint8_t *c = p;
    while (n && !w->err) {
        size_t take = SNAP_BLOCK_SIZE - w->rawlen;
        if (take > n) take = n;
        memcpy(w->raw + w->rawlen, c, take);
        w->rawlen += take;
        c += take;
        n -= take;
        if (w->rawlen == SNAP_BLOCK_SIZE) flush_data(w);
    }
}

/* Keys of a pending slot already taken care of by the guard: their value
 * at the snapshot's instant was written ahead of the slot (or they did not
 * exist then), so writing the slot skips them. A key is remembered by its
 * database, length and 64-bit SipHash (keyed per process): a false match
 * between two keys of one slot, which would drop a key from the image, has
 * a chance of about 2^-54 per snapshot with TOUCH_MAX keys per slot. At
 * most TOUCH_MAX keys per slot: past that the guard writes the whole slot,
 * which bounds this memory to 16384 x TOUCH_MAX x 16 bytes (8 MB) whatever
 * the write load or the key sizes. */
#define TOUCH_MAX 32

typedef struct touch_key {
    uint64_t hash;
    uint32_t klen;
    int32_t db;
} touch_key;

typedef struct touched {
    int n, cap;
    touch_key k[];
} touched;

static touched *T[SG_SLOTS];

static bool touched_has(const touched *t, int db, size_t klen, uint64_t h) {
    for (int i = 0; t && i < t->n; i++)
        if (t->k[i].hash == h && t->k[i].klen == klen && t->k[i].db == db) return true;
    return false;
}

static void touched_add(unsigned slot, int db, size_t klen, uint64_t h) {
    touched *t = T[slot];
    if (!t || t->n == t->cap) {
        int cap = t ? t->cap * 2 : 2;
        t = x_realloc(t, sizeof(touched) + sizeof(touch_key) * (size_t)cap);
        if (!T[slot]) t->n = 0;
        t->cap = cap;
        T[slot] = t;
    }
    t->k[t->n++] = (touch_key){h, (uint32_t)klen, db};
}

static void touched_free(unsigned slot) {
    x_free(T[slot]);
    T[slot] = NULL;
}

typedef struct visit_ctx {
    snap_writer *w;
    int db;
    const touched *skip;
} visit_ctx;

static void write_entry(void *ctx, kentry *e) {
    visit_ctx *v = ctx;
    snap_writer *w = v->w;
    int64_t exp = kentry_expire(e);
    if (exp >= 0 && exp < w->start_ms) return; /* expired when the save began */
    size_t kl;
    const char *k = kentry_key(e, &kl);
    if (v->skip && touched_has(v->skip, v->db, kl, sg_hash(k, kl))) return; /* done */
    uint8_t h[48];
    size_t n = 0;
    h[n++] = 'K';
    n += ks_varint_put(h + n, (uint64_t)v->db);
    h[n++] = exp >= 0 ? 1 : 0;
    if (exp >= 0) {
        put_le(h + n, (uint64_t)exp, 8);
        n += 8;
    }
    n += ks_varint_put(h + n, kl);
    w_put(w, h, n);
    w_put(w, k, kl);
    n = ks_varint_put(h, persist_body_len(e));
    w_put(w, h, n);
    persist_write_body(e, w_put, w);
    w->keys++;
    if (SG_UNLIKELY(cfg.rdb_key_save_delay)) usleep((useconds_t)cfg.rdb_key_save_delay);
}

static void write_slot(snap_writer *w, unsigned slot) {
    keyspace *ks = w->s->ks;
    for (int db = 0; db < ks_ndb(ks); db++) {
        visit_ctx v = {w, db, T[slot]};
        kdb_foreach_slot(ks_db(ks, db), slot, write_entry, &v);
    }
    touched_free(slot);
}

static int codec_from_config(void) {
    if (!cfg.rdbcompression) return SNAP_CODEC_NONE;
    return cfg.snapshot_compression;
}

static snap_writer *writer_open(server *s, const char *path) {
    snap_writer *w = x_calloc(sizeof(*w));
    w->s = s;
    snprintf(w->path, sizeof(w->path), "%s", path);
    snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", path);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        sg_log(SG_LOG_WARNING, "Failed opening the snapshot file %s for saving: %s", w->tmp,
               strerror(e));
        x_free(w);
        errno = e;
        return NULL;
    }
    w->raw = x_malloc(SNAP_BLOCK_SIZE);
    size_t lz = (size_t)LZ4_compressBound((int)SNAP_BLOCK_SIZE);
    size_t zs = ZSTD_compressBound(SNAP_BLOCK_SIZE);
    w->ccap = lz > zs ? lz : zs;
    w->cbuf = x_malloc(w->ccap);
    w->codec = codec_from_config();
    if (w->codec == SNAP_CODEC_ZSTD) w->zc = ZSTD_createCCtx();
    w->key = crypt_current();
    if (w->key) w->ebuf = x_malloc(w->ccap + CRYPT_OVERHEAD);
    w->start_ms = sg_mstime();
    uint8_t hdr[SNAP_HDR_LEN];
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, SNAP_MAGIC, 8);
    put_le(hdr + 8, SNAP_VERSION, 2);
    put_le(hdr + 10, w->key ? 1 : 0, 2);
    put_le(hdr + 16, (uint64_t)w->start_ms, 8);
    if (w->key) memcpy(hdr + 24, w->key->id, CRYPT_KEY_ID);
    put_le(hdr + 32, XXH3_64bits(hdr, 32), 8);
    w_write(w, hdr, sizeof(hdr));
    return w;
}

static void writer_free(snap_writer *w) {
    if (w->fd >= 0) close(w->fd);
    if (w->zc) ZSTD_freeCCtx(w->zc);
    x_free(w->raw);
    x_free(w->cbuf);
    x_free(w->ebuf);
    x_free(w);
}

/* Ends the file: the end block, fdatasync, rename, directory fsync.
 * Frees w. 0 or -1 (logged, errno set). */
static void writer_end_blocks(snap_writer *w) {
    flush_data(w);
    uint8_t end[32];
    size_t n = 0;
    n += ks_varint_put(end + n, w->keys);
    n += ks_varint_put(end + n, w->blocks);
    n += ks_varint_put(end + n, w->rawtotal);
    emit_block(w, 'E', end, n);
}

/* The durable part: fdatasync, close, rename, directory fsync (w->err set
 * on failure, the temporary file removed). No keyspace access: it may run
 * on a thread of its own. */
static void writer_sync_rename(snap_writer *w) {
    if (!w->err && fdatasync(w->fd) != 0) w->err = errno;
    if (!w->err && close(w->fd) != 0) w->err = errno;
    w->fd = -1;
    if (!w->err && rename(w->tmp, w->path) != 0) w->err = errno;
    if (!w->err && persist_fsync_parent(w->path) != 0) w->err = errno;
    if (w->err) unlink(w->tmp);
}

static int writer_finish(snap_writer *w) {
    writer_end_blocks(w);
    writer_sync_rename(w);
    int e = w->err;
    if (e) sg_log(SG_LOG_WARNING, "Failed writing the snapshot %s: %s", w->path, strerror(e));
    writer_free(w);
    errno = e;
    return e ? -1 : 0;
}

/* ---- state ---- */

static struct {
    snap_writer *w; /* background save in progress */
    uint64_t pending[SG_SLOTS / 64];
    unsigned next; /* first slot that may still be pending */
    void (*done)(server *s, void *ctx, bool ok);
    void *done_ctx;
    uint64_t start_us;
    uint64_t dirty_at_start;
    /* INFO */
    int64_t lastsave;       /* Unix seconds of the last successful save */
    int64_t last_try;       /* of the last background attempt */
    bool last_bg_ok;        /* rdb_last_bgsave_status */
    int64_t last_bg_time_s; /* rdb_last_bgsave_time_sec, -1 none */
    uint64_t saves;
    uint64_t dirty_at_save; /* server dirty counter at the last save's start */
    uint64_t last_load_loaded, last_load_expired;
    uint64_t cur_keys; /* keys written by the running save */
    bool scheduled;    /* BGSAVE SCHEDULE waiting */
    /* Every slot written: the file is being fsynced and renamed by a thread
     * of its own (a large file's fdatasync would stall the loop). */
    bool finishing;
    pthread_t syncer;
    atomic_bool synced;
} S = {.last_bg_ok = true, .last_bg_time_s = -1};

static void bg_write_slot(unsigned slot) {
    S.pending[slot / 64] &= ~(1ull << (slot % 64));
    write_slot(S.w, slot);
}

static void write_all_pending(void) {
    for (unsigned i = S.next; i < SG_SLOTS; i++)
        if ((S.pending[i / 64] >> (i % 64)) & 1) bg_write_slot(i);
    S.next = SG_SLOTS;
}

/* Before a change to key in db (slot pending): its current value goes to
 * the file now, and the slot's walk will skip it. */
static void guard_fn(void *ctx, kdb *db, unsigned slot, const char *key, size_t klen) {
    SG_UNUSED(ctx);
    if (!S.w) return;
    if (slot >= SG_SLOTS) {
        write_all_pending();
        return;
    }
    if (!((S.pending[slot / 64] >> (slot % 64)) & 1)) return;
    int dbid = kdb_id(db);
    touched *t = T[slot];
    uint64_t h = sg_hash(key, klen);
    if (touched_has(t, dbid, klen, h)) return;
    if (t && t->n == TOUCH_MAX) { /* a busy slot: write all of it now */
        bg_write_slot(slot);
        return;
    }
    kentry *e = kdb_lookup_read(
        db, key, klen, NULL, LOOKUP_NOTOUCH | LOOKUP_NOSTATS | LOOKUP_NOEXPIRE | LOOKUP_NONOTIFY);
    if (e) {
        visit_ctx v = {S.w, dbid, NULL};
        write_entry(&v, e);
    }
    touched_add(slot, dbid, klen, h);
}

bool snap_bg_running(void) {
    return S.w != NULL;
}

int snap_bg_start(server *s, const char *path, void (*done)(server *s, void *ctx, bool ok),
                  void *ctx) {
    if (S.w) {
        errno = EBUSY;
        return -1;
    }
    snap_writer *w = writer_open(s, path);
    if (!w) return -1;
    S.w = w;
    memset(S.pending, 0xff, sizeof(S.pending));
    S.next = 0;
    S.done = done;
    S.done_ctx = ctx;
    S.start_us = sg_monotonic_us();
    S.dirty_at_start = s->dirty;
    ks_set_guard(s->ks, S.pending, guard_fn, NULL);
    return 0;
}

static void bg_complete(server *s, bool aborted);

void snap_bg_abort(server *s) {
    if (!S.w) return;
    if (S.finishing) { /* too late to abandon: it is on disk or failing */
        pthread_join(S.syncer, NULL);
        S.finishing = false;
        bg_complete(s, false);
        return;
    }
    ks_set_guard(s->ks, NULL, NULL, NULL);
    bg_complete(s, true);
}

static void *sync_main(void *arg) {
    writer_sync_rename(arg);
    atomic_store(&S.synced, true);
    return NULL;
}

/* Ends the save (S.w written, synced and renamed, failed, or aborted
 * midway): frees the writer and runs the done callback. */
static void bg_complete(server *s, bool aborted) {
    snap_writer *w = S.w;
    S.w = NULL;
    bool ok = !w->err && !aborted;
    if (!ok) {
        if (!aborted)
            sg_log(SG_LOG_WARNING, "Background saving error (%s): %s", w->path, strerror(w->err));
        unlink(w->tmp);
        for (unsigned i = 0; i < SG_SLOTS; i++) touched_free(i);
    }
    writer_free(w);
    void (*done)(server *, void *, bool) = S.done;
    S.done = NULL;
    if (done) done(s, S.done_ctx, ok);
}

/* Writes pending slots for up to budget_us; when none is left, ends the
 * file and hands its fsync and rename to a thread. */
static void bg_step(server *s, uint64_t budget_us) {
    uint64_t t0 = sg_monotonic_us();
    while (S.next < SG_SLOTS) {
        unsigned i = S.next++;
        if (!((S.pending[i / 64] >> (i % 64)) & 1)) continue;
        bg_write_slot(i);
        if (S.w->err) break;
        /* A slot is about 1/16384 of the data: look at the clock after each. */
        if (sg_monotonic_us() - t0 >= budget_us) return;
    }
    snap_writer *w = S.w;
    S.cur_keys = w->keys;
    ks_set_guard(s->ks, NULL, NULL, NULL); /* nothing pending: no more guard work */
    if (!w->err) {
        writer_end_blocks(w);
        atomic_store(&S.synced, false);
        if (!w->err && pthread_create(&S.syncer, NULL, sync_main, w) == 0) {
            S.finishing = true; /* bg_poll completes it */
            return;
        }
        if (!w->err) writer_sync_rename(w); /* no thread: here, then */
    }
    bg_complete(s, false);
}

/* The thread's result, once it has one; then the save ends. */
static void bg_poll(server *s) {
    if (!S.finishing || !atomic_load(&S.synced)) return;
    pthread_join(S.syncer, NULL);
    S.finishing = false;
    bg_complete(s, false);
}

void snap_bg_finish_now(server *s) {
    while (S.w && !S.finishing) bg_step(s, UINT64_MAX);
    if (S.finishing) {
        pthread_join(S.syncer, NULL);
        S.finishing = false;
        bg_complete(s, false);
    }
}

/* Independent of a background save that may be running (it only reads). */
int snap_save(server *s, const char *path) {
    snap_writer *w = writer_open(s, path);
    if (!w) return -1;
    for (unsigned slot = 0; slot < SG_SLOTS && !w->err; slot++) write_slot(w, slot);
    return writer_finish(w);
}

/* ---- reading ---- */

typedef struct pend {
    uint8_t *p;
    size_t len, cap, pos;
} pend;

static void pend_add(pend *b, const uint8_t *p, size_t n) {
    if (n == 0) return;
    if (b->pos && b->pos == b->len) b->pos = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->pos) { /* compact first */
            memmove(b->p, b->p + b->pos, b->len - b->pos);
            b->len -= b->pos;
            b->pos = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 64 * 1024;
            while (cap < b->len + n) cap *= 2;
            b->p = sg_realloc(b->p, cap);
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int read_full(int fd, void *p, size_t n, size_t *got) {
    char *c = p;
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, c + *got, n - *got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    return 0;
}

/* Parses whole records from b; 0: needs more (or none left), 1: a record
 * is in *rec (b->pos moved past it), -1: malformed (*why). */
static int next_record(pend *b, snap_record *rec, const char **why) {
    const uint8_t *p = b->p;
    size_t n = b->len, q = b->pos;
    if (q >= n) return 0;
    if (p[q] != 'K') {
        *why = "unknown record type";
        return -1;
    }
    q++;
    uint64_t db, kl, bl;
    int rc = varint_get(p, n, &q, &db);
    if (rc <= 0) goto out;
    if (q >= n) return 0;
    uint8_t flags = p[q++];
    if (flags & ~1u) {
        *why = "bad record flags";
        return -1;
    }
    int64_t exp = -1;
    if (flags & 1) {
        if (n - q < 8) return 0;
        exp = (int64_t)get_le(p + q, 8);
        q += 8;
        if (exp < 0) {
            *why = "bad expire time";
            return -1;
        }
    }
    rc = varint_get(p, n, &q, &kl);
    if (rc <= 0) goto out;
    if (kl > n - q) return 0;
    size_t kpos = q;
    q += (size_t)kl;
    rc = varint_get(p, n, &q, &bl);
    if (rc <= 0) goto out;
    if (bl > n - q) return 0;
    if (db > INT32_MAX) {
        *why = "bad database index";
        return -1;
    }
    rec->db = (int)db;
    rec->expire = exp;
    rec->key = (const char *)p + kpos;
    rec->klen = (size_t)kl;
    rec->body = (const char *)p + q;
    rec->blen = (size_t)bl;
    b->pos = q + (size_t)bl;
    return 1;
out:
    if (rc < 0) *why = "malformed length";
    return rc;
}

static int scan_fail(snap_scan_result *r, const char *why, uint64_t off) {
    r->why = why;
    r->bad_off = off;
    return -1;
}

int snap_scan_fd(int fd, const crypt_key *key, snap_record_fn *fn, void *ctx,
                 void (*progress)(void *ctx, uint64_t bytes), snap_scan_result *r) {
    memset(r, 0, sizeof(*r));
    uint8_t hdr[SNAP_HDR_LEN];
    size_t got;
    if (read_full(fd, hdr, sizeof(hdr), &got) != 0) return scan_fail(r, strerror(errno), 0);
    if (got < 8 || memcmp(hdr, SNAP_MAGIC, 8) != 0)
        return scan_fail(r, "not a Surge snapshot (bad magic)", 0);
    if (got < sizeof(hdr)) return scan_fail(r, "truncated header", 0);
    if (get_le(hdr + 32, 8) != XXH3_64bits(hdr, 32))
        return scan_fail(r, "header checksum mismatch", 0);
    if (get_le(hdr + 8, 2) != SNAP_VERSION) return scan_fail(r, "unsupported format version", 0);
    unsigned flags = (unsigned)get_le(hdr + 10, 2);
    if (flags & ~1u) return scan_fail(r, "unknown header flags", 0);
    r->created_ms = get_le(hdr + 16, 8);
    r->encrypted = flags & 1;
    memcpy(r->key_id, hdr + 24, CRYPT_KEY_ID);
    if (r->encrypted && !key) key = crypt_find(r->key_id);
    if (r->encrypted && (!key || memcmp(key->id, r->key_id, CRYPT_KEY_ID) != 0))
        return scan_fail(r,
                         "encrypted with a key that is not loaded (set encryption-key-file or "
                         "encryption-old-key-files)",
                         24);
    uint64_t off = sizeof(hdr);
    uint8_t *stored = sg_malloc(STORED_MAX);
    uint8_t *plain = r->encrypted ? sg_malloc(STORED_MAX) : NULL;
    uint8_t *raw = sg_malloc(SNAP_BLOCK_MAX);
    pend b = {0};
    int rc = -1;
    bool ended = false;
    uint64_t index = 0;
    for (;;) {
        uint8_t bh[SNAP_BLK_HDR];
        uint64_t boff = off;
        if (read_full(fd, bh, sizeof(bh), &got) != 0) {
            scan_fail(r, "read error", boff);
            goto done;
        }
        if (got == 0) {
            scan_fail(r, "truncated: the end block is missing", boff);
            goto done;
        }
        if (got < sizeof(bh)) {
            scan_fail(r, "truncated block header", boff);
            goto done;
        }
        if (get_le(bh + 12, 4) != (XXH3_64bits(bh, 12) & 0xffffffffu) || bh[2] || bh[3]) {
            scan_fail(r, "block header checksum mismatch", boff);
            goto done;
        }
        uint8_t kind = bh[0], codec = bh[1];
        size_t rawlen = (size_t)get_le(bh + 4, 4), slen = (size_t)get_le(bh + 8, 4);
        if ((kind != 'D' && kind != 'E') || codec > SNAP_CODEC_ZSTD || rawlen > SNAP_BLOCK_MAX ||
            slen > STORED_MAX) {
            scan_fail(r, "bad block header", boff);
            goto done;
        }
        if (read_full(fd, stored, slen, &got) != 0 || got < slen) {
            scan_fail(r, "truncated block", boff);
            goto done;
        }
        off += sizeof(bh) + slen;
        if (get_le(bh + 16, 8) != XXH3_64bits(stored, slen)) {
            scan_fail(r, "block checksum mismatch", boff);
            goto done;
        }
        const uint8_t *data = stored;
        size_t dlen = slen;
        if (r->encrypted) {
            uint8_t aad[20];
            memcpy(aad, bh, 12);
            put_le(aad + 12, index, 8);
            if (slen < CRYPT_OVERHEAD || crypt_open(key, aad, sizeof(aad), stored, slen, plain)) {
                scan_fail(r, "block does not decrypt (wrong key or damaged)", boff);
                goto done;
            }
            data = plain;
            dlen = slen - CRYPT_OVERHEAD;
        }
        index++;
        const uint8_t *out = data;
        if (codec == SNAP_CODEC_NONE) {
            if (dlen != rawlen) {
                scan_fail(r, "block length mismatch", boff);
                goto done;
            }
        } else if (codec == SNAP_CODEC_LZ4) {
            int d = LZ4_decompress_safe((const char *)data, (char *)raw, (int)dlen, (int)rawlen);
            if (d < 0 || (size_t)d != rawlen) {
                scan_fail(r, "lz4 block does not decompress", boff);
                goto done;
            }
            out = raw;
        } else {
            size_t d = ZSTD_decompress(raw, rawlen, data, dlen);
            if (ZSTD_isError(d) || d != rawlen) {
                scan_fail(r, "zstd block does not decompress", boff);
                goto done;
            }
            out = raw;
        }
        r->codec_blocks[codec]++;
        if (kind == 'E') {
            size_t q = 0;
            uint64_t keys, blocks, rawtotal;
            if (varint_get(out, rawlen, &q, &keys) != 1 ||
                varint_get(out, rawlen, &q, &blocks) != 1 ||
                varint_get(out, rawlen, &q, &rawtotal) != 1 || q != rawlen) {
                scan_fail(r, "bad end block", boff);
                goto done;
            }
            if (keys != r->keys || blocks != r->blocks || rawtotal != r->raw_bytes) {
                scan_fail(r, "end block does not match the file (blocks lost?)", boff);
                goto done;
            }
            if (b.pos != b.len) {
                scan_fail(r, "a record is cut short by the end block", boff);
                goto done;
            }
            uint8_t extra;
            if (read_full(fd, &extra, 1, &got) != 0 || got != 0) {
                scan_fail(r, "bytes after the end block", off);
                goto done;
            }
            ended = true;
            break;
        }
        r->blocks++;
        r->raw_bytes += rawlen;
        pend_add(&b, out, rawlen);
        for (;;) {
            snap_record rec;
            const char *why = NULL;
            int nr = next_record(&b, &rec, &why);
            if (nr == 0) break;
            if (nr < 0) {
                scan_fail(r, why, boff);
                goto done;
            }
            r->keys++;
            if (fn) {
                int frc = fn(ctx, &rec);
                if (frc) {
                    r->bad_off = boff;
                    rc = frc;
                    goto done;
                }
            }
        }
        if (progress) progress(ctx, off);
    }
    if (ended) rc = 0;
done:
    r->file_bytes = off;
    sg_free(stored);
    sg_free(plain);
    sg_free(raw);
    sg_free(b.p);
    return rc;
}

bool snap_is_snapshot(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char m[8];
    size_t got = 0;
    bool yes = read_full(fd, m, 8, &got) == 0 && got == 8 && memcmp(m, SNAP_MAGIC, 8) == 0;
    close(fd);
    return yes;
}

typedef struct load_ctx {
    server *s;
    int64_t now;
    uint64_t loaded, expired, bytes;
    const char *why;
    bool merge; /* DEBUG RELOAD MERGE: a loaded key replaces one in memory */
} load_ctx;

static void load_progress(void *ctx, uint64_t bytes) {
    load_ctx *l = ctx;
    l->bytes = bytes;
}

static int load_record(void *ctx, const snap_record *r) {
    load_ctx *l = ctx;
    keyspace *ks = l->s->ks;
    if (r->db >= ks_ndb(ks)) {
        l->why = "a key's database index is not below `databases`";
        return 1;
    }
    server_loading_progress(l->s, l->bytes);
    if (r->expire >= 0 && r->expire < l->now) {
        l->expired++;
        return 0;
    }
    kentry *e;
    const char *err;
    if (persist_build_body(r->key, r->klen, r->body, r->blen, r->expire, &e, &err) != 0) {
        l->why = "a value does not decode";
        return 1;
    }
    kdb *db = ks_db(ks, r->db);
    kref ref;
    if (kdb_lookup_read(db, r->key, r->klen, &ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS)) {
        if (!l->merge) {
            kentry_free(e);
            l->why = "a key appears twice";
            return 1;
        }
        kdb_delete(&ref);
    }
    kdb_add(db, e);
    l->loaded++;
    return 0;
}

static int load_file(server *s, const char *path, snap_scan_result *r, bool merge) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sg_log(SG_LOG_WARNING, "Can't open the snapshot %s: %s", path, strerror(errno));
        return -1;
    }
    load_ctx l = {s, sg_mstime(), 0, 0, 0, NULL, merge};
    int rc = snap_scan_fd(fd, NULL, load_record, &l, load_progress, r);
    close(fd);
    if (rc != 0) {
        char id[2 * CRYPT_KEY_ID + 1] = "";
        if (r->encrypted) crypt_key_id_hex(r->key_id, id);
        sg_log(SG_LOG_WARNING,
               "Bad snapshot file %s: %s, in the block at offset %llu%s%s; refusing to start "
               "(restore the file from a backup, or move it away to start empty)",
               path, l.why ? l.why : r->why, (unsigned long long)r->bad_off,
               r->encrypted ? "; the file's key id is " : "", id);
        return -1;
    }
    S.last_load_loaded = l.loaded;
    S.last_load_expired = l.expired;
    return 0;
}

int snap_load_file(server *s, const char *path, snap_scan_result *r) {
    return load_file(s, path, r, false);
}

/* ---- server hooks ---- */

/* LASTSAVE before any save is the start-up time, as Redis. */
static void init_lastsave(void) {
    if (!S.lastsave) S.lastsave = (int64_t)(sg_mstime() / 1000);
}

int snapshot_load_at_startup(server *s) {
    init_lastsave();
    struct stat st;
    if (stat(cfg.dbfilename, &st) != 0) {
        if (errno == ENOENT) return 0;
        sg_log(SG_LOG_WARNING, "Can't stat the snapshot %s: %s", cfg.dbfilename, strerror(errno));
        return -1;
    }
    uint64_t t0 = sg_monotonic_us();
    snap_scan_result r;
    server_loading_begin(s, (uint64_t)st.st_size);
    int rc = snap_load_file(s, cfg.dbfilename, &r);
    server_loading_end(s);
    if (rc != 0) return -1;
    s->dirty = 0;
    sg_log(SG_LOG_NOTICE, "DB loaded from disk: %.3f seconds (%llu keys, %llu expired skipped)",
           (double)(sg_monotonic_us() - t0) / 1e6, (unsigned long long)S.last_load_loaded,
           (unsigned long long)S.last_load_expired);
    return 0;
}

void snapshot_before_write(client *c, const cmd_def *d) {
    if (!S.w || !(d->flags & CF_WRITE)) return;
    int stack[16];
    int *pos = c->argc <= 16 ? stack : sg_malloc(sizeof(int) * (size_t)c->argc);
    int n = cmd_get_keys(d, c->argc, (const char *const *)c->argv, c->argvlen, pos, NULL,
                         c->argc > 16 ? c->argc : 16);
    /* n < 0: argv does not fit the command (it will be refused unrun). */
    for (int i = 0; i < n && S.w; i++) {
        const char *k = c->argv[pos[i]];
        size_t kl = c->argvlen[pos[i]];
        guard_fn(NULL, c->db, sg_key_slot(k, kl), k, kl);
    }
    if (pos != stack) sg_free(pos);
}

static void bgsave_done(server *s, void *ctx, bool ok) {
    SG_UNUSED(ctx);
    uint64_t us = sg_monotonic_us() - S.start_us;
    S.last_bg_ok = ok;
    S.last_bg_time_s = (int64_t)((us + 500000) / 1000000);
    if (ok) {
        S.lastsave = (int64_t)(sg_mstime() / 1000);
        S.dirty_at_save = S.dirty_at_start;
        S.saves++;
        sg_log(SG_LOG_NOTICE, "Background saving terminated with success (%llu keys, %.3f s)",
               (unsigned long long)S.cur_keys, (double)us / 1e6);
    } else {
        sg_log(SG_LOG_WARNING, "Background saving error");
    }
    SG_UNUSED(s);
}

static int bgsave_start(server *s) {
    S.last_try = (int64_t)(sg_mstime() / 1000);
    if (snap_bg_start(s, cfg.dbfilename, bgsave_done, NULL) != 0) {
        S.last_bg_ok = false;
        return -1;
    }
    sg_log(SG_LOG_NOTICE, "Background saving started (forkless)");
    return 0;
}

void snapshot_before_sleep(server *s) {
    if (!S.w) return;
    if (S.finishing) {
        bg_poll(s);
        return;
    }
    uint64_t t0 = sg_monotonic_us();
    bg_step(s, SLICE_US);
    uint64_t ms = (sg_monotonic_us() - t0) / 1000;
    if (cfg.latency_monitor_threshold && ms >= (uint64_t)cfg.latency_monitor_threshold)
        latency_add(&s->latency, "snapshot-slice", (uint32_t)ms, sg_mstime() / 1000);
    if (S.w && !S.finishing) /* more to write: don't sleep */
        ev_set_next_wakeup(s->loop, sg_monotonic_us());
}

void snapshot_cron(server *s) {
    init_lastsave();
    bg_poll(s);
    if (S.w) return;
    int64_t now = (int64_t)(sg_mstime() / 1000);
    if (S.scheduled) {
        S.scheduled = false;
        bgsave_start(s);
        return;
    }
    uint64_t changes = s->dirty - S.dirty_at_save;
    for (int i = 0; i < cfg.nsave_params; i++) {
        long long secs = cfg.save_params[i].seconds, ch = cfg.save_params[i].changes;
        if (changes >= (uint64_t)ch && now - S.lastsave >= secs &&
            (S.last_bg_ok || now - S.last_try > RETRY_DELAY_S)) {
            sg_log(SG_LOG_NOTICE, "%lld changes in %lld seconds. Saving...", (long long)changes,
                   secs);
            bgsave_start(s);
            return;
        }
    }
}

const char *snapshot_refuse_writes(void) {
    if (cfg.stop_writes_on_bgsave_error && cfg.nsave_params && !S.last_bg_ok)
        return "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
               "persist to disk. Commands that may modify the data set are disabled, because "
               "this instance is configured to report errors during writes if RDB snapshotting "
               "fails (stop-writes-on-bgsave-error option). Please check the Redis logs for "
               "details about the RDB error.";
    return NULL;
}

static int save_now(server *s) {
    uint64_t dirty = s->dirty;
    if (snap_save(s, cfg.dbfilename) != 0) return -1;
    S.lastsave = (int64_t)(sg_mstime() / 1000);
    S.dirty_at_save = dirty;
    S.saves++;
    S.last_bg_ok = true; /* a good save clears the MISCONF state, as Redis */
    return 0;
}

int snapshot_shutdown(server *s, bool nosave, bool save) {
    if (S.w) {
        sg_log(SG_LOG_WARNING, "There is a background save in progress: abandoning it");
        snap_bg_abort(s);
    }
    /* While loading, the dataset in memory is partial: never save it over
     * the files it comes from (Redis forces NOSAVE too). */
    if (nosave || server_is_loading() || (!save && cfg.nsave_params == 0)) return 0;
    sg_log(SG_LOG_NOTICE, "Saving the final snapshot before exiting.");
    if (save_now(s) != 0) {
        sg_log(SG_LOG_WARNING, "Error trying to save the DB, can't exit.");
        return -1;
    }
    sg_log(SG_LOG_NOTICE, "DB saved on disk");
    return 0;
}

sstr *snapshot_info(server *s, sstr *o) {
    init_lastsave();
    int64_t cur = S.w ? (int64_t)((sg_monotonic_us() - S.start_us) / 1000000) : -1;
    return sstr_catfmt(
        o,
        "rdb_changes_since_last_save:%llu\r\n"
        "rdb_bgsave_in_progress:%d\r\n"
        "rdb_last_save_time:%lld\r\n"
        "rdb_last_bgsave_status:%s\r\n"
        "rdb_last_bgsave_time_sec:%lld\r\n"
        "rdb_current_bgsave_time_sec:%lld\r\n"
        "rdb_saves:%llu\r\n"
        "rdb_last_cow_size:0\r\n"
        "rdb_last_load_keys_expired:%llu\r\n"
        "rdb_last_load_keys_loaded:%llu\r\n"
        "current_save_keys_processed:%llu\r\n",
        (unsigned long long)(s->dirty - S.dirty_at_save), S.w ? 1 : 0, (long long)S.lastsave,
        S.last_bg_ok ? "ok" : "err", (long long)S.last_bg_time_s, (long long)cur,
        (unsigned long long)S.saves, (unsigned long long)S.last_load_expired,
        (unsigned long long)S.last_load_loaded, (unsigned long long)(S.w ? S.w->keys : 0));
}

/* FLUSHALL with save points: the empty dataset is saved at once (as Redis
 * does), so the flushed keys do not come back after a crash. A background
 * save of the pre-flush data is abandoned first: it would land later and
 * bring them back. */
void snapshot_after_flushall(server *s) {
    if (cfg.nsave_params == 0 || server_is_loading()) return;
    if (S.w && S.done == bgsave_done) {
        sg_log(SG_LOG_NOTICE, "FLUSHALL: abandoning the background save in progress");
        snap_bg_abort(s);
    }
    /* As Redis: the changes (the flush itself) still count as unsaved. */
    uint64_t at_save = S.dirty_at_save;
    if (save_now(s) != 0) return; /* logged */
    S.dirty_at_save = at_save;
}

/* DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the dataset, load
 * the snapshot again (Redis's test and tooling aid). 0 or -1 with *err. */
int snapshot_debug_reload(server *s, bool save, bool flush, bool merge, const char **err) {
    if (S.w) snap_bg_finish_now(s); /* no save may run across the flush */
    if (save && save_now(s) != 0) {
        *err = "Error trying to save the RDB dump, check server logs.";
        return -1;
    }
    if (flush)
        for (int i = 0; i < ks_ndb(s->ks); i++) kdb_flush(ks_db(s->ks, i));
    snap_scan_result r;
    if (load_file(s, cfg.dbfilename, &r, merge) != 0) {
        *err = "Error trying to load the RDB dump, check server logs.";
        return -1;
    }
    return 0;
}

/* ---- commands ---- */

static bool own_job(void) {
    return S.w && S.done == bgsave_done;
}

void save_command(client *c) {
    if (own_job()) {
        reply_error(c, "ERR Background save already in progress");
        return;
    }
    if (save_now(c->srv) != 0) {
        reply_error(c, "ERR");
        return;
    }
    reply_ok(c);
}

void bgsave_command(client *c) {
    bool schedule = false;
    if (c->argc == 2) {
        if (!arg_is(c, 1, "schedule")) {
            reply_syntax_error(c);
            return;
        }
        schedule = true;
    } else if (c->argc > 2) {
        reply_syntax_error(c);
        return;
    }
    if (own_job()) {
        reply_error(c, "ERR Background save already in progress");
        return;
    }
    if (S.w || aof_rewrite_in_progress()) {
        if (schedule) {
            S.scheduled = true;
            reply_status(c, "Background saving scheduled");
            return;
        }
        reply_error(c, "ERR Another child process is active (AOF?): can't BGSAVE right now. "
                       "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        return;
    }
    if (bgsave_start(c->srv) != 0) {
        reply_error(c, "ERR");
        return;
    }
    reply_status(c, "Background saving started");
}

void lastsave_command(client *c) {
    init_lastsave();
    reply_int(c, S.lastsave);
}
