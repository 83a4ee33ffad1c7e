"""Train an MLP with a multiclass hinge loss written in Python: the network's scores go to an
mx.mod.PythonLossModule whose grad_func (numpy) gives their gradient, on the 8x8 digits that
ship with scikit-learn.

    python examples/python_loss.py [--epochs 20] [--batch-size 50]

The loss is Weston and Watkins' multiclass hinge, sum over j != y of max(0, 1 + s_j - s_y):
each class whose score comes within the margin of the true class's score pushes it down and
the true class's score up. The metric reads the PythonLossModule's outputs, which are the
scores themselves.
"""
from __future__ import annotations

import argparse
import logging

import numpy as np

import flowmod as mx


def digits_iters(batch_size):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    train = mx.io.NDArrayIter(x[:split], y[:split], batch_size=batch_size, shuffle=True)
    val = mx.io.NDArrayIter(x[split:], y[split:], batch_size=batch_size)
    return train, val


def scores(num_classes=10):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=128)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=64)
    act2 = mx.sym.Activation(fc2, name="relu2", act_type="relu")
    return mx.sym.FullyConnected(act2, name="fc3", num_hidden=num_classes)


def multiclass_hinge_grad(scores, labels):
    """The gradient of sum_{j != y} max(0, 1 + s_j - s_y) with respect to the scores."""
    s = scores.asnumpy()
    y = labels.asnumpy().astype(np.int64)
    rows = np.arange(len(y))
    margins = 1.0 + s - s[rows, y][:, None]
    margins[rows, y] = 0.0
    grad = (margins > 0).astype(s.dtype)
    grad[rows, y] = -grad.sum(axis=1)
    return grad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.02)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(42)
    train, val = digits_iters(args.batch_size)

    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(scores(), label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=multiclass_hinge_grad), take_labels=True,
            auto_wiring=True)
    seq.fit(train, eval_data=val, eval_metric="acc", optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4},
            initializer=mx.init.Xavier(magnitude=2.0), num_epoch=args.epochs,
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 20))
    (_, accuracy), = seq.score(val, "acc")
    print(f"validation accuracy {accuracy:.4f} after {args.epochs} epochs (multiclass hinge "
          f"loss in Python)")
    if accuracy < 0.9:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
