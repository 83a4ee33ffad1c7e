"""Training throughput of a factorization machine on sparse data: flowmod's Module with csr
data and row_sparse weights, MXNet 1.9.1's Module running the same script (the model of
MXNet's example/sparse/factorization_machine), and PyTorch with nn.EmbeddingBag(sparse=True)
and SparseAdam.

    python benchmarks/sparse_bench.py [--features 1000000] [--samples 20000] [--repeat 2]

The data is a synthetic libsvm file written once by this script (numpy, seeded): --samples
lines of --nnz features each (0.01% of 1M by default), read by LibSVMIter in flowmod and
MXNet and into index tensors for PyTorch, all before the clock starts. The model: factor size
16, a logistic output; Adam (lazy updates of the rows a batch uses in flowmod and MXNet,
SparseAdam on the embeddings in PyTorch), batch 500. One warm-up epoch precedes --epochs
timed epochs; the clock stops when the last update has run (waitall / the loss read).
Peers run in their venvs: FLOWMOD_PEER_TORCH and FLOWMOD_PEER_MXNET point at their Pythons;
each run is a fresh process, best of --repeat, the frameworks taking turns. A second table
gives each framework's peak RSS with --big-features (10M) features, one run each.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap

import numpy as np

from _neutral import failure, run_python

COMMON = """
import json, resource, sys, time
import numpy as np
cfg = json.loads(sys.argv[1])
F, K, B, epochs = cfg["features"], cfg["factor"], cfg["batch"], cfg["epochs"]
def report(samples, seconds):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([samples * epochs / seconds, rss]))
"""

MODULE_CODE = COMMON + """
import logging, warnings
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
import {lib} as mx
x = mx.symbol.Variable("data", stype="csr")
v = mx.symbol.Variable("v", shape=(F, K), stype="row_sparse", init=mx.init.Normal(0.001))
w = mx.symbol.Variable("w", shape=(F, 1), stype="row_sparse", init=mx.init.Normal(0.01))
w0 = mx.symbol.Variable("w0", shape=(1,), init=mx.init.Normal(0.01))
w1 = mx.symbol.broadcast_add(mx.symbol.dot(x, w), w0)
v_s = mx.symbol._internal._square_sum(data=v, axis=1, keepdims=True)
bd_sum = mx.sym.dot(x.square(), v_s)
w2 = 0.5 * mx.symbol.square(data=mx.symbol.dot(x, v))
model = mx.symbol.Concat(w1, w2, dim=1).sum(axis=1, keepdims=True) + (-0.5 * bd_sum)
model = mx.symbol.LogisticRegressionOutput(model, mx.symbol.Variable("softmax_label"))
it = mx.io.LibSVMIter(data_libsvm=cfg["path"], data_shape=(F,), batch_size=B)
batches = [mx.io.DataBatch([b.data[0].copy()], [b.label[0].copy()]) for b in it]
mod = mx.mod.Module(model)
mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
mod.init_params()
mod.init_optimizer(optimizer="adam", optimizer_params={{"learning_rate": 0.001,
                                                        "rescale_grad": 1.0 / B}})
def epoch():
    for b in batches:
        mod.forward_backward(b)
        mod.update()
    mx.nd.waitall()
epoch()
t = time.perf_counter()
for _ in range(epochs):
    epoch()
report(len(batches) * B, time.perf_counter() - t)
"""

TORCH_CODE = COMMON + """
import torch
import torch.nn.functional as Fn
if cfg["torch_threads"]:
    torch.set_num_threads(cfg["torch_threads"])
torch.manual_seed(0)
def parse(path):
    labels, cols, vals, offsets = [], [], [], []
    for line in open(path):
        tok = line.split()
        labels.append(float(tok[0]))
        offsets.append(len(cols))
        for t in tok[1:]:
            c, v = t.split(":")
            cols.append(int(c))
            vals.append(float(v))
    return (np.array(labels, np.float32), np.array(cols, np.int64), np.array(vals, np.float32),
            np.array(offsets + [len(cols)], np.int64))
labels, cols, vals, offsets = parse(cfg["path"])
batches = []
for s in range(0, len(labels) - B + 1, B):
    lo, hi = offsets[s], offsets[s + B]
    off = torch.from_numpy(offsets[s:s + B] - lo)
    rows = torch.repeat_interleave(torch.arange(B), torch.from_numpy(np.diff(offsets[s:s + B + 1])))
    batches.append((torch.from_numpy(cols[lo:hi]), torch.from_numpy(vals[lo:hi]), off, rows,
                    torch.from_numpy(labels[s:s + B])))
class FM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.EmbeddingBag(F, 1, mode="sum", sparse=True)
        self.v = torch.nn.EmbeddingBag(F, K, mode="sum", sparse=True)
        torch.nn.init.normal_(self.w.weight, std=0.01)
        torch.nn.init.normal_(self.v.weight, std=0.001)
        self.w0 = torch.nn.Parameter(torch.zeros(1))
    def forward(self, c, x, off, rows):
        linear = self.w(c, off, per_sample_weights=x).squeeze(1) + self.w0
        xv = self.v(c, off, per_sample_weights=x)
        e = Fn.embedding(c, self.v.weight, sparse=True) * x.unsqueeze(1)
        sq = torch.zeros(B, K).index_add_(0, rows, e * e)
        return linear + 0.5 * (xv * xv - sq).sum(1)
model = FM()
sparse_opt = torch.optim.SparseAdam([model.w.weight, model.v.weight], lr=0.001)
dense_opt = torch.optim.Adam([model.w0], lr=0.001)
loss_fn = torch.nn.BCEWithLogitsLoss()
def epoch():
    for c, x, off, rows, y in batches:
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        loss = loss_fn(model(c, x, off, rows), y)
        loss.backward()
        sparse_opt.step()
        dense_opt.step()
    float(loss)
epoch()
t = time.perf_counter()
for _ in range(epochs):
    epoch()
report(len(batches) * B, time.perf_counter() - t)
"""


def write_data(path: str, samples: int, features: int, nnz: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    hidden = rng.standard_normal(features).astype(np.float32)
    with open(path, "w") as f:
        for _ in range(samples):
            cols = np.unique(rng.integers(0, features, nnz))
            vals = rng.random(cols.size).astype(np.float32)
            label = int(vals @ hidden[cols] > 0)
            f.write(f"{label} " + " ".join(f"{c}:{v:.3f}" for c, v in zip(cols, vals)) + "\n")


def run(python, code, cfg):
    res = run_python(python, textwrap.dedent(code), json.dumps(cfg))
    if res.returncode != 0:
        print(f"    ({python}: {failure(res)})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def _runs():
    torch_python = os.environ.get("FLOWMOD_PEER_TORCH")
    return [("flowmod", sys.executable, MODULE_CODE.format(lib="flowmod"), {}),
            ("MXNet 1.9.1", os.environ.get("FLOWMOD_PEER_MXNET"),
             MODULE_CODE.format(lib="mxnet"), {}),
            ("PyTorch", torch_python, TORCH_CODE, {"torch_threads": 0}),
            ("PyTorch 1 thr", torch_python, TORCH_CODE, {"torch_threads": 1})]


def _table(results, unit="samples/s"):
    ours = results.get("flowmod")
    print(f"{'':14s}{unit:>12s}{'flowmod / this':>16s}{'peak RSS':>12s}")
    for name, res in results.items():
        if res is None:
            print(f"{name:14s}{'failed':>12s}")
            continue
        ratio = f"{ours[0] / res[0]:.2f}x" if ours else "n/a"
        print(f"{name:14s}{res[0]:>12,.0f}{ratio:>16s}{res[1]:>9.0f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--big-features", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--nnz", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs = _runs()
    for name, python, _, _ in runs:
        if not python:
            print(f"{name:14s} not run (no interpreter given)")
    runs = [r for r in runs if r[1]]
    with tempfile.TemporaryDirectory(prefix="flowmod-sparse-bench-") as tmp:
        path = os.path.join(tmp, "train.libsvm")
        write_data(path, args.samples, args.features, args.nnz)
        cfg = {"features": args.features, "factor": 16, "batch": 500, "epochs": args.epochs,
               "path": path}
        print(f"{os.cpu_count()} cores; factorization machine, {args.features:,} features, "
              f"{args.nnz} per sample ({100 * args.nnz / args.features:.3g}% dense), factor "
              f"16, batch 500, Adam; {args.samples:,} samples, {args.epochs} timed epochs "
              f"after one warm-up; best of {args.repeat}")
        # The repeats take turns (every framework once, then again), so that a slow spell
        # of the machine does not fall on one framework's runs only.
        got = {name: [] for name, *_ in runs}
        for _ in range(max(1, args.repeat)):
            for name, python, code, extra in runs:
                res = run(python, code, {**cfg, **extra})
                if res is not None:
                    got[name].append(res)
        _table({name: max(g, key=lambda r: r[0]) if g else None for name, g in got.items()})
        big = dict(cfg, features=args.big_features, epochs=1)
        big_path = os.path.join(tmp, "big.libsvm")
        write_data(big_path, max(2000, args.samples // 10), args.big_features, args.nnz)
        big["path"] = big_path
        print(f"\n{args.big_features:,} features ({100 * args.nnz / args.big_features:.3g}% "
              f"dense), {max(2000, args.samples // 10):,} samples, one epoch, one run each")
        _table({name: run(python, code, {**big, **extra})
                for name, python, code, extra in runs if name != "PyTorch 1 thr"})


if __name__ == "__main__":
    main()
