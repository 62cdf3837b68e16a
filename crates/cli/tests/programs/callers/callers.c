/* Caller attribution: each socket call sits on a line marked MARK:<name>;
 * the test finds the line numbers by searching for the markers. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((noinline)) int open_socket(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0); /* MARK:socket */
    if (s < 0) abort();
    return s;
}

int main(void) {
    int s = open_socket();
    int r = close(s); /* MARK:close */
    if (r != 0) abort();
    return 0;
}
