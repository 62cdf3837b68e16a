/* For crates/winsock/tests/inject.rs, linked normally with -lws2_32.
 * Usage:
 *   inj_tree parent         listens on 127.0.0.1, starts "inj_tree child PORT"
 *                           with CreateProcessA, accepts its connection,
 *                           receives its message, exits with the child's code
 *   inj_tree system         the same through msvcrt's system()
 *   inj_tree child PORT     connects to PORT, sends "from child", exits 4
 *   inj_tree kill           connects to its own listener, sends "last words",
 *                           then TerminateProcess(self, 9): the send must
 *                           still be in the trace */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SOCKET listener(int *port) {
  struct sockaddr_in a;
  int len = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  SOCKET l = socket(AF_INET, SOCK_STREAM, 0);
  if (bind(l, (struct sockaddr *)&a, len) || getsockname(l, (struct sockaddr *)&a, &len) ||
      listen(l, 1))
    return INVALID_SOCKET;
  *port = ntohs(a.sin_port);
  return l;
}

static SOCKET connect_to(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((u_short)port);
  SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr *)&a, sizeof a)) return INVALID_SOCKET;
  return c;
}

static int parent(const char *self, int use_system) {
  int port;
  SOCKET l = listener(&port);
  if (l == INVALID_SOCKET) return 1;
  char cmd[MAX_PATH + 64];
  snprintf(cmd, sizeof cmd, "%s child %d", self, port);
  DWORD code = 1;
  if (use_system) {
    fflush(stdout);
    code = (DWORD)system(cmd);
  } else {
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
      printf("CreateProcess failed: %lu\n", GetLastError());
      return 1;
    }
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
  }
  SOCKET s = accept(l, NULL, NULL);
  char buf[32];
  int got = recv(s, buf, sizeof buf, 0);
  closesocket(s);
  closesocket(l);
  printf("parent: child exited with %lu, received %d\n", code, got);
  return (int)code;
}

int main(int argc, char **argv) {
  WSADATA d;
  if (argc < 2 || WSAStartup(MAKEWORD(2, 2), &d) != 0) return 2;
  if (!strcmp(argv[1], "parent")) return parent(argv[0], 0);
  if (!strcmp(argv[1], "system")) return parent(argv[0], 1);
  if (!strcmp(argv[1], "child") && argc > 2) {
    SOCKET c = connect_to(atoi(argv[2]));
    if (c == INVALID_SOCKET) return 1;
    send(c, "from child", 10, 0);
    closesocket(c);
    WSACleanup();
    return 4;
  }
  if (!strcmp(argv[1], "kill")) {
    int port;
    SOCKET l = listener(&port);
    SOCKET c = connect_to(port);
    send(c, "last words", 10, 0);
    TerminateProcess(GetCurrentProcess(), 9);
  }
  return 2;
}
