/* Fork-heavy workload helper.
 *   forkclient listen        bind 127.0.0.1:0, print the port, then accept,
 *                            send one byte and close, forever (run untraced
 *                            by bench/suite.py and killed at the end)
 *   forkclient PORT          connect to 127.0.0.1:PORT, receive the byte,
 *                            close, exit (what the traced shell runs N times) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (argc < 2) { fprintf(stderr, "usage: forkclient listen|PORT\n"); return 2; }
    if (strcmp(argv[1], "listen") == 0) {
        socklen_t len = sizeof a;
        int l = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 128) != 0) { perror("listen"); return 1; }
        getsockname(l, (struct sockaddr *)&a, &len);
        printf("%d\n", ntohs(a.sin_port));
        fflush(stdout);
        for (;;) {
            int fd = accept(l, NULL, NULL);
            if (fd < 0) continue;
            send(fd, "x", 1, 0);
            close(fd);
        }
    }
    a.sin_port = htons(atoi(argv[1]));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    char b;
    if (recv(fd, &b, 1, 0) != 1) return 1;
    close(fd);
    return 0;
}
