/* Many short TCP connections over loopback: COUNT times the client thread
 * connects, receives one byte and sees end of stream, and closes; the
 * server thread accepts, sends one byte and closes (server closes first,
 * so TIME_WAIT sits on the listener's port and does not use up ephemeral
 * ports across runs). Usage: shortconn [COUNT] (default 20000). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int count = 20000;
static int listener;

static void *server(void *arg) {
    (void)arg;
    for (int i = 0; i < count; i++) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) { perror("accept"); exit(1); }
        send(fd, "x", 1, 0);
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) count = atoi(argv[1]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 128) != 0) { perror("listen"); return 1; }
    getsockname(listener, (struct sockaddr *)&a, &len);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
        char b;
        if (recv(fd, &b, 1, 0) != 1) { fprintf(stderr, "no byte\n"); return 1; }
        while (recv(fd, &b, 1, 0) > 0) {}
        close(fd);
    }
    pthread_join(t, NULL);
    close(listener);
    return 0;
}
