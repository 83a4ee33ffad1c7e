"""``mx.io.LibSVMIter``: batches of CSR data read from libsvm text files.

Each line of ``data_libsvm`` is ``label index:value index:value ...`` with zero-based,
increasing feature indices (as MXNet reads them). Data batches are CSRNDArrays of shape
(batch_size, data_shape[0]); labels are dense (the first token of each line, or several
comma-separated values for a label_shape of more than one element), or CSRNDArrays read from
the features of ``label_libsvm`` when it is given.
"""
from __future__ import annotations

import numbers
import os

import numpy as np

from ..base import MXNetError
from ..context import cpu
from ..ndarray import array as nd_array
from ..ndarray import sparse
from .io import DataBatch, DataDesc, DataIter, _check_batch_size

__all__ = ["LibSVMIter"]


def _part_bounds(raw: bytes, num_parts: int, part_index: int) -> tuple[int, int]:
    """The byte range of part ``part_index``: the file cut into ``num_parts`` equal byte
    ranges, each boundary moved forward to the start of a line (as dmlc's InputSplit cuts
    text files), so that every line belongs to exactly one part."""
    step = (len(raw) + num_parts - 1) // num_parts

    def line_start(at: int) -> int:
        at = min(at, len(raw))
        if at == 0 or at == len(raw) or raw[at - 1:at] == b"\n":
            return at
        nl = raw.find(b"\n", at)
        return len(raw) if nl < 0 else nl + 1

    return line_start(step * part_index), line_start(step * (part_index + 1))


def _parse(path: str, num_parts: int, part_index: int, num_cols: int, what: str):
    """(first tokens, scipy-style csr parts (data, indices, indptr)) of the part's lines."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise MXNetError(f"LibSVMIter: {what}={path!r}: cannot read the file: {e}") from None
    begin, end = _part_bounds(raw, num_parts, part_index)
    heads, values, cols, indptr = [], [], [], [0]
    for number, line in enumerate(raw[begin:end].decode("utf-8").splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        heads.append(tokens[0])
        last = -1
        for tok in tokens[1:]:
            idx, sep, val = tok.partition(":")
            try:
                j, v = int(idx), float(val)
            except ValueError:
                raise MXNetError(f"LibSVMIter: {path}: line {number} of the part: {tok!r} is "
                                 f"not index:value") from None
            if not sep or j < 0 or j >= num_cols or j <= last:
                raise MXNetError(f"LibSVMIter: {path}: line {number} of the part: feature "
                                 f"{tok!r}: expected increasing indices in [0, {num_cols})")
            last = j
            cols.append(j)
            values.append(v)
        indptr.append(len(cols))
    return heads, (np.asarray(values, np.float32), np.asarray(cols, np.int64),
                   np.asarray(indptr, np.int64))


def _shape_arg(value, arg: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral):
        value = (int(value),)
    try:
        shape = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise MXNetError(f"LibSVMIter: {arg}={value!r}: expected a tuple of positive integers")
    return shape


class LibSVMIter(DataIter):
    """LibSVMIter(data_libsvm, data_shape, label_libsvm=None, label_shape=(1,),
    batch_size=1, num_parts=1, part_index=0, round_batch=True, data_name='data',
    label_name='softmax_label')

    Iterates over the libsvm file ``data_libsvm`` (part ``part_index`` of ``num_parts``) in
    CSR batches of ``batch_size`` rows and ``data_shape[0]`` columns. With ``round_batch``,
    a last incomplete batch is completed from the beginning of the data and ``pad`` says how
    many rows were added; without it, the missing rows are empty and counted in ``pad``.
    """

    def __init__(self, data_libsvm, data_shape, label_libsvm=None, label_shape=(1,),
                 batch_size=1, num_parts=1, part_index=0, round_batch=True,
                 data_name="data", label_name="softmax_label", **kwargs):
        kwargs.pop("prefetch_buffer", None)
        kwargs.pop("dtype", None)
        if kwargs:
            raise MXNetError(f"LibSVMIter: unexpected arguments {sorted(kwargs)}")
        super().__init__(_check_batch_size(batch_size, "LibSVMIter"))
        self.data_shape = _shape_arg(data_shape, "data_shape")
        self.label_shape = _shape_arg(label_shape, "label_shape")
        if len(self.data_shape) != 1:
            raise MXNetError(f"LibSVMIter: data_shape={data_shape!r}: expected one dimension")
        if not (isinstance(num_parts, numbers.Integral) and num_parts >= 1
                and isinstance(part_index, numbers.Integral) and 0 <= part_index < num_parts):
            raise MXNetError(f"LibSVMIter: num_parts={num_parts!r}, part_index="
                             f"{part_index!r}: expected num_parts >= 1 and 0 <= part_index "
                             f"< num_parts")
        if label_libsvm in (None, "NULL"):
            label_libsvm = None
        for arg, path in (("data_libsvm", data_libsvm), ("label_libsvm", label_libsvm)):
            if path is not None and not os.path.isfile(str(path)):
                raise MXNetError(f"LibSVMIter: {arg}={path!r}: no such file")
        heads, self._data = _parse(str(data_libsvm), num_parts, part_index,
                                   self.data_shape[0], "data_libsvm")
        self._rows = len(heads)
        self._label_csr = None
        if label_libsvm is not None:
            if len(self.label_shape) != 1:
                raise MXNetError(f"LibSVMIter: label_shape={label_shape!r}: a libsvm label "
                                 f"has one dimension")
            label_heads, self._label_csr = _parse(str(label_libsvm), num_parts, part_index,
                                                  self.label_shape[0], "label_libsvm")
            if len(label_heads) != self._rows:
                raise MXNetError(f"LibSVMIter: label_libsvm has {len(label_heads)} lines, "
                                 f"data_libsvm {self._rows}")
        else:
            self._labels = self._dense_labels(heads)
        if self._rows == 0:
            raise MXNetError(f"LibSVMIter: data_libsvm={data_libsvm!r} has no lines in part "
                             f"{part_index} of {num_parts}")
        self.round_batch = bool(round_batch)
        self.data_name, self.label_name = data_name, label_name
        self.cursor = 0
        self._batch = None

    def _dense_labels(self, heads) -> np.ndarray:
        width = int(np.prod(self.label_shape))
        out = np.zeros((len(heads), width), np.float32)
        for i, head in enumerate(heads):
            try:
                values = [float(v) for v in head.split(",")]
            except ValueError:
                raise MXNetError(f"LibSVMIter: line {i + 1}: label {head!r} is not a "
                                 f"number") from None
            if len(values) != width:
                raise MXNetError(f"LibSVMIter: line {i + 1}: {len(values)} label values, "
                                 f"label_shape={self.label_shape} holds {width}")
            out[i] = values
        return out.reshape((len(heads),) + (() if self.label_shape == (1,)
                                            else self.label_shape))

    @property
    def provide_data(self):
        """The name, batch shape and type of the data."""
        return [DataDesc(self.data_name, (self.batch_size,) + self.data_shape, np.float32)]

    @property
    def provide_label(self):
        """The name, batch shape and type of the label."""
        shape = () if self.label_shape == (1,) and self._label_csr is None else self.label_shape
        return [DataDesc(self.label_name, (self.batch_size,) + shape, np.float32)]

    def reset(self) -> None:
        """Moves to the beginning of the data."""
        self.cursor = 0
        self._batch = None

    def _rows_of_batch(self):
        start = self.cursor
        rows = np.arange(start, min(start + self.batch_size, self._rows))
        pad = self.batch_size - rows.size
        if pad and self.round_batch:
            rows = np.concatenate([rows, np.arange(pad) % self._rows])
        return rows, pad

    def _csr_rows(self, parts, rows, width):
        values, cols, indptr = parts
        lengths = np.zeros(self.batch_size, np.int64)
        lengths[:rows.size] = indptr[rows + 1] - indptr[rows]
        ptr = np.concatenate([[0], np.cumsum(lengths)])
        take = np.concatenate([np.arange(indptr[r], indptr[r + 1]) for r in rows]) \
            if rows.size else np.zeros(0, np.int64)
        return sparse.csr_matrix((values[take.astype(np.int64)], cols[take.astype(np.int64)],
                                  ptr), shape=(self.batch_size, width), ctx=cpu())

    def iter_next(self) -> bool:
        """Reads the next batch; False at the end of the data."""
        if self.cursor >= self._rows:
            return False
        rows, pad = self._rows_of_batch()
        data = self._csr_rows(self._data, rows, self.data_shape[0])
        if self._label_csr is not None:
            label = self._csr_rows(self._label_csr, rows, self.label_shape[0])
        else:
            host = np.zeros((self.batch_size,) + self._labels.shape[1:], np.float32)
            host[:rows.size] = self._labels[rows]
            label = nd_array(host, ctx=cpu())
        self._batch = DataBatch(data=[data], label=[label], pad=pad, index=None)
        self.cursor += self.batch_size
        return True

    def next(self) -> DataBatch:
        """The next batch; StopIteration at the end of the data."""
        if not self.iter_next():
            raise StopIteration
        return self._batch

    def getdata(self):
        """The data of the current batch."""
        return self._batch.data

    def getlabel(self):
        """The label of the current batch."""
        return self._batch.label

    def getpad(self) -> int:
        """The number of rows the current batch adds at its end."""
        return self._batch.pad

    def getindex(self):
        return None
