/* Sockets closed or received without the named close/recv paths (issue 9
 * items 8 and 9): close_range, closefrom, fclose of an fdopen'ed socket,
 * syscall(SYS_close), SCM_RIGHTS, and socket calls made through syscall().
 *   fdtrack closers   each closer, then a file reuses the number and is read
 *   fdtrack rights    a socket received over SCM_RIGHTS is written to
 *   fdtrack syscall   socket/sendmmsg/close through syscall(), futex, getpid
 *   fdtrack asm       a socket closed by the syscall instruction itself (no
 *                     hook can see it), then a file reuses the number
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *self;

static void reuse_and_read(const char *how, int was) {
    int fd = open(self, O_RDONLY);
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    printf("%s reused=%d read=%zd elf=%d\n", how, fd == was, n,
           n >= 4 && memcmp(buf, "\177ELF", 4) == 0);
    close(fd);
}

static int closers(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    close_range(s, s, 0);
    reuse_and_read("close_range", s);

    s = socket(AF_INET, SOCK_DGRAM, 0);
    closefrom(s);
    reuse_and_read("closefrom", s);

    s = socket(AF_INET, SOCK_DGRAM, 0);
    FILE *f = fdopen(s, "r+");
    fclose(f);
    reuse_and_read("fclose", s);

    s = socket(AF_INET, SOCK_DGRAM, 0);
    long r = syscall(SYS_close, s);
    printf("syscall close %ld\n", r);
    reuse_and_read("syscall_close", s);
    return 0;
}

static int asm_close(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_close), "D"((long)s) : "rcx", "r11", "memory");
    printf("asm close %ld\n", r);
    reuse_and_read("asm_close", s);
    return 0;
}

static int rights(void) {
    int sp[2], q[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, q))
        return 1;
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {"x", 1};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &q[0], sizeof(int));
    if (sendmsg(sp[0], &mh, 0) != 1)
        return 1;
    close(q[0]);

    char b[1];
    struct iovec riov = {b, 1};
    struct msghdr rh = {0};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ru;
    rh.msg_iov = &riov;
    rh.msg_iovlen = 1;
    rh.msg_control = ru.buf;
    rh.msg_controllen = sizeof ru.buf;
    if (recvmsg(sp[1], &rh, 0) != 1)
        return 1;
    int got = -1;
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rh);
    if (rc && rc->cmsg_type == SCM_RIGHTS)
        memcpy(&got, CMSG_DATA(rc), sizeof(int));
    ssize_t w = write(got, "ping", 4);
    char back[8] = {0};
    ssize_t n = read(q[1], back, sizeof back - 1);
    printf("received fd %d wrote %zd read %zd %s\n", got, w, n, back);
    return 0;
}

static int via_syscall(void) {
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(rx, (struct sockaddr *)&a, sizeof a) || getsockname(rx, (struct sockaddr *)&a, &al))
        return 1;
    long s = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    struct iovec v[2] = {{"one", 3}, {"two!", 4}};
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 2; i++) {
        mm[i].msg_hdr.msg_name = &a;
        mm[i].msg_hdr.msg_namelen = sizeof a;
        mm[i].msg_hdr.msg_iov = &v[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = syscall(SYS_sendmmsg, s, mm, 2, 0);
    char b[16];
    ssize_t n1 = recv(rx, b, sizeof b, 0), n2 = recv(rx, b, sizeof b, 0);
    printf("socket %s sendmmsg %ld (%u+%u) received %zd+%zd\n", s >= 0 ? "ok" : "failed", sent,
           mm[0].msg_len, mm[1].msg_len, n1, n2);
    int word = 0;
    printf("futex %ld\n", syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    printf("getpid %d\n", syscall(SYS_getpid) == getpid());
    errno = 0;
    long r = syscall(SYS_close, -1);
    printf("close(-1) %ld %s\n", r, errno == EBADF ? "EBADF" : strerror(errno));
    errno = 0;
    r = syscall(99999);
    printf("nr 99999 %ld %s\n", r, errno == ENOSYS ? "ENOSYS" : strerror(errno));
    printf("close %ld\n", syscall(SYS_close, s));
    return 0;
}

int main(int argc, char **argv) {
    self = argv[0];
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "closers"))
        return closers();
    if (!strcmp(argv[1], "rights"))
        return rights();
    if (!strcmp(argv[1], "syscall"))
        return via_syscall();
    if (!strcmp(argv[1], "asm"))
        return asm_close();
    return 2;
}
