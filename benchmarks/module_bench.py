"""Training throughput of the same models through flowmod's Module, PyTorch eager and MXNet
1.9.1's Module, in one table.

    python benchmarks/module_bench.py [--epochs 3] [--repeat 3] [--only mlp100,mlp32,...]

Each run trains one model with SGD (momentum 0.9) on synthetic data held in host memory,
updating an accuracy metric every batch, in a fresh process: one warm-up epoch, then
--epochs timed epochs (the clock stops after the last update has run). Samples/s and the
process's peak RSS are printed. Peers run in their venvs (../shared/peers/make-venvs.sh):
FLOWMOD_PEER_TORCH and FLOWMOD_PEER_MXNET point at their Pythons.

The "+ telemetry" column trains the same way with flowmod.telemetry on: a PrometheusReporter
as fit's callbacks and the metrics endpoint scraped every second by a background thread, as
a Prometheus would; its figure in parentheses is the change of throughput it makes. flowmod
runs with and without telemetry alternate --repeat times and the best of each is kept, so
that a machine busy with other work distorts the comparison as little as it can; the peers
take their turns between them, and each column is the best of its --repeat runs. As such a
machine blurs differences of a few percent, "telemetry CPU" adds what the telemetry itself
took in that run: the training thread's CPU time in the reporter (less the cost of reading
the clock) and in folding finished batches into the families, as a share of the run's
duration, plus the CPU time of collecting one scrape per second (in parentheses).

Rows: MLP 784-128-64-10 at batch 100 and 32, MLP 784-1024-64-10 at batch 1000, LeNet
(conv 20 5x5, max pool, conv 50 5x5, max pool, fc 500, fc 10; tanh) at batch 64.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

from _neutral import failure, run_python

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
model, hidden, batch, samples, epochs, telemetry = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
shape = (samples, 784) if model == "mlp" else (samples, 1, 28, 28)
x = rng.random(shape, dtype=np.float32)
y = rng.integers(0, 10, samples).astype(np.float32)
def report(seconds, *extra):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([samples * epochs / seconds, rss, *extra]))
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
callbacks = {{}}
if telemetry:
    # The reporter on, and the endpoint scraped every second, as a Prometheus would.
    import threading, urllib.request
    from flowmod import telemetry as tm
    from prometheus_client import REGISTRY, generate_latest
    server, _ = tm.start_http_server(0)
    url = f"http://127.0.0.1:{{server.server_port}}/metrics"
    reporter = tm.PrometheusReporter("bench")
    callbacks = reporter.callbacks()
    inner, callback_cpu = callbacks["batch_end_callback"], [0.0]
    def timed_callback(param):
        # CPU time of the training thread spent in the reporter (a wall clock would count
        # time the machine's other work took), less one reading of the clock: what reading
        # it costs falls inside the interval measured.
        in_callback.active = True
        t0 = time.thread_time_ns()
        inner(param)
        t1 = time.thread_time_ns()
        callback_cpu[0] += (t1 - t0 - (time.thread_time_ns() - t1)) * 1e-9
        in_callback.active = False
    callbacks["batch_end_callback"] = timed_callback
    def scrape():
        while True:
            time.sleep(1.0)
            urllib.request.urlopen(url, timeout=10).read()
    threading.Thread(target=scrape, daemon=True).start()
    # CPU time of folding the finished batches into the families (in scrapes and the final
    # flush; a fold inside the callback is in callback_cpu already).
    from flowmod.telemetry import reporter as reporter_impl
    fold_cpu = [0.0]
    fold = reporter_impl._Tally.fold
    in_callback = threading.local()
    def timed_fold(self):
        if getattr(in_callback, "active", False):
            return fold(self)
        t0 = time.thread_time()
        fold(self)
        fold_cpu[0] += time.thread_time() - t0
    reporter_impl._Tally.fold = timed_fold
it = mx.io.NDArrayIter(x, y, batch_size=batch)
mod = mx.mod.Module(mlp() if model == "mlp" else lenet(), context=mx.cpu())
opt = {{"learning_rate": 0.01, "momentum": 0.9}}
mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params=opt,
        initializer=mx.init.Xavier(), **callbacks)
mx.nd.waitall()
if telemetry:
    reporter.flush()
    callback_cpu[0] = fold_cpu[0] = 0.0
t = time.perf_counter()
mod.fit(it, begin_epoch=1, num_epoch=1 + epochs, optimizer="sgd", optimizer_params=opt,
        **callbacks)
mx.nd.waitall()
seconds = time.perf_counter() - t
if not telemetry:
    report(seconds)
else:
    reporter.flush()
    t0 = time.thread_time()
    for _ in range(20):
        generate_latest(REGISTRY)
    scrape_cpu = (time.thread_time() - t0) / 20
    # The CPU telemetry took, as a share of the timed run: the training thread's time in
    # the reporter and folding the batches, and a scrape's collection every second (counted
    # at that rate, as a run may be shorter than a second).
    per_batch = (callback_cpu[0] + fold_cpu[0]) / seconds
    report(seconds, per_batch + scrape_cpu / 1.0, scrape_cpu / 1.0)
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


def run(python, code, config, epochs, telemetry=False):
    model, hidden, batch, samples = config
    args = json.dumps([model, hidden, batch, samples, epochs, telemetry])
    res = run_python(python, textwrap.dedent(code), args)
    if res.returncode != 0:
        print(f"    ({python}: {failure(res)})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def best(results):
    results = [r for r in results if r is not None]
    return max(results, key=lambda r: r[0]) if results else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3,
                        help="turns: each framework runs once per turn (flowmod without "
                             "and with telemetry), best of the turns")
    parser.add_argument("--only", default=",".join(CONFIGS))
    parser.add_argument("--no-telemetry", action="store_true",
                        help="leave out the runs with telemetry on")
    args = parser.parse_args()
    flowmod_code = MODULE_CODE.format(lib="flowmod")
    peers = [("PyTorch", os.environ.get("FLOWMOD_PEER_TORCH"), TORCH_CODE),
             ("MXNet 1.9.1", os.environ.get("FLOWMOD_PEER_MXNET"),
              MODULE_CODE.format(lib="mxnet"))]
    names = ["flowmod", "+ telemetry", "telemetry CPU"] + [name for name, _, _ in peers]
    print(f"{os.cpu_count()} cores; {args.epochs} timed epochs after one warm-up; "
          f"samples/s (ratio to PyTorch; for telemetry, its change of throughput) and peak "
          f"RSS; best of {args.repeat} turns")
    print(f"{'model':28s}" + "".join(f"{name:>28s}" for name in names))
    for key in args.only.split(","):
        config = CONFIGS[key]
        model, hidden, batch, _ = config
        label = (f"MLP 784-{'-'.join(map(str, hidden))}-10" if model == "mlp" else "LeNet") + \
            f" b{batch}"
        # The frameworks take turns (flowmod without and with telemetry, PyTorch, MXNet, then
        # again) and the best of each is kept, so that a slow spell of the machine does not
        # fall on one framework's runs only.
        plain, with_telemetry = [], []
        peer_runs = [[] for _ in peers]
        for i in range(max(1, args.repeat)):
            # Alternating which goes first, so that neither always runs on a warmer machine.
            modes = (False,) if args.no_telemetry else (False, True) if i % 2 == 0 else (True, False)
            for telemetry in modes:
                (with_telemetry if telemetry else plain).append(
                    run(sys.executable, flowmod_code, config, args.epochs, telemetry))
            for got, (_, python, code) in zip(peer_runs, peers):
                if python:
                    got.append(run(python, code, config, args.epochs))
        plain, with_telemetry = best(plain), best(with_telemetry) if with_telemetry else None
        results = [best(got) for got in peer_runs]
        torch = results[0][0] if results[0] else None
        cells = []
        for i, res in enumerate([plain, with_telemetry, with_telemetry] + results):
            if res is None:
                cells.append(f"{'n/a':>28s}")
                continue
            if i == 2:
                cells.append(f"{res[2]:.2%} ({res[3]:.2%} scrapes)".rjust(28))
                continue
            if i == 1:
                note = f" ({res[0] / plain[0] - 1:+.1%})" if plain else ""
            else:
                note = f" ({res[0] / torch:4.2f}x)" if torch else ""
            cells.append(f"{res[0]:>10,.0f}{note:>9s} {res[1]:6.0f} MB".rjust(28))
        print(f"{label:28s}" + "".join(cells))


if __name__ == "__main__":
    main()
