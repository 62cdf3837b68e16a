/* Connects to a listener of its own on [::1] and then on 127.0.0.1, so a
 * real connect succeeds; prints what each connect returned:
 * "v6 ok" / "v6 ECONNREFUSED" (and the same for v4). Exit 0 unless the
 * listeners could not be set up. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *name(int e) {
    return e == ECONNREFUSED ? "ECONNREFUSED" : strerror(e);
}

static int try_connect(int family) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    int l = socket(family, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&ss, &len) != 0) {
        perror("listener");
        return -1;
    }
    int c = socket(family, SOCK_STREAM, 0);
    int r = connect(c, (struct sockaddr *)&ss, len);
    int e = errno;
    printf("%s %s\n", family == AF_INET6 ? "v6" : "v4", r == 0 ? "ok" : name(e));
    close(c);
    close(l);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (try_connect(AF_INET6) != 0 || try_connect(AF_INET) != 0)
        return 1;
    return 0;
}
