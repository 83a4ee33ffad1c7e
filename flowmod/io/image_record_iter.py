"""``mx.io.ImageRecordIter`` and ``ImageRecordUInt8Iter``: batches of augmented images from
a RecordIO file, decoded on ``preprocess_threads`` threads and read ``prefetch_buffer``
batches ahead.

One loader thread per epoch walks the records of this part in order (shuffled per epoch
with ``shuffle``), cuts them into batches and hands each batch's images, in chunks, to a
pool of ``preprocess_threads`` workers. A worker reads its records with ``os.pread`` from
the shared file descriptor and decodes, augments and normalizes each one straight into its
slot of the batch's NDArray storage (a new array, which no operation can see yet); those
are OpenCV and native calls on whole images that release the GIL, so the workers run in
parallel with each other and with training, and a batch is never copied. The loader keeps
up to ``prefetch_buffer`` batches in flight and queues the finished ones; ``next`` takes
the oldest. ``Module.fit``'s own prefetching reads from this queue.

An image that does not decode is skipped with a warning and counted (``statistics()``);
its slot is filled from the next record, so each record of the part is still given once
per epoch; skipped records are counted in ``statistics()`` and in the telemetry counter
``flowmod_io_corrupt_records_total{iterator=telemetry_name}``. ``raise_on_corrupt=True``
raises MXNetError instead.
"""
from __future__ import annotations

import logging
import numbers
import os
import queue
import random
import threading
import warnings
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import _native, recordio
from . import io_stats
from ..base import MXNetError
from ..ndarray import NDArray
from ..ndarray import array as nd_array
from ..ndarray import empty as nd_empty
from .image_record_aug import AugParams, CorruptImage, augment, decode, process_image
from ..image.imglist import read_imglist
from .io import DataBatch, DataDesc, DataIter

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["ImageRecordIter", "ImageRecordUInt8Iter", "ImageRecordIterStats"]

_DTYPES = ("float32", "float16", "uint8", "int8")
_END = object()
# Images a worker takes at a time: few enough to balance the threads within one batch,
# enough that handing them out costs nothing beside decoding.
_CHUNK = 4


@dataclass(frozen=True)
class ImageRecordIterStats:
    """What an ImageRecordIter has done: images decoded, images skipped as corrupt, and
    batches given."""
    images: int
    skipped: int
    batches: int


def _int_arg(value, arg: str, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise MXNetError(f"ImageRecordIter: {arg}={value!r}: expected an integer >= {low}")
    return int(value)


def _path_arg(value, arg: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, (str, os.PathLike)):
        raise MXNetError(f"ImageRecordIter: {arg}={value!r}: expected a file path")
    return os.fspath(value)


def _read_imglist(path: str, label_width: int) -> dict:
    """Image id -> label_width float32 labels, from ``index<TAB>labels...<TAB>path``."""
    labels = {}
    for index, fields, _ in read_imglist(path, "ImageRecordIter"):
        if len(fields) < label_width:
            raise MXNetError(f"ImageRecordIter: path_imglist={path!r}: image {index} has "
                             f"{len(fields)} labels, label_width={label_width}")
        labels[index] = np.array(fields[:label_width], dtype=np.float32)
    return labels


class _Epoch:
    """One epoch's loader thread and the queue of batches it fills.

    It holds its iterator through a weak reference, so an iterator nobody refers to is
    collected while its loader waits on a full queue, and its ``__del__`` stops the loader.
    """

    def __init__(self, it: "ImageRecordIter", order: np.ndarray, carry: int):
        self.it = weakref.proxy(it)
        self.order = order
        self.pos = carry
        self.batches: queue.Queue = queue.Queue(maxsize=it.prefetch_buffer)
        self.stopped = False
        self.finished = False
        self.next_order: np.ndarray | None = None
        self.next_carry = 0
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="ImageRecordIter-loader")
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stopped:
            try:
                self.batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, n: int) -> np.ndarray:
        taken = self.order[self.pos:self.pos + n]
        self.pos += len(taken)
        return taken

    def _run(self) -> None:
        try:
            self._load()
        except ReferenceError:  # the iterator was collected
            self.stopped = True
        except BaseException as e:  # raised by next() in the consumer's frame
            self._put((None, e))

    def _load(self) -> None:
        in_flight: deque = deque()
        while not self.stopped:
            records = self._take(self.it.batch_size)
            if len(records) == 0:
                break
            in_flight.append(self.it._submit(records))
            if len(in_flight) > self.it.prefetch_buffer:
                if not self._finish(in_flight.popleft(), in_flight):
                    return
        while in_flight and not self.stopped:
            if not self._finish(in_flight.popleft(), in_flight):
                return
        self._put((_END, None))

    def _finish(self, job, in_flight: deque) -> bool:
        """Waits for a batch, fills the slots of skipped images (from the records not yet
        handed out, else from the batches after it; at the end of the data, per
        round_batch) and queues it."""
        it = self.it
        bs = it.batch_size
        filled = it._wait(job)
        while filled < bs and not self.stopped:
            more = self._take(bs - filled)
            if len(more):
                filled = it._refill(job, more, filled)
            elif in_flight:
                filled = it._borrow(job, filled, in_flight[0])
                if in_flight[0]["filled"] == 0:
                    in_flight.popleft()
            else:
                break
        pad = bs - filled
        if pad and not it.round_batch:
            job["data"][filled:] = 0
            job["label"][filled:] = 0
        if pad and it.round_batch and not self.stopped:
            # As MXNet: the batch is completed from the beginning of the next epoch's order,
            # which then starts after those records.
            self.next_order = it._new_order()
            self.order, self.pos = self.next_order, 0
            while filled < bs:
                more = self._take(bs - filled)
                if len(more) == 0:
                    raise MXNetError("ImageRecordIter: number of input images must be bigger "
                                     "than the batch size")
                filled = it._refill(job, more, filled)
            self.next_carry = self.pos
        return self._put((it._to_batch(job, pad), None))


class _NewBatch(DataBatch):
    """A batch of new arrays, which the iterator never writes again: read-ahead (fit's
    prefetching, ``BatchRecord``) may keep them without a copy."""

    _fresh_arrays = True


class ImageRecordIter(DataIter):
    """ImageRecordIter(path_imgrec, data_shape, batch_size, path_imgidx='',
    path_imglist='', label_width=1, shuffle=False, seed=0, rand_crop=False,
    rand_mirror=False, mirror=False, resize=-1, max_random_scale=1.0,
    min_random_scale=1.0, mean_r=0, mean_g=0, mean_b=0, mean_a=0, std_r=1, std_g=1,
    std_b=1, std_a=1, scale=1.0, mean_img='', preprocess_threads=4, prefetch_buffer=4,
    round_batch=True, num_parts=1, part_index=0, dtype='float32', data_name='data',
    label_name='softmax_label', raise_on_corrupt=False, telemetry_name=None,
    **augmenter arguments)

    Batches of images from a RecordIO file (as ``im2rec`` packs them), as
    ``mx.io.ImageRecordIter``. Each image is decoded, resized so its shorter edge is
    ``resize`` (if > 0), scaled by a random factor in [``min_random_scale``,
    ``max_random_scale``], cropped to ``data_shape`` (C, H, W) at a random place
    (``rand_crop``) or in the centre, mirrored with probability 0.5 (``rand_mirror``) and
    written as RGB planes ``(pixel - mean_c) * scale / std_c`` (``mean_img``: a per-pixel
    mean image file, computed and saved on first use as MXNet does). MXNet's other
    ``aug_default`` arguments work too: ``max_rotate_angle``, ``max_shear_ratio``,
    ``max_aspect_ratio``, ``min_aspect_ratio``, ``random_resized_crop``,
    ``max_random_area``, ``min_random_area``, ``max_crop_size``, ``min_crop_size``,
    ``max_img_size``, ``min_img_size``, ``brightness``, ``contrast``, ``saturation``,
    ``random_h``, ``random_s``, ``random_l``, ``pca_noise``, ``rotate``, ``fill_value``,
    ``pad``, ``inter_method``, ``max_random_contrast``, ``max_random_illumination``.

    Labels are the records' (``label_width`` of them) or, with ``path_imglist``, the
    list's labels for the record's id. Data batches are ``(batch_size,) + data_shape`` of
    ``dtype`` ('float32', 'float16', 'uint8' raw pixels, 'int8' pixels minus the rounded
    mean); labels float32 ``(batch_size,)`` or ``(batch_size, label_width)``; ``index``
    holds the records' ids.

    ``num_parts``/``part_index`` read the ``part_index``-th of ``num_parts`` parts, cut as
    MXNet cuts them (with ``path_imgidx``: slices of ceil(n / num_parts) records; without:
    the records starting in each of ``num_parts`` equal byte ranges of the file); every
    record is in exactly one part. ``shuffle`` permutes this
    part's records every epoch from ``seed``; random augmentation is seeded from ``seed``
    too, or from ``seed_aug`` when given. With ``round_batch`` the last batch is completed from the start of the next
    epoch, which then begins after those images (``pad`` counts them); without it ``pad``
    counts the unfilled slots, which hold zeros (MXNet 1.9 reports ``pad`` 0 there and
    leaves stale values).

    A record whose image does not decode is skipped with a RuntimeWarning (its slot taken
    by the next record) and counted in ``statistics().skipped`` and in the telemetry
    counter ``flowmod_io_corrupt_records_total{iterator=telemetry_name}`` (default: the
    .rec file's name); with ``raise_on_corrupt=True`` ``next()`` raises MXNetError naming
    the record's offset and id.
    """

    _DEFAULT_DTYPE = "float32"

    def __init__(self, path_imgrec="", data_shape=None, batch_size: int = None,
                 path_imgidx="", path_imglist="", label_width: int = 1,
                 shuffle: bool = False, seed: int = 0, rand_crop: bool = False,
                 rand_mirror: bool = False, mirror: bool = False, resize: int = -1,
                 max_random_scale: float = 1.0, min_random_scale: float = 1.0,
                 mean_r: float = 0.0, mean_g: float = 0.0, mean_b: float = 0.0,
                 mean_a: float = 0.0, std_r: float = 1.0, std_g: float = 1.0,
                 std_b: float = 1.0, std_a: float = 1.0, scale: float = 1.0,
                 mean_img="", preprocess_threads: int = 4, prefetch_buffer: int = 4,
                 round_batch: bool = True, num_parts: int = 1, part_index: int = 0,
                 dtype=None, data_name: str = "data", label_name: str = "softmax_label",
                 raise_on_corrupt: bool = False, verbose: bool = True,
                 telemetry_name: str | None = None, **kwargs):
        self.path_imgrec = _path_arg(path_imgrec, "path_imgrec")
        if not self.path_imgrec:
            raise MXNetError("ImageRecordIter: path_imgrec is required: the .rec file to "
                             "read")
        if data_shape is None or batch_size is None:
            raise MXNetError("ImageRecordIter: data_shape and batch_size are required")
        shape = tuple(data_shape) if not isinstance(data_shape, numbers.Integral) else ()
        if len(shape) != 3 or shape[0] not in (1, 3, 4) or min(shape) <= 0:
            raise MXNetError(f"ImageRecordIter: data_shape={data_shape!r}: expected (C, H, W) "
                             f"with C 1, 3 or 4")
        super().__init__(_int_arg(batch_size, "batch_size", 1))
        self.data_shape = tuple(int(d) for d in shape)
        self.label_width = _int_arg(label_width, "label_width", 1)
        self.preprocess_threads = _int_arg(preprocess_threads, "preprocess_threads", 1)
        self.prefetch_buffer = _int_arg(prefetch_buffer, "prefetch_buffer", 1)
        self.num_parts = _int_arg(num_parts, "num_parts", 1)
        self.part_index = _int_arg(part_index, "part_index", 0)
        if self.part_index >= self.num_parts:
            raise MXNetError(f"ImageRecordIter: part_index={part_index!r}: expected an "
                             f"integer in [0, num_parts={self.num_parts})")
        dtype = self._DEFAULT_DTYPE if dtype is None else np.dtype(dtype).name
        if dtype not in _DTYPES:
            raise MXNetError(f"ImageRecordIter: dtype={dtype!r}: expected one of "
                             f"{', '.join(_DTYPES)}")
        self.dtype = np.dtype(dtype)
        self.shuffle, self.seed = bool(shuffle), int(seed)
        self.round_batch = bool(round_batch)
        self.raise_on_corrupt = bool(raise_on_corrupt)
        if telemetry_name is not None and not (isinstance(telemetry_name, str)
                                               and telemetry_name):
            raise MXNetError(f"ImageRecordIter: telemetry_name={telemetry_name!r}: expected a "
                             f"non-empty string")
        self.telemetry_name = telemetry_name or os.path.basename(self.path_imgrec)
        self.data_name, self.label_name = data_name, label_name
        self._aug = self._aug_params(kwargs, rand_crop=bool(rand_crop),
                                     rand_mirror=bool(rand_mirror), mirror=bool(mirror),
                                     resize=int(resize), max_random_scale=max_random_scale,
                                     min_random_scale=min_random_scale,
                                     mean=(mean_r, mean_g, mean_b, mean_a),
                                     std=(std_r, std_g, std_b, std_a), scale=scale)
        seed_aug = self._placement_and_sequence_args(kwargs)
        self._kwargs = kwargs
        self._open_records(_path_arg(path_imgidx, "path_imgidx"))
        imglist = _path_arg(path_imglist, "path_imglist")
        self._labels = _read_imglist(imglist, self.label_width) if imglist else None
        self._pool = ThreadPoolExecutor(self.preprocess_threads,
                                        thread_name_prefix="ImageRecordIter-worker")
        self._stats_lock = threading.Lock()
        self._images = self._skipped = self._batches = 0
        self._order_rng = np.random.RandomState(self.seed)
        self._aug_rng = np.random.RandomState(self.seed + 0x5EED if seed_aug is None
                                              else seed_aug)
        self._mean_img = self._load_mean_img(_path_arg(mean_img, "mean_img"))
        label_shape = ((self.batch_size,) if self.label_width == 1
                       else (self.batch_size, self.label_width))
        self.provide_data = [DataDesc(data_name, (self.batch_size,) + self.data_shape,
                                      self.dtype.type)]
        self.provide_label = [DataDesc(label_name, label_shape, np.float32)]
        self._current: DataBatch | None = None
        self._epoch: _Epoch | None = None
        self._carry_order: np.ndarray | None = None
        self._carry = 0
        if verbose:
            _log.info("ImageRecordIter: %s, %d images in part %d/%d, %d threads",
                      self.path_imgrec, len(self._offsets), self.part_index,
                      self.num_parts, self.preprocess_threads)
        self._start_epoch()

    # ---- set-up ------------------------------------------------------------------------
    @staticmethod
    def _placement_and_sequence_args(kwargs: dict):
        """Takes MXNet's arguments that are not augmenter settings out of ``kwargs`` and
        returns ``seed_aug``. ``ctx``, ``device_id``, ``shuffle_chunk_size`` and
        ``shuffle_chunk_seed`` say where MXNet's loader stages batches and how it shuffles a
        file in chunks; here batches are host arrays and ``shuffle`` permutes every record,
        so they change nothing. ``aug_seq`` other than MXNet's default sequence is refused."""
        aug_seq = kwargs.pop("aug_seq", "aug_default")
        if aug_seq != "aug_default":
            raise MXNetError(f"ImageRecordIter: aug_seq={aug_seq!r}: only MXNet's default "
                             f"sequence 'aug_default' is supported")
        if kwargs.pop("ctx", "gpu") not in ("cpu", "gpu"):
            raise MXNetError("ImageRecordIter: ctx: expected 'cpu' or 'gpu'")
        for name in ("device_id", "shuffle_chunk_size", "shuffle_chunk_seed"):
            _int_arg(kwargs.pop(name, 0), name, -1 if name == "device_id" else 0)
        seed_aug = kwargs.pop("seed_aug", None)
        return None if seed_aug is None else _int_arg(seed_aug, "seed_aug", 0)

    def _aug_params(self, kwargs: dict, **given) -> AugParams:
        c, h, w = self.data_shape
        names = {f for f in AugParams.__dataclass_fields__} - {"channels", "height", "width"}
        aug = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        if "rotate_list" in aug:
            aug["rotate_list"] = tuple(int(a) for a in str(aug["rotate_list"]).split(",")
                                       if a.strip()) if isinstance(aug["rotate_list"], str) \
                else tuple(aug["rotate_list"])
        inter = aug.get("inter_method", 1)
        if inter not in (0, 1, 2, 3, 4, 9, 10):
            raise MXNetError(f"ImageRecordIter: inter_method={inter!r}: expected 0-4, 9 or 10")
        for name in ("std",):
            if any(s == 0 for s in given[name][:c]):
                raise MXNetError(f"ImageRecordIter: std_r/g/b={given[name][:c]}: must not "
                                 f"be 0")
        p = AugParams(channels=c, height=h, width=w, **given, **aug)
        if p.random_resized_crop and (p.min_random_scale != 1 or p.max_random_scale != 1
                                      or p.min_crop_size != -1 or p.max_crop_size != -1
                                      or p.rand_crop):
            raise MXNetError("ImageRecordIter: random_resized_crop=True conflicts with "
                             "min_random_scale, max_random_scale, min_crop_size, "
                             "max_crop_size and rand_crop")
        return p

    def _open_records(self, path_imgidx: str) -> None:
        try:
            self._fd = os.open(self.path_imgrec, os.O_RDONLY)
        except OSError as e:
            raise MXNetError(f"ImageRecordIter: path_imgrec={self.path_imgrec!r}: cannot open "
                             f"the file: {e.strerror or e}") from None
        self._size = os.fstat(self._fd).st_size
        # The parts MXNet's readers make: with an index, slices of ceil(n / num_parts)
        # records; without, the records that start in each of num_parts equal byte ranges.
        rank, parts = self.part_index, self.num_parts
        if path_imgidx:
            index = recordio.MXIndexedRecordIO(path_imgidx, self.path_imgrec, "r")
            offsets = sorted(index.idx[k] for k in index.keys)
            index.close()
            n = len(offsets)
            step = -(-n // parts)
            mine = offsets[min(n, step * rank):min(n, step * (rank + 1))]
        else:
            offsets = recordio.scan_records(self._fd, self._size, self.path_imgrec)
            n = len(offsets)
            step = -(-self._size // parts)
            step = -(-step // 4) * 4
            mine = [o for o in offsets if step * rank <= o < step * (rank + 1)]
        self._offsets = np.array(mine, dtype=np.int64)
        if len(self._offsets) == 0:
            raise MXNetError(f"ImageRecordIter: part {self.part_index} of {self.num_parts} of "
                             f"{self.path_imgrec!r} holds no records ({n} in the file)")

    def _load_mean_img(self, path: str) -> np.ndarray | None:
        if not path:
            return None
        from ..ndarray import load, save
        if os.path.exists(path):
            loaded = load(path)
            mean = (next(iter(loaded.values())) if isinstance(loaded, dict)
                    else loaded[0]).asnumpy().astype(np.float32)
            if mean.shape != self.data_shape:
                raise MXNetError(f"ImageRecordIter: mean_img={path!r} has shape {mean.shape}, "
                                 f"data_shape is {self.data_shape}")
            return mean
        _log.info("ImageRecordIter: cannot find %s, computing the mean image", path)
        mean = self._compute_mean()
        save(path, {"mean_img": nd_array(mean)})
        return mean

    def _compute_mean(self) -> np.ndarray:
        """The mean of this part's images, augmented (without mirroring), in CHW RGB."""
        total = np.zeros(self.data_shape, dtype=np.float64)
        count = 0
        rng = random.Random(self.seed)
        for off in self._offsets:
            try:
                img = augment(decode(self._payload(int(off))[1], self.data_shape[0]),
                              self._aug, rng)
            except CorruptImage:
                continue
            chw = img.transpose(2, 0, 1)
            total += chw[[2, 1, 0, 3][:self.data_shape[0]]] if self.data_shape[0] >= 3 else chw
            count += 1
        return (total / max(count, 1)).astype(np.float32)

    # ---- records and batches -----------------------------------------------------------
    def _payload(self, offset: int):
        raw, _ = recordio.read_record(self._fd, offset, self._size, self.path_imgrec)
        if raw is None:
            raise MXNetError(f"ImageRecordIter: {self.path_imgrec!r}: no record at offset "
                             f"{offset}")
        return recordio.unpack(raw)

    def _new_order(self) -> np.ndarray:
        if self.shuffle:
            return self._offsets[self._order_rng.permutation(len(self._offsets))]
        return self._offsets

    def _label(self, header, offset: int) -> np.ndarray:
        if self._labels is not None:
            try:
                return self._labels[header.id]
            except KeyError:
                raise MXNetError(f"ImageRecordIter: the record at offset {offset} has id "
                                 f"{header.id}, which path_imglist does not list") from None
        label = np.atleast_1d(np.asarray(header.label, dtype=np.float32))
        if label.size != self.label_width:
            raise MXNetError(f"ImageRecordIter: rec file provide {label.size}-dimensional "
                             f"label but label_width is set to {self.label_width}")
        return label

    def _work(self, job, offsets, seeds, slots) -> list[int]:
        """Decodes and augments the records at ``offsets`` into ``slots``; the slots of
        corrupt images are returned."""
        data, label, index = job["data"], job["label"], job["index"]
        bad = []
        for off, seed, slot in zip(offsets, seeds, slots):
            header, buf = self._payload(int(off))
            lab = self._label(header, int(off))
            try:
                process_image(buf, self._aug, random.Random(int(seed)), data[slot],
                              self._mean_img)
            except CorruptImage as e:
                if self.raise_on_corrupt:
                    raise MXNetError(f"ImageRecordIter: {self.path_imgrec!r}: the image of "
                                     f"the record at offset {int(off)} (id {header.id}) is "
                                     f"corrupt: {e}") from None
                warnings.warn(f"ImageRecordIter: skipping the record at offset {int(off)} "
                              f"(id {header.id}) of {self.path_imgrec!r}: {e}",
                              RuntimeWarning, stacklevel=1)
                bad.append(slot)
                continue
            label[slot] = lab
            index[slot] = header.id
        with self._stats_lock:
            self._images += len(offsets) - len(bad)
            self._skipped += len(bad)
        if bad:
            io_stats.count_corrupt(self.telemetry_name, len(bad))
        return bad

    def _dispatch(self, job, offsets: np.ndarray, slots: list[int]) -> list:
        seeds = self._aug_rng.randint(0, 2 ** 62, size=len(offsets))
        return [self._pool.submit(self._work, job, offsets[i:i + _CHUNK],
                                  seeds[i:i + _CHUNK], slots[i:i + _CHUNK])
                for i in range(0, len(offsets), _CHUNK)]

    def _submit(self, offsets: np.ndarray) -> dict:
        bs = self.batch_size
        # The workers write straight into the batch's NDArray: no copy, no GIL held for one.
        batch = nd_empty((bs,) + self.data_shape, dtype=self.dtype)
        data = _native.ndarray_host_bytes(batch._h).view(self.dtype).reshape(batch.shape)
        job = {"batch": batch, "data": data,
               "label": np.zeros((bs, self.label_width), dtype=np.float32),
               "index": np.zeros(bs, dtype=np.uint64), "count": len(offsets)}
        job["futures"] = self._dispatch(job, offsets, list(range(len(offsets))))
        return job

    def _compact(self, job, bad: list[int], filled: int) -> int:
        """Moves the good images of slots [0, filled) together; their number."""
        if not bad:
            return filled
        keep = [s for s in range(filled) if s not in set(bad)]
        for arr in (job["data"], job["label"], job["index"]):
            arr[:len(keep)] = arr[keep]
        return len(keep)

    def _wait(self, job) -> int:
        if "filled" not in job:
            bad = [slot for f in job["futures"] for slot in f.result()]
            job["filled"] = self._compact(job, bad, job["count"])
        return job["filled"]

    def _refill(self, job, offsets: np.ndarray, filled: int) -> int:
        slots = list(range(filled, filled + len(offsets)))
        bad = [s for f in self._dispatch(job, offsets, slots) for s in f.result()]
        job["filled"] = self._compact(job, bad, filled + len(offsets))
        return job["filled"]

    def _borrow(self, job, filled: int, donor) -> int:
        """Moves images from the front of the later batch ``donor`` into ``job``."""
        have = self._wait(donor)
        k = min(self.batch_size - filled, have)
        for key in ("data", "label", "index"):
            job[key][filled:filled + k] = donor[key][:k]
            donor[key][:have - k] = donor[key][k:have].copy()
        donor["filled"] = have - k
        job["filled"] = filled + k
        return job["filled"]

    def _to_batch(self, job, pad: int) -> DataBatch:
        label = job["label"]
        label = label.reshape(-1) if self.label_width == 1 else label
        with self._stats_lock:
            self._batches += 1
        return _NewBatch([job["batch"]],
                         [nd_array(label, dtype=np.float32)], pad=pad, index=job["index"])

    # ---- the iterator protocol ----------------------------------------------------------
    def _start_epoch(self) -> None:
        if self._carry_order is not None:
            order, carry = self._carry_order, self._carry
        else:
            order, carry = self._new_order(), 0
        self._carry_order, self._carry = None, 0
        self._epoch = _Epoch(self, order, carry)

    def _stop_epoch(self) -> None:
        epoch, self._epoch = self._epoch, None
        if epoch is not None:
            epoch.stopped = True
            if epoch.thread is not threading.current_thread():
                epoch.thread.join()

    def reset(self) -> None:
        """Starts a new epoch: after a round_batch overflow, from the record after those
        that completed the last batch; else from the first (reshuffled with shuffle)."""
        epoch = self._epoch
        # The epoch is over once its last batch was taken (the end marker may be left).
        over = epoch is not None and (epoch.finished or (
            not epoch.thread.is_alive() and epoch.batches.qsize() <= 1))
        self._stop_epoch()
        if over and epoch.next_order is not None:
            self._carry_order, self._carry = epoch.next_order, epoch.next_carry
        self._current = None
        self._start_epoch()

    def iter_next(self) -> bool:
        epoch = self._epoch
        if epoch is None:
            raise MXNetError("ImageRecordIter: the iterator was closed")
        if epoch.finished:
            return False
        item, error = epoch.batches.get()
        if error is not None:
            epoch.finished = True
            raise error
        if item is _END:
            epoch.finished = True
            return False
        self._current = item
        return True

    def next(self) -> DataBatch:
        if self.iter_next():
            return self._current
        raise StopIteration

    def _batch(self) -> DataBatch:
        if self._current is None:
            raise MXNetError("ImageRecordIter: no current batch; call next() or iter_next() "
                             "first")
        return self._current

    def getdata(self) -> NDArray:
        """The data of the current batch (one NDArray)."""
        return self._batch().data[0]

    def getlabel(self) -> NDArray:
        """The label of the current batch (one NDArray)."""
        return self._batch().label[0]

    def getindex(self) -> np.ndarray:
        """The ids of the current batch's records (uint64)."""
        return self._batch().index

    def getpad(self) -> int:
        return self._batch().pad

    def statistics(self) -> ImageRecordIterStats:
        """Images decoded, images skipped as corrupt and batches made so far."""
        with self._stats_lock:
            return ImageRecordIterStats(self._images, self._skipped, self._batches)

    def close(self) -> None:
        """Stops the loader and the workers and closes the file. Idempotent."""
        if getattr(self, "_fd", None) is None:
            return
        self._stop_epoch()
        # A worker or the loader may drop the last reference, and run this.
        inside = threading.current_thread().name.startswith("ImageRecordIter-")
        self._pool.shutdown(wait=not inside)
        os.close(self._fd)
        self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


class ImageRecordUInt8Iter(ImageRecordIter):
    """ImageRecordUInt8Iter(...): ``ImageRecordIter`` giving the raw uint8 pixels
    (``dtype='uint8'``: no mean, std or scale), as ``mx.io.ImageRecordUInt8Iter``."""

    _DEFAULT_DTYPE = "uint8"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("dtype", "uint8")
        super().__init__(*args, **kwargs)
