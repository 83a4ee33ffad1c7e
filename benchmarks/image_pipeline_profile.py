"""Where ImageRecordIter's time goes, per image: the stages of one worker on one thread, then
the whole iterator on 1 and 2 threads beside OpenCV's decode alone on 1 and 2 threads.

    python benchmarks/image_pipeline_profile.py [--images 256]

Same file and pipeline as image_pipeline_bench.py (256x256 JPEGs q90, random crop 224,
mirror, normalize, batch 64). Stages, single thread, in CPU microseconds per image (the
thread's CPU time, which other programs on a busy machine do not inflate):

- ``read``: the record's bytes from the file (``os.pread``) and its header;
- ``decode``: ``cv2.imdecode`` to an HWC BGR array;
- ``crop``: the augmenter (here the random crop, a view);
- ``to CHW``: BGR -> RGB, mirror, (pixel - mean) / std, HWC -> CHW into the batch slot;
- ``worker total``: ``ImageRecordIter._work`` on a batch's records, which also draws the
  random numbers and fills labels; ``python`` is what it adds to the stages above: time
  spent holding the GIL.

Then images/s of an epoch (batch assembly and the copy to an NDArray included) on 1 and 2
threads, and decoding alone on 1 and 2 Python threads: if the two decode threads do not
reach about twice one, the CPUs are not free (or OpenCV is not releasing the GIL).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import image_pipeline_bench as bench  # noqa: E402

import flowmod as mx  # noqa: E402
from flowmod.io import image_record_aug as aug  # noqa: E402


def _best(fn, repeat: int = 3, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def stages(rec: str, n: int, repeat: int) -> dict:
    """Microseconds per image of each stage; the stages take turns ``repeat`` times and the
    best turn of each is kept, so a busy moment of the machine hits them all alike."""
    it = mx.io.ImageRecordIter(path_imgrec=rec, preprocess_threads=1, verbose=False,
                               **bench.ITER_ARGS)
    offsets = [int(o) for o in it._offsets[:n]]
    payloads = [it._payload(o)[1] for o in offsets]
    images = [aug.decode(p, 3) for p in payloads]
    crops = [aug.augment(img, it._aug, random.Random(i)) for i, img in enumerate(images)]
    out = np.empty((3, 224, 224), np.float32)
    rng = random.Random(0)
    job = it._submit(it._offsets[:64])
    it._wait(job)
    job.update(data=np.empty((n, 3, 224, 224), np.float32),
               label=np.empty((n, 1), np.float32), index=np.empty(n, np.uint64))
    seeds, slots = np.arange(n), list(range(n))
    work = {
        "read": lambda: [it._payload(o) for o in offsets],
        "decode": lambda: [aug.decode(p, 3) for p in payloads],
        "crop": lambda: [aug.augment(img, it._aug, rng) for img in images],
        "worker total": lambda: it._work(job, it._offsets[:n], seeds, slots),
    }
    if hasattr(aug, "write_slot"):
        work["to CHW"] = lambda: [aug.write_slot(c, it._aug, rng, out, None) for c in crops]
    else:  # an older tree: the whole image's work less decoding and cropping
        work["image"] = lambda: [aug.process_image(p, it._aug, rng, out, None)
                                 for p in payloads]
    best = dict.fromkeys(work, float("inf"))
    for _ in range(repeat):
        for name, fn in work.items():
            best[name] = min(best[name], _best(fn, 1, time.thread_time))
    us = {k: v / n * 1e6 for k, v in best.items()}
    if "image" in us:
        us["to CHW"] = us.pop("image") - us["decode"] - us["crop"]
    us["python"] = us["worker total"] - sum(us[k] for k in ("read", "decode", "crop",
                                                           "to CHW"))
    it.close()
    return {k: us[k] for k in ("read", "decode", "crop", "to CHW", "worker total", "python")}


def decode_threads(payloads: list[bytes], threads: int) -> float:
    """Images/s of cv2.imdecode alone on ``threads`` Python threads."""
    share = [payloads[i::threads] for i in range(threads)]

    def run(part):
        for p in part:
            cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR)

    def all_threads():
        ts = [threading.Thread(target=run, args=(s,)) for s in share]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    return len(payloads) / _best(all_threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5, help="turns per stage; best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec = os.path.join(tmp, "bench.rec")
        payloads = bench.make_rec(rec, args.images)
        print(f"OpenCV {cv2.__version__}: cv2.getNumThreads() = {cv2.getNumThreads()}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print("single thread, CPU us per image:")
        for name, value in stages(rec, min(args.images, 128), args.repeat).items():
            print(f"  {name:<14}{value:>8.0f}")
        for threads in (1, 2):
            runs = [bench.flowmod_epoch(rec, threads) for _ in range(args.repeat)]
            rate = max(r["rate"] for r in runs)
            cpu = min(r["cpu"] for r in runs)
            print(f"ImageRecordIter, {threads} thread(s): {rate:>6.0f} images/s, "
                  f"{cpu:.0f} CPU us per image (process)")
        for threads in (1, 2):
            rate = max(decode_threads(payloads, threads) for _ in range(args.repeat))
            print(f"imdecode alone, {threads} thread(s): {rate:>6.0f} images/s")


if __name__ == "__main__":
    sys.exit(main())
