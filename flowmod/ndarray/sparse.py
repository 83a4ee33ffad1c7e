"""Sparse NDArrays (``mxnet.ndarray.sparse``): ``CSRNDArray`` and ``RowSparseNDArray``.

A sparse array is made of dense component NDArrays, each its own engine var: a CSR matrix of
shape (m, n) of ``data`` (nnz,), ``indices`` (nnz,) int64 column indices (sorted within each
row) and ``indptr`` (m + 1,) int64; a row_sparse array of shape (N, ...) of ``data`` (r, ...)
and ``indices`` (r,) int64 row indices, sorted and unique. Operations on them are pushed on
the components, so they order like dense ones, and ``asnumpy``/``wait_to_read`` wait for
what was pushed. The operators that take sparse arrays live in ``sparse_ops``.
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..base import MXNetError
from ..context import Context
from .ndarray import NDArray, _context, _dtype, _shape, array as _dense_array, mx_real_t

__all__ = ["BaseSparseNDArray", "CSRNDArray", "RowSparseNDArray", "csr_matrix",
           "row_sparse_array", "zeros", "empty", "array"]

_INDEX = np.int64
# mx.nd.sparse holds the operators too (sparse.slice, sparse.max, ...): builtins by name here.
_slice, _max = builtins.slice, builtins.max


class SparseHandleError(MXNetError, AttributeError):
    """A sparse array has no single storage handle: its values are in component arrays."""


def _invoke(op, inputs, **attrs):
    from .ops import invoke
    return invoke(op, inputs, **attrs)


def _index_array(values, ctx) -> NDArray:
    return _dense_array(np.ascontiguousarray(values, dtype=_INDEX), ctx=ctx, dtype=_INDEX)


class BaseSparseNDArray(NDArray):
    """The base of the sparse arrays (``mxnet.ndarray.sparse.BaseSparseNDArray``)."""

    # _host_index: a host copy of ``indices`` where one was at hand when the array was made
    # (read from a file, computed on the host), so that index sets are computed without
    # waiting for the engine.
    __slots__ = ("_shape", "_values", "_aux", "_host_index")
    _stype = "undefined"

    @property
    def _h(self):
        raise SparseHandleError(f"a {type(self).__name__} has no single storage handle; "
                                f"its values are in .data and its index arrays")

    @classmethod
    def _make(cls, shape, data: NDArray, aux: list, ctx: Context | None = None,
              host_index=None):
        obj = cls.__new__(cls)
        obj._shape = tuple(int(d) for d in shape)
        obj._values = data
        obj._aux = list(aux)
        obj._ctx = ctx if ctx is not None else data.context
        obj._host_index = host_index
        return obj

    def _replace(self, other: "BaseSparseNDArray") -> None:
        """Takes ``other``'s components (what an operator writing into this array does)."""
        self._values, self._aux = other._values, list(other._aux)
        self._host_index = other._host_index

    def host_index(self) -> np.ndarray:
        """``indices`` as a numpy array (read once: waits for the array's writers then)."""
        if self._host_index is None:
            self._host_index = self.indices.asnumpy()
        return self._host_index

    @property
    def stype(self) -> str:
        """The storage type: 'csr' or 'row_sparse'."""
        return self._stype

    @property
    def shape(self) -> tuple:
        return self._shape

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def context(self) -> Context:
        return self._ctx

    ctx = context

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def handle(self):
        raise SparseHandleError(f"a {type(self).__name__} has no single storage handle")

    @property
    def data(self) -> NDArray:
        """The stored values, a dense NDArray sharing this array's storage."""
        return self._values

    @property
    def indices(self) -> NDArray:
        """The int64 indices: column indices (csr) or row indices (row_sparse)."""
        return self._aux[-1] if self._stype == "csr" else self._aux[0]

    def _components(self) -> list:
        return [self._values] + self._aux

    @property
    def _num_aux(self) -> int:
        return len(self._aux)

    @property
    def _aux_types(self) -> list:
        return [a.dtype for a in self._aux]

    def _aux_type(self, i: int):
        return self._aux[i].dtype

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.shape)
        return f"\n<{type(self).__name__} {shape} @{self.context}>"

    def __len__(self) -> int:
        return self._shape[0]

    def wait_to_read(self) -> None:
        """wait_to_read(): blocks until every write pushed to the components is done."""
        for c in self._components():
            c.wait_to_read()

    def __await__(self):
        """``await arr``: suspends the awaiting task until the writes pushed to the
        components so far are done; gives ``arr`` back."""
        from ..future import when_ready
        return when_ready(tuple(self._components()), self).__await__()

    def asnumpy(self) -> np.ndarray:
        """asnumpy(): the dense values as a numpy array, once pending writes are done."""
        return self.tostype("default").asnumpy()

    def reshape(self, *shape, **kwargs):
        raise MXNetError(f"reshape: a {type(self).__name__} cannot be reshaped; "
                         f"tostype('default') first")

    def _sync_copyfrom(self, source_array):
        raise MXNetError(f"_sync_copyfrom is not supported for {type(self).__name__}")

    def astype(self, dtype, copy: bool = True) -> "BaseSparseNDArray":
        """astype(dtype, copy=True): the array with its values converted to ``dtype``."""
        dt = _dtype(dtype)
        if not copy and dt == np.dtype(self.dtype):
            return self
        aux = [a.copy() for a in self._aux]
        return type(self)._make(self._shape, self._values.astype(dt), aux, self._ctx,
                                self._host_index)

    def copy(self) -> "BaseSparseNDArray":
        """copy(): a new array with the same values, storage type, context and type."""
        return self.copyto(self.context)

    def copyto(self, other):
        """copyto(other): into the NDArray ``other`` (dense: the dense values; of the same
        storage type: its components replaced by copies of these), or into a new array on
        the Context ``other``. Returns the destination."""
        if isinstance(other, Context):
            ctx = _context(other)
            return type(self)._make(self._shape, self._values.copyto(ctx),
                                    [a.copyto(ctx) for a in self._aux], ctx,
                                    self._host_index)
        if not isinstance(other, NDArray):
            raise MXNetError(f"copyto(other={other!r}): expected an NDArray or a Context")
        if other is self:
            return other
        if other.shape != self.shape:
            raise MXNetError(f"copyto(other): other has shape {other.shape}, expected "
                             f"{self.shape}")
        if other.stype == "default":
            return self.tostype("default").copyto(other)
        if other.stype != self.stype:
            raise MXNetError(f"copyto(other): cannot copy a {self.stype} array into a "
                             f"{other.stype} one")
        copied = self.copyto(other.context)
        if np.dtype(other.dtype) != np.dtype(self.dtype):
            copied = copied.astype(other.dtype)
        other._replace(copied)
        return other

    def as_in_context(self, context: Context):
        """as_in_context(context): this array if it is on ``context``, else a copy there."""
        return self if self.context == _context(context) else self.copyto(context)

    def tostype(self, stype: str):
        """tostype(stype): the array in storage ``stype`` ('default', or its own)."""
        from .sparse_ops import cast_storage
        return cast_storage(self, stype)

    def _check_index_arrays(self) -> None:
        for a in self._aux:
            if np.dtype(a.dtype) != np.dtype(_INDEX):
                raise MXNetError(f"check_format: index arrays must be int64, not {a.dtype}")

    # In place, as MXNet's CSRNDArray and RowSparseNDArray: the result (of whatever storage
    # the operator gives) is copied back into this array's storage type.
    def __iadd__(self, other):
        (self + other).copyto(self)
        return self

    def __isub__(self, other):
        (self - other).copyto(self)
        return self

    def __imul__(self, other):
        (self * other).copyto(self)
        return self

    def __itruediv__(self, other):
        (self / other).copyto(self)
        return self


class CSRNDArray(BaseSparseNDArray):
    """A 2-D matrix in compressed sparse row format (``mxnet.nd.sparse.CSRNDArray``)."""

    __slots__ = ()
    _stype = "csr"

    @property
    def indptr(self) -> NDArray:
        """The int64 row pointers: row i's values are data[indptr[i]:indptr[i+1]]."""
        return self._aux[0]

    def __getitem__(self, key) -> "CSRNDArray":
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            begin = int(key) + self.shape[0] if key < 0 else int(key)
            if not 0 <= begin < self.shape[0]:
                raise IndexError(f"index {key} is out of bounds for axis 0 with size "
                                 f"{self.shape[0]}")
            return self._slice_rows(begin, begin + 1)
        if isinstance(key, _slice):
            if key.step not in (None, 1):
                raise MXNetError(f"CSRNDArray[{key}]: slicing with a step is not supported")
            begin, end, _ = key.indices(self.shape[0])
            return self._slice_rows(begin, _max(begin, end))
        raise MXNetError(f"CSRNDArray[{key!r}]: expected an int or a slice of rows")

    def _slice_rows(self, begin: int, end: int) -> "CSRNDArray":
        # The slice's element range is indptr[begin], indptr[end]: read those two numbers
        # (waiting on indptr only), then the components are views and one subtraction.
        ptr = self.indptr[begin:end + 1]
        bounds = ptr.asnumpy()
        lo, hi = int(bounds[0]), int(bounds[-1])
        indptr = _invoke("_minus_scalar", [ptr], scalar=float(lo)) if lo else ptr.copy()
        return CSRNDArray._make((end - begin, self.shape[1]), self._values[lo:hi],
                                [indptr, self.indices[lo:hi]], self._ctx)

    def __setitem__(self, key, value) -> None:
        if not (isinstance(key, _slice) and key == _slice(None)):
            raise MXNetError(f"CSRNDArray[{key!r}] = value: only [:] assignment is supported")
        if isinstance(value, NDArray):
            src = value if value.stype == "csr" else value.tostype("csr")
        else:
            src = csr_matrix(value, shape=self.shape, ctx=self.context, dtype=self.dtype)
        src.copyto(self)

    def asscipy(self):
        """asscipy(): a scipy.sparse.csr_matrix with these values."""
        import scipy.sparse as spsp
        return spsp.csr_matrix((self.data.asnumpy(), self.indices.asnumpy(),
                                self.indptr.asnumpy()), shape=self.shape)

    def check_format(self, full_check: bool = True) -> None:
        """check_format(full_check=True): raises MXNetError unless indptr starts at 0, does
        not decrease and ends at nnz, and (with full_check) the column indices of each row
        are increasing and within the column count."""
        self._check_index_arrays()
        ptr, col = self.indptr.asnumpy(), self.indices.asnumpy()
        nnz = self.data.shape[0]
        if ptr.shape != (self.shape[0] + 1,) or col.shape != (nnz,):
            raise MXNetError("check_format: indptr must have shape (rows + 1,) and indices "
                             "(nnz,)")
        if ptr[0] != 0 or ptr[-1] != nnz or (np.diff(ptr) < 0).any():
            raise MXNetError("check_format: indptr must start at 0, not decrease and end at "
                             "nnz")
        if full_check and nnz:
            if col.min() < 0 or col.max() >= self.shape[1]:
                raise MXNetError("check_format: a column index is out of range")
            for r in range(self.shape[0]):
                if (np.diff(col[ptr[r]:ptr[r + 1]]) <= 0).any():
                    raise MXNetError(f"check_format: the column indices of row {r} are not "
                                     f"increasing")


class RowSparseNDArray(BaseSparseNDArray):
    """An array holding a subset of its rows (``mxnet.nd.sparse.RowSparseNDArray``)."""

    __slots__ = ()
    _stype = "row_sparse"

    def __getitem__(self, key):
        if isinstance(key, _slice) and key == _slice(None):
            return self
        raise MXNetError(f"RowSparseNDArray[{key!r}]: only [:] is supported")

    def __setitem__(self, key, value) -> None:
        if not (isinstance(key, _slice) and key == _slice(None)):
            raise MXNetError(f"RowSparseNDArray[{key!r}] = value: only [:] assignment is "
                             f"supported")
        if isinstance(value, numbers.Number):
            dense = _dense_array(np.full(self.shape, value), ctx=self.context, dtype=self.dtype)
            src = dense.tostype("row_sparse")
        elif isinstance(value, NDArray):
            src = value if value.stype == "row_sparse" else value.tostype("row_sparse")
        else:
            src = row_sparse_array(np.asarray(value), ctx=self.context, dtype=self.dtype)
        src.copyto(self)

    def retain(self, indices) -> "RowSparseNDArray":
        """retain(indices): the rows of ``indices`` (zeros for rows not stored)."""
        from .sparse_ops import retain
        return retain(self, indices)

    def check_format(self, full_check: bool = True) -> None:
        """check_format(full_check=True): raises MXNetError unless there is one index per
        stored row and (with full_check) the indices are increasing and in range."""
        self._check_index_arrays()
        idx = self.indices.asnumpy()
        if idx.shape != (self.data.shape[0],) or self.data.shape[1:] != self.shape[1:]:
            raise MXNetError("check_format: indices must have one entry per stored row, and "
                             "the rows the array's trailing shape")
        if full_check and idx.size:
            if idx.min() < 0 or idx.max() >= self.shape[0] or (np.diff(idx) <= 0).any():
                raise MXNetError("check_format: row indices must be increasing and in range")


# ---- creation -------------------------------------------------------------------------------

def _default_dtype(src, dtype):
    if dtype is not None:
        return _dtype(dtype)
    if isinstance(src, (NDArray, np.ndarray)) or hasattr(src, "tocsr"):
        return _dtype(src.dtype)
    return np.dtype(mx_real_t)


def _is_scipy(x) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def _host(x, dtype=None) -> np.ndarray:
    values = x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)
    return values if dtype is None else values.astype(dtype, copy=False)


def _csr_from_parts(data, indices, indptr, shape, ctx, dtype) -> CSRNDArray:
    data, indices, indptr = _host(data, dtype), _host(indices, _INDEX), _host(indptr, _INDEX)
    if data.ndim != 1 or indices.shape != data.shape or indptr.ndim != 1 or indptr.size < 1:
        raise MXNetError(f"csr_matrix: data {data.shape}, indices {indices.shape} and indptr "
                         f"{indptr.shape}: expected 1-D data and indices of one length and "
                         f"a 1-D indptr")
    if shape is None:
        shape = (indptr.size - 1, int(indices.max()) + 1 if indices.size else 0)
    shape = _shape(shape)
    if len(shape) != 2 or shape[0] != indptr.size - 1:
        raise MXNetError(f"csr_matrix: shape={shape}: expected 2 dimensions, the first "
                         f"len(indptr) - 1 = {indptr.size - 1}")
    if indptr[0] != 0 or indptr[-1] != data.size or (np.diff(indptr) < 0).any():
        raise MXNetError("csr_matrix: indptr must start at 0, not decrease and end at "
                         "len(data)")
    if indices.size and (indices.min() < 0 or indices.max() >= shape[1]):
        raise MXNetError(f"csr_matrix: a column index is outside [0, {shape[1]})")
    return CSRNDArray._make(shape, _dense_array(data, ctx=ctx, dtype=dtype),
                            [_index_array(indptr, ctx), _index_array(indices, ctx)], ctx,
                            np.asarray(indices, dtype=_INDEX))


def csr_matrix(arg1, shape=None, ctx=None, dtype=None) -> CSRNDArray:
    """csr_matrix(arg1, shape=None, ctx=None, dtype=None): a CSRNDArray from
    ``(data, indices, indptr)``, from ``(data, (row, col))`` (duplicates summed), from a
    scipy.sparse matrix, from a dense NDArray or array, from a CSRNDArray (a copy), or from a
    shape ``(M, N)`` (all zeros). ``dtype`` defaults to the source's type, else float32."""
    ctx = _context(ctx)
    if isinstance(arg1, tuple) and len(arg1) == 2 and all(
            isinstance(d, numbers.Integral) for d in arg1):
        return zeros("csr", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 3:
        dt = _default_dtype(arg1[0], dtype)
        return _csr_from_parts(*arg1, shape, ctx, dt)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        import scipy.sparse as spsp
        data, (row, col) = arg1
        dt = _default_dtype(data, dtype)
        coo = spsp.coo_matrix((_host(data, dt), (_host(row, _INDEX), _host(col, _INDEX))),
                              shape=shape)
        return array(coo.tocsr(), ctx=ctx, dtype=dt)
    if _is_scipy(arg1):
        return array(arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, CSRNDArray):
        out = arg1.copyto(ctx)
        return out if dtype is None else out.astype(dtype, copy=False)
    if isinstance(arg1, NDArray):
        dense = arg1 if arg1.stype == "default" else arg1.tostype("default")
        dt = _default_dtype(arg1, dtype)
        return dense.as_in_context(ctx).astype(dt, copy=False).tostype("csr")
    try:
        host = np.asarray(arg1, dtype=_default_dtype(arg1, dtype))
    except (TypeError, ValueError):
        raise MXNetError(f"csr_matrix(arg1={type(arg1).__name__}): expected (data, indices, "
                         f"indptr), (data, (row, col)), a scipy.sparse matrix, an array or "
                         f"a shape") from None
    if host.ndim != 2:
        raise MXNetError(f"csr_matrix: a dense source must be 2-D, not of shape {host.shape}")
    return _dense_array(host, ctx=ctx, dtype=host.dtype).tostype("csr")


def _rsp_from_parts(data, indices, shape, ctx, dtype) -> RowSparseNDArray:
    data, indices = _host(data, dtype), _host(indices, _INDEX).reshape(-1)
    if data.ndim < 1 or data.shape[0] != indices.size:
        raise MXNetError(f"row_sparse_array: data {data.shape} and indices {indices.shape}: "
                         f"expected one index per row of data")
    if shape is None:
        shape = (int(indices.max()) + 1 if indices.size else 0,) + data.shape[1:]
    shape = _shape(shape)
    if tuple(shape[1:]) != data.shape[1:]:
        raise MXNetError(f"row_sparse_array: shape={shape}: the rows must have data's "
                         f"trailing shape {data.shape[1:]}")
    order = np.argsort(indices, kind="stable")
    indices, data = indices[order], data[order]
    if indices.size and (indices[0] < 0 or indices[-1] >= shape[0]):
        raise MXNetError(f"row_sparse_array: a row index is outside [0, {shape[0]})")
    if (np.diff(indices) == 0).any():
        raise MXNetError("row_sparse_array: indices has a row index twice")
    return RowSparseNDArray._make(shape, _dense_array(data, ctx=ctx, dtype=dtype),
                                  [_index_array(indices, ctx)], ctx,
                                  np.asarray(indices, dtype=_INDEX))


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None) -> RowSparseNDArray:
    """row_sparse_array(arg1, shape=None, ctx=None, dtype=None): a RowSparseNDArray from
    ``(data, indices)`` (the stored rows and their row indices; sorted here), from a dense
    NDArray or array, from a RowSparseNDArray (a copy), or from a shape (all zeros)."""
    ctx = _context(ctx)
    if isinstance(arg1, tuple) and arg1 and all(isinstance(d, numbers.Integral) for d in arg1):
        return zeros("row_sparse", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        return _rsp_from_parts(arg1[0], arg1[1], shape, ctx, _default_dtype(arg1[0], dtype))
    if isinstance(arg1, RowSparseNDArray):
        out = arg1.copyto(ctx)
        return out if dtype is None else out.astype(dtype, copy=False)
    if isinstance(arg1, NDArray):
        dense = arg1 if arg1.stype == "default" else arg1.tostype("default")
        return dense.as_in_context(ctx).astype(_default_dtype(arg1, dtype), copy=False) \
            .tostype("row_sparse")
    try:
        host = np.asarray(arg1, dtype=_default_dtype(arg1, dtype))
    except (TypeError, ValueError):
        raise MXNetError(f"row_sparse_array(arg1={type(arg1).__name__}): expected (data, "
                         f"indices), an array or a shape") from None
    return _dense_array(host, ctx=ctx, dtype=host.dtype).tostype("row_sparse")


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """zeros(stype, shape, ctx=None, dtype=None): an array of zeros of storage ``stype``
    ('csr', 'row_sparse' or 'default'), storing no element."""
    from .ndarray import zeros as dense_zeros
    if stype == "default":
        return dense_zeros(shape, ctx=ctx, dtype=dtype, **kwargs)
    if kwargs:
        raise MXNetError(f"sparse.zeros: unexpected arguments {sorted(kwargs)}")
    ctx, shape = _context(ctx), _shape(shape)
    dt = _dtype(dtype if dtype is not None else mx_real_t)
    if stype == "csr":
        if len(shape) != 2:
            raise MXNetError(f"sparse.zeros: shape={shape}: a csr array has 2 dimensions")
        return CSRNDArray._make(shape, _dense_array(np.zeros(0), ctx=ctx, dtype=dt),
                                [_index_array(np.zeros(shape[0] + 1), ctx),
                                 _index_array(np.zeros(0), ctx)], ctx)
    if stype == "row_sparse":
        if not shape:
            raise MXNetError("sparse.zeros: a row_sparse array has at least 1 dimension")
        return RowSparseNDArray._make(shape, _dense_array(np.zeros((0,) + shape[1:]), ctx=ctx,
                                                          dtype=dt),
                                      [_index_array(np.zeros(0), ctx)], ctx)
    raise MXNetError(f"sparse.zeros: stype={stype!r}: expected 'default', 'row_sparse' or "
                     f"'csr'")


def empty(stype, shape, ctx=None, dtype=None):
    """empty(stype, shape, ctx=None, dtype=None): a sparse array storing no element (as
    MXNet's, whose sparse ``empty`` is all zeros)."""
    return zeros(stype, shape, ctx=ctx, dtype=dtype)


def array(source_array, ctx=None, dtype=None):
    """array(source_array, ctx=None, dtype=None): a sparse array from a sparse NDArray (a
    copy) or from a scipy.sparse matrix (a CSRNDArray, in canonical form: indices sorted,
    duplicates summed)."""
    ctx = _context(ctx)
    if isinstance(source_array, BaseSparseNDArray):
        out = source_array.copyto(ctx)
        return out if dtype is None else out.astype(dtype, copy=False)
    if isinstance(source_array, NDArray):
        raise MXNetError("sparse.array: use tostype to make a sparse array from a dense "
                         "NDArray")
    if _is_scipy(source_array):
        csr = source_array.tocsr().sorted_indices()
        csr.sum_duplicates()
        dt = _default_dtype(source_array, dtype)
        return _csr_from_parts(csr.data, csr.indices, csr.indptr, csr.shape, ctx, dt)
    raise MXNetError(f"sparse.array(source_array={type(source_array).__name__}): expected a "
                     f"sparse NDArray or a scipy.sparse matrix")
