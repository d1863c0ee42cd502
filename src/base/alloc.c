/*
 * Accounted allocation and sstr.
 *
 * Every allocation the server makes goes through sg_malloc & co, which add
 * the usable size of the block to a counter, so used_memory is the exact
 * number of bytes handed out by the allocator (not the bytes asked for).
 * The counter is a plain integer: commands run on one thread, and work that
 * frees memory in the background is done in slices on that same thread.
 *
 * Small blocks (up to SLAB_MAX bytes) come from a slab allocator, larger
 * ones from libc malloc. glibc puts an 8-byte size word before every chunk
 * and rounds chunks to 16 bytes, so a block of 16k-7 .. 16k+8 bytes costs
 * 16(k+1): a 27-byte key entry takes 48 bytes, a 39-byte one too. The slab
 * has no per-block header: blocks of one size class (every multiple of 8
 * up to SLAB_MAX) are cut from 64 KiB pages, and a block's class is found
 * from its page, so a 27-byte entry takes 32 bytes. sg_malloc uses the
 * classes that are multiples of 16, so its blocks stay 16-byte aligned;
 * sg_malloc_align8 (key entries, whose addresses the keyspace tags in their
 * low 3 bits) also uses the others, so a 39-byte entry takes 40 bytes.
 *
 *   region (reserved once, PROT_NONE; made writable a chunk at a time)
 *   +--------------------+--------------------+-----+----------------...
 *   | page: hdr | blocks | page: hdr | blocks | ... | not yet writable
 *   +--------------------+--------------------+-----+----------------...
 *   page hdr: class list links, free-block list, bump offset, counts
 *
 * A class keeps a list of its pages that have a free block; allocation
 * takes the first block of the list's first page (recycled blocks first,
 * then the page's never-used tail, so a page is touched only as it fills).
 * A page whose last block is freed goes back to a pool shared by all
 * classes; beyond SLAB_DIRTY_MAX pooled pages the rest are returned to the
 * kernel with MADV_DONTNEED. If the region cannot be reserved or is used
 * up, everything falls back to malloc; free tells the two apart by address.
 * Sanitizer builds use malloc only, so ASan still sees every block, and
 * SURGE_SLAB=0 in the environment turns the slab off (SURGE_SLAB=n: blocks
 * up to n bytes only), to compare the two.
 *
 * Classes stop at 256 bytes. A class never hands its free blocks to
 * another size, so when objects grow by doubling (keyspace and dict
 * tables), the few that stay at an old size pin that size's pages; glibc
 * splits and reuses such holes for anything. With classes up to 1024 the
 * 16-byte-string benchmark row was 2.3 bytes/key worse than with 256;
 * small entries, packs and nodes, where the header matters, are below 256.
 *
 * On allocation failure the process logs and aborts: a server that cannot
 * allocate a reply buffer has no honest way to go on. maxmemory is what keeps
 * it from getting there.
 */
#include "base.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t used_memory;

/* ---- slab ---- */

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SLAB_ENABLED 0
#endif
#endif
#ifndef SLAB_ENABLED
#define SLAB_ENABLED 1
#endif

#define SLAB_MAX       256                 /* largest slab block */
#define SLAB_NCLASS    (SLAB_MAX / 8 + 1)  /* class c: blocks of 8c bytes */
#define SLAB_PAGE      ((size_t)64 << 10)  /* page size and alignment */
#define SLAB_GROW      ((size_t)2 << 20)   /* made writable at a time */
#define SLAB_DIRTY_MAX 32                  /* empty pages kept resident */
#define SLAB_REGION    ((size_t)256 << 30) /* reserved address space */

typedef struct spage {
    struct spage *next, *prev; /* class list (pages with a free block) or pool */
    void *free;                /* freed blocks, linked through their first word */
    uint32_t bump;             /* offset of the first never-used block */
    uint16_t cls;
    uint16_t used; /* blocks handed out */
} spage;
_Static_assert(sizeof(spage) == 32, "slab page header is 32 bytes (keeps blocks aligned)");

static size_t slab_max = SLAB_MAX; /* SURGE_SLAB=n lowers it (0: malloc only) */

static struct {
    char *base, *top, *writable, *end; /* region; pages are carved at top */
    spage *avail[SLAB_NCLASS];         /* per class: pages with a free block */
    spage *dirty;                      /* empty pages, still resident */
    unsigned ndirty;
    spage **clean;           /* empty pages given back to the kernel (a malloc'd stack, */
    size_t nclean, cleancap; /* so listing them does not touch them) */
} slab;

__attribute__((constructor)) static void slab_init(void) {
    if (!SLAB_ENABLED) return;
    const char *env = getenv("SURGE_SLAB");
    if (env) {
        long v = strtol(env, NULL, 10);
        if (v <= 0) return;
        if (v < SLAB_MAX) slab_max = (size_t)v;
    }
    for (size_t sz = SLAB_REGION; sz >= ((size_t)1 << 30); sz /= 4) {
        void *p = mmap(NULL, sz + SLAB_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) continue;
        uintptr_t a = ((uintptr_t)p + SLAB_PAGE - 1) & ~(uintptr_t)(SLAB_PAGE - 1);
        slab.base = slab.top = slab.writable = (char *)a;
        slab.end = slab.base + sz;
        return;
    }
}

static inline bool slab_owns(const void *p) {
    return (uintptr_t)p - (uintptr_t)slab.base < (uintptr_t)slab.end - (uintptr_t)slab.base;
}

static inline spage *page_of(const void *p) {
    return (spage *)((uintptr_t)p & ~(uintptr_t)(SLAB_PAGE - 1));
}

static inline size_t class_size(unsigned cls) {
    return (size_t)cls * 8;
}

static inline bool page_full(const spage *pg) {
    return !pg->free && pg->bump + class_size(pg->cls) > SLAB_PAGE;
}

static void list_push(spage **head, spage *pg) {
    pg->prev = NULL;
    pg->next = *head;
    if (*head) (*head)->prev = pg;
    *head = pg;
}

static void list_unlink(spage **head, spage *pg) {
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        *head = pg->next;
    if (pg->next) pg->next->prev = pg->prev;
}

/* An empty page for class cls, or NULL when the region is used up. */
static spage *page_new(unsigned cls) {
    spage *pg = slab.dirty;
    if (pg) {
        slab.dirty = pg->next;
        slab.ndirty--;
    } else if (slab.nclean) {
        pg = slab.clean[--slab.nclean];
    } else {
        if (slab.top == slab.end) return NULL;
        if (slab.top == slab.writable) {
            size_t n = (size_t)(slab.end - slab.writable);
            if (n > SLAB_GROW) n = SLAB_GROW;
            if (mprotect(slab.writable, n, PROT_READ | PROT_WRITE) != 0) return NULL;
            slab.writable += n;
        }
        pg = (spage *)slab.top;
        slab.top += SLAB_PAGE;
    }
    pg->free = NULL;
    pg->bump = sizeof(spage);
    pg->cls = (uint16_t)cls;
    pg->used = 0;
    list_push(&slab.avail[cls], pg);
    return pg;
}

/* align8: the block may be only 8-byte aligned (odd classes); otherwise
 * the class is even, so blocks stay 16-byte aligned (pages and their
 * 32-byte headers are). */
static void *slab_alloc_cls(size_t n, bool align8) {
    unsigned cls = align8 ? (unsigned)((n + 7) >> 3) : (unsigned)((n + 15) >> 4) * 2;
    if (!cls) cls = 2;
    spage *pg = slab.avail[cls];
    if (SG_UNLIKELY(!pg) && !(pg = page_new(cls))) return NULL;
    void *p = pg->free;
    if (p) {
        pg->free = *(void **)p;
    } else {
        p = (char *)pg + pg->bump;
        pg->bump += (uint32_t)class_size(cls);
    }
    pg->used++;
    if (page_full(pg)) list_unlink(&slab.avail[cls], pg);
    return p;
}

static inline void *slab_alloc(size_t n) {
    return slab_alloc_cls(n, false);
}

static void slab_free(void *p) {
    spage *pg = page_of(p);
    bool was_full = page_full(pg);
    *(void **)p = pg->free;
    pg->free = p;
    pg->used--;
    if (was_full) list_push(&slab.avail[pg->cls], pg);
    if (pg->used) return;
    list_unlink(&slab.avail[pg->cls], pg);
    if (slab.ndirty < SLAB_DIRTY_MAX) {
        pg->next = slab.dirty;
        slab.dirty = pg;
        slab.ndirty++;
        return;
    }
    if (slab.nclean == slab.cleancap) {
        size_t cap = slab.cleancap ? slab.cleancap * 2 : 256;
        spage **v = realloc(slab.clean, cap * sizeof(*v));
        if (!v) { /* keep it resident rather than lose it */
            pg->next = slab.dirty;
            slab.dirty = pg;
            slab.ndirty++;
            return;
        }
        slab.clean = v;
        slab.cleancap = cap;
    }
    /* The header goes too; page_new rewrites it. */
    madvise(pg, SLAB_PAGE, MADV_DONTNEED);
    slab.clean[slab.nclean++] = pg;
}

static inline size_t usable(const void *p) {
    return slab_owns(p) ? class_size(page_of(p)->cls) : malloc_usable_size((void *)p);
}

static inline void *raw_alloc(size_t n) {
    if (n <= slab_max && slab.base) {
        void *p = slab_alloc(n);
        if (SG_LIKELY(p != NULL)) return p;
    }
    return malloc(n ? n : 1);
}

static inline void raw_free(void *p) {
    if (slab_owns(p))
        slab_free(p);
    else
        free(p);
}

static void oom(size_t n) {
    fprintf(stderr, "surge: out of memory allocating %zu bytes\n", n);
    fflush(stderr);
    abort();
}

void *sg_malloc(size_t n) {
    void *p = raw_alloc(n);
    if (SG_UNLIKELY(!p)) oom(n);
    used_memory += usable(p);
    return p;
}

void *sg_malloc_align8(size_t n) {
    void *p = NULL;
    if (n <= slab_max && slab.base) p = slab_alloc_cls(n, true);
    if (!p) p = malloc(n ? n : 1);
    if (SG_UNLIKELY(!p)) oom(n);
    used_memory += usable(p);
    return p;
}

void *sg_calloc(size_t n) {
    void *p;
    if (n <= slab_max && slab.base && (p = slab_alloc(n)) != NULL) {
        memset(p, 0, n);
    } else {
        p = calloc(1, n ? n : 1);
        if (SG_UNLIKELY(!p)) oom(n);
    }
    used_memory += usable(p);
    return p;
}

void *sg_realloc(void *p, size_t n) {
    if (!p) return sg_malloc(n);
    size_t old = usable(p);
    void *q;
    if (slab_owns(p)) {
        /* Same class (or a shrink within 16 bytes of it): stays put. */
        if (n <= old && n + 16 > old) return p;
        q = raw_alloc(n);
        if (SG_UNLIKELY(!q)) oom(n);
        memcpy(q, p, n < old ? n : old);
        slab_free(p);
    } else if (n <= slab_max && slab.base) {
        /* A malloc block shrinking into slab range (or one made before
         * the slab was set up): move it. */
        q = raw_alloc(n);
        if (SG_UNLIKELY(!q)) oom(n);
        memcpy(q, p, n < old ? n : old);
        free(p);
    } else {
        q = realloc(p, n ? n : 1);
        if (SG_UNLIKELY(!q)) oom(n);
    }
    used_memory += usable(q);
    used_memory -= old;
    return q;
}

void sg_free(void *p) {
    if (!p) return;
    used_memory -= usable(p);
    raw_free(p);
}

char *sg_strdup(const char *s) {
    return sg_memdup(s, strlen(s) + 1);
}

void *sg_memdup(const void *p, size_t n) {
    void *q = sg_malloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

const char *sg_allocator_name(void) {
    return slab.base && slab_max ? "slab+libc" : "libc";
}

size_t sg_alloc_purge(void) {
    size_t n = 0;
    while (slab.dirty) { /* empty pages kept resident go back to the kernel */
        spage *pg = slab.dirty;
        if (slab.nclean == slab.cleancap) {
            size_t cap = slab.cleancap ? slab.cleancap * 2 : 256;
            spage **v = realloc(slab.clean, cap * sizeof(*v));
            if (!v) break;
            slab.clean = v;
            slab.cleancap = cap;
        }
        slab.dirty = pg->next;
        slab.ndirty--;
        madvise(pg, SLAB_PAGE, MADV_DONTNEED);
        slab.clean[slab.nclean++] = pg;
        n += SLAB_PAGE;
    }
    malloc_trim(0);
    return n;
}

size_t sg_alloc_size(const void *p) {
    return p ? usable(p) : 0;
}

size_t sg_used_memory(void) {
    return used_memory;
}

size_t sg_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    if (n != 2) return 0;
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

void sg_assert_fail(const char *expr, const char *file, int line) {
    sg_log(SG_LOG_WARNING, "ASSERTION FAILED: %s at %s:%d", expr, file, line);
    fprintf(stderr, "surge: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}

void sg_panic(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "surge: PANIC: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* ---- sstr ---- */

sstr *sstr_new_cap(size_t cap) {
    sstr *s = sg_malloc(sizeof(sstr) + cap + 1);
    s->len = 0;
    s->cap = sg_alloc_size(s) - sizeof(sstr) - 1;
    s->buf[0] = '\0';
    return s;
}

sstr *sstr_new(const void *p, size_t n) {
    sstr *s = sstr_new_cap(n);
    if (n) memcpy(s->buf, p, n);
    s->len = n;
    s->buf[n] = '\0';
    return s;
}

sstr *sstr_reserve(sstr *s, size_t extra) {
    if (s->cap - s->len >= extra) return s;
    size_t need = s->len + extra;
    /* Double while small, then grow by 1 MB steps, like sds. */
    size_t cap = need < (1u << 20) ? need * 2 : need + (1u << 20);
    s = sg_realloc(s, sizeof(sstr) + cap + 1);
    s->cap = sg_alloc_size(s) - sizeof(sstr) - 1;
    return s;
}

sstr *sstr_cat(sstr *s, const void *p, size_t n) {
    s = sstr_reserve(s, n);
    if (n) memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return s;
}

sstr *sstr_grow_zero(sstr *s, size_t newlen) {
    if (newlen <= s->len) return s;
    s = sstr_reserve(s, newlen - s->len);
    memset(s->buf + s->len, 0, newlen - s->len + 1);
    s->len = newlen;
    return s;
}

sstr *sstr_catfmt(sstr *s, const char *fmt, ...) {
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return s;
    if ((size_t)n < sizeof(small)) return sstr_cat(s, small, (size_t)n);
    s = sstr_reserve(s, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    return s;
}

void sstr_free(sstr *s) {
    sg_free(s);
}
