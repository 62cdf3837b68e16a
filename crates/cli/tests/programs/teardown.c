/* Sockets closed at awkward moments: from a pthread key destructor at
 * thread exit (after the C library has torn down other thread-locals), and
 * from an atexit handler during process exit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_key_t key;
static int exit_fd = -1;

static void close_from_key(void *p) {
    int fd = (int)(long)p;
    send(fd, "bye", 3, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
}

static void close_at_exit(void) {
    close(exit_fd);
}

static void *thread_main(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    pthread_setspecific(key, (void *)(long)fd);
    return NULL;
}

int main(void) {
    pthread_key_create(&key, close_from_key);
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
    }
    exit_fd = socket(AF_INET6, SOCK_DGRAM, 0);
    atexit(close_at_exit);
    printf("ok\n");
    return 0;
}
