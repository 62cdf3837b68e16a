/* Sends on a socketpair, then is killed: argv[1] "segv" dereferences a bad
 * pointer, "term" raises SIGTERM, anything else raises SIGKILL. Also checks
 * that a handled signal (SIGUSR1, raised once) runs its handler exactly
 * once under the tracer. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;
static void on_usr1(int s) { (void)s; usr1++; }

int main(int argc, char **argv) {
    alarm(30);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    printf("usr1 handled %d times\n", (int)usr1);
    fflush(stdout);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    send(sv[0], "last words", 10, 0);
    const char *how = argc > 1 ? argv[1] : "kill";
    if (!strcmp(how, "segv")) *(volatile int *)8 = 1;
    if (!strcmp(how, "term")) raise(SIGTERM);
    raise(SIGKILL);
    return 0;
}
