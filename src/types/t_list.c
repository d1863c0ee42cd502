/*
 * List commands (LPUSH ... LMPOP) and the list value: a quicklist.
 *
 * Redis 7.0 keeps every list as a quicklist (OBJECT ENCODING always says
 * "quicklist"; the listpack encoding for small lists came in 7.2), and so
 * does Surge: a doubly linked list of nodes, each holding a pack (pack.h) of
 * consecutive elements.
 *
 *   quicklist: head ---------------------------------------------> tail
 *              count = 7 (elements), nnodes = 3, fill = -2
 *
 *        +--------------+     +--------------+     +--------------+
 *   NULL<| prev    next |<--->| prev    next |<--->| prev    next |>NULL
 *        | count=3      |     | count=2      |     | count=2      |
 *        | pk ->[a b c] |     | pk ->[d e]   |     | pk ->[f g]   |
 *        +--------------+     +--------------+     +--------------+
 *
 * Node size. The fill of a list is list-max-listpack-size when the list was
 * created (Redis also fixes it at creation): -1..-5 bound a node's pack to
 * 4/8/16/32/64 KB; a positive fill bounds its element count and, as Redis's
 * SIZE_SAFETY_LIMIT does, its size to 8 KB; 0 means one element per node.
 * A single element larger than the bound gets a node of its own. Big fills
 * are clamped to 32767 and fills below -5 to -5, as in Redis.
 *
 * Operations.
 *   - Push/pop at either end are O(1) plus the O(node) pack edit: a push
 *     goes into the end node when it has room, else into a new node.
 *   - An index lookup walks nodes by their cached counts from the nearer
 *     end, then seeks inside one pack: O(nnodes + node size).
 *   - LINSERT into a full node splits it at the insertion point; LSET of an
 *     element that no longer fits splits the node around it, so the new
 *     element gets a node of its own; both then merge the pieces with small
 *     neighbours.
 *   - Deletions inside the list (LREM) compact each node in one pass and
 *     merge a node with a neighbour when one of the two holds one element or
 *     is at most a quarter full, and the two fit in one node; the threshold
 *     is hysteresis, so a split's halves are not merged straight back.
 *     Deleting at the ends (pops, LTRIM) never merges: the end nodes empty
 *     out and go.
 *
 * Invariants (ql_check(), compiled in with -DSURGE_LIST_CHECK, verifies them
 * after every list command):
 *   - no node is empty; node->count == pack_count(node->pk);
 *   - ql->count is the sum of node counts, ql->nnodes the number of nodes,
 *     and the prev/next links are consistent;
 *   - every node with more than one element fits the list's fill.
 *
 * list-compress-depth is accepted as a directive but nodes are never
 * compressed (no LZF): every node is a plain pack.
 *
 * The quicklist struct itself never moves once created (only its packs do),
 * so a handler may keep a quicklist pointer across insertions and deletions
 * of other keys, while a kref must be looked up again.
 *
 * Pack internals. Bulk node operations (merging two nodes, splitting one,
 * compacting one in place) would be quadratic through pack.h's one-entry
 * calls, so the qpack_* helpers below work on the layout that pack.h
 * documents: a header of u32 bytes and u32 count (native order) followed by
 * self-contained entries, so entries can be copied between packs verbatim.
 *
 * Errors and reply shapes follow Redis 7.0.15's t_list.c, including its
 * quirks: LPOP key 0 on an existing list replies an empty array but on a
 * missing key a null array; LPOS RANK -9223372036854775808 searches from the
 * tail and ignores COUNT (Redis's negation and counting wrap around);
 * LREM -9223372036854775808 removes every match from the tail.
 */
#include "../server/config.h"
#include "../server/server.h"
#include "../persist/serialize.h"

#include <assert.h>
#include <string.h>

#define LIST_MAX_ITEM_SIZE ((1ULL << 32) - 1024) /* Redis's "Element too large" bound */
#define QL_SAFETY_LIMIT    8192                  /* bytes, for count-bounded nodes */
#define QL_FILL_MAX        32767

static_assert(PACK_HDR == 8, "qpack_* helpers assume pack.h's 8-byte header");

static const size_t ql_level_bytes[] = {4096, 8192, 16384, 32768, 65536};

typedef struct qlnode {
    struct qlnode *prev, *next;
    pack *pk;
    uint32_t count; /* == pack_count(pk), cached so walks don't touch packs */
} qlnode;

typedef struct quicklist {
    qlnode *head, *tail;
    uint64_t count;  /* elements */
    uint64_t nnodes; /* nodes */
    int fill;        /* see the header comment */
} quicklist;

/* A position: an element of a node, with its index inside the node. */
typedef struct qlpos {
    qlnode *node;
    size_t off;
    uint32_t i;
} qlpos;

/* ---- pack helpers on the documented layout ---- */

static void qpack_set_header(pack *p, size_t bytes, uint32_t count) {
    sg_assert(bytes < UINT32_MAX);
    uint32_t b = (uint32_t)bytes;
    memcpy(p, &b, 4);
    memcpy(p + 4, &count, 4);
}

/* End offset of the entry at off. */
static size_t qpack_entry_end(const pack *p, size_t off) {
    size_t nx = pack_next(p, off);
    return nx == PACK_END ? pack_bytes(p) : nx;
}

/* Bytes an entry of n bytes takes in a pack (varint length, body, backlen). */
static size_t qpack_entry_size(size_t n) {
    size_t body = ks_varint_len(n) + n;
    return body + ks_varint_len(body);
}

/* Appends b's entries to a; returns the (moved) a. b is unchanged. */
static pack *qpack_concat(pack *a, const pack *b) {
    size_t ab = pack_bytes(a), bb = pack_bytes(b) - PACK_HDR;
    uint32_t n = pack_count(a) + pack_count(b);
    a = sg_realloc(a, ab + bb);
    memcpy(a + ab, b + PACK_HDR, bb);
    qpack_set_header(a, ab + bb, n);
    return a;
}

/* Moves the entries from offset off (the entry with index `keep`) to the
 * end into a new pack, which is returned; *pp keeps the first `keep`. */
static pack *qpack_split(pack **pp, size_t off, uint32_t keep) {
    pack *p = *pp;
    size_t bytes = pack_bytes(p);
    uint32_t n = pack_count(p);
    sg_assert(off >= PACK_HDR && off < bytes && keep < n);
    pack *q = sg_malloc(PACK_HDR + bytes - off);
    memcpy(q + PACK_HDR, p + off, bytes - off);
    qpack_set_header(q, PACK_HDR + bytes - off, n - keep);
    qpack_set_header(p, off, keep);
    *pp = sg_realloc(p, off);
    return q;
}

static bool qpack_entry_eq(const pack *p, size_t off, const char *s, size_t n) {
    size_t len;
    const char *v = pack_get(p, off, &len);
    return len == n && (n == 0 || memcmp(v, s, n) == 0);
}

/* ---- quicklist ---- */

static int ql_clamp_fill(long long fill) {
    if (fill > QL_FILL_MAX) return QL_FILL_MAX;
    if (fill < -5) return -5;
    return (int)fill;
}

static quicklist *ql_new(long long fill) {
    quicklist *ql = sg_calloc(sizeof(*ql));
    ql->fill = ql_clamp_fill(fill);
    return ql;
}

/* True if a node of `bytes` bytes holding `count` elements respects fill.
 * A node of one element always does. */
static bool ql_fits(const quicklist *ql, size_t bytes, uint64_t count) {
    if (count <= 1) return true;
    if (ql->fill < 0) return bytes <= ql_level_bytes[-ql->fill - 1];
    return bytes <= QL_SAFETY_LIMIT && count <= (uint64_t)ql->fill;
}

static bool ql_node_allows(const quicklist *ql, const qlnode *nd, size_t n) {
    return ql_fits(ql, pack_bytes(nd->pk) + qpack_entry_size(n), (uint64_t)nd->count + 1);
}

/* One element, or at most a quarter full: a candidate for merging with a
 * neighbour. */
static bool ql_node_small(const quicklist *ql, const qlnode *nd) {
    return nd->count <= 1 || ql_fits(ql, pack_bytes(nd->pk) * 4, (uint64_t)nd->count * 4);
}

static qlnode *ql_node_new(pack *pk) {
    qlnode *nd = sg_calloc(sizeof(*nd));
    nd->pk = pk;
    nd->count = pack_count(pk);
    return nd;
}

/* Links nd after `at` (at NULL: as the new head). */
static void ql_link_after(quicklist *ql, qlnode *at, qlnode *nd) {
    nd->prev = at;
    nd->next = at ? at->next : ql->head;
    if (nd->next)
        nd->next->prev = nd;
    else
        ql->tail = nd;
    if (at)
        at->next = nd;
    else
        ql->head = nd;
    ql->nnodes++;
}

/* Links nd before `at` (at NULL: as the new tail). */
static void ql_link_before(quicklist *ql, qlnode *at, qlnode *nd) {
    ql_link_after(ql, at ? at->prev : ql->tail, nd);
}

/* Unlinks and frees nd with its pack (its count must already be off
 * ql->count). */
static void ql_node_remove(quicklist *ql, qlnode *nd) {
    if (nd->prev)
        nd->prev->next = nd->next;
    else
        ql->head = nd->next;
    if (nd->next)
        nd->next->prev = nd->prev;
    else
        ql->tail = nd->prev;
    ql->nnodes--;
    pack_free(nd->pk);
    sg_free(nd);
}

/* Merges b (a's successor) into a when either is small and both fit in one
 * node; b is freed then. Returns true if merged. */
static bool ql_merge_pair(quicklist *ql, qlnode *a, qlnode *b) {
    if (!a || !b) return false;
    sg_assert(a->next == b);
    if (!ql_node_small(ql, a) && !ql_node_small(ql, b)) return false;
    uint64_t n = (uint64_t)a->count + b->count;
    if (!ql_fits(ql, pack_bytes(a->pk) + pack_bytes(b->pk) - PACK_HDR, n)) return false;
    a->pk = qpack_concat(a->pk, b->pk);
    a->count = (uint32_t)n;
    ql_node_remove(ql, b);
    return true;
}

static void ql_free(quicklist *ql) {
    qlnode *nd = ql->head;
    while (nd) {
        qlnode *next = nd->next;
        pack_free(nd->pk);
        sg_free(nd);
        nd = next;
    }
    sg_free(ql);
}

static quicklist *ql_dup(const quicklist *src) {
    quicklist *ql = ql_new(src->fill);
    for (const qlnode *nd = src->head; nd; nd = nd->next)
        ql_link_before(ql, NULL, ql_node_new(pack_dup(nd->pk)));
    ql->count = src->count;
    return ql;
}

static void ql_push(quicklist *ql, bool head, const char *s, size_t n) {
    qlnode *nd = head ? ql->head : ql->tail;
    if (!nd || !ql_node_allows(ql, nd, n)) {
        nd = ql_node_new(pack_new());
        if (head)
            ql_link_after(ql, NULL, nd);
        else
            ql_link_before(ql, NULL, nd);
    }
    nd->pk = head ? pack_prepend(nd->pk, s, n) : pack_append(nd->pk, s, n);
    nd->count++;
    ql->count++;
}

/* Positions at element idx (0-based from the head); false if out of range. */
static bool ql_seek(const quicklist *ql, uint64_t idx, qlpos *pos) {
    if (idx >= ql->count) return false;
    qlnode *nd;
    uint64_t i;
    if (idx < ql->count / 2) {
        nd = ql->head;
        i = idx;
        while (i >= nd->count) {
            i -= nd->count;
            nd = nd->next;
        }
    } else {
        uint64_t back = ql->count - 1 - idx; /* distance from the tail */
        nd = ql->tail;
        while (back >= nd->count) {
            back -= nd->count;
            nd = nd->prev;
        }
        i = nd->count - 1 - back;
    }
    pos->node = nd;
    pos->i = (uint32_t)i;
    pos->off = pack_seek(nd->pk, (long long)i);
    return true;
}

static void ql_seek_end(const quicklist *ql, bool head, qlpos *pos) {
    pos->node = head ? ql->head : ql->tail;
    pos->off = head ? pack_first(pos->node->pk) : pack_last(pos->node->pk);
    pos->i = head ? 0 : pos->node->count - 1;
}

/* Moves to the next (forward) or previous element; false at the end. */
static bool ql_step(qlpos *pos, bool forward) {
    qlnode *nd = pos->node;
    size_t o = forward ? pack_next(nd->pk, pos->off) : pack_prev(nd->pk, pos->off);
    if (o != PACK_END) {
        pos->off = o;
        pos->i = forward ? pos->i + 1 : pos->i - 1;
        return true;
    }
    nd = forward ? nd->next : nd->prev;
    pos->node = nd;
    if (!nd) return false;
    pos->off = forward ? pack_first(nd->pk) : pack_last(nd->pk);
    pos->i = forward ? 0 : nd->count - 1;
    return true;
}

static const char *ql_get(const qlpos *pos, size_t *len) {
    return pack_get(pos->node->pk, pos->off, len);
}

/* Deletes n elements from index start (start + n <= count). Only the
 * touched nodes' packs change; whole nodes in the range are freed. */
static void ql_del_range(quicklist *ql, uint64_t start, uint64_t n) {
    if (!n) return;
    sg_assert(start < ql->count && n <= ql->count - start);
    qlpos pos;
    ql_seek(ql, start, &pos);
    qlnode *nd = pos.node;
    uint32_t i = pos.i;
    size_t off = pos.off;
    while (n) {
        qlnode *next = nd->next;
        uint64_t here = nd->count - i;
        if (here > n) here = n;
        if (here == nd->count) {
            ql_node_remove(ql, nd);
        } else {
            nd->pk = pack_delete(nd->pk, off, (size_t)here, NULL);
            nd->count -= (uint32_t)here;
        }
        ql->count -= here;
        n -= here;
        nd = next;
        i = 0;
        if (nd) off = pack_first(nd->pk);
    }
}

/* Removes the element at pos (no merging: used at the ends). */
static void ql_del_at(quicklist *ql, const qlpos *pos) {
    qlnode *nd = pos->node;
    if (nd->count == 1) {
        ql_node_remove(ql, nd);
    } else {
        nd->pk = pack_delete(nd->pk, pos->off, 1, NULL);
        nd->count--;
    }
    ql->count--;
}

/* Inserts s before or after the element at pos. */
static void ql_insert(quicklist *ql, const qlpos *pos, bool after, const char *s, size_t n) {
    qlnode *nd = pos->node;
    size_t at = after ? pack_next(nd->pk, pos->off) : pos->off; /* PACK_END: append */
    ql->count++;
    if (ql_node_allows(ql, nd, n)) {
        nd->pk = pack_insert(nd->pk, at, s, n, NULL);
        nd->count++;
        return;
    }
    if (at == PACK_END) { /* after the node's last element */
        if (nd->next && ql_node_allows(ql, nd->next, n)) {
            nd->next->pk = pack_prepend(nd->next->pk, s, n);
            nd->next->count++;
        } else {
            qlnode *m = ql_node_new(pack_append(pack_new(), s, n));
            ql_link_after(ql, nd, m);
        }
        return;
    }
    if (at == pack_first(nd->pk)) { /* before the node's first element */
        if (nd->prev && ql_node_allows(ql, nd->prev, n)) {
            nd->prev->pk = pack_append(nd->prev->pk, s, n);
            nd->prev->count++;
        } else {
            qlnode *m = ql_node_new(pack_append(pack_new(), s, n));
            ql_link_before(ql, nd, m);
        }
        return;
    }
    /* In the middle of a full node: split it at the insertion point. */
    uint32_t keep = after ? pos->i + 1 : pos->i;
    qlnode *right = ql_node_new(qpack_split(&nd->pk, at, keep));
    nd->count = keep;
    ql_link_after(ql, nd, right);
    if (ql_node_allows(ql, nd, n)) {
        nd->pk = pack_append(nd->pk, s, n);
        nd->count++;
    } else if (ql_node_allows(ql, right, n)) {
        right->pk = pack_prepend(right->pk, s, n);
        right->count++;
    } else {
        ql_link_after(ql, nd, ql_node_new(pack_append(pack_new(), s, n)));
    }
    ql_merge_pair(ql, right, right->next);
    ql_merge_pair(ql, nd->prev, nd); /* may free nd: last */
}

/* Replaces the element at pos. When the new element does not fit in its
 * node, the node is split around it, the element is replaced in a node of
 * its own, and that node is merged with a neighbour if they fit. */
static void ql_replace(quicklist *ql, const qlpos *pos, const char *s, size_t n) {
    qlnode *nd = pos->node;
    size_t old = qpack_entry_end(nd->pk, pos->off) - pos->off;
    if (nd->count == 1 || ql_fits(ql, pack_bytes(nd->pk) - old + qpack_entry_size(n), nd->count)) {
        nd->pk = pack_replace(nd->pk, pos->off, s, n);
        return;
    }
    qlnode *one = nd;
    if (pos->i > 0) {
        one = ql_node_new(qpack_split(&nd->pk, pos->off, pos->i));
        nd->count = pos->i;
        ql_link_after(ql, nd, one);
    }
    if (one->count > 1) {
        size_t rest = pack_next(one->pk, pack_first(one->pk));
        ql_link_after(ql, one, ql_node_new(qpack_split(&one->pk, rest, 1)));
        one->count = 1;
    }
    one->pk = pack_replace(one->pk, pack_first(one->pk), s, n);
    if (!ql_merge_pair(ql, one->prev, one)) ql_merge_pair(ql, one, one->next);
}

/* Removes from one node up to `limit` elements equal to s: the first ones,
 * or the last ones when from_tail. One pass: kept entries slide down in
 * place. Returns the number removed; the node may be left empty. */
static uint32_t ql_node_remove_eq(quicklist *ql, qlnode *nd, const char *s, size_t n,
                                  uint64_t limit, bool from_tail) {
    pack *p = nd->pk;
    uint32_t m = 0;
    for (size_t o = pack_find(p, pack_first(p), s, n, 0); o != PACK_END;
         o = pack_find(p, pack_next(p, o), s, n, 0))
        m++;
    if (!m) return 0;
    uint32_t take = (uint64_t)m < limit ? m : (uint32_t)limit;
    uint32_t skip = from_tail ? m - take : 0; /* matches kept before removing */
    size_t bytes = pack_bytes(p), w = PACK_HDR, o = pack_first(p);
    uint32_t seen = 0, removed = 0;
    while (o != PACK_END) {
        size_t nx = pack_next(p, o), end = nx == PACK_END ? bytes : nx;
        bool drop = false;
        if (qpack_entry_eq(p, o, s, n)) drop = seen++ >= skip;
        if (drop) {
            if (++removed == take) { /* the rest stays: move it at once */
                memmove(p + w, p + end, bytes - end);
                w += bytes - end;
                break;
            }
        } else {
            if (w != o) memmove(p + w, p + o, end - o);
            w += end - o;
        }
        o = nx;
    }
    qpack_set_header(p, w, nd->count - removed);
    nd->pk = sg_realloc(p, w);
    nd->count -= removed;
    ql->count -= removed;
    return removed;
}

/* LREM: removes up to `limit` (0: all) elements equal to s, scanning from
 * the head or the tail; merges small neighbours on the way. */
static uint64_t ql_remove_eq(quicklist *ql, const char *s, size_t n, uint64_t limit,
                             bool from_tail) {
    uint64_t removed = 0;
    qlnode *nd = from_tail ? ql->tail : ql->head;
    while (nd && (!limit || removed < limit)) {
        qlnode *next = from_tail ? nd->prev : nd->next;
        uint64_t left = limit ? limit - removed : UINT64_MAX;
        uint32_t r = ql_node_remove_eq(ql, nd, s, n, left, from_tail);
        removed += r;
        if (r && !nd->count) {
            ql_node_remove(ql, nd);
        } else if (r) {
            /* Merge with the already visited neighbour: that frees only the
             * second node of the pair, never `next`. */
            if (from_tail)
                ql_merge_pair(ql, nd, nd->next);
            else
                ql_merge_pair(ql, nd->prev, nd);
        }
        nd = next;
    }
    return removed;
}

#ifdef SURGE_LIST_CHECK
static void ql_check(const quicklist *ql) {
    uint64_t count = 0, nodes = 0;
    const qlnode *prev = NULL;
    for (const qlnode *nd = ql->head; nd; prev = nd, nd = nd->next) {
        sg_assert(nd->prev == prev);
        sg_assert(nd->count > 0 && nd->count == pack_count(nd->pk));
        sg_assert(ql_fits(ql, pack_bytes(nd->pk), nd->count));
        uint32_t k = 0;
        for (size_t o = pack_first(nd->pk); o != PACK_END; o = pack_next(nd->pk, o)) k++;
        sg_assert(k == nd->count);
        count += nd->count;
        nodes++;
    }
    sg_assert(ql->tail == prev);
    sg_assert(count == ql->count && nodes == ql->nnodes);
}
#define LIST_CHECK(ql)                                                                             \
    do {                                                                                           \
        if (ql) ql_check(ql);                                                                      \
    } while (0)
#else
#define LIST_CHECK(ql) ((void)(ql))
#endif

/* ---- keyspace hooks ---- */

static void list_free_value(void *ptr, int enc) {
    SG_UNUSED(enc);
    ql_free(ptr);
}

static void *list_dup_value(const void *ptr, int enc) {
    SG_UNUSED(enc);
    return ql_dup(ptr);
}

static size_t list_mem_value(const void *ptr, int enc) {
    SG_UNUSED(enc);
    const quicklist *ql = ptr;
    size_t n = sg_alloc_size(ql);
    for (const qlnode *nd = ql->head; nd; nd = nd->next)
        n += sg_alloc_size(nd) + sg_alloc_size(nd->pk);
    return n;
}

/* Order-dependent: each element is mixed into the running digest in turn. */
static void list_digest_value(const void *ptr, int enc, uint8_t out[20]) {
    SG_UNUSED(enc);
    const quicklist *ql = ptr;
    memset(out, 0, 20);
    for (const qlnode *nd = ql->head; nd; nd = nd->next) {
        for (size_t o = pack_first(nd->pk); o != PACK_END; o = pack_next(nd->pk, o)) {
            size_t len;
            const char *v = pack_get(nd->pk, o, &len);
            ks_digest_mix(out, v, len);
        }
    }
}

void list_type_register(void) {
    static const ks_type_ops ops = {
        .name = "list",
        .free = list_free_value,
        .dup = list_dup_value,
        .mem = list_mem_value,
        .digest = list_digest_value,
    };
    ks_register_type(OBJ_LIST, &ops);
}

/* ---- command helpers ---- */

/* The list at argv[i] for writing: NULL when missing (*wrong false) or of
 * another type (*wrong true, WRONGTYPE already replied). */
static quicklist *list_lookup_write(client *c, int i, kref *ref, bool *wrong) {
    kentry *e = lookup_write_typed(c, i, OBJ_LIST, ref, wrong);
    return e ? kentry_ptr(e) : NULL;
}

static quicklist *list_lookup_read(client *c, int i, bool *wrong) {
    kentry *e = lookup_read_typed(c, i, OBJ_LIST, NULL, wrong);
    return e ? kentry_ptr(e) : NULL;
}

/* Creates an empty list under argv[i] (the key must be missing). */
static quicklist *list_create(client *c, int i) {
    quicklist *ql = ql_new(cfg.list_max_listpack_size);
    kdb_add(c->db, kentry_new_ptr(c->argv[i], c->argvlen[i], OBJ_LIST, ENC_QUICKLIST, ql, -1));
    return ql;
}

/* After a change to the list at argv[i]: deletes the key when the list is
 * empty (ref must still be valid then), signals, counts dirty. */
static void list_changed(client *c, int i, kref *ref, quicklist *ql, long long dirty,
                         const char *event) {
    LIST_CHECK(ql->count ? ql : NULL);
    bool emptied = !ql->count;
    if (emptied) kdb_delete(ref);
    server_key_modified(c, c->db, c->argv[i], c->argvlen[i]);
    notify_keyspace_event(c->srv, NOTIFY_LIST, event, c->dbid, c->argv[i], c->argvlen[i]);
    if (emptied)
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[i], c->argvlen[i]);
    server_dirty(c->srv, dirty);
}

/* Deletes the list at argv[i] when it is empty, looking the key up again
 * (for commands that added keys since their lookup). */
static void list_delete_if_empty(client *c, int i, quicklist *ql) {
    if (ql->count) return;
    kref r;
    kentry *e = kdb_lookup_write(c->db, c->argv[i], c->argvlen[i], &r);
    sg_assert(e && kentry_ptr(e) == ql);
    kdb_delete(&r);
}

static bool list_check_item_size_or_reply(client *c, int from, int to) {
    for (int j = from; j < to; j++) {
        if (c->argvlen[j] > LIST_MAX_ITEM_SIZE) {
            reply_error(c, "ERR Element too large");
            return false;
        }
    }
    return true;
}

/* Redis's getRangeLongFromObjectOrReply with a message: the message is the
 * reply both for a non-integer and for a value out of [min, max]. */
static bool list_arg_range_or_reply(client *c, int i, long long min, long long max, long long *v,
                                    const char *msg) {
    if (!sg_str2ll(c->argv[i], c->argvlen[i], v) || *v < min || *v > max) {
        reply_error(c, msg);
        return false;
    }
    return true;
}

/* LEFT/RIGHT argument: true for LEFT (the head). */
static bool list_arg_where_or_reply(client *c, int i, bool *head) {
    if (arg_is(c, i, "left"))
        *head = true;
    else if (arg_is(c, i, "right"))
        *head = false;
    else {
        reply_syntax_error(c);
        return false;
    }
    return true;
}

/* Replies n elements from index start, head to tail, or tail to head when
 * reverse (then start is still the range's lowest index). */
static void list_reply_range(client *c, const quicklist *ql, uint64_t start, uint64_t n,
                             bool reverse) {
    reply_array(c, (long long)n);
    if (!n) return;
    qlpos pos;
    ql_seek(ql, reverse ? start + n - 1 : start, &pos);
    for (uint64_t k = 0; k < n; k++) {
        size_t len;
        const char *v = ql_get(&pos, &len);
        reply_bulk(c, v, len);
        if (k + 1 < n) ql_step(&pos, !reverse);
    }
}

/* Pops up to count elements from one end, replying them as an array in
 * pop order. Returns the number popped. */
static uint64_t list_pop_range_reply(client *c, quicklist *ql, bool head, uint64_t count) {
    uint64_t n = count < ql->count ? count : ql->count;
    uint64_t start = head ? 0 : ql->count - n;
    list_reply_range(c, ql, start, n, !head);
    ql_del_range(ql, start, n);
    return n;
}

/* ---- push ---- */

static void push_generic(client *c, bool head, bool xx) {
    if (!list_check_item_size_or_reply(c, 2, c->argc)) return;
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        if (xx) {
            reply_int(c, 0);
            return;
        }
        ql = list_create(c, 1);
    }
    for (int j = 2; j < c->argc; j++) ql_push(ql, head, c->argv[j], c->argvlen[j]);
    reply_int(c, (long long)ql->count);
    LIST_CHECK(ql);
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    notify_keyspace_event(c->srv, NOTIFY_LIST, head ? "lpush" : "rpush", c->dbid, c->argv[1],
                          c->argvlen[1]);
    server_dirty(c->srv, c->argc - 2);
}

void lpush_command(client *c) {
    push_generic(c, true, false);
}

void rpush_command(client *c) {
    push_generic(c, false, false);
}

void lpushx_command(client *c) {
    push_generic(c, true, true);
}

void rpushx_command(client *c) {
    push_generic(c, false, true);
}

/* ---- pop ---- */

static void pop_generic(client *c, bool head) {
    long long count = 0;
    bool hascount = c->argc == 3;
    if (c->argc > 3) {
        reply_errorf(c, "ERR wrong number of arguments for '%s' command", c->cmd->fullname);
        return;
    }
    if (hascount && !list_arg_range_or_reply(c, 2, 0, LLONG_MAX, &count,
                                             "ERR value is out of range, must be positive"))
        return;
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        if (hascount)
            reply_null_array(c);
        else
            reply_null(c);
        return;
    }
    if (hascount && !count) {
        reply_array(c, 0);
        return;
    }
    uint64_t n = 1;
    if (!hascount) {
        qlpos pos;
        ql_seek_end(ql, head, &pos);
        size_t len;
        const char *v = ql_get(&pos, &len);
        reply_bulk(c, v, len);
        ql_del_at(ql, &pos);
    } else {
        n = list_pop_range_reply(c, ql, head, (uint64_t)count);
    }
    list_changed(c, 1, &r, ql, (long long)n, head ? "lpop" : "rpop");
}

void lpop_command(client *c) {
    pop_generic(c, true);
}

void rpop_command(client *c) {
    pop_generic(c, false);
}

/* ---- reads ---- */

void llen_command(client *c) {
    bool wrong;
    quicklist *ql = list_lookup_read(c, 1, &wrong);
    if (wrong) return;
    reply_int(c, ql ? (long long)ql->count : 0);
}

/* Resolves a possibly negative index; false when out of range. */
static bool list_index(const quicklist *ql, long long idx, uint64_t *out) {
    long long n = (long long)ql->count;
    if (idx < 0) idx += n;
    if (idx < 0 || idx >= n) return false;
    *out = (uint64_t)idx;
    return true;
}

void lindex_command(client *c) {
    bool wrong;
    quicklist *ql = list_lookup_read(c, 1, &wrong);
    if (wrong) return;
    if (!ql) {
        reply_null(c);
        return;
    }
    long long idx;
    if (!arg_ll_or_reply(c, 2, &idx, NULL)) return;
    uint64_t i;
    qlpos pos;
    if (!list_index(ql, idx, &i) || !ql_seek(ql, i, &pos)) {
        reply_null(c);
        return;
    }
    size_t len;
    const char *v = ql_get(&pos, &len);
    reply_bulk(c, v, len);
}

/* Redis's start/end normalization for LRANGE and LTRIM: false when the
 * range is empty, else [*s, *e] within the list. */
static bool list_range(long long llen, long long start, long long end, long long *s, long long *e) {
    if (start < 0) start += llen;
    if (end < 0) end += llen;
    if (start < 0) start = 0;
    if (start > end || start >= llen) return false;
    if (end >= llen) end = llen - 1;
    *s = start;
    *e = end;
    return true;
}

void lrange_command(client *c) {
    long long start, end;
    if (!arg_ll_or_reply(c, 2, &start, NULL) || !arg_ll_or_reply(c, 3, &end, NULL)) return;
    bool wrong;
    quicklist *ql = list_lookup_read(c, 1, &wrong);
    if (wrong) return;
    long long s, e;
    if (!ql || !list_range((long long)ql->count, start, end, &s, &e)) {
        reply_array(c, 0);
        return;
    }
    list_reply_range(c, ql, (uint64_t)s, (uint64_t)(e - s + 1), false);
}

void lpos_command(client *c) {
    long long rank = 1, count = -1, maxlen = 0; /* count -1: no COUNT option */
    for (int j = 3; j < c->argc; j++) {
        bool more = j + 1 < c->argc;
        if (arg_is(c, j, "rank") && more) {
            if (!arg_ll_or_reply(c, ++j, &rank, NULL)) return;
            if (rank == 0) {
                reply_error(c, "ERR RANK can't be zero: use 1 to start from the first match, 2 "
                               "from the second ... or use negative to start from the end of "
                               "the list");
                return;
            }
        } else if (arg_is(c, j, "count") && more) {
            if (!list_arg_range_or_reply(c, ++j, 0, LLONG_MAX, &count,
                                         "ERR COUNT can't be negative"))
                return;
        } else if (arg_is(c, j, "maxlen") && more) {
            if (!list_arg_range_or_reply(c, ++j, 0, LLONG_MAX, &maxlen,
                                         "ERR MAXLEN can't be negative"))
                return;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    bool from_tail = false;
    if (rank < 0) {
        /* Wraps for LLONG_MIN, which then stays negative, as in Redis. */
        rank = (long long)(0ULL - (unsigned long long)rank);
        from_tail = true;
    }
    bool wrong;
    quicklist *ql = list_lookup_read(c, 1, &wrong);
    if (wrong) return;
    if (!ql) {
        if (count != -1)
            reply_array(c, 0);
        else
            reply_null(c);
        return;
    }
    const char *ele = c->argv[2];
    size_t elen = c->argvlen[2];
    long long llen = (long long)ql->count, index = 0, matches = 0, matchindex = -1;
    long long *found = NULL;
    size_t nfound = 0, cap = 0;
    qlpos pos;
    ql_seek_end(ql, !from_tail, &pos);
    bool have = true;
    while (have && (maxlen == 0 || index < maxlen)) {
        if (qpack_entry_eq(pos.node->pk, pos.off, ele, elen)) {
            matches++;
            matchindex = from_tail ? llen - index - 1 : index;
            if (matches >= rank) {
                if (count == -1) break;
                if (nfound == cap) {
                    cap = cap ? cap * 2 : 16;
                    found = sg_realloc(found, cap * sizeof(*found));
                }
                found[nfound++] = matchindex;
                /* matches - rank + 1 >= count, wrapping as Redis's long does */
                long long got =
                    (long long)((unsigned long long)matches - (unsigned long long)rank + 1ULL);
                if (count && got >= count) break;
            }
        }
        index++;
        matchindex = -1;
        have = ql_step(&pos, !from_tail);
    }
    if (count != -1) {
        reply_array(c, (long long)nfound);
        for (size_t k = 0; k < nfound; k++) reply_int(c, found[k]);
    } else if (matchindex != -1) {
        reply_int(c, matchindex);
    } else {
        reply_null(c);
    }
    sg_free(found);
}

/* ---- in-place edits ---- */

void lset_command(client *c) {
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        reply_error(c, ERR_NO_KEY);
        return;
    }
    long long idx;
    if (!arg_ll_or_reply(c, 2, &idx, NULL)) return;
    if (!list_check_item_size_or_reply(c, 3, 4)) return;
    uint64_t i;
    qlpos pos;
    if (!list_index(ql, idx, &i) || !ql_seek(ql, i, &pos)) {
        reply_error(c, "ERR index out of range");
        return;
    }
    ql_replace(ql, &pos, c->argv[3], c->argvlen[3]);
    reply_ok(c);
    list_changed(c, 1, &r, ql, 1, "lset");
}

void linsert_command(client *c) {
    bool after;
    if (arg_is(c, 2, "after"))
        after = true;
    else if (arg_is(c, 2, "before"))
        after = false;
    else {
        reply_syntax_error(c);
        return;
    }
    if (!list_check_item_size_or_reply(c, 4, 5)) return;
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        reply_int(c, 0);
        return;
    }
    const char *pivot = c->argv[3];
    size_t plen = c->argvlen[3];
    for (qlnode *nd = ql->head; nd; nd = nd->next) {
        size_t off = pack_find(nd->pk, pack_first(nd->pk), pivot, plen, 0);
        if (off == PACK_END) continue;
        qlpos pos = {nd, off, 0};
        for (size_t o = pack_first(nd->pk); o != off; o = pack_next(nd->pk, o)) pos.i++;
        ql_insert(ql, &pos, after, c->argv[4], c->argvlen[4]);
        reply_int(c, (long long)ql->count);
        list_changed(c, 1, &r, ql, 1, "linsert");
        return;
    }
    reply_int(c, -1);
}

void lrem_command(client *c) {
    long long toremove;
    if (!arg_ll_or_reply(c, 2, &toremove, NULL)) return;
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        reply_int(c, 0);
        return;
    }
    /* A negative count removes from the tail; LLONG_MIN (whose negation
     * wraps in Redis) removes every match, like 0. */
    bool from_tail = toremove < 0;
    uint64_t limit = toremove < 0 ? 0ULL - (unsigned long long)toremove : (uint64_t)toremove;
    if (toremove == LLONG_MIN) limit = 0;
    uint64_t removed = ql_remove_eq(ql, c->argv[3], c->argvlen[3], limit, from_tail);
    reply_int(c, (long long)removed);
    if (removed) list_changed(c, 1, &r, ql, (long long)removed, "lrem");
}

void ltrim_command(client *c) {
    long long start, end;
    if (!arg_ll_or_reply(c, 2, &start, NULL) || !arg_ll_or_reply(c, 3, &end, NULL)) return;
    kref r;
    bool wrong;
    quicklist *ql = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!ql) {
        reply_ok(c);
        return;
    }
    uint64_t llen = ql->count, ltrim, rtrim;
    long long s, e;
    if (!list_range((long long)llen, start, end, &s, &e)) {
        ltrim = llen;
        rtrim = 0;
    } else {
        ltrim = (uint64_t)s;
        rtrim = llen - (uint64_t)e - 1;
    }
    ql_del_range(ql, 0, ltrim);
    if (rtrim) ql_del_range(ql, ql->count - rtrim, rtrim);
    reply_ok(c);
    list_changed(c, 1, &r, ql, (long long)(ltrim + rtrim), "ltrim");
}

/* ---- moves between lists ---- */

static void lmove_generic(client *c, bool from_head, bool to_head) {
    kref r;
    bool wrong;
    quicklist *src = list_lookup_write(c, 1, &r, &wrong);
    if (wrong) return;
    if (!src) {
        reply_null(c);
        return;
    }
    /* This lookup may expire the destination: src's kref is stale after
     * it, the quicklist pointer is not. */
    quicklist *dst = list_lookup_write(c, 2, &r, &wrong);
    if (wrong) return;
    qlpos pos;
    ql_seek_end(src, from_head, &pos);
    size_t len;
    const char *v = ql_get(&pos, &len);
    sstr *val = sstr_new(v, len);
    ql_del_at(src, &pos);
    if (!dst) dst = list_create(c, 2);
    ql_push(dst, to_head, val->buf, val->len);
    reply_bulk(c, val->buf, val->len);
    sstr_free(val);
    LIST_CHECK(dst);
    LIST_CHECK(src->count ? src : NULL);
    bool emptied = !src->count;
    list_delete_if_empty(c, 1, src); /* never when src == dst: dst was pushed */
    server_key_modified(c, c->db, c->argv[1], c->argvlen[1]);
    server_key_modified(c, c->db, c->argv[2], c->argvlen[2]);
    notify_keyspace_event(c->srv, NOTIFY_LIST, to_head ? "lpush" : "rpush", c->dbid, c->argv[2],
                          c->argvlen[2]);
    notify_keyspace_event(c->srv, NOTIFY_LIST, from_head ? "lpop" : "rpop", c->dbid, c->argv[1],
                          c->argvlen[1]);
    if (emptied)
        notify_keyspace_event(c->srv, NOTIFY_GENERIC, "del", c->dbid, c->argv[1], c->argvlen[1]);
    server_dirty(c->srv, 1);
}

void lmove_command(client *c) {
    bool from_head, to_head;
    if (!list_arg_where_or_reply(c, 3, &from_head) || !list_arg_where_or_reply(c, 4, &to_head))
        return;
    lmove_generic(c, from_head, to_head);
}

void rpoplpush_command(client *c) {
    lmove_generic(c, false, true);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], with numkeys at
 * argv[ni]; BLMPOP (blocking) waits instead of replying a null array. */
static void lmpop_generic(client *c, int ni, bool blocking, uint64_t deadline) {
    long long numkeys, count = -1;
    if (!list_arg_range_or_reply(c, ni, 1, LLONG_MAX, &numkeys,
                                 "ERR numkeys should be greater than 0"))
        return;
    /* The keys are argv[ni+1 .. ni+numkeys], then the direction. */
    if (numkeys > (long long)c->argc - ni - 2) {
        reply_syntax_error(c);
        return;
    }
    int where_idx = (int)numkeys + ni + 1;
    bool head;
    if (!list_arg_where_or_reply(c, where_idx, &head)) return;
    for (int j = where_idx + 1; j < c->argc; j++) {
        if (count == -1 && arg_is(c, j, "count") && j + 1 < c->argc) {
            if (!list_arg_range_or_reply(c, ++j, 1, LLONG_MAX, &count,
                                         "ERR count should be greater than 0"))
                return;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    if (count == -1) count = 1;
    for (int k = ni + 1; k < where_idx; k++) {
        kref r;
        bool wrong;
        quicklist *ql = list_lookup_write(c, k, &r, &wrong);
        if (wrong) return;
        if (!ql || !ql->count) continue;
        reply_array(c, 2);
        reply_bulk(c, c->argv[k], c->argvlen[k]);
        uint64_t n = list_pop_range_reply(c, ql, head, (uint64_t)count);
        list_changed(c, k, &r, ql, (long long)n, head ? "lpop" : "rpop");
        return;
    }
    if (blocking)
        block_on_keys(c, (int)numkeys, c->argv + ni + 1, c->argvlen + ni + 1, deadline,
                      BLOCK_REPLY_NULL_ARRAY);
    else
        reply_null_array(c);
}

void lmpop_command(client *c) {
    lmpop_generic(c, 1, false, 0);
}

/* ---- blocking variants (block.c): serve now if a key has elements, else
 * wait for a push; the timeout is parsed first, as Redis does ---- */

static void bpop_generic(client *c, bool head) {
    uint64_t deadline;
    if (!block_timeout_or_reply(c, c->argc - 1, &deadline)) return;
    for (int k = 1; k < c->argc - 1; k++) {
        kref r;
        bool wrong;
        quicklist *ql = list_lookup_write(c, k, &r, &wrong);
        if (wrong) return;
        if (!ql || !ql->count) continue;
        qlpos pos;
        ql_seek_end(ql, head, &pos);
        size_t len;
        const char *v = ql_get(&pos, &len);
        reply_array(c, 2);
        reply_bulk(c, c->argv[k], c->argvlen[k]);
        reply_bulk(c, v, len);
        ql_del_at(ql, &pos);
        list_changed(c, k, &r, ql, 1, head ? "lpop" : "rpop");
        return;
    }
    block_on_keys(c, c->argc - 2, c->argv + 1, c->argvlen + 1, deadline, BLOCK_REPLY_NULL_ARRAY);
}

void blpop_command(client *c) {
    bpop_generic(c, true);
}

void brpop_command(client *c) {
    bpop_generic(c, false);
}

static void blmove_generic(client *c, bool from_head, bool to_head, int timeout_idx) {
    uint64_t deadline;
    if (!block_timeout_or_reply(c, timeout_idx, &deadline)) return;
    bool wrong;
    quicklist *src = list_lookup_read(c, 1, &wrong);
    if (wrong) return;
    if (src && src->count) {
        lmove_generic(c, from_head, to_head);
        return;
    }
    block_on_keys(c, 1, c->argv + 1, c->argvlen + 1, deadline, BLOCK_REPLY_NULL);
}

void blmove_command(client *c) {
    bool from_head, to_head;
    if (!list_arg_where_or_reply(c, 3, &from_head) || !list_arg_where_or_reply(c, 4, &to_head))
        return;
    blmove_generic(c, from_head, to_head, 5);
}

void brpoplpush_command(client *c) {
    blmove_generic(c, false, true, 3);
}

/* BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count] */
void blmpop_command(client *c) {
    uint64_t deadline;
    if (!block_timeout_or_reply(c, 1, &deadline)) return;
    lmpop_generic(c, 2, true, deadline);
}

/* ---- DUMP/RESTORE surface (persist/serialize.c) ----
 * The one exported pair: walk a list's elements head to tail, and build a
 * list (quicklist) from elements. */
void list_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx) {
    SG_UNUSED(enc);
    const quicklist *ql = ptr;
    for (const qlnode *nd = ql->head; nd; nd = nd->next) {
        for (size_t o = pack_first(nd->pk); o != PACK_END; o = pack_next(nd->pk, o)) {
            size_t len;
            const char *v = pack_get(nd->pk, o, &len);
            fn(ctx, v, len, NULL, 0, 0);
        }
    }
}

void *list_type_build(const persist_elem *v, size_t n, int *enc) {
    quicklist *ql = ql_new(cfg.list_max_listpack_size);
    for (size_t i = 0; i < n; i++) ql_push(ql, false, v[i].a, v[i].al);
    *enc = ENC_QUICKLIST;
    return ql;
}
