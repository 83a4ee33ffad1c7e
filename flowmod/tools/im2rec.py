"""python -m flowmod.tools.im2rec PREFIX ROOT [options]

Makes image lists and packs images into RecordIO files, as MXNet's ``tools/im2rec.py``:

- with ``--list``: walks ROOT (``--recursive``: one label per sub-folder, in sorted order)
  and writes ``PREFIX.lst`` (``index<TAB>label<TAB>relative path`` lines), shuffled unless
  ``--no-shuffle``, split into ``--chunks`` and into ``_train``/``_val``/``_test`` lists by
  ``--train-ratio`` and ``--test-ratio``;
- without it: for every ``PREFIX*.lst`` file, reads the images under ROOT, optionally
  centre-crops them square (``--center-crop``) and resizes their shorter edge
  (``--resize``), encodes them (``--encoding`` .jpg/.png at ``--quality``) on
  ``--num-thread`` threads and writes ``.rec`` and ``.idx`` files beside the list, in list
  order. ``--pack-label`` stores all the labels of a line; ``--pass-through`` stores the
  files' bytes unchanged.

Progress goes to stderr as one line of text. An image that cannot be read is reported and
left out.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2

from .. import recordio

__all__ = ["main", "list_image", "make_list", "read_list", "encode_image"]


def list_image(root: str, recursive: bool, exts):
    """Yields ``(index, relative path, label)`` for the images under ``root``."""
    i = 0
    if recursive:
        cat: dict = {}
        for path, dirs, files in os.walk(root, followlinks=True):
            dirs.sort()
            files.sort()
            for fname in files:
                fpath = os.path.join(path, fname)
                if os.path.isfile(fpath) and os.path.splitext(fname)[1].lower() in exts:
                    if path not in cat:
                        cat[path] = len(cat)
                    yield (i, os.path.relpath(fpath, root), cat[path])
                    i += 1
        for k, v in sorted(cat.items(), key=lambda x: x[1]):
            print(os.path.relpath(k, root), v)
    else:
        for fname in sorted(os.listdir(root)):
            fpath = os.path.join(root, fname)
            if os.path.isfile(fpath) and os.path.splitext(fname)[1].lower() in exts:
                yield (i, os.path.relpath(fpath, root), 0)
                i += 1


def write_list(path_out: str, image_list) -> None:
    """Writes ``index<TAB>label...<TAB>path`` lines."""
    with open(path_out, "w") as fout:
        for item in image_list:
            fout.write(f"{item[0]}\t" + "".join(f"{j:f}\t" for j in item[2:]) + f"{item[1]}\n")


def make_list(args) -> None:
    """Writes the list file(s) of the images under ``args.root``."""
    image_list = list(list_image(args.root, args.recursive, args.exts))
    if args.shuffle:
        random.seed(100)
        random.shuffle(image_list)
    n = len(image_list)
    chunk_size = (n + args.chunks - 1) // args.chunks
    for i in range(args.chunks):
        chunk = image_list[i * chunk_size:(i + 1) * chunk_size]
        suffix = f"_{i}" if args.chunks > 1 else ""
        sep = int(chunk_size * args.train_ratio)
        sep_test = int(chunk_size * args.test_ratio)
        if args.train_ratio == 1.0:
            write_list(args.prefix + suffix + ".lst", chunk)
            continue
        if args.test_ratio:
            write_list(args.prefix + suffix + "_test.lst", chunk[:sep_test])
        if args.train_ratio + args.test_ratio < 1.0:
            write_list(args.prefix + suffix + "_val.lst", chunk[sep_test + sep:])
        write_list(args.prefix + suffix + "_train.lst", chunk[sep_test:sep_test + sep])


def read_list(path_in: str):
    """Yields ``[index, path, label...]`` for the lines of a list file."""
    with open(path_in) as fin:
        for line in fin:
            fields = [f.strip() for f in line.strip().split("\t")]
            if len(fields) < 3:
                print(f"lst should have at least has three parts, but only has "
                      f"{len(fields)} parts for {fields}", file=sys.stderr)
                continue
            try:
                yield [int(fields[0]), fields[-1]] + [float(f) for f in fields[1:-1]]
            except ValueError as e:
                print(f"Parsing lst met error for {fields}, detail: {e}", file=sys.stderr)


def encode_image(args, item) -> bytes | None:
    """The packed record of one list item, or None (reported) when it cannot be read."""
    fullpath = os.path.join(args.root, item[1])
    label = item[2:] if (len(item) > 3 and args.pack_label) else item[2]
    header = recordio.IRHeader(0, label, item[0], 0)
    if args.pass_through:
        try:
            with open(fullpath, "rb") as fin:
                return recordio.pack(header, fin.read())
        except OSError as e:
            print(f"pack error: {fullpath}: {e.strerror or e}", file=sys.stderr)
            return None
    img = cv2.imread(fullpath, args.color)
    if img is None:
        print(f"imread read blank (None) image for file: {fullpath}", file=sys.stderr)
        return None
    if args.center_crop:
        h, w = img.shape[:2]
        if h > w:
            margin = (h - w) // 2
            img = img[margin:margin + w, :]
        else:
            margin = (w - h) // 2
            img = img[:, margin:margin + h]
    if args.resize:
        h, w = img.shape[:2]
        size = (args.resize, h * args.resize // w) if h > w else (w * args.resize // h,
                                                                   args.resize)
        img = cv2.resize(img, size)
    try:
        return recordio.pack_img(header, img, quality=args.quality, img_fmt=args.encoding)
    except Exception as e:  # an encoder failure is reported and the image left out
        print(f"pack_img error on file: {fullpath}: {e}", file=sys.stderr)
        return None


class Progress:
    """A one-line progress bar on stderr, redrawn at most five times a second."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, done: int, force: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        bar = "#" * int(30 * frac)
        rate = done / max(now - self.start, 1e-9)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} "
                          f"{rate:.0f} img/s")
        self.stream.flush()

    def close(self) -> None:
        self.update(self.done, force=True)
        self.stream.write("\n")
        self.stream.flush()


def write_record(args, list_path: str, working_dir: str) -> int:
    """Packs the images of one list file into ``.rec``/``.idx`` beside it; the number
    written."""
    items = list(read_list(list_path))
    stem = os.path.splitext(os.path.basename(list_path))[0]
    record = recordio.MXIndexedRecordIO(os.path.join(working_dir, stem + ".idx"),
                                        os.path.join(working_dir, stem + ".rec"), "w")
    progress = Progress(len(items), stem)
    written = 0
    # OpenCV releases the GIL while it reads, resizes and encodes, so threads scale; map
    # keeps the list's order in the file.
    with ThreadPoolExecutor(max(1, args.num_thread)) as pool:
        for count, (item, s) in enumerate(zip(items, pool.map(
                lambda it: encode_image(args, it), items)), 1):
            if s is not None:
                record.write_idx(item[0], s)
                written += 1
            progress.update(count)
    progress.close()
    record.close()
    return written


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m flowmod.tools.im2rec",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Create an image list or make a record database by reading from an "
                    "image list")
    parser.add_argument("prefix", help="prefix of input/output lst and rec files.")
    parser.add_argument("root", help="path to folder containing images.")
    cgroup = parser.add_argument_group("Options for creating image lists")
    cgroup.add_argument("--list", action="store_true",
                        help="create image list(s) by traversing root and write them to "
                             "<prefix>.lst; otherwise read <prefix>*.lst and create .rec files")
    cgroup.add_argument("--exts", nargs="+", default=[".jpeg", ".jpg", ".png"],
                        help="list of acceptable image extensions.")
    cgroup.add_argument("--chunks", type=int, default=1, help="number of chunks.")
    cgroup.add_argument("--train-ratio", type=float, default=1.0,
                        help="Ratio of images to use for training.")
    cgroup.add_argument("--test-ratio", type=float, default=0,
                        help="Ratio of images to use for testing.")
    cgroup.add_argument("--recursive", action="store_true",
                        help="walk through sub-folders and give each one a label")
    cgroup.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                        help="keep the images in sorted order in <prefix>.lst")
    rgroup = parser.add_argument_group("Options for creating database")
    rgroup.add_argument("--pass-through", action="store_true",
                        help="whether to skip transformation and save image as is")
    rgroup.add_argument("--resize", type=int, default=0,
                        help="resize the shorter edge of image to the newsize")
    rgroup.add_argument("--center-crop", action="store_true",
                        help="crop the center of the image to make it square")
    rgroup.add_argument("--quality", type=int, default=95,
                        help="JPEG quality for encoding, 1-100; or PNG compression, 1-9")
    rgroup.add_argument("--num-thread", type=int, default=1,
                        help="number of threads to use for encoding")
    rgroup.add_argument("--color", type=int, default=1, choices=[-1, 0, 1],
                        help="1: color, 0: grayscale, -1: as stored, with alpha")
    rgroup.add_argument("--encoding", type=str, default=".jpg", choices=[".jpg", ".png"],
                        help="specify the encoding of the images.")
    rgroup.add_argument("--pack-label", action="store_true",
                        help="Whether to also pack multi dimensional label in the record file")
    args = parser.parse_args(argv)
    args.prefix = os.path.abspath(args.prefix)
    args.root = os.path.abspath(args.root)
    return args


def main(argv=None) -> int:
    """Runs im2rec with the command-line arguments ``argv``; the exit status."""
    args = parse_args(argv)
    if args.list:
        make_list(args)
        return 0
    working_dir = args.prefix if os.path.isdir(args.prefix) else os.path.dirname(args.prefix)
    lists = sorted(os.path.join(working_dir, f) for f in os.listdir(working_dir)
                   if os.path.isfile(os.path.join(working_dir, f)))
    lists = [f for f in lists if f.startswith(args.prefix) and f.endswith(".lst")]
    if not lists:
        print(f"Did not find and list file with prefix {args.prefix}", file=sys.stderr)
        return 1
    for fname in lists:
        print(f"Creating .rec file from {fname} in {working_dir}", file=sys.stderr)
        write_record(args, fname, working_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
