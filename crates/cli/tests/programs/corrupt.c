/* A misbehaving traced program: it maps the trace area named by
 * SOCK_TRACE_SHM and breaks its own ring's counters (tail beyond head),
 * then keeps making calls. A producer then finds no room forever unless the
 * collector notices and restarts the ring. Prints "done N" at the end. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HEADER_BYTES 16384
#define CTL_BYTES 128

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
    char b = 'x';
    send(sv[0], &b, 1, 0); /* takes this thread's ring */
    recv(sv[1], &b, 1, 0);
    const char *path = getenv("SOCK_TRACE_SHM");
    if (!path) return 3;
    int fd = open(path, O_RDWR);
    if (fd < 0) return 4;
    struct stat st;
    fstat(fd, &st);
    uint8_t *base = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return 5;
    uint32_t nrings = *(uint32_t *)(base + 12);
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    int found = 0;
    for (uint32_t i = 0; i < nrings; i++) {
        uint8_t *ctl = base + HEADER_BYTES + (size_t)i * CTL_BYTES;
        if (*(uint32_t *)(ctl + 8) == tid && *(uint32_t *)(ctl + 0) == 1) {
            volatile uint64_t *head = (uint64_t *)(ctl + 16);
            volatile uint64_t *tail = (uint64_t *)(ctl + 64);
            *tail = *head + ((uint64_t)1 << 40);
            found = 1;
        }
    }
    if (!found) return 6;
    int n = 0;
    for (; n < 20000; n++) {
        if (send(sv[0], &b, 1, 0) != 1 || recv(sv[1], &b, 1, 0) != 1) return 7;
    }
    printf("done %d\n", n);
    return 0;
}
