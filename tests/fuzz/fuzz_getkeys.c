/*
 * fuzz_getkeys: key extraction from the command table (cmd_get_keys in
 * src/cmd), which the dispatcher, COMMAND GETKEYS and later ACL and cluster
 * routing trust to name only real arguments.
 *
 * Input layout: arguments separated by 0 bytes ("set\0k\0v"). The first is
 * the command name, looked up with cmd_lookup; when it is a container and a
 * second argument names one of its subcommands (cmd_lookup_sub), that row is
 * used. An unknown name ends the run. Arguments point into the input and are
 * not NUL-terminated, so a strlen() or a read past an argument is caught.
 * Arity is deliberately not checked first: key extraction must be safe for
 * any argc >= 1.
 *
 * Properties:
 *   - the result is -1 or a count in [0, max], and every position is in
 *     [1, argc);
 *   - with a small pos array (3 slots) the result is a prefix of the result
 *     with a large one (64 slots): truncation never invents or reorders keys.
 */
#include "../../src/cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 3
#define LARGE 64

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_getkeys: property failed: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_positions(int r, int max, const int *pos, int argc) {
    FUZZ_CHECK(r >= -1 && r <= max);
    for (int i = 0; i < r; i++) FUZZ_CHECK(pos[i] >= 1 && pos[i] < argc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int inited;
    if (!inited) {
        cmd_table_init();
        inited = 1;
    }
    if (size == 0) return 0;

    int argc = 1;
    for (size_t i = 0; i < size; i++) argc += data[i] == 0;
    const char **argv = malloc(sizeof(char *) * (size_t)argc);
    size_t *lens = malloc(sizeof(size_t) * (size_t)argc);
    FUZZ_CHECK(argv && lens);
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            argv[k] = (const char *)data + start;
            lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    FUZZ_CHECK(k == argc);

    const cmd_def *c = cmd_lookup(argv[0], lens[0]);
    if (c && c->nsubs > 0 && argc >= 2) {
        const cmd_def *sub = cmd_lookup_sub(c, argv[1], lens[1]);
        if (sub) c = sub;
    }
    if (c) {
        int small[SMALL], large[LARGE];
        uint32_t small_fl[SMALL], large_fl[LARGE];
        int rs = cmd_get_keys(c, argc, argv, lens, small, small_fl, SMALL);
        int rl = cmd_get_keys(c, argc, argv, lens, large, large_fl, LARGE);
        check_positions(rs, SMALL, small, argc);
        check_positions(rl, LARGE, large, argc);
        /* Without the flags array too: the same positions. */
        int again[LARGE];
        FUZZ_CHECK(cmd_get_keys(c, argc, argv, lens, again, NULL, LARGE) == rl);
        for (int i = 0; i < rl; i++) FUZZ_CHECK(again[i] == large[i]);
        /* The small result is a prefix of the large one. */
        if (rl > SMALL)
            FUZZ_CHECK(rs == SMALL);
        else if (rl >= 0)
            FUZZ_CHECK(rs == rl);
        else
            FUZZ_CHECK(rs == -1 || rs == SMALL);
        int common = rs < rl ? rs : rl;
        for (int i = 0; i < common; i++) {
            FUZZ_CHECK(small[i] == large[i]);
            FUZZ_CHECK(small_fl[i] == large_fl[i]);
        }
    }
    free(argv);
    free(lens);
    return 0;
}
