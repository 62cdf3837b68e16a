/* UDP request/response over loopback: ROUNDS round trips of a 32-byte
 * datagram between two threads (sendto/recvfrom on both sides). A lost
 * datagram is resent after a 200 ms receive timeout; an interrupted
 * wait (EINTR, which ltrace causes) is retried without resending. Usage: udp [ROUNDS] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int rounds = 20000;
static int srv;

static void *server(void *arg) {
    (void)arg;
    char buf[64];
    struct sockaddr_in peer;
    for (;;) {
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n <= 0) break;
        if (n == 4 && memcmp(buf, "quit", 4) == 0) break;
        sendto(srv, buf, n, 0, (struct sockaddr *)&peer, len);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atoi(argv[1]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    srv = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(srv, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    getsockname(srv, (struct sockaddr *)&a, &alen);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char msg[32] = "ping", buf[64];
    int lost = 0;
    for (int i = 0; i < rounds; i++) {
        int resend = 1;
        for (;;) {
            if (resend) sendto(fd, msg, sizeof msg, 0, (struct sockaddr *)&a, sizeof a);
            struct sockaddr_in from;
            socklen_t flen = sizeof from;
            ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
            if (n > 0) break;
            /* EINTR: a tracer (ltrace) interrupted the wait; keep waiting. */
            resend = errno != EINTR;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { perror("recvfrom"); return 1; }
            if (++lost > 1000) { fprintf(stderr, "too many lost datagrams\n"); return 1; }
        }
    }
    sendto(fd, "quit", 4, 0, (struct sockaddr *)&a, sizeof a);
    pthread_join(t, NULL);
    close(fd);
    close(srv);
    return 0;
}
