/*
 * surge-check: checks Surge's files on disk, as redis-check-aof and
 * redis-check-rdb do for Redis's.
 *
 *   surge-check [--repair] [--key-file F]... [--quiet] PATH
 *
 * PATH is one of
 *   - a snapshot (begins with the magic "SURGESNP", snapshot.h), read with
 *     snap_scan_fd: every block and record is checked, nothing is changed;
 *   - an append-only log file (records framed as aof.c documents), mapped
 *     and walked with aof_scan; the RESP commands inside each record are
 *     parsed and looked up in the command table, as the loader does;
 *   - an append-only directory (or its manifest): the manifest is checked,
 *     then every file it names, in order. The base file may be a snapshot or
 *     a log (told apart by the magic, never by the name). Only the last
 *     incremental file may end in a torn record: the server drops such a
 *     tail at start-up, but a torn record anywhere else would lose the
 *     records after it, so it is corruption.
 *
 * Output. A summary per file (counts as the server would load them), then
 * one verdict line, always the last line of standard output:
 *   OK
 *   TORN TAIL at offset X (N bytes)
 *   CORRUPT at offset X: why
 * In directory mode the verdict names the file (" in <name>"). --quiet
 * prints the verdict alone. Errors that stop the check (usage, I/O, a
 * missing key) go to standard error.
 *
 * Exit status: 0 valid (or repaired), 1 damaged, 2 usage or I/O error, or
 * the file cannot be checked (encrypted with a key that was not given).
 *
 * Repair. --repair only ever cuts a torn tail off a log (ftruncate to the
 * end of the last whole record, then fsync): exactly what the server does
 * at start-up, but without starting it. Corruption in the middle of a log
 * is never repaired: the offset of the damaged record and the `truncate -s`
 * command that would cut the file there (losing everything after it) are
 * printed, and the user decides. Snapshots are never modified.
 *
 * Beyond the framing. In a log every command must parse and name a known
 * command with a valid arity (what replay needs). In a snapshot every value
 * is rebuilt with persist_build_body, as the loader would, and freed. Not
 * checked: duplicate keys and database indexes against `databases` (both
 * need the server's state or memory that grows with the file).
 *
 * Memory. Logs are mapped (mmap), not read, and the pages already walked
 * are handed back every DROP_EVERY bytes; snapshots are streamed block by
 * block by snap_scan_fd. Per-command counts are an array indexed by command
 * id and the set of SELECTed databases is a small sorted array, so memory
 * does not grow with the file.
 */
#include "../base/base.h"
#include "../cmd/cmd.h"
#include "../persist/crypt.h"
#include "../persist/persist.h"
#include "../persist/serialize.h"
#include "../persist/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_VALID = 0, EXIT_DAMAGED = 1, EXIT_ERROR = 2 };

#define MAX_KEYS          CRYPT_MAX_OLD_KEYS
#define MAX_DB_TRACKED    4096 /* distinct databases listed in a summary */
#define TOP_COMMANDS      10
#define DROP_EVERY        (64u << 20) /* log bytes scanned between page drops */
#define SNAP_TYPES        5           /* type bytes 0..4 (serialize.h) */
#define DEFAULT_MANIFEST  "appendonly.aof.manifest"
#define MANIFEST_SUFFIX   ".manifest"
#define MAX_MANIFEST_FILE 64 /* files named by one manifest */

static const char *const type_names[SNAP_TYPES] = {"string", "list", "set", "zset", "hash"};

typedef struct options {
    bool repair, quiet;
    crypt_key keys[MAX_KEYS];
    int nkeys;
} options;

static options O;

/* Summary lines go to stdout unless --quiet. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    if (O.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("surge-check: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The outcome of checking one file. */
typedef struct verdict {
    int status;    /* EXIT_* */
    bool torn;     /* status DAMAGED: a torn tail (else corruption) */
    uint64_t off;  /* offset of the damage */
    uint64_t size; /* file size */
    char why[256]; /* corruption: what is wrong */
} verdict;

static void print_verdict(const verdict *v, const char *in_file) {
    char where[600] = "";
    if (in_file) snprintf(where, sizeof(where), " in %s", in_file);
    if (v->status == EXIT_VALID)
        printf("OK%s\n", where);
    else if (v->torn)
        printf("TORN TAIL at offset %" PRIu64 " (%" PRIu64 " bytes)%s\n", v->off, v->size - v->off,
               where);
    else
        printf("CORRUPT at offset %" PRIu64 ": %s%s\n", v->off, v->why, where);
}

/* Shell-quotes path for a command the user may paste. */
static void print_quoted(const char *path) {
    putchar('\'');
    for (const char *p = path; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    putchar('\'');
}

/* What to do about damage found in path (printed before the verdict). */
static void advise(const verdict *v, const char *path, bool is_log) {
    if (v->status != EXIT_DAMAGED || O.quiet) return;
    if (!is_log) {
        printf("snapshots are never repaired: restore the file from a backup\n");
        return;
    }
    if (v->torn) {
        printf("the last record was cut short (a crash mid-write); the server drops it at\n"
               "start-up, or run: surge-check --repair ");
        print_quoted(path);
        putchar('\n');
        return;
    }
    printf("%s\n"
           "restore the file from a backup or, accepting the loss of the damaged record and of\n"
           "everything after it, cut the file there:\n  truncate -s %" PRIu64 " ",
           O.repair ? "not repaired: corruption in the middle of a log is never repaired"
                    : "corruption in the middle of the log",
           v->off);
    print_quoted(path);
    putchar('\n');
}

/* ---- append-only log ---- */

typedef struct log_stats {
    uint64_t records, commands;
    uint64_t by_cmd[CMDID__COUNT];
    long long dbs[MAX_DB_TRACKED]; /* sorted, distinct */
    size_t ndbs;
    bool dbs_overflow;
    const char *image; /* the mapped file */
    size_t image_len;
    size_t dropped;                          /* pages before this offset were handed back */
    uint8_t key_ids[MAX_KEYS][CRYPT_KEY_ID]; /* of encrypted records, distinct */
    int nkey_ids;
    bool key_ids_overflow;
    /* the first bad command inside an otherwise valid record */
    const char *bad_why;
    char bad_detail[160];
    size_t bad_off;
} log_stats;

static void note_db(log_stats *st, long long db) {
    size_t lo = 0, hi = st->ndbs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->dbs[mid] == db) return;
        if (st->dbs[mid] < db)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (st->ndbs == MAX_DB_TRACKED) {
        st->dbs_overflow = true;
        return;
    }
    memmove(st->dbs + lo + 1, st->dbs + lo, (st->ndbs - lo) * sizeof(st->dbs[0]));
    st->dbs[lo] = db;
    st->ndbs++;
}

/* Records the key id of the encrypted record at offset (aof_scan checked
 * its frame: the key id opens the payload, after the header line). */
static void note_key_id(log_stats *st, size_t offset) {
    size_t room = st->image_len - offset;
    const char *nl = memchr(st->image + offset, '\n', room < AOF_HDR_MAX ? room : AOF_HDR_MAX);
    if (!nl || (size_t)(st->image + st->image_len - (nl + 1)) < CRYPT_KEY_ID) return;
    const char *id = nl + 1;
    for (int i = 0; i < st->nkey_ids; i++)
        if (!memcmp(st->key_ids[i], id, CRYPT_KEY_ID)) return;
    if (st->nkey_ids == MAX_KEYS) {
        st->key_ids_overflow = true;
        return;
    }
    memcpy(st->key_ids[st->nkey_ids++], id, CRYPT_KEY_ID);
}

static int bad_command(log_stats *st, size_t offset, const char *why, const char *name,
                       size_t nlen) {
    st->bad_why = why;
    st->bad_off = offset;
    if (name) {
        char shown[48];
        size_t k = 0;
        for (size_t i = 0; i < nlen && k + 1 < sizeof(shown); i++)
            shown[k++] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
        shown[k] = 0;
        snprintf(st->bad_detail, sizeof(st->bad_detail), "%s '%s'%s", why, shown,
                 nlen > k ? "..." : "");
    } else {
        snprintf(st->bad_detail, sizeof(st->bad_detail), "%s", why);
    }
    return 1;
}

/* aof_scan callback: the commands of one record, as replay_record parses
 * them; a command the server could not replay stops the scan. */
static int log_record(void *ctx, const char *p, size_t len, size_t offset) {
    log_stats *st = ctx;
    size_t pos = 0;
    if (st->image[offset] == '%') note_key_id(st, offset);
    if (offset - st->dropped >= DROP_EVERY) { /* keep the resident set bounded */
        size_t upto = offset & ~(size_t)(DROP_EVERY - 1);
        madvise((void *)(st->image + st->dropped), upto - st->dropped, MADV_DONTNEED);
        st->dropped = upto;
    }
    if (len == 0) return bad_command(st, offset, "empty record", NULL, 0);
    while (pos < len) {
        long long argc;
        if (!aof_read_argc(p, len, &pos, &argc))
            return bad_command(st, offset, "malformed command inside a record", NULL, 0);
        const char *a0 = NULL, *a1 = NULL;
        size_t l0 = 0, l1 = 0;
        for (long long i = 0; i < argc; i++) {
            const char *s;
            size_t sl;
            if (!aof_read_bulk(p, len, &pos, &s, &sl))
                return bad_command(st, offset, "malformed command inside a record", NULL, 0);
            if (i == 0) a0 = s, l0 = sl;
            if (i == 1) a1 = s, l1 = sl;
        }
        const cmd_def *d = cmd_lookup(a0, l0);
        if (!d || !server_has_handler(d)) return bad_command(st, offset, "unknown command", a0, l0);
        if (d->nsubs) {
            d = argc >= 2 ? cmd_lookup_sub(d, a1, l1) : NULL;
            if (!d || !server_has_handler(d))
                return bad_command(st, offset, "unknown subcommand of", a0, l0);
        }
        if (!cmd_arity_ok(d, (int)argc))
            return bad_command(st, offset, "wrong number of arguments for", a0, l0);
        st->by_cmd[d->id]++;
        st->commands++;
        if (d->id == CMDID_select) {
            long long db;
            if (sg_str2ll(a1, l1, &db)) note_db(st, db);
        }
    }
    st->records++;
    return 0;
}

static int cmp_count_desc(const void *a, const void *b, void *arg) {
    const uint64_t *by = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (by[x] != by[y]) return by[x] > by[y] ? -1 : 1;
    return strcmp(cmd_by_id(x)->fullname, cmd_by_id(y)->fullname);
}

static void print_log_summary(const log_stats *st, const aof_scan_result *r, uint64_t size) {
    if (O.quiet) return;
    printf("  records: %" PRIu64 "\n", st->records);
    printf("  encrypted records: %zu", r->encrypted);
    for (int i = 0; i < st->nkey_ids; i++) {
        char id[2 * CRYPT_KEY_ID + 1];
        crypt_key_id_hex(st->key_ids[i], id);
        printf("%s%s", i ? ", " : " (key id ", id);
    }
    printf("%s\n", st->key_ids_overflow ? ", ...)" : st->nkey_ids ? ")" : "");
    printf("  commands: %" PRIu64 "\n", st->commands);
    int ids[CMDID__COUNT], n = 0;
    for (int i = 0; i < CMDID__COUNT; i++)
        if (st->by_cmd[i]) ids[n++] = i;
    qsort_r(ids, (size_t)n, sizeof(ids[0]), cmp_count_desc, (void *)st->by_cmd);
    for (int i = 0; i < n && i < TOP_COMMANDS; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s", cmd_by_id(ids[i])->fullname);
        for (char *c = name; *c; c++)
            if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
        printf("    %-20s %" PRIu64 "\n", name, st->by_cmd[ids[i]]);
    }
    if (n > TOP_COMMANDS) printf("    (%d more command names)\n", n - TOP_COMMANDS);
    printf("  databases SELECTed:");
    if (!st->ndbs) printf(" none (all in db 0)");
    for (size_t i = 0; i < st->ndbs; i++) printf(" %lld", st->dbs[i]);
    if (st->dbs_overflow) printf(" ...");
    printf("\n");
    printf("  bytes: %" PRIu64 " (whole records: %zu)\n", size, r->good);
}

static void set_why(verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(verdict *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof(v->why), fmt, ap);
    va_end(ap);
}

/* Cuts a torn tail off path: ftruncate to the last whole record, fsync.
 * Refuses when the file changed size since it was checked (a server still
 * appending to it). 0, or -1 (reported). */
static int repair_torn(const char *path, const verdict *v) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        err("can't open %s for writing: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    int rc = -1;
    if (fstat(fd, &sb) != 0) {
        err("can't stat %s: %s", path, strerror(errno));
    } else if ((uint64_t)sb.st_size != v->size) {
        err("not repaired: %s changed size while it was checked (%" PRIu64 " then %" PRIu64
            " bytes); is a server still writing to it?",
            path, v->size, (uint64_t)sb.st_size);
    } else if (ftruncate(fd, (off_t)v->off) != 0 || fsync(fd) != 0) {
        err("can't truncate %s to %" PRIu64 " bytes: %s", path, v->off, strerror(errno));
    } else {
        printf("repaired: torn tail at offset %" PRIu64 " (%" PRIu64
               " bytes) dropped, %s truncated to %" PRIu64 " bytes\n",
               v->off, v->size - v->off, path, v->off);
        rc = 0;
    }
    close(fd);
    return rc;
}

/* Checks one log file. allow_torn: a torn tail is a torn tail (else the
 * file is not the last one written and a cut record is corruption). */
static verdict check_log(const char *path, int fd, uint64_t size, bool allow_torn) {
    verdict v = {.status = EXIT_VALID, .size = size};
    const char *p = NULL;
    if (size > SIZE_MAX) {
        err("%s: too large to map (%" PRIu64 " bytes)", path, size);
        v.status = EXIT_ERROR;
        return v;
    }
    if (size) {
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            err("can't map %s: %s", path, strerror(errno));
            v.status = EXIT_ERROR;
            return v;
        }
        madvise((void *)p, (size_t)size, MADV_SEQUENTIAL);
    }
    log_stats *st = sg_calloc(sizeof(*st));
    st->image = p;
    st->image_len = (size_t)size;
    aof_scan_result r;
    int rc = aof_scan(p, (size_t)size, log_record, st, &r);
    if (p) munmap((void *)p, (size_t)size);
    if (!rc && r.corrupt && r.no_key) { /* not damage: the key was not given */
        char id[2 * CRYPT_KEY_ID + 1];
        crypt_key_id_hex(r.key_id, id);
        print_log_summary(st, &r, size);
        if (O.nkeys)
            err("%s: the record at offset %zu is encrypted with key id %s; none of the %d "
                "--key-file keys has that id",
                path, r.good, id, O.nkeys);
        else
            err("%s: the record at offset %zu is encrypted (key id %s); pass its key with "
                "--key-file",
                path, r.good, id);
        sg_free(st);
        v.status = EXIT_ERROR;
        return v;
    }
    if (rc) { /* a record with a sound frame but a command the server refuses */
        v.status = EXIT_DAMAGED;
        v.off = st->bad_off;
        set_why(&v, "%s (in record %" PRIu64 ")", st->bad_detail, st->records + 1);
        r.good = st->bad_off;
    } else if (r.corrupt) {
        v.status = EXIT_DAMAGED;
        v.off = r.good;
        set_why(&v, "%s (record %zu)", r.why, r.records + 1);
    } else if (r.torn) {
        v.status = EXIT_DAMAGED;
        v.off = r.good;
        if (allow_torn) {
            v.torn = true;
        } else {
            set_why(&v,
                    "truncated record (%" PRIu64 " bytes to the end of the file); only the last "
                    "incremental file may end in a torn record",
                    size - r.good);
        }
    }
    print_log_summary(st, &r, size);
    sg_free(st);
    return v;
}

/* ---- snapshot ---- */

typedef struct db_count {
    long long db;
    uint64_t keys, by_type[SNAP_TYPES + 1]; /* last: other type bytes */
} db_count;

typedef struct snap_stats {
    db_count *dbs; /* sorted by db */
    size_t ndbs, capdbs;
    uint64_t keys, with_ttl, expired, other_type;
    int64_t now_ms;
    uint64_t block_off; /* file offset of the block being read */
    /* first record that cannot be loaded */
    bool bad;
    uint64_t bad_off;
    char bad_why[200];
} snap_stats;

static db_count *db_slot(snap_stats *st, long long db) {
    size_t lo = 0, hi = st->ndbs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->dbs[mid].db == db) return &st->dbs[mid];
        if (st->dbs[mid].db < db)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (st->ndbs == st->capdbs) {
        st->capdbs = st->capdbs ? st->capdbs * 2 : 16;
        st->dbs = sg_realloc(st->dbs, st->capdbs * sizeof(*st->dbs));
    }
    memmove(st->dbs + lo + 1, st->dbs + lo, (st->ndbs - lo) * sizeof(*st->dbs));
    memset(&st->dbs[lo], 0, sizeof(st->dbs[lo]));
    st->dbs[lo].db = db;
    st->ndbs++;
    return &st->dbs[lo];
}

static void snap_progress(void *ctx, uint64_t bytes) {
    snap_stats *st = ctx;
    st->block_off = bytes;
}

/* Describes the first record that cannot be loaded (shown key, at most 40
 * bytes, unprintable bytes as '?'). */
static void snap_bad(snap_stats *st, const snap_record *rec, const char *what) {
    if (st->bad) return;
    char shown[48];
    size_t k = 0;
    for (size_t i = 0; i < rec->klen && k < 40; i++)
        shown[k++] = (rec->key[i] >= 0x20 && rec->key[i] < 0x7f) ? rec->key[i] : '?';
    shown[k] = 0;
    st->bad = true;
    st->bad_off = st->block_off;
    snprintf(st->bad_why, sizeof(st->bad_why), "key '%s'%s (db %d) in the block at this offset: %s",
             shown, rec->klen > k ? "..." : "", rec->db, what);
}

static int snap_record_cb(void *ctx, const snap_record *rec) {
    snap_stats *st = ctx;
    db_count *dc = db_slot(st, rec->db);
    int type = rec->blen ? (unsigned char)rec->body[0] : -1;
    if (type >= 0 && type < SNAP_TYPES && !st->bad) { /* decode it as the loader would */
        kentry *e;
        const char *why;
        if (persist_build_body(rec->key, rec->klen, rec->body, rec->blen, rec->expire, &e, &why) !=
            0) {
            char what[96];
            snprintf(what, sizeof(what), "the %s value does not decode (%s)", type_names[type],
                     why ? why : "bad data");
            snap_bad(st, rec, what);
        } else {
            kentry_free(e);
        }
    }
    if (type < 0 || type >= SNAP_TYPES) {
        dc->by_type[SNAP_TYPES]++;
        st->other_type++;
        char what[64];
        if (type < 0)
            snprintf(what, sizeof(what), "empty value");
        else
            snprintf(what, sizeof(what), "unknown value type %d", type);
        snap_bad(st, rec, what);
    } else {
        dc->by_type[type]++;
    }
    dc->keys++;
    st->keys++;
    if (rec->expire >= 0) {
        st->with_ttl++;
        if (rec->expire <= st->now_ms) st->expired++;
    }
    return 0;
}

static void fmt_ms(char *out, size_t n, uint64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, n, "?");
        return;
    }
    char day[40];
    strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, n, "%s.%03u UTC", day, (unsigned)(ms % 1000));
}

static void fmt_key_id(char *out, const uint8_t id[CRYPT_KEY_ID]) {
    crypt_key_id_hex(id, out);
}

static uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void print_snap_summary(const snap_scan_result *r, const snap_stats *st) {
    if (O.quiet) return;
    char when[64], id[2 * CRYPT_KEY_ID + 1];
    fmt_ms(when, sizeof(when), r->created_ms);
    printf("  created: %s (%" PRIu64 " ms)\n", when, r->created_ms);
    if (r->encrypted) {
        fmt_key_id(id, r->key_id);
        printf("  encrypted: yes (key id %s)\n", id);
    } else {
        printf("  encrypted: no\n");
    }
    uint64_t all = r->codec_blocks[0] + r->codec_blocks[1] + r->codec_blocks[2];
    printf("  blocks: %" PRIu64 " (data %" PRIu64 "%s; by codec: none %" PRIu64 ", lz4 %" PRIu64
           ", zstd %" PRIu64 ")\n",
           all, r->blocks, all > r->blocks ? ", end 1" : "", r->codec_blocks[SNAP_CODEC_NONE],
           r->codec_blocks[SNAP_CODEC_LZ4], r->codec_blocks[SNAP_CODEC_ZSTD]);
    printf("  keys: %" PRIu64 "\n", st->keys);
    for (size_t i = 0; i < st->ndbs; i++) {
        const db_count *d = &st->dbs[i];
        printf("    db %lld: %" PRIu64 " (", d->db, d->keys);
        const char *sep = "";
        for (int t = 0; t <= SNAP_TYPES; t++) {
            if (!d->by_type[t]) continue;
            printf("%s%s %" PRIu64, sep, t < SNAP_TYPES ? type_names[t] : "unknown type",
                   d->by_type[t]);
            sep = ", ";
        }
        printf(")\n");
    }
    printf("  keys with a TTL: %" PRIu64 " (already expired: %" PRIu64 ")\n", st->with_ttl,
           st->expired);
    printf("  bytes: raw %" PRIu64 ", file %" PRIu64 "\n", r->raw_bytes, r->file_bytes);
}

/* Checks a snapshot on fd (at offset 0). */
static verdict check_snapshot(const char *path, int fd, uint64_t size) {
    verdict v = {.status = EXIT_VALID, .size = size};
    unsigned char hdr[SNAP_HDR_LEN];
    ssize_t got = pread(fd, hdr, sizeof(hdr), 0);
    if (got < 0) {
        err("can't read %s: %s", path, strerror(errno));
        v.status = EXIT_ERROR;
        return v;
    }
    const crypt_key *key = NULL;
    if ((size_t)got == sizeof(hdr) && (rd16(hdr + 10) & 1)) {
        for (int i = 0; i < O.nkeys && !key; i++)
            if (!memcmp(O.keys[i].id, hdr + 24, CRYPT_KEY_ID)) key = &O.keys[i];
        if (!key) {
            char id[2 * CRYPT_KEY_ID + 1];
            fmt_key_id(id, hdr + 24);
            if (O.nkeys)
                err("%s is encrypted with key id %s; none of the %d --key-file keys has that id",
                    path, id, O.nkeys);
            else
                err("%s is encrypted (key id %s); pass its key with --key-file", path, id);
            v.status = EXIT_ERROR;
            return v;
        }
    }
    snap_stats st = {.now_ms = sg_mstime(), .block_off = SNAP_HDR_LEN};
    snap_scan_result r;
    memset(&r, 0, sizeof(r));
    if (lseek(fd, 0, SEEK_SET) != 0) {
        err("can't seek in %s: %s", path, strerror(errno));
        v.status = EXIT_ERROR;
        return v;
    }
    int rc = snap_scan_fd(fd, key, snap_record_cb, &st, snap_progress, &r);
    if (rc != 0) {
        v.status = EXIT_DAMAGED;
        v.off = r.bad_off;
        set_why(&v, "%s", r.why ? r.why : "unreadable snapshot");
    } else if (st.bad) {
        v.status = EXIT_DAMAGED;
        v.off = st.bad_off;
        set_why(&v, "%s", st.bad_why);
    }
    if (!r.file_bytes) r.file_bytes = size;
    print_snap_summary(&r, &st);
    sg_free(st.dbs);
    return v;
}

/* ---- one file ---- */

/* Checks path as a snapshot or a log, told apart by the magic; *is_log
 * tells which it was. With --repair, a torn tail is cut off (allow_torn:
 * the file is the last one written, where a cut record is a torn tail). */
static verdict check_file(const char *path, const char *label, const char *kind, bool allow_torn,
                          bool *is_log) {
    verdict v = {.status = EXIT_ERROR};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err("can't open %s: %s", path, strerror(errno));
        return v;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        err("can't stat %s: %s", path, strerror(errno));
        close(fd);
        return v;
    }
    if (!S_ISREG(sb.st_mode)) {
        err("%s is not a regular file", path);
        close(fd);
        return v;
    }
    char magic[sizeof(SNAP_MAGIC) - 1];
    ssize_t got = pread(fd, magic, sizeof(magic), 0);
    if (got < 0) {
        err("can't read %s: %s", path, strerror(errno));
        close(fd);
        return v;
    }
    *is_log = !((size_t)got == sizeof(magic) && !memcmp(magic, SNAP_MAGIC, sizeof(magic)));
    say("%s: %s%s, %" PRIu64 " bytes\n", label, kind, *is_log ? "append-only log" : "snapshot",
        (uint64_t)sb.st_size);
    if (*is_log)
        v = check_log(path, fd, (uint64_t)sb.st_size, allow_torn);
    else
        v = check_snapshot(path, fd, (uint64_t)sb.st_size);
    close(fd);
    if (v.status == EXIT_DAMAGED && v.torn && O.repair) {
        v.status = repair_torn(path, &v) == 0 ? EXIT_VALID : EXIT_ERROR;
        v.torn = false;
    }
    return v;
}

/* ---- append-only directory ---- */

typedef struct manifest_file {
    char name[512];
    char type; /* 'b' or 'i' */
    unsigned long long seq;
} manifest_file;

static int pick_manifest(const char *dir, char *out, size_t n) {
    snprintf(out, n, "%s/%s", dir, DEFAULT_MANIFEST);
    if (access(out, F_OK) == 0) return 0;
    DIR *d = opendir(dir);
    if (!d) {
        err("can't open the directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int found = 0;
    size_t sl = strlen(MANIFEST_SUFFIX);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, MANIFEST_SUFFIX)) continue;
        if (found++ == 0) snprintf(out, n, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (found == 1) return 0;
    if (found == 0)
        err("%s has no manifest (%s or another *%s file): not an append-only directory", dir,
            DEFAULT_MANIFEST, MANIFEST_SUFFIX);
    else
        err("%s has %d *%s files and no %s: name the one to check", dir, found, MANIFEST_SUFFIX,
            DEFAULT_MANIFEST);
    return -1;
}

/* Reads and parses the manifest as the server does (aof.c read_manifest).
 * Returns the number of files, -1 on I/O error, -2 (verdict filled) when
 * the manifest itself is damaged. */
static int read_manifest(const char *path, manifest_file *files, verdict *v) {
    FILE *f = fopen(path, "r");
    if (!f) {
        err("can't open the manifest %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1200];
    int n = 0, lineno = 0;
    uint64_t off = 0;
    bool has_incr = false;
    while (fgets(line, sizeof(line), f)) {
        size_t ll = strlen(line);
        lineno++;
        uint64_t line_off = off;
        off += ll;
        if (ll && line[ll - 1] != '\n' && !feof(f)) {
            set_why(v, "manifest line %d is longer than %zu bytes", lineno, sizeof(line) - 2);
            v->off = line_off;
            fclose(f);
            return -2;
        }
        if (line[0] == '\n' || line[0] == '#') continue;
        if (ll && line[ll - 1] == '\n') line[--ll] = 0;
        manifest_file m;
        char type;
        if (sscanf(line, "file %511s seq %llu type %c", m.name, &m.seq, &type) != 3 ||
            strchr(m.name, '/')) {
            set_why(v, "manifest line %d is not 'file <name> seq <n> type b|i': %.120s", lineno,
                    line);
            v->off = line_off;
            fclose(f);
            return -2;
        }
        if (type != 'b' && type != 'i') {
            say("manifest line %d: type %c ignored (the server reads only b and i)\n", lineno,
                type);
            continue;
        }
        if (n == MAX_MANIFEST_FILE) {
            set_why(v, "manifest names more than %d files", MAX_MANIFEST_FILE);
            v->off = line_off;
            fclose(f);
            return -2;
        }
        m.type = type;
        has_incr |= type == 'i';
        files[n++] = m;
    }
    bool ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        err("can't read the manifest %s", path);
        return -1;
    }
    if (!has_incr) {
        set_why(v, "the manifest names no incremental file (type i)");
        v->off = off;
        return -2;
    }
    return n;
}

static int check_dir(const char *dir, const char *manifest_path) {
    char mpath[4200];
    if (manifest_path)
        snprintf(mpath, sizeof(mpath), "%s", manifest_path);
    else if (pick_manifest(dir, mpath, sizeof(mpath)) != 0)
        return EXIT_ERROR;
    manifest_file files[MAX_MANIFEST_FILE];
    verdict mv = {.status = EXIT_DAMAGED};
    int n = read_manifest(mpath, files, &mv);
    if (n == -1) return EXIT_ERROR;
    if (n == -2) {
        say("manifest %s\n", mpath);
        print_verdict(&mv, mpath);
        return EXIT_DAMAGED;
    }
    int last_incr = -1, nbase = 0, nincr = 0;
    for (int i = 0; i < n; i++) {
        if (files[i].type == 'i')
            last_incr = i, nincr++;
        else
            nbase++;
    }
    say("manifest %s: %d file%s (%d base, %d incremental)\n", mpath, n, n == 1 ? "" : "s", nbase,
        nincr);
    if (nbase > 1 || nincr > 1)
        say("note: the server loads only the last base and the last incremental file named\n");
    int worst = EXIT_VALID;
    verdict first = {.status = EXIT_VALID};
    const char *first_name = NULL;
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%.3000s/%.511s", dir, files[i].name);
        const char *label = files[i].name;
        const char *kind = files[i].type == 'b' ? "base, " : "incremental, ";
        struct stat sb;
        if (i == last_incr && stat(path, &sb) != 0 && errno == ENOENT) {
            say("%s: incremental, missing (the server creates it empty at start-up)\n", label);
            continue;
        }
        bool is_log = true;
        verdict v = check_file(path, label, kind, i == last_incr, &is_log);
        if (v.status == EXIT_ERROR) return EXIT_ERROR;
        if (!O.quiet) {
            printf("  ");
            print_verdict(&v, NULL);
        }
        advise(&v, path, is_log);
        if (v.status > worst) {
            worst = v.status;
            first = v;
            first_name = files[i].name;
        }
    }
    print_verdict(&first, first_name);
    return worst;
}

/* ---- main ---- */

static void usage_hint(void) {
    fputs("Usage: surge-check [--repair] [--key-file FILE]... [--quiet] PATH\n"
          "Try 'surge-check --help' for more.\n",
          stderr);
}

static void usage(FILE *out) {
    fprintf(out,
            "Usage: surge-check [--repair] [--key-file FILE]... [--quiet] PATH\n"
            "\n"
            "Checks a Surge snapshot (dump.rdb), an append-only log file, or an append-only\n"
            "directory (its manifest and every file it names).\n"
            "\n"
            "  --repair          cut a torn last record off a log (never mid-file corruption,\n"
            "                    never a snapshot)\n"
            "  --key-file FILE   key for encrypted files (64 hex digits or 32 raw bytes);\n"
            "                    repeat for files written under older keys\n"
            "  --quiet           print only the result line\n"
            "  -h, --help        this text\n"
            "\n"
            "The last line is the result: OK, TORN TAIL at offset X (N bytes), or\n"
            "CORRUPT at offset X: why. Exit status: 0 valid (or repaired), 1 damaged,\n"
            "2 usage or I/O error.\n");
}

static int load_key(const char *path) {
    if (O.nkeys == MAX_KEYS) {
        err("at most %d --key-file options", MAX_KEYS);
        return -1;
    }
    char msg[256] = "";
    if (crypt_key_load(path, &O.keys[O.nkeys], msg, sizeof(msg)) != 0) {
        err("--key-file %s: %s", path, msg[0] ? msg : "can't load the key");
        return -1;
    }
    O.nkeys++;
    return 0;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"repair", no_argument, NULL, 'r'},
        {"key-file", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            O.repair = true;
            break;
        case 'q':
            O.quiet = true;
            break;
        case 'k':
            if (load_key(optarg) != 0) return EXIT_ERROR;
            break;
        case 'h':
            usage(stdout);
            return EXIT_VALID;
        default:
            if (optopt == 'k')
                err("--key-file needs a file name");
            else if (optopt)
                err("unknown option -%c", optopt);
            else
                err("unknown option %s", argv[optind - 1]);
            usage_hint();
            return EXIT_ERROR;
        }
    }
    if (optind != argc - 1) {
        err(optind == argc ? "no PATH given" : "exactly one PATH, got %d", argc - optind);
        usage_hint();
        return EXIT_ERROR;
    }
    const char *path = argv[optind];
    sg_log_configure(stderr, SG_LOG_WARNING, false);
    sg_hash_seed_init(); /* values are rebuilt to check them */
    server_init_handlers();
    /* every key for reading: aof_scan finds a record's key with crypt_find */
    if (crypt_set_keys(NULL, O.keys, (size_t)O.nkeys) != 0) {
        err("can't install the --key-file keys");
        return EXIT_ERROR;
    }

    struct stat sb;
    if (stat(path, &sb) != 0) {
        err("can't open %s: %s", path, strerror(errno));
        return EXIT_ERROR;
    }
    int rc;
    if (S_ISDIR(sb.st_mode)) {
        rc = check_dir(path, NULL);
    } else {
        /* a manifest names the files of its directory */
        size_t pl = strlen(path), sl = strlen(MANIFEST_SUFFIX);
        if (pl > sl && !strcmp(path + pl - sl, MANIFEST_SUFFIX)) {
            char dir[4200];
            snprintf(dir, sizeof(dir), "%s", path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = 0;
            else
                snprintf(dir, sizeof(dir), ".");
            rc = check_dir(dir, path);
        } else {
            bool is_log = true;
            verdict v = check_file(path, path, "", true, &is_log);
            if (v.status != EXIT_ERROR) {
                if (v.status == EXIT_DAMAGED && !is_log && O.repair && !O.quiet)
                    printf("--repair: snapshots are never modified\n");
                advise(&v, path, is_log);
                print_verdict(&v, NULL);
            }
            rc = v.status;
        }
    }
    fflush(stdout);
    return rc;
}
