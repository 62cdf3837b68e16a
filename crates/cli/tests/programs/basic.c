#define _GNU_SOURCE
/* Exercises the common socket calls once each and checks, from inside the
 * program, that every result and errno is exactly what libc gives without
 * the tracer. Prints "ALL OK" and exits 0 when all checks pass. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, what)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "FAIL %s (line %d): errno=%d %s\n", what, __LINE__, errno, \
                    strerror(errno));                                                  \
            failures++;                                                                \
        }                                                                              \
    } while (0)

int main(void) {
    /* TCP over loopback: listener, client, accepted peer. */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    CHECK(ls >= 0, "socket");
    int one = 1;
    CHECK(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0, "bind");
    CHECK(listen(ls, 8) == 0, "listen");
    socklen_t alen = sizeof a;
    CHECK(getsockname(ls, (struct sockaddr *)&a, &alen) == 0, "getsockname");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    CHECK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "nodelay");
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = accept4(ls, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK);
    CHECK(s >= 0, "accept4");
    CHECK(send(c, "hello", 5, 0) == 5, "send");
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    CHECK(poll(&pfd, 1, 5000) == 1, "poll");
    char buf[64];
    /* A length the compiler cannot see through: with _FORTIFY_SOURCE this
     * makes recv/read go through __recv_chk/__read_chk, as in real programs. */
    volatile size_t bufsz_v = sizeof buf;
    size_t bufsz = bufsz_v;
    CHECK(recv(s, buf, bufsz, 0) == 5, "recv");
    CHECK(write(s, "world", 5) == 5, "write");
    CHECK(read(c, buf, bufsz) == 5, "read");
    int err = -1;
    socklen_t elen = sizeof err;
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0, "getsockopt");
    CHECK(getpeername(c, (struct sockaddr *)&peer, &plen) == 0, "getpeername");
    CHECK(shutdown(c, SHUT_WR) == 0, "shutdown");
    errno = 0;
    CHECK(recv(s, buf, bufsz, MSG_DONTWAIT) == 0, "recv eof");
    errno = 0;
    CHECK(recv(c, buf, bufsz, MSG_DONTWAIT) == -1 && errno == EAGAIN, "recv EAGAIN");
    close(s);
    close(c);

    /* A refused connection: errno must survive the tracer. */
    int r = socket(AF_INET, SOCK_STREAM, 0);
    close(ls); /* the port is now closed */
    errno = 0;
    CHECK(connect(r, (struct sockaddr *)&a, sizeof a) == -1 && errno == ECONNREFUSED, "ECONNREFUSED");
    close(r);

    /* Bad arguments: the real call fails, the tracer must not crash. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    errno = 0;
    CHECK(connect(u, (struct sockaddr *)1, 16) == -1 && errno == EFAULT, "connect EFAULT");
    errno = 0;
    CHECK(connect(-1, (struct sockaddr *)1, 16) == -1 && errno == EBADF, "connect EBADF bad ptr");
    errno = 0;
    struct sockaddr_in short_addr = {.sin_family = AF_INET};
    CHECK(bind(u, (struct sockaddr *)&short_addr, 3) == -1 && errno == EINVAL, "bind EINVAL");
    errno = 0;
    CHECK(sendto(u, NULL, 10, 0, (struct sockaddr *)&a, sizeof a) == -1 && errno == EFAULT, "sendto EFAULT");
    errno = 0;
    CHECK(setsockopt(u, SOL_SOCKET, SO_RCVBUF, (void *)8, 4) == -1 && errno == EFAULT, "setsockopt EFAULT");
    errno = 0;
    CHECK(getaddrinfo((const char *)0 + 0, (const char *)0, NULL, NULL) != 0, "getaddrinfo both NULL");

    close(u);
    /* UDP to ourselves with an address on each datagram. */
    u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(u, (struct sockaddr *)&ua, sizeof ua) == 0, "bind udp");
    socklen_t ualen = sizeof ua;
    getsockname(u, (struct sockaddr *)&ua, &ualen);
    CHECK(sendto(u, "ping", 4, 0, (struct sockaddr *)&ua, sizeof ua) == 4, "sendto");
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    CHECK(recvfrom(u, buf, bufsz, 0, (struct sockaddr *)&from, &flen) == 4, "recvfrom");
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(u, &rd);
    struct timeval tv = {0, 1000};
    CHECK(select(u + 1, &rd, NULL, NULL, &tv) == 0, "select timeout");
    close(u);

    /* IPv6 loopback. */
    int v6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT, .sin6_port = htons(9)};
    CHECK(connect(v6, (struct sockaddr *)&a6, sizeof a6) == 0, "connect6");
    close(v6);

    /* Unix sockets: a pair, an abstract name, epoll. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[1]};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) == 0, "epoll_ctl");
    CHECK(write(sv[0], "x", 1) == 1, "write unix");
    struct epoll_event out[4];
    CHECK(epoll_wait(ep, out, 4, 1000) == 1, "epoll_wait");
    close(ep);
    close(sv[0]);
    close(sv[1]);
    int un = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, "\0sock-trace-test", 16);
    CHECK(bind(un, (struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + 16) == 0, "bind abstract");
    close(un);

    /* Name resolution through /etc/hosts. */
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    CHECK(getaddrinfo("localhost", "80", &hints, &res) == 0 && res != NULL, "getaddrinfo");
    if (res) freeaddrinfo(res);
    errno = 0;
    CHECK(getaddrinfo("no-such-host.invalid", NULL, &hints, &res) != 0, "getaddrinfo fails");

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ALL OK\n");
    return 0;
}
