"""NDArray: an n-dimensional array whose storage lives on the engine (``mxnet.ndarray``).

Every call that changes an array pushes a native operation and returns at once; reading the
values (``asnumpy``, ``asscalar``, ``wait_to_read``) waits for what was pushed before.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import numpy as np

from .. import _native
from ..base import MXNetError
from ..context import Context, current_context

__all__ = ["NDArray", "array", "empty", "zeros", "ones", "full", "arange", "waitall",
           "infer_reshape"]

# MXNet's type flags, as the native layer and .params files number them.
_DTYPE_FLAGS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2,
                np.dtype(np.uint8): 3, np.dtype(np.int32): 4, np.dtype(np.int8): 5,
                np.dtype(np.int64): 6, np.dtype(np.bool_): 7}
_FLAG_DTYPES = {flag: dtype for dtype, flag in _DTYPE_FLAGS.items()}
mx_real_t = np.float32


def _dtype(dtype, arg: str = "dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPE_FLAGS:
        raise MXNetError(f"{arg}={dtype!r}: expected one of "
                         f"{', '.join(sorted(d.name for d in _DTYPE_FLAGS))}")
    return dt


def _context(ctx) -> Context:
    if ctx is None:
        return current_context()
    if not isinstance(ctx, Context):
        raise MXNetError(f"ctx={ctx!r}: expected a Context such as mx.cpu(0)")
    if ctx.device_typeid == 2:
        raise MXNetError(f"ctx={ctx}: this build of flowmod has no GPU support (num_gpus() == 0)")
    return ctx


def _shape(shape, arg: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(int(d) for d in shape)
        ok = all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
                 for d in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MXNetError(f"{arg}={shape!r}: expected a tuple of non-negative integers")
    return dims


def _new(shape, dtype: np.dtype, ctx: Context) -> "NDArray":
    dev_type, dev_id = ctx.engine_device
    return NDArray._wrap(_native.ndarray_empty(list(shape), _DTYPE_FLAGS[dtype], dev_type,
                                               dev_id), ctx)


def infer_reshape(src: Sequence[int], target: Sequence[int], reverse: bool = False
                  ) -> tuple[int, ...]:
    """The shape that ``reshape(target)`` gives an array of shape ``src``, with MXNet's
    special values: 0 copies the input dimension, -1 is inferred, -2 copies all remaining
    input dimensions, -3 merges two consecutive input dimensions, -4 splits one input
    dimension into the two values that follow it (one may be -1). ``reverse`` matches the
    special values from the right."""
    src, target = list(src), list(target)
    if reverse:
        src, target = src[::-1], target[::-1]
        # A -4 and its two parts read right to left: put the marker back in front of them,
        # keeping the parts in reversed order so that they come out as written.
        i = 0
        while i < len(target):
            if target[i] == -4 and i >= 2:
                target[i - 2:i + 1] = [-4, target[i - 2], target[i - 1]]
            i += 1
    out: list[int] = []
    infer_at = None
    i = j = 0  # position in target, in src
    while i < len(target):
        t = target[i]
        if t > 0:
            out.append(t)
            j += 1
        elif t == 0:
            if j >= len(src):
                raise MXNetError(f"shape={tuple(target)}: 0 at position {i} has no input "
                                 f"dimension to copy from {tuple(src)}")
            out.append(src[j])
            j += 1
        elif t == -1:
            if infer_at is not None:
                raise MXNetError(f"shape={tuple(target)}: at most one -1 is allowed")
            infer_at = len(out)
            out.append(1)
            j += 1
        elif t == -2:
            out.extend(src[j:])
            j = len(src)
        elif t == -3:
            if j + 1 >= len(src):
                raise MXNetError(f"shape={tuple(target)}: -3 at position {i} needs two input "
                                 f"dimensions, {tuple(src)} has {len(src) - j} left")
            out.append(src[j] * src[j + 1])
            j += 2
        elif t == -4:
            if i + 2 >= len(target) or j >= len(src):
                raise MXNetError(f"shape={tuple(target)}: -4 at position {i} must be followed "
                                 f"by two dimensions and split an input dimension")
            a, b = target[i + 1], target[i + 2]
            d = src[j]
            if a == -1 and b > 0:
                a = d // b
            elif b == -1 and a > 0:
                b = d // a
            if a <= 0 or b <= 0 or a * b != d:
                raise MXNetError(f"shape={tuple(target)}: cannot split dimension {d} of "
                                 f"{tuple(src)} into ({target[i + 1]}, {target[i + 2]})")
            out.extend([a, b])
            i += 2
            j += 1
        else:
            raise MXNetError(f"shape={tuple(target)}: {t} is not a dimension or one of the "
                             f"special values 0, -1, -2, -3, -4")
        i += 1
    total = math.prod(src)
    if infer_at is not None:
        known = math.prod(d for k, d in enumerate(out) if k != infer_at)
        if known == 0 or total % known != 0:
            raise MXNetError(f"shape={tuple(target)}: cannot infer -1 for an array of shape "
                             f"{tuple(src)}")
        out[infer_at] = total // known
    if math.prod(out) != total:
        raise MXNetError(f"shape={tuple(target)}: an array of shape {tuple(src)} "
                         f"({total} elements) cannot become {tuple(out[::-1] if reverse else out)}")
    return tuple(out[::-1] if reverse else out)


class NDArray:
    """An n-dimensional array on a device, as ``mxnet.nd.NDArray``.

    Create one with ``array``, ``zeros``, ``ones``, ``full``, ``empty`` or ``arange``.
    ``a[i]`` and ``a[i:j]`` are views sharing ``a``'s storage (as in MXNet); other keys give
    copies. Operations return at once; ``asnumpy()`` waits for the values::

        a = mx.nd.ones((2, 3))
        a[0] = 5
        assert (a.asnumpy() == [[5, 5, 5], [1, 1, 1]]).all()
    """

    __slots__ = ("_h", "_ctx", "__weakref__")
    # numpy defers to NDArray's reflected operators instead of broadcasting over it.
    __array_priority__ = 1000.0

    def __init__(self, handle, ctx: Context | None = None):
        if not isinstance(handle, _native.NDArrayHandle):
            raise MXNetError("NDArray(handle): create arrays with mx.nd.array, zeros, ones, "
                             "full, empty or arange")
        self._h = handle
        self._ctx = ctx

    @classmethod
    def _wrap(cls, handle, ctx: Context | None = None) -> "NDArray":
        obj = cls.__new__(cls)
        obj._h = handle
        obj._ctx = ctx
        return obj

    # --- properties ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The dimensions, a tuple of ints."""
        return self._h.shape

    @property
    def dtype(self):
        """The element type, as a numpy type (``numpy.float32`` by default)."""
        return _FLAG_DTYPES[self._h.dtype].type

    @property
    def context(self) -> Context:
        """The device the array lives on."""
        if self._ctx is None:
            dev_type, dev_id = self._h.device
            self._ctx = Context("gpu" if dev_type == 2 else "cpu", dev_id)
        return self._ctx

    ctx = context

    @property
    def stype(self) -> str:
        """The storage type: 'default' (dense) here; 'csr' or 'row_sparse' for the sparse
        arrays of ``mx.nd.sparse``."""
        return "default"

    def tostype(self, stype: str) -> "NDArray":
        """tostype(stype): the array in storage ``stype`` ('default', 'row_sparse' or 'csr');
        a copy for 'default'."""
        from .sparse_ops import cast_storage
        return cast_storage(self, stype)

    @property
    def size(self) -> int:
        """The number of elements."""
        return self._h.size

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self._h.shape)

    @property
    def handle(self):
        """The native storage handle."""
        return self._h

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d NDArray")
        return shape[0]

    # --- reading ---------------------------------------------------------------------------
    def asnumpy(self) -> np.ndarray:
        """asnumpy() -> numpy.ndarray: a copy of the values, once pending writes are done.
        Raises MXNetError if an operation that wrote the array failed."""
        out = np.empty(self.shape, dtype=_FLAG_DTYPES[self._h.dtype])
        self._h.to_numpy(out)
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.asnumpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    def asscalar(self):
        """asscalar(): the value of a one-element array, as a numpy scalar."""
        if self.size != 1:
            raise MXNetError(f"asscalar() needs an array of one element; this one has shape "
                             f"{self.shape}")
        return self.asnumpy().reshape(())[()]

    def wait_to_read(self) -> None:
        """wait_to_read(): blocks until every write pushed to this array has finished.
        Raises MXNetError if the last of them failed."""
        self._h.wait_to_read()

    def __await__(self):
        """``await arr`` suspends the awaiting trio or asyncio task (not the event loop) until
        every write pushed to ``arr`` so far has finished, and gives ``arr`` back. Raises
        MXNetError if one of them failed."""
        from ..future import when_ready
        return when_ready((self,), self).__await__()

    async def asnumpy_async(self) -> np.ndarray:
        """asnumpy_async() -> numpy.ndarray: ``asnumpy`` for trio and asyncio tasks; waits for
        the pending writes without blocking the event loop."""
        await self
        return self.asnumpy()

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self.context}>"

    # --- copies and views ----------------------------------------------------------------
    def copy(self) -> "NDArray":
        """copy(): a new array with the same values, context and type."""
        return self.copyto(self.context)

    def copyto(self, other: "NDArray | Context") -> "NDArray":
        """copyto(other): copies into the NDArray ``other`` (same shape; its type is kept,
        values are converted), or into a new array on the Context ``other``. Returns the
        destination."""
        if isinstance(other, NDArray):
            if other.shape != self.shape:
                raise MXNetError(f"copyto(other): other has shape {other.shape}, expected "
                                 f"{self.shape}")
            if other.stype != "default":
                from .sparse_ops import _write_into
                _write_into(other, self)
                return other
            if other._h is self._h:
                return other
            self._h.copy_to(other._h)
            return other
        if isinstance(other, Context):
            dst = _new(self.shape, np.dtype(self.dtype), _context(other))
            self._h.copy_to(dst._h)
            return dst
        raise MXNetError(f"copyto(other={other!r}): expected an NDArray or a Context")

    def as_in_context(self, context: Context) -> "NDArray":
        """as_in_context(context): this array if it is on ``context``, else a copy there."""
        if self.context == _context(context):
            return self
        return self.copyto(context)

    def astype(self, dtype, copy: bool = True) -> "NDArray":
        """astype(dtype, copy=True): the values converted to ``dtype``. With ``copy=False``
        and the same type, returns this array."""
        dt = _dtype(dtype)
        if not copy and dt == np.dtype(self.dtype):
            return self
        out = _new(self.shape, dt, self.context)
        self._h.copy_to(out._h)
        return out

    def reshape(self, *shape, **kwargs) -> "NDArray":
        """reshape(*shape, reverse=False): a view with another shape of the same size.
        Accepts MXNet's special values (see ``infer_reshape``)."""
        reverse = kwargs.pop("reverse", False)
        if "shape" in kwargs:
            shape = (kwargs.pop("shape"),)
        if kwargs:
            raise MXNetError(f"reshape(): unexpected arguments {sorted(kwargs)}")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            target = [int(d) for d in shape]
        except (TypeError, ValueError):
            raise MXNetError(f"reshape(shape={shape!r}): expected integers") from None
        return NDArray._wrap(self._h.reshape(list(infer_reshape(self.shape, target, reverse))),
                             self._ctx)

    def _rows(self, key) -> tuple[int, int] | None:
        """(begin, end) on the first axis for an int or a step-1 slice; None otherwise."""
        if not self.shape:
            return None
        n = self.shape[0]
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"index {key} is out of bounds for axis 0 with size {n}")
            return i, i + 1
        if isinstance(key, slice) and key.step in (None, 1):
            begin, end, _ = key.indices(n)
            return begin, max(begin, end)
        return None

    def __getitem__(self, key) -> "NDArray":
        rows = self._rows(key)
        if rows is not None:
            view = NDArray._wrap(self._h.slice(*rows), self._ctx)
            if isinstance(key, numbers.Integral):
                # a[i] drops the first axis, as numpy does; a 1-d array keeps shape (1,).
                view = NDArray._wrap(view._h.reshape(list(self.shape[1:] or (1,))), self._ctx)
            return view
        # Any other key: a new array holding numpy's answer (MXNet also copies here).
        return array(self.asnumpy()[_numpy_key(key)], ctx=self.context, dtype=self.dtype)

    def __setitem__(self, key, value) -> None:
        rows = self._rows(key)
        if rows is not None:
            target = NDArray._wrap(self._h.slice(*rows), self._ctx)
            expected = self.shape[1:] if isinstance(key, numbers.Integral) else target.shape
            target._assign(value, expected)
            return
        # Other keys: read, change and write back. This blocks until the array's pending
        # writes are done, as MXNet's general assignment does.
        values = self.asnumpy()
        values[_numpy_key(key)] = value.asnumpy() if isinstance(value, NDArray) else value
        self._h.set_from_numpy(np.ascontiguousarray(values))

    def _assign(self, value, expected_shape) -> None:
        if isinstance(value, (numbers.Number, np.number, np.bool_)):
            self._h.fill(float(value))
            return
        if isinstance(value, NDArray):
            if value.size != self.size or (value.shape != tuple(expected_shape)
                                           and value.shape != self.shape):
                raise MXNetError(f"value has shape {value.shape}, expected "
                                 f"{tuple(expected_shape)}")
            value._h.copy_to(self._h)
            return
        host = np.asarray(value)
        if host.dtype == object:
            raise MXNetError(f"value={value!r}: expected a number, an NDArray or an array")
        try:
            host = np.broadcast_to(host, self.shape)
        except ValueError:
            raise MXNetError(f"value has shape {host.shape}, which does not broadcast to "
                             f"{tuple(expected_shape)}") from None
        self._h.set_from_numpy(np.ascontiguousarray(host, dtype=_FLAG_DTYPES[self._h.dtype]))


def host_numbers(value, dtype) -> np.ndarray:
    """``value`` (an array or nested sequences of numbers) as a C-contiguous numpy array of
    ``dtype``; ValueError or TypeError where it is not numbers (objects, ragged sequences)."""
    host = np.asarray(value)
    if host.dtype == object:
        raise ValueError(f"{type(value).__name__} of objects, not numbers")
    return np.ascontiguousarray(host, dtype=dtype)


def _numpy_key(key):
    return tuple(k.asnumpy() if isinstance(k, NDArray) else k for k in key) \
        if isinstance(key, tuple) else (key.asnumpy() if isinstance(key, NDArray) else key)


_STORAGE_TYPES = ("default", "row_sparse", "csr")


def _check_stype(fn: str, stype) -> None:
    if stype is not None and stype not in _STORAGE_TYPES:
        raise MXNetError(f"{fn}: stype={stype!r}: expected one of "
                         f"{', '.join(repr(t) for t in _STORAGE_TYPES)}")


def _is_sparse_stype(stype) -> bool:
    return stype in ("row_sparse", "csr")


class UnknownArgumentError(MXNetError, TypeError):
    """A keyword argument a creation function does not take: a TypeError, as Python's own
    for an unexpected keyword, and an MXNetError, as MXNet raises for ``zeros``/``ones``."""


def _out_only(fn: str, kwargs: dict):
    # MXNet forwards these keywords to its fill operator, which takes ``out`` (and ``name``,
    # which names nothing for an NDArray); anything else is refused by name, not dropped.
    kwargs.pop("name", None)
    out = kwargs.pop("out", None)
    if kwargs:
        raise UnknownArgumentError(f"{fn}() got unexpected keyword arguments "
                                   f"{', '.join(repr(k) for k in sorted(kwargs))}")
    if out is not None and not isinstance(out, NDArray):
        raise MXNetError(f"{fn}: out={out!r}: expected an NDArray")
    return out


def array(source_array, ctx: Context | None = None, dtype=None) -> NDArray:
    """array(source_array, ctx=None, dtype=None)

    A new array with the values of ``source_array`` (an NDArray, a numpy array or nested
    sequences). As in MXNet 1.x, ``dtype`` defaults to ``source_array``'s type if it is an
    NDArray and to float32 otherwise. A scipy sparse matrix gives a CSRNDArray, a sparse
    NDArray a copy of the same storage type.
    """
    ctx = _context(ctx)
    if getattr(source_array, "stype", "default") != "default" or (
            hasattr(source_array, "tocsr") and hasattr(source_array, "nnz")):
        from . import sparse
        return sparse.array(source_array, ctx=ctx, dtype=dtype)
    if isinstance(source_array, NDArray):
        dt = _dtype(dtype if dtype is not None else source_array.dtype)
        out = _new(source_array.shape, dt, ctx)
        source_array._h.copy_to(out._h)
        return out
    dt = _dtype(dtype if dtype is not None else mx_real_t)
    try:
        host = host_numbers(source_array, dt)
    except (ValueError, TypeError):
        raise MXNetError(f"source_array={source_array!r}: expected an array or a nested "
                         f"sequence of numbers") from None
    dev_type, dev_id = ctx.engine_device
    return NDArray._wrap(_native.ndarray_from_numpy(host, _DTYPE_FLAGS[dt], dev_type, dev_id),
                         ctx)


def empty(shape, ctx: Context | None = None, dtype=None, stype=None) -> NDArray:
    """empty(shape, ctx=None, dtype=None, stype=None): a new array whose values are not set
    (with ``stype`` 'csr' or 'row_sparse', a sparse array storing no element)."""
    _check_stype("empty", stype)
    if _is_sparse_stype(stype):
        from . import sparse
        return sparse.empty(stype, shape, ctx=ctx, dtype=dtype)
    return _new(_shape(shape), _dtype(dtype if dtype is not None else mx_real_t), _context(ctx))


def full(shape, val, ctx: Context | None = None, dtype=mx_real_t, out: NDArray | None = None
         ) -> NDArray:
    """full(shape, val, ctx=None, dtype=float32, out=None): a new array filled with ``val``
    (or ``out`` filled, when given)."""
    if not isinstance(val, numbers.Number):
        raise MXNetError(f"val={val!r}: expected a number")
    if out is None:
        out = empty(shape, ctx, dtype)
    out._h.fill(float(val))
    return out


def zeros(shape, ctx: Context | None = None, dtype=None, stype=None, **kwargs) -> NDArray:
    """zeros(shape, ctx=None, dtype=None, stype=None, **kwargs): a new array of zeros
    (``out=`` fills that array instead); with ``stype`` 'csr' or 'row_sparse', a sparse
    array storing no element. Other keywords raise TypeError."""
    _check_stype("zeros", stype)
    if _is_sparse_stype(stype):
        from . import sparse
        _out_only("zeros", kwargs)
        return sparse.zeros(stype, shape, ctx=ctx, dtype=dtype)
    return full(shape, 0, ctx, dtype, _out_only("zeros", kwargs))


def ones(shape, ctx: Context | None = None, dtype=None, **kwargs) -> NDArray:
    """ones(shape, ctx=None, dtype=None, **kwargs): a new array of ones (``out=`` fills that
    array instead). ``stype`` other than 'default' raises MXNetError (MXNet's ``ones`` is
    dense only); other keywords raise TypeError."""
    stype = kwargs.pop("stype", None)
    _check_stype("ones", stype)
    if _is_sparse_stype(stype):
        raise MXNetError(f"ones: stype={stype!r}: ones makes dense arrays; use "
                         f"mx.nd.ones(shape).tostype({stype!r})")
    return full(shape, 1, ctx, dtype, _out_only("ones", kwargs))


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None,
           dtype=mx_real_t) -> NDArray:
    """arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None,
    dtype=float32): evenly spaced values in [start, stop), each repeated ``repeat`` times.

    ``infer_range`` (deprecated in MXNet 1.9) only matters to a symbol whose ``stop`` is
    inferred from the graph; for an NDArray, as in MXNet, None, False and True give the same
    values."""
    if infer_range is not None and not isinstance(infer_range, (bool, np.bool_)):
        raise MXNetError(f"arange: infer_range={infer_range!r}: expected None, True or False")
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise MXNetError("step=0: expected a non-zero step")
    if not isinstance(repeat, numbers.Integral) or repeat < 1:
        raise MXNetError(f"repeat={repeat!r}: expected an integer >= 1")
    values = np.repeat(np.arange(start, stop, step, dtype=np.float64), int(repeat))
    return array(values, ctx=ctx, dtype=dtype)


def waitall() -> None:
    """waitall(): blocks until every operation pushed so far has finished."""
    _native.wait_all()
