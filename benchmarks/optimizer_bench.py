"""Optimizer steps on an MLP's parameters, in one run.

    python benchmarks/optimizer_bench.py [--repeat 5] [--steps 50]

The parameters of a 784-256-128-10 MLP (float32 weights and biases, about 235k elements),
updated by each optimizer through an Updater as Module.update does (all parameters, then a
wait for the last write): the time per step, and its ratio to SGD's.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import flowmod as mx
from flowmod import nd

LAYERS = [(784, 256), (256, 128), (128, 10)]
OPTIMIZERS = [("sgd", {"momentum": 0.9}), ("signum", {"momentum": 0.9}), ("ftrl", {}), ("ftml", {}),
              ("lars", {"momentum": 0.9}), ("adam", {}), ("rmsprop", {})]


def parameters():
    rng = np.random.default_rng(0)
    params, names = [], []
    for i, (n_in, n_out) in enumerate(LAYERS):
        params.append(rng.standard_normal((n_out, n_in)) * 0.05)
        names.append(f"fc{i}_weight")
        params.append(np.zeros(n_out))
        names.append(f"fc{i}_bias")
    return names, params


def step_time(name, kwargs, repeat, steps):
    names, values = parameters()
    opt = mx.optimizer.create(name, learning_rate=0.01, wd=1e-4, rescale_grad=1 / 64,
                              param_idx2name=dict(enumerate(names)), **kwargs)
    updater = mx.optimizer.get_updater(opt)
    weights = [nd.array(v, dtype="float32") for v in values]
    grads = [nd.array(np.random.default_rng(i).standard_normal(v.shape), dtype="float32")
             for i, v in enumerate(values)]
    indices = list(range(len(weights)))

    def one_step():
        updater(indices, grads, weights)  # Module.update's call: grouped where the optimizer aggregates

    for _ in range(3):
        one_step()
    mx.waitall()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(steps):
            one_step()
        mx.waitall()
        best = min(best, (time.perf_counter() - t) / steps)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    size = sum(n_in * n_out + n_out for n_in, n_out in LAYERS)
    print(f"optimizer step on a {'-'.join(str(n) for n, _ in LAYERS)}-10 MLP ({size} float32 elements), "
          f"{mx.engine.num_workers()} compute workers")
    times = {name: step_time(name, kw, args.repeat, args.steps) for name, kw in OPTIMIZERS}
    for name, t in times.items():
        print(f"  {name:8s} {t * 1e6:9.1f} us   {t / times['sgd']:5.2f}x SGD")


if __name__ == "__main__":
    main()
