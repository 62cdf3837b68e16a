# Both ends of a TCP connection and of a UDP exchange in one traced
# session (a forked client talking to its parent), with MSG_PEEK on both
# ends and TCP receives larger than the per-call capture limit (60 KiB).
# Each process prints what it moved, as one JSON line.
import json
import os
import socket
import sys

BODY = 200_000


def report(**kw):
    kw["pid"] = os.getpid()
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def tcp():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        srv.close()
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("127.0.0.1", port))
        req = b"GET / HTTP/1.0\r\n\r\n"
        c.sendall(req)
        peeked = c.recv(16, socket.MSG_PEEK)
        got, largest = 0, 0
        while True:
            b = c.recv(150_000, socket.MSG_WAITALL)
            if not b:
                break
            got += len(b)
            largest = max(largest, len(b))
        report(proto="tcp", side="client", local=c.getsockname()[1], port=port,
               sent=len(req), received=got, peeked=len(peeked), largest_recv=largest)
        c.close()
        os._exit(0)
    conn, _ = srv.accept()
    peeked = conn.recv(8, socket.MSG_PEEK)
    req = b""
    while not req.endswith(b"\r\n\r\n"):
        req += conn.recv(4096)
    head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY
    body = bytes((i * 7) % 251 for i in range(BODY))
    conn.sendall(head + body)
    conn.close()
    srv.close()
    os.waitpid(pid, 0)
    report(proto="tcp", side="server", port=port, sent=len(head) + BODY,
           received=len(req), peeked=len(peeked))


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        s.close()
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = received = 0
        for i in range(3):
            sent += c.sendto(b"ping %d" % i, ("127.0.0.1", port))
            c.recvfrom(100, socket.MSG_PEEK)
            received += len(c.recvfrom(100)[0])
        report(proto="udp", side="client", sent=sent, received=received)
        os._exit(0)
    sent = received = 0
    for i in range(3):
        s.recvfrom(100, socket.MSG_PEEK)
        data, addr = s.recvfrom(100)
        received += len(data)
        sent += s.sendto(b"pong " + data, addr)
    os.waitpid(pid, 0)
    report(proto="udp", side="server", port=port, sent=sent, received=received)


tcp()
udp()
