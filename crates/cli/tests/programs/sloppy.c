/* Calls whose pointer arguments end exactly at the end of a mapping, with
 * lengths larger than what the kernel or libc really reads (issue 9 item 5).
 * Each works untraced; a tracer that copies `len` bytes on trust crashes.
 * Prints one line per case; the test compares the output traced and
 * untraced. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static char *page_end; /* first byte after the last readable byte */

/* `n` bytes placed so that they end exactly at the end of the mapping. */
static void *at_end(size_t n) { return page_end - n; }

/* With an argument, only the case of that name: `sloppy recvmsg`. */
static const char *only;
static int want(const char *name) { return !only || strcmp(name, only) == 0; }

static int udp6_pair(int *rx, int *tx, struct sockaddr_in6 *to) {
    *rx = socket(AF_INET6, SOCK_DGRAM, 0);
    *tx = socket(AF_INET6, SOCK_DGRAM, 0);
    memset(to, 0, sizeof *to);
    to->sin6_family = AF_INET6;
    to->sin6_addr = in6addr_loopback;
    socklen_t l = sizeof *to;
    if (*rx < 0 || *tx < 0 || bind(*rx, (struct sockaddr *)to, sizeof *to) != 0 ||
        getsockname(*rx, (struct sockaddr *)to, &l) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || munmap(m + pg, pg) != 0)
        return 2;
    page_end = m + pg;
    if (argc > 1)
        only = argv[1];

    /* getnameinfo: a sockaddr_in at the end, length of a sockaddr_storage. */
    struct sockaddr_in *sin = at_end(sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(8080);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[64], serv[16];
    int r = !want("getnameinfo") ? 0 : getnameinfo((struct sockaddr *)sin, sizeof(struct sockaddr_storage), host,
                        sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
    if (want("getnameinfo")) printf("getnameinfo %d %s %s\n", r, r == 0 ? host : "-", r == 0 ? serv : "-");

    /* setsockopt: an int at the end, optlen 16. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int *one = at_end(sizeof(int));
    *one = 1;
    r = !want("setsockopt") ? 0 : setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, one, 16);
    if (want("setsockopt")) printf("setsockopt %d\n", r);
    /* IP_TOS accepts a single byte. */
    char *tos = at_end(1);
    *tos = 0x10;
    r = !want("setsockopt") ? 0 : setsockopt(s, IPPROTO_IP, IP_TOS, tos, 1);
    if (want("setsockopt")) printf("setsockopt tos %d\n", r);

    /* getsockopt TCP_INFO: the whole struct lands at the end. */
    struct tcp_info *ti = at_end(sizeof *ti);
    socklen_t tl = sizeof *ti;
    r = !want("getsockopt") ? -1 : getsockopt(s, IPPROTO_TCP, TCP_INFO, ti, &tl);
    if (want("getsockopt")) printf("getsockopt tcp_info %d %d\n", r, r == 0 ? ti->tcpi_state : -1);

    /* connect and sendto with the address at the end. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in *dst = at_end(sizeof *dst);
    memset(dst, 0, sizeof *dst);
    dst->sin_family = AF_INET;
    dst->sin_port = htons(9);
    dst->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (want("sendto")) printf("sendto %zd\n", sendto(u, "x", 1, 0, (struct sockaddr *)dst, sizeof *dst));
    if (want("connect")) printf("connect %d\n", connect(u, (struct sockaddr *)dst, sizeof *dst));

    /* recvmsg/recvmmsg on IPv6: a 16-byte name buffer at the end; the
     * kernel writes 16 bytes and reports 28 in msg_namelen. */
    int rx, tx;
    struct sockaddr_in6 to;
    if (udp6_pair(&rx, &tx, &to) == 0) {
        sendto(tx, "hello", 5, 0, (struct sockaddr *)&to, sizeof to);
        char buf[32];
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {0};
        mh.msg_name = at_end(16);
        mh.msg_namelen = 16;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        ssize_t n = !want("recvmsg") ? 0 : recvmsg(rx, &mh, 0);
        if (want("recvmsg")) printf("recvmsg %zd namelen %u\n", n, (unsigned)mh.msg_namelen);

        sendto(tx, "again", 5, 0, (struct sockaddr *)&to, sizeof to);
        struct mmsghdr mm = {0};
        mm.msg_hdr.msg_name = at_end(16);
        mm.msg_hdr.msg_namelen = 16;
        mm.msg_hdr.msg_iov = &iov;
        mm.msg_hdr.msg_iovlen = 1;
        int k = !want("recvmmsg") ? 0 : recvmmsg(rx, &mm, 1, 0, NULL);
        if (want("recvmmsg")) printf("recvmmsg %d len %u namelen %u\n", k, mm.msg_len, (unsigned)mm.msg_hdr.msg_namelen);

        /* recv with MSG_TRUNC: returns the datagram's full length, more
         * than the 4-byte buffer at the end holds. */
        char big[100];
        memset(big, 'z', sizeof big);
        sendto(tx, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to);
        n = !want("recv") ? 0 : recv(rx, at_end(4), 4, MSG_TRUNC);
        if (want("recv")) printf("recv trunc %zd\n", n);
        sendto(tx, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to);
        socklen_t fl = sizeof(struct sockaddr_in6);
        struct sockaddr_in6 from;
        n = !want("recvfrom") ? 0 : recvfrom(rx, at_end(4), 4, MSG_TRUNC, (struct sockaddr *)&from, &fl);
        if (want("recvfrom")) printf("recvfrom trunc %zd\n", n);
    } else {
        printf("no ipv6\n");
    }

    /* poll, select and epoll_ctl with their arrays at the end. */
    struct pollfd *pfd = at_end(sizeof *pfd);
    pfd->fd = s;
    pfd->events = POLLOUT;
    if (want("poll")) printf("poll %d\n", poll(pfd, 1, 0));
    fd_set *rs = at_end(8); /* nfds <= 64: the kernel uses 8 bytes */
    memset(rs, 0, 8);
    ((unsigned long *)rs)[0] |= 1UL << u;
    struct timeval tv = {0, 0};
    if (want("select")) printf("select %d\n", select(u + 1, NULL, rs, NULL, &tv));
    int ep = epoll_create1(0);
    struct epoll_event *ev = at_end(sizeof *ev);
    ev->events = EPOLLIN;
    ev->data.fd = u;
    if (want("epoll_ctl")) printf("epoll_ctl %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, u, ev));

    /* sendmsg with its control buffer (SCM_RIGHTS) at the end. */
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0) {
        size_t cl = CMSG_SPACE(sizeof(int));
        char *ctl = at_end(cl);
        memset(ctl, 0, cl);
        struct msghdr mh = {0};
        struct iovec iov = {"f", 1};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl;
        mh.msg_controllen = cl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &u, sizeof(int));
        if (want("sendmsg")) printf("sendmsg rights %zd\n", sendmsg(sp[0], &mh, 0));
    }

    /* getaddrinfo with its hints at the end. */
    struct addrinfo *hints = at_end(sizeof *hints);
    memset(hints, 0, sizeof *hints);
    hints->ai_family = AF_INET;
    hints->ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    r = !want("getaddrinfo") ? -1 : getaddrinfo("127.0.0.1", "80", hints, &res);
    if (want("getaddrinfo")) printf("getaddrinfo %d\n", r);
    if (r == 0)
        freeaddrinfo(res);

    /* inet_aton / inet_addr stop at the first blank: neither reads up to
     * a NUL that is not there. (glibc's inet_pton takes strlen first.) */
    char *txt = at_end(8);
    memcpy(txt, "1.2.3.4 ", 8);
    struct in_addr ia;
    if (want("inet_aton")) printf("inet_aton %d\n", inet_aton(txt, &ia));
    if (want("inet_addr")) printf("inet_addr %08x\n", (unsigned)ntohl(inet_addr(txt)));
    memcpy(txt, "1.2.3.x", 8);
    if (want("inet_pton")) printf("inet_pton %d\n", inet_pton(AF_INET, txt, &ia));
    unsigned char *raw = at_end(4);
    memcpy(raw, "\x7f\x00\x00\x01", 4);
    char out[INET_ADDRSTRLEN];
    if (want("inet_ntop")) printf("inet_ntop %s\n", inet_ntop(AF_INET, raw, out, sizeof out) ? out : "-");
    return 0;
}
