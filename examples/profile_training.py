"""Profile a few batches of training: the classic MXNet profiler calls, unchanged but for
``import flowmod as mx``.

    python examples/profile_training.py [--batches 20] [--batch-size 64] [--out profile.json]

It trains an MLP on synthetic data with the profiler on, writes the Chrome trace (open it in
chrome://tracing or https://ui.perfetto.dev: one track per lane and worker of each device,
each operator node a slice with its shapes and vars, arrows from each write to the
operations that waited on it, the Module calls on the main thread's track, host storage as a
counter), then prints MXNet's aggregate table.
"""
from __future__ import annotations

import argparse
import logging

import numpy as np

import flowmod as mx


def mlp():
    h = mx.sym.Variable("data")
    for i, n in enumerate((128, 64)):
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=n, name=f"fc{i + 1}"),
                              act_type="relu", name=f"relu{i + 1}")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="fc3"),
                                name="softmax")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="profile.json", help="where the trace goes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    rng = np.random.default_rng(0)
    n = args.batches * args.batch_size
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=args.batch_size, shuffle=True)

    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mod.init_params(mx.init.Xavier())

    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=args.out)
    mx.profiler.set_state("run")
    mod.fit(train, num_epoch=1, optimizer="sgd",
            optimizer_params={"learning_rate": 0.05, "momentum": 0.9})
    mx.nd.waitall()
    mx.profiler.set_state("stop")
    print(mx.profiler.dumps())
    mx.profiler.dump()
    print(f"trace written to {args.out}: open it in chrome://tracing or ui.perfetto.dev")


if __name__ == "__main__":
    main()
