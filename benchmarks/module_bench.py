"""Training throughput of the same models through flowmod's Module, PyTorch eager and MXNet
1.9.1's Module, in one table.

    python benchmarks/module_bench.py [--epochs 3] [--only mlp100,mlp32,mlp1024,lenet]

Each run trains one model with SGD (momentum 0.9) on synthetic data held in host memory,
updating an accuracy metric every batch, in a fresh process: one warm-up epoch, then
--epochs timed epochs (the clock stops after the last update has run). Samples/s and the
process's peak RSS are printed. Peers run in their venvs (../shared/peers/make-venvs.sh):
FLOWMOD_PEER_TORCH and FLOWMOD_PEER_MXNET point at their Pythons.

Rows: MLP 784-128-64-10 at batch 100 and 32, MLP 784-1024-64-10 at batch 1000, LeNet
(conv 20 5x5, max pool, conv 50 5x5, max pool, fc 500, fc 10; tanh) at batch 64.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

CONFIGS = {
    # name: (model, batch size, samples per epoch)
    "mlp100": ("mlp", (128, 64), 100, 20000),
    "mlp32": ("mlp", (128, 64), 32, 8000),
    "mlp1024": ("mlp", (1024, 64), 1000, 20000),
    "lenet": ("lenet", None, 64, 3200),
}

COMMON = """
import json, resource, sys, time
import numpy as np
model, hidden, batch, samples, epochs = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
shape = (samples, 784) if model == "mlp" else (samples, 1, 28, 28)
x = rng.random(shape, dtype=np.float32)
y = rng.integers(0, 10, samples).astype(np.float32)
def report(seconds):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([samples * epochs / seconds, rss]))
"""

MODULE_CODE = COMMON + """
import logging
logging.disable(logging.WARNING)
import {lib} as mx
def mlp():
    h = mx.sym.Variable("data")
    for i, n in enumerate(hidden):
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=n, name=f"fc{{i}}"),
                              act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="out"),
                                name="softmax")
def lenet():
    h = mx.sym.Variable("data")
    for i, f in enumerate((20, 50)):
        h = mx.sym.Convolution(h, kernel=(5, 5), num_filter=f, name=f"conv{{i}}")
        h = mx.sym.Pooling(mx.sym.Activation(h, act_type="tanh"), pool_type="max",
                           kernel=(2, 2), stride=(2, 2))
    h = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Flatten(h), num_hidden=500),
                          act_type="tanh")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10), name="softmax")
it = mx.io.NDArrayIter(x, y, batch_size=batch)
mod = mx.mod.Module(mlp() if model == "mlp" else lenet(), context=mx.cpu())
opt = {{"learning_rate": 0.01, "momentum": 0.9}}
mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params=opt,
        initializer=mx.init.Xavier())
mx.nd.waitall()
t = time.perf_counter()
mod.fit(it, begin_epoch=1, num_epoch=1 + epochs, optimizer="sgd", optimizer_params=opt)
mx.nd.waitall()
report(time.perf_counter() - t)
"""

TORCH_CODE = COMMON + """
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
if model == "mlp":
    layers, n_in = [], 784
    for n in hidden:
        layers += [nn.Linear(n_in, n), nn.ReLU()]
        n_in = n
    net = nn.Sequential(*layers, nn.Linear(n_in, 10))
else:
    net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2),
                        nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
def epoch():
    correct = torch.zeros(())
    for i in range(0, samples - batch + 1, batch):
        xb, yb = xt[i:i + batch], yt[i:i + batch]
        out = net(xb)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        correct += (out.argmax(1) == yb).sum()
    return float(correct)
epoch()
t = time.perf_counter()
for _ in range(epochs):
    epoch()
report(time.perf_counter() - t)
"""


def run(python, code, config, epochs):
    model, hidden, batch, samples = config
    args = json.dumps([model, hidden, batch, samples, epochs])
    res = subprocess.run([python, "-c", textwrap.dedent(code), args], capture_output=True,
                         text=True)
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()[-1:] or ["(no output)"]
        print(f"    ({python}: {tail[0]})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", default=",".join(CONFIGS))
    args = parser.parse_args()
    peers = [("flowmod", sys.executable, MODULE_CODE.format(lib="flowmod")),
             ("PyTorch", os.environ.get("FLOWMOD_PEER_TORCH"), TORCH_CODE),
             ("MXNet 1.9.1", os.environ.get("FLOWMOD_PEER_MXNET"),
              MODULE_CODE.format(lib="mxnet"))]
    print(f"{os.cpu_count()} cores; {args.epochs} timed epochs after one warm-up; "
          f"samples/s (ratio to PyTorch) and peak RSS")
    print(f"{'model':28s}" + "".join(f"{name:>28s}" for name, _, _ in peers))
    for key in args.only.split(","):
        config = CONFIGS[key]
        model, hidden, batch, _ = config
        label = (f"MLP 784-{'-'.join(map(str, hidden))}-10" if model == "mlp" else "LeNet") + \
            f" b{batch}"
        results = []
        for name, python, code in peers:
            results.append(run(python, code, config, args.epochs) if python else None)
        torch = results[1][0] if results[1] else None
        cells = []
        for res in results:
            if res is None:
                cells.append(f"{'n/a':>28s}")
                continue
            ratio = f" ({res[0] / torch:4.2f}x)" if torch else ""
            cells.append(f"{res[0]:>10,.0f}{ratio:>8s} {res[1]:6.0f} MB".rjust(28))
        print(f"{label:28s}" + "".join(cells))


if __name__ == "__main__":
    main()
