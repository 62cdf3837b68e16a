/* T threads, each doing N send+recv pairs of 32 bytes on its own
 * socketpair: many cheap calls at once, the load where the collector,
 * not the hooks, sets the pace. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
static int n;
static void *run(void *arg) {
    int sv[2];
    char b[32] = {0};
    (void)arg;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return (void *)1;
    for (int i = 0; i < n; i++) {
        send(sv[0], b, sizeof b, 0);
        recv(sv[1], b, sizeof b, 0);
    }
    return 0;
}
int main(int argc, char **argv) {
    int t = argc > 1 ? atoi(argv[1]) : 16;
    n = argc > 2 ? atoi(argv[2]) : 20000;
    pthread_t th[256];
    if (t > 256) t = 256;
    for (int i = 0; i < t; i++) pthread_create(&th[i], 0, run, 0);
    for (int i = 0; i < t; i++) pthread_join(th[i], 0);
    return 0;
}
