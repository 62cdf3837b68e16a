/* A loopback client for the system-call backend: connects to 127.0.0.1:PORT
 * (argv[1]), sends "ping", reads the reply, closes; then connects to the
 * closed port argv[2] and checks from inside that errno is ECONNREFUSED.
 * Prints what it saw and exits 3 when every check passed (7 otherwise). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    alarm(30);
    if (argc < 3) return 2;
    int ok = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    a.sin_port = htons(atoi(argv[1]));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); ok = 0; }
    if (send(c, "ping", 4, 0) != 4) ok = 0;
    char buf[64];
    ssize_t n = 0, got;
    while (n < 5 && (got = recv(c, buf + n, sizeof buf - n, 0)) > 0) n += got;
    printf("received %zd bytes: %.*s\n", n, (int)n, buf);
    if (n != 5 || memcmp(buf, "pong!", 5) != 0) ok = 0;
    close(c);
    int r = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons(atoi(argv[2]));
    errno = 0;
    int rc = connect(r, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    printf("refused connect: rc=%d errno=%d (%s)\n", rc, e, strerror(e));
    if (rc != -1 || e != ECONNREFUSED) ok = 0;
    close(r);
    printf(ok ? "ALL OK\n" : "FAILED\n");
    fflush(stdout);
    return ok ? 3 : 7;
}
