/* Forks: the child makes a socket and a UDP send to 127.0.0.1:PORT
 * (argv[1]) and exits 0; the parent makes a socketpair, waits and exits
 * with the child's status plus 10. Prints both pids. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    alarm(30);
    if (argc < 2) return 2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        a.sin_port = htons(atoi(argv[1]));
        ssize_t n = sendto(s, "child", 5, 0, (struct sockaddr *)&a, sizeof a);
        printf("child %d sent %zd\n", getpid(), n);
        fflush(stdout);
        _exit(n == 5 ? 0 : 1);
    }
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("parent %d child %d status %d\n", getpid(), pid, st);
    return WIFEXITED(st) ? 10 + WEXITSTATUS(st) : 99;
}
