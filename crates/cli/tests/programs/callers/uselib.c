/* Calls a shared library that makes the socket call: with caller_skip on
 * the library, the call is attributed to this file. */
#include <stdlib.h>
#include <unistd.h>

int netlib_open(void);

int main(void) {
    int s = netlib_open(); /* MARK:uselib */
    if (s < 0) abort();
    close(s);
    return 0;
}
