"""Iterators that read data files: ``MNISTIter`` (idx files) and ``CSVIter`` (CSV files),
as MXNet's built-in ``mx.io.MNISTIter`` and ``mx.io.CSVIter``.

Both read their files once, at construction, into host arrays; a batch is one NDArray made
from a slice of them. As MXNet's built-in iterators, ``getdata``/``getlabel`` return one
NDArray (not a list), labels of width 1 are one-dimensional, ``getindex`` gives the
samples' positions in the file, and keyword arguments they do not know are ignored.
"""
from __future__ import annotations

import gzip
import logging
import numbers
import os

import numpy as np

from ..base import MXNetError
from ..context import cpu
from ..ndarray import NDArray
from ..ndarray import array as nd_array
from .io import DataBatch, DataDesc, DataIter

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["MNISTIter", "CSVIter"]

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"
_CTX_VALUES = ("cpu", "gpu")
# Output types MXNet's prefetcher accepts for its ``dtype`` argument.
_PREFETCH_DTYPES = ("float32", "float64", "float16", "uint8", "int8", "int32", "int64")
_CSV_DTYPES = ("float32", "int32", "int64")


def _positive_int(value, arg: str, owner: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise MXNetError(f"{owner}: {arg}={value!r}: expected a positive integer")
    return int(value)


def _shape_arg(value, arg: str, owner: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        dims = None
    if (not dims or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                            and d > 0 for d in dims)):
        raise MXNetError(f"{owner}: {arg}={value!r}: expected a non-empty tuple of positive "
                         f"integers")
    return tuple(int(d) for d in dims)


def _dtype_name(dtype) -> str | None:
    try:
        return np.dtype(dtype).name
    except TypeError:
        return None


def _ctx_arg(ctx, owner: str) -> str:
    if ctx not in _CTX_VALUES:
        raise MXNetError(f"{owner}: ctx={ctx!r}: expected 'cpu' or 'gpu'")
    return ctx


def _read_file(path, arg: str, owner: str) -> bytes:
    """The bytes of ``path``, gunzipped when they start with gzip's magic bytes."""
    if not isinstance(path, (str, os.PathLike)):
        raise MXNetError(f"{owner}: {arg}={path!r}: expected a file path")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise MXNetError(f"{owner}: {arg}={os.fspath(path)!r}: cannot read the file: "
                         f"{e.strerror or e}") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise MXNetError(f"{owner}: {arg}={os.fspath(path)!r}: corrupted gzip file: "
                             f"{e}") from None
    return raw


def _read_idx(path, arg: str, owner: str, magic: int, kind: str,
              items: str) -> tuple[bytes, tuple[int, ...]]:
    """The bytes of an idx file of unsigned bytes and the dimensions its header gives (the
    low byte of ``magic`` counts them), checked against the file's size."""
    raw = _read_file(path, arg, owner)
    name = os.fspath(path)
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    if len(raw) >= 4 and int.from_bytes(raw[:4], "big") != magic:
        raise MXNetError(f"{owner}: {arg}={name!r} is not an {kind} file: "
                         f"magic number 0x{int.from_bytes(raw[:4], 'big'):08x}, "
                         f"expected 0x{magic:08x}")
    if len(raw) < header:
        raise MXNetError(f"{owner}: {arg}={name!r} is not an {kind} file: "
                         f"{len(raw)} bytes, shorter than its {header}-byte header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(dims))
    if len(raw) - header < size:
        shape = "x".join(str(d) for d in dims[1:])
        announced = f"{dims[0]} {items}" + (f" of {shape} ({size} bytes)" if shape else "")
        raise MXNetError(f"{owner}: {arg}={name!r} is truncated: its header announces "
                         f"{announced}, the file has {len(raw) - header} bytes")
    return raw, dims


class _FileIter(DataIter):
    """What MNISTIter and CSVIter share: one data and one label input, whose batches are
    built on the host by ``_fill`` and handed out as NDArrays on cpu()."""

    def __init__(self, batch_size: int, data_name: str, label_name: str):
        super().__init__(batch_size)
        self.data_name = data_name
        self.label_name = label_name
        self._batch_data: np.ndarray | None = None
        self._batch_label: np.ndarray | None = None
        self._batch_index: np.ndarray | None = None
        self._batch_pad = 0

    def _set_descs(self, data_shape, data_dtype, label_shape, label_dtype) -> None:
        self.provide_data = [DataDesc(self.data_name, tuple(data_shape), data_dtype)]
        self.provide_label = [DataDesc(self.label_name, tuple(label_shape), label_dtype)]

    def next(self) -> DataBatch:
        if self.iter_next():
            return DataBatch(data=[self.getdata()], label=[self.getlabel()],
                             pad=self.getpad(), index=self.getindex())
        raise StopIteration

    def _current(self, host: np.ndarray | None, what: str) -> NDArray:
        if host is None:
            raise MXNetError(f"{type(self).__name__}: no current batch to take the {what} "
                             f"of; call next() or iter_next() first")
        return nd_array(host, ctx=cpu(), dtype=host.dtype)

    def getdata(self) -> NDArray:
        """The data of the current batch (one NDArray)."""
        return self._current(self._batch_data, "data")

    def getlabel(self) -> NDArray:
        """The label of the current batch (one NDArray)."""
        return self._current(self._batch_label, "label")

    def getindex(self) -> np.ndarray | None:
        """The positions in the file of the current batch's samples (uint64)."""
        return self._batch_index

    def getpad(self) -> int:
        return self._batch_pad


class MNISTIter(_FileIter):
    """MNISTIter(image='./train-images-idx3-ubyte', label='./train-labels-idx1-ubyte',
    batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
    part_index=0, prefetch_buffer=4, ctx='gpu', dtype=None, data_name='data',
    label_name='softmax_label')

    Iterates over the MNIST idx files (http://yann.lecun.com/exdb/mnist/), raw or gzipped,
    as ``mx.io.MNISTIter``. Pixels are divided by 256 (values in [0, 255/256]) as in
    MXNet 1.9; data batches have shape ``(batch_size, 1, rows, cols)``, or
    ``(batch_size, rows*cols)`` with ``flat=True``; labels ``(batch_size,)``, float32.

    Only whole batches are given: the images after the last full batch are left out
    (``pad`` is always 0). ``shuffle`` permutes the images once, at construction, with a
    generator seeded by ``seed``; every epoch reads them in that order. ``num_parts`` and
    ``part_index`` read only the ``part_index``-th of ``num_parts`` equal slices of the
    file. ``dtype`` converts the batches to another type; ``ctx`` and ``prefetch_buffer``
    are accepted for compatibility (batches are on cpu, made on demand from host memory).
    """

    def __init__(self, image: str = "./train-images-idx3-ubyte",
                 label: str = "./train-labels-idx1-ubyte", batch_size: int = 128,
                 shuffle: bool = True, flat: bool = False, seed: int = 0,
                 silent: bool = False, num_parts: int = 1, part_index: int = 0,
                 prefetch_buffer: int = 4, ctx: str = "gpu", dtype=None,
                 data_name: str = "data", label_name: str = "softmax_label", **kwargs):
        owner = "MNISTIter"
        batch_size = _positive_int(batch_size, "batch_size", owner)
        super().__init__(batch_size, data_name, label_name)
        num_parts = _positive_int(num_parts, "num_parts", owner)
        if (not isinstance(part_index, numbers.Integral) or isinstance(part_index, bool)
                or not 0 <= part_index < num_parts):
            raise MXNetError(f"{owner}: part_index={part_index!r}: expected an integer in "
                             f"[0, num_parts={num_parts})")
        _positive_int(prefetch_buffer, "prefetch_buffer", owner)
        _ctx_arg(ctx, owner)
        if dtype is not None and _dtype_name(dtype) not in _PREFETCH_DTYPES:
            raise MXNetError(f"{owner}: dtype={dtype!r}: expected None or one of "
                             f"{', '.join(_PREFETCH_DTYPES)}")
        self.image, self.label = image, label
        self.shuffle, self.flat, self.seed = bool(shuffle), bool(flat), seed
        self.num_parts, self.part_index = num_parts, int(part_index)
        self._kwargs = kwargs

        images, start = self._load_images(image, owner)
        labels, label_start = self._load_labels(label, owner)
        if labels.shape[0] != images.shape[0] or label_start != start:
            raise MXNetError(f"{owner}: image={os.fspath(image)!r} has {images.shape[0]} "
                             f"images in this part but label={os.fspath(label)!r} has "
                             f"{labels.shape[0]} labels")
        order = np.arange(images.shape[0], dtype=np.uint64)
        if self.shuffle:
            perm = np.random.RandomState(seed).permutation(images.shape[0])
            images, labels, order = images[perm], labels[perm], order[perm]
        out_dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
        count, rows, cols = images.shape
        shape = (count, rows * cols) if self.flat else (count, 1, rows, cols)
        self._images = np.ascontiguousarray(images.reshape(shape), dtype=out_dtype)
        self._labels = np.ascontiguousarray(labels, dtype=out_dtype)
        self._inst = order + np.uint64(start)
        if count < batch_size:
            raise MXNetError(f"{owner}: batch_size={batch_size} is larger than the {count} "
                             f"images read from image={os.fspath(image)!r}")
        self._set_descs((batch_size,) + shape[1:], out_dtype.type, (batch_size,),
                        out_dtype.type)
        self._loc = 0
        if not silent:
            _log.info("MNISTIter: load %d images, shuffle=%d, shape=%s", count,
                      int(self.shuffle), (batch_size,) + shape[1:])

    def _part(self, count: int) -> tuple[int, int]:
        start = int(count / self.num_parts * self.part_index)
        end = int(count / self.num_parts * (self.part_index + 1))
        return start, end

    def _load_images(self, path, owner: str) -> tuple[np.ndarray, int]:
        raw, (count, rows, cols) = _read_idx(path, "image", owner, _IDX_IMAGES_MAGIC,
                                             "idx3-ubyte image", "images")
        start, end = self._part(count)
        pixels = np.frombuffer(raw, dtype=np.uint8, count=(end - start) * rows * cols,
                               offset=16 + start * rows * cols)
        # Exact in float32: a multiple of a power of two.
        images = pixels.reshape(end - start, rows, cols).astype(np.float32) * np.float32(
            1.0 / 256.0)
        return images, start

    def _load_labels(self, path, owner: str) -> tuple[np.ndarray, int]:
        raw, (count,) = _read_idx(path, "label", owner, _IDX_LABELS_MAGIC, "idx1-ubyte label",
                                  "labels")
        start, end = self._part(count)
        labels = np.frombuffer(raw, dtype=np.uint8, count=end - start, offset=8 + start)
        return labels.astype(np.float32), start

    def reset(self) -> None:
        self._loc = 0

    def iter_next(self) -> bool:
        bs = self.batch_size
        if self._loc + bs > self._images.shape[0]:
            return False
        s = slice(self._loc, self._loc + bs)
        self._batch_data, self._batch_label = self._images[s], self._labels[s]
        self._batch_index = self._inst[s]
        self._batch_pad = 0
        self._loc += bs
        return True


def _parse_csv(path, arg: str, width: int, shape, dtype: np.dtype, owner: str
               ) -> np.ndarray:
    """The rows of a CSV file of numbers, each of ``width`` values, as ``(rows,) + shape``.
    Blank lines are skipped."""
    text = _read_file(path, arg, owner)
    name = os.fspath(path)
    rows = []
    for lineno, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise MXNetError(f"{owner}: {arg}={name!r} line {lineno} has {len(fields)} values, "
                             f"expected {width} (the size of {arg.replace('csv', 'shape')}="
                             f"{tuple(shape)})")
        rows.append(fields)
    if not rows:
        return np.zeros((0,) + tuple(shape), dtype=dtype)
    try:
        values = np.array(rows, dtype=np.float64)
        if dtype.kind == "i":
            try:
                values = np.array(rows, dtype=dtype)
            except ValueError:
                values = np.trunc(values)
    except ValueError as e:
        raise MXNetError(f"{owner}: {arg}={name!r} holds a value that is not a number: "
                         f"{e}") from None
    return np.ascontiguousarray(values.astype(dtype).reshape((len(rows),) + tuple(shape)))


class CSVIter(_FileIter):
    """CSVIter(data_csv, data_shape, label_csv='NULL', label_shape=(1,), batch_size=1,
    round_batch=True, prefetch_buffer=4, ctx='gpu', dtype='float32', data_name='data',
    label_name='softmax_label')

    Iterates over the rows of a CSV file of numbers, as ``mx.io.CSVIter``. Each row of
    ``data_csv`` holds one sample of ``data_shape`` (in row-major order), each row of
    ``label_csv`` its label of ``label_shape``; without ``label_csv`` the labels are 0.
    Data batches have shape ``(batch_size,) + data_shape``, labels
    ``(batch_size,) + label_shape``, or ``(batch_size,)`` when ``label_shape`` is ``(1,)``.
    ``dtype`` ('float32', 'int32' or 'int64') is the type of both.

    With ``round_batch`` (the default), an incomplete last batch is filled up with the first
    rows of the file and ``pad`` counts them; as in MXNet 1.9 the next epoch then starts
    after those rows. Without it, ``pad`` counts the unfilled places at the end of the last
    batch, which keep the values of the batch before.
    """

    def __init__(self, data_csv: str, data_shape, label_csv: str | None = "NULL",
                 label_shape=(1,), batch_size: int = 1, round_batch: bool = True,
                 prefetch_buffer: int = 4, ctx: str = "gpu", dtype="float32",
                 data_name: str = "data", label_name: str = "softmax_label", **kwargs):
        owner = "CSVIter"
        batch_size = _positive_int(batch_size, "batch_size", owner)
        super().__init__(batch_size, data_name, label_name)
        data_shape = _shape_arg(data_shape, "data_shape", owner)
        label_shape = _shape_arg(label_shape, "label_shape", owner)
        _positive_int(prefetch_buffer, "prefetch_buffer", owner)
        _ctx_arg(ctx, owner)
        dtype_name = "float32" if dtype is None else _dtype_name(dtype)
        if dtype_name not in _CSV_DTYPES:
            raise MXNetError(f"{owner}: dtype={dtype!r}: expected one of "
                             f"{', '.join(_CSV_DTYPES)}")
        dt = np.dtype(dtype_name)
        self.data_csv, self.label_csv = data_csv, label_csv
        self.data_shape, self.label_shape = data_shape, label_shape
        self.round_batch = bool(round_batch)
        self._kwargs = kwargs

        self._data = _parse_csv(data_csv, "data_csv", int(np.prod(data_shape)), data_shape,
                                dt, owner)
        num = self._data.shape[0]
        if num == 0:
            raise MXNetError(f"{owner}: data_csv={os.fspath(data_csv)!r} has no rows")
        if label_csv is None or label_csv == "NULL":
            self._label = np.zeros((num, 1), dtype=dt)
            label_batch_shape = (batch_size,)
        else:
            self._label = _parse_csv(label_csv, "label_csv", int(np.prod(label_shape)),
                                     label_shape, dt, owner)
            if self._label.shape[0] != num:
                raise MXNetError(f"{owner}: label_csv={os.fspath(label_csv)!r} has "
                                 f"{self._label.shape[0]} rows but data_csv="
                                 f"{os.fspath(data_csv)!r} has {num}")
            label_batch_shape = ((batch_size,) if label_shape == (1,)
                                 else (batch_size,) + label_shape)
        # The batch buffers: an unfilled place keeps the previous batch's values.
        self._buf_data = np.zeros((batch_size,) + data_shape, dtype=dt)
        self._buf_label = np.zeros((batch_size,) + self._label.shape[1:], dtype=dt)
        self._label_batch_shape = label_batch_shape
        self._pos = 0            # the next row to read
        self._num_overflow = 0   # rows of the next epoch read to fill up the last batch
        if self.round_batch and batch_size - num % batch_size > num and num % batch_size:
            raise MXNetError(f"{owner}: batch_size={batch_size} with round_batch needs at "
                             f"least {batch_size - num % batch_size} rows to fill up the last "
                             f"batch, data_csv={os.fspath(data_csv)!r} has {num}")
        self._set_descs((batch_size,) + data_shape, dt.type, label_batch_shape, dt.type)

    def reset(self) -> None:
        if not self.round_batch or self._num_overflow == 0:
            self._pos = 0
        else:
            self._num_overflow = 0

    def _copy_rows(self, top: int, count: int, index: np.ndarray) -> None:
        s = slice(self._pos, self._pos + count)
        self._buf_data[top:top + count] = self._data[s]
        self._buf_label[top:top + count] = self._label[s]
        index[top:top + count] = np.arange(self._pos, self._pos + count, dtype=np.uint64)
        self._pos += count

    def iter_next(self) -> bool:
        if self._num_overflow != 0:
            return False
        bs, num = self.batch_size, self._data.shape[0]
        index = np.zeros(bs, dtype=np.uint64)
        top = min(bs, num - self._pos)
        if top <= 0:
            return False
        self._copy_rows(0, top, index)
        pad = 0
        if top < bs:
            if self.round_batch:
                fill = bs - top
                if fill > num:
                    raise MXNetError(f"CSVIter: batch_size={bs} needs {fill} rows to fill "
                                     f"up the last batch, the file has {num}")
                self._pos = 0
                self._copy_rows(top, fill, index)
                self._num_overflow = fill
                pad = fill
            else:
                pad = bs - top
        self._batch_data = self._buf_data.copy()
        self._batch_label = self._buf_label.reshape(self._label_batch_shape).copy()
        self._batch_index = index
        self._batch_pad = pad
        return True
