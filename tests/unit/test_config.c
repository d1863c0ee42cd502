/* Unit tests for the config file loader (regressions from fuzz_config). */
#include "../../src/server/config.h"
#include "../../src/server/server.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *write_tmp(const char *content, size_t n) {
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/surge-test-config-%d", (int)getpid());
    FILE *f = fopen(path, "w");
    fwrite(content, 1, n, f);
    fclose(f);
    return path;
}

/* A comment longer than the old 4 KB line buffer was split, and its tail
 * parsed as a directive (tests/fuzz/corpus/fuzz_config/long_comment_...). */
TEST(long_comment_line_is_one_comment) {
    config_init_defaults();
    size_t n = 1 + 4094 + 20;
    char *buf = malloc(n + 1);
    buf[0] = '#';
    memset(buf + 1, 'x', 4094);
    memcpy(buf + 1 + 4094, "port 7777\n", 10);
    n = 1 + 4094 + 10;
    char err[256] = "";
    CHECK_EQ(config_load_file(write_tmp(buf, n), err, sizeof(err)), 0);
    CHECK_EQ(cfg.port, 6379);
    free(buf);
}

TEST(long_value_is_kept_whole) {
    config_init_defaults();
    size_t vlen = 5000;
    char *buf = malloc(vlen + 32);
    size_t n = (size_t)sprintf(buf, "requirepass ");
    memset(buf + n, 'p', vlen);
    n += vlen;
    buf[n++] = '\n';
    n += (size_t)sprintf(buf + n, "port 7000\n");
    char err[256] = "";
    CHECK_EQ(config_load_file(write_tmp(buf, n), err, sizeof(err)), 0);
    CHECK_EQ(strlen(cfg.requirepass), vlen);
    CHECK_EQ(cfg.port, 7000);
    free(buf);
}

TEST(errors_name_the_line) {
    config_init_defaults();
    const char *text = "# ok\nport 7001\nno-such-directive 1\n";
    char err[256] = "";
    CHECK_EQ(config_load_file(write_tmp(text, strlen(text)), err, sizeof(err)), -1);
    CHECK(strstr(err, "line 3") != NULL);
    text = "maxmemory \"unbalanced\n";
    CHECK_EQ(config_load_file(write_tmp(text, strlen(text)), err, sizeof(err)), -1);
    text = "port 99999\n";
    CHECK_EQ(config_load_file(write_tmp(text, strlen(text)), err, sizeof(err)), -1);
    CHECK(strstr(err, "between 0 and 65535") != NULL);
}

TEST(memory_units) {
    unsigned long long v;
    CHECK(config_parse_memory("1k", &v) && v == 1000);
    CHECK(config_parse_memory("1kb", &v) && v == 1024);
    CHECK(config_parse_memory("2GB", &v) && v == 2ULL * 1024 * 1024 * 1024);
    CHECK(!config_parse_memory("1tb", &v));
    CHECK(!config_parse_memory("-1", &v));
    CHECK(!config_parse_memory("99999999999999999999gb", &v));
}
