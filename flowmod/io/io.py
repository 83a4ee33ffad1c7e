"""Data iterators for the Module API (``mxnet.io``): the batch and descriptor types, the
iterator protocol, ``NDArrayIter`` over in-memory arrays and the wrappers ``ResizeIter`` and
``PrefetchingIter``.

Batches are NDArrays on ``cpu()``. ``NDArrayIter`` keeps its arrays on the host and makes one
NDArray per batch array from a numpy slice, so iterating costs one copy per batch array.
"""
from __future__ import annotations

import numbers
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from ..base import MXNetError
from ..context import cpu
from .. import _native
from ..ndarray import NDArray
from ..ndarray import array as nd_array
from ..ndarray.ndarray import _DTYPE_FLAGS
from ..ndarray.ndarray import host_numbers

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter", "PrefetchingIter"]

mx_real_t = np.float32
_LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """The name, shape, type and layout of one data or label input, as ``mx.io.DataDesc``.

    A ``(name, shape)`` namedtuple with two more attributes, ``dtype`` (default float32) and
    ``layout`` (default ``'NCHW'``; ``N`` marks the batch axis, ``'NTC'`` is usual for
    sequences). It compares and unpacks as the pair ``(name, shape)``::

        >>> d = DataDesc('data', (32, 3, 28, 28))
        >>> name, shape = d
        >>> d
        DataDesc[data,(32, 3, 28, 28),<class 'numpy.float32'>,NCHW]
    """

    def __new__(cls, name, shape, dtype=mx_real_t, layout="NCHW"):
        ret = super().__new__(cls, name, shape)
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self) -> str:
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout) -> int:
        """The batch axis of ``layout``: the position of ``N``, -1 if there is none, 0 if
        ``layout`` is None."""
        if layout is None:
            return 0
        return layout.find("N")

    @staticmethod
    def get_list(shapes, types) -> list["DataDesc"]:
        """DataDescs from a list of ``(name, shape)`` pairs and, optionally, a list of
        ``(name, dtype)`` pairs (None gives float32 to all)."""
        if types is not None:
            type_dict = dict(types)
            return [DataDesc(x[0], x[1], type_dict[x[0]]) for x in shapes]
        return [DataDesc(x[0], x[1]) for x in shapes]


class DataBatch:
    """One mini-batch, as ``mx.io.DataBatch``.

    ``data`` and ``label`` are lists of NDArrays (``label`` may be None), ``pad`` the number
    of samples at the end of the batch that only fill it up, ``index`` the samples' indices
    if the iterator gives them, ``bucket_key`` the bucket of a bucketing iterator and
    ``provide_data``/``provide_label`` the batch's DataDescs when they differ from the
    iterator's.
    """

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise TypeError(f"DataBatch(data={type(data).__name__}): data must be a list of "
                            f"NDArrays")
        if label is not None and not isinstance(label, (list, tuple)):
            raise TypeError(f"DataBatch(label={type(label).__name__}): label must be a list "
                            f"of NDArrays")
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self) -> str:
        data_shapes = [d.shape for d in self.data]
        label_shapes = [l.shape for l in self.label] if self.label else None
        return f"{type(self).__name__}: data shapes: {data_shapes} label shapes: {label_shapes}"


def batch_shapes(batch, data_like, label_like) -> tuple[list | None, list | None]:
    """(data_shapes, label_shapes) to bind a module to ``batch``: its ``provide_data`` and
    ``provide_label`` where it gives them, else DataDescs of its arrays' shapes named after
    ``data_like`` / ``label_like`` (names, or DataDescs whose dtype and layout are kept).
    Either is None where there is nothing to bind (no arrays, or no names for them)."""
    def descs(provided, arrays, like):
        if provided:
            return provided
        if not arrays or not like:
            return None
        return [DataDesc(d.name, tuple(a.shape), d.dtype, d.layout)
                if isinstance(d, DataDesc) else DataDesc(d, tuple(a.shape))
                for d, a in zip(like, arrays)]
    # A batch may lack label altogether (MXNet's tests pass such objects).
    return (descs(getattr(batch, "provide_data", None), getattr(batch, "data", None), data_like),
            descs(getattr(batch, "provide_label", None), getattr(batch, "label", None), label_like))


class DataIter:
    """The iterator protocol of the Module API, as ``mx.io.DataIter``.

    A subclass implements ``iter_next`` (advance; False at the end of the epoch), ``getdata``,
    ``getlabel``, ``getpad`` and ``getindex`` (the current batch's parts) and ``reset``, or
    overrides ``next`` directly; it also gives ``provide_data`` and ``provide_label``. This
    base class on its own is an iterator without batches.
    """

    # Whether Module.fit, score and predict read this iterator on a reader thread of their
    # own, ahead of the batch they push (a flowmod addition). An iterator whose batches are
    # slices of arrays in memory (NDArrayIter) is read in the loop's own thread instead: the
    # engine computes the batches pushed while it reads, and handing each batch over from a
    # second thread costs more than reading it.
    _read_on_thread = True

    def __init__(self, batch_size: int = 0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self) -> None:
        """Moves to the beginning of the data."""

    def next(self) -> DataBatch:
        """The next batch; raises StopIteration at the end of the epoch."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self) -> DataBatch:
        return self.next()

    def iter_next(self) -> bool:
        """Moves to the next batch; False if there is none."""
        return False

    def getdata(self):
        """The data of the current batch (a list of NDArrays)."""
        return None

    def getlabel(self):
        """The label of the current batch (a list of NDArrays)."""
        return None

    def getindex(self):
        """The indices of the current batch's samples, or None."""
        return None

    def getpad(self):
        """The number of padding samples at the end of the current batch."""
        return None


def _check_batch_size(batch_size, owner: str) -> int:
    if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
            or batch_size <= 0):
        raise ValueError(f"{owner}: batch_size={batch_size!r}: expected a positive integer")
    return int(batch_size)


def _to_host(value, key: str) -> np.ndarray:
    """The host copy NDArrayIter iterates: an NDArray keeps its type, anything else becomes
    float32 as ``mx.nd.array`` makes it. CSR data (a CSRNDArray or a scipy.sparse matrix) is
    kept as a scipy CSR matrix, whose row slices become the CSRNDArray batches."""
    if getattr(value, "stype", "default") == "csr":
        return value.asscipy()
    if isinstance(value, NDArray):
        if value.stype != "default":
            raise TypeError(f"NDArrayIter: {key!r} is a {value.stype} array; only dense and "
                            f"csr data can be iterated")
        return value.asnumpy()
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):
        csr = value.tocsr().sorted_indices()
        csr.sum_duplicates()
        return csr
    try:
        host = host_numbers(value, mx_real_t)
    except (TypeError, ValueError):
        raise TypeError(f"NDArrayIter: invalid type {type(value).__name__} for {key!r}: "
                        f"expected an NDArray or a numpy.ndarray") from None
    return host


def _is_csr(host) -> bool:
    return hasattr(host, "tocsr") and hasattr(host, "nnz")


def _init_data(data, allow_empty: bool, default_name: str, arg: str
               ) -> list[tuple[str, np.ndarray]]:
    """``(name, host array)`` pairs sorted by name: a single array is named
    ``default_name``, the arrays of a list ``_0_<default_name>``, ``_1_<default_name>``..."""
    if data is None:
        if not allow_empty:
            raise ValueError(f"NDArrayIter: {arg}=None: expected an array, a list of arrays "
                             f"or a dict of str to array")
        data = []
    if isinstance(data, (np.ndarray, NDArray)) or _is_csr(data):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not data and not allow_empty:
            raise ValueError(f"NDArrayIter: {arg}=[]: expected at least one array")
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict((f"_{i}_{default_name}", d) for i, d in enumerate(data))
    if not isinstance(data, dict):
        raise TypeError(f"NDArrayIter: {arg}={type(data).__name__}: input must be an NDArray, "
                        f"a numpy.ndarray, a list of them or a dict with them as values")
    if not data and not allow_empty:
        raise ValueError(f"NDArrayIter: {arg}={{}}: expected at least one array")
    out = []
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"NDArrayIter: {arg} key {key!r} is not a str")
        host = _to_host(value, key)
        if host.ndim == 0:
            raise ValueError(f"NDArrayIter: {arg}[{key!r}] is a scalar: expected an array "
                             f"whose first dimension counts the samples")
        out.append((key, host))
    return sorted(out, key=lambda kv: kv[0])


class NDArrayIter(DataIter):
    """NDArrayIter(data, label=None, batch_size=1, shuffle=False, last_batch_handle='pad',
    data_name='data', label_name='softmax_label', layout='NCHW')

    Iterates over in-memory arrays, as ``mx.io.NDArrayIter``. ``data`` and ``label`` are an
    NDArray or numpy array, a list of them (named ``_0_data``, ``_1_data``...) or a dict of
    name to array; inputs are ordered by name. numpy inputs become float32, NDArrays keep
    their type. All arrays must have the same number of samples along the sample axis: the
    position of ``'N'`` in ``layout`` (``'NCHW'``, ``'NTC'``: axis 0; ``'TNC'``: axis 1),
    along which batches are cut; ``provide_data`` and ``provide_label`` carry the layout.

    ``shuffle`` permutes the samples with ``np.random`` at every ``reset`` (and once at
    construction). ``last_batch_handle`` decides what happens to a last batch shorter than
    ``batch_size``:

    - ``'pad'``: it is filled up with samples from the beginning; ``pad`` counts them.
    - ``'discard'``: it is dropped.
    - ``'roll_over'``: it is dropped from this epoch and its samples open the next one,
      after ``reset``; that first batch reports as ``pad`` the number of carried samples.

    Example::

        >>> it = NDArrayIter(np.arange(10).reshape(5, 2), np.arange(5), batch_size=2)
        >>> [b.pad for b in it]
        [0, 0, 1]
    """

    _read_on_thread = False  # its batches are slices of host arrays (see DataIter)

    def __init__(self, data, label=None, batch_size: int = 1, shuffle: bool = False,
                 last_batch_handle: str = "pad", data_name: str = "data",
                 label_name: str = "softmax_label", layout: str = "NCHW"):
        batch_size = _check_batch_size(batch_size, "NDArrayIter")
        if not isinstance(layout, str) or "N" not in layout:
            raise ValueError(f"NDArrayIter: layout={layout!r}: expected a string naming the "
                             f"batch axis with 'N', such as 'NCHW', 'NTC' or 'TNC'")
        self.layout = layout
        axis = layout.find("N")
        super().__init__(batch_size)
        if last_batch_handle not in _LAST_BATCH_HANDLES:
            raise ValueError(f"NDArrayIter: last_batch_handle={last_batch_handle!r}: expected "
                             f"one of {', '.join(repr(h) for h in _LAST_BATCH_HANDLES)}")
        self._data = _init_data(data, allow_empty=False, default_name=data_name, arg="data")
        self._label = _init_data(label, allow_empty=True, default_name=label_name, arg="label")
        for arg, source in (("data", self._data), ("label", self._label)):
            for key, host in source:
                if host.ndim <= axis:
                    raise ValueError(
                        f"NDArrayIter: {arg}[{key!r}] has shape {host.shape}, with no axis "
                        f"{axis} for the batch axis 'N' of layout={layout!r}")
        sparse = [k for k, h in self._data + self._label if _is_csr(h)]
        if sparse and last_batch_handle != "discard":
            raise MXNetError(f"NDArrayIter: {sparse[0]!r} is CSR data: NDArrayIter only "
                             f"supports CSR data with last_batch_handle='discard' (as MXNet), "
                             f"not {last_batch_handle!r}")
        if sparse and axis != 0:
            raise MXNetError(f"NDArrayIter: {sparse[0]!r} is CSR data, whose batch axis is 0; "
                             f"layout={layout!r} puts it at {axis}")
        # Batches are cut along axis 0 of the hosts: the layout's batch axis is moved there
        # once here, and back in every array handed out.
        self._axis = axis
        self._data = [(k, h if _is_csr(h) else np.moveaxis(h, axis, 0)) for k, h in self._data]
        self._label = [(k, h if _is_csr(h) else np.moveaxis(h, axis, 0))
                       for k, h in self._label]
        num = self._data[0][1].shape[0]
        for arg, source in (("data", self._data), ("label", self._label)):
            for key, host in source:
                if host.shape[0] != num:
                    raise ValueError(
                        f"NDArrayIter: {arg}[{key!r}] has {host.shape[0]} samples along axis "
                        f"{axis} (shape {np.moveaxis(host, 0, axis).shape}) but "
                        f"{self._data[0][0]!r} has {num}: all data and label arrays must have "
                        f"the same number of samples")
        self.idx = np.arange(num)
        self.shuffle = bool(shuffle)
        self.last_batch_handle = last_batch_handle
        self.cursor = -self.batch_size
        self.num_data = num
        # Positions of the current (shuffled) data in the inputs; None while unshuffled.
        self._order: np.ndarray | None = None
        # The samples carried into the next epoch by 'roll_over', per source.
        self._cache_data: list[np.ndarray] | None = None
        self._cache_label: list[np.ndarray] | None = None
        self.reset()
        self.num_source = len(self._data) + len(self._label)

    # -- the arrays -------------------------------------------------------------------------
    def _current(self, source) -> list[tuple[str, NDArray]]:
        return [(k, self._out(self._take(h, 0, self.num_data))) for k, h in source]

    def _out(self, part: np.ndarray) -> NDArray:
        if _is_csr(part):
            from ..ndarray import sparse
            return sparse.csr_matrix(part, dtype=part.dtype, ctx=cpu())
        if self._axis == 0 and type(part) is np.ndarray and part.flags.c_contiguous:
            # The common case, once a batch: one copy of the rows, nothing else to convert.
            flag = _DTYPE_FLAGS.get(part.dtype)
            if flag is not None:
                return NDArray._wrap(_native.ndarray_from_numpy(part, flag, 1, 0))
        return nd_array(np.moveaxis(part, 0, self._axis), ctx=cpu(), dtype=part.dtype)

    def _desc(self, key: str, host: np.ndarray) -> DataDesc:
        shape = list(host.shape[1:])
        shape.insert(self._axis, self.batch_size)
        return DataDesc(key, tuple(shape), host.dtype.type, layout=self.layout)

    @property
    def data(self) -> list[tuple[str, NDArray]]:
        """The data as ``(name, NDArray)`` pairs in the current (shuffled) order."""
        return self._current(self._data)

    @property
    def label(self) -> list[tuple[str, NDArray]]:
        """The labels as ``(name, NDArray)`` pairs in the current (shuffled) order."""
        return self._current(self._label)

    @property
    def data_list(self) -> list[NDArray]:
        """The data arrays followed by the label arrays."""
        return [v for _, v in self.data] + [v for _, v in self.label]

    @property
    def provide_data(self) -> list[DataDesc]:
        """The name, batch shape and type of every data input."""
        return [self._desc(k, h) for k, h in self._data]

    @property
    def provide_label(self) -> list[DataDesc]:
        """The name, batch shape and type of every label input."""
        return [self._desc(k, h) for k, h in self._label]

    # -- position ---------------------------------------------------------------------------
    def hard_reset(self) -> None:
        """Moves to the beginning and drops the samples 'roll_over' carries."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self) -> None:
        """Moves to the beginning of the data (reshuffling if ``shuffle``); with
        'roll_over', the samples of an incomplete last batch open the next epoch."""
        carry = (self.last_batch_handle == "roll_over"
                 and max(0, self.num_data - self.batch_size) < self.cursor < self.num_data)
        if carry:
            # The incomplete batch, in the order it was read in.
            self._cache_data = [self._take(h, self.cursor, self.num_data) for _, h in self._data]
            self._cache_label = [self._take(h, self.cursor, self.num_data)
                                 for _, h in self._label]
        if self.shuffle:
            self._shuffle_data()
        if carry:
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size
            self._cache_data = None
            self._cache_label = None

    def iter_next(self) -> bool:
        """Moves the cursor by ``batch_size``; False past the end of the data."""
        if self._rolling():
            # Leaving the batch that held the carried samples.
            self._cache_data = None
            self._cache_label = None
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self) -> DataBatch:
        """The next batch; an incomplete last batch ends the epoch for 'discard' and
        'roll_over'."""
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        if data[0].shape[self._axis] != self.batch_size:
            raise StopIteration
        batch = DataBatch(data=data, label=self.getlabel(), pad=self.getpad(), index=None)
        # Every batch's arrays are new ones (_out), which this iterator never writes again;
        # a subclass that makes them its own way may reuse them.
        cls = type(self)
        batch._fresh_arrays = (cls.getdata is NDArrayIter.getdata
                               and cls.getlabel is NDArrayIter.getlabel
                               and cls._out is NDArrayIter._out)
        return batch

    # -- batches ----------------------------------------------------------------------------
    def _take(self, host: np.ndarray, start: int, end: int) -> np.ndarray:
        if self._order is None:
            return host[start:end]
        return host[self._order[start:end]]

    def _take_wrapped(self, host: np.ndarray, start: int, count: int) -> np.ndarray:
        pos = (start + np.arange(count)) % self.num_data
        return host[pos if self._order is None else self._order[pos]]

    def _rolling(self) -> bool:
        return self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0

    def _batchify(self, source, cache) -> list[NDArray]:
        if self.cursor >= self.num_data:
            raise MXNetError("NDArrayIter: the iterator is past the end of the data; call "
                             "reset()")
        bs = self.batch_size
        if self._rolling():
            if cache is None:
                raise MXNetError("NDArrayIter: the first batch of a 'roll_over' epoch has no "
                                 "carried samples (hard_reset() was called?)")
            end = self.cursor + bs
            parts = [np.concatenate([c, self._take(h, 0, end)], axis=0)
                     for c, (_, h) in zip(cache, source)]
        elif self.last_batch_handle == "pad" and self.cursor + bs > self.num_data:
            parts = [self._take_wrapped(h, self.cursor, bs) for _, h in source]
        else:
            end = min(self.cursor + bs, self.num_data)
            parts = [self._take(h, self.cursor, end) for _, h in source]
        return [self._out(p) for p in parts]

    def getdata(self) -> list[NDArray]:
        """The data of the current batch."""
        return self._batchify(self._data, self._cache_data)

    def getlabel(self) -> list[NDArray]:
        """The labels of the current batch."""
        return self._batchify(self._label, self._cache_label)

    def getpad(self) -> int:
        """For 'pad', the number of samples from the beginning that fill up the last batch;
        for 'roll_over', the number of carried samples in an epoch's first batch; else 0."""
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self._rolling():
            return -self.cursor
        return 0

    def _shuffle_data(self) -> None:
        # Permutes the already permuted data again, with np.random as in MXNet 1.9.
        np.random.shuffle(self.idx)
        self._order = self.idx.copy() if self._order is None else self._order[self.idx]


class _HoldingIter(DataIter):
    """An iterator that holds its current batch as a DataBatch (``current_batch``): those
    built over other iterators."""

    current_batch: DataBatch | None

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class ResizeIter(_HoldingIter):
    """ResizeIter(data_iter, size, reset_internal=True)

    Makes ``data_iter`` give exactly ``size`` batches per epoch, as ``mx.io.ResizeIter``:
    it is reset and read again when it runs out before, and stopped early otherwise.
    ``reset_internal`` says whether ``reset`` also resets ``data_iter`` (False continues
    where the previous epoch stopped).
    """

    def __init__(self, data_iter: DataIter, size: int, reset_internal: bool = True):
        super().__init__()
        if (not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 0):
            raise ValueError(f"ResizeIter: size={size!r}: expected a non-negative integer")
        self.data_iter = data_iter
        self.size = int(size)
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch: DataBatch | None = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.batch_size = data_iter.batch_size
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self) -> None:
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self) -> bool:
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            try:
                self.current_batch = self.data_iter.next()
            except StopIteration:
                raise MXNetError("ResizeIter: the wrapped iterator gives no batch even "
                                 "after reset()") from None
        self.cur += 1
        return True


class _Reader:
    """One wrapped iterator of a PrefetchingIter and the thread reading ahead from it.

    The thread holds only this object, so a PrefetchingIter nobody refers to is collected
    and its ``__del__`` stops the threads.
    """

    def __init__(self, it: DataIter, index: int):
        self.it = it
        self.ready = threading.Event()   # a batch (or the end, or an error) is waiting
        self.taken = threading.Event()   # the waiting batch was taken: read the next one
        self.taken.set()
        self.stopped = False
        self.batch: DataBatch | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=_read_ahead, args=(self,), daemon=True,
                                       name=f"PrefetchingIter-{index}")
        self.thread.start()


def _read_ahead(reader: _Reader) -> None:
    while True:
        reader.taken.wait()
        if reader.stopped:
            return
        batch, error = None, None
        try:
            batch = reader.it.next()
        except StopIteration:
            pass
        except BaseException as e:  # handed to the consumer by iter_next
            error = e
        reader.batch, reader.error = batch, error
        reader.taken.clear()
        reader.ready.set()


class PrefetchingIter(_HoldingIter):
    """PrefetchingIter(iters, rename_data=None, rename_label=None)

    Reads the next batch of one or more iterators on background threads while the current
    one is used, as ``mx.io.PrefetchingIter``. With several iterators a batch joins their
    data and labels in order; they must end together. ``rename_data``/``rename_label`` give,
    per iterator, a dict from its input names to the names this iterator provides.

    An exception raised by a wrapped iterator is raised by the ``next``/``iter_next`` call
    that would have returned that batch. ``reset`` waits for the pending reads before it
    resets the wrapped iterators; ``close`` (also called on deletion) ends the threads.
    """

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, list):
            iters = [iters]
        if not iters:
            raise ValueError("PrefetchingIter: iters=[]: expected at least one iterator")
        for name, rename in (("rename_data", rename_data), ("rename_label", rename_label)):
            if rename is not None and len(rename) != len(iters):
                raise ValueError(f"PrefetchingIter: {name} has {len(rename)} entries for "
                                 f"{len(iters)} iterators")
        self.n_iter = len(iters)
        self.iters = iters
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self.current_batch: DataBatch | None = None
        self._closed = False
        self._readers = [_Reader(it, i) for i, it in enumerate(iters)]

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the daemon threads end with it
            pass

    def close(self) -> None:
        """Ends the reading threads (after the read in progress, if any)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for r in self._readers:
            r.stopped = True
            r.taken.set()
        for r in self._readers:
            if r.thread is not threading.current_thread():
                r.thread.join()

    @staticmethod
    def _renamed(descs_per_iter, renames, arg: str) -> list[DataDesc]:
        out = []
        for i, descs in enumerate(descs_per_iter):
            for x in descs:
                x = x if isinstance(x, DataDesc) else DataDesc(*x)
                if renames is not None:
                    if x.name not in renames[i]:
                        raise KeyError(f"PrefetchingIter: {arg}[{i}] has no new name for "
                                       f"{x.name!r}")
                    x = DataDesc(renames[i][x.name], x.shape, x.dtype, x.layout)
                out.append(x)
        return out

    @property
    def provide_data(self) -> list[DataDesc]:
        return self._renamed([it.provide_data for it in self.iters], self.rename_data,
                             "rename_data")

    @property
    def provide_label(self) -> list[DataDesc]:
        return self._renamed([it.provide_label for it in self.iters], self.rename_label,
                             "rename_label")

    def _check_open(self) -> None:
        if self._closed:
            raise MXNetError("PrefetchingIter: the iterator was closed")

    def reset(self) -> None:
        self._check_open()
        for r in self._readers:
            r.ready.wait()
        for it in self.iters:
            it.reset()
        for r in self._readers:
            r.batch, r.error = None, None
            r.ready.clear()
            r.taken.set()

    def _release(self) -> None:
        for r in self._readers:
            r.ready.clear()
            r.taken.set()

    def iter_next(self) -> bool:
        self._check_open()
        for r in self._readers:
            r.ready.wait()
        errors = [r.error for r in self._readers if r.error is not None]
        if errors:
            for r in self._readers:
                r.error = None
            self._release()
            raise errors[0]
        batches = [r.batch for r in self._readers]
        if batches[0] is None:
            if any(b is not None for b in batches):
                raise MXNetError("PrefetchingIter: the wrapped iterators have different "
                                 "numbers of batches")
            return False
        if any(b is None or b.pad != batches[0].pad for b in batches):
            raise MXNetError("PrefetchingIter: the wrapped iterators have different numbers "
                             "of samples")
        self.current_batch = DataBatch(
            sum([list(b.data) for b in batches], []),
            sum([list(b.label or []) for b in batches], []),
            batches[0].pad, batches[0].index,
            provide_data=self.provide_data, provide_label=self.provide_label)
        self._release()
        return True

    def next(self) -> DataBatch:
        if self.iter_next():
            return self.current_batch
        raise StopIteration

