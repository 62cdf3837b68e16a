/* The WSA calls for the sock_trace.dll tests (crates/winsock/tests/wine.rs),
 * built like wsprobe.c (-lws2_32 and -lsock_trace; both must print the
 * same). Usage: wsaprobe event|routine|poll|connectex|acceptex|calls.
 * Each case makes a loopback TCP pair of overlapped sockets (WSASocketW,
 * bind, listen, WSAConnect, WSAAccept), then:
 *   event      an overlapped WSARecv with an event (pending), a blocking
 *              WSASend of two buffers, WSAGetOverlappedResult;
 *   routine    the same with a completion routine, run by SleepEx;
 *   poll       WSAPoll before and after the peer sends;
 *   connectex  ConnectEx (through WSAIoctl) with data, completed by
 *              WSAGetOverlappedResult, then accept and WSARecv;
 *   acceptex   AcceptEx (through WSAIoctl), completed by a connect. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what) {
  printf("%s failed: %d\n", what, WSAGetLastError());
  return 1;
}

/* Closes the sockets in order; a case's end. */
static int finish(SOCKET a, SOCKET b, SOCKET c) {
  SOCKET all[3] = {a, b, c};
  for (int i = 0; i < 3; i++) closesocket(all[i]);
  return 0;
}

static SOCKET new_socket(void) {
  return WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
}

/* A listening socket on 127.0.0.1 and its address. */
static SOCKET listener(struct sockaddr_in *a) {
  SOCKET l = new_socket();
  int len = sizeof *a;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)a, sizeof *a) || getsockname(l, (struct sockaddr *)a, &len) ||
      listen(l, 4))
    return INVALID_SOCKET;
  return l;
}

/* A connected pair: *c the client, *s the accepted end. */
static int pair(SOCKET *l, SOCKET *c, SOCKET *s) {
  struct sockaddr_in a, peer;
  int plen = sizeof peer;
  *l = listener(&a);
  if (*l == INVALID_SOCKET) return fail("listener");
  *c = new_socket();
  if (WSAConnect(*c, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL)) return fail("WSAConnect");
  *s = WSAAccept(*l, (struct sockaddr *)&peer, &plen, NULL, 0);
  if (*s == INVALID_SOCKET) return fail("WSAAccept");
  return 0;
}

static int send_two(SOCKET c) {
  char a[] = "hello ", b[] = "wsabuf";
  WSABUF bufs[2] = {{6, a}, {6, b}};
  DWORD sent = 0;
  if (WSASend(c, bufs, 2, &sent, 0, NULL, NULL)) return -1;
  return (int)sent;
}

static int event(void) {
  SOCKET l, c, s;
  if (pair(&l, &c, &s)) return 1;
  char buf[64];
  WSABUF wb = {sizeof buf, buf};
  WSAOVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = WSACreateEvent();
  DWORD got = 0, flags = 0;
  int r = WSARecv(s, &wb, 1, &got, &flags, &ov, NULL);
  int pending = r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING;
  int sent = send_two(c);
  WaitForSingleObject(ov.hEvent, 5000);
  DWORD moved = 0, oflags = 0;
  BOOL ok = WSAGetOverlappedResult(s, &ov, &moved, TRUE, &oflags);
  printf("event: pending %d, sent %d, completed %d with %lu \"%.*s\"\n", pending, sent, ok, moved,
         (int)moved, buf);
  WSACloseEvent(ov.hEvent);
  return finish(s, c, l);
}

static char routine_buf[64];
static DWORD routine_bytes = 99, routine_error = 99;
static int routine_calls;

static void CALLBACK done(DWORD error, DWORD bytes, LPWSAOVERLAPPED ov, DWORD flags) {
  (void)ov;
  (void)flags;
  routine_error = error;
  routine_bytes = bytes;
  routine_calls++;
}

static int routine(void) {
  SOCKET l, c, s;
  if (pair(&l, &c, &s)) return 1;
  WSABUF wb = {sizeof routine_buf, routine_buf};
  WSAOVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  DWORD flags = 0;
  int r = WSARecv(s, &wb, 1, NULL, &flags, &ov, done);
  int pending = r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING;
  int sent = send_two(c);
  DWORD slept = SleepEx(5000, TRUE);
  printf("routine: pending %d, sent %d, alerted %d, routine ran %d time(s): error %lu, %lu \"%.*s\"\n",
         pending, sent, slept == WAIT_IO_COMPLETION, routine_calls, routine_error, routine_bytes,
         (int)routine_bytes, routine_buf);
  return finish(s, c, l);
}

static int poll_case(void) {
  SOCKET l, c, s;
  if (pair(&l, &c, &s)) return 1;
  WSAPOLLFD p = {s, POLLRDNORM, 0};
  int before = WSAPoll(&p, 1, 0);
  int sent = send_two(c);
  int after = WSAPoll(&p, 1, 5000);
  printf("poll: before %d, sent %d, after %d, readable %d\n", before, sent, after,
         (p.revents & POLLRDNORM) != 0);
  return finish(s, c, l);
}

/* An extension function of `s` by its GUID. */
static void *extension(SOCKET s, GUID id) {
  void *f = NULL;
  DWORD n = 0;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &f, sizeof f, &n, NULL, NULL))
    return NULL;
  return f;
}

static int connectex(void) {
  struct sockaddr_in a, any;
  SOCKET l = listener(&a);
  SOCKET c = new_socket();
  memset(&any, 0, sizeof any);
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(c, (struct sockaddr *)&any, sizeof any)) return fail("bind");
  LPFN_CONNECTEX connect_ex = (LPFN_CONNECTEX)extension(c, (GUID)WSAID_CONNECTEX);
  if (!connect_ex) return fail("WSAIoctl");
  WSAOVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = WSACreateEvent();
  char hi[] = "connected";
  DWORD sent = 0;
  BOOL ok = connect_ex(c, (struct sockaddr *)&a, sizeof a, hi, 9, &sent, &ov);
  int pending = !ok && WSAGetLastError() == WSA_IO_PENDING;
  WaitForSingleObject(ov.hEvent, 5000);
  DWORD moved = 0, flags = 0;
  BOOL done_ok = WSAGetOverlappedResult(c, &ov, &moved, TRUE, &flags);
  SOCKET s = accept(l, NULL, NULL);
  char buf[32];
  WSABUF wb = {sizeof buf, buf};
  DWORD got = 0, rflags = 0;
  WSARecv(s, &wb, 1, &got, &rflags, NULL, NULL);
  printf("connectex: immediate %d or pending %d, completed %d with %lu, received %lu \"%.*s\"\n", ok,
         pending, done_ok, moved, got, (int)got, buf);
  WSACloseEvent(ov.hEvent);
  return finish(s, c, l);
}

static int acceptex(void) {
  struct sockaddr_in a;
  SOCKET l = listener(&a);
  SOCKET s = new_socket();
  LPFN_ACCEPTEX accept_ex = (LPFN_ACCEPTEX)extension(l, (GUID)WSAID_ACCEPTEX);
  if (!accept_ex) return fail("WSAIoctl");
  char out[2 * (sizeof(struct sockaddr_in) + 16)];
  WSAOVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = WSACreateEvent();
  DWORD got = 0;
  BOOL ok = accept_ex(l, s, out, 0, sizeof(struct sockaddr_in) + 16, sizeof(struct sockaddr_in) + 16,
                      &got, &ov);
  int pending = !ok && WSAGetLastError() == WSA_IO_PENDING;
  SOCKET c = new_socket();
  if (WSAConnect(c, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL)) return fail("WSAConnect");
  WaitForSingleObject(ov.hEvent, 5000);
  DWORD moved = 0, flags = 0;
  BOOL done_ok = WSAGetOverlappedResult(l, &ov, &moved, TRUE, &flags);
  printf("acceptex: immediate %d or pending %d, completed %d with %lu\n", ok, pending, done_ok, moved);
  WSACloseEvent(ov.hEvent);
  return finish(c, s, l);
}

/* 1000 WSAPoll calls with no sockets, which ws2_32 fails at once: the
 * per-call cost of a WSA hook (docs/PERFORMANCE.md, not the tests). */
static int calls(void) {
  LARGE_INTEGER f, t0, t1;
  int r = 0;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&t0);
  for (int i = 0; i < 1000; i++) r += WSAPoll(NULL, 0, 0);
  QueryPerformanceCounter(&t1);
  double ns = (double)(t1.QuadPart - t0.QuadPart) * 1e9 / (double)f.QuadPart;
  printf("calls: 1000 WSAPolls (sum %d, last error %d), %.0f ns each\n", r, WSAGetLastError(), ns / 1000);
  return 0;
}

static const struct {
  const char *name;
  int (*run)(void);
} cases[] = {{"event", event}, {"routine", routine}, {"poll", poll_case},
             {"connectex", connectex}, {"acceptex", acceptex}, {"calls", calls}};

int main(int argc, char **argv) {
  WSADATA wsa;
  if (argc < 2 || WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 2;
  int rc = 2;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (!strcmp(argv[1], cases[i].name)) rc = cases[i].run();
  WSACleanup();
  fflush(stdout);
  return rc;
}
