/*
 * t_hll: HyperLogLog commands. PFADD PFCOUNT PFMERGE.
 *
 * A HyperLogLog is an ordinary string value in Redis's format, byte for
 * byte, so GET/SET/DUMP of an HLL key move it between Surge and Redis and
 * PFCOUNT gives the same number on both. The facts come from Redis's
 * documentation and the papers it cites (Flajolet et al. 2007; Heule et al.
 * 2013 for the sparse idea; Ertl 2017, "New cardinality estimation
 * algorithms for HyperLogLog sketches", for the estimator).
 *
 * Layout (all multi-byte fields little-endian):
 *
 *   +------+-----+--------+------------+---------------------------------+
 *   | HYLL | enc | unused | card (8 B) | registers                       |
 *   | 4 B  | 1 B | 3 B    | cached     | dense: 16384 x 6 bits = 12288 B |
 *   |      |     |        | cardinality| sparse: run-length opcodes      |
 *   +------+-----+--------+------------+---------------------------------+
 *
 *   enc: 0 dense, 1 sparse. card: the last computed cardinality; the most
 *   significant bit of its last byte set means "stale, recompute".
 *
 * Registers: P = 14, so 16384 registers of 6 bits. An element is hashed
 * with MurmurHash64A (seed 0xadc83b19); the low 14 bits pick the register,
 * and the register keeps the maximum over its elements of 1 + the number of
 * trailing zero bits of the remaining 50 bits (bit 50 forced to one, so
 * 1..51).
 *
 * Dense: register i occupies bits 6i..6i+5 counted from the least
 * significant bit of byte 0 (so a register may straddle two bytes).
 *
 * Sparse: a run-length encoding of the 16384 registers with three opcodes:
 *
 *   ZERO   00xxxxxx            xxxxxx+1 registers (1..64) are zero
 *   XZERO  01xxxxxx yyyyyyyy   14-bit length+1 registers (1..16384) are zero
 *   VAL    1vvvvvxx            xx+1 registers (1..4) hold vvvvv+1 (1..32)
 *
 * An empty HLL is the header and one XZERO of 16384. Setting a register
 * splits the opcode that covers it into at most three (XZERO-VAL-XZERO),
 * then merges adjacent VAL opcodes of equal value near the change (up to
 * five opcodes from the one before it); this is what Redis does, so the
 * bytes come out the same. The value is promoted to dense when a register
 * needs a value above 32 or when a split would make the string longer than
 * hll-sparse-max-bytes. Surge has no such directive yet: Redis's default,
 * 3000, is fixed here (HLL_SPARSE_MAX_BYTES).
 *
 * Estimator: Ertl's improved raw estimator over the register histogram
 * C[k] (how many registers hold k), with q = 50 and m = 16384:
 *
 *   z = m * tau(1 - C[q+1]/m);  for k = q..1: z = (z + C[k]) / 2;
 *   z += m * sigma(C[0]/m);     E = round(alpha_inf * m^2 / z)
 *
 * with alpha_inf = 1/(2 ln 2) and the series sigma, tau of the paper,
 * evaluated in double precision in the same order as Redis.
 *
 * Validation: a string is an HLL when it is at least 16 bytes, starts with
 * "HYLL", has encoding 0 or 1, and a dense one is exactly 12304 bytes;
 * anything else answers "WRONGTYPE Key is not a valid HyperLogLog string
 * value.". Sparse opcodes that do not cover exactly 16384 registers are
 * caught when read: "INVALIDOBJ Corrupted HLL object detected". Like Debian's
 * 7.0.15, which carries the CVE-2025-32023 fix, any run that would go past
 * the last register makes the value corrupt.
 *
 * Reads never go past the value: an XZERO cut off after its first byte at the
 * end reads its second byte as zero. Redis reads the byte after the string
 * there: its NUL terminator, or, after PFADD split such an opcode (Redis
 * then writes the last byte of the new sequence just past the new length),
 * that leftover byte. So for this one kind of corrupt value the bytes after
 * a second PFADD may differ from Redis's; replies and errors do not.
 *
 * Writes (PFADD, PFMERGE's target, PFCOUNT's cache update) turn the value
 * into the raw encoding first, as Redis's dbUnshareStringValue() does.
 */
#include "../server/server.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define HLL_P                14
#define HLL_Q                (64 - HLL_P)
#define HLL_REGISTERS        (1 << HLL_P)
#define HLL_BITS             6
#define HLL_REGISTER_MAX     ((1 << HLL_BITS) - 1)
#define HLL_HDR_SIZE         16
#define HLL_DENSE_BYTES      ((HLL_REGISTERS * HLL_BITS + 7) / 8)
#define HLL_DENSE_SIZE       (HLL_HDR_SIZE + HLL_DENSE_BYTES)
#define HLL_DENSE            0
#define HLL_SPARSE           1
#define HLL_ENC_OFFSET       4
#define HLL_CARD_OFFSET      8
#define HLL_SPARSE_MAX_BYTES 3000                    /* Redis's hll-sparse-max-bytes default */
#define HLL_ALPHA_INF        0.721347520444481703680 /* 1 / (2 ln 2) */

#define SPARSE_VAL_MAX_VALUE 32
#define SPARSE_VAL_MAX_LEN   4
#define SPARSE_ZERO_MAX_LEN  64

#define ERR_NOT_HLL "WRONGTYPE Key is not a valid HyperLogLog string value."
#define ERR_BAD_HLL "INVALIDOBJ Corrupted HLL object detected"

static_assert(HLL_DENSE_SIZE == 12304, "dense HLL size");

/* ---- hashing ---- */

/* MurmurHash64A (Austin Appleby, public domain), reading 8-byte blocks as
 * little-endian on every host, as Redis does. */
static uint64_t murmur64a(const uint8_t *p, size_t len, uint64_t seed) {
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    uint64_t h = seed ^ ((uint64_t)len * m);
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++, p += 8) {
        uint64_t k = 0;
        for (int b = 7; b >= 0; b--) k = (k << 8) | p[b];
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    size_t tail = len & 7;
    if (tail) {
        for (size_t b = tail; b-- > 0;) h ^= (uint64_t)p[b] << (8 * b);
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

/* Register index and value (1..51) of an element. */
static int hll_pattern(const void *ele, size_t len, long *index) {
    uint64_t h = murmur64a(ele, len, 0xadc83b19ULL);
    *index = (long)(h & (HLL_REGISTERS - 1));
    h >>= HLL_P;
    h |= (uint64_t)1 << HLL_Q; /* caps the count at Q+1 */
    return __builtin_ctzll(h) + 1;
}

/* ---- dense registers ---- */

static int dense_get(const uint8_t *regs, long i) {
    size_t byte = (size_t)i * HLL_BITS / 8;
    unsigned fb = (unsigned)(i * HLL_BITS) & 7;
    unsigned v = regs[byte] >> fb;
    if (byte + 1 < HLL_DENSE_BYTES) v |= (unsigned)regs[byte + 1] << (8 - fb);
    return (int)(v & HLL_REGISTER_MAX);
}

static void dense_put(uint8_t *regs, long i, int val) {
    size_t byte = (size_t)i * HLL_BITS / 8;
    unsigned fb = (unsigned)(i * HLL_BITS) & 7;
    regs[byte] = (uint8_t)((regs[byte] & ~(HLL_REGISTER_MAX << fb)) | ((unsigned)val << fb));
    if (byte + 1 < HLL_DENSE_BYTES) {
        unsigned sh = 8 - fb;
        regs[byte + 1] = (uint8_t)((regs[byte + 1] & ~(HLL_REGISTER_MAX >> sh)) | (val >> sh));
    }
}

/* Raises register i to count; returns 1 when it changed, else 0. */
static int dense_set(uint8_t *regs, long i, int count) {
    if (count <= dense_get(regs, i)) return 0;
    dense_put(regs, i, count);
    return 1;
}

/* ---- sparse opcodes ---- */

static bool op_is_zero(const uint8_t *p) {
    return (*p & 0xc0) == 0x00;
}
static bool op_is_xzero(const uint8_t *p) {
    return (*p & 0xc0) == 0x40;
}
static bool op_is_val(const uint8_t *p) {
    return (*p & 0x80) != 0;
}
static long op_zero_len(const uint8_t *p) {
    return (*p & 0x3f) + 1;
}
/* The second byte of an XZERO that is cut off at `end` reads as zero. */
static long op_xzero_len(const uint8_t *p, const uint8_t *end) {
    return ((long)(*p & 0x3f) << 8 | (p + 1 < end ? p[1] : 0)) + 1;
}
static int op_val_value(const uint8_t *p) {
    return ((*p >> 2) & 0x1f) + 1;
}
static long op_val_len(const uint8_t *p) {
    return (*p & 0x3) + 1;
}
static void op_put_val(uint8_t *p, int val, long len) {
    *p = (uint8_t)(0x80 | (val - 1) << 2 | (len - 1));
}
/* Writes a ZERO or, past 64 registers, an XZERO; returns the bytes used. */
static int op_put_zeros(uint8_t *p, long len) {
    if (len > SPARSE_ZERO_MAX_LEN) {
        p[0] = (uint8_t)(0x40 | (len - 1) >> 8);
        p[1] = (uint8_t)((len - 1) & 0xff);
        return 2;
    }
    p[0] = (uint8_t)(len - 1);
    return 1;
}

/* Calls fn(ctx, first, len, value) for each run of the sparse opcodes in
 * [p, end), zero runs included. Returns the number of registers covered,
 * which is HLL_REGISTERS exactly for a valid HLL; like Redis's readers
 * (with the CVE-2025-32023 checks Debian's 7.0.15 carries), it stops at the
 * first run that would go past the last register, so fn never sees an
 * index out of range and the result is then above HLL_REGISTERS. */
typedef void sparse_run_fn(void *ctx, long first, long len, int value);
static long sparse_walk(const uint8_t *p, const uint8_t *end, sparse_run_fn *fn, void *ctx) {
    long idx = 0;
    while (p < end) {
        long len;
        int value = 0;
        if (op_is_zero(p)) {
            len = op_zero_len(p);
            p++;
        } else if (op_is_xzero(p)) {
            len = op_xzero_len(p, end);
            p += 2;
        } else {
            len = op_val_len(p);
            value = op_val_value(p);
            p++;
        }
        if (idx + len > HLL_REGISTERS) return idx + len;
        fn(ctx, idx, len, value);
        idx += len;
    }
    return idx;
}

static void run_to_dense(void *ctx, long first, long len, int value) {
    if (value)
        for (long i = 0; i < len; i++) dense_put(ctx, first + i, value);
}

static void run_to_max(void *ctx, long first, long len, int value) {
    uint8_t *max = ctx;
    for (long i = 0; i < len; i++)
        if (value > max[first + i]) max[first + i] = (uint8_t)value;
}

/* Replaces *sp (a sparse HLL) with its dense form, header bytes copied.
 * Returns false, leaving *sp alone, when the opcodes are corrupt. */
static bool sparse_to_dense(sstr **sp) {
    sstr *s = *sp;
    if (s->buf[HLL_ENC_OFFSET] == HLL_DENSE) return true;
    sstr *d = sstr_grow_zero(sstr_new_cap(HLL_DENSE_SIZE), HLL_DENSE_SIZE);
    memcpy(d->buf, s->buf, HLL_HDR_SIZE);
    d->buf[HLL_ENC_OFFSET] = HLL_DENSE;
    const uint8_t *p = (const uint8_t *)s->buf;
    long n =
        sparse_walk(p + HLL_HDR_SIZE, p + s->len, run_to_dense, (uint8_t *)d->buf + HLL_HDR_SIZE);
    if (n != HLL_REGISTERS) {
        sstr_free(d);
        return false;
    }
    sstr_free(s);
    *sp = d;
    return true;
}

/* Raises register `index` of the sparse HLL *sp to count. Returns 1 when
 * it changed, 0 when it already held count or more, -1 when the opcodes are
 * corrupt. May move *sp, and may promote it to dense (see the essay). */
static int sparse_set(sstr **sp, long index, int count) {
    if (count > SPARSE_VAL_MAX_VALUE) goto promote;
    if ((*sp)->cap - (*sp)->len < 3) *sp = sstr_reserve(*sp, 3); /* worst split grows 3 B */
    sstr *s = *sp;
    uint8_t *sparse = (uint8_t *)s->buf + HLL_HDR_SIZE, *end = (uint8_t *)s->buf + s->len;
    uint8_t *p = sparse, *prev = NULL;

    /* Step 1: find the opcode covering index. */
    long first = 0, span = 0;
    while (p < end) {
        long oplen = 1;
        if (op_is_zero(p)) {
            span = op_zero_len(p);
        } else if (op_is_val(p)) {
            span = op_val_len(p);
        } else {
            span = op_xzero_len(p, end);
            oplen = 2;
        }
        if (index <= first + span - 1) break;
        prev = p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end) return -1;
    uint8_t *next = op_is_xzero(p) ? p + 2 : p + 1;
    if (next >= end) next = NULL;

    /* Step 2: the trivial cases, updated in place. */
    bool is_zero = op_is_zero(p), is_xzero = op_is_xzero(p), is_val = op_is_val(p);
    long runlen = is_zero ? op_zero_len(p) : is_xzero ? op_xzero_len(p, end) : op_val_len(p);
    if (is_val) {
        if (op_val_value(p) >= count) return 0;
        if (runlen == 1) {
            op_put_val(p, count, 1);
            goto updated;
        }
    }
    if (is_zero && runlen == 1) {
        op_put_val(p, count, 1);
        goto updated;
    }

    /* Step 3: split the run into [before] VAL(count) [after]. */
    uint8_t seq[5], *n = seq;
    long last = first + span - 1;
    if (is_zero || is_xzero) {
        if (index != first) n += op_put_zeros(n, index - first);
        op_put_val(n++, count, 1);
        if (index != last) n += op_put_zeros(n, last - index);
    } else {
        int cur = op_val_value(p);
        if (index != first) op_put_val(n++, cur, index - first);
        op_put_val(n++, count, 1);
        if (index != last) op_put_val(n++, cur, last - index);
    }
    long seqlen = n - seq, oldlen = is_xzero ? 2 : 1, delta = seqlen - oldlen;
    if (delta > 0 && s->len + (size_t)delta > HLL_SPARSE_MAX_BYTES) goto promote;
    if (delta && next) memmove(next + delta, next, (size_t)(end - next));
    /* A truncated XZERO at the end leaves next NULL with p + 2 past end: the
     * new length is what Redis computes, the sequence's tail falls off. */
    size_t newlen = (size_t)((long)s->len + delta);
    memcpy(p, seq, (size_t)seqlen);
    s->len = newlen;
    s->buf[newlen] = '\0';
    end = (uint8_t *)s->buf + newlen;

updated:
    /* Step 4: merge adjacent VALs of equal value, starting at prev. */
    p = prev ? prev : sparse;
    for (int scan = 5; p < end && scan-- > 0;) {
        if (op_is_xzero(p)) {
            p += 2;
            continue;
        }
        if (op_is_zero(p)) {
            p++;
            continue;
        }
        if (p + 1 < end && op_is_val(p + 1) && op_val_value(p) == op_val_value(p + 1)) {
            long len = op_val_len(p) + op_val_len(p + 1);
            if (len <= SPARSE_VAL_MAX_LEN) {
                op_put_val(p + 1, op_val_value(p), len);
                memmove(p, p + 1, (size_t)(end - p - 1));
                end--;
                s->len--;
                s->buf[s->len] = '\0';
                continue; /* try the merged run with its right neighbour */
            }
        }
        p++;
    }
    s->buf[HLL_CARD_OFFSET + 7] |= (char)0x80;
    return 1;

promote:
    if (!sparse_to_dense(sp)) return -1;
    return dense_set((uint8_t *)(*sp)->buf + HLL_HDR_SIZE, index, count);
}

/* An empty sparse HLL: header (cached cardinality 0, valid) + XZERO 16384. */
static sstr *hll_new(void) {
    static const char empty[HLL_HDR_SIZE + 2] = {
        'H', 'Y', 'L', 'L', HLL_SPARSE, [16] = 0x7f, [17] = (char)0xff};
    sstr *s = sstr_new_cap(64);
    return sstr_cat(s, empty, sizeof(empty));
}

/* ---- estimation ---- */

static double hll_tau(double x) {
    if (x == 0. || x == 1.) return 0.;
    double zprev, y = 1.0, z = 1 - x;
    do {
        x = sqrt(x);
        zprev = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (zprev != z);
    return z / 3;
}

static double hll_sigma(double x) {
    if (x == 1.) return INFINITY;
    double zprev, y = 1, z = x;
    do {
        x *= x;
        zprev = z;
        z += x * y;
        y += y;
    } while (zprev != z);
    return z;
}

static uint64_t hll_estimate(const int histo[64]) {
    double m = HLL_REGISTERS;
    double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
    for (int j = HLL_Q; j >= 1; --j) {
        z += histo[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] / m);
    return (uint64_t)llroundl(HLL_ALPHA_INF * m * m / z);
}

static void run_to_histo(void *ctx, long first, long len, int value) {
    SG_UNUSED(first);
    ((int *)ctx)[value] += (int)len;
}

/* Cardinality of a validated HLL; *bad set when sparse opcodes do not
 * cover exactly the 16384 registers. */
static uint64_t hll_count(const uint8_t *v, size_t len, bool *bad) {
    int histo[64] = {0};
    *bad = false;
    if (v[HLL_ENC_OFFSET] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++) histo[dense_get(v + HLL_HDR_SIZE, i)]++;
    } else {
        *bad = sparse_walk(v + HLL_HDR_SIZE, v + len, run_to_histo, histo) != HLL_REGISTERS;
    }
    return hll_estimate(histo);
}

/* Folds an HLL into max[] (max[i] = max(max[i], register i)). Returns
 * false for corrupt sparse opcodes. */
static bool hll_merge(uint8_t *max, const uint8_t *v, size_t len) {
    if (v[HLL_ENC_OFFSET] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            int r = dense_get(v + HLL_HDR_SIZE, i);
            if (r > max[i]) max[i] = (uint8_t)r;
        }
        return true;
    }
    return sparse_walk(v + HLL_HDR_SIZE, v + len, run_to_max, max) == HLL_REGISTERS;
}

/* ---- commands ---- */

/* Checks that e (a live key) holds an HLL; replies WRONGTYPE and returns
 * false when it does not. */
static bool hll_valid_or_reply(client *c, kentry *e) {
    if (kentry_type(e) != OBJ_STRING) {
        reply_wrongtype(c);
        return false;
    }
    size_t n;
    const uint8_t *v = (const uint8_t *)kentry_str(e, &n);
    if (kentry_enc(e) == ENC_INT || n < HLL_HDR_SIZE || memcmp(v, "HYLL", 4) != 0 ||
        v[HLL_ENC_OFFSET] > HLL_SPARSE || (v[HLL_ENC_OFFSET] == HLL_DENSE && n != HLL_DENSE_SIZE)) {
        reply_error(c, ERR_NOT_HLL);
        return false;
    }
    return true;
}

void pfadd_command(client *c) {
    kref r;
    kentry *e = kdb_lookup_write(c->db, c->argv[1], c->argvlen[1], &r);
    if (e && !hll_valid_or_reply(c, e)) return;
    sstr *s = e ? str_make_raw(&r) : hll_new();
    sstr *orig = s;
    bool updated = e == NULL, bad = false;
    for (int j = 2; j < c->argc; j++) {
        long index;
        int count = hll_pattern(c->argv[j], c->argvlen[j], &index);
        int ret = s->buf[HLL_ENC_OFFSET] == HLL_DENSE
                      ? dense_set((uint8_t *)s->buf + HLL_HDR_SIZE, index, count)
                      : sparse_set(&s, index, count);
        if (ret < 0) {
            bad = true;
            break;
        }
        if (ret) updated = true;
    }
    if (!e)
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_STRING, ENC_RAW, s, -1));
    else if (s != orig)
        kentry_set_ptr(r.e, s);
    if (bad) {
        reply_error(c, ERR_BAD_HLL);
        return;
    }
    if (updated) {
        s->buf[HLL_CARD_OFFSET + 7] |= (char)0x80;
        server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
        notify_keyspace_event(c->srv, NOTIFY_STRING, "pfadd", c->dbid, c->argv[1], c->argvlen[1]);
        server_dirty(c->srv, 1);
    }
    reply_int(c, updated);
}

void pfcount_command(client *c) {
    if (c->argc > 2) {
        /* Several keys: the count of their union, nothing cached. */
        uint8_t *max = sg_calloc(HLL_REGISTERS);
        int histo[64] = {0};
        for (int j = 1; j < c->argc; j++) {
            kentry *e = kdb_lookup_read(c->db, c->argv[j], c->argvlen[j], NULL, 0);
            if (!e) continue;
            if (!hll_valid_or_reply(c, e)) goto done;
            size_t n;
            const uint8_t *v = (const uint8_t *)kentry_str(e, &n);
            if (!hll_merge(max, v, n)) {
                reply_error(c, ERR_BAD_HLL);
                goto done;
            }
        }
        for (long i = 0; i < HLL_REGISTERS; i++) histo[max[i]]++;
        reply_int(c, (long long)hll_estimate(histo));
    done:
        sg_free(max);
        return;
    }

    kref r;
    kentry *e = kdb_lookup_write(c->db, c->argv[1], c->argvlen[1], &r);
    if (!e) {
        reply_int(c, 0);
        return;
    }
    if (!hll_valid_or_reply(c, e)) return;
    sstr *s = str_make_raw(&r);
    uint8_t *card = (uint8_t *)s->buf + HLL_CARD_OFFSET;
    uint64_t n = 0;
    if (!(card[7] & 0x80)) {
        for (int i = 7; i >= 0; i--) n = (n << 8) | card[i];
        reply_int(c, (long long)n);
        return;
    }
    bool bad;
    n = hll_count((const uint8_t *)s->buf, s->len, &bad);
    if (bad) {
        reply_error(c, ERR_BAD_HLL);
        return;
    }
    for (int i = 0; i < 8; i++) card[i] = (uint8_t)(n >> (8 * i));
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_int(c, (long long)n);
}

void pfmerge_command(client *c) {
    uint8_t *max = sg_calloc(HLL_REGISTERS);
    bool use_dense = false;
    /* argv[1], the target, is also a source */
    for (int j = 1; j < c->argc; j++) {
        kentry *e = kdb_lookup_read(c->db, c->argv[j], c->argvlen[j], NULL, 0);
        if (!e) continue;
        if (!hll_valid_or_reply(c, e)) goto done;
        size_t n;
        const uint8_t *v = (const uint8_t *)kentry_str(e, &n);
        if (v[HLL_ENC_OFFSET] == HLL_DENSE) use_dense = true;
        if (!hll_merge(max, v, n)) {
            reply_error(c, ERR_BAD_HLL);
            goto done;
        }
    }

    kref r;
    kentry *e = kdb_lookup_write(c->db, c->argv[1], c->argvlen[1], &r);
    sstr *s = e ? str_make_raw(&r) : hll_new();
    sstr *orig = s;
    if (use_dense && !sparse_to_dense(&s)) {
        /* not reached: the target was validated as a source above */
        if (!e) sstr_free(s);
        reply_error(c, ERR_BAD_HLL);
        goto done;
    }
    for (long i = 0; i < HLL_REGISTERS; i++) {
        if (!max[i]) continue;
        if (s->buf[HLL_ENC_OFFSET] == HLL_DENSE)
            dense_set((uint8_t *)s->buf + HLL_HDR_SIZE, i, max[i]);
        else
            sparse_set(&s, i, max[i]);
    }
    s->buf[HLL_CARD_OFFSET + 7] |= (char)0x80;
    if (!e)
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_STRING, ENC_RAW, s, -1));
    else if (s != orig)
        kentry_set_ptr(r.e, s);
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "pfadd", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
    reply_ok(c);
done:
    sg_free(max);
}
