/*
 * fuzz_config: the config file loader (config_load_file in
 * src/server/config.c) and the table behind CONFIG GET / CONFIG SET.
 *
 * The input is the content of a config file. It is written to an anonymous
 * memory file (memfd) and loaded through its /proc/self/fd path, after
 * config_init_defaults(), so every run starts from the same state and
 * nothing touches the disk. Any outcome of the load is fine (an error is the
 * right answer for most inputs); ASan, UBSan and LeakSanitizer watch the
 * line splitter, the quoting rules, the memory-unit parser and the
 * client-output-buffer-limit parser.
 *
 * Then, whatever was loaded, one property of the table: every value that
 * CONFIG GET shows is accepted back by CONFIG SET (redis-cli and operators
 * copy values that way), except for immutable directives, and setting it
 * changes nothing that CONFIG GET shows.
 *
 * Strings set by the config (bind, dir, logfile, ...) are plain malloc'd and
 * owned by the global cfg; config_init_defaults() frees the previous ones, so
 * repeated loads do not leak.
 */
#include "../../src/server/config.h"
#include "../../src/server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: property failed: %s (%s:%d)\n", #cond, __FILE__,         \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int memfd = -1;
static char path[64];

static void check_get_set_roundtrip(void) {
    char **names, **values;
    int n = config_get_matching("*", 1, &names, &values);
    FUZZ_CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        char err[512];
        size_t nlen = strlen(names[i]), vlen = strlen(values[i]);
        int rc = config_set_pairs(1, &names[i], &nlen, &values[i], &vlen, err, sizeof(err));
        if (rc != 0) {
            if (strstr(err, "immutable")) continue;
            fprintf(stderr, "fuzz_config: CONFIG SET %s '%s' refused what CONFIG GET showed: %s\n",
                    names[i], values[i], err);
            abort();
        }
        char **n2, **v2;
        int m = config_get_matching(names[i], nlen, &n2, &v2);
        FUZZ_CHECK(m >= 1);
        for (int j = 0; j < m; j++) {
            if (strcmp(n2[j], names[i]) != 0) continue;
            if (strcmp(v2[j], values[i]) != 0) {
                fprintf(stderr, "fuzz_config: CONFIG SET %s '%s' then GET shows '%s'\n", names[i],
                        values[i], v2[j]);
                abort();
            }
        }
        config_free_pairs(m, n2, v2);
    }
    config_free_pairs(n, names, values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memfd < 0) {
        memfd = memfd_create("fuzz_config", 0);
        FUZZ_CHECK(memfd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    }
    FUZZ_CHECK(ftruncate(memfd, 0) == 0);
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(memfd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }

    config_init_defaults();
    char err[1024];
    err[0] = '\0';
    if (config_load_file(path, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
    }
    check_get_set_roundtrip();
    return 0;
}
