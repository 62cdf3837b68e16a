/* Makes one socket call and dies at once: "abort", "segv" or "kill".
 * The call must still be in the trace. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    send(sv[0], "last words", 10, 0);
    const char *how = argc > 1 ? argv[1] : "kill";
    if (!strcmp(how, "abort")) abort();
    if (!strcmp(how, "segv")) *(volatile int *)8 = 1;
    raise(SIGKILL);
    return 0;
}
