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
 *   - anything else (no '#', a malformed header, a header or payload checksum
 *     mismatch) is corruption: start-up is refused, naming file and offset.
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

#define AOF_REWRITE_CHUNK 128         /* elements per rebuilding command */
#define AOF_FLUSH_AT      (64 * 1024) /* rewrite buffer flushed past this */

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
    uint64_t base_file_size, incr_size;
    uint64_t rewrite_base_size; /* aof_base_size: total size after the last rewrite/load */
    bool unsynced;
    int64_t last_fsync_ms;
    int write_err; /* errno of the failed write or fsync; 0: fine */
    int64_t rewrites, last_rewrite_ms;
    bool last_rewrite_ok;
    uint64_t delayed_fsync;
} aof_state;

static aof_state A = {.fd = -1, .log_db = -1, .last_rewrite_ok = true, .last_rewrite_ms = -1};

/* ---- framing ---- */

static uint32_t hdr_crc(const char *p, size_t n) {
    return (uint32_t)sg_crc64(0, p, n);
}

sstr *aof_frame_record(sstr *out, const char *payload, size_t len) {
    char hdr[AOF_HDR_MAX];
    int n = snprintf(hdr, sizeof(hdr), "#%zu %016llx", len,
                     (unsigned long long)sg_crc64(0, payload, len));
    n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, " %08x\r\n", hdr_crc(hdr, (size_t)n));
    out = sstr_cat(out, hdr, (size_t)n);
    return sstr_cat(out, payload, len);
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
    while (pos < n) {
        size_t avail = n - pos;
        const char *h = p + pos;
        if (h[0] != '#') {
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
        if (fn) {
            int rc = fn(ctx, h + body, (size_t)len, pos);
            if (rc) return rc;
        }
        pos += body + (size_t)len;
        r->good = pos;
        r->records++;
    }
    return 0;
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

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void path_of(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", cfg.appenddirname, name);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes a whole small file atomically: temporary file, fsync, rename,
 * fsync of the directory. */
static int write_file_atomic(const char *name, const char *p, size_t n) {
    char path[1100], tmp[1200];
    path_of(path, sizeof(path), name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (write_all(fd, p, n) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) return -1;
    return fsync_dir(cfg.appenddirname);
}

static int write_manifest(const char *base, const char *incr, uint64_t seq) {
    sstr *m = sstr_new_cap(256);
    if (base[0]) m = sstr_catfmt(m, "file %s seq %llu type b\n", base, (unsigned long long)seq);
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
    while (fgets(line, sizeof(line), f)) {
        char name[512];
        unsigned long long seq;
        char type;
        if (line[0] == '\n' || line[0] == '#') continue;
        if (sscanf(line, "file %511s seq %llu type %c", name, &seq, &type) != 3 ||
            strchr(name, '/')) {
            sg_log(SG_LOG_WARNING, "Bad AOF manifest line in %s: %s", path, line);
            rc = -1;
            break;
        }
        if (type == 'b')
            snprintf(A.base_name, sizeof(A.base_name), "%s", name);
        else if (type == 'i')
            snprintf(A.incr_name, sizeof(A.incr_name), "%s", name);
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
    if (mkdir(cfg.appenddirname, 0755) != 0 && errno != EEXIST) {
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
    if (aof_rewrite_now(s) != 0) {
        sg_log(SG_LOG_WARNING, "Can't turn the append only file on");
        cfg.appendonly = false;
        return;
    }
    A.enabled = true;
    sg_log(SG_LOG_NOTICE, "Append only file enabled (%s/%s)", cfg.appenddirname, A.incr_name);
}

/* ---- the loop hooks ---- */

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
                    A.last_fsync_ms = s->cached_ms;
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
                    if (!bio_fsync(A.fd)) {
                        A.unsynced = true;
                        do_fsync(s);
                    }
                }
            }
        }
    }
    if (A.enabled && !A.write_err && !A.rewrite_scheduled && cfg.auto_aof_rewrite_percentage > 0) {
        uint64_t cur = A.base_file_size + A.incr_size;
        uint64_t base = A.rewrite_base_size ? A.rewrite_base_size : 1;
        if (cur >= cfg.auto_aof_rewrite_min_size &&
            (cur - (cur > base ? base : cur)) * 100 / base >=
                (uint64_t)cfg.auto_aof_rewrite_percentage) {
            sg_log(SG_LOG_NOTICE, "Starting automatic rewriting of AOF on %llu%% growth",
                   (unsigned long long)((cur - (cur > base ? base : cur)) * 100 / base));
            A.rewrite_scheduled = true;
        }
    }
    if (A.rewrite_scheduled) {
        A.rewrite_scheduled = false;
        aof_rewrite_now(s);
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

static int replay_record(void *ctx, const char *payload, size_t len, size_t offset) {
    replay_ctx *r = ctx;
    r->copy->len = 0;
    r->copy = sstr_cat(r->copy, payload, len);
    char *p = r->copy->buf; /* args are NUL-terminated in place */
    size_t pos = 0;
    while (pos < len) {
        long long argc;
        if (!read_num(p, len, &pos, '*', &argc) || argc < 1 || argc > 1024 * 1024) goto bad;
        set_argc(r->c, (int)argc);
        for (int i = 0; i < argc; i++) {
            long long bl;
            if (!read_num(p, len, &pos, '$', &bl) || bl < 0 || (size_t)bl > len - pos ||
                len - pos - (size_t)bl < 2)
                goto bad;
            r->c->argv[i] = p + pos;
            r->c->argvlen[i] = (size_t)bl;
            pos += (size_t)bl;
            p[pos] = 0;
            pos += 2;
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

/* Loads one file: 0, or -1 (logged). allow_torn: the file is the last one
 * written to, so a torn tail is dropped (and the file truncated). */
static int load_file(server *s, client *c, const char *name, bool allow_torn) {
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
    int rc = aof_scan(p, n, replay_record, &r, &res);
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
        if (fsync(A.fd) != 0 || write_manifest("", A.incr_name, A.seq) != 0) {
            sg_log(SG_LOG_WARNING, "Can't create the AOF manifest: %s", strerror(errno));
            return -1;
        }
        A.enabled = true;
        A.last_fsync_ms = sg_mstime();
        return 0;
    }
    uint64_t t0 = sg_monotonic_us();
    A.loading = A.suppress = true;
    client *c = private_client(s);
    int rc = 0;
    if (A.base_name[0]) rc = load_file(s, c, A.base_name, false);
    if (rc == 0) rc = load_file(s, c, A.incr_name, true);
    private_client_free(c);
    A.loading = A.suppress = false;
    if (rc != 0) return -1;
    s->dirty = 0;
    A.fd = open_incr(A.incr_name, false);
    if (A.fd < 0) return -1;
    A.base_file_size = A.base_name[0] ? file_size(A.base_name) : 0;
    A.incr_size = file_size(A.incr_name);
    A.rewrite_base_size = A.base_file_size + A.incr_size;
    A.enabled = true;
    A.last_fsync_ms = sg_mstime();
    sg_log(SG_LOG_NOTICE, "DB loaded from append only file: %.3f seconds",
           (double)(sg_monotonic_us() - t0) / 1e6);
    return 0;
}

/* ---- rewrite ---- */

typedef struct rw_ctx {
    server *s;
    client *c; /* capture client */
    int fd;
    sstr *out; /* framed records not yet written */
    sstr *rec; /* the record being built */
    int db;    /* db of the base file so far */
    int err;
    uint64_t written;
    sstr **keys; /* a scan slice's keys */
    size_t nkeys, capkeys;
} rw_ctx;

static void rw_flush(rw_ctx *w, bool force) {
    if (w->rec->len) {
        w->out = aof_frame_record(w->out, w->rec->buf, w->rec->len);
        w->rec->len = 0;
    }
    if (w->err || (!force && w->out->len < AOF_FLUSH_AT)) return;
    if (write_all(w->fd, w->out->buf, w->out->len) != 0) w->err = errno ? errno : EIO;
    w->written += w->out->len;
    w->out->len = 0;
}

static void collect_key(void *ctx, kentry *e) {
    rw_ctx *w = ctx;
    size_t kl;
    const char *k = kentry_key(e, &kl);
    if (w->nkeys == w->capkeys) {
        w->capkeys = w->capkeys ? w->capkeys * 2 : 64;
        w->keys = sg_realloc(w->keys, sizeof(sstr *) * w->capkeys);
    }
    w->keys[w->nkeys++] = sstr_new(k, kl);
}

/* Runs a read command on the capture client; returns its RESP2 reply
 * (owned by the capture client's buffers until the next call) in *out. */
static void capture(rw_ctx *w, sstr **out, int argc, const char **argv, size_t keylen) {
    client *c = w->c;
    set_argc(c, argc);
    for (int i = 0; i < argc; i++) {
        c->argv[i] = (char *)argv[i];
        c->argvlen[i] = i == 1 ? keylen : strlen(argv[i]); /* argv[1]: the key, may hold NULs */
    }
    const cmd_def *d = find_cmd(c);
    (*out)->len = 0;
    if (!d) return;
    c->olen = c->osent = 0;
    call_command(c, d);
    *out = sstr_cat(*out, c->obuf, c->olen);
    for (rblock *b = c->rhead, *n; b; b = n) {
        n = b->next;
        *out = sstr_cat(*out, b->buf, b->used);
        sg_free(b);
    }
    c->rhead = c->rtail = NULL;
    c->rbytes = 0;
    c->olen = c->osent = 0;
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Flattens a RESP2 reply of nested arrays of bulks/integers into spans. */
static bool flatten(const sstr *r, span **v, size_t *nv, size_t *cap) {
    size_t pos = 0;
    *nv = 0;
    while (pos < r->len) {
        char t = r->buf[pos];
        size_t e = pos;
        while (e + 1 < r->len && !(r->buf[e] == '\r' && r->buf[e + 1] == '\n')) e++;
        if (e + 1 >= r->len) return false;
        long long num = 0;
        if ((t == '$' || t == '*' || t == ':') && !sg_str2ll(r->buf + pos + 1, e - pos - 1, &num))
            return false;
        if (t == '-') return false;
        if (*nv == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *v = sg_realloc(*v, sizeof(span) * *cap);
        }
        if (t == '$') {
            if (num < 0) return false;
            (*v)[(*nv)++] = (span){r->buf + e + 2, (size_t)num};
            pos = e + 2 + (size_t)num + 2;
        } else if (t == ':' || t == '+') {
            (*v)[(*nv)++] = (span){r->buf + pos + 1, e - pos - 1};
            pos = e + 2;
        } else {
            pos = e + 2; /* array header */
        }
    }
    return pos == r->len;
}

/* Appends "<cmd> key a b c ..." for elements [from, to) of v. */
static void emit(rw_ctx *w, const char *cmd, const sstr *key, span *v, size_t from, size_t to,
                 bool swap_pairs) {
    size_t n = to - from;
    w->rec = sstr_catfmt(w->rec, "*%zu\r\n", n + 2);
    w->rec = cat_bulk(w->rec, cmd, strlen(cmd));
    w->rec = cat_bulk(w->rec, key->buf, key->len);
    for (size_t i = from; i < to; i++) {
        size_t j = i;
        if (swap_pairs)
            j = ((i - from) % 2 == 0) ? i + 1 : i - 1; /* member score -> score member */
        w->rec = cat_bulk(w->rec, v[j].p, v[j].n);
    }
    rw_flush(w, false);
}

static void rewrite_key(rw_ctx *w, int dbid, const sstr *key) {
    kdb *db = ks_db(w->s->ks, dbid);
    kref ref;
    kentry *e = kdb_lookup_read(db, key->buf, key->len, &ref, LOOKUP_NOTOUCH | LOOKUP_NOSTATS);
    if (!e) return;
    int type = kentry_type(e);
    int64_t expire = kentry_expire(e);
    w->rec = cat_select(w->rec, &w->db, dbid);
    if (type == OBJ_STRING) {
        size_t vl;
        const char *v = kentry_str(e, &vl);
        w->rec = sstr_cat(w->rec, "*3\r\n$3\r\nSET\r\n", 13);
        w->rec = cat_bulk(w->rec, key->buf, key->len);
        w->rec = cat_bulk(w->rec, v, vl);
    } else {
        w->c->dbid = dbid;
        sstr *reply = sstr_new_cap(4096);
        span *v = NULL;
        size_t nv = 0, cap = 0;
        char a[32], b[32];
        if (type == OBJ_LIST || type == OBJ_ZSET) {
            bool z = type == OBJ_ZSET;
            for (long long i = 0;; i += AOF_REWRITE_CHUNK) {
                snprintf(a, sizeof(a), "%lld", i);
                snprintf(b, sizeof(b), "%lld", i + AOF_REWRITE_CHUNK - 1);
                const char *zargv[] = {"ZRANGE", key->buf, a, b, "WITHSCORES"};
                const char *largv[] = {"LRANGE", key->buf, a, b};
                capture(w, &reply, z ? 5 : 4, z ? zargv : largv, key->len);
                if (!flatten(reply, &v, &nv, &cap)) {
                    w->err = EINVAL;
                    break;
                }
                if (!nv) break;
                emit(w, z ? "ZADD" : "RPUSH", key, v, 0, nv, z);
                if (nv < (size_t)AOF_REWRITE_CHUNK * (z ? 2 : 1)) break;
            }
        } else if (type == OBJ_SET || type == OBJ_HASH) {
            bool h = type == OBJ_HASH;
            snprintf(a, sizeof(a), "0");
            snprintf(b, sizeof(b), "%d", AOF_REWRITE_CHUNK);
            for (;;) {
                const char *argv[] = {h ? "HSCAN" : "SSCAN", key->buf, a, "COUNT", b};
                capture(w, &reply, 5, argv, key->len);
                if (!flatten(reply, &v, &nv, &cap) || nv < 1 || v[0].n >= sizeof(a)) {
                    w->err = EINVAL;
                    break;
                }
                if (nv > 1) emit(w, h ? "HSET" : "SADD", key, v, 1, nv, false);
                memcpy(a, v[0].p, v[0].n);
                a[v[0].n] = 0;
                if (!strcmp(a, "0")) break;
            }
        } else {
            sg_log(SG_LOG_WARNING, "AOF rewrite: key of unknown type %d skipped", type);
        }
        sg_free(v);
        sstr_free(reply);
    }
    if (expire >= 0) {
        char num[SG_LONG_STR_SIZE];
        int n = sg_ll2str(num, sizeof(num), (long long)expire);
        w->rec = sstr_cat(w->rec, "*3\r\n$9\r\nPEXPIREAT\r\n", 19);
        w->rec = cat_bulk(w->rec, key->buf, key->len);
        w->rec = cat_bulk(w->rec, num, (size_t)n);
    }
    rw_flush(w, false);
}

int aof_rewrite_now(server *s) {
    uint64_t t0 = sg_monotonic_us();
    if (ensure_dir() != 0) return -1;
    /* Everything logged so far reaches the old files first. */
    if (A.enabled) {
        close_record();
        if (A.write_err || write_buf() != 0 || do_fsync(s) != 0) {
            sg_log(SG_LOG_WARNING, "AOF rewrite not started: the log has a write error");
            A.last_rewrite_ok = false;
            return -1;
        }
    }
    uint64_t seq = A.seq + 1;
    char base[512], incr[512], path[1100], tmp[1200];
    snprintf(base, sizeof(base), "%s.%llu.base.aof", cfg.appendfilename, (unsigned long long)seq);
    snprintf(incr, sizeof(incr), "%s.%llu.incr.aof", cfg.appendfilename, (unsigned long long)seq);
    path_of(path, sizeof(path), base);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    rw_ctx w = {0};
    w.s = s;
    w.db = -1;
    w.fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        sg_log(SG_LOG_WARNING, "AOF rewrite: can't create %s: %s", tmp, strerror(errno));
        A.last_rewrite_ok = false;
        return -1;
    }
    w.out = sstr_new_cap(AOF_FLUSH_AT + 4096);
    w.rec = sstr_new_cap(1024);
    w.c = private_client(s);
    static char dummy_conn;
    w.c->conn = (conn *)(void *)&dummy_conn; /* replies are captured, never sent */
    w.c->flags |= CL_PENDING_WRITE;          /* never queued for writing */
    obuf_limit saved = cfg.obuf_limits[OBL_NORMAL];
    cfg.obuf_limits[OBL_NORMAL].hard = cfg.obuf_limits[OBL_NORMAL].soft = 0;
    bool was_suppress = A.suppress;
    A.suppress = true;
    for (int dbid = 0; dbid < ks_ndb(s->ks) && !w.err; dbid++) {
        kdb *db = ks_db(s->ks, dbid);
        if (!kdb_size(db)) continue;
        uint64_t cursor = 0;
        do {
            w.nkeys = 0;
            cursor = kdb_scan(db, cursor, 64, collect_key, &w);
            for (size_t i = 0; i < w.nkeys; i++) {
                if (!w.err) rewrite_key(&w, dbid, w.keys[i]);
                sstr_free(w.keys[i]);
            }
        } while (cursor && !w.err);
    }
    A.suppress = was_suppress;
    cfg.obuf_limits[OBL_NORMAL] = saved;
    w.c->conn = NULL;
    private_client_free(w.c);
    sg_free(w.keys);
    rw_flush(&w, true);
    sstr_free(w.out);
    sstr_free(w.rec);
    if (!w.err && fsync(w.fd) != 0) w.err = errno;
    close(w.fd);
    if (!w.err && rename(tmp, path) != 0) w.err = errno;
    int nfd = -1;
    if (!w.err) {
        nfd = open_incr(incr, true);
        if (nfd < 0 || fsync(nfd) != 0 || fsync_dir(cfg.appenddirname) != 0)
            w.err = errno ? errno : EIO;
    }
    if (!w.err && write_manifest(base, incr, seq) != 0) w.err = errno ? errno : EIO;
    if (w.err) {
        sg_log(SG_LOG_WARNING, "AOF rewrite failed: %s; the previous files stay in use",
               strerror(w.err));
        if (nfd >= 0) close(nfd);
        unlink(tmp);
        A.last_rewrite_ok = false;
        return -1;
    }
    /* Committed: switch to the new files, remove the old ones. */
    bio_wait();
    if (A.fd >= 0) close(A.fd);
    char old[1100];
    if (A.base_name[0] && strcmp(A.base_name, base)) {
        path_of(old, sizeof(old), A.base_name);
        unlink(old);
    }
    if (A.incr_name[0] && strcmp(A.incr_name, incr)) {
        path_of(old, sizeof(old), A.incr_name);
        unlink(old);
    }
    fsync_dir(cfg.appenddirname);
    A.fd = nfd;
    A.seq = seq;
    snprintf(A.base_name, sizeof(A.base_name), "%s", base);
    snprintf(A.incr_name, sizeof(A.incr_name), "%s", incr);
    A.base_file_size = w.written;
    A.incr_size = 0;
    A.rewrite_base_size = w.written;
    A.log_db = -1;
    A.unsynced = false;
    A.rewrites++;
    A.last_rewrite_ok = true;
    A.last_rewrite_ms = (int64_t)((sg_monotonic_us() - t0) / 1000);
    if (!A.enabled && !cfg.appendonly) { /* BGREWRITEAOF with the log off */
        close(A.fd);
        A.fd = -1;
    }
    sg_log(SG_LOG_NOTICE, "Background AOF rewrite finished successfully: base %s, %llu bytes", base,
           (unsigned long long)w.written);
    return 0;
}

/* ---- command and INFO ---- */

void bgrewriteaof_command(client *c) {
    if (A.rewrite_scheduled) {
        reply_status(c, "Background append only file rewriting scheduled");
        return;
    }
    A.rewrite_scheduled = true;
    reply_status(c, "Background append only file rewriting started");
}

sstr *aof_info(server *s, sstr *o) {
    SG_UNUSED(s);
    o = sstr_catfmt(o,
                    "aof_enabled:%d\r\n"
                    "aof_rewrite_in_progress:0\r\n"
                    "aof_rewrite_scheduled:%d\r\n"
                    "aof_last_rewrite_time_sec:%lld\r\n"
                    "aof_current_rewrite_time_sec:-1\r\n"
                    "aof_last_bgrewrite_status:%s\r\n"
                    "aof_rewrites:%lld\r\n"
                    "aof_rewrites_consecutive_failures:0\r\n"
                    "aof_last_write_status:%s\r\n"
                    "aof_last_cow_size:0\r\n"
                    "module_fork_in_progress:0\r\n"
                    "module_fork_last_cow_size:0\r\n",
                    A.enabled ? 1 : 0, A.rewrite_scheduled ? 1 : 0,
                    A.last_rewrite_ms < 0 ? -1LL : (long long)(A.last_rewrite_ms / 1000),
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
                        (unsigned long long)(A.base_file_size + A.incr_size),
                        (unsigned long long)A.rewrite_base_size, A.buf ? A.buf->len : 0,
                        (unsigned long long)A.delayed_fsync);
    return o;
}

bool aof_is_loading(void) {
    return A.loading;
}
