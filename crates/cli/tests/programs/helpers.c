/* Calls the byte-order and address helpers (built with -O0 so that
 * htons/htonl are real calls, not inlined byte swaps). */
#include <arpa/inet.h>
#include <stdio.h>

int main(void) {
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    unsigned short s = htons(80);
    unsigned int l = htonl(0x7f000001);
    int ok = inet_pton(AF_INET6, "2001:db8::1", &a6) == 1 &&
             inet_ntop(AF_INET6, &a6, text, sizeof text) != NULL;
    printf("%u %u %s\n", ntohs(s), ntohl(l), ok ? text : "failed");
    return ok ? 0 : 1;
}
