/* For crates/winsock/tests/inject.rs: a program that uses no Winsock at
 * all. sock-trace.exe run runs it untraced, says so in one line, and
 * keeps its exit code (5). */
#include <stdio.h>

int main(void) {
  printf("no sockets here\n");
  return 5;
}
