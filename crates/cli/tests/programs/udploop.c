/* A program to attach to: sends "tick N" over UDP to 127.0.0.1:PORT
 * (argv[1]) every 20 ms, ROUNDS (argv[2]) times, then exits with code 7.
 * Prints its pid first, and "round N" as it goes (each line flushed). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    alarm(60);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    a.sin_port = htons(atoi(argv[1]));
    int rounds = atoi(argv[2]);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    printf("pid %d\n", getpid());
    fflush(stdout);
    for (int i = 0; i < rounds; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "tick %d", i);
        if (sendto(s, msg, n, 0, (struct sockaddr *)&a, sizeof a) != n) return 3;
        printf("round %d\n", i);
        fflush(stdout);
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    close(s);
    return 7;
}
