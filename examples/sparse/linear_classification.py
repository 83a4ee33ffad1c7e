"""Linear classification of csr data with a row_sparse weight, the pattern of MXNet's
example/sparse/linear_classification: dot(csr data, row_sparse weight) + bias, a softmax
output (MXNet's example weights its positive class through a Python operator; the plain
softmax cross-entropy here), SGD with momentum and lazy updates.

    python examples/sparse/linear_classification.py [--num-features 1000] [--epochs 2]

``train`` takes the framework module and returns the cross-entropy of every batch.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np


def linear_model(mx, num_features: int):
    """The linear model of MXNet's example (linear_model.py), with a softmax output."""
    x = mx.symbol.Variable("data", stype="csr")
    weight = mx.symbol.Variable("weight", shape=(num_features, 2), stype="row_sparse")
    bias = mx.symbol.Variable("bias", shape=(2,))
    pred = mx.symbol.broadcast_add(mx.symbol.sparse.dot(x, weight), bias)
    return mx.symbol.SoftmaxOutput(pred, mx.symbol.Variable("softmax_label"), name="out")


def initial_params(num_features: int, seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    return {"weight": (rng.standard_normal((num_features, 2)) * 0.01).astype(np.float32),
            "bias": np.zeros((2,), np.float32)}


def cross_entropy(prob: np.ndarray, label: np.ndarray) -> float:
    picked = prob[np.arange(prob.shape[0]), label.astype(np.int64).reshape(-1)]
    return float(-np.mean(np.log(np.clip(picked.astype(np.float64), 1e-12, None))))


def train(mx, path: str, num_features: int, batch_size: int = 100, epochs: int = 2,
          learning_rate: float = 0.5) -> list:
    """Trains on the libsvm file ``path``; returns the cross-entropy of each batch."""
    data = mx.io.LibSVMIter(data_libsvm=path, data_shape=(num_features,),
                            batch_size=batch_size)
    mod = mx.mod.Module(symbol=linear_model(mx, num_features))
    mod.bind(data_shapes=data.provide_data, label_shapes=data.provide_label)
    mod.init_params(arg_params={k: mx.nd.array(v)
                                for k, v in initial_params(num_features).items()})
    mod.init_optimizer(optimizer="sgd", optimizer_params={
        "learning_rate": learning_rate, "momentum": 0.9, "wd": 1e-4,
        "rescale_grad": 1.0 / batch_size})
    losses = []
    for _ in range(epochs):
        data.reset()
        for batch in data:
            mod.forward_backward(batch)
            mod.update()
            losses.append(cross_entropy(mod.get_outputs()[0].asnumpy(),
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
        print(f"batch {i:4d}: cross-entropy {losses[i]:.5f}")
    print(f"last batch: cross-entropy {losses[-1]:.5f}")


if __name__ == "__main__":
    main()
