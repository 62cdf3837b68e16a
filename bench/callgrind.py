#!/usr/bin/env python3
"""Instructions a hooked call adds inside the traced program, counted by
callgrind (stable on shared machines, unlike wall-clock time).

bench/calls.c makes N rounds of getsockopt + send + recv (3 calls a round).
For each configuration the program runs with N and with 0 rounds; the
difference divided by 3N is the cost per call, the bare libc path included.
Subtracting the bare figure gives what the tracer adds:

  bare      no preload library
  excluded  library loaded, the three functions excluded (-x)
  traced    every call recorded into shared memory, no caller attribution
            (--caller-depth 0)
  callers   every call recorded with its caller (--caller-depth 1, the
            default setting)

Only the traced program runs under valgrind; the sock-trace launcher and
collector run natively outside it (`sock-trace run -- valgrind ... calls`).

Usage: bench/callgrind.py [--rounds N] [--json] [--exe PATH] [--check [FILE]]

  --exe PATH    use this sock-trace binary instead of building one (the
                build honours CARGO_TARGET_DIR)
  --check       compare the added instructions with bench/budgets.toml (or
                FILE) and exit 1 when one exceeds its budget by more than
                the file's tolerance (what crates/cli/tests/budget.rs does)
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(cmd, env=None):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        # cwd: a ./sock-trace.toml where the script is started must not apply.
        subprocess.run(cmd(vg), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=600, cwd=d)
        text = open(out).read()
        m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
        return int(m.group(1))


def measure(rounds, exe=None):
    if exe is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "sock-trace"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
        exe = os.path.join(target, "release", "sock-trace")
    tmp = tempfile.mkdtemp(prefix="sock-trace-cg-")
    prog = os.path.join(tmp, "calls")
    subprocess.run(["gcc", "-O2", "-o", prog, os.path.join(ROOT, "bench", "calls.c")], check=True)
    env = dict(os.environ)
    env.pop("SOCK_TRACE_CONFIG", None)
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "no-config")  # default settings only

    def st(*flags):
        def make(n):
            trace = os.path.join(tmp, f"trace-{'_'.join(flags)}-{n}.txt")
            return lambda vg: [exe, "run", "-o", trace, *flags, "--"] + vg + [prog, str(n)]
        return make

    configs = {
        "bare": lambda n: (lambda vg: vg + [prog, str(n)]),
        "excluded": st("-x", "getsockopt,send,recv"),
        "traced": st("--caller-depth", "0"),
        "callers": st("--caller-depth", "1"),
    }
    calls = 3 * rounds
    jobs = [(name, n) for name in configs for n in (rounds, 0)]
    # Instruction counts do not depend on load: run the valgrinds in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(jobs, pool.map(lambda j: instructions(configs[j[0]](j[1]), env), jobs)))
    per_call = {name: (counts[(name, rounds)] - counts[(name, 0)]) / calls for name in configs}
    result = {
        "rounds": rounds,
        "per_call": per_call,
        "added_excluded": per_call["excluded"] - per_call["bare"],
        "added_traced": per_call["traced"] - per_call["bare"],
        "added_callers": per_call["callers"] - per_call["bare"],
    }
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def check(result, path):
    """Compare with the budgets file; return the list of failures."""
    import tomllib
    with open(path, "rb") as f:
        b = tomllib.load(f)
    tol = b.get("tolerance", 0.10)
    fails = []
    for key, budget in b["added"].items():
        got = result[f"added_{key}"]
        ok = got <= budget * (1 + tol)
        print(f"  {key:9} {got:8.1f} added, budget {budget} (+{tol:.0%} = {budget * (1 + tol):.0f}): "
              f"{'ok' if ok else 'OVER BUDGET'}")
        if not ok:
            fails.append(key)
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--exe", help="sock-trace binary (default: build one)")
    ap.add_argument("--check", nargs="?", const=os.path.join(ROOT, "bench", "budgets.toml"),
                    help="compare with a budgets file (default bench/budgets.toml)")
    args = ap.parse_args()
    r = measure(args.rounds, args.exe)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"instructions per call (callgrind, {args.rounds} rounds of getsockopt+send+recv)")
    for k, v in r["per_call"].items():
        print(f"  {k:9} {v:8.1f}")
    print(f"added by the tracer: excluded {r['added_excluded']:.1f}, traced {r['added_traced']:.1f}, "
          f"callers {r['added_callers']:.1f}")
    if args.check:
        return 1 if check(r, args.check) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
