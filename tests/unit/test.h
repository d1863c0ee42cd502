/*
 * A tiny unit-test harness, header only: include it from exactly one .c file
 * per test binary (each tests/unit/test_<module>.c is its own binary).
 *
 *   TEST(name) { ... }          defines and registers a test
 *   CHECK(cond)                 records a failure (file:line and the expression)
 *                               and goes on with the test
 *   CHECK_EQ(a, b)              integer equality, prints both values
 *   CHECK_STR_EQ(a, b)          C-string equality
 *   CHECK_MEM_EQ(p, n, lit)     n bytes at p equal the string literal lit
 *   REQUIRE(cond)               as CHECK, but ends the test on failure
 *
 * main() runs every test in definition order, or only those named on the
 * command line (`build/tests/test_keyspace scan_full`); `--list` prints the
 * names. Exit status is 0 only when every selected test passed and every name
 * given exists. A test that runs past TEST_TIMEOUT_S seconds (a hang, not a
 * timing assertion) is reported and the binary exits with status 1.
 */
#ifndef SURGE_TEST_H
#define SURGE_TEST_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TEST_TIMEOUT_S
#define TEST_TIMEOUT_S 60
#endif

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    struct test_case *next;
} test_case;

static test_case *test_head_, **test_tail_ = &test_head_;
static const char *test_current_;
static int test_failures_; /* failed checks in the current test */

static void test_register_(test_case *tc) {
    *test_tail_ = tc;
    test_tail_ = &tc->next;
}

#define TEST(name)                                                                                 \
    static void test_fn_##name(void);                                                              \
    __attribute__((constructor)) static void test_reg_##name(void) {                               \
        static test_case tc = {#name, test_fn_##name, NULL};                                       \
        test_register_(&tc);                                                                       \
    }                                                                                              \
    static void test_fn_##name(void)

static void test_fail_(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", file, line,
            test_current_ ? test_current_ : "?", what);
    fflush(stderr);
    test_failures_++;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail_(__FILE__, __LINE__, #cond);                                        \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail_(__FILE__, __LINE__, #cond);                                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Compared as 64-bit patterns, so signed and unsigned operands of the same
 * value are equal; printed both ways. */
__attribute__((unused)) static int test_eq_(unsigned long long a, unsigned long long b,
                                            const char *ea, const char *eb, const char *file,
                                            int line) {
    if (a == b) return 1;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s == %s (%lld [0x%llx] vs %lld [0x%llx])", ea, eb, (long long)a, a,
             (long long)b, b);
    test_fail_(file, line, buf);
    return 0;
}
#define CHECK_EQ(a, b)                                                                             \
    ((void)test_eq_((unsigned long long)(a), (unsigned long long)(b), #a, #b, __FILE__, __LINE__))

__attribute__((unused)) static int test_str_eq_(const char *a, const char *b, const char *ea,
                                                const char *eb, const char *file, int line) {
    if (a && b && strcmp(a, b) == 0) return 1;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s == %s (\"%.400s\" vs \"%.400s\")", ea, eb, a ? a : "(null)",
             b ? b : "(null)");
    test_fail_(file, line, buf);
    return 0;
}
#define CHECK_STR_EQ(a, b) ((void)test_str_eq_((a), (b), #a, #b, __FILE__, __LINE__))

__attribute__((unused)) static int test_mem_eq_(const void *p, size_t n, const char *lit,
                                                size_t litlen, const char *ep, const char *file,
                                                int line) {
    if (p && n == litlen && memcmp(p, lit, n) == 0) return 1;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s == \"%.300s\" (got %zu bytes: \"%.*s\")", ep, lit, n,
             p ? (int)(n < 300 ? n : 300) : 6, p ? (const char *)p : "(null)");
    test_fail_(file, line, buf);
    return 0;
}
#define CHECK_MEM_EQ(p, n, lit)                                                                    \
    ((void)test_mem_eq_((p), (n), (lit), sizeof(lit) - 1, #p, __FILE__, __LINE__))

#define TEST_STR2_(x) #x
#define TEST_STR_(x)  TEST_STR2_(x)

static void test_alarm_(int sig) {
    (void)sig;
    static const char pre[] = "TIMEOUT: test ";
    static const char post[] =
        " still running after " TEST_STR_(TEST_TIMEOUT_S) " seconds (hang?)\n";
    ssize_t w = write(2, pre, sizeof(pre) - 1);
    if (test_current_) w = write(2, test_current_, strlen(test_current_));
    w = write(2, post, sizeof(post) - 1);
    (void)w;
    _exit(1);
}

static int test_run_one_(test_case *tc) {
    test_current_ = tc->name;
    test_failures_ = 0;
    printf("[ RUN  ] %s\n", tc->name);
    fflush(stdout);
    alarm(TEST_TIMEOUT_S);
    tc->fn();
    alarm(0);
    printf("[ %s ] %s\n", test_failures_ ? "FAIL" : " OK ", tc->name);
    fflush(stdout);
    test_current_ = NULL;
    return test_failures_ == 0;
}

int main(int argc, char **argv) {
    signal(SIGALRM, test_alarm_);
    int run = 0, failed = 0, bad = 0;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (test_case *tc = test_head_; tc; tc = tc->next) printf("%s\n", tc->name);
        return 0;
    }
    if (argc <= 1) {
        for (test_case *tc = test_head_; tc; tc = tc->next) {
            run++;
            if (!test_run_one_(tc)) failed++;
        }
    } else {
        for (int i = 1; i < argc; i++) {
            test_case *tc = test_head_;
            while (tc && strcmp(tc->name, argv[i]) != 0) tc = tc->next;
            if (!tc) {
                fprintf(stderr, "no such test: %s\n", argv[i]);
                bad++;
                continue;
            }
            run++;
            if (!test_run_one_(tc)) failed++;
        }
    }
    printf("%d test(s) run, %d failed%s\n", run, failed, bad ? ", unknown names given" : "");
    return failed || bad ? 1 : 0;
}

#endif
