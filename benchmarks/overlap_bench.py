"""Data loading overlapped with compute: an epoch should cost max(load, compute), not their sum.

    python benchmarks/overlap_bench.py [--batches 50] [--repeat 3]

A loader that takes L ms per batch (a fresh numpy batch, then a sleep for the rest of L, as
reading from storage would take) feeds an MLP 784-1024-1024-10 at batch 256 that takes C ms per
batch (forward, backward, SGD update with momentum, accuracy). C is measured first (batches
held in memory); L is then set to C, 4 C and C / 4. Each row prints:

- ``fit``: flowmod's ``Module.fit`` (batches read ahead in a worker thread);
- ``fit_async``: ``await mod.fit_async`` under trio;
- ``sequential``: the same steps with no overlap (load, push, wait), which costs L + C;
- ``PyTorch``: ``DataLoader(num_workers=1)`` over the same loader feeding the same model in
  PyTorch eager (FLOWMOD_PEER_TORCH points at its Python), beside max(L, its own C).

Times are per epoch; a flowmod epoch's clock stops once its last update has run. Each row
runs --repeat trials, each measuring C again and then an epoch of every loop; the ratio
printed is the best epoch / (max(L, best C) x batches): 1.0 is perfect overlap. L is the
loader's whole time per batch, its generation (about 0.6 ms of numpy on the loader's thread,
CPU time the compute shares its cores with) included. The end prints the cost of awaiting a
future that is already done (trio, asyncio) and of ``result()`` on one.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import textwrap
import time
import warnings

import numpy as np
import trio

import flowmod as mx
from _neutral import failure, run_python

BATCH, HIDDEN, FEATURES, CLASSES = 256, 1024, 784, 10


class SlowLoader(mx.io.DataIter):
    """``batches`` batches, each taking ``load_s`` seconds to produce."""

    def __init__(self, batches: int, load_s: float, seed: int = 0):
        super().__init__(batch_size=BATCH)
        self.batches, self.load_s = batches, load_s
        self.rng = np.random.default_rng(seed)
        self.k = 0
        self.provide_data = [mx.io.DataDesc("data", (BATCH, FEATURES))]
        self.provide_label = [mx.io.DataDesc("softmax_label", (BATCH,))]

    def reset(self) -> None:
        self.k = 0

    def next(self) -> mx.io.DataBatch:
        if self.k >= self.batches:
            raise StopIteration
        self.k += 1
        t = time.perf_counter()
        x = self.rng.random((BATCH, FEATURES), dtype=np.float32)
        y = self.rng.integers(0, CLASSES, BATCH).astype(np.float32)
        batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
        time.sleep(max(0.0, self.load_s - (time.perf_counter() - t)))
        return batch


def _mlp():
    h = mx.sym.Variable("data")
    for i in range(2):
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=HIDDEN, name=f"fc{i}"),
                              act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=CLASSES, name="out"),
                                name="softmax")


_OPT = {"learning_rate": 0.01, "momentum": 0.9}


def _module():
    mod = mx.mod.Module(_mlp())
    warm = SlowLoader(3, 0.0)
    mod.fit(warm, num_epoch=1, optimizer="sgd", optimizer_params=_OPT,
            initializer=mx.init.Xavier())
    mx.nd.waitall()
    return mod


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    mx.nd.waitall()
    return time.perf_counter() - t


def compute_per_batch(mod, batches: int) -> float:
    """C: seconds per batch of the training steps alone, batches held in memory."""
    held = list(SlowLoader(batches, 0.0, seed=1))
    metric = mx.metric.Accuracy()

    def run():
        for b in held:
            mod.forward_backward(b)
            mod.update()
            mod.update_metric(metric, b.label)
    run()
    return min(_timed(run) for _ in range(3)) / batches


def sequential_epoch(mod, loader) -> float:
    metric = mx.metric.Accuracy()

    def run():
        for b in loader:
            mod.forward_backward(b)
            mod.update().result()
            mod.update_metric(metric, b.label)
    loader.reset()
    return _timed(run)


def fit_epoch(mod, loader) -> float:
    loader.reset()
    return _timed(lambda: mod.fit(loader, num_epoch=1, optimizer="sgd",
                                  optimizer_params=_OPT))


def fit_async_epoch(mod, loader) -> float:
    loader.reset()
    return _timed(lambda: trio.run(lambda: mod.fit_async(loader, num_epoch=1,
                                                         optimizer="sgd",
                                                         optimizer_params=_OPT)))


TORCH_CODE = """
import json, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
batch, hidden, features, classes, batches, ratios = json.loads(sys.argv[1])
torch.manual_seed(0)
class Slow(Dataset):
    def __init__(self, load_s):
        self.load_s = load_s
    def __len__(self):
        return batches
    def __getitem__(self, i):
        t = time.perf_counter()
        rng = np.random.default_rng(i)
        x = rng.random((batch, features), dtype=np.float32)
        y = rng.integers(0, classes, batch)
        item = torch.from_numpy(x), torch.from_numpy(y)
        time.sleep(max(0.0, self.load_s - (time.perf_counter() - t)))
        return item
net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                    nn.ReLU(), nn.Linear(hidden, classes))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
def step(x, y):
    out = net(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(); loss.backward(); opt.step()
    return (out.argmax(1) == y).sum()
held = [Slow(0.0)[i] for i in range(batches)]
for x, y in held[:3]:
    step(x, y)
t = time.perf_counter()
for x, y in held:
    step(x, y)
compute = (time.perf_counter() - t) / batches
rows = []
for r in ratios:
    load = r * compute
    loader = DataLoader(Slow(load), batch_size=None, num_workers=1)
    t = time.perf_counter()
    for x, y in loader:
        step(x, y)
    rows.append([load, time.perf_counter() - t])
print(json.dumps([compute, rows]))
"""


def torch_rows(batches: int, ratios) -> tuple[float, list] | None:
    python = os.environ.get("FLOWMOD_PEER_TORCH")
    if not python:
        return None
    args = json.dumps([BATCH, HIDDEN, FEATURES, CLASSES, batches, list(ratios)])
    res = run_python(python, textwrap.dedent(TORCH_CODE), args)
    if res.returncode != 0:
        print(f"    (PyTorch: {failure(res)})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def done_future_costs(n: int = 200_000) -> dict[str, float]:
    """Seconds per await / result() of a future that is already done."""
    fut = mx.future.when_ready([mx.nd.ones((1,))], value=1)
    fut.result()

    async def awaits():
        t = time.perf_counter()
        for _ in range(n):
            await fut
        return (time.perf_counter() - t) / n

    t = time.perf_counter()
    for _ in range(n):
        fut.result()
    result_s = (time.perf_counter() - t) / n
    return {"await (trio)": trio.run(awaits), "await (asyncio)": asyncio.run(awaits()),
            "result()": result_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="trials per row; best kept")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")  # re-fitting a trained module warns that it is set up
    n = args.batches
    mod = _module()
    compute = min(compute_per_batch(mod, n) for _ in range(2))
    ratios = (1.0, 4.0, 0.25)
    print(f"{os.cpu_count()} cores; MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES} at batch "
          f"{BATCH}; {n} batches per epoch; C = {compute * 1e3:.1f} ms per batch (flowmod)")
    print("epoch seconds (ratio to max(L, C) x batches)")
    header = f"{'L':>16s} {'C':>7s} {'max(L,C)xN':>11s} {'fit':>14s} {'fit_async':>14s} " \
             f"{'sequential':>14s}"
    torch = torch_rows(n, ratios)
    if torch is not None:
        header += f" {'PyTorch DataLoader':>26s}"
    print(header)
    for i, r in enumerate(ratios):
        load = r * compute
        loader = SlowLoader(n, load)
        # C is measured again before each trial of the row, as other processes on the machine
        # move it; the row compares the best epoch of each loop with the best C.
        row_computes, epochs = [], [[], [], []]
        for _ in range(max(1, args.repeat)):
            row_computes.append(compute_per_batch(mod, n))
            for times, fn in zip(epochs, (fit_epoch, fit_async_epoch, sequential_epoch)):
                times.append(fn(mod, loader))
        row_compute = min(row_computes)
        bound = max(load, row_compute) * n
        cells = [f"{min(times):7.3f} ({min(times) / bound:4.2f})" for times in epochs]
        line = f"{f'{r:g} C = {load * 1e3:.1f} ms':>16s} {row_compute * 1e3:5.1f}ms " \
            f"{bound:11.3f} " + \
            " ".join(f"{c:>14s}" for c in cells)
        if torch is not None:
            t_compute, rows = torch
            t_load, t_epoch = rows[i]
            t_bound = max(t_load, t_compute) * n
            line += f" {t_epoch:7.3f} ({t_epoch / t_bound:4.2f}; C={t_compute * 1e3:.1f} ms)"
        print(line)
    if torch is None:
        print("(set FLOWMOD_PEER_TORCH to a Python with PyTorch for its column)")
    print("a future that is already done:")
    for name, seconds in done_future_costs().items():
        print(f"  {name:16s} {seconds * 1e6:6.2f} us")


if __name__ == "__main__":
    main()
