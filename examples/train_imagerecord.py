"""Train LeNet on images packed into RecordIO files, read by ``mx.io.ImageRecordIter``: the
MXNet image workflow, unchanged but for ``import flowmod as mx``.

    python examples/train_imagerecord.py [--epochs 8] [--batch-size 32] [--workdir DIR]

1. Writes scikit-learn's 1797 handwritten digits (8x8, upscaled to 28x28) as PNG files,
   one folder per class, under the work directory.
2. Packs them with the packing tool, as one would with MXNet's ``tools/im2rec.py``:
   ``python -m flowmod.tools.im2rec --list --recursive --train-ratio 0.8`` makes the
   image lists, ``python -m flowmod.tools.im2rec --color 0 --quality 95`` encodes the
   images as grayscale JPEGs into ``digits_train.rec`` and ``digits_val.rec``.
3. Trains LeNet with ``Module.fit`` on an ImageRecordIter that augments every epoch
   (padding by 2 pixels then a random 28x28 crop: shifts of up to 2 pixels; small random
   rotations), decoding on two threads while the network computes, and scores the
   validation records (centre crop, no augmentation). It prints the validation accuracy.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

import flowmod as mx


def write_digits(root: str) -> int:
    """The digits as 28x28 PNG files, ROOT/<class>/<n>.png; their number."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        os.makedirs(os.path.join(root, str(label)), exist_ok=True)
    for i, (img, label) in enumerate(zip(digits.images, digits.target)):
        pixels = np.clip(img * 16, 0, 255).astype(np.uint8)
        big = cv2.resize(pixels, (28, 28), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(os.path.join(root, str(label), f"{i:04d}.png"), big)
    return len(digits.images)


def im2rec(*args: str) -> None:
    """Runs the packing tool as a command, as a user would."""
    subprocess.run([sys.executable, "-m", "flowmod.tools.im2rec", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pack(workdir: str) -> str:
    """Lists and packs the digits; the prefix of digits_{train,val}.rec."""
    root = os.path.join(workdir, "images")
    write_digits(root)
    prefix = os.path.join(workdir, "digits")
    im2rec("--list", "--recursive", "--train-ratio", "0.8", prefix, root)
    im2rec("--color", "0", "--quality", "95", "--encoding", ".jpg", "--num-thread", "2",
           prefix, root)
    return prefix


def lenet():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Flatten(net)
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def iterators(prefix: str, batch_size: int):
    common = dict(data_shape=(1, 28, 28), batch_size=batch_size, scale=1.0 / 255,
                  preprocess_threads=2)
    train = mx.io.ImageRecordIter(path_imgrec=prefix + "_train.rec", shuffle=True,
                                  rand_crop=True, pad=2, fill_value=0, max_rotate_angle=8,
                                  seed=1, **common)
    # 360 validation images: batches of 40 hold them exactly, with no padded slot counted.
    val = mx.io.ImageRecordIter(path_imgrec=prefix + "_val.rec", round_batch=False,
                                **dict(common, batch_size=40))
    return train, val


def count_records(path: str) -> int:
    """The number of records in a .rec file (read, not decoded)."""
    reader = mx.recordio.MXRecordIO(path, "r")
    count = 0
    while reader.read() is not None:
        count += 1
    reader.close()
    return count


def train(prefix: str, epochs: int, batch_size: int) -> float:
    mx.random.seed(0)  # the initial weights; the iterators draw from their own seeds
    train_iter, val_iter = iterators(prefix, batch_size)
    mod = mx.mod.Module(lenet(), context=mx.cpu())
    # The rate drops by 5x after half the epochs and again after three quarters, so that the
    # last epochs settle instead of swinging by a few percent with every rounding difference.
    per_epoch = -(-count_records(prefix + "_train.rec") // batch_size)
    steps = [max(1, epochs * per_epoch // 2), max(2, epochs * per_epoch * 3 // 4)]
    schedule = mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=0.2)
    mod.fit(train_iter, eval_data=val_iter, num_epoch=epochs, optimizer="sgd",
            optimizer_params={"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-4,
                              "lr_scheduler": schedule},
            initializer=mx.init.Xavier(),
            batch_end_callback=mx.callback.Speedometer(batch_size, 20))
    val_iter.reset()
    accuracy = dict(mod.score(val_iter, "acc"))["accuracy"]
    for it in (train_iter, val_iter):
        it.close()
    return accuracy


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workdir", default=None,
                        help="where to write the images and .rec files (default: a "
                             "temporary directory, removed afterwards)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        prefix = pack(workdir)
        packed = time.perf_counter()
        accuracy = train(prefix, args.epochs, args.batch_size)
    print(f"packed in {packed - start:.1f} s, trained {args.epochs} epochs in "
          f"{time.perf_counter() - packed:.1f} s; validation accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
