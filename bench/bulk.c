/* Bulk transfer over loopback TCP: the client thread sends TOTAL bytes in
 * 64 KiB send() calls, the server thread receives them in 64 KiB recv()
 * calls until end of stream. Usage: bulk [MIB] (default 1024 = 1 GiB). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static int listener;
static long long received;

static void *server(void *arg) {
    (void)arg;
    static char buf[CHUNK];
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) { perror("accept"); exit(1); }
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        received += n;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    long long mib = argc > 1 ? atoll(argv[1]) : 1024;
    long long total = mib * 1024 * 1024;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 1) != 0) { perror("listen"); return 1; }
    getsockname(listener, (struct sockaddr *)&a, &len);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    static char msg[CHUNK];
    memset(msg, 'x', sizeof msg);
    long long sent = 0;
    while (sent < total) {
        ssize_t n = send(fd, msg, sizeof msg, 0);
        if (n <= 0) { perror("send"); return 1; }
        sent += n;
    }
    close(fd);
    pthread_join(t, NULL);
    close(listener);
    if (received != total) { fprintf(stderr, "received %lld of %lld\n", received, total); return 1; }
    return 0;
}
