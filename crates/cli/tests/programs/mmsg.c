/* sendmmsg/recvmmsg of three datagrams, then writev of two buffers: the
 * hex dump must show each message and each buffer on its own. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/uio.h>
int main(void){int sv[2]; socketpair(AF_UNIX,SOCK_DGRAM,0,sv);
struct iovec iov[3]={{"first",5},{"second!",7},{"3",1}}; struct mmsghdr m[3]; memset(m,0,sizeof m);
for(int i=0;i<3;i++){m[i].msg_hdr.msg_iov=&iov[i]; m[i].msg_hdr.msg_iovlen=1;}
int n=sendmmsg(sv[0],m,3,0); char b[3][16]; struct iovec r[3]; struct mmsghdr rm[3]; memset(rm,0,sizeof rm);
for(int i=0;i<3;i++){r[i].iov_base=b[i]; r[i].iov_len=16; rm[i].msg_hdr.msg_iov=&r[i]; rm[i].msg_hdr.msg_iovlen=1;}
int k=recvmmsg(sv[1],rm,3,0,NULL);
struct iovec w[2]={{"ab",2},{"cde",3}}; int v=(int)writev(sv[0],w,2);
printf("%d %d %d\n",n,k,v); return 0;}
