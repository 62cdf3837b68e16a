#!/usr/bin/env python3
"""Instructions a hooked call adds inside the traced program, counted by
callgrind (stable on shared machines, unlike wall-clock time).

bench/calls.c makes N rounds of getsockopt + send + recv (3 calls a round).
For each configuration the program runs with N and with 0 rounds; the
difference divided by 3N is the cost per call, the bare libc path included.
Subtracting the bare figure gives what the tracer adds:

  bare      no preload library
  excluded  library loaded, the three functions excluded (-x)
  traced    every call recorded into shared memory

Usage: bench/callgrind.py [--rounds N] [--json]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(cmd, env=None):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        subprocess.run(cmd(vg), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=600)
        text = open(out).read()
        m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
        return int(m.group(1))


def measure(rounds):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "sock-trace"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "sock-trace")
    tmp = tempfile.mkdtemp(prefix="sock-trace-cg-")
    prog = os.path.join(tmp, "calls")
    subprocess.run(["gcc", "-O2", "-o", prog, os.path.join(ROOT, "bench", "calls.c")], check=True)
    trace = os.path.join(tmp, "trace.txt")
    env = dict(os.environ)
    env.pop("SOCK_TRACE_CONFIG", None)
    configs = {
        "bare": lambda n: (lambda vg: vg + [prog, str(n)]),
        "excluded": lambda n: (lambda vg: [exe, "run", "-o", trace, "-x", "getsockopt,send,recv", "--"] + vg + [prog, str(n)]),
        "traced": lambda n: (lambda vg: [exe, "run", "-o", trace, "--"] + vg + [prog, str(n)]),
    }
    calls = 3 * rounds
    per_call = {}
    for name, make in configs.items():
        full = instructions(make(rounds), env)
        empty = instructions(make(0), env)
        per_call[name] = (full - empty) / calls
    result = {
        "rounds": rounds,
        "per_call": per_call,
        "added_excluded": per_call["excluded"] - per_call["bare"],
        "added_traced": per_call["traced"] - per_call["bare"],
    }
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = measure(args.rounds)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"instructions per call (callgrind, {args.rounds} rounds of getsockopt+send+recv)")
    for k, v in r["per_call"].items():
        print(f"  {k:9} {v:8.1f}")
    print(f"added by the tracer: excluded {r['added_excluded']:.1f}, traced {r['added_traced']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
