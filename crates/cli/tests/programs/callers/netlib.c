/* A shared library of our own that calls the socket API for its user. */
#include <sys/socket.h>

__attribute__((noinline)) int netlib_open(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0); /* MARK:lib_socket */
    return s < 0 ? -1 : s;
}
