"""A factorization machine on csr data with row_sparse weights, as MXNet's
example/sparse/factorization_machine trains it: y = w0 + sum_i w_i x_i +
0.5 * sum_f ((sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2), a logistic output, Adam with lazy
updates of the rows each batch uses.

    python examples/sparse/factorization_machine.py [--num-features 1000] [--epochs 2]

``train`` takes the framework module (``flowmod``, or ``mxnet`` to record a reference curve)
and returns the log loss of every batch.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np


def fm_model(mx, factor_size: int, num_features: int):
    """The factorization machine symbol of MXNet's example (model.py)."""
    x = mx.symbol.Variable("data", stype="csr")
    v = mx.symbol.Variable("v", shape=(num_features, factor_size), stype="row_sparse",
                           lr_mult=0.1, wd_mult=0.01)
    w = mx.symbol.Variable("w", shape=(num_features, 1), stype="row_sparse")
    w0 = mx.symbol.Variable("w0", shape=(1,))
    w1 = mx.symbol.broadcast_add(mx.symbol.dot(x, w), w0)
    v_s = mx.symbol._internal._square_sum(data=v, axis=1, keepdims=True)
    bd_sum = mx.sym.dot(x.square(), v_s)
    w2_squared = 0.5 * mx.symbol.square(data=mx.symbol.dot(x, v))
    w_all = mx.symbol.Concat(w1, w2_squared, dim=1)
    model = w_all.sum(axis=1, keepdims=True) + (-0.5 * bd_sum)
    y = mx.symbol.Variable("softmax_label")
    return mx.symbol.LogisticRegressionOutput(data=model, label=y)


def initial_params(num_features: int, factor_size: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {"v": (rng.standard_normal((num_features, factor_size)) * 0.01).astype(np.float32),
            "w": (rng.standard_normal((num_features, 1)) * 0.01).astype(np.float32),
            "w0": np.zeros((1,), np.float32)}


def log_loss(prob: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(prob.reshape(-1).astype(np.float64), 1e-7, 1 - 1e-7)
    y = label.reshape(-1)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(mx, path: str, num_features: int, factor_size: int = 8, batch_size: int = 100,
          epochs: int = 2, learning_rate: float = 0.01) -> list:
    """Trains on the libsvm file ``path``; returns the log loss of each batch."""
    data = mx.io.LibSVMIter(data_libsvm=path, data_shape=(num_features,),
                            batch_size=batch_size)
    mod = mx.mod.Module(symbol=fm_model(mx, factor_size, num_features))
    mod.bind(data_shapes=data.provide_data, label_shapes=data.provide_label)
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in
                                initial_params(num_features, factor_size).items()})
    mod.init_optimizer(optimizer="adam", kvstore="local",
                       optimizer_params={"learning_rate": learning_rate, "wd": 1e-4,
                                         "rescale_grad": 1.0 / batch_size})

    def batch_row_ids(batch):
        idx = batch.data[0].indices
        return {"w": idx, "v": idx}

    losses = []
    for _ in range(epochs):
        data.reset()
        for batch in data:
            if mod._kvstore is not None:  # a store holds the weights: pull the batch's rows
                mod.prepare(batch, sparse_row_id_fn=batch_row_ids)
            mod.forward_backward(batch)
            mod.update()
            losses.append(log_loss(mod.get_outputs()[0].asnumpy(),
                                   batch.label[0].asnumpy()))
    return losses


def main() -> None:
    import flowmod as mx
    from synthetic import write_libsvm
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-features", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_libsvm(os.path.join(tmp, "train.libsvm"), args.num_samples,
                            args.num_features, nnz=10)
        losses = train(mx, path, args.num_features, epochs=args.epochs)
    for i in range(0, len(losses), 10):
        print(f"batch {i:4d}: log loss {losses[i]:.5f}")
    print(f"last batch: log loss {losses[-1]:.5f}")


if __name__ == "__main__":
    main()
