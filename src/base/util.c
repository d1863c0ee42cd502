/*
 * Number parsing/formatting with Redis's exact acceptance rules, and glob
 * matching.
 *
 * The glob matcher is the classic two-pointer wildcard algorithm: on a
 * mismatch it backtracks only to the most recent '*', which is correct for
 * glob (every other token matches exactly one byte) and bounds the work by
 * len(pattern) * len(string) with no recursion. Redis's recursive matcher
 * needs a nesting limit to survive "*a*a*a...b"; this one does not.
 */
#include "base.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

unsigned sg_digits10(uint64_t v) {
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

int sg_ull2str(char *dst, size_t dstlen, unsigned long long v) {
    char tmp[SG_LONG_STR_SIZE];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if ((size_t)n + 1 > dstlen) return 0;
    for (int i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
    dst[n] = '\0';
    return n;
}

int sg_ll2str(char *dst, size_t dstlen, long long v) {
    if (v >= 0) return sg_ull2str(dst, dstlen, (unsigned long long)v);
    if (dstlen < 2) return 0;
    unsigned long long u = (unsigned long long)(-(v + 1)) + 1;
    dst[0] = '-';
    int n = sg_ull2str(dst + 1, dstlen - 1, u);
    return n ? n + 1 : 0;
}

int sg_str2ull(const char *s, size_t len, unsigned long long *out) {
    if (len == 0 || len > 20) return 0;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    if (s[0] < '1' || s[0] > '9') return 0;
    unsigned long long v = 0;
    /* Up to 19 digits cannot overflow 64 bits: check only the 20th. */
    size_t fast = len < 20 ? len : 19;
    for (size_t i = 0; i < fast; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (len == 20) {
        if (s[19] < '0' || s[19] > '9') return 0;
        unsigned d = (unsigned)(s[19] - '0');
        if (v > (ULLONG_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int sg_str2ll(const char *s, size_t len, long long *out) {
    if (len == 0) return 0;
    bool neg = s[0] == '-';
    unsigned long long u;
    if (neg) {
        if (len == 1 || !sg_str2ull(s + 1, len - 1, &u) || u == 0) return 0;
        if (u > (unsigned long long)LLONG_MAX + 1) return 0;
        *out = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
        return 1;
    }
    if (!sg_str2ull(s, len, &u) || u > (unsigned long long)LLONG_MAX) return 0;
    *out = (long long)u;
    return 1;
}

int sg_str2ld(const char *s, size_t len, long double *out) {
    char buf[SG_MAX_DOUBLE_CHARS + 1];
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

int sg_str2d(const char *s, size_t len, double *out) {
    /* Fast path for the common case, a plain integer ("000000010128", as
     * redis-benchmark's scores are): [+-] and at most 15 digits is below
     * 2^53, so the double is exact and the one strtod would give. */
    size_t i = len && (s[0] == '-' || s[0] == '+');
    if (len > i && len - i <= 15) {
        uint64_t v = 0;
        size_t j = i;
        while (j < len && s[j] >= '0' && s[j] <= '9') v = v * 10 + (uint64_t)(s[j++] - '0');
        if (j == len) {
            *out = s[0] == '-' ? -(double)v : (double)v;
            return 1;
        }
    }
    char buf[SG_MAX_DOUBLE_CHARS + 1];
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

int sg_ld2str(char *buf, size_t len, long double v) {
    if (isinf(v) || isnan(v)) return 0;
    int l = snprintf(buf, len, "%.17Lf", v);
    if (l < 0 || (size_t)l >= len) return 0;
    if (strchr(buf, '.')) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return l;
}

int sg_d2str(char *buf, size_t len, double v) {
    if (isnan(v)) return snprintf(buf, len, "nan");
    if (isinf(v)) return snprintf(buf, len, v > 0 ? "inf" : "-inf");
    if (v == 0) return snprintf(buf, len, signbit(v) ? "-0" : "0");
    /* Integral values in the exactly-representable range print as integers. */
    if (v > -4503599627370496.0 && v < 4503599627370496.0 && v == (double)(long long)v)
        return sg_ll2str(buf, len, (long long)v);
    int n = snprintf(buf, len, "%.17g", v);
    return n < 0 || (size_t)n >= len ? 0 : n;
}

/* ---- glob ---- */

static inline unsigned char fold(unsigned char c, bool nocase) {
    return nocase ? (unsigned char)tolower(c) : c;
}

/* Matches one bracket class at pat[*pi] (just after '['). Advances *pi past
 * the closing ']' (or to the end if unclosed, as Redis does). */
static bool match_class(const char *pat, size_t plen, size_t *pi, unsigned char c, bool nocase) {
    size_t i = *pi;
    bool neg = false, hit = false;
    if (i < plen && pat[i] == '^') {
        neg = true;
        i++;
    }
    while (i < plen && pat[i] != ']') {
        if (pat[i] == '\\' && i + 1 < plen) {
            i++;
            if (fold((unsigned char)pat[i], nocase) == fold(c, nocase)) hit = true;
            i++;
        } else if (i + 2 < plen && pat[i + 1] == '-') {
            unsigned char a = fold((unsigned char)pat[i], nocase);
            unsigned char b = fold((unsigned char)pat[i + 2], nocase);
            unsigned char x = fold(c, nocase);
            if (a > b) {
                unsigned char t = a;
                a = b;
                b = t;
            }
            if (x >= a && x <= b) hit = true;
            i += 3;
        } else {
            if (fold((unsigned char)pat[i], nocase) == fold(c, nocase)) hit = true;
            i++;
        }
    }
    if (i < plen) i++; /* skip ']' */
    *pi = i;
    return neg ? !hit : hit;
}

bool sg_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase) {
    size_t pi = 0, si = 0;
    size_t star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen) {
            char pc = pat[pi];
            if (pc == '*') {
                while (pi < plen && pat[pi] == '*') pi++;
                if (pi == plen) return true;
                star_p = pi;
                star_s = si;
                continue;
            }
            if (pc == '?') {
                pi++;
                si++;
                continue;
            }
            if (pc == '[') {
                size_t np = pi + 1;
                if (match_class(pat, plen, &np, (unsigned char)s[si], nocase)) {
                    pi = np;
                    si++;
                    continue;
                }
            } else {
                size_t np = pi;
                if (pc == '\\' && pi + 1 < plen) np++;
                if (fold((unsigned char)pat[np], nocase) == fold((unsigned char)s[si], nocase)) {
                    pi = np + 1;
                    si++;
                    continue;
                }
            }
        }
        if (star_p == (size_t)-1) return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < plen && pat[pi] == '*') pi++;
    return pi == plen;
}
