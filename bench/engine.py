#!/usr/bin/env python3
"""Engine benchmark: loopback TCP ping-pong (20,000 round trips between two
threads, TCP_NODELAY) bare, under sock-trace tracing every call to a file,
under sock-trace with those calls excluded, and under strace; plus the
start-up cost of `sock-trace run -- /bin/true`.

Runs alternate (bare, traced, excluded, strace, bare, ...) so that the
machine's drift hits every variant alike, and the table reports the median
ratio to bare with min and max. Usage:

    bench/engine.py [--runs N] [--rounds N]

Builds sock-trace in release mode first (cargo build --release).
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


def build(tmp):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "sock-trace"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "sock-trace")
    prog = os.path.join(tmp, "pingpong")
    subprocess.run(["gcc", "-O2", "-pthread", "-o", prog, os.path.join(ROOT, "bench", "pingpong.c")], check=True)
    return exe, prog


def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=20000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sock-trace-bench-")
    exe, prog = build(tmp)
    out = os.path.join(tmp, "trace.txt")
    out_excluded = os.path.join(tmp, "trace-excluded.txt")
    env = dict(os.environ)
    env.pop("SOCK_TRACE_CONFIG", None)
    rounds = str(args.rounds)
    variants = {
        "bare": [prog, rounds],
        "sock-trace (all calls, to a file)": [exe, "run", "-o", out, "--", prog, rounds],
        "sock-trace (calls excluded)": [exe, "run", "-o", out_excluded, "-x", "send,recv,setsockopt", "--", prog, rounds],
    }
    if shutil.which("strace"):
        variants["strace -f -e trace=network"] = ["strace", "-f", "-e", "trace=network", "-o", "/dev/null", prog, rounds]
    times = {k: [] for k in variants}
    timed(variants["bare"])  # warm caches
    timed(variants["sock-trace (all calls, to a file)"], env)
    for _ in range(args.runs):
        for name, cmd in variants.items():
            times[name].append(timed(cmd, env))
    base = statistics.median(times["bare"])
    print(f"ping-pong, {args.rounds} round trips, {args.runs} alternating runs each")
    print(f"{'variant':40} {'median s':>9} {'ratio':>7} {'min':>7} {'max':>7}")
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts, times["bare"])]
        print(f"{name:40} {statistics.median(ts):9.3f} {statistics.median(ratios):7.3f} {min(ratios):7.3f} {max(ratios):7.3f}")
    lines = sum(1 for _ in open(out))
    excluded = sum(1 for _ in open(out_excluded))
    print(f"(the last fully traced run wrote {lines} lines, the last excluded run {excluded})")

    # Start-up cost: many short runs of /bin/true, alternating.
    n = 40
    bare, traced = [], []
    for _ in range(n):
        bare.append(timed(["/bin/true"]))
        traced.append(timed([exe, "run", "-o", out, "--", "/bin/true"], env))
    added = (statistics.median(traced) - statistics.median(bare)) * 1000
    print(f"sock-trace run -- /bin/true adds {added:.2f} ms (median of {n}; bare {statistics.median(bare)*1000:.2f} ms)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
