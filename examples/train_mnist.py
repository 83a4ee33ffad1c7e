"""Train an MLP classifier with the Module API: the classic MXNet script, unchanged but for
``import flowmod as mx``.

By default it trains on the 8x8 handwritten digits that ship with scikit-learn (1797 images,
80% for training). Given MNIST's idx files it trains on MNIST instead:

    python examples/train_mnist.py [--epochs 20] [--batch-size 50]
    python examples/train_mnist.py --mnist-dir DIR   # train-images-idx3-ubyte[.gz], ...

It binds, initializes, fits with a Speedometer and validation data, scores, predicts,
saves a checkpoint, loads it back into a new Module and checks it predicts the same.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

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


def mnist_iters(directory, batch_size):
    def find(stem):
        for name in (stem, stem + ".gz"):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return path
        raise SystemExit(f"{directory} has no {stem}[.gz]")

    train = mx.io.MNISTIter(image=find("train-images-idx3-ubyte"),
                            label=find("train-labels-idx1-ubyte"), batch_size=batch_size,
                            shuffle=True, flat=True)
    val = mx.io.MNISTIter(image=find("t10k-images-idx3-ubyte"),
                          label=find("t10k-labels-idx1-ubyte"), batch_size=batch_size,
                          flat=True)
    return train, val


def mlp(num_classes=10):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=128)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=64)
    act2 = mx.sym.Activation(fc2, name="relu2", act_type="relu")
    fc3 = mx.sym.FullyConnected(act2, name="fc3", num_hidden=num_classes)
    return mx.sym.SoftmaxOutput(fc3, name="softmax")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--mnist-dir", help="directory with MNIST's idx files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(42)

    if args.mnist_dir:
        train, val = mnist_iters(args.mnist_dir, args.batch_size)
    else:
        train, val = digits_iters(args.batch_size)

    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mod.init_params(initializer=mx.init.Xavier(magnitude=2.0))
    start = time.time()
    mod.fit(train, eval_data=val, eval_metric="acc", optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4},
            num_epoch=args.epochs,
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 20))
    elapsed = time.time() - start

    (_, accuracy), = mod.score(val, mx.metric.Accuracy())
    predictions = mod.predict(val)
    print(f"validation accuracy {accuracy:.4f} after {args.epochs} epochs in {elapsed:.1f} s; "
          f"predictions {predictions.shape}")

    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "mlp")
        mod.save_checkpoint(prefix, args.epochs)
        restored = mx.mod.Module.load(prefix, args.epochs)
        restored.bind(data_shapes=val.provide_data, label_shapes=val.provide_label,
                      for_training=False)
        same = np.allclose(restored.predict(val).asnumpy(), predictions.asnumpy(), atol=1e-6)
    print(f"checkpoint reloaded: predictions {'identical' if same else 'DIFFER'}")
    if accuracy < 0.95 or not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
