"""Pushing faster than the engine runs: the peak memory and the exit time of an imperative
loop that queues far more work than the workers keep up with.

    python benchmarks/backlog_bench.py [--iters 40000] [--size 16384] [--repeat 2]

The script, run in a fresh interpreter for each framework: ``a = a + 1`` on a float32
vector of --size elements, --iters times (each step reads the previous one, so they run one
after another whatever the number of workers, while Python queues them as fast as it can),
then the interpreter exits without waiting, as a script that ends does: exit waits for what
is still queued. Printed: the time the loop took to push, the time from its end to the
process's exit, and the process's peak RSS (getrusage of the child). flowmod runs with its
default in-flight bound and again with the bound disabled (FLOWMOD_ENGINE_MAX_INFLIGHT=0);
MXNet 1.9.1 runs when FLOWMOD_PEER_MXNET points at its Python. Best of --repeat by exit time;
the frameworks take turns.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SCRIPT = """
import json, sys, time
import {lib} as mx
iters, size = int(sys.argv[1]), int(sys.argv[2])
a = mx.nd.ones((size,))
a.wait_to_read()
start = time.perf_counter()
for _ in range(iters):
    a = a + 1
print(json.dumps({{"push_s": time.perf_counter() - start}}), flush=True)
"""


def run(python: str, lib: str, iters: int, size: int, env_extra: dict) -> dict | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMOD_ENGINE_MAX")}
    env.update(env_extra)
    proc = subprocess.Popen([python, "-c", SCRIPT.format(lib=lib), str(iters), str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    pushed_at = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    exit_s = time.perf_counter() - pushed_at
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not line:
        tail = err.strip().splitlines()[-1:] or ["(no output)"]
        print(f"    ({python} {lib}: {tail[0]})")
        return None
    result = json.loads(line)
    result["exit_s"] = exit_s
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=40000)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs = [("flowmod", sys.executable, "flowmod", {}),
            ("flowmod, no bound", sys.executable, "flowmod", {"FLOWMOD_ENGINE_MAX_INFLIGHT": "0"}),
            ("MXNet 1.9.1", os.environ.get("FLOWMOD_PEER_MXNET"), "mxnet", {})]
    print(f"{os.cpu_count()} cores; a = a + 1 on {args.size} float32, {args.iters} times, then "
          f"exit; best of {args.repeat}")
    for name, python, _, _ in runs:
        if not python:
            print(f"{name:20s} not run (no interpreter given)")
    runs = [r for r in runs if r[1]]
    got: dict[str, list] = {name: [] for name, *_ in runs}
    for _ in range(max(1, args.repeat)):
        for name, python, lib, extra in runs:
            res = run(python, lib, args.iters, args.size, extra)
            if res is not None:
                got[name].append(res)
    print(f"{'':20s}{'push loop':>12s}{'exit':>10s}{'peak RSS':>12s}")
    for name, results in got.items():
        if not results:
            print(f"{name:20s}{'failed':>12s}")
            continue
        best = min(results, key=lambda r: r["exit_s"])
        print(f"{name:20s}{best['push_s']:>10.2f} s{best['exit_s']:>8.2f} s"
              f"{best['peak_mb']:>9.0f} MB")


if __name__ == "__main__":
    main()
