"""Train a classifier built from two Modules chained in an mx.mod.SequentialModule: a feature
extractor (two hidden layers, no loss) and a softmax head wired to its outputs with
auto_wiring, on the 8x8 digits that ship with scikit-learn.

    python examples/sequential_module.py [--epochs 15] [--batch-size 50]

The head takes the labels (take_labels=True); in backward its input gradients flow into the
feature extractor. After training the chain is saved through its members' checkpoints (a
SequentialModule has none of its own), rebuilt from them, and checked to predict the same.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile

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


def feature_extractor():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=128)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=64)
    return mx.sym.Activation(fc2, name="relu2", act_type="relu")


def classifier(num_classes=10):
    data = mx.sym.Variable("data")
    fc3 = mx.sym.FullyConnected(data, name="fc3", num_hidden=num_classes)
    return mx.sym.SoftmaxOutput(fc3, name="softmax")


def chain(features, head):
    seq = mx.mod.SequentialModule()
    seq.add(features).add(head, take_labels=True, auto_wiring=True)
    return seq


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(42)
    train, val = digits_iters(args.batch_size)

    features = mx.mod.Module(feature_extractor(), label_names=None)
    head = mx.mod.Module(classifier())
    seq = chain(features, head)
    seq.fit(train, eval_data=val, eval_metric="acc", optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4},
            initializer=mx.init.Xavier(magnitude=2.0), num_epoch=args.epochs,
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 20))
    (_, accuracy), = seq.score(val, "acc")
    predictions = seq.predict(val)
    print(f"validation accuracy {accuracy:.4f} after {args.epochs} epochs")

    with tempfile.TemporaryDirectory() as tmp:
        for i, member in enumerate((features, head)):
            member.save_checkpoint(os.path.join(tmp, f"stage{i}"), args.epochs)
        restored = chain(
            mx.mod.Module.load(os.path.join(tmp, "stage0"), args.epochs, label_names=None),
            mx.mod.Module.load(os.path.join(tmp, "stage1"), args.epochs))
        restored.bind(data_shapes=val.provide_data, label_shapes=val.provide_label,
                      for_training=False)
        restored.init_params()
        same = np.allclose(restored.predict(val).asnumpy(), predictions.asnumpy(), atol=1e-6)
    print(f"chain rebuilt from its members' checkpoints: predictions "
          f"{'identical' if same else 'DIFFER'}")
    if accuracy < 0.9 or not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
