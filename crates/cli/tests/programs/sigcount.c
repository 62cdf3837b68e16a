/* Counts the signals it receives. Installs handlers for SIGUSR1, SIGUSR2,
 * SIGINT and SIGTERM, creates the file named by argv[1] when ready, then
 * waits argv[2] milliseconds (restarting after each signal) and prints
 * "USR1=n USR2=n INT=n TERM=n". A signal delivered twice shows as 2. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t counts[65];

static void on_signal(int sig) { counts[sig]++; }

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGUSR1, SIGUSR2, SIGINT, SIGTERM};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0); /* something to trace */
    close(s);
    int fd = open(argv[1], O_CREAT | O_WRONLY | O_EXCL, 0600);
    if (fd < 0) return 3;
    close(fd);
    long ms = atol(argv[2]);
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) { end.tv_sec++; end.tv_nsec -= 1000000000L; }
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) break;
        struct timespec nap = {0, 10000000L};
        nanosleep(&nap, NULL);
    }
    printf("USR1=%d USR2=%d INT=%d TERM=%d\n", counts[SIGUSR1], counts[SIGUSR2], counts[SIGINT], counts[SIGTERM]);
    return 0;
}
