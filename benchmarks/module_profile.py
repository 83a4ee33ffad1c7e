"""Where a training batch's time goes in flowmod's Module: the breakdown behind
module_bench.py's figures.

    python benchmarks/module_profile.py [--only mlp100,mlp32,mlp1024,lenet] [--batches 400]

For each model of module_bench.py (same symbols, same SGD with momentum, same accuracy
metric) it trains one warm-up epoch and then measures, in this process:

- fit: wall time per batch of ``Module.fit`` over --batches batches (the clock stops after
  the last update has run);
- the same batches driven by hand with the calls fit makes (``forward_backward``,
  ``update``, ``update_metric``, the iterator's ``next`` and ``prepare``), each call's
  Python time on the calling thread (the call returns once its work is pushed), then one
  wait at the end; fit's own loop is the difference between the two;
- from the engine's counters over the fit run: operations per batch, and the run time of
  every kind of operation (kernel plus its Python-free dispatch on the worker), per batch;
- the workers' idle share: their capacity (wall time x workers) less the time they ran
  operations.

Nothing here needs a peer; run module_bench.py for the comparison with PyTorch and MXNet.
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import flowmod as mx  # noqa: E402

CONFIGS = {
    # name: (model, hidden, batch)
    "mlp100": ("mlp", (128, 64), 100),
    "mlp32": ("mlp", (128, 64), 32),
    "mlp1024": ("mlp", (1024, 64), 1000),
    "lenet": ("lenet", None, 64),
}


def mlp(hidden):
    h = mx.sym.Variable("data")
    for i, n in enumerate(hidden):
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=n, name=f"fc{i}"),
                              act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="out"),
                                name="softmax")


def lenet():
    h = mx.sym.Variable("data")
    for i, f in enumerate((20, 50)):
        h = mx.sym.Convolution(h, kernel=(5, 5), num_filter=f, name=f"conv{i}")
        h = mx.sym.Pooling(mx.sym.Activation(h, act_type="tanh"), pool_type="max",
                           kernel=(2, 2), stride=(2, 2))
    h = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Flatten(h), num_hidden=500),
                          act_type="tanh")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10), name="softmax")


def op_times() -> dict:
    """Per operation name: (count, seconds) so far."""
    return {o.name: (o.count, o.sum_seconds) for o in mx.engine.stats().op_latency}


def diff(after: dict, before: dict) -> dict:
    out = {}
    for name, (count, seconds) in after.items():
        c0, s0 = before.get(name, (0, 0.0))
        if count > c0:
            out[name] = (count - c0, seconds - s0)
    return out


PHASES = ("forward_backward", "update", "update_metric", "next batch", "prepare")


def by_hand(mod, it, metric, batches):
    """fit's calls for `batches` batches, each call timed on this thread (wall time, and the
    thread's CPU time, which other processes on a busy machine disturb less); one wait at
    the end. Returns {phase: [wall seconds, CPU seconds]} and the wall time."""
    spent = {phase: [0.0, 0.0] for phase in PHASES + ("final wait",)}
    clock, cpu = time.perf_counter, time.thread_time

    def timed(phase, fn, *args):
        w0, c0 = clock(), cpu()
        result = fn(*args)
        spent[phase][0] += clock() - w0
        spent[phase][1] += cpu() - c0
        return result

    def next_batch():
        try:
            return next(it)
        except StopIteration:
            it.reset()
            return next(it)

    it.reset()
    batch = next(it)
    t_start = clock()
    for _ in range(batches):
        timed("forward_backward", mod.forward_backward, batch)
        timed("update", mod.update)
        timed("update_metric", mod.update_metric, metric, batch.label)
        batch = timed("next batch", next_batch)
        timed("prepare", mod.prepare, batch)
    timed("final wait", lambda: (mx.nd.waitall(), metric.get()))
    return spent, clock() - t_start


def profile(key, batches):
    model, hidden, batch_size = CONFIGS[key]
    rng = np.random.default_rng(0)
    samples = batch_size * batches
    shape = (samples, 784) if model == "mlp" else (samples, 1, 28, 28)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, samples).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=batch_size)
    mod = mx.mod.Module(mlp(hidden) if model == "mlp" else lenet(), context=mx.cpu())
    opt = {"learning_rate": 0.01, "momentum": 0.9}
    mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params=opt,
            initializer=mx.init.Xavier())
    mx.nd.waitall()

    before = op_times()
    t0, c0 = time.perf_counter(), time.thread_time()
    mod.fit(it, begin_epoch=1, num_epoch=2, optimizer="sgd", optimizer_params=opt)
    mx.nd.waitall()
    fit_wall, fit_cpu = time.perf_counter() - t0, time.thread_time() - c0
    ops = diff(op_times(), before)

    metric = mx.metric.create("acc")
    spent, hand_wall = by_hand(mod, it, metric, batches)

    workers = mx.engine.num_workers(mx.cpu())
    per = 1e6 / batches
    print(f"\n== {key}: {model} batch {batch_size}, {batches} batches, "
          f"{workers} compute workers")
    print(f"fit: {fit_wall * per:8.1f} us a batch ({batch_size * batches / fit_wall:,.0f} "
          f"samples/s), {fit_cpu * per:8.1f} us of CPU on the calling thread (its reader "
          f"thread's not included)")
    print(f"by hand: {hand_wall * per:8.1f} us a batch; time of each call on the calling "
          f"thread (wall, CPU):")
    pushed = [0.0, 0.0]
    for phase, (wall, cpu) in spent.items():
        print(f"  {phase:18s}{wall * per:8.1f} us {cpu * per:8.1f} us")
        if phase != "final wait":
            pushed = [pushed[0] + wall, pushed[1] + cpu]
    print(f"  {'(all calls)':18s}{pushed[0] * per:8.1f} us {pushed[1] * per:8.1f} us")
    print(f"fit's own loop (fit less the calls by hand): "
          f"{(fit_wall - hand_wall) * per:+8.1f} us a batch, "
          f"{(fit_cpu - pushed[1] + spent['next batch'][1]) * per:+8.1f} us of CPU (less the "
          f"batch reads, which fit's reader thread does)")
    total_ops = sum(c for c, _ in ops.values())
    busy = sum(s for _, s in ops.values())
    print(f"engine: {total_ops / batches:.1f} operations a batch; run time per batch:")
    for name, (count, seconds) in sorted(ops.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:34s}{count / batches:6.1f} x {seconds / count * 1e6:8.1f} us"
              f" = {seconds * per:8.1f} us")
    print(f"  {'(all operations)':34s}{'':17s}{busy * per:8.1f} us")
    capacity = fit_wall * max(workers, 1)
    print(f"workers idle: {max(capacity - busy, 0) / capacity:.0%} of {max(workers, 1)} x "
          f"the fit's wall time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="mlp100,mlp32,lenet")
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    for key in args.only.split(","):
        if key not in CONFIGS:
            parser.error(f"--only: unknown model {key!r}; expected some of {', '.join(CONFIGS)}")
        profile(key, args.batches)


if __name__ == "__main__":
    main()
