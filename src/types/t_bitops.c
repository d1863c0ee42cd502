/*
 * t_bitops: bit-level commands on string values. SETBIT GETBIT BITCOUNT
 * BITPOS BITOP BITFIELD BITFIELD_RO.
 *
 * A string is a bit array in network order: bit 0 is the most significant
 * bit of byte 0, bit 8 the most significant bit of byte 1, and so on. Bits
 * past the end of the string read as zero; writing one grows the string
 * with zero bytes. A missing key is an empty string.
 *
 *   byte:    0                 1
 *   bit:     0 1 2 3 4 5 6 7   8 9 ...
 *   weight:  128 ...       1   128 ...
 *
 * Every reply, error text and argument rule follows Redis 7.0 (bitops.c),
 * checked against Debian's redis-server 7.0.15, including its quirks:
 *
 *   - BITCOUNT and BITPOS look the key up before parsing the range, so a
 *     missing key answers 0 (BITPOS: 0 or -1) even when the range is junk.
 *   - BITPOS for a clear bit treats the string as zero padded on the right
 *     unless the caller gave an explicit end: "BITPOS k 0" on "\xff" is 8,
 *     "BITPOS k 0 0 -1" is -1.
 *   - BITFIELD "#N" offsets are multiplied by the type width with 64-bit
 *     wrap-around (Redis multiplies a long long and lets it wrap), and
 *     OVERFLOW SAT on a SET compares the new value through the same
 *     wrapping arithmetic as Redis, so "SET i8 0 -9223372036854775808"
 *     saturates to 127.
 *   - Option words are compared with strcasecmp(), so they stop at an
 *     embedded NUL, as in Redis.
 *
 * Sizes: every offset is checked against proto-max-bulk-len before any
 * memory is reserved. SETBIT/GETBIT/BITFIELD refuse a bit offset whose byte
 * is at or past the limit ("ERR bit offset is not an integer or out of
 * range"); a BITFIELD write whose field would end past the limit (an i64 at
 * the last allowed offset) is refused with "ERR string exceeds maximum
 * allowed size (proto-max-bulk-len)". Redis 7.0 lets that last case grow the
 * string up to 7 bytes past the limit; Surge never holds a string longer
 * than the limit.
 *
 * Writes turn the value into the raw encoding (str_make_raw), as Redis's
 * dbUnshareStringValue() does, so OBJECT ENCODING matches; BITOP stores a
 * raw string whatever its length, as Redis's createObject() does.
 */
#include "../server/config.h"
#include "../server/server.h"

#include <string.h>
#include <strings.h>

#define ERR_BIT_OFFSET "ERR bit offset is not an integer or out of range"
#define ERR_BIT_VALUE  "ERR bit is not an integer or out of range"
#define ERR_BF_TYPE                                                                                \
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but "    \
    "i64 is."

/* Redis matches option words with strcasecmp(): stops at a NUL byte. */
static bool word_is(const client *c, int i, const char *w) {
    return !strcasecmp(c->argv[i], w);
}

static uint64_t popcount_bytes(const uint8_t *p, size_t n) {
    uint64_t count = 0;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        count += (uint64_t)__builtin_popcountll(w);
        p += 8;
        n -= 8;
    }
    while (n--) count += (uint64_t)__builtin_popcount(*p++);
    return count;
}

/* Parses argv[i] as a bit offset. With bits > 0 the "#N" form is accepted
 * and means N*bits (wrapping like Redis's long long product). Rejects
 * negative offsets and offsets whose byte is at or past proto-max-bulk-len.
 * Replies the error and returns false on failure. */
static bool bit_offset_or_reply(client *c, int i, int bits, uint64_t *out) {
    const char *p = c->argv[i];
    size_t n = c->argvlen[i];
    bool hash = bits > 0 && n > 0 && p[0] == '#';
    long long off;
    if (!sg_str2ll(p + hash, n - hash, &off)) goto err;
    if (hash) off = (long long)((uint64_t)off * (uint64_t)bits);
    if (off < 0 || (unsigned long long)(off >> 3) >= cfg.proto_max_bulk_len) goto err;
    *out = (uint64_t)off;
    return true;
err:
    reply_error(c, ERR_BIT_OFFSET);
    return false;
}

/* Looks argv[1] up for a write that touches bits up to maxbit (inclusive):
 * creates the key with zero bytes, or converts the value to raw and pads it
 * with zeros. Replies WRONGTYPE, or the size error when the string would
 * have to grow past proto-max-bulk-len, and returns NULL. *changed is set
 * when the key was created or grown. The returned sstr belongs to the key. */
static sstr *bit_string_for_write_or_reply(client *c, uint64_t maxbit, bool *changed) {
    size_t need = (size_t)(maxbit >> 3) + 1;
    bool wrong;
    kref r;
    kentry *e = lookup_write_typed(c, 1, OBJ_STRING, &r, &wrong);
    if (wrong) return NULL;
    size_t cur = 0;
    if (e) kentry_str(e, &cur);
    if (need > cur && need > cfg.proto_max_bulk_len) {
        reply_error(c, ERR_STRING_TOO_BIG);
        return NULL;
    }
    *changed = false;
    if (!e) {
        sstr *s = sstr_grow_zero(sstr_new_cap(need), need);
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_STRING, ENC_RAW, s, -1));
        *changed = true;
        return s;
    }
    sstr *s = str_make_raw(&r);
    if (s->len < need) {
        sstr *ns = sstr_grow_zero(s, need);
        if (ns != s) kentry_set_ptr(r.e, ns);
        s = ns;
        *changed = true;
    }
    return s;
}

static void key_changed(client *c, long long n) { /* SETBIT, BITFIELD: "setbit" as Redis */
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_STRING, "setbit", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, n);
}

/* ---- SETBIT / GETBIT ---- */

void setbit_command(client *c) {
    uint64_t off;
    long long on;
    if (!bit_offset_or_reply(c, 2, 0, &off)) return;
    if (!arg_ll_or_reply(c, 3, &on, ERR_BIT_VALUE)) return;
    if (on & ~1LL) {
        reply_error(c, ERR_BIT_VALUE);
        return;
    }
    bool changed;
    sstr *s = bit_string_for_write_or_reply(c, off, &changed);
    if (!s) return;
    uint8_t *byte = (uint8_t *)s->buf + (off >> 3);
    int bit = 7 - (int)(off & 7);
    int old = (*byte >> bit) & 1;
    if (changed || old != on) {
        *byte = (uint8_t)((*byte & ~(1 << bit)) | ((int)on << bit));
        key_changed(c, 1);
    }
    reply_int(c, old);
}

void getbit_command(client *c) {
    uint64_t off;
    if (!bit_offset_or_reply(c, 2, 0, &off)) return;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
    if (wrong) return;
    int val = 0;
    if (e) {
        size_t n;
        const uint8_t *p = (const uint8_t *)kentry_str(e, &n);
        if ((off >> 3) < n) val = (p[off >> 3] >> (7 - (off & 7))) & 1;
    }
    reply_int(c, val);
}

/* ---- BITCOUNT / BITPOS ---- */

/* The range arguments of BITCOUNT and BITPOS, resolved against a string of
 * len bytes the way Redis does it: negative indexes count from the end,
 * then both ends are clamped into the string. Returns false when the range
 * is empty. On success [*first_bit, *last_bit] is the inclusive bit range. */
static bool resolve_range(long long start, long long end, bool isbit, long long len,
                          uint64_t *first_bit, uint64_t *last_bit) {
    long long total = isbit ? len * 8 : len;
    if (start < 0) start += total;
    if (end < 0) end += total;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= total) end = total - 1;
    if (start > end) return false;
    *first_bit = isbit ? (uint64_t)start : (uint64_t)start * 8;
    *last_bit = isbit ? (uint64_t)end : (uint64_t)end * 8 + 7;
    return true;
}

/* Number of set bits in the inclusive bit range [fb, lb] of p. */
static uint64_t count_bits(const uint8_t *p, uint64_t fb, uint64_t lb) {
    uint64_t first = fb >> 3, last = lb >> 3;
    uint64_t count = popcount_bytes(p + first, last - first + 1);
    /* take back the bits of the edge bytes that lie outside the range */
    uint8_t head = (uint8_t)(p[first] & ~(0xff >> (fb & 7)));
    uint8_t tail = (uint8_t)(p[last] & (0xff >> ((lb & 7) + 1)));
    return count - (uint64_t)__builtin_popcount(head) - (uint64_t)__builtin_popcount(tail);
}

/* Position of the first bit equal to `bit` in the inclusive range [fb, lb],
 * or -1 when there is none. */
static long long find_bit(const uint8_t *p, uint64_t fb, uint64_t lb, int bit) {
    uint8_t skip = bit ? 0x00 : 0xff; /* a byte that holds no wanted bit */
    uint64_t i = fb;
    while (i <= lb) {
        if ((i & 7) == 0 && i + 7 <= lb) {
            uint64_t byte = i >> 3;
            /* whole bytes: skip 8 at a time, then byte by byte */
            uint64_t lastbyte = (lb + 1) / 8; /* first byte not wholly inside */
            uint64_t word = bit ? 0 : ~(uint64_t)0;
            while (byte + 8 <= lastbyte) {
                uint64_t w;
                memcpy(&w, p + byte, 8);
                if (w != word) break;
                byte += 8;
            }
            while (byte < lastbyte && p[byte] == skip) byte++;
            i = byte * 8;
            if (byte == lastbyte) continue;
            for (int k = 7; k >= 0; k--, i++)
                if (((p[byte] >> k) & 1) == bit) return (long long)i;
            continue; /* not reached: the byte held a wanted bit */
        }
        if (((p[i >> 3] >> (7 - (i & 7))) & 1) == bit) return (long long)i;
        i++;
    }
    return -1;
}

/* Parses the BYTE|BIT unit argument; replies a syntax error on junk. */
static bool unit_or_reply(client *c, int i, bool *isbit) {
    if (word_is(c, i, "bit")) {
        *isbit = true;
    } else if (word_is(c, i, "byte")) {
        *isbit = false;
    } else {
        reply_syntax_error(c);
        return false;
    }
    return true;
}

void bitcount_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    size_t n;
    const uint8_t *p = (const uint8_t *)kentry_str(e, &n);
    long long start = 0, end = (long long)n - 1;
    bool isbit = false;
    if (c->argc == 4 || c->argc == 5) {
        if (!arg_ll_or_reply(c, 2, &start, NULL) || !arg_ll_or_reply(c, 3, &end, NULL)) return;
        if (start < 0 && end < 0 && start > end) {
            reply_int(c, 0);
            return;
        }
        if (c->argc == 5 && !unit_or_reply(c, 4, &isbit)) return;
    } else if (c->argc != 2) {
        reply_syntax_error(c);
        return;
    }
    uint64_t fb, lb;
    if (!resolve_range(start, end, isbit, (long long)n, &fb, &lb)) {
        reply_int(c, 0);
        return;
    }
    reply_int(c, (long long)count_bits(p, fb, lb));
}

void bitpos_command(client *c) {
    long long bit;
    if (!arg_ll_or_reply(c, 2, &bit, NULL)) return;
    if (bit != 0 && bit != 1) {
        reply_error(c, "ERR The bit argument must be 1 or 0.");
        return;
    }
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        /* a missing key is an endless run of zeros */
        reply_int(c, bit ? -1 : 0);
        return;
    }
    size_t n;
    const uint8_t *p = (const uint8_t *)kentry_str(e, &n);
    long long start = 0, end = (long long)n - 1;
    bool isbit = false, end_given = false;
    if (c->argc >= 4 && c->argc <= 6) {
        if (!arg_ll_or_reply(c, 3, &start, NULL)) return;
        if (c->argc == 6 && !unit_or_reply(c, 5, &isbit)) return;
        if (c->argc >= 5) {
            if (!arg_ll_or_reply(c, 4, &end, NULL)) return;
            end_given = true;
        }
    } else if (c->argc != 3) {
        reply_syntax_error(c);
        return;
    }
    uint64_t fb, lb;
    if (!resolve_range(start, end, isbit, (long long)n, &fb, &lb)) {
        reply_int(c, -1);
        return;
    }
    long long pos = find_bit(p, fb, lb, (int)bit);
    /* No clear bit in range: without an explicit end the string counts as
     * zero padded, so the answer is the first bit after the range. */
    if (pos < 0 && bit == 0 && !end_given) pos = (long long)lb + 1;
    reply_int(c, pos);
}

/* ---- BITOP ---- */

enum { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

void bitop_command(client *c) {
    int op;
    if (word_is(c, 1, "and")) {
        op = BITOP_AND;
    } else if (word_is(c, 1, "or")) {
        op = BITOP_OR;
    } else if (word_is(c, 1, "xor")) {
        op = BITOP_XOR;
    } else if (word_is(c, 1, "not")) {
        op = BITOP_NOT;
    } else {
        reply_syntax_error(c);
        return;
    }
    if (op == BITOP_NOT && c->argc != 4) {
        reply_error(c, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    /* Sources: a missing key is an empty string. The value pointers stay
     * valid while the database is not modified (a lazily expired source
     * deletes only its own entry). */
    size_t nsrc = (size_t)c->argc - 3, maxlen = 0;
    const uint8_t **src = sg_malloc(nsrc * sizeof(*src));
    size_t *len = sg_malloc(nsrc * sizeof(*len));
    for (size_t j = 0; j < nsrc; j++) {
        bool wrong;
        kentry *e = lookup_read_typed(c, (int)j + 3, OBJ_STRING, NULL, &wrong);
        if (wrong) goto done;
        src[j] = NULL;
        len[j] = 0;
        if (e) src[j] = (const uint8_t *)kentry_str(e, &len[j]);
        if (len[j] > maxlen) maxlen = len[j];
    }
    sstr *res = NULL;
    if (maxlen) {
        res = sstr_grow_zero(sstr_new_cap(maxlen), maxlen);
        uint8_t *out = (uint8_t *)res->buf;
        for (size_t i = 0; i < maxlen; i++) {
            uint8_t acc = i < len[0] ? src[0][i] : 0;
            if (op == BITOP_NOT) acc = (uint8_t)~acc;
            for (size_t j = 1; j < nsrc; j++) {
                uint8_t b = i < len[j] ? src[j][i] : 0;
                if (op == BITOP_AND)
                    acc &= b;
                else if (op == BITOP_OR)
                    acc |= b;
                else
                    acc ^= b;
            }
            out[i] = acc;
        }
    }
    kref r;
    kentry *old = kdb_lookup_write(c->db, c->argv[2], c->argvlen[2], &r);
    if (res) {
        /* SET semantics: any old value and its TTL are replaced */
        kentry *ne = kentry_new_ptr(c->argv[2], c->argvlen[2], OBJ_STRING, ENC_RAW, res, -1);
        if (old) {
            kentry_set_lru(ne, kentry_lru(old));
            kdb_replace(&r, ne);
            kentry_free(old);
        } else {
            kdb_add(c->db, ne);
        }
        server_key_modified(c, c->db, c->argv[2], c->argvlen[2]);
        notify_keyspace_event(c->srv, NOTIFY_STRING, "set", c->dbid, c->argv[2], c->argvlen[2]);
        server_dirty(c->srv, 1);
    } else if (old) {
        kdb_delete(&r);
        server_key_modified(c, c->db, c->argv[2], c->argvlen[2]);
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[2], c->argvlen[2]);
        server_dirty(c->srv, 1);
    }
    reply_int(c, (long long)maxlen);
done:
    sg_free(src);
    sg_free(len);
}

/* ---- BITFIELD ---- */

enum { BF_GET, BF_SET, BF_INCRBY };
enum { BF_WRAP, BF_SAT, BF_FAIL };

typedef struct bf_op {
    uint64_t offset;
    long long value; /* SET value or INCRBY increment */
    int opcode, overflow, bits;
    bool sign;
} bf_op;

/* Parses "i<1..64>" or "u<1..63>"; replies the error on anything else.
 * Like Redis, the width is read up to the first NUL byte. */
static bool bf_type_or_reply(client *c, int i, bool *sign, int *bits) {
    const char *p = c->argv[i];
    long long n;
    if ((p[0] != 'i' && p[0] != 'u') || !sg_str2ll(p + 1, strlen(p + 1), &n) || n < 1 ||
        n > (p[0] == 'i' ? 64 : 63)) {
        reply_error(c, ERR_BF_TYPE);
        return false;
    }
    *sign = p[0] == 'i';
    *bits = (int)n;
    return true;
}

static uint64_t bf_get_unsigned(const uint8_t *p, size_t len, uint64_t off, int bits) {
    uint64_t v = 0;
    for (int j = 0; j < bits; j++, off++) {
        uint64_t byte = off >> 3;
        uint64_t b = byte < len ? (uint64_t)(p[byte] >> (7 - (off & 7))) & 1 : 0;
        v = (v << 1) | b;
    }
    return v;
}

static int64_t bf_get_signed(const uint8_t *p, size_t len, uint64_t off, int bits) {
    uint64_t v = bf_get_unsigned(p, len, off, bits);
    if (bits < 64 && (v & ((uint64_t)1 << (bits - 1)))) v |= ~(uint64_t)0 << bits;
    return (int64_t)v;
}

/* Writes the low `bits` bits of v at bit offset off (the string already
 * covers them). */
static void bf_set(uint8_t *p, uint64_t off, int bits, uint64_t v) {
    for (int j = 0; j < bits; j++, off++) {
        int bit = 7 - (int)(off & 7);
        int b = (int)((v >> (bits - 1 - j)) & 1);
        p[off >> 3] = (uint8_t)((p[off >> 3] & ~(1 << bit)) | (b << bit));
    }
}

/* Overflow of value+incr in an unsigned field of `bits` bits, with Redis's
 * arithmetic (including its signed views of the margins). Returns 0 when
 * it fits, else non-zero with *limit set to the wrapped or saturated value
 * (untouched for FAIL). */
static int bf_unsigned_overflow(uint64_t value, int64_t incr, int bits, int ow, uint64_t *limit) {
    uint64_t max = ((uint64_t)1 << bits) - 1; /* bits <= 63 */
    int64_t maxincr = (int64_t)(max - value);
    int64_t minincr = (int64_t)(0 - value);
    int ret;
    if (value > max || (incr > 0 && incr > maxincr)) {
        ret = 1;
        if (ow == BF_SAT) *limit = max;
    } else if (incr < 0 && incr < minincr) {
        ret = -1;
        if (ow == BF_SAT) *limit = 0;
    } else {
        return 0;
    }
    if (ow == BF_WRAP) *limit = (value + (uint64_t)incr) & max;
    return ret;
}

static int bf_signed_overflow(int64_t value, int64_t incr, int bits, int ow, int64_t *limit) {
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)(((uint64_t)1 << (bits - 1)) - 1);
    int64_t min = -max - 1;
    /* both may wrap; Redis only relies on them once value is in range */
    int64_t maxincr = (int64_t)((uint64_t)max - (uint64_t)value);
    int64_t minincr = (int64_t)((uint64_t)min - (uint64_t)value);
    int ret;
    if (value > max || (bits != 64 && incr > maxincr) ||
        (value >= 0 && incr > 0 && incr > maxincr)) {
        ret = 1;
        if (ow == BF_SAT) *limit = max;
    } else if (value < min || (bits != 64 && incr < minincr) ||
               (value < 0 && incr < 0 && incr < minincr)) {
        ret = -1;
        if (ow == BF_SAT) *limit = min;
    } else {
        return 0;
    }
    if (ow == BF_WRAP) {
        uint64_t sum = (uint64_t)value + (uint64_t)incr;
        if (bits < 64) {
            uint64_t mask = ~(uint64_t)0 << bits;
            if (sum & ((uint64_t)1 << (bits - 1)))
                sum |= mask;
            else
                sum &= ~mask;
        }
        *limit = (int64_t)sum;
    }
    return ret;
}

/* Executes one SET or INCRBY on the string p (already long enough) and
 * replies its result. Returns -1 when nothing was written (OVERFLOW FAIL),
 * 1 when the field changed, 0 when it was rewritten with the same value. */
static int bf_write(client *c, const bf_op *op, uint8_t *p, size_t len) {
    bool overflow;
    uint64_t oldu, newu;
    long long ret;
    if (op->sign) {
        int64_t oldv = bf_get_signed(p, len, op->offset, op->bits), newv, wrapped = 0;
        if (op->opcode == BF_INCRBY) {
            overflow = bf_signed_overflow(oldv, op->value, op->bits, op->overflow, &wrapped) != 0;
            newv = overflow ? wrapped : (int64_t)((uint64_t)oldv + (uint64_t)op->value);
            ret = newv;
        } else {
            newv = op->value;
            overflow = bf_signed_overflow(newv, 0, op->bits, op->overflow, &wrapped) != 0;
            if (overflow) newv = wrapped;
            ret = oldv;
        }
        oldu = (uint64_t)oldv;
        newu = (uint64_t)newv;
    } else {
        uint64_t oldv = bf_get_unsigned(p, len, op->offset, op->bits), newv, wrapped = 0;
        if (op->opcode == BF_INCRBY) {
            overflow = bf_unsigned_overflow(oldv, op->value, op->bits, op->overflow, &wrapped) != 0;
            newv = overflow ? wrapped : oldv + (uint64_t)op->value;
            ret = (long long)newv;
        } else {
            newv = (uint64_t)op->value;
            overflow = bf_unsigned_overflow(newv, 0, op->bits, op->overflow, &wrapped) != 0;
            if (overflow) newv = wrapped;
            ret = (long long)oldv;
        }
        oldu = oldv;
        newu = newv;
    }
    if (overflow && op->overflow == BF_FAIL) {
        reply_null(c);
        return -1;
    }
    reply_int(c, ret);
    bf_set(p, op->offset, op->bits, newu);
    return oldu != newu;
}

static void bitfield_generic(client *c, bool readonly_cmd) {
    int nops = 0, overflow = BF_WRAP;
    bool readonly = true;
    uint64_t highest = 0;
    /* each operation takes at least 3 arguments: a bounded array */
    bf_op *ops = sg_malloc(((size_t)c->argc / 3 + 1) * sizeof(*ops));
    for (int j = 2; j < c->argc; j++) {
        int left = c->argc - j - 1;
        bf_op op = {0};
        if (word_is(c, j, "get") && left >= 2) {
            op.opcode = BF_GET;
        } else if (word_is(c, j, "set") && left >= 3) {
            op.opcode = BF_SET;
        } else if (word_is(c, j, "incrby") && left >= 3) {
            op.opcode = BF_INCRBY;
        } else if (word_is(c, j, "overflow") && left >= 1) {
            j++;
            if (word_is(c, j, "wrap")) {
                overflow = BF_WRAP;
            } else if (word_is(c, j, "sat")) {
                overflow = BF_SAT;
            } else if (word_is(c, j, "fail")) {
                overflow = BF_FAIL;
            } else {
                reply_error(c, "ERR Invalid OVERFLOW type specified");
                goto done;
            }
            continue;
        } else {
            reply_syntax_error(c);
            goto done;
        }
        if (!bf_type_or_reply(c, j + 1, &op.sign, &op.bits)) goto done;
        if (!bit_offset_or_reply(c, j + 2, op.bits, &op.offset)) goto done;
        if (op.opcode != BF_GET) {
            readonly = false;
            if (highest < op.offset + (uint64_t)op.bits - 1) highest = op.offset + op.bits - 1;
            if (!arg_ll_or_reply(c, j + 3, &op.value, NULL)) goto done;
        }
        op.overflow = overflow;
        ops[nops++] = op;
        j += op.opcode == BF_GET ? 2 : 3;
    }

    const uint8_t *src = NULL;
    size_t len = 0;
    sstr *s = NULL;
    bool changed = false;
    if (readonly) {
        bool wrong;
        kentry *e = lookup_read_typed(c, 1, OBJ_STRING, NULL, &wrong);
        if (wrong) goto done;
        if (e) src = (const uint8_t *)kentry_str(e, &len);
    } else {
        if (readonly_cmd) {
            reply_error(c, "ERR BITFIELD_RO only supports the GET subcommand");
            goto done;
        }
        s = bit_string_for_write_or_reply(c, highest, &changed);
        if (!s) goto done;
    }

    reply_array(c, nops);
    long long changes = 0;
    for (int j = 0; j < nops; j++) {
        const bf_op *op = &ops[j];
        if (s) {
            src = (const uint8_t *)s->buf;
            len = s->len;
        }
        if (op->opcode != BF_GET) {
            int w = bf_write(c, op, (uint8_t *)s->buf, s->len);
            if (w == 1 || (w == 0 && changed)) changes++;
        } else if (op->sign) {
            reply_int(c, bf_get_signed(src, len, op->offset, op->bits));
        } else {
            reply_int(c, (long long)bf_get_unsigned(src, len, op->offset, op->bits));
        }
    }
    /* Redis counts only written fields; a key created or grown by a write
     * that then failed (OVERFLOW FAIL) is reported too, so WATCH sees it. */
    if (changes || changed) key_changed(c, changes);
done:
    sg_free(ops);
}

void bitfield_command(client *c) {
    bitfield_generic(c, false);
}

void bitfield_ro_command(client *c) {
    bitfield_generic(c, true);
}
