/* Caller attribution across a process's life: after it re-execs itself,
 * in the grandchild of a double fork (whose parent is gone by then), and on
 * the first call from a library loaded with dlopen.
 *   lifecycle reexec LIB    re-exec self as "after"
 *   lifecycle daemon LIB    double fork; the grandchild calls socket
 *   lifecycle dlopen LIB    dlopen LIB and call its netlib_open */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) static int after_exec(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0); /* MARK:after_exec */
    return s;
}

__attribute__((noinline)) static int in_daemon(void) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0); /* MARK:in_daemon */
    return s;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (strcmp(argv[1], "reexec") == 0) {
        char *args[] = {argv[0], "after", argv[2], NULL};
        execv("/proc/self/exe", args);
        return 3;
    }
    if (strcmp(argv[1], "after") == 0) return after_exec() < 0;
    if (strcmp(argv[1], "daemon") == 0) {
        int p[2];
        if (pipe(p) != 0) return 4;
        pid_t mid = fork();
        if (mid == 0) {
            pid_t grand = fork();
            if (grand == 0) {
                char b;
                close(p[1]);
                /* Wait until the middle process is gone: reparented. */
                if (read(p[0], &b, 1) != 0) return 5;
                while (getppid() == mid) usleep(1000);
                return in_daemon() < 0;
            }
            _exit(0);
        }
        close(p[0]);
        waitpid(mid, NULL, 0);
        close(p[1]);
        return 0;
    }
    if (strcmp(argv[1], "dlopen") == 0) {
        void *h = dlopen(argv[2], RTLD_NOW);
        if (!h) { fprintf(stderr, "%s\n", dlerror()); return 6; }
        int (*open_fn)(void) = (int (*)(void))dlsym(h, "netlib_open");
        return open_fn() < 0;
    }
    return 2;
}
