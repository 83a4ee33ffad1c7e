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
it = mx.io.ImageRecordIter(path_imgrec=args["rec"], preprocess_threads=args["threads"],
                           **args["iter"])
start = time.perf_counter()
n = 0
for batch in it:
    batch.data[0].wait_to_read()
    n += batch.data[0].shape[0] - batch.pad
print(json.dumps({"images": n, "seconds": time.perf_counter() - start}))
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


def decode_rate(payloads: list[bytes]) -> float:
    start = time.perf_counter()
    for p in payloads:
        cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR)
    return len(payloads) / (time.perf_counter() - start)


def flowmod_epoch(rec: str, threads: int) -> float:
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
    return n / seconds


def mxnet_epoch(rec: str, threads: int) -> float | None:
    python = os.environ.get("FLOWMOD_PEER_MXNET")
    if not python:
        return None
    args = json.dumps({"rec": rec, "threads": threads, "iter": ITER_ARGS})
    res = subprocess.run([python, "-c", textwrap.dedent(MXNET_CODE), args],
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out["images"] / out["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="turns per framework; best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec = os.path.join(tmp, "bench.rec")
        payloads = make_rec(rec, args.images)
        print(f"{args.images} JPEGs 256x256 q90, {np.mean([len(p) for p in payloads]) / 1e3:.1f}"
              f" KB each; crop 224 + mirror + normalize, batch 64, {args.threads} threads; "
              f"OpenCV {cv2.__version__}, {os.cpu_count()} CPUs")
        best = {"flowmod": 0.0, "MXNet 1.9.1": 0.0, "decode": 0.0}
        for _ in range(args.repeat):
            best["decode"] = max(best["decode"], decode_rate(payloads[:128]))
            best["flowmod"] = max(best["flowmod"], flowmod_epoch(rec, args.threads))
            peer = mxnet_epoch(rec, args.threads)
            if peer is not None:
                best["MXNet 1.9.1"] = max(best["MXNet 1.9.1"], peer)
    limit = best["decode"] * args.threads
    print(f"{'pipeline':<28}{'images/s':>10}")
    print(f"{'flowmod ImageRecordIter':<28}{best['flowmod']:>10.0f}")
    if best["MXNet 1.9.1"]:
        print(f"{'MXNet 1.9.1 ImageRecordIter':<28}{best['MXNet 1.9.1']:>10.0f}   "
              f"flowmod / MXNet = {best['flowmod'] / best['MXNet 1.9.1']:.2f}x")
    else:
        print("(set FLOWMOD_PEER_MXNET to a Python with MXNet 1.9.1 for its row)")
    print(f"{'decode only x threads':<28}{limit:>10.0f}   "
          f"limit / flowmod = {limit / best['flowmod']:.2f}x "
          f"(single-thread decode {best['decode']:.0f}/s)")


if __name__ == "__main__":
    sys.exit(main())
