/* Forks FORKS children while WORKERS threads are busy inside socket calls
 * (and so inside the tracer's hooks). Each child makes one socket call and
 * exits. A lock held by a worker at fork time would hang a child forever. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *worker(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) abort();
    char b = 'x';
    while (!stop) {
        send(sv[0], &b, 1, 0);
        recv(sv[1], &b, 1, 0);
    }
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 1000;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p == 0) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            close(s);
            _exit(0);
        }
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed\n", i);
            return 1;
        }
    }
    stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("forked %d\n", forks);
    return 0;
}
