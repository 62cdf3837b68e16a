/* Loopback TCP ping-pong: ROUNDS round trips of a small message between two
 * threads with TCP_NODELAY. The engine issue's reference workload. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int rounds = 20000;
static int listener;

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *server(void *arg) {
    (void)arg;
    int fd = accept(listener, NULL, NULL);
    nodelay(fd);
    char buf[64];
    for (int i = 0; i < rounds; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        send(fd, buf, n, 0);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atoi(argv[1]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    bind(listener, (struct sockaddr *)&a, sizeof a);
    listen(listener, 1);
    getsockname(listener, (struct sockaddr *)&a, &len);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    nodelay(fd);
    char msg[32] = "ping", buf[64];
    for (int i = 0; i < rounds; i++) {
        send(fd, msg, sizeof msg, 0);
        if (recv(fd, buf, sizeof buf, 0) <= 0) { fprintf(stderr, "short\n"); return 1; }
    }
    close(fd);
    pthread_join(t, NULL);
    close(listener);
    return 0;
}
