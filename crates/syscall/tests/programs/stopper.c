/* Job control under the tracer: prints its pid, stops itself with SIGSTOP,
 * and once continued makes a socket call and prints "continued". */
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    alarm(30);
    printf("pid %d\n", getpid());
    fflush(stdout);
    raise(SIGSTOP);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    printf("continued %d\n", s >= 0);
    fflush(stdout);
    return 0;
}
