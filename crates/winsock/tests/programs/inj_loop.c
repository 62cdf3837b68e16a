/* For crates/winsock/tests/inject.rs (`sock-trace.exe attach`), linked
 * normally with -lws2_32. Prints its process id, then sends a UDP datagram
 * to 127.0.0.1:9 every 50 ms, 100 times (5 s), and says when its import
 * slot of sendto stopped holding the real function ("hooked at N") and
 * when it held it again ("restored at N"). Exit code 0. */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <string.h>

extern void *__imp_sendto; /* the import address table slot */

int main(void) {
  WSADATA d;
  if (WSAStartup(MAKEWORD(2, 2), &d) != 0) return 1;
  void *real = (void *)GetProcAddress(GetModuleHandleA("ws2_32.dll"), "sendto");
  printf("pid %lu\n", GetCurrentProcessId());
  fflush(stdout);
  SOCKET s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(9);
  int hooked = 0, sent = 0;
  for (int i = 0; i < 100; i++) {
    int now = __imp_sendto != real;
    if (now != hooked) {
      printf("%s at %d\n", now ? "hooked" : "restored", i);
      fflush(stdout);
      hooked = now;
    }
    if (sendto(s, "tick", 4, 0, (struct sockaddr *)&a, sizeof a) == 4) sent++;
    Sleep(50);
  }
  closesocket(s);
  WSACleanup();
  printf("sent %d\n", sent);
  return 0;
}
