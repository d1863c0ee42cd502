/*
 * disk_fault: an LD_PRELOAD shim that makes writes to files under one
 * directory fail, switched on and off from outside while the process runs.
 *
 * Built by tests/integration/test_disk_faults.py with
 *   cc -shared -fPIC -o disk_fault.so disk_fault.c -ldl
 * and configured by the environment:
 *   SURGE_FAULT_DIR   absolute path (no symlinks); only regular files whose
 *                     path starts with it are touched
 *   SURGE_FAULT_FLAG  path of the flag file; while it exists its first word
 *                     selects the fault:
 *       enospc  every write()/writev() fails with ENOSPC
 *       short   calls alternate: one writes half of what was asked and
 *               returns that count (a short write), the next fails with
 *               ENOSPC, as a filling disk does
 *       name S  only files whose name (the part of the path after
 *               SURGE_FAULT_DIR) contains S fail with ENOSPC, e.g.
 *               "name .tmp" for the temporary files of a rewrite or a
 *               manifest update
 *   SURGE_FAULT_COUNT optional: a file rewritten with the number of faults
 *                     injected so far, so a test can tell the fault was hit.
 * Without the flag file every call goes straight to libc.
 *
 * The flag is read at every write to a matching file (open/read/close):
 * slow, but these are tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { FAULT_NONE, FAULT_ENOSPC, FAULT_SHORT, FAULT_NAME };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static unsigned long faults;
static int short_toggle;

static void resolve(void) {
    if (!real_write) real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (!real_writev)
        real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
}

/* The fault that applies to fd now, or FAULT_NONE. */
static int fault_for(int fd) {
    const char *dir = getenv("SURGE_FAULT_DIR");
    const char *flag = getenv("SURGE_FAULT_FLAG");
    if (!dir || !flag) return FAULT_NONE;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return FAULT_NONE;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0) return FAULT_NONE;
    path[n] = 0;
    size_t dl = strlen(dir);
    if (strncmp(path, dir, dl) != 0 || (path[dl] != '/' && path[dl] != 0)) return FAULT_NONE;
    int ff = open(flag, O_RDONLY | O_CLOEXEC);
    if (ff < 0) return FAULT_NONE;
    char word[256] = {0};
    ssize_t r = read(ff, word, sizeof(word) - 1);
    close(ff);
    if (r < 0) return FAULT_NONE;
    word[strcspn(word, "\r\n")] = 0;
    if (!strncmp(word, "short", 5)) return FAULT_SHORT;
    if (!strncmp(word, "name ", 5)) return strstr(path + dl, word + 5) ? FAULT_NAME : FAULT_NONE;
    return FAULT_ENOSPC;
}

static void count_fault(void) {
    const char *cf = getenv("SURGE_FAULT_COUNT");
    faults++;
    if (!cf) return;
    char b[32];
    int n = snprintf(b, sizeof(b), "%lu\n", faults);
    int fd = open(cf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (real_write(fd, b, (size_t)n) < 0) { /* nothing to do */
    }
    close(fd);
}

/* Returns -2 when the call should go through, else the result to return. */
static ssize_t inject(int fd, const void *first, size_t first_len) {
    int saved = errno; /* the checks must not leave errno changed */
    int f = fault_for(fd);
    errno = saved;
    if (f == FAULT_NONE) return -2;
    count_fault();
    if (f == FAULT_SHORT && first_len > 1 && (short_toggle ^= 1)) {
        errno = saved;
        return real_write(fd, first, first_len / 2);
    }
    errno = ENOSPC;
    return -1;
}

ssize_t write(int fd, const void *buf, size_t count) {
    resolve();
    ssize_t r = inject(fd, buf, count);
    return r == -2 ? real_write(fd, buf, count) : r;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    resolve();
    ssize_t r = iovcnt > 0 ? inject(fd, iov[0].iov_base, iov[0].iov_len) : -2;
    return r == -2 ? real_writev(fd, iov, iovcnt) : r;
}
