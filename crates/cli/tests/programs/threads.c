/* THREADS threads each perform OPS socket operations (half send, half recv
 * on a private socketpair). The trace must hold exactly THREADS*OPS/2 send
 * lines and as many recv lines, none torn. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int ops = 5000;

static void *worker(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
    char b = 'x';
    for (int i = 0; i < ops / 2; i++) {
        if (send(sv[0], &b, 1, 0) != 1) abort();
        if (recv(sv[1], &b, 1, 0) != 1) abort();
    }
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16;
    if (argc > 2) ops = atoi(argv[2]);
    pthread_t t[256];
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
