#!/usr/bin/env python3
"""The system-call backend's benchmark (issue 13): a Go HTTP client loop
(`gonet loop PORT N`: N sequential GETs without keep-alive against an
untraced Go server on 127.0.0.1), bare and under

  syscall          sock-trace run --backend syscall -o /dev/null (text,
                   default settings: callers on, Go stacks walked)
  strace seccomp   strace -f --seccomp-bpf -e trace=network -o /dev/null
  strace same      strace -f --seccomp-bpf with the calls sock-trace stops
                   at (network + read/write/close/epoll/... ), since
                   trace=network leaves out the read, write, close and
                   epoll calls Go makes on its sockets
  strace           strace -f -e trace=network -o /dev/null
  syscall depth 0  the same with --caller-depth 0 (no stack walk, no
                   symbolising)
  attach           sock-trace attach -o /dev/null, attached to the client
                   (a shell waiting on stdin that then execs it) before it
                   starts: every system call stops twice (no seccomp)

Runs alternate (bare, each tracer, bare, ...); each traced time is divided
by the bare time of its round; the table shows the median time and the
median, min and max ratio. Every child has a timeout.

Usage: bench/syscall.py [--runs N] [--requests N] [--exe PATH]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600


def build_gonet(tmp):
    out = os.path.join(tmp, "gonet")
    env = dict(os.environ, CGO_ENABLED="0", GOCACHE=os.path.join(tmp, "gocache"),
               GOPATH=os.path.join(tmp, "gopath"), GOPROXY="off", GOTOOLCHAIN="local")
    src = os.path.join(ROOT, "crates/cli/tests/programs/go/gonet.go")
    subprocess.run(["go", "build", "-o", out, src], env=env, check=True, timeout=TIMEOUT)
    return out


def timed(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   timeout=TIMEOUT)
    return time.monotonic() - t0


def timed_attach(exe, cmd):
    """The workload's time with sock-trace attached before it starts."""
    sh = subprocess.Popen(["sh", "-c", 'read x; exec "$@"', "sh"] + cmd,
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    tracer = subprocess.Popen([exe, "attach", "-q", "-o", "/dev/null", str(sh.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        with open(f"/proc/{sh.pid}/status") as f:
            if "TracerPid:\t0\n" not in f.read():
                break
        if time.monotonic() > deadline:
            raise RuntimeError("attach did not happen")
        time.sleep(0.01)
    time.sleep(0.1)
    t0 = time.monotonic()
    sh.stdin.write(b"go\n")
    sh.stdin.close()
    sh.wait(timeout=TIMEOUT)
    took = time.monotonic() - t0
    tracer.wait(timeout=TIMEOUT)
    if sh.returncode != 0:
        raise RuntimeError(f"workload failed under attach: {sh.returncode}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--exe", default=os.path.join(ROOT, "target/release/sock-trace"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gonet = build_gonet(tmp)
        server = subprocess.Popen([gonet, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        port = server.stdout.readline().decode().split()[1]
        work = [gonet, "loop", port, str(a.requests)]
        variants = {
            "syscall": lambda: timed([a.exe, "run", "-q", "--backend", "syscall", "-o", "/dev/null", "--"] + work),
            "syscall depth 0": lambda: timed([a.exe, "run", "-q", "--backend", "syscall", "--caller-depth", "0",
                                              "-o", "/dev/null", "--"] + work),
            "attach": lambda: timed_attach(a.exe, work),
        }
        if shutil.which("strace"):
            variants["strace seccomp"] = lambda: timed(
                ["strace", "-f", "--seccomp-bpf", "-e", "trace=network", "-o", "/dev/null"] + work)
            same = ("%network,read,write,readv,writev,close,close_range,dup,dup2,dup3,fcntl,ioctl,"
                    "poll,ppoll,select,pselect6,epoll_create,epoll_create1,epoll_ctl,epoll_wait,"
                    "epoll_pwait,sendfile")
            variants["strace same"] = lambda: timed(
                ["strace", "-f", "--seccomp-bpf", "-e", "trace=" + same, "-o", "/dev/null"] + work)
            variants["strace"] = lambda: timed(["strace", "-f", "-e", "trace=network", "-o", "/dev/null"] + work)
        bare, times = [], {k: [] for k in variants}
        for _ in range(a.runs):
            bare.append(timed(work))
            for k, f in variants.items():
                times[k].append(f())
        server.stdin.close()
        server.wait(timeout=60)
    print(f"Go HTTP client, {a.requests} GETs, {a.runs} runs; load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':16} {'median s':>9} {'ratio':>6} {'min':>6} {'max':>6}")
    print(f"{'bare':16} {statistics.median(bare):9.3f}")
    for k, ts in times.items():
        ratios = [t / b for t, b in zip(ts, bare)]
        print(f"{k:16} {statistics.median(ts):9.3f} {statistics.median(ratios):6.2f} "
              f"{min(ratios):6.2f} {max(ratios):6.2f}")


if __name__ == "__main__":
    sys.exit(main())
