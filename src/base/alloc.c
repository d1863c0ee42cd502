/*
 * Accounted allocation and sstr.
 *
 * Every allocation the server makes goes through sg_malloc & co, which add
 * malloc_usable_size() of the block to a counter, so used_memory is the exact
 * number of bytes handed out by the allocator (not the bytes asked for).
 * The counter is a plain integer: commands run on one thread, and work that
 * frees memory in the background is done in slices on that same thread.
 *
 * On allocation failure the process logs and aborts: a server that cannot
 * allocate a reply buffer has no honest way to go on. maxmemory is what keeps
 * it from getting there.
 */
#include "base.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t used_memory;

static void oom(size_t n) {
    fprintf(stderr, "surge: out of memory allocating %zu bytes\n", n);
    fflush(stderr);
    abort();
}

void *sg_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (SG_UNLIKELY(!p)) oom(n);
    used_memory += malloc_usable_size(p);
    return p;
}

void *sg_calloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (SG_UNLIKELY(!p)) oom(n);
    used_memory += malloc_usable_size(p);
    return p;
}

void *sg_realloc(void *p, size_t n) {
    if (!p) return sg_malloc(n);
    size_t old = malloc_usable_size(p);
    void *q = realloc(p, n ? n : 1);
    if (SG_UNLIKELY(!q)) oom(n);
    used_memory += malloc_usable_size(q);
    used_memory -= old;
    return q;
}

void sg_free(void *p) {
    if (!p) return;
    used_memory -= malloc_usable_size(p);
    free(p);
}

char *sg_strdup(const char *s) {
    return sg_memdup(s, strlen(s) + 1);
}

void *sg_memdup(const void *p, size_t n) {
    void *q = sg_malloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

size_t sg_alloc_size(const void *p) {
    return p ? malloc_usable_size((void *)p) : 0;
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
