/* The calls the system-call backend added second: sendmmsg/recvmmsg (with
 * a timeout), ioctl FIONREAD/SIOCOUTQ, fcntl F_GETFL/F_SETFL and sendfile
 * from a memfd into a socket. Prints what it got; the test compares the
 * records of both backends for the same run. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    int d[2], s[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, d) || socketpair(AF_UNIX, SOCK_STREAM, 0, s))
        return 1;
    struct iovec iov[3] = {{"first", 5}, {"second!", 7}, {"3", 1}};
    struct mmsghdr m[3];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 3; i++) {
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(d[0], m, 3, 0);
    char b[3][16];
    struct iovec r[3];
    struct mmsghdr rm[3];
    memset(rm, 0, sizeof rm);
    for (int i = 0; i < 3; i++) {
        r[i].iov_base = b[i];
        r[i].iov_len = 16;
        rm[i].msg_hdr.msg_iov = &r[i];
        rm[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec t = {5, 0};
    int k = recvmmsg(d[1], rm, 3, 0, &t);

    if (write(s[0], "pending", 7) != 7)
        return 1;
    int avail = -1, outq = -1;
    ioctl(s[1], FIONREAD, &avail);
    ioctl(s[0], SIOCOUTQ, &outq);
    int fl = fcntl(s[1], F_GETFL);
    fcntl(s[1], F_SETFL, fl | O_NONBLOCK);

    int mf = memfd_create("sysextra", 0);
    if (mf < 0 || write(mf, "0123456789", 10) != 10)
        return 1;
    off_t off = 2;
    ssize_t sent = sendfile(s[0], mf, &off, 6);
    char got[32];
    ssize_t g = read(s[1], got, sizeof got);
    printf("mmsg %d %d avail %d outq %d sendfile %zd off %ld read %zd\n", n, k, avail, outq,
           sent, (long)off, g);
    return 0;
}
