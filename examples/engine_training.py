"""Softmax regression on the 8x8 digits that ship with scikit-learn, scheduled by the engine.

Each step is an engine operation with the vars it reads and writes: the next batch is
prepared on the copy lane while the current one computes on the compute lane, and the
parameter update orders itself after the gradient and before the next forward, with no
wait in the loop. The script waits once per epoch, to read the loss.

    python examples/engine_training.py [--epochs 30] [--batch-size 64]
"""
from __future__ import annotations

import argparse

import numpy as np

import flowmod as mx
from flowmod import engine


def load_digits():
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


class SoftmaxRegression:
    """Parameters, gradients and batches live in dicts; the engine orders access to them."""

    def __init__(self, features, classes, lr, batch_size):
        rng = np.random.default_rng(1)
        self.w = rng.normal(0, 0.01, (features, classes)).astype(np.float32)
        self.b = np.zeros(classes, np.float32)
        self.lr, self.batch_size = lr, batch_size
        self.params, self.grads = engine.Var(), engine.Var()
        # Two batch slots: the copy lane fills one while compute reads the other.
        self.slots = [{}, {}]
        self.slot_vars = [engine.Var(), engine.Var()]
        self.losses = []

    def load(self, k, x, y, order):
        slot, var = self.slots[k % 2], self.slot_vars[k % 2]
        idx = order[k * self.batch_size:(k + 1) * self.batch_size]

        def fill():
            slot["x"], slot["y"] = x[idx], y[idx]

        engine.push(fill, writes=[var], lane="copy", name="load_batch")

    def step(self, k):
        slot, var = self.slots[k % 2], self.slot_vars[k % 2]

        def forward_backward():
            xb, yb = slot["x"], slot["y"]
            logits = xb @ self.w + self.b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            self.losses.append(-np.log(p[np.arange(len(yb)), yb] + 1e-12).mean())
            p[np.arange(len(yb)), yb] -= 1
            p /= len(yb)
            self.grad_values = {"w": xb.T @ p, "b": p.sum(axis=0)}

        def update():
            self.w -= self.lr * self.grad_values["w"]
            self.b -= self.lr * self.grad_values["b"]

        engine.push(forward_backward, reads=[var, self.params], writes=[self.grads],
                    name="forward_backward")
        engine.push(update, reads=[self.grads], writes=[self.params], name="sgd_update")

    def accuracy(self, x, y):
        engine.wait(self.params)
        return float(((x @ self.w + self.b).argmax(axis=1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.5)
    args = ap.parse_args()

    (x_train, y_train), (x_val, y_val) = load_digits()
    model = SoftmaxRegression(x_train.shape[1], 10, args.lr, args.batch_size)
    batches = len(x_train) // args.batch_size
    rng = np.random.default_rng(2)
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        model.losses.clear()
        model.load(0, x_train, y_train, order)
        for k in range(batches):
            if k + 1 < batches:
                model.load(k + 1, x_train, y_train, order)
            model.step(k)
        engine.wait(model.params)
        print(f"epoch {epoch:2d}  train loss {np.mean(model.losses):.4f}  "
              f"validation accuracy {model.accuracy(x_val, y_val):.4f}")
    s = engine.stats().lane(mx.cpu(0))
    print(f"engine: {s.completed} operations completed, {s.failed} failed on cpu(0) compute")


if __name__ == "__main__":
    main()
