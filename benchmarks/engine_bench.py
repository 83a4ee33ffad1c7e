"""The engine's own cost per operation, beside its floor, and import time beside the peers.

    python benchmarks/engine_bench.py [--n 1000000] [--repeat 5]

Rows:
- chain: N native no-ops pushed from C++, each writing the var the one before wrote;
- independent: N native no-ops pushed from C++, each writing one of 1024 vars in turn;
- python push: N native no-ops pushed from a Python loop, through the binding and through
  flowmod.engine.push_native;
- import: `import flowmod` in a fresh interpreter, beside MXNet 1.9.1 and PyTorch when their
  venvs are given (FLOWMOD_PEER_MXNET / FLOWMOD_PEER_TORCH, see ../shared/peers/make-venvs.sh).

Every engine timing includes waiting for the pushed work to finish. The best of --repeat runs
is reported: the machine is shared, and the minimum is the least disturbed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import flowmod as mx
from _neutral import failure, run_python
from flowmod import _native


def best(fn, repeat):
    return min(fn() for _ in range(repeat))


def cpp_push(pattern, n, num_vars, repeat):
    runs = [_native.measure_push(pattern, n, num_vars) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def python_push(n, repeat, via_wrapper):
    noop = mx.engine.NativeOp.noop()
    vars_ = [mx.engine.Var() for _ in range(1024)]
    push = mx.engine.push_native if via_wrapper else _native.push_native
    writes = [(v,) for v in vars_]
    empty = ()

    def run():
        t0 = time.perf_counter()
        for i in range(n):
            push(noop, empty, writes[i & 1023])
        mx.engine.wait_all()
        return time.perf_counter() - t0

    def floor():
        # The same loop calling a C builtin with the same three arguments.
        t0 = time.perf_counter()
        for i in range(n):
            slice(noop, empty, writes[i & 1023])
        return time.perf_counter() - t0

    return best(run, repeat), best(floor, repeat)


def import_time(python, module, repeat):
    """(best seconds, None), or (None, why) when the import fails."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    times = []
    for _ in range(repeat):
        out = run_python(python, code, env=env)
        if out.returncode != 0:
            return None, failure(out)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="operations per C++ run")
    ap.add_argument("--py-n", type=int, default=100_000, help="operations per Python run")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    print(f"engine: {mx.engine.engine_type()}, cpu(0) compute workers: "
          f"{mx.engine.num_workers(mx.cpu(0))}, cores: {os.cpu_count()}")
    print()
    print(f"{'operation':<34}{'ops/s':>14}{'ns/op':>10}{'floor ns/op':>13}{'engine ns/op':>14}"
          f"{'target':>16}")
    rows = []
    for label, pattern, k, target in [
        ("chain of no-ops, C++ push", "chain", 1, ">= 2,000,000/s"),
        ("independent no-ops, C++ push", "independent", 1024, ">= 3,000,000/s"),
    ]:
        t, f = cpp_push(pattern, args.n, k, args.repeat)
        rows.append((label, args.n / t, t / args.n * 1e9, f / args.n * 1e9, target))
    for label, wrapper in [("no-op, Python push (binding)", False),
                           ("no-op, engine.push_native", True)]:
        t, f = python_push(args.py_n, args.repeat, wrapper)
        rows.append((label, args.py_n / t, t / args.py_n * 1e9, f / args.py_n * 1e9,
                     "<= 1,000 ns/op" if not wrapper else ""))
    for label, rate, ns, floor_ns, target in rows:
        print(f"{label:<34}{rate:>14,.0f}{ns:>10.0f}{floor_ns:>13.1f}{ns - floor_ns:>14.0f}"
              f"{target:>16}")

    print()
    print(f"{'import':<22}{'seconds':>10}{'ratio to flowmod':>20}")
    ours, why = import_time(sys.executable, "flowmod", args.repeat)
    if ours is None:
        print(f"{'flowmod':<22}{'failed':>10}{'':>20}   ({why})")
    else:
        print(f"{'flowmod':<22}{ours:>10.3f}{1.0:>20.2f}   (target <= 0.300 s)")
    for label, env, module in [("mxnet 1.9.1", "FLOWMOD_PEER_MXNET", "mxnet"),
                               ("torch", "FLOWMOD_PEER_TORCH", "torch")]:
        python = os.environ.get(env)
        if not python:
            print(f"{label:<22}{'-':>10}{'':>20}   ({env} not set)")
            continue
        t, why = import_time(python, module, args.repeat)
        if t is None:
            print(f"{label:<22}{'failed':>10}{'':>20}   ({why})")
        else:
            ratio = f"{t / ours:.2f}" if ours else "-"
            print(f"{label:<22}{t:>10.3f}{ratio:>20}")


if __name__ == "__main__":
    main()
