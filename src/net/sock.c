/*
 * TCP listeners, accept, socket options, and the plain connection type.
 */
#include "net.h"
#include "../base/base.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int net_set_nodelay(int fd) {
    int yes = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
}

int net_listen(const char *addr, int port, int backlog, char *errbuf, size_t errlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    int family;
    const char *a = addr;
    if (a[0] == '-') a++; /* "-addr": optional bind, as Redis */
    if (strchr(a, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (!strcmp(a, "::*"))
            s6->sin6_addr = in6addr_any;
        else if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1)
            goto bad;
        sl = sizeof(*s6);
        family = AF_INET6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (!strcmp(a, "*"))
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
            goto bad;
        sl = sizeof(*s4);
        family = AF_INET;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof(yes));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
        snprintf(errbuf, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
bad:
    snprintf(errbuf, errlen, "Invalid bind address '%s'", addr);
    return -1;
}

static void fmt_addr(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port) {
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, (socklen_t)iplen);
        if (port) *port = ntohs(s->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, (socklen_t)iplen);
        if (port) *port = ntohs(s->sin_port);
    } else {
        snprintf(ip, iplen, "?");
        if (port) *port = 0;
    }
}

int net_accept(int lfd, char *ip, size_t iplen, int *port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd;
    do {
        fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return -1;
    fmt_addr(&ss, ip, iplen, port);
    return fd;
}

int net_local_addr(int fd, char *ip, size_t iplen, int *port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -1;
    fmt_addr(&ss, ip, iplen, port);
    return 0;
}

bool net_is_loopback(const char *ip) {
    return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1") || !strncmp(ip, "::ffff:127.", 11);
}

/* recv/send rather than read/write: the socket calls skip the VFS read
 * and write paths (rw_verify_area, fsnotify) on every request; measured at
 * about 1% of the server's CPU per request at pipeline 1 (bench/ab.py). */
static ssize_t plain_read(conn *c, void *buf, size_t n) {
    return recv(c->fd, buf, n, 0);
}

static ssize_t plain_writev(conn *c, const struct iovec *iov, int n) {
    if (n == 1) return send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

static void plain_close(conn *c) {
    if (c->fd >= 0) close(c->fd);
    sg_free(c);
}

static const conn_type plain_type = {"tcp", plain_read, plain_writev, plain_close};

conn *conn_plain_new(int fd) {
    conn *c = sg_malloc(sizeof(conn));
    c->type = &plain_type;
    c->fd = fd;
    return c;
}
