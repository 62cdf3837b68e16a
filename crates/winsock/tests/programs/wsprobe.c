/* Winsock calls for the sock_trace.dll tests (crates/winsock/tests/wine.rs).
 * Built with MinGW twice: -lws2_32 (untraced) and -lsock_trace (traced);
 * both must print the same. Usage: wsprobe tcp4|tcp6|udp|refused|resolve|exit N
 * (`bench N`: N loopback TCP round trips, 4 calls each, timed; `calls N`:
 * N calls that fail at once in ws2_32 itself, select() with no sets, to
 * time a hook without Wine's server round trips; both for
 * docs/PERFORMANCE.md, not the tests).
 * Every case is single-threaded: a listening socket, a client connected to
 * it (the connection completes in the backlog), accept, send/recv. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  printf("%s failed: %d\n", what, WSAGetLastError());
  return 1;
}

/* Closes the sockets in order (INVALID_SOCKET: none); a case's end. */
static int finish(SOCKET a, SOCKET b, SOCKET c) {
  SOCKET all[3] = {a, b, c};
  for (int i = 0; i < 3; i++)
    if (all[i] != INVALID_SOCKET) closesocket(all[i]);
  return 0;
}

/* Binds to port 0 of the loopback of `af` and returns the bound address. */
static SOCKET bound(int af, int type, struct sockaddr_storage *ss, int *len) {
  SOCKET s = socket(af, type, 0);
  if (s == INVALID_SOCKET) return s;
  memset(ss, 0, sizeof *ss);
  if (af == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    *len = sizeof *a;
  }
  if (bind(s, (struct sockaddr *)ss, *len) != 0) return INVALID_SOCKET;
  if (getsockname(s, (struct sockaddr *)ss, len) != 0) return INVALID_SOCKET;
  return s;
}

static int tcp(int af) {
  struct sockaddr_storage ss;
  int len;
  SOCKET l = bound(af, SOCK_STREAM, &ss, &len);
  if (l == INVALID_SOCKET) return fail("bind");
  if (listen(l, 4) != 0) return fail("listen");
  SOCKET c = socket(af, SOCK_STREAM, IPPROTO_TCP);
  int one = 1;
  if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one) != 0)
    return fail("setsockopt");
  if (connect(c, (struct sockaddr *)&ss, len) != 0) return fail("connect");
  struct sockaddr_storage peer;
  int plen = sizeof peer;
  SOCKET a = accept(l, (struct sockaddr *)&peer, &plen);
  if (a == INVALID_SOCKET) return fail("accept");
  const char msg[] = "hello over loopback";
  int n = send(c, msg, (int)strlen(msg), 0);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(a, &rd);
  struct timeval tv = {5, 0};
  int ready = select(0, &rd, NULL, NULL, &tv);
  char buf[64];
  int m = recv(a, buf, sizeof buf, 0);
  int isset = FD_ISSET(a, &rd) != 0;
  int type = 0, tlen = sizeof type;
  getsockopt(a, SOL_SOCKET, SO_TYPE, (char *)&type, &tlen);
  u_long avail = 1234;
  ioctlsocket(a, FIONREAD, &avail);
  shutdown(c, SD_SEND);
  m += recv(a, buf + m, sizeof buf - m, 0);
  printf("tcp%d: sent %d, ready %d (set %d), received %d \"%.*s\", type %d, pending %lu\n",
         af == AF_INET ? 4 : 6, n, ready, isset, m, m, buf, type, avail);
  return finish(a, c, l);
}

static int udp(void) {
  struct sockaddr_storage ss;
  int len;
  SOCKET r = bound(AF_INET, SOCK_DGRAM, &ss, &len);
  if (r == INVALID_SOCKET) return fail("bind");
  SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  int n = sendto(s, "datagram", 8, 0, (struct sockaddr *)&ss, len);
  char buf[32];
  struct sockaddr_in from;
  int flen = sizeof from;
  int m = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
  printf("udp: sent %d, received %d \"%.*s\" from 127.0.0.1: %d\n", n, m, m > 0 ? m : 0, buf,
         from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  return finish(s, r, INVALID_SOCKET);
}

/* Connects to a port nobody listens on: WSAGetLastError() must read
 * WSAECONNREFUSED (10061) whether the call was traced or not. */
static int refused(void) {
  struct sockaddr_storage ss;
  int len;
  SOCKET l = bound(AF_INET, SOCK_STREAM, &ss, &len);
  closesocket(l); /* the port is now free and closed */
  SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
  int r = connect(c, (struct sockaddr *)&ss, len);
  int e = WSAGetLastError();
  int again = WSAGetLastError();
  printf("refused: connect %d, WSAGetLastError %d, again %d\n", r, e, again);
  closesocket(c);
  return 0;
}

static int resolve(void) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int r = getaddrinfo("localhost", "80", &hints, &res);
  int n = 0;
  for (struct addrinfo *p = res; p; p = p->ai_next) n++;
  printf("resolve: getaddrinfo %d, %d results, first is 127.0.0.1: %d\n", r, n,
         res && ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  if (res) freeaddrinfo(res);
  return 0;
}

/* N round trips of 64 bytes on one loopback connection: send, recv on
 * the other end, send back, recv. */
static int bench(int n) {
  struct sockaddr_storage ss;
  int len;
  SOCKET l = bound(AF_INET, SOCK_STREAM, &ss, &len);
  listen(l, 1);
  SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  connect(c, (struct sockaddr *)&ss, len);
  SOCKET a = accept(l, NULL, NULL);
  setsockopt(a, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  char buf[64] = {0};
  LARGE_INTEGER f, t0, t1;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  for (int i = 0; i < n; i++) {
    if (send(c, buf, 64, 0) != 64 || recv(a, buf, 64, MSG_WAITALL) != 64 ||
        send(a, buf, 64, 0) != 64 || recv(c, buf, 64, MSG_WAITALL) != 64)
      return fail("round trip");
  }
  QueryPerformanceCounter(&t1);
  double ns = (double)(t1.QuadPart - t0.QuadPart) * 1e9 / (double)f.QuadPart;
  printf("bench: %d round trips, %.0f ns each, %.0f ns per call\n", n, ns / n, ns / n / 4);
  closesocket(a);
  closesocket(c);
  closesocket(l);
  return 0;
}

static int calls(int n) {
  struct timeval zero = {0, 0};
  LARGE_INTEGER f, t0, t1;
  int r = 0;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  for (int i = 0; i < n; i++) r += select(0, NULL, NULL, NULL, &zero);
  QueryPerformanceCounter(&t1);
  double ns = (double)(t1.QuadPart - t0.QuadPart) * 1e9 / (double)f.QuadPart;
  printf("calls: %d selects (sum %d, last error %d), %.0f ns each\n", n, r, WSAGetLastError(), ns / n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return fail("WSAStartup");
  int rc = 2;
  if (!strcmp(argv[1], "tcp4")) rc = tcp(AF_INET);
  else if (!strcmp(argv[1], "tcp6")) rc = tcp(AF_INET6);
  else if (!strcmp(argv[1], "udp")) rc = udp();
  else if (!strcmp(argv[1], "refused")) rc = refused();
  else if (!strcmp(argv[1], "resolve")) rc = resolve();
  else if (!strcmp(argv[1], "exit") && argc > 2) rc = atoi(argv[2]);
  else if (!strcmp(argv[1], "bench") && argc > 2) rc = bench(atoi(argv[2]));
  else if (!strcmp(argv[1], "calls") && argc > 2) rc = calls(atoi(argv[2]));
  WSACleanup();
  fflush(stdout);
  return rc;
}
