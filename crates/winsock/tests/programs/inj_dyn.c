/* For crates/winsock/tests/inject.rs: a program that does NOT import
 * ws2_32. It loads it with LoadLibraryA and takes every function with
 * GetProcAddress (one of them by ordinal: 23 is socket), then makes one
 * TCP loopback exchange. sock-trace.exe run must trace it all. Exit code
 * 3 on success. */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <string.h>

typedef int(WSAAPI *startup_t)(WORD, WSADATA *);
typedef int(WSAAPI *cleanup_t)(void);
typedef SOCKET(WSAAPI *socket_t)(int, int, int);
typedef int(WSAAPI *addr_t)(SOCKET, const struct sockaddr *, int);
typedef int(WSAAPI *name_t)(SOCKET, struct sockaddr *, int *);
typedef int(WSAAPI *listen_t)(SOCKET, int);
typedef SOCKET(WSAAPI *accept_t)(SOCKET, struct sockaddr *, int *);
typedef int(WSAAPI *io_t)(SOCKET, char *, int, int);
typedef int(WSAAPI *close_t)(SOCKET);
typedef u_long(WSAAPI *htonl_t)(u_long);

int main(void) {
  HMODULE ws = LoadLibraryA("ws2_32.dll");
  if (!ws) { printf("LoadLibrary failed: %lu\n", GetLastError()); return 1; }
#define GET(t, n) t n##_ = (t)(void *)GetProcAddress(ws, #n)
  GET(startup_t, WSAStartup); GET(cleanup_t, WSACleanup);
  GET(addr_t, bind); GET(addr_t, connect); GET(name_t, getsockname);
  GET(listen_t, listen); GET(accept_t, accept); GET(io_t, send); GET(io_t, recv);
  GET(close_t, closesocket); GET(htonl_t, htonl);
  socket_t socket_ = (socket_t)(void *)GetProcAddress(ws, (LPCSTR)(ULONG_PTR)23);
  if (!socket_ || !WSAStartup_ || !recv_) { printf("GetProcAddress failed\n"); return 1; }
  WSADATA d;
  if (WSAStartup_(MAKEWORD(2, 2), &d) != 0) return 1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl_(INADDR_LOOPBACK);
  int len = sizeof a;
  SOCKET l = socket_(AF_INET, SOCK_STREAM, 0);
  if (bind_(l, (struct sockaddr *)&a, len) || getsockname_(l, (struct sockaddr *)&a, &len) ||
      listen_(l, 1))
    return 1;
  SOCKET c = socket_(AF_INET, SOCK_STREAM, 0);
  if (connect_(c, (struct sockaddr *)&a, len)) return 1;
  SOCKET s = accept_(l, NULL, NULL);
  char buf[16];
  int sent = send_(c, "dynamic", 7, 0);
  int got = recv_(s, buf, sizeof buf, 0);
  closesocket_(s);
  closesocket_(c);
  closesocket_(l);
  WSACleanup_();
  printf("dyn: sent %d, received %d\n", sent, got);
  return got == 7 ? 3 : 1;
}
