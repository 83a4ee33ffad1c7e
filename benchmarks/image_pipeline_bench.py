"""Image input pipeline: ImageRecordIter's images/s beside MXNet 1.9.1's and beside the
decoder's own limit.

    python benchmarks/image_pipeline_bench.py [--images 512] [--threads 2] [--repeat 3]

Packs --images synthetic 256x256 JPEGs (quality 90: smooth gradients with noise, about 25 KB
each, as photos compress) into a temporary .rec, then times whole epochs of the pipeline
decode + random crop 224 + random mirror + mean/std normalize at batch 64 on --threads
threads:

- ``flowmod``: ``mx.io.ImageRecordIter`` (each batch an NDArray, ready to compute on);
- ``MXNet 1.9.1``: its ``mx.io.ImageRecordIter`` on the same file, run in the Python that
  FLOWMOD_PEER_MXNET names (skipped when unset);
- ``limit``: OpenCV's single-thread decode rate on the same JPEGs times --threads, what
  the threads could reach if they did nothing but decode.

The frameworks take turns, --repeat times; the best epoch of each is kept.

Then the same pipeline feeding a small CNN (two convolutions, pooling, a fully connected
layer) in ``Module.fit``, --fit-threads decoding threads, timed per epoch after a first one
(bind, initialization, warm caches):

- ``load``: an epoch of the iterator alone;
- ``compute``: an epoch of ``fit`` on the same number of batches held in memory;
- ``fit``: an epoch of ``fit`` reading the iterator, which should overlap the two:
  ``fit / max(load, compute)`` near 1 (they share the CPUs: on a machine without spare
  cores it tends to ``(load + compute) / max``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import cv2
import numpy as np

import flowmod as mx

ITER_ARGS = dict(data_shape=(3, 224, 224), batch_size=64, rand_crop=True, rand_mirror=True,
                 mean_r=123.68, mean_g=116.28, mean_b=103.53, std_r=58.395, std_g=57.12,
                 std_b=57.375, round_batch=False)

MXNET_CODE = """
import json, sys, time, logging
logging.disable(logging.INFO)
import mxnet as mx
args = json.loads(sys.argv[1])
cpu = time.process_time()
it = mx.io.ImageRecordIter(path_imgrec=args["rec"], preprocess_threads=args["threads"],
                           **args["iter"])
start = time.perf_counter()
n = 0
for batch in it:
    batch.data[0].wait_to_read()
    n += batch.data[0].shape[0] - batch.pad
print(json.dumps({"images": n, "seconds": time.perf_counter() - start,
                  "cpu": time.process_time() - cpu}))
"""


def synthetic_jpeg(rng: np.random.RandomState) -> np.ndarray:
    y, x = np.mgrid[0:256, 0:256]
    a, b, c = rng.randint(1, 4, 3)
    img = np.stack([(a * x + y) % 256, (b * x) % 256, (255 - c * y) % 256], -1)
    return np.clip(img + rng.randint(-20, 20, img.shape), 0, 255).astype(np.uint8)


def make_rec(path: str, count: int) -> list[bytes]:
    rng = np.random.RandomState(0)
    w = mx.recordio.MXRecordIO(path, "w")
    payloads = []
    for i in range(count):
        ok, buf = cv2.imencode(".jpg", synthetic_jpeg(rng), [cv2.IMWRITE_JPEG_QUALITY, 90])
        payloads.append(buf.tobytes())
        w.write(mx.recordio.pack(mx.recordio.IRHeader(0, float(i % 10), i, 0), payloads[-1]))
    w.close()
    return payloads


def decode_rate(payloads: list[bytes]) -> dict:
    start, cpu = time.perf_counter(), time.thread_time()
    for p in payloads:
        cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR)
    return {"rate": len(payloads) / (time.perf_counter() - start),
            "cpu": (time.thread_time() - cpu) / len(payloads) * 1e6}


def flowmod_epoch(rec: str, threads: int) -> dict:
    """Images/s from the first batch asked for, and the process's CPU microseconds per
    image from the iterator's construction (its loader starts there, as MXNet's)."""
    cpu = time.process_time()
    it = mx.io.ImageRecordIter(path_imgrec=rec, preprocess_threads=threads, verbose=False,
                               **ITER_ARGS)
    # The loader starts at construction; time from the first batch asked for, as MXNet's.
    start = time.perf_counter()
    n = 0
    for batch in it:
        batch.data[0].wait_to_read()
        n += batch.data[0].shape[0] - batch.pad
    seconds = time.perf_counter() - start
    it.close()
    return {"rate": n / seconds, "cpu": (time.process_time() - cpu) / n * 1e6}


def mxnet_epoch(rec: str, threads: int) -> dict | None:
    python = os.environ.get("FLOWMOD_PEER_MXNET")
    if not python:
        return None
    args = json.dumps({"rec": rec, "threads": threads, "iter": ITER_ARGS})
    res = subprocess.run([python, "-c", textwrap.dedent(MXNET_CODE), args],
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"rate": out["images"] / out["seconds"], "cpu": out["cpu"] / out["images"] * 1e6}


def small_cnn():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(7, 7), stride=(4, 4), num_filter=16, name="c1")
    net = mx.sym.Pooling(mx.sym.Activation(net, act_type="relu"), kernel=(3, 3),
                         stride=(2, 2), pool_type="max")
    net = mx.sym.Convolution(net, kernel=(3, 3), stride=(2, 2), num_filter=32, name="c2")
    net = mx.sym.Pooling(mx.sym.Activation(net, act_type="relu"), kernel=(1, 1),
                         global_pool=True, pool_type="avg")
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


class _HeldBatch(mx.io.DataBatch):
    new_arrays = True  # as ImageRecordIter's: fit keeps them without a copy


class _Held(mx.io.DataIter):
    """Batches held in memory: fit's compute alone."""

    def __init__(self, batches, like):
        super().__init__(like.batch_size)
        self.batches, self.pos = batches, 0
        self.provide_data, self.provide_label = like.provide_data, like.provide_label

    def reset(self):
        self.pos = 0

    def next(self):
        if self.pos == len(self.batches):
            raise StopIteration
        self.pos += 1
        return self.batches[self.pos - 1]


def _second_epoch(train) -> tuple[float, float]:
    """Wall and process CPU seconds of fit's second epoch on ``train`` (the first binds and
    warms up)."""
    marks = []
    mod = mx.mod.Module(small_cnn(), context=mx.cpu())
    mod.fit(train, num_epoch=2, optimizer_params={"learning_rate": 0.01},
            initializer=mx.init.Xavier(),
            epoch_end_callback=lambda *a: marks.append((time.perf_counter(),
                                                        time.process_time())))
    return marks[1][0] - marks[0][0], marks[1][1] - marks[0][1]


def _load_epoch(it) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for batch in it:
        batch.data[0].wait_to_read()
    return time.perf_counter() - start, time.process_time() - cpu


def fit_overlap(rec: str, threads: int, repeat: int) -> dict:
    """(wall, CPU) seconds per epoch of load, compute and fit: the best of ``repeat``
    turns, which take turns."""
    args = dict(ITER_ARGS, round_batch=True)
    it = mx.io.ImageRecordIter(path_imgrec=rec, preprocess_threads=threads, verbose=False,
                               **args)
    held = _Held([_HeldBatch(b.data, b.label, pad=b.pad) for b in it], it)
    it.reset()
    best = {}
    for _ in range(repeat):
        for name, run in (("load", lambda: _load_epoch(it)),
                          ("compute", lambda: _second_epoch(held)),
                          ("fit", lambda: _second_epoch(it))):
            wall, cpu = run()
            it.reset()
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    it.close()
    best["batches"] = len(held.batches)
    return best


def report(best: dict, threads: int) -> None:
    limit = {"rate": best["decode"]["rate"] * threads, "cpu": best["decode"]["cpu"]}
    rows = [("flowmod ImageRecordIter", best["flowmod"])]
    if "MXNet 1.9.1" in best:
        rows.append(("MXNet 1.9.1 ImageRecordIter", best["MXNet 1.9.1"]))
    rows.append((f"limit: decode x {threads} threads", limit))
    print(f"{'pipeline':<30}{'images/s':>10}{'CPU us/image':>14}")
    for name, r in rows:
        print(f"{name:<30}{r['rate']:>10.0f}{r['cpu']:>14.0f}")
    f = best["flowmod"]
    if "MXNet 1.9.1" in best:
        m = best["MXNet 1.9.1"]
        print(f"flowmod / MXNet: {f['rate'] / m['rate']:.2f}x images/s, "
              f"{m['cpu'] / f['cpu']:.2f}x CPU efficiency")
    else:
        print("(set FLOWMOD_PEER_MXNET to a Python with MXNet 1.9.1 for its row)")
    print(f"limit / flowmod: {limit['rate'] / f['rate']:.2f}x images/s, "
          f"{f['cpu'] / limit['cpu']:.2f}x CPU per image (1.00 = decoding only; images/s "
          f"reach the limit only with {threads} idle cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="turns per framework; best kept")
    parser.add_argument("--fit-threads", type=int, default=1,
                        help="decoding threads while fit computes (0: skip the fit test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec = os.path.join(tmp, "bench.rec")
        payloads = make_rec(rec, args.images)
        print(f"{args.images} JPEGs 256x256 q90, {np.mean([len(p) for p in payloads]) / 1e3:.1f}"
              f" KB each; crop 224 + mirror + normalize, batch 64, {args.threads} threads; "
              f"OpenCV {cv2.__version__}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        best: dict = {}

        def keep(name, result):
            if result is not None:
                old = best.get(name, {"rate": 0.0, "cpu": float("inf")})
                best[name] = {"rate": max(old["rate"], result["rate"]),
                              "cpu": min(old["cpu"], result["cpu"])}

        for _ in range(args.repeat):
            keep("decode", decode_rate(payloads[:128]))
            keep("flowmod", flowmod_epoch(rec, args.threads))
            keep("MXNet 1.9.1", mxnet_epoch(rec, args.threads))
        fit = fit_overlap(rec, args.fit_threads, args.repeat) if args.fit_threads else None
    report(best, args.threads)
    if fit is not None:
        print(f"fit of a small CNN, {fit['batches']} batches per epoch, {args.fit_threads} "
              f"decoding thread(s):")
        for name in ("load", "compute", "fit"):
            print(f"  {name:<8}{fit[name][0]:>7.2f} s wall {fit[name][1]:>7.2f} s CPU")
        bound = max(fit["load"][0], fit["compute"][0])
        print(f"fit / max(load, compute) = {fit['fit'][0] / bound:.2f} (wall); "
              f"fit / (load + compute) = "
              f"{fit['fit'][0] / (fit['load'][0] + fit['compute'][0]):.2f}; fit CPU / (load "
              f"+ compute CPU) = {fit['fit'][1] / (fit['load'][1] + fit['compute'][1]):.2f}")


if __name__ == "__main__":
    sys.exit(main())
