"""What the profiler costs a training run while it records, measured within one process.

    python benchmarks/profiler_bench.py [--rounds 16] [--repeat 3] [--batches 32,100]
                                        [--config all|engine]

One process trains module_bench.py's MLP 784-128-64-10 (SGD with momentum, accuracy every
batch) and alternates epochs with the profiler recording (``--config all``: every operation,
the Module calls and storage samples, with aggregate statistics; ``engine``: operations
only) and epochs with it stopped, --rounds pairs in ABBA order, so slow drifts of the
machine fall on both alike. What was recorded is taken from the engine and dropped after
each timed epoch, outside the clock (as a dump would do at the end of a run). Each line
prints both throughputs, the change recording makes, and the change of the process's CPU
time per sample (all its threads: other work on the machine disturbs it less than the
throughput); --repeat runs a fresh process per batch size.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

from _neutral import failure, run_python

CODE = """
import json, logging, sys, time
import numpy as np
logging.disable(logging.WARNING)
import flowmod as mx
from flowmod.profiler.session import SESSION
batch, rounds, config = json.loads(sys.argv[1])
samples = 4000 if batch <= 32 else 10000
rng = np.random.default_rng(0)
x = rng.random((samples, 784), dtype=np.float32)
y = rng.integers(0, 10, samples).astype(np.float32)
h = mx.sym.Variable("data")
for i, n in enumerate((128, 64)):
    h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=n, name=f"fc{i}"),
                          act_type="relu")
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="out"),
                           name="softmax")
if config == "all":
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename="/dev/null")
else:
    mx.profiler.set_config(profile_symbolic=True, profile_imperative=True, filename="/dev/null")
it = mx.io.NDArrayIter(x, y, batch_size=batch)
mod = mx.mod.Module(net, context=mx.cpu())
opt = {"learning_rate": 0.01, "momentum": 0.9}
mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params=opt, initializer=mx.init.Xavier())
seconds = {False: 0.0, True: 0.0}
cpu = {False: 0.0, True: 0.0}
recorded = 0
epoch = 1
for r in range(rounds):
    for on in ((False, True) if r % 2 == 0 else (True, False)):
        mx.nd.waitall()
        if on:
            mx.profiler.set_state("run")
        t, c = time.perf_counter(), time.process_time()
        mod.fit(it, begin_epoch=epoch, num_epoch=epoch + 1, optimizer="sgd",
                optimizer_params=opt)
        mx.nd.waitall()
        seconds[on] += time.perf_counter() - t
        cpu[on] += time.process_time() - c
        if on:
            mx.profiler.set_state("stop")
            recorded += sum(len(ops) for _, ops in SESSION.engine_threads)
            SESSION.clear()
        epoch += 1
print(json.dumps([rounds * samples / seconds[False], rounds * samples / seconds[True],
                  recorded / rounds, cpu[True] / cpu[False] - 1]))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=16, help="pairs of epochs per process")
    parser.add_argument("--repeat", type=int, default=3, help="processes per batch size")
    parser.add_argument("--batches", default="32,100", help="batch sizes, comma-separated")
    parser.add_argument("--config", default="all", choices=("all", "engine"))
    args = parser.parse_args()
    print(f"MLP 784-128-64-10; {args.rounds} epochs each way, interleaved in one process; "
          f"profiling: {args.config}")
    print(f"{'batch':>6} {'stopped':>12} {'recording':>12} {'change':>8} {'CPU/sample':>10} "
          f"{'ops/epoch':>10}")
    for batch in (int(b) for b in args.batches.split(",")):
        changes, cpu_changes = [], []
        for _ in range(args.repeat):
            res = run_python(sys.executable, textwrap.dedent(CODE),
                             json.dumps([batch, args.rounds, args.config]))
            if res.returncode != 0:
                print(f"    (batch {batch}: {failure(res)})")
                continue
            off, on, ops, cpu_change = json.loads(res.stdout.strip().splitlines()[-1])
            changes.append(on / off - 1)
            cpu_changes.append(cpu_change)
            print(f"{batch:>6} {off:>10,.0f}/s {on:>10,.0f}/s {on / off - 1:>+8.1%} "
                  f"{cpu_change:>+10.1%} {ops:>10,.0f}")
        if changes:
            print(f"{batch:>6} mean change {sum(changes) / len(changes):+.1%}, CPU per sample "
                  f"{sum(cpu_changes) / len(cpu_changes):+.1%}")


if __name__ == "__main__":
    main()
