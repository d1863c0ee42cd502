/*
 * durability: an LD_PRELOAD shim that records what a process made durable,
 * so a test can "cut the power" after killing it (see the power-loss model in
 * tests/integration/test_disk_faults.py).
 *
 * Built by the test with
 *   cc -shared -fPIC -o durability.so durability.c -ldl
 * and configured by the environment:
 *   SURGE_DUR_ROOT     absolute path (no symlinks): only files and
 *                      directories under it are recorded
 *   SURGE_DUR_JOURNAL  the journal, appended to (one write() per line)
 *   SURGE_DUR_SHADOW   a directory on the same file system: before a rename
 *                      replaces a file, or an unlink removes one, the file is
 *                      hard-linked there as <inode number>, so its contents
 *                      can be put back if the change was not made durable
 *   SURGE_DUR_FAIL     optional flag file: while it exists, fsync/fdatasync
 *                      of regular files under the root fail with EIO, as
 *                      when the disk failed to write the dirty pages back
 *
 * Journal lines, appended after the call succeeded:
 *   F <ino> <size> <path>          fsync/fdatasync of a regular file: its
 *                                  first <size> bytes are durable (the size
 *                                  is taken before the call, so it is never
 *                                  more than what the call covered)
 *   D <path> <name>/<ino> ...      fsync of a directory: these entries (the
 *                                  listing taken before the call) are durable
 *   X <ino> <size> <path>          a failed fsync (SURGE_DUR_FAIL): what was
 *                                  written since the last durable size, up to
 *                                  <size>, never reaches the disk (Linux drops
 *                                  the pages' dirty state), even if a later
 *                                  fsync succeeds
 *   T <ino> <length> <path>        ftruncate: bytes from <length> on are gone,
 *                                  so a later write there is new data
 *   R <old> <new>                  rename (for reading the journal only)
 *   U <path>                       unlink (for reading the journal only)
 * A line is written before the intercepted call returns, so anything the
 * process did after an fsync returned (such as sending a reply) comes after
 * its line in the journal.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64 * 1024)

static int under_root(const char *path) {
    const char *root = getenv("SURGE_DUR_ROOT");
    if (!root || path[0] != '/') return 0;
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == 0);
}

/* Absolute path of p (relative to the working directory) into out. */
static void absolute(const char *p, char *out, size_t n) {
    char cwd[PATH_MAX];
    if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%s/%s", cwd, p);
}

static int fd_path(int fd, char *out, size_t n) {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t r = readlink(link, out, n - 1);
    if (r <= 0) return -1;
    out[r] = 0;
    return 0;
}

static void journal(const char *line, size_t len) {
    const char *j = getenv("SURGE_DUR_JOURNAL");
    if (!j) return;
    int saved = errno;
    int fd = open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t (*w)(int, const void *, size_t) =
            (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
        if (w(fd, line, len) < 0) { /* the test will notice a missing line */
        }
        close(fd);
    }
    errno = saved;
}

/* Keeps the file at path reachable as SHADOW/<ino> before it is replaced. */
static void shadow(const char *path) {
    const char *sh = getenv("SURGE_DUR_SHADOW");
    struct stat st;
    if (!sh || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char dst[PATH_MAX];
    snprintf(dst, sizeof(dst), "%s/%llu", sh, (unsigned long long)st.st_ino);
    int saved = errno;
    if (link(path, dst) != 0) { /* EEXIST: already kept */
    }
    errno = saved;
}

/* Builds the D line for directory path: entries as name/ino, the inode
 * number from lstat (readdir's d_ino differs on some file systems, such as
 * overlayfs); a listing too long for the line ends in " ?" (the test fails
 * on it rather than read a partial listing). */
static size_t dir_line(const char *path, char *out, size_t cap) {
    size_t len = (size_t)snprintf(out, cap, "D %s", path);
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        int w =
            snprintf(out + len, cap - len, " %s/%llu", e->d_name, (unsigned long long)st.st_ino);
        if (w < 0 || (size_t)w >= cap - len - 4) {
            len += (size_t)snprintf(out + len, cap - len, " ?");
            break;
        }
        len += (size_t)w;
    }
    closedir(d);
    out[len++] = '\n';
    return len;
}

static int sync_generic(int fd, const char *name) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    char path[PATH_MAX];
    struct stat st;
    if (fstat(fd, &st) != 0 || fd_path(fd, path, sizeof(path)) != 0 || !under_root(path))
        return real(fd);
    static __thread char line[LINE_MAX_BYTES];
    size_t len = 0;
    const char *fail = getenv("SURGE_DUR_FAIL");
    if (fail && S_ISREG(st.st_mode) && access(fail, F_OK) == 0) {
        len = (size_t)snprintf(line, sizeof(line), "X %llu %lld %s\n",
                               (unsigned long long)st.st_ino, (long long)st.st_size, path);
        journal(line, len);
        errno = EIO;
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        len = dir_line(path, line, sizeof(line));
    else if (S_ISREG(st.st_mode))
        len = (size_t)snprintf(line, sizeof(line), "F %llu %lld %s\n",
                               (unsigned long long)st.st_ino, (long long)st.st_size, path);
    int rc = real(fd);
    if (rc == 0 && len) journal(line, len);
    return rc;
}

int fsync(int fd) {
    return sync_generic(fd, "fsync");
}

int fdatasync(int fd) {
    return sync_generic(fd, "fdatasync");
}

int rename(const char *oldpath, const char *newpath) {
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    char a[PATH_MAX], b[PATH_MAX];
    absolute(oldpath, a, sizeof(a));
    absolute(newpath, b, sizeof(b));
    if (!under_root(b)) return real(oldpath, newpath);
    shadow(b);
    int rc = real(oldpath, newpath);
    if (rc == 0) {
        char line[2 * PATH_MAX + 8];
        int n = snprintf(line, sizeof(line), "R %s %s\n", a, b);
        journal(line, (size_t)n);
    }
    return rc;
}

int unlink(const char *pathname) {
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    char a[PATH_MAX];
    absolute(pathname, a, sizeof(a));
    if (!under_root(a)) return real(pathname);
    shadow(a);
    int rc = real(pathname);
    if (rc == 0) {
        char line[PATH_MAX + 8];
        int n = snprintf(line, sizeof(line), "U %s\n", a);
        journal(line, (size_t)n);
    }
    return rc;
}

int ftruncate(int fd, off_t length) {
    int (*real)(int, off_t) = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
    char path[PATH_MAX];
    struct stat st;
    int rc = real(fd, length);
    if (rc == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        fd_path(fd, path, sizeof(path)) == 0 && under_root(path)) {
        char line[PATH_MAX + 64];
        int n = snprintf(line, sizeof(line), "T %llu %lld %s\n", (unsigned long long)st.st_ino,
                         (long long)length, path);
        journal(line, (size_t)n);
    }
    return rc;
}
