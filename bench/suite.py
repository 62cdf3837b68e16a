#!/usr/bin/env python3
"""Benchmark suite: what tracing costs real workloads, sock-trace against
strace and ltrace, in one invocation.

Workloads (all over 127.0.0.1; every child process runs with a timeout):

  pingpong   TCP ping-pong between two threads, 20,000 round trips of 32
             bytes with TCP_NODELAY (bench/pingpong.c)
  bulk       1 GiB over TCP in 64 KiB send()s, received in 64 KiB recv()s
             (bench/bulk.c)
  udp        UDP request/response, 20,000 round trips (bench/udp.c)
  shortconn  20,000 short TCP connections: connect, accept, one byte,
             close (bench/shortconn.c)
  nginx      nginx (1 worker, foreground) serving a 4 KiB static file to
             wrk for a few seconds; the metric is requests/second, and only
             nginx runs under the tracer (wrk is not traced)
  fork       /bin/sh running a tiny C client 500 times, each connecting to
             an untraced local listener (bench/forkclient.c)

Tracers:

  sock-trace         sock-trace run -o FILE --caller-depth 0 (every call,
                     as text, to a file)
  sock-trace+callers sock-trace run -o FILE --caller-depth 1 (default
                     settings: caller attribution and address annotation)
  sock-trace -x '*'  sock-trace run -o FILE -x '*' (library loaded,
                     everything excluded)
  strace             strace -f -e trace=network -o /dev/null
  strace seccomp     strace -f --seccomp-bpf -e trace=network -o /dev/null
  ltrace             ltrace -f -o /dev/null -e socket+connect+send+recv+...

Runs alternate (bare, tracer 1, tracer 2, ..., bare, ...) so that drift on
a shared machine hits every variant alike. Each traced run is divided by
the bare run of the same round; the table shows the median of those ratios
with min and max. For time-based workloads the ratio is traced time / bare
time (1.10 = 10 % slower); for nginx it is traced rps / bare rps (0.90 =
10 % fewer requests per second).

Memory (max RSS, KiB):
  prog  peak RSS of the workload process tree: the workload runs as
        `/usr/bin/time -f '%M %x' CMD` inside the tracer, so it is the
        largest single process among CMD and the children it waited for
        (for nginx, the master or its worker). Shared-memory ring pages
        the process touched count here.
  tree  the same for the whole command: it runs as `/usr/bin/time -f %M
        TRACER ...`, so this is the largest single process in the tree,
        the launcher (sock-trace / strace / ltrace) included. When
        tree > prog it is the launcher's peak. (Measured by an outer
        /usr/bin/time rather than wait4() in Python: a child's ru_maxrss
        keeps the RSS of the process it was forked from, here Python.)
  lnch  the launcher's own VmHWM, sampled from /proc every 20 ms (a lower
        bound: growth in the last 20 ms before exit is missed).

Usage: bench/suite.py [--quick] [--runs N] [--only W[,W...]]
                      [--tracers T[,T...]] [--exe PATH] [--json FILE]

Builds sock-trace in release mode first (honours CARGO_TARGET_DIR) unless
--exe is given.
"""
import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
TIME = "/usr/bin/time"

LTRACE_FUNCS = "+".join([
    "socket", "connect", "bind", "listen", "accept", "accept4", "shutdown",
    "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendfile",
    "setsockopt", "getsockopt", "getsockname", "getpeername",
    "writev", "readv", "poll", "epoll_wait", "epoll_ctl", "close",
])


# ---------------------------------------------------------------- helpers

def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw).stdout.strip()


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "load": open("/proc/loadavg").read().split()[:3],
    }
    for tool, args in (("strace", ["-V"]), ("ltrace", ["-V"]), ("nginx", ["-v"]), ("wrk", ["-v"])):
        if shutil.which(tool):
            out = sh([tool] + args)
            info[tool] = out.splitlines()[0] if out else "?"
    return info


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Failed(Exception):
    pass


class Proc:
    """A command run as `/usr/bin/time -f '%M %x' -o TREE ARGV` in its own
    session. The main thread blocks in wait4 (so the elapsed time is exact);
    a watchdog thread samples the launcher's VmHWM every 20 ms and kills the
    session on timeout."""

    def __init__(self, argv, env, log, timeout, tree):
        self.tree = tree
        self.log = open(log, "wb")
        self.hwm = 0
        self.status = None
        self.timed_out = False
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen([TIME, "-f", "%M %x", "-o", tree] + argv, env=env,
                                  stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=os.path.dirname(log))
        self.deadline = time.monotonic() + timeout
        self.done = threading.Event()
        self.watch = threading.Thread(target=self._watch, daemon=True)
        self.watch.start()

    def _watch(self):
        launcher = None
        while not self.done.wait(0.02):
            if launcher is None:
                try:
                    kids = open(f"/proc/{self.p.pid}/task/{self.p.pid}/children").read().split()
                    launcher = int(kids[0]) if kids else None
                except (OSError, ValueError):
                    pass
            if launcher is not None:
                self.hwm = max(self.hwm, hwm_kib(launcher))
            if time.monotonic() > self.deadline:
                self.timed_out = True
                self.kill()
                return

    def wait(self):
        """Wait for the end; return (elapsed s, exit status)."""
        if self.status is None:
            _, status = os.waitpid(self.p.pid, 0)
            self.elapsed = time.perf_counter() - self.t0
            self.status = os.waitstatus_to_exitcode(status)
            self.p.returncode = self.status
            self.done.set()
            self.watch.join()
            self.log.close()
        if self.timed_out:
            raise Failed("timed out")
        return self.elapsed, self.status

    def running(self):
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.p.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.elapsed = time.perf_counter() - self.t0
        self.status = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.status
        self.done.set()
        self.log.close()
        return False

    def kill(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                return
            time.sleep(0.5)

    def tree_rss(self):
        return read_time(self.tree)[0]


def tail(path, n=3):
    try:
        lines = open(path, errors="replace").read().strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])[:200]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.running():
            raise Failed(f"exited with {proc.status} before listening: {tail(proc.log.name)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failed(f"not listening after {timeout} s")


# ---------------------------------------------------------------- tracers

def tracers(exe, tmp):
    out = os.path.join(tmp, "trace.txt")
    t = {
        "sock-trace": lambda cmd: [exe, "run", "-o", out, "--caller-depth", "0", "--"] + cmd,
        "sock-trace+callers": lambda cmd: [exe, "run", "-o", out, "--caller-depth", "1", "--"] + cmd,
        "sock-trace -x '*'": lambda cmd: [exe, "run", "-o", out, "-x", "*", "--"] + cmd,
    }
    if shutil.which("strace"):
        t["strace"] = lambda cmd: ["strace", "-f", "-e", "trace=network", "-o", "/dev/null"] + cmd
        t["strace seccomp"] = lambda cmd: ["strace", "-f", "--seccomp-bpf", "-e", "trace=network", "-o", "/dev/null"] + cmd
    if shutil.which("ltrace"):
        t["ltrace"] = lambda cmd: ["ltrace", "-f", "-o", "/dev/null", "-e", LTRACE_FUNCS] + cmd
    return t, out


# ---------------------------------------------------------------- workloads

class Workload:
    metric = "s"          # what one run yields: seconds (lower is better) or rps
    timeout = 300

    def setup(self, tmp, bins):
        pass

    def teardown(self):
        pass


class Simple(Workload):
    def __init__(self, name, prog, arg, desc):
        self.name, self.prog, self.arg, self.desc = name, prog, arg, desc

    def cmd(self, bins):
        return [bins[self.prog], str(self.arg)]

    def run(self, wrap, bins, env, tmp):
        mem = os.path.join(tmp, "mem.txt")
        tree = os.path.join(tmp, "tree.txt")
        log = os.path.join(tmp, "out.log")
        for f in (mem, tree):
            if os.path.exists(f):
                os.unlink(f)
        argv = wrap([TIME, "-f", "%M %x", "-o", mem] + self.cmd(bins))
        p = Proc(argv, env, log, self.timeout, tree)
        dt, rc = p.wait()
        prog_rss, prog_rc = read_time(mem)
        if rc != 0 or prog_rc != 0:
            raise Failed(f"exit {rc}, program exit {prog_rc}: {tail(log)}")
        return dt, {"prog": prog_rss, "tree": p.tree_rss(), "lnch": p.hwm}


def read_time(path):
    """Parse `/usr/bin/time -f '%M %x' -o path` output: (max RSS KiB, exit)."""
    try:
        lines = open(path).read().strip().splitlines()
    except OSError:
        return 0, None
    for line in reversed(lines):
        parts = line.split()
        if len(parts) == 2 and all(re.fullmatch(r"-?\d+", x) for x in parts):
            return int(parts[0]), int(parts[1])
    return 0, None


class Fork(Simple):
    def __init__(self, count):
        super().__init__("fork", "forkclient", count, f"/bin/sh runs a connecting client {count} times")
        self.listener = None

    def setup(self, tmp, bins):
        self.listener = subprocess.Popen([bins["forkclient"], "listen"], stdout=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        self.port = int(self.listener.stdout.readline())

    def teardown(self):
        if self.listener:
            os.killpg(self.listener.pid, signal.SIGKILL)
            self.listener.wait()

    def cmd(self, bins):
        script = (f'i=0; while [ $i -lt {self.arg} ]; do "{bins["forkclient"]}" {self.port} || exit 1; '
                  f'i=$((i+1)); done')
        return ["/bin/sh", "-c", script]


NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/html;
    }}
}}
"""


class Nginx(Workload):
    name = "nginx"
    metric = "rps"

    def __init__(self, seconds, conns=8):
        self.seconds = seconds
        self.conns = conns
        self.desc = f"nginx, 1 worker, 4 KiB static file, wrk -t1 -c{conns} -d{seconds}s"

    def setup(self, tmp, bins):
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "html"), exist_ok=True)
        with open(os.path.join(self.dir, "html", "file.bin"), "wb") as f:
            f.write(os.urandom(4096))

    def run(self, wrap, bins, env, tmp):
        d = self.dir
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=port))
        pidfile = os.path.join(d, "nginx.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        mem = os.path.join(tmp, "mem.txt")
        tree = os.path.join(tmp, "tree.txt")
        log = os.path.join(tmp, "nginx.log")
        argv = wrap([TIME, "-f", "%M %x", "-o", mem, "nginx", "-p", d, "-c", conf])
        p = Proc(argv, env, log, self.seconds + 180, tree)
        try:
            wait_port(port, p, 60)
            url = f"http://127.0.0.1:{port}/file.bin"
            # Warm-up (connection setup, the tracer's first records), then measure.
            subprocess.run(["wrk", "-t1", f"-c{self.conns}", "-d1s", url], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            out = subprocess.run(["wrk", "-t1", f"-c{self.conns}", f"-d{self.seconds}s", url],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=self.seconds + 60).stdout
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            if not m:
                raise Failed("wrk printed no rate: " + out[-200:])
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            if bad:
                raise Failed(f"{bad.group(1)} non-2xx responses")
            rps = float(m.group(1))
        except (Failed, subprocess.TimeoutExpired) as e:
            p.kill()
            try:
                p.wait()
            except Failed:
                pass
            raise Failed(str(e))
        # Graceful stop: SIGQUIT to the master (not to the tracer, which
        # strace and ltrace would take as "detach").
        try:
            os.kill(int(open(pidfile).read()), signal.SIGQUIT)
        except (OSError, ValueError):
            p.kill()
        stop = time.monotonic() + 60
        while p.running() and time.monotonic() < stop:
            time.sleep(0.05)
        if p.running():
            p.kill()
        p.wait()
        prog_rss, _ = read_time(mem)
        return rps, {"prog": prog_rss, "tree": p.tree_rss(), "lnch": p.hwm}


def workloads(quick):
    if quick:
        return [
            Simple("pingpong", "pingpong", 2000, "TCP ping-pong, 2,000 round trips"),
            Simple("bulk", "bulk", 128, "128 MiB over TCP in 64 KiB sends"),
            Simple("udp", "udp", 2000, "UDP request/response, 2,000 round trips"),
            Simple("shortconn", "shortconn", 2000, "2,000 short TCP connections"),
            Nginx(1),
            Fork(50),
        ]
    return [
        Simple("pingpong", "pingpong", 20000, "TCP ping-pong, 20,000 round trips"),
        Simple("bulk", "bulk", 1024, "1 GiB over TCP in 64 KiB sends"),
        Simple("udp", "udp", 20000, "UDP request/response, 20,000 round trips"),
        Simple("shortconn", "shortconn", 20000, "20,000 short TCP connections"),
        Nginx(5),
        Fork(500),
    ]


# ---------------------------------------------------------------- main

def build(args, tmp):
    if args.exe:
        exe = os.path.abspath(args.exe)
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "sock-trace"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
        exe = os.path.join(target, "release", "sock-trace")
    bins = {}
    for prog in ("pingpong", "bulk", "udp", "shortconn", "forkclient"):
        bins[prog] = os.path.join(tmp, prog)
        subprocess.run(["gcc", "-O2", "-pthread", "-o", bins[prog], os.path.join(BENCH, prog + ".c")], check=True)
    return exe, bins


def fmt_val(metric, v):
    return f"{v:.3f}" if metric == "s" else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one run, small sizes: a smoke check")
    ap.add_argument("--runs", type=int, help="alternating rounds (default 5, --quick 1)")
    ap.add_argument("--only", help="comma-separated workloads")
    ap.add_argument("--tracers", help="comma-separated tracers (default: all available)")
    ap.add_argument("--exe", help="sock-trace binary to use (default: build it)")
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 5)

    for tool in (TIME, "gcc"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install time gcc)")
    tmp = tempfile.mkdtemp(prefix="sock-trace-suite-")
    os.chmod(tmp, 0o755)  # nginx's worker runs as nobody and must read html/
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    exe, bins = build(args, tmp)
    all_tracers, trace_out = tracers(exe, tmp)
    if args.tracers:
        want = [t.strip() for t in args.tracers.split(",")]
        unknown = [t for t in want if t not in all_tracers]
        if unknown:
            sys.exit(f"unknown or unavailable tracers: {unknown}; have {list(all_tracers)}")
        all_tracers = {k: all_tracers[k] for k in want}
    wls = workloads(args.quick)
    if args.only:
        want = args.only.split(",")
        wls = [w for w in wls if w.name in want]
        if not wls:
            sys.exit("no such workload; have pingpong,bulk,udp,shortconn,nginx,fork")
    if any(w.name == "nginx" for w in wls) and not (shutil.which("nginx") and shutil.which("wrk")):
        print("nginx or wrk missing (apt-get install nginx-light wrk): skipping nginx")
        wls = [w for w in wls if w.name != "nginx"]

    env = dict(os.environ)
    env.pop("SOCK_TRACE_CONFIG", None)
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "no-config")  # default settings only
    info = machine()
    print(f"machine: {info['nproc']} cpus, {info['cpu']}, Linux {info['kernel']}, "
          f"load {' '.join(info['load'])}")
    print("tools: " + "; ".join(f"{k} {info[k]}" for k in ("strace", "ltrace", "nginx", "wrk") if k in info))
    print(f"sock-trace: {exe} ({sh([exe, '--version'])})")
    print(f"{runs} alternating round(s); ratio = traced/bare time, or traced/bare rps for nginx\n")
    sys.stdout.flush()

    variants = {"bare": lambda cmd: cmd}
    variants.update(all_tracers)
    results = {}
    started = time.monotonic()
    for w in wls:
        w.setup(tmp, bins)
        vals = {v: [] for v in variants}
        mems = {v: [] for v in variants}
        failed = {}
        lines = {}
        try:
            for r in range(runs):
                for v, wrap in variants.items():
                    if v in failed:
                        vals[v].append(None)
                        continue
                    try:
                        val, mem = w.run(wrap, bins, env, tmp)
                    except Failed as e:
                        if v == "bare":
                            raise SystemExit(f"{w.name}: bare run failed: {e}")
                        failed[v] = str(e)
                        vals[v].append(None)
                        continue
                    vals[v].append(val)
                    mems[v].append(mem)
                    if v.startswith("sock-trace") and os.path.exists(trace_out):
                        with open(trace_out, "rb") as f:
                            lines[v] = sum(1 for _ in f)
                        os.unlink(trace_out)
        finally:
            w.teardown()
        results[w.name] = {"desc": w.desc, "metric": w.metric, "values": vals, "memory": mems,
                           "failed": failed, "trace_lines": lines}
        print_workload(w, variants, results[w.name])
        sys.stdout.flush()

    print(f"total {time.monotonic() - started:.0f} s; load now {' '.join(open('/proc/loadavg').read().split()[:3])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "runs": runs, "results": results}, f, indent=1)


def print_workload(w, variants, res):
    vals = res["values"]
    print(f"== {w.name}: {res['desc']}")
    unit = "median s" if w.metric == "s" else "median rps"
    print(f"{'variant':20} {unit:>10} {'ratio':>7} {'min':>7} {'max':>7} "
          f"{'prog KiB':>9} {'tree KiB':>9} {'lnch KiB':>9}  lines")
    for v in variants:
        if v in res["failed"] and not [x for x in vals[v] if x is not None]:
            print(f"{v:20} {'n/a':>10}  ({res['failed'][v]})")
            continue
        pairs = [(x, b) for x, b in zip(vals[v], vals["bare"]) if x is not None and b]
        ratios = [x / b for x, b in pairs]
        med = statistics.median([x for x, _ in pairs])
        mem = res["memory"][v]
        pm = max((m["prog"] for m in mem), default=0)
        tm = max((m["tree"] for m in mem), default=0)
        lm = max((m["lnch"] for m in mem), default=0)
        ln = res["trace_lines"].get(v, "")
        note = f"  (later runs failed: {res['failed'][v]})" if v in res["failed"] else ""
        print(f"{v:20} {fmt_val(w.metric, med):>10} {statistics.median(ratios):7.3f} {min(ratios):7.3f} "
              f"{max(ratios):7.3f} {pm:9d} {tm:9d} {lm if v != 'bare' else '':>9}  {ln}{note}")
    print()


if __name__ == "__main__":
    sys.exit(main())
