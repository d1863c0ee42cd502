/*
 * base: the bottom layer of Surge. Everything here is free of sockets,
 * commands and configuration, and every other module may use it.
 *
 *   - accounted allocation (sg_malloc & co): every byte the server holds is
 *     counted by its block's usable size, so used_memory is exact; small
 *     blocks come from a header-less slab (alloc.c), the rest from malloc;
 *     allocation failure aborts with a message (a server cannot go on
 *     without memory; library code that must survive failure uses the
 *     plain allocator and returns errors);
 *   - sstr: a growable, binary-safe byte string with an explicit length;
 *   - number parsing and formatting with Redis's exact rules (string2ll
 *     rejects leading zeros, '+', spaces and overflow);
 *   - glob matching with bounded work (no exponential backtracking);
 *   - hashing: SipHash-1-3 keyed with a per-process random seed, CRC16
 *     (XMODEM, Redis Cluster's key slot) and CRC64 (Jones);
 *   - clocks: wall-clock ms/us for expiry (absolute Unix ms), monotonic
 *     us for timeouts and latency;
 *   - a small fast PRNG for sampling (seeded from getrandom);
 *   - logging with levels to a FILE*.
 */
#ifndef SURGE_BASE_H
#define SURGE_BASE_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SG_UNUSED(x)    ((void)(x))
#define SG_LIKELY(x)    __builtin_expect(!!(x), 1)
#define SG_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Cheap assertion that stays on in release builds and says where it broke. */
#define sg_assert(cond)                                                                            \
    do {                                                                                           \
        if (SG_UNLIKELY(!(cond))) sg_assert_fail(#cond, __FILE__, __LINE__);                       \
    } while (0)
__attribute__((noreturn)) void sg_assert_fail(const char *expr, const char *file, int line);
__attribute__((noreturn, format(printf, 1, 2))) void sg_panic(const char *fmt, ...);

/* ---- accounted allocation ------------------------------------------------
 * Never return NULL: on failure they log and abort. sg_free(NULL) is a no-op.
 * Blocks are 16-byte aligned. sg_used_memory() is the sum of sg_alloc_size()
 * of live blocks. Not thread-safe: only one thread may allocate and free
 * (the server's main thread; helper threads must not call these). */
void *sg_malloc(size_t n);
void *sg_calloc(size_t n);
/* As sg_malloc, but the block may be only 8-byte aligned (and so rounded to
 * 8 bytes instead of 16): for objects that need no more (key entries). */
void *sg_malloc_align8(size_t n);
void *sg_realloc(void *p, size_t n);
void sg_free(void *p);
char *sg_strdup(const char *s);
void *sg_memdup(const void *p, size_t n);
size_t sg_alloc_size(const void *p);
const char *sg_allocator_name(void); /* INFO mem_allocator */
/* Returns cached empty memory to the kernel (MEMORY PURGE); bytes of
 * slab pages released. */
size_t sg_alloc_purge(void);
size_t sg_used_memory(void);
size_t sg_rss_bytes(void); /* from /proc/self/statm; 0 if unknown */

/* ---- sstr: growable binary-safe string -----------------------------------
 * buf is always NUL-terminated (not counted in len) so it can be passed to C
 * functions; the content may hold NULs. Owned by whoever holds the pointer. */
typedef struct sstr {
    size_t len;
    size_t cap; /* bytes available in buf, excluding the terminator */
    char buf[];
} sstr;

sstr *sstr_new(const void *p, size_t n);
sstr *sstr_new_cap(size_t cap);
sstr *sstr_cat(sstr *s, const void *p, size_t n); /* may move s */
sstr *sstr_catfmt(sstr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sstr *sstr_grow_zero(sstr *s, size_t newlen); /* pads with zeros */
sstr *sstr_reserve(sstr *s, size_t extra);    /* cap >= len+extra */
void sstr_free(sstr *s);
static inline size_t sstr_alloc_size(const sstr *s) {
    return sg_alloc_size(s);
}

/* ---- numbers ------------------------------------------------------------- */
#define SG_LONG_STR_SIZE    21
#define SG_MAX_DOUBLE_CHARS 5120
/* Redis's string2ll: exact decimal int64, no spaces, no '+', no leading zeros
 * ("0" is fine, "-0" is not). Returns 1 on success. */
int sg_str2ll(const char *s, size_t len, long long *out);
int sg_str2ull(const char *s, size_t len, unsigned long long *out);
/* Whole-string long double parse, rejecting spaces, NaN and overflow. */
int sg_str2ld(const char *s, size_t len, long double *out);
/* Whole-string double parse as Redis's getDoubleFromObject (accepts inf). */
int sg_str2d(const char *s, size_t len, double *out);
int sg_ll2str(char *dst, size_t dstlen, long long v); /* returns length */
int sg_ull2str(char *dst, size_t dstlen, unsigned long long v);
/* Human formatting of long double as INCRBYFLOAT does (%.17Lf, trailing
 * zeros removed). Returns length, 0 on failure. */
int sg_ld2str(char *buf, size_t len, long double v);
/* Shortest round-trip double as %.17g (Redis's RESP3 double / ZSCORE). */
int sg_d2str(char *buf, size_t len, double v);
unsigned sg_digits10(uint64_t v);

/* ---- glob ---------------------------------------------------------------
 * Redis glob syntax: * ? [abc] [^a] [a-z] and backslash escapes. Matching
 * runs in O(len(pattern) * len(string)) worst case: no recursion, so no
 * pathological pattern can blow the stack or take exponential time. */
bool sg_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase);

/* ---- hashing ------------------------------------------------------------- */
void sg_hash_seed_init(void); /* random per-process key; call once at start */
void sg_hash_seed_set(const uint8_t key[16]);
uint64_t sg_hash(const void *p, size_t n); /* SipHash-1-3 with the process key */
uint64_t sg_hash_nocase(const void *p, size_t n);
uint64_t sg_siphash(const void *p, size_t n, const uint8_t key[16]);
uint16_t sg_crc16(const void *p, size_t n);
uint64_t sg_crc64(uint64_t crc, const void *p, size_t n);
/* Redis Cluster slot of a key: CRC16 of the {hash tag} if non-empty, else of
 * the whole key, modulo 16384. */
#define SG_SLOTS 16384
unsigned sg_key_slot(const char *key, size_t len);

/* ---- time ----------------------------------------------------------------- */
int64_t sg_ustime(void); /* wall clock, microseconds since the epoch */
int64_t sg_mstime(void); /* wall clock, milliseconds since the epoch */
uint64_t sg_monotonic_us(void);
/* Makes sg_monotonic_us read the TSC where it is invariant (x86-64, see
 * time_log.c); SURGE_CLOCK=posix in the environment keeps clock_gettime.
 * Call once, before other threads start. */
void sg_clock_init(void);
/* "X86 TSC @ 2100 ticks/us" or "POSIX clock_gettime", for INFO. */
const char *sg_clock_name(void);

/* ---- randomness -------------------------------------------------------- */
void sg_random_bytes(void *dst, size_t n); /* getrandom(), falls back to time */
uint64_t sg_rand64(void);                  /* xoshiro256** seeded once */
static inline uint64_t sg_rand_range(uint64_t n) {
    return n ? sg_rand64() % n : 0;
}

/* ---- logging ------------------------------------------------------------- */
enum { SG_LOG_DEBUG, SG_LOG_VERBOSE, SG_LOG_NOTICE, SG_LOG_WARNING };
void sg_log_configure(FILE *out, int level, bool json);
int sg_log_level(void);
void sg_log_set_level(int level, bool json);
void sg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_logv(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
