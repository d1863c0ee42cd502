/*
 * Sorted sets: ZADD and friends, with Redis 7.0's semantics, errors, reply
 * shapes and encodings.
 *
 * Encodings (OBJECT ENCODING compares them with Redis, so the rules are
 * Redis 7.0's):
 *
 *   listpack  a pack (src/keyspace/pack.h) of alternating member and score
 *             entries, sorted by (score, member):
 *
 *               [ m0 | s0 | m1 | s1 | ... ]      s0 <= s1 <= ...
 *
 *             The score is kept as text in Redis's d2string() form: an
 *             integral value within +-2^62 prints as an integer (so -0
 *             becomes "0"), anything else as %.17g, which reads back to the
 *             same double. ZSCAN replies this text verbatim, as Redis does.
 *   skiplist  a dict member -> score (DICT_VAL_DOUBLE) for O(1) lookups, and
 *             a skiplist ordered by (score, member) whose links carry spans,
 *             so ranks are O(log n). A node points at its member's dict
 *             entry instead of copying the member:
 *
 *               header --L2-----------------------> n3 -----> NULL
 *               header --L1--------> n1 ----------> n3 -----> NULL
 *               header --L0--> n0 -> n1 --> n2 ---> n3 -----> NULL
 *                     NULL <-- n0 <- n1 <-- n2 <--- n3  (backward, L0 only)
 *               n->de: dict entry holding the member bytes and the score
 *
 * A sorted set starts as a listpack and becomes a skiplist when it would
 * hold more than zset-max-listpack-entries members or a member longer than
 * zset-max-listpack-value bytes. Removing members never converts back. New
 * results are built as Redis builds them: Z{UNION,INTER,DIFF}STORE as a
 * sorted array turned into whichever encoding the final size calls for,
 * ZRANGESTORE member by member in reply order (a listpack unless a rank
 * range is known to be too long). The difference shows only in -0: a
 * listpack keeps it as "0", a skiplist keeps the sign.
 *
 * Range commands (by rank, score or lex, either direction, LIMIT) are all
 * reduced to "start at rank r, walk n elements forward or backward": the
 * reply length is known before the first element is sent (no deferred
 * lengths). Finding the start and counting follow Redis's own walk, so even
 * lex ranges over members with different scores (where Redis documents the
 * result as unspecified) give the listpack answer Redis gives.
 *
 * Plain sets are valid inputs of ZUNION/ZINTER/ZDIFF (members score 1).
 * Their layout belongs to t_set.c, which exports set_type_card(),
 * set_type_contains() and set_type_foreach() for this.
 *
 * Invariants (ZOBJ_CHECK, run on every value written when built with
 * -DSURGE_ZSET_CHECKS): in a listpack the (score, member) pairs are
 * strictly increasing and no score text is NaN; in a skiplist, length ==
 * dict size, every node's score equals its dict entry's, nodes are strictly
 * increasing, backward links mirror forward ones, and the rank computed
 * from the spans of every level is each node's position.
 */
#include "../server/config.h"
#include "../server/server.h"
#include "../persist/serialize.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERR_NAN_SCORE   "ERR resulting score is not a number (NaN)"
#define ERR_MINMAX      "ERR min or max is not a float"
#define ERR_LEX_RANGE   "ERR min or max not valid string range item"
#define ERR_POSITIVE    "ERR value is out of range, must be positive"
#define ERR_WEIGHT      "ERR weight value is not a float"
#define ZSCAN_MAX_COUNT (1LL << 40)  /* keeps count * 10 from wrapping */
#define PACK_MAX_BYTES  (1ULL << 30) /* Redis's listpack safety limit */

/* ------------------------------------------------------------------------
 * Numbers and member order
 * ------------------------------------------------------------------------ */

/* Redis 7.0's d2string(): the text a listpack keeps for a score. */
static int score_to_text(char *buf, size_t len, double v) {
    if (isnan(v)) return snprintf(buf, len, "nan");
    if (isinf(v)) return snprintf(buf, len, v > 0 ? "inf" : "-inf");
    if (v >= (double)(-LLONG_MAX / 2) && v <= (double)(LLONG_MAX / 2)) {
        long long ll = (long long)v;
        if ((double)ll == v) return sg_ll2str(buf, len, ll);
    }
    return snprintf(buf, len, "%.17g", v);
}

static double text_to_score(const char *s, size_t n) {
    char buf[64];
    if (n >= sizeof(buf)) n = sizeof(buf) - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return strtod(buf, NULL);
}

/* Binary-safe member order (Redis's sdscmp). */
static int lexcmp(const char *a, size_t an, const char *b, size_t bn) {
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int elcmp(double s1, const char *m1, size_t n1, double s2, const char *m2, size_t n2) {
    if (s1 < s2) return -1;
    if (s1 > s2) return 1;
    return lexcmp(m1, n1, m2, n2);
}

/* ------------------------------------------------------------------------
 * Range specifications: [min, max] by score or by member
 * ------------------------------------------------------------------------ */

typedef struct zspec {
    bool lex;
    bool minex, maxex;
    double min, max;              /* by score */
    const char *lmin, *lmax;      /* by lex: bound bytes */
    size_t lminn, lmaxn;          /* ... and lengths */
    signed char lmininf, lmaxinf; /* -1 "-", +1 "+", 0 a string */
} zspec;

/* Redis's zslParseRange(): strtod() on the NUL-terminated argument, so
 * leading spaces, "" (0), hex and "inf" pass, "nan" and trailing bytes do
 * not. A leading '(' makes the bound exclusive. */
static bool parse_score_bound(const char *s, double *v, bool *ex) {
    char *end;
    *ex = s[0] == '(';
    if (*ex) s++;
    *v = strtod(s, &end);
    return *end == '\0' && !isnan(*v);
}

static bool parse_score_range(client *c, int imin, int imax, zspec *r) {
    memset(r, 0, sizeof(*r));
    return parse_score_bound(c->argv[imin], &r->min, &r->minex) &&
           parse_score_bound(c->argv[imax], &r->max, &r->maxex);
}

/* Redis's zslParseLexRangeItem(): "-", "+", "(bytes" or "[bytes". */
static bool parse_lex_bound(const char *s, size_t n, const char **b, size_t *bn, signed char *inf,
                            bool *ex) {
    *b = NULL;
    *bn = 0;
    *inf = 0;
    switch (s[0]) {
    case '+':
    case '-':
        if (s[1] != '\0') return false;
        *inf = s[0] == '+' ? 1 : -1;
        *ex = true;
        return true;
    case '(':
    case '[':
        *ex = s[0] == '(';
        *b = s + 1;
        *bn = n - 1;
        return true;
    default:
        return false;
    }
}

static bool parse_lex_range(client *c, int imin, int imax, zspec *r) {
    memset(r, 0, sizeof(*r));
    r->lex = true;
    return parse_lex_bound(c->argv[imin], c->argvlen[imin], &r->lmin, &r->lminn, &r->lmininf,
                           &r->minex) &&
           parse_lex_bound(c->argv[imax], c->argvlen[imax], &r->lmax, &r->lmaxn, &r->lmaxinf,
                           &r->maxex);
}

/* Compares a member with a lex bound ("-" is below everything, "+" above). */
static int lex_vs_bound(const char *m, size_t n, const char *b, size_t bn, signed char inf) {
    if (inf) return -inf;
    return lexcmp(m, n, b, bn);
}

static bool spec_gte_min(const zspec *r, double s, const char *m, size_t n) {
    if (r->lex) {
        int cmp = lex_vs_bound(m, n, r->lmin, r->lminn, r->lmininf);
        return r->minex ? cmp > 0 : cmp >= 0;
    }
    return r->minex ? s > r->min : s >= r->min;
}

static bool spec_lte_max(const zspec *r, double s, const char *m, size_t n) {
    if (r->lex) {
        int cmp = lex_vs_bound(m, n, r->lmax, r->lmaxn, r->lmaxinf);
        return r->maxex ? cmp < 0 : cmp <= 0;
    }
    return r->maxex ? s < r->max : s <= r->max;
}

/* Ranges that can hold nothing (min above max, or equal and exclusive). */
static bool spec_empty(const zspec *r) {
    if (!r->lex) return r->min > r->max || (r->min == r->max && (r->minex || r->maxex));
    int cmp;
    if (r->lmininf && r->lmininf == r->lmaxinf)
        cmp = 0;
    else if (r->lmininf == -1 || r->lmaxinf == 1)
        cmp = -1;
    else if (r->lmininf == 1 || r->lmaxinf == -1)
        cmp = 1;
    else
        cmp = lexcmp(r->lmin, r->lminn, r->lmax, r->lmaxn);
    return cmp > 0 || (cmp == 0 && (r->minex || r->maxex));
}

/* ------------------------------------------------------------------------
 * Skiplist + dict
 * ------------------------------------------------------------------------ */

#define ZSL_MAXLEVEL 32

typedef struct zsl_node zsl_node;
typedef struct zsl_level {
    zsl_node *forward;
    unsigned long span; /* elements crossed by following forward */
    /* The forward node's score: a search decides to stop at this level
     * without loading the forward node, which in a large set is a cache
     * miss. At each level a search ends on one such failed comparison; the
     * copy spares it for 8 bytes per level (2 levels per node on average,
     * see random_level). The node itself keeps no score: its entry has it. */
    double fscore;
} zsl_level;

struct zsl_node {
    dict_entry *de; /* member bytes and score; NULL in the header */
    zsl_node *backward;
    zsl_level level[];
};

typedef struct zset {
    dict *d;
    zsl_node *header, *tail;
    unsigned long length;
    int level;
} zset;

static inline const char *node_member(const zsl_node *x, size_t *n) {
    *n = x->de->klen;
    return x->de->key;
}

static inline double node_score(const zsl_node *x) {
    return x->de->v.d;
}

static inline int node_cmp(const zsl_node *x, double s, const char *m, size_t n) {
    return elcmp(node_score(x), x->de->key, x->de->klen, s, m, n);
}

/* Whether x's forward at level i sorts before (s, m): the cached score
 * decides unless it ties, and only a tie reads the forward node's member. */
static inline bool fwd_before(const zsl_node *x, int i, double s, const char *m, size_t n) {
    const zsl_node *f = x->level[i].forward;
    if (!f) return false;
    double fs = x->level[i].fscore;
    if (fs < s) return true;
    if (fs > s) return false;
    return node_cmp(f, s, m, n) < 0;
}

/* 8-byte aligned blocks: a one-level node takes 40 bytes, not 48. */
static zsl_node *node_new(int level, dict_entry *de) {
    zsl_node *x = sg_malloc_align8(sizeof(zsl_node) + (size_t)level * sizeof(zsl_level));
    x->de = de;
    x->backward = NULL;
    for (int i = 0; i < level; i++) {
        x->level[i].forward = NULL;
        x->level[i].span = 0;
        x->level[i].fscore = 0;
    }
    return x;
}

static zset *zset_new(void) {
    zset *zs = sg_malloc(sizeof(zset));
    zs->d = dict_new(DICT_VAL_DOUBLE);
    zs->header = node_new(ZSL_MAXLEVEL, NULL);
    zs->tail = NULL;
    zs->length = 0;
    zs->level = 1;
    return zs;
}

static void zset_free(zset *zs) {
    zsl_node *x = zs->header->level[0].forward;
    while (x) {
        zsl_node *next = x->level[0].forward;
        sg_free(x);
        x = next;
    }
    sg_free(zs->header);
    dict_free(zs->d);
    sg_free(zs);
}

/* 1 + the number of coin flips with p = 1/2 that came up heads. Redis uses
 * p = 1/4. With the forward scores cached in the levels, a search pays a
 * cache miss only for each step forward, and the expected steps per level
 * are (1-p)/p: 1 at p = 1/2 against 3 at 1/4 over twice the levels, which
 * measured as 10% less CPU per ZADD into a 100,000-member set. The price
 * is 2 levels per node on average instead of 1.33 (docs/performance.md). */
static int random_level(void) {
    int level = 1;
    while (level < ZSL_MAXLEVEL && (sg_rand64() & 1)) level++;
    return level;
}

/* Links node n (its entry's score set, `level` levels allocated) at its
 * place. */
static void zsl_link(zset *zs, zsl_node *n, int level) {
    zsl_node *update[ZSL_MAXLEVEL], *x = zs->header;
    unsigned long rank[ZSL_MAXLEVEL];
    double score = node_score(n);
    const dict_entry *de = n->de;
    for (int i = zs->level - 1; i >= 0; i--) {
        rank[i] = i == zs->level - 1 ? 0 : rank[i + 1];
        while (fwd_before(x, i, score, de->key, de->klen)) {
            rank[i] += x->level[i].span;
            x = x->level[i].forward;
        }
        update[i] = x;
    }
    if (level > zs->level) {
        for (int i = zs->level; i < level; i++) {
            rank[i] = 0;
            update[i] = zs->header;
            update[i]->level[i].span = zs->length;
        }
        zs->level = level;
    }
    x = n;
    for (int i = 0; i < level; i++) {
        x->level[i].forward = update[i]->level[i].forward;
        x->level[i].fscore = update[i]->level[i].fscore;
        update[i]->level[i].forward = x;
        update[i]->level[i].fscore = score;
        x->level[i].span = update[i]->level[i].span - (rank[0] - rank[i]);
        update[i]->level[i].span = (rank[0] - rank[i]) + 1;
    }
    for (int i = level; i < zs->level; i++) update[i]->level[i].span++;
    x->backward = update[0] == zs->header ? NULL : update[0];
    if (x->level[0].forward)
        x->level[0].forward->backward = x;
    else
        zs->tail = x;
    zs->length++;
}

/* Inserts a node for de, at de's score. */
static zsl_node *zsl_insert(zset *zs, dict_entry *de) {
    int level = random_level();
    zsl_node *x = node_new(level, de);
    zsl_link(zs, x, level);
    return x;
}

/* Unlinks x, whose predecessors at every level are in update[]. */
static void zsl_unlink(zset *zs, zsl_node *x, zsl_node **update) {
    for (int i = 0; i < zs->level; i++) {
        if (update[i]->level[i].forward == x) {
            update[i]->level[i].span += x->level[i].span - 1;
            update[i]->level[i].forward = x->level[i].forward;
            update[i]->level[i].fscore = x->level[i].fscore;
        } else {
            update[i]->level[i].span -= 1;
        }
    }
    if (x->level[0].forward)
        x->level[0].forward->backward = x->backward;
    else
        zs->tail = x->backward;
    while (zs->level > 1 && !zs->header->level[zs->level - 1].forward) zs->level--;
    zs->length--;
}

/* Fills update[] with the last node before (score, m) at each level and
 * returns the node at or after it. */
static zsl_node *zsl_find(zset *zs, double score, const char *m, size_t n, zsl_node **update) {
    zsl_node *x = zs->header;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (fwd_before(x, i, score, m, n)) x = x->level[i].forward;
        update[i] = x;
    }
    return x->level[0].forward;
}

/* Adds a member that is not present. */
static void zset_insert_new(zset *zs, const char *m, size_t n, double score) {
    bool created;
    dict_entry *de = dict_add(zs->d, m, n, &created);
    sg_assert(created);
    de->v.d = score;
    zsl_insert(zs, de);
}

static bool zset_delete(zset *zs, const char *m, size_t n) {
    dict_entry *de = dict_find(zs->d, m, n);
    if (!de) return false;
    zsl_node *update[ZSL_MAXLEVEL];
    zsl_node *x = zsl_find(zs, de->v.d, m, n, update);
    sg_assert(x && x->de == de);
    zsl_unlink(zs, x, update);
    sg_free(x);
    dict_delete(zs->d, m, n);
    return true;
}

/* Moves de's node to newscore, in place when its neighbours allow it. */
static void zset_update_score(zset *zs, dict_entry *de, double newscore) {
    zsl_node *update[ZSL_MAXLEVEL];
    zsl_node *x = zsl_find(zs, de->v.d, de->key, de->klen, update);
    sg_assert(x && x->de == de);
    int level = 0; /* x's levels: those where its predecessor points at it */
    while (level < zs->level && update[level]->level[level].forward == x) level++;
    /* The forward check first: it reads x alone, the backward one another
     * node's entry. */
    if ((!x->level[0].forward || x->level[0].fscore > newscore) &&
        (!x->backward || node_score(x->backward) < newscore)) {
        for (int i = 0; i < level; i++) update[i]->level[i].fscore = newscore;
        de->v.d = newscore;
        return;
    }
    /* Moved: the node goes to its new place with its levels, as in Redis. */
    zsl_unlink(zs, x, update);
    de->v.d = newscore;
    zsl_link(zs, x, level);
}

/* 1-based rank of (score, m), or 0. */
static unsigned long zsl_rank(const zset *zs, double score, const char *m, size_t n) {
    zsl_node *x = zs->header;
    unsigned long rank = 0;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (x->level[i].forward && node_cmp(x->level[i].forward, score, m, n) <= 0) {
            rank += x->level[i].span;
            x = x->level[i].forward;
        }
        if (x != zs->header && node_cmp(x, score, m, n) == 0) return rank;
    }
    return 0;
}

/* The node of 1-based rank, or NULL. */
static zsl_node *zsl_by_rank(const zset *zs, unsigned long rank) {
    zsl_node *x = zs->header;
    unsigned long traversed = 0;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (x->level[i].forward && traversed + x->level[i].span <= rank) {
            traversed += x->level[i].span;
            x = x->level[i].forward;
        }
        if (traversed == rank) return x == zs->header ? NULL : x;
    }
    return NULL;
}

static bool zsl_in_range(const zset *zs, const zspec *r) {
    if (spec_empty(r)) return false;
    const zsl_node *x = zs->tail;
    size_t n;
    const char *m;
    if (!x) return false;
    m = node_member(x, &n);
    if (!spec_gte_min(r, node_score(x), m, n)) return false;
    x = zs->header->level[0].forward;
    m = node_member(x, &n);
    return spec_lte_max(r, node_score(x), m, n);
}

/* First node in range and its 1-based rank, or NULL. */
static zsl_node *zsl_first_in_range(const zset *zs, const zspec *r, unsigned long *rank) {
    if (!zsl_in_range(zs, r)) return NULL;
    zsl_node *x = zs->header;
    unsigned long rk = 0;
    size_t n;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (x->level[i].forward) {
            zsl_node *f = x->level[i].forward;
            const char *m = node_member(f, &n);
            if (spec_gte_min(r, node_score(f), m, n)) break;
            rk += x->level[i].span;
            x = f;
        }
    }
    x = x->level[0].forward;
    sg_assert(x);
    const char *m = node_member(x, &n);
    if (!spec_lte_max(r, node_score(x), m, n)) return NULL;
    *rank = rk + 1;
    return x;
}

/* Last node in range and its 1-based rank, or NULL. */
static zsl_node *zsl_last_in_range(const zset *zs, const zspec *r, unsigned long *rank) {
    if (!zsl_in_range(zs, r)) return NULL;
    zsl_node *x = zs->header;
    unsigned long rk = 0;
    size_t n;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (x->level[i].forward) {
            zsl_node *f = x->level[i].forward;
            const char *m = node_member(f, &n);
            if (!spec_lte_max(r, node_score(f), m, n)) break;
            rk += x->level[i].span;
            x = f;
        }
    }
    sg_assert(x != zs->header);
    const char *m = node_member(x, &n);
    if (!spec_gte_min(r, node_score(x), m, n)) return NULL;
    *rank = rk;
    return x;
}

/* Deletes count nodes starting at 1-based rank start. */
static void zsl_delete_ranks(zset *zs, unsigned long start, unsigned long count) {
    zsl_node *update[ZSL_MAXLEVEL], *x = zs->header;
    unsigned long traversed = 0;
    for (int i = zs->level - 1; i >= 0; i--) {
        while (x->level[i].forward && traversed + x->level[i].span < start) {
            traversed += x->level[i].span;
            x = x->level[i].forward;
        }
        update[i] = x;
    }
    x = x->level[0].forward;
    while (x && count--) {
        zsl_node *next = x->level[0].forward;
        zsl_unlink(zs, x, update);
        dict_delete(zs->d, x->de->key, x->de->klen); /* frees x->de */
        sg_free(x);
        x = next;
    }
}

#ifdef SURGE_ZSET_CHECKS
/* Consistency check of a skiplist-encoded set; false on any violation. */
static bool zset_check(const zset *zs) {
    if (zs->length != dict_size(zs->d)) return false;
    unsigned long rank = 0;
    const zsl_node *prev = NULL;
    for (const zsl_node *x = zs->header->level[0].forward; x; x = x->level[0].forward) {
        rank++;
        if (x->backward != prev || isnan(node_score(x))) return false;
        if (prev && node_cmp(prev, node_score(x), x->de->key, x->de->klen) >= 0) return false;
        if (dict_find(zs->d, x->de->key, x->de->klen) != x->de) return false;
        if (zsl_rank(zs, node_score(x), x->de->key, x->de->klen) != rank) return false;
        prev = x;
    }
    for (int i = 0; i < zs->level; i++) /* every level's cached forward scores */
        for (const zsl_node *x = zs->header; x->level[i].forward; x = x->level[i].forward)
            if (x->level[i].fscore != node_score(x->level[i].forward)) return false;
    return prev == zs->tail && rank == zs->length;
}
#endif

/* ------------------------------------------------------------------------
 * Listpack encoding
 * ------------------------------------------------------------------------ */

static inline double pk_score(const pack *p, size_t soff) {
    size_t n;
    const char *s = pack_get(p, soff, &n);
    return text_to_score(s, n);
}

/* Member entry offset of m, or PACK_END. */
static size_t pk_find(const pack *p, const char *m, size_t n) {
    return pack_find(p, pack_first(p), m, n, 1);
}

/* Inserts (m, score) at its sorted position; m must be absent. */
static pack *pk_insert(pack *p, const char *m, size_t n, double score) {
    size_t off = pack_first(p);
    while (off != PACK_END) {
        size_t so = pack_next(p, off), ml;
        const char *mm = pack_get(p, off, &ml);
        if (elcmp(pk_score(p, so), mm, ml, score, m, n) > 0) break;
        off = pack_next(p, so);
    }
    char buf[64];
    int bl = score_to_text(buf, sizeof(buf), score);
    size_t where;
    p = pack_insert(p, off, m, n, &where);
    return pack_insert(p, pack_next(p, where), buf, (size_t)bl, NULL);
}

#ifdef SURGE_ZSET_CHECKS
/* Consistency of a listpack-encoded set: pairs, strictly increasing. */
static bool pk_check(const pack *p) {
    if (pack_count(p) % 2) return false;
    double prevs = 0;
    const char *prevm = NULL;
    size_t prevn = 0;
    for (size_t off = pack_first(p); off != PACK_END;) {
        size_t n, so = pack_next(p, off);
        const char *m = pack_get(p, off, &n);
        double s = pk_score(p, so);
        if (isnan(s)) return false;
        if (prevm && elcmp(prevs, prevm, prevn, s, m, n) >= 0) return false;
        prevs = s;
        prevm = m;
        prevn = n;
        off = pack_next(p, so);
    }
    return true;
}
#endif

/* ------------------------------------------------------------------------
 * Encoding-independent sorted set value
 * ------------------------------------------------------------------------ */

typedef struct zobj {
    int enc;   /* ENC_LISTPACK or ENC_SKIPLIST */
    void *ptr; /* pack * or zset * */
} zobj;

/* Aborts with context when z breaks the invariants above. Compiled in only
 * with SURGE_ZSET_CHECKS: the skiplist check is O(n log n). */
#ifdef SURGE_ZSET_CHECKS
#define ZOBJ_CHECK(z)                                                                              \
    sg_assert((z)->enc == ENC_LISTPACK ? pk_check((z)->ptr) : zset_check((z)->ptr))
#else
#define ZOBJ_CHECK(z) ((void)0)
#endif

static inline zobj zobj_of(const kentry *e) {
    return (zobj){kentry_enc(e), kentry_ptr(e)};
}

static inline unsigned long zobj_len(const zobj *z) {
    return z->enc == ENC_LISTPACK ? pack_count(z->ptr) / 2 : ((zset *)z->ptr)->length;
}

static void zobj_free(zobj *z) {
    if (z->enc == ENC_LISTPACK)
        pack_free(z->ptr);
    else
        zset_free(z->ptr);
    z->ptr = NULL;
}

static void zobj_to_skiplist(zobj *z) {
    if (z->enc == ENC_SKIPLIST) return;
    pack *p = z->ptr;
    zset *zs = zset_new();
    for (size_t off = pack_first(p); off != PACK_END;) {
        size_t so = pack_next(p, off), n;
        const char *m = pack_get(p, off, &n);
        zset_insert_new(zs, m, n, pk_score(p, so));
        off = pack_next(p, so);
    }
    pack_free(p);
    z->enc = ENC_SKIPLIST;
    z->ptr = zs;
}

/* Whether a set of count members, the longest maxlen bytes, fits a listpack. */
static bool fits_listpack(unsigned long count, size_t maxlen, size_t totlen) {
    return count <= (unsigned long long)cfg.zset_max_listpack_entries &&
           maxlen <= (unsigned long long)cfg.zset_max_listpack_value && totlen < PACK_MAX_BYTES;
}

static bool zobj_score(const zobj *z, const char *m, size_t n, double *score) {
    if (z->enc == ENC_LISTPACK) {
        const pack *p = z->ptr;
        size_t off = pk_find(p, m, n);
        if (off == PACK_END) return false;
        *score = pk_score(p, pack_next(p, off));
        return true;
    }
    dict_entry *de = dict_find(((zset *)z->ptr)->d, m, n);
    if (!de) return false;
    *score = de->v.d;
    return true;
}

/* 0-based rank of m (from the top when rev), or -1; *score gets its score. */
static long zobj_rank(const zobj *z, const char *m, size_t n, bool rev, double *score) {
    unsigned long len = zobj_len(z), rank;
    if (z->enc == ENC_LISTPACK) {
        const pack *p = z->ptr;
        rank = 0;
        size_t off = pack_first(p);
        for (; off != PACK_END; rank++) {
            size_t ml;
            const char *mm = pack_get(p, off, &ml);
            size_t so = pack_next(p, off);
            if (ml == n && memcmp(mm, m, n) == 0) {
                *score = pk_score(p, so);
                break;
            }
            off = pack_next(p, so);
        }
        if (off == PACK_END) return -1;
    } else {
        zset *zs = z->ptr;
        dict_entry *de = dict_find(zs->d, m, n);
        if (!de) return -1;
        *score = de->v.d;
        rank = zsl_rank(zs, de->v.d, m, n);
        sg_assert(rank);
        rank--;
    }
    return (long)(rev ? len - 1 - rank : rank);
}

enum { ZA_NX = 1, ZA_XX = 2, ZA_GT = 4, ZA_LT = 8, ZA_INCR = 16 };
enum { ZA_OUT_NOP = 1, ZA_OUT_NAN = 2, ZA_OUT_ADDED = 4, ZA_OUT_UPDATED = 8 };

/* Redis's zsetAdd(): adds or updates m under the ZA_* flags, converting a
 * listpack that would outgrow its limits. Returns false (and ZA_OUT_NAN)
 * when the resulting score would be NaN; *newscore gets the score stored
 * unless the call was a no-op. */
static bool zobj_add(zobj *z, double score, const char *m, size_t n, int flags, int *out,
                     double *newscore) {
    bool incr = flags & ZA_INCR, nx = flags & ZA_NX, xx = flags & ZA_XX;
    bool gt = flags & ZA_GT, lt = flags & ZA_LT;
    *out = 0;
    if (isnan(score)) {
        *out = ZA_OUT_NAN;
        return false;
    }
    if (z->enc == ENC_LISTPACK) {
        pack *p = z->ptr;
        size_t off = pk_find(p, m, n);
        if (off != PACK_END) {
            if (nx) {
                *out = ZA_OUT_NOP;
                return true;
            }
            double cur = pk_score(p, pack_next(p, off));
            if (incr) {
                score += cur;
                if (isnan(score)) {
                    *out = ZA_OUT_NAN;
                    return false;
                }
            }
            if ((lt && score >= cur) || (gt && score <= cur)) {
                *out = ZA_OUT_NOP;
                return true;
            }
            *newscore = score;
            if (score != cur) {
                p = pack_delete(p, off, 2, NULL);
                z->ptr = pk_insert(p, m, n, score);
                *out = ZA_OUT_UPDATED;
            }
            return true;
        }
        if (xx) {
            *out = ZA_OUT_NOP;
            return true;
        }
        if (zobj_len(z) + 1 > (unsigned long long)cfg.zset_max_listpack_entries ||
            n > (unsigned long long)cfg.zset_max_listpack_value ||
            pack_bytes(p) + n + 64 >= PACK_MAX_BYTES) {
            zobj_to_skiplist(z);
        } else {
            z->ptr = pk_insert(p, m, n, score);
            *newscore = score;
            *out = ZA_OUT_ADDED;
            return true;
        }
    }
    zset *zs = z->ptr;
    dict_entry *de = dict_find(zs->d, m, n);
    if (de) {
        if (nx) {
            *out = ZA_OUT_NOP;
            return true;
        }
        double cur = de->v.d;
        if (incr) {
            score += cur;
            if (isnan(score)) {
                *out = ZA_OUT_NAN;
                return false;
            }
        }
        if ((lt && score >= cur) || (gt && score <= cur)) {
            *out = ZA_OUT_NOP;
            return true;
        }
        *newscore = score;
        if (score != cur) {
            zset_update_score(zs, de, score);
            *out = ZA_OUT_UPDATED;
        }
        return true;
    }
    if (xx) {
        *out = ZA_OUT_NOP;
        return true;
    }
    zset_insert_new(zs, m, n, score);
    *newscore = score;
    *out = ZA_OUT_ADDED;
    return true;
}

static bool zobj_delete(zobj *z, const char *m, size_t n) {
    if (z->enc == ENC_LISTPACK) {
        size_t off = pk_find(z->ptr, m, n);
        if (off == PACK_END) return false;
        z->ptr = pack_delete(z->ptr, off, 2, NULL);
        return true;
    }
    return zset_delete(z->ptr, m, n);
}

/* Deletes count elements from 0-based rank start. */
static void zobj_delete_ranks(zobj *z, unsigned long start, unsigned long count) {
    if (!count) return;
    if (z->enc == ENC_LISTPACK) {
        size_t off = pack_seek(z->ptr, (long long)start * 2);
        sg_assert(off != PACK_END);
        z->ptr = pack_delete(z->ptr, off, count * 2, NULL);
    } else {
        zsl_delete_ranks(z->ptr, start + 1, count);
    }
}

/* ---- iteration by rank ---- */

typedef struct zit {
    const zobj *z;
    size_t off;     /* listpack: the member entry */
    zsl_node *node; /* skiplist */
} zit;

/* Positions it at 0-based rank; false when out of range. */
static bool zit_seek(zit *it, const zobj *z, unsigned long rank) {
    it->z = z;
    it->off = PACK_END;
    it->node = NULL;
    if (rank >= zobj_len(z)) return false;
    if (z->enc == ENC_LISTPACK)
        it->off = pack_seek(z->ptr, (long long)rank * 2);
    else
        it->node = zsl_by_rank(z->ptr, rank + 1);
    return true;
}

static inline bool zit_valid(const zit *it) {
    return it->z->enc == ENC_LISTPACK ? it->off != PACK_END : it->node != NULL;
}

static inline const char *zit_member(const zit *it, size_t *n) {
    if (it->z->enc == ENC_LISTPACK) return pack_get(it->z->ptr, it->off, n);
    return node_member(it->node, n);
}

static inline double zit_score(const zit *it) {
    if (it->z->enc == ENC_LISTPACK) return pk_score(it->z->ptr, pack_next(it->z->ptr, it->off));
    return node_score(it->node);
}

static void zit_step(zit *it, bool rev) {
    if (it->z->enc == ENC_LISTPACK) {
        const pack *p = it->z->ptr;
        if (rev) {
            size_t s = pack_prev(p, it->off);
            it->off = s == PACK_END ? PACK_END : pack_prev(p, s);
        } else {
            size_t s = pack_next(p, it->off);
            it->off = s == PACK_END ? PACK_END : pack_next(p, s);
        }
    } else {
        it->node = rev ? it->node->backward : it->node->level[0].forward;
    }
}

/* ---- ranges ---- */

/* Redis's zzlIsInRange()/zslIsInRange(): the range is not trivially empty,
 * the last element is >= min and the first is <= max. */
static bool zobj_in_range(const zobj *z, const zspec *r) {
    if (z->enc == ENC_SKIPLIST) return zsl_in_range(z->ptr, r);
    if (spec_empty(r) || !zobj_len(z)) return false;
    zit it;
    size_t n;
    zit_seek(&it, z, zobj_len(z) - 1);
    const char *m = zit_member(&it, &n);
    if (!spec_gte_min(r, zit_score(&it), m, n)) return false;
    zit_seek(&it, z, 0);
    m = zit_member(&it, &n);
    return spec_lte_max(r, zit_score(&it), m, n);
}

/* 0-based rank of the first (or with rev the last) element in range, or -1.
 * The walk is Redis's: from the head for the first element >= min (which
 * must also be <= max), from the tail for the last element <= max. */
static long zobj_range_start(const zobj *z, const zspec *r, bool rev) {
    if (z->enc == ENC_SKIPLIST) {
        unsigned long rank;
        zsl_node *x =
            rev ? zsl_last_in_range(z->ptr, r, &rank) : zsl_first_in_range(z->ptr, r, &rank);
        return x ? (long)rank - 1 : -1;
    }
    if (!zobj_in_range(z, r)) return -1;
    unsigned long len = zobj_len(z);
    zit it;
    zit_seek(&it, z, rev ? len - 1 : 0);
    for (long rank = rev ? (long)len - 1 : 0; zit_valid(&it); rank += rev ? -1 : 1) {
        size_t n;
        const char *m = zit_member(&it, &n);
        double s = zit_score(&it);
        if (rev ? spec_lte_max(r, s, m, n) : spec_gte_min(r, s, m, n))
            return (rev ? spec_gte_min(r, s, m, n) : spec_lte_max(r, s, m, n)) ? rank : -1;
        zit_step(&it, rev);
    }
    return -1;
}

/* How many elements, walking from rank pos in the given direction, stay in
 * range (checking only the bound ahead, as Redis does), at most limit
 * (negative: no limit). */
static unsigned long zobj_range_run(const zobj *z, const zspec *r, long pos, bool rev, long limit) {
    unsigned long count = 0;
    if (z->enc == ENC_SKIPLIST) {
        unsigned long rank;
        if (rev) {
            if (zsl_first_in_range(z->ptr, r, &rank) && (long)rank - 1 <= pos)
                count = (unsigned long)(pos - ((long)rank - 1) + 1);
        } else {
            if (zsl_last_in_range(z->ptr, r, &rank) && (long)rank - 1 >= pos)
                count = (unsigned long)((long)rank - 1 - pos + 1);
        }
        if (limit >= 0 && count > (unsigned long)limit) count = (unsigned long)limit;
        return count;
    }
    zit it;
    if (!zit_seek(&it, z, (unsigned long)pos)) return 0;
    while (zit_valid(&it) && (limit < 0 || count < (unsigned long)limit)) {
        size_t n;
        const char *m = zit_member(&it, &n);
        double s = zit_score(&it);
        if (!(rev ? spec_gte_min(r, s, m, n) : spec_lte_max(r, s, m, n))) break;
        count++;
        zit_step(&it, rev);
    }
    return count;
}

/* ------------------------------------------------------------------------
 * Building result sets (ZRANGESTORE, Z*STORE)
 * ------------------------------------------------------------------------ */

typedef struct zel {
    const char *m;
    size_t n;
    double score;
} zel;

typedef struct zel_vec {
    zel *v;
    size_t n, cap;
    size_t maxlen, totlen;
} zel_vec;

static void zv_push(zel_vec *v, const char *m, size_t n, double score) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->v = sg_realloc(v->v, v->cap * sizeof(zel));
    }
    v->v[v->n++] = (zel){m, n, score};
    if (n > v->maxlen) v->maxlen = n;
    v->totlen += n + 24;
}

static int zel_cmp(const void *a, const void *b) {
    const zel *x = a, *y = b;
    return elcmp(x->score, x->m, x->n, y->score, y->m, y->n);
}

/* A new sorted set holding v's elements (distinct members, in ascending
 * order), encoded as its final size calls for: Redis builds these results
 * as skiplists and converts them to a listpack when they fit. */
static zobj zobj_build(const zel_vec *v) {
    zobj z;
    if (fits_listpack(v->n, v->maxlen, v->totlen)) {
        pack *p = pack_new();
        for (size_t i = 0; i < v->n; i++) {
            const zel *e = &v->v[i];
            char buf[64];
            int bl = score_to_text(buf, sizeof(buf), e->score);
            p = pack_append(p, e->m, e->n);
            p = pack_append(p, buf, (size_t)bl);
        }
        z.enc = ENC_LISTPACK;
        z.ptr = p;
    } else {
        zset *zs = zset_new();
        for (size_t i = 0; i < v->n; i++) zset_insert_new(zs, v->v[i].m, v->v[i].n, v->v[i].score);
        z.enc = ENC_SKIPLIST;
        z.ptr = zs;
    }
    return z;
}

/* Stores z at argv[dstidx] (replacing any value and TTL, as SET does) and
 * replies its size; an empty result deletes the destination and replies 0.
 * Takes ownership of z. */
static void store_result_and_reply(client *c, int dstidx, zobj *z, const char *event) {
    const char *key = c->argv[dstidx];
    size_t klen = c->argvlen[dstidx];
    kref r;
    kentry *old = kdb_lookup_write(c->db, key, klen, &r);
    unsigned long len = z->ptr ? zobj_len(z) : 0;
    if (!len) {
        if (z->ptr) zobj_free(z);
        reply_int(c, 0);
        if (old) {
            kdb_delete(&r);
            server_key_modified(c, c->db, key, klen);
            notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, key, klen);
            server_dirty(c->srv, 1);
        }
        return;
    }
    ZOBJ_CHECK(z);
    kentry *ne = kentry_new_ptr(key, klen, OBJ_ZSET, z->enc, z->ptr, -1);
    if (old) {
        kdb_replace(&r, ne);
        kentry_free(old);
    } else {
        kdb_add(c->db, ne);
    }
    server_key_modified(c, c->db, key, klen);
    notify_keyspace_event(c->srv, NOTIFY_ZSET, event, c->dbid, key, klen);
    server_dirty(c->srv, 1);
    reply_int(c, (long long)len);
}

/* ------------------------------------------------------------------------
 * Keyspace hooks
 * ------------------------------------------------------------------------ */

static void zset_free_value(void *ptr, int enc) {
    zobj z = {enc, ptr};
    zobj_free(&z);
}

static void *zset_dup_value(const void *ptr, int enc) {
    if (enc == ENC_LISTPACK) return pack_dup(ptr);
    const zset *src = ptr;
    zset *zs = zset_new();
    for (const zsl_node *x = src->header->level[0].forward; x; x = x->level[0].forward)
        zset_insert_new(zs, x->de->key, x->de->klen, node_score(x));
    return zs;
}

static size_t zset_mem_value(const void *ptr, int enc) {
    if (enc == ENC_LISTPACK) return sg_alloc_size(ptr);
    const zset *zs = ptr;
    size_t n = sg_alloc_size(zs) + sg_alloc_size(zs->header) + dict_mem(zs->d);
    for (const zsl_node *x = zs->header->level[0].forward; x; x = x->level[0].forward)
        n += sg_alloc_size(x);
    return n;
}

/* Ordered digest: (member, score text) of each element, in order. */
static void zset_digest_value(const void *ptr, int enc, uint8_t out[20]) {
    zobj z = {enc, (void *)ptr};
    zit it;
    memset(out, 0, 20);
    if (!zit_seek(&it, &z, 0)) return;
    for (; zit_valid(&it); zit_step(&it, false)) {
        size_t n;
        const char *m = zit_member(&it, &n);
        char buf[64];
        int bl = score_to_text(buf, sizeof(buf), zit_score(&it));
        uint64_t len = n;
        ks_digest_mix(out, &len, sizeof(len));
        ks_digest_mix(out, m, n);
        ks_digest_mix(out, buf, (size_t)bl);
    }
}

static const ks_type_ops zset_type_ops = {
    .name = "zset",
    .free = zset_free_value,
    .dup = zset_dup_value,
    .mem = zset_mem_value,
    .digest = zset_digest_value,
};

void zset_type_register(void) {
    ks_register_type(OBJ_ZSET, &zset_type_ops);
}

/* ------------------------------------------------------------------------
 * Reply helpers
 * ------------------------------------------------------------------------ */

/* Array header for n elements, flat (member, score) pairs in RESP2 and
 * [member, score] arrays in RESP3 when withscores. */
static void reply_elements_header(client *c, unsigned long n, bool withscores) {
    reply_array(c, withscores && c->resp == 2 ? (long long)n * 2 : (long long)n);
}

static void reply_element(client *c, const char *m, size_t n, double score, bool withscores) {
    if (withscores && c->resp > 2) reply_array(c, 2);
    reply_bulk(c, m, n);
    if (withscores) reply_double(c, score);
}

/* Redis's getLongFromObjectOrReply() with an optional range and message. */
static bool arg_long_or_reply(client *c, int i, long min, long max, long *v, const char *msg) {
    long long ll;
    if (!sg_str2ll(c->argv[i], c->argvlen[i], &ll)) {
        reply_error(c, msg ? msg : ERR_NOT_INT);
        return false;
    }
    if (ll < min || ll > max) {
        if (msg)
            reply_error(c, msg);
        else
            reply_errorf(c, "ERR value is out of range, value must between %ld and %ld", min, max);
        return false;
    }
    *v = (long)ll;
    return true;
}

/* emptied: the write removed the key (zobj_commit), so "del" follows. */
static void key_changed(client *c, int keyidx, long long dirty, const char *event, bool emptied) {
    server_key_modified(c, c->db, c->argv[keyidx], c->argvlen[keyidx]);
    notify_keyspace_event(c->srv, NOTIFY_ZSET, event, c->dbid, c->argv[keyidx], c->argvlen[keyidx]);
    if (emptied)
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[keyidx],
                              c->argvlen[keyidx]);
    server_dirty(c->srv, dirty);
}

/* Writes z back into r's entry, or deletes the key when z is empty. */
static void zobj_commit(kref *r, zobj *z) {
    ZOBJ_CHECK(z);
    kentry_set_ptr(r->e, z->ptr);
    if (kentry_enc(r->e) != z->enc) kentry_set_enc(r->e, z->enc);
    if (!zobj_len(z)) kdb_delete(r);
}

/* ------------------------------------------------------------------------
 * ZADD ZINCRBY
 * ------------------------------------------------------------------------ */

static void zadd_generic(client *c, int flags) {
    int scoreidx = 2;
    bool ch = false;
    for (; scoreidx < c->argc; scoreidx++) {
        const char *o = c->argv[scoreidx];
        if (c->argvlen[scoreidx] > 4 || !isalpha((unsigned char)o[0])) break; /* a score */
        if (!strcasecmp(o, "nx"))
            flags |= ZA_NX;
        else if (!strcasecmp(o, "xx"))
            flags |= ZA_XX;
        else if (!strcasecmp(o, "ch"))
            ch = true;
        else if (!strcasecmp(o, "incr"))
            flags |= ZA_INCR;
        else if (!strcasecmp(o, "gt"))
            flags |= ZA_GT;
        else if (!strcasecmp(o, "lt"))
            flags |= ZA_LT;
        else
            break;
    }
    bool incr = flags & ZA_INCR, nx = flags & ZA_NX, xx = flags & ZA_XX;
    bool gt = flags & ZA_GT, lt = flags & ZA_LT;
    int elements = c->argc - scoreidx;
    if (elements % 2 || !elements) {
        reply_syntax_error(c);
        return;
    }
    elements /= 2;
    if (nx && xx) {
        reply_error(c, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if ((gt && nx) || (lt && nx) || (gt && lt)) {
        reply_error(c, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if (incr && elements > 1) {
        reply_error(c, "ERR INCR option supports a single increment-element pair");
        return;
    }
    double few[8]; /* the usual ZADD has one pair */
    double *scores = elements <= 8 ? few : sg_malloc(sizeof(double) * (size_t)elements);
    for (int j = 0; j < elements; j++) {
        int i = scoreidx + j * 2;
        if (!sg_str2d(c->argv[i], c->argvlen[i], &scores[j])) {
            reply_error(c, ERR_NOT_FLOAT);
            goto done;
        }
    }

    kref r;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_ZSET, &r, &wrong);
    if (wrong) goto done;
    long long added = 0, updated = 0, processed = 0;
    double score = 0;
    if (!e && xx) goto reply;
    zobj z = e ? zobj_of(e) : (zobj){ENC_LISTPACK, pack_new()};
    bool nan = false;
    for (int j = 0; j < elements; j++) {
        int out;
        double newscore = 0;
        int mi = scoreidx + 1 + j * 2;
        if (!zobj_add(&z, scores[j], c->argv[mi], c->argvlen[mi], flags, &out, &newscore)) {
            nan = true;
            break;
        }
        if (out & ZA_OUT_ADDED) added++;
        if (out & ZA_OUT_UPDATED) updated++;
        if (!(out & ZA_OUT_NOP)) processed++;
        score = newscore;
    }
    if (e) {
        zobj_commit(&r, &z);
    } else if (zobj_len(&z)) {
        ZOBJ_CHECK(&z);
        kdb_add(c->db, kentry_new_ptr(c->argv[1], c->argvlen[1], OBJ_ZSET, z.enc, z.ptr, -1));
    } else {
        zobj_free(&z);
    }
    if (added || updated) key_changed(c, 1, added + updated, incr ? "zincr" : "zadd", false);
    if (nan) {
        reply_error(c, ERR_NAN_SCORE);
        goto done;
    }
reply:
    if (incr) {
        if (processed)
            reply_double(c, score);
        else
            reply_null(c);
    } else {
        reply_int(c, ch ? added + updated : added);
    }
done:
    if (scores != few) sg_free(scores);
}

void zadd_command(client *c) {
    zadd_generic(c, 0);
}

void zincrby_command(client *c) {
    zadd_generic(c, ZA_INCR);
}

/* ------------------------------------------------------------------------
 * ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK
 * ------------------------------------------------------------------------ */

void zrem_command(client *c) {
    kref r;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_ZSET, &r, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    zobj z = zobj_of(e);
    long long deleted = 0;
    for (int j = 2; j < c->argc; j++) {
        if (zobj_delete(&z, c->argv[j], c->argvlen[j])) deleted++;
        if (!zobj_len(&z)) break;
    }
    bool emptied = !zobj_len(&z);
    zobj_commit(&r, &z);
    if (deleted) key_changed(c, 1, deleted, "zrem", emptied);
    reply_int(c, deleted);
}

void zcard_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    zobj z = zobj_of(e);
    reply_int(c, (long long)zobj_len(&z));
}

void zscore_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    double s;
    zobj z;
    if (e) z = zobj_of(e);
    if (!e || !zobj_score(&z, c->argv[2], c->argvlen[2], &s))
        reply_null(c);
    else
        reply_double(c, s);
}

void zmscore_command(client *c) {
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    zobj z;
    if (e) z = zobj_of(e);
    reply_array(c, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        double s;
        if (!e || !zobj_score(&z, c->argv[j], c->argvlen[j], &s))
            reply_null(c);
        else
            reply_double(c, s);
    }
}

/* ZRANK/ZREVRANK key member [WITHSCORE] (WITHSCORE is Redis 7.2's). */
static void zrank_generic(client *c, bool rev) {
    bool withscore = false;
    if (c->argc > 4) {
        reply_errorf(c, "ERR wrong number of arguments for '%s' command",
                     rev ? "zrevrank" : "zrank");
        return;
    }
    if (c->argc == 4) {
        if (!arg_is(c, 3, "withscore")) {
            reply_syntax_error(c);
            return;
        }
        withscore = true;
    }
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    double s = 0;
    long rank = -1;
    if (e) {
        zobj z = zobj_of(e);
        rank = zobj_rank(&z, c->argv[2], c->argvlen[2], rev, &s);
    }
    if (rank < 0) {
        if (withscore)
            reply_null_array(c);
        else
            reply_null(c);
        return;
    }
    if (withscore) reply_array(c, 2);
    reply_int(c, rank);
    if (withscore) reply_double(c, s);
}

void zrank_command(client *c) {
    zrank_generic(c, false);
}

void zrevrank_command(client *c) {
    zrank_generic(c, true);
}

/* ------------------------------------------------------------------------
 * ZCOUNT ZLEXCOUNT
 * ------------------------------------------------------------------------ */

static void zcount_generic(client *c, bool lex) {
    zspec r;
    if (lex ? !parse_lex_range(c, 2, 3, &r) : !parse_score_range(c, 2, 3, &r)) {
        reply_error(c, lex ? ERR_LEX_RANGE : ERR_MINMAX);
        return;
    }
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    zobj z = zobj_of(e);
    long start = zobj_range_start(&z, &r, false);
    reply_int(c, start < 0 ? 0 : (long long)zobj_range_run(&z, &r, start, false, -1));
}

void zcount_command(client *c) {
    zcount_generic(c, false);
}

void zlexcount_command(client *c) {
    zcount_generic(c, true);
}

/* ------------------------------------------------------------------------
 * ZRANGE and its variants, ZRANGESTORE
 * ------------------------------------------------------------------------ */

enum { ZR_AUTO, ZR_RANK, ZR_SCORE, ZR_LEX };
enum { ZD_AUTO, ZD_FORWARD, ZD_REVERSE };

/* Normalizes Redis-style start/end indexes against len: the range is
 * [*start, *end], empty when false is returned. */
static bool rank_range(long len, long *start, long *end) {
    if (*start < 0) *start = len + *start;
    if (*end < 0) *end = len + *end;
    if (*start < 0) *start = 0;
    if (*start > *end || *start >= len) return false;
    if (*end >= len) *end = len - 1;
    return true;
}

/* Redis's zrangeGenericCommand(): keyidx is the source key; dstidx the
 * destination of ZRANGESTORE or -1. type/dir are ZR_AUTO/ZD_AUTO when the
 * options may choose them. */
static void zrange_generic(client *c, int keyidx, int dstidx, int type, int dir) {
    bool store = dstidx >= 0, withscores = false;
    long offset = 0, limit = -1;
    int minidx = keyidx + 1, maxidx = keyidx + 2;
    for (int j = keyidx + 3; j < c->argc; j++) {
        int left = c->argc - j - 1;
        if (!store && arg_is(c, j, "withscores")) {
            withscores = true;
        } else if (arg_is(c, j, "limit") && left >= 2) {
            if (!arg_long_or_reply(c, j + 1, LONG_MIN, LONG_MAX, &offset, NULL) ||
                !arg_long_or_reply(c, j + 2, LONG_MIN, LONG_MAX, &limit, NULL))
                return;
            j += 2;
        } else if (dir == ZD_AUTO && arg_is(c, j, "rev")) {
            dir = ZD_REVERSE;
        } else if (type == ZR_AUTO && arg_is(c, j, "bylex")) {
            type = ZR_LEX;
        } else if (type == ZR_AUTO && arg_is(c, j, "byscore")) {
            type = ZR_SCORE;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (dir == ZD_AUTO) dir = ZD_FORWARD;
    if (type == ZR_AUTO) type = ZR_RANK;
    bool rev = dir == ZD_REVERSE;
    if (limit != -1 && type == ZR_RANK) {
        reply_error(c, "ERR syntax error, LIMIT is only supported in combination with either "
                       "BYSCORE or BYLEX");
        return;
    }
    if (withscores && type == ZR_LEX) {
        reply_error(c, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    if (rev && type != ZR_RANK) {
        int t = minidx;
        minidx = maxidx;
        maxidx = t;
    }
    long start = 0, end = 0;
    zspec r;
    if (type == ZR_RANK) {
        if (!arg_long_or_reply(c, minidx, LONG_MIN, LONG_MAX, &start, NULL) ||
            !arg_long_or_reply(c, maxidx, LONG_MIN, LONG_MAX, &end, NULL))
            return;
    } else if (type == ZR_SCORE) {
        if (!parse_score_range(c, minidx, maxidx, &r)) {
            reply_error(c, ERR_MINMAX);
            return;
        }
    } else if (!parse_lex_range(c, minidx, maxidx, &r)) {
        reply_error(c, ERR_LEX_RANGE);
        return;
    }

    bool wrong;
    kentry *e = lookup_read_typed(c, keyidx, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    /* Resolve to: n elements from 0-based rank pos, walking up or down. */
    long pos = 0;
    unsigned long n = 0;
    zobj z = {ENC_LISTPACK, NULL};
    if (e) {
        z = zobj_of(e);
        long len = (long)zobj_len(&z);
        if (type == ZR_RANK) {
            if (rank_range(len, &start, &end)) {
                pos = rev ? len - 1 - start : start;
                n = (unsigned long)(end - start + 1);
            }
        } else {
            long first = zobj_range_start(&z, &r, rev);
            /* A negative offset walks off the end in Redis: nothing. */
            if (first >= 0 && offset >= 0 && offset < len) {
                pos = rev ? first - offset : first + offset;
                if (pos >= 0 && pos < len) n = zobj_range_run(&z, &r, pos, rev, limit);
            }
        }
    }

    zit it;
    if (!store) {
        reply_elements_header(c, n, withscores);
        if (n && zit_seek(&it, &z, (unsigned long)pos)) {
            for (unsigned long k = 0; k < n && zit_valid(&it); k++, zit_step(&it, rev)) {
                size_t ml;
                const char *m = zit_member(&it, &ml);
                reply_element(c, m, ml, withscores ? zit_score(&it) : 0, withscores);
            }
        }
        return;
    }
    /* Built as Redis builds it, element by element in reply order: a
     * listpack unless a rank range is known to be too long, converted when
     * it outgrows the limits. (So where a skiplist source holds -0, the
     * copy holds -0 only if it was added after the conversion.) */
    zobj res = {ENC_LISTPACK, NULL};
    if (n) {
        if (type == ZR_RANK && n > (unsigned long long)cfg.zset_max_listpack_entries)
            res = (zobj){ENC_SKIPLIST, zset_new()};
        else
            res = (zobj){ENC_LISTPACK, pack_new()};
    }
    if (n && zit_seek(&it, &z, (unsigned long)pos)) {
        for (unsigned long k = 0; k < n && zit_valid(&it); k++, zit_step(&it, rev)) {
            size_t ml;
            const char *m = zit_member(&it, &ml);
            int out;
            double ns;
            zobj_add(&res, zit_score(&it), m, ml, 0, &out, &ns);
        }
    }
    store_result_and_reply(c, dstidx, &res, "zrangestore");
}

void zrange_command(client *c) {
    zrange_generic(c, 1, -1, ZR_AUTO, ZD_AUTO);
}

void zrangestore_command(client *c) {
    zrange_generic(c, 2, 1, ZR_AUTO, ZD_AUTO);
}

void zrevrange_command(client *c) {
    zrange_generic(c, 1, -1, ZR_RANK, ZD_REVERSE);
}

void zrangebyscore_command(client *c) {
    zrange_generic(c, 1, -1, ZR_SCORE, ZD_FORWARD);
}

void zrevrangebyscore_command(client *c) {
    zrange_generic(c, 1, -1, ZR_SCORE, ZD_REVERSE);
}

void zrangebylex_command(client *c) {
    zrange_generic(c, 1, -1, ZR_LEX, ZD_FORWARD);
}

void zrevrangebylex_command(client *c) {
    zrange_generic(c, 1, -1, ZR_LEX, ZD_REVERSE);
}

/* ------------------------------------------------------------------------
 * ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX
 * ------------------------------------------------------------------------ */

static void zremrange_generic(client *c, int type) {
    long start = 0, end = 0;
    zspec r;
    if (type == ZR_RANK) {
        if (!arg_long_or_reply(c, 2, LONG_MIN, LONG_MAX, &start, NULL) ||
            !arg_long_or_reply(c, 3, LONG_MIN, LONG_MAX, &end, NULL))
            return;
    } else if (type == ZR_SCORE) {
        if (!parse_score_range(c, 2, 3, &r)) {
            reply_error(c, ERR_MINMAX);
            return;
        }
    } else if (!parse_lex_range(c, 2, 3, &r)) {
        reply_error(c, ERR_LEX_RANGE);
        return;
    }
    kref ref;
    bool wrong;
    kentry *e = lookup_write_typed(c, 1, OBJ_ZSET, &ref, &wrong);
    if (wrong) return;
    if (!e) {
        reply_int(c, 0);
        return;
    }
    zobj z = zobj_of(e);
    unsigned long from = 0, count = 0;
    if (type == ZR_RANK) {
        if (!rank_range((long)zobj_len(&z), &start, &end)) {
            reply_int(c, 0);
            return;
        }
        from = (unsigned long)start;
        count = (unsigned long)(end - start + 1);
    } else {
        long first = zobj_range_start(&z, &r, false);
        if (first >= 0) {
            from = (unsigned long)first;
            count = zobj_range_run(&z, &r, first, false, -1);
        }
    }
    zobj_delete_ranks(&z, from, count);
    bool emptied = !zobj_len(&z);
    zobj_commit(&ref, &z);
    if (count)
        key_changed(c, 1, (long long)count,
                    type == ZR_RANK    ? "zremrangebyrank"
                    : type == ZR_SCORE ? "zremrangebyscore"
                                       : "zremrangebylex",
                    emptied);
    reply_int(c, (long long)count);
}

void zremrangebyrank_command(client *c) {
    zremrange_generic(c, ZR_RANK);
}

void zremrangebyscore_command(client *c) {
    zremrange_generic(c, ZR_SCORE);
}

void zremrangebylex_command(client *c) {
    zremrange_generic(c, ZR_LEX);
}

/* ------------------------------------------------------------------------
 * ZPOPMIN ZPOPMAX ZMPOP
 * ------------------------------------------------------------------------ */

/* Redis's genericZpopCommand(): pops up to count (-1: one, without the
 * count in the reply shape) elements from the first non-empty key of
 * argv[first .. first+nkeys). emitkey prefixes the key (ZMPOP); nested
 * gives [member, score] arrays; nil_when_empty replies a null array. */
static void zpop_generic(client *c, int first, long nkeys, bool max, bool emitkey, long count,
                         bool nested, bool nil_when_empty) {
    kref r;
    kentry *e = NULL;
    int keyidx = -1;
    for (long i = 0; i < nkeys; i++) {
        bool wrong;
        e = lookup_write_typed(c, first + (int)i, OBJ_ZSET, &r, &wrong);
        if (wrong) return;
        if (e) {
            keyidx = first + (int)i;
            break;
        }
    }
    if (!e) {
        if (nil_when_empty)
            reply_null_array(c);
        else
            reply_array(c, 0);
        return;
    }
    if (count == 0) {
        reply_array(c, 0);
        return;
    }
    if (count == -1) count = 1;
    zobj z = zobj_of(e);
    unsigned long len = zobj_len(&z);
    unsigned long n = (unsigned long)count > len ? len : (unsigned long)count;
    if (!nested && !emitkey) {
        reply_array(c, (long long)n * 2);
    } else if (nested && !emitkey) {
        reply_array(c, (long long)n);
    } else {
        reply_array(c, 2);
        reply_bulk(c, c->argv[keyidx], c->argvlen[keyidx]);
        reply_array(c, (long long)n);
    }
    for (unsigned long k = 0; k < n; k++) {
        unsigned long rank = max ? zobj_len(&z) - 1 : 0;
        zit it;
        zit_seek(&it, &z, rank);
        size_t ml;
        const char *m = zit_member(&it, &ml);
        if (nested) reply_array(c, 2);
        reply_bulk(c, m, ml);
        reply_double(c, zit_score(&it));
        zobj_delete_ranks(&z, rank, 1);
    }
    bool emptied = !zobj_len(&z);
    zobj_commit(&r, &z);
    key_changed(c, keyidx, (long long)n, max ? "zpopmax" : "zpopmin", emptied);
}

static void zpop_minmax(client *c, bool max) {
    if (c->argc > 3) {
        reply_syntax_error(c);
        return;
    }
    long count = -1;
    if (c->argc == 3 && !arg_long_or_reply(c, 2, 0, LONG_MAX, &count, ERR_POSITIVE)) return;
    zpop_generic(c, 1, 1, max, false, count, c->resp > 2 && count != -1, false);
}

void zpopmin_command(client *c) {
    zpop_minmax(c, false);
}

void zpopmax_command(client *c) {
    zpop_minmax(c, true);
}

/* Parses "numkeys key [key ...] MIN|MAX [COUNT count]" with numkeys at
 * argv[ni] (ZMPOP: 1, BZMPOP: 2). Replies and returns false on error. */
static bool zmpop_args_or_reply(client *c, int ni, long *numkeys, bool *max, long *count) {
    *count = -1;
    if (!arg_long_or_reply(c, ni, 1, LONG_MAX, numkeys, "ERR numkeys should be greater than 0"))
        return false;
    if (*numkeys >= c->argc - ni - 1) {
        reply_syntax_error(c);
        return false;
    }
    int where = ni + 1 + (int)*numkeys;
    if (arg_is(c, where, "min")) {
        *max = false;
    } else if (arg_is(c, where, "max")) {
        *max = true;
    } else {
        reply_syntax_error(c);
        return false;
    }
    for (int j = where + 1; j < c->argc; j++) {
        if (*count == -1 && arg_is(c, j, "count") && j + 1 < c->argc) {
            j++;
            if (!arg_long_or_reply(c, j, 1, LONG_MAX, count, "ERR count should be greater than 0"))
                return false;
        } else {
            reply_syntax_error(c);
            return false;
        }
    }
    if (*count == -1) *count = 1;
    return true;
}

/* ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] */
void zmpop_command(client *c) {
    long numkeys, count;
    bool max;
    if (!zmpop_args_or_reply(c, 1, &numkeys, &max, &count)) return;
    zpop_generic(c, 2, numkeys, max, true, count, true, true);
}

/* ------------------------------------------------------------------------
 * ZRANDMEMBER
 * ------------------------------------------------------------------------ */

static void reply_rank(client *c, const zobj *z, unsigned long rank, bool withscores) {
    zit it;
    zit_seek(&it, z, rank);
    size_t ml;
    const char *m = zit_member(&it, &ml);
    reply_element(c, m, ml, withscores ? zit_score(&it) : 0, withscores);
}

/* Picks count distinct ranks out of len (count < len) with Floyd's
 * algorithm: O(count) time and memory, whatever len is. */
static void random_distinct_ranks(unsigned long len, unsigned long count, unsigned long *out) {
    dict *seen = dict_new(DICT_VAL_NONE);
    unsigned long k = 0;
    for (unsigned long j = len - count; j < len; j++) {
        unsigned long t = (unsigned long)sg_rand_range((uint64_t)j + 1);
        bool created;
        dict_add(seen, (const char *)&t, sizeof(t), &created);
        if (!created) {
            t = j;
            dict_add(seen, (const char *)&t, sizeof(t), NULL);
        }
        out[k++] = t;
    }
    dict_free(seen);
    /* Shuffle so that the reply order is random too. */
    for (unsigned long i = count; i > 1; i--) {
        unsigned long s = (unsigned long)sg_rand_range(i);
        unsigned long tmp = out[i - 1];
        out[i - 1] = out[s];
        out[s] = tmp;
    }
}

void zrandmember_command(client *c) {
    bool wrong;
    if (c->argc < 3) {
        kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
        if (wrong) return;
        if (!e) {
            reply_null(c);
            return;
        }
        zobj z = zobj_of(e);
        zit it;
        zit_seek(&it, &z, (unsigned long)sg_rand_range(zobj_len(&z)));
        size_t ml;
        const char *m = zit_member(&it, &ml);
        reply_bulk(c, m, ml);
        return;
    }
    long l;
    bool withscores = false;
    if (!arg_long_or_reply(c, 2, -LONG_MAX, LONG_MAX, &l, NULL)) return;
    if (c->argc > 4 || (c->argc == 4 && !arg_is(c, 3, "withscores"))) {
        reply_syntax_error(c);
        return;
    }
    if (c->argc == 4) {
        withscores = true;
        if (l < -LONG_MAX / 2 || l > LONG_MAX / 2) {
            reply_error(c, "ERR value is out of range");
            return;
        }
    }
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_array(c, 0);
        return;
    }
    zobj z = zobj_of(e);
    unsigned long len = zobj_len(&z);
    bool uniq = l >= 0;
    unsigned long count = uniq ? (unsigned long)l : (unsigned long)-l;
    if (count == 0) {
        reply_array(c, 0);
        return;
    }
    if (!uniq || count == 1) {
        /* With repetitions. A huge count stops once the client has been
         * dropped for its output buffer limit. */
        reply_elements_header(c, count, withscores);
        for (unsigned long k = 0; k < count; k++) {
            if ((k & 1023) == 0 && (c->flags & CL_CLOSE_ASAP)) break;
            reply_rank(c, &z, (unsigned long)sg_rand_range(len), withscores);
        }
        return;
    }
    if (count >= len) {
        /* The whole set, from the highest score down (as Redis 7.0). */
        zit it;
        reply_elements_header(c, len, withscores);
        for (zit_seek(&it, &z, len - 1); zit_valid(&it); zit_step(&it, true)) {
            size_t ml;
            const char *m = zit_member(&it, &ml);
            reply_element(c, m, ml, withscores ? zit_score(&it) : 0, withscores);
        }
        return;
    }
    unsigned long *ranks = sg_malloc(sizeof(unsigned long) * count);
    random_distinct_ranks(len, count, ranks);
    reply_elements_header(c, count, withscores);
    for (unsigned long k = 0; k < count; k++) reply_rank(c, &z, ranks[k], withscores);
    sg_free(ranks);
}

/* ------------------------------------------------------------------------
 * ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD
 * ------------------------------------------------------------------------ */

/* Plain sets are valid inputs (every member scores 1); t_set.c reads them. */
typedef void set_member_fn(void *ctx, const char *m, size_t n);
uint64_t set_type_card(const void *ptr, int enc);
bool set_type_contains(const void *ptr, int enc, const char *m, size_t n);
void set_type_foreach(const void *ptr, int enc, set_member_fn *fn, void *ctx);

static bool set_inputs_supported(void) {
    return true;
}

typedef struct zsrc {
    int type; /* OBJ_ZSET, OBJ_SET, or -1 for a missing key */
    zobj z;   /* OBJ_ZSET */
    const void *set;
    int setenc;
    double weight;
    unsigned long len;
} zsrc;

static bool zsrc_find(const zsrc *s, const char *m, size_t n, double *score) {
    if (s->type == OBJ_ZSET) return zobj_score(&s->z, m, n, score);
    if (s->type == OBJ_SET && set_type_contains(s->set, s->setenc, m, n)) {
        *score = 1.0;
        return true;
    }
    return false;
}

/* Visits one member; returns false to stop the iteration. */
typedef bool zsrc_fn(void *ctx, const char *m, size_t n, double score);

typedef struct set_adapter {
    zsrc_fn *fn;
    void *ctx;
} set_adapter;

static void set_adapter_fn(void *ctx, const char *m, size_t n) {
    set_adapter *a = ctx;
    a->fn(a->ctx, m, n, 1.0); /* a set iteration runs to its end */
}

static void zsrc_foreach(const zsrc *s, zsrc_fn *fn, void *ctx) {
    if (s->type == OBJ_ZSET) {
        zit it;
        if (!zit_seek(&it, &s->z, 0)) return;
        for (; zit_valid(&it); zit_step(&it, false)) {
            size_t n;
            const char *m = zit_member(&it, &n);
            if (!fn(ctx, m, n, zit_score(&it))) return;
        }
    } else if (s->type == OBJ_SET) {
        set_adapter a = {fn, ctx};
        set_type_foreach(s->set, s->setenc, set_adapter_fn, &a);
    }
}

enum { AGG_SUM, AGG_MIN, AGG_MAX };
enum { OP_UNION, OP_INTER, OP_DIFF };

static inline void aggregate(double *target, double v, int agg) {
    if (agg == AGG_SUM) {
        *target += v;
        if (isnan(*target)) *target = 0.0; /* inf + -inf */
    } else if (agg == AGG_MIN) {
        if (v < *target) *target = v;
    } else if (v > *target) {
        *target = v;
    }
}

typedef struct setop {
    zsrc *src;
    long nsrc;
    int agg;
    bool card_only;
    unsigned long limit; /* ZINTERCARD: stop there (0: no limit) */
    unsigned long card;
    dict *acc;   /* union accumulator: member -> score */
    zel_vec out; /* results; members point into src[0] or the accumulator */
    bool copy;   /* src[0] is a plain set, whose members may be transient */
    bool stop;
} setop;

static void setop_push(setop *op, const char *m, size_t n, double score) {
    zv_push(&op->out, op->copy ? sg_memdup(m, n ? n : 1) : m, n, score);
}

static bool union_visit(void *ctx, const char *m, size_t n, double score) {
    setop *op = ctx;
    bool created;
    dict_entry *de = dict_add(op->acc, m, n, &created);
    if (created)
        de->v.d = score;
    else
        aggregate(&de->v.d, score, op->agg);
    return true;
}

/* Weighted score of a source element; NaN (inf * 0) counts as 0. */
static inline double weighted(double w, double s) {
    double v = w * s;
    return isnan(v) ? 0 : v;
}

typedef struct union_ctx {
    setop *op;
    double weight;
} union_ctx;

static bool union_weighted_visit(void *ctx, const char *m, size_t n, double score) {
    union_ctx *u = ctx;
    return union_visit(u->op, m, n, weighted(u->weight, score));
}

static bool inter_visit(void *ctx, const char *m, size_t n, double s0) {
    setop *op = ctx;
    if (op->stop) return false;
    double score = weighted(op->src[0].weight, s0);
    for (long j = 1; j < op->nsrc; j++) {
        double v;
        if (!zsrc_find(&op->src[j], m, n, &v)) return true;
        aggregate(&score, v * op->src[j].weight, op->agg);
    }
    if (op->card_only) {
        op->card++;
        if (op->limit && op->card >= op->limit) op->stop = true;
        return !op->stop;
    }
    setop_push(op, m, n, score);
    return true;
}

static bool diff_visit(void *ctx, const char *m, size_t n, double s0) {
    setop *op = ctx;
    for (long j = 1; j < op->nsrc; j++) {
        double v;
        if (op->src[j].len && zsrc_find(&op->src[j], m, n, &v)) return true;
    }
    setop_push(op, m, n, s0);
    return true;
}

/* Redis's zunionInterDiffGenericCommand(). dstidx is the destination key
 * of the STORE forms or -1; numidx the argument holding numkeys. */
static void zsetop_generic(client *c, int dstidx, int numidx, int opkind, bool card_only,
                           const char *name) {
    long long setnum;
    if (!arg_ll_or_reply(c, numidx, &setnum, NULL)) return;
    if (setnum < 1) {
        reply_errorf(c, "ERR at least 1 input key is needed for '%s' command", name);
        return;
    }
    if (setnum > c->argc - (numidx + 1)) {
        reply_syntax_error(c);
        return;
    }
    setop op = {0};
    op.nsrc = (long)setnum;
    op.agg = AGG_SUM;
    op.card_only = card_only;
    op.src = sg_calloc(sizeof(zsrc) * (size_t)setnum);
    int j = numidx + 1;
    bool withscores = false;
    for (long i = 0; i < setnum; i++, j++) {
        kentry *e = kdb_lookup_read(c->db, c->argv[j], c->argvlen[j], NULL, 0);
        zsrc *s = &op.src[i];
        s->weight = 1.0;
        s->type = -1;
        if (!e) continue;
        int t = kentry_type(e);
        if (t != OBJ_ZSET && (t != OBJ_SET || !set_inputs_supported())) {
            reply_wrongtype(c);
            goto done;
        }
        s->type = t;
        if (t == OBJ_ZSET) {
            s->z = zobj_of(e);
            s->len = zobj_len(&s->z);
        } else {
            s->set = kentry_ptr(e);
            s->setenc = kentry_enc(e);
            s->len = (unsigned long)set_type_card(s->set, s->setenc);
        }
    }
    /* The keys' values stay put from here on: lookups of the keys above
     * may only have deleted expired keys, before any value was read. */
    while (j < c->argc) {
        int remaining = c->argc - j;
        if (opkind != OP_DIFF && !card_only && remaining >= setnum + 1 && arg_is(c, j, "weights")) {
            j++;
            for (long i = 0; i < setnum; i++, j++) {
                if (!sg_str2d(c->argv[j], c->argvlen[j], &op.src[i].weight)) {
                    reply_error(c, ERR_WEIGHT);
                    goto done;
                }
            }
        } else if (opkind != OP_DIFF && !card_only && remaining >= 2 && arg_is(c, j, "aggregate")) {
            j++;
            if (arg_is(c, j, "sum")) {
                op.agg = AGG_SUM;
            } else if (arg_is(c, j, "min")) {
                op.agg = AGG_MIN;
            } else if (arg_is(c, j, "max")) {
                op.agg = AGG_MAX;
            } else {
                reply_syntax_error(c);
                goto done;
            }
            j++;
        } else if (dstidx < 0 && !card_only && arg_is(c, j, "withscores")) {
            j++;
            withscores = true;
        } else if (card_only && remaining >= 2 && arg_is(c, j, "limit")) {
            long lim;
            if (!arg_long_or_reply(c, j + 1, 0, LONG_MAX, &lim, "ERR LIMIT can't be negative"))
                goto done;
            op.limit = (unsigned long)lim;
            j += 2;
        } else {
            reply_syntax_error(c);
            goto done;
        }
    }
    if (opkind != OP_DIFF) {
        /* Smallest first (stable, as glibc's qsort on small arrays is). */
        for (long a = 1; a < setnum; a++) {
            zsrc t = op.src[a];
            long b = a - 1;
            for (; b >= 0 && op.src[b].len > t.len; b--) op.src[b + 1] = op.src[b];
            op.src[b + 1] = t;
        }
    }

    op.copy = opkind != OP_UNION && op.src[0].type == OBJ_SET;
    if (opkind == OP_INTER) {
        if (op.src[0].len > 0) zsrc_foreach(&op.src[0], inter_visit, &op);
    } else if (opkind == OP_DIFF) {
        if (op.src[0].len > 0) zsrc_foreach(&op.src[0], diff_visit, &op);
    } else {
        op.acc = dict_new(DICT_VAL_DOUBLE);
        for (long i = 0; i < setnum; i++) {
            if (!op.src[i].len) continue;
            union_ctx u = {&op, op.src[i].weight};
            zsrc_foreach(&op.src[i], union_weighted_visit, &u);
        }
        uint64_t pos = 0;
        for (dict_entry *de; (de = dict_next(op.acc, &pos));)
            zv_push(&op.out, de->key, de->klen, de->v.d);
    }

    if (card_only) {
        reply_int(c, (long long)op.card);
        goto done;
    }
    if (op.out.n) qsort(op.out.v, op.out.n, sizeof(zel), zel_cmp);
    if (dstidx >= 0) {
        zobj res = {ENC_LISTPACK, NULL};
        if (op.out.n) res = zobj_build(&op.out);
        store_result_and_reply(c, dstidx, &res, name);
    } else {
        reply_elements_header(c, op.out.n, withscores);
        for (size_t i = 0; i < op.out.n; i++)
            reply_element(c, op.out.v[i].m, op.out.v[i].n, op.out.v[i].score, withscores);
    }
done:
    if (op.acc) dict_free(op.acc);
    if (op.copy)
        for (size_t i = 0; i < op.out.n; i++) sg_free((void *)op.out.v[i].m);
    sg_free(op.out.v);
    sg_free(op.src);
}

void zunion_command(client *c) {
    zsetop_generic(c, -1, 1, OP_UNION, false, "zunion");
}

void zinter_command(client *c) {
    zsetop_generic(c, -1, 1, OP_INTER, false, "zinter");
}

void zdiff_command(client *c) {
    zsetop_generic(c, -1, 1, OP_DIFF, false, "zdiff");
}

void zunionstore_command(client *c) {
    zsetop_generic(c, 1, 2, OP_UNION, false, "zunionstore");
}

void zinterstore_command(client *c) {
    zsetop_generic(c, 1, 2, OP_INTER, false, "zinterstore");
}

void zdiffstore_command(client *c) {
    zsetop_generic(c, 1, 2, OP_DIFF, false, "zdiffstore");
}

void zintercard_command(client *c) {
    zsetop_generic(c, -1, 1, OP_INTER, true, "zintercard");
}

/* ------------------------------------------------------------------------
 * ZSCAN
 * ------------------------------------------------------------------------ */

typedef struct scan_coll {
    const char **m;
    size_t *n;
    double *s;
    size_t cnt, cap;
} scan_coll;

static void scan_visit(void *ctx, dict_entry *de) {
    scan_coll *sc = ctx;
    if (sc->cnt == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 32;
        sc->m = sg_realloc(sc->m, sc->cap * sizeof(*sc->m));
        sc->n = sg_realloc(sc->n, sc->cap * sizeof(*sc->n));
        sc->s = sg_realloc(sc->s, sc->cap * sizeof(*sc->s));
    }
    sc->m[sc->cnt] = de->key;
    sc->n[sc->cnt] = de->klen;
    sc->s[sc->cnt] = de->v.d;
    sc->cnt++;
}

/* ZSCAN key cursor [MATCH pattern] [COUNT count] */
void zscan_command(client *c) {
    uint64_t cursor;
    if (!arg_cursor_or_reply(c, 2, &cursor)) return;
    bool wrong;
    kentry *e = lookup_read_typed(c, 1, OBJ_ZSET, NULL, &wrong);
    if (wrong) return;
    if (!e) {
        reply_array(c, 2);
        reply_bulk(c, "0", 1);
        reply_array(c, 0);
        return;
    }
    long long count = 10;
    const char *pat = NULL;
    size_t plen = 0;
    for (int i = 3; i < c->argc; i += 2) {
        int left = c->argc - i;
        if (arg_is(c, i, "count") && left >= 2) {
            if (!arg_ll_or_reply(c, i + 1, &count, NULL)) return;
            if (count < 1) {
                reply_syntax_error(c);
                return;
            }
        } else if (arg_is(c, i, "match") && left >= 2) {
            bool all = c->argvlen[i + 1] == 1 && c->argv[i + 1][0] == '*';
            pat = all ? NULL : c->argv[i + 1];
            plen = all ? 0 : c->argvlen[i + 1];
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (count > ZSCAN_MAX_COUNT) count = ZSCAN_MAX_COUNT;
    zobj z = zobj_of(e);
    if (z.enc == ENC_LISTPACK) {
        /* Everything at once, scores as stored. */
        const pack *p = z.ptr;
        size_t kept = 0;
        for (size_t off = pack_first(p); off != PACK_END; off = pack_next(p, pack_next(p, off))) {
            size_t n;
            const char *m = pack_get(p, off, &n);
            if (!pat || sg_glob_match(pat, plen, m, n, false)) kept++;
        }
        reply_array(c, 2);
        reply_bulk(c, "0", 1);
        reply_array(c, (long long)kept * 2);
        for (size_t off = pack_first(p); off != PACK_END; off = pack_next(p, pack_next(p, off))) {
            size_t n, sn;
            const char *m = pack_get(p, off, &n);
            if (pat && !sg_glob_match(pat, plen, m, n, false)) continue;
            const char *s = pack_get(p, pack_next(p, off), &sn);
            reply_bulk(c, m, n);
            reply_bulk(c, s, sn);
        }
        return;
    }
    zset *zs = z.ptr;
    scan_coll sc = {0};
    long long maxiter = count * 10;
    do {
        cursor = dict_scan(zs->d, cursor, scan_visit, &sc);
    } while (cursor && maxiter-- && sc.cnt < (size_t)count);
    size_t kept = 0;
    for (size_t i = 0; i < sc.cnt; i++) {
        if (pat && !sg_glob_match(pat, plen, sc.m[i], sc.n[i], false))
            sc.m[i] = NULL;
        else
            kept++;
    }
    char buf[SG_LONG_STR_SIZE];
    int bl = sg_ull2str(buf, sizeof(buf), cursor);
    reply_array(c, 2);
    reply_bulk(c, buf, (size_t)bl);
    reply_array(c, (long long)kept * 2);
    for (size_t i = 0; i < sc.cnt; i++) {
        if (!sc.m[i]) continue;
        char sbuf[128];
        int sl = isinf(sc.s[i]) ? snprintf(sbuf, sizeof(sbuf), sc.s[i] > 0 ? "inf" : "-inf")
                                : snprintf(sbuf, sizeof(sbuf), "%.17Lg", (long double)sc.s[i]);
        reply_bulk(c, sc.m[i], sc.n[i]);
        reply_bulk(c, sbuf, (size_t)sl);
    }
    sg_free(sc.m);
    sg_free(sc.n);
    sg_free(sc.s);
}

/* ------------------------------------------------------------------------
 * BZPOPMIN BZPOPMAX BZMPOP: the pops above, waiting (block.c) when every
 * key is empty. The timeout is parsed first, as Redis does.
 * ------------------------------------------------------------------------ */

static void bzpop_minmax(client *c, bool max) {
    uint64_t deadline;
    if (!block_timeout_or_reply(c, c->argc - 1, &deadline)) return;
    for (int i = 1; i < c->argc - 1; i++) {
        bool wrong;
        kref r;
        kentry *e = lookup_write_typed(c, i, OBJ_ZSET, &r, &wrong);
        if (wrong) return;
        if (!e) continue;
        zobj z = zobj_of(e);
        unsigned long rank = max ? zobj_len(&z) - 1 : 0;
        zit it;
        zit_seek(&it, &z, rank);
        size_t ml;
        const char *m = zit_member(&it, &ml);
        reply_array(c, 3);
        reply_bulk(c, c->argv[i], c->argvlen[i]);
        reply_bulk(c, m, ml);
        reply_double(c, zit_score(&it));
        zobj_delete_ranks(&z, rank, 1);
        bool emptied = !zobj_len(&z);
        zobj_commit(&r, &z);
        key_changed(c, i, 1, max ? "zpopmax" : "zpopmin", emptied);
        return;
    }
    block_on_keys(c, c->argc - 2, c->argv + 1, c->argvlen + 1, deadline, BLOCK_REPLY_NULL_ARRAY);
}

void bzpopmin_command(client *c) {
    bzpop_minmax(c, false);
}

void bzpopmax_command(client *c) {
    bzpop_minmax(c, true);
}

/* BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count] */
void bzmpop_command(client *c) {
    uint64_t deadline;
    if (!block_timeout_or_reply(c, 1, &deadline)) return;
    long numkeys, count;
    bool max;
    if (!zmpop_args_or_reply(c, 2, &numkeys, &max, &count)) return;
    int where = 3 + (int)numkeys;
    bool any = false;
    for (int i = 3; i < where && !any; i++) {
        bool wrong;
        kentry *e = lookup_write_typed(c, i, OBJ_ZSET, NULL, &wrong);
        if (wrong) return;
        any = e != NULL;
    }
    if (!any) {
        block_on_keys(c, (int)numkeys, c->argv + 3, c->argvlen + 3, deadline,
                      BLOCK_REPLY_NULL_ARRAY);
        return;
    }
    zpop_generic(c, 3, numkeys, max, true, count, true, true);
}

/* ------------------------------------------------------------------------
 * DUMP/RESTORE surface (persist/serialize.c): the one exported pair, a walk
 * over (member, score) in rank order, and a build from elements already in
 * strictly increasing (score, member) order with no NaN score (the caller
 * validates that). Returns NULL on a duplicate member.
 * ------------------------------------------------------------------------ */

void zset_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx) {
    zobj z = {enc, (void *)ptr};
    zit it;
    if (!zit_seek(&it, &z, 0)) return;
    for (; zit_valid(&it); zit_step(&it, false)) {
        size_t n;
        const char *m = zit_member(&it, &n);
        fn(ctx, m, n, NULL, 0, zit_score(&it));
    }
}

void *zset_type_build(const persist_elem *v, size_t n, int *enc) {
    size_t maxlen = 0, tot = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].al > maxlen) maxlen = v[i].al;
        tot += v[i].al + 32;
    }
    if (fits_listpack(n, maxlen, tot)) {
        pack *p = pack_new();
        for (size_t i = 0; i < n; i++) {
            if (pk_find(p, v[i].a, v[i].al) != PACK_END) {
                pack_free(p);
                return NULL;
            }
            char buf[64];
            int bl = score_to_text(buf, sizeof(buf), v[i].score);
            p = pack_append(p, v[i].a, v[i].al);
            p = pack_append(p, buf, (size_t)bl);
        }
        *enc = ENC_LISTPACK;
        return p;
    }
    zset *zs = zset_new();
    for (size_t i = 0; i < n; i++) {
        if (dict_find(zs->d, v[i].a, v[i].al)) {
            zset_free(zs);
            return NULL;
        }
        zset_insert_new(zs, v[i].a, v[i].al, v[i].score);
    }
    *enc = ENC_SKIPLIST;
    return zs;
}
