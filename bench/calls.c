/* N cheap socket calls (getsockopt SO_TYPE and a 1-byte send/recv pair on
 * a socketpair): the instruction cost a hook adds per call is the
 * difference between runs with N and 0 calls, divided by the calls made. */
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 1;
    char b = 'x';
    int ty;
    socklen_t len = sizeof ty;
    for (int i = 0; i < n; i++) {
        getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &ty, &len);
        send(sv[0], &b, 1, 0);
        recv(sv[1], &b, 1, 0);
    }
    return 0;
}
