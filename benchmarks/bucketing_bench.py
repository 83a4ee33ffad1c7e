"""Training throughput of a bucketed LSTM language model: flowmod's BucketingModule and MXNet
1.9.1's (the same script) with the LSTM built two ways, and PyTorch's nn.LSTM on batches
padded to the bucket length.

    python benchmarks/bucketing_bench.py [--epochs 2] [--batches 24] [--repeat 2]
                                         [--only fused,cells]

Two rows of models: "fused", a FusedRNNCell over a 3000-word vocabulary, and "cells", the
same layers as two mx.rnn.LSTMCell stacked in a SequentialRNNCell and unrolled step by step
(what most MXNet scripts build) over a 10,000-word vocabulary. PyTorch runs nn.LSTM at each
row's vocabulary.

The model: embedding 200 over the row's vocabulary, 2 LSTM layers of 200 units, a
fully connected layer back to the vocabulary and softmax cross-entropy on every position;
SGD with momentum 0.9, batch 32, buckets 10/20/30/40. The data is synthetic (token ids
drawn from a Zipf-like distribution with numpy, the same in every process), so nothing is
downloaded. Each epoch runs --batches batches of every bucket in one shuffled order; one
warm-up epoch (which binds every bucket) precedes --epochs timed epochs, and the clock
stops after the last update has run. Tokens/s counts bucket-length positions (padding
included, as every framework computes it). PyTorch runs twice: with its default thread count
and with one thread, which on a machine whose cores are busy with other work avoids its
OpenMP threads waiting on each other (measured here: 8.3 s instead of 0.32 s a batch). Peers run in their venvs: FLOWMOD_PEER_TORCH
and FLOWMOD_PEER_MXNET point at their Pythons; each run is a fresh process, best of
--repeat, and the frameworks take turns.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

from _neutral import failure, run_python

COMMON = """
import json, resource, sys, time
import numpy as np
cfg = json.loads(sys.argv[1])
V, E, H, L, B = cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["layers"], cfg["batch"]
buckets, per_bucket, epochs = cfg["buckets"], cfg["batches"], cfg["epochs"]
rng = np.random.default_rng(0)
weights = 1.0 / np.arange(1, V + 1)
weights /= weights.sum()
def make_batch(T):
    seq = rng.choice(V, size=(B, T + 1), p=weights)
    return T, seq[:, :-1].astype(np.float32), seq[:, 1:].astype(np.float32)
batches = [make_batch(T) for T in buckets for _ in range(per_bucket)]
order = [int(i) for i in rng.permutation(len(batches))]
tokens = sum(T * B for T, _, _ in batches)
def report(seconds):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([tokens * epochs / seconds, rss]))
"""

MODULE_CODE = COMMON + """
import logging
logging.disable(logging.WARNING)
import {lib} as mx
def sym_gen(T):
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data, input_dim=V, output_dim=E, name="embed")
    if cfg["cell"] == "fused":
        cell = mx.rnn.FusedRNNCell(H, num_layers=L, mode="lstm", prefix="lstm_")
    else:
        cell = mx.rnn.SequentialRNNCell()
        for i in range(L):
            cell.add(mx.rnn.LSTMCell(num_hidden=H, prefix=f"lstm_l{{i}}_"))
    out, _ = cell.unroll(T, inputs=embed, layout="NTC", merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(out, shape=(-1, H)), num_hidden=V, name="pred")
    sm = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(label, shape=(-1,)), name="softmax")
    return sm, ("data",), ("softmax_label",)
top = max(buckets)
mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=top, context=mx.cpu())
mod.bind([mx.io.DataDesc("data", (B, top))], [mx.io.DataDesc("softmax_label", (B, top))])
mod.init_params(mx.init.Xavier(factor_type="in", magnitude=2.34))
mod.init_optimizer(optimizer="sgd", optimizer_params={{"learning_rate": 0.01, "momentum": 0.9}})
nd_batches = [mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)], bucket_key=T,
                              provide_data=[mx.io.DataDesc("data", (B, T))],
                              provide_label=[mx.io.DataDesc("softmax_label", (B, T))])
              for T, x, y in batches]
def epoch():
    for i in order:
        mod.forward_backward(nd_batches[i])
        mod.update()
    mx.nd.waitall()
epoch()
t = time.perf_counter()
for _ in range(epochs):
    epoch()
report(time.perf_counter() - t)
"""

TORCH_CODE = COMMON + """
import torch
if cfg["torch_threads"]:
    torch.set_num_threads(cfg["torch_threads"])
torch.manual_seed(0)
class LM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, num_layers=L, batch_first=True)
        self.pred = torch.nn.Linear(H, V)
    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.pred(out.reshape(-1, H))
model = LM()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()
t_batches = [(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64)).reshape(-1))
             for _, x, y in batches]
def epoch():
    for i in order:
        x, y = t_batches[i]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
epoch()
t = time.perf_counter()
for _ in range(epochs):
    epoch()
report(time.perf_counter() - t)
"""


def run(python, code, cfg):
    res = run_python(python, textwrap.dedent(code), json.dumps(cfg))
    if res.returncode != 0:
        print(f"    ({python}: {failure(res)})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


ROWS = {
    # name: (cell, vocabulary)
    "fused": ("fused", 3000),
    "cells": ("cells", 10000),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=24, help="batches per bucket per epoch")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default=",".join(ROWS), help="rows: fused,cells")
    args = parser.parse_args()
    base = {"embed": 200, "hidden": 200, "layers": 2, "batch": 32,
            "buckets": [10, 20, 30, 40], "batches": args.batches, "epochs": args.epochs}
    torch_python = os.environ.get("FLOWMOD_PEER_TORCH")
    mxnet_python = os.environ.get("FLOWMOD_PEER_MXNET")
    print(f"{os.cpu_count()} cores; LSTM LM 2x200, embed 200, batch 32, buckets 10/20/30/40; "
          f"{args.epochs} timed epochs of {4 * args.batches} batches after one warm-up; "
          f"best of {args.repeat}, the frameworks taking turns")
    for name, python in (("MXNet 1.9.1", mxnet_python), ("PyTorch", torch_python)):
        if not python:
            print(f"{name} not run (no interpreter given)")
    for row in args.only.split(","):
        if row not in ROWS:
            parser.error(f"--only: unknown row {row!r}; expected some of {', '.join(ROWS)}")
        cell, vocab = ROWS[row]
        cfg = {**base, "vocab": vocab, "cell": cell}
        runs = [("flowmod", sys.executable, MODULE_CODE.format(lib="flowmod"), {}),
                ("MXNet 1.9.1", mxnet_python, MODULE_CODE.format(lib="mxnet"), {}),
                ("PyTorch", torch_python, TORCH_CODE, {"torch_threads": 0}),
                ("PyTorch 1 thr", torch_python, TORCH_CODE, {"torch_threads": 1})]
        runs = [r for r in runs if r[1]]
        # The repeats take turns (every framework once, then again), so that a slow spell of
        # the machine does not fall on one framework's runs only.
        got = {name: [] for name, *_ in runs}
        for _ in range(max(1, args.repeat)):
            for name, python, code, extra in runs:
                res = run(python, code, {**cfg, **extra})
                if res is not None:
                    got[name].append(res)
        results = {name: max(g, key=lambda r: r[0]) if g else None for name, g in got.items()}
        ours = results.get("flowmod")
        label = "FusedRNNCell" if cell == "fused" else "LSTMCell x2, unrolled"
        print(f"\n{label}, vocabulary {vocab:,}")
        print(f"{'':14s}{'tokens/s':>12s}{'flowmod / this':>16s}{'peak RSS':>12s}")
        for name, res in results.items():
            if res is None:
                print(f"{name:14s}{'failed':>12s}")
                continue
            ratio = f"{ours[0] / res[0]:.2f}x" if ours else "n/a"
            print(f"{name:14s}{res[0]:>12,.0f}{ratio:>16s}{res[1]:>9.0f} MB")


if __name__ == "__main__":
    main()
