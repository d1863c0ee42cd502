/*
 * aof: the append-only log.
 *
 * What is logged. After every command that changed data (the server's dirty
 * counter moved and the command is flagged `write`) the command is appended
 * to an in-memory record in RESP form (a multibulk per command), preceded by
 * a SELECT when the database differs from the one the log is in. Keys that
 * disappear by expiry or eviction are logged as DEL. What is logged must give
 * the same result when replayed later, so some commands are rewritten:
 *   - relative expiry (EXPIRE, PEXPIRE, SETEX, PSETEX, SET EX/PX, GETEX
 *     EX/PX) is followed by PEXPIREAT key <absolute ms> read back from the
 *     key after the command ran;
 *   - INCRBYFLOAT becomes SET key <new value> KEEPTTL;
 *   - a handler with a random effect (SPOP) replaces what is logged for it
 *     with server_propagate_override (SREM of the popped members);
 *   - blocking commands are logged as they ran; replay runs them with the
 *     private client marked as inside EXEC, so they never block and, on the
 *     same data, serve the same key.
 * All commands logged for one top-level command (EXEC and its queue
 * included) form one record, so a transaction is replayed whole or not at
 * all.
 *
 * Record framing. Each record is
 *
 *   #<len> <crc64 of payload, 16 hex> <hcrc, 8 hex>\r\n<payload: len bytes>
 *
 * where hcrc is the low 32 bits of sg_crc64 over "#<len> <crc64>". The loader
 * (aof_scan) classifies what follows the last good record:
 *   - an incomplete header or a payload cut short by end of file is a torn
 *     tail (the crash happened mid-write): it is dropped, logged, and the file
 *     truncated to the last good record;
 *   - anything else (no '#' or '%', a malformed header, a header or payload
 *     checksum mismatch, an encrypted record that does not authenticate) is
 *     corruption: start-up is refused, naming file and offset.
 *
 * Encrypted records. With an encryption key configured (crypt.h,
 * `encryption-key-file`) every record is written as
 *
 *   %<len> <crc64 of payload, 16 hex> <hcrc, 8 hex>\r\n<payload: len bytes>
 *   payload = key id (8) | nonce (12) | AES-256-GCM(commands) | tag (16)
 *
 * sealed with the additional data "surge-aof" || key id. The header and CRC
 * are the plain record's, over the stored bytes, so torn and damaged records
 * are told apart without the key; aof_scan then opens the record with the
 * key its id names (current or encryption-old-key-files) and hands the
 * plaintext on. A missing key refuses start-up naming the key id. Plain and
 * encrypted records may alternate in one file: turning encryption on (or
 * changing the key) affects only the records written after it, and the next
 * rewrite re-encrypts everything with the current key.
 *
 * Files. Under `dir`/`appenddirname`, as Redis 7 lays them out:
 *   <appendfilename>.<seq>.base.aof  snapshot of the dataset (optional)
 *   <appendfilename>.<seq>.incr.aof  commands since that snapshot
 *   <appendfilename>.manifest        which two files are current:
 *       file <name> seq <n> type b
 *       file <name> seq <n> type i
 * The manifest is the commit point: it is replaced atomically (temporary
 * file, fsync, rename, fsync of the directory), and files it does not name
 * are garbage.
 *
 * Writing and fsync. Records collect in `buf`; aof_before_sleep, which the
 * core calls before any reply of the loop iteration is sent, writes them
 * and, under `appendfsync always`, fdatasyncs the file: one fsync covers all
 * the clients served in the iteration (group commit), and no reply leaves
 * before its write is on disk. Under `everysec` aof_cron hands an fsync to a
 * background thread at most once a second (one in flight at a time; while
 * the disk is slower than that, aof_delayed_fsync counts the skipped ticks).
 * Under `no` the kernel decides.
 *
 * Failing disks. A failed write or fsync under `always` stops the server
 * (exit 1): the kernel may have dropped the pages, so nothing may be
 * acknowledged again. Under the other policies the log enters an error
 * state: commands flagged `write` are refused with -MISCONF until a later
 * write and fsync of everything pending succeed (retried from aof_cron). A
 * short write is cut back (ftruncate) to the last whole record.
 *
 * Compaction (BGREWRITEAOF, auto-aof-rewrite-*). Forkless and, for now,
 * synchronous: the dataset is walked db by db with kdb_scan in slices, each
 * key turned into commands that rebuild it (SET, RPUSH, SADD, HSET, ZADD in
 * chunks of AOF_REWRITE_CHUNK elements, then PEXPIREAT), written through a
 * small buffer into a temporary base file; memory stays bounded by the chunk
 * size, but the loop is busy for the whole walk (see docs/persistence.md).
 * Collection values are read by running the type's own read commands
 * (LRANGE, SSCAN, HSCAN, ZRANGE WITHSCORES) on a private client whose reply
 * buffer is captured, so this module needs no knowledge of the encodings.
 *
 * Invariants: while enabled, fd is open on the current incr file, and
 * incr_size is its length on disk up to the last whole record; buf holds
 * whole records only; rec holds the record being built (never written
 * before it is closed).
 */
#include "persist.h"
#include "snapshot.h"

#include "../server/config.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define AOF_MAX_HIST 8 /* incremental files kept across failed rewrites */

typedef struct aof_state {
    bool enabled;  /* logging (cfg.appendonly applied) */
    bool loading;  /* replaying at start-up */
    bool suppress; /* replay or rewrite running commands: log nothing */
    bool rewrite_scheduled;
    int fd;     /* current incr file; -1 when none */
    sstr *buf;  /* whole records not yet written */
    sstr *rec;  /* the record being built */
    int log_db; /* db the log is in after rec (-1: unknown) */
    sstr *ovr;  /* override of the current command's logged form */
    bool has_ovr;
    uint64_t seq;
    char base_name[512], incr_name[512]; /* base_name[0] == 0: no base */
    /* Older incremental files still needed: those before incr_name since a
     * rewrite began (and of rewrites that failed), oldest first. */
    char hist[AOF_MAX_HIST][512];
    uint64_t hist_seq[AOF_MAX_HIST];
    int nhist;
    uint64_t hist_size; /* their bytes */
    uint64_t base_seq;
    bool rewriting; /* a background rewrite's snapshot is being written */
    uint64_t rw_seq;
    uint64_t rw_start_us;
    char rw_base[512];
    uint64_t base_file_size, incr_size;
    uint64_t synced_size;       /* incr_size as of the last successful fsync */
    uint64_t bio_size;          /* incr_size handed to the background fsync */
    uint64_t rewrite_base_size; /* aof_base_size: total size after the last rewrite/load */
    bool unsynced;
    int64_t last_fsync_ms;
    int write_err; /* errno of the failed write or fsync; 0: fine */
    int64_t rewrites, last_rewrite_ms;
    bool last_rewrite_ok;
    uint64_t delayed_fsync;
} aof_state;

static int rewrite_start(server *s);

static aof_state A = {.fd = -1, .log_db = -1, .last_rewrite_ok = true, .last_rewrite_ms = -1};

/* ---- framing ---- */

static uint32_t hdr_crc(const char *p, size_t n) {
    return (uint32_t)sg_crc64(0, p, n);
}

static sstr *frame(sstr *out, char mark, const char *payload, size_t len) {
    char hdr[AOF_HDR_MAX];
    int n = snprintf(hdr, sizeof(hdr), "%c%zu %016llx", mark, len,
                     (unsigned long long)sg_crc64(0, payload, len));
    n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, " %08x\r\n", hdr_crc(hdr, (size_t)n));
    out = sstr_cat(out, hdr, (size_t)n);
    return sstr_cat(out, payload, len);
}

/* The additional authenticated data of an encrypted record. */
#define AAD_LEN (sizeof(AOF_AAD_LABEL) - 1 + CRYPT_KEY_ID)
static void record_aad(uint8_t aad[AAD_LEN], const uint8_t id[CRYPT_KEY_ID]) {
    memcpy(aad, AOF_AAD_LABEL, sizeof(AOF_AAD_LABEL) - 1);
    memcpy(aad + sizeof(AOF_AAD_LABEL) - 1, id, CRYPT_KEY_ID);
}

sstr *aof_frame_record_key(sstr *out, const char *payload, size_t len, const crypt_key *k) {
    if (!k) return frame(out, '#', payload, len);
    size_t slen = CRYPT_KEY_ID + len + CRYPT_OVERHEAD;
    uint8_t *sealed = sg_malloc(slen), aad[AAD_LEN];
    memcpy(sealed, k->id, CRYPT_KEY_ID);
    record_aad(aad, k->id);
    if (crypt_seal(k, aad, sizeof(aad), payload, len, sealed + CRYPT_KEY_ID) != 0)
        sg_panic("Can't encrypt an AOF record (OpenSSL failure, logged)");
    out = frame(out, '%', (const char *)sealed, slen);
    sg_free(sealed);
    return out;
}

sstr *aof_frame_record(sstr *out, const char *payload, size_t len) {
    return aof_frame_record_key(out, payload, len, crypt_current());
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

static bool parse_hex(const char *p, size_t n, uint64_t *v) {
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(p[i]);
        if (h < 0) return false;
        *v = (*v << 4) | (uint64_t)h;
    }
    return true;
}

int aof_scan(const char *p, size_t n, aof_record_fn *fn, void *ctx, aof_scan_result *r) {
    memset(r, 0, sizeof(*r));
    size_t pos = 0;
    char *plain = NULL; /* opened encrypted payloads */
    size_t plain_cap = 0;
    int ret = 0;
    while (pos < n) {
        size_t avail = n - pos;
        const char *h = p + pos;
        bool enc = h[0] == '%';
        if (h[0] != '#' && !enc) {
            r->corrupt = true;
            r->why = "no record header";
            break;
        }
        size_t lim = avail < AOF_HDR_MAX ? avail : AOF_HDR_MAX;
        const char *nl = NULL;
        for (size_t i = 1; i + 1 < lim; i++)
            if (h[i] == '\r' && h[i + 1] == '\n') {
                nl = h + i;
                break;
            }
        if (!nl) {
            if (avail < AOF_HDR_MAX) {
                r->torn = true;
            } else {
                r->corrupt = true;
                r->why = "record header too long";
            }
            break;
        }
        /* "#<len> <16 hex> <8 hex>" */
        size_t hl = (size_t)(nl - h);
        size_t i = 1;
        uint64_t len = 0;
        while (i < hl && h[i] >= '0' && h[i] <= '9' && i < 21)
            len = len * 10 + (uint64_t)(h[i++] - '0');
        uint64_t crc, hcrc;
        if (i == 1 || hl != i + 1 + 16 + 1 + 8 || h[i] != ' ' || h[i + 17] != ' ' ||
            !parse_hex(h + i + 1, 16, &crc) || !parse_hex(h + i + 18, 8, &hcrc)) {
            r->corrupt = true;
            r->why = "malformed record header";
            break;
        }
        if ((uint32_t)hcrc != hdr_crc(h, i + 17)) {
            r->corrupt = true;
            r->why = "record header checksum mismatch";
            break;
        }
        if (enc && len < CRYPT_KEY_ID + CRYPT_OVERHEAD) {
            r->corrupt = true;
            r->why = "encrypted record shorter than its key id, nonce and tag";
            break;
        }
        size_t body = hl + 2;
        if (len > avail - body) {
            r->torn = true; /* the header is sound; the payload was cut short */
            break;
        }
        if (sg_crc64(0, h + body, (size_t)len) != crc) {
            r->corrupt = true;
            r->why = "record checksum mismatch";
            break;
        }
        const char *payload = h + body;
        size_t plen = (size_t)len;
        if (enc) { /* key id, then the sealed commands */
            const uint8_t *id = (const uint8_t *)payload;
            const crypt_key *k = crypt_find(id);
            if (!k) {
                r->corrupt = r->no_key = true;
                memcpy(r->key_id, id, CRYPT_KEY_ID);
                r->why = "record encrypted with a key that is not loaded";
                break;
            }
            plen -= CRYPT_KEY_ID + CRYPT_OVERHEAD;
            if (plen + 1 > plain_cap) {
                sg_free(plain);
                plain_cap = plen + 1;
                plain = sg_malloc(plain_cap);
            }
            uint8_t aad[AAD_LEN];
            record_aad(aad, id);
            if (crypt_open(k, aad, sizeof(aad), payload + CRYPT_KEY_ID, (size_t)len - CRYPT_KEY_ID,
                           plain) != 0) {
                r->corrupt = true;
                r->why = "encrypted record does not authenticate (altered, or not sealed by the "
                         "key it names)";
                break;
            }
            payload = plain;
        }
        if (fn) {
            ret = fn(ctx, payload, plen, pos);
            if (ret) break;
        }
        pos += body + (size_t)len;
        r->good = pos;
        r->records++;
        if (enc) r->encrypted++;
    }
    if (plain) {
        explicit_bzero(plain, plain_cap);
        sg_free(plain);
    }
    return ret;
}

/* ---- building records ---- */

static sstr *cat_bulk(sstr *o, const char *p, size_t n) {
    o = sstr_catfmt(o, "$%zu\r\n", n);
    o = sstr_cat(o, p, n);
    return sstr_cat(o, "\r\n", 2);
}

static sstr *cat_cmd(sstr *o, int argc, char **argv, const size_t *lens) {
    o = sstr_catfmt(o, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) o = cat_bulk(o, argv[i], lens[i]);
    return o;
}

static sstr *cat_select(sstr *o, int *cur, int dbid) {
    if (*cur == dbid) return o;
    char num[SG_LONG_STR_SIZE];
    int n = sg_ll2str(num, sizeof(num), dbid);
    o = sstr_cat(o, "*2\r\n$6\r\nSELECT\r\n", 16);
    o = cat_bulk(o, num, (size_t)n);
    *cur = dbid;
    return o;
}

static void close_record(void) {
    if (!A.rec || !A.rec->len) return;
    A.buf = aof_frame_record(A.buf, A.rec->buf, A.rec->len);
    A.rec->len = 0;
    A.rec->buf[0] = 0;
}

void server_propagate_override(client *c, int argc, const char **argv, const size_t *lens) {
    SG_UNUSED(c);
    if (!A.enabled || A.suppress) return;
    if (!A.ovr) A.ovr = sstr_new_cap(64);
    if (!A.has_ovr) A.ovr->len = 0;
    A.has_ovr = true;
    A.ovr = cat_cmd(A.ovr, argc, (char **)argv, lens);
}

static bool has_arg(const client *c, int from, const char *w) {
    for (int i = from; i < c->argc; i++)
        if (!strcasecmp(c->argv[i], w)) return true;
    return false;
}

/* The command as it ran, made deterministic for replay. */
static void log_command(client *c, const cmd_def *d) {
    if (d->id == CMDID_incrbyfloat) {
        kref ref;
        kentry *e = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], &ref,
                                    LOOKUP_NOTOUCH | LOOKUP_NOSTATS | LOOKUP_NOEXPIRE);
        if (e && kentry_type(e) == OBJ_STRING) {
            size_t vl;
            const char *v = kentry_str(e, &vl);
            A.rec = sstr_cat(A.rec, "*4\r\n$3\r\nSET\r\n", 13);
            A.rec = cat_bulk(A.rec, c->argv[1], c->argvlen[1]);
            A.rec = cat_bulk(A.rec, v, vl);
            A.rec = cat_bulk(A.rec, "KEEPTTL", 7);
            return;
        }
    }
    A.rec = cat_cmd(A.rec, c->argc, c->argv, c->argvlen);
    bool rel = d->id == CMDID_expire || d->id == CMDID_pexpire || d->id == CMDID_setex ||
               d->id == CMDID_psetex ||
               ((d->id == CMDID_set || d->id == CMDID_getex) &&
                (has_arg(c, 2, "EX") || has_arg(c, 2, "PX")));
    if (!rel || c->argc < 2) return;
    kref ref;
    kentry *e = kdb_lookup_read(c->db, c->argv[1], c->argvlen[1], &ref,
                                LOOKUP_NOTOUCH | LOOKUP_NOSTATS | LOOKUP_NOEXPIRE);
    if (!e || !kentry_has_ttl(e)) return;
    char num[SG_LONG_STR_SIZE];
    int n = sg_ll2str(num, sizeof(num), (long long)kentry_expire(e));
    A.rec = sstr_cat(A.rec, "*3\r\n$9\r\nPEXPIREAT\r\n", 19);
    A.rec = cat_bulk(A.rec, c->argv[1], c->argvlen[1]);
    A.rec = cat_bulk(A.rec, num, (size_t)n);
}

void aof_after_command(client *c, const cmd_def *d, uint64_t dirty_before) {
    bool ovr = A.has_ovr;
    A.has_ovr = false;
    if (!A.enabled || A.suppress) return;
    if (c->srv->dirty > dirty_before && (d->flags & CF_WRITE) && d->id != CMDID_exec) {
        A.rec = cat_select(A.rec, &A.log_db, c->dbid);
        if (ovr)
            A.rec = sstr_cat(A.rec, A.ovr->buf, A.ovr->len);
        else
            log_command(c, d);
    }
    if (!c->in_exec) close_record();
}

void aof_key_removed(server *s, int dbid, const char *key, size_t klen, int why) {
    SG_UNUSED(s);
    SG_UNUSED(why);
    if (!A.enabled || A.suppress) return;
    A.rec = cat_select(A.rec, &A.log_db, dbid);
    A.rec = sstr_cat(A.rec, "*2\r\n$3\r\nDEL\r\n", 13);
    A.rec = cat_bulk(A.rec, key, klen);
}

/* ---- files ---- */

static void path_of(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", cfg.appenddirname, name);
}

/* Writes a whole small file atomically: temporary file, fsync, rename,
 * fsync of the directory. */
static int write_file_atomic(const char *name, const char *p, size_t n) {
    char path[1100], tmp[1200];
    path_of(path, sizeof(path), name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (persist_write_all(fd, p, n) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) return -1;
    return persist_fsync_dir(cfg.appenddirname);
}

/* The manifest lists the base file (if any), then the incremental files
 * in replay order: the history (A.hist) and then incr. */
static int write_manifest(const char *base, uint64_t base_seq, bool with_hist, const char *incr,
                          uint64_t seq) {
    sstr *m = sstr_new_cap(256);
    if (base[0])
        m = sstr_catfmt(m, "file %s seq %llu type b\n", base, (unsigned long long)base_seq);
    for (int i = 0; with_hist && i < A.nhist; i++)
        m = sstr_catfmt(m, "file %s seq %llu type i\n", A.hist[i],
                        (unsigned long long)A.hist_seq[i]);
    m = sstr_catfmt(m, "file %s seq %llu type i\n", incr, (unsigned long long)seq);
    char name[600];
    snprintf(name, sizeof(name), "%s.manifest", cfg.appendfilename);
    int rc = write_file_atomic(name, m->buf, m->len);
    sstr_free(m);
    return rc;
}

/* Reads the manifest into A's names; returns 1 if found, 0 if none, -1 bad. */
static int read_manifest(void) {
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s.manifest", cfg.appenddirname, cfg.appendfilename);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : -1;
    char line[1200];
    int rc = 1;
    A.base_name[0] = A.incr_name[0] = 0;
    A.nhist = 0;
    uint64_t incr_seq = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[512];
        unsigned long long seq;
        char type;
        if (line[0] == '\n' || line[0] == '#') continue;
        if (sscanf(line, "file %511s seq %llu type %c", name, &seq, &type) != 3 ||
            strchr(name, '/') || (type != 'b' && type != 'i') ||
            (type == 'b' && (A.base_name[0] || A.incr_name[0]))) {
            sg_log(SG_LOG_WARNING, "Bad AOF manifest line in %s: %s", path, line);
            rc = -1;
            break;
        }
        if (type == 'b') {
            snprintf(A.base_name, sizeof(A.base_name), "%s", name);
            A.base_seq = seq;
        } else {
            if (A.incr_name[0]) { /* the previous one is history */
                if (A.nhist == AOF_MAX_HIST) {
                    sg_log(SG_LOG_WARNING, "Too many incremental files in %s", path);
                    rc = -1;
                    break;
                }
                snprintf(A.hist[A.nhist], sizeof(A.hist[0]), "%s", A.incr_name);
                A.hist_seq[A.nhist++] = incr_seq;
            }
            snprintf(A.incr_name, sizeof(A.incr_name), "%s", name);
            incr_seq = seq;
        }
        if (seq > A.seq) A.seq = seq;
    }
    fclose(f);
    if (rc == 1 && !A.incr_name[0]) {
        sg_log(SG_LOG_WARNING, "The AOF manifest %s names no incremental file", path);
        rc = -1;
    }
    return rc;
}

static int ensure_dir(void) {
    if (mkdir(cfg.appenddirname, 0755) == 0) {
        if (persist_fsync_dir(".") != 0) { /* make the new directory's entry durable */
            sg_log(SG_LOG_WARNING, "Can't fsync the data directory: %s", strerror(errno));
            return -1;
        }
    } else if (errno != EEXIST) {
        sg_log(SG_LOG_WARNING, "Can't create the AOF directory %s: %s", cfg.appenddirname,
               strerror(errno));
        return -1;
    }
    return 0;
}

static int open_incr(const char *name, bool trunc) {
    char path[1100];
    path_of(path, sizeof(path), name);
    int fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0644);
    if (fd < 0) sg_log(SG_LOG_WARNING, "Can't open the AOF file %s: %s", path, strerror(errno));
    return fd;
}

static uint64_t file_size(const char *name) {
    char path[1100];
    struct stat st;
    path_of(path, sizeof(path), name);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- writing and fsync ---- */

static void fail_always(const char *what, int e) {
    sg_log(SG_LOG_WARNING,
           "Can't %s the append only file: %s (appendfsync always): exiting, since acknowledged "
           "writes could otherwise be lost",
           what, strerror(e));
    /* What was written since the last good fsync was never acknowledged and
     * may only be in the page cache (or lost there): cut it off, so the next
     * server does not append after bytes a power cut would turn to zeros. */
    if (A.fd >= 0 && ftruncate(A.fd, (off_t)A.synced_size) == 0) (void)fdatasync(A.fd);
    exit(1);
}

static void set_error(const char *what, int e) {
    if (!A.write_err)
        sg_log(SG_LOG_WARNING,
               "Error %s the append only file: %s; refusing writes until the log is written and "
               "fsynced again",
               what, strerror(e));
    A.write_err = e ? e : EIO;
}

/* Writes buf to the file. Returns 0, or -1 with the error handled. */
static int write_buf(void) {
    if (!A.buf->len || A.fd < 0) return 0;
    size_t done = 0;
    while (done < A.buf->len) {
        ssize_t w = write(A.fd, A.buf->buf + done, A.buf->len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* Cut a partial write back so the file ends on a whole record. */
            if (done && ftruncate(A.fd, (off_t)A.incr_size) != 0)
                sg_log(SG_LOG_WARNING, "Can't truncate the AOF after a short write: %s",
                       strerror(errno));
            if (cfg.appendfsync == AOF_FSYNC_ALWAYS) fail_always("write", e);
            set_error("writing", e);
            return -1;
        }
        done += (size_t)w;
    }
    A.incr_size += A.buf->len;
    A.buf->len = 0;
    A.buf->buf[0] = 0;
    A.unsynced = true;
    if (A.buf->cap > 1024 * 1024) { /* do not keep a burst's buffer forever */
        sstr_free(A.buf);
        A.buf = sstr_new_cap(16 * 1024);
    }
    return 0;
}

/* ---- background fsync (everysec) ----
 * One thread, one job at a time: fdatasync of the fd handed over. The loop
 * thread waits for a job in flight (bio_wait) before closing or replacing
 * the fd, and before an fsync of its own. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;
    int fd;    /* the job: fd to fsync; -1 when none queued */
    bool busy; /* a job is queued or running */
    bool done; /* a result waits to be collected */
    int err;   /* the result: errno, or 0 */
} B = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, -1, false, false, 0};

static void *bio_main(void *arg) {
    SG_UNUSED(arg);
    pthread_mutex_lock(&B.mu);
    for (;;) {
        while (B.fd < 0) pthread_cond_wait(&B.cv, &B.mu);
        int fd = B.fd;
        pthread_mutex_unlock(&B.mu);
        int e = fdatasync(fd) == 0 ? 0 : errno;
        pthread_mutex_lock(&B.mu);
        B.fd = -1;
        B.busy = false;
        B.done = true;
        B.err = e;
        pthread_cond_broadcast(&B.cv);
    }
    return NULL;
}

/* Queues an fsync of fd; false when the thread can't be started (the caller
 * then fsyncs itself). */
static bool bio_fsync(int fd) {
    pthread_mutex_lock(&B.mu);
    if (!B.started) {
        pthread_t th;
        if (pthread_create(&th, NULL, bio_main, NULL) != 0) {
            pthread_mutex_unlock(&B.mu);
            return false;
        }
        pthread_detach(th);
        B.started = true;
    }
    B.fd = fd;
    B.busy = true;
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
    return true;
}

static bool bio_busy(void) {
    pthread_mutex_lock(&B.mu);
    bool b = B.busy;
    pthread_mutex_unlock(&B.mu);
    return b;
}

static void bio_wait(void) {
    pthread_mutex_lock(&B.mu);
    while (B.busy) pthread_cond_wait(&B.cv, &B.mu);
    pthread_mutex_unlock(&B.mu);
}

/* Picks up the result of a finished background fsync. */
static void bio_collect(void) {
    pthread_mutex_lock(&B.mu);
    bool done = B.done;
    int e = B.err;
    B.done = false;
    pthread_mutex_unlock(&B.mu);
    if (done && e) {
        A.unsynced = true;
        set_error("fsyncing", e);
    } else if (done && A.bio_size > A.synced_size) {
        A.synced_size = A.bio_size;
    }
}

static int do_fsync(server *s) {
    bio_wait();
    bio_collect();
    if (A.fd < 0 || !A.unsynced) return 0;
    if (fdatasync(A.fd) != 0) {
        int e = errno;
        if (cfg.appendfsync == AOF_FSYNC_ALWAYS) fail_always("fsync", e);
        set_error("fsyncing", e);
        return -1;
    }
    A.unsynced = false;
    A.synced_size = A.incr_size;
    A.last_fsync_ms = s->cached_ms ? s->cached_ms : sg_mstime();
    return 0;
}

const char *aof_refuse_writes(void) {
    static char msg[256];
    if (!A.enabled || !A.write_err) return NULL;
    snprintf(msg, sizeof(msg), "MISCONF Errors writing to the AOF file: %s", strerror(A.write_err));
    return msg;
}

/* ---- switching on and off at run time ---- */

static void aof_stop(server *s) {
    close_record();
    write_buf();
    do_fsync(s);
    bio_wait();
    if (A.fd >= 0) close(A.fd);
    A.fd = -1;
    A.enabled = false;
    A.write_err = 0;
}

static void check_transition(server *s) {
    if (cfg.appendonly == A.enabled) return;
    if (!cfg.appendonly) {
        sg_log(SG_LOG_NOTICE, "Append only file disabled");
        aof_stop(s);
        return;
    }
    /* Switched on: the current dataset becomes the base of a new log. */
    if (!A.buf) A.buf = sstr_new_cap(16 * 1024);
    if (!A.rec) A.rec = sstr_new_cap(1024);
    if (ensure_dir() != 0 || read_manifest() < 0) {
        cfg.appendonly = false;
        return;
    }
    if (snap_bg_running()) return; /* after the running save (checked each tick) */
    /* A new log from scratch: files of an earlier log are not part of it. */
    A.base_name[0] = A.incr_name[0] = 0;
    A.nhist = 0;
    A.hist_size = 0;
    A.enabled = true; /* the new incr file logs from the rewrite's instant */
    if (aof_rewrite_now(s) != 0) {
        sg_log(SG_LOG_WARNING, "Can't turn the append only file on");
        A.enabled = false;
        if (A.fd >= 0) close(A.fd);
        A.fd = -1;
        cfg.appendonly = false;
        return;
    }
    sg_log(SG_LOG_NOTICE, "Append only file enabled (%s/%s)", cfg.appenddirname, A.incr_name);
}

/* ---- the loop hooks ---- */

bool aof_holds_replies(void) {
    return A.enabled || cfg.appendonly;
}

void aof_before_sleep(server *s) {
    check_transition(s);
    if (!A.enabled) return;
    close_record();
    if (A.write_err) return; /* aof_cron retries */
    if (write_buf() != 0) return;
    if (cfg.appendfsync == AOF_FSYNC_ALWAYS) do_fsync(s);
}

void aof_cron(server *s) {
    check_transition(s);
    if (A.enabled) {
        close_record();
        if (A.write_err) {
            bio_wait();
            bio_collect();
            if (write_buf() == 0) {
                A.unsynced = true;
                if (fdatasync(A.fd) == 0) {
                    sg_log(SG_LOG_NOTICE, "AOF write error cleared: writes accepted again");
                    A.write_err = 0;
                    A.unsynced = false;
                    A.synced_size = A.incr_size;
                    A.last_fsync_ms = s->cached_ms;
                    /* Pages written before a failed fsync may never reach the
                     * disk even though a later fsync succeeds (Linux marks them
                     * clean): write the whole dataset again from memory. */
                    A.rewrite_scheduled = true;
                }
            }
        } else if (cfg.appendfsync == AOF_FSYNC_EVERYSEC) {
            bio_collect();
            if (!A.write_err && A.unsynced && s->cached_ms - A.last_fsync_ms >= 1000) {
                if (bio_busy()) {
                    A.delayed_fsync++; /* the disk is slower than once a second */
                } else if (write_buf() == 0) {
                    A.unsynced = false; /* bio_collect sets it back on failure */
                    A.last_fsync_ms = s->cached_ms;
                    A.bio_size = A.incr_size;
                    if (!bio_fsync(A.fd)) {
                        A.unsynced = true;
                        do_fsync(s);
                    }
                }
            }
        }
    }
    if (A.enabled && !A.write_err && !A.rewrite_scheduled && !A.rewriting &&
        cfg.auto_aof_rewrite_percentage > 0) {
        uint64_t cur = A.base_file_size + A.hist_size + A.incr_size;
        uint64_t base = A.rewrite_base_size ? A.rewrite_base_size : 1;
        if (cur >= cfg.auto_aof_rewrite_min_size &&
            (cur - (cur > base ? base : cur)) * 100 / base >=
                (uint64_t)cfg.auto_aof_rewrite_percentage) {
            sg_log(SG_LOG_NOTICE, "Starting automatic rewriting of AOF on %llu%% growth",
                   (unsigned long long)((cur - (cur > base ? base : cur)) * 100 / base));
            A.rewrite_scheduled = true;
        }
    }
    if (A.rewrite_scheduled && !snap_bg_running()) {
        A.rewrite_scheduled = false;
        rewrite_start(s);
    }
}

void aof_shutdown(server *s) {
    if (!A.enabled) return;
    close_record();
    if (write_buf() == 0 && do_fsync(s) == 0)
        sg_log(SG_LOG_NOTICE, "Append only file flushed and fsynced on shutdown");
    bio_wait();
    if (A.fd >= 0) close(A.fd);
    A.fd = -1;
}

/* ---- private clients (replay, rewrite) ---- */

static client *private_client(server *s) {
    client *c = sg_calloc(sizeof(client));
    c->srv = s;
    c->resp = 2;
    c->flags = CL_AUTHENTICATED;
    c->in_exec = true; /* blocking commands never block */
    c->db = ks_db(s->ks, 0);
    c->argv_cap = 16;
    c->argv = sg_malloc(sizeof(char *) * 16);
    c->argvlen = sg_malloc(sizeof(size_t) * 16);
    snprintf(c->addr, sizeof(c->addr), "aof");
    return c;
}

static void private_client_free(client *c) {
    sg_free(c->argv);
    sg_free(c->argvlen);
    for (rblock *b = c->rhead, *n; b; b = n) {
        n = b->next;
        sg_free(b);
    }
    sg_free(c);
}

static void set_argc(client *c, int argc) {
    if (argc > c->argv_cap) {
        c->argv_cap = argc;
        c->argv = sg_realloc(c->argv, sizeof(char *) * (size_t)argc);
        c->argvlen = sg_realloc(c->argvlen, sizeof(size_t) * (size_t)argc);
    }
    c->argc = argc;
}

/* Finds the command row for c's argv, or NULL. */
static const cmd_def *find_cmd(client *c) {
    const cmd_def *d = cmd_lookup(c->argv[0], c->argvlen[0]);
    if (d && d->nsubs) d = c->argc >= 2 ? cmd_lookup_sub(d, c->argv[1], c->argvlen[1]) : NULL;
    if (d && !cmd_arity_ok(d, c->argc)) return NULL;
    return d;
}

/* ---- replay ---- */

typedef struct replay_ctx {
    server *s;
    client *c;
    sstr *copy;
    const char *file;
    uint64_t commands;
    size_t bad_off;
    const char *bad_why;
} replay_ctx;

/* Reads a "<c><digits>\r\n" line at *pos; returns false when malformed. */
static bool read_num(const char *p, size_t n, size_t *pos, char type, long long *v) {
    if (*pos >= n || p[*pos] != type) return false;
    size_t i = *pos + 1, start = i;
    while (i < n && p[i] != '\r') i++;
    if (i + 1 >= n || p[i + 1] != '\n') return false;
    if (!sg_str2ll(p + start, i - start, v)) return false;
    *pos = i + 2;
    return true;
}

bool aof_read_argc(const char *p, size_t n, size_t *pos, long long *argc) {
    return read_num(p, n, pos, '*', argc) && *argc >= 1 && *argc <= 1024 * 1024;
}

bool aof_read_bulk(const char *p, size_t n, size_t *pos, const char **s, size_t *len) {
    long long bl;
    if (!read_num(p, n, pos, '$', &bl) || bl < 0 || (size_t)bl > n - *pos ||
        n - *pos - (size_t)bl < 2 || p[*pos + (size_t)bl] != '\r' ||
        p[*pos + (size_t)bl + 1] != '\n')
        return false;
    *s = p + *pos;
    *len = (size_t)bl;
    *pos += (size_t)bl + 2;
    return true;
}

static int replay_record(void *ctx, const char *payload, size_t len, size_t offset) {
    replay_ctx *r = ctx;
    r->copy->len = 0;
    r->copy = sstr_cat(r->copy, payload, len);
    char *p = r->copy->buf; /* args are NUL-terminated in place */
    size_t pos = 0;
    while (pos < len) {
        long long argc;
        if (!aof_read_argc(p, len, &pos, &argc)) goto bad;
        set_argc(r->c, (int)argc);
        for (int i = 0; i < argc; i++) {
            const char *s;
            size_t sl;
            if (!aof_read_bulk(p, len, &pos, &s, &sl)) goto bad;
            size_t off = (size_t)(s - p); /* into our copy: NUL-terminated in place, */
            r->c->argv[i] = p + off;      /* over the '\r' aof_read_bulk checked */
            r->c->argvlen[i] = sl;
            p[off + sl] = 0;
        }
        const cmd_def *d = find_cmd(r->c);
        if (!d || !server_has_handler(d)) {
            r->bad_why = "unknown command or wrong arity";
            r->bad_off = offset;
            return -1;
        }
        call_command(r->c, d);
        r->c->olen = 0;
        r->commands++;
    }
    return 0;
bad:
    r->bad_why = "malformed command inside a record";
    r->bad_off = offset;
    return -1;
}

/* Replays one record, then tells loading.c how far the load got (done:
 * the bytes of the files loaded before this one). */
typedef struct load_progress {
    replay_ctx *r;
    uint64_t done;
} load_progress;

static int replay_and_report(void *ctx, const char *payload, size_t len, size_t offset) {
    load_progress *lp = ctx;
    int rc = replay_record(lp->r, payload, len, offset);
    server_loading_progress(lp->r->s, lp->done + offset + len);
    return rc;
}

/* Loads one file: 0, or -1 (logged). allow_torn: the file is the last one
 * written to, so a torn tail is dropped (and the file truncated). done: bytes
 * loaded before this file, for the progress reports. */
static int load_file(server *s, client *c, const char *name, bool allow_torn, uint64_t done) {
    char path[1100];
    path_of(path, sizeof(path), name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && allow_torn) return 0; /* created on open */
        sg_log(SG_LOG_WARNING, "Can't open the AOF file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    const char *p = NULL;
    if (n) {
        p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            sg_log(SG_LOG_WARNING, "Can't map the AOF file %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    replay_ctx r = {s, c, sstr_new_cap(1024), path, 0, 0, NULL};
    aof_scan_result res;
    c->dbid = 0;
    load_progress lp = {&r, done};
    int rc = aof_scan(p, n, replay_and_report, &lp, &res);
    if (p) munmap((void *)p, n);
    sstr_free(r.copy);
    if (rc) {
        sg_log(SG_LOG_WARNING,
               "Bad AOF file %s: %s in the record at offset %zu; refusing to start (restore the "
               "file from a backup or cut it at that offset)",
               path, r.bad_why, r.bad_off);
        close(fd);
        return -1;
    }
    if (res.no_key) { /* not damage: the key is missing */
        char id[2 * CRYPT_KEY_ID + 1];
        crypt_key_id_hex(res.key_id, id);
        sg_log(SG_LOG_WARNING,
               "AOF file %s: the record at offset %zu is encrypted with key id %s, which is not "
               "loaded; refusing to start (set encryption-key-file, or encryption-old-key-files "
               "for an older key, to the file of that key)",
               path, res.good, id);
        close(fd);
        return -1;
    }
    if (res.corrupt) {
        sg_log(SG_LOG_WARNING,
               "Bad AOF file %s: %s at offset %zu (of %zu bytes); refusing to start (restore the "
               "file from a backup or cut it at that offset)",
               path, res.why, res.good, n);
        close(fd);
        return -1;
    }
    if (res.torn) {
        if (!allow_torn) {
            sg_log(SG_LOG_WARNING,
                   "Bad AOF file %s: truncated at offset %zu (of %zu bytes); refusing to start",
                   path, res.good, n);
            close(fd);
            return -1;
        }
        sg_log(SG_LOG_WARNING,
               "AOF file %s ends with a torn record: %zu bytes at offset %zu dropped (the write "
               "was never acknowledged under appendfsync always)",
               path, n - res.good, res.good);
        if (ftruncate(fd, (off_t)res.good) != 0 || fsync(fd) != 0) {
            sg_log(SG_LOG_WARNING, "Can't truncate %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    close(fd);
    sg_log(SG_LOG_NOTICE, "AOF file %s loaded: %zu records, %llu commands", path, res.records,
           (unsigned long long)r.commands);
    return 0;
}

int aof_load_at_startup(server *s) {
    A.buf = sstr_new_cap(16 * 1024);
    A.rec = sstr_new_cap(1024);
    if (!cfg.appendonly) return 0;
    if (ensure_dir() != 0) return -1;
    int m = read_manifest();
    if (m < 0) return -1;
    if (m == 0) { /* a new log */
        A.seq = 1;
        A.base_name[0] = 0;
        snprintf(A.incr_name, sizeof(A.incr_name), "%s.1.incr.aof", cfg.appendfilename);
        A.fd = open_incr(A.incr_name, true);
        if (A.fd < 0) return -1;
        if (fsync(A.fd) != 0 || write_manifest("", 0, false, A.incr_name, A.seq) != 0) {
            sg_log(SG_LOG_WARNING, "Can't create the AOF manifest: %s", strerror(errno));
            return -1;
        }
        A.enabled = true;
        A.last_fsync_ms = sg_mstime();
        return 0;
    }
    uint64_t t0 = sg_monotonic_us();
    A.loading = A.suppress = true;
    uint64_t base_bytes = A.base_name[0] ? file_size(A.base_name) : 0;
    uint64_t total = base_bytes + file_size(A.incr_name);
    for (int i = 0; i < A.nhist; i++) total += file_size(A.hist[i]);
    server_loading_begin(s, total); /* clients: -LOADING */
    client *c = private_client(s);
    int rc = 0;
    uint64_t done = 0;
    if (A.base_name[0]) {
        char path[1100];
        path_of(path, sizeof(path), A.base_name);
        if (snap_is_snapshot(path)) { /* a base written by a rewrite */
            snap_scan_result sr;
            rc = snap_load_file(s, path, &sr);
            if (rc == 0)
                sg_log(SG_LOG_NOTICE, "AOF base %s loaded (snapshot, %llu keys)", path,
                       (unsigned long long)sr.keys);
        } else {
            rc = load_file(s, c, A.base_name, false, 0);
        }
        done = base_bytes;
    }
    A.hist_size = 0;
    for (int i = 0; i < A.nhist && rc == 0; i++) {
        rc = load_file(s, c, A.hist[i], false, done);
        done += file_size(A.hist[i]);
        A.hist_size += file_size(A.hist[i]);
    }
    if (rc == 0) rc = load_file(s, c, A.incr_name, true, done);
    private_client_free(c);
    A.loading = A.suppress = false;
    if (rc != 0) return -1;
    server_loading_end(s);
    s->dirty = 0;
    A.fd = open_incr(A.incr_name, false);
    if (A.fd < 0) return -1;
    A.base_file_size = A.base_name[0] ? file_size(A.base_name) : 0;
    A.incr_size = file_size(A.incr_name);
    /* What an earlier process wrote may still be only in the page cache. */
    if (fdatasync(A.fd) != 0) {
        sg_log(SG_LOG_WARNING, "Can't fsync the AOF file %s: %s", A.incr_name, strerror(errno));
        return -1;
    }
    A.synced_size = A.incr_size;
    A.rewrite_base_size = A.base_file_size + A.hist_size + A.incr_size;
    A.enabled = true;
    A.last_fsync_ms = sg_mstime();
    sg_log(SG_LOG_NOTICE, "DB loaded from append only file: %.3f seconds",
           (double)(sg_monotonic_us() - t0) / 1e6);
    return 0;
}

/* ---- rewrite ----
 *
 * A rewrite makes a snapshot of the dataset (snapshot.h) the new base file
 * and, at the same instant, starts a new incremental file: the snapshot is
 * the dataset as of that instant (the forkless background save keeps it so
 * while writes go on), and every write after it goes to the new file.
 *
 *   start: pending records written and fsynced to the current incr file;
 *          a new empty incr file (seq+1) created and fsynced; the manifest
 *          rewritten to list base, the old incr file(s) as history, and the
 *          new incr file (a crash from here on replays all of them: correct);
 *          the log switches to the new file; the background save starts
 *          writing <name>.<seq+1>.base.rdb (through .tmp, renamed when whole).
 *   done:  the manifest rewritten to list only the new base and the new
 *          incr file (the commit point); the old base and history removed.
 *   failure (disk error, shutdown, kill -9): the manifest still lists the
 *          old base, the history and the new incr file; the next rewrite
 *          starts from there (up to AOF_MAX_HIST incremental files).
 *
 * So memory stays bounded (one snapshot block buffer) and the event loop
 * keeps serving clients while the base is written.
 */

static void path_base(char *out, size_t n, uint64_t seq) {
    snprintf(out, n, "%s.%llu.base.rdb", cfg.appendfilename, (unsigned long long)seq);
}

static void rewrite_done(server *s, void *ctx, bool ok) {
    SG_UNUSED(ctx);
    SG_UNUSED(s);
    A.rewriting = false;
    A.last_rewrite_ms = (int64_t)((sg_monotonic_us() - A.rw_start_us) / 1000);
    char path[1100];
    path_of(path, sizeof(path), A.rw_base);
    if (ok && write_manifest(A.rw_base, A.rw_seq, false, A.incr_name, A.seq) != 0) {
        sg_log(SG_LOG_WARNING, "AOF rewrite: can't write the manifest: %s", strerror(errno));
        unlink(path);
        ok = false;
    }
    if (!ok) {
        sg_log(SG_LOG_WARNING, "AOF rewrite failed; the previous files stay in use");
        A.last_rewrite_ok = false;
        return;
    }
    /* Committed: remove what the new base replaces. */
    char old[1100];
    if (A.base_name[0] && strcmp(A.base_name, A.rw_base)) {
        path_of(old, sizeof(old), A.base_name);
        unlink(old);
    }
    for (int i = 0; i < A.nhist; i++) {
        path_of(old, sizeof(old), A.hist[i]);
        unlink(old);
    }
    A.nhist = 0;
    A.hist_size = 0;
    persist_fsync_dir(cfg.appenddirname);
    snprintf(A.base_name, sizeof(A.base_name), "%s", A.rw_base);
    A.base_seq = A.rw_seq;
    A.base_file_size = file_size(A.base_name);
    A.rewrite_base_size = A.base_file_size + A.incr_size;
    A.rewrites++;
    A.last_rewrite_ok = true;
    if (!A.enabled && A.fd >= 0) { /* BGREWRITEAOF with the log off */
        close(A.fd);
        A.fd = -1;
    }
    sg_log(SG_LOG_NOTICE, "Background AOF rewrite finished successfully: base %s, %llu bytes",
           A.base_name, (unsigned long long)A.base_file_size);
}

/* Starts a rewrite; 0 (started, or scheduled behind a running BGSAVE) or
 * -1 (logged). */
static int rewrite_start(server *s) {
    if (A.rewriting) return 0;
    if (snap_bg_running()) { /* one background save at a time */
        A.rewrite_scheduled = true;
        return 0;
    }
    if (ensure_dir() != 0) return -1;
    bool logging = A.enabled;
    if (logging) {
        close_record();
        if (A.write_err || write_buf() != 0 || do_fsync(s) != 0) {
            sg_log(SG_LOG_WARNING, "AOF rewrite not started: the log has a write error");
            A.last_rewrite_ok = false;
            return -1;
        }
        if (A.nhist == AOF_MAX_HIST) {
            sg_log(SG_LOG_WARNING,
                   "AOF rewrite not started: %d failed rewrites left %d "
                   "incremental files; fix the cause (see the log) and retry",
                   AOF_MAX_HIST, AOF_MAX_HIST);
            A.last_rewrite_ok = false;
            return -1;
        }
    }
    uint64_t seq = A.seq + 1;
    char incr[512];
    snprintf(incr, sizeof(incr), "%s.%llu.incr.aof", cfg.appendfilename, (unsigned long long)seq);
    int nfd = open_incr(incr, true);
    if (nfd < 0 || fsync(nfd) != 0 || persist_fsync_dir(cfg.appenddirname) != 0) {
        sg_log(SG_LOG_WARNING, "AOF rewrite: can't create %s: %s", incr, strerror(errno));
        if (nfd >= 0) close(nfd);
        A.last_rewrite_ok = false;
        return -1;
    }
    if (logging && A.incr_name[0]) { /* the current incr file becomes history */
        snprintf(A.hist[A.nhist], sizeof(A.hist[0]), "%s", A.incr_name);
        A.hist_seq[A.nhist++] = A.seq;
        A.hist_size += A.incr_size;
        if (write_manifest(A.base_name, A.base_seq, true, incr, seq) != 0) {
            sg_log(SG_LOG_WARNING, "AOF rewrite: can't write the manifest: %s", strerror(errno));
            A.nhist--;
            A.hist_size -= A.incr_size;
            close(nfd);
            char p[1100];
            path_of(p, sizeof(p), incr);
            unlink(p);
            A.last_rewrite_ok = false;
            return -1;
        }
    }
    /* Switch: every write from now on goes to the new incr file. */
    bio_wait();
    if (A.fd >= 0) close(A.fd);
    A.fd = nfd;
    A.seq = seq;
    snprintf(A.incr_name, sizeof(A.incr_name), "%s", incr);
    A.incr_size = A.synced_size = 0;
    A.log_db = -1;
    A.unsynced = false;
    A.rw_seq = seq;
    path_base(A.rw_base, sizeof(A.rw_base), seq);
    char path[1100];
    path_of(path, sizeof(path), A.rw_base);
    A.rw_start_us = sg_monotonic_us();
    A.rewriting = true;
    if (snap_bg_start(s, path, rewrite_done, NULL) != 0) {
        A.rewriting = false;
        sg_log(SG_LOG_WARNING, "AOF rewrite: can't start writing %s: %s", path, strerror(errno));
        A.last_rewrite_ok = false;
        return -1;
    }
    sg_log(SG_LOG_NOTICE, "Background append only file rewriting started (forkless, base %s)",
           A.rw_base);
    return 0;
}

int aof_rewrite_now(server *s) {
    if (rewrite_start(s) != 0) return -1;
    if (A.rewriting) snap_bg_finish_now(s);
    return A.last_rewrite_ok && !A.rewriting ? 0 : -1;
}

/* ---- command and INFO ---- */

void bgrewriteaof_command(client *c) {
    if (A.rewriting) {
        reply_error(c, "ERR Background append only file rewriting already in progress");
        return;
    }
    if (A.rewrite_scheduled || snap_bg_running()) {
        A.rewrite_scheduled = true;
        reply_status(c, "Background append only file rewriting scheduled");
        return;
    }
    if (rewrite_start(c->srv) != 0) {
        reply_error(c, "ERR Can't start the AOF rewrite: see the server log");
        return;
    }
    reply_status(c, "Background append only file rewriting started");
}

bool aof_rewrite_in_progress(void) {
    return A.rewriting;
}

sstr *aof_info(server *s, sstr *o) {
    SG_UNUSED(s);
    o = sstr_catfmt(o,
                    "aof_enabled:%d\r\n"
                    "aof_rewrite_in_progress:%d\r\n"
                    "aof_rewrite_scheduled:%d\r\n"
                    "aof_last_rewrite_time_sec:%lld\r\n"
                    "aof_current_rewrite_time_sec:%lld\r\n"
                    "aof_last_bgrewrite_status:%s\r\n"
                    "aof_rewrites:%lld\r\n"
                    "aof_rewrites_consecutive_failures:0\r\n"
                    "aof_last_write_status:%s\r\n"
                    "aof_last_cow_size:0\r\n"
                    "module_fork_in_progress:0\r\n"
                    "module_fork_last_cow_size:0\r\n",
                    A.enabled ? 1 : 0, A.rewriting ? 1 : 0, A.rewrite_scheduled ? 1 : 0,
                    A.last_rewrite_ms < 0 ? -1LL : (long long)(A.last_rewrite_ms / 1000),
                    A.rewriting ? (long long)((sg_monotonic_us() - A.rw_start_us) / 1000000) : -1LL,
                    A.last_rewrite_ok ? "ok" : "err", (long long)A.rewrites,
                    A.write_err ? "err" : "ok");
    if (A.enabled)
        o = sstr_catfmt(o,
                        "aof_current_size:%llu\r\n"
                        "aof_base_size:%llu\r\n"
                        "aof_pending_rewrite:0\r\n"
                        "aof_buffer_length:%zu\r\n"
                        "aof_pending_bio_fsync:0\r\n"
                        "aof_delayed_fsync:%llu\r\n",
                        (unsigned long long)(A.base_file_size + A.hist_size + A.incr_size),
                        (unsigned long long)A.rewrite_base_size, A.buf ? A.buf->len : 0,
                        (unsigned long long)A.delayed_fsync);
    return o;
}

bool aof_is_loading(void) {
    return A.loading;
}
