/* Four datagrams through sendmmsg, then recvmmsg without blocking: prints
 * how many messages each call moved and how long recvmmsg took (ms), so a
 * test can see short sends, injected errors and delays from the inside. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 1;
    char text[4][8] = {"one", "two", "three", "four"};
    struct iovec out[4];
    struct mmsghdr m[4];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 4; i++) {
        out[i].iov_base = text[i];
        out[i].iov_len = strlen(text[i]);
        m[i].msg_hdr.msg_iov = &out[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(sv[0], m, 4, 0);
    int sent_errno = sent < 0 ? errno : 0;
    char buf[4][16];
    struct iovec in[4];
    struct mmsghdr r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        in[i].iov_base = buf[i];
        in[i].iov_len = sizeof buf[i];
        r[i].msg_hdr.msg_iov = &in[i];
        r[i].msg_hdr.msg_iovlen = 1;
    }
    double t = now_ms();
    int got = recvmmsg(sv[1], r, 4, MSG_DONTWAIT, NULL);
    int got_errno = got < 0 ? errno : 0;
    printf("sent %d errno %d received %d errno %d took %.3f\n", sent, sent_errno, got,
           got_errno, now_ms() - t);
    return 0;
}
